#pragma once
// CountMin: Count-Min sketch (Cormode, Muthukrishnan, "An improved data stream summary: the
// count-min sketch and its applications", 2005) with conservative update (Estan, Varghese 2002):
// an update raises each of the item's d counters only up to (current minimum + weight).
//
// Guarantee: estimate(x) >= true(x) always, and estimate(x) <= true(x) + epsilon() * total()
// with probability >= 1 - delta() for each x, where epsilon() = e / width and delta() =
// e^-depth; for_error(eps, delta) picks width = the power of two >= e / eps and
// depth = ceil(ln(1 / delta)). Rows hash with the multiply-add-shift family of Dietzfelbinger
// ("Universal hashing and k-wise independent random variables via integer arithmetic without
// primes", STACS 1996): h(x) = ((a x + b) mod 2^128) >> (128 - log2 width), a, b uniform 128-bit
// words drawn from the seed, which is pairwise independent over 64-bit keys. Conservative update
// keeps every counter <= the plain Count-Min counter, so the bound carries over; merge (counter
// sums) keeps both sides of it. Update O(depth), no allocation.
//
// Keys: add_hash() takes a 64-bit key (an integer id or a carried 64-bit hash); add(string_view)
// first hashes with XXH3-64 under the sketch's seed. merge() requires equal width, depth and
// seed.
//
// Thread-safety: plain value, one updating thread; merge() reads `other`, which must not be
// updated concurrently.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spate/analytics/item_hash.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

class CountMin {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("CMS1");
  static constexpr uint16_t kVersion = 1;
  static constexpr uint32_t kMaxDepth = 32;
  static constexpr uint32_t kMaxWidth = uint32_t{1} << 28;

  // width is rounded up to a power of two (>= 2). REQUIRES: 1 <= depth <= kMaxDepth,
  // width <= kMaxWidth (else throws std::invalid_argument: a configuration error).
  CountMin(uint32_t width, uint32_t depth, uint64_t seed);
  // The smallest sketch meeting (epsilon, delta). REQUIRES 0 < epsilon < 1, 0 < delta < 1.
  static CountMin for_error(double epsilon, double delta, uint64_t seed);

  void add_hash(uint64_t key, uint64_t weight = 1) {
    if (weight == 0) return;
    total_ += weight;
    uint64_t* slot[kMaxDepth];
    uint64_t lo = ~uint64_t{0};
    uint64_t* row = counters_.data();
    for (uint32_t j = 0; j < depth_; ++j, row += width_) {
      slot[j] = row + row_index(j, key);
      lo = *slot[j] < lo ? *slot[j] : lo;
    }
    // Raise each counter to at least the target. Written as an unconditional store of the
    // maximum (a cmov, no branch): whether a row's counter is below the target is data-dependent
    // and was the main cost of an update (a mispredict on roughly every row).
    const uint64_t target = lo + weight;
    for (uint32_t j = 0; j < depth_; ++j) {
      const uint64_t v = *slot[j];
      *slot[j] = v < target ? target : v;
    }
  }
  void add(std::string_view item, uint64_t weight = 1) { add_hash(hash_item(item, seed_), weight); }

  uint64_t estimate_hash(uint64_t key) const;
  uint64_t estimate(std::string_view item) const { return estimate_hash(hash_item(item, seed_)); }

  // Counter-wise sum. Fails (kInvalidArgument) unless width, depth and seed are equal.
  [[nodiscard]] Status merge(const CountMin& other);

  uint64_t total() const { return total_; }
  uint32_t width() const { return uint32_t{1} << log2_width_; }
  uint32_t depth() const { return depth_; }
  uint64_t seed() const { return seed_; }
  // e / width: the additive error, as a fraction of total(), at probability 1 - delta().
  double epsilon() const;
  // e^-depth.
  double delta() const;

  std::string serialize() const;
  static Result<CountMin> deserialize(std::string_view bytes);

 private:
  __extension__ using U128 = unsigned __int128;
  // a, b: 128-bit words as (low, high) 64-bit halves.
  struct RowHash {
    uint64_t a_lo, a_hi, b_lo, b_hi;
  };

  // Top log2_width bits of (a * key + b) mod 2^128. Only the high 64-bit half is needed:
  // hi = hi64(a_lo * key) + a_hi * key + b_hi + carry(lo64(a_lo * key) + b_lo).
  size_t row_index(uint32_t j, uint64_t key) const {
    const RowHash& r = rows_[j];
    const U128 p = static_cast<U128>(r.a_lo) * key;
    const auto p_lo = static_cast<uint64_t>(p);
    const uint64_t lo = p_lo + r.b_lo;
    const uint64_t hi = static_cast<uint64_t>(p >> 64) + r.a_hi * key + r.b_hi + (lo < p_lo);
    return static_cast<size_t>(hi >> shift_);
  }

  uint32_t log2_width_;
  uint32_t shift_;  // 64 - log2_width_
  size_t width_;
  uint32_t depth_;
  uint64_t seed_;
  uint64_t total_ = 0;
  std::vector<RowHash> rows_;
  std::vector<uint64_t> counters_;  // depth rows of width counters
};

}  // namespace spate
