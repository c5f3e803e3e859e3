#include "spate/analytics/space_saving.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <unordered_map>

#include "spate/analytics/count_min.h"
#include "spate/analytics/sketch_test_util.h"

#include "spate/analytics/alloc_counter_test_util.h"

namespace spate {
namespace {

using test_util::Stream;

// The Space-Saving guarantee, on every item: monitored items bracket their true count;
// unmonitored ones are at most min_count(); min_count() <= N / m; so every item with frequency
// above N / m is monitored.
template <typename Item, typename Map>
void check_guarantee(const BasicSpaceSaving<Item>& ss, const Map& exact) {
  uint64_t n = 0;
  for (const auto& kv : exact) n += kv.second;
  ASSERT_EQ(ss.total(), n);
  ASSERT_LE(ss.min_count() * ss.capacity(), n);
  size_t monitored = 0;
  for (const auto& [item, truth] : exact) {
    const auto b = ss.estimate(item);
    ASSERT_LE(b.count - b.error, truth) << "lower bound above truth";
    ASSERT_GE(b.count, truth) << "upper bound below truth";
  }
  for (const auto& e : ss.top(ss.capacity())) {
    ++monitored;
    ASSERT_LE(e.error, e.count);
    auto it = exact.find(e.item);
    const uint64_t truth = it == exact.end() ? 0 : it->second;
    ASSERT_LE(e.count - e.error, truth);
    ASSERT_GE(e.count, truth);
  }
  // Heavy hitters are reported by top().
  const auto all = ss.top(ss.capacity());
  for (const auto& [item, truth] : exact) {
    if (truth * ss.capacity() <= n) continue;
    bool found = false;
    for (const auto& e : all) found = found || e.item == item;
    ASSERT_TRUE(found) << "heavy hitter missing";
  }
  EXPECT_EQ(monitored, ss.size());
  // The structure is well formed (deserialize checks ordering, totals, duplicates).
  ASSERT_TRUE(BasicSpaceSaving<Item>::deserialize(ss.serialize()).is_ok());
}

TEST(SpaceSaving, GuaranteeOnEveryItemAllStreams) {
  for (Stream s : test_util::all_streams()) {
    for (uint64_t trial = 0; trial < 4; ++trial) {
      SCOPED_TRACE(std::string(test_util::stream_name(s)) + " trial " + std::to_string(trial));
      const auto keys = test_util::make_stream(s, 100000, 20000, 100 + trial);
      SpaceSavingU64 ss(64 + 100 * trial);
      std::unordered_map<uint64_t, uint64_t> exact;
      for (uint64_t k : keys) {
        ss.add(k);
        ++exact[k];
      }
      check_guarantee(ss, exact);
    }
  }
}

TEST(SpaceSaving, WeightedUpdates) {
  for (Stream s : {Stream::kUniform, Stream::kZipf11, Stream::kSorted}) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto keys = test_util::make_stream(s, 50000, 5000, 7);
    Xoshiro256 rng(5);
    SpaceSavingU64 ss(100);
    std::unordered_map<uint64_t, uint64_t> exact;
    for (uint64_t k : keys) {
      const uint64_t w = 1 + rng.below(rng.below(2) ? 3 : 1000);
      ss.add(k, w);
      exact[k] += w;
    }
    ss.add(1, 0);  // weight 0 is a no-op
    check_guarantee(ss, exact);
  }
}

TEST(SpaceSaving, MergeKeepsGuarantee) {
  for (Stream s : test_util::all_streams()) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto keys = test_util::make_stream(s, 120000, 30000, 55);
    // Eight partial summaries over contiguous slices (as workers would see them), merged as a
    // tree, against the exact counts of the whole stream.
    std::vector<SpaceSavingU64> parts(8, SpaceSavingU64(200));
    std::unordered_map<uint64_t, uint64_t> exact;
    for (size_t i = 0; i < keys.size(); ++i) {
      parts[i * 8 / keys.size()].add(keys[i]);
      ++exact[keys[i]];
    }
    for (size_t width = 1; width < parts.size(); width *= 2) {
      for (size_t i = 0; i + width < parts.size(); i += 2 * width) {
        ASSERT_TRUE(parts[i].merge(parts[i + width]).is_ok());
      }
    }
    check_guarantee(parts[0], exact);
  }
}

