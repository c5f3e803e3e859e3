// Statistical quality of every family on random and adversarially structured key sets, with
// fixed seeds and thresholds taken from theory (hash_test_util.h):
//   - uniformity: Pearson chi-square of bucket counts (1024 buckets for 2^20 keys) below the
//     critical value at p = 0.001 (Wilson–Hilferty). This is the null hypothesis "behaves like
//     a random function", which is exactly the claim of the PRF-based hashers (SipHash,
//     RoutingHasher), so they face it on every key set. The linear families (PolyHash61,
//     MultiplyAddShift, SimpleTabulation) guarantee pair probabilities, not random-like loads on
//     structured inputs — on sequential keys their statistic ranges from far below to far above
//     the random-function band depending on the seed (DISABLED_StructuredKeySurvey prints it;
//     docs/guarantees.md quotes it) — so they face the chi-square on random keys only;
//   - collisions, on every key set and family: colliding pairs among the top `bits` output bits
//     (bits chosen so a random function gives ~128 pairs) at most mean + 6 sigma (Poisson),
//     where the mean is the number of pairs times the family's own per-pair bound.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/hash/hash_test_util.h"
#include "spate/hash/multiply_shift.h"
#include "spate/hash/poly_hash.h"
#include "spate/hash/routing_hash.h"
#include "spate/hash/siphash.h"
#include "spate/hash/tabulation.h"

