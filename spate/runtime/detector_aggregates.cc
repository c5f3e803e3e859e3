// Aggregates that follow a stream through time: ewma, drift and interest_shift.
//
// Their answers depend on the order of the records, so two-phase aggregation (per-worker
// partials merged when a global window fires) needs a merge defined on purpose. The rules, also
// in docs/pipelines.md:
//  - Within one state, add() applies records in the order the worker receives them (event-time
//    order for ordered sources). A keyed window has one state per key on the worker that owns
//    the key and is never merged, so its result is exactly the single-worker one.
//  - ewma: a partial is a segment (first and last event time, count, first value, EWMA value).
//    merge() keeps every segment; the result folds them ordered by first event time (ties: last
//    time, count, values) with the exact concatenation formula
//      ewma(A then B) = ewma(B) + (1 - alpha)^n_B * (ewma(A) - first(B)),
//    so merging equals one EWMA over the partials' records laid end to end, whatever the merge
//    order. That is the single-worker EWMA when the partials cover disjoint event-time ranges;
//    when they interleave, it is the EWMA of that rearrangement (a convex combination of the same
//    values with the same weights, assigned in a different order).
//  - drift: each partial runs its own detector on its own records; merge() pools the detections
//    (in event-time order) and keeps this state's detector, which add() keeps feeding.
//  - interest_shift: per sub-period Space-Saving summaries, merged bucket by bucket; the bucket
//    layout does not depend on the partitioning (see InterestShiftState).

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "spate/analytics/adwin.h"
#include "spate/analytics/cusum.h"
#include "spate/analytics/distribution_shift.h"
#include "spate/analytics/page_hinkley.h"
#include "spate/analytics/space_saving.h"
#include "spate/common/serde.h"
#include "spate/common/time.h"
#include "spate/runtime/aggregate.h"

namespace spate {

namespace {

Value arena_string(Arena& a, const std::string& s) { return Value::string(a.copy(s)); }

// A finite double from a numeric value; false for null, strings and NaN / inf.
bool finite_number(const Value& v, double* x) {
  if (!v.is_number()) return false;
  *x = v.as_double();
  return std::isfinite(*x);
}

void append_time(std::string& out, int64_t ms) {
  out.push_back('"');
  append_rfc3339_ms(out, ms);
  out.push_back('"');
}

bool range_arg(const ExprNode& call, size_t i, std::string_view kw, double def, double lo,
               double hi, bool integer, double* out, ExprError* err) {
  if (!literal_number_arg(call, i, kw, def, out, err)) return false;
  if (!(*out >= lo && *out <= hi) || (integer && std::floor(*out) != *out)) {
    err->pos = call.pos;
    err->message = fmt::format("{}: {} must be {} from {} to {}", call.name, kw,
                               integer ? "an integer" : "a number", lo, hi);
    return false;
  }
  return true;
}

// ================================================================ ewma

// The EWMA of one run of records taken in order.
struct EwmaSegment {
  int64_t t_first = 0;
  int64_t t_last = 0;
  uint64_t n = 0;
  double first = 0;
  double value = 0;

  auto order_key() const { return std::tie(t_first, t_last, n, first, value); }
};

// *a becomes the EWMA of a's records followed by b's. Exact in real arithmetic: after b's first
// record the two runs apply the same affine maps, so they differ by (1 - alpha)^(n_b - 1) times
// the difference after that first record, (1 - alpha) (ewma(a) - first(b)).
void concatenate(EwmaSegment* a, const EwmaSegment& b, double alpha) {
  if (b.n == 0) return;
  if (a->n == 0) {
    *a = b;
    return;
  }
  const double decay = std::pow(1.0 - alpha, static_cast<double>(b.n));
  a->value = b.value + decay * (a->value - b.first);
  a->t_first = std::min(a->t_first, b.t_first);
  a->t_last = std::max(a->t_last, b.t_last);
  a->n += b.n;
}

constexpr uint32_t kEwmaTag = make_type_tag("AEW1");
constexpr uint64_t kMaxRecords = uint64_t{1} << 62;

class EwmaState final : public AggState {
 public:
  explicit EwmaState(double alpha) : alpha_(alpha) {}

