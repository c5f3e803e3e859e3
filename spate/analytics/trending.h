#pragma once
// Trending: the items whose event rate is rising, from time-decayed counts at two half-lives.
//
// Guarantee: for each half-life and every item, count - error <= true decayed count <= count
// and error <= min_count <= total decayed weight / m (Space-Saving, Metwally, Agrawal,
// El Abbadi, ICDT 2005, run on forward-decayed weights: Cormode, Shkapenyuk, Srivastava, Xu,
// "Forward decay: a practical time decay model for streaming systems", ICDE 2009), up to
// floating-point rounding (relative ~1e-12 of the total).
//
// Forward decay with g(a) = exp(lambda * a), lambda = ln 2 / half_life: an event of item x at time
// t (ms) is stored with the static weight exp(lambda * (t - L)) relative to a landmark L; the
// decayed count of x at query time T is sum over its events of exp(-lambda * (T - t)) = (stored
// sum) * exp(-lambda * (T - L)). Stored weights never change with time, so a summary ordered by
// them stays ordered, and events may arrive in any order (an older event just weighs less).
// Before the exponent passes kRenormalizeExponent the landmark moves to the new event's time and
// every stored weight is multiplied by exp(-lambda * shift) (O(m), once per ~370 short
// half-lives), so nothing overflows however long the stream runs; weights that underflow to 0
// belonged to events more than ~1000 half-lives old.
//
// Rates: rate = decayed count * lambda, in events per second (lambda per second). For events at a
// constant rate r over many half-lives, decayed count -> r / lambda, so rate -> r: it is the
// exponentially weighted moving average of the event rate with time constant half_life / ln 2.
// Score = short_rate / max(long_rate, floor), floor = long total rate / m (the long rate of an
// item at the Space-Saving error bound; below it a long rate is noise), never below DBL_MIN so a
// brand-new item never divides by 0. A steady item scores ~1 (after a few long half-lives), an
// item that appeared just now scores up to long_half_life / short_half_life (when the query time
// is >= every event time). Both scores use the upper bounds (count) of each decayed count.
//
// Why two summaries (one per half-life) rather than one keyed summary carrying both weights:
// Space-Saving's guarantee rests on evicting the counter with the minimum of the weight it
// bounds; with two decay rates the two minima are different counters, so a single summary could
// bound only one of the two counts. Two summaries cost 2x memory and two heap updates per event
// (the item hash is computed once and shared: both use one salt).
//
// Cost: add() is O(log m) (a hash probe and a heap sift in each summary), no allocation once m
// distinct items were seen (an evicted counter's string buffer is reused). top_rising(k) is
// O(m log k). merge() and renormalization O(m log m) / O(m).
//
// Thread-safety: plain value, one updating thread; merge() reads `other`, which must not be
// updated concurrently.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "spate/analytics/item_hash.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

// Space-Saving (Metwally et al. 2005) with real-valued weights > 0: m counters in a binary
// min-heap by count, indexed by item (open addressing, linear probing, backward-shift
// deletion, load <= 1/2). Guarantee: for a monitored item count - error <= true <= count; an
// unmonitored item has true <= min_count() <= total() / m (up to rounding). merge() is the
// mergeable-summaries construction (Agarwal et al., PODS 2012, section 3) used by SpaceSaving.
// Cost: add() O(log m), no allocation once full. Thread-safety: plain value, one thread.
class WeightedSpaceSaving {
 public:
  static constexpr uint32_t kMaxCapacity = uint32_t{1} << 20;

  struct Entry {
    std::string item;
    double count;  // upper bound on the true weight
    double error;  // count - error is a lower bound
  };
  struct Bounds {
    double count;
    double error;
  };

  // REQUIRES: 1 <= capacity <= kMaxCapacity (else throws std::invalid_argument). `salt` seeds
  // the item hash of the index (it never affects results or serialized bytes).
  WeightedSpaceSaving(uint32_t capacity, uint64_t salt);

  uint64_t hash(std::string_view item) const { return hash_item(item, salt_); }
  uint64_t salt() const { return salt_; }
  // REQUIRES: h == hash(item); w > 0 and finite.
  void add(std::string_view item, uint64_t h, double w);
  void add(std::string_view item, double w) { add(item, hash(item), w); }

  // A monitored item's (count, error); otherwise (min_count(), min_count()).
  Bounds estimate(std::string_view item, uint64_t h) const;
  Bounds estimate(std::string_view item) const { return estimate(item, hash(item)); }
  // The smallest count once all m counters are in use, else 0.
  double min_count() const {
    return counters_.size() < capacity_ ? 0.0 : counters_[heap_[0]].count;
  }
  double total() const { return total_; }
  uint32_t capacity() const { return capacity_; }
  size_t size() const { return counters_.size(); }

