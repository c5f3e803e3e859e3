#include "spate/analytics/page_hinkley.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "spate/analytics/cusum.h"  // cusum_average_run_length: PH's run-length theory
#include "spate/common/serde.h"

namespace spate {
namespace {

constexpr size_t kChangeAt = 2500;
constexpr size_t kLength = 5000;
constexpr int kSeeds = 20;

std::vector<double> step_series(uint64_t seed, size_t n, size_t change_at, double before,
                                double after) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (i < change_at ? before : after) + noise(rng);
  return v;
}

// Parameters from theory for a 1-sigma shift of unit-variance data: delta = shift / 2 (the
// optimal CUSUM reference), lambda = 10 sigma. With a known mean this is a CUSUM with k = 0.5,
// h = 10: one-sided ARL0 ~ 1.4e5 values (so ~0.07 false alarms per 5000 values, two-sided) and
// a zero-start delay of ARL1 ~ 20 values for the 1-sigma shift (Siegmund's approximation).
PageHinkleyOptions unit_shift_options() {
  return PageHinkleyOptions{.delta = 0.5, .lambda = 10.0, .alpha = 1.0, .min_instances = 30};
}

TEST(PageHinkley, ConstantStreamNeverAlarms) {
  for (double c : {0.0, 0.1, -7.25, 1e6}) {
    PageHinkley ph;
    for (size_t i = 0; i < kLength; ++i) EXPECT_FALSE(ph.update(c));
    EXPECT_EQ(ph.detections(), 0u);
    EXPECT_EQ(ph.statistic_up(), 0.0);
    EXPECT_EQ(ph.statistic_down(), 0.0);
  }
}

TEST(PageHinkley, FewFalseAlarmsOnStationaryNoise) {
  const PageHinkleyOptions o = unit_shift_options();
  const double arl0 = cusum_average_run_length(o.delta, o.lambda, 0.0) / 2.0;  // two-sided
  ASSERT_GT(arl0, 10.0 * kLength);
  uint64_t total = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    PageHinkley ph(o);
    for (double x : step_series(seed, kLength, kLength, 0.0, 0.0)) ph.update(x);
    EXPECT_LE(ph.detections(), 2u) << "seed " << seed;
    total += ph.detections();
  }
  std::printf("page_hinkley: %llu false alarms over %d x 5000 N(0,1) (theory ~%.2f)\n",
              static_cast<unsigned long long>(total), kSeeds, kSeeds * kLength / arl0);
}

TEST(PageHinkley, LongStreamFalseAlarmRateMatchesTheory) {
  // 1M N(0,1) values, delta = 0.5, lambda = 10: theory (CUSUM k = 0.5, h = 10, two-sided)
  // expects 1e6 / 7.07e4 ~ 14 false alarms with alpha = 1; the forgetting factor only lowers the
  // statistic, so alpha = 0.9999 must not raise the count (Poisson s.d. ~4).
  const double arl0 = cusum_average_run_length(0.5, 10.0, 0.0) / 2.0;
  const double expected = 1e6 / arl0;
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> noise(0.0, 1.0);
  PageHinkley classic(PageHinkleyOptions{.delta = 0.5, .lambda = 10.0, .alpha = 1.0});
  PageHinkley fading(PageHinkleyOptions{.delta = 0.5, .lambda = 10.0, .alpha = 0.9999});
  for (int i = 0; i < 1'000'000; ++i) {
    const double x = noise(rng);
    classic.update(x);
    fading.update(x);
  }
  std::printf("page_hinkley 1M N(0,1): %llu alarms (alpha 1), %llu (alpha 0.9999), theory %.1f\n",
              static_cast<unsigned long long>(classic.detections()),
              static_cast<unsigned long long>(fading.detections()), expected);
  EXPECT_GE(static_cast<double>(classic.detections()), expected / 3.0);
  EXPECT_LE(static_cast<double>(classic.detections()), expected * 2.0);
  EXPECT_LE(fading.detections(), classic.detections());
}

