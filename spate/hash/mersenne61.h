#pragma once
// Arithmetic modulo the Mersenne prime p = 2^61 - 1, the field of PolyHash61.
// Reduction needs no division: since 2^61 = 1 (mod p), v = (v >> 61) + (v & p) (mod p).
// Guarantee: mul() and reduce() return the exact residue in [0, p) for the input ranges stated
// on each function (checked against unsigned __int128 "%" in poly_hash_test.cc).
// Thread-safety: pure functions.

#include <cstdint>

#include "spate/hash/bytes.h"

namespace spate::mersenne61 {

inline constexpr uint64_t kPrime = (uint64_t{1} << 61) - 1;

// Any 64-bit value to a value congruent mod p and below 2^61 + 8 ("partially reduced").
inline uint64_t fold(uint64_t v) { return (v & kPrime) + (v >> 61); }

// Partially reduced value (below 2^62) to its exact residue in [0, p).
inline uint64_t finish(uint64_t v) {
  v = fold(v);  // now < 2^61 + 2
  return v >= kPrime ? v - kPrime : v;
}

// A 128-bit value below 2^124 to a partially reduced value (< 2^61 + 8) congruent mod p.
// For such v, (v >> 61) < 2^63 and (v & p) < 2^61, so their 64-bit sum cannot carry.
inline uint64_t fold128(hash_internal::Uint128 v) {
  const uint64_t lo = static_cast<uint64_t>(v) & kPrime;
  const uint64_t hi = static_cast<uint64_t>(v >> 61);
  return fold(lo + hi);
}

// Exact residue of any 128-bit value.
inline uint64_t reduce(hash_internal::Uint128 v) {
  // Two folds of the 128-bit value, each exact in 128 bits, bring it below 2^62.
  v = (v & kPrime) + (v >> 61);  // < 2^61 + 2^67
  v = (v & kPrime) + (v >> 61);  // < 2^61 + 2^6
  return finish(static_cast<uint64_t>(v));
}

// a * b mod p for a, b < 2^62 (partially reduced inputs are fine); result in [0, p).
inline uint64_t mul(uint64_t a, uint64_t b) {
  return finish(fold128(static_cast<hash_internal::Uint128>(a) * b));
}

// a + b mod p for a, b in [0, p).
inline uint64_t add(uint64_t a, uint64_t b) {
  const uint64_t s = a + b;  // < 2^62
  return s >= kPrime ? s - kPrime : s;
}

}  // namespace spate::mersenne61
