#include "spate/analytics/adwin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "spate/common/serde.h"

namespace spate {
namespace {

constexpr size_t kChangeAt = 2500;  // values 1..2500 before the change, 2501.. after
constexpr size_t kLength = 5000;

// N(before, sigma^2) for the first change_at values, N(after, sigma^2) after.
std::vector<double> step_series(uint64_t seed, size_t n, size_t change_at, double before,
                                double after, double sigma = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (i < change_at ? before : after) + noise(rng);
  return v;
}

// The paper's eps_cut (the same formula Adwin documents), for deriving test bounds.
double eps_cut(double n0, double n1, double variance, double delta) {
  const double m = 1.0 / (1.0 / n0 + 1.0 / n1);
  const double log_term = std::log(2.0 * std::log(n0 + n1) / delta);
  return std::sqrt(2.0 / m * variance * log_term) + 2.0 / (3.0 * m) * log_term;
}

// Detection-delay bound from Bifet & Gavalda's Theorem 3.1 (part 2): once the new sub-window W1
// holds d values with |mu0 - mu1| > 2 eps_cut(n0, d), a check cuts with probability >= 1 - delta.
// Add the bucket granularity (the nearest bucket boundary holding >= d new values holds at most
// d * M / (M - 1)) and the clock (a check happens at most `clock` values later).
uint64_t adwin_delay_bound(const AdwinOptions& o, double shift, double sigma, double n0) {
  // Largest window variance while it mixes the two regimes: sigma^2 + shift^2 / 4.
  const double variance = sigma * sigma + shift * shift / 4.0;
  double d = 1.0;
  while (2.0 * eps_cut(n0, d, variance, o.delta) >= shift) d += 1.0;
  const double m = o.max_buckets;
  return static_cast<uint64_t>(std::ceil(d * m / (m - 1.0))) + o.clock;
}

TEST(Adwin, ConstantStreamNeverAlarms) {
  Adwin a;
  for (size_t i = 0; i < kLength; ++i) EXPECT_FALSE(a.update(3.7));
  EXPECT_EQ(a.detections(), 0u);
  EXPECT_FALSE(a.last_detection().has_value());
  EXPECT_EQ(a.width(), kLength);
  EXPECT_NEAR(a.mean(), 3.7, 1e-12);
  EXPECT_NEAR(a.variance(), 0.0, 1e-12);
}

TEST(Adwin, FewFalseAlarmsOnStationaryNoise) {
  // delta = 0.002 bounds the false-cut probability per check; the tests allow at most 2 per run
  // of 5000 values (156 checks), as the spec demands, over ten seeds.
  uint64_t total = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Adwin a;
    for (double x : step_series(seed, kLength, kLength, 0.0, 0.0)) a.update(x);
    EXPECT_LE(a.detections(), 2u) << "seed " << seed;
    total += a.detections();
  }
  std::printf("adwin: %llu false alarms over 10 x 5000 N(0,1) values\n",
              static_cast<unsigned long long>(total));
}

void expect_step_detected(double before, double after) {
  const AdwinOptions options;
  const uint64_t bound = adwin_delay_bound(options, std::abs(after - before), 1.0, kChangeAt);
  uint64_t max_delay = 0;
  double sum_delay = 0.0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Adwin a(options);
    uint64_t delay = 0;
    const std::vector<double> v = step_series(100 + seed, kLength, kChangeAt, before, after);
    for (size_t i = 0; i < v.size(); ++i) {
      if (a.update(v[i]) && i >= kChangeAt) {
        delay = i + 1 - kChangeAt;
        break;
      }
    }
    ASSERT_GT(delay, 0u) << "seed " << seed << ": change never detected";
    EXPECT_LE(delay, bound) << "seed " << seed;
    const DriftEvent& e = *a.last_detection();
    EXPECT_EQ(e.method, "adwin");
    EXPECT_EQ(e.index, kChangeAt + delay);
    EXPECT_EQ(e.direction, after > before ? DriftDirection::kUp : DriftDirection::kDown);
    EXPECT_GT(e.statistic, e.threshold);
    EXPECT_NEAR(e.mean_before, before, 0.25);
    EXPECT_NEAR(e.mean_after, after, 0.5);
    // The change-point estimate is near the true change.
    EXPECT_NEAR(static_cast<double>(e.start_index), kChangeAt + 1.0, 2.0 * bound);
    // Later checks keep shrinking: by the end the window holds (almost) only the new regime.
    for (size_t i = kChangeAt + delay; i < v.size(); ++i) a.update(v[i]);
    EXPECT_LE(a.width(), kLength - kChangeAt + bound);
    EXPECT_NEAR(a.mean(), after, 0.1);
    max_delay = std::max(max_delay, delay);
    sum_delay += static_cast<double>(delay);
  }
  std::printf("adwin step %+.0f: mean delay %.1f, max %llu, bound %llu\n", after - before,
              sum_delay / 10.0, static_cast<unsigned long long>(max_delay),
              static_cast<unsigned long long>(bound));
}

