#include "spate/runtime/operators.h"

namespace spate {

void FilterOp::apply(RecordBatch& batch, OpScratch& scratch) const {
  const uint32_t n = batch.size();
  scratch.keep.resize(n);
  bool all = true;
  for (uint32_t i = 0; i < n; ++i) {
    bool k = cond_.eval(batch.record(i), batch.arena()).truthy();
    scratch.keep[i] = k;
    all = all && k;
  }
  if (!all) batch.compact(scratch.keep);
}

void SelectOp::apply(RecordBatch& batch, OpScratch& scratch) const {
  const uint32_t n = batch.size();
  const size_t k = exprs_.size();
  scratch.values.resize(static_cast<size_t>(n) * k);
  for (uint32_t i = 0; i < n; ++i) {
    const Value* in = batch.record(i);
    Value* out = scratch.values.data() + static_cast<size_t>(i) * k;
    for (size_t j = 0; j < k; ++j) out[j] = exprs_[j].eval(in, batch.arena());
  }
  batch.replace_values(scratch.values, static_cast<uint32_t>(k));
}

void KeyByOp::apply(RecordBatch& batch, OpScratch& scratch) const {
  const uint32_t n = batch.size();
  const uint32_t k = in_slots_ + 1;
  scratch.values.resize(static_cast<size_t>(n) * k);
  for (uint32_t i = 0; i < n; ++i) {
    const Value* in = batch.record(i);
    Value* out = scratch.values.data() + static_cast<size_t>(i) * k;
    std::copy(in, in + in_slots_, out);
    Value key = key_.eval(in, batch.arena());
    out[in_slots_] = key;
    batch.meta(i).key_hash = hasher_->hash(key);
  }
  batch.replace_values(scratch.values, k);
}

}  // namespace spate
