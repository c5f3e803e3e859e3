#include "spate/hash/poly_hash.h"

namespace spate {

namespace {

// Uniform in [0, p): 61 pseudorandom bits, rejecting the single value p (probability 2^-61).
uint64_t uniform_mod_p(KeyStream& ks) {
  for (;;) {
    const uint64_t v = ks.next() >> 3;
    if (v < PolyHash61::kPrime) return v;
  }
}

}  // namespace

PolyHash61::PolyHash61(const Seed128& seed) : PolyHash61(0, 0) {
  KeyStream ks(seed, "spate.hash.poly61.v1");
  const uint64_t a = uniform_mod_p(ks);
  const uint64_t b = uniform_mod_p(ks);
  *this = PolyHash61(a, b);
}

PolyHash61 PolyHash61::unsafe_from_params(uint64_t a, uint64_t b) {
  return PolyHash61(a % kPrime, b % kPrime);
}

PolyHash61::PolyHash61(uint64_t a, uint64_t b) : b_(b) {
  pow_[0] = 1;
  for (size_t i = 1; i <= kBlock; ++i) pow_[i] = mersenne61::mul(pow_[i - 1], a);
}

}  // namespace spate