  void add(const Value& v, int64_t t) override {
    double x;
    if (!finite_number(v, &x)) return;
    if (own_.n == 0) {
      own_ = EwmaSegment{t, t, 1, x, x};
      return;
    }
    own_.value += alpha_ * (x - own_.value);
    own_.t_first = std::min(own_.t_first, t);
    own_.t_last = std::max(own_.t_last, t);
    ++own_.n;
  }
  void merge(const AggState& o) override {
    const auto& s = static_cast<const EwmaState&>(o);
    if (s.own_.n > 0) others_.push_back(s.own_);
    others_.insert(others_.end(), s.others_.begin(), s.others_.end());
  }
  void write_result(OutField* out, Arena&) const override {
    const EwmaSegment r = folded();
    out->value = r.n == 0 ? Value::null() : Value::real(r.value);
  }
  // Payload: f64 alpha, varint segments (own first, possibly empty), then per segment
  // i64 t_first, i64 t_last, varint n, f64 first, f64 value.
  void serialize(std::string& out) const override {
    ByteWriter w;
    w.f64(alpha_);
    w.varint(1 + others_.size());
    write_segment(w, own_);
    for (const auto& s : others_) write_segment(w, s);
    out += seal(kEwmaTag, 1, w.data());
  }
  bool deserialize(std::string_view in) override {
    auto payload = unseal(in, kEwmaTag, 1, nullptr);
    if (!payload) return false;
    ByteReader r(*payload);
    double alpha;
    uint64_t count;
    if (!r.f64(&alpha) || alpha != alpha_ || !r.varint(&count) || count == 0 ||
        count > r.remaining()) {
      return false;
    }
    EwmaSegment own;
    std::vector<EwmaSegment> others(count - 1);
    if (!read_segment(r, &own)) return false;
    // Records in all: at most 2^62 (no stream comes near), so the folded count cannot wrap to 0
    // (a null result) and merges of accepted states cannot either.
    uint64_t total = own.n;
    for (auto& s : others) {
      if (!read_segment(r, &s) || s.n == 0 || s.n > kMaxRecords - total) return false;
      total += s.n;
    }
    if (total > kMaxRecords) return false;
    if (!r.at_end()) return false;
    own_ = own;
    others_ = std::move(others);
    return true;
  }

  // The EWMA over every segment laid end to end by first event time.
  EwmaSegment folded() const {
    std::vector<EwmaSegment> all = others_;
    if (own_.n > 0) all.push_back(own_);
    std::sort(all.begin(), all.end(), [](const EwmaSegment& a, const EwmaSegment& b) {
      return a.order_key() < b.order_key();
    });
    EwmaSegment r;
    for (const auto& s : all) concatenate(&r, s, alpha_);
    return r;
  }

 private:
  static void write_segment(ByteWriter& w, const EwmaSegment& s) {
    w.i64(s.t_first);
    w.i64(s.t_last);
    w.varint(s.n);
    w.f64(s.first);
    w.f64(s.value);
  }
  static bool read_segment(ByteReader& r, EwmaSegment* s) {
    return r.i64(&s->t_first) && r.i64(&s->t_last) && r.varint(&s->n) && r.f64(&s->first) &&
           r.f64(&s->value) &&
           (s->n == 0 ||
            (std::isfinite(s->first) && std::isfinite(s->value) && s->t_first <= s->t_last));
  }

  double alpha_;
  EwmaSegment own_;
  std::vector<EwmaSegment> others_;  // segments merged in from other partials
};

class EwmaFunction final : public AggregateFunction {
 public:
  EwmaFunction(std::optional<CompiledExpr> a, double alpha) : alpha_(alpha) { arg_ = std::move(a); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<EwmaState>(alpha_);
  }

