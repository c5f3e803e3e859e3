// Ordering a window's keyed result rows by key (what a worker does before sending its rows when
// there are several workers, and the collector with one): key_order against the plain stable
// sort through key_less it replaced, on page-like keys in arrival order.
//   build/release/bench/collector_bench

#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "spate/runtime/key_order.h"

namespace spate {
namespace {

// Keys shaped like `spate gen clicks` pages ("/product/garden/guide-1973", "/blog/...").
std::unique_ptr<OutputRows> page_rows(size_t n, uint64_t seed) {
  static const char* kCats[] = {"garden", "office", "sports", "health", "toys", "pets", "beauty"};
  static const char* kWords[] = {"guide", "review", "tips", "new", "choose", "ideas", "winter"};
  std::mt19937_64 rng(seed);
  auto out = std::make_unique<OutputRows>();
  OutputRows& rows = *out;
  rows.reset(std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"page", "window_start", "window_end", "views"}));
  for (size_t i = 0; i < n; ++i) {
    std::string k = rng() % 5 == 0 ? "/blog/" : std::string("/product/") + kCats[rng() % 7] + "/";
    k += kWords[rng() % 7];
    k += '-';
    k += std::to_string(rng() % 10000);
    OutField* r = rows.add_row();
    r[0].value = Value::string(rows.arena().copy(k));
    r[3].value = Value::integer(static_cast<int64_t>(i));
  }
  return out;
}

// The stable sort through key_less that key_order replaced (the baseline).
void stable_order(const OutputRows& rows, std::vector<uint32_t>* order) {
  auto less = [&](uint32_t a, uint32_t b) {
    return key_less(rows.row(a)[0].value, rows.row(b)[0].value);
  };
  order->resize(rows.rows());
  std::iota(order->begin(), order->end(), uint32_t{0});
  if (!std::is_sorted(order->begin(), order->end(), less)) {
    std::stable_sort(order->begin(), order->end(), less);
  }
}

template <bool kKeyOrder>
void order_rows(const OutputRows& rows, std::vector<uint32_t>* order) {
  if constexpr (kKeyOrder) {
    key_order(rows, order);
  } else {
    stable_order(rows, order);
  }
}

// Warm: one window of range(0) keys, ordered again and again (its rows stay in cache).
template <bool kKeyOrder>
void BM_Warm(benchmark::State& state) {
  const auto rows_p = page_rows(static_cast<size_t>(state.range(0)), 1);
  std::vector<uint32_t> order;
  for (auto _ : state) {
    order_rows<kKeyOrder>(*rows_p, &order);
    benchmark::DoNotOptimize(order.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Cold: the rows of 256 windows of 2,000 keys each (~40 MB with their arenas), each window
// ordered once per pass, as the collector meets rows another core just wrote.
template <bool kKeyOrder>
void BM_Cold(benchmark::State& state) {
  std::vector<std::unique_ptr<OutputRows>> windows;
  for (uint64_t w = 0; w < 256; ++w) windows.push_back(page_rows(2000, w + 1));
  std::vector<uint32_t> order;
  for (auto _ : state) {
    for (const auto& wp : windows) {
      order_rows<kKeyOrder>(*wp, &order);
      benchmark::DoNotOptimize(order.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * 256 * 2000);
}

BENCHMARK_TEMPLATE(BM_Cold, true)->Name("BM_KeyOrder_Cold256x2000");
BENCHMARK_TEMPLATE(BM_Cold, false)->Name("BM_StableSortKeyLess_Cold256x2000");
BENCHMARK_TEMPLATE(BM_Warm, true)->Name("BM_KeyOrder")->Arg(1000)->Arg(2000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_Warm, false)->Name("BM_StableSortKeyLess")->Arg(1000)->Arg(2000)->Arg(100000);

}  // namespace
}  // namespace spate

BENCHMARK_MAIN();
