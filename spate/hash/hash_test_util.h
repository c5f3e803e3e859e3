#pragma once
// Statistics and adversarial key sets for the hash tests (test-only; not part of spate_hash's
// public surface). Thresholds come from theory, never from tuning:
//   - chi-square: the upper critical value at significance alpha, from the Wilson–Hilferty
//     cube-root normal approximation (Wilson & Hilferty 1931), z from the normal quantile;
//   - colliding pairs: the family's per-pair bound times the number of pairs gives the mean;
//     the count is compared with mean + 6 sigma of a Poisson of that mean.
// Thread-safety: pure functions.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spate::hash_testing {

// Standard normal quantile: bisection on Phi(x) = erfc(-x / sqrt 2) / 2 (exact to ~1e-12).
inline double normal_quantile(double p) {
  double lo = -40.0;
  double hi = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

// Wilson–Hilferty: the upper alpha point of chi^2 with d degrees of freedom is about
//   d (1 - c + z sqrt(c))^3,  c = 2 / (9 d),  z = the standard normal (1 - alpha) quantile.
inline double chi_square_critical(double dof, double alpha) {
  const double z = normal_quantile(1.0 - alpha);
  const double c = 2.0 / (9.0 * dof);
  return dof * std::pow(1.0 - c + z * std::sqrt(c), 3.0);
}

// Pearson's statistic of bucket counts against the uniform expectation.
inline double chi_square(const std::vector<uint64_t>& counts) {
  double total = 0;
  for (uint64_t c : counts) total += static_cast<double>(c);
  const double expected = total / static_cast<double>(counts.size());
  double stat = 0;
  for (uint64_t c : counts) {
    const double d = static_cast<double>(c) - expected;
    stat += d * d / expected;
  }
  return stat;
}

// Number of unordered pairs (i < j) with values[i] == values[j]; sorts `values`.
inline uint64_t colliding_pairs_in_place(std::vector<uint64_t>& values) {
  std::sort(values.begin(), values.end());
  uint64_t pairs = 0;
  size_t run = 1;
  for (size_t i = 1; i <= values.size(); ++i) {
    if (i < values.size() && values[i] == values[i - 1]) {
      ++run;
    } else {
      pairs += run * (run - 1) / 2;
      run = 1;
    }
  }
  return pairs;
}

inline uint64_t colliding_pairs(std::vector<uint64_t> values) {
  return colliding_pairs_in_place(values);
}

// The same count for values below 2^bits, faster for millions of values: one counting-sort
// pass on the top 16 bits, then a small sort per bucket. `scratch` is reused storage.
inline uint64_t colliding_pairs_of_bits(const std::vector<uint64_t>& values, int bits,
                                        std::vector<uint64_t>& scratch) {
  const int shift = bits > 16 ? bits - 16 : 0;
  std::vector<size_t> start((size_t{1} << 16) + 1, 0);
  for (uint64_t v : values) ++start[(v >> shift) + 1];
  for (size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
  scratch.resize(values.size());
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (uint64_t v : values) scratch[fill[v >> shift]++] = v;
  uint64_t pairs = 0;
  for (size_t b = 0; b + 1 < start.size(); ++b) {
    const auto first = scratch.begin() + static_cast<std::ptrdiff_t>(start[b]);
    const auto last = scratch.begin() + static_cast<std::ptrdiff_t>(start[b + 1]);
    std::sort(first, last);
    size_t run = 1;
    for (auto it = first; it != last; ++it) {
      if (it + 1 != last && *(it + 1) == *it) {
        ++run;
      } else {
        pairs += run * (run - 1) / 2;
        run = 1;
      }
    }
  }
  return pairs;
}

inline double pair_count(size_t m) {
  return 0.5 * static_cast<double>(m) * (static_cast<double>(m) - 1);
}

inline constexpr double kSigmas = 6.0;
// mean + 6 sigma of a Poisson with that mean.
inline double poisson_upper(double mean) { return mean + kSigmas * std::sqrt(mean); }

// The number of top bits to compare so that a random function has about `target` colliding
// pairs among m keys: enough to measure, small enough to keep Poisson behaviour.
inline int collision_bits(size_t m, double target = 128.0) {
  const int bits = static_cast<int>(std::lround(std::log2(pair_count(m) / target)));
  return std::clamp(bits, 1, 63);
}

// --- Key sets -------------------------------------------------------------------------------

// Many short keys stored back to back in one buffer (a million std::strings would cost more
// in allocation than the hashing under test).
class KeyList {
 public:
  void reserve(size_t keys, size_t bytes) {
    offsets_.reserve(keys + 1);
    data_.reserve(bytes);
  }
  void add(std::string_view key) {
    data_.append(key);
    offsets_.push_back(data_.size());
  }
  size_t size() const { return offsets_.size() - 1; }
  std::string_view operator[](size_t i) const {
    return std::string_view(data_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  size_t max_len() const {
    size_t n = 0;
    for (size_t i = 0; i < size(); ++i) n = std::max(n, offsets_[i + 1] - offsets_[i]);
    return n;
  }

 private:
  std::string data_;
  std::vector<size_t> offsets_{0};
};

// "prefix0", "prefix1", ...: sequential decimal ids, as event keys usually are.
inline KeyList sequential_strings(size_t m, const std::string& prefix) {
  KeyList keys;
  keys.reserve(m, m * (prefix.size() + 8));
  for (size_t i = 0; i < m; ++i) keys.add(prefix + std::to_string(i));
  return keys;
}

// 2^blocks strings of 2*blocks characters, each block "Aa" or "BB". "Aa" and "BB" have the same
// Java String.hashCode (65*31 + 97 = 66*31 + 66 = 2112), so all of them share one hashCode:
// the classic attack on hashCode-based routing (Storm, Flink's keyBy).
inline KeyList java_colliding_strings(int blocks) {
  const size_t m = size_t{1} << blocks;
  KeyList keys;
  keys.reserve(m, m * 2 * static_cast<size_t>(blocks));
  std::string s(2 * static_cast<size_t>(blocks), ' ');
  for (uint64_t i = 0; i < m; ++i) {
    for (int b = 0; b < blocks; ++b) {
      const bool bb = (i >> b) & 1;
      s[2 * b] = bb ? 'B' : 'A';
      s[2 * b + 1] = bb ? 'B' : 'a';
    }
    keys.add(s);
  }
  return keys;
}

// Java's String.hashCode over bytes (ASCII input), in 32-bit wrapping arithmetic.
inline int32_t java_hash_code(std::string_view s) {
  uint32_t h = 0;
  for (unsigned char c : s) h = 31 * h + c;
  return static_cast<int32_t>(h);
}

// The base string and every string that differs from it in exactly one byte.
inline KeyList one_byte_variants(const std::string& base) {
  KeyList keys;
  keys.add(base);
  for (size_t pos = 0; pos < base.size(); ++pos) {
    for (int v = 0; v < 256; ++v) {
      if (static_cast<unsigned char>(base[pos]) == v) continue;
      std::string s = base;
      s[pos] = static_cast<char>(v);
      keys.add(s);
    }
  }
  return keys;
}

// A deterministic pseudorandom generator for test inputs only (splitmix64).
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t w = next();
      for (size_t j = i; j < n && j < i + 8; ++j) s[j] = static_cast<char>(w >> (8 * (j - i)));
    }
    return s;
  }

 private:
  uint64_t state_;
};

inline KeyList random_strings(size_t m, size_t len, uint64_t seed) {
  TestRng rng(seed);
  KeyList keys;
  keys.reserve(m, m * len);
  for (size_t i = 0; i < m; ++i) keys.add(rng.bytes(len));
  return keys;
}

}  // namespace spate::hash_testing
