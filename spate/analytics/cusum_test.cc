#include "spate/analytics/cusum.h"

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

constexpr size_t kChangeAt = 2500;
constexpr size_t kLength = 5000;
constexpr int kSeeds = 20;

std::vector<double> step_series(uint64_t seed, size_t n, size_t change_at, double before,
                                double after, double sigma = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (i < change_at ? before : after) + noise(rng);
  return v;
}

TEST(CusumTheory, SiegmundApproximationKnownValues) {
  // k = 0.5, h = 5: ARL0 ~ 938 (exact Markov-chain value ~930), ARL1(1 sigma) ~ 10.4.
  EXPECT_NEAR(cusum_average_run_length(0.5, 5.0, 0.0), 938.0, 2.0);
  EXPECT_NEAR(cusum_average_run_length(0.5, 5.0, 1.0), 10.34, 0.05);
  // Continuous at shift == k.
  EXPECT_NEAR(cusum_average_run_length(0.5, 5.0, 0.5), cusum_average_run_length(0.5, 5.0, 0.5001),
              0.05);
}

TEST(Cusum, ConstantStreamNeverAlarms) {
  for (double c : {0.0, 2.5, -1e9}) {
    Cusum cu;  // estimated target: zero spread, sigma at its floor
    for (size_t i = 0; i < kLength; ++i) EXPECT_FALSE(cu.update(c));
    EXPECT_EQ(cu.detections(), 0u);
    EXPECT_FALSE(cu.warming_up());
    EXPECT_EQ(cu.target_mean(), c);
  }
  // ... and after a zero-spread warm-up any deviation alarms at once.
  Cusum cu;
  for (int i = 0; i < 200; ++i) cu.update(1.0);
  EXPECT_TRUE(cu.update(1.001));
}

TEST(Cusum, FalseAlarmRateMatchesTheory) {
  // Known target (0, 1), k = 0.5, h = 5: two-sided ARL0 = ARL+ / 2 ~ 469, so 20 x 5000 values
  // should give ~213 alarms (renewal after each reset). Poisson s.d. ~15 (7%); Siegmund is
  // within a few percent: accept +-25%.
  const CusumOptions o{.k = 0.5, .h = 5.0, .target_mean = 0.0, .target_sigma = 1.0};
  const double arl0 = cusum_average_run_length(o.k, o.h, 0.0) / 2.0;
  uint64_t total = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Cusum cu(o);
    for (double x : step_series(seed, kLength, kLength, 0.0, 0.0)) cu.update(x);
    total += cu.detections();
  }
  const double expected = kSeeds * kLength / arl0;
  std::printf("cusum k=0.5 h=5: %llu alarms over %d x 5000 N(0,1), theory %.0f\n",
              static_cast<unsigned long long>(total), kSeeds, expected);
  EXPECT_GT(static_cast<double>(total), 0.75 * expected);
  EXPECT_LT(static_cast<double>(total), 1.25 * expected);
}

TEST(Cusum, DetectionDelayMatchesTheory) {
  // Known target, shift of 1 sigma from the start: mean run length over 2000 runs vs
  // Siegmund's ARL1 (10.3; run-length s.d. ~5, s.e. of the mean ~0.1).
  const CusumOptions o{
      .k = 0.5, .h = 5.0, .target_mean = 0.0, .target_sigma = 1.0, .sides = DriftSides::kUp};
  const double arl1 = cusum_average_run_length(o.k, o.h, 1.0);
  std::mt19937_64 rng(77);
  std::normal_distribution<double> noise(1.0, 1.0);
  double sum = 0.0;
  const int runs = 2000;
  for (int r = 0; r < runs; ++r) {
    Cusum cu(o);
    uint64_t n = 0;
    while (!cu.update(noise(rng))) ++n;
    sum += static_cast<double>(n + 1);
  }
  std::printf("cusum k=0.5 h=5 shift 1: mean run length %.2f, theory %.2f\n", sum / runs, arl1);
  EXPECT_NEAR(sum / runs, arl1, 0.1 * arl1);
}

