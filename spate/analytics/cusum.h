#pragma once
// Two-sided tabular CUSUM (Page, "Continuous inspection schemes", Biometrika 1954; tabular form
// and run-length approximations as in Montgomery, "Introduction to Statistical Quality Control",
// and Siegmund, "Sequential Analysis", 1985). Sequential, therefore not mergeable: see adwin.h.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "spate/analytics/adwin.h"  // DriftEvent, DriftDirection, DriftSides
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

struct CusumOptions {
  // Reference value (slack) k and decision interval h, both in units of sigma. k = d/2 is
  // optimal for a shift of d sigmas; k = 0.5, h = 5 gives ARL0 ~ 930 values per side (~465
  // two-sided: about 10 false alarms per 5000 in-control values) and detects a 1-sigma shift in
  // ~10 values; h = 10 gives ARL0 ~ 7e4 two-sided and a ~20-value delay (Siegmund's
  // approximation, see cusum_average_run_length).
  double k = 0.5;
  double h = 5.0;
  // Values used to estimate whichever of target mean / sigma is not given. Estimation costs
  // in-control run length: with mean error e (sigma units) and sigma_hat = sigma / r the scheme
  // acts like k' = (k - e) r, h' = h r on one side. 100 values (e ~ 0.1, r ~ 1 +- 0.07 at one
  // s.d.) can cut ARL0 several-fold for h = 10; 1000 values keep it within ~2x of the
  // known-target value. Use a long warm-up (or give the target) when false alarms are costly.
  uint64_t warmup = 100;
  // The in-control mean and standard deviation, if known (NaN = estimate from the warm-up).
  double target_mean = std::numeric_limits<double>::quiet_NaN();
  double target_sigma = std::numeric_limits<double>::quiet_NaN();
  DriftSides sides = DriftSides::kBoth;
};

// Cusum standardizes z_t = (x_t - mu0) / sigma and keeps
//   C+_t = max(0, C+_{t-1} + z_t - k),   C-_t = max(0, C-_{t-1} - z_t - k),
// raising an alarm when C+ or C- exceeds h. The event's statistic is that C (sigma units),
// threshold = h, mean_before = mu0, mean_after = the mean of the values since that C last left
// zero (start_index = the first of them; Montgomery's estimate of the new level).
// After an alarm both sums reset to 0; an estimated target is then re-estimated from a fresh
// warm-up (the process has a new level), a given target is kept. No alarm during a warm-up.
// A warm-up with zero spread (constant values) gives sigma = max(|mu0| * 1e-12, 1e-300), so any
// later deviation alarms at once.
// Guarantee (Page 1954; Siegmund 1985 approximation): with i.i.d. N(mu0, sigma^2) values and a
// known target, each side's expected run length to a false alarm is cusum_average_run_length(k,
// h, 0) and the expected delay for a shift of d sigmas is cusum_average_run_length(k, h, d).
// Non-finite values are ignored (not counted). Thread-safety: none; one owner thread.
// Not mergeable.
class Cusum {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("CUS1");
  static constexpr uint16_t kVersion = 1;

  // Throws std::invalid_argument for k < 0, h <= 0, warmup < 2 when sigma must be estimated,
  // warmup == 0 when the mean must be estimated, target_sigma <= 0 (configuration errors).
  explicit Cusum(CusumOptions options = {});
  static Status validate(const CusumOptions& options);

  // Adds one value; returns true when this update raised an alarm.
  bool update(double x);

  bool warming_up() const { return warm_n_ < warmup_needed_; }
  // The in-control mean and sigma in use (meaningless while warming_up()).
  double target_mean() const { return mu0_; }
  double target_sigma() const { return sigma_; }
  double statistic_up() const { return c_up_; }
  double statistic_down() const { return c_down_; }
  uint64_t updates() const { return updates_; }
  uint64_t detections() const { return detections_; }
  const std::optional<DriftEvent>& last_detection() const { return last_; }
  const CusumOptions& options() const { return options_; }

  // Type tag "CUS1", version 1; payload layout above Cusum::serialize() in the .cc.
  std::string serialize() const;
  // kCorruption for bad frames, invalid options or an inconsistent state.
  static Result<Cusum> deserialize(std::string_view bytes);

 private:
  uint64_t needed_warmup() const;
  void start_warmup();
  void finish_warmup();

  CusumOptions options_;
  // Warm-up (Welford).
  uint64_t warm_n_ = 0;
  double warm_mean_ = 0.0;
  double warm_m2_ = 0.0;
  double mu0_ = 0.0;
  double sigma_ = 1.0;
  double inv_sigma_ = 1.0;      // 1 / sigma_ (derived, not serialized)
  uint64_t warmup_needed_ = 0;  // needed_warmup(), cached for the hot path
  double c_up_ = 0.0;
  double c_down_ = 0.0;
  uint64_t up_n_ = 0;  // values since C+ last left zero, and their sum
  double up_sum_ = 0.0;
  uint64_t down_n_ = 0;
  double down_sum_ = 0.0;
  uint64_t updates_ = 0;
  uint64_t detections_ = 0;
  std::optional<DriftEvent> last_;
};

// Siegmund's approximation of the expected run length of a one-sided CUSUM with reference k and
// decision interval h (sigma units) when the standardized mean is shifted by `shift` sigmas:
//   D = shift - k, b = h + 1.166,
//   ARL = (exp(-2 D b) + 2 D b - 1) / (2 D^2)   (D != 0),   ARL = b^2   (D == 0).
// ARL(k, h, 0) is the in-control run length (false-alarm spacing); for a two-sided scheme
// 1/ARL = 1/ARL+ + 1/ARL-. Accurate to a few percent for the usual k, h.
double cusum_average_run_length(double k, double h, double shift);

}  // namespace spate
