#include "spate/io/clickgen.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace spate {
namespace {

constexpr int64_t kStart = ClickGeneratorOptions::kDefaultStartMs;

ClickGeneratorOptions options_with(uint64_t count, uint64_t seed = 7) {
  ClickGeneratorOptions o;
  o.count = count;
  o.seed = seed;
  return o;
}

std::string generate(const ClickGeneratorOptions& o, uint64_t n) {
  ClickGenerator gen(o);
  std::string out;
  for (uint64_t i = 0; i < n; ++i) gen.next(&out);
  return out;
}

// One parsed event; the views are valid only during the callback.
struct Event {
  int64_t ts = 0;
  std::string_view user, page, type, latency_raw, country, ip;
  double latency = 0;
};

// Parses every line with simdjson, checks the field names and their order, and calls f(event).
template <typename F>
void for_each_event(const std::string& text, F&& f) {
  static const std::vector<std::string_view> kKeys = {"ts",         "user",    "page", "type",
                                                      "latency_ms", "country", "ip"};
  simdjson::padded_string padded(text);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document_stream stream;
  ASSERT_EQ(parser.iterate_many(padded).get(stream), simdjson::SUCCESS);
  for (auto doc : stream) {
    simdjson::ondemand::object obj;
    ASSERT_EQ(doc.get_object().get(obj), simdjson::SUCCESS);
    Event e;
    size_t i = 0;
    for (auto field : obj) {
      std::string_view key;
      ASSERT_EQ(field.unescaped_key().get(key), simdjson::SUCCESS);
      ASSERT_LT(i, kKeys.size());
      ASSERT_EQ(key, kKeys[i]);
      auto value = field.value();
      switch (i) {
        case 0:
          ASSERT_EQ(value.get_int64().get(e.ts), simdjson::SUCCESS);
          break;
        case 1:
          ASSERT_EQ(value.get_string().get(e.user), simdjson::SUCCESS);
          break;
        case 2:
          ASSERT_EQ(value.get_string().get(e.page), simdjson::SUCCESS);
          break;
        case 3:
          ASSERT_EQ(value.get_string().get(e.type), simdjson::SUCCESS);
          break;
        case 4:
          e.latency_raw = value.raw_json_token();
          ASSERT_EQ(value.get_double().get(e.latency), simdjson::SUCCESS);
          break;
        case 5:
          ASSERT_EQ(value.get_string().get(e.country), simdjson::SUCCESS);
          break;
        case 6:
          ASSERT_EQ(value.get_string().get(e.ip), simdjson::SUCCESS);
          break;
      }
      ++i;
    }
    ASSERT_EQ(i, kKeys.size());
    f(e);
  }
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    const size_t dot = s.find('.');
    const std::string_view octet = s.substr(0, dot);
    if (!is_digits(octet) || octet.size() > 3 || std::stoi(std::string(octet)) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

// Top k keys by count, most frequent first.
std::vector<std::string> top_k(const std::unordered_map<std::string, int>& counts, size_t k) {
  std::vector<std::pair<int, std::string>> v;
  for (const auto& [key, n] : counts) v.emplace_back(-n, key);
  std::sort(v.begin(), v.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(k, v.size()); ++i) out.push_back(v[i].second);
  return out;
}

std::vector<std::string> strings(const std::vector<std::string_view>& v) {
  return {v.begin(), v.end()};
}

TEST(ClickGenerator, SameSeedSameBytes) {
  const std::string a = generate(options_with(20000, 42), 20000);
  const std::string b = generate(options_with(20000, 42), 20000);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, generate(options_with(20000, 43), 20000));
  // Appending line by line into fresh strings gives the same bytes as one buffer.
  ClickGenerator gen(options_with(20000, 42));
  std::string joined, line;
  for (int i = 0; i < 20000; ++i) {
    line.clear();
    gen.next(&line);
    joined += line;
  }
  EXPECT_EQ(joined, a);
}

TEST(ClickGenerator, FieldsAndTypes) {
  constexpr uint64_t kN = 5000;
  const std::string text = generate(options_with(kN), kN);
  EXPECT_EQ(static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n')), kN);
  EXPECT_EQ(text.back(), '\n');
  const double mean_bytes = static_cast<double>(text.size()) / kN;
  EXPECT_GT(mean_bytes, 130);
  EXPECT_LT(mean_bytes, 170);

  const std::set<std::string_view> types = {"view", "click", "purchase"};
  uint64_t n = 0;
  for_each_event(text, [&](const Event& e) {
    ++n;
    EXPECT_GE(e.ts, kStart);
    EXPECT_LE(e.ts, kStart + static_cast<int64_t>(kN));
    EXPECT_EQ(e.user.size(), 9u);
    EXPECT_EQ(e.user[0], 'u');
    EXPECT_TRUE(is_digits(e.user.substr(1))) << e.user;
    ASSERT_FALSE(e.page.empty());
    EXPECT_EQ(e.page[0], '/');
    EXPECT_TRUE(std::all_of(e.page.begin(), e.page.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '-';
    })) << e.page;
    EXPECT_TRUE(types.count(e.type)) << e.type;
    // A number with exactly one decimal.
    const size_t dot = e.latency_raw.find('.');
    ASSERT_NE(dot, std::string_view::npos) << e.latency_raw;
    EXPECT_TRUE(is_digits(e.latency_raw.substr(0, dot))) << e.latency_raw;
    EXPECT_EQ(e.latency_raw.size() - dot, 2u) << e.latency_raw;
    EXPECT_GE(e.latency, 1.0);
    EXPECT_LE(e.latency, 60000.0);
    EXPECT_EQ(e.country.size(), 2u);
    EXPECT_TRUE(std::all_of(e.country.begin(), e.country.end(), [](char c) {
      return c >= 'A' && c <= 'Z';
    })) << e.country;
    EXPECT_TRUE(is_ipv4(e.ip)) << e.ip;
  });
  EXPECT_EQ(n, kN);
}

TEST(ClickGenerator, TypeShares) {
  constexpr uint64_t kN = 100000;
  std::map<std::string, int> counts;
  for_each_event(generate(options_with(kN), kN),
                 [&](const Event& e) { ++counts[std::string(e.type)]; });
  EXPECT_NEAR(counts["view"] / static_cast<double>(kN), 0.90, 0.01);
  EXPECT_NEAR(counts["click"] / static_cast<double>(kN), 0.08, 0.01);
  EXPECT_NEAR(counts["purchase"] / static_cast<double>(kN), 0.02, 0.01);
  EXPECT_EQ(counts.size(), 3u);
}

TEST(ClickGenerator, PagePopularityIsZipf) {
  constexpr uint64_t kN = 200000;
  ClickGeneratorOptions o = options_with(kN);
  o.shift_at = kN;  // no shift
  ClickGenerator gen(o);
  // Theory: share of rank 0 is 1 / H(n, s).
  double h = 0;
  for (uint32_t r = 1; r <= gen.page_count(); ++r) h += std::pow(r, -ClickGenerator::kPageZipfS);
  EXPECT_NEAR(gen.rank_share(0), 1.0 / h, 1e-12);
  EXPECT_NEAR(gen.rank_share(9), std::pow(10.0, -ClickGenerator::kPageZipfS) / h, 1e-12);

  std::string text;
  for (uint64_t i = 0; i < kN; ++i) gen.next(&text);
  std::unordered_map<std::string, int> counts;
  for_each_event(text, [&](const Event& e) { ++counts[std::string(e.page)]; });
  const std::string top(gen.top_pages_before(1)[0]);
  const double p = gen.rank_share(0);
  const double sigma = std::sqrt(p * (1 - p) / kN);
  EXPECT_NEAR(counts[top] / static_cast<double>(kN), p, 5 * sigma);
  // Ranks 1..5 are far apart (ratio ≥ 1.27 at this sample size): the observed order matches.
  EXPECT_EQ(top_k(counts, 5), strings(gen.top_pages_before(5)));
  // Most of the catalogue is visited, and all visited pages are catalogue pages.
  EXPECT_GT(counts.size(), gen.page_count() / 2);
}

TEST(ClickGenerator, PagePathsAreUnique) {
  ClickGenerator gen(options_with(1));
  std::unordered_set<std::string_view> paths;
  for (uint32_t p = 0; p < gen.page_count(); ++p) paths.insert(gen.page_path(p));
  EXPECT_EQ(paths.size(), gen.page_count());
  EXPECT_EQ(gen.page_count(), 10000u);
  EXPECT_EQ(gen.user_count(), 100000u);
}

TEST(ClickGenerator, UsersSkewedAndStable) {
  constexpr uint64_t kN = 500'000;
  ClickGenerator gen(options_with(kN));
  const uint32_t n = gen.user_count();
  std::string text;
  text.reserve(kN * 160);
  for (uint64_t i = 0; i < kN; ++i) gen.next(&text);
  // Indexed by the user's number (u00000001 .. u00100000): events, ip, country.
  std::vector<int> per_user(n + 1, 0);
  std::vector<std::string> ip_of(n + 1), country_of(n + 1);
  std::map<std::string, int> countries;
  for_each_event(text, [&](const Event& e) {
    uint32_t number = 0;
    const auto [end, ec] =
        std::from_chars(e.user.data() + 1, e.user.data() + e.user.size(), number);
    ASSERT_TRUE(ec == std::errc() && end == e.user.data() + e.user.size()) << e.user;
    ASSERT_GE(number, 1u);
    ASSERT_LE(number, n);
    if (per_user[number]++ == 0) {
      ip_of[number] = e.ip;
      country_of[number] = e.country;
      ++countries[country_of[number]];  // users per country
    } else {
      ASSERT_EQ(ip_of[number], e.ip) << e.user;
      ASSERT_EQ(country_of[number], e.country) << e.user;
    }
  });
  const size_t distinct = static_cast<size_t>(
      std::count_if(per_user.begin(), per_user.end(), [](int c) { return c > 0; }));
  // Expected number of distinct users in kN draws from Zipf(s) over n users.
  double h = 0;
  for (uint32_t r = 1; r <= n; ++r) h += std::pow(r, -ClickGenerator::kUserZipfS);
  double expected = 0;
  for (uint32_t r = 1; r <= n; ++r) {
    const double p = std::pow(r, -ClickGenerator::kUserZipfS) / h;
    expected += 1 - std::pow(1 - p, static_cast<double>(kN));
  }
  // ≈85k expected. The count is a sum of independent indicators: sd ≤ sqrt(expected) ≈ 290.
  EXPECT_NEAR(static_cast<double>(distinct), expected, 5 * std::sqrt(expected));
  EXPECT_GT(distinct, 50000u);
  // Skew: the most active user has 1/h of all events (≈2.2%, ≈11k events, sd ≈ 100).
  const int top = *std::max_element(per_user.begin(), per_user.end());
  EXPECT_NEAR(top / static_cast<double>(kN), 1.0 / h, 0.1 / h);
  // US (≈28% of users) has the most users; at most the ≈30 listed codes, most of them seen.
  EXPECT_EQ(std::max_element(countries.begin(), countries.end(),
                             [](auto& a, auto& b) { return a.second < b.second; })
                ->first,
            "US");
  EXPECT_NEAR(countries["US"] / static_cast<double>(distinct), 28.0 / 101.0, 0.02);
  EXPECT_LE(countries.size(), 30u);
  EXPECT_GE(countries.size(), 25u);
}

TEST(ClickGenerator, LatencyDistribution) {
  constexpr uint64_t kN = 100000;
  std::vector<double> latencies;
  latencies.reserve(kN);
  for_each_event(generate(options_with(kN), kN),
                 [&](const Event& e) { latencies.push_back(e.latency); });
  ASSERT_EQ(latencies.size(), kN);
  std::sort(latencies.begin(), latencies.end());
  const double median = latencies[kN / 2];
  EXPECT_GT(median, 110);
  EXPECT_LT(median, 130);
  // Slow tail: ≈1.3% above one second (3% slow × P(slow > 1s) ≈ 0.44).
  const double slow =
      static_cast<double>(latencies.end() -
                          std::upper_bound(latencies.begin(), latencies.end(), 1000.0)) /
      kN;
  EXPECT_GT(slow, 0.007);
  EXPECT_LT(slow, 0.02);
  EXPECT_GE(latencies.front(), 1.0);
}

TEST(ClickGenerator, TimestampsWithinJitterBound) {
  constexpr uint64_t kN = 100000;
  std::vector<int64_t> ts;
  for_each_event(generate(options_with(kN), kN), [&](const Event& e) { ts.push_back(e.ts); });
  ASSERT_EQ(ts.size(), kN);
  int64_t max_seen = ts[0];
  uint64_t out_of_order = 0;
  int64_t max_lag = 0;
  for (uint64_t i = 0; i < kN; ++i) {
    ASSERT_GE(ts[i], kStart);
    ASSERT_LE(ts[i], kStart + static_cast<int64_t>(i));  // never ahead of its base time
    ASSERT_GE(ts[i], max_seen - ClickGenerator::kMaxJitterMs) << i;
    if (ts[i] < max_seen) ++out_of_order;
    max_lag = std::max(max_lag, max_seen - ts[i]);
    max_seen = std::max(max_seen, ts[i]);
  }
  // Realistic disorder: a few percent of events are late, some by hundreds of ms.
  EXPECT_GT(out_of_order, kN / 50);
  EXPECT_LT(out_of_order, kN / 5);
  EXPECT_GT(max_lag, 500);
  // 1000 events/s of event time: the stream spans about kN milliseconds.
  EXPECT_GE(max_seen, kStart + static_cast<int64_t>(kN) - 1 - ClickGenerator::kMaxJitterMs);
}

TEST(ClickGenerator, EventTimeRate) {
  ClickGeneratorOptions o = options_with(1000);
  o.events_per_second_of_event_time = 250;  // 4 ms apart
  o.start_ms = 1'000'000;
  ClickGenerator gen(o);
  std::string text;
  for (int i = 0; i < 1000; ++i) gen.next(&text);
  int64_t max_seen = 0;
  for_each_event(text, [&](const Event& e) { max_seen = std::max(max_seen, e.ts); });
  EXPECT_LE(max_seen, 1'000'000 + 999 * 4);
  EXPECT_GE(max_seen, 1'000'000 + 999 * 4 - ClickGenerator::kMaxJitterMs);
}

TEST(ClickGenerator, NextAtKeepsBoundWhenClockGoesBack) {
  ClickGenerator gen(options_with(0));
  std::string text;
  int64_t clock = 5'000'000;
  for (int i = 0; i < 20000; ++i) {
    clock += (i % 100 == 99) ? -3000 : 2;  // the clock jumps back now and then
    gen.next_at(&text, clock);
  }
  int64_t max_seen = 0;
  bool first = true;
  for_each_event(text, [&](const Event& e) {
    EXPECT_GE(e.ts, 5'000'002);  // never before the first base time
    if (!first) {
      EXPECT_GE(e.ts, max_seen - ClickGenerator::kMaxJitterMs);
    }
    first = false;
    max_seen = std::max(max_seen, e.ts);
  });
}

TEST(ClickGenerator, InterestShiftChangesTopPages) {
  constexpr uint64_t kN = 200000;
  ClickGenerator gen(options_with(kN));
  EXPECT_EQ(gen.shift_at(), kN / 2);
  // The guaranteed part: the top kShiftDisjointTop before and after share no page.
  const auto before = gen.top_pages_before(ClickGenerator::kShiftDisjointTop);
  const auto after = gen.top_pages_after(ClickGenerator::kShiftDisjointTop);
  const std::set<std::string_view> before_set(before.begin(), before.end());
  for (std::string_view p : after) EXPECT_EQ(before_set.count(p), 0u) << p;

  std::string first_half, second_half;
  for (uint64_t i = 0; i < kN / 2; ++i) gen.next(&first_half);
  EXPECT_TRUE(gen.shifted());
  for (uint64_t i = 0; i < kN / 2; ++i) gen.next(&second_half);
  std::unordered_map<std::string, int> c1, c2;
  for_each_event(first_half, [&](const Event& e) { ++c1[std::string(e.page)]; });
  for_each_event(second_half, [&](const Event& e) { ++c2[std::string(e.page)]; });
  const auto top1 = top_k(c1, 10);
  const auto top2 = top_k(c2, 10);
  size_t common = 0;
  for (const auto& p : top1) common += std::count(top2.begin(), top2.end(), p);
  EXPECT_LE(common, 1u);
  EXPECT_EQ(top_k(c1, 5), strings(gen.top_pages_before(5)));
  EXPECT_EQ(top_k(c2, 5), strings(gen.top_pages_after(5)));
}

TEST(ClickGenerator, ShiftDefaults) {
  EXPECT_EQ(ClickGenerator(options_with(1000)).shift_at(), 500u);
  EXPECT_EQ(ClickGenerator(options_with(0)).shift_at(), ClickGeneratorOptions::kUnboundedShiftAt);
  ClickGeneratorOptions o = options_with(1000);
  o.shift_at = 10;
  ClickGenerator gen(o);
  EXPECT_EQ(gen.shift_at(), 10u);
  EXPECT_FALSE(gen.done());
  std::string s;
  for (int i = 0; i < 1000; ++i) gen.next(&s);
  EXPECT_TRUE(gen.done());
  EXPECT_EQ(gen.emitted(), 1000u);
}

TEST(ClickGenerator, SmallCataloguesWork) {
  for (uint32_t pages : {1u, 2u, 3u, 15u}) {
    ClickGeneratorOptions o = options_with(100);
    o.pages = pages;
    o.users = 1;
    ClickGenerator gen(o);
    std::string text;
    for (int i = 0; i < 100; ++i) gen.next(&text);
    std::set<std::string> seen;
    std::set<std::string> users;
    for_each_event(text, [&](const Event& e) {
      seen.insert(std::string(e.page));
      users.insert(std::string(e.user));
    });
    EXPECT_LE(seen.size(), pages);
    EXPECT_EQ(users.size(), 1u);
  }
}

TEST(ClickGenerator, RejectsBadOptions) {
  ClickGeneratorOptions o;
  o.users = 0;
  EXPECT_THROW(ClickGenerator{o}, std::invalid_argument);
  o = ClickGeneratorOptions();
  o.pages = 0;
  EXPECT_THROW(ClickGenerator{o}, std::invalid_argument);
  o = ClickGeneratorOptions();
  o.events_per_second_of_event_time = 0;
  EXPECT_THROW(ClickGenerator{o}, std::invalid_argument);
  o.events_per_second_of_event_time = std::nan("");
  EXPECT_THROW(ClickGenerator{o}, std::invalid_argument);
}

}  // namespace
}  // namespace spate