TEST(Cusum, FewFalseAlarmsWithEstimatedTarget) {
  // h = 10: ARL0 ~ 1.4e5 per side with a known target (~0.07 alarms per 5000, two-sided).
  // Estimating the target costs ARL: with mean error e and sigma_hat = sigma / r the scheme acts
  // like k' = (k - e) r, h' = h r. A 1000-value warm-up (e ~ 0.03, r ~ 1 +- 0.02) keeps ARL0 above
  // ~4e4; the default 100 values (e ~ 0.1, r ~ 1 +- 0.07) can bring one side down to ~8e3.
  const CusumOptions o{.k = 0.5, .h = 10.0, .warmup = 1000};
  uint64_t total = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Cusum cu(o);
    for (double x : step_series(seed, kLength, kLength, 3.0, 3.0, 2.0)) cu.update(x);
    EXPECT_LE(cu.detections(), 2u) << "seed " << seed;
    total += cu.detections();
  }
  std::printf("cusum k=0.5 h=10 estimated target: %llu false alarms over %d x 5000\n",
              static_cast<unsigned long long>(total), kSeeds);
}

void expect_step_detected(double before, double after) {
  // Estimated target (1000-value warm-up, see FewFalseAlarmsWithEstimatedTarget), k = 0.5,
  // h = 10 for a 1-sigma shift: zero-start ARL1 ~ 20.3 values (run-length s.d. ~9).
  const CusumOptions o{.k = 0.5, .h = 10.0, .warmup = 1000};
  const double arl1 = cusum_average_run_length(o.k, o.h, std::abs(after - before));
  double sum_delay = 0.0;
  uint64_t max_delay = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Cusum cu(o);
    const std::vector<double> v = step_series(500 + seed, kLength, kChangeAt, before, after);
    uint64_t delay = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!cu.update(v[i])) continue;
      ASSERT_GE(i, kChangeAt) << "seed " << seed << ": false alarm";
      delay = i + 1 - kChangeAt;
      break;
    }
    ASSERT_GT(delay, 0u) << "seed " << seed;
    EXPECT_LE(static_cast<double>(delay), 3.0 * arl1) << "seed " << seed;
    const DriftEvent& e = *cu.last_detection();
    EXPECT_EQ(e.method, "cusum");
    EXPECT_EQ(e.index, kChangeAt + delay);
    EXPECT_GT(e.statistic, o.h);
    EXPECT_EQ(e.threshold, o.h);
    EXPECT_EQ(e.direction, after > before ? DriftDirection::kUp : DriftDirection::kDown);
    EXPECT_NEAR(e.mean_before, before, 0.15);  // warm-up mean: s.e. 0.03
    // mean_after averages the values since C left zero, which carried C over h: biased away from
    // the target by construction (|mean_after - mu0| > sigma (k + h / n)).
    EXPECT_GT(std::abs(e.mean_after - e.mean_before), o.k);
    EXPECT_NEAR(e.mean_after, after, 1.0);
    EXPECT_NEAR(static_cast<double>(e.start_index), kChangeAt + 1.0, 2.0 * arl1);
    EXPECT_TRUE(cu.warming_up());  // estimated target: re-learned after the alarm
    sum_delay += static_cast<double>(delay);
    max_delay = std::max(max_delay, delay);
  }
  EXPECT_LE(sum_delay / kSeeds, 1.25 * arl1);
  std::printf("cusum step %+.0f (k=0.5 h=10): mean delay %.1f, max %llu, ARL1 theory %.1f\n",
              after - before, sum_delay / kSeeds, static_cast<unsigned long long>(max_delay), arl1);
}

TEST(Cusum, DetectsStepUp) { expect_step_detected(0.0, 1.0); }
TEST(Cusum, DetectsStepDown) { expect_step_detected(0.0, -1.0); }

TEST(Cusum, KnownTargetIsKeptAfterAnAlarm) {
  Cusum cu(CusumOptions{.target_mean = 10.0, .target_sigma = 2.0});
  EXPECT_FALSE(cu.warming_up());
  bool alarmed = false;
  for (int i = 0; i < 100 && !alarmed; ++i) alarmed = cu.update(20.0);
  EXPECT_TRUE(alarmed);
  EXPECT_FALSE(cu.warming_up());
  EXPECT_EQ(cu.target_mean(), 10.0);
  EXPECT_EQ(cu.target_sigma(), 2.0);
  // z = 5 per value, k = 0.5: C+ = 4.5, 9 > h = 5 on the second value.
  EXPECT_EQ(cu.last_detection()->index, 2u);
  EXPECT_EQ(cu.last_detection()->start_index, 1u);
  EXPECT_DOUBLE_EQ(cu.last_detection()->mean_after, 20.0);
}

