#pragma once
// ADWIN: adaptive windowing change detector (Bifet & Gavaldà, "Learning from time-changing data
// with adaptive windowing", SDM 2007), in its ADWIN2 form: the window is kept as an exponential
// histogram of buckets, so it costs O(M log W) memory and amortized O(log W) time per update.
//
// This header also defines DriftEvent and DriftDirection, the event shape shared by every
// sequential drift detector in spate/analytics (Adwin, PageHinkley, Cusum).
//
// Sequential detectors are not mergeable: their verdict depends on the order of the values, and
// two detectors fed disjoint parts of a stream have no combined state that equals one detector
// fed the interleaving. Run one detector per ordered stream (per key, after key_by) and merge
// nothing; checkpoint them with serialize()/deserialize().

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

enum class DriftDirection : uint8_t { kUp = 0, kDown = 1 };
// Which changes a two-sided detector reports.
enum class DriftSides : uint8_t { kUp = 0, kDown = 1, kBoth = 2 };

// One detected change. Fields a detector cannot provide are NaN (means) or 0 (start_index).
struct DriftEvent {
  // Number of accepted updates (1-based) at the moment the alarm was raised.
  uint64_t index = 0;
  // The detector's estimate of the first index of the new regime (1-based; 0 if unknown).
  uint64_t start_index = 0;
  // The test statistic and the threshold it exceeded, in the detector's own units (documented
  // on each detector).
  double statistic = 0.0;
  double threshold = 0.0;
  // Means of the values before and after the estimated change point.
  double mean_before = std::numeric_limits<double>::quiet_NaN();
  double mean_after = std::numeric_limits<double>::quiet_NaN();
  DriftDirection direction = DriftDirection::kUp;
  // "adwin", "page_hinkley" or "cusum" (static storage; never dangles).
  std::string_view method;
};

inline const char* drift_direction_name(DriftDirection d) {
  return d == DriftDirection::kUp ? "up" : "down";
}

// Payload helpers shared by the detectors' serialize()/deserialize(): every field but `method`,
// which the reader sets to its own name. read_drift_event() returns false on truncated or
// invalid bytes (unknown direction, NaN statistic) and then leaves *event unspecified.
void write_drift_event(ByteWriter& w, const DriftEvent& event);
bool read_drift_event(ByteReader& r, std::string_view method, DriftEvent* event);

struct AdwinOptions {
  // Confidence: a false cut happens with probability at most delta per check, union-bounded
  // over the cut points tested (the paper's delta' = delta / ln W).
  double delta = 0.002;
  // Buckets kept per row of the exponential histogram (the paper's M); >= 2. Larger M gives
  // finer cut points (buckets hold at most W/M values) at O(M log W) memory.
  uint32_t max_buckets = 5;
  // Cut points are tested every `clock` accepted updates (amortizes the O(M log W) scan).
  uint32_t clock = 32;
  // Each side of a cut must hold at least this many values. The bound below uses a normal
  // approximation that is meaningless on one or two values; 5 keeps single outliers from
  // cutting the window.
  uint32_t min_subwindow = 5;
};

// Adwin keeps the longest recent window W whose every split W = W0 · W1 (W0 older) at a bucket
// boundary satisfies |mean(W0) - mean(W1)| <= eps_cut, with (the paper's variance-based bound)
//   m = 1 / (1/n0 + 1/n1),  delta' = delta / ln(n),
//   eps_cut = sqrt(2/m * var(W) * ln(2/delta')) + 2/(3m) * ln(2/delta').
// When a split violates it the oldest bucket is dropped and the test repeats; update() then
// returns true and records a DriftEvent for the most significant violating split (largest
// |mean(W0) - mean(W1)| / eps_cut): statistic = |mean(W0) - mean(W1)|, threshold = eps_cut,
// mean_before/mean_after = the two sub-window means, start_index = first index of that W1.
// One check may drop several buckets; later checks keep shrinking while splits still violate.
// Guarantee (Bifet & Gavaldà 2007, Thm. 3.1, with the normal approximation the variance form
// rests on, at ADWIN2's bucket-boundary cut points): while the mean is stationary a check
// shrinks the window with probability at most delta; once the means of two sub-windows differ
// by more than 2 eps_cut, a check shrinks the window with probability >= 1 - delta. The paper
// assumes values in [0, 1]; that range enters only the 2/(3m) term, which is relatively
// negligible for data on larger scales (min_subwindow guards the tiny sub-windows).
// Non-finite values are ignored (not counted). Memory: O(M log2 W) buckets.
// Thread-safety: none; one owner thread. Not mergeable (see the file comment).
class Adwin {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("ADW1");
  static constexpr uint16_t kVersion = 1;

  // Throws std::invalid_argument for delta outside (0, 1), max_buckets < 2, clock == 0 or
  // min_subwindow == 0 (configuration errors).
  explicit Adwin(AdwinOptions options = {});
  // The same checks as a value (used by deserialize()).
  static Status validate(const AdwinOptions& options);

  // Adds one value; returns true when this update detected a change (window shrunk).
  bool update(double x);

  // Current window: number of values, mean and (population) variance. 0 / 0 when empty.
  uint64_t width() const { return width_; }
  double mean() const { return width_ == 0 ? 0.0 : sum_ / static_cast<double>(width_); }
  double variance() const { return width_ == 0 ? 0.0 : m2_ / static_cast<double>(width_); }
  // Accepted updates since construction, and detections so far.
  uint64_t updates() const { return updates_; }
  uint64_t detections() const { return detections_; }
  const std::optional<DriftEvent>& last_detection() const { return last_; }
  // Buckets currently held (memory is proportional to this).
  size_t bucket_count() const;
  const AdwinOptions& options() const { return options_; }

  // Versioned, checksummed snapshot of the whole state (type tag "ADW1", version 1); the
  // payload layout is written above Adwin::serialize() in adwin.cc.
  std::string serialize() const;
  // kCorruption for bad frames, invalid options or an inconsistent state.
  static Result<Adwin> deserialize(std::string_view bytes);

 private:
  struct Bucket {
    double sum = 0.0;
    double m2 = 0.0;  // sum of squared deviations from the bucket mean
  };
  // Row r holds buckets of 2^r values in a ring of capacity max_buckets + 1 (the extra slot
  // holds the overflowing bucket until it is merged upward). Oldest first.
  struct Row {
    uint32_t head = 0;
    uint32_t count = 0;
  };

  Bucket& slot(size_t row, uint32_t i) { return buckets_[row * cap_ + i]; }
  const Bucket& slot(size_t row, uint32_t i) const { return buckets_[row * cap_ + i]; }
  uint32_t wrap(uint32_t i) const { return i >= cap_ ? i - cap_ : i; }
  void add_row();
  void push_newest(size_t row, Bucket b);
  Bucket pop_oldest(size_t row);
  void compress();
  void drop_oldest_bucket();
  // Recomputes sum_ and m2_ from the buckets (after a drop, instead of subtracting).
  void recompute_totals();
  bool check_cuts();
  double eps_cut(double n0, double n1, double variance) const;

  AdwinOptions options_;
  uint32_t cap_;
  std::vector<Row> rows_;
  std::vector<Bucket> buckets_;  // rows_.size() * cap_ slots
  uint64_t width_ = 0;
  double sum_ = 0.0;
  double m2_ = 0.0;
  uint64_t updates_ = 0;
  uint32_t since_check_ = 0;  // updates_ % clock (derived, not serialized)
  uint64_t detections_ = 0;
  std::optional<DriftEvent> last_;
};

}  // namespace spate
