#pragma once
// RoutingHasher: spate's default hash for key placement (exchange, key_by, partitioners,
// power-of-two-choices), built to stay balanced against an adaptive attacker.
//
// Construction (docs/guarantees.md, "Hashing" and "Threat model"): universal compression to one
// 64-bit word, then a keyed PRF on that word; short keys go to the PRF directly.
//   n <= kDirectMaxBytes  : SipHash-1-3 (key K1) of the key bytes;
//   n <= kVectorMaxBytes  : SipHash-1-3 (K2) of VectorMultiplyShift (K3) of the bytes;
//   longer keys           : SipHash-1-3 (K4) of PolyHash61 (K5) of the bytes;
//   hash_u64(x)           : equals hash() of the 8 little-endian bytes of x.
// K1..K5 come from the seed through derive_seed() under distinct labels: the paths are
// independent functions and the seed itself is never used as a key.
//
// Guarantee (adaptive attacker, who picks keys after observing placements): the output is a
// pseudorandom function of the key — hash-then-PRF composition — distinguishable from a
// uniformly random function only by breaking SipHash-1-3 or through a collision of the
// compression step among the keys queried, each pair colliding with probability <= eps:
// eps = 0 up to kDirectMaxBytes (no compression), 2^-64 up to 128 bytes, and
// (ceil(n/7) + 1) / (2^61 - 1) beyond. Against an oblivious attacker any two fixed keys collide
// with probability <= eps + 2^-64. Observing placements says nothing about where other keys
// go, unlike a linear family (PolyHash61, MultiplyAddShift, VectorMultiplyShift,
// SimpleTabulation), whose key a handful of observed placements pins down.
// Hashes are stable across machines and builds for a given seed; changing the construction
// requires new derivation labels (".v2").
// Thread-safety: immutable after construction; hash() is const and safe from any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spate/hash/bytes.h"
#include "spate/hash/multiply_shift.h"
#include "spate/hash/poly_hash.h"
#include "spate/hash/seed.h"
#include "spate/hash/siphash.h"

namespace spate {

class RoutingHasher {
 public:
  // Path boundaries, chosen by measurement (docs/benchmarks.md).
  static constexpr size_t kDirectMaxBytes = 23;
  static constexpr size_t kVectorMaxBytes = VectorMultiplyShift::kMaxBytes;

  // The primary hash of a seed; the same as for_choice(seed, 0).
  explicit RoutingHasher(const Seed128& seed) : RoutingHasher(seed, 0) {}

  // Independent hashers from one seed: choice 0 is the primary, choice 1 the second choice of
  // power-of-two-choices or partial key grouping, and so on. Distinct choices use keys derived
  // under distinct indices, so their outputs are independent PRFs of the key.
  static RoutingHasher for_choice(const Seed128& seed, uint32_t choice) {
    return RoutingHasher(seed, choice);
  }

  uint64_t hash(std::string_view bytes) const {
    const size_t n = bytes.size();
    if (n <= kDirectMaxBytes) return direct_.hash(bytes);
    if (n <= kVectorMaxBytes) return finish_mid_.hash_u64(mid_.hash(bytes));
    return hash_long(bytes);
  }

  uint64_t hash_u64(uint64_t x) const { return direct_.hash_u64(x); }

 private:
  RoutingHasher(const Seed128& seed, uint32_t choice);

  // Out of line: keeps the short paths' inlined code small at every call site.
  [[gnu::noinline]] uint64_t hash_long(std::string_view bytes) const {
    return finish_long_.hash_u64(long_.hash(bytes));
  }

  SipHash13 direct_;
  SipHash13 finish_mid_;
  SipHash13 finish_long_;
  VectorMultiplyShift mid_;
  PolyHash61 long_;
};

// A bucket in [0, n) from a 64-bit hash, without modulo: floor(h n / 2^64) (Lemire, "Fast
// random integer generation in an interval", 2019). REQUIRES: n > 0.
// Guarantee: for h uniform on 64 bits each bucket has 2^64/n inputs rounded down or up, so
// |Pr[bucket = i] - 1/n| < 2^-64: a relative bias below n / 2^64 <= 2^-32. It uses the high
// bits of h, which are the strong ones in every family here.
inline uint32_t reduce(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>((static_cast<hash_internal::Uint128>(h) * n) >> 64);
}

}  // namespace spate