 private:
  double alpha_;
};

// ================================================================ drift

enum class DriftMethod : uint8_t { kAdwin = 0, kPageHinkley = 1, kCusum = 2 };

std::string_view method_name(DriftMethod m) {
  switch (m) {
    case DriftMethod::kAdwin:
      return "adwin";
    case DriftMethod::kPageHinkley:
      return "page_hinkley";
    case DriftMethod::kCusum:
      return "cusum";
  }
  return "adwin";
}

struct DriftConfig {
  DriftMethod method = DriftMethod::kAdwin;
  AdwinOptions adwin;
  PageHinkleyOptions page_hinkley;
  CusumOptions cusum;
  uint32_t max_events = 100;
};

// One detection and the event time of the record that raised it.
struct TimedDetection {
  int64_t time = 0;
  DriftEvent event;
};

// A detector snapshot's options against the configured ones, doubles bit for bit (a snapshot
// of this call carries the configured bits; unset CUSUM targets are NaN).
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }
bool same_options(const AdwinOptions& a, const AdwinOptions& b) {
  return same_bits(a.delta, b.delta) && a.max_buckets == b.max_buckets && a.clock == b.clock &&
         a.min_subwindow == b.min_subwindow;
}
bool same_options(const PageHinkleyOptions& a, const PageHinkleyOptions& b) {
  return same_bits(a.delta, b.delta) && same_bits(a.lambda, b.lambda) &&
         same_bits(a.alpha, b.alpha) && a.min_instances == b.min_instances && a.sides == b.sides;
}
bool same_options(const CusumOptions& a, const CusumOptions& b) {
  return same_bits(a.k, b.k) && same_bits(a.h, b.h) && a.warmup == b.warmup &&
         same_bits(a.target_mean, b.target_mean) && same_bits(a.target_sigma, b.target_sigma) &&
         a.sides == b.sides;
}

// Event time, index, start index, statistic; ties broken by every other field (doubles by
// their bits), a total order, so tied detections of merged partials list the same way whatever
// the merge order (std::sort in merge(), std::stable_sort in detections()).
bool detection_before(const TimedDetection& a, const TimedDetection& b) {
  auto key = [](const TimedDetection& d) {
    const DriftEvent& e = d.event;
    return std::make_tuple(d.time, e.index, e.start_index, e.statistic,
                           std::bit_cast<uint64_t>(e.statistic),
                           std::bit_cast<uint64_t>(e.threshold),
                           std::bit_cast<uint64_t>(e.mean_before),
                           std::bit_cast<uint64_t>(e.mean_after), static_cast<int>(e.direction));
  };
  return key(a) < key(b);
}

constexpr uint32_t kDriftTag = make_type_tag("ADR1");

class DriftState final : public AggState {
 public:
  explicit DriftState(const DriftConfig& c) : config_(c), detector_(make_detector(c)) {}

  void add(const Value& v, int64_t t) override {
    double x;
    if (!finite_number(v, &x)) return;
    const DriftEvent* e = std::visit(
        [x](auto& d) -> const DriftEvent* { return d.update(x) ? &*d.last_detection() : nullptr; },
        detector_);
    if (e == nullptr) return;
    if (own_.size() < config_.max_events) own_.push_back({t, *e});
  }
  void merge(const AggState& o) override {
    const auto& s = static_cast<const DriftState&>(o);
    merged_.insert(merged_.end(), s.own_.begin(), s.own_.end());
    merged_.insert(merged_.end(), s.merged_.begin(), s.merged_.end());
    std::sort(merged_.begin(), merged_.end(), detection_before);
    if (merged_.size() > config_.max_events) merged_.resize(config_.max_events);
  }
  void write_result(OutField* out, Arena& arena) const override {
    std::string j = "[";
    bool first = true;
    for (const auto& d : detections()) {
      if (!first) j.push_back(',');
      first = false;
      const DriftEvent& e = d.event;
      j += "{\"time\":";
      append_time(j, d.time);
      j += fmt::format(",\"index\":{},\"start_index\":{},\"statistic\":", e.index, e.start_index);
      append_number(j, e.statistic);
      j += ",\"threshold\":";
      append_number(j, e.threshold);
      j += fmt::format(",\"direction\":\"{}\",\"method\":\"{}\",\"before\":{{\"mean\":",
                       drift_direction_name(e.direction), method_name(config_.method));
      append_number(j, e.mean_before);
      j += "},\"after\":{\"mean\":";
      append_number(j, e.mean_after);
      j += "}}";
    }
    j.push_back(']');
    out->value = arena_string(arena, j);
    out->raw_json = true;
  }

  // Every detection this state reports: its own and the merged ones, in event-time order, at
  // most max_events (the earliest).
  std::vector<TimedDetection> detections() const {
    std::vector<TimedDetection> all = merged_;
    all.insert(all.end(), own_.begin(), own_.end());
    std::stable_sort(all.begin(), all.end(), detection_before);
    if (all.size() > config_.max_events) all.resize(config_.max_events);
    return all;
  }

