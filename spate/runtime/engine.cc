#include "spate/runtime/engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>

#include "spate/common/time.h"
#include "spate/runtime/channel.h"
#include "spate/runtime/collector_queue.h"
#include "spate/runtime/input_rate.h"
#include "spate/runtime/key_order.h"
#include "spate/runtime/router.h"

namespace spate {

namespace {

constexpr auto kIdleWait = std::chrono::milliseconds(20);
// How soon the collector looks at quiet progress reports while a fired window waits for them.
constexpr auto kPendingPoll = std::chrono::milliseconds(2);

// An item of a worker-to-worker exchange channel: a batch of records or a control message that
// travels in order with them.
struct ExchangeItem {
  enum class Kind { kData, kBarrier, kEnd };
  Kind kind = Kind::kData;
  RecordBatch batch;
};

}  // namespace

struct Engine::Impl : public ChunkEmitter {
  struct Worker {
    int id = 0;
    Doorbell bell;
    std::unique_ptr<CreditChannel<RawChunk>> raw;  // source -> this worker
    std::vector<CreditChannel<ExchangeItem>*> in;  // in[i]: from worker i (null for self)
    std::vector<CreditChannel<ExchangeItem>*> out; // out[j]: to worker j (null for self)
    std::vector<ExchangeItem*> pending;            // partially filled batch per target
    std::vector<uint8_t> in_done;
    std::unique_ptr<RecordParser> parser;
    std::unique_ptr<WindowAggregator> window;
    OpScratch scratch;
    std::vector<uint8_t> route_keep;  // records of a routed batch this worker owns
    std::unique_ptr<Router> router;   // this worker's routing decisions (per-sender loads)
    std::vector<uint64_t> load;       // shuffle: queue depth per target, in records
    uint64_t owned = 0;               // records this worker consumed after the exchange
    RecordBatch parsed;
    OutputRows direct_rows;  // direct_output(): this worker's rows, reused
    std::string batch_out;   // direct_output() in micro-batch mode: rows of the current batch
    Arena eval_arena;
    int64_t max_event_time = kMinTime;
    bool sent_end = false;
    int64_t reported_wm = kMinTime;
    std::vector<int64_t> later_end;  // fire_and_report's scratch
    int64_t next_batch_end = kMinTime;  // micro-batch mode: the current batch's end (wall clock)
    int64_t next_early = kMinTime;      // early results / global window trigger (wall clock)
    uint64_t records = 0;
    // Held for each round of the worker's loop, and by the source thread while it processes a
    // chunk itself (chain_chunk). Uncontended except when both want to work at once.
    std::mutex round_mu;
    std::thread thread;
  };

  // What each worker publishes for the others: its own watermark (max event time it parsed
  // minus max_out_of_order; +inf when its input is finished) and how many chunks were handed to
  // it and not yet processed. A worker with no pending chunk is quiescent: every chunk it gets
  // later was dispatched after the chunks the others have processed, so (for input whose
  // disorder stays within max_out_of_order in source order) it cannot hold events behind the
  // others' watermarks, and it does not hold the watermark back.
  struct alignas(kCacheLine) Published {
    std::atomic<int64_t> wm{kMinTime};
    std::atomic<int> pending{0};
  };

  // Event time per input (file, connection, UDP peer): the highest event time parsed from it and
  // when it last delivered a chunk. The watermark is also bounded by the minimum over inputs that
  // are live and not idle, so a slow input's events are not made late by a fast one, and an
  // input quiet for idle_timeout stops holding windows back. Slots are assigned by the source
  // thread; beyond kMaxInputs inputs share slots (a shared slot holds back less, never more).
  struct alignas(kCacheLine) InputClock {
    std::atomic<int64_t> max_event_time{kMinTime};
    std::atomic<int64_t> last_active_ms{0};
    std::atomic<bool> live{false};
  };
  static constexpr uint32_t kMaxInputs = 4096;

  Engine* engine;
  EngineSpec& spec;
  int n;
  std::unique_ptr<InputClock[]> inputs;           // event time only
  std::atomic<uint32_t> inputs_used{0};
  uint64_t inputs_seen = 0;                         // source thread
  absl::flat_hash_map<uint64_t, uint32_t> input_slot_of;  // source thread: input -> slot
  absl::flat_hash_map<uint64_t, InputRate> rate_of;        // source thread: live inputs' $rate
  std::vector<std::unique_ptr<Published>> pub;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<CreditChannel<ExchangeItem>>> channels;
  CollectorQueue collector;
  Doorbell source_bell;
  std::atomic<bool> source_done{false};
  uint32_t next_worker = 0;
  RawChunk* acquired = nullptr;
  int acquired_worker = -1;
  Status source_status;
  // direct_output(): the sink as the workers share it.
  std::mutex out_mu;
  std::string out_buf;  // guarded by out_mu
  Status out_status;    // guarded by out_mu (read by run() after the workers are joined)
  uint64_t direct_records_out = 0;  // guarded by out_mu
  uint64_t chunks_chained = 0;      // source thread

