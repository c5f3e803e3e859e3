#pragma once
// Stateless batch operators of a pipeline: filter, select, key_by. Each is compiled once and
// shared by every worker; apply() transforms one batch in place.
// Thread-safety: operators are immutable; apply() may run on many workers at once, each with its
// own batch and OpScratch.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spate/core/batch.h"
#include "spate/core/expr.h"
#include "spate/runtime/router.h"

namespace spate {

// Per-worker scratch space reused across batches (no allocation in steady state).
struct OpScratch {
  std::vector<uint8_t> keep;
  std::vector<Value> values;
};

class BatchOperator {
 public:
  virtual ~BatchOperator() = default;
  virtual void apply(RecordBatch& batch, OpScratch& scratch) const = 0;
  virtual uint32_t output_slots() const = 0;
};

// Keeps records whose condition is true.
class FilterOp final : public BatchOperator {
 public:
  FilterOp(CompiledExpr cond, uint32_t slots) : cond_(std::move(cond)), slots_(slots) {}
  void apply(RecordBatch& batch, OpScratch& scratch) const override;
  uint32_t output_slots() const override { return slots_; }

 private:
  CompiledExpr cond_;
  uint32_t slots_;
};

// Replaces each record's fields with the values of named expressions.
class SelectOp final : public BatchOperator {
 public:
  explicit SelectOp(std::vector<CompiledExpr> exprs) : exprs_(std::move(exprs)) {}
  void apply(RecordBatch& batch, OpScratch& scratch) const override;
  uint32_t output_slots() const override { return static_cast<uint32_t>(exprs_.size()); }

 private:
  std::vector<CompiledExpr> exprs_;
};

// Appends the key as a new last slot and stores its routing hash in the record's metadata.
class KeyByOp final : public BatchOperator {
 public:
  KeyByOp(CompiledExpr key, uint32_t in_slots, std::shared_ptr<const KeyHasher> hasher)
      : key_(std::move(key)), in_slots_(in_slots), hasher_(std::move(hasher)) {}
  void apply(RecordBatch& batch, OpScratch& scratch) const override;
  uint32_t output_slots() const override { return in_slots_ + 1; }

 private:
  CompiledExpr key_;
  uint32_t in_slots_;
  std::shared_ptr<const KeyHasher> hasher_;
};

}  // namespace spate
