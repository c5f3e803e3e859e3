#pragma once
// Aggregates of windows: `views: count()`, `avg_ms: avg(ms)`, ...
//
// AggregateFunction: one compiled aggregate of a pipeline (immutable; shared by all workers).
// AggState: its state for one key in one window (owned by one worker). Every state can merge
// another state of the same function (two-phase aggregation: per-worker partials merged when a
// window fires) and serialize itself (checkpoint door).
// AggregateRegistry: name -> factory; the analytics library plugs its sketches in here.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/core/expr.h"
#include "spate/runtime/output.h"

namespace spate {

class AggState {
 public:
  virtual ~AggState() = default;
  // v: the argument's value for this record (null for argument-less aggregates or missing
  // fields); t: the record's event time in ms.
  virtual void add(const Value& v, int64_t t) = 0;
  // REQUIRES: other was made by the same AggregateFunction.
  virtual void merge(const AggState& other) = 0;
  virtual void write_result(OutField* out, Arena& arena) const = 0;
  // Checkpoint door: a self-contained byte image of the state, and its inverse.
  virtual void serialize(std::string& out) const = 0;
  virtual bool deserialize(std::string_view in) = 0;
  // Returns the state to what make_state() makes, so that windows can reuse it instead of
  // allocating a new one for every key of every window. States that do not support it return
  // false (the caller then makes a new one).
  virtual bool reset() { return false; }
};

class AggregateFunction {
 public:
  virtual ~AggregateFunction() = default;
  virtual std::unique_ptr<AggState> make_state() const = 0;
  // The argument whose value feeds add(); nullptr when the aggregate takes none.
  const CompiledExpr* arg() const { return arg_ ? &*arg_ : nullptr; }

 protected:
  std::optional<CompiledExpr> arg_;
};

// Compiles the call `node` (already known to be a call of this aggregate's name).
using AggregateFactory = std::function<std::unique_ptr<AggregateFunction>(
    const ExprNode& call, FieldScope& scope, ExprError* error)>;

class AggregateRegistry {
 public:
  // The registry with every built-in aggregate.
  static const AggregateRegistry& builtin();

  void add(std::string name, std::string signature, AggregateFactory factory);
  // Compiles an aggregate expression text's tree. On error returns nullptr and fills *error.
  std::unique_ptr<AggregateFunction> compile(const ExprNode& node, FieldScope& scope,
                                             ExprError* error) const;
  std::vector<std::string> names() const;
  const std::string& signature(const std::string& name) const;

 private:
  struct Entry {
    std::string signature;
    AggregateFactory factory;
  };
  std::map<std::string, Entry> entries_;
};

// Helpers for factories.
// Compiles positional argument i as a numeric expression; error if missing.
bool compile_numeric_arg(const ExprNode& call, size_t i, FieldScope& scope,
                         std::optional<CompiledExpr>* out, ExprError* error);
bool compile_any_arg(const ExprNode& call, size_t i, FieldScope& scope,
                     std::optional<CompiledExpr>* out, ExprError* error);
// Checks the call has between min and max positional args and only the given keyword args.
bool check_arity(const ExprNode& call, size_t min, size_t max,
                 const std::vector<std::string>& keywords, const std::string& signature,
                 ExprError* error);
// A literal number argument (positional i or keyword), or def when absent.
bool literal_number_arg(const ExprNode& call, size_t i, std::string_view keyword, double def,
                        double* out, ExprError* error);

void register_basic_aggregates(AggregateRegistry& r);
// stddev, variance, distinct, quantile, quantiles, top_k, sample (spate/analytics sketches).
void register_analytics_aggregates(AggregateRegistry& r);
// trending: rising items by forward-decayed rates (spate/runtime/trending_aggregate.cc).
void register_trending_aggregate(AggregateRegistry& r);
// ewma, drift, interest_shift: order-dependent aggregates with a defined merge
// (spate/runtime/detector_aggregates.cc).
void register_detector_aggregates(AggregateRegistry& r);

}  // namespace spate
