#include "spate/analytics/kll.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace spate {
namespace {

constexpr size_t kMinLevelWidth = 8;

}  // namespace

KllSketch::KllSketch(uint32_t k, uint64_t seed) : k_(k), rng_(seed) {
  if (k < kMinK || k > kMaxK) throw std::invalid_argument("KllSketch: k out of range");
  levels_.resize(1);
  recompute_capacity();
  levels_[0].reserve(capacity_);
}

size_t KllSketch::level_capacity(uint32_t k, size_t num_levels, size_t level) {
  const size_t depth = num_levels - 1 - level;
  // round(k * (2/3)^depth), exact in integers for the depths that stay above the minimum.
  double c = static_cast<double>(k);
  for (size_t i = 0; i < depth && c >= kMinLevelWidth; ++i) c *= 2.0 / 3.0;
  const auto cap = static_cast<size_t>(std::lround(c));
  return std::max(kMinLevelWidth, cap);
}

void KllSketch::recompute_capacity() {
  capacity_ = 0;
  caps_.resize(levels_.size());
  for (size_t h = 0; h < levels_.size(); ++h) {
    caps_[h] = level_capacity(k_, levels_.size(), h);
    capacity_ += caps_[h];
  }
}

void KllSketch::add_level() {
  levels_.emplace_back();
  recompute_capacity();
  levels_[0].reserve(capacity_);
}

namespace {

// Level-0 compactions of up to this many items sort with rank_sort (for k = 200 most of them
// sort 12 items, 13 on average over a long stream); larger ones use std::sort.
constexpr size_t kRankSortMax = 32;

// Sorts v[0, n) into out[0, n) for n <= W by computing each item's rank (the number of items
// before it in (value, position) order) over a block of W padded with +inf: fixed-length loops
// the compiler vectorizes, and no data-dependent branch (std::sort's insertion sort mispredicts
// about once per item on random input). Ties keep their input order; an input of +inf ranks
// correctly because a padding slot never counts as smaller or as an earlier equal.
template <size_t W>
void rank_sort(const double* v, size_t n, double* out) {
  double pad[W];
  uint64_t rank[W];
  for (size_t i = 0; i < W; ++i) {
    pad[i] = i < n ? v[i] : std::numeric_limits<double>::infinity();
    rank[i] = 0;
  }
  for (size_t j = 0; j < n; ++j) {
    const double y = pad[j];
    for (size_t i = 0; i < W; ++i) {
      rank[i] += static_cast<uint64_t>(y < pad[i]) + static_cast<uint64_t>((y == pad[i]) & (j < i));
    }
  }
  for (size_t i = 0; i < n; ++i) out[rank[i]] = pad[i];
}

// Merges the p items a[0], a[2], ..., a[2(p - 1)] (sorted) into the sorted up[0, u), in place:
// up has room for u + p items. Backward, so no item is overwritten before it is read, and
// without a data-dependent branch. On ties the items of `up` come first (as std::merge(up, a)).
void merge_strided_into(const double* a, size_t p, double* up, size_t u) {
  double* out = up + u + p;
  while (p != 0 && u != 0) {
    const double av = a[2 * (p - 1)];
    const double bv = up[u - 1];
    const bool take_a = av >= bv;
    *--out = take_a ? av : bv;
    p -= take_a;
    u -= !take_a;
  }
  while (p != 0) {
    --p;
    *--out = a[2 * p];
  }
  // What is left of up is already in place.
}

}  // namespace

