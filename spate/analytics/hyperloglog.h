#pragma once
// HyperLogLog: distinct-count sketch of 2^p one-byte registers over 64-bit hashes
// (Flajolet, Fusy, Gandouet, Meunier 2007), estimated with Ertl's improved raw estimator
// ("New cardinality estimation algorithms for HyperLogLog sketches", 2017, Algorithm 6), which
// needs no empirical bias tables and covers the small range (it contains the linear-counting
// regime through its sigma term) and, with 64-bit hashes, the large range.
//
// Guarantee: relative standard error about 1.04 / sqrt(2^p) (1.63% at p = 12) at every
// cardinality; union = merge (register-wise max) is exact: merge(a, b) has the same registers
// as one sketch fed both streams. Memory 2^p bytes; add is O(1), no allocation.
//
// Hashing: add_hash() takes a caller's 64-bit hash (must be uniform: e.g. XXH3, the record's
// carried hash); add(string_view) and add(uint64_t) hash with XXH3-64 under this sketch's seed.
// merge() requires equal precision and seed.
//
// Thread-safety: plain value, one updating thread; merge() reads `other`, which must not be
// updated concurrently.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spate/analytics/item_hash.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

class HyperLogLog {
 public:
  static constexpr uint32_t kTypeTag = make_type_tag("HLL1");
  static constexpr uint16_t kVersion = 1;
  static constexpr int kMinPrecision = 4;
  static constexpr int kMaxPrecision = 18;
  static constexpr int kDefaultPrecision = 12;

  // REQUIRES: kMinPrecision <= precision <= kMaxPrecision (else throws std::invalid_argument).
  explicit HyperLogLog(int precision = kDefaultPrecision, uint64_t seed = 0);

  void add_hash(uint64_t hash) {
    const uint64_t index = hash >> (64 - precision_);
    const uint64_t rest = hash << precision_;
    // Position of the first 1 bit in the remaining 64 - p bits, 64 - p + 1 when all are zero.
    const auto rank = static_cast<uint8_t>(rest == 0 ? max_rank() : __builtin_clzll(rest) + 1);
    uint8_t& r = registers_[index];
    if (rank > r) r = rank;
  }
  void add(std::string_view item) { add_hash(hash_item(item, seed_)); }
  void add(uint64_t item) { add_hash(hash_item(item, seed_)); }

  // Register-wise max. Fails (kInvalidArgument) unless precision and seed are equal.
  [[nodiscard]] Status merge(const HyperLogLog& other);

  // Estimated number of distinct hashes added (O(2^p) per call).
  double estimate() const;
  // True when nothing was ever added.
  bool empty() const;

  int precision() const { return precision_; }
  uint64_t seed() const { return seed_; }
  // 1.04 / sqrt(2^p): the relative standard error this sketch is specified for.
  double standard_error() const;
  const std::vector<uint8_t>& registers() const { return registers_; }

  std::string serialize() const;
  static Result<HyperLogLog> deserialize(std::string_view bytes);

 private:
  int max_rank() const { return 64 - precision_ + 1; }

  int precision_;
  uint64_t seed_;
  std::vector<uint8_t> registers_;
};

}  // namespace spate
