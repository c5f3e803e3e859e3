#pragma once
// The SplitMix64 finalizer (Steele, Lea & Flood 2014): a bijection of 64-bit words whose every
// output bit depends on every input bit. Not a hash on its own (it has no key); spate uses it to
// derive words from a keyed hash and to step its PRNG.
// Thread-safety: a pure function.

#include <cstdint>

namespace spate {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;  // 2^64 / the golden ratio, odd

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace spate
