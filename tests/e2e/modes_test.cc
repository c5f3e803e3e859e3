// End-to-end: micro-batch mode (Spark Streaming's model) gives the final window results of
// per-event mode, on 1 to 4 workers; pass-through pipelines write the same events.

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

std::string pipeline(const TempDir& dir, const std::string& mode, const std::string& steps) {
  return fmt::format(R"(name: modes
{}source: {{type: file, path: {}, format: json}}
time: {{field: ts, max_out_of_order: 2s}}
steps:
{}sink: {{type: stdout, format: json}}
)",
                     mode, dir.file("clicks.jsonl"), steps);
}

const char* kWindowSteps = R"(  - filter: 'type == "view"'
  - key_by: page
  - window: {tumbling: 5s}
  - aggregate: {n: count(), total: sum(latency_ms), lo: min(latency_ms), hi: max(latency_ms)}
)";

TEST(MicroBatch, SameWindowResultsAsPerEvent) {
  TempDir dir;
  RunResult g = run_spate({"gen", "clicks", "--count", "60000", "--seed", "21"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  dir.write("clicks.jsonl", g.out);
  dir.write("per_event.yaml", pipeline(dir, "", kWindowSteps));
  dir.write("micro.yaml", pipeline(dir, "mode: micro_batch\nbatch_interval: 50ms\n", kWindowSteps));
  for (const char* workers : {"1", "2", "4"}) {
    RunResult a = run_spate({"run", dir.file("per_event.yaml"), "-w", workers});
    RunResult b = run_spate({"run", dir.file("micro.yaml"), "-w", workers});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    std::vector<Row> ra = parse_rows(a.out), rb = parse_rows(b.out);
    ASSERT_GT(ra.size(), 1000u);
    ASSERT_EQ(ra.size(), rb.size()) << workers;
    for (size_t i = 0; i < ra.size(); ++i) {
      for (const char* f : {"page", "window_start", "window_end", "n", "lo", "hi"}) {
        ASSERT_EQ(ra[i].at(f), rb[i].at(f)) << "row " << i << " field " << f;
      }
      EXPECT_NEAR(std::stod(ra[i].at("total")), std::stod(rb[i].at("total")),
                  1e-9 * std::max(1.0, std::stod(ra[i].at("total"))));
    }
  }
}

TEST(MicroBatch, PassThroughWritesEveryEventOnce) {
  TempDir dir;
  RunResult g = run_spate({"gen", "clicks", "--count", "20000", "--seed", "4"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  dir.write("clicks.jsonl", g.out);
  dir.write("micro.yaml", pipeline(dir, "mode: micro_batch\nbatch_interval: 20ms\n",
                                   "  - filter: 'type == \"click\"'\n"));
  RunResult r = run_spate({"run", dir.file("micro.yaml"), "-w", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> want;
  for (const auto& l : lines(g.out)) {
    if (l.find("\"type\":\"click\"") != std::string::npos) want.push_back(l);
  }
  std::vector<std::string> got = lines(r.out);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  ASSERT_GT(want.size(), 1000u);
  EXPECT_EQ(got, want);
}

TEST(MicroBatch, ConfigurationErrors) {
  TempDir dir;
  dir.write("a.yaml", "mode: micro_batches\n");
  RunResult r = run_spate({"check", dir.file("a.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a.yaml:1:7: mode: unknown mode 'micro_batches'; did you mean 'micro_batch'?"),
            std::string::npos)
      << r.err;
  dir.write("b.yaml", "batch_interval: 1s\n");
  r = run_spate({"check", dir.file("b.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("batch_interval applies to mode: micro_batch"), std::string::npos) << r.err;
  dir.write("c.yaml", "mode: micro_batch\nbatch_interval: 250ms\n");
  r = run_spate({"check", dir.file("c.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mode: micro_batch, batches of 250ms"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace spate::test