  // Payload: u8 method, bytes detector snapshot (its own sealed format), varint own count,
  // own detections, varint merged count, merged detections; a detection is i64 time followed by
  // write_drift_event()'s fields.
  void serialize(std::string& out) const override {
    ByteWriter w;
    w.u8(static_cast<uint8_t>(config_.method));
    w.bytes(std::visit([](const auto& d) { return d.serialize(); }, detector_));
    for (const auto* list : {&own_, &merged_}) {
      w.varint(list->size());
      for (const auto& d : *list) {
        w.i64(d.time);
        write_drift_event(w, d.event);
      }
    }
    out += seal(kDriftTag, 1, w.data());
  }
  bool deserialize(std::string_view in) override {
    auto payload = unseal(in, kDriftTag, 1, nullptr);
    if (!payload) return false;
    ByteReader r(*payload);
    uint8_t method;
    std::string_view det_bytes;
    if (!r.u8(&method) || method != static_cast<uint8_t>(config_.method) || !r.bytes(&det_bytes)) {
      return false;
    }
    Detector det = detector_;
    bool ok = false;
    auto load = [&](auto type_tag) {
      using D = typename decltype(type_tag)::type;
      auto d = D::deserialize(det_bytes);
      // A detector of another drift(...) call (other delta or lambda) is not this state's.
      if (!d || !same_options(d->options(), std::get<D>(detector_).options())) return;
      det = std::move(*d);
      ok = true;
    };
    switch (config_.method) {
      case DriftMethod::kAdwin:
        load(std::type_identity<Adwin>{});
        break;
      case DriftMethod::kPageHinkley:
        load(std::type_identity<PageHinkley>{});
        break;
      case DriftMethod::kCusum:
        load(std::type_identity<Cusum>{});
        break;
    }
    if (!ok) return false;
    std::vector<TimedDetection> lists[2];
    for (auto& list : lists) {
      uint64_t n;
      if (!r.varint(&n) || n > config_.max_events) return false;
      list.resize(n);
      for (auto& d : list) {
        // Event times as the engine has them (append_time() formats them for the result).
        if (!r.i64(&d.time) || d.time < kMinTime || d.time > kMaxTime ||
            !read_drift_event(r, method_name(config_.method), &d.event)) {
          return false;
        }
      }
    }
    if (!r.at_end()) return false;
    detector_ = std::move(det);
    own_ = std::move(lists[0]);
    merged_ = std::move(lists[1]);
    return true;
  }

 private:
  using Detector = std::variant<Adwin, PageHinkley, Cusum>;

  static Detector make_detector(const DriftConfig& c) {
    switch (c.method) {
      case DriftMethod::kPageHinkley:
        return Detector(std::in_place_type<PageHinkley>, c.page_hinkley);
      case DriftMethod::kCusum:
        return Detector(std::in_place_type<Cusum>, c.cusum);
      case DriftMethod::kAdwin:
        break;
    }
    return Detector(std::in_place_type<Adwin>, c.adwin);
  }

  DriftConfig config_;
  Detector detector_;
  std::vector<TimedDetection> own_;     // raised by this state's detector (first max_events)
  std::vector<TimedDetection> merged_;  // pooled from merged partials (earliest max_events)
};

class DriftFunction final : public AggregateFunction {
 public:
  DriftFunction(std::optional<CompiledExpr> a, DriftConfig c) : config_(c) { arg_ = std::move(a); }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<DriftState>(config_);
  }

 private:
  DriftConfig config_;
};

// method=adwin, method='adwin' or method="adwin" (positional argument i or keyword).
bool method_arg(const ExprNode& call, size_t i, DriftMethod* out, ExprError* err) {
  const ExprNode* node = i < call.args.size() ? call.args[i].get() : nullptr;
  for (const auto& [k, v] : call.kwargs) {
    if (k == "method") node = v.get();
  }
  *out = DriftMethod::kAdwin;
  if (node == nullptr) return true;
  std::string_view name;
  if (node->kind == ExprNode::Kind::kField) {
    name = node->name;
  } else if (node->kind == ExprNode::Kind::kLiteral && node->literal.is_string()) {
    name = node->literal.sv();
  }
  for (DriftMethod m : {DriftMethod::kAdwin, DriftMethod::kPageHinkley, DriftMethod::kCusum}) {
    if (name == method_name(m)) {
      *out = m;
      return true;
    }
  }
  err->pos = node->pos;
  err->message = fmt::format("{}: method must be adwin, page_hinkley or cusum", call.name);
  return false;
}

// ================================================================ interest_shift

struct InterestShiftConfig {
  uint32_t k = 10;
  uint32_t capacity = 1024;
  int64_t period_ms = 0;  // 0: two halves of the event-time span (power-of-two buckets)
  DistributionShiftOptions shift;
};

