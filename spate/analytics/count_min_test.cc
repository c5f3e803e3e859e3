#include "spate/analytics/count_min.h"

#include <gtest/gtest.h>

#include <unordered_map>

#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/sketch_test_util.h"

namespace spate {
namespace {

using test_util::Stream;

// Checks the Count-Min guarantee against exact counts: never an underestimate; an overestimate
// above epsilon() * N for at most a delta() fraction of the items (the per-item bound, averaged
// over items), and the same for keys never added.
void check_bounds(const CountMin& cm, const std::unordered_map<uint64_t, uint64_t>& exact,
                  uint64_t absent_base) {
  const double slack = cm.epsilon() * static_cast<double>(cm.total());
  size_t over = 0;
  for (const auto& [key, count] : exact) {
    const uint64_t est = cm.estimate_hash(key);
    ASSERT_GE(est, count) << "underestimate for key " << key;
    if (static_cast<double>(est - count) > slack) ++over;
  }
  EXPECT_LE(static_cast<double>(over), cm.delta() * static_cast<double>(exact.size()));
  size_t absent_over = 0;
  const int kAbsent = 20000;
  for (int i = 0; i < kAbsent; ++i) {
    if (static_cast<double>(cm.estimate_hash(absent_base + i)) > slack) ++absent_over;
  }
  EXPECT_LE(static_cast<double>(absent_over), cm.delta() * kAbsent);
}

TEST(CountMin, DimensionsFromErrorTargets) {
  CountMin cm = CountMin::for_error(0.001, 0.01, 1);
  EXPECT_EQ(cm.width(), 4096u);  // e / 0.001 = 2718.3 -> next power of two
  EXPECT_EQ(cm.depth(), 5u);     // ceil(ln 100) = 5
  EXPECT_LE(cm.epsilon(), 0.001);
  EXPECT_LE(cm.delta(), 0.01);
  EXPECT_EQ(CountMin(1000, 3, 0).width(), 1024u);
  EXPECT_THROW(CountMin::for_error(0, 0.1, 0), std::invalid_argument);
  EXPECT_THROW(CountMin(16, 0, 0), std::invalid_argument);
  EXPECT_THROW(CountMin(16, 33, 0), std::invalid_argument);
}

TEST(CountMin, AllStreamsAgainstExactAndMerge) {
  for (Stream s : test_util::all_streams()) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto keys = test_util::make_stream(s, 300000, 50000, 21);
    std::unordered_map<uint64_t, uint64_t> exact;
    CountMin whole = CountMin::for_error(0.002, 0.02, 99);
    CountMin a = CountMin::for_error(0.002, 0.02, 99);
    CountMin b = CountMin::for_error(0.002, 0.02, 99);
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t key = test_util::scramble(keys[i]);
      ++exact[key];
      whole.add_hash(key);
      (i < keys.size() / 2 ? a : b).add_hash(key);
    }
    EXPECT_EQ(whole.total(), keys.size());
    check_bounds(whole, exact, 1ull << 40);
    // The merged sketch keeps the guarantee over the concatenated stream.
    ASSERT_TRUE(a.merge(b).is_ok());
    EXPECT_EQ(a.total(), keys.size());
    check_bounds(a, exact, 1ull << 41);
  }
}

TEST(CountMin, WeightedAndStringItems) {
  CountMin cm(512, 4, 5);
  std::unordered_map<std::string, uint64_t> exact;
  test_util::ZipfSampler z(5000, 1.1);
  Xoshiro256 rng(3);
  for (int i = 0; i < 50000; ++i) {
    const std::string item = "k" + std::to_string(z(&rng));
    const uint64_t w = 1 + rng.below(5);
    cm.add(item, w);
    exact[item] += w;
  }
  const double slack = cm.epsilon() * static_cast<double>(cm.total());
  size_t over = 0;
  for (const auto& [item, count] : exact) {
    ASSERT_GE(cm.estimate(item), count);
    if (static_cast<double>(cm.estimate(item) - count) > slack) ++over;
  }
  EXPECT_LE(static_cast<double>(over), cm.delta() * static_cast<double>(exact.size()));
  cm.add("zero", 0);
  EXPECT_EQ(cm.estimate("zero") <= slack, true);
}

// Conservative update never raises a counter above what plain Count-Min would: on a single
// repeated key the estimate is exact.
TEST(CountMin, ConservativeUpdateIsExactWithoutCollisions) {
  CountMin cm(1024, 3, 8);
  for (int i = 0; i < 1000; ++i) cm.add_hash(12345, 3);
  EXPECT_EQ(cm.estimate_hash(12345), 3000u);
}

TEST(CountMin, MergeRequiresSameShapeAndSeed) {
  CountMin a(256, 3, 1), b(512, 3, 1), c(256, 4, 1), d(256, 3, 2);
  EXPECT_EQ(a.merge(b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.merge(c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.merge(d).code(), StatusCode::kInvalidArgument);
  a.add_hash(1, 5);
  ASSERT_TRUE(a.merge(a).is_ok());
  EXPECT_EQ(a.estimate_hash(1), 10u);
  EXPECT_EQ(a.total(), 10u);
}

TEST(CountMin, SerializeRoundTripAndCorruption) {
  CountMin cm = CountMin::for_error(0.01, 0.01, 77);
  for (uint64_t i = 0; i < 20000; ++i) cm.add_hash(test_util::scramble(i % 700), 1 + i % 3);
  const std::string bytes = cm.serialize();
  auto r = CountMin::deserialize(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->serialize(), bytes);
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(r->estimate_hash(test_util::scramble(i)), cm.estimate_hash(test_util::scramble(i)));
  }
  r->add("x");
  cm.add("x");
  EXPECT_EQ(r->serialize(), cm.serialize());
  test_util::expect_rejects_corruption<CountMin>(bytes, false);
  CountMin small(16, 2, 3);
  for (uint64_t i = 0; i < 40; ++i) small.add_hash(i);
  test_util::expect_rejects_corruption<CountMin>(small.serialize(), true);
  test_util::expect_rejects_other_type<CountMin>(HyperLogLog(4).serialize());
  // A well-framed payload with a counter above the total is refused.
  ByteWriter w;
  w.u8(1);
  w.u8(1);
  w.u64(0);
  w.varint(5);
  w.varint(6);
  w.varint(0);
  EXPECT_FALSE(CountMin::deserialize(seal(CountMin::kTypeTag, 1, w.data())).is_ok());
}

}  // namespace
}  // namespace spate