void KllSketch::compress_one() {
  // The lowest level at or over its capacity; one exists whenever retained_ >= capacity_.
  size_t h = 0;
  while (h < levels_.size() && levels_[h].size() < caps_[h]) ++h;
  if (h == levels_.size()) return;
  if (h + 1 == levels_.size()) add_level();
  Level& lv = levels_[h];
  Level& up = levels_[h + 1];
  // With an odd population the first item stays behind (at level 0: the oldest one).
  const size_t odd = lv.size() & 1;
  const size_t len = lv.size() - odd;
  const size_t promoted = len / 2;
  // Level 0 is sorted first; the promoted items are every other one, from a random offset.
  alignas(32) double sorted[kRankSortMax];
  const double* src = lv.data() + odd;
  if (h == 0) {
    // Blocks of 8, 12, 16 or 32: most level-0 compactions sort 12 items (k = 200).
    if (len <= 8) {
      rank_sort<8>(src, len, sorted);
      src = sorted;
    } else if (len <= 12) {
      rank_sort<12>(src, len, sorted);
      src = sorted;
    } else if (len <= 16) {
      rank_sort<16>(src, len, sorted);
      src = sorted;
    } else if (len <= kRankSortMax) {
      rank_sort<kRankSortMax>(src, len, sorted);
      src = sorted;
    } else {
      std::sort(lv.begin() + static_cast<std::ptrdiff_t>(odd), lv.end());
    }
  }
  src += rng_.next() >> 63;
  const size_t u = up.size();
  up.resize(u + promoted);
  merge_strided_into(src, promoted, up.data(), u);
  lv.resize(odd);
  retained_ -= promoted;
}

Status KllSketch::merge(const KllSketch& other) {
  if (other.k_ != k_) return Status::invalid("kll merge: k differs");
  ignored_ += other.ignored_;
  if (other.n_ == 0) return Status::ok();
  min_ = std::min(min_, other.min_);  // +inf / -inf while empty
  max_ = std::max(max_, other.max_);
  n_ += other.n_;
  // Copy first: `other` may be *this.
  const std::vector<Level> theirs = other.levels_;
  if (theirs.size() > levels_.size()) levels_.resize(theirs.size());
  levels_[0].insert(levels_[0].end(), theirs[0].begin(), theirs[0].end());
  for (size_t h = 1; h < theirs.size(); ++h) {
    if (theirs[h].empty()) continue;
    scratch_.resize(levels_[h].size() + theirs[h].size());
    std::merge(levels_[h].begin(), levels_[h].end(), theirs[h].begin(), theirs[h].end(),
               scratch_.begin());
    levels_[h].swap(scratch_);
  }
  retained_ = 0;
  for (const auto& lv : levels_) retained_ += lv.size();
  recompute_capacity();
  while (retained_ >= capacity_) compress_one();
  levels_[0].reserve(capacity_);
  return Status::ok();
}

double KllSketch::min() const { return n_ == 0 ? std::numeric_limits<double>::quiet_NaN() : min_; }
double KllSketch::max() const { return n_ == 0 ? std::numeric_limits<double>::quiet_NaN() : max_; }

std::vector<KllSketch::Weighted> KllSketch::sorted_view() const {
  std::vector<Weighted> view;
  view.reserve(retained_);
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) view.push_back({v, uint64_t{1} << h});
  }
  std::sort(view.begin(), view.end(),
            [](const Weighted& a, const Weighted& b) { return a.value < b.value; });
  uint64_t cum = 0;
  for (auto& w : view) {
    cum += w.weight;
    w.weight = cum;
  }
  return view;
}

double KllSketch::rank(double x) const {
  if (n_ == 0) return 0.0;
  uint64_t below = 0;
  for (size_t h = 0; h < levels_.size(); ++h) {
    uint64_t c = 0;
    if (h == 0) {
      for (double v : levels_[h]) c += v <= x;
    } else {
      c = static_cast<uint64_t>(std::upper_bound(levels_[h].begin(), levels_[h].end(), x) -
                                levels_[h].begin());
    }
    below += c << h;
  }
  return static_cast<double>(below) / static_cast<double>(n_);
}

double KllSketch::quantile_in(const std::vector<Weighted>& view, uint64_t n, double q, double lo,
                              double hi) {
  if (!(q > 0)) return lo;  // also NaN q
  if (q >= 1) return hi;
  const double target = q * static_cast<double>(n);
  auto it = std::lower_bound(view.begin(), view.end(), target, [](const Weighted& w, double t) {
    return static_cast<double>(w.weight) < t;
  });
  if (it == view.end()) return hi;
  return it->value;
}

