#include "spate/analytics/hyperloglog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <unordered_set>

#include "spate/analytics/count_min.h"
#include "spate/analytics/sketch_test_util.h"

namespace spate {
namespace {

using test_util::Stream;

// Theory: RSE = 1.04 / sqrt(m). The RMS relative error over T independent trials must be within
// 10% of it (the sampling spread of an RMS over 200 trials is about 1 / sqrt(2 * 200) = 5%).
TEST(HyperLogLog, RmsErrorMatchesTheory) {
  const int kTrials = 200;
  const uint64_t n = 100000;
  double sq = 0, bias = 0;
  for (int t = 0; t < kTrials; ++t) {
    HyperLogLog h(12, 1000 + static_cast<uint64_t>(t));
    for (uint64_t i = 0; i < n; ++i) h.add(i);
    const double e = h.estimate() / static_cast<double>(n) - 1;
    sq += e * e;
    bias += e;
  }
  const double rms = std::sqrt(sq / kTrials);
  const double rse = HyperLogLog(12).standard_error();
  std::printf("p=12 n=%llu: RMS %.4f%%, theory %.4f%%, mean error %.4f%%\n",
              static_cast<unsigned long long>(n), 100 * rms, 100 * rse, 100 * bias / kTrials);
  EXPECT_LE(rms, 1.10 * rse);
  EXPECT_GE(rms, 0.90 * rse);  // much better than theory would mean the trials are not independent
  // No visible bias: the mean error is within 3 standard errors of the mean.
  EXPECT_LE(std::abs(bias / kTrials), 3 * rse / std::sqrt(kTrials));
}

// Small and mid range (where the raw HLL estimate is biased and needs the correction).
TEST(HyperLogLog, SmallAndMidRange) {
  const int kTrials = 100;
  for (uint64_t n : {1ull, 10ull, 100ull, 1000ull, 4000ull, 10000ull, 30000ull}) {
    double sq = 0;
    for (int t = 0; t < kTrials; ++t) {
      HyperLogLog h(12, 77 + static_cast<uint64_t>(t) * 13);
      for (uint64_t i = 0; i < n; ++i) h.add(i * 7919 + 3);
      const double e = h.estimate() / static_cast<double>(n) - 1;
      sq += e * e;
    }
    const double rms = std::sqrt(sq / kTrials);
    EXPECT_LE(rms, 1.10 * HyperLogLog(12).standard_error()) << "n = " << n;
  }
  HyperLogLog empty;
  EXPECT_EQ(empty.estimate(), 0.0);
  EXPECT_TRUE(empty.empty());
}

TEST(HyperLogLog, OtherPrecisions) {
  for (int p : {4, 8, 14, 16}) {
    const int kTrials = p >= 14 ? 20 : 100;
    const uint64_t n = 20000;
    double sq = 0;
    for (int t = 0; t < kTrials; ++t) {
      HyperLogLog h(p, static_cast<uint64_t>(t));
      for (uint64_t i = 0; i < n; ++i) h.add(i);
      const double e = h.estimate() / static_cast<double>(n) - 1;
      sq += e * e;
    }
    const double rms = std::sqrt(sq / kTrials);
    // Fewer trials: the RMS spreads 1 / sqrt(2 T) (16% at T = 20); allow 3 of those.
    const double slack = 1 + 3 / std::sqrt(2.0 * kTrials);
    EXPECT_LE(rms, slack * HyperLogLog(p).standard_error()) << "p = " << p;
  }
}

// Distinct counts of each test stream: within 4 standard errors (a 6e-5 two-sided tail).
TEST(HyperLogLog, AllStreamsAndMerge) {
  for (Stream s : test_util::all_streams()) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto keys = test_util::make_stream(s, 300000, 1 << 20, 5);
    std::unordered_set<uint64_t> exact(keys.begin(), keys.end());
    HyperLogLog whole(12, 9), a(12, 9), b(12, 9);
    for (size_t i = 0; i < keys.size(); ++i) {
      whole.add(keys[i]);
      (i % 3 == 0 ? a : b).add(keys[i]);
    }
    const double truth = static_cast<double>(exact.size());
    EXPECT_LE(std::abs(whole.estimate() / truth - 1), 4 * whole.standard_error());
    // Union by merge is exact: the same registers as one sketch over both streams.
    ASSERT_TRUE(a.merge(b).is_ok());
    EXPECT_EQ(a.registers(), whole.registers());
    EXPECT_EQ(a.estimate(), whole.estimate());
  }
}

TEST(HyperLogLog, MergeRequiresSamePrecisionAndSeed) {
  HyperLogLog a(12, 1), b(11, 1), c(12, 2);
  EXPECT_EQ(a.merge(b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.merge(c).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.merge(a).is_ok());
  EXPECT_THROW(HyperLogLog(3), std::invalid_argument);
  EXPECT_THROW(HyperLogLog(19), std::invalid_argument);
}

TEST(HyperLogLog, StringItemsAndCallerHashes) {
  HyperLogLog s(12, 3);
  for (int i = 0; i < 50000; ++i) s.add("user-" + std::to_string(i));
  EXPECT_LE(std::abs(s.estimate() / 50000 - 1), 4 * s.standard_error());
  // The all-zero hash lands in register 0 with the maximal rank; never out of range.
  HyperLogLog h(4);
  h.add_hash(0);
  h.add_hash(~0ull);
  EXPECT_EQ(h.registers()[0], 61);
  EXPECT_EQ(h.registers()[15], 1);
}

TEST(HyperLogLog, SerializeRoundTripAndCorruption) {
  HyperLogLog h(12, 42);
  for (uint64_t i = 0; i < 10000; ++i) h.add(i);
  const std::string bytes = h.serialize();
  auto r = HyperLogLog::deserialize(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->estimate(), h.estimate());
  EXPECT_EQ(r->seed(), 42u);
  EXPECT_EQ(r->serialize(), bytes);
  r->add(uint64_t{123456789});
  h.add(uint64_t{123456789});
  EXPECT_EQ(r->serialize(), h.serialize());
  test_util::expect_rejects_corruption<HyperLogLog>(bytes, false);
  HyperLogLog small(4, 1);
  for (uint64_t i = 0; i < 100; ++i) small.add(i);
  test_util::expect_rejects_corruption<HyperLogLog>(small.serialize(), true);
  test_util::expect_rejects_other_type<HyperLogLog>(CountMin(16, 2, 1).serialize());
  // A well-framed payload with a register above 64 - p + 1 is refused.
  ByteWriter w;
  w.u8(4);
  w.u64(0);
  std::string regs(16, '\0');
  regs[3] = 62;
  w.raw(regs);
  EXPECT_FALSE(HyperLogLog::deserialize(seal(HyperLogLog::kTypeTag, 1, w.data())).is_ok());
}

}  // namespace
}  // namespace spate
