#include "spate/runtime/window.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <numeric>
#include <set>
#include <stdexcept>
#include <tuple>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include "spate/common/time.h"

namespace spate {

void encode_key(const Value& v, std::string* out) {
  out->clear();
  auto put64 = [&](uint64_t x) { out->append(reinterpret_cast<const char*>(&x), 8); };
  switch (v.type) {
    case ValueType::kNull: out->push_back('n'); break;
    case ValueType::kBool: out->push_back(v.b ? 'T' : 'F'); break;
    case ValueType::kInt: out->push_back('i'); put64(static_cast<uint64_t>(v.i)); break;
    case ValueType::kDouble:
      if (v.d == std::floor(v.d) && std::fabs(v.d) < 9.2e18) {
        out->push_back('i');
        put64(static_cast<uint64_t>(static_cast<int64_t>(v.d)));
      } else {
        uint64_t bits;
        std::memcpy(&bits, &v.d, 8);
        out->push_back('d');
        put64(bits);
      }
      break;
    case ValueType::kString: out->push_back('s'); out->append(v.str, v.len); break;
  }
}

void record_to_json(const Value* rec, const std::vector<std::string>& names, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out->push_back(',');
    append_json_string(*out, names[i]);
    out->push_back(':');
    append_json(*out, rec[i]);
  }
  out->push_back('}');
}

namespace {

using States = std::vector<std::unique_ptr<AggState>>;

int64_t floor_div(int64_t t, int64_t d) {
  int64_t q = t / d;
  if (t % d != 0 && t < 0) --q;
  return q;
}

Value copy_key(const Value& key, Arena& arena) {
  return key.is_string() ? Value::string(arena.copy(key.sv())) : key;
}

States fresh_states(const WindowPlan& plan) {
  States s;
  s.reserve(plan.aggs.size());
  for (const auto* a : plan.aggs) s.push_back(a->make_state());
  return s;
}

// States of dropped panes, reset for new keys: a window of 10 s over 10k keys otherwise
// allocates and frees tens of thousands of small states every 10 s of event time.
class StatesPool {
 public:
  static constexpr size_t kMaxSpare = size_t{1} << 16;
  States take(const WindowPlan& plan) {
    if (spare_.empty()) return fresh_states(plan);
    States s = std::move(spare_.back());
    spare_.pop_back();
    return s;
  }
  // Keeps s if every state of it can be reset (and the pool is not full).
  void give(States&& s) {
    if (spare_.size() >= kMaxSpare || s.empty()) return;
    for (auto& st : s) {
      if (!st || !st->reset()) return;
    }
    spare_.push_back(std::move(s));
  }

 private:
  std::vector<States> spare_;
};

// The per-key states of one pane (or one merged window).
struct KeyTable {
  struct Entry {
    Value key;
    States states;
    int64_t n = 0;  // records (counted only for every_count triggers)
    KeyRef ref;     // encoding (in `arena`) and routing hash
  };
  // Key -> index into entries. The encoded bytes live in `arena` (no allocation per key).
  KeyMap<uint32_t> index;
  std::vector<Entry> entries;
  Arena arena;  // key strings and encoded keys
  int64_t records = 0;
  bool changed = false;  // received records since the last early() (provisional results)

  Entry* find(const KeyRef& k) {
    auto it = index.find(k);
    return it == index.end() ? nullptr : &entries[it->second];
  }
  Entry& find_or_add(const Value& key, const KeyRef& k, const WindowPlan& plan,
                     StatesPool* pool = nullptr) {
    bool inserted = false;
    KeyRef own;
    auto it = index.lazy_emplace(k, [&](const auto& ctor) {
      inserted = true;
      own = KeyRef{arena.copy(k.enc), k.hash};
      ctor(own, static_cast<uint32_t>(entries.size()));
    });
    if (!inserted) return entries[it->second];
    Entry e;
    e.key = copy_key(key, arena);
    e.states = pool ? pool->take(plan) : fresh_states(plan);
    e.ref = own;
    entries.push_back(std::move(e));
    return entries.back();
  }
};

}  // namespace