constexpr uint32_t kInterestShiftTag = make_type_tag("AIS1");

// Space-Saving summaries of event-time buckets.
//  - period mode (period_ms > 0): bucket i holds the records with floor(t / period) == i, so
//    sub-periods are epoch-aligned intervals of `period`; the result compares every pair of
//    consecutive non-empty sub-periods.
//  - halves mode: buckets are epoch-aligned intervals of 2^g ms, g the smallest exponent for which
//    the records span at most kMaxSlots buckets (g grows as the span does; two neighbours are then
//    merged). Every g >= 1 leaves between 9 and 16 slots from the first to the last bucket, and
//    the result compares the first ceil(slots / 2) slots with the rest: two halves of the
//    event-time span, split at a bucket boundary within 2^g <= span / 8 of the midpoint.
// The layout depends only on the set of event times: a partial's g is at most that of the
// union, and merge() coarsens both to the larger g and then further while the span exceeds
// kMaxSlots, which lands on the union's g. Bucket contents merge as Space-Saving summaries
// (exact while a bucket's distinct items fit in `capacity`; otherwise within the summaries'
// error bounds, which DistributionShift carries into its threshold).
class InterestShiftState final : public AggState {
 public:
  static constexpr int64_t kMaxSlots = 16;

  explicit InterestShiftState(const InterestShiftConfig& c) : config_(c) {}

  void add(const Value& v, int64_t t) override {
    if (v.is_null()) return;
    std::string_view item;
    if (v.is_string()) {
      item = v.sv();
    } else {
      buf_.clear();
      append_text(buf_, v);
      item = buf_;
    }
    t_min_ = std::min(t_min_, t);
    t_max_ = std::max(t_max_, t);
    int64_t idx = index_of(t);
    if (cached_ == nullptr || idx != cached_index_) {
      if (config_.period_ms == 0 && !buckets_.empty()) {
        while (std::max(idx, buckets_.rbegin()->first) - std::min(idx, buckets_.begin()->first) +
                   1 >
               kMaxSlots) {
          coarsen();
          idx = index_of(t);
        }
      }
      cached_ = &buckets_.try_emplace(idx, config_.capacity).first->second;
      cached_index_ = idx;
    }
    cached_->add(item);
  }

  void merge(const AggState& o) override {
    const auto& s = static_cast<const InterestShiftState&>(o);
    if (s.buckets_.empty()) return;
    t_min_ = std::min(t_min_, s.t_min_);
    t_max_ = std::max(t_max_, s.t_max_);
    while (g_ < s.g_) coarsen();
    const int shift = g_ - s.g_;
    for (const auto& [idx, sketch] : s.buckets_) {
      const int64_t target = idx >> shift;
      auto it = buckets_.find(target);
      if (it == buckets_.end()) {
        buckets_.emplace(target, sketch);
      } else {
        Status st = it->second.merge(sketch);
        (void)st;  // equal capacities: cannot fail
      }
    }
    if (config_.period_ms == 0) {
      while (!buckets_.empty() &&
             buckets_.rbegin()->first - buckets_.begin()->first + 1 > kMaxSlots) {
        coarsen();
      }
    }
    cached_ = nullptr;
  }

  void write_result(OutField* out, Arena& arena) const override {
    std::string j = "[";
    bool first = true;
    for (const auto& c : comparisons()) {
      if (!first) j.push_back(',');
      first = false;
      append_comparison(j, c);
    }
    j.push_back(']');
    out->value = arena_string(arena, j);
    out->raw_json = true;
  }