TEST(Adwin, DetectsStepUpWithinTheoryDelay) { expect_step_detected(0.0, 1.0); }
TEST(Adwin, DetectsStepDownWithinTheoryDelay) { expect_step_detected(1.0, 0.0); }

TEST(Adwin, WindowStatisticsMatchTheRetainedValues) {
  std::vector<double> v = step_series(7, 3000, 1500, 5.0, 9.0, 2.0);
  Adwin a;
  for (double x : v) a.update(x);
  ASSERT_GT(a.width(), 0u);
  ASSERT_LE(a.width(), v.size());
  double sum = 0.0;
  for (size_t i = v.size() - a.width(); i < v.size(); ++i) sum += v[i];
  const double mean = sum / static_cast<double>(a.width());
  double ss = 0.0;
  for (size_t i = v.size() - a.width(); i < v.size(); ++i) ss += (v[i] - mean) * (v[i] - mean);
  EXPECT_NEAR(a.mean(), mean, 1e-9);
  EXPECT_NEAR(a.variance(), ss / static_cast<double>(a.width()), 1e-7);
  EXPECT_NEAR(a.mean(), 9.0, 0.3);
}

TEST(Adwin, TotalsStayExactAfterDroppingHugeValues) {
  // 2000 values near 1e9, then 3000 near 0: once the old regime is dropped the running totals
  // must not carry cancellation error from it (they are recomputed from the buckets).
  std::vector<double> v = step_series(8, 5000, 2000, 1e9, 0.0);
  Adwin a;
  for (double x : v) a.update(x);
  ASSERT_GE(a.detections(), 1u);
  ASSERT_LE(a.width(), 3000u);
  double sum = 0.0;
  for (size_t i = v.size() - a.width(); i < v.size(); ++i) sum += v[i];
  const double mean = sum / static_cast<double>(a.width());
  double ss = 0.0;
  for (size_t i = v.size() - a.width(); i < v.size(); ++i) ss += (v[i] - mean) * (v[i] - mean);
  EXPECT_NEAR(a.mean(), mean, 1e-9);
  EXPECT_NEAR(a.variance(), ss / static_cast<double>(a.width()), 1e-9);
}

TEST(Adwin, MemoryIsLogarithmicInTheWindow) {
  Adwin a;
  for (int i = 0; i < 1'000'000; ++i) a.update(static_cast<double>(i % 2));
  EXPECT_EQ(a.width(), 1'000'000u);
  const double rows = std::floor(std::log2(1'000'000.0)) + 1.0;
  EXPECT_LE(static_cast<double>(a.bucket_count()), a.options().max_buckets * rows);
  EXPECT_NEAR(a.mean(), 0.5, 1e-9);
  EXPECT_NEAR(a.variance(), 0.25, 1e-9);
}

TEST(Adwin, IgnoresNonFiniteValues) {
  Adwin a;
  a.update(1.0);
  EXPECT_FALSE(a.update(std::nan("")));
  EXPECT_FALSE(a.update(INFINITY));
  EXPECT_EQ(a.updates(), 1u);
  EXPECT_EQ(a.width(), 1u);
}

