#include "spate/hash/multiply_shift.h"

namespace spate {

VectorMultiplyShift::VectorMultiplyShift(const Seed128& seed) {
  KeyStream ks(seed, "spate.hash.vector-multiply-shift.v1");
  for (size_t i = 0; i <= kWords; ++i) {
    a_lo_[i] = ks.next();
    a_hi_[i] = ks.next();
  }
  const uint64_t b_lo = ks.next();
  const uint64_t b_hi = ks.next();
  b_ = (static_cast<hash_internal::Uint128>(b_hi) << 64) | b_lo;
}

VectorMultiplyShift VectorMultiplyShift::unsafe_from_words(const uint64_t* words) {
  VectorMultiplyShift h;
  for (size_t i = 0; i <= kWords; ++i) {
    h.a_lo_[i] = words[2 * i];
    h.a_hi_[i] = words[2 * i + 1];
  }
  h.b_ = (static_cast<hash_internal::Uint128>(words[2 * kWords + 3]) << 64) | words[2 * kWords + 2];
  return h;
}

}  // namespace spate