void expect_step_detected(double before, double after) {
  const PageHinkleyOptions o = unit_shift_options();
  const double arl1 = cusum_average_run_length(o.delta, o.lambda, std::abs(after - before));
  uint64_t max_delay = 0;
  double sum_delay = 0.0;
  uint64_t early = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    PageHinkley ph(o);
    const std::vector<double> v = step_series(1000 + seed, kLength, kChangeAt, before, after);
    uint64_t delay = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!ph.update(v[i])) continue;
      if (i < kChangeAt) {
        ++early;
        continue;
      }
      delay = i + 1 - kChangeAt;
      break;
    }
    ASSERT_GT(delay, 0u) << "seed " << seed;
    // A single run: the crossing time has mean ~ARL1 and s.d. ~sqrt(lambda) / (d - delta)^1.5
    // (~9 here); 3 x ARL1 is > 4 s.d. above the mean.
    EXPECT_LE(static_cast<double>(delay), 3.0 * arl1) << "seed " << seed;
    const DriftEvent& e = *ph.last_detection();
    EXPECT_EQ(e.method, "page_hinkley");
    EXPECT_EQ(e.index, kChangeAt + delay);
    EXPECT_EQ(e.threshold, o.lambda);
    EXPECT_GT(e.statistic, o.lambda);
    EXPECT_EQ(e.direction, after > before ? DriftDirection::kUp : DriftDirection::kDown);
    EXPECT_NEAR(static_cast<double>(e.start_index), kChangeAt + 1.0, 3.0 * arl1);
    EXPECT_NEAR(e.mean_before, before, 0.15);
    // mean_after is over the values after the arg-min, which crossed lambda: it is biased away
    // from mean_before by construction (|mean_after - mean_before| > delta + lambda / n_after).
    EXPECT_GT(std::abs(e.mean_after - e.mean_before), o.delta);
    EXPECT_NEAR(e.mean_after, after, 1.0);
    EXPECT_EQ(ph.count(), 0u);  // reset after the alarm
    max_delay = std::max(max_delay, delay);
    sum_delay += static_cast<double>(delay);
  }
  const double mean_delay = sum_delay / kSeeds;
  // The mean of 20 delays: s.e. ~2; the theory value is for a zero start (PH's head start at the
  // change only shortens it), so allow 25% above.
  EXPECT_LE(mean_delay, 1.25 * arl1);
  // False alarms in the 2500 values before the change: theory expects kSeeds * 2500 / ARL0 ~ 0.7
  // (two-sided ARL0 ~ 7e4); P(Poisson(0.7) >= 4) < 1%.
  EXPECT_LE(early, 3u);
  std::printf(
      "page_hinkley step %+.0f: mean delay %.1f, max %llu (ARL1 theory %.1f), %llu early alarms\n",
      after - before, mean_delay, static_cast<unsigned long long>(max_delay), arl1,
      static_cast<unsigned long long>(early));
}

TEST(PageHinkley, DetectsStepUp) { expect_step_detected(0.0, 1.0); }
TEST(PageHinkley, DetectsStepDown) { expect_step_detected(0.0, -1.0); }

TEST(PageHinkley, MoaDefaultsOnAnErrorRateStream) {
  // MOA's defaults (delta 0.005, lambda 50) are meant for a classifier's 0/1 error stream.
  // Error rate 0.2 -> 0.6 at 2500: the statistic gains d - delta - (drift of the running mean)
  // per value, so from zero it needs lambda / (0.4 - 0.005 - 0.02) ~ 133 values. At the change
  // the statistic already holds a head start (a reflected walk with drift -delta, s.d. 0.4 per
  // value: ~15-20), so the mean delay is below that. Pre-change false alarms: ARL0 grows like
  // exp(2 delta lambda / sigma^2) with lambda / sigma = 125, i.e. none expected.
  const double expected = 50.0 / (0.4 - 0.005 - 0.02);
  double sum_delay = 0.0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    PageHinkley ph;
    uint64_t delay = 0;
    for (size_t i = 0; i < kLength; ++i) {
      const double rate = i < kChangeAt ? 0.2 : 0.6;
      const bool alarm = ph.update(u(rng) < rate ? 1.0 : 0.0);
      ASSERT_FALSE(alarm && i < kChangeAt) << "seed " << seed << " false alarm at " << i;
      if (alarm) {
        delay = i + 1 - kChangeAt;
        break;
      }
    }
    ASSERT_GT(delay, 0u);
    // Noise: the gained sum has s.d. ~0.49 sqrt(133) ~ 5.7, i.e. ~15 values of delay.
    EXPECT_LE(static_cast<double>(delay), expected + 60.0) << "seed " << seed;
    EXPECT_EQ(ph.last_detection()->direction, DriftDirection::kUp);
    sum_delay += static_cast<double>(delay);
  }
  EXPECT_LE(sum_delay / kSeeds, expected);
  EXPECT_GE(sum_delay / kSeeds, 0.5 * expected);
  std::printf("page_hinkley MOA defaults, error rate 0.2 -> 0.6: mean delay %.1f (theory %.1f)\n",
              sum_delay / kSeeds, expected);
}

