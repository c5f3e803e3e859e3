// The `trending(expr, k [, short=1m, long=1h, capacity])` aggregate: the k values whose
// forward-decayed event rate over the short half-life is highest relative to the rate over the
// long half-life (spate/analytics/trending.h). Decay uses each record's event time (processing
// time when the pipeline has no `time` section); rates are evaluated at the latest time the
// state has seen, so per-worker partials merged when a window fires give the answer of one
// state fed every record (within the Space-Saving bounds).

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "spate/analytics/trending.h"
#include "spate/runtime/aggregate.h"

namespace spate {

namespace {

class TrendingState final : public AggState {
 public:
  TrendingState(uint32_t k, uint32_t capacity, double short_ms, double long_ms)
      : k_(k), t_(capacity, short_ms, long_ms) {}

  void add(const Value& v, int64_t t) override {
    if (v.is_null()) return;
    if (v.is_string()) {
      t_.add(v.sv(), t);
      return;
    }
    buf_.clear();  // numbers as their shortest text, so 1 and 1.0 are one item
    append_text(buf_, v);
    t_.add(buf_, t);
  }
  void merge(const AggState& o) override {
    Status st = t_.merge(static_cast<const TrendingState&>(o).t_);
    (void)st;  // same function: same half-lives and capacity, cannot fail
  }
  void write_result(OutField* out, Arena& arena) const override {
    std::string j = "[";
    bool first = true;
    for (const auto& e : t_.top_rising(k_)) {
      if (!first) j += ',';
      first = false;
      j += "{\"value\":";
      append_json_string(j, e.item);
      j += ",\"score\":";
      append_number(j, e.score);
      j += ",\"short_rate\":";
      append_number(j, e.short_rate);
      j += ",\"long_rate\":";
      append_number(j, e.long_rate);
      j += '}';
    }
    j += ']';
    out->value = Value::string(arena.copy(j));
    out->raw_json = true;
  }
  void serialize(std::string& out) const override { out += t_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = Trending::deserialize(in);
    if (!r) return false;
    if (r->capacity() != t_.capacity() || r->short_half_life_ms() != t_.short_half_life_ms() ||
        r->long_half_life_ms() != t_.long_half_life_ms()) {
      return false;  // a state of another trending(...) call
    }
    t_ = std::move(*r);
    return true;
  }

 private:
  uint32_t k_;
  Trending t_;
  std::string buf_;
};

class TrendingFunction final : public AggregateFunction {
 public:
  TrendingFunction(std::optional<CompiledExpr> a, uint32_t k, uint32_t capacity, double short_ms,
                   double long_ms)
      : k_(k), capacity_(capacity), short_ms_(short_ms), long_ms_(long_ms) {
    arg_ = std::move(a);
  }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<TrendingState>(k_, capacity_, short_ms_, long_ms_);
  }

 private:
  uint32_t k_, capacity_;
  double short_ms_, long_ms_;
};

constexpr const char* kSignature = "trending(expr, k [, short=1m, long=1h, capacity])";

// A duration literal argument (positional i or keyword), in ms, or def when absent.
bool duration_arg(const ExprNode& call, size_t i, std::string_view keyword, double def, double* out,
                  ExprError* err) {
  const ExprNode* node = i < call.args.size() ? call.args[i].get() : nullptr;
  for (const auto& [k, v] : call.kwargs) {
    if (k == keyword) node = v.get();
  }
  if (node == nullptr) {
    *out = def;
    return true;
  }
  if (node->kind != ExprNode::Kind::kLiteral || !node->is_duration || !node->literal.is_number()) {
    err->pos = node->pos;
    err->message =
        fmt::format("trending: argument '{}' must be a duration such as 10s, 1m or 1h", keyword);
    return false;
  }
  *out = node->literal.as_double();
  return true;
}

bool int_arg(const ExprNode& call, size_t i, std::string_view kw, double def, double lo, double hi,
             double* out, ExprError* err) {
  if (!literal_number_arg(call, i, kw, def, out, err)) return false;
  if (*out < lo || *out > hi || std::floor(*out) != *out) {
    err->pos = call.pos;
    err->message = fmt::format("trending: {} must be an integer from {} to {}", kw, lo, hi);
    return false;
  }
  return true;
}

}  // namespace

void register_trending_aggregate(AggregateRegistry& r) {
  r.add("trending",
        "trending(expr, k [, short=1m, long=1h, capacity=max(1024, 10k)]): the k rising values, "
        "score = short-half-life rate / long-half-life rate (forward decay, Space-Saving)",
        [](const ExprNode& call, FieldScope& scope,
           ExprError* err) -> std::unique_ptr<AggregateFunction> {
          if (!check_arity(call, 2, 5, {"k", "short", "long", "capacity"}, kSignature, err)) {
            return nullptr;
          }
          std::optional<CompiledExpr> a;
          double k, cap, short_ms, long_ms;
          if (!compile_any_arg(call, 0, scope, &a, err)) return nullptr;
          if (!int_arg(call, 1, "k", 10, 1, 100000, &k, err)) return nullptr;
          if (!duration_arg(call, 2, "short", 60000, &short_ms, err)) return nullptr;
          if (!duration_arg(call, 3, "long", 3600000, &long_ms, err)) return nullptr;
          if (!(short_ms >= Trending::kMinHalfLifeMs && short_ms < long_ms &&
                long_ms <= Trending::kMaxHalfLifeMs)) {
            err->pos = call.pos;
            err->message = fmt::format(
                "trending: need 1ms <= short < long (got short={}ms, long={}ms); usage: {}",
                short_ms, long_ms, kSignature);
            return nullptr;
          }
          if (!int_arg(call, 4, "capacity", std::max(1024.0, 10 * k), k, Trending::kMaxCapacity,
                       &cap, err)) {
            return nullptr;
          }
          return std::make_unique<TrendingFunction>(std::move(a), static_cast<uint32_t>(k),
                                                    static_cast<uint32_t>(cap), short_ms, long_ms);
        });
}

}  // namespace spate