// What the three window kinds share: aggregate states, argument evaluation and result rows.
class WindowAggregator::Kernel {
 public:
  explicit Kernel(WindowAggregator& owner) : owner_(owner), plan_(owner.plan_) {
    args_.resize(plan_.aggs.size());
  }
  virtual ~Kernel() = default;
  // now: the watermark of the last fire() (records behind it may be late).
  virtual void add(const RecordBatch& batch, Arena& scratch, int64_t now) = 0;
  // prev: the watermark before this call (F before), now: F after.
  virtual void fire(int64_t prev, int64_t now, std::vector<FiredWindow>* out) = 0;
  virtual size_t open() const = 0;
  // Provisional results of open windows (early results, global window triggers).
  virtual void early(std::vector<FiredWindow>* /*out*/) {}

 protected:
  States make_states() const { return fresh_states(plan_); }
  // Evaluates the aggregates' arguments for one record into args_.
  void eval_args(const Value* rec, Arena& scratch) {
    for (size_t a = 0; a < plan_.aggs.size(); ++a) {
      const CompiledExpr* arg = plan_.aggs[a]->arg();
      args_[a] = arg ? arg->eval(rec, scratch) : Value();
    }
  }
  void add_args(States& s, int64_t t) const {
    for (size_t a = 0; a < s.size(); ++a) s[a]->add(args_[a], t);
  }
  static void merge_into(States& into, const States& from) {
    for (size_t a = 0; a < into.size(); ++a) into[a]->merge(*from[a]);
  }
  const Value& key_of(const Value* rec) const {
    static const Value kNullKey;
    return plan_.keyed ? rec[plan_.key_slot] : kNullKey;
  }
  // Record i's key as the tables look it up (encoded into key_buf_). REQUIRES: records of a
  // keyed plan carry the routing hash of their key (KeyByOp sets it); unkeyed plans ignore it.
  KeyRef key_ref(const RecordBatch& batch, uint32_t i, const Value& key) {
    encode_key(key, &key_buf_);
    return KeyRef{key_buf_, plan_.keyed ? batch.meta(i).key_hash : 0};
  }
  std::unique_ptr<OutputRows> new_rows() const {
    auto rows = std::make_unique<OutputRows>();
    rows->reset(plan_.output_names);
    return rows;
  }
  // One keyed result row: key, window_start, window_end, aggregates[, update][, final].
  void write_row(OutputRows& rows, const Value& key, Value ws, Value we, const States& st,
                 bool update, bool final_row = true) const {
    OutField* row = rows.add_row();
    row[0].value = copy_key(key, rows.arena());
    row[1].value = ws;
    row[2].value = we;
    size_t c = 3;
    for (size_t a = 0; a < st.size(); ++a) st[a]->write_result(&row[c++], rows.arena());
    if (plan_.allowed_lateness_ms > 0) row[c++].value = Value::boolean(update);
    if (plan_.has_final_column()) row[c].value = Value::boolean(final_row);
  }
  // A window bound as written in results (null for the global window, which has none).
  Value time_value(OutputRows& rows, int64_t ms) const {
    if (plan_.kind == WindowPlan::Kind::kGlobal) return Value();
    return Value::string(rows.arena().copy(format_rfc3339_ms(ms)));
  }
  void late(const Value* rec, uint32_t slots, int64_t t, const std::string& why) {
    owner_.report_late(rec, slots, t, why);
  }

  WindowAggregator& owner_;
  const WindowPlan& plan_;
  std::vector<Value> args_;
  std::string key_buf_;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Tumbling and sliding windows over panes of gcd(size, slide).

class TimeKernel final : public WindowAggregator::Kernel {
 public:
  TimeKernel(WindowAggregator& owner, int64_t size, int64_t slide, int64_t lateness)
      : Kernel(owner), size_(size), slide_(slide), pane_(std::gcd(size, slide)),
        lateness_(lateness) {}

