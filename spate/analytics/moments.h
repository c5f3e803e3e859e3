#pragma once
// Streaming moments and an exponentially weighted moving average.
//
// Thread-safety (both classes): plain values. One thread updates an instance; merge() reads the
// other instance, which must not be updated concurrently. Move or copy across threads freely.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

// Moments: count, sum, mean, population and sample variance, standard deviation, min, max of a
// stream of doubles, in O(1) space and O(1) time per add().
//
// Guarantee: numerically stable updates and merges. add() is Welford's update (Welford 1962) on
// data shifted by the first value seen (the shifted algorithm of Chan, Golub, LeVeque, "Algorithms
// for computing the sample variance", 1983), merge() is the pairwise combination of Chan, Golub,
// LeVeque (1979); the sum of squared deviations and the sum are Neumaier compensated sums, so mean
// = sum / count is within a few ulps even for 1e9 values near 1e9. count, min and max are exact;
// sum is exact for integer-valued data below 2^53, also after merges. Non-finite inputs (NaN,
// +-inf) are not added: they are counted in ignored(). Queries on an empty summary (and sample
// variance with count < 2) return NaN. Finite inputs beyond about 1e154 in magnitude can overflow
// the sum of squares to inf, as in any double-precision computation.
class Moments {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("MOM1");
  static constexpr uint16_t kVersion = 1;

  Moments() = default;

  void add(double x) {
    if (!(x - x == 0)) {  // NaN or infinite
      ++ignored_;
      return;
    }
    if (count_ == 0) {
      shift_ = x;
      min_ = max_ = x;
    } else {
      if (x < min_) min_ = x;
      if (x > max_) max_ = x;
    }
    ++count_;
    const double y = x - shift_;
    const double delta = y - mean_shifted_;
    mean_shifted_ += delta / static_cast<double>(count_);
    neumaier_add(&m2_, &m2_comp_, delta * (y - mean_shifted_));
    neumaier_add(&sum_, &sum_comp_, x);
  }

  // Combines `other` into this summary: afterwards this equals (up to rounding) the summary of
  // the concatenation of both streams.
  void merge(const Moments& other);

  uint64_t count() const { return count_; }
  uint64_t ignored() const { return ignored_; }
  double sum() const { return sum_ + sum_comp_; }
  double mean() const { return count_ == 0 ? kNaN : sum() / static_cast<double>(count_); }
  // Population variance: sum of squared deviations / count.
  double variance() const { return count_ == 0 ? kNaN : m2() / static_cast<double>(count_); }
  // Sample (Bessel-corrected) variance: / (count - 1).
  double sample_variance() const {
    return count_ < 2 ? kNaN : m2() / static_cast<double>(count_ - 1);
  }
  double stddev() const;
  double sample_stddev() const;
  double min() const { return count_ == 0 ? kNaN : min_; }
  double max() const { return count_ == 0 ? kNaN : max_; }

  std::string serialize() const;
  static Result<Moments> deserialize(std::string_view bytes);

 private:
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  double m2() const { return m2_ + m2_comp_; }

  // Neumaier's compensated summation: *s + *c carries the sum with the rounding error of each
  // addition kept in *c.
  static void neumaier_add(double* s, double* c, double x) {
    const double t = *s + x;
    if ((*s < 0 ? -*s : *s) >= (x < 0 ? -x : x)) {
      *c += (*s - t) + x;
    } else {
      *c += (x - t) + *s;
    }
    *s = t;
  }

  uint64_t count_ = 0;
  uint64_t ignored_ = 0;
  double shift_ = 0;         // first value seen; the Welford state is over x - shift_
  double mean_shifted_ = 0;  // mean of x - shift_
  double m2_ = 0;            // sum of squared deviations from the mean: m2_ + m2_comp_
  double m2_comp_ = 0;
  double sum_ = 0;  // Neumaier sum: sum_ + sum_comp_
  double sum_comp_ = 0;
  double min_ = 0;
  double max_ = 0;
};

// Ewma: exponentially weighted moving average, value <- value + alpha * (x - value), the first
// value taken as is. O(1) per add().
//
// Guarantee: value() is the EWMA of the finite inputs in arrival order (non-finite inputs are
// counted in ignored() and skipped). There is no merge(): an EWMA depends on the interleaving
// of its inputs, so two partial EWMAs over disjoint sub-streams cannot be combined into the EWMA
// of the merged stream; keep one Ewma per key on one worker (key_by) instead. serialize() exists
// for checkpoints.
class Ewma {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("EWM1");
  static constexpr uint16_t kVersion = 1;

  // REQUIRES: 0 < alpha <= 1 (else throws std::invalid_argument: a configuration error).
  explicit Ewma(double alpha);

  void add(double x) {
    if (!(x - x == 0)) {
      ++ignored_;
      return;
    }
    value_ = count_ == 0 ? x : value_ + alpha_ * (x - value_);
    ++count_;
  }

  double alpha() const { return alpha_; }
  uint64_t count() const { return count_; }
  uint64_t ignored() const { return ignored_; }
  // NaN when nothing was added.
  double value() const { return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : value_; }

  std::string serialize() const;
  static Result<Ewma> deserialize(std::string_view bytes);

 private:
  double alpha_;
  double value_ = 0;
  uint64_t count_ = 0;
  uint64_t ignored_ = 0;
};

}  // namespace spate