namespace spate {
namespace {

using namespace hash_testing;  // NOLINT(google-build-using-namespace): test-local helpers

constexpr size_t kKeys = size_t{1} << 20;
constexpr double kAlpha = 0.001;

// A family under test: outputs normalised to the full 64-bit range (bucket = top bits).
struct Family {
  std::string name;
  std::function<uint64_t(std::string_view)> hash_bytes;  // empty if integer-only
  std::function<uint64_t(uint64_t)> hash_u64;            // empty if bytes-only
  // Upper bound on Pr[the top `bits` bits agree] for two distinct keys of <= max_len bytes.
  std::function<double(int bits, size_t max_len)> pair_bound;
  bool random_like = false;     // a PRF: chi-square on structured key sets too
  size_t max_bytes = SIZE_MAX;  // longest key the family takes
};

double uniform_bound(int bits, size_t) { return std::ldexp(1.0, -bits); }

struct KeySet {
  std::string name;
  bool random = false;  // keys drawn at random (not adversarially structured)
  KeyList bytes;
  std::vector<uint64_t> ints;
  size_t max_len() const { return std::max<size_t>(8, bytes.max_len()); }
};

const std::vector<KeySet>& byte_key_sets() {
  static const std::vector<KeySet> sets = [] {
    std::vector<KeySet> v;
    v.push_back({"random 32-byte strings", true, random_strings(kKeys, 32, 11), {}});
    v.push_back({"random 10-byte strings", true, random_strings(kKeys, 10, 14), {}});
    v.push_back({"sequential ids user:N", false, sequential_strings(kKeys, "user:"), {}});
    v.push_back(
        {"sequential long ids", false, sequential_strings(kKeys, "tenant-eu-west-1/session/"), {}});
    v.push_back({"Java-hashCode-colliding Aa/BB strings", false, java_colliding_strings(20), {}});
    KeyList le;
    le.reserve(kKeys, 8 * kKeys);
    for (uint64_t i = 0; i < kKeys; ++i) {
      char s[8];
      for (int b = 0; b < 8; ++b) s[b] = static_cast<char>(i >> (8 * b));
      le.add(std::string_view(s, 8));
    }
    v.push_back({"sequential 8-byte little-endian integers", false, std::move(le), {}});
    TestRng rng(12);
    v.push_back(
        {"one-byte variants of a 48-byte string", false, one_byte_variants(rng.bytes(48)), {}});
    v.push_back(
        {"one-byte variants of a 12-byte string", false, one_byte_variants(rng.bytes(12)), {}});
    v.push_back(
        {"one-byte variants of a 200-byte string", false, one_byte_variants(rng.bytes(200)), {}});
    v.push_back({"random 20-byte strings", true, random_strings(size_t{1} << 18, 20, 15), {}});
    v.push_back({"random 300-byte strings", true, random_strings(size_t{1} << 17, 300, 16), {}});
    return v;
  }();
  return sets;
}

const std::vector<KeySet>& int_key_sets() {
  static const std::vector<KeySet> sets = [] {
    std::vector<KeySet> v;
    std::vector<uint64_t> seq, rnd, high, grid;
    TestRng rng(13);
    for (uint64_t i = 0; i < kKeys; ++i) {
      seq.push_back(i);
      rnd.push_back(rng.next());
      high.push_back(i << 44);
      grid.push_back((i & 1023) | ((i >> 10) << 40));  // bytes 0-1 and 5-6: a 1024 x 1024 grid
    }
    v.push_back({"sequential integers", false, {}, std::move(seq)});
    v.push_back({"random integers", true, {}, std::move(rnd)});
    v.push_back({"integers i << 44", false, {}, std::move(high)});
    v.push_back({"1024 x 1024 grid in bytes 0-1, 5-6", false, {}, std::move(grid)});
    return v;
  }();
  return sets;
}

// Reused between checks: fresh 8 MiB vectors per check cost more in page faults than the work.
std::vector<uint64_t>& scratch(int i) {
  static std::vector<uint64_t> buffers[3];
  return buffers[i];
}

void check(const Family& f, const KeySet& keys, const std::vector<uint64_t>& h) {
  SCOPED_TRACE(f.name + " on " + keys.name);
  const size_t m = h.size();

  // Uniformity. Buckets: 1024 for 2^20 keys, fewer for the small sets (>= 10 keys a bucket).
  if (f.random_like || keys.random) {
    uint32_t buckets = 1024;
    while (buckets > 16 && m / buckets < 10) buckets /= 2;
    std::vector<uint64_t> counts(buckets, 0);
    for (uint64_t v : h) ++counts[reduce(v, buckets)];
    const double stat = chi_square(counts);
    const double critical = chi_square_critical(buckets - 1.0, kAlpha);
    EXPECT_LT(stat, critical) << buckets << " buckets, " << m << " keys";
  }

  // Collisions in the top `bits` bits.
  const int bits = collision_bits(m);
  std::vector<uint64_t>& top = scratch(1);
  top.resize(m);
  for (size_t i = 0; i < m; ++i) top[i] = h[i] >> (64 - bits);
  const double mean = pair_count(m) * f.pair_bound(bits, keys.max_len());
  const uint64_t pairs = colliding_pairs_of_bits(top, bits, scratch(2));
  EXPECT_LE(static_cast<double>(pairs), poisson_upper(mean))
      << "bits " << bits << ", bound mean " << mean;
}

void run_bytes(const Family& f) {
  for (const KeySet& keys : byte_key_sets()) {
    if (keys.max_len() > f.max_bytes) continue;
    std::vector<uint64_t>& h = scratch(0);
    h.resize(keys.bytes.size());
    for (size_t i = 0; i < h.size(); ++i) h[i] = f.hash_bytes(keys.bytes[i]);
    check(f, keys, h);
  }
}

void run_ints(const Family& f) {
  for (const KeySet& keys : int_key_sets()) {
    std::vector<uint64_t>& h = scratch(0);
    h.resize(keys.ints.size());
    for (size_t i = 0; i < h.size(); ++i) h[i] = f.hash_u64(keys.ints[i]);
    check(f, keys, h);
  }
}

TEST(KeySets, JavaStringsReallyShareOneHashCode) {
  const KeyList& keys = byte_key_sets()[4].bytes;
  ASSERT_EQ(keys.size(), size_t{1} << 20);
  const int32_t h0 = java_hash_code(keys[0]);
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(java_hash_code(keys[i]), h0);
}

TEST(KeySets, FastCollisionCountAgreesWithSorting) {
  TestRng rng(9);
  std::vector<uint64_t> v(200000);
  std::vector<uint64_t> scratch;
  for (int bits : {8, 20, 30}) {
    for (auto& x : v) x = rng.next() >> (64 - bits);
    EXPECT_EQ(colliding_pairs_of_bits(v, bits, scratch), colliding_pairs(v));
  }
}

TEST(KeySets, WilsonHilfertyCriticalValue) {
  // Exact chi-square 0.999 quantiles: dof 100 -> 149.449, dof 1000 -> 1143.917, dof 1023 ->
  // 1168.497 (regularized incomplete gamma); Wilson–Hilferty is within 0.06 of each.
  EXPECT_NEAR(chi_square_critical(100, 0.001), 149.449, 0.1);
  EXPECT_NEAR(chi_square_critical(1000, 0.001), 1143.917, 0.1);
  EXPECT_NEAR(chi_square_critical(1023, 0.001), 1168.497, 0.1);
  EXPECT_NEAR(normal_quantile(0.999), 3.090232, 1e-5);
}

TEST(HashQuality, RoutingHasher) {
  const RoutingHasher r(seed_from_u64(101));
  // Long keys add the chance of a PolyHash61 digest collision, (L + 1) / p.
  Family f{
      "RoutingHasher", [&](std::string_view s) { return r.hash(s); },
      [&](uint64_t x) { return r.hash_u64(x); },
      [](int bits, size_t n) { return std::ldexp(1.0, -bits) + PolyHash61::collision_bound(n); },
      true};
  run_bytes(f);
  run_ints(f);
}

TEST(HashQuality, PolyHash61) {
  const PolyHash61 p(seed_from_u64(102));
  // Outputs live in [0, p); h << 3 spreads them over 64 bits. Equal top bits need
  // |h(x) - h(y)| < 2^(61 - bits): at most 2^(62 - bits) differences, each of probability
  // <= (L + 1) / p (see poly_hash.h), so the per-pair bound is 2^(62 - bits) (L + 1) / p.
  Family f{"PolyHash61",
           [&](std::string_view s) { return p.hash(s) << 3; },
           {},
           [](int bits, size_t n) {
             return std::ldexp(1.0, 62 - bits) * PolyHash61::collision_bound(n);
           }};
  run_bytes(f);
}

TEST(HashQuality, VectorMultiplyShift) {
  const VectorMultiplyShift v(seed_from_u64(107));
  // Strongly universal into 64 bits over strings of <= 128 bytes.
  Family f{"VectorMultiplyShift",
           [&](std::string_view s) { return v.hash(s); },
           {},
           uniform_bound,
           false,
           VectorMultiplyShift::kMaxBytes};
  run_bytes(f);
}

TEST(HashQuality, SipHash13) {
  const SipHash13 s(seed_from_u64(103));
  Family f{"SipHash13", [&](std::string_view k) { return s.hash(k); },
           [&](uint64_t x) { return s.hash_u64(x); }, uniform_bound, true};
  run_bytes(f);
  run_ints(f);
}

TEST(HashQuality, SipHash24) {
  const SipHash24 s(seed_from_u64(104));
  Family f{"SipHash24", [&](std::string_view k) { return s.hash(k); },
           [&](uint64_t x) { return s.hash_u64(x); }, uniform_bound, true};
  run_bytes(f);
  run_ints(f);
}

TEST(HashQuality, MultiplyAddShift) {
  const MultiplyAddShift m(seed_from_u64(105));
  // Strongly universal into 64 bits: the top `bits` bits of two keys agree w.p. 2^-bits.
  Family f{"MultiplyAddShift", {}, [&](uint64_t x) { return m.hash(x); }, uniform_bound};
  run_ints(f);
}

TEST(HashQuality, SimpleTabulation) {
  const SimpleTabulation t(seed_from_u64(106));
  // 3-independent: pairs collide in the top bits w.p. 2^-bits exactly.
  Family f{"SimpleTabulation", {}, [&](uint64_t x) { return t.hash(x); }, uniform_bound};
  run_ints(f);
}

// Not a check: prints the chi-square of each linear family and of RoutingHasher on structured
// keys for ten seeds, next to the random-function band. Run with
//   hash_hash_quality_test --gtest_also_run_disabled_tests --gtest_filter='*Survey*'
TEST(HashQuality, DISABLED_StructuredKeySurvey) {
  const auto& seq_ids = byte_key_sets()[2].bytes;
  const auto& java = byte_key_sets()[4].bytes;
  const auto& ints = int_key_sets()[0].ints;
  const auto& grid = int_key_sets()[3].ints;
  auto stat = [](auto&& bucket_hash, const auto& keys) {
    std::vector<uint64_t> counts(1024, 0);
    for (size_t i = 0; i < keys.size(); ++i) ++counts[reduce(bucket_hash(keys[i]), 1024)];
    return chi_square(counts);
  };
  std::printf("1023 dof, p = 0.001 two-sided band [%.0f, %.0f]\n",
              chi_square_critical(1023, 0.9995), chi_square_critical(1023, 0.0005));
  std::printf("%6s %14s %14s %14s %14s %14s %14s\n", "seed", "poly user:N", "poly Aa/BB",
              "mas seq int", "tab grid", "routing user:N", "routing Aa/BB");
  for (uint64_t s = 200; s < 210; ++s) {
    const PolyHash61 p(seed_from_u64(s));
    const MultiplyAddShift m(seed_from_u64(s));
    const SimpleTabulation t(seed_from_u64(s));
    const RoutingHasher r(seed_from_u64(s));
    auto poly = [&](std::string_view k) { return p.hash(k) << 3; };
    auto routing = [&](std::string_view k) { return r.hash(k); };
    std::printf("%6llu %14.0f %14.0f %14.0f %14.0f %14.0f %14.0f\n",
                static_cast<unsigned long long>(s), stat(poly, seq_ids), stat(poly, java),
                stat([&](uint64_t x) { return m.hash(x); }, ints),
                stat([&](uint64_t x) { return t.hash(x); }, grid), stat(routing, seq_ids),
                stat(routing, java));
  }
}

}  // namespace
}  // namespace spate
