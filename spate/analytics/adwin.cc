#include "spate/analytics/adwin.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace spate {

namespace {

constexpr std::string_view kAdwinName = "adwin";
// 2^63 values would overflow width_; no stream gets near it, a snapshot claiming it is corrupt.
constexpr size_t kMaxRows = 62;

bool finite(double v) { return std::isfinite(v); }

// 2^r and 2^-r for bucket rows (std::ldexp is an out-of-line libm call: too slow per update).
struct PowersOfTwo {
  double pow[kMaxRows + 2];
  double inv[kMaxRows + 2];
  constexpr PowersOfTwo() : pow(), inv() {
    double p = 1.0;
    for (size_t r = 0; r < kMaxRows + 2; ++r) {
      pow[r] = p;
      inv[r] = 1.0 / p;  // exact: a power of two
      p *= 2.0;
    }
  }
};
constexpr PowersOfTwo kPow2;

}  // namespace

void write_drift_event(ByteWriter& w, const DriftEvent& event) {
  w.varint(event.index);
  w.varint(event.start_index);
  w.f64(event.statistic);
  w.f64(event.threshold);
  w.f64(event.mean_before);
  w.f64(event.mean_after);
  w.u8(static_cast<uint8_t>(event.direction));
}

bool read_drift_event(ByteReader& r, std::string_view method, DriftEvent* event) {
  uint8_t dir = 0;
  if (!r.varint(&event->index) || !r.varint(&event->start_index) || !r.f64(&event->statistic) ||
      !r.f64(&event->threshold) || !r.f64(&event->mean_before) || !r.f64(&event->mean_after) ||
      !r.u8(&dir)) {
    return false;
  }
  if (dir > 1 || std::isnan(event->statistic) || std::isnan(event->threshold) ||
      event->start_index > event->index) {
    return false;
  }
  event->direction = static_cast<DriftDirection>(dir);
  event->method = method;
  return true;
}

Status Adwin::validate(const AdwinOptions& o) {
  if (!(o.delta > 0.0 && o.delta < 1.0)) return Status::invalid("adwin: delta must be in (0, 1)");
  if (o.max_buckets < 2) return Status::invalid("adwin: max_buckets must be >= 2");
  if (o.max_buckets > 1024) return Status::invalid("adwin: max_buckets must be <= 1024");
  if (o.clock == 0) return Status::invalid("adwin: clock must be >= 1");
  if (o.min_subwindow == 0) return Status::invalid("adwin: min_subwindow must be >= 1");
  return Status::ok();
}

Adwin::Adwin(AdwinOptions options) : options_(options), cap_(options.max_buckets + 1) {
  Status s = validate(options_);
  if (!s) throw std::invalid_argument(s.message());
}

size_t Adwin::bucket_count() const {
  size_t n = 0;
  for (const Row& r : rows_) n += r.count;
  return n;
}

void Adwin::add_row() {
  rows_.push_back(Row{});
  buckets_.resize(rows_.size() * cap_);
}

inline void Adwin::push_newest(size_t row, Bucket b) {
  if (row == rows_.size()) [[unlikely]] {
    add_row();
  }
  Row& r = rows_[row];
  slot(row, wrap(r.head + r.count)) = b;
  ++r.count;
}

inline Adwin::Bucket Adwin::pop_oldest(size_t row) {
  Row& r = rows_[row];
  Bucket b = slot(row, r.head);
  r.head = wrap(r.head + 1);
  --r.count;
  return b;
}

// Row r overflowing (M+1 buckets of 2^r values): its two oldest buckets merge into one bucket
// of 2^(r+1) values, which is newer than everything in row r+1.
void Adwin::compress() {
  for (size_t row = 0; row < rows_.size() && rows_[row].count > options_.max_buckets; ++row) {
    const double size = kPow2.pow[row];
    const double inv_size = kPow2.inv[row];
    Bucket a = pop_oldest(row);
    Bucket b = pop_oldest(row);
    const double d = (b.sum - a.sum) * inv_size;
    push_newest(row + 1, Bucket{a.sum + b.sum, a.m2 + b.m2 + d * d * size * 0.5});
  }
}

void Adwin::drop_oldest_bucket() {
  while (!rows_.empty() && rows_.back().count == 0) rows_.pop_back();
  if (rows_.empty()) return;
  const size_t row = rows_.size() - 1;
  pop_oldest(row);
  width_ -= uint64_t{1} << row;
  while (!rows_.empty() && rows_.back().count == 0) rows_.pop_back();
}

