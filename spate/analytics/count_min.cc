#include "spate/analytics/count_min.h"

#include <cmath>
#include <stdexcept>

#include "spate/analytics/prng.h"

namespace spate {

CountMin::CountMin(uint32_t width, uint32_t depth, uint64_t seed) : depth_(depth), seed_(seed) {
  if (depth < 1 || depth > kMaxDepth) throw std::invalid_argument("CountMin: depth out of range");
  if (width > kMaxWidth) throw std::invalid_argument("CountMin: width out of range");
  log2_width_ = 1;
  while ((uint32_t{1} << log2_width_) < width) ++log2_width_;
  // The row functions come from the seed alone, so equal seeds hash alike after a restore.
  shift_ = 64 - log2_width_;
  width_ = size_t{1} << log2_width_;
  uint64_t sm = seed ^ 0x436F756E744D696Eull;  // "CountMin"
  rows_.resize(depth);
  for (auto& r : rows_) {
    r.a_hi = splitmix64(&sm);
    r.a_lo = splitmix64(&sm);
    r.b_hi = splitmix64(&sm);
    r.b_lo = splitmix64(&sm);
  }
  counters_.assign(size_t{depth} << log2_width_, 0);
}

CountMin CountMin::for_error(double epsilon, double delta, uint64_t seed) {
  if (!(epsilon > 0 && epsilon < 1)) throw std::invalid_argument("CountMin: epsilon not in (0,1)");
  if (!(delta > 0 && delta < 1)) throw std::invalid_argument("CountMin: delta not in (0,1)");
  const double w = std::ceil(std::exp(1.0) / epsilon);
  const double d = std::ceil(std::log(1.0 / delta));
  if (w > kMaxWidth || d > kMaxDepth) throw std::invalid_argument("CountMin: sketch too large");
  return CountMin(static_cast<uint32_t>(w), static_cast<uint32_t>(d), seed);
}

uint64_t CountMin::estimate_hash(uint64_t key) const {
  uint64_t lo = ~uint64_t{0};
  for (uint32_t j = 0; j < depth_; ++j) {
    const uint64_t c = counters_[j * width_ + row_index(j, key)];
    if (c < lo) lo = c;
  }
  return lo;
}

Status CountMin::merge(const CountMin& other) {
  if (other.log2_width_ != log2_width_ || other.depth_ != depth_) {
    return Status::invalid("count-min merge: dimensions differ");
  }
  if (other.seed_ != seed_) return Status::invalid("count-min merge: seed differs");
  for (size_t i = 0; i < counters_.size(); ++i) counters_[i] += other.counters_[i];
  total_ += other.total_;
  return Status::ok();
}

double CountMin::epsilon() const { return std::exp(1.0) / static_cast<double>(width()); }
double CountMin::delta() const { return std::exp(-static_cast<double>(depth_)); }

std::string CountMin::serialize() const {
  ByteWriter w;
  w.reserve(32 + counters_.size() * 2);
  w.u8(static_cast<uint8_t>(log2_width_));
  w.u8(static_cast<uint8_t>(depth_));
  w.u64(seed_);
  w.varint(total_);
  for (uint64_t c : counters_) w.varint(c);
  return seal(kTypeTag, kVersion, w.data());
}

Result<CountMin> CountMin::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  uint8_t log2_width = 0, depth = 0;
  uint64_t seed = 0, total = 0;
  if (!r.u8(&log2_width) || !r.u8(&depth) || !r.u64(&seed) || !r.varint(&total)) {
    return Status::corruption("count-min: truncated payload");
  }
  if (log2_width < 1 || log2_width > 28) return Status::corruption("count-min: bad width");
  if (depth < 1 || depth > kMaxDepth) return Status::corruption("count-min: bad depth");
  const size_t cells = size_t{depth} << log2_width;
  // Each counter takes at least one byte: refuse before allocating for a lying header.
  if (cells > r.remaining()) return Status::corruption("count-min: truncated counters");
  CountMin cm(uint32_t{1} << log2_width, depth, seed);
  for (size_t i = 0; i < cells; ++i) {
    uint64_t c = 0;
    if (!r.varint(&c)) return Status::corruption("count-min: truncated counters");
    if (c > total) return Status::corruption("count-min: counter above total");
    cm.counters_[i] = c;
  }
  if (!r.at_end()) return Status::corruption("count-min: trailing bytes");
  cm.total_ = total;
  return cm;
}

}  // namespace spate