TEST(SpaceSaving, MergeEdgeCases) {
  SpaceSavingU64 a(10), b(10), bigger(20), smaller(5);
  for (uint64_t i = 0; i < 4; ++i) a.add(i, i + 1);
  for (uint64_t i = 2; i < 6; ++i) b.add(i, 10);
  // Not full on either side: the merge is exact.
  SpaceSavingU64 m = a;
  ASSERT_TRUE(m.merge(b).is_ok());
  EXPECT_EQ(m.size(), 6u);
  EXPECT_EQ(m.estimate(2).count, 13u);
  EXPECT_EQ(m.estimate(2).error, 0u);
  EXPECT_EQ(m.total(), a.total() + b.total());
  EXPECT_EQ(m.merge(smaller).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.merge(bigger).is_ok());
  // Self-merge doubles everything.
  SpaceSavingU64 d = a;
  ASSERT_TRUE(d.merge(d).is_ok());
  EXPECT_EQ(d.estimate(3).count, 8u);
  EXPECT_EQ(d.total(), 2 * a.total());
  // Merging into an empty summary copies.
  SpaceSavingU64 e(10);
  ASSERT_TRUE(e.merge(a).is_ok());
  EXPECT_EQ(e.serialize(), a.serialize());
}

TEST(SpaceSaving, TopIsSortedAndFindsTheHeavyHitters) {
  const auto keys = test_util::make_stream(Stream::kZipf15, 200000, 100000, 3);
  SpaceSavingU64 ss(100);
  std::unordered_map<uint64_t, uint64_t> exact;
  for (uint64_t k : keys) {
    ss.add(k);
    ++exact[k];
  }
  const auto top = ss.top(10);
  ASSERT_EQ(top.size(), 10u);
  for (size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].count, top[i].count);
  // Zipf ranks 0..9 are the ten most frequent keys by a wide margin at s = 1.5.
  for (size_t i = 0; i < top.size(); ++i) EXPECT_EQ(top[i].item, i);
  EXPECT_EQ(ss.top(1000).size(), 100u);
}

TEST(SpaceSaving, StringItems) {
  const auto keys = test_util::make_stream(Stream::kZipf11, 100000, 20000, 9);
  SpaceSaving ss(128);
  std::unordered_map<std::string, uint64_t> exact;
  for (uint64_t k : keys) {
    // Long and short names: heap buffers and inline (SSO) buffers both get recycled.
    const std::string item =
        (k % 3 == 0 ? "a-rather-long-item-name-beyond-sso-" : "i") + std::to_string(k);
    ss.add(item);
    ++exact[item];
  }
  check_guarantee(ss, exact);
  SpaceSaving copy = ss;  // a copy owns its own strings (map keys point into its counters)
  ss.add("after-copy", 1000000);
  EXPECT_EQ(copy.estimate("after-copy").count, copy.min_count());
  check_guarantee(copy, exact);
  SpaceSaving moved = std::move(copy);
  check_guarantee(moved, exact);
}

TEST(SpaceSaving, NoAllocationPerUpdateInSteadyState) {
  const auto keys = test_util::make_stream(Stream::kZipf11, 400000, 1000000, 4);
  SpaceSavingU64 ss(1024);
  for (size_t i = 0; i < 100000; ++i) ss.add(keys[i]);
  const uint64_t before = g_allocations.load();
  for (size_t i = 100000; i < keys.size(); ++i) ss.add(keys[i]);
  EXPECT_EQ(g_allocations.load() - before, 0u);

  SpaceSaving strings(256);
  std::vector<std::string> items;
  for (size_t i = 0; i < 100000; ++i) items.push_back("item-" + std::to_string(keys[i]));
  for (size_t i = 0; i < 20000; ++i) strings.add(items[i]);
  const uint64_t before_s = g_allocations.load();
  for (size_t i = 20000; i < items.size(); ++i) strings.add(items[i]);
  EXPECT_EQ(g_allocations.load() - before_s, 0u);
}

