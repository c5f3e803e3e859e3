#include "spate/runtime/aggregate.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "spate/common/did_you_mean.h"

namespace spate {

namespace {

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
bool get(std::string_view& in, T* v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}
// A bool written by put(): exactly 0 or 1 (any other byte is not a bool's object representation).
bool get_bool(std::string_view& in, bool* v) {
  uint8_t b;
  if (!get(in, &b) || b > 1) return false;
  *v = b == 1;
  return true;
}

// Deserialize rejects counts above this: no stream comes near (2^62 records is 146 years at
// 1e9 records/s), and merges of accepted states cannot overflow int64.
constexpr int64_t kMaxCount = int64_t{1} << 62;

class CountState final : public AggState {
 public:
  explicit CountState(bool count_nulls) : count_nulls_(count_nulls) {}
  void add(const Value& v, int64_t) override { n_ += (count_nulls_ || !v.is_null()) ? 1 : 0; }
  void merge(const AggState& o) override { n_ += static_cast<const CountState&>(o).n_; }
  void write_result(OutField* out, Arena&) const override { out->value = Value::integer(n_); }
  void serialize(std::string& out) const override { put(out, n_); }
  bool deserialize(std::string_view in) override {
    int64_t n;
    if (!get(in, &n) || !in.empty() || n < 0 || n > kMaxCount) return false;
    n_ = n;
    return true;
  }
  bool reset() override {
    n_ = 0;
    return true;
  }

 private:
  bool count_nulls_;
  int64_t n_ = 0;
};

// Sum of numbers: exact for integers (until int64 overflow, then double), double otherwise.
class SumState final : public AggState {
 public:
  void add(const Value& v, int64_t) override {
    if (v.type == ValueType::kInt && !is_double_) {
      int64_t r;
      if (__builtin_add_overflow(isum_, v.i, &r)) {
        dsum_ = static_cast<double>(isum_) + v.as_double();
        is_double_ = true;
      } else {
        isum_ = r;
      }
      n_++;
      return;
    }
    if (!v.is_number()) return;
    if (!is_double_) {
      dsum_ = static_cast<double>(isum_);
      is_double_ = true;
    }
    dsum_ += v.as_double();
    n_++;
  }
  void merge(const AggState& o) override {
    const auto& s = static_cast<const SumState&>(o);
    int64_t r;
    if (!is_double_ && !s.is_double_ && !__builtin_add_overflow(isum_, s.isum_, &r)) {
      isum_ = r;
      n_ += s.n_;
      return;
    }
    if (!is_double_) {
      dsum_ = static_cast<double>(isum_);
      is_double_ = true;
    }
    dsum_ += s.is_double_ ? s.dsum_ : static_cast<double>(s.isum_);
    n_ += s.n_;
  }
  void write_result(OutField* out, Arena&) const override {
    out->value = is_double_ ? Value::real(dsum_) : Value::integer(isum_);
  }
  void serialize(std::string& out) const override {
    put(out, is_double_); put(out, isum_); put(out, dsum_); put(out, n_);
  }
  bool deserialize(std::string_view in) override {
    bool is_double;
    int64_t isum, n;
    double dsum;
    if (!get_bool(in, &is_double) || !get(in, &isum) || !get(in, &dsum) || !get(in, &n) ||
        !in.empty() || n < 0 || n > kMaxCount) {
      return false;
    }
    // An integer sum never wrote the double; no numbers, no sum.
    if ((!is_double && dsum != 0) || (n == 0 && (is_double || isum != 0))) return false;
    is_double_ = is_double;
    isum_ = isum;
    dsum_ = dsum;
    n_ = n;
    return true;
  }
  bool reset() override {
    is_double_ = false;
    isum_ = 0;
    dsum_ = 0;
    n_ = 0;
    return true;
  }
  double value() const { return is_double_ ? dsum_ : static_cast<double>(isum_); }
  int64_t n() const { return n_; }

 private:
  bool is_double_ = false;
  int64_t isum_ = 0;
  double dsum_ = 0;
  int64_t n_ = 0;
};

class AvgState final : public AggState {
 public:
  void add(const Value& v, int64_t t) override { sum_.add(v, t); }
  void merge(const AggState& o) override { sum_.merge(static_cast<const AvgState&>(o).sum_); }
  void write_result(OutField* out, Arena&) const override {
    out->value = sum_.n() == 0 ? Value::null() : Value::real(sum_.value() / double(sum_.n()));
  }
  void serialize(std::string& out) const override { sum_.serialize(out); }
  bool deserialize(std::string_view in) override { return sum_.deserialize(in); }
  bool reset() override { return sum_.reset(); }

