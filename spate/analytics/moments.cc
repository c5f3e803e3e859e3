#include "spate/analytics/moments.h"

#include <cmath>
#include <initializer_list>
#include <stdexcept>

namespace spate {
namespace {

bool finite(double x) { return std::isfinite(x); }

}  // namespace

void Moments::merge(const Moments& o) {
  ignored_ += o.ignored_;
  if (o.count_ == 0) return;
  if (count_ == 0) {
    const uint64_t ig = ignored_;
    *this = o;
    ignored_ = ig;
    return;
  }
  const double na = static_cast<double>(count_);
  const double nb = static_cast<double>(o.count_);
  const double n = na + nb;
  // Other's mean in this summary's shifted frame.
  const double mean_b = (o.shift_ - shift_) + o.mean_shifted_;
  const double delta = mean_b - mean_shifted_;
  mean_shifted_ += delta * (nb / n);
  neumaier_add(&m2_, &m2_comp_, o.m2_);
  neumaier_add(&m2_, &m2_comp_, delta * delta * (na * nb / n));
  m2_comp_ += o.m2_comp_;
  count_ += o.count_;
  if (o.min_ < min_) min_ = o.min_;
  if (o.max_ > max_) max_ = o.max_;
  neumaier_add(&sum_, &sum_comp_, o.sum_);
  sum_comp_ += o.sum_comp_;
}

double Moments::stddev() const { return std::sqrt(variance()); }
double Moments::sample_stddev() const { return std::sqrt(sample_variance()); }

std::string Moments::serialize() const {
  ByteWriter w;
  w.u64(count_);
  w.u64(ignored_);
  w.f64(shift_);
  w.f64(mean_shifted_);
  w.f64(m2_);
  w.f64(m2_comp_);
  w.f64(sum_);
  w.f64(sum_comp_);
  w.f64(min_);
  w.f64(max_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<Moments> Moments::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  Moments m;
  if (!r.u64(&m.count_) || !r.u64(&m.ignored_) || !r.f64(&m.shift_) || !r.f64(&m.mean_shifted_) ||
      !r.f64(&m.m2_) || !r.f64(&m.m2_comp_) || !r.f64(&m.sum_) || !r.f64(&m.sum_comp_) ||
      !r.f64(&m.min_) || !r.f64(&m.max_)) {
    return Status::corruption("moments: truncated payload");
  }
  if (!r.at_end()) return Status::corruption("moments: trailing bytes");
  // shift, min and max are input values: finite. The accumulated fields may legitimately
  // overflow to +-inf or NaN (e.g. squares of values near 1e200), so only their emptiness is
  // checked.
  for (double f : {m.shift_, m.min_, m.max_}) {
    if (!finite(f)) return Status::corruption("moments: non-finite input field");
  }
  if (m.count_ == 0) {
    for (double f :
         {m.shift_, m.mean_shifted_, m.m2_, m.m2_comp_, m.sum_, m.sum_comp_, m.min_, m.max_}) {
      if (f != 0) return Status::corruption("moments: empty summary with non-zero fields");
    }
    return m;
  }
  if (m.m2() < 0) return Status::corruption("moments: negative sum of squares");
  if (m.min_ > m.max_) return Status::corruption("moments: min > max");
  if (m.shift_ < m.min_ || m.shift_ > m.max_) return Status::corruption("moments: bad shift");
  return m;
}

Ewma::Ewma(double alpha) : alpha_(alpha) {
  if (!(alpha > 0 && alpha <= 1)) throw std::invalid_argument("Ewma: alpha must be in (0, 1]");
}

std::string Ewma::serialize() const {
  ByteWriter w;
  w.f64(alpha_);
  w.u64(count_);
  w.u64(ignored_);
  w.f64(value_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<Ewma> Ewma::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  double alpha = 0, value = 0;
  uint64_t count = 0, ignored = 0;
  if (!r.f64(&alpha) || !r.u64(&count) || !r.u64(&ignored) || !r.f64(&value)) {
    return Status::corruption("ewma: truncated payload");
  }
  if (!r.at_end()) return Status::corruption("ewma: trailing bytes");
  if (!(alpha > 0 && alpha <= 1)) return Status::corruption("ewma: alpha out of (0, 1]");
  // value may have overflowed (inputs near +-1.8e308): only an empty Ewma must hold 0.
  if (count == 0 && value != 0) return Status::corruption("ewma: empty with a value");
  Ewma e(alpha);
  e.value_ = value;
  e.count_ = count;
  e.ignored_ = ignored;
  return e;
}

}  // namespace spate