  void add(const RecordBatch& batch, Arena& scratch, int64_t now) override {
    const uint32_t n = batch.size();
    for (uint32_t i = 0; i < n; ++i) {
      const int64_t t = batch.meta(i).event_time;
      const Value* rec = batch.record(i);
      const int64_t last_start = floor_div(t, slide_) * slide_;  // latest window holding t
      if (last_start + size_ + lateness_ <= now) {
        late(rec, batch.slots(), t,
             "event time " + format_rfc3339_ms(t) + " is in windows that already fired: the " +
                 "last ends at " + format_rfc3339_ms(last_start + size_) +
                 (lateness_ > 0 ? " (+ allowed_lateness " + format_duration_ms(lateness_) + ")"
                                : std::string()) +
                 ", at or before the watermark " + format_rfc3339_ms(now));
        continue;
      }
      const int64_t ps = floor_div(t, pane_) * pane_;
      KeyTable& pane = pane_at(ps, t, now);
      pane.records++;
      pane.changed = true;
      eval_args(rec, scratch);
      const Value& key = key_of(rec);
      const KeyRef ref = key_ref(batch, i, key);
      KeyTable::Entry& entry = pane.find_or_add(key, ref, plan_, &pool_);
      add_args(entry.states, t);
      if (plan_.every_count > 0 && ++entry.n % plan_.every_count == 0) {
        write_triggered(ps, entry);  // global windows: the pane is the window
      }
      // Windows of t that already fired (end <= now) but accept late records: update them.
      const int64_t first_start = last_start - ((size_ - 1 - (t - last_start)) / slide_) * slide_;
      if (first_start + size_ > now) continue;
      bool touched = false;
      for (int64_t s = first_start; s <= last_start && s + size_ <= now; s += slide_) {
        if (s + size_ + lateness_ > now) {
          dirty_.insert(s);
          touched = true;
        }
      }
      if (touched) {
        auto& d = delta_[ps];
        if (!d) d = std::make_unique<KeyTable>();
        d->records++;
        add_args(d->find_or_add(key, ref, plan_).states, t);
      }
    }
  }

  void fire(int64_t, int64_t now, std::vector<FiredWindow>* out) override {
    if (triggered_.rows) {
      out->push_back(std::move(triggered_));
      triggered_ = FiredWindow();
    }
    for (int64_t s : dirty_) out->push_back(emit_update(s));
    dirty_.clear();
    delta_.clear();
    while (!open_starts_.empty() && *open_starts_.begin() + size_ <= now) {
      const int64_t s = *open_starts_.begin();
      open_starts_.erase(open_starts_.begin());
      out->push_back(emit(s, now));
    }
    // Drop panes whose last window can no longer change.
    while (!panes_.empty()) {
      auto it = panes_.begin();
      if (floor_div(it->first, slide_) * slide_ + size_ + lateness_ > now) break;
      if (last_pane_ == it->second.get()) last_pane_ = nullptr;
      expected_keys_ = it->second->entries.size();
      for (auto& e : it->second->entries) pool_.give(std::move(e.states));
      panes_.erase(it);
    }
  }

  size_t open() const override { return panes_.size(); }

  void early(std::vector<FiredWindow>* out) override {
    for (int64_t s : open_starts_) {
      bool changed = false;
      for (auto it = panes_.lower_bound(s); it != panes_.end() && it->first < s + size_; ++it) {
        changed = changed || it->second->changed;
      }
      if (!changed) continue;
      FiredWindow fw;
      fw.start = s;
      fw.end = s + size_;
      fw.provisional = true;
      KeyTable merged;  // fresh states: the worker's own keep accumulating
      merge_range(panes_, s, s + size_, plan_, &merged);
      fill(fw, merged, false, true);
      out->push_back(std::move(fw));
    }
    for (auto& [start, pane] : panes_) pane->changed = false;
  }

 private:
  // every_count: the running row of a key that just reached a multiple of N records, as it is
  // at that record; sent with the next fire().
  void write_triggered(int64_t s, const KeyTable::Entry& e) {
    if (!triggered_.rows) {
      triggered_.provisional = true;
      triggered_.rows = new_rows();
      triggered_.start = s;
      triggered_.end = s + size_;
    }
    triggered_.start = std::min(triggered_.start, s);
    triggered_.end = std::max(triggered_.end, s + size_);
    write_row(*triggered_.rows, e.key, time_value(*triggered_.rows, s),
              time_value(*triggered_.rows, s + size_), e.states, false, false);
  }

  KeyTable& pane_at(int64_t ps, int64_t t, int64_t now) {
    if (last_pane_ && last_pane_start_ == ps) return *last_pane_;
    auto [it, inserted] = panes_.try_emplace(ps);
    if (inserted) {
      it->second = std::make_unique<KeyTable>();
      // Sized like the last dropped pane: no rehashing while the keys arrive.
      it->second->index.reserve(expected_keys_);
      it->second->entries.reserve(expected_keys_);
      // The windows of a new pane that have not fired yet.
      for (int64_t s = floor_div(t, slide_) * slide_; s + size_ > t; s -= slide_) {
        if (s + size_ > now) open_starts_.insert(s);
      }
    }
    last_pane_ = it->second.get();
    last_pane_start_ = ps;
    return *last_pane_;
  }