TEST(PageHinkley, OneSidedIgnoresTheOtherDirection) {
  PageHinkleyOptions o = unit_shift_options();
  o.sides = DriftSides::kUp;
  PageHinkley ph(o);
  for (double x : step_series(5, kLength, kChangeAt, 0.0, -2.0)) EXPECT_FALSE(ph.update(x));
  o.sides = DriftSides::kDown;
  PageHinkley down(o);
  bool seen = false;
  for (double x : step_series(5, kLength, kChangeAt, 0.0, -2.0)) seen = down.update(x) || seen;
  EXPECT_TRUE(seen);
}

TEST(PageHinkley, NoAlarmBeforeMinInstances) {
  PageHinkley ph(PageHinkleyOptions{.delta = 0.0, .lambda = 1.0, .min_instances = 30});
  for (int i = 0; i < 29; ++i) EXPECT_FALSE(ph.update(i < 10 ? 0.0 : 100.0));
  EXPECT_TRUE(ph.update(100.0));
}

TEST(PageHinkley, IgnoresNonFiniteValuesAndRejectsBadOptions) {
  PageHinkley ph;
  EXPECT_FALSE(ph.update(std::nan("")));
  EXPECT_EQ(ph.updates(), 0u);
  EXPECT_THROW(PageHinkley(PageHinkleyOptions{.delta = -1.0}), std::invalid_argument);
  EXPECT_THROW(PageHinkley(PageHinkleyOptions{.lambda = 0.0}), std::invalid_argument);
  EXPECT_THROW(PageHinkley(PageHinkleyOptions{.alpha = 0.0}), std::invalid_argument);
  EXPECT_THROW(PageHinkley(PageHinkleyOptions{.alpha = 1.5}), std::invalid_argument);
}

TEST(PageHinkley, SerializeRoundTripContinuesIdentically) {
  const std::vector<double> v = step_series(9, 6000, 3000, 0.0, 1.0);
  PageHinkley a(unit_shift_options());
  for (size_t i = 0; i < 2000; ++i) a.update(v[i]);
  const std::string bytes = a.serialize();
  Result<PageHinkley> restored = PageHinkley::deserialize(bytes);
  ASSERT_TRUE(restored.is_ok()) << restored.status().message();
  PageHinkley& b = *restored;
  EXPECT_EQ(b.serialize(), bytes);
  for (size_t i = 2000; i < v.size(); ++i) ASSERT_EQ(a.update(v[i]), b.update(v[i])) << i;
  EXPECT_EQ(a.serialize(), b.serialize());
  ASSERT_TRUE(b.last_detection().has_value());
  EXPECT_EQ(b.last_detection()->method, "page_hinkley");
  EXPECT_EQ(a.detections(), b.detections());
}

TEST(PageHinkley, CorruptionIsRejected) {
  PageHinkley a(unit_shift_options());
  for (double x : step_series(4, 3000, 1500, 0.0, 1.0)) a.update(x);
  ASSERT_TRUE(a.last_detection().has_value());
  const std::string good = a.serialize();
  ASSERT_TRUE(PageHinkley::deserialize(good).is_ok());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(PageHinkley::deserialize(bad).is_ok()) << "flip at " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(PageHinkley::deserialize(good.substr(0, n)).is_ok()) << n;
  }
  // Well framed but invalid options (lambda = -1) are rejected as corruption.
  Result<std::string_view> payload = unseal(good, PageHinkley::kTypeTag, 1, nullptr);
  ASSERT_TRUE(payload.is_ok());
  std::string p(*payload);
  ByteWriter w;
  w.f64(-1.0);
  p.replace(8, 8, w.data());
  EXPECT_EQ(PageHinkley::deserialize(seal(PageHinkley::kTypeTag, 1, p)).status().code(),
            StatusCode::kCorruption);
  EXPECT_FALSE(PageHinkley::deserialize(seal(make_type_tag("ADW1"), 1, *payload)).is_ok());
}

}  // namespace
}  // namespace spate