// clear() forgets everything (the summary then behaves as a fresh one, item for item) and
// keeps its storage: refilling a cleared summary allocates nothing.
TEST(SpaceSaving, ClearForgetsAndKeepsStorage) {
  const auto keys = test_util::make_stream(Stream::kZipf11, 50000, 100000, 5);
  SpaceSavingU64 reused(512);
  for (uint64_t k : keys) reused.add(k);
  reused.clear();
  EXPECT_EQ(reused.total(), 0u);
  EXPECT_EQ(reused.size(), 0u);
  EXPECT_EQ(reused.min_count(), 0u);
  EXPECT_EQ(reused.estimate(keys[0]).count, 0u);
  const uint64_t before = g_allocations.load();
  for (uint64_t k : keys) reused.add(k * 3 + 1);
  EXPECT_EQ(g_allocations.load() - before, 0u);
  SpaceSavingU64 fresh(512);
  for (uint64_t k : keys) fresh.add(k * 3 + 1);
  EXPECT_EQ(reused.serialize(), fresh.serialize());
}

// Memory follows the counters in use, not the capacity: a restored or fresh summary with a huge
// capacity and few items stays small (deserialize allocates nothing in proportion to an
// unchecked size field).
TEST(SpaceSaving, LargeCapacityIsLazy) {
  const uint64_t before = g_allocations.load();
  SpaceSavingU64 s(SpaceSavingU64::kMaxCapacity);
  EXPECT_LE(g_allocations.load() - before, 2u);
  for (uint64_t i = 0; i < 5000; ++i) s.add(i % 3000, 1 + i % 2);
  auto r = SpaceSavingU64::deserialize(s.serialize());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->size(), 3000u);
  EXPECT_EQ(r->serialize(), s.serialize());
  EXPECT_EQ(r->estimate(7).count, s.estimate(7).count);
}

// The item index under heavy churn (most updates evict: distinct keys into small summaries, so
// items are displaced past full groups and erased again): every monitored item is found at its
// own counter, and an item never seen is reported unmonitored.
TEST(SpaceSaving, IndexSurvivesChurn) {
  for (uint32_t m : {1u, 5u, 8u, 9u, 64u, 1000u}) {
    SpaceSavingU64 ss(m);
    for (uint64_t i = 0; i < 200000; ++i) ss.add(i % 7 == 0 ? i % 50 : i * 0x9E3779B97F4A7C15ull);
    const auto top = ss.top(m);
    ASSERT_EQ(top.size(), m);
    for (const auto& e : top) {
      const auto b = ss.estimate(e.item);
      EXPECT_EQ(b.count, e.count) << "m=" << m;
      EXPECT_EQ(b.error, e.error) << "m=" << m;
    }
    EXPECT_EQ(ss.estimate(uint64_t{1} << 63).count, ss.min_count());
  }
}

