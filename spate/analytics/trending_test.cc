#include "spate/analytics/trending.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "spate/analytics/alloc_counter_test_util.h"
#include "spate/analytics/sketch_test_util.h"
#include "spate/analytics/space_saving.h"

namespace spate {
namespace {

using test_util::Stream;

struct Event {
  std::string item;
  int64_t t;
};

// Events of a stream kind with times i * step_ms, a fraction of them moved back by up to
// `disorder_ms` (out of order).
std::vector<Event> make_events(Stream kind, size_t n, uint64_t universe, uint64_t seed,
                               int64_t start_ms, int64_t step_ms, int64_t disorder_ms) {
  const auto keys = test_util::make_stream(kind, n, universe, seed);
  Xoshiro256 rng(seed * 31 + 1);
  std::vector<Event> ev;
  ev.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t t = start_ms + static_cast<int64_t>(i) * step_ms;
    if (disorder_ms > 0 && rng.below(4) == 0) t -= static_cast<int64_t>(rng.below(disorder_ms));
    ev.push_back({"k" + std::to_string(test_util::scramble(keys[i]) % 1000003), t});
  }
  return ev;
}

// Exact decayed counts at time T (long double sums of exp(-lambda (T - t))).
struct Exact {
  std::map<std::string, std::pair<long double, long double>> by_item;  // (short, long)
  long double total_short = 0, total_long = 0;
};

Exact exact_decayed(const std::vector<Event>& ev, const Trending& tr, int64_t now) {
  Exact ex;
  const long double ls = std::log(2.0L) / tr.short_half_life_ms();
  const long double ll = std::log(2.0L) / tr.long_half_life_ms();
  for (const Event& e : ev) {
    const long double age = static_cast<long double>(now - e.t);
    const long double s = std::exp(-ls * age), l = std::exp(-ll * age);
    auto& p = ex.by_item[e.item];
    p.first += s;
    p.second += l;
    ex.total_short += s;
    ex.total_long += l;
  }
  return ex;
}

// The guarantee on every item at time `now`, with a rounding slack of 1e-9 of the totals: both
// decayed counts are bracketed, errors are at most total / m, heavy items are candidates.
void check_guarantee(const Trending& tr, const Exact& ex, int64_t now) {
  const double ts = static_cast<double>(ex.total_short), tl = static_cast<double>(ex.total_long);
  ASSERT_NEAR(tr.short_total(now), ts, 1e-9 * ts);
  ASSERT_NEAR(tr.long_total(now), tl, 1e-9 * tl);
  const double eps_s = 1e-9 * ts, eps_l = 1e-9 * tl;
  const double m = tr.capacity();
  for (const auto& [item, truth] : ex.by_item) {
    const auto b = tr.estimate(item, now);
    const double s = static_cast<double>(truth.first), l = static_cast<double>(truth.second);
    ASSERT_LE(b.short_count - b.short_error, s + eps_s) << item;
    ASSERT_GE(b.short_count, s - eps_s) << item;
    ASSERT_LE(b.long_count - b.long_error, l + eps_l) << item;
    ASSERT_GE(b.long_count, l - eps_l) << item;
    ASSERT_LE(b.short_error, ts / m + eps_s);
    ASSERT_LE(b.long_error, tl / m + eps_l);
  }
  const auto all = tr.top_rising(tr.capacity(), now);
  std::unordered_map<std::string, const Trending::Entry*> listed;
  for (const auto& e : all) listed[e.item] = &e;
  for (const auto& [item, truth] : ex.by_item) {
    if (static_cast<double>(truth.first) * m > ts * (1 + 1e-9)) {
      ASSERT_TRUE(listed.count(item)) << "heavy item not a candidate: " << item;
    }
  }
  for (size_t i = 1; i < all.size(); ++i) ASSERT_GE(all[i - 1].score, all[i].score);
  for (const auto& e : all) {
    ASSERT_TRUE(std::isfinite(e.score) && std::isfinite(e.short_rate) &&
                std::isfinite(e.long_rate));
    ASSERT_DOUBLE_EQ(e.short_rate, e.short_count * tr.lambda_short_per_s());
    ASSERT_DOUBLE_EQ(e.long_rate, e.long_count * tr.lambda_long_per_s());
    ASSERT_DOUBLE_EQ(e.score, e.short_rate / std::max(e.long_rate, tr.score_floor(now)));
  }
}

TEST(WeightedSpaceSaving, GuaranteeWithRealWeights) {
  for (Stream s : {Stream::kUniform, Stream::kZipf11, Stream::kSorted}) {
    SCOPED_TRACE(test_util::stream_name(s));
    const auto keys = test_util::make_stream(s, 60000, 5000, 3);
    Xoshiro256 rng(11);
    WeightedSpaceSaving ss(200, 42);
    std::unordered_map<std::string, double> exact;
    double total = 0;
    for (uint64_t k : keys) {
      const double w = 0.01 + 10 * rng.uniform();
      const std::string item = std::to_string(k);
      ss.add(item, w);
      exact[item] += w;
      total += w;
    }
    ASSERT_NEAR(ss.total(), total, 1e-9 * total);
    ASSERT_LE(ss.min_count(), total / ss.capacity() * (1 + 1e-9));
    for (const auto& [item, truth] : exact) {
      const auto b = ss.estimate(item);
      ASSERT_LE(b.count - b.error, truth * (1 + 1e-9) + 1e-9);
      ASSERT_GE(b.count, truth * (1 - 1e-9));
    }
    const auto top = ss.top(10);
    for (size_t i = 1; i < top.size(); ++i) ASSERT_GE(top[i - 1].count, top[i].count);
  }
}

TEST(Trending, DecayedCountsBracketExactOnUniformAndZipf) {
  for (Stream s : {Stream::kUniform, Stream::kZipf11}) {
    for (uint32_t m : {64u, 500u}) {
      SCOPED_TRACE(std::string(test_util::stream_name(s)) + " m=" + std::to_string(m));
      // 100k events, 10 ms apart, a quarter of them up to 5 s late: 1000 s of stream, i.e. 500
      // short half-lives (the landmark moves at least once).
      const auto ev = make_events(s, 100000, 20000, 7 + m, 1767225600000, 10, 5000);
      Trending tr(m, 2000, 60000);
      for (const Event& e : ev) tr.add(e.item, e.t);
      EXPECT_EQ(tr.count(), ev.size());
      EXPECT_GT(tr.landmark(), ev.front().t);
      for (int64_t now : {tr.max_time(), tr.max_time() + 3000}) {
        check_guarantee(tr, exact_decayed(ev, tr, now), now);
      }
    }
  }
}

TEST(Trending, MergeBoundsTheConcatenatedStream) {
  const auto ev = make_events(Stream::kZipf11, 80000, 10000, 21, 1767225600000, 10, 3000);
  for (int split : {0, 1}) {
    SCOPED_TRACE(split == 0 ? "by time" : "by hash");
    Trending a(300, 2000, 60000), b(300, 2000, 60000), single(300, 2000, 60000);
    for (size_t i = 0; i < ev.size(); ++i) {
      const bool to_a = split == 0 ? i < ev.size() * 6 / 10
                                   : test_util::scramble(std::hash<std::string>{}(ev[i].item)) & 1;
      (to_a ? a : b).add(ev[i].item, ev[i].t);
      single.add(ev[i].item, ev[i].t);
    }
    ASSERT_NE(a.landmark(), b.landmark());
    Trending merged = a;
    ASSERT_TRUE(merged.merge(b).is_ok());
    EXPECT_EQ(merged.count(), ev.size());
    EXPECT_EQ(merged.max_time(), single.max_time());
    const int64_t now = single.max_time();
    const Exact ex = exact_decayed(ev, single, now);
    check_guarantee(merged, ex, now);
    check_guarantee(single, ex, now);
    // Both bracket the truth, so their intervals meet: they agree within their error bounds.
    const double slack = 1e-9 * static_cast<double>(ex.total_short);
    for (const auto& [item, truth] : ex.by_item) {
      const auto x = merged.estimate(item, now), y = single.estimate(item, now);
      ASSERT_LE(std::abs(x.short_count - y.short_count),
                std::max(x.short_error, y.short_error) + slack);
    }
    // Merge order does not matter for the guarantee; merging into an empty summary copies.
    Trending other_way = b;
    ASSERT_TRUE(other_way.merge(a).is_ok());
    check_guarantee(other_way, ex, now);
    Trending empty(300, 2000, 60000);
    ASSERT_TRUE(empty.merge(merged).is_ok());
    EXPECT_EQ(empty.serialize(), merged.serialize());
    ASSERT_TRUE(merged.merge(Trending(300, 2000, 60000)).is_ok());
    EXPECT_EQ(empty.serialize(), merged.serialize());
  }
}

TEST(Trending, MergeRejectsIncompatibleSummaries) {
  Trending a(100, 1000, 10000);
  a.add("x", 5);
  EXPECT_FALSE(a.merge(Trending(100, 1000, 20000)).is_ok());
  EXPECT_FALSE(a.merge(Trending(100, 2000, 10000)).is_ok());
  EXPECT_FALSE(a.merge(Trending(50, 1000, 10000)).is_ok());
  EXPECT_TRUE(a.merge(Trending(200, 1000, 10000)).is_ok());
  // Self-merge doubles every count.
  ASSERT_TRUE(a.merge(a).is_ok());
  EXPECT_EQ(a.count(), 2u);
  EXPECT_DOUBLE_EQ(a.estimate("x", 5).short_count, 2.0);
  EXPECT_THROW(Trending(0, 1, 2), std::invalid_argument);
  EXPECT_THROW(Trending(10, 2, 2), std::invalid_argument);
  EXPECT_THROW(Trending(10, 0, 2), std::invalid_argument);
  EXPECT_THROW(Trending(10, 1, INFINITY), std::invalid_argument);
  EXPECT_THROW(Trending(10, 0.5, 2), std::invalid_argument);
  EXPECT_THROW(Trending(10, 1, 2e15), std::invalid_argument);
}

TEST(Trending, RenormalizationOverTenThousandHalfLives) {
  // Short half-life 1 s, 10^4 s of events (10^4 short half-lives, ~27 landmark moves).
  const auto ev = make_events(Stream::kZipf11, 100000, 2000, 5, 0, 100, 2000);
  Trending tr(256, 1000, 20000);
  std::vector<int64_t> landmarks;
  for (const Event& e : ev) {
    tr.add(e.item, e.t);
    if (landmarks.empty() || landmarks.back() != tr.landmark()) landmarks.push_back(tr.landmark());
  }
  EXPECT_GE(landmarks.size(), 10000.0 / (Trending::kRenormalizeExponent / std::log(2.0)));
  // The exponent bound holds, so stored weights stay far from overflow.
  EXPECT_LE((tr.max_time() - tr.landmark()) * std::log(2.0) / 1000, Trending::kRenormalizeExponent);
  const int64_t now = tr.max_time();
  check_guarantee(tr, exact_decayed(ev, tr, now), now);
  // A gap of 10^6 half-lives: everything older decays to 0 exactly, the new item counts 1.
  tr.add("late", now + 1000000000);
  const auto b = tr.estimate("late", now + 1000000000);
  EXPECT_DOUBLE_EQ(b.short_count, 1.0);
  EXPECT_DOUBLE_EQ(b.long_count, 1.0);
  EXPECT_DOUBLE_EQ(tr.short_total(now + 1000000000), 1.0);
  // An event far older than the landmark weighs 0 (decayed away) but is counted as an event.
  const uint64_t before = tr.count();
  tr.add("ancient", 0);
  EXPECT_EQ(tr.count(), before + 1);
  EXPECT_DOUBLE_EQ(tr.short_total(now + 1000000000), 1.0);
  ASSERT_TRUE(Trending::deserialize(tr.serialize()).is_ok());
}

TEST(Trending, RatesAreTheEwmaOfTheEventRate) {
  // One event every 100 ms (10/s) for 2 hours: decayed count sum_j exp(-lambda j 0.1 s) =
  // 1 / (1 - exp(-0.1 lambda)); times lambda that is in [10, 10 + lambda] events per second.
  Trending tr(16, 60000, 3600000);
  for (int64_t t = 0; t <= 7200000; t += 100) tr.add("steady", t);
  const auto top = tr.top_rising(1);
  ASSERT_EQ(top.size(), 1u);
  const double ls = tr.lambda_short_per_s(), ll = tr.lambda_long_per_s();
  EXPECT_GE(top[0].short_rate, 10.0);
  EXPECT_LE(top[0].short_rate, 10.0 + ls);
  // Long rate after two long half-lives: 10 * (1 - 2^-2) within the discretization.
  EXPECT_NEAR(top[0].long_rate, 10.0 * (1 - 0.25), 2 * ll + 1e-9);
  EXPECT_EQ(top[0].short_error, 0.0);
}

TEST(Trending, LatePopularItemRanksAboveSteadyPopularItem) {
  // Two hours: "steady" at 10/s throughout, 50 background items at 1/s each, "late" at 10/s in
  // the last 5 minutes only. Capacity holds every item, so every count is exact (error 0) and
  // the scores equal the closed forms.
  Trending tr(64, 60000, 3600000);
  const int64_t end = 7200000;
  for (int64_t t = 0; t <= end; t += 100) {
    tr.add("steady", t);
    if (t % 1000 == 0) {
      for (int i = 0; i < 50; ++i) tr.add("bg" + std::to_string(i), t + i);
    }
    if (t > end - 300000) tr.add("late", t);
  }
  const auto top = tr.top_rising(64);
  ASSERT_GE(top.size(), 3u);
  EXPECT_EQ(top[0].item, "late");
  size_t steady_rank = 0;
  for (size_t i = 0; i < top.size(); ++i) {
    if (top[i].item == "steady") steady_rank = i;
  }
  EXPECT_GT(steady_rank, 0u);
  // Closed forms (continuous approximation; discretization error ~ lambda * 0.1 s):
  // steady: short ~ 10, long ~ 10 (1 - 2^-2) -> score ~ 4/3.
  // late: short ~ 10 (1 - 2^-5) = 9.69, long ~ 10 (1 - 2^(-300/3600)) = 0.56, below the floor
  // (long total rate / m = (60 * 0.75 + 0.56) / 64 = 0.71): score ~ 9.69 / 0.71 = 13.6.
  const double steady_score = top[steady_rank].score;
  EXPECT_NEAR(steady_score, 1.0 / 0.75, 0.01);
  const double late_short = 10 * (1 - std::pow(2.0, -5));
  const double late_long = 10 * (1 - std::pow(2.0, -300.0 / 3600));
  const double floor = (60 * 0.75 + late_long) / 64;
  EXPECT_NEAR(tr.score_floor(end), floor, 0.01);
  EXPECT_NEAR(top[0].score, late_short / std::max(late_long, floor), 0.1);
  // The score never exceeds long / short half-life when the query time is >= every event time.
  for (const auto& e : top) EXPECT_LE(e.score, 60.0 * (1 + 1e-12));
  // The background items are steady too: scores ~ 4/3 like "steady".
  for (const auto& e : top) {
    if (e.item.rfind("bg", 0) == 0) {
      EXPECT_NEAR(e.score, 1.0 / 0.75, 0.05) << e.item;
    }
  }
}

TEST(Trending, BrandNewItemUsesTheFloor) {
  Trending tr(8, 1000, 100000);
  tr.add("only", 1000);
  const auto top = tr.top_rising(1);
  ASSERT_EQ(top.size(), 1u);
  // One event: long rate = lambda_long, floor = lambda_long / m: the long rate wins.
  EXPECT_DOUBLE_EQ(top[0].score, tr.lambda_short_per_s() / tr.lambda_long_per_s());
  // Queried 10^5 short (10^3 long) half-lives later: the short count underflows to 0 and the
  // floor (>= DBL_MIN) keeps the score finite.
  const auto later = tr.top_rising(1, 1000 + 1000LL * 100000);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_TRUE(std::isfinite(later[0].score));
  EXPECT_EQ(later[0].score, 0.0);
  Trending empty(8, 1000, 100000);
  EXPECT_TRUE(empty.top_rising(5).empty());
}

TEST(Trending, NoAllocationPerUpdateInSteadyState) {
  // Items longer than the small-string buffer, all of one length: once every counter holds
  // such an item, an eviction reuses the evicted string's buffer.
  const auto keys = test_util::make_stream(Stream::kZipf11, 300000, 1000000, 4);
  std::vector<std::string> items;
  items.reserve(keys.size());
  for (uint64_t k : keys) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "/product/books/item-%012llu",
                  static_cast<unsigned long long>(k));
    items.emplace_back(buf);
  }
  Trending tr(1000, 5000, 60000);
  size_t i = 0;
  for (; i < 100000; ++i) tr.add(items[i], static_cast<int64_t>(i));
  const uint64_t before = g_allocations.load();
  for (; i < items.size(); ++i) tr.add(items[i], static_cast<int64_t>(i));
  EXPECT_EQ(g_allocations.load(), before);
}

