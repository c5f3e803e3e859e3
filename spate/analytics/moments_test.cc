#include "spate/analytics/moments.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/sketch_test_util.h"

namespace spate {
namespace {

using test_util::Stream;

double rel(long double got, long double want) {
  if (want == 0) return static_cast<double>(got < 0 ? -got : got);
  const long double d = (got - want) / want;
  return static_cast<double>(d < 0 ? -d : d);
}

struct Exact {
  long double mean, m2;
  double min, max;
};

// Two-pass reference in long double. In the large-offset test every value is a multiple of
// 2^-10 below 2^31, so for n <= 1.8e7 each long double partial sum (64-bit mantissa, below 2^54)
// is exact and the reference mean exact up to its final rounding; at n = 1e9 its rounding stays
// below 1e-15 relative.
template <typename Gen>
Exact two_pass(uint64_t n, Gen gen) {
  long double sum = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (uint64_t i = 0; i < n; ++i) {
    const double x = gen(i);
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const long double mean = sum / n;
  long double m2 = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const long double d = gen(i) - mean;
    m2 += d * d;
  }
  return {mean, m2, lo, hi};
}

// 1e9 + noise: the case where the textbook sum-of-squares formula loses every digit.
TEST(Moments, LargeOffsetIsStable) {
  uint64_t n = 10'000'000;
  if (const char* env = std::getenv("SPATE_MOMENTS_N")) n = std::strtoull(env, nullptr, 10);
  // Noise in units of 2^-10 in [-2^20, 2^20) (|noise| < 1024), a pure function of the index so
  // n = 1e9 needs no memory: SPATE_MOMENTS_N=1000000000 runs the full-size check.
  auto gen = [](uint64_t i) {
    const auto units = static_cast<int64_t>(test_util::scramble(i + 42) >> 43) - (1 << 20);
    return 1e9 + std::ldexp(static_cast<double>(units), -10);
  };
  Moments m;
  for (uint64_t i = 0; i < n; ++i) m.add(gen(i));
  const Exact ex = two_pass(n, gen);
  EXPECT_EQ(m.count(), n);
  EXPECT_LE(rel(m.mean(), ex.mean), 1e-12);
  EXPECT_LE(rel(m.sum(), ex.mean * n), 1e-12);
  EXPECT_LE(rel(m.variance(), ex.m2 / n), 1e-12);
  EXPECT_LE(rel(m.sample_variance(), ex.m2 / (n - 1)), 1e-12);
  EXPECT_LE(rel(m.stddev(), std::sqrt(ex.m2 / n)), 1e-12);
  EXPECT_EQ(m.min(), ex.min);
  EXPECT_EQ(m.max(), ex.max);
  std::printf("mean rel err %.3g, variance rel err %.3g (n = %llu)\n", rel(m.mean(), ex.mean),
              rel(m.variance(), ex.m2 / n), static_cast<unsigned long long>(n));
}

// The same with the offset drifting (the shift by the first value does not help): Welford alone.
TEST(Moments, DriftingOffsetStaysAccurate) {
  const uint64_t n = 2'000'000;
  Xoshiro256 rng(7);
  std::vector<double> xs(n);
  for (uint64_t i = 0; i < n; ++i) {
    xs[i] = 1e9 + static_cast<double>(i) * 100.0 + rng.uniform();
  }
  Moments m;
  for (double x : xs) m.add(x);
  const Exact ex = two_pass(n, [&](uint64_t i) { return xs[i]; });
  EXPECT_LE(rel(m.mean(), ex.mean), 1e-12);
  EXPECT_LE(rel(m.variance(), ex.m2 / n), 1e-12);
}

std::vector<double> stream_values(Stream s, size_t n, uint64_t seed) {
  auto keys = test_util::make_stream(s, n, 100000, seed);
  std::vector<double> out(keys.size());
  // Integer values: sums are exact in double, so merge must reproduce them bit for bit.
  for (size_t i = 0; i < keys.size(); ++i) out[i] = static_cast<double>(keys[i]) - 5000.0;
  return out;
}

TEST(Moments, AllStreamsAgainstExactAndMerge) {
  for (Stream s : test_util::all_streams()) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto xs = stream_values(s, 200000, 11);
    Moments whole, a, b, c;
    for (size_t i = 0; i < xs.size(); ++i) {
      whole.add(xs[i]);
      (i < xs.size() / 3 ? a : i < xs.size() / 2 ? b : c).add(xs[i]);
    }
    const Exact ex = two_pass(xs.size(), [&](uint64_t i) { return xs[i]; });
    EXPECT_LE(rel(whole.mean(), ex.mean), 1e-12);
    if (ex.m2 == 0) {
      EXPECT_EQ(whole.variance(), 0.0);
    } else {
      EXPECT_LE(rel(whole.variance(), ex.m2 / xs.size()), 1e-12);
    }
    Moments merged = a;
    merged.merge(b);
    merged.merge(c);
    EXPECT_EQ(merged.count(), whole.count());
    EXPECT_EQ(merged.sum(), whole.sum());
    EXPECT_EQ(merged.min(), whole.min());
    EXPECT_EQ(merged.max(), whole.max());
    EXPECT_LE(rel(merged.mean(), ex.mean), 1e-12);
    if (ex.m2 == 0) {
      EXPECT_EQ(merged.variance(), 0.0);
    } else {
      EXPECT_LE(rel(merged.variance(), ex.m2 / xs.size()), 1e-12);
    }
  }
}

TEST(Moments, MergeWithEmptyAndSelf) {
  Moments a, empty;
  for (int i = 1; i <= 10; ++i) a.add(i);
  Moments b = a;
  b.merge(empty);
  EXPECT_EQ(b.serialize(), a.serialize());
  Moments c;
  c.merge(a);
  EXPECT_EQ(c.serialize(), a.serialize());
  Moments d = a;
  d.merge(d);
  EXPECT_EQ(d.count(), 20u);
  EXPECT_EQ(d.sum(), 110.0);
  EXPECT_DOUBLE_EQ(d.mean(), 5.5);
  EXPECT_DOUBLE_EQ(d.variance(), 8.25);  // population variance of 1..10 is 8.25
}

TEST(Moments, EmptyAndNonFinite) {
  Moments m;
  EXPECT_TRUE(std::isnan(m.mean()));
  EXPECT_TRUE(std::isnan(m.variance()));
  EXPECT_TRUE(std::isnan(m.min()));
  EXPECT_EQ(m.sum(), 0.0);
  m.add(NAN);
  m.add(INFINITY);
  m.add(2.0);
  EXPECT_EQ(m.count(), 1u);
  EXPECT_EQ(m.ignored(), 2u);
  EXPECT_TRUE(std::isnan(m.sample_variance()));
  EXPECT_EQ(m.variance(), 0.0);
  EXPECT_EQ(m.mean(), 2.0);
}

TEST(Moments, SerializeRoundTripAndCorruption) {
  Moments m;
  for (double x : stream_values(Stream::kZipf11, 1000, 3)) m.add(x + 0.25);
  const std::string bytes = m.serialize();
  auto r = Moments::deserialize(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->serialize(), bytes);
  EXPECT_EQ(r->mean(), m.mean());
  EXPECT_EQ(r->variance(), m.variance());
  // The restored summary continues identically.
  Moments m2 = m;
  m2.add(12.5);
  r->add(12.5);
  EXPECT_EQ(r->serialize(), m2.serialize());
  test_util::expect_rejects_corruption<Moments>(bytes, true);
  test_util::expect_rejects_corruption<Moments>(Moments().serialize(), true);
  test_util::expect_rejects_other_type<Moments>(Ewma(0.5).serialize());
  test_util::expect_rejects_other_type<Moments>(HyperLogLog(4).serialize());
}

TEST(Ewma, RecurrenceAndSerialize) {
  Ewma e(0.25);
  EXPECT_TRUE(std::isnan(e.value()));
  e.add(8);
  EXPECT_EQ(e.value(), 8.0);
  e.add(0);
  EXPECT_EQ(e.value(), 6.0);
  e.add(NAN);
  EXPECT_EQ(e.ignored(), 1u);
  e.add(10);
  EXPECT_EQ(e.value(), 7.0);
  // Converges to a constant input geometrically.
  for (int i = 0; i < 200; ++i) e.add(100);
  EXPECT_NEAR(e.value(), 100.0, 1e-12);
  const std::string bytes = e.serialize();
  auto r = Ewma::deserialize(bytes);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->value(), e.value());
  EXPECT_EQ(r->alpha(), 0.25);
  EXPECT_EQ(r->count(), e.count());
  EXPECT_EQ(r->serialize(), bytes);
  test_util::expect_rejects_corruption<Ewma>(bytes, true);
  test_util::expect_rejects_other_type<Ewma>(Moments().serialize());
  EXPECT_THROW(Ewma(0.0), std::invalid_argument);
  EXPECT_THROW(Ewma(1.5), std::invalid_argument);
}

}  // namespace
}  // namespace spate