TEST(Adwin, RejectsBadOptions) {
  EXPECT_THROW(Adwin(AdwinOptions{.delta = 0.0}), std::invalid_argument);
  EXPECT_THROW(Adwin(AdwinOptions{.delta = 1.0}), std::invalid_argument);
  EXPECT_THROW(Adwin(AdwinOptions{.max_buckets = 1}), std::invalid_argument);
  EXPECT_THROW(Adwin(AdwinOptions{.clock = 0}), std::invalid_argument);
  EXPECT_THROW(Adwin(AdwinOptions{.min_subwindow = 0}), std::invalid_argument);
}

TEST(Adwin, ClockOneChecksEveryUpdate) {
  Adwin a(AdwinOptions{.clock = 1});
  uint64_t index = 0;
  for (size_t i = 0; i < 3000; ++i) {
    if (a.update(i < 1000 ? 0.0 : 10.0)) {
      index = i + 1;
      break;
    }
  }
  // 1000 zeros then one 10: the split with n1 = min_subwindow = 5 has |mu0 - mu1| = 10 / 5 = 2,
  // above eps_cut(996, 5) (window variance ~ 100 / 1001), so the very first 10 is detected.
  const double variance = 100.0 / 1001.0 * (1000.0 / 1001.0);
  ASSERT_LT(eps_cut(996.0, 5.0, variance, 0.002), 2.0);
  EXPECT_EQ(index, 1001u);
  EXPECT_EQ(a.last_detection()->direction, DriftDirection::kUp);
}

TEST(Adwin, SerializeRoundTripContinuesIdentically) {
  const std::vector<double> v = step_series(42, 8000, 4000, 0.0, 1.5);
  Adwin a;
  for (size_t i = 0; i < 4100; ++i) a.update(v[i]);
  const std::string bytes = a.serialize();
  Result<Adwin> restored = Adwin::deserialize(bytes);
  ASSERT_TRUE(restored.is_ok()) << restored.status().message();
  Adwin& b = *restored;
  EXPECT_EQ(b.serialize(), bytes);
  EXPECT_EQ(b.width(), a.width());
  EXPECT_EQ(b.detections(), a.detections());
  for (size_t i = 4100; i < v.size(); ++i) ASSERT_EQ(a.update(v[i]), b.update(v[i])) << i;
  EXPECT_EQ(a.serialize(), b.serialize());
  ASSERT_TRUE(a.last_detection().has_value());
  EXPECT_EQ(a.last_detection()->index, b.last_detection()->index);
  EXPECT_EQ(b.last_detection()->method, "adwin");
}

TEST(Adwin, CorruptionIsRejected) {
  Adwin a;
  for (double x : step_series(3, 3000, 1500, 0.0, 2.0)) a.update(x);
  const std::string good = a.serialize();
  ASSERT_TRUE(Adwin::deserialize(good).is_ok());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_FALSE(Adwin::deserialize(bad).is_ok()) << "flip at " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(Adwin::deserialize(good.substr(0, n)).is_ok()) << "truncated to " << n;
  }
  EXPECT_FALSE(Adwin::deserialize(good + "x").is_ok());
  // A well-framed payload with inconsistent contents (a row holding M + 1 buckets) is rejected.
  Result<std::string_view> payload = unseal(good, Adwin::kTypeTag, Adwin::kVersion, nullptr);
  ASSERT_TRUE(payload.is_ok());
  std::string p(*payload);
  // Payload: f64 delta, u32 M, ... ; claiming M = 2 makes the stored rows over-full.
  p[8] = 2;
  EXPECT_EQ(Adwin::deserialize(seal(Adwin::kTypeTag, Adwin::kVersion, p)).status().code(),
            StatusCode::kCorruption);
  // Wrong type tag.
  EXPECT_FALSE(Adwin::deserialize(seal(make_type_tag("PHK1"), 1, *payload)).is_ok());
}

}  // namespace
}  // namespace spate