  // Merges per key the tables of panes [s, s + size) of `from`.
  static void merge_range(std::map<int64_t, std::unique_ptr<KeyTable>>& from, int64_t s,
                          int64_t end, const WindowPlan& plan, KeyTable* into) {
    for (auto it = from.lower_bound(s); it != from.end() && it->first < end; ++it) {
      into->records += it->second->records;
      for (const auto& e : it->second->entries) {
        auto& m = into->find_or_add(e.key, e.ref, plan);
        for (size_t a = 0; a < m.states.size(); ++a) m.states[a]->merge(*e.states[a]);
      }
    }
  }

  // Moves (or copies into fresh states) a merged table's results into fw.
  void fill(FiredWindow& fw, KeyTable& t, bool update, bool movable) {
    fw.records = t.records;
    fw.update = update;
    if (!plan_.keyed) {
      if (t.entries.empty()) return;
      if (movable) {
        fw.partials = std::move(t.entries[0].states);
      } else {
        fw.partials = make_states();
        merge_into(fw.partials, t.entries[0].states);
      }
      return;
    }
    if (plan_.merge_keys) {
      fw.key_arena = std::make_unique<Arena>();
      fw.keyed.reserve(t.entries.size());
      for (auto& e : t.entries) {
        KeyedPartial kp;
        kp.key = copy_key(e.key, *fw.key_arena);
        kp.hash = e.ref.hash;
        if (movable) {
          kp.states = std::move(e.states);
        } else {
          kp.states = make_states();
          merge_into(kp.states, e.states);
        }
        fw.keyed.push_back(std::move(kp));
      }
      return;
    }
    fw.rows = new_rows();
    fw.rows->reserve(t.entries.size());
    Value ws = time_value(*fw.rows, fw.start), we = time_value(*fw.rows, fw.end);
    for (const auto& e : t.entries) {
      write_row(*fw.rows, e.key, ws, we, e.states, update, !fw.provisional);
    }
  }

  FiredWindow emit(int64_t s, int64_t now) {
    FiredWindow fw;
    fw.start = s;
    fw.end = s + size_;
    if (pane_ == size_) {
      // The window is one pane; its states move out when nothing can change it any more.
      auto it = panes_.find(s);
      if (it == panes_.end()) return fw;
      fill(fw, *it->second, false, s + size_ + lateness_ <= now);
      return fw;
    }
    KeyTable merged;
    merge_range(panes_, s, s + size_, plan_, &merged);
    fill(fw, merged, false, true);
    return fw;
  }

  FiredWindow emit_update(int64_t s) {
    FiredWindow fw;
    fw.start = s;
    fw.end = s + size_;
    KeyTable delta;
    merge_range(delta_, s, s + size_, plan_, &delta);
    if (!plan_.keyed || plan_.merge_keys) {
      fill(fw, delta, true, true);
      return fw;
    }
    // Keyed rows: the full result of every key a late record touched.
    fw.records = delta.records;
    fw.update = true;
    fw.rows = new_rows();
    Value ws = time_value(*fw.rows, fw.start), we = time_value(*fw.rows, fw.end);
    for (const auto& d : delta.entries) {
      States st = make_states();
      for (auto it = panes_.lower_bound(s); it != panes_.end() && it->first < s + size_; ++it) {
        if (const KeyTable::Entry* e = it->second->find(d.ref)) merge_into(st, e->states);
      }
      write_row(*fw.rows, d.key, ws, we, st, true);
    }
    return fw;
  }

  const int64_t size_, slide_, pane_, lateness_;
  std::map<int64_t, std::unique_ptr<KeyTable>> panes_;  // by pane start
  std::map<int64_t, std::unique_ptr<KeyTable>> delta_;  // late records since the last fire()
  std::set<int64_t> open_starts_;  // windows with records that have not fired
  std::set<int64_t> dirty_;        // fired windows that received late records
  FiredWindow triggered_;          // every_count rows written since the last fire()
  KeyTable* last_pane_ = nullptr;
  int64_t last_pane_start_ = 0;
  StatesPool pool_;
  size_t expected_keys_ = 0;  // keys of the last pane dropped
};

// ---------------------------------------------------------------------------------------------
// Session windows, per key.

class SessionKernel final : public WindowAggregator::Kernel {
 public:
  SessionKernel(WindowAggregator& owner, int64_t gap, int64_t lateness)
      : Kernel(owner), gap_(gap), lateness_(lateness) {}

