#include "spate/analytics/hyperloglog.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace spate {
namespace {

// sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1)   (Ertl 2017, eq. 41)
double hll_sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  double z_prev;
  do {
    x *= x;
    z_prev = z;
    z += x * y;
    y += y;
  } while (z != z_prev);
  return z;
}

// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3   (Ertl 2017, eq. 43)
double hll_tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  double z_prev;
  do {
    x = std::sqrt(x);
    z_prev = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != z_prev);
  return z / 3.0;
}

}  // namespace

HyperLogLog::HyperLogLog(int precision, uint64_t seed) : precision_(precision), seed_(seed) {
  if (precision < kMinPrecision || precision > kMaxPrecision) {
    throw std::invalid_argument("HyperLogLog: precision must be in [4, 18]");
  }
  registers_.assign(size_t{1} << precision, 0);
}

Status HyperLogLog::merge(const HyperLogLog& other) {
  if (other.precision_ != precision_) return Status::invalid("hll merge: precision differs");
  if (other.seed_ != seed_) return Status::invalid("hll merge: seed differs");
  for (size_t i = 0; i < registers_.size(); ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
  return Status::ok();
}

bool HyperLogLog::empty() const {
  return std::all_of(registers_.begin(), registers_.end(), [](uint8_t r) { return r == 0; });
}

double HyperLogLog::standard_error() const {
  return 1.04 / std::sqrt(static_cast<double>(registers_.size()));
}

double HyperLogLog::estimate() const {
  const int q = 64 - precision_;
  uint32_t hist[66] = {};
  for (uint8_t r : registers_) ++hist[r];
  const auto m = static_cast<double>(registers_.size());
  if (hist[0] == registers_.size()) return 0.0;
  // Ertl 2017, Algorithm 6 (improved raw estimator).
  double z = m * hll_tau(1.0 - hist[q + 1] / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + hist[k]);
  z += m * hll_sigma(hist[0] / m);
  const double alpha_inf = 1.0 / (2.0 * std::log(2.0));
  return alpha_inf * m * m / z;
}

std::string HyperLogLog::serialize() const {
  ByteWriter w;
  w.reserve(9 + registers_.size());
  w.u8(static_cast<uint8_t>(precision_));
  w.u64(seed_);
  w.raw(std::string_view(reinterpret_cast<const char*>(registers_.data()), registers_.size()));
  return seal(kTypeTag, kVersion, w.data());
}

Result<HyperLogLog> HyperLogLog::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  uint8_t p = 0;
  uint64_t seed = 0;
  if (!r.u8(&p) || !r.u64(&seed)) return Status::corruption("hll: truncated payload");
  if (p < kMinPrecision || p > kMaxPrecision) return Status::corruption("hll: bad precision");
  std::string_view regs;
  if (!r.raw(size_t{1} << p, &regs)) return Status::corruption("hll: truncated registers");
  if (!r.at_end()) return Status::corruption("hll: trailing bytes");
  HyperLogLog h(p, seed);
  const auto max_rank = static_cast<uint8_t>(h.max_rank());
  for (size_t i = 0; i < regs.size(); ++i) {
    const auto v = static_cast<uint8_t>(regs[i]);
    if (v > max_rank) return Status::corruption("hll: register out of range");
    h.registers_[i] = v;
  }
  return h;
}

}  // namespace spate
