#pragma once
// Engine: runs one pipeline topology on N worker threads (shared nothing, thread per core).
//
//   source thread ──RawChunk──► worker i: parse → pre-exchange ops (filter/select/key_by)
//        (least-loaded worker)        │ key_by: route each record to owner(hash(key))
//                                     ▼ (CreditChannel per worker pair; backpressure)
//                               worker j: post-exchange ops → window/aggregate (state owned by j)
//                                     │ fired windows, rows, watermark progress
//                                     ▼
//                               collector (caller's thread): merges global partials, orders
//                               each window's rows by key, formats, writes the sink.
//
// Watermarks: each worker publishes its own watermark (max event time it parsed −
// max_out_of_order) and how many chunks it holds unprocessed; windows follow the minimum over
// workers that hold chunks (a quiescent worker cannot receive older events: see Published in
// engine.cc). At end of input every watermark becomes +infinity, so every window fires.
// Processing time: records are stamped with the wall clock at the window and windows fire by
// the wall clock.
//
// Checkpoint door: exchange items carry a kind (data, end, and a reserved barrier) so a
// barrier can flow in order with records; sources expose positions; aggregate states serialize.
//
// Thread-safety: run() once, from one thread. request_stop() may be called from any thread or a
// signal handler (it only stores to an atomic).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spate/common/status.h"
#include "spate/core/batch.h"
#include "spate/hash/seed.h"
#include "spate/runtime/dead_letter.h"
#include "spate/runtime/grouping.h"
#include "spate/runtime/operators.h"
#include "spate/runtime/output.h"
#include "spate/runtime/source.h"
#include "spate/runtime/window.h"

namespace spate {

// Turns raw events into records. One instance per worker (parsers keep scratch state).
class RecordParser {
 public:
  virtual ~RecordParser() = default;
  // Appends the chunk's good events to batch; bad ones go to the dead-letter output.
  virtual void parse(const RawChunk& chunk, RecordBatch& batch) = 0;
  virtual uint32_t slots() const = 0;
};

struct EngineSpec {
  int workers = 1;
  std::unique_ptr<Source> source;
  std::function<std::unique_ptr<RecordParser>()> make_parser;
  std::vector<const BatchOperator*> pre_ops;   // run by the worker that parsed the record
  bool exchange = false;                       // key_by or shuffle: records move between workers
  GroupingSpec grouping;                       // how the exchange picks a record's worker
  Seed128 routing_seed = random_seed();        // keys the routers' random choices (never output)
  std::vector<const BatchOperator*> post_ops;  // run by the owner
  const WindowPlan* window = nullptr;          // nullptr: records go straight to the sink
  std::shared_ptr<const std::vector<std::string>> record_names;  // fields of output records
  bool event_time = false;
  // > 0: micro-batch mode (Spark Streaming): windows fire and the sink is flushed only at the
  // end of each batch interval of wall-clock time. 0: per-event mode.
  int64_t batch_interval_ms = 0;
  int64_t max_out_of_order_ms = 0;
  // An input (file, connection, UDP peer) that delivered nothing for this long stops holding
  // the watermark back.
  int64_t idle_timeout_ms = 30000;
  std::unique_ptr<Sink> sink;
  std::unique_ptr<Formatter> formatter;
  DeadLetterOutput* dead_letters = nullptr;
  bool raw_passthrough = false;                // rows are the raw events, written as they are
  bool measure_input_rate = false;             // stamp chunks with their input's rate ($rate)
  std::atomic<bool>* stop_flag = nullptr;      // external stop request (signals)
  size_t chunk_credits = 4;      // raw chunks in flight per worker
  size_t exchange_credits = 16;  // batches in flight per worker pair
  size_t collector_capacity = 64;  // fired-window messages queued for the collector
  // Rows (and per-key partial states) of fired windows queued for the collector; a window with
  // more still passes when nothing else is queued.
  size_t collector_rows = size_t{1} << 16;
};

struct EngineStats {
  uint64_t records_parsed = 0;
  uint64_t records_out = 0;     // rows written to the sink
  uint64_t windows_fired = 0;
  uint64_t late = 0;
  uint64_t chunks_chained = 0;  // chunks the source thread processed itself (see Engine::Impl)
  std::vector<uint64_t> per_worker_records;  // records parsed per worker (totals only)
  std::vector<uint64_t> per_worker_owned;    // records processed after the exchange, per worker
  double seconds = 0;
};

class Engine {
 public:
  explicit Engine(EngineSpec spec);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs until the source ends (or stop is requested), drains, fires every window, flushes the
  // sink. Returns the first fatal error (source, sink), else OK.
  Status run();
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  bool stop_requested() const {
    return stop_.load(std::memory_order_relaxed) ||
           (spec_.stop_flag && spec_.stop_flag->load(std::memory_order_relaxed));
  }
  const EngineStats& stats() const { return stats_; }

 private:
  struct Impl;
  EngineSpec spec_;
  std::atomic<bool> stop_{false};
  EngineStats stats_;
};

}  // namespace spate