TEST(Cusum, IgnoresNonFiniteValuesAndRejectsBadOptions) {
  Cusum cu;
  EXPECT_FALSE(cu.update(INFINITY));
  EXPECT_EQ(cu.updates(), 0u);
  EXPECT_THROW(Cusum(CusumOptions{.k = -1.0}), std::invalid_argument);
  EXPECT_THROW(Cusum(CusumOptions{.h = 0.0}), std::invalid_argument);
  EXPECT_THROW(Cusum(CusumOptions{.warmup = 1}), std::invalid_argument);
  EXPECT_THROW(Cusum(CusumOptions{.target_sigma = 0.0}), std::invalid_argument);
  EXPECT_NO_THROW(Cusum(CusumOptions{.warmup = 0, .target_mean = 1.0, .target_sigma = 1.0}));
}

TEST(Cusum, SerializeRoundTripContinuesIdentically) {
  const std::vector<double> v = step_series(11, 6000, 3000, 0.0, 1.0);
  for (size_t cut : {50u, 2000u, 3010u}) {  // inside the warm-up, before and after the change
    Cusum a(CusumOptions{.h = 8.0});
    for (size_t i = 0; i < cut; ++i) a.update(v[i]);
    const std::string bytes = a.serialize();
    Result<Cusum> restored = Cusum::deserialize(bytes);
    ASSERT_TRUE(restored.is_ok()) << restored.status().message();
    Cusum& b = *restored;
    EXPECT_EQ(b.serialize(), bytes);
    for (size_t i = cut; i < v.size(); ++i) ASSERT_EQ(a.update(v[i]), b.update(v[i])) << i;
    EXPECT_EQ(a.serialize(), b.serialize());
    ASSERT_TRUE(b.last_detection().has_value());
    EXPECT_EQ(b.last_detection()->method, "cusum");
  }
}

TEST(Cusum, CorruptionIsRejected) {
  Cusum a(CusumOptions{.h = 8.0});
  for (double x : step_series(12, 3000, 1500, 0.0, 2.0)) a.update(x);
  ASSERT_TRUE(a.last_detection().has_value());
  const std::string good = a.serialize();
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x80);
    EXPECT_FALSE(Cusum::deserialize(bad).is_ok()) << "flip at " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(Cusum::deserialize(good.substr(0, n)).is_ok()) << n;
  }
  // Well framed, but C+ above h (an impossible state for a two-sided scheme) is rejected.
  Result<std::string_view> payload = unseal(good, Cusum::kTypeTag, 1, nullptr);
  ASSERT_TRUE(payload.is_ok());
  Cusum fresh(CusumOptions{.h = 8.0, .target_mean = 0.0, .target_sigma = 1.0});
  for (int i = 0; i < 3; ++i) fresh.update(3.0);  // C+ = 7.5 < h
  ASSERT_EQ(fresh.detections(), 0u);
  const std::string fresh_bytes = fresh.serialize();
  Result<std::string_view> fp = unseal(fresh_bytes, Cusum::kTypeTag, 1, nullptr);
  ASSERT_TRUE(fp.is_ok());
  std::string p(*fp);
  const size_t c_up_offset = p.find([] {
    ByteWriter w;
    w.f64(7.5);
    return w.data();
  }());
  ASSERT_NE(c_up_offset, std::string::npos);
  ByteWriter nine;
  nine.f64(9.0);
  p.replace(c_up_offset, 8, nine.data());
  EXPECT_EQ(Cusum::deserialize(seal(Cusum::kTypeTag, 1, p)).status().code(),
            StatusCode::kCorruption);
  EXPECT_FALSE(Cusum::deserialize(seal(make_type_tag("PHK1"), 1, *payload)).is_ok());
}

}  // namespace
}  // namespace spate
