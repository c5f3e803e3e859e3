#pragma once
// Page-Hinkley change detector (Page, "Continuous inspection schemes", Biometrika 1954; the
// streaming form with a forgetting factor as in Mouss et al. 2004 and MOA's PageHinkleyDM).
// Sequential, therefore not mergeable: see the note in adwin.h.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "spate/analytics/adwin.h"  // DriftEvent, DriftDirection, DriftSides
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

struct PageHinkleyOptions {
  // Magnitude of change tolerated (in the data's units): the statistic drifts down by delta per
  // value while the mean is stable. For a shift of size d the classical choice is d/2.
  double delta = 0.005;
  // Alarm threshold lambda (data units x values). Larger: fewer false alarms, longer delay.
  double lambda = 50.0;
  // Forgetting factor alpha in (0, 1]: the statistics g+ and g- (below) are multiplied by alpha
  // each step, so old evidence fades; 1 is Page's original test.
  double alpha = 1.0 - 0.0001;
  // No alarm before this many values since the last reset.
  uint64_t min_instances = 30;
  // Which changes raise an alarm: increases, decreases or both.
  DriftSides sides = DriftSides::kBoth;
};

// PageHinkley tracks, since its last reset (n values, running mean xbar_t including x_t),
// Page's statistics in their recursive form
//   g+_t = max(0, alpha g+_{t-1} + (x_t - xbar_t - delta))   (increase)
//   g-_t = max(0, alpha g-_{t-1} - (x_t - xbar_t + delta))   (decrease)
// and raises an alarm when g+ or g- exceeds lambda (after min_instances values). With alpha = 1,
// g+ = U_t - min_s U_s for U_t = sum (x_s - xbar_s - delta): the classical Page-Hinkley test.
// The forgetting factor discounts the statistic (the evidence accumulated since it last left
// zero), not the raw cumulative sum U: discounting U (alpha U + ...) while tracking its minimum
// cancels the -delta drift once |U| reaches delta / (1 - alpha), after which U - min U is a
// driftless walk and false alarms come regularly on long streams (measured on 10M N(0,1) values
// with delta = 0.5, lambda = 10, alpha = 0.9999: ~2000 alarms that way, 165 with this form,
// ~140 expected from the CUSUM theory below).
// The event's statistic is that g, threshold = lambda; the last time g was zero is the
// change-point estimate: start_index is the value after it, mean_before/mean_after are the means
// of the values (since the reset) up to it and after it; mean_before is NaN when g never
// returned to zero. After an alarm the detector resets and learns the new mean.
// Guarantee (Page 1954; with alpha = 1 and a known mean it is a CUSUM with reference delta, and
// alpha < 1 only lowers the statistic): under a stable mean with standard deviation sigma the
// expected run length to a false alarm is at least about cusum_average_run_length(delta/sigma,
// lambda/sigma, 0) (cusum.h), which grows like exp(2 delta lambda / sigma^2); after a shift of
// d > delta the expected delay is about lambda / (d - delta) values. Non-finite values are
// ignored (not counted).
// Thread-safety: none; one owner thread. Not mergeable.
class PageHinkley {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("PHK1");
  static constexpr uint16_t kVersion = 1;

  // Throws std::invalid_argument for delta < 0, lambda <= 0, alpha outside (0, 1] or a
  // non-finite value (configuration errors).
  explicit PageHinkley(PageHinkleyOptions options = {});
  static Status validate(const PageHinkleyOptions& options);

  // Adds one value; returns true when this update raised an alarm.
  bool update(double x);

  // Values since the last reset and their mean.
  uint64_t count() const { return n_; }
  double mean() const { return mean_; }
  // The two Page-Hinkley statistics g+ and g- as of the last update (0 right after a reset).
  double statistic_up() const { return up_; }
  double statistic_down() const { return down_; }
  uint64_t updates() const { return updates_; }
  uint64_t detections() const { return detections_; }
  const std::optional<DriftEvent>& last_detection() const { return last_; }
  const PageHinkleyOptions& options() const { return options_; }

  // Type tag "PHK1", version 1; payload layout above PageHinkley::serialize() in the .cc.
  std::string serialize() const;
  // kCorruption for bad frames, invalid options or an inconsistent state.
  static Result<PageHinkley> deserialize(std::string_view bytes);

 private:
  void reset();

  PageHinkleyOptions options_;
  uint64_t n_ = 0;          // values since reset
  double mean_ = 0.0;       // their running mean
  double prefix_ = 0.0;     // their sum
  double up_ = 0.0;         // g+
  uint64_t up_zero_n_ = 0;  // n_ when g+ was last zero, and the sum up to then
  double up_zero_prefix_ = 0.0;
  double down_ = 0.0;  // g-
  uint64_t down_zero_n_ = 0;
  double down_zero_prefix_ = 0.0;
  uint64_t updates_ = 0;
  uint64_t detections_ = 0;
  std::optional<DriftEvent> last_;
};

}  // namespace spate