void Adwin::recompute_totals() {
  double n = 0.0;
  double mean = 0.0;
  double m2 = 0.0;
  double sum = 0.0;
  for (size_t row = rows_.size(); row-- > 0;) {
    const double size = kPow2.pow[row];
    const Row& r = rows_[row];
    for (uint32_t i = 0; i < r.count; ++i) {
      const Bucket& b = slot(row, wrap(r.head + i));
      const double bm = b.sum / size;
      const double total = n + size;
      const double d = bm - mean;
      mean += d * size / total;
      m2 += b.m2 + d * d * n * size / total;
      n = total;
      sum += b.sum;
    }
  }
  sum_ = sum;
  m2_ = std::max(0.0, m2);
}

double Adwin::eps_cut(double n0, double n1, double variance) const {
  const double m = 1.0 / (1.0 / n0 + 1.0 / n1);
  const double ln_n = std::max(1.0, std::log(n0 + n1));
  const double log_term = std::log(2.0 * ln_n / options_.delta);  // ln(2 / delta')
  return std::sqrt(2.0 / m * variance * log_term) + 2.0 / (3.0 * m) * log_term;
}

// The scan tests |mu0 - mu1| > eps_cut without divisions or square roots: with W = n0 + n1,
// 1/m = W / (n0 n1), L = ln(2 / delta'), A = 2 var(W) L and B = 2L / 3, multiplying by n0 n1 > 0
// gives  D > sqrt(A W n0 n1) + B W  where D = |s0 n1 - s1 n0| = |s0 W - S n0| (S = s0 + s1):
//   D - B W > 0  and  (D - B W)^2 > A W n0 n1.
bool Adwin::check_cuts() {
  bool changed = false;
  const uint64_t min_sub = options_.min_subwindow;
  while (width_ >= 2 * min_sub) {
    const double w = static_cast<double>(width_);
    const double variance = m2_ / w;
    const double log_term = std::log(2.0 * std::max(1.0, std::log(w)) / options_.delta);
    const double a_w = 2.0 * variance * log_term * w;  // A W
    const double b_w = 2.0 / 3.0 * log_term * w;       // B W
    // On the first pass of a detection every split is scanned and the most significant one
    // (largest |mu0 - mu1| / eps_cut) is reported; later passes stop at the first cut.
    bool cut = false;
    bool done = false;  // stop scanning: W1 too small for every later split, or cut found
    double best_ratio = 0.0;
    DriftEvent best;
    const double min_n = static_cast<double>(min_sub);
    double dn0 = 0.0;  // counts are exact in a double up to 2^53
    double s0 = 0.0;
    // Oldest bucket first: W0 grows, W1 shrinks.
    for (size_t row = rows_.size(); row-- > 0 && !done;) {
      const double size = kPow2.pow[row];
      const Row& r = rows_[row];
      for (uint32_t i = 0; i < r.count; ++i) {
        dn0 += size;
        s0 += slot(row, wrap(r.head + i)).sum;
        const double dn1 = w - dn0;
        if (dn1 < min_n) {
          done = true;
          break;
        }
        if (dn0 < min_n) continue;
        const double excess = std::abs(s0 * w - sum_ * dn0) - b_w;
        if (excess <= 0.0 || excess * excess <= a_w * dn0 * dn1) continue;
        cut = true;
        if (changed) {
          done = true;
          break;
        }
        const double mu0 = s0 / dn0;
        const double mu1 = (sum_ - s0) / dn1;
        const double diff = std::abs(mu0 - mu1);
        const double eps = eps_cut(dn0, dn1, variance);
        if (diff > best_ratio * eps) {
          best_ratio = diff / eps;
          best.index = updates_;
          best.start_index = updates_ - static_cast<uint64_t>(dn1) + 1;
          best.statistic = diff;
          best.threshold = eps;
          best.mean_before = mu0;
          best.mean_after = mu1;
          best.direction = mu1 > mu0 ? DriftDirection::kUp : DriftDirection::kDown;
          best.method = kAdwinName;
        }
      }
    }
    if (!cut) break;
    if (!changed) last_ = best;
    changed = true;
    drop_oldest_bucket();
    // Subtracting the dropped bucket from the running totals would accumulate rounding error
    // (catastrophically when old values were large); recompute them from the buckets instead.
    recompute_totals();
  }
  if (changed) ++detections_;
  return changed;
}

