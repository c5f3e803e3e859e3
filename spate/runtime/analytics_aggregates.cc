// Aggregates backed by spate/analytics sketches: stddev, variance, distinct, quantile,
// quantiles, top_k, sample. Every state merges (per-worker partials of global windows) and
// serializes through the sketch's own versioned, checksummed format.

#include <sys/random.h>

#include <cmath>

#include <fmt/format.h>

#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/kll.h"
#include "spate/analytics/moments.h"
#include "spate/analytics/reservoir.h"
#include "spate/analytics/space_saving.h"
#include "spate/runtime/aggregate.h"

namespace spate {

namespace {

// Seed shared by the states of one aggregate (HyperLogLog merges need equal seeds), from the OS.
uint64_t os_seed() {
  uint64_t s = 0;
  while (getrandom(&s, sizeof(s), 0) != static_cast<ssize_t>(sizeof(s))) {
  }
  return s;
}

// Text of a value used as an item (distinct, top_k, sample): strings as they are, numbers in
// their shortest form, so 1 and 1.0 are one item.
std::string_view item_text(const Value& v, std::string* buf) {
  if (v.is_string()) return v.sv();
  buf->clear();
  append_text(*buf, v);
  return *buf;
}

Value arena_string(Arena& a, const std::string& s) { return Value::string(a.copy(s)); }

// ---------------------------------------------------------------- moments
template <bool kStddev>
class MomentsState final : public AggState {
 public:
  void add(const Value& v, int64_t) override {
    if (v.is_number()) m_.add(v.as_double());
  }
  void merge(const AggState& o) override { m_.merge(static_cast<const MomentsState&>(o).m_); }
  void write_result(OutField* out, Arena&) const override {
    if (m_.count() == 0) {
      out->value = Value();
      return;
    }
    out->value = Value::real(kStddev ? m_.stddev() : m_.variance());
  }
  void serialize(std::string& out) const override { out += m_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = Moments::deserialize(in);
    if (!r) return false;
    m_ = *r;
    return true;
  }

 private:
  Moments m_;
};

template <bool kStddev>
class MomentsFunction final : public AggregateFunction {
 public:
  explicit MomentsFunction(std::optional<CompiledExpr> a) { arg_ = std::move(a); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<MomentsState<kStddev>>();
  }
};

// ---------------------------------------------------------------- distinct
class DistinctState final : public AggState {
 public:
  DistinctState(int p, uint64_t seed) : h_(p, seed) {}
  void add(const Value& v, int64_t) override {
    if (!v.is_null()) h_.add(item_text(v, &buf_));
  }
  void merge(const AggState& o) override {
    Status s = h_.merge(static_cast<const DistinctState&>(o).h_);
    (void)s;  // same function, same precision and seed: cannot fail
  }
  void write_result(OutField* out, Arena&) const override {
    out->value = Value::integer(static_cast<int64_t>(std::llround(h_.estimate())));
  }
  void serialize(std::string& out) const override { out += h_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = HyperLogLog::deserialize(in);
    // merge() needs this function's precision and seed.
    if (!r || r->precision() != h_.precision() || r->seed() != h_.seed()) return false;
    h_ = std::move(*r);
    return true;
  }

 private:
  HyperLogLog h_;
  std::string buf_;
};

class DistinctFunction final : public AggregateFunction {
 public:
  DistinctFunction(std::optional<CompiledExpr> a, int p) : p_(p), seed_(os_seed()) { arg_ = std::move(a); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<DistinctState>(p_, seed_);
  }

 private:
  int p_;
  uint64_t seed_;
};

// ---------------------------------------------------------------- quantiles
class QuantileState final : public AggState {
 public:
  QuantileState(uint32_t k, uint64_t seed, std::vector<double> qs, bool many)
      : s_(k, seed), qs_(std::move(qs)), many_(many) {}
  void add(const Value& v, int64_t) override {
    if (v.is_number()) s_.add(v.as_double());
  }
  void merge(const AggState& o) override {
    Status st = s_.merge(static_cast<const QuantileState&>(o).s_);
    (void)st;
  }
  void write_result(OutField* out, Arena& arena) const override {
    if (s_.empty()) {
      out->value = Value();
      return;
    }
    if (!many_) {
      out->value = Value::real(s_.quantile(qs_[0]));
      return;
    }
    std::string j = "{";
    std::vector<double> r = s_.quantiles(qs_);
    for (size_t i = 0; i < qs_.size(); ++i) {
      if (i) j += ',';
      std::string key;
      append_number(key, qs_[i]);
      append_json_string(j, key);
      j += ':';
      append_number(j, r[i]);
    }
    j += '}';
    out->value = arena_string(arena, j);
    out->raw_json = true;
  }
  void serialize(std::string& out) const override { out += s_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = KllSketch::deserialize(in);
    if (!r || r->k() != s_.k()) return false;  // merge() needs this function's k
    s_ = std::move(*r);
    return true;
  }

