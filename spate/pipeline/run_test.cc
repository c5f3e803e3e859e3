// run_plan with a source given through the C++ API (RunOptions::source), and the engine's source
// chaining: with one worker in per-event mode, small chunks are processed by the source thread
// itself when the worker is idle. Whichever thread processes a chunk, the output must be exactly
// what the pipeline means, in input order, and windows must hold exactly their events.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "spate/common/time.h"
#include "spate/pipeline/plan.h"
#include "spate/pipeline/yaml_loader.h"
#include "spate/runtime/source.h"

namespace spate {
namespace {

// Emits the given lines as one stream, in chunks of whole lines: per_chunk[k % size] lines in
// the k-th chunk.
class MemorySource : public Source {
 public:
  MemorySource(std::vector<std::string> lines, std::vector<size_t> per_chunk)
      : lines_(std::move(lines)), per_chunk_(std::move(per_chunk)) {
    auto info = std::make_shared<StreamInfo>();
    info->source = "memory";
    info->id = 1;
    info->input = 1;
    stream_ = std::move(info);
  }
  Status run(ChunkEmitter& out) override {
    uint64_t position = 0;
    for (size_t i = 0, chunk = 0; i < lines_.size(); ++chunk) {
      const size_t end = std::min(lines_.size(), i + per_chunk_[chunk % per_chunk_.size()]);
      std::string bytes;
      for (; i < end; ++i) bytes += lines_[i] + "\n";
      RawChunk* c = out.acquire();
      if (!c) return Status::ok();
      c->assign(bytes.data(), bytes.size());
      c->stream = stream_;
      c->position = position;
      c->ingest_time_ms = wall_clock_ms();
      c->datagram = false;
      out.emit(c);
      position += bytes.size();
    }
    out.end_input(*stream_);
    return Status::ok();
  }
  std::string describe() const override { return "memory"; }

 private:
  std::vector<std::string> lines_;
  std::vector<size_t> per_chunk_;
  std::shared_ptr<const StreamInfo> stream_;
};

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "spate-run-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `steps` (YAML) over `lines`; returns the output file's lines.
  std::vector<std::string> run(const std::string& head, const std::string& steps,
                               const std::vector<std::string>& lines, std::vector<size_t> per_chunk, int workers,
                               RunReport* report) {
    const std::string out = (dir_ / "out.jsonl").string();
    std::filesystem::remove(out);
    const std::string yaml = head + "source: {type: stdin, format: json}\nsteps:\n" + steps +
                             "sink: {type: file, path: " + out + ", format: json}\n";
    auto plan = Plan::compile(load_pipeline_string(yaml, "run_test.yaml"));
    EXPECT_TRUE(plan);
    if (!plan) return {};
    RunOptions o;
    o.workers = workers;
    o.quiet = true;
    o.source = [&] { return std::make_unique<MemorySource>(lines, per_chunk); };
    Status s = run_plan(*plan, o, report);
    EXPECT_TRUE(s) << s.message();
    std::vector<std::string> got;
    std::ifstream in(out);
    for (std::string l; std::getline(in, l);) got.push_back(l);
    return got;
  }

  std::filesystem::path dir_;
};

std::vector<std::string> seq_events(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) {
    v.push_back("{\"seq\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1767225600000 + 10 * int64_t{i}) +
                ",\"pad\":\"" + std::string(static_cast<size_t>(i % 13), 'x') + "\"}");
  }
  return v;
}

// What `filter: seq % 7 != 3` + `select: {seq, twice: seq * 2}` must write, in input order.
std::vector<std::string> expected_select(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) {
    if (i % 7 == 3) continue;
    v.push_back("{\"seq\":" + std::to_string(i) + ",\"twice\":" + std::to_string(2 * i) + "}");
  }
  return v;
}

const char* kSelectSteps =
    "  - filter: 'seq % 7 != 3'\n"
    "  - select: {seq: seq, twice: 'seq * 2'}\n";

