#pragma once
// Small seeded pseudo-random generators for the sketches' coin flips and samples.
//  - splitmix64(): Steele, Lea, Flood, "Fast splittable pseudorandom number generators"
//    (OOPSLA 2014); used to expand one 64-bit seed into many words.
//  - Xoshiro256: xoshiro256** (Blackman, Vigna, "Scrambled linear pseudorandom number
//    generators", 2021): period 2^256 - 1, state of four words, serializable so a restored sketch
//    draws the same future coins as the original.
// Not cryptographic. Guarantee: the same seed gives the same sequence on every platform.
// Thread-safety: plain values, one owner thread.

#include <array>
#include <cstdint>

#include "spate/hash/mix.h"

namespace spate {

// Advances *state and returns the next SplitMix64 output.
inline uint64_t splitmix64(uint64_t* state) { return mix64(*state += kGoldenGamma); }

class Xoshiro256 {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Xoshiro256(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& w : s_) w = splitmix64(&sm);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe to take the logarithm of.
  double uniform_pos() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift with rejection: unbiased).
  uint64_t below(uint64_t n) {
    __extension__ using U128 = unsigned __int128;
    U128 m = static_cast<U128>(next()) * n;
    auto lo = static_cast<uint64_t>(m);
    if (lo < n) {
      const uint64_t threshold = (0 - n) % n;
      while (lo < threshold) {
        m = static_cast<U128>(next()) * n;
        lo = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  const State& state() const { return s_; }
  // An all-zero state is the one fixed point of xoshiro; set_state refuses it (returns false).
  bool set_state(const State& s) {
    if ((s[0] | s[1] | s[2] | s[3]) == 0) return false;
    s_ = s;
    return true;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  State s_{};
};

}  // namespace spate
