#pragma once
// WindowAggregator: event-time windows with aggregates, keyed or global, for one worker.
//
// Window kinds (WindowPlan::Kind):
// - tumbling(size) and sliding(size, slide): a record with event time t belongs to every window
//   [s, s + size) with s a multiple of slide and s <= t < s + size. State lives in panes of
//   gcd(size, slide) ms, shared by the size/slide windows that overlap them; when a window fires
//   its panes are merged into fresh states (AggState::merge), so a record is added once.
// - session(gap), keyed: a key's records closer than gap to each other form one session
//   [first event time, last event time + gap); an event that bridges two sessions merges them
//   (their states merge).
// - count(size, slide), keyed: a key's records in arrival order; window i holds records
//   [i*slide, i*slide + size) of that key. It fires when its last record arrives; at end of
//   input (fire(kMaxTime)) every started, unfinished window fires with what it holds.
//   window_start/window_end are the earliest and latest event times of its records (inclusive).
//
// Firing and lateness (F = the highest watermark passed to fire() so far, L = allowed lateness):
// - A time window fires (update = false) at the first fire(wm) with wm >= its end, if it has
//   records. Count windows never look at the watermark except at end of input.
// - Tumbling/sliding: a record is late when every window it belongs to has end + L <= F; it is
//   counted and sent to the dead-letter output (reason `late`). Otherwise it joins its windows
//   whose end + L > F; a window that already fired (end <= F) is emitted again (update = true) at
//   the next fire(): keyed rows carry the full updated result of each key a late record touched;
//   global and merge_keys windows carry DELTA states of the late records only.
// - Sessions: a record is late when t + L < F (it could otherwise touch a session already
//   forgotten). A session is emitted when its end <= F and it changed since its last emission;
//   update = true when any part of it was emitted before or its end was already <= F at the
//   previous fire(). A session grown by a late record may contain earlier emitted sessions.
// - State of a fired window is kept until end + L <= F.
//
// Output of keyed windows (!merge_keys): rows [key, window_start, window_end, aggs..., update?]
// (the `update` bool column only when allowed_lateness_ms > 0). Global windows: partial states
// (two-phase aggregation, merged by the collector). merge_keys: per-key partial states.
// Thread-safety: owned by one worker thread.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "spate/common/arena.h"
#include "spate/core/batch.h"
#include "spate/hash/mix.h"
#include "spate/runtime/aggregate.h"
#include "spate/runtime/dead_letter.h"
#include "spate/runtime/output.h"

