#pragma once
// PolyHash61: polynomial hashing of byte strings over the field Z_p, p = 2^61 - 1 — the
// lecture's `h = (h*a + x[i]) mod p` (Carter & Wegman 1979; Dietzfelbinger et al. 1992), made
// fast with 64x64->128-bit multiplies and division-free Mersenne reduction.
//
// The string s of n bytes is cut into L = ceil(n/7) little-endian 7-byte digits x_1..x_L
// (each < 2^56 < p, so distinct strings give distinct digit sequences; 8-byte words would not:
// x and x + p are congruent, a key-independent collision any attacker could use). With the
// digit d_0 = n + 1 in front (it separates lengths), and a, b uniform in [0, p):
//     h(s) = (d_0 a^(L+1) + x_1 a^L + ... + x_L a + b) mod p.
// That is the lecture's Horner loop h <- (h + x_i) a. It is evaluated kBlock digits at a time
// with the powers a^1..a^kBlock precomputed: within a block every product is independent (the
// CPU runs them in parallel) and one reduction serves the whole block; blocks chain by
// h <- (h + d_1) a^k + d_2 a^(k-1) + ... + d_k a. Keys up to (kBlock - 1) * 7 = 105 bytes
// take a single block.
//
// Guarantee: for distinct strings s != t of at most n bytes and any delta,
//     Pr_a[h(s) - h(t) = delta (mod p)] <= (L + 1) / p,      L = ceil(n / 7),
// because h(s) - h(t) - delta is a non-zero polynomial in a of degree <= L + 1 (its
// coefficients differ somewhere; every data digit has degree >= 1). So the collision
// probability is at most (L + 1) / p ~ (L + 1) 2^-61, and with b each single value is uniform
// on [0, p). Output: [0, p), 61 bits; to pick a bucket use reduce(h << 3, n).
// This bound holds for keys chosen without seeing hash outputs (an oblivious attacker); the
// family is linear in its key, so outputs that leak let an attacker solve for a — route with
// RoutingHasher, never with PolyHash61 alone.
// Thread-safety: immutable after construction; hash() is const and safe from any thread.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spate/hash/bytes.h"
#include "spate/hash/mersenne61.h"
#include "spate/hash/seed.h"

namespace spate {

class PolyHash61 {
 public:
  static constexpr uint64_t kPrime = mersenne61::kPrime;
  static constexpr size_t kDigitBytes = 7;

  explicit PolyHash61(const Seed128& seed);

  // TESTS ONLY: a fixed (a, b), both reduced mod p.
  static PolyHash61 unsafe_from_params(uint64_t a, uint64_t b);

  uint64_t hash(std::string_view bytes) const {
    return hash(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  uint64_t hash(const uint8_t* p, size_t n) const;

  static constexpr size_t digits(size_t n) { return (n + kDigitBytes - 1) / kDigitBytes; }
  // The guarantee above for strings of at most max_len bytes: (digits(max_len) + 1) / p.
  static double collision_bound(size_t max_len) {
    return static_cast<double>(digits(max_len) + 1) / static_cast<double>(kPrime);
  }

 private:
  PolyHash61(uint64_t a, uint64_t b);

  // Digit starting at byte s of p[0..n), s < n: min(7, n - s) bytes, little-endian.
  static uint64_t load_digit(const uint8_t* p, size_t n, size_t s) {
    using hash_internal::load_le64;
    if (s + 8 <= n) return load_le64(p + s) & kDigitMask;
    if (n >= 8) return load_le64(p + n - 8) >> (8 * (8 - (n - s)));  // last n - s (< 8) bytes
    return hash_internal::load_le_upto8(p + s, n - s);
  }

  static constexpr uint64_t kDigitMask = (uint64_t{1} << 56) - 1;
  static constexpr size_t kBlock = 16;

  // A sum of 64x64-bit products as two words with an explicit carry (GCC keeps these in
  // registers; an unsigned __int128 accumulator in a loop ends up on the stack).
  struct Sum {
    uint64_t lo = 0;
    uint64_t hi = 0;
    void add(uint64_t x, uint64_t y) {
      const hash_internal::Uint128 prod = static_cast<hash_internal::Uint128>(x) * y;
      const uint64_t plo = static_cast<uint64_t>(prod);
      lo += plo;
      hi += static_cast<uint64_t>(prod >> 64) + (lo < plo);
    }
    hash_internal::Uint128 value() const {
      return (static_cast<hash_internal::Uint128>(hi) << 64) | lo;
    }
  };

  // sum + the digits at q, q + 7, ... (before end), each read with one 8-byte load, times
  // power[0], power[-1], .... Out of line so its loop gets registers of its own; Sum travels by
  // value (in registers) to avoid a store-forwarding stall.
  [[gnu::noinline]] static Sum sum_full_digits(const uint8_t* q, const uint8_t* end,
                                               const uint64_t* power, Sum sum) {
    for (; q != end; q += kDigitBytes, --power) {
      sum.add(hash_internal::load_le64(q) & kDigitMask, *power);
    }
    return sum;
  }

  uint64_t pow_[kBlock + 1];  // a^0 .. a^kBlock mod p
  uint64_t b_;
};

inline uint64_t PolyHash61::hash(const uint8_t* p, size_t n) const {
  using hash_internal::Uint128;
  // Bounds: a digit is < 2^56, a power < 2^61, the carried g < 2^61 + 8, so a block's sum is
  // below 2^122.1 + 15 * 2^117 < 2^123, inside fold128's 2^124 contract.
  const size_t digit_count = digits(n);
  // Digits 0 .. full-1 start at least 8 bytes before the end (one plain load each); the last
  // one or two digits go through load_digit().
  const size_t full = n >= 8 ? (n - 8) / kDigitBytes + 1 : 0;
  Sum sum;
  size_t k = std::min(digit_count + 1, kBlock);  // terms in the current block
  // The first block also carries d_0 = n + 1, with the highest power.
  sum.add(n + 1, pow_[k]);
  size_t next = 0;       // data digits consumed
  size_t terms = k - 1;  // data digits left in the current block, powers terms .. 1
  for (;;) {
    const size_t stop = next + terms;
    const size_t fast = std::min(stop, full);
    const uint64_t* power = pow_ + terms;
    if (next < fast) {
      sum = sum_full_digits(p + kDigitBytes * next, p + kDigitBytes * fast, power, sum);
      power -= fast - next;
      next = fast;
    }
    for (; next < stop; ++next, --power) sum.add(load_digit(p, n, kDigitBytes * next), *power);
    const uint64_t g = mersenne61::fold128(sum.value());
    if (next >= digit_count) return mersenne61::add(mersenne61::finish(g), b_);
    // Next block: g <- (g + d_1) a^k + d_2 a^(k-1) + ... + d_k a.
    k = std::min(digit_count - next, kBlock);
    sum = Sum();
    sum.add(g + load_digit(p, n, kDigitBytes * next), pow_[k]);
    ++next;
    terms = k - 1;
  }
}

}  // namespace spate
