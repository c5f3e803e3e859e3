// Analytics kernels: ns per update of each sketch, beside exact counting with
// std::unordered_map, on two pre-generated inputs:
//   distinct: 10M distinct uint64 keys (a bijective mix of 0..10M-1);
//   zipf:     10M draws of Zipf(1.1) over 1M keys (ranks mixed into uint64 keys).
// Each benchmark iteration feeds the whole input to a fresh structure; the reported
// per_update counter is CPU time / 10M updates. Run from a Release build:
//   cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/rel --target analytics_bench && build/rel/bench/analytics_bench

#include <absl/container/flat_hash_map.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "spate/analytics/count_min.h"
#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/kll.h"
#include "spate/analytics/moments.h"
#include "spate/analytics/prng.h"
#include "spate/analytics/reservoir.h"
#include "spate/analytics/space_saving.h"
#include "spate/analytics/trending.h"

namespace spate {
namespace {

constexpr size_t kUpdates = 10'000'000;
constexpr uint64_t kZipfKeys = 1'000'000;

uint64_t mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

const std::vector<uint64_t>& distinct_input() {
  static const std::vector<uint64_t> v = [] {
    std::vector<uint64_t> out(kUpdates);
    for (size_t i = 0; i < kUpdates; ++i) out[i] = mix(i + 1);
    return out;
  }();
  return v;
}

std::vector<uint64_t> zipf_ranks() {
  std::vector<double> cdf(kZipfKeys);
  double acc = 0;
  for (uint64_t r = 0; r < kZipfKeys; ++r) {
    acc += std::pow(static_cast<double>(r + 1), -1.1);
    cdf[r] = acc;
  }
  Xoshiro256 rng(2024);
  std::vector<uint64_t> out(kUpdates);
  for (auto& v : out) {
    const double u = rng.uniform() * acc;
    v = static_cast<uint64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    v = std::min(v, kZipfKeys - 1);
  }
  return out;
}

const std::vector<uint64_t>& zipf_input() {
  static const std::vector<uint64_t> v = [] {
    auto ranks = zipf_ranks();
    for (auto& r : ranks) r = mix(r + 1);
    return ranks;
  }();
  return v;
}

// The Zipf input as string items (views into one pool of 1M key strings).
const std::vector<std::string_view>& zipf_strings() {
  static std::vector<std::string> pool;
  static const std::vector<std::string_view> v = [] {
    pool.reserve(kZipfKeys);
    for (uint64_t r = 0; r < kZipfKeys; ++r) pool.push_back("key:" + std::to_string(mix(r + 1)));
    const auto ranks = zipf_ranks();
    std::vector<std::string_view> out(ranks.size());
    for (size_t i = 0; i < ranks.size(); ++i) out[i] = pool[ranks[i]];
    return out;
  }();
  return v;
}

const std::vector<uint64_t>& input(int which) {
  return which == 0 ? distinct_input() : zipf_input();
}

void finish(benchmark::State& state, size_t per_iter) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * per_iter));
  // Inverted rate: CPU seconds per update (printed with an SI prefix, e.g. "4.2n" = 4.2 ns).
  state.counters["per_update"] =
      benchmark::Counter(static_cast<double>(state.iterations() * per_iter),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_HyperLogLog_p12(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    HyperLogLog h(12, 7);
    for (uint64_t k : in) h.add(k);
    benchmark::DoNotOptimize(h.registers().data());
  }
  finish(state, in.size());
}

void BM_HyperLogLog_p12_prehashed(benchmark::State& state) {
  // The engine hashes once per record and carries the hash: add_hash() alone.
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    HyperLogLog h(12, 7);
    for (uint64_t k : in) h.add_hash(k);
    benchmark::DoNotOptimize(h.registers().data());
  }
  finish(state, in.size());
}

