#include "spate/analytics/kll.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "spate/analytics/moments.h"
#include "spate/analytics/sketch_test_util.h"

#include "spate/analytics/alloc_counter_test_util.h"

namespace spate {
namespace {

using test_util::Stream;

// Exact ranks from the sorted stream.
class ExactRanks {
 public:
  explicit ExactRanks(std::vector<double> xs) : sorted_(std::move(xs)) {
    std::sort(sorted_.begin(), sorted_.end());
  }
  double n() const { return static_cast<double>(sorted_.size()); }
  double lt(double x) const {
    return static_cast<double>(std::lower_bound(sorted_.begin(), sorted_.end(), x) -
                               sorted_.begin()) /
           n();
  }
  double le(double x) const {
    return static_cast<double>(std::upper_bound(sorted_.begin(), sorted_.end(), x) -
                               sorted_.begin()) /
           n();
  }
  double at(double q) const {
    size_t i = static_cast<size_t>(q * n());
    return sorted_[std::min(i, sorted_.size() - 1)];
  }

 private:
  std::vector<double> sorted_;
};

// Worst normalized rank error of the sketch over the 99 percentiles: quantile(q) must return a
// value whose true rank interval [lt, le] is near q, and rank(x) at the true percentiles must be
// near their true inclusive rank.
double max_rank_error(const KllSketch& s, const ExactRanks& ex) {
  std::vector<double> qs;
  for (int i = 1; i <= 99; ++i) qs.push_back(i / 100.0);
  const auto got = s.quantiles(qs);
  double worst = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    const double q = qs[i];
    const double lo = ex.lt(got[i]), hi = ex.le(got[i]);
    worst = std::max(worst, q < lo ? lo - q : q > hi ? q - hi : 0.0);
    const double x = ex.at(q);
    worst = std::max(worst, std::abs(s.rank(x) - ex.le(x)));
  }
  return worst;
}

std::vector<double> values(Stream s, size_t n, uint64_t seed) {
  if (s == Stream::kUniform) {  // continuous: all distinct
    Xoshiro256 rng(seed);
    std::vector<double> out(n);
    for (auto& v : out) v = rng.uniform() * 1000.0 - 500.0;
    return out;
  }
  const auto keys = test_util::make_stream(s, n, 200000, seed);
  return std::vector<double>(keys.begin(), keys.end());
}

// The guarantee: max rank error <= normalized_rank_error(k) (99% bound, 1.33% at k = 200) in at
// least 98% of the trials, on every kind of stream.
TEST(Kll, RankErrorWithinBoundAllStreams) {
  const double bound = KllSketch::normalized_rank_error(200);
  EXPECT_NEAR(bound, 0.01325, 0.0001);
  for (Stream s : test_util::all_streams()) {
    const int trials = s == Stream::kUniform ? 200 : 50;
    const size_t n = s == Stream::kUniform ? 100000 : 50000;
    int within = 0;
    double sum_err = 0;
    for (int t = 0; t < trials; ++t) {
      const auto xs = values(s, n, 1000 + static_cast<uint64_t>(t));
      KllSketch k(200, static_cast<uint64_t>(t));
      for (double x : xs) k.add(x);
      ASSERT_EQ(k.count(), n);
      ASSERT_EQ(k.min(), *std::min_element(xs.begin(), xs.end()));
      ASSERT_EQ(k.max(), *std::max_element(xs.begin(), xs.end()));
      const double err = max_rank_error(k, ExactRanks(xs));
      within += err <= bound;
      sum_err += err;
    }
    std::printf("%-10s trials %3d within %.2f%%: %3d, mean worst error %.3f%%\n",
                test_util::stream_name(s), trials, 100 * bound, within, 100 * sum_err / trials);
    EXPECT_GE(within, static_cast<int>(std::ceil(0.98 * trials))) << test_util::stream_name(s);
  }
}

// merge() of partial sketches keeps the bound over the concatenated stream.
TEST(Kll, MergeKeepsBound) {
  const double bound = KllSketch::normalized_rank_error(200);
  for (Stream s : test_util::all_streams()) {
    const int trials = 50;
    int within = 0;
    for (int t = 0; t < trials; ++t) {
      const auto xs = values(s, 50000, 5000 + static_cast<uint64_t>(t));
      // Eight partials of unequal sizes, merged as a chain and as a tree.
      std::vector<KllSketch> parts;
      for (int i = 0; i < 8; ++i) parts.emplace_back(200, static_cast<uint64_t>(t * 8 + i));
      for (size_t i = 0; i < xs.size(); ++i) parts[(i * i / 7 + i) % 8].add(xs[i]);
      for (size_t width = 1; width < parts.size(); width *= 2) {
        for (size_t i = 0; i + width < parts.size(); i += 2 * width) {
          ASSERT_TRUE(parts[i].merge(parts[i + width]).is_ok());
        }
      }
      ASSERT_EQ(parts[0].count(), xs.size());
      const double err = max_rank_error(parts[0], ExactRanks(xs));
      within += err <= bound;
    }
    EXPECT_GE(within, static_cast<int>(std::ceil(0.98 * trials))) << test_util::stream_name(s);
  }
}

TEST(Kll, SmallStreamsAreExact) {
  KllSketch k;
  for (int i = 100; i >= 1; --i) k.add(i);
  EXPECT_EQ(k.retained(), 100u);  // below capacity: nothing compacted
  EXPECT_EQ(k.quantile(0.5), 50.0);
  EXPECT_EQ(k.quantile(0.0), 1.0);
  EXPECT_EQ(k.quantile(1.0), 100.0);
  EXPECT_EQ(k.rank(50), 0.5);
  EXPECT_EQ(k.rank(0), 0.0);
  EXPECT_EQ(k.rank(1000), 1.0);
  KllSketch empty;
  EXPECT_TRUE(std::isnan(empty.quantile(0.5)));
  EXPECT_TRUE(std::isnan(empty.min()));
  EXPECT_EQ(empty.rank(1), 0.0);
  empty.add(NAN);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.ignored(), 1u);
  EXPECT_THROW(KllSketch(4), std::invalid_argument);
}