 private:
  SumState sum_;
};

// min/max of numbers; ints stay ints.
template <bool kMax>
class ExtremeState final : public AggState {
 public:
  void add(const Value& v, int64_t) override {
    if (!v.is_number()) return;
    if (!has_ || better(v)) {
      best_ = v;
      has_ = true;
    }
  }
  void merge(const AggState& o) override {
    const auto& s = static_cast<const ExtremeState&>(o);
    if (s.has_) add(s.best_, 0);
  }
  void write_result(OutField* out, Arena&) const override {
    out->value = has_ ? best_ : Value::null();
  }
  void serialize(std::string& out) const override {
    put(out, has_); put(out, best_.type); put(out, best_.i);
  }
  bool deserialize(std::string_view in) override {
    bool has;
    ValueType t;
    int64_t bits;
    if (!get_bool(in, &has) || !get(in, &t) || !get(in, &bits) || !in.empty()) return false;
    // A number exactly when there is one; an empty state's value is a fresh Value (null, 0).
    if (has ? (t != ValueType::kInt && t != ValueType::kDouble)
            : (t != ValueType::kNull || bits != 0)) {
      return false;
    }
    has_ = has;
    best_.type = t;
    best_.i = bits;
    return true;
  }
  bool reset() override {
    has_ = false;
    best_ = Value();
    return true;
  }