  // Payload: varint g, i64 first and last event time, varint buckets, then per bucket i64 index
  // and bytes (its Space-Saving snapshot, "SSS1").
  void serialize(std::string& out) const override {
    ByteWriter w;
    w.varint(static_cast<uint64_t>(g_));
    w.i64(t_min_);
    w.i64(t_max_);
    w.varint(buckets_.size());
    for (const auto& [idx, sketch] : buckets_) {
      w.i64(idx);
      w.bytes(sketch.serialize());
    }
    out += seal(kInterestShiftTag, 1, w.data());
  }
  bool deserialize(std::string_view in) override {
    auto payload = unseal(in, kInterestShiftTag, 1, nullptr);
    if (!payload) return false;
    ByteReader r(*payload);
    uint64_t g, n;
    int64_t t_min, t_max;
    if (!r.varint(&g) || g > 62 || (config_.period_ms > 0 && g != 0) || !r.i64(&t_min) ||
        !r.i64(&t_max) || !r.varint(&n) || n > r.remaining()) {
      return false;
    }
    std::map<int64_t, SpaceSaving> buckets;
    for (uint64_t i = 0; i < n; ++i) {
      int64_t idx;
      std::string_view bytes;
      if (!r.i64(&idx) || !r.bytes(&bytes)) return false;
      auto sketch = SpaceSaving::deserialize(bytes);
      if (!sketch || sketch->capacity() != config_.capacity || sketch->total() == 0) return false;
      if (!buckets.emplace(idx, std::move(*sketch)).second) return false;
    }
    if (!r.at_end()) return false;
    if (config_.period_ms == 0 && !buckets.empty() &&
        buckets.rbegin()->first - buckets.begin()->first + 1 > kMaxSlots) {
      return false;
    }
    // The buckets run from the first event time's to the last's (event times as the engine
    // has them, so the sub-period bounds below cannot overflow).
    if (!buckets.empty() &&
        (t_min > t_max || t_min < kMinTime || t_max > kMaxTime ||
         buckets.begin()->first != index_of(t_min, static_cast<int>(g)) ||
         buckets.rbegin()->first != index_of(t_max, static_cast<int>(g)))) {
      return false;
    }
    // Halves mode: g is the smallest width exponent that fits the span in kMaxSlots (0 with no
    // buckets), as add() and merge() keep it; a larger one would coarsen the answer.
    if (g > 0 && (buckets.empty() || index_of(t_max, static_cast<int>(g) - 1) -
                                             index_of(t_min, static_cast<int>(g) - 1) + 1 <=
                                         kMaxSlots)) {
      return false;
    }
    g_ = static_cast<int>(g);
    t_min_ = buckets.empty() ? kMaxTime : t_min;
    t_max_ = buckets.empty() ? kMinTime : t_max;
    buckets_ = std::move(buckets);
    cached_ = nullptr;
    return true;
  }

  struct SubPeriod {
    int64_t start = 0, end = 0;  // event-time interval [start, end) in ms
    CategoryCounts counts;
  };
  struct Comparison {
    SubPeriod before, after;
    ShiftReport report;
  };

  std::vector<Comparison> comparisons() const {
    std::vector<SubPeriod> periods;
    if (config_.period_ms > 0) {
      for (const auto& [idx, sketch] : buckets_) {
        periods.push_back(
            sub_period(idx * config_.period_ms, (idx + 1) * config_.period_ms, {&sketch}));
      }
    } else if (!buckets_.empty() && buckets_.rbegin()->first > buckets_.begin()->first) {
      const int64_t lo = buckets_.begin()->first, hi = buckets_.rbegin()->first;
      const int64_t mid = lo + (hi - lo + 2) / 2;
      std::vector<const SpaceSaving*> halves[2];
      for (const auto& [idx, sketch] : buckets_) halves[idx < mid ? 0 : 1].push_back(&sketch);
      // Clipped to the first and last event time.
      periods.push_back(sub_period(std::max(lo << g_, t_min_), mid << g_, halves[0]));
      periods.push_back(sub_period(mid << g_, std::min((hi + 1) << g_, t_max_ + 1), halves[1]));
    }
    std::vector<Comparison> out;
    const DistributionShift detector(config_.shift);
    for (size_t i = 1; i < periods.size(); ++i) {
      auto report = detector.compare(periods[i - 1].counts, periods[i].counts);
      if (!report) continue;  // cannot happen for Space-Saving summaries
      out.push_back({periods[i - 1], periods[i], std::move(*report)});
    }
    return out;
  }