  void add(const RecordBatch& batch, Arena& scratch, int64_t now) override {
    for (uint32_t i = 0; i < batch.size(); ++i) {
      const int64_t t = batch.meta(i).event_time;
      const Value* rec = batch.record(i);
      if (t + lateness_ < now) {
        late(rec, batch.slots(), t,
             "event time " + format_rfc3339_ms(t) + " is behind the watermark " +
                 format_rfc3339_ms(now) +
                 (lateness_ > 0 ? " by more than allowed_lateness " + format_duration_ms(lateness_)
                                : std::string()));
        continue;
      }
      const Value& key = key_of(rec);
      const KeyRef ref = key_ref(batch, i, key);
      auto kit = keys_.lazy_emplace(ref, [&](const auto& ctor) {
        auto ks = std::make_unique<KeySessions>();
        ks->encoded = key_buf_;
        ks->hash = ref.hash;
        if (key.is_string()) {
          ks->text.assign(key.str, key.len);
          ks->key = Value::string(ks->text);
        } else {
          ks->key = key;
        }
        const KeyRef own{ks->encoded, ks->hash};  // its bytes live as long as the entry
        ctor(own, std::move(ks));
      });
      KeySessions* ks = kit->second.get();
      eval_args(rec, scratch);
      Session& s = join(ks, t, now);
      s.records++;
      add_args(s.states, t);
    }
  }

  void fire(int64_t prev, int64_t now, std::vector<FiredWindow>* out) override {
    std::vector<Ref> due(dirty_.begin(), dirty_.end());
    dirty_.clear();
    while (!open_.empty() && std::get<0>(*open_.begin()) <= now) {
      due.push_back(*open_.begin());
      closed_.insert(*open_.begin());
      open_.erase(open_.begin());
    }
    // One FiredWindow per (end, update), oldest end first.
    std::map<std::pair<int64_t, bool>, FiredWindow> batches;
    for (const Ref& r : due) {
      auto [end, start, ks] = r;
      Session& s = ks->sessions.at(start);
      const bool update = s.emitted || end <= prev;
      s.emitted = true;
      FiredWindow& fw = batches[{end, update}];
      if (!fw.rows) {
        fw.rows = new_rows();
        fw.start = start;
        fw.end = end;
        fw.update = update;
      }
      fw.start = std::min(fw.start, start);
      fw.records += s.records;
      write_row(*fw.rows, ks->key, time_value(*fw.rows, start), time_value(*fw.rows, end),
                s.states, update);
    }
    for (auto& [k, fw] : batches) out->push_back(std::move(fw));
    // Forget sessions no late record can reach any more.
    while (!closed_.empty() && std::get<0>(*closed_.begin()) + lateness_ <= now) {
      auto [end, start, ks] = *closed_.begin();
      closed_.erase(closed_.begin());
      ks->sessions.erase(start);
      if (ks->sessions.empty()) keys_.erase(keys_.find(KeyRef{ks->encoded, ks->hash}));
    }
  }

  size_t open() const override { return open_.size() + closed_.size(); }

 private:
  struct Session {
    int64_t start = 0, end = 0;  // [first event time, last event time + gap)
    States states;
    int64_t records = 0;
    bool emitted = false;  // some part of it was emitted before
  };
  struct KeySessions {
    std::string encoded;
    uint64_t hash = 0;  // routing hash of the key
    std::string text;  // the key's string, when it is one
    Value key;
    std::map<int64_t, Session> sessions;  // by start; disjoint
  };
  using Ref = std::tuple<int64_t, int64_t, KeySessions*>;  // end, start, key

  void unlink(const Ref& r) {
    open_.erase(r);
    closed_.erase(r);
    dirty_.erase(r);
  }

