// End-to-end: micro-batch mode (Spark Streaming's model) gives the final window results of
// per-event mode, on 1 to 4 workers; pass-through pipelines write the same events.

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
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

// Global windows with an every_count trigger: each key's running result every N of its records
// (final: false), then the final result at the end of input (final: true).
TEST(Triggers, GlobalWindowEveryCountGivesRunningResultsPerKey) {
  TempDir dir;
  std::string in;
  std::map<std::string, int64_t> count, sum;
  for (int i = 0; i < 5000; ++i) {
    const std::string k = fmt::format("k{}", (i * 7919) % 13);
    const int v = i % 17;
    in += fmt::format("{{\"ts\": {}, \"k\": \"{}\", \"v\": {}}}\n", 1700000000000LL + i, k, v);
    count[k]++;
    sum[k] += v;
  }
  dir.write("in.jsonl", in);
  dir.write("g.yaml", fmt::format(R"(source: {{type: file, path: {}, format: json}}
time: {{field: ts}}
steps:
  - key_by: k
  - window: {{global: {{every_count: 100}}}}
  - aggregate: {{n: count(), s: sum(v)}}
)",
                                  dir.file("in.jsonl")));
  RunResult r = run_spate({"run", dir.file("g.yaml"), "-w", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::vector<int64_t>> running;
  std::map<std::string, int64_t> final_n, final_s;
  for (const Row& row : parse_rows(r.out)) {
    EXPECT_EQ(row.at("window_start"), "null");
    const std::string& k = row.at("k");
    if (row.at("final") == "false") {
      running[k].push_back(std::stoll(row.at("n")));
    } else {
      ASSERT_EQ(row.at("final"), "true");
      EXPECT_EQ(final_n.count(k), 0u) << "two final rows for " << k;
      final_n[k] = std::stoll(row.at("n"));
      final_s[k] = std::stoll(row.at("s"));
    }
  }
  ASSERT_EQ(final_n.size(), count.size());
  for (const auto& [k, c] : count) {
    EXPECT_EQ(final_n[k], c) << k;
    EXPECT_EQ(final_s[k], sum[k]) << k;
    std::vector<int64_t> want;
    for (int64_t m = 100; m <= c; m += 100) want.push_back(m);
    EXPECT_EQ(running[k], want) << k;
  }
}

// Early results: while a window is open, its running result is written every `early` of wall
// time (final: false); at the end, the final one (final: true).
TEST(Triggers, EarlyResultsOfAnOpenWindowOnALiveStream) {
  TempDir dir;
  dir.write("e.yaml", R"(source: {type: stdin, format: json}
time: {field: ts}
steps:
  - window: {tumbling: 1h, early: 20ms}
  - aggregate: {n: count(), s: sum(v)}
)");
  Child child({"run", dir.file("e.yaml"), "-w", "2"}, true);
  std::string out;
  auto read_until = [&](const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    char tmp[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t n = ::read(child.stdout_fd(), tmp, sizeof(tmp));
      if (n > 0) out.append(tmp, static_cast<size_t>(n));
      if (out.find(needle) != std::string::npos) return true;
      pollfd p{child.stdout_fd(), POLLIN, 0};
      ::poll(&p, 1, 20);
    }
    return false;
  };
  auto send = [&](const std::string& text) {
    ASSERT_EQ(::write(child.stdin_fd(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  };
  send("{\"ts\": 1700000000000, \"v\": 2}\n{\"ts\": 1700000000001, \"v\": 3}\n");
  EXPECT_TRUE(read_until("\"n\":2,\"s\":5,\"final\":false")) << out;
  send("{\"ts\": 1700000000002, \"v\": 10}\n");
  EXPECT_TRUE(read_until("\"n\":3,\"s\":15,\"final\":false")) << out;
  child.close_stdin();
  RunResult r = child.wait(std::chrono::seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  out += r.out;
  EXPECT_NE(out.find("\"n\":3,\"s\":15,\"final\":true"), std::string::npos) << out;
}

TEST(Triggers, ConfigurationErrors) {
  TempDir dir;
  auto check = [&](const std::string& yaml) {
    dir.write("p.yaml", yaml);
    return run_spate({"check", dir.file("p.yaml")});
  };
  RunResult r = check("time: {field: ts}\nsteps:\n  - window: {global: {every_count: 10}}\n"
                      "  - aggregate: {n: count()}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("every_count counts a key's records"), std::string::npos) << r.err;
  r = check("steps:\n  - key_by: k\n  - window: {session: {gap: 1s}, early: 1s}\n"
            "  - aggregate: {n: count()}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("early results are supported for tumbling and sliding"), std::string::npos)
      << r.err;
  r = check("steps:\n  - window: {global: {}}\n  - aggregate: {n: count()}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs a trigger"), std::string::npos) << r.err;
  r = check("steps:\n  - key_by: {field: k, grouping: partial_key}\n"
            "  - window: {global: {every_count: 5}}\n  - aggregate: {n: count()}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("every_count needs each key on one worker"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spate::test