namespace spate {

struct WindowPlan {
  enum class Kind { kTumbling, kSliding, kSession, kCount, kGlobal };
  Kind kind = Kind::kTumbling;
  int64_t size_ms = 0;
  int64_t slide_ms = 0;   // == size_ms for tumbling (0 means size_ms)
  int64_t gap_ms = 0;     // session
  int64_t count_size = 0;
  int64_t count_slide = 0;  // 0 means count_size
  int64_t allowed_lateness_ms = 0;
  // Tumbling/sliding: provisional results of open windows every early_ms of wall-clock time.
  // Global: running results every early_ms (its `every` trigger).
  int64_t early_ms = 0;
  int64_t every_count = 0;  // global, keyed rows: a key's running result every N of its records
  // Rows carry a `final` bool column (false: provisional) with early results and global windows.
  bool has_final_column() const { return early_ms > 0 || every_count > 0 || kind == Kind::kGlobal; }
  // The grouping spreads a key over workers (partial_key, hot keys): fire per-key states
  // (FiredWindow::keyed) for the collector to merge. Tumbling and sliding only.
  bool merge_keys = false;
  bool keyed = false;
  uint32_t key_slot = 0;
  std::vector<std::string> agg_names;
  std::vector<const AggregateFunction*> aggs;  // owned by the plan
  // Output columns: [key_name,] window_start, window_end, agg_names... [, update]
  std::shared_ptr<const std::vector<std::string>> output_names;
  // Names of the input record's slots (for late records in the dead-letter output).
  std::vector<std::string> input_names;
  std::string source_name;
};

// How a worker's state tables find a key: by its typed encoding (equality) and the routing hash
// of the key (RecordMeta::key_hash: keyed from the OS's randomness at start-up, the same on every
// worker). Keys an attacker chooses cannot pile up in one slot of a table any more than on one
// worker, and no key is hashed twice. The table mixes the routing hash again (a bijection):
// routing fixed some of its bits for every key one worker owns.
struct KeyRef {
  std::string_view enc;
  uint64_t hash = 0;
};
struct KeyRefHash {
  size_t operator()(const KeyRef& k) const { return mix64(k.hash); }
};
struct KeyRefEq {
  bool operator()(const KeyRef& a, const KeyRef& b) const {
    return a.hash == b.hash && a.enc == b.enc;
  }
};
template <typename V>
using KeyMap = absl::flat_hash_map<KeyRef, V, KeyRefHash, KeyRefEq>;

struct KeyedPartial {
  Value key;
  uint64_t hash = 0;  // routing hash of the key
  std::vector<std::unique_ptr<AggState>> states;
};

struct FiredWindow {
  // Time windows: the window. Sessions and count windows: the smallest window_start and the
  // largest window_end of the rows (each row carries its own window_start/window_end).
  int64_t start = 0;
  int64_t end = 0;
  std::unique_ptr<OutputRows> rows;                  // keyed && !merge_keys: one row per key
  std::vector<std::unique_ptr<AggState>> partials;   // global: one state per aggregate
  std::vector<KeyedPartial> keyed;                   // keyed && merge_keys: per-key states
  std::unique_ptr<Arena> key_arena;                  // owns the strings of keyed[i].key
  int64_t records = 0;                               // records aggregated (delta for updates)
  bool update = false;                               // a late update of an already fired window
  // Provisional results of a window still open (early results, global window triggers):
  // rows with final = false; partial states are snapshots (copies) of the worker's state.
  bool provisional = false;
};

class WindowAggregator {
 public:
  // Throws std::invalid_argument for a plan the aggregator cannot run (sizes <= 0; session or
  // count windows that are not keyed or use merge_keys); Plan::compile rejects these first.
  WindowAggregator(const WindowPlan& plan, DeadLetterOutput* dead_letters);
  ~WindowAggregator();
  WindowAggregator(const WindowAggregator&) = delete;
  WindowAggregator& operator=(const WindowAggregator&) = delete;

  // Aggregates a batch (event times in its metadata). Late records go to the dead-letter
  // output.
  void add(const RecordBatch& batch, Arena& scratch_arena);
  // Fires every window due at this watermark, oldest end first (updates of already fired
  // windows before first emissions). fire(kMaxTime) means end of input.
  void fire(int64_t watermark, std::vector<FiredWindow>* out);
  // Provisional results (early_ms > 0, or a global window's triggers): every open window that
  // received records since the last call (and, with every_count, each key that reached a
  // multiple of N records). The engine calls it every early_ms of wall-clock time.
  void early(std::vector<FiredWindow>* out);
  // Windows (or sessions, or keys with count windows) holding state.
  size_t open_windows() const;
  uint64_t late() const { return late_; }

  class Kernel;  // one per window kind (window.cc)

 private:
  void report_late(const Value* rec, uint32_t slots, int64_t t, const std::string& why);

  const WindowPlan& plan_;
  DeadLetterOutput* dead_letters_;
  std::unique_ptr<Kernel> kernel_;
  int64_t fired_up_to_;
  uint64_t late_ = 0;
};

// Appends a typed, unambiguous byte encoding of a key (1 and 1.0 encode the same).
void encode_key(const Value& v, std::string* out);
// Formats a record's fields as a JSON object (names[i] = slot i).
void record_to_json(const Value* rec, const std::vector<std::string>& names, std::string* out);

}  // namespace spate
