#include "spate/analytics/page_hinkley.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace spate {

namespace {

constexpr std::string_view kPageHinkleyName = "page_hinkley";

double mean_of(double sum, uint64_t n) {
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(n);
}

}  // namespace

Status PageHinkley::validate(const PageHinkleyOptions& o) {
  if (!(std::isfinite(o.delta) && o.delta >= 0.0)) {
    return Status::invalid("page_hinkley: delta must be finite and >= 0");
  }
  if (!(std::isfinite(o.lambda) && o.lambda > 0.0)) {
    return Status::invalid("page_hinkley: lambda must be finite and > 0");
  }
  if (!(o.alpha > 0.0 && o.alpha <= 1.0)) {
    return Status::invalid("page_hinkley: alpha must be in (0, 1]");
  }
  if (static_cast<uint8_t>(o.sides) > 2) return Status::invalid("page_hinkley: bad sides");
  return Status::ok();
}

PageHinkley::PageHinkley(PageHinkleyOptions options) : options_(options) {
  Status s = validate(options_);
  if (!s) throw std::invalid_argument(s.message());
}

void PageHinkley::reset() {
  n_ = 0;
  mean_ = 0.0;
  prefix_ = 0.0;
  up_ = up_zero_prefix_ = 0.0;
  up_zero_n_ = 0;
  down_ = down_zero_prefix_ = 0.0;
  down_zero_n_ = 0;
}

bool PageHinkley::update(double x) {
  if (!std::isfinite(x)) return false;
  ++updates_;
  ++n_;
  prefix_ += x;
  // From the sum rather than mean += (x - mean) / n: keeps the division off the loop-carried
  // dependency chain (same accuracy for the sums a detector sees between resets).
  mean_ = prefix_ / static_cast<double>(n_);
  const double dev = x - mean_;
  up_ = options_.alpha * up_ + (dev - options_.delta);
  if (up_ <= 0.0) {
    up_ = 0.0;
    up_zero_n_ = n_;
    up_zero_prefix_ = prefix_;
  }
  down_ = options_.alpha * down_ - (dev + options_.delta);
  if (down_ <= 0.0) {
    down_ = 0.0;
    down_zero_n_ = n_;
    down_zero_prefix_ = prefix_;
  }
  if (n_ < options_.min_instances) return false;

  const double ph_up = up_;
  const double ph_down = down_;
  const bool want_up = options_.sides != DriftSides::kDown;
  const bool want_down = options_.sides != DriftSides::kUp;
  const bool alarm_up = want_up && ph_up > options_.lambda;
  const bool alarm_down = want_down && ph_down > options_.lambda;
  if (!alarm_up && !alarm_down) return false;

  // Both sides at once needs delta == 0 and rounding; prefer the larger.
  const bool up = alarm_up && (!alarm_down || ph_up - options_.lambda >= ph_down - options_.lambda);
  DriftEvent e;
  e.index = updates_;
  e.threshold = options_.lambda;
  e.direction = up ? DriftDirection::kUp : DriftDirection::kDown;
  e.method = kPageHinkleyName;
  const uint64_t split_n = up ? up_zero_n_ : down_zero_n_;
  const double split_prefix = up ? up_zero_prefix_ : down_zero_prefix_;
  e.statistic = up ? ph_up : ph_down;
  e.start_index = updates_ - (n_ - split_n) + 1;
  e.mean_before = mean_of(split_prefix, split_n);
  e.mean_after = mean_of(prefix_ - split_prefix, n_ - split_n);
  last_ = e;
  ++detections_;
  reset();
  return true;
}

// Payload v1: f64 delta, f64 lambda, f64 alpha, varint min_instances, u8 sides,
// varint n, f64 mean, f64 prefix, f64 g_up, varint up_zero_n, f64 up_zero_prefix,
// f64 g_down, varint down_zero_n, f64 down_zero_prefix, varint updates, varint detections,
// u8 has_last, [drift event].
std::string PageHinkley::serialize() const {
  ByteWriter w;
  w.reserve(160);
  w.f64(options_.delta);
  w.f64(options_.lambda);
  w.f64(options_.alpha);
  w.varint(options_.min_instances);
  w.u8(static_cast<uint8_t>(options_.sides));
  w.varint(n_);
  w.f64(mean_);
  w.f64(prefix_);
  w.f64(up_);
  w.varint(up_zero_n_);
  w.f64(up_zero_prefix_);
  w.f64(down_);
  w.varint(down_zero_n_);
  w.f64(down_zero_prefix_);
  w.varint(updates_);
  w.varint(detections_);
  w.u8(last_ ? 1 : 0);
  if (last_) write_drift_event(w, *last_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<PageHinkley> PageHinkley::deserialize(std::string_view bytes) {
  Result<std::string_view> payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  const Status bad = Status::corruption("page_hinkley: malformed snapshot");
  PageHinkleyOptions o;
  uint8_t sides = 0;
  if (!r.f64(&o.delta) || !r.f64(&o.lambda) || !r.f64(&o.alpha) || !r.varint(&o.min_instances) ||
      !r.u8(&sides) || sides > 2) {
    return bad;
  }
  o.sides = static_cast<DriftSides>(sides);
  if (Status s = validate(o); !s) {
    return Status::corruption("page_hinkley: snapshot options: " + s.message());
  }
  PageHinkley p(o);
  if (!r.varint(&p.n_) || !r.f64(&p.mean_) || !r.f64(&p.prefix_) || !r.f64(&p.up_) ||
      !r.varint(&p.up_zero_n_) || !r.f64(&p.up_zero_prefix_) || !r.f64(&p.down_) ||
      !r.varint(&p.down_zero_n_) || !r.f64(&p.down_zero_prefix_) || !r.varint(&p.updates_) ||
      !r.varint(&p.detections_)) {
    return bad;
  }
  for (double v : {p.mean_, p.prefix_, p.up_, p.up_zero_prefix_, p.down_, p.down_zero_prefix_}) {
    if (!std::isfinite(v)) return bad;
  }
  // An alarm resets the state, so a stored statistic above lambda (on a reported side) is
  // impossible.
  const bool up_over = o.sides != DriftSides::kDown && p.up_ > o.lambda && p.n_ >= o.min_instances;
  const bool down_over =
      o.sides != DriftSides::kUp && p.down_ > o.lambda && p.n_ >= o.min_instances;
  if (p.n_ > p.updates_ || p.up_zero_n_ > p.n_ || p.down_zero_n_ > p.n_ || p.up_ < 0.0 ||
      p.down_ < 0.0 || up_over || down_over || p.detections_ > p.updates_) {
    return bad;
  }
  uint8_t has_last = 0;
  // Every detection sets the last one, which is never cleared: one exists iff detections > 0.
  if (!r.u8(&has_last) || has_last > 1 || (has_last == 1) != (p.detections_ > 0)) return bad;
  if (has_last) {
    DriftEvent e;
    if (!read_drift_event(r, kPageHinkleyName, &e) || e.index > p.updates_) return bad;
    p.last_ = e;
  }
  if (!r.at_end()) return bad;
  return p;
}

}  // namespace spate