 private:
  int64_t index_of(int64_t t) const { return index_of(t, g_); }
  int64_t index_of(int64_t t, int g) const {
    return config_.period_ms > 0 ? floor_div(t, config_.period_ms) : (t >> g);
  }
  static int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
  }

  // Doubles the bucket width (halves mode): bucket i goes to i >> 1.
  void coarsen() {
    ++g_;
    std::map<int64_t, SpaceSaving> next;
    for (auto& [idx, sketch] : buckets_) {
      auto it = next.find(idx >> 1);
      if (it == next.end()) {
        next.emplace(idx >> 1, std::move(sketch));
      } else {
        Status st = it->second.merge(sketch);
        (void)st;
      }
    }
    buckets_ = std::move(next);
    cached_ = nullptr;
  }

  // The top-k distribution of the union of `parts`: the k largest counts listed, every other
  // item bounded by the (k+1)-th count or the summary's minimum count.
  SubPeriod sub_period(int64_t start, int64_t end,
                       const std::vector<const SpaceSaving*>& parts) const {
    SpaceSaving all(config_.capacity);
    for (const SpaceSaving* p : parts) {
      Status st = all.merge(*p);
      (void)st;
    }
    SubPeriod s;
    s.start = start;
    s.end = end;
    s.counts.total = all.total();
    s.counts.unlisted_max = all.min_count();
    auto top = all.top(config_.k + 1);
    if (top.size() > config_.k) {
      s.counts.unlisted_max = std::max(s.counts.unlisted_max, top.back().count);
      top.pop_back();
    }
    for (auto& e : top) s.counts.items.push_back({std::move(e.item), ItemCount{e.count, e.error}});
    return s;
  }

  static void append_shares(std::string& j, const std::vector<ShareChange>& changes) {
    j.push_back('[');
    for (size_t i = 0; i < changes.size(); ++i) {
      if (i > 0) j.push_back(',');
      j += "{\"value\":";
      append_json_string(j, changes[i].item);
      j += ",\"before\":";
      append_number(j, changes[i].before);
      j += ",\"after\":";
      append_number(j, changes[i].after);
      j.push_back('}');
    }
    j.push_back(']');
  }
  static void append_period(std::string& j, const SubPeriod& p) {
    j += "{\"start\":";
    append_time(j, p.start);
    j += ",\"end\":";
    append_time(j, p.end);
    j += fmt::format(",\"count\":{}}}", p.counts.total);
  }
  static void append_comparison(std::string& j, const Comparison& c) {
    j += "{\"before\":";
    append_period(j, c.before);
    j += ",\"after\":";
    append_period(j, c.after);
    j += c.report.shift ? ",\"shift\":true,\"distance\":" : ",\"shift\":false,\"distance\":";
    append_number(j, c.report.tv);
    j += ",\"js\":";
    append_number(j, c.report.js);
    j += ",\"threshold\":";
    append_number(j, c.report.threshold);
    j += ",\"rising\":";
    append_shares(j, c.report.rising);
    j += ",\"falling\":";
    append_shares(j, c.report.falling);
    j.push_back('}');
  }

  InterestShiftConfig config_;
  int g_ = 0;                 // halves mode: buckets are 2^g_ ms wide
  int64_t t_min_ = kMaxTime;  // first and last event time added
  int64_t t_max_ = kMinTime;
  std::map<int64_t, SpaceSaving> buckets_;
  SpaceSaving* cached_ = nullptr;  // the bucket of the last add() (std::map nodes are stable)
  int64_t cached_index_ = 0;
  std::string buf_;
};

class InterestShiftFunction final : public AggregateFunction {
 public:
  InterestShiftFunction(std::optional<CompiledExpr> a, InterestShiftConfig c) : config_(c) {
    arg_ = std::move(a);
  }
  std::unique_ptr<AggState> make_state() const override {
    return std::make_unique<InterestShiftState>(config_);
  }

 private:
  InterestShiftConfig config_;
};

}  // namespace