// A hand-built payload with the given fields, sealed (for invariant checks past the CRC).
struct Counter {
  double count, error;
  std::string item;
};
std::string payload(double sh, double lh, uint64_t cap, uint64_t count, int64_t landmark,
                    int64_t max_time, double total, const std::vector<Counter>& counters,
                    bool second_empty = true) {
  ByteWriter w;
  w.f64(sh);
  w.f64(lh);
  w.varint(cap);
  w.varint(count);
  w.i64(landmark);
  w.i64(max_time);
  w.f64(total);
  w.varint(counters.size());
  for (const auto& c : counters) {
    w.f64(c.count);
    w.f64(c.error);
    w.bytes(c.item);
  }
  if (second_empty) {
    w.f64(0);
    w.varint(0);
  }
  return seal(Trending::kTypeTag, Trending::kVersion, w.data());
}

TEST(Trending, SerializeRoundTripAndCorruption) {
  const auto ev = make_events(Stream::kZipf11, 20000, 3000, 12, 1767225600000, 10, 1000);
  Trending tr(64, 2000, 60000);
  for (const Event& e : ev) tr.add(e.item, e.t);
  const std::string bytes = tr.serialize();
  auto back = Trending::deserialize(bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->serialize(), bytes);
  EXPECT_EQ(back->count(), tr.count());
  EXPECT_EQ(back->landmark(), tr.landmark());
  const auto t1 = tr.top_rising(20), t2 = back->top_rising(20);
  ASSERT_EQ(t1.size(), t2.size());
  for (size_t i = 0; i < t1.size(); ++i) {
    EXPECT_EQ(t1[i].item, t2[i].item);
    EXPECT_EQ(t1[i].score, t2[i].score);
    EXPECT_EQ(t1[i].long_error, t2[i].long_error);
  }
  // The restored summary keeps working: same updates, same bytes.
  tr.add("zzz", tr.max_time() + 5);
  back->add("zzz", back->max_time() + 5);
  EXPECT_EQ(back->serialize(), tr.serialize());
  test_util::expect_rejects_corruption<Trending>(bytes, bytes.size() <= 4096);
  test_util::expect_rejects_other_type<Trending>(SpaceSaving(8).serialize());
  Trending empty(8, 1, 1e15);
  ASSERT_TRUE(Trending::deserialize(empty.serialize()).is_ok());
  test_util::expect_rejects_corruption<Trending>(empty.serialize(), true);
}