  Impl(Engine* e, EngineSpec& s)
      : engine(e), spec(s), n(std::max(1, s.workers)), collector(s.collector_capacity, s.collector_rows) {
    for (int i = 0; i < n; ++i) pub.push_back(std::make_unique<Published>());
    if (spec.event_time) inputs = std::make_unique<InputClock[]>(kMaxInputs);
    for (int i = 0; i < n; ++i) {
      auto w = std::make_unique<Worker>();
      w->id = i;
      w->parser = spec.make_parser();
      if (spec.window) w->window = std::make_unique<WindowAggregator>(*spec.window, spec.dead_letters);
      workers.push_back(std::move(w));
    }
    for (auto& w : workers) {
      w->raw = std::make_unique<CreditChannel<RawChunk>>(spec.chunk_credits, &w->bell, &source_bell);
      w->in.assign(n, nullptr);
      w->out.assign(n, nullptr);
      w->pending.assign(n, nullptr);
      w->in_done.assign(n, 0);
      if (exchanging()) {
        w->router = std::make_unique<Router>(spec.grouping, static_cast<uint32_t>(n),
                                             spec.routing_seed, static_cast<uint32_t>(w->id));
        w->load.assign(n, 0);
      }
    }
    if (exchanging()) {
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
          if (i == j) continue;
          channels.push_back(std::make_unique<CreditChannel<ExchangeItem>>(
              spec.exchange_credits, &workers[j]->bell, &workers[i]->bell));
          workers[i]->out[j] = channels.back().get();
          workers[j]->in[i] = channels.back().get();
        }
      }
    }
  }

  bool exchanging() const { return spec.exchange && n > 1; }

  // ---- ChunkEmitter (source thread) ----
  RawChunk* acquire() override {
    while (true) {
      if (engine->stop_requested()) return nullptr;
      // The least-loaded worker (most free credits), ties broken round-robin.
      int best = -1;
      size_t best_free = 0;
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>((next_worker + k) % n);
        size_t f = workers[i]->raw->free_credits();
        if (f > best_free) {
          best_free = f;
          best = i;
        }
      }
      if (best >= 0) {
        RawChunk* c = workers[best]->raw->acquire();
        if (c) {
          next_worker = static_cast<uint32_t>(best + 1);
          acquired_worker = best;
          return c;
        }
      }
      source_bell.wait([&] {
        for (auto& w : workers) {
          if (w->raw->free_credits() > 0) return true;
        }
        return engine->stop_requested();
      }, std::chrono::milliseconds(10));
    }
  }
  void emit(RawChunk* chunk) override {
    if (spec.measure_input_rate) {
      const uint64_t in = chunk->stream ? chunk->stream->input : 0;
      chunk->input_rate = rate_of[in].add(chunk->ingest_time_ms,
                                          count_events(chunk->data.data(), chunk->size));
    }
    if (inputs) {
      const uint64_t in = chunk->stream ? chunk->stream->input : 0;
      auto [it, inserted] = input_slot_of.try_emplace(in, 0);
      if (inserted) {
        it->second = static_cast<uint32_t>(inputs_seen++ % kMaxInputs);
        inputs[it->second].max_event_time.store(kMinTime, std::memory_order_relaxed);
        inputs_used.store(static_cast<uint32_t>(std::min<uint64_t>(inputs_seen, kMaxInputs)),
                          std::memory_order_release);
      }
      chunk->input_slot = it->second;
      InputClock& c = inputs[it->second];
      c.last_active_ms.store(chunk->ingest_time_ms, std::memory_order_relaxed);
      c.live.store(true, std::memory_order_relaxed);
    }
    if (chain_chunk(chunk)) return;
    pub[acquired_worker]->pending.fetch_add(1, std::memory_order_seq_cst);
    workers[acquired_worker]->raw->send(chunk);
  }

  // Source chaining (Flink's operator chaining, done when it pays): with one worker in per-event
  // mode, a small chunk (the source is caught up with its input) is processed by the source
  // thread itself if the worker is idle with nothing queued, instead of being handed over. The
  // hand-off costs a wake-up of another thread per read, which on a live stream is most of the
  // CPU and the latency (on a virtual machine a sleeping vCPU takes up to milliseconds to wake).
  // A full chunk (the source is behind) is handed over as before, so reading and processing
  // still overlap when throughput is what counts. Order is kept: the worker has processed every
  // earlier chunk (its queue is empty and it is between rounds).
  static constexpr size_t kChainMaxBytes = 32 * 1024;
  bool chain_chunk(RawChunk* chunk) {
    if (n != 1 || spec.batch_interval_ms > 0 || chunk->size > kChainMaxBytes) return false;
    Worker& w = *workers[acquired_worker];
    std::unique_lock<std::mutex> lk(w.round_mu, std::try_to_lock);
    if (!lk.owns_lock() || w.raw->has_items()) return false;
    process_chunk(w, chunk);
    ++chunks_chained;
    pub[w.id]->wm.store(own_watermark(w, false), std::memory_order_seq_cst);
    const int64_t wm = global_watermark();
    if (batch_ended(w)) fire_and_report(w, wm, false);
    return true;
  }
  void dead_letter(DeadReason reason, const StreamInfo& stream, uint64_t position,
                   std::string_view raw, std::string_view detail) override {
    if (spec.dead_letters) {
      spec.dead_letters->write(reason, stream.source, fmt::format("{}", position), raw, detail);
    }
  }
  bool stopping() const override { return engine->stop_requested(); }
  void end_input(const StreamInfo& stream) override {
    rate_of.erase(stream.input);
    if (!inputs) return;
    auto it = input_slot_of.find(stream.input);
    if (it == input_slot_of.end()) return;
    inputs[it->second].live.store(false, std::memory_order_relaxed);
    input_slot_of.erase(it);
  }

  // ---- workers ----
  int64_t own_watermark(Worker& w, bool raw_finished) const {
    if (raw_finished) return kMaxTime;
    if (!spec.event_time) return wall_clock_ms();
    if (w.max_event_time == kMinTime) return kMinTime;
    return w.max_event_time - spec.max_out_of_order_ms;
  }

  // The watermark every worker's windows follow: the minimum over workers that still have
  // chunks to process; when all are quiescent, the maximum (max event time seen − allowed
  // disorder). Watermarks are read before pending counts (see Published).
  int64_t global_watermark() const {
    if (!spec.event_time) return wall_clock_ms();
    int64_t wm[kMaxSnapshot];
    int64_t lo = kMaxTime, hi = kMinTime;
    bool any_active = false;
    for (int i = 0; i < n; ++i) wm[i] = pub[i]->wm.load(std::memory_order_seq_cst);
    for (int i = 0; i < n; ++i) {
      hi = std::max(hi, wm[i]);
      if (pub[i]->pending.load(std::memory_order_seq_cst) == 0) continue;
      any_active = true;
      lo = std::min(lo, wm[i]);
    }
    int64_t g = any_active ? lo : hi;
    // No live, recently active input may be passed by more than max_out_of_order.
    if (inputs) {
      const int64_t now = wall_clock_ms();
      const uint32_t used = inputs_used.load(std::memory_order_acquire);
      for (uint32_t k = 0; k < used; ++k) {
        const InputClock& c = inputs[k];
        if (!c.live.load(std::memory_order_relaxed)) continue;
        const int64_t m = c.max_event_time.load(std::memory_order_relaxed);
        if (m == kMinTime) continue;
        if (now - c.last_active_ms.load(std::memory_order_relaxed) >= spec.idle_timeout_ms) continue;
        g = std::min(g, m - spec.max_out_of_order_ms);
      }
    }
    return g;
  }
  static constexpr int kMaxSnapshot = 1024;

  void consume(Worker& w, RecordBatch& b) {
    w.owned += b.size();
    for (const BatchOperator* op : spec.post_ops) {
      if (b.empty()) return;
      op->apply(b, w.scratch);
    }
    if (b.empty()) return;
    if (w.window) {
      if (!spec.event_time) {
        int64_t now = wall_clock_ms();
        for (uint32_t i = 0; i < b.size(); ++i) b.meta(i).event_time = now;
      }
      w.eval_arena.reset();
      w.window->add(b, w.eval_arena);
      return;
    }
    // Pass-through: records become output rows, written by this worker (direct_output()).
    view_rows(b, w.direct_rows);
    write_direct(w, w.direct_rows);
  }

  // Pass-through records as output rows. Their strings stay in b's arena: the rows are
  // formatted before this worker reuses b.
  void view_rows(const RecordBatch& b, OutputRows& rows) const {
    rows.reset(spec.record_names);
    rows.reserve(b.size());
    const size_t cols = std::min<size_t>(rows.columns(), b.slots());
    for (uint32_t i = 0; i < b.size(); ++i) {
      OutField* row = rows.add_row();
      const Value* rec = b.record(i);
      for (size_t c = 0; c < cols; ++c) row[c].value = rec[c];
    }
  }

  // Pipelines without windows: a worker formats and writes its rows itself, under out_mu,
  // instead of handing them to the collector. Nothing orders such rows across workers, and it
  // saves every chunk a hand-off between threads (a wake-up across cores) on its way to the
  // sink. Per-event mode writes each chunk's rows at once; micro-batch mode keeps them in the
  // worker's batch buffer, written when it holds 1 MiB and flushed at the batch's end (as the
  // collector does with window results).
  bool direct_output() const { return !spec.window; }
  static constexpr size_t kBatchWriteBytes = size_t{1} << 20;
  void write_direct(Worker& w, const OutputRows& rows) {
    std::lock_guard<std::mutex> lk(out_mu);
    if (!out_status.is_ok()) return;  // the sink failed: the pipeline is stopping with its error
    const bool batched = spec.batch_interval_ms > 0;
    std::string& buf = batched ? w.batch_out : out_buf;
    if (!batched) buf.clear();
    for (size_t i = 0; i < rows.rows(); ++i) format_row(rows, i, buf);
    direct_records_out += rows.rows();
    if (!batched || buf.size() >= kBatchWriteBytes) sink_write_locked(buf, false);
  }
  // Micro-batch mode, at a batch's end and when the worker finishes: writes and flushes what the
  // worker holds.
  void flush_direct(Worker& w) {
    std::lock_guard<std::mutex> lk(out_mu);
    if (!out_status.is_ok() || w.batch_out.empty()) return;
    sink_write_locked(w.batch_out, true);
  }
  // REQUIRES: out_mu held. Writes (and clears) buf; a failure stops the pipeline with its error.
  void sink_write_locked(std::string& buf, bool flush) {
    Status st = buf.empty() ? Status::ok() : spec.sink->write(buf);
    buf.clear();
    if (st && flush) st = spec.sink->flush();
    if (!st) {
      out_status = st;
      engine->request_stop();
    }
  }
  void format_row(const OutputRows& rows, size_t i, std::string& buf) const {
    if (spec.raw_passthrough) {
      buf.append(rows.row(i)[0].value.sv());
      buf.push_back('\n');
    } else {
      spec.formatter->format_row(rows, i, buf);
    }
  }

  // Processes what waits on w's exchange inputs: the items queued when it looks, not those sent
  // meanwhile. Returns true if anything was done. Bounded on purpose: a worker that drained
  // until its inputs were empty could be kept at it for as long as a faster peer kept sending,
  // never getting back to its own chunks; its watermark then held every window open while the
  // peer read on and the open windows piled up (the whole input, with a stalled sink).
  // Everything sent before a watermark snapshot is queued by the time this runs after it.
  bool drain_inputs(Worker& w) {
    bool any = false;
    for (int i = 0; i < n; ++i) {
      CreditChannel<ExchangeItem>* ch = w.in[i];
      if (!ch) continue;
      ExchangeItem* item;
      for (size_t budget = ch->queued(); budget > 0 && ch->receive(&item); --budget) {
        any = true;
        switch (item->kind) {
          case ExchangeItem::Kind::kData: consume(w, item->batch); break;
          case ExchangeItem::Kind::kBarrier:
            // Reserved for checkpoint barriers: they arrive in order with records.
            break;
          case ExchangeItem::Kind::kEnd:
            w.in_done[i] = 1;
            break;
        }
        ch->release(item);
      }
    }
    return any;
  }

  // Gets a free item for target j, draining own inputs while the target has no credit
  // (a worker blocked on a full channel keeps consuming, so two workers never deadlock).
  ExchangeItem* acquire_out(Worker& w, int j) {
    while (true) {
      ExchangeItem* item = w.out[j]->acquire();
      if (item) return item;
      if (!drain_inputs(w)) {
        CreditChannel<ExchangeItem>* ch = w.out[j];
        w.bell.wait([&] { return ch->free_credits() > 0; }, std::chrono::milliseconds(1));
      }
    }
  }

  void send_control(Worker& w, ExchangeItem::Kind kind) {
    for (int j = 0; j < n; ++j) {
      if (!w.out[j]) continue;
      ExchangeItem* item = acquire_out(w, j);
      item->kind = kind;
      item->batch.reset(0);
      w.out[j]->send(item);
    }
  }

  void flush_pending(Worker& w) {
    for (int j = 0; j < n; ++j) {
      if (w.pending[j]) {
        w.out[j]->send(w.pending[j]);
        w.pending[j] = nullptr;
      }
    }
  }

  // Copies record i of b into the pending batch for worker j (sending it when full).
  void send_record(Worker& w, uint32_t j, const RecordBatch& b, uint32_t i) {
    const uint32_t slots = b.slots();
    ExchangeItem*& item = w.pending[j];
    if (item && item->batch.size() >= RecordBatch::kDefaultCapacity) {
      w.out[j]->send(item);
      item = nullptr;
    }
    if (!item) {
      item = acquire_out(w, static_cast<int>(j));
      item->kind = ExchangeItem::Kind::kData;
      item->batch.reset(slots);
    }
    RecordBatch& ob = item->batch;
    const Value* src = b.record(i);
    Value* dst = ob.append(b.meta(i).event_time);
    ob.meta(ob.size() - 1).key_hash = b.meta(i).key_hash;
    for (uint32_t s = 0; s < slots; ++s) {
      dst[s] = src[s].is_string() ? Value::string(ob.arena().copy(src[s].sv())) : src[s];
    }
  }

  // Queue depth towards each worker, in records: batches in flight plus the pending one. This
  // worker's own "queue" is its backlog of raw chunks.
  void measure_loads(Worker& w) {
    for (int j = 0; j < n; ++j) {
      if (j == w.id) {
        w.load[j] = static_cast<uint64_t>(pub[j]->pending.load(std::memory_order_relaxed)) *
                    RecordBatch::kDefaultCapacity;
        continue;
      }
      const size_t in_flight = spec.exchange_credits - w.out[j]->free_credits();
      w.load[j] = in_flight * RecordBatch::kDefaultCapacity +
                  (w.pending[j] ? w.pending[j]->batch.size() : 0);
    }
  }

  // Routes a batch to the workers its grouping picks; records for this worker are consumed in
  // place after the others are copied out.
  void route(Worker& w, RecordBatch& b) {
    std::vector<uint8_t>& keep = w.route_keep;  // not scratch.keep: consume() uses that
    keep.assign(b.size(), 0);
    bool any_self = false;
    const GroupingKind kind = spec.grouping.kind;
    if (kind == GroupingKind::kShuffle) measure_loads(w);
    for (uint32_t i = 0; i < b.size(); ++i) {
      uint32_t j = 0;
      switch (kind) {
        case GroupingKind::kKey:
        case GroupingKind::kPartialKey: j = w.router->route_key(b.meta(i).key_hash); break;
        case GroupingKind::kShuffle:
          j = w.router->route_shuffle(w.load);
          w.load[j]++;
          break;
        case GroupingKind::kGlobal: j = 0; break;
        case GroupingKind::kBroadcast:
          for (int t = 0; t < n; ++t) {
            if (t != w.id) send_record(w, static_cast<uint32_t>(t), b, i);
          }
          j = static_cast<uint32_t>(w.id);
          break;
      }
      if (static_cast<int>(j) == w.id) {
        keep[i] = 1;
        any_self = true;
        continue;
      }
      send_record(w, j, b, i);
    }
    if (any_self) {
      b.compact(keep);
      consume(w, b);
    }
  }

  void process_chunk(Worker& w, RawChunk* chunk) {
    RecordBatch& b = w.parsed;
    b.reset(w.parser->slots());
    w.parser->parse(*chunk, b);
    const uint32_t input_slot = chunk->input_slot;
    w.raw->release(chunk);
    w.records += b.size();
    int64_t chunk_max = kMinTime;
    for (uint32_t i = 0; i < b.size(); ++i) chunk_max = std::max(chunk_max, b.meta(i).event_time);
    w.max_event_time = std::max(w.max_event_time, chunk_max);
    if (inputs && chunk_max != kMinTime) {
      std::atomic<int64_t>& m = inputs[input_slot].max_event_time;
      int64_t cur = m.load(std::memory_order_relaxed);
      while (cur < chunk_max && !m.compare_exchange_weak(cur, chunk_max, std::memory_order_relaxed)) {
      }
    }
    for (const BatchOperator* op : spec.pre_ops) {
      if (b.empty()) break;
      op->apply(b, w.scratch);
    }
    if (b.empty()) return;
    if (exchanging()) {
      route(w, b);
    } else {
      consume(w, b);
    }
  }

  // Keyed result rows (key in column 0) in key order; rows of one key keep their order.
  static void sort_by_key(OutputRows& rows) {
    std::vector<uint32_t> order;
    if (key_order(rows, &order)) rows.permute(order);
  }

  void fire_and_report(Worker& w, int64_t wm, bool force_report) {
    wm = std::max(wm, w.reported_wm);  // watermarks never go back
    if (w.window) {
      std::vector<FiredWindow> fired;
      if (spec.window->early_ms > 0 && wm < kMaxTime) {
        const int64_t now = wall_clock_ms();
        if (w.next_early == kMinTime) w.next_early = now + spec.window->early_ms;
        if (now >= w.next_early) {
          w.window->early(&fired);
          w.next_early = now + spec.window->early_ms;
        }
      }
      w.window->fire(wm, &fired);
      // Time windows close in order of their end, so after each closed window the worker can
      // tell the collector how far it is complete: up to just before the next window it still
      // has to send in this round. The collector then writes each window once every worker has
      // sent it, and holds no more than the fired windows its queue bounds (with the watermark
      // only on the last message, a round of many windows piled up there while the sink was
      // stalled). Updates and provisional results are not closes and do not count.
      const bool ordered = spec.window->kind == WindowPlan::Kind::kTumbling ||
                           spec.window->kind == WindowPlan::Kind::kSliding ||
                           spec.window->kind == WindowPlan::Kind::kSession;
      std::vector<int64_t>& later = w.later_end;  // later[k]: least end of a close after k
      later.assign(fired.size() + 1, kMaxTime);
      for (size_t k = ordered ? fired.size() : 0; k-- > 0;) {
        const bool close = !fired[k].update && !fired[k].provisional;
        later[k] = close ? std::min(later[k + 1], fired[k].end) : later[k + 1];
      }
      for (size_t k = 0; k < fired.size(); ++k) {
        FiredWindow& f = fired[k];
        // With several workers, keyed rows leave sorted by key (in parallel), so the collector
        // merges runs instead of sorting. One worker leaves the sort to the collector, which
        // runs beside it on another core.
        if (n > 1 && f.rows && spec.window->keyed && !spec.window->merge_keys) sort_by_key(*f.rows);
        CollectorMsg m;
        m.kind = CollectorMsg::Kind::kFired;
        m.worker = w.id;
        m.fired = std::move(f);
        if (k + 1 == fired.size()) {
          // The last fired window carries the watermark: the collector learns both at once.
          m.watermark = wm;
          w.reported_wm = wm;
        } else if (ordered && later[k + 1] != kMaxTime) {
          const int64_t mark = std::min(wm, later[k + 1] - 1);
          if (mark > w.reported_wm) {
            m.watermark = mark;
            w.reported_wm = mark;
          }
        }
        collector.push(std::move(m));
      }
    }
    // Without windows the collector has no use for watermarks.
    if (force_report || (w.window && wm != w.reported_wm)) {
      // Progress alone wakes nobody (see CollectorQueue::push): a window it completes is written
      // at the collector's next wake-up, at most kPendingPoll later.
      CollectorMsg m;
      m.kind = CollectorMsg::Kind::kProgress;
      m.worker = w.id;
      m.watermark = wm;
      collector.push(std::move(m), force_report);
      w.reported_wm = wm;
    }
  }

  // Micro-batch mode: true once per batch interval (boundaries at multiples of the interval on
  // the wall clock, so every worker cuts its batches at the same instants). Per-event mode:
  // always true.
  bool batch_ended(Worker& w) {
    if (spec.batch_interval_ms <= 0) return true;
    const int64_t now = wall_clock_ms();
    if (now < w.next_batch_end) return false;
    w.next_batch_end = next_batch_boundary(now, spec.batch_interval_ms);
    return true;
  }

  void worker_loop(Worker& w) {
    Published& me = *pub[w.id];
    while (true) {
      std::unique_lock<std::mutex> round(w.round_mu);
      bool progressed = drain_inputs(w);
      RawChunk* chunk = nullptr;
      int processed = 0;
      // A few chunks per round, so exchange inputs are never starved.
      while (processed < 4 && w.raw->receive(&chunk)) {
        process_chunk(w, chunk);
        ++processed;
      }
      progressed = progressed || processed > 0;
      bool done_reading = source_done.load(std::memory_order_acquire) && !w.raw->has_items();
      if (exchanging()) flush_pending(w);
      // Publish after the records are sent, and only then count the chunks as processed.
      me.wm.store(own_watermark(w, done_reading), std::memory_order_seq_cst);
      if (processed) me.pending.fetch_sub(processed, std::memory_order_seq_cst);
      if (exchanging() && done_reading && !w.sent_end) {
        send_control(w, ExchangeItem::Kind::kEnd);
        w.sent_end = true;
      }
      // Snapshot the watermark, then consume everything sent before it.
      int64_t wm = global_watermark();
      progressed = drain_inputs(w) || progressed;
      bool all_inputs_done = true;
      for (int i = 0; i < n; ++i) {
        if (w.in[i] && !w.in_done[i]) all_inputs_done = false;
      }
      if (done_reading && all_inputs_done) {
        // Every input ended (its end marker came after all its records): fire everything.
        if (direct_output()) flush_direct(w);
        fire_and_report(w, kMaxTime, true);
        CollectorMsg m;
        m.kind = CollectorMsg::Kind::kDone;
        m.worker = w.id;
        collector.push(std::move(m));
        return;
      }
      if (batch_ended(w)) {
        if (direct_output() && spec.batch_interval_ms > 0) flush_direct(w);
        fire_and_report(w, wm, false);
      }
      round.unlock();
      if (!progressed) {
        // Micro-batch mode: awake at the batch's end, which may come before kIdleWait.
        auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(kIdleWait);
        if (spec.batch_interval_ms > 0) {
          timeout = std::chrono::milliseconds(
              std::clamp<int64_t>(w.next_batch_end - wall_clock_ms(), 1, kIdleWait.count()));
        }
        w.bell.wait([&] {
          if (w.raw->has_items()) return true;
          for (auto* ch : w.in) {
            if (ch && ch->has_items()) return true;
          }
          return source_done.load(std::memory_order_acquire) && !w.sent_end;
        }, timeout);
      }
    }
  }

  // ---- collector (caller's thread) ----
  // One window's results as they arrive from the workers, until every worker has fired it.
  struct PendingWindow {
    int64_t start = 0;
    std::vector<std::unique_ptr<OutputRows>> rows;     // keyed: finished rows
    std::vector<std::unique_ptr<AggState>> partials;   // global: merged partial states
    bool has_partials = false;
    // merge_keys: per-key states merged over workers (partial key grouping, hot keys).
    KeyMap<size_t> key_index;  // encodings in key_arena
    std::vector<KeyedPartial> keyed;
    Arena key_arena;
    std::string enc;  // scratch
  };

  // The index of kp's key in pw.keyed; a new key gets an entry with no states (*added = true).
  static size_t key_entry(PendingWindow& pw, const KeyedPartial& kp, bool* added) {
    encode_key(kp.key, &pw.enc);
    *added = false;
    auto it = pw.key_index.lazy_emplace(KeyRef{pw.enc, kp.hash}, [&](const auto& ctor) {
      *added = true;
      KeyedPartial own;
      own.key = kp.key.is_string() ? Value::string(pw.key_arena.copy(kp.key.sv())) : kp.key;
      own.hash = kp.hash;
      pw.keyed.push_back(std::move(own));
      ctor(KeyRef{pw.key_arena.copy(pw.enc), kp.hash}, pw.keyed.size() - 1);
    });
    return it->second;
  }

  Status write_out(std::string& buf, bool flush) {
    if (!buf.empty()) {
      Status s = spec.sink->write(buf);
      buf.clear();
      if (!s) return s;
    }
    if (flush) return spec.sink->flush();
    return Status::ok();
  }

  bool has_update_column() const { return spec.window->allowed_lateness_ms > 0; }
  // Writes the trailing update/final columns of a row the collector builds; c is the first
  // column after the aggregates.
  void write_flags(OutField* row, size_t c, bool update, bool final_row) const {
    if (has_update_column()) row[c++].value = Value::boolean(update);
    if (spec.window->has_final_column()) row[c].value = Value::boolean(final_row);
  }
  Value bound(OutputRows& out, int64_t ms) const {
    if (spec.window->kind == WindowPlan::Kind::kGlobal) return Value();
    return Value::string(out.arena().copy(format_rfc3339_ms(ms)));
  }

  // Merges a fired window (or a late update's delta) into pw. Returns the indices of pw.keyed
  // that the merge touched.
  std::vector<size_t> absorb(PendingWindow& pw, FiredWindow& f) {
    std::vector<size_t> touched;
    if (f.rows) pw.rows.push_back(std::move(f.rows));
    if (!f.partials.empty()) {
      if (!pw.has_partials) {
        pw.partials = std::move(f.partials);
        pw.has_partials = true;
      } else {
        for (size_t a = 0; a < pw.partials.size(); ++a) pw.partials[a]->merge(*f.partials[a]);
      }
    }
    for (KeyedPartial& kp : f.keyed) {
      bool added;
      const size_t k = key_entry(pw, kp, &added);
      auto& states = pw.keyed[k].states;
      if (added) {
        states = std::move(kp.states);
      } else {
        for (size_t a = 0; a < states.size(); ++a) states[a]->merge(*kp.states[a]);
      }
      touched.push_back(k);
    }
    return touched;
  }


  // Writes the rows of merged per-key states `which` (indices into pw.keyed), ordered by key.
  void emit_keyed_states(int64_t end, PendingWindow& pw, std::vector<size_t> which, bool update,
                         std::string& buf, bool final_row = true) {
    std::sort(which.begin(), which.end(),
              [&](size_t a, size_t b) { return key_less(pw.keyed[a].key, pw.keyed[b].key); });
    which.erase(std::unique(which.begin(), which.end()), which.end());
    OutputRows out;
    out.reset(spec.window->output_names);
    out.reserve(which.size());
    const Value ws = bound(out, pw.start), we = bound(out, end);  // formatted once per window
    for (size_t k : which) {
      OutField* row = out.add_row();
      const KeyedPartial& kp = pw.keyed[k];
      row[0].value = kp.key.is_string() ? Value::string(out.arena().copy(kp.key.sv())) : kp.key;
      row[1].value = ws;
      row[2].value = we;
      for (size_t a = 0; a < kp.states.size(); ++a) kp.states[a]->write_result(&row[3 + a], out.arena());
      write_flags(row, 3 + kp.states.size(), update, final_row);
    }
    for (size_t i = 0; i < out.rows(); ++i) spec.formatter->format_row(out, i, buf);
    engine->stats_.records_out += out.rows();
  }

  void emit_global(int64_t end, PendingWindow& pw, bool update, std::string& buf,
                   bool final_row = true) {
    if (!pw.has_partials) return;
    OutputRows out;
    out.reset(spec.window->output_names);
    OutField* row = out.add_row();
    row[0].value = bound(out, pw.start);
    row[1].value = bound(out, end);
    for (size_t a = 0; a < pw.partials.size(); ++a) {
      pw.partials[a]->write_result(&row[2 + a], out.arena());
    }
    write_flags(row, 2 + pw.partials.size(), update, final_row);
    spec.formatter->format_row(out, 0, buf);
    engine->stats_.records_out++;
  }

  void emit_window(int64_t end, PendingWindow& pw, std::string& buf) {
    engine->stats_.windows_fired++;
    if (spec.window->keyed && !spec.window->merge_keys) {
      // Runs in arrival order, each sorted by key (workers sort theirs when there are several,
      // see fire_and_report), merged. Stable: a late update of a key (allowed lateness) stays
      // after its first row.
      std::vector<std::pair<const OutputRows*, size_t>> order;
      auto less = [](const auto& a, const auto& b) {
        return key_less(a.first->row(a.second)[0].value, b.first->row(b.second)[0].value);
      };
      std::vector<uint32_t> run;
      for (auto& r : pw.rows) {
        const auto mid = static_cast<std::ptrdiff_t>(order.size());
        key_order(*r, &run);
        for (uint32_t i : run) order.emplace_back(r.get(), i);
        std::inplace_merge(order.begin(), order.begin() + mid, order.end(), less);
      }
      for (auto& [rows, i] : order) spec.formatter->format_row(*rows, i, buf);
      engine->stats_.records_out += order.size();
      return;
    }
    if (spec.window->keyed) {
      std::vector<size_t> all(pw.keyed.size());
      for (size_t k = 0; k < all.size(); ++k) all[k] = k;
      emit_keyed_states(end, pw, std::move(all), false, buf);
      return;
    }
    emit_global(end, pw, false, buf);
  }

  // A late update (allowed lateness) of a window the collector may already have written.
  void handle_update(FiredWindow& f, std::map<int64_t, PendingWindow>& pending,
                     std::map<int64_t, PendingWindow>& retained, std::string& buf) {
    auto pit = pending.find(f.end);
    if (pit != pending.end()) {  // not written yet: the first emission will include it
      absorb(pit->second, f);
      return;
    }
    if (spec.window->keyed && !spec.window->merge_keys) {
      // A session update can end after a first result that is still pending: the late record
      // grew a session that not every worker has passed yet. Written now, it would overtake
      // that first result (and a consumer keeping the last record would keep the stale one),
      // so it waits with the windows of its own end. Tumbling and sliding updates never wait:
      // their window was written, so every earlier end was too.
      if (!pending.empty() && pending.begin()->first < f.end) {
        auto [it, inserted] = pending.try_emplace(f.end);
        if (inserted) it->second.start = f.start;
        absorb(it->second, f);
        return;
      }
      // Full rows of the touched keys, update already set by the worker.
      if (f.rows) {
        for (size_t i = 0; i < f.rows->rows(); ++i) spec.formatter->format_row(*f.rows, i, buf);
        engine->stats_.records_out += f.rows->rows();
      }
      return;
    }
    auto rit = retained.find(f.end);
    if (rit == retained.end()) {
      // The window's state is no longer kept: its delta is all we have.
      PendingWindow& pw = retained[f.end];
      pw.start = f.start;
    }
    PendingWindow& pw = retained[f.end];
    std::vector<size_t> touched = absorb(pw, f);
    if (spec.window->keyed) {
      emit_keyed_states(f.end, pw, std::move(touched), true, buf);
    } else {
      emit_global(f.end, pw, true, buf);
    }
  }

  // Merges a snapshot into pw without consuming it (fresh states, then merge).
  void absorb_copy(PendingWindow& pw, const FiredWindow& f) {
    const auto& aggs = spec.window->aggs;
    auto fresh = [&] {
      std::vector<std::unique_ptr<AggState>> st;
      for (const auto* a : aggs) st.push_back(a->make_state());
      return st;
    };
    if (!f.partials.empty()) {
      if (!pw.has_partials) {
        pw.partials = fresh();
        pw.has_partials = true;
      }
      for (size_t a = 0; a < pw.partials.size(); ++a) pw.partials[a]->merge(*f.partials[a]);
    }
    for (const KeyedPartial& kp : f.keyed) {
      bool added;
      auto& states = pw.keyed[key_entry(pw, kp, &added)].states;
      if (added) states = fresh();
      for (size_t a = 0; a < states.size(); ++a) states[a]->merge(*kp.states[a]);
    }
  }

  // Provisional results (early results, global window triggers). Rows go out at once; partial
  // states are snapshots: the latest of each worker is kept per window and their merge written.
  void handle_provisional(int worker, FiredWindow& f,
                          std::map<int64_t, std::map<int, FiredWindow>>& snapshots,
                          std::string& buf) {
    if (f.rows) {
      for (size_t i = 0; i < f.rows->rows(); ++i) spec.formatter->format_row(*f.rows, i, buf);
      engine->stats_.records_out += f.rows->rows();
      return;
    }
    if (f.partials.empty() && f.keyed.empty()) return;
    const int64_t end = f.end, start = f.start;
    auto& per_worker = snapshots[end];
    per_worker[worker] = std::move(f);
    PendingWindow merged;
    merged.start = start;
    for (const auto& [w, snap] : per_worker) absorb_copy(merged, snap);
    if (spec.window->keyed) {
      std::vector<size_t> all(merged.keyed.size());
      for (size_t k = 0; k < all.size(); ++k) all[k] = k;
      emit_keyed_states(end, merged, std::move(all), false, buf, false);
    } else {
      emit_global(end, merged, false, buf, false);
    }
  }

  Status collect() {
    std::vector<int64_t> wm(n, kMinTime);
    std::vector<uint8_t> done(n, 0);
    int done_count = 0;
    std::map<int64_t, PendingWindow> pending;   // by window end
    std::map<int64_t, PendingWindow> retained;  // written, kept for late updates (by end)
    std::map<int64_t, std::map<int, FiredWindow>> snapshots;  // provisional, by end and worker
    const int64_t lateness = spec.window ? spec.window->allowed_lateness_ms : 0;
    const bool retain = lateness > 0 && spec.window &&
                        (!spec.window->keyed || spec.window->merge_keys);
    std::string buf;
    Status sink_status;
    auto emit_ready = [&](int64_t upto) {
      while (!pending.empty() && pending.begin()->first <= upto) {
        snapshots.erase(pending.begin()->first);
        emit_window(pending.begin()->first, pending.begin()->second, buf);
        if (retain && upto != kMaxTime) {
          retained.insert(pending.extract(pending.begin()));
        } else {
          pending.erase(pending.begin());
        }
      }
      while (!retained.empty() &&
             (upto == kMaxTime || retained.begin()->first <= upto - lateness)) {
        retained.erase(retained.begin());
      }
    };
    int64_t next_flush = kMinTime;  // micro-batch mode: the end of the current batch
    while (done_count < n) {
      CollectorMsg m;
      // While windows wait for other workers' progress, which arrives without waking this
      // thread, look again after kPendingPoll.
      auto timeout = pending.empty() ? std::chrono::milliseconds(200) : kPendingPoll;
      if (spec.batch_interval_ms > 0 && next_flush != kMinTime) {
        timeout = std::min(timeout, std::chrono::milliseconds(
            std::clamp<int64_t>(next_flush - wall_clock_ms(), 1, 200)));
      }
      if (!collector.pop(&m, timeout)) {
        if (spec.batch_interval_ms > 0 && !buf.empty() && sink_status.is_ok() &&
            wall_clock_ms() >= next_flush) {
          sink_status = write_out(buf, true);
          next_flush = next_batch_boundary(wall_clock_ms(), spec.batch_interval_ms);
        }
        continue;
      }
      switch (m.kind) {
        case CollectorMsg::Kind::kFired: {
          // Taken before the window is absorbed; windows are emitted only after this switch.
          if (m.watermark != kMinTime) wm[m.worker] = m.watermark;
          if (m.fired.provisional) {
            handle_provisional(m.worker, m.fired, snapshots, buf);
            break;
          }
          if (m.fired.update) {
            handle_update(m.fired, pending, retained, buf);
            break;
          }
          PendingWindow& pw = pending[m.fired.end];
          pw.start = m.fired.start;
          absorb(pw, m.fired);
          break;
        }
        case CollectorMsg::Kind::kProgress:
          wm[m.worker] = m.watermark;
          break;
        case CollectorMsg::Kind::kDone:
          wm[m.worker] = kMaxTime;
          done[m.worker] = 1;
          ++done_count;
          break;
      }
      bool emitted = false;
      if (!pending.empty() || !retained.empty()) {
        // A window is complete once every worker has fired it.
        int64_t lo = *std::min_element(wm.begin(), wm.end());
        size_t before = pending.size();
        emit_ready(lo);
        emitted = pending.size() != before;
      }
      // Window results are flushed as soon as nothing else waits (not once per window: a
      // session window can close per key, thousands per second).
      if (emitted && sink_status.is_ok() && spec.batch_interval_ms <= 0 && collector.empty()) {
        sink_status = write_out(buf, true);
      }
      // Per-event mode: write when the buffer is large, or when nothing else is waiting (a live
      // stream's records must not sit in the buffer). Micro-batch mode: write large buffers as
      // the batch runs and flush at the batch's end.
      if (!buf.empty() && sink_status.is_ok()) {
        if (spec.batch_interval_ms <= 0) {
          if (buf.size() >= (1 << 16) || collector.empty()) sink_status = write_out(buf, false);
        } else if (buf.size() >= (1 << 20)) {
          sink_status = write_out(buf, false);
        }
      }
      if (spec.batch_interval_ms > 0 && sink_status.is_ok() && wall_clock_ms() >= next_flush) {
        sink_status = write_out(buf, true);
        next_flush = next_batch_boundary(wall_clock_ms(), spec.batch_interval_ms);
      }
      if (!sink_status.is_ok()) {
        engine->request_stop();
        buf.clear();
      }
    }
    emit_ready(kMaxTime);
    if (sink_status.is_ok()) sink_status = write_out(buf, true);
    return sink_status;
  }

  Status run() {
    int64_t t0 = monotonic_ns();
    Status s = spec.sink->open();
    if (!s) return s;
    for (auto& w : workers) {
      Worker* wp = w.get();
      w->thread = std::thread([this, wp] { worker_loop(*wp); });
    }
    std::thread source_thread([this] {
      source_status = spec.source->run(*this);
      source_done.store(true, std::memory_order_release);
      for (auto& w : workers) w->bell.ring();
    });
    Status sink_status = collect();
    source_thread.join();
    for (auto& w : workers) w->thread.join();
    engine->stats_.records_out += direct_records_out;
    engine->stats_.chunks_chained = chunks_chained;
    if (sink_status.is_ok()) sink_status = out_status;
    Status close_status = spec.sink->close();
    if (spec.dead_letters) spec.dead_letters->flush();
    auto& st = engine->stats_;
    st.per_worker_records.clear();
    st.per_worker_owned.clear();
    for (auto& w : workers) {
      st.records_parsed += w->records;
      st.per_worker_records.push_back(w->records);
      st.per_worker_owned.push_back(w->owned);
      if (w->window) st.late += w->window->late();
    }
    st.seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
    if (!source_status) return source_status;
    if (!sink_status) return sink_status;
    return close_status;
  }
};

Engine::Engine(EngineSpec spec) : spec_(std::move(spec)) {}
Engine::~Engine() = default;

Status Engine::run() {
  Impl impl(this, spec_);
  return impl.run();
}

}  // namespace spate