  // Multiplies every count, error and the total by f > 0 (the order is kept: rounding is
  // monotone).
  void scale(double f);
  // Merges `other` with its counts multiplied by other_scale > 0. Fails (kInvalidArgument)
  // when other.capacity() < capacity().
  [[nodiscard]] Status merge(const WeightedSpaceSaving& other, double other_scale);
  // The k entries with the largest counts (ties: item ascending).
  std::vector<Entry> top(size_t k) const;
  // Visits every counter: f(item, count, error), in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Counter& c : counters_) f(std::string_view(c.item), c.count, c.error);
  }

  // Payload fragment: f64 total, varint size, then per counter by count ascending (ties: item
  // ascending): f64 count, f64 error, bytes item.
  void write(ByteWriter* w) const;
  // Reads what write() wrote into an empty summary (checks every invariant; the message says
  // which failed).
  Status read(ByteReader* r);

 private:
  struct Counter {
    std::string item;
    double count = 0;
    double error = 0;
    uint32_t tag = 0;  // low 32 bits of the item's hash: its home slot in the index
    uint32_t pos = 0;  // position in heap_
  };
  struct Slot {
    uint32_t tag;
    int32_t counter;  // -1: empty
  };

  int32_t lookup(std::string_view item, uint64_t h) const;
  void index_insert(int32_t c, uint32_t tag);
  void index_erase(int32_t c, uint32_t tag);
  void grow_index_for_one_more();
  void sift_up(uint32_t pos);
  void sift_down(uint32_t pos);
  void set_heap(uint32_t pos, int32_t c) {
    heap_[pos] = c;
    counters_[c].pos = pos;
  }
  void clear();
  // Appends a counter whose count is >= every count present (rebuilds); false on a duplicate.
  bool append_sorted(std::string_view item, double count, double error);

  uint32_t capacity_;
  uint64_t salt_;
  double total_ = 0;
  std::vector<Counter> counters_;  // at most capacity_
  std::vector<int32_t> heap_;      // counter ids, min-heap by count
  std::vector<Slot> slots_;        // item -> counter
  uint32_t mask_ = 0;
};

class Trending {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("TRD1");
  static constexpr uint16_t kVersion = 1;
  static constexpr uint32_t kMaxCapacity = WeightedSpaceSaving::kMaxCapacity;
  // The landmark moves when lambda_short * (t - landmark) would pass this (exp(256) ~ 1.5e111,
  // far from overflow even summed over 2^64 events).
  static constexpr double kRenormalizeExponent = 256;
  // Weights above this (or not > 0, or not finite) are ignored.
  static constexpr double kMaxWeight = 1e18;

  struct Entry {
    std::string item;
    double score;
    double short_rate;                // events per second, upper bound (short_count * lambda_short)
    double long_rate;                 // events per second, upper bound (long_count * lambda_long)
    double short_count, short_error;  // decayed count at the query time and its error bound
    double long_count, long_error;
  };
  struct Bounds {
    double short_count, short_error;
    double long_count, long_error;
  };

  // Half-lives in milliseconds: the timestamps' unit is 1 ms, and 1e15 ms is ~31,700 years.
  static constexpr double kMinHalfLifeMs = 1;
  static constexpr double kMaxHalfLifeMs = 1e15;

  // REQUIRES: 1 <= capacity <= kMaxCapacity, kMinHalfLifeMs <= short < long <=
  // kMaxHalfLifeMs (else throws std::invalid_argument: a configuration error).
  Trending(uint32_t capacity, double short_half_life_ms, double long_half_life_ms);

  // An event of `item` at time t_ms (any order), of weight `weight` (1 per event).
  void add(std::string_view item, int64_t t_ms, double weight = 1.0);

  // The k items with the highest score at query time now_ms (default: max_time()), by score
  // descending (ties: short rate descending, then item ascending). Candidates are the items
  // monitored by the short-half-life summary (every item whose short decayed count exceeds
  // the short total / m is among them). A query time before landmark() is taken as landmark().
  std::vector<Entry> top_rising(size_t k) const { return top_rising(k, max_time_); }
  std::vector<Entry> top_rising(size_t k, int64_t now_ms) const;
  // Decayed-count bounds of any item at now_ms (unmonitored: [0, min_count]).
  Bounds estimate(std::string_view item, int64_t now_ms) const;
  // Total decayed weight at now_ms for each half-life.
  double short_total(int64_t now_ms) const { return ss_short_.total() * decay_short(now_ms); }
  double long_total(int64_t now_ms) const { return ss_long_.total() * decay_long(now_ms); }
  // The denominator floor of the score at now_ms (events per second).
  double score_floor(int64_t now_ms) const;

  // Events added (weights aside), exact.
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Largest event time added; 0 when empty.
  int64_t max_time() const { return max_time_; }
  int64_t landmark() const { return landmark_; }
  uint32_t capacity() const { return ss_short_.capacity(); }
  double short_half_life_ms() const { return short_half_life_ms_; }
  double long_half_life_ms() const { return long_half_life_ms_; }
  // Decay rates in 1/s.
  double lambda_short_per_s() const { return lambda_short_ * 1000.0; }
  double lambda_long_per_s() const { return lambda_long_ * 1000.0; }

  // Merges `other` (same half-lives, other.capacity() >= capacity(); else kInvalidArgument):
  // both are rescaled to the later landmark, then the summaries merge. Afterwards this bounds
  // the decayed counts of the union of both streams as the guarantee above states.
  [[nodiscard]] Status merge(const Trending& other);

  std::string serialize() const;
  static Result<Trending> deserialize(std::string_view bytes);

 private:
  double clamp_exponent(int64_t now_ms) const {
    return now_ms > landmark_ ? static_cast<double>(now_ms) - static_cast<double>(landmark_) : 0;
  }
  double decay_short(int64_t now_ms) const {
    return std::exp(-lambda_short_ * clamp_exponent(now_ms));
  }
  double decay_long(int64_t now_ms) const {
    return std::exp(-lambda_long_ * clamp_exponent(now_ms));
  }
  void move_landmark(int64_t to);

  double short_half_life_ms_;
  double long_half_life_ms_;
  double lambda_short_;  // per ms
  double lambda_long_;
  uint64_t count_ = 0;
  int64_t landmark_ = 0;
  int64_t max_time_ = 0;
  WeightedSpaceSaving ss_short_;
  WeightedSpaceSaving ss_long_;
};

}  // namespace spate
