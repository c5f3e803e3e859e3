#include "spate/analytics/cusum.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace spate {

namespace {

constexpr std::string_view kCusumName = "cusum";
// |z| is clamped here so that a zero-spread warm-up (sigma at its floor) cannot push the sums to
// infinity; any |z| this large raises an alarm at once anyway.
constexpr double kMaxAbsZ = 1e15;

bool is_given(double v) { return !std::isnan(v); }

}  // namespace

double cusum_average_run_length(double k, double h, double shift) {
  const double d = shift - k;
  const double b = h + 1.166;
  if (std::abs(d) < 1e-9) return b * b;
  return (std::exp(-2.0 * d * b) + 2.0 * d * b - 1.0) / (2.0 * d * d);
}

Status Cusum::validate(const CusumOptions& o) {
  if (!(std::isfinite(o.k) && o.k >= 0.0)) return Status::invalid("cusum: k must be finite, >= 0");
  if (!(std::isfinite(o.h) && o.h > 0.0)) return Status::invalid("cusum: h must be finite, > 0");
  if (std::isinf(o.target_mean)) return Status::invalid("cusum: target_mean must be finite");
  if (is_given(o.target_sigma) && !(std::isfinite(o.target_sigma) && o.target_sigma > 0.0)) {
    return Status::invalid("cusum: target_sigma must be finite and > 0");
  }
  if (!is_given(o.target_sigma) && o.warmup < 2) {
    return Status::invalid("cusum: warmup must be >= 2 to estimate sigma");
  }
  if (!is_given(o.target_mean) && o.warmup < 1) {
    return Status::invalid("cusum: warmup must be >= 1 to estimate the mean");
  }
  if (static_cast<uint8_t>(o.sides) > 2) return Status::invalid("cusum: bad sides");
  return Status::ok();
}

Cusum::Cusum(CusumOptions options) : options_(options) {
  Status s = validate(options_);
  if (!s) throw std::invalid_argument(s.message());
  warmup_needed_ = needed_warmup();
  start_warmup();
}

uint64_t Cusum::needed_warmup() const {
  return is_given(options_.target_mean) && is_given(options_.target_sigma) ? 0 : options_.warmup;
}

void Cusum::start_warmup() {
  warm_n_ = 0;
  warm_mean_ = 0.0;
  warm_m2_ = 0.0;
  if (needed_warmup() == 0) {
    mu0_ = options_.target_mean;
    sigma_ = options_.target_sigma;
    inv_sigma_ = 1.0 / sigma_;
  }
}

void Cusum::finish_warmup() {
  mu0_ = is_given(options_.target_mean) ? options_.target_mean : warm_mean_;
  if (is_given(options_.target_sigma)) {
    sigma_ = options_.target_sigma;
  } else {
    sigma_ = std::sqrt(warm_m2_ / static_cast<double>(warm_n_ - 1));
    if (!(sigma_ > 0.0) || !std::isfinite(sigma_)) {
      sigma_ = std::max(std::abs(mu0_) * 1e-12, 1e-300);
    }
  }
  inv_sigma_ = 1.0 / sigma_;
}

bool Cusum::update(double x) {
  if (!std::isfinite(x)) return false;
  ++updates_;
  if (warming_up()) {
    ++warm_n_;
    const double d = x - warm_mean_;
    warm_mean_ += d / static_cast<double>(warm_n_);
    warm_m2_ += d * (x - warm_mean_);
    if (warm_n_ == warmup_needed_) finish_warmup();
    return false;
  }
  const double z = std::clamp((x - mu0_) * inv_sigma_, -kMaxAbsZ, kMaxAbsZ);
  c_up_ += z - options_.k;
  if (c_up_ > 0.0) {
    ++up_n_;
    up_sum_ += x;
  } else {
    c_up_ = 0.0;
    up_n_ = 0;
    up_sum_ = 0.0;
  }
  c_down_ += -z - options_.k;
  if (c_down_ > 0.0) {
    ++down_n_;
    down_sum_ += x;
  } else {
    c_down_ = 0.0;
    down_n_ = 0;
    down_sum_ = 0.0;
  }
  const bool alarm_up = options_.sides != DriftSides::kDown && c_up_ > options_.h;
  const bool alarm_down = options_.sides != DriftSides::kUp && c_down_ > options_.h;
  if (!alarm_up && !alarm_down) return false;

  // C+ > 0 and C- > 0 at once needs k == 0; then report the larger.
  const bool up = alarm_up && (!alarm_down || c_up_ >= c_down_);
  const uint64_t n = up ? up_n_ : down_n_;
  DriftEvent e;
  e.index = updates_;
  e.start_index = updates_ - n + 1;
  e.statistic = up ? c_up_ : c_down_;
  e.threshold = options_.h;
  e.mean_before = mu0_;
  e.mean_after = (up ? up_sum_ : down_sum_) / static_cast<double>(n);
  e.direction = up ? DriftDirection::kUp : DriftDirection::kDown;
  e.method = kCusumName;
  last_ = e;
  ++detections_;
  c_up_ = c_down_ = 0.0;
  up_n_ = down_n_ = 0;
  up_sum_ = down_sum_ = 0.0;
  if (warmup_needed_ > 0) start_warmup();
  return true;
}

