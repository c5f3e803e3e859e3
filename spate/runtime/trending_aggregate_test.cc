// trending(expr, k, short, long): argument checking, results against exact decayed rates, merge
// of per-worker partial states against one state fed every record (within the Space-Saving
// bound), checkpoint round trips.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "spate/analytics/prng.h"
#include "spate/runtime/aggregate.h"
#include "spate/runtime/aggregate_test_util.h"

namespace spate {
namespace {

using test_util::compile;

struct Row {
  std::string value;
  double score, short_rate, long_rate;
};

std::vector<Row> result(const AggState& s) {
  OutField out;
  Arena arena;
  s.write_result(&out, arena);
  EXPECT_TRUE(out.raw_json);
  const std::string j(out.value.sv());
  static const std::regex kRow(
      R"re(\{"value":"([^"]*)","score":([^,]+),"short_rate":([^,]+),"long_rate":([^}]+)\})re");
  std::vector<Row> rows;
  for (auto it = std::sregex_iterator(j.begin(), j.end(), kRow); it != std::sregex_iterator();
       ++it) {
    rows.push_back({(*it)[1], std::stod((*it)[2]), std::stod((*it)[3]), std::stod((*it)[4])});
  }
  return rows;
}

struct Event {
  std::string page;
  int64_t t;
};

// 60000 events over 600 s (10 ms apart, some up to 2 s late): 200 pages with popularity
// ~ 1 / (rank + 1); pages 0..4 exist only in the last 60 s, where they take half the events.
std::vector<Event> make_events() {
  Xoshiro256 rng(17);
  std::vector<double> cdf;
  double acc = 0;
  for (int r = 0; r < 200; ++r) cdf.push_back(acc += 1.0 / (r + 1));
  std::vector<Event> ev;
  for (int i = 0; i < 60000; ++i) {
    int64_t t = 1767225600000 + int64_t{i} * 10;
    if (rng.below(5) == 0) t -= static_cast<int64_t>(rng.below(2000));
    std::string page;
    if (i >= 54000 && rng.below(2) == 0) {
      page = "/new/" + std::to_string(rng.below(5));
    } else {
      const double u = rng.uniform() * acc;
      const auto r = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
      page = "/old/" + std::to_string(std::min<long>(r, 199));
    }
    ev.push_back({std::move(page), t});
  }
  return ev;
}

TEST(TrendingAggregate, ArgumentsAreChecked) {
  std::string err;
  EXPECT_TRUE(compile("trending(page, 5)", &err)) << err;
  EXPECT_TRUE(compile("trending(page, 5, short=10s, long=10m)", &err)) << err;
  EXPECT_TRUE(compile("trending(page, 5, 10s, 10m, 64)", &err)) << err;
  EXPECT_FALSE(compile("trending(page)", &err));
  EXPECT_NE(err.find("usage"), std::string::npos) << err;
  EXPECT_FALSE(compile("trending(page, 5, short=60)", &err));
  EXPECT_NE(err.find("duration"), std::string::npos) << err;
  EXPECT_FALSE(compile("trending(page, 5, short=1h, long=1m)", &err));
  EXPECT_NE(err.find("short < long"), std::string::npos) << err;
  EXPECT_FALSE(compile("trending(page, 5, shrot=1m)", &err));
  EXPECT_NE(err.find("did you mean"), std::string::npos) << err;
  EXPECT_FALSE(compile("trending(page, 0)", &err));
  EXPECT_FALSE(compile("trending(page, 5, capacity=2)", &err));
}

TEST(TrendingAggregate, ExactWhenEveryValueFitsAndMergeEqualsOneState) {
  const auto ev = make_events();
  auto f = compile("trending(page, 10, short=10s, long=10m, capacity=1024)");
  ASSERT_TRUE(f);
  auto single = f->make_state();
  std::vector<std::unique_ptr<AggState>> workers;
  for (int w = 0; w < 3; ++w) workers.push_back(f->make_state());
  for (size_t i = 0; i < ev.size(); ++i) {
    const Value v = Value::string(ev[i].page);
    single->add(v, ev[i].t);
    workers[std::hash<std::string>{}(ev[i].page) % 3]->add(v, ev[i].t);
  }
  single->add(Value(), ev.back().t);  // nulls are skipped
  auto merged = f->make_state();
  for (auto& w : workers) merged->merge(*w);
  // Exact decayed rates at the latest event time.
  int64_t now = 0;
  for (const Event& e : ev) now = std::max(now, e.t);
  const double ls = std::log(2.0) / 10000, ll = std::log(2.0) / 600000;  // per ms
  std::map<std::string, std::pair<double, double>> exact;
  double total_long = 0;
  for (const Event& e : ev) {
    const double a = static_cast<double>(now - e.t);
    exact[e.page].first += std::exp(-ls * a) * ls * 1000;
    exact[e.page].second += std::exp(-ll * a) * ll * 1000;
    total_long += std::exp(-ll * a) * ll * 1000;
  }
  const double floor = total_long / 1024;
  std::vector<std::pair<double, std::string>> want;
  for (const auto& [page, r] : exact)
    want.push_back({-(r.first / std::max(r.second, floor)), page});
  std::sort(want.begin(), want.end());
  for (const auto* s : {single.get(), merged.get()}) {
    const auto rows = result(*s);
    ASSERT_EQ(rows.size(), 10u);
    for (size_t i = 0; i < rows.size(); ++i) {
      SCOPED_TRACE(rows[i].value);
      EXPECT_EQ(rows[i].value, want[i].second);
      const auto& r = exact[rows[i].value];
      EXPECT_NEAR(rows[i].short_rate, r.first, 1e-9 * r.first);
      EXPECT_NEAR(rows[i].long_rate, r.second, 1e-9 * r.second);
      EXPECT_NEAR(rows[i].score, -want[i].first, 1e-9 * -want[i].first);
    }
    // The five pages that appear in the last minute only lead.
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(rows[i].value.rfind("/new/", 0), 0u) << i;
  }
}

TEST(TrendingAggregate, MergedPartialsWithinTheSpaceSavingBound) {
  // 32 counters for 205 pages: estimates are upper bounds at most total / m above the truth,
  // so a merged state and a single state differ by at most that on every reported rate.
  const auto ev = make_events();
  auto f = compile("trending(page, 5, short=10s, long=10m, capacity=32)");
  ASSERT_TRUE(f);
  auto single = f->make_state();
  auto a = f->make_state(), b = f->make_state();
  for (size_t i = 0; i < ev.size(); ++i) {
    single->add(Value::string(ev[i].page), ev[i].t);
    (i % 2 == 0 ? a : b)->add(Value::string(ev[i].page), ev[i].t);
  }
  a->merge(*b);
  int64_t now = 0;
  for (const Event& e : ev) now = std::max(now, e.t);
  const double ls = std::log(2.0) / 10000, ll = std::log(2.0) / 600000;
  std::map<std::string, std::pair<double, double>> exact;
  double total_short = 0, total_long = 0;
  for (const Event& e : ev) {
    const double x = std::exp(-ls * static_cast<double>(now - e.t)) * ls * 1000;
    const double y = std::exp(-ll * static_cast<double>(now - e.t)) * ll * 1000;
    exact[e.page].first += x;
    exact[e.page].second += y;
    total_short += x;
    total_long += y;
  }
  const auto rows_single = result(*single), rows_merged = result(*a);
  ASSERT_EQ(rows_merged.size(), 5u);
  for (const auto* rows : {&rows_single, &rows_merged}) {
    for (const Row& r : *rows) {
      SCOPED_TRACE(r.value);
      const auto& x = exact[r.value];
      EXPECT_GE(r.short_rate, x.first * (1 - 1e-9));
      EXPECT_LE(r.short_rate, x.first + total_short / 32 * (1 + 1e-9));
      EXPECT_GE(r.long_rate, x.second * (1 - 1e-9));
      EXPECT_LE(r.long_rate, x.second + total_long / 32 * (1 + 1e-9));
    }
  }
  // The rising pages hold half of the last minute: far above the bound, both states rank them
  // first.
  for (const auto* rows : {&rows_single, &rows_merged}) {
    for (const Row& r : *rows) EXPECT_EQ(r.value.rfind("/new/", 0), 0u) << r.value;
  }
}

TEST(TrendingAggregate, CheckpointRoundTrip) {
  const auto ev = make_events();
  auto f = compile("trending(page, 5, short=10s, long=10m)");
  auto s = f->make_state();
  for (const Event& e : ev) s->add(Value::string(e.page), e.t);
  s->add(Value::integer(42), ev.back().t);
  std::string bytes;
  s->serialize(bytes);
  auto back = f->make_state();
  ASSERT_TRUE(back->deserialize(bytes));
  std::string again;
  back->serialize(again);
  EXPECT_EQ(again, bytes);
  const auto r1 = result(*s), r2 = result(*back);
  ASSERT_EQ(r1.size(), r2.size());
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_EQ(r1[i].value, r2[i].value);
  // A state of another trending(...) call, or damaged bytes, is refused.
  auto other = compile("trending(page, 5, short=20s, long=10m)")->make_state();
  EXPECT_FALSE(other->deserialize(bytes));
  bytes[bytes.size() / 2] ^= 1;
  EXPECT_FALSE(back->deserialize(bytes));
}

}  // namespace
}  // namespace spate