  // The session of key ks that an event at t joins: merges every session [start, end) that
  // overlaps [t, t + gap) (and t's own) into one.
  Session& join(KeySessions* ks, int64_t t, int64_t now) {
    auto& m = ks->sessions;
    auto hi = m.lower_bound(t + gap_);  // first session starting at or after t + gap
    auto lo = hi;
    while (lo != m.begin() && std::prev(lo)->second.end > t) --lo;
    Session merged;
    merged.start = t;
    merged.end = t + gap_;
    if (lo == hi) {
      merged.states = make_states();
    } else if (std::next(lo) == hi && lo->second.start <= t && lo->second.end >= t + gap_ &&
               lo->second.end > now) {
      return lo->second;  // an open session that t does not extend: nothing to relink
    } else {
      for (auto it = lo; it != hi; ++it) {
        Session& s = it->second;
        unlink(Ref{s.end, s.start, ks});
        if (merged.states.empty()) {
          merged.states = std::move(s.states);
        } else {
          merge_into(merged.states, s.states);
        }
        merged.start = std::min(merged.start, s.start);
        merged.end = std::max(merged.end, s.end);
        merged.records += s.records;
        merged.emitted = merged.emitted || s.emitted;
      }
      m.erase(lo, hi);
    }
    const Ref r{merged.end, merged.start, ks};
    if (merged.end > now) {
      open_.insert(r);
    } else {
      closed_.insert(r);
      dirty_.insert(r);
    }
    return m.emplace(merged.start, std::move(merged)).first->second;
  }

  const int64_t gap_, lateness_;
  KeyMap<std::unique_ptr<KeySessions>> keys_;
  std::set<Ref> open_;    // end > watermark
  std::set<Ref> closed_;  // end <= watermark, kept until end + lateness <= watermark
  std::set<Ref> dirty_;   // closed and changed since their last emission
};

// ---------------------------------------------------------------------------------------------
// Count windows, per key, in arrival order.

class CountKernel final : public WindowAggregator::Kernel {
 public:
  CountKernel(WindowAggregator& owner, int64_t size, int64_t slide)
      : Kernel(owner), size_(size), slide_(slide), pane_(std::gcd(size, slide)) {}

  void add(const RecordBatch& batch, Arena& scratch, int64_t) override {
    for (uint32_t i = 0; i < batch.size(); ++i) {
      const int64_t t = batch.meta(i).event_time;
      const Value* rec = batch.record(i);
      const Value& key = key_of(rec);
      const KeyRef ref = key_ref(batch, i, key);
      auto it = keys_.lazy_emplace(ref, [&](const auto& ctor) {
        auto kc = std::make_unique<KeyCounts>();
        kc->key = copy_key(key, key_arena_);
        ctor(KeyRef{key_arena_.copy(ref.enc), ref.hash}, std::move(kc));
      });
      KeyCounts& kc = *it->second;
      const int64_t j = kc.seen++;
      if (j / pane_ - kc.first_pane == static_cast<int64_t>(kc.panes.size())) {
        kc.panes.push_back(Pane{make_states(), 0, t, t});
      }
      Pane& p = kc.panes.back();
      eval_args(rec, scratch);
      add_args(p.states, t);
      p.records++;
      p.min_t = std::min(p.min_t, t);
      p.max_t = std::max(p.max_t, t);
      if (j + 1 >= size_ && (j + 1 - size_) % slide_ == 0) {
        const int64_t w = (j + 1 - size_) / slide_;
        emit(kc, w, (w * slide_ + size_) / pane_);
        kc.fired = w + 1;
        // Panes before the next window's first record are done.
        while (kc.first_pane < kc.fired * slide_ / pane_ && !kc.panes.empty()) {
          kc.panes.pop_front();
          kc.first_pane++;
        }
      }
    }
  }

  void fire(int64_t, int64_t now, std::vector<FiredWindow>* out) override {
    if (now >= kMaxTime) {
      // End of input: every started window fires with the records it has.
      for (auto& [enc, kc] : keys_) {
        const int64_t panes_end = (kc->seen + pane_ - 1) / pane_;
        for (int64_t w = kc->fired; w * slide_ < kc->seen; ++w) {
          emit(*kc, w, std::min(panes_end, (w * slide_ + size_) / pane_));
        }
      }
      keys_.clear();
      key_arena_.reset();
    }
    if (pending_.rows) out->push_back(std::move(pending_));
    pending_ = FiredWindow();
  }

  size_t open() const override { return keys_.size(); }

 private:
  struct Pane {
    States states;
    int64_t records;
    int64_t min_t, max_t;
  };
  struct KeyCounts {
    Value key;
    int64_t seen = 0;        // records of this key so far
    int64_t fired = 0;       // windows fired
    int64_t first_pane = 0;  // index of panes.front()
    std::deque<Pane> panes;
  };