// Payload v1: f64 k, f64 h, varint warmup, f64 target_mean, f64 target_sigma (NaN = estimate),
// u8 sides, varint warm_n, f64 warm_mean, f64 warm_m2, f64 mu0, f64 sigma, f64 c_up,
// f64 c_down, varint up_n, f64 up_sum, varint down_n, f64 down_sum, varint updates,
// varint detections, u8 has_last, [drift event].
std::string Cusum::serialize() const {
  ByteWriter w;
  w.reserve(192);
  w.f64(options_.k);
  w.f64(options_.h);
  w.varint(options_.warmup);
  w.f64(options_.target_mean);
  w.f64(options_.target_sigma);
  w.u8(static_cast<uint8_t>(options_.sides));
  w.varint(warm_n_);
  w.f64(warm_mean_);
  w.f64(warm_m2_);
  w.f64(mu0_);
  w.f64(sigma_);
  w.f64(c_up_);
  w.f64(c_down_);
  w.varint(up_n_);
  w.f64(up_sum_);
  w.varint(down_n_);
  w.f64(down_sum_);
  w.varint(updates_);
  w.varint(detections_);
  w.u8(last_ ? 1 : 0);
  if (last_) write_drift_event(w, *last_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<Cusum> Cusum::deserialize(std::string_view bytes) {
  Result<std::string_view> payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  const Status bad = Status::corruption("cusum: malformed snapshot");
  CusumOptions o;
  uint8_t sides = 0;
  if (!r.f64(&o.k) || !r.f64(&o.h) || !r.varint(&o.warmup) || !r.f64(&o.target_mean) ||
      !r.f64(&o.target_sigma) || !r.u8(&sides) || sides > 2) {
    return bad;
  }
  o.sides = static_cast<DriftSides>(sides);
  if (Status s = validate(o); !s)
    return Status::corruption("cusum: snapshot options: " + s.message());
  Cusum c(o);
  if (!r.varint(&c.warm_n_) || !r.f64(&c.warm_mean_) || !r.f64(&c.warm_m2_) || !r.f64(&c.mu0_) ||
      !r.f64(&c.sigma_) || !r.f64(&c.c_up_) || !r.f64(&c.c_down_) || !r.varint(&c.up_n_) ||
      !r.f64(&c.up_sum_) || !r.varint(&c.down_n_) || !r.f64(&c.down_sum_) ||
      !r.varint(&c.updates_) || !r.varint(&c.detections_)) {
    return bad;
  }
  for (double v :
       {c.warm_mean_, c.warm_m2_, c.mu0_, c.sigma_, c.c_up_, c.c_down_, c.up_sum_, c.down_sum_}) {
    if (!std::isfinite(v)) return bad;
  }
  if (c.warm_n_ > c.needed_warmup() || c.warm_m2_ < 0.0 || !(c.sigma_ > 0.0) || c.c_up_ < 0.0 ||
      c.c_down_ < 0.0 || (o.sides != DriftSides::kDown && c.c_up_ > o.h) ||
      (o.sides != DriftSides::kUp && c.c_down_ > o.h) || c.up_n_ > c.updates_ ||
      c.down_n_ > c.updates_ || c.detections_ > c.updates_ || c.warm_n_ > c.updates_) {
    return bad;
  }
  c.inv_sigma_ = 1.0 / c.sigma_;
  if (!std::isfinite(c.inv_sigma_)) return bad;
  uint8_t has_last = 0;
  // Every detection sets the last one, which is never cleared: one exists iff detections > 0.
  if (!r.u8(&has_last) || has_last > 1 || (has_last == 1) != (c.detections_ > 0)) return bad;
  if (has_last) {
    DriftEvent e;
    if (!read_drift_event(r, kCusumName, &e) || e.index > c.updates_) return bad;
    c.last_ = e;
  }
  if (!r.at_end()) return bad;
  return c;
}

}  // namespace spate