TEST_F(RunTest, SmallChunksOnOneWorkerAreChainedAndKeepOrder) {
  const int n = 6000;
  RunReport rep;
  auto got = run("name: chain\n", kSelectSteps, seq_events(n), {3}, 1, &rep);
  EXPECT_EQ(got, expected_select(n));
  EXPECT_EQ(rep.stats.records_parsed, static_cast<uint64_t>(n));
  // The worker sleeps between chunks it is not given, so nearly every chunk is chained; a few
  // meet the worker in one of its timed rounds and are handed over instead.
  EXPECT_GT(rep.stats.chunks_chained, 0u);
  EXPECT_LE(rep.stats.chunks_chained, static_cast<uint64_t>(n / 3));
}

TEST_F(RunTest, FullChunksMoreWorkersAndMicroBatchesAreHandedOver) {
  const int n = 6000;
  {
    SCOPED_TRACE("chunks over 32 KiB: the source is behind, reading and processing overlap");
    RunReport rep;
    auto got = run("name: big\n", kSelectSteps, seq_events(n), {2000}, 1, &rep);
    EXPECT_EQ(got, expected_select(n));
    EXPECT_EQ(rep.stats.chunks_chained, 0u);
  }
  {
    SCOPED_TRACE("two workers");
    RunReport rep;
    auto got = run("name: two\n", kSelectSteps, seq_events(n), {3}, 2, &rep);
    std::vector<std::string> want = expected_select(n);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    EXPECT_EQ(rep.stats.chunks_chained, 0u);
  }
  {
    SCOPED_TRACE("micro-batch mode");
    RunReport rep;
    auto got = run("name: mb\nmode: micro_batch\nbatch_interval: 20ms\n", kSelectSteps, seq_events(n), {3}, 1,
                   &rep);
    EXPECT_EQ(got, expected_select(n));
    EXPECT_EQ(rep.stats.chunks_chained, 0u);
  }
}

int64_t int_field(const std::string& line, const std::string& key) {
  size_t at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(line.substr(at + key.size() + 3));
}

TEST_F(RunTest, ChainedChunksFillEventTimeWindowsExactly) {
  // 10 ms apart: 100 events per 1 s window; windows fire while the source runs (chained chunks
  // advance the watermark) and the rest at the end of input (the worker thread).
  const int n = 5000;
  RunReport rep;
  auto got = run("name: win\ntime: {field: ts, max_out_of_order: 0s}\n",
                 "  - window: {tumbling: 1s}\n  - aggregate: {n: count(), first: min(seq), total: sum(seq)}\n",
                 seq_events(n), {4}, 1, &rep);
  ASSERT_EQ(got.size(), static_cast<size_t>(n / 100));
  for (size_t w = 0; w < got.size(); ++w) {
    SCOPED_TRACE(got[w]);
    const int64_t first = static_cast<int64_t>(w) * 100;
    EXPECT_EQ(int_field(got[w], "n"), 100);
    EXPECT_EQ(int_field(got[w], "first"), first);
    EXPECT_EQ(int_field(got[w], "total"), 100 * first + 99 * 100 / 2);
  }
  EXPECT_GT(rep.stats.chunks_chained, 0u);
  EXPECT_EQ(rep.stats.late, 0u);
}

TEST_F(RunTest, HandedOverAndChainedChunksInterleavedKeepOrder) {
  // A full chunk is handed to the worker; the small ones after it must not overtake it (they are
  // chained only once the worker has nothing queued).
  const int n = 40000;
  RunReport rep;
  auto got = run("name: mixed\n", kSelectSteps, seq_events(n), {1500, 1, 2, 1, 3}, 1, &rep);
  EXPECT_EQ(got, expected_select(n));
  EXPECT_EQ(rep.stats.records_parsed, static_cast<uint64_t>(n));
}

}  // namespace
}  // namespace spate
