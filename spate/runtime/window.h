#pragma once
// WindowAggregator: tumbling windows with aggregates, keyed or global, for one worker.
//
// A record with event time t belongs to the window [floor(t/size)*size, +size). A window fires
// when the worker's watermark reaches its end: keyed windows emit one row per key (key, then
// window_start, window_end, then the aggregates); global windows hand their partial states to the
// collector, which merges the partials of every worker (two-phase aggregation). A record whose
// window has already fired is late: it is counted and sent to the dead-letter output.
// Thread-safety: owned by one worker thread.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "spate/core/batch.h"
#include "spate/runtime/aggregate.h"
#include "spate/runtime/dead_letter.h"
#include "spate/runtime/output.h"

namespace spate {

struct WindowPlan {
  int64_t size_ms = 0;
  bool keyed = false;
  uint32_t key_slot = 0;
  std::vector<std::string> agg_names;
  std::vector<const AggregateFunction*> aggs;  // owned by the plan
  // Output columns: [key_name,] window_start, window_end, agg_names...
  std::shared_ptr<const std::vector<std::string>> output_names;
  // Names of the input record's slots (for late records in the dead-letter output).
  std::vector<std::string> input_names;
  std::string source_name;
};

struct FiredWindow {
  int64_t start = 0;
  int64_t end = 0;
  std::unique_ptr<OutputRows> rows;                  // keyed: one row per key
  std::vector<std::unique_ptr<AggState>> partials;   // global: one state per aggregate
  int64_t records = 0;                               // records aggregated (global)
};

class WindowAggregator {
 public:
  WindowAggregator(const WindowPlan& plan, DeadLetterOutput* dead_letters);

  // Aggregates a batch. Records of already fired windows go to the dead-letter output (late).
  void add(const RecordBatch& batch, Arena& scratch_arena);
  // Fires every window whose end <= watermark, oldest first.
  void fire(int64_t watermark, std::vector<FiredWindow>* out);
  size_t open_windows() const { return panes_.size(); }
  uint64_t late() const { return late_; }

 private:
  struct Entry {
    Value key;
    std::vector<std::unique_ptr<AggState>> states;
  };
  struct Pane {
    int64_t start;
    absl::flat_hash_map<std::string, uint32_t> index;
    std::vector<Entry> entries;
    Arena arena;  // key strings
    int64_t records = 0;
  };
  Pane* pane_for(int64_t start);
  Entry& entry_for(Pane& p, const Value& key);
  void report_late(const Value* rec, uint32_t slots, int64_t t);

  const WindowPlan& plan_;
  DeadLetterOutput* dead_letters_;
  std::map<int64_t, std::unique_ptr<Pane>> panes_;
  Pane* last_pane_ = nullptr;
  int64_t fired_up_to_;
  std::string key_buf_;
  uint64_t late_ = 0;
};

// Appends a typed, unambiguous byte encoding of a key (1 and 1.0 encode the same).
void encode_key(const Value& v, std::string* out);
// Formats a record's fields as a JSON object (names[i] = slot i).
void record_to_json(const Value* rec, const std::vector<std::string>& names, std::string* out);

}  // namespace spate
