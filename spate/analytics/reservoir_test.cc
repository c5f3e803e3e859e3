#include "spate/analytics/reservoir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "spate/analytics/moments.h"
#include "spate/analytics/sketch_test_util.h"

namespace spate {
namespace {

// Chi-square statistic of observed inclusion counts against the uniform expectation.
double chi_square(const std::vector<uint64_t>& hits, double expected) {
  double chi = 0;
  for (uint64_t h : hits) chi += (h - expected) * (h - expected) / expected;
  return chi;
}

// Upper 0.1% point of chi-square with `dof` degrees of freedom (Wilson-Hilferty).
double chi_square_critical(double dof) {
  const double z = 3.090;  // one-sided 0.999 normal quantile
  const double a = 2.0 / (9.0 * dof);
  return dof * std::pow(1 - a + z * std::sqrt(a), 3);
}

// Every item of the stream is in the sample with probability n / N: over many independent
// reservoirs the inclusion counts pass a chi-square test at the 0.1% level.
TEST(Reservoir, SampleIsUniform) {
  const uint64_t kN = 1000, kCap = 20;
  const int kTrials = 20000;
  std::vector<uint64_t> hits(kN, 0);
  for (int t = 0; t < kTrials; ++t) {
    Reservoir<uint64_t> r(kCap, static_cast<uint64_t>(t));
    for (uint64_t i = 0; i < kN; ++i) r.add(i);
    ASSERT_EQ(r.sample().size(), kCap);
    std::set<uint64_t> distinct(r.sample().begin(), r.sample().end());
    ASSERT_EQ(distinct.size(), kCap);
    for (uint64_t v : r.sample()) ++hits[v];
  }
  const double expected = static_cast<double>(kTrials) * kCap / kN;
  EXPECT_LE(chi_square(hits, expected), chi_square_critical(kN - 1));
}

TEST(Reservoir, ShortStreamKeepsEverything) {
  Reservoir<uint64_t> r(10, 1);
  for (uint64_t i = 0; i < 7; ++i) r.add(i);
  EXPECT_EQ(r.sample(), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(r.count(), 7u);
  EXPECT_THROW(Reservoir<uint64_t>(0, 1), std::invalid_argument);
}

// Algorithm L's skips keep the sample uniform over a long stream: the mean of a sample from
// 0..N-1 is (N-1)/2 within a few standard errors, and late items are as likely as early ones.
TEST(Reservoir, LongStreamStaysUniform) {
  const uint64_t kN = 2000000, kCap = 1000;
  Reservoir<uint64_t> r(kCap, 99);
  for (uint64_t i = 0; i < kN; ++i) r.add(i);
  Moments m;
  for (uint64_t v : r.sample()) m.add(static_cast<double>(v));
  const double sd_of_mean = kN / std::sqrt(12.0 * kCap);
  EXPECT_LE(std::abs(m.mean() - (kN - 1) / 2.0), 4 * sd_of_mean);
}

// merge() of partial reservoirs is a uniform sample of the concatenation, whatever the split.
TEST(Reservoir, MergeIsUniform) {
  const uint64_t kCap = 10;
  const int kTrials = 20000;
  // Unequal sides: 100 items and 900 items, plus a side shorter than the capacity.
  const uint64_t kA = 100, kB = 895, kC = 5, kN = kA + kB + kC;
  std::vector<uint64_t> hits(kN, 0);
  for (int t = 0; t < kTrials; ++t) {
    const auto seed = static_cast<uint64_t>(t) * 3;
    Reservoir<uint64_t> a(kCap, seed), b(kCap, seed + 1), c(kCap, seed + 2);
    for (uint64_t i = 0; i < kA; ++i) a.add(i);
    for (uint64_t i = kA; i < kA + kB; ++i) b.add(i);
    for (uint64_t i = kA + kB; i < kN; ++i) c.add(i);
    ASSERT_TRUE(b.merge(c).is_ok());
    ASSERT_TRUE(a.merge(b).is_ok());
    ASSERT_EQ(a.count(), kN);
    ASSERT_EQ(a.sample().size(), kCap);
    for (uint64_t v : a.sample()) ++hits[v];
  }
  const double expected = static_cast<double>(kTrials) * kCap / kN;
  EXPECT_LE(chi_square(hits, expected), chi_square_critical(kN - 1));
}

// After a merge the reservoir keeps sampling uniformly (the redrawn Algorithm L threshold).
TEST(Reservoir, AddAfterMergeIsUniform) {
  const uint64_t kCap = 10, kHalf = 200, kAfter = 400, kN = 2 * kHalf + kAfter;
  const int kTrials = 20000;
  std::vector<uint64_t> hits(kN, 0);
  for (int t = 0; t < kTrials; ++t) {
    const auto seed = static_cast<uint64_t>(t) * 2;
    Reservoir<uint64_t> a(kCap, seed), b(kCap, seed + 1);
    for (uint64_t i = 0; i < kHalf; ++i) a.add(i);
    for (uint64_t i = kHalf; i < 2 * kHalf; ++i) b.add(i);
    ASSERT_TRUE(a.merge(b).is_ok());
    for (uint64_t i = 2 * kHalf; i < kN; ++i) a.add(i);
    for (uint64_t v : a.sample()) ++hits[v];
  }
  const double expected = static_cast<double>(kTrials) * kCap / kN;
  EXPECT_LE(chi_square(hits, expected), chi_square_critical(kN - 1));
  // The halves before the merge and the items after it are sampled at the same rate.
  uint64_t before = 0, after = 0;
  for (uint64_t i = 0; i < kN; ++i) (i < 2 * kHalf ? before : after) += hits[i];
  const double share = static_cast<double>(before) / (before + after);
  EXPECT_NEAR(share, 0.5, 4 * std::sqrt(0.25 / (kTrials * kCap)));
}

TEST(Reservoir, MergeRequiresEqualCapacity) {
  Reservoir<uint64_t> a(10, 1), b(11, 1);
  b.add(uint64_t{1});
  EXPECT_EQ(a.merge(b).code(), StatusCode::kInvalidArgument);
  for (uint64_t i = 0; i < 30; ++i) a.add(i);
  ASSERT_TRUE(a.merge(a).is_ok());
  EXPECT_EQ(a.count(), 60u);
  EXPECT_EQ(a.sample().size(), 10u);
}

TEST(Reservoir, StringItemsSerializeRoundTripAndCorruption) {
  Reservoir<std::string> r(16, 5);
  for (int i = 0; i < 5000; ++i) {
    const std::string s = "event-" + std::to_string(i);
    r.add(std::string_view(s));
  }
  const std::string bytes = r.serialize();
  auto back = Reservoir<std::string>::deserialize(bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->sample(), r.sample());
  EXPECT_EQ(back->count(), r.count());
  EXPECT_EQ(back->serialize(), bytes);
  for (int i = 0; i < 5000; ++i) {
    const std::string s = "late-" + std::to_string(i);
    r.add(s);
    back->add(s);
  }
  EXPECT_EQ(back->serialize(), r.serialize());
  test_util::expect_rejects_corruption<Reservoir<std::string>>(bytes, true);
  Reservoir<std::string> partial(16, 5);
  partial.add(std::string("only"));
  test_util::expect_rejects_corruption<Reservoir<std::string>>(partial.serialize(), true);
  test_util::expect_rejects_other_type<Reservoir<std::string>>(Moments().serialize());

  Reservoir<uint64_t> u(8, 3);
  Reservoir<double> d(8, 3);
  for (uint64_t i = 0; i < 100; ++i) {
    u.add(i);
    d.add(i * 0.5);
  }
  auto ub = Reservoir<uint64_t>::deserialize(u.serialize());
  auto db = Reservoir<double>::deserialize(d.serialize());
  ASSERT_TRUE(ub.is_ok() && db.is_ok());
  EXPECT_EQ(ub->sample(), u.sample());
  EXPECT_EQ(db->sample(), d.sample());
  test_util::expect_rejects_other_type<Reservoir<uint64_t>>(bytes);
  test_util::expect_rejects_other_type<Reservoir<double>>(u.serialize());
  test_util::expect_rejects_corruption<Reservoir<double>>(d.serialize(), true);
}

}  // namespace
}  // namespace spate