// The serialized counters list equal counts in eviction order: a new item takes over the first
// counter listed (the oldest of the smallest count), as docs/formats.md describes.
TEST(SpaceSaving, SerializedOrderIsEvictionOrder) {
  const auto keys = test_util::make_stream(Stream::kZipf11, 30000, 5000, 21);
  SpaceSavingU64 ss(64);
  for (size_t i = 0; i < keys.size(); ++i) {
    ss.add(keys[i], 1 + i % 3);
    if (i % 997 != 0) continue;
    const std::string bytes = ss.serialize();
    auto payload = unseal(bytes, SpaceSavingU64::kTypeTag, 1, nullptr);
    ASSERT_TRUE(payload.is_ok());
    ByteReader r(*payload);
    uint64_t cap = 0, total = 0, size = 0, count = 0, error = 0, first = 0;
    ASSERT_TRUE(r.varint(&cap) && r.varint(&total) && r.varint(&size));
    ASSERT_TRUE(r.varint(&count) && r.varint(&error) && r.varint(&first));
    if (size < cap) continue;
    ASSERT_EQ(count, ss.min_count());
    SpaceSavingU64 next = ss;
    next.add(uint64_t{1} << 63);  // never in the stream
    for (const auto& e : next.top(64)) EXPECT_NE(e.item, first) << "i=" << i;
    EXPECT_EQ(next.estimate(uint64_t{1} << 63).count, count + 1);
    EXPECT_EQ(next.estimate(uint64_t{1} << 63).error, count);
  }
}

TEST(SpaceSaving, SerializeRoundTripAndCorruption) {
  const auto keys = test_util::make_stream(Stream::kZipf11, 20000, 5000, 12);
  SpaceSavingU64 ss(50);
  SpaceSaving sss(20);
  for (uint64_t k : keys) {
    ss.add(k);
    sss.add("s" + std::to_string(k));
  }
  const std::string bytes = ss.serialize();
  auto r = SpaceSavingU64::deserialize(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->serialize(), bytes);
  EXPECT_EQ(r->total(), ss.total());
  const auto t1 = ss.top(50), t2 = r->top(50);
  ASSERT_EQ(t1.size(), t2.size());
  for (size_t i = 0; i < t1.size(); ++i) {
    EXPECT_EQ(t1[i].item, t2[i].item);
    EXPECT_EQ(t1[i].count, t2[i].count);
    EXPECT_EQ(t1[i].error, t2[i].error);
  }
  // The restored summary evicts the same counters as the original from here on.
  for (uint64_t k = 100000; k < 100500; ++k) {
    ss.add(k);
    r->add(k);
  }
  EXPECT_EQ(r->serialize(), ss.serialize());

  const std::string sbytes = sss.serialize();
  auto rs = SpaceSaving::deserialize(sbytes);
  ASSERT_TRUE(rs.is_ok());
  EXPECT_EQ(rs->serialize(), sbytes);

  test_util::expect_rejects_corruption<SpaceSavingU64>(bytes, true);
  test_util::expect_rejects_corruption<SpaceSaving>(sbytes, true);
  test_util::expect_rejects_other_type<SpaceSavingU64>(sbytes);
  test_util::expect_rejects_other_type<SpaceSaving>(bytes);
  test_util::expect_rejects_other_type<SpaceSaving>(CountMin(16, 2, 0).serialize());

  // Well-framed but inconsistent payloads are refused: counts out of order, error above count,
  // counts above the total, a duplicate item.
  auto frame = [](uint64_t cap, uint64_t total, std::vector<std::array<uint64_t, 3>> entries) {
    ByteWriter w;
    w.varint(cap);
    w.varint(total);
    w.varint(entries.size());
    for (auto& e : entries) {
      w.varint(e[0]);
      w.varint(e[1]);
      w.varint(e[2]);
    }
    return seal(SpaceSavingU64::kTypeTag, 1, w.data());
  };
  EXPECT_TRUE(SpaceSavingU64::deserialize(frame(2, 5, {{2, 0, 1}, {3, 0, 2}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(2, 5, {{3, 0, 1}, {2, 0, 2}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(2, 5, {{2, 3, 1}, {3, 0, 2}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(2, 4, {{2, 0, 1}, {3, 0, 2}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(2, 5, {{2, 0, 1}, {3, 0, 1}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(1, 5, {{2, 0, 1}, {3, 0, 2}})).is_ok());
  EXPECT_FALSE(SpaceSavingU64::deserialize(frame(3, 6, {{2, 1, 1}, {3, 0, 2}})).is_ok());
}

}  // namespace
}  // namespace spate