bool Adwin::update(double x) {
  if (!finite(x)) return false;
  ++updates_;
  ++width_;
  const double old_mean = width_ == 1 ? 0.0 : sum_ / static_cast<double>(width_ - 1);
  sum_ += x;
  const double new_mean = sum_ / static_cast<double>(width_);
  m2_ += (x - old_mean) * (x - new_mean);
  push_newest(0, Bucket{x, 0.0});
  if (rows_[0].count > options_.max_buckets) compress();
  if (++since_check_ < options_.clock) return false;  // no 64-bit modulo per update
  since_check_ = 0;
  return check_cuts();
}

// Payload v1: f64 delta, u32 max_buckets, u32 clock, u32 min_subwindow,
// varint updates, varint detections, varint width, f64 sum, f64 m2,
// varint rows, then per row (row 0 first): varint count, count x (f64 sum, f64 m2) oldest first,
// u8 has_last, [drift event].
std::string Adwin::serialize() const {
  ByteWriter w;
  w.reserve(64 + bucket_count() * 16);
  w.f64(options_.delta);
  w.u32(options_.max_buckets);
  w.u32(options_.clock);
  w.u32(options_.min_subwindow);
  w.varint(updates_);
  w.varint(detections_);
  w.varint(width_);
  w.f64(sum_);
  w.f64(m2_);
  w.varint(rows_.size());
  for (size_t row = 0; row < rows_.size(); ++row) {
    const Row& r = rows_[row];
    w.varint(r.count);
    for (uint32_t i = 0; i < r.count; ++i) {
      const Bucket& b = slot(row, wrap(r.head + i));
      w.f64(b.sum);
      w.f64(b.m2);
    }
  }
  w.u8(last_ ? 1 : 0);
  if (last_) write_drift_event(w, *last_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<Adwin> Adwin::deserialize(std::string_view bytes) {
  Result<std::string_view> payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  const Status bad = Status::corruption("adwin: malformed snapshot");
  AdwinOptions o;
  if (!r.f64(&o.delta) || !r.u32(&o.max_buckets) || !r.u32(&o.clock) || !r.u32(&o.min_subwindow)) {
    return bad;
  }
  if (Status s = validate(o); !s)
    return Status::corruption("adwin: snapshot options: " + s.message());
  Adwin a(o);
  uint64_t rows = 0;
  if (!r.varint(&a.updates_) || !r.varint(&a.detections_) || !r.varint(&a.width_) ||
      !r.f64(&a.sum_) || !r.f64(&a.m2_) || !r.varint(&rows)) {
    return bad;
  }
  if (!finite(a.sum_) || !finite(a.m2_) || a.m2_ < 0.0 || rows > kMaxRows ||
      a.width_ > a.updates_ || a.detections_ > a.updates_) {
    return bad;
  }
  uint64_t width = 0;
  for (size_t row = 0; row < rows; ++row) {
    uint64_t count = 0;
    if (!r.varint(&count) || count > o.max_buckets) return bad;
    if (count == 0 && row + 1 == rows) return bad;  // the top row is never empty
    if (count > r.remaining() / 16) return bad;
    a.add_row();
    for (uint64_t i = 0; i < count; ++i) {
      Bucket b;
      if (!r.f64(&b.sum) || !r.f64(&b.m2) || !finite(b.sum) || !finite(b.m2) || b.m2 < 0.0) {
        return bad;
      }
      a.slot(row, static_cast<uint32_t>(i)) = b;
    }
    a.rows_.back().count = static_cast<uint32_t>(count);
    width += count << row;
  }
  if (width != a.width_) return bad;
  a.since_check_ = static_cast<uint32_t>(a.updates_ % o.clock);
  uint8_t has_last = 0;
  // Every detection sets the last one, which is never cleared: one exists iff detections > 0.
  if (!r.u8(&has_last) || has_last > 1 || (has_last == 1) != (a.detections_ > 0)) return bad;
  if (has_last) {
    DriftEvent e;
    if (!read_drift_event(r, kAdwinName, &e) || e.index > a.updates_) return bad;
    a.last_ = e;
  }
  if (!r.at_end()) return bad;
  return a;
}

}  // namespace spate
