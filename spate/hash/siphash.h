#pragma once
// SipHash-c-d: the keyed pseudorandom function of Aumasson & Bernstein, "SipHash: a fast
// short-input PRF" (INDOCRYPT 2012), written from the paper's specification.
//
// SipHash24 (2 compression rounds, 4 finalization rounds) is the paper's recommended PRF; it
// is spate's KDF. SipHash13 is the faster variant used by Rust's HashMap and CPython's str
// hash; it is the final step of RoutingHasher. The key is the 16 bytes of a Seed128, k0 =
// bytes 0..7 and k1 = bytes 8..15 read little-endian, exactly the paper's key layout, so the
// paper's test vectors (key 00 01 .. 0f) apply as written.
//
// Guarantee: a PRF — to anyone without the key, outputs on distinct inputs look independent
// and uniform, even when inputs are chosen adaptively after seeing earlier outputs (the paper's
// claim for 2-4; 1-3 has fewer rounds and a smaller margin, but no attack better than generic
// key search is published, and routing needs unpredictability, not collision resistance).
// Output: 64 bits, uniform under that assumption.
// Thread-safety: immutable after construction; hash() is const and safe from any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spate/hash/bytes.h"
#include "spate/hash/seed.h"

namespace spate {

template <int kCompressionRounds, int kFinalRounds>
class SipHash {
 public:
  explicit SipHash(const Seed128& key)
      : SipHash(hash_internal::SeedAccess::lo(key), hash_internal::SeedAccess::hi(key)) {}

  // SipHash of the bytes.
  uint64_t hash(std::string_view bytes) const {
    return hash(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  uint64_t hash(const uint8_t* p, size_t n) const {
    using hash_internal::load_le64;
    State s = init_;
    // Message blocks: the n / 8 whole little-endian words, then the last block, which holds the
    // remaining n mod 8 bytes and n mod 256 in its top byte. Keys under 24 bytes (the routing
    // case) take straight-line code: few taken branches matter when the whole hash is ~10 ns.
    uint64_t last;
    if (n >= 8) {
      compress(s, load_le64(p));
      if (n >= 16) {
        compress(s, load_le64(p + 8));
        for (size_t i = 16; i + 8 <= n; i += 8) compress(s, load_le64(p + i));
      }
      // The n mod 8 trailing bytes are the top bytes of the word ending at p + n.
      const unsigned rest = static_cast<unsigned>(n & 7);
      const uint64_t w = load_le64(p + n - 8);
      last = rest != 0 ? w >> (64 - 8 * rest) : 0;
    } else {
      last = hash_internal::load_le_upto8(p, n);
    }
    compress(s, last | (static_cast<uint64_t>(n) << 56));
    return finalize(s);
  }

  // Equal to hash() of the 8 little-endian bytes of x (one message block and the length block).
  uint64_t hash_u64(uint64_t x) const {
    State s = init_;
    compress(s, x);
    compress(s, uint64_t{8} << 56);
    return finalize(s);
  }

 private:
  struct State {
    uint64_t v0, v1, v2, v3;
  };

  SipHash(uint64_t k0, uint64_t k1)
      // The paper's initialisation constants: "somepseudorandomlygeneratedbytes".
      : init_{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
              k1 ^ 0x7465646279746573ULL} {}

  static void round(State& s) {
    using hash_internal::rotl64;
    s.v0 += s.v1;
    s.v1 = rotl64(s.v1, 13);
    s.v1 ^= s.v0;
    s.v0 = rotl64(s.v0, 32);
    s.v2 += s.v3;
    s.v3 = rotl64(s.v3, 16);
    s.v3 ^= s.v2;
    s.v0 += s.v3;
    s.v3 = rotl64(s.v3, 21);
    s.v3 ^= s.v0;
    s.v2 += s.v1;
    s.v1 = rotl64(s.v1, 17);
    s.v1 ^= s.v2;
    s.v2 = rotl64(s.v2, 32);
  }

  static void compress(State& s, uint64_t m) {
    s.v3 ^= m;
    for (int i = 0; i < kCompressionRounds; ++i) round(s);
    s.v0 ^= m;
  }

  static uint64_t finalize(State& s) {
    s.v2 ^= 0xff;
    for (int i = 0; i < kFinalRounds; ++i) round(s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
  }

  State init_;
};

using SipHash13 = SipHash<1, 3>;
using SipHash24 = SipHash<2, 4>;

}  // namespace spate
