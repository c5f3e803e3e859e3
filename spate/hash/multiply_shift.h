#pragma once
// Multiply-add-shift hashing (Dietzfelbinger 1996) for 64-bit integers (MultiplyAddShift) and
// for short byte strings (VectorMultiplyShift, the vector form).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spate/hash/bytes.h"
#include "spate/hash/seed.h"

namespace spate {

// MultiplyAddShift: Dietzfelbinger's multiply-add-shift hashing of 64-bit integers,
//     h(x) = ((a x + b) mod 2^128) >> 64,      a, b uniform in [0, 2^128).
// Guarantee: strongly universal (2-independent) into 64 bits — for x != y and any u, v,
//     Pr[h(x) = u and h(y) = v] = 2^-128,
// so each value is uniform and Pr[h(x) = h(y)] = 2^-64 (Dietzfelbinger, "Universal hashing and
// k-wise independent random variables via integer arithmetic without primes", STACS 1996;
// Thorup, "High speed hashing for integers and strings", 2015, strong multiply-shift: w-bit keys
// into l bits need (w + l - 1)-bit arithmetic; here w = l = 64, so 128 bits). The top bits are the
// good ones: take buckets with reduce(h, n), never h % n on the low bits.
// The bound is for keys chosen independently of the hash (an oblivious attacker). The family is
// linear: a handful of observed placements determines (a, b) — route with RoutingHasher.
// Thread-safety: immutable after construction; hash() is const and safe from any thread.
class MultiplyAddShift {
 public:
  explicit MultiplyAddShift(const Seed128& seed) {
    KeyStream ks(seed, "spate.hash.multiply-add-shift.v1");
    a_lo_ = ks.next();
    a_hi_ = ks.next();
    b_lo_ = ks.next();
    b_hi_ = ks.next();
  }

  // TESTS ONLY: a fixed a = a_hi 2^64 + a_lo, b = b_hi 2^64 + b_lo.
  static MultiplyAddShift unsafe_from_params(uint64_t a_lo, uint64_t a_hi, uint64_t b_lo,
                                             uint64_t b_hi) {
    return MultiplyAddShift(a_lo, a_hi, b_lo, b_hi);
  }

  uint64_t hash(uint64_t x) const {
    using hash_internal::Uint128;
    // a x mod 2^128 = a_lo x + ((a_hi x) mod 2^64) 2^64, so the top word of (a x + b) is
    // top(a_lo x + b) + a_hi x (mod 2^64). Unsigned overflow wraps mod 2^128 / 2^64 as needed.
    const Uint128 b = (static_cast<Uint128>(b_hi_) << 64) | b_lo_;
    const Uint128 t = static_cast<Uint128>(a_lo_) * x + b;
    return static_cast<uint64_t>(t >> 64) + a_hi_ * x;
  }

 private:
  MultiplyAddShift(uint64_t a_lo, uint64_t a_hi, uint64_t b_lo, uint64_t b_hi)
      : a_lo_(a_lo), a_hi_(a_hi), b_lo_(b_lo), b_hi_(b_hi) {}

  uint64_t a_lo_, a_hi_, b_lo_, b_hi_;
};

// VectorMultiplyShift: the vector form of multiply-add-shift for byte strings of at most
// kMaxBytes bytes. The string is read as little-endian 64-bit words x_1..x_d (the last one
// zero-padded), followed by its length n as one more coordinate, so strings of different
// lengths are different vectors; with a_1..a_(d+1), b uniform in [0, 2^128):
//     h(s) = ((a_1 x_1 + ... + a_d x_d + a_len n + b) mod 2^128) >> 64.
// Guarantee: strongly universal into 64 bits over strings of <= kMaxBytes bytes — for s != t,
// Pr[h(s) = u and h(t) = v] = 2^-128, so Pr[h(s) = h(t)] = 2^-64. (Dietzfelbinger 1996; Thorup,
// "High speed hashing for integers and strings", 2015: fix every a_i but one coordinate j where
// s and t differ; a_j (s_j - t_j) is then uniform on the multiples of 2^z, z < 64, of
// [0, 2^128), and b makes the first value uniform, which leaves the scalar case's argument
// unchanged by the constant offsets of the other coordinates.)
// Cost: one 64x64->128 and one 64x64->64 multiply per 8 bytes, all independent.
// Linear in its key, like every universal family here: route with RoutingHasher.
// Thread-safety: immutable after construction; hash() is const and safe from any thread.
class VectorMultiplyShift {
 public:
  static constexpr size_t kMaxBytes = 128;

  explicit VectorMultiplyShift(const Seed128& seed);

  // REQUIRES: bytes.size() <= kMaxBytes.
  uint64_t hash(std::string_view bytes) const {
    return hash(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  uint64_t hash(const uint8_t* p, size_t n) const {
    using hash_internal::load_le64;
    using hash_internal::Uint128;
    // a_i x mod 2^128 = a_lo x + ((a_hi x) mod 2^64) 2^64: the a_lo products need 128 bits,
    // the a_hi products only touch the top word, so they are summed apart in 64 bits.
    Uint128 low = b_ + static_cast<Uint128>(a_lo_[kWords]) * n;
    uint64_t high = a_hi_[kWords] * n;
    const size_t words = n / 8;
    for (size_t i = 0; i < words; ++i) {
      const uint64_t x = load_le64(p + 8 * i);
      low += static_cast<Uint128>(a_lo_[i]) * x;
      high += a_hi_[i] * x;
    }
    if (const size_t rest = n & 7; rest != 0) {
      // The last n mod 8 bytes as the low bytes of one more word.
      const uint64_t x =
          n >= 8 ? load_le64(p + n - 8) >> (8 * (8 - rest)) : hash_internal::load_le_upto8(p, n);
      low += static_cast<Uint128>(a_lo_[words]) * x;
      high += a_hi_[words] * x;
    }
    return static_cast<uint64_t>(low >> 64) + high;
  }

  // TESTS ONLY: reads a_1..a_(kWords+1) and b from `words` (2 x 64 bits each, low word first).
  static VectorMultiplyShift unsafe_from_words(const uint64_t* words);

 private:
  static constexpr size_t kWords = kMaxBytes / 8;
  VectorMultiplyShift() = default;

  uint64_t a_lo_[kWords + 1];  // a_1..a_kWords for the words, a_(kWords+1) for the length
  uint64_t a_hi_[kWords + 1];
  hash_internal::Uint128 b_;
};

}  // namespace spate
