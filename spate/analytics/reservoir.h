#pragma once
// Reservoir: a uniform random sample of fixed size n from a stream of unknown length, by
// Algorithm L (Li, "Reservoir-sampling algorithms of time complexity O(n(1 + log(N/n)))",
// ACM TOMS 1994): after the first n items it draws the gap to the next sampled item, so the
// random-number cost is O(n (1 + log(N/n))) and add() is O(1) (a compare for a skipped item).
//
// Guarantee: after N items, sample() is a uniform random subset of size min(n, N) of them
// (every subset equally likely). merge() of two reservoirs of equal capacity is a uniform
// sample of the concatenated streams: the number taken from each side is drawn from the
// hypergeometric distribution of a size-min(n, Na + Nb) sample of the union, then those many
// are drawn uniformly without replacement from each side's sample; the Algorithm L threshold is
// redrawn for the merged count (the n-th smallest of Na + Nb uniforms), so later adds stay
// uniform. Reproducible: all randomness comes from the seed (xoshiro256**), and a deserialized
// reservoir continues with the same draws. No allocation per add() once the sample is full,
// except what T's assignment does (std::string reuses its buffer when the new item fits).
//
// serialize()/deserialize() exist for T = std::string, uint64_t and double.
//
// Thread-safety: plain value, one updating thread; merge() reads `other`, which must not be
// updated concurrently.

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "spate/analytics/prng.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

template <typename T>
struct ReservoirItemTraits {
  static constexpr bool kSerializable = false;
};
template <>
struct ReservoirItemTraits<std::string> {
  static constexpr bool kSerializable = true;
  static constexpr uint32_t kTypeTag = make_type_tag("RSS1");
  static void write(ByteWriter* w, const std::string& s) { w->bytes(s); }
  static bool read(ByteReader* r, std::string* out) {
    std::string_view v;
    if (!r->bytes(&v)) return false;
    out->assign(v.data(), v.size());
    return true;
  }
};
template <>
struct ReservoirItemTraits<uint64_t> {
  static constexpr bool kSerializable = true;
  static constexpr uint32_t kTypeTag = make_type_tag("RSU1");
  static void write(ByteWriter* w, uint64_t v) { w->varint(v); }
  static bool read(ByteReader* r, uint64_t* out) { return r->varint(out); }
};
template <>
struct ReservoirItemTraits<double> {
  static constexpr bool kSerializable = true;
  static constexpr uint32_t kTypeTag = make_type_tag("RSD1");
  static void write(ByteWriter* w, double v) { w->f64(v); }
  static bool read(ByteReader* r, double* out) { return r->f64(out); }
};

template <typename T>
class Reservoir {
 public:
  static constexpr uint16_t kVersion = 1;
  static constexpr uint64_t kMaxCapacity = uint64_t{1} << 24;

  // REQUIRES: 1 <= capacity <= kMaxCapacity (else throws std::invalid_argument).
  Reservoir(uint64_t capacity, uint64_t seed) : capacity_(capacity), rng_(seed) {
    if (capacity < 1 || capacity > kMaxCapacity) {
      throw std::invalid_argument("Reservoir: capacity out of range");
    }
  }

  // Offers one item. U is anything T can be constructed and assigned from (e.g. string_view
  // for T = std::string: no copy is made for a skipped item).
  template <typename U>
  void add(U&& item) {
    const uint64_t i = seen_++;
    if (i < capacity_) {
      items_.emplace_back(std::forward<U>(item));
      if (i + 1 == capacity_) {
        w_ = std::exp(std::log(rng_.uniform_pos()) / static_cast<double>(capacity_));
        next_ = capacity_ + skip();
      }
      return;
    }
    if (i != next_) return;
    items_[rng_.below(capacity_)] = std::forward<U>(item);
    w_ *= std::exp(std::log(rng_.uniform_pos()) / static_cast<double>(capacity_));
    next_ = i + 1 + skip();
  }

  // Fails (kInvalidArgument) unless capacities are equal.
  [[nodiscard]] Status merge(const Reservoir& other);

  const std::vector<T>& sample() const { return items_; }
  // Items offered so far (N).
  uint64_t count() const { return seen_; }
  uint64_t capacity() const { return capacity_; }

  std::string serialize() const requires ReservoirItemTraits<T>::kSerializable;
  static Result<Reservoir> deserialize(std::string_view bytes) requires
      ReservoirItemTraits<T>::kSerializable;

 private:
  // Items to pass over before the next sampled one: floor(log(U) / log(1 - W)).
  uint64_t skip() {
    const double s = std::floor(std::log(rng_.uniform_pos()) / std::log1p(-w_));
    return s < 0x1p62 ? static_cast<uint64_t>(s) : uint64_t{1} << 62;
  }

