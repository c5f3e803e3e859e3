#pragma once
// SimpleTabulation: simple tabulation hashing of 64-bit integers (Carter & Wegman 1979;
// analysed by Patrascu & Thorup, "The power of simple tabulation hashing", JACM 2012).
// The key is split into 8 bytes x_0..x_7 and h(x) = T_0[x_0] xor ... xor T_7[x_7], with the
// 8 x 256 table entries pseudorandom 64-bit words (16 KiB, filled by KeyStream).
// Guarantee: 3-independent, hence strongly universal: Pr[h(x) = h(y)] = 2^-64 for x != y, and
// (Patrascu & Thorup) bucket loads obey Chernoff-type concentration bounds and linear probing
// and cuckoo hashing run in their fully-random expected time, although it is not 4-independent
// (h(a,c) ^ h(b,c) ^ h(a,d) ^ h(b,d) = 0 for any keys differing in two bytes).
// The bound is for keys chosen independently of the hash (an oblivious attacker); the family is
// linear over GF(2), so leaked outputs reveal table differences — route with RoutingHasher.
// Thread-safety: immutable after construction; hash() is const and safe from any thread.

#include <cstdint>
#include <vector>

#include "spate/hash/seed.h"

namespace spate {

class SimpleTabulation {
 public:
  explicit SimpleTabulation(const Seed128& seed);

  uint64_t hash(uint64_t x) const {
    const uint64_t* t = table_.data();
    uint64_t h = 0;
    for (int i = 0; i < 8; ++i) h ^= t[i * 256 + ((x >> (8 * i)) & 0xff)];
    return h;
  }

 private:
  std::vector<uint64_t> table_;  // 8 tables of 256 words, table i at [256 i, 256 i + 256)
};

}  // namespace spate
