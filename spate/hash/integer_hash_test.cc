// MultiplyAddShift against its 128-bit formula, and SimpleTabulation's defining structure.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

#include "spate/hash/bytes.h"
#include "spate/hash/hash_test_util.h"
#include "spate/hash/multiply_shift.h"
#include "spate/hash/tabulation.h"

namespace spate {
namespace {

using hash_internal::Uint128;

TEST(MultiplyAddShift, MatchesTheFormulaIn128BitArithmetic) {
  hash_testing::TestRng rng(1996);
  for (int trial = 0; trial < 200; ++trial) {
    uint64_t p[4];
    for (uint64_t& w : p) w = rng.next();
    if (trial == 0) p[0] = p[1] = p[2] = p[3] = ~uint64_t{0};  // every carry at once
    if (trial == 1) p[0] = p[1] = p[2] = p[3] = 0;
    const auto h = MultiplyAddShift::unsafe_from_params(p[0], p[1], p[2], p[3]);
    const Uint128 a = (static_cast<Uint128>(p[1]) << 64) | p[0];
    const Uint128 b = (static_cast<Uint128>(p[3]) << 64) | p[2];
    for (int i = 0; i < 200; ++i) {
      const uint64_t x = i < 3 ? (i == 2 ? ~uint64_t{0} : static_cast<uint64_t>(i)) : rng.next();
      const uint64_t want = static_cast<uint64_t>((a * x + b) >> 64);  // Uint128 wraps mod 2^128
      ASSERT_EQ(h.hash(x), want);
    }
  }
}

TEST(MultiplyAddShift, SeedDeterminesTheFunction) {
  const MultiplyAddShift a(seed_from_u64(1));
  const MultiplyAddShift b(seed_from_u64(1));
  const MultiplyAddShift c(seed_from_u64(2));
  EXPECT_EQ(a.hash(12345), b.hash(12345));
  EXPECT_NE(a.hash(12345), c.hash(12345));
}

// The vector formula with every coefficient explicit: words of the zero-padded string, then n.
uint64_t vector_reference(const uint64_t* w, const std::string& s) {
  const size_t kWords = VectorMultiplyShift::kMaxBytes / 8;
  auto coef = [&](size_t i) { return (static_cast<Uint128>(w[2 * i + 1]) << 64) | w[2 * i]; };
  Uint128 acc = (static_cast<Uint128>(w[2 * kWords + 3]) << 64) | w[2 * kWords + 2];  // b
  for (size_t i = 0; i * 8 < s.size(); ++i) {
    uint64_t x = 0;
    for (size_t j = std::min(s.size(), 8 * i + 8); j > 8 * i; --j) {
      x = (x << 8) | static_cast<uint8_t>(s[j - 1]);
    }
    acc += coef(i) * x;
  }
  acc += coef(kWords) * s.size();
  return static_cast<uint64_t>(acc >> 64);
}

TEST(VectorMultiplyShift, MatchesTheFormulaAtEveryLength) {
  hash_testing::TestRng rng(1997);
  constexpr size_t kParams = 2 * (VectorMultiplyShift::kMaxBytes / 8 + 2);
  for (int trial = 0; trial < 20; ++trial) {
    uint64_t w[kParams];
    for (uint64_t& x : w) x = trial == 0 ? ~uint64_t{0} : rng.next();
    const auto h = VectorMultiplyShift::unsafe_from_words(w);
    for (size_t len = 0; len <= VectorMultiplyShift::kMaxBytes; ++len) {
      std::string s = rng.bytes(len);
      if (trial == 1) std::fill(s.begin(), s.end(), '\xff');
      ASSERT_EQ(h.hash(s), vector_reference(w, s)) << "trial " << trial << " length " << len;
    }
  }
}

TEST(VectorMultiplyShift, LengthSeparatesZeroPaddedStrings) {
  const VectorMultiplyShift h(seed_from_u64(8));
  std::set<uint64_t> seen;
  for (size_t len = 0; len <= 64; ++len) seen.insert(h.hash(std::string(len, '\0')));
  EXPECT_EQ(seen.size(), 65u);
}

TEST(SimpleTabulation, SeedDeterminesTheFunction) {
  const SimpleTabulation a(seed_from_u64(1));
  const SimpleTabulation b(seed_from_u64(1));
  const SimpleTabulation c(seed_from_u64(2));
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
    EXPECT_EQ(a.hash(x), b.hash(x));
    EXPECT_NE(a.hash(x), c.hash(x));
  }
}

TEST(SimpleTabulation, IsAnXorOfPerByteTables) {
  // h(x) ^ h(0) for x with one non-zero byte is that byte's table difference, and the hash of a
  // key with several bytes is the XOR of those differences (and h(0)).
  const SimpleTabulation t(seed_from_u64(3));
  const uint64_t h0 = t.hash(0);
  hash_testing::TestRng rng(4);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = rng.next();
    uint64_t want = h0;
    for (int b = 0; b < 8; ++b) want ^= t.hash(x & (uint64_t{0xff} << (8 * b))) ^ h0;
    ASSERT_EQ(t.hash(x), want);
  }
}

TEST(SimpleTabulation, ThreeButNotFourIndependent) {
  // The documented limit: keys (a,c), (b,c), (a,d), (b,d) — two bytes, two values each — XOR to
  // zero for every table. (It is why chi-square tests of structured key sets are stricter
  // than the family's guarantee for this family; see hash_quality_test.cc.)
  const SimpleTabulation t(seed_from_u64(5));
  for (uint64_t a = 0; a < 16; ++a) {
    for (uint64_t c = 0; c < 16; ++c) {
      const uint64_t b = a + 100;
      const uint64_t d = c + 200;
      EXPECT_EQ(t.hash(a | c << 8) ^ t.hash(b | c << 8) ^ t.hash(a | d << 8) ^ t.hash(b | d << 8),
                0u);
    }
  }
  // Distinct outputs on sequential keys (collisions have probability 2^-64 per pair).
  std::set<uint64_t> seen;
  for (uint64_t x = 0; x < 10000; ++x) seen.insert(t.hash(x));
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace spate
