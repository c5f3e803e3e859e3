#pragma once
// KllSketch: quantile sketch over doubles (Karnin, Lang, Liberty, "Optimal quantile
// approximation in streams", FOCS 2016), in the lazy-compaction form used by Apache
// DataSketches: levels of compactors, level h holding items of weight 2^h, capacities
// max(8, k * (2/3)^(depth from the top)); when the sketch is full the lowest level over its
// capacity is sorted and every other item (random offset) is promoted to the level above.
//
// Guarantee: rank(x) and quantile(q) are within normalized_rank_error(k) of the true rank with
// 99% probability per query; for k = 200 that is 1.33% (the bound 2.296 / k^0.9723 measured
// for this algorithm by DataSketches; about 3k items retained). min() and max() are exact, and
// count() is exact. merge() (equal k) gives the same guarantee over the concatenated stream.
// Reproducible: the coin flips come from a xoshiro256** seeded in the constructor; the same
// seed and inputs give the same sketch, and a deserialized sketch continues with the same coins.
// NaN inputs are not added (counted in ignored()). update amortized O(log k) per item; no
// allocation in steady state (levels keep their buffers; a new top level appears only when the
// count doubles).
//
// Thread-safety: plain value, one updating thread; queries are const and may run concurrently
// with each other but not with add()/merge(); merge() reads `other`, which must not be updated
// concurrently.

#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "spate/analytics/prng.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

class KllSketch {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("KLL1");
  static constexpr uint16_t kVersion = 1;
  static constexpr uint32_t kDefaultK = 200;
  static constexpr uint32_t kMinK = 8;
  static constexpr uint32_t kMaxK = 65535;
  static constexpr size_t kMaxLevels = 61;

  // REQUIRES: kMinK <= k <= kMaxK (else throws std::invalid_argument).
  explicit KllSketch(uint32_t k = kDefaultK, uint64_t seed = 0);

  void add(double x) {
    if (x != x) {
      ++ignored_;
      return;
    }
    // min_ / max_ start at +inf / -inf, so no first-item case (minsd / maxsd, no branch).
    min_ = x < min_ ? x : min_;
    max_ = x > max_ ? x : max_;
    ++n_;
    levels_[0].push_back(x);  // no reallocation: level 0 is reserved to capacity_ items
    if (++retained_ >= capacity_) compress_one();
  }

  // Fails (kInvalidArgument) unless k is equal.
  [[nodiscard]] Status merge(const KllSketch& other);

  uint64_t count() const { return n_; }
  uint64_t ignored() const { return ignored_; }
  bool empty() const { return n_ == 0; }
  // NaN when empty.
  double min() const;
  double max() const;
  // Fraction of the stream <= x, in [0, 1] (0 when empty).
  double rank(double x) const;
  // The smallest retained value whose rank is >= q (q clamped to [0, 1]; q = 0 gives min(),
  // q = 1 max()). NaN when empty.
  double quantile(double q) const;
  // quantile() for each q, sorting the retained items once.
  std::vector<double> quantiles(const std::vector<double>& qs) const;

  uint32_t k() const { return k_; }
  size_t retained() const { return retained_; }
  size_t num_levels() const { return levels_.size(); }
  // The 99%-confidence normalized rank error of a single query for parameter k.
  static double normalized_rank_error(uint32_t k);

  std::string serialize() const;
  static Result<KllSketch> deserialize(std::string_view bytes);

 private:
  struct Weighted {
    double value;
    uint64_t weight;
  };
  // Leaves new elements uninitialized on resize(): a compaction grows the level above by the
  // promoted items and writes them all, so zero-filling them first would be wasted work.
  template <typename T>
  struct NoInitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
      using other = NoInitAllocator<U>;
    };
    NoInitAllocator() = default;
    template <typename U>
    NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
    template <typename U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
      ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  };
  using Level = std::vector<double, NoInitAllocator<double>>;

  static size_t level_capacity(uint32_t k, size_t num_levels, size_t level);
  void recompute_capacity();
  void add_level();
  void compress_one();
  std::vector<Weighted> sorted_view() const;  // cumulative weights, by value
  static double quantile_in(const std::vector<Weighted>& view, uint64_t n, double q, double lo,
                            double hi);

  uint32_t k_;
  uint64_t n_ = 0;
  uint64_t ignored_ = 0;
  double min_ = std::numeric_limits<double>::infinity();   // +inf while empty
  double max_ = -std::numeric_limits<double>::infinity();  // -inf while empty
  size_t retained_ = 0;
  size_t capacity_ = 0;
  Xoshiro256 rng_;
  std::vector<Level> levels_;  // level 0 unsorted, levels >= 1 sorted
  std::vector<size_t> caps_;   // level_capacity() of each level
  Level scratch_;              // merge() only
};

}  // namespace spate