 private:
  KllSketch s_;
  std::vector<double> qs_;
  bool many_;
};

class QuantileFunction final : public AggregateFunction {
 public:
  QuantileFunction(std::optional<CompiledExpr> a, uint32_t k, std::vector<double> qs, bool many)
      : k_(k), qs_(std::move(qs)), many_(many), seed_(os_seed()) {
    arg_ = std::move(a);
  }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<QuantileState>(k_, seed_ + counter_++, qs_, many_);
  }

 private:
  uint32_t k_;
  std::vector<double> qs_;
  bool many_;
  uint64_t seed_;
  mutable std::atomic<uint64_t> counter_{0};
};

// ---------------------------------------------------------------- top_k
class TopKState final : public AggState {
 public:
  TopKState(uint32_t k, uint32_t capacity) : k_(k), s_(capacity) {}
  void add(const Value& v, int64_t) override {
    if (!v.is_null()) s_.add(item_text(v, &buf_));
  }
  void merge(const AggState& o) override {
    Status st = s_.merge(static_cast<const TopKState&>(o).s_);
    (void)st;  // equal capacities: cannot fail
  }
  void write_result(OutField* out, Arena& arena) const override {
    std::string j = "[";
    bool first = true;
    for (const auto& e : s_.top(k_)) {
      if (!first) j += ',';
      first = false;
      j += "{\"value\":";
      append_json_string(j, e.item);
      j += fmt::format(",\"count\":{},\"error\":{}}}", e.count, e.error);
    }
    j += ']';
    out->value = arena_string(arena, j);
    out->raw_json = true;
  }
  void serialize(std::string& out) const override { out += s_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = SpaceSaving::deserialize(in);
    if (!r || r->capacity() != s_.capacity()) return false;  // merge() needs equal capacities
    s_ = std::move(*r);
    return true;
  }

 private:
  uint32_t k_;
  SpaceSaving s_;
  std::string buf_;
};

class TopKFunction final : public AggregateFunction {
 public:
  TopKFunction(std::optional<CompiledExpr> a, uint32_t k, uint32_t cap) : k_(k), cap_(cap) {
    arg_ = std::move(a);
  }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<TopKState>(k_, cap_);
  }

 private:
  uint32_t k_, cap_;
};

// ---------------------------------------------------------------- sample
class SampleState final : public AggState {
 public:
  SampleState(uint64_t n, uint64_t seed) : r_(n, seed) {}
  void add(const Value& v, int64_t) override {
    if (!v.is_null()) r_.add(std::string(item_text(v, &buf_)));
  }
  void merge(const AggState& o) override {
    Status st = r_.merge(static_cast<const SampleState&>(o).r_);
    (void)st;
  }
  void write_result(OutField* out, Arena& arena) const override {
    std::string j = "[";
    for (size_t i = 0; i < r_.sample().size(); ++i) {
      if (i) j += ',';
      append_json_string(j, r_.sample()[i]);
    }
    j += ']';
    out->value = arena_string(arena, j);
    out->raw_json = true;
  }
  void serialize(std::string& out) const override { out += r_.serialize(); }
  bool deserialize(std::string_view in) override {
    auto r = Reservoir<std::string>::deserialize(in);
    if (!r || r->capacity() != r_.capacity()) return false;  // merge() needs equal capacities
    r_ = std::move(*r);
    return true;
  }

 private:
  Reservoir<std::string> r_;
  std::string buf_;
};

class SampleFunction final : public AggregateFunction {
 public:
  SampleFunction(std::optional<CompiledExpr> a, uint64_t n) : n_(n), seed_(os_seed()) { arg_ = std::move(a); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<SampleState>(n_, seed_ + counter_++);
  }

 private:
  uint64_t n_;
  uint64_t seed_;
  mutable std::atomic<uint64_t> counter_{0};
};

bool int_arg(const ExprNode& call, size_t i, std::string_view kw, double def, double lo, double hi,
             double* out, ExprError* err) {
  if (!literal_number_arg(call, i, kw, def, out, err)) return false;
  if (*out < lo || *out > hi || std::floor(*out) != *out) {
    err->pos = call.pos;
    err->message = fmt::format("{}: {} must be an integer from {} to {}", call.name, kw, lo, hi);
    return false;
  }
  return true;
}

}  // namespace

