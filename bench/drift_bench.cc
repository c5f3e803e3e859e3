// Drift detectors: cost per update on 10M values (docs/benchmarks.md has the numbers).
//
// The stream is N(0,1) noise whose mean steps by +-1 every 1M values (so detectors do fire and
// ADWIN's window is cut), or stationary noise (ADWIN's window grows to 10M: the worst case for
// its O(log W) scan). Each iteration runs a fresh detector over all 10M values; the
// time_per_update counter is CPU time / updates.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "spate/analytics/adwin.h"
#include "spate/analytics/cusum.h"
#include "spate/analytics/distribution_shift.h"
#include "spate/analytics/page_hinkley.h"

namespace spate {
namespace {

constexpr size_t kValues = 10'000'000;

const std::vector<double>& values(bool steps) {
  static const std::vector<double> stepped = [] {
    std::mt19937_64 rng(1);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<double> v(kValues);
    for (size_t i = 0; i < kValues; ++i) v[i] = ((i / 1'000'000) % 2 ? 1.0 : 0.0) + noise(rng);
    return v;
  }();
  static const std::vector<double> flat = [] {
    std::mt19937_64 rng(2);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<double> v(kValues);
    for (double& x : v) x = noise(rng);
    return v;
  }();
  return steps ? stepped : flat;
}

void set_counters(benchmark::State& state, uint64_t detections) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kValues);
  // Seconds per update (printed with an SI prefix: "15.2n" = 15.2 ns).
  state.counters["time_per_update"] = benchmark::Counter(
      static_cast<double>(kValues),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["detections"] = static_cast<double>(detections);
}

template <typename Detector, typename Options>
void run(benchmark::State& state, Options options, bool steps) {
  const std::vector<double>& v = values(steps);
  uint64_t detections = 0;
  for (auto _ : state) {
    Detector d(options);
    for (double x : v) benchmark::DoNotOptimize(d.update(x));
    detections = d.detections();
  }
  set_counters(state, detections);
}

void BM_Adwin(benchmark::State& state) { run<Adwin>(state, AdwinOptions{}, state.range(0) != 0); }
void BM_AdwinClock1(benchmark::State& state) {
  run<Adwin>(state, AdwinOptions{.clock = 1}, state.range(0) != 0);
}
void BM_PageHinkley(benchmark::State& state) {
  run<PageHinkley>(state, PageHinkleyOptions{.delta = 0.5, .lambda = 10.0}, state.range(0) != 0);
}
void BM_Cusum(benchmark::State& state) {
  run<Cusum>(state, CusumOptions{.k = 0.5, .h = 10.0, .warmup = 1000}, state.range(0) != 0);
}

// One DistributionShift::compare of two summaries with state.range(0) items each (half shared).
void BM_DistributionShiftCompare(benchmark::State& state) {
  const size_t k = static_cast<size_t>(state.range(0));
  CategoryCounts a;
  CategoryCounts b;
  a.total = b.total = 1'000'000;
  for (size_t i = 0; i < k; ++i) {
    a.items.emplace_back("item" + std::to_string(i), ItemCount{1000 - i / 2, i % 7});
    b.items.emplace_back("item" + std::to_string(i + k / 2), ItemCount{1000 - i / 2, i % 5});
  }
  a.unlisted_max = b.unlisted_max = 400;
  DistributionShift ds;
  for (auto _ : state) {
    Result<ShiftReport> r = ds.compare(a, b);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Arg 1: mean steps every 1M values; arg 0: stationary.
BENCHMARK(BM_Adwin)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AdwinClock1)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PageHinkley)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Cusum)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DistributionShiftCompare)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace spate

BENCHMARK_MAIN();