  // The n-th smallest of N independent uniforms (Algorithm L's threshold after N items), drawn
  // through the successive order statistics U(k+1) = U(k) + (1 - U(k)) (1 - V^(1/(N-k))).
  double draw_threshold(uint64_t n, uint64_t total) {
    double u = 0;
    for (uint64_t k = 0; k < n; ++k) {
      const double gap = -std::expm1(std::log(rng_.uniform_pos()) / static_cast<double>(total - k));
      u += (1 - u) * gap;
    }
    return u;
  }

  uint64_t capacity_;
  uint64_t seen_ = 0;
  Xoshiro256 rng_;
  double w_ = 0;       // Algorithm L's W, once full
  uint64_t next_ = 0;  // 0-based index of the next item to sample, once full
  std::vector<T> items_;
};

template <typename T>
Status Reservoir<T>::merge(const Reservoir& other) {
  if (other.capacity_ != capacity_) return Status::invalid("reservoir merge: capacity differs");
  if (other.seen_ == 0) return Status::ok();
  const std::vector<T> a = items_;  // copies: `other` may be *this
  const std::vector<T> b = other.items_;
  uint64_t rem_a = seen_, rem_b = other.seen_;
  const uint64_t total = seen_ + other.seen_;
  const uint64_t out = total < capacity_ ? total : capacity_;
  // How many of the merged sample come from each side: sequential hypergeometric draws.
  uint64_t take_a = 0;
  for (uint64_t j = 0; j < out; ++j) {
    if (rng_.below(rem_a + rem_b) < rem_a) {
      ++take_a;
      --rem_a;
    } else {
      --rem_b;
    }
  }
  const uint64_t take_b = out - take_a;
  // Partial Fisher-Yates on index arrays: uniform subsets without replacement.
  auto pick = [this](const std::vector<T>& src, uint64_t m, std::vector<T>* dst) {
    std::vector<size_t> idx(src.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    for (uint64_t i = 0; i < m; ++i) {
      const uint64_t j = i + rng_.below(idx.size() - i);
      std::swap(idx[i], idx[j]);
      dst->push_back(src[idx[i]]);
    }
  };
  items_.clear();
  items_.reserve(out);
  pick(a, take_a, &items_);
  pick(b, take_b, &items_);
  seen_ = total;
  if (seen_ >= capacity_) {
    w_ = draw_threshold(capacity_, seen_);
    next_ = seen_ + skip();
  } else {
    w_ = 0;
    next_ = 0;
  }
  return Status::ok();
}

// Payload v1: varint capacity, varint count, 4 x u64 generator state, f64 W, varint next,
// varint sample size, items (std::string: varint length + bytes; uint64: varint; double: f64).
template <typename T>
std::string Reservoir<T>::serialize() const requires ReservoirItemTraits<T>::kSerializable {
  using Traits = ReservoirItemTraits<T>;
  ByteWriter w;
  w.varint(capacity_);
  w.varint(seen_);
  for (uint64_t s : rng_.state()) w.u64(s);
  w.f64(w_);
  w.varint(next_);
  w.varint(items_.size());
  for (const T& item : items_) Traits::write(&w, item);
  return seal(Traits::kTypeTag, kVersion, w.data());
}

template <typename T>
Result<Reservoir<T>> Reservoir<T>::deserialize(std::string_view bytes) requires
    ReservoirItemTraits<T>::kSerializable {
  using Traits = ReservoirItemTraits<T>;
  auto payload = unseal(bytes, Traits::kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  uint64_t capacity = 0, seen = 0, next = 0, size = 0;
  Xoshiro256::State state{};
  double w = 0;
  if (!r.varint(&capacity) || !r.varint(&seen) || !r.u64(&state[0]) || !r.u64(&state[1]) ||
      !r.u64(&state[2]) || !r.u64(&state[3]) || !r.f64(&w) || !r.varint(&next) ||
      !r.varint(&size)) {
    return Status::corruption("reservoir: truncated header");
  }
  if (capacity < 1 || capacity > kMaxCapacity) return Status::corruption("reservoir: capacity");
  if (size != (seen < capacity ? seen : capacity)) return Status::corruption("reservoir: size");
  if (seen >= capacity) {
    if (!(w > 0 && w <= 1) || next < seen) return Status::corruption("reservoir: bad threshold");
  } else if (w != 0 || next != 0) {
    return Status::corruption("reservoir: threshold before full");
  }
  // Every item takes at least one byte: refuse a lying size before allocating.
  if (size > r.remaining()) return Status::corruption("reservoir: truncated items");
  Reservoir res(capacity, 0);
  if (!res.rng_.set_state(state)) return Status::corruption("reservoir: zero generator state");
  res.items_.resize(size);
  for (T& item : res.items_) {
    if (!Traits::read(&r, &item)) return Status::corruption("reservoir: truncated items");
  }
  if (!r.at_end()) return Status::corruption("reservoir: trailing bytes");
  res.seen_ = seen;
  res.w_ = w;
  res.next_ = next;
  return res;
}

}  // namespace spate
