// Expression evaluation over preset slots: the per-record cost of a filter step.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "spate/core/expr.h"

namespace spate {
namespace {

// A fixed set of typed fields.
class BenchScope : public FieldScope {
 public:
  BenchScope() {
    add("type", ExprType::kString);
    add("latency_ms", ExprType::kNumber);
    add("page", ExprType::kString);
    add("bytes", ExprType::kNumber);
  }
  int resolve(std::string_view path, std::string* error) override {
    auto it = slots_.find(std::string(path));
    if (it == slots_.end()) {
      *error = "unknown field '" + std::string(path) + "'";
      return -1;
    }
    return it->second;
  }
  bool constrain(int slot, ExprType t, std::string* error) override {
    if (types_[static_cast<size_t>(slot)] == t) return true;
    *error = "type conflict";
    return false;
  }
  ExprType type_of(int slot) const override { return types_[static_cast<size_t>(slot)]; }

 private:
  void add(const std::string& name, ExprType t) {
    slots_[name] = static_cast<int>(types_.size());
    types_.push_back(t);
  }
  std::map<std::string, int> slots_;
  std::vector<ExprType> types_;
};

CompiledExpr compile_or_die(const char* text) {
  BenchScope scope;
  ExprError err;
  auto node = parse_expr(text, &err);
  std::optional<CompiledExpr> expr;
  if (node) expr = CompiledExpr::compile(*node, scope, &err);
  if (!expr) {
    std::fprintf(stderr, "%s: error at %zu: %s\n", text, err.pos, err.message.c_str());
    std::abort();
  }
  return std::move(*expr);
}

void run(benchmark::State& state, const char* text) {
  CompiledExpr expr = compile_or_die(text);
  Value slots[4];
  slots[0] = Value::string("view");
  slots[1] = Value::integer(42);
  slots[2] = Value::string("/home/index.html");
  slots[3] = Value::integer(1200);
  Arena arena;
  int64_t hits = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(slots);
    Value v = expr.eval(slots, arena);
    hits += v.truthy();
    benchmark::DoNotOptimize(v);
    if ((state.iterations() & 1023) == 0) arena.reset();
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
}

void BM_FilterTypeAndLatency(benchmark::State& state) {
  run(state, "type == \"view\" && latency_ms >= 0");
}
BENCHMARK(BM_FilterTypeAndLatency);

void BM_FieldCompare(benchmark::State& state) { run(state, "latency_ms > 10"); }
BENCHMARK(BM_FieldCompare);

void BM_Arithmetic(benchmark::State& state) { run(state, "bytes * 8 / (latency_ms + 1) > 100"); }
BENCHMARK(BM_Arithmetic);

void BM_StringFunctions(benchmark::State& state) {
  run(state, "starts_with(page, \"/home\") && !contains(page, \"admin\")");
}
BENCHMARK(BM_StringFunctions);

void BM_LowerConcat(benchmark::State& state) { run(state, "upper(type) + \":\" + page"); }
BENCHMARK(BM_LowerConcat);

}  // namespace
}  // namespace spate

BENCHMARK_MAIN();