TEST(Trending, DeserializeChecksInvariants) {
  auto ok = [](const std::string& b) { return Trending::deserialize(b).is_ok(); };
  const std::vector<Counter> good = {{1, 0, "a"}, {2, 0, "b"}};
  ASSERT_TRUE(ok(payload(1000, 2000, 4, 3, 10, 20, 3, good)));
  EXPECT_FALSE(ok(payload(2000, 2000, 4, 3, 10, 20, 3, good)));         // short == long
  EXPECT_FALSE(ok(payload(-1, 2000, 4, 3, 10, 20, 3, good)));           // negative half-life
  EXPECT_FALSE(ok(payload(NAN, 2000, 4, 3, 10, 20, 3, good)));          // NaN half-life
  EXPECT_FALSE(ok(payload(1e-300, 2000, 4, 3, 10, 20, 3, good)));       // below 1 ms
  EXPECT_FALSE(ok(payload(1000, 1e300, 4, 3, 10, 20, 3, good)));        // above 1e15 ms
  EXPECT_FALSE(ok(payload(1000, 2000, 0, 3, 10, 20, 3, good)));         // capacity 0
  EXPECT_FALSE(ok(payload(1000, 2000, 1, 3, 10, 20, 3, good)));         // more than capacity
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 30, 20, 3, good)));         // landmark > max
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 0, 1000000, 3, good)));     // exponent too large
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 0, 10, 20, 3, good)));         // empty with data
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, 2, good)));         // counts above total
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, 4, good)));         // not full, below total
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, INFINITY, good)));  // infinite total
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, 3, {{2, 0, "b"}, {1, 0, "a"}})));    // order
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, 3, {{1, 0, "a"}, {2, 0, "a"}})));    // dup
  EXPECT_FALSE(ok(payload(1000, 2000, 4, 3, 10, 20, 3, {{1, 0.5, "a"}, {2, 0, "b"}})));  // err
  EXPECT_FALSE(ok(payload(1000, 2000, 2, 3, 10, 20, 3, {{1, 2, "a"}, {2, 0, "b"}})));    // err > c
  EXPECT_FALSE(ok(payload(1000, 2000, 2, 3, 10, 20, 3, {{1, -0.0, "a"}, {NAN, 0, "b"}})));
  // A full summary may carry errors.
  EXPECT_TRUE(ok(payload(1000, 2000, 2, 3, 10, 20, 3, {{1, 0.5, "a"}, {2, 1, "b"}})));
  // A lying counter count is refused before allocating.
  ByteWriter w;
  w.f64(1000);
  w.f64(2000);
  w.varint(1 << 20);
  w.varint(1);
  w.i64(0);
  w.i64(0);
  w.f64(1);
  w.varint(1 << 20);
  EXPECT_FALSE(ok(seal(Trending::kTypeTag, Trending::kVersion, w.data())));
}

}  // namespace
}  // namespace spate
