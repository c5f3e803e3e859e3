// Mersenne-61 arithmetic against unsigned __int128 "%", PolyHash61's four-digit evaluation
// against the plain Horner loop of the lecture, and no byte hasher reading past a key's end.

#include "spate/hash/poly_hash.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "spate/hash/bytes.h"
#include "spate/hash/hash_test_util.h"
#include "spate/hash/mersenne61.h"
#include "spate/hash/routing_hash.h"
#include "spate/hash/siphash.h"

namespace spate {
namespace {

using hash_internal::Uint128;
constexpr uint64_t kP = mersenne61::kPrime;

std::vector<uint64_t> edge_values() {
  return {0,
          1,
          2,
          kP - 2,
          kP - 1,
          kP,
          kP + 1,
          kP + 7,
          2 * kP - 1,
          2 * kP,
          2 * kP + 5,
          (uint64_t{1} << 61),
          (uint64_t{1} << 62) - 1,
          (uint64_t{1} << 56) - 1,
          0x123456789abcdefULL & kP};
}

TEST(Mersenne61, MulMatchesInt128Reference) {
  hash_testing::TestRng rng(61);
  std::vector<uint64_t> values = edge_values();
  for (int i = 0; i < 2000; ++i) values.push_back(rng.next() >> 2);  // any value < 2^62
  for (uint64_t a : values) {
    for (size_t j = 0; j < 40; ++j) {
      const uint64_t b = values[(j * 7919 + a) % values.size()];
      const uint64_t want = static_cast<uint64_t>((static_cast<Uint128>(a) * b) % kP);
      ASSERT_EQ(mersenne61::mul(a, b), want) << a << " * " << b;
    }
  }
}

TEST(Mersenne61, ReduceMatchesInt128Reference) {
  hash_testing::TestRng rng(62);
  for (int i = 0; i < 100000; ++i) {
    Uint128 v = (static_cast<Uint128>(rng.next()) << 64) | rng.next();
    if (i % 3 == 1) v >>= (rng.next() % 128);
    if (i == 0) v = ~Uint128{0};
    if (i == 1) v = 0;
    if (i == 2) v = kP;
    ASSERT_EQ(mersenne61::reduce(v), static_cast<uint64_t>(v % kP));
  }
}

TEST(Mersenne61, Fold128StaysPartiallyReducedBelowItsBound) {
  hash_testing::TestRng rng(63);
  for (int i = 0; i < 100000; ++i) {
    // Any v < 2^124, the contract.
    const Uint128 v = ((static_cast<Uint128>(rng.next()) << 64) | rng.next()) >> 4;
    const uint64_t f = mersenne61::fold128(v);
    ASSERT_LT(f, (uint64_t{1} << 61) + 8);
    ASSERT_EQ(f % kP, static_cast<uint64_t>(v % kP));
    ASSERT_EQ(mersenne61::finish(f), static_cast<uint64_t>(v % kP));
  }
  EXPECT_EQ(mersenne61::fold128((Uint128{1} << 124) - 1) % kP,
            static_cast<uint64_t>(((Uint128{1} << 124) - 1) % kP));
}

TEST(Mersenne61, AddWrapsAtP) {
  EXPECT_EQ(mersenne61::add(kP - 1, 1), 0u);
  EXPECT_EQ(mersenne61::add(kP - 1, kP - 1), kP - 2);
  EXPECT_EQ(mersenne61::add(3, 4), 7u);
}

// The lecture's loop, one 7-byte digit at a time, every step reduced with "%":
//   h = 0; for d in (n + 1, x_1, ..., x_L): h = (h + d) * a mod p;  return (h + b) mod p.
uint64_t horner_reference(uint64_t a, uint64_t b, const std::string& s) {
  const size_t n = s.size();
  std::vector<uint64_t> digits{n + 1};
  for (size_t i = 0; i < n; i += 7) {
    uint64_t d = 0;
    for (size_t j = std::min(n, i + 7); j > i; --j) d = (d << 8) | static_cast<uint8_t>(s[j - 1]);
    digits.push_back(d);
  }
  Uint128 h = 0;
  for (uint64_t d : digits) h = ((h + d) % kP) * a % kP;
  return static_cast<uint64_t>((h + b) % kP);
}

TEST(PolyHash61, MatchesHornerReferenceAtEveryLength) {
  hash_testing::TestRng rng(1979);
  std::vector<std::pair<uint64_t, uint64_t>> params = {{0, 0}, {1, 0}, {kP - 1, kP - 1}, {2, 3}};
  for (int i = 0; i < 12; ++i) params.emplace_back(rng.next() % kP, rng.next() % kP);
  for (const auto& [a, b] : params) {
    const PolyHash61 poly = PolyHash61::unsafe_from_params(a, b);
    for (size_t len = 0; len <= 260; ++len) {
      std::string s = rng.bytes(len);
      if (len % 5 == 0) std::fill(s.begin(), s.end(), '\xff');  // largest digits
      ASSERT_EQ(poly.hash(s), horner_reference(a, b, s)) << "a=" << a << " length " << len;
    }
  }
}

TEST(PolyHash61, OutputBelowPrime) {
  const PolyHash61 poly(seed_from_u64(3));
  hash_testing::TestRng rng(4);
  for (int i = 0; i < 10000; ++i) ASSERT_LT(poly.hash(rng.bytes(i % 100)), kP);
}

TEST(PolyHash61, LengthIsPartOfTheHash) {
  // Zero bytes only: the digits are all zero, only the leading n + 1 tells the lengths apart.
  const PolyHash61 poly(seed_from_u64(5));
  std::vector<uint64_t> seen;
  for (size_t len = 0; len < 64; ++len) seen.push_back(poly.hash(std::string(len, '\0')));
  EXPECT_EQ(hash_testing::colliding_pairs(seen), 0u);
}

TEST(PolyHash61, SeedDeterminesTheFunction) {
  const PolyHash61 a(seed_from_u64(10));
  const PolyHash61 b(seed_from_u64(10));
  const PolyHash61 c(seed_from_u64(11));
  EXPECT_EQ(a.hash("spate"), b.hash("spate"));
  EXPECT_NE(a.hash("spate"), c.hash("spate"));
}

TEST(PolyHash61, CollisionBoundFormula) {
  EXPECT_EQ(PolyHash61::digits(0), 0u);
  EXPECT_EQ(PolyHash61::digits(7), 1u);
  EXPECT_EQ(PolyHash61::digits(8), 2u);
  EXPECT_DOUBLE_EQ(PolyHash61::collision_bound(64), 11.0 / static_cast<double>(kP));
}

uint64_t pow_mod(uint64_t x, uint64_t e) {
  uint64_t r = 1;
  for (; e != 0; e >>= 1, x = mersenne61::mul(x, x)) {
    if (e & 1) r = mersenne61::mul(r, x);
  }
  return r;
}

// Why the default routing hash ends in a PRF (docs/guarantees.md, "Threat model"): the outputs
// of a linear family give its key away. Two observed values of one-digit keys of equal length
// solve h = (n+1) a^2 + x a + b for a and b, after which every other key's hash is known.
TEST(PolyHash61, TwoObservedOutputsRevealTheKey) {
  const PolyHash61 victim(seed_from_u64(31337));
  const std::string s1 = "abcdefg";
  const std::string s2 = "abcdefh";
  auto digit = [](const std::string& s) {
    uint64_t d = 0;
    for (size_t j = s.size(); j > 0; --j) d = (d << 8) | static_cast<uint8_t>(s[j - 1]);
    return d;
  };
  const uint64_t h1 = victim.hash(s1);
  const uint64_t h2 = victim.hash(s2);
  // a = (h1 - h2) / (x1 - x2) mod p, then b = h1 - 8 a^2 - x1 a.
  const uint64_t dx = (digit(s1) + kP - digit(s2)) % kP;
  const uint64_t a = mersenne61::mul((h1 + kP - h2) % kP, pow_mod(dx, kP - 2));
  const uint64_t b = (h1 + 2 * kP - mersenne61::mul(8, mersenne61::mul(a, a)) -
                      mersenne61::mul(digit(s1) % kP, a)) %
                     kP;
  const PolyHash61 forged = PolyHash61::unsafe_from_params(a, b);
  hash_testing::TestRng rng(1);
  for (int i = 0; i < 100; ++i) {
    const std::string k = rng.bytes(i);
    EXPECT_EQ(forged.hash(k), victim.hash(k));
  }
}

// Keys that end exactly at a PROT_NONE page: any read past the end faults.
TEST(ByteHashers, NeverReadPastTheEndOfAKey) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* base = static_cast<uint8_t*>(mem);
  ASSERT_EQ(::mprotect(base + page, page, PROT_NONE), 0);
  for (size_t i = 0; i < page; ++i) base[i] = static_cast<uint8_t>(i * 131);

  const Seed128 seed = seed_from_u64(99);
  const PolyHash61 poly(seed);
  const SipHash13 s13(seed);
  const SipHash24 s24(seed);
  const RoutingHasher routing(seed);
  uint64_t sink = 0;
  for (size_t len = 0; len <= 300; ++len) {
    const uint8_t* p = base + page - len;
    const std::string_view key(reinterpret_cast<const char*>(p), len);
    sink ^= poly.hash(p, len) ^ s13.hash(p, len) ^ s24.hash(p, len) ^ routing.hash(key);
  }
  ::munmap(mem, 2 * page);
  SUCCEED() << sink;
}

}  // namespace
}  // namespace spate