void register_detector_aggregates(AggregateRegistry& r) {
  r.add("ewma", "ewma(expr, alpha): exponentially weighted moving average, in arrival order",
        [](const ExprNode& call, FieldScope& scope,
           ExprError* err) -> std::unique_ptr<AggregateFunction> {
          if (!check_arity(call, 2, 2, {"alpha"}, "ewma(expr, alpha)", err)) return nullptr;
          std::optional<CompiledExpr> a;
          double alpha;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          if (!literal_number_arg(call, 1, "alpha", -1, &alpha, err)) return nullptr;
          if (!(alpha > 0 && alpha <= 1)) {
            err->pos = call.pos;
            err->message = "ewma: alpha must be a number in (0, 1]";
            return nullptr;
          }
          return std::make_unique<EwmaFunction>(std::move(a), alpha);
        });
  r.add("drift",
        "drift(expr [, method=adwin|page_hinkley|cusum] [, delta] [, lambda] [, max_events=100]): "
        "changes in the mean, one object per detection",
        [](const ExprNode& call, FieldScope& scope,
           ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "drift(expr [, method] [, delta] [, lambda] [, max_events])";
          if (!check_arity(call, 1, 5, {"method", "delta", "lambda", "max_events"}, sig, err)) {
            return nullptr;
          }
          if (call.args.size() > 2) {
            err->pos = call.args[2]->pos;
            err->message = fmt::format(
                "drift: delta, lambda and max_events are keyword arguments; usage: {}", sig);
            return nullptr;
          }
          std::optional<CompiledExpr> a;
          if (!compile_numeric_arg(call, 0, scope, &a, err)) return nullptr;
          DriftConfig c;
          if (!method_arg(call, 1, &c.method, err)) return nullptr;
          double delta, lambda, max_events;
          constexpr double kNone = -1;
          constexpr double kHuge = 1e300;
          if (!literal_number_arg(call, 99, "delta", kNone, &delta, err)) return nullptr;
          if (!literal_number_arg(call, 99, "lambda", kNone, &lambda, err)) return nullptr;
          if (!range_arg(call, 99, "max_events", 100, 1, 1e6, true, &max_events, err))
            return nullptr;
          c.max_events = static_cast<uint32_t>(max_events);
          auto bad = [&](const char* what) {
            err->pos = call.pos;
            err->message = fmt::format("drift: {}", what);
            return nullptr;
          };
          switch (c.method) {
            case DriftMethod::kAdwin:
              if (lambda != kNone) return bad("lambda does not apply to adwin");
              if (delta != kNone) {
                if (!(delta > 0 && delta < 1))
                  return bad("adwin's delta (confidence) must be in (0, 1)");
                c.adwin.delta = delta;
              }
              break;
            case DriftMethod::kPageHinkley:
              if (delta != kNone) {
                if (!(delta >= 0 && delta < kHuge)) return bad("page_hinkley's delta must be >= 0");
                c.page_hinkley.delta = delta;
              }
              if (lambda != kNone) {
                if (!(lambda > 0 && lambda < kHuge))
                  return bad("page_hinkley's lambda must be > 0");
                c.page_hinkley.lambda = lambda;
              }
              break;
            case DriftMethod::kCusum:
              if (delta != kNone) {
                if (!(delta >= 0 && delta < kHuge))
                  return bad("cusum's delta (k, in sigmas) must be >= 0");
                c.cusum.k = delta;
              }
              if (lambda != kNone) {
                if (!(lambda > 0 && lambda < kHuge))
                  return bad("cusum's lambda (h, in sigmas) must be > 0");
                c.cusum.h = lambda;
              }
              break;
          }
          return std::make_unique<DriftFunction>(std::move(a), c);
        });
  r.add("interest_shift",
        "interest_shift(expr, k [, period] [, capacity=max(1024, 10k)] [, false_alarm=0.01]): "
        "did the top-k distribution change between consecutive sub-periods of the window",
        [](const ExprNode& call, FieldScope& scope,
           ExprError* err) -> std::unique_ptr<AggregateFunction> {
          const char* sig = "interest_shift(expr, k [, period] [, capacity] [, false_alarm])";
          if (!check_arity(call, 2, 5, {"k", "period", "capacity", "false_alarm"}, sig, err)) {
            return nullptr;
          }
          if (call.args.size() > 2) {
            err->pos = call.args[2]->pos;
            err->message = fmt::format(
                "interest_shift: period, capacity and false_alarm are keyword arguments; usage: {}",
                sig);
            return nullptr;
          }
          std::optional<CompiledExpr> a;
          if (!compile_any_arg(call, 0, scope, &a, err)) return nullptr;
          double k, period, capacity, false_alarm;
          if (!range_arg(call, 1, "k", 10, 1, 10000, true, &k, err)) return nullptr;
          if (!range_arg(call, 99, "period", 0, 0, 1e15, true, &period, err)) return nullptr;
          if (!range_arg(call, 99, "capacity", std::max(1024.0, 10 * k), k + 1, 1 << 20, true,
                         &capacity, err)) {
            return nullptr;
          }
          if (!range_arg(call, 99, "false_alarm", 0.01, 1e-12, 0.5, false, &false_alarm, err)) {
            return nullptr;
          }
          InterestShiftConfig c;
          c.k = static_cast<uint32_t>(k);
          c.capacity = static_cast<uint32_t>(capacity);
          c.period_ms = static_cast<int64_t>(period);
          c.shift.alpha = false_alarm;
          c.shift.top = c.k;
          return std::make_unique<InterestShiftFunction>(std::move(a), c);
        });
}

}  // namespace spate
