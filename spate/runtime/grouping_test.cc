#include "spate/runtime/grouping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

#include "spate/analytics/alloc_counter_test_util.h"
#include "spate/analytics/prng.h"
#include "spate/runtime/router.h"

namespace spate {
namespace {

// Stand-ins for KeyHasher outputs: pseudorandom 64-bit words (splitmix64 of the key index).
std::vector<uint64_t> key_hashes(size_t keys, uint64_t salt) {
  std::vector<uint64_t> h(keys);
  uint64_t s = salt;
  for (auto& x : h) x = splitmix64(&s);
  return h;
}

uint32_t hi_candidate(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>(((h >> 32) * uint64_t{n}) >> 32);
}
uint32_t lo_candidate(uint64_t h, uint32_t n) {
  return static_cast<uint32_t>(((h & 0xFFFFFFFFu) * uint64_t{n}) >> 32);
}

TEST(Grouping, NamesRoundTrip) {
  for (GroupingKind k : {GroupingKind::kKey, GroupingKind::kPartialKey, GroupingKind::kShuffle,
                         GroupingKind::kBroadcast, GroupingKind::kGlobal}) {
    const auto parsed = parse_grouping(grouping_name(k));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_STREQ(grouping_name(GroupingKind::kPartialKey), "partial_key");
  EXPECT_FALSE(parse_grouping("Key").has_value());
  EXPECT_FALSE(parse_grouping("hot").has_value());
  EXPECT_FALSE(parse_grouping("").has_value());
}

TEST(Grouping, RejectsBadConfiguration) {
  const Seed128 seed = seed_from_u64(1);
  EXPECT_THROW(Router(GroupingSpec{}, 0, seed, 0), std::invalid_argument);
  EXPECT_THROW(Router(GroupingSpec{GroupingKind::kKey, true, 1.5}, 4, seed, 0),
               std::invalid_argument);
  EXPECT_THROW(Router(GroupingSpec{GroupingKind::kKey, true, -0.1}, 4, seed, 0),
               std::invalid_argument);
}

TEST(Grouping, KeyEqualsOwnerOf) {
  const auto hs = key_hashes(100000, 11);
  for (uint32_t n : {1u, 2u, 7u, 64u, 1000u, 65536u}) {
    Router r(GroupingSpec{GroupingKind::kKey}, n, seed_from_u64(3), 0);
    EXPECT_FALSE(r.splits_keys());
    for (uint64_t h : hs) ASSERT_EQ(r.route_key(h), owner_of(h, n)) << n;
    uint64_t total = 0;
    for (uint64_t c : r.sent()) total += c;
    EXPECT_EQ(total, hs.size());
  }
}

TEST(Grouping, PartialKeyUsesItsTwoCandidatesOnly) {
  constexpr uint32_t kN = 16;
  const auto hs = key_hashes(500, 21);
  GroupingSpec spec{GroupingKind::kPartialKey};
  spec.hot_keys = false;
  Router r(spec, kN, seed_from_u64(5), 0);
  EXPECT_TRUE(r.splits_keys());
  std::vector<std::set<uint32_t>> used(hs.size());
  // Every key 40 times, interleaved, so the less-sent choice really alternates.
  for (int round = 0; round < 40; ++round) {
    for (size_t k = 0; k < hs.size(); ++k) {
      const uint32_t w = r.route_key(hs[k]);
      ASSERT_TRUE(w == hi_candidate(hs[k], kN) || w == lo_candidate(hs[k], kN)) << k;
      used[k].insert(w);
    }
  }
  size_t both = 0;
  for (size_t k = 0; k < hs.size(); ++k) {
    EXPECT_LE(used[k].size(), 2u);
    if (used[k].size() == 2) ++both;
  }
  EXPECT_GT(both, 0u);
  // Alone on a fresh router, a key with two distinct candidates alternates between them: each
  // record goes to the one sent fewer records (ties to the first), so the split is exact.
  for (size_t k = 0; k < 20; ++k) {
    const uint64_t h = hs[k];
    if (hi_candidate(h, kN) == lo_candidate(h, kN)) continue;
    Router alone(spec, kN, seed_from_u64(5), 0);
    for (int i = 0; i < 100; ++i) alone.route_key(h);
    EXPECT_EQ(alone.sent()[hi_candidate(h, kN)], 50u);
    EXPECT_EQ(alone.sent()[lo_candidate(h, kN)], 50u);
  }
}

// One key is half the traffic, the other half spread thinly over 10^4 keys: only the heavy key
// may leave its usual worker, and it must reach many workers.
TEST(Grouping, HotKeysSpreadOnlyHotKeys) {
  constexpr uint32_t kN = 16;
  const auto light = key_hashes(10000, 31);
  const uint64_t heavy = key_hashes(1, 99)[0];
  for (GroupingKind kind : {GroupingKind::kKey, GroupingKind::kPartialKey}) {
    GroupingSpec spec{kind};
    spec.hot_keys = true;
    Router r(spec, kN, seed_from_u64(7), 0);
    EXPECT_TRUE(r.splits_keys());
    std::set<uint32_t> heavy_workers;
    for (size_t i = 0; i < 200000; ++i) {
      if (i % 2 == 0) {
        heavy_workers.insert(r.route_key(heavy));
        continue;
      }
      const uint64_t h = light[(i / 2) % light.size()];
      const uint32_t w = r.route_key(h);
      if (kind == GroupingKind::kKey) {
        ASSERT_EQ(w, owner_of(h, kN)) << "light key moved at record " << i;
      } else {
        ASSERT_TRUE(w == hi_candidate(h, kN) || w == lo_candidate(h, kN)) << i;
      }
    }
    // Share 1/2: d = ceil(2 * 0.5 * 16) = N, so it is spread over all workers.
    EXPECT_EQ(heavy_workers.size(), kN) << grouping_name(kind);
    // The light keys put 6250 +- 250 (sd) records on each worker; the heavy key's 10^5
    // records, placed by two choices among all workers, fill every gap (about 16 * 2 sd =
    // 8000 records), so the loads end level up to the two-choice gap, far inside 10%.
    const auto [lo, hi] = std::minmax_element(r.sent().begin(), r.sent().end());
    EXPECT_LE(static_cast<double>(*hi) / static_cast<double>(*lo), 1.1) << grouping_name(kind);
  }
}

// Without hot keys the heavy key stays on its one (key) or two (partial_key) workers.
TEST(Grouping, HotKeysOffKeepsHeavyKeyInPlace) {
  constexpr uint32_t kN = 16;
  const uint64_t heavy = key_hashes(1, 99)[0];
  GroupingSpec spec{GroupingKind::kPartialKey};
  Router r(spec, kN, seed_from_u64(7), 0);
  std::set<uint32_t> used;
  for (int i = 0; i < 10000; ++i) used.insert(r.route_key(heavy));
  EXPECT_LE(used.size(), 2u);
}

std::vector<uint32_t> placements(const GroupingSpec& spec, uint32_t n, uint64_t seed,
                                 uint32_t sender) {
  Router r(spec, n, seed_from_u64(seed), sender);
  const auto hs = key_hashes(1000, 41);
  std::vector<uint64_t> load(n, 0);
  std::vector<uint32_t> out;
  for (int i = 0; i < 50000; ++i) {
    // floor(i^2 / 7) mod 97 revisits a few keys unevenly: some of them turn hot.
    const uint64_t h = hs[(static_cast<size_t>(i) * static_cast<size_t>(i) / 7) % 97];
    const uint32_t w = spec.kind == GroupingKind::kShuffle ? r.route_shuffle(load) : r.route_key(h);
    ++load[w];
    out.push_back(w);
  }
  return out;
}

TEST(Grouping, DeterministicForASeedAndDifferentAcrossSeeds) {
  GroupingSpec hot{GroupingKind::kKey};
  hot.hot_keys = true;
  GroupingSpec pkg{GroupingKind::kPartialKey};
  pkg.hot_keys = true;
  for (const GroupingSpec& spec : {hot, pkg, GroupingSpec{GroupingKind::kShuffle}}) {
    const auto a = placements(spec, 32, 1, 0);
    EXPECT_EQ(a, placements(spec, 32, 1, 0)) << grouping_name(spec.kind);
    EXPECT_NE(a, placements(spec, 32, 2, 0)) << grouping_name(spec.kind);
    EXPECT_NE(a, placements(spec, 32, 1, 1)) << "senders share a stream";
  }
}

TEST(Grouping, ShufflePicksTheLessLoadedOfTwoDistinctWorkers) {
  constexpr uint32_t kN = 8;
  Router r(GroupingSpec{GroupingKind::kShuffle}, kN, seed_from_u64(9), 0);
  EXPECT_TRUE(r.splits_keys());
  // Worker 3 is empty, the others full: whenever 3 is drawn it wins. The probability that it is
  // among two distinct draws is 2/N, so over 8000 calls about 2000 go to it.
  std::vector<uint64_t> load(kN, 1000);
  load[3] = 0;
  int to3 = 0;
  for (int i = 0; i < 8000; ++i) {
    const uint32_t w = r.route_shuffle(load);
    if (w == 3) ++to3;
  }
  // Binomial(8000, 1/4): mean 2000, sd 38.7; 6 sd either side.
  EXPECT_NEAR(to3, 2000, 6 * 38.7);
  // Equal loads: ties go to the worker this router sent less to, so its sends stay level.
  Router t(GroupingSpec{GroupingKind::kShuffle}, kN, seed_from_u64(9), 1);
  const std::vector<uint64_t> flat(kN, 5);
  for (int i = 0; i < 8000; ++i) t.route_shuffle(flat);
  const auto [lo, hi] = std::minmax_element(t.sent().begin(), t.sent().end());
  EXPECT_LE(*hi - *lo, 3u);  // two-choice gap: ln ln 8 / ln 2 + O(1)
  Router one(GroupingSpec{GroupingKind::kShuffle}, 1, seed_from_u64(9), 0);
  const std::vector<uint64_t> single(1, 0);
  EXPECT_EQ(one.route_shuffle(single), 0u);
}

// Hot-key detection reuses its two Space-Saving summaries epoch after epoch: once both have been
// full, routing allocates nothing (N = 16: m = 160 counters, epochs of 1280 records).
TEST(Grouping, NoAllocationPerRecordInSteadyState) {
  const auto light = key_hashes(10000, 51);
  const uint64_t heavy = key_hashes(1, 52)[0];
  for (GroupingKind kind : {GroupingKind::kKey, GroupingKind::kPartialKey}) {
    GroupingSpec spec{kind};
    spec.hot_keys = true;
    Router r(spec, 16, seed_from_u64(3), 0);
    auto record = [&](size_t i) { return i % 3 == 0 ? heavy : light[(i * 7919) % light.size()]; };
    for (size_t i = 0; i < 20000; ++i) r.route_key(record(i));
    const uint64_t before = g_allocations.load();
    for (size_t i = 20000; i < 120000; ++i) r.route_key(record(i));
    EXPECT_EQ(g_allocations.load() - before, 0u) << grouping_name(kind);
  }
}

TEST(Grouping, GlobalAndBroadcastAreLeftToTheCaller) {
  Router g(GroupingSpec{GroupingKind::kGlobal}, 4, seed_from_u64(1), 0);
  Router b(GroupingSpec{GroupingKind::kBroadcast}, 4, seed_from_u64(1), 0);
  EXPECT_FALSE(g.splits_keys());
  EXPECT_FALSE(b.splits_keys());
  EXPECT_EQ(g.route_key(12345), 0u);
  EXPECT_EQ(g.workers(), 4u);
}

}  // namespace
}  // namespace spate