void BM_Kll_k200(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    KllSketch s(200, 7);
    for (uint64_t k : in) s.add(static_cast<double>(k));
    benchmark::DoNotOptimize(s.retained());
  }
  finish(state, in.size());
}

void BM_SpaceSavingU64_m1024(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    SpaceSavingU64 s(1024);
    for (uint64_t k : in) s.add(k);
    benchmark::DoNotOptimize(s.min_count());
  }
  finish(state, in.size());
}

void BM_SpaceSavingString_m1024_zipf(benchmark::State& state) {
  const auto& in = zipf_strings();
  for (auto _ : state) {
    SpaceSaving s(1024);
    for (std::string_view k : in) s.add(k);
    benchmark::DoNotOptimize(s.min_count());
  }
  finish(state, in.size());
}

// Trending (two weighted Space-Saving summaries of 1024 counters, short 1m / long 1h): the
// Zipf(1.1) strings at 1000 events per second of event time (10M draws span 2.8 h, about 170
// short half-lives).
void BM_Trending_m1024_zipf(benchmark::State& state) {
  const auto& in = zipf_strings();
  for (auto _ : state) {
    Trending t(1024, 60'000, 3'600'000);
    int64_t ts = 1767225600000;
    for (std::string_view k : in) t.add(k, ts++);
    benchmark::DoNotOptimize(t.count());
  }
  finish(state, in.size());
}

void BM_CountMin_d3(benchmark::State& state) {
  // epsilon = e / 2048 = 0.13%, depth 3 (delta = e^-3 = 5%).
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    CountMin cm(2048, 3, 7);
    for (uint64_t k : in) cm.add_hash(k);
    benchmark::DoNotOptimize(cm.total());
  }
  finish(state, in.size());
}

void BM_Moments(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Moments m;
    for (uint64_t k : in) m.add(static_cast<double>(k >> 11));
    benchmark::DoNotOptimize(m.variance());
  }
  finish(state, in.size());
}

void BM_Reservoir_n1024(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Reservoir<uint64_t> r(1024, 7);
    for (uint64_t k : in) r.add(k);
    benchmark::DoNotOptimize(r.sample().data());
  }
  finish(state, in.size());
}

void BM_ExactUnorderedMap(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::unordered_map<uint64_t, uint64_t> counts;
    for (uint64_t k : in) ++counts[k];
    benchmark::DoNotOptimize(counts.size());
  }
  finish(state, in.size());
}

void BM_ExactFlatHashMap(benchmark::State& state) {
  const auto& in = input(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    absl::flat_hash_map<uint64_t, uint64_t> counts;
    for (uint64_t k : in) ++counts[k];
    benchmark::DoNotOptimize(counts.size());
  }
  finish(state, in.size());
}

// Arg 0: distinct input, arg 1: Zipf(1.1) input.
#define SPATE_ANALYTICS_BENCH(fn, iters) \
  BENCHMARK(fn)->ArgName("zipf")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(iters)

SPATE_ANALYTICS_BENCH(BM_HyperLogLog_p12, 5);
SPATE_ANALYTICS_BENCH(BM_HyperLogLog_p12_prehashed, 5);
SPATE_ANALYTICS_BENCH(BM_Kll_k200, 5);
SPATE_ANALYTICS_BENCH(BM_SpaceSavingU64_m1024, 5);
BENCHMARK(BM_SpaceSavingString_m1024_zipf)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Trending_m1024_zipf)->Unit(benchmark::kMillisecond)->Iterations(3);
SPATE_ANALYTICS_BENCH(BM_CountMin_d3, 5);
SPATE_ANALYTICS_BENCH(BM_Moments, 5);
SPATE_ANALYTICS_BENCH(BM_Reservoir_n1024, 5);
SPATE_ANALYTICS_BENCH(BM_ExactUnorderedMap, 1);
SPATE_ANALYTICS_BENCH(BM_ExactFlatHashMap, 1);

}  // namespace
}  // namespace spate

BENCHMARK_MAIN();