TEST(Kll, SpaceStaysBounded) {
  KllSketch k(200, 1);
  for (int i = 0; i < 2000000; ++i) k.add(i);
  // About 3k retained items at any stream length.
  EXPECT_LE(k.retained(), 3u * 200 + 8u * k.num_levels());
  EXPECT_LE(k.num_levels(), 20u);
}

TEST(Kll, NoAllocationPerUpdateInSteadyState) {
  KllSketch k(200, 3);
  Xoshiro256 rng(1);
  for (int i = 0; i < 1000000; ++i) k.add(rng.uniform());
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 1000000; ++i) k.add(rng.uniform());
  // Only the (at most one or two) new top levels may allocate, never each update.
  EXPECT_LE(g_allocations.load() - before, 16u);
}

TEST(Kll, ReproducibleUnderSeed) {
  const auto xs = values(Stream::kZipf11, 50000, 8);
  KllSketch a(200, 77), b(200, 77), c(200, 78);
  for (double x : xs) {
    a.add(x);
    b.add(x);
    c.add(x);
  }
  EXPECT_EQ(a.serialize(), b.serialize());
  EXPECT_NE(a.serialize(), c.serialize());
  EXPECT_EQ(KllSketch(300).merge(a).code(), StatusCode::kInvalidArgument);
  KllSketch self = a;
  ASSERT_TRUE(self.merge(self).is_ok());
  EXPECT_EQ(self.count(), 2 * a.count());
}

TEST(Kll, SerializeRoundTripAndCorruption) {
  KllSketch k(200, 5);
  for (double x : values(Stream::kUniform, 30000, 2)) k.add(x);
  const std::string bytes = k.serialize();
  auto r = KllSketch::deserialize(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->serialize(), bytes);
  EXPECT_EQ(r->quantiles({0.1, 0.5, 0.9}), k.quantiles({0.1, 0.5, 0.9}));
  EXPECT_EQ(r->rank(3.5), k.rank(3.5));
  // It continues with the same coin flips.
  for (double x : values(Stream::kUniform, 10000, 3)) {
    k.add(x);
    r->add(x);
  }
  EXPECT_EQ(r->serialize(), k.serialize());
  test_util::expect_rejects_corruption<KllSketch>(bytes, false);
  KllSketch small(8, 1);
  for (int i = 0; i < 40; ++i) small.add(i % 7);
  ASSERT_GT(small.num_levels(), 1u);
  test_util::expect_rejects_corruption<KllSketch>(small.serialize(), true);
  test_util::expect_rejects_other_type<KllSketch>(Moments().serialize());

  // Well-framed but inconsistent: level weights not summing to n; an unsorted level 1.
  auto frame = [](uint64_t n, std::vector<std::vector<double>> levels) {
    ByteWriter w;
    w.u16(8);
    for (int i = 0; i < 4; ++i) w.u64(i + 1);
    w.varint(n);
    w.varint(0);
    w.f64(0);
    w.f64(10);
    w.u8(static_cast<uint8_t>(levels.size()));
    for (auto& lv : levels) {
      w.varint(lv.size());
      for (double v : lv) w.f64(v);
    }
    return seal(KllSketch::kTypeTag, 1, w.data());
  };
  EXPECT_TRUE(KllSketch::deserialize(frame(5, {{0, 10, 3}, {1}})).is_ok());
  EXPECT_FALSE(KllSketch::deserialize(frame(6, {{0, 10, 3}, {1}})).is_ok());
  EXPECT_FALSE(KllSketch::deserialize(frame(7, {{0, 10, 3}, {2, 1}})).is_ok());
  EXPECT_FALSE(KllSketch::deserialize(frame(5, {{0, 11, 3}, {1}})).is_ok());
  EXPECT_FALSE(KllSketch::deserialize(frame(5, {{0, NAN, 3}, {1}})).is_ok());
}

}  // namespace
}  // namespace spate
