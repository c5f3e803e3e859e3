#pragma once
// Test-only helpers for the analytics tests: seeded stream generators (uniform, Zipf, sorted,
// reverse sorted, all equal) and the corruption checks every deserialize() must pass.
// Included only by *_test.cc files. Thread-safety: none needed (single-threaded tests).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "spate/analytics/prng.h"
#include "spate/common/status.h"

namespace spate::test_util {

// Draws ranks 0..n-1 with P(r) proportional to 1 / (r + 1)^s, by binary search in the CDF.
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double s) : cdf_(n) {
    double acc = 0;
    for (uint64_t r = 0; r < n; ++r) {
      acc += 1.0 / std::pow(static_cast<double>(r + 1), s);
      cdf_[r] = acc;
    }
    for (double& c : cdf_) c /= acc;
  }
  uint64_t operator()(Xoshiro256* rng) const {
    const double u = rng->uniform();
    auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    if (it == cdf_.end()) --it;
    return static_cast<uint64_t>(it - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

enum class Stream { kUniform, kZipf08, kZipf11, kZipf15, kSorted, kReverse, kAllEqual };

inline const char* stream_name(Stream s) {
  switch (s) {
    case Stream::kUniform:
      return "uniform";
    case Stream::kZipf08:
      return "zipf0.8";
    case Stream::kZipf11:
      return "zipf1.1";
    case Stream::kZipf15:
      return "zipf1.5";
    case Stream::kSorted:
      return "sorted";
    case Stream::kReverse:
      return "reverse";
    case Stream::kAllEqual:
      return "all-equal";
  }
  return "?";
}

inline const std::vector<Stream>& all_streams() {
  static const std::vector<Stream> kAll = {Stream::kUniform, Stream::kZipf08, Stream::kZipf11,
                                           Stream::kZipf15,  Stream::kSorted, Stream::kReverse,
                                           Stream::kAllEqual};
  return kAll;
}

// `length` keys from a universe of `universe` ranks. Sorted and reverse are a Zipf(1.1) stream
// sorted ascending / descending (each key's occurrences in one run: the adversarial order for
// counter-based summaries and for compactors). Keys are ranks scrambled by a bijective mixer, so
// rank order is not key order.
inline std::vector<uint64_t> make_stream(Stream kind, size_t length, uint64_t universe,
                                         uint64_t seed) {
  Xoshiro256 rng(seed);
  std::vector<uint64_t> out(length);
  auto zipf = [&](double s) {
    // Building the CDF costs `universe` pow() calls: keep one sampler per (universe, s).
    static std::map<std::pair<uint64_t, double>, ZipfSampler> cache;
    auto it = cache.find({universe, s});
    if (it == cache.end())
      it = cache.emplace(std::pair{universe, s}, ZipfSampler(universe, s)).first;
    for (auto& v : out) v = it->second(&rng);
  };
  switch (kind) {
    case Stream::kUniform:
      for (auto& v : out) v = rng.below(universe);
      break;
    case Stream::kZipf08:
      zipf(0.8);
      break;
    case Stream::kZipf11:
      zipf(1.1);
      break;
    case Stream::kZipf15:
      zipf(1.5);
      break;
    case Stream::kSorted:
      zipf(1.1);
      std::sort(out.begin(), out.end());
      break;
    case Stream::kReverse:
      zipf(1.1);
      std::sort(out.rbegin(), out.rend());
      break;
    case Stream::kAllEqual:
      std::fill(out.begin(), out.end(), 7);
      break;
  }
  return out;
}

// A bijective 64-bit mixer (splitmix64's finalizer): rank -> key.
inline uint64_t scramble(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Every truncation (all lengths when short, else a spread of them), every single-bit flip (when
// `all_bits`, else every bit of the first 64 bytes and of the last 64 bytes) and appended
// garbage must be rejected.
template <typename T>
void expect_rejects_corruption(const std::string& bytes, bool all_bits) {
  ASSERT_TRUE(T::deserialize(bytes).is_ok());
  const size_t step = bytes.size() <= 4096 ? 1 : bytes.size() / 997;
  for (size_t len = 0; len < bytes.size(); len += step) {
    EXPECT_FALSE(T::deserialize(std::string_view(bytes).substr(0, len)).is_ok()) << "len " << len;
  }
  std::string flipped = bytes;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (!all_bits && i >= 64 && i + 64 < bytes.size()) continue;
    for (int b = 0; b < 8; ++b) {
      flipped[i] = static_cast<char>(bytes[i] ^ (1 << b));
      auto r = T::deserialize(flipped);
      EXPECT_FALSE(r.is_ok()) << "byte " << i << " bit " << b;
      flipped[i] = bytes[i];
    }
  }
  EXPECT_FALSE(T::deserialize(bytes + std::string(1, '\0')).is_ok());
}

// Bytes of another type must be rejected (a tag mismatch, never a reinterpretation).
template <typename T>
void expect_rejects_other_type(const std::string& other_bytes) {
  auto r = T::deserialize(other_bytes);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

}  // namespace spate::test_util