  // Window w: panes [w*slide/pane, panes_end).
  void emit(const KeyCounts& kc, int64_t w, int64_t panes_end) {
    States st = make_states();
    int64_t records = 0, lo = kMaxTime, hi = kMinTime;
    for (int64_t p = w * slide_ / pane_; p < panes_end; ++p) {
      const Pane& pane = kc.panes[static_cast<size_t>(p - kc.first_pane)];
      merge_into(st, pane.states);
      records += pane.records;
      lo = std::min(lo, pane.min_t);
      hi = std::max(hi, pane.max_t);
    }
    if (!pending_.rows) {
      pending_.rows = new_rows();
      pending_.start = lo;
      pending_.end = hi;
    }
    pending_.start = std::min(pending_.start, lo);
    pending_.end = std::max(pending_.end, hi);
    pending_.records += records;
    write_row(*pending_.rows, kc.key, time_value(*pending_.rows, lo),
              time_value(*pending_.rows, hi), st, false);
  }

  const int64_t size_, slide_, pane_;
  KeyMap<std::unique_ptr<KeyCounts>> keys_;
  Arena key_arena_;      // keys and their encodings
  FiredWindow pending_;  // windows completed since the last fire()
};

}  // namespace

// ---------------------------------------------------------------------------------------------

WindowAggregator::WindowAggregator(const WindowPlan& plan, DeadLetterOutput* dead_letters)
    : plan_(plan), dead_letters_(dead_letters), fired_up_to_(kMinTime) {
  using Kind = WindowPlan::Kind;
  const int64_t lateness = std::max<int64_t>(0, plan.allowed_lateness_ms);
  switch (plan.kind) {
    case Kind::kTumbling:
    case Kind::kSliding: {
      const int64_t slide =
          plan.kind == Kind::kTumbling || plan.slide_ms <= 0 ? plan.size_ms : plan.slide_ms;
      if (plan.size_ms <= 0 || slide > plan.size_ms) {
        throw std::invalid_argument("window: size must be positive and slide at most size");
      }
      kernel_ = std::make_unique<TimeKernel>(*this, plan.size_ms, slide, lateness);
      break;
    }
    case Kind::kGlobal:
      // One window that never closes before the end of input: [0, 2^60) ms (36 million years;
      // events before 1970 form a second one, [-2^60, 0)). Its bounds are written as null.
      kernel_ = std::make_unique<TimeKernel>(*this, int64_t{1} << 60, int64_t{1} << 60, 0);
      break;
    case Kind::kSession:
      if (plan.gap_ms <= 0 || !plan.keyed || plan.merge_keys) {
        throw std::invalid_argument("session windows need a positive gap and a key (key_by)");
      }
      kernel_ = std::make_unique<SessionKernel>(*this, plan.gap_ms, lateness);
      break;
    case Kind::kCount: {
      const int64_t slide = plan.count_slide <= 0 ? plan.count_size : plan.count_slide;
      if (plan.count_size <= 0 || slide > plan.count_size || !plan.keyed || plan.merge_keys ||
          lateness > 0) {
        throw std::invalid_argument(
            "count windows need a positive size, slide at most size, a key (key_by) and no "
            "allowed_lateness");
      }
      kernel_ = std::make_unique<CountKernel>(*this, plan.count_size, slide);
      break;
    }
  }
}

WindowAggregator::~WindowAggregator() = default;

void WindowAggregator::report_late(const Value* rec, uint32_t slots, int64_t, const std::string& why) {
  ++late_;
  if (!dead_letters_) return;
  std::string raw;
  std::vector<std::string> names = plan_.input_names;
  names.resize(slots, "");
  record_to_json(rec, names, &raw);
  dead_letters_->write(DeadReason::kLate, plan_.source_name, "null", raw, why);
}

void WindowAggregator::add(const RecordBatch& batch, Arena& scratch_arena) {
  kernel_->add(batch, scratch_arena, fired_up_to_);
}

void WindowAggregator::fire(int64_t watermark, std::vector<FiredWindow>* out) {
  const int64_t prev = fired_up_to_;
  if (watermark > fired_up_to_) fired_up_to_ = watermark;
  kernel_->fire(prev, fired_up_to_, out);
}

size_t WindowAggregator::open_windows() const { return kernel_->open(); }

void WindowAggregator::early(std::vector<FiredWindow>* out) { kernel_->early(out); }

}  // namespace spate