void register_analytics_aggregates(AggregateRegistry& r) {
  r.add("stddev", "stddev(expr): population standard deviation (Welford, Chan merge)",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          if (!check_arity(call, 1, 1, {}, "stddev(expr)", err)) return nullptr;
          std::optional<CompiledExpr> a;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          return std::make_unique<MomentsFunction<true>>(std::move(a));
        });
  r.add("variance", "variance(expr): population variance (Welford, Chan merge)",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          if (!check_arity(call, 1, 1, {}, "variance(expr)", err)) return nullptr;
          std::optional<CompiledExpr> a;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          return std::make_unique<MomentsFunction<false>>(std::move(a));
        });
  r.add("distinct", "distinct(expr [, precision=12]): distinct values, HyperLogLog (RSE ~1.04/sqrt(2^p))",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "distinct(expr [, precision])";
          if (!check_arity(call, 1, 2, {"precision"}, sig, err)) return nullptr;
          std::optional<CompiledExpr> a;
          double p;
          if (!compile_any_arg(call, 0, scope, &a, err)) return nullptr;
          if (!int_arg(call, 1, "precision", 12, 4, 18, &p, err)) return nullptr;
          return std::make_unique<DistinctFunction>(std::move(a), static_cast<int>(p));
        });
  r.add("quantile", "quantile(expr, q [, k=200]): the q-quantile, KLL sketch (rank error ~1.33% at k=200)",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "quantile(expr, q [, k])";
          if (!check_arity(call, 2, 3, {"q", "k"}, sig, err)) return nullptr;
          std::optional<CompiledExpr> a;
          double q, k;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          if (!literal_number_arg(call, 1, "q", -1, &q, err)) return nullptr;
          if (q < 0 || q > 1) {
            err->pos = call.pos;
            err->message = "quantile: q must be a number from 0 to 1";
            return nullptr;
          }
          if (!int_arg(call, 2, "k", 200, 8, 65535, &k, err)) return nullptr;
          return std::make_unique<QuantileFunction>(std::move(a), static_cast<uint32_t>(k),
                                                    std::vector<double>{q}, false);
        });
  r.add("quantiles", "quantiles(expr, [q, ...] [, k=200]): several quantiles as an object, KLL sketch",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "quantiles(expr, [q1, q2, ...] [, k])";
          if (!check_arity(call, 2, 3, {"k"}, sig, err)) return nullptr;
          std::optional<CompiledExpr> a;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          if (call.args.size() < 2) {
            err->pos = call.pos;
            err->message = fmt::format("quantiles: missing the list of quantiles; usage: {}", sig);
            return nullptr;
          }
          const ExprNode& list = *call.args[1];
          std::vector<double> qs;
          if (list.kind == ExprNode::Kind::kList) {
            for (const auto& item : list.args) {
              if (item->kind != ExprNode::Kind::kLiteral || !item->literal.is_number() ||
                  item->literal.as_double() < 0 || item->literal.as_double() > 1) {
                err->pos = item->pos;
                err->message = "quantiles: each q must be a number from 0 to 1";
                return nullptr;
              }
              qs.push_back(item->literal.as_double());
            }
          }
          if (qs.empty()) {
            err->pos = list.pos;
            err->message = fmt::format("quantiles: the second argument must be a list such as [0.5, 0.9, 0.99]; usage: {}", sig);
            return nullptr;
          }
          double k;
          if (!int_arg(call, 2, "k", 200, 8, 65535, &k, err)) return nullptr;
          return std::make_unique<QuantileFunction>(std::move(a), static_cast<uint32_t>(k),
                                                    std::move(qs), true);
        });
  r.add("top_k", "top_k(expr, k [, capacity=max(1024, 10k)]): heavy hitters, Space-Saving (count - error <= true <= count)",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "top_k(expr, k [, capacity])";
          if (!check_arity(call, 2, 3, {"k", "capacity"}, sig, err)) return nullptr;
          std::optional<CompiledExpr> a;
          double k, cap;
          if (!compile_any_arg(call, 0, scope, &a, err)) return nullptr;
          if (!int_arg(call, 1, "k", 10, 1, 100000, &k, err)) return nullptr;
          if (!int_arg(call, 2, "capacity", std::max(1024.0, 10 * k), k, 1 << 20, &cap, err)) return nullptr;
          return std::make_unique<TopKFunction>(std::move(a), static_cast<uint32_t>(k),
                                                static_cast<uint32_t>(cap));
        });
  r.add("sample", "sample(expr, n): a uniform random sample of n values (reservoir, Algorithm L)",
        [](const ExprNode& call, FieldScope& scope, ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "sample(expr, n)";
          if (!check_arity(call, 2, 2, {"n"}, sig, err)) return nullptr;
          std::optional<CompiledExpr> a;
          double n;
          if (!compile_any_arg(call, 0, scope, &a, err)) return nullptr;
          if (!int_arg(call, 1, "n", 10, 1, 1 << 20, &n, err)) return nullptr;
          return std::make_unique<SampleFunction>(std::move(a), static_cast<uint64_t>(n));
        });
}

}  // namespace spate