double KllSketch::quantile(double q) const {
  if (n_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return quantile_in(sorted_view(), n_, q, min_, max_);
}

std::vector<double> KllSketch::quantiles(const std::vector<double>& qs) const {
  std::vector<double> out;
  out.reserve(qs.size());
  if (n_ == 0) {
    out.assign(qs.size(), std::numeric_limits<double>::quiet_NaN());
    return out;
  }
  const auto view = sorted_view();
  for (double q : qs) out.push_back(quantile_in(view, n_, q, min_, max_));
  return out;
}

double KllSketch::normalized_rank_error(uint32_t k) {
  return 2.296 / std::pow(static_cast<double>(k), 0.9723);
}

// Payload v1: u16 k, 4 x u64 rng state, varint n, varint ignored, f64 min, f64 max,
// u8 num_levels, then per level: varint size, size x f64.
std::string KllSketch::serialize() const {
  ByteWriter w;
  w.reserve(64 + retained_ * 8);
  w.u16(static_cast<uint16_t>(k_));
  for (uint64_t s : rng_.state()) w.u64(s);
  w.varint(n_);
  w.varint(ignored_);
  w.f64(n_ == 0 ? 0.0 : min_);
  w.f64(n_ == 0 ? 0.0 : max_);
  w.u8(static_cast<uint8_t>(levels_.size()));
  for (const auto& lv : levels_) {
    w.varint(lv.size());
    for (double v : lv) w.f64(v);
  }
  return seal(kTypeTag, kVersion, w.data());
}

Result<KllSketch> KllSketch::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  uint16_t k = 0;
  Xoshiro256::State state{};
  uint64_t n = 0, ignored = 0;
  double lo = 0, hi = 0;
  uint8_t num_levels = 0;
  if (!r.u16(&k) || !r.u64(&state[0]) || !r.u64(&state[1]) || !r.u64(&state[2]) ||
      !r.u64(&state[3]) || !r.varint(&n) || !r.varint(&ignored) || !r.f64(&lo) || !r.f64(&hi) ||
      !r.u8(&num_levels)) {
    return Status::corruption("kll: truncated header");
  }
  if (k < kMinK) return Status::corruption("kll: bad k");
  if (num_levels < 1 || num_levels > kMaxLevels) return Status::corruption("kll: bad level count");
  if (n == 0 ? (lo != 0 || hi != 0) : !(lo <= hi)) return Status::corruption("kll: bad min/max");
  KllSketch s(k, 0);
  if (!s.rng_.set_state(state)) return Status::corruption("kll: zero generator state");
  s.levels_.resize(num_levels);
  s.recompute_capacity();
  uint64_t weight_sum = 0;
  size_t retained = 0;
  for (size_t h = 0; h < num_levels; ++h) {
    uint64_t size = 0;
    if (!r.varint(&size)) return Status::corruption("kll: truncated level");
    if (size > r.remaining() / 8) return Status::corruption("kll: truncated level");
    retained += size;
    if (retained >= s.capacity_) return Status::corruption("kll: more items than capacity");
    if ((size << h >> h) != size || (size << h) > n - weight_sum) {
      return Status::corruption("kll: level weights exceed count");
    }
    weight_sum += size << h;
    auto& lv = s.levels_[h];
    lv.resize(size);
    for (auto& v : lv) {
      r.f64(&v);
      if (!(v >= lo && v <= hi)) return Status::corruption("kll: item outside [min, max]");
    }
    if (h > 0 && !std::is_sorted(lv.begin(), lv.end())) {
      return Status::corruption("kll: unsorted level");
    }
  }
  if (!r.at_end()) return Status::corruption("kll: trailing bytes");
  if (weight_sum != n) return Status::corruption("kll: level weights != count");
  s.n_ = n;
  s.ignored_ = ignored;
  if (n != 0) {
    s.min_ = lo;
    s.max_ = hi;
  }
  s.retained_ = retained;
  s.levels_[0].reserve(s.capacity_);
  return s;
}

}  // namespace spate
