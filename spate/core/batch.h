#pragma once
// RecordBatch: a block of records with a fixed number of slots (fields) each, stored flat, plus
// per-record metadata and the arena that holds their strings. Batches are the unit that moves
// between threads; they are pooled and reused, so steady-state processing allocates nothing.
// Thread-safety: owned by one thread at a time; ownership moves with the batch.

#include <cstdint>
#include <vector>

#include "spate/common/arena.h"
#include "spate/core/value.h"

namespace spate {

struct RecordMeta {
  int64_t event_time = 0;  // ms since epoch
  uint64_t key_hash = 0;   // routing hash of the key (after key_by); never leaves the process
};

class RecordBatch {
 public:
  static constexpr uint32_t kDefaultCapacity = 1024;

  RecordBatch() = default;
  RecordBatch(const RecordBatch&) = delete;
  RecordBatch& operator=(const RecordBatch&) = delete;

  // Empties the batch and sets the slot count; keeps memory for reuse.
  void reset(uint32_t slots) {
    slots_ = slots;
    size_ = 0;
    values_.clear();
    meta_.clear();
    arena_.reset();
  }

  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t slots() const { return slots_; }

  // Appends a record with every slot null; returns its slots (valid until the next append).
  Value* append(int64_t event_time = 0) {
    values_.resize(values_.size() + slots_);
    meta_.push_back(RecordMeta{event_time, 0});
    ++size_;
    return values_.data() + static_cast<size_t>(size_ - 1) * slots_;
  }
  // Drops the last record (e.g. a parse that failed half-way).
  void pop_back() {
    values_.resize(values_.size() - slots_);
    meta_.pop_back();
    --size_;
  }

  Value* record(uint32_t i) { return values_.data() + static_cast<size_t>(i) * slots_; }
  const Value* record(uint32_t i) const { return values_.data() + static_cast<size_t>(i) * slots_; }
  RecordMeta& meta(uint32_t i) { return meta_[i]; }
  const RecordMeta& meta(uint32_t i) const { return meta_[i]; }
  Arena& arena() { return arena_; }

  // Keeps only the records for which keep[i] is true, in order.
  void compact(const std::vector<uint8_t>& keep) {
    uint32_t out = 0;
    for (uint32_t i = 0; i < size_; ++i) {
      if (!keep[i]) continue;
      if (out != i) {
        std::copy(record(i), record(i) + slots_, record(out));
        meta_[out] = meta_[i];
      }
      ++out;
    }
    size_ = out;
    values_.resize(static_cast<size_t>(out) * slots_);
    meta_.resize(out);
  }

  // Replaces the slot layout with new_values (size() * new_slots values); strings they reference
  // must live in this batch's arena or longer.
  void replace_values(std::vector<Value>& new_values, uint32_t new_slots) {
    values_.swap(new_values);
    slots_ = new_slots;
  }

 private:
  uint32_t slots_ = 0;
  uint32_t size_ = 0;
  std::vector<Value> values_;
  std::vector<RecordMeta> meta_;
  Arena arena_;
};

}  // namespace spate