 private:
  bool better(const Value& v) const {
    bool ok;
    int c = compare_values(v, best_, &ok);
    return ok && (kMax ? c > 0 : c < 0);
  }
  bool has_ = false;
  Value best_;
};

template <typename State>
class SimpleFunction final : public AggregateFunction {
 public:
  explicit SimpleFunction(std::optional<CompiledExpr> arg) { arg_ = std::move(arg); }
  std::unique_ptr<AggState> make_state() const override { return std::make_unique<State>(); }
};

class CountFunction final : public AggregateFunction {
 public:
  explicit CountFunction(std::optional<CompiledExpr> arg) { arg_ = std::move(arg); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<CountState>(!arg_.has_value());
  }
};

template <typename State>
AggregateFactory numeric_factory(std::string sig) {
  return [sig](const ExprNode& call, FieldScope& scope, ExprError* err)
             -> std::unique_ptr<AggregateFunction> {
    if (!check_arity(call, 1, 1, {}, sig, err)) return nullptr;
    std::optional<CompiledExpr> arg;
    if (!compile_numeric_arg(call, 0, scope, &arg, err)) return nullptr;
    return std::make_unique<SimpleFunction<State>>(std::move(arg));
  };
}

}  // namespace

bool check_arity(const ExprNode& call, size_t min, size_t max,
                 const std::vector<std::string>& keywords, const std::string& signature,
                 ExprError* error) {
  // Keyword arguments may stand for trailing positional ones (quantile(x, q=0.9)).
  const size_t given = call.args.size() + call.kwargs.size();
  if (given < min || call.args.size() > max || given > max) {
    error->pos = call.pos;
    error->message = fmt::format("{} takes {} argument{}; usage: {}", call.name,
                                 min == max ? fmt::format("{}", min)
                                            : fmt::format("{} to {}", min, max),
                                 max == 1 && min == max ? "" : "s", signature);
    return false;
  }
  for (const auto& [k, v] : call.kwargs) {
    bool known = false;
    for (const auto& kw : keywords) known = known || kw == k;
    if (!known) {
      error->pos = v->pos;
      error->message = fmt::format("{}: unknown argument '{}'{}; usage: {}", call.name, k,
                                   did_you_mean(k, keywords), signature);
      return false;
    }
  }
  return true;
}

static bool compile_arg(const ExprNode& call, size_t i, FieldScope& scope,
                        std::optional<CompiledExpr>* out, ExprError* error, bool numeric) {
  if (i >= call.args.size()) {
    error->pos = call.pos;
    error->message = fmt::format("{}: missing argument {}", call.name, i + 1);
    return false;
  }
  const ExprNode& a = *call.args[i];
  *out = CompiledExpr::compile(a, scope, error);
  if (!*out) return false;
  if (numeric) {
    ExprType t = (*out)->type();
    if (t != ExprType::kNumber && t != ExprType::kAny && t != ExprType::kNull) {
      error->pos = a.pos;
      error->message = fmt::format("{} needs a number, but its argument is a {}", call.name,
                                   expr_type_name(t));
      return false;
    }
    int slot = (*out)->field_slot();
    std::string msg;
    if (slot >= 0 && !scope.constrain(slot, ExprType::kNumber, &msg)) {
      error->pos = a.pos;
      error->message = msg;
      return false;
    }
  }
  return true;
}

bool compile_numeric_arg(const ExprNode& call, size_t i, FieldScope& scope,
                         std::optional<CompiledExpr>* out, ExprError* error) {
  return compile_arg(call, i, scope, out, error, true);
}
bool compile_any_arg(const ExprNode& call, size_t i, FieldScope& scope,
                     std::optional<CompiledExpr>* out, ExprError* error) {
  return compile_arg(call, i, scope, out, error, false);
}

bool literal_number_arg(const ExprNode& call, size_t i, std::string_view keyword, double def,
                        double* out, ExprError* error) {
  const ExprNode* node = nullptr;
  if (i < call.args.size()) node = call.args[i].get();
  for (const auto& [k, v] : call.kwargs) {
    if (k == keyword) node = v.get();
  }
  if (!node) {
    *out = def;
    return true;
  }
  if (node->kind != ExprNode::Kind::kLiteral || !node->literal.is_number()) {
    error->pos = node->pos;
    error->message = fmt::format("{}: argument '{}' must be a number literal", call.name, keyword);
    return false;
  }
  *out = node->literal.as_double();
  return true;
}

void AggregateRegistry::add(std::string name, std::string signature, AggregateFactory factory) {
  entries_[std::move(name)] = Entry{std::move(signature), std::move(factory)};
}

std::vector<std::string> AggregateRegistry::names() const {
  std::vector<std::string> v;
  for (const auto& [k, e] : entries_) v.push_back(k);
  return v;
}

const std::string& AggregateRegistry::signature(const std::string& name) const {
  return entries_.at(name).signature;
}

std::unique_ptr<AggregateFunction> AggregateRegistry::compile(const ExprNode& node,
                                                              FieldScope& scope,
                                                              ExprError* error) const {
  if (node.kind != ExprNode::Kind::kCall) {
    error->pos = node.pos;
    error->message = fmt::format("expected an aggregate call such as count() or sum(field); {}",
                                 one_of(names()));
    return nullptr;
  }
  auto it = entries_.find(node.name);
  if (it == entries_.end()) {
    error->pos = node.pos;
    std::string hint = did_you_mean(node.name, names());
    error->message = hint.empty() ? fmt::format("unknown aggregate '{}'; valid: {}", node.name,
                                                fmt::join(names(), ", "))
                                  : fmt::format("unknown aggregate '{}'{}", node.name, hint);
    return nullptr;
  }
  return it->second.factory(node, scope, error);
}

void register_basic_aggregates(AggregateRegistry& r) {
  r.add("count", "count() or count(expr): records, or records where expr is not null",
        [](const ExprNode& call, FieldScope& scope, ExprError* err)
            -> std::unique_ptr<AggregateFunction> {
          if (!check_arity(call, 0, 1, {}, "count() | count(expr)", err)) return nullptr;
          std::optional<CompiledExpr> arg;
          if (!call.args.empty() && !compile_any_arg(call, 0, scope, &arg, err)) return nullptr;
          return std::make_unique<CountFunction>(std::move(arg));
        });
  r.add("sum", "sum(expr): sum of numbers (nulls skipped)", numeric_factory<SumState>("sum(expr)"));
  r.add("avg", "avg(expr): mean of numbers (nulls skipped; null when none)",
        numeric_factory<AvgState>("avg(expr)"));
  r.add("min", "min(expr): smallest number", numeric_factory<ExtremeState<false>>("min(expr)"));
  r.add("max", "max(expr): largest number", numeric_factory<ExtremeState<true>>("max(expr)"));
}

}  // namespace spate
