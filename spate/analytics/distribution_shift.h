#pragma once
// DistributionShift: did the distribution of a categorical field change between two windows?
// Compares heavy-hitter summaries (item -> count with an error bound, as a Space-Saving sketch
// reports them; Metwally et al. 2005) by total variation and Jensen-Shannon distance, with a
// threshold that accounts for both the sketch's counting error and the sampling noise
// (Bretagnolle-Huber-Carol inequality; van der Vaart & Wellner 1996, Prop. A.6.6).
// Comparing windows is order-dependent (each is compared with the one before), so the stateful
// observe() side is not mergeable; merge the per-worker summaries of a window before comparing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

// A summary's count for one item: the true count f satisfies count - error <= f <= count
// (Space-Saving's guarantee; exact counts have error 0).
struct ItemCount {
  uint64_t count = 0;
  uint64_t error = 0;
};

// One window's categorical summary.
struct CategoryCounts {
  std::vector<std::pair<std::string, ItemCount>> items;  // distinct names
  uint64_t total = 0;  // N: events in the window (all items, listed or not)
  // Upper bound on the true count of any item NOT listed: for Space-Saving, the smallest
  // monitored count once the summary is full, 0 while it is not full (then it is exact).
  uint64_t unlisted_max = 0;
};

// An item whose estimated share of its window changed (shares in [0, 1]).
struct ShareChange {
  std::string item;
  double before = 0.0;
  double after = 0.0;
};

struct ShiftReport {
  bool shift = false;           // tv > threshold
  double tv = 0.0;              // estimated total variation distance over the cells, in [0, 1]
  double js = 0.0;              // Jensen-Shannon distance (sqrt of the base-2 divergence), [0, 1]
  double threshold = 0.0;       // sketch_error + sampling_error
  double sketch_error = 0.0;    // deterministic bound on |tv - tv of the exact window counts|
  double sampling_error = 0.0;  // (1 - alpha) bound on the tv of two samples of one distribution
  uint64_t cells = 0;           // K: tracked items + 1 ("other")
  std::vector<ShareChange> rising;   // largest share increases first (at most `top`)
  std::vector<ShareChange> falling;  // largest share decreases first (at most `top`)
};

struct DistributionShiftOptions {
  // False-alarm probability allowed by the sampling term.
  double alpha = 0.01;
  // How many rising / falling items to report.
  uint32_t top = 5;
  // An item gets its own cell only if, in at least one window, its certified share
  // (count - error) / N is at least this. Fewer cells: smaller error terms (both grow with K).
  double min_share = 0.0;
};

// How compare() decides (all shares are of the window's total N):
//  1. Cells. An item is *certified* in a window when it is listed and count - error >
//     unlisted_max and (count - error) / N >= min_share: its true count provably exceeds that of
//     any unlisted item. U = items certified in either window; every other item is lumped into
//     one "other" cell, so there are K = |U| + 1 cells.
//  2. Estimates. For u in U the true count lies in [count - error, count] if listed, else in
//     [0, unlisted_max]; the estimate is the interval's midpoint, so its share errs by at most
//     r_u = half-width / N. other = max(0, 1 - sum of estimated shares of U).
//  3. tv = 1/2 sum over the K cells |p_c - q_c|; js from the same shares renormalized.
//  4. Sketch error (deterministic). Let a_u, b_u be the share errors in the two windows. The
//     error of "other" is -sum a_u (clamping at 0 only moves it toward the truth, which is >= 0),
//     so |tv - tv_exact| <= 1/2 sum_cells (|a_c| + |b_c|) <= sum_U r_u(before) + sum_U r_u(after)
//     = sketch_error, where tv_exact is the same statistic over the same cells computed from the
//     true window counts.
//  5. Sampling error. Bretagnolle-Huber-Carol: for the empirical distribution of N i.i.d. draws
//     over K fixed cells, P(||p_hat - p||_1 >= t) <= 2^K exp(-N t^2 / 2). With alpha/2 for each
//     window and tv = ||.||_1 / 2:  s(N) = sqrt((K ln 2 + ln(2 / alpha)) / (2 N)), and
//     sampling_error = s(N_before) + s(N_after). If both windows are i.i.d. draws from one
//     distribution, tv_exact <= sampling_error with probability >= 1 - alpha (triangle
//     inequality through the common distribution).
//  6. shift = tv > sketch_error + sampling_error. Under "no change", a shift is reported with
//     probability <= alpha; a reported shift means the coarsened distributions differ by at
//     least tv - threshold (same confidence).
// Caveat on 5: the cells are chosen from the data (the certified heavy hitters), while BHC is
// stated for cells fixed in advance; the 2^K factor (a union bound over every set of cells) makes
// the bound conservative, and the tests measure the actual false-positive rate.
// Thread-safety: compare() is const and thread-safe; observe() needs one owner thread.
class DistributionShift {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("DSH1");
  static constexpr uint16_t kVersion = 1;

  // Throws std::invalid_argument for alpha outside (0, 1) or min_share outside [0, 1].
  explicit DistributionShift(DistributionShiftOptions options = {});
  static Status validate(const DistributionShiftOptions& options);

  // kInvalidArgument for an inconsistent window: total == 0, duplicate names, error > count,
  // count > total, unlisted_max > total, or certified counts summing above total.
  Result<ShiftReport> compare(const CategoryCounts& before, const CategoryCounts& after) const;

  // Compares `window` with the previous observed window (if any) and keeps it for the next call.
  // Returns whether a shift was detected (false for the first window). An invalid window is
  // rejected with kInvalidArgument and not kept.
  Result<bool> observe(CategoryCounts window);

  uint64_t windows() const { return windows_; }
  uint64_t detections() const { return detections_; }
  // The report of the latest comparison, and of the latest comparison that found a shift.
  const std::optional<ShiftReport>& last_report() const { return last_report_; }
  const std::optional<ShiftReport>& last_detection() const { return last_detection_; }
  const DistributionShiftOptions& options() const { return options_; }

  // Type tag "DSH1", version 1: options, counters, the previous window and both reports; layout
  // above DistributionShift::serialize() in the .cc.
  std::string serialize() const;
  // kCorruption for bad frames, invalid options or an inconsistent state.
  static Result<DistributionShift> deserialize(std::string_view bytes);

 private:
  DistributionShiftOptions options_;
  std::optional<CategoryCounts> previous_;
  uint64_t windows_ = 0;
  uint64_t detections_ = 0;
  std::optional<ShiftReport> last_report_;
  std::optional<ShiftReport> last_detection_;
};

// Checks one window (the kInvalidArgument cases of compare()).
Status validate_category_counts(const CategoryCounts& window);

}  // namespace spate
