// SipHash-2-4 and SipHash-1-3 against published vectors and against a byte-at-a-time
// transcription of the paper's specification.

#include "spate/hash/siphash.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "spate/hash/hash_test_util.h"
#include "spate/hash/seed.h"

namespace spate {
namespace {

// Key 00 01 .. 0f, as in the paper's Appendix A and the reference implementation's vectors.
Seed128 paper_key() {
  std::array<uint8_t, 16> k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(i);
  return Seed128::unsafe_from_bytes(k);
}

Seed128 zero_key() { return Seed128::unsafe_from_bytes({}); }

// Message 00 01 .. (len-1).
std::string counting_message(size_t len) {
  std::string m(len, '\0');
  for (size_t i = 0; i < len; ++i) m[i] = static_cast<char>(i);
  return m;
}

// SipHash-2-4, key 00..0f, message 00 01 .. (i-1) for i = 0..63: the 64 vectors published with
// the reference implementation (github.com/veorq/SipHash, vectors.h; the same table is in the
// Linux kernel's lib/siphash tests). Entry 15 is the paper's worked example (Appendix A).
constexpr std::array<uint64_t, 64> kSipHash24Vectors = {
    0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
    0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
    0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
    0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
    0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
    0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
    0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
    0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
    0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
    0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
    0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
    0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
    0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
    0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
    0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
    0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
};

TEST(SipHash24, PublishedVectors) {
  const SipHash24 sip(paper_key());
  for (size_t len = 0; len < kSipHash24Vectors.size(); ++len) {
    EXPECT_EQ(sip.hash(counting_message(len)), kSipHash24Vectors[len]) << "length " << len;
  }
}

TEST(SipHash24, PaperAppendixExample) {
  // Appendix A: key 00..0f, the 15-byte message 00..0e.
  EXPECT_EQ(SipHash24(paper_key()).hash(counting_message(15)), 0xa129ca6149be45e5ULL);
}

// SipHash-1-3 with the all-zero key, message 00 01 .. (i-1): values of the reference
// implementation (veorq/SipHash built with cROUNDS=1, dROUNDS=3), as listed in OCaml's
// testsuite (tests/hash/sip13 vectors) and, for the empty message, Rust's SipHasher13.
constexpr std::array<uint64_t, 18> kSipHash13ZeroKeyVectors = {
    0xd1fba762150c532c, 0x68a914128e01e473, 0x010bac45c41e3669, 0x4d4c9a4a8ef6e0ad,
    0x7cc43f98813e4dbd, 0x5abe2169dff36275, 0xe3c25f87624f1cdb, 0x2f098ab0c751325a,
    0xead411e67ebe2eea, 0x75927f9d95124362, 0xaf9f77a65ab51a1d, 0xfe64ce8b6617fcff,
    0xa6baf4fb0f9fe1c2, 0xa0cf3211850f8e0d, 0x7f86049379fbfe67, 0xf30eb725bb91c9ea,
    0x8972188433a5c5b7, 0x4883c49a2c009c1d,
};

TEST(SipHash13, ReferenceVectors) {
  const SipHash13 sip(zero_key());
  for (size_t len = 0; len < kSipHash13ZeroKeyVectors.size(); ++len) {
    EXPECT_EQ(sip.hash(counting_message(len)), kSipHash13ZeroKeyVectors[len]) << "length " << len;
  }
  EXPECT_EQ(sip.hash(counting_message(31)), 0x169739443111d49bULL);
  EXPECT_EQ(sip.hash(counting_message(32)), 0x31ef8061c910629bULL);
  EXPECT_EQ(sip.hash(counting_message(63)), 0x385d3e39e5f37359ULL);
  EXPECT_EQ(sip.hash("siphash"), 0x8264ceeccb16bcbeULL);
}

// The specification, transcribed with no shortcuts: byte-wise little-endian words, the last
// block padded byte by byte with n mod 256 in its top byte.
template <int C, int D>
uint64_t spec_siphash(const Seed128& key, const std::string& m) {
  const auto kb = key.unsafe_bytes();
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  for (int i = 7; i >= 0; --i) {
    k0 = (k0 << 8) | kb[i];
    k1 = (k1 << 8) | kb[8 + i];
  }
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = k1 ^ 0x7465646279746573ULL;
  auto rotl = [](uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  auto sipround = [&] {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  };
  const size_t n = m.size();
  const size_t blocks = n / 8 + 1;
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t w = 0;
    for (int i = 7; i >= 0; --i) {
      const size_t at = 8 * b + static_cast<size_t>(i);
      uint8_t byte = 0;
      if (at < n) byte = static_cast<uint8_t>(m[at]);
      if (b == blocks - 1 && i == 7) byte = static_cast<uint8_t>(n & 0xff);
      w = (w << 8) | byte;
    }
    v3 ^= w;
    for (int r = 0; r < C; ++r) sipround();
    v0 ^= w;
  }
  v2 ^= 0xff;
  for (int r = 0; r < D; ++r) sipround();
  return v0 ^ v1 ^ v2 ^ v3;
}

TEST(SipHash, MatchesSpecificationAtEveryLength) {
  hash_testing::TestRng rng(2012);
  for (int trial = 0; trial < 8; ++trial) {
    const Seed128 key = seed_from_u64(rng.next());
    const SipHash13 s13(key);
    const SipHash24 s24(key);
    for (size_t len = 0; len <= 300; ++len) {
      const std::string m = rng.bytes(len);
      ASSERT_EQ(s13.hash(m), (spec_siphash<1, 3>(key, m))) << "1-3, length " << len;
      ASSERT_EQ(s24.hash(m), (spec_siphash<2, 4>(key, m))) << "2-4, length " << len;
    }
  }
}

TEST(SipHash, HashU64EqualsHashOfLittleEndianBytes) {
  hash_testing::TestRng rng(7);
  const SipHash13 s13(seed_from_u64(1));
  const SipHash24 s24(seed_from_u64(2));
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = i < 10 ? static_cast<uint64_t>(i) : rng.next();
    std::string le(8, '\0');
    for (int b = 0; b < 8; ++b) le[b] = static_cast<char>((x >> (8 * b)) & 0xff);
    ASSERT_EQ(s13.hash_u64(x), s13.hash(le));
    ASSERT_EQ(s24.hash_u64(x), s24.hash(le));
  }
}

TEST(SipHash, KeyChangesEveryOutput) {
  const SipHash13 a(seed_from_u64(1));
  const SipHash13 b(seed_from_u64(2));
  for (size_t len = 0; len < 40; ++len) {
    EXPECT_NE(a.hash(counting_message(len)), b.hash(counting_message(len)));
  }
}

}  // namespace
}  // namespace spate
