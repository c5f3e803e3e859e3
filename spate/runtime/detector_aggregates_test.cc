// ewma, drift and interest_shift: results against direct computations, detection delays against
// the detectors' theory, merge semantics (docs/pipelines.md) and checkpoint round trips.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "spate/analytics/adwin.h"
#include "spate/analytics/cusum.h"
#include "spate/analytics/page_hinkley.h"
#include "spate/analytics/space_saving.h"
#include "spate/common/serde.h"
#include "spate/common/time.h"
#include "spate/runtime/aggregate.h"
#include "spate/runtime/aggregate_test_util.h"

namespace spate {
namespace {

using test_util::compile;

std::string result_text(const AggState& s) {
  OutField out;
  Arena arena;
  s.write_result(&out, arena);
  if (out.value.is_null()) return "null";
  if (out.value.is_string()) return std::string(out.value.sv());
  std::string t;
  append_text(t, out.value);
  return t;
}

double result_number(const AggState& s) {
  OutField out;
  Arena arena;
  s.write_result(&out, arena);
  EXPECT_TRUE(out.value.is_number());
  return out.value.as_double();
}

// Every number following "key": in a JSON text, in order.
std::vector<double> numbers_after(const std::string& json, const std::string& key) {
  std::vector<double> out;
  const std::string needle = "\"" + key + "\":";
  for (size_t p = json.find(needle); p != std::string::npos; p = json.find(needle, p + 1)) {
    out.push_back(std::stod(json.substr(p + needle.size())));
  }
  return out;
}

// Every string following "key": in a JSON text, in order.
std::vector<std::string> strings_after(const std::string& json, const std::string& key) {
  std::vector<std::string> out;
  const std::string needle = "\"" + key + "\":\"";
  for (size_t p = json.find(needle); p != std::string::npos; p = json.find(needle, p + 1)) {
    const size_t start = p + needle.size();
    out.push_back(json.substr(start, json.find('"', start) - start));
  }
  return out;
}

std::unique_ptr<AggState> round_trip(const AggregateFunction& f, const AggState& s) {
  std::string bytes;
  s.serialize(bytes);
  auto copy = f.make_state();
  EXPECT_TRUE(copy->deserialize(bytes));
  std::string again;
  copy->serialize(again);
  EXPECT_EQ(again, bytes);
  std::string corrupt = bytes;
  corrupt[corrupt.size() / 2] ^= 0x20;
  EXPECT_FALSE(f.make_state()->deserialize(corrupt));
  EXPECT_FALSE(f.make_state()->deserialize(std::string_view(bytes).substr(0, bytes.size() - 1)));
  return copy;
}

// ---------------------------------------------------------------- ewma

// The closed form of the EWMA (first value taken as is): weights (1-a)^(n-1) for x_1 and
// a (1-a)^(n-i) for x_i, i >= 2; in long double.
double ewma_closed_form(const std::vector<double>& xs, double a) {
  const size_t n = xs.size();
  long double v = std::pow(1.0L - a, static_cast<long double>(n - 1)) * xs[0];
  for (size_t i = 1; i < n; ++i) {
    v += a * std::pow(1.0L - a, static_cast<long double>(n - 1 - i)) * xs[i];
  }
  return static_cast<double>(v);
}

std::vector<double> noisy_series(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(100.0, 15.0);
  std::vector<double> xs(n);
  for (auto& x : xs) x = noise(rng);
  return xs;
}

TEST(EwmaAggregate, MatchesTheClosedForm) {
  auto f = compile("ewma(x, 0.05)");
  ASSERT_TRUE(f);
  const auto xs = noisy_series(2000, 1);
  auto s = f->make_state();
  EXPECT_EQ(result_text(*s), "null");
  for (size_t i = 0; i < xs.size(); ++i) s->add(Value::real(xs[i]), static_cast<int64_t>(i));
  s->add(Value::null(), 5);  // skipped
  const double want = ewma_closed_form(xs, 0.05);
  EXPECT_NEAR(result_number(*s), want, 1e-12 * std::abs(want));
  auto keyword = compile("ewma(x, alpha=0.05)");
  auto s2 = keyword->make_state();
  for (size_t i = 0; i < xs.size(); ++i) s2->add(Value::real(xs[i]), static_cast<int64_t>(i));
  EXPECT_EQ(result_number(*s2), result_number(*s));
}

TEST(EwmaAggregate, RejectsBadAlpha) {
  std::string error;
  EXPECT_FALSE(compile("ewma(x, 0)", &error));
  EXPECT_NE(error.find("alpha"), std::string::npos) << error;
  EXPECT_FALSE(compile("ewma(x, 1.5)", &error));
  EXPECT_FALSE(compile("ewma(x)", &error));
  EXPECT_TRUE(compile("ewma(x, 1)"));
}

TEST(EwmaAggregate, MergeOfTimeDisjointPartialsIsTheSingleWorkerResult) {
  auto f = compile("ewma(x, 0.1)");
  const auto xs = noisy_series(3000, 2);
  const double want = ewma_closed_form(xs, 0.1);
  // Three partials holding consecutive event-time ranges, merged in every order.
  const size_t cuts[] = {0, 700, 2100, 3000};
  std::vector<int> order = {0, 1, 2};
  std::set<double> results;
  do {
    std::vector<std::unique_ptr<AggState>> parts;
    for (int p = 0; p < 3; ++p) {
      parts.push_back(f->make_state());
      for (size_t i = cuts[p]; i < cuts[p + 1]; ++i) {
        parts.back()->add(Value::real(xs[i]), static_cast<int64_t>(i) * 10);
      }
    }
    AggState& into = *parts[static_cast<size_t>(order[0])];
    into.merge(*parts[static_cast<size_t>(order[1])]);
    into.merge(*parts[static_cast<size_t>(order[2])]);
    const double got = result_number(into);
    EXPECT_NEAR(got, want, 1e-12 * std::abs(want));
    results.insert(got);
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(results.size(), 1u);  // bit-identical whatever the merge order
}

TEST(EwmaAggregate, InterleavedPartialsFoldByFirstEventTime) {
  auto f = compile("ewma(x, 0.2)");
  const auto xs = noisy_series(1000, 3);
  auto a = f->make_state();
  auto b = f->make_state();
  std::vector<double> a_vals, b_vals;
  for (size_t i = 0; i < xs.size(); ++i) {
    // Round-robin routing: partial a starts first (t = 0), b at t = 1.
    (i % 2 == 0 ? a : b)->add(Value::real(xs[i]), static_cast<int64_t>(i));
    (i % 2 == 0 ? a_vals : b_vals).push_back(xs[i]);
  }
  std::vector<double> laid_end_to_end = a_vals;
  laid_end_to_end.insert(laid_end_to_end.end(), b_vals.begin(), b_vals.end());
  const double want = ewma_closed_form(laid_end_to_end, 0.2);
  b->merge(*a);
  EXPECT_NEAR(result_number(*b), want, 1e-12 * std::abs(want));
}

TEST(EwmaAggregate, SerializeRoundTrip) {
  auto f = compile("ewma(x, 0.3)");
  const auto xs = noisy_series(500, 4);
  auto a = f->make_state();
  auto b = f->make_state();
  for (size_t i = 0; i < 400; ++i) a->add(Value::real(xs[i]), static_cast<int64_t>(i));
  for (size_t i = 400; i < 450; ++i) b->add(Value::real(xs[i]), static_cast<int64_t>(i));
  a->merge(*b);
  auto copy = round_trip(*f, *a);
  EXPECT_EQ(result_number(*copy), result_number(*a));
  for (size_t i = 450; i < 500; ++i) {
    a->add(Value::real(xs[i]), static_cast<int64_t>(i));
    copy->add(Value::real(xs[i]), static_cast<int64_t>(i));
  }
  EXPECT_EQ(result_number(*copy), result_number(*a));
  EXPECT_FALSE(compile("ewma(x, 0.4)")->make_state()->deserialize([&] {
    std::string bytes;
    a->serialize(bytes);
    return bytes;
  }()));  // another alpha
}

// ---------------------------------------------------------------- drift

constexpr size_t kChangeAt = 1000;  // values 0..999 before the step, 1000.. after
constexpr double kStep = 2.0;       // in units of the noise's standard deviation (1)

// N(0, 1) noise, +kStep from index kChangeAt; event time i seconds.
std::vector<double> step_series(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> xs(n);
  for (size_t i = 0; i < n; ++i) xs[i] = noise(rng) + (i >= kChangeAt ? kStep : 0.0);
  return xs;
}

std::string drift_over(const AggregateFunction& f, const std::vector<double>& xs) {
  auto s = f.make_state();
  for (size_t i = 0; i < xs.size(); ++i) s->add(Value::real(xs[i]), static_cast<int64_t>(i) * 1000);
  return result_text(*s);
}

TEST(DriftAggregate, DetectsAStepWithinTheDocumentedDelay) {
  // Delay bounds from each detector's theory (values after the change, 1-based index):
  //  - page_hinkley (delta 0.5, lambda 20): expected delay ~ lambda / (step - delta) = 13.3; the
  //    statistic gains step - delta = 1.5 per value with s.d. 1, so 40 values leave it below 20
  //    with probability ~ Phi(-(60 - 20) / 6.3) ~ 1e-10. Its false-alarm run length at
  //    sigma 1 is at least cusum_average_run_length(0.5, 20, 0) ~ 1e9 values.
  //  - cusum (k 0.5, h 12): expected delay cusum_average_run_length(0.5, 12, 2) ~ 8.6; we allow
  //    3 times that, which also absorbs the 100-value warm-up's estimation error (cusum.h).
  //    Two-sided false-alarm run length ~5e5 values.
  //  - adwin (delta 0.002, clock 32): cut points are tested every 32 values; a 2-sigma step is
  //    beyond eps_cut once the new sub-window holds ~10 values (var ~ 1, ln(2/delta') ~ 9), so
  //    the first or second check after the change cuts: at most 2 * 32 values.
  const auto xs = step_series(3000, 7);
  struct Case {
    std::string call;
    double max_delay;
  };
  const double cusum_delay = 3 * cusum_average_run_length(0.5, 12, kStep);
  EXPECT_LT(cusum_delay, 30);
  const Case cases[] = {
      {"drift(x, method=page_hinkley, delta=0.5, lambda=20)", 40},
      {"drift(x, method='cusum', lambda=12)", cusum_delay},
      {"drift(x)", 64},
  };
  for (const auto& c : cases) {
    auto f = compile(c.call);
    ASSERT_TRUE(f) << c.call;
    const std::string json = drift_over(*f, xs);
    const auto index = numbers_after(json, "index");
    ASSERT_FALSE(index.empty()) << c.call << " " << json;
    EXPECT_GT(index[0], static_cast<double>(kChangeAt)) << c.call << " " << json;  // no false alarm
    EXPECT_LE(index[0], static_cast<double>(kChangeAt) + c.max_delay) << c.call << " " << json;
    const auto direction = strings_after(json, "direction");
    EXPECT_EQ(direction[0], "up") << json;
    // The alarm's time is the event time of the record that raised it (i seconds).
    const auto times = strings_after(json, "time");
    EXPECT_EQ(times[0], format_rfc3339_ms((static_cast<int64_t>(index[0]) - 1) * 1000)) << json;
  }
}

TEST(DriftAggregate, EqualsTheDetectorFedDirectly) {
  const auto xs = step_series(3000, 8);
  auto f = compile("drift(x, method=page_hinkley, delta=0.5, lambda=20)");
  PageHinkleyOptions o;
  o.delta = 0.5;
  o.lambda = 20;
  PageHinkley direct(o);
  std::vector<double> want_index, want_stat;
  for (double x : xs) {
    if (direct.update(x)) {
      want_index.push_back(static_cast<double>(direct.last_detection()->index));
      want_stat.push_back(direct.last_detection()->statistic);
    }
  }
  const std::string json = drift_over(*f, xs);
  EXPECT_EQ(numbers_after(json, "index"), want_index) << json;
  const auto stat = numbers_after(json, "statistic");
  ASSERT_EQ(stat.size(), want_stat.size());
  for (size_t i = 0; i < stat.size(); ++i) EXPECT_DOUBLE_EQ(stat[i], want_stat[i]);
}

TEST(DriftAggregate, NoAlarmOnConstantInput) {
  for (const char* call : {"drift(x)", "drift(x, method=page_hinkley)", "drift(x, method=cusum)"}) {
    auto f = compile(call);
    ASSERT_TRUE(f) << call;
    EXPECT_EQ(drift_over(*f, std::vector<double>(5000, 42.5)), "[]") << call;
  }
}

TEST(DriftAggregate, RejectsBadArguments) {
  std::string error;
  EXPECT_FALSE(compile("drift(x, method=adwn)", &error));
  EXPECT_NE(error.find("adwin, page_hinkley or cusum"), std::string::npos) << error;
  EXPECT_FALSE(compile("drift(x, lambda=3)", &error));  // adwin has no lambda
  EXPECT_FALSE(compile("drift(x, method=adwin, delta=2)", &error));
  EXPECT_FALSE(compile("drift(x, method=cusum, lambda=0)", &error));
  EXPECT_FALSE(compile("drift(x, methd=cusum)", &error));
}

TEST(DriftAggregate, MergePoolsDetectionsInTimeOrder) {
  auto f = compile("drift(x, method=page_hinkley, delta=0.5, lambda=20)");
  // Partial a: step at t = 1000 s; partial b (another worker): step at t = 400 s.
  const auto xa = step_series(2000, 9);
  std::vector<double> xb = step_series(2000, 10);
  auto a = f->make_state();
  auto b = f->make_state();
  for (size_t i = 0; i < xa.size(); ++i) a->add(Value::real(xa[i]), static_cast<int64_t>(i) * 1000);
  for (size_t i = 0; i < xb.size(); ++i) {
    b->add(Value::real(xb[i]), (static_cast<int64_t>(i) - 600) * 1000);
  }
  const std::string ja = result_text(*a), jb = result_text(*b);
  const auto ta = strings_after(ja, "time"), tb = strings_after(jb, "time");
  ASSERT_FALSE(ta.empty());
  ASSERT_FALSE(tb.empty());
  auto a2 = round_trip(*f, *a);
  auto b2 = round_trip(*f, *b);
  a->merge(*b);
  b2->merge(*a2);
  EXPECT_EQ(result_text(*a), result_text(*b2));  // merge order does not matter
  std::vector<std::string> want = ta;
  want.insert(want.end(), tb.begin(), tb.end());
  std::sort(want.begin(), want.end());  // RFC 3339 UTC strings sort by time
  EXPECT_EQ(strings_after(result_text(*a), "time"), want);
  // Merged states round-trip too.
  auto merged = round_trip(*f, *a);
  EXPECT_EQ(result_text(*merged), result_text(*a));
}

TEST(DriftAggregate, KeepsAtMostMaxEventsEarliestFirst) {
  auto f = compile("drift(x, method=cusum, max_events=2)");
  std::vector<double> xs;
  for (int level = 0; level < 6; ++level) {
    for (int i = 0; i < 300; ++i) xs.push_back(level * 10.0 + (i % 7) * 0.1);
  }
  const std::string json = drift_over(*f, xs);
  EXPECT_EQ(numbers_after(json, "index").size(), 2u) << json;
  auto all = compile("drift(x, method=cusum)");
  const auto every = numbers_after(drift_over(*all, xs), "index");
  ASSERT_GE(every.size(), 2u);
  EXPECT_EQ(numbers_after(json, "index"), std::vector<double>(every.begin(), every.begin() + 2));
}

TEST(DriftAggregate, SerializeRoundTripContinuesTheDetector) {
  const auto xs = step_series(3000, 11);
  for (const char* call : {"drift(x)", "drift(x, method=page_hinkley, delta=0.5, lambda=20)",
                           "drift(x, method=cusum, lambda=12)"}) {
    auto f = compile(call);
    auto s = f->make_state();
    for (size_t i = 0; i < 900; ++i) s->add(Value::real(xs[i]), static_cast<int64_t>(i));
    auto copy = round_trip(*f, *s);
    for (size_t i = 900; i < xs.size(); ++i) {
      s->add(Value::real(xs[i]), static_cast<int64_t>(i));
      copy->add(Value::real(xs[i]), static_cast<int64_t>(i));
    }
    EXPECT_EQ(result_text(*copy), result_text(*s)) << call;
    EXPECT_NE(result_text(*s), "[]") << call;
  }
}

// ---------------------------------------------------------------- interest_shift

// A window of 60 s, one event every 5 ms. Before `shift_ms` 60% of the events go to "old0" ..
// "old9" (6% each), after it to "new0" .. "new9"; the rest go to 200 background items.
struct Planted {
  std::vector<std::pair<int64_t, std::string>> events;
};

Planted planted(int64_t shift_ms, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Planted p;
  for (int64_t t = 0; t < 60'000; t += 5) {
    const double r = u(rng);
    std::string item;
    if (r < 0.6) {
      item = (t < shift_ms ? "old" : "new") + std::to_string(static_cast<int>(r / 0.06));
    } else {
      item = "bg" + std::to_string(static_cast<int>((r - 0.6) / 0.4 * 200));
    }
    p.events.emplace_back(t, std::move(item));
  }
  return p;
}

std::string shift_over(const AggregateFunction& f, const Planted& p) {
  auto s = f.make_state();
  Arena arena;
  for (const auto& [t, item] : p.events) s->add(Value::string(arena.copy(item)), t);
  return result_text(*s);
}

TEST(InterestShiftAggregate, FindsAPlantedShiftAndNamesTheRisingItems) {
  auto f = compile("interest_shift(x, 10)");
  const std::string json = shift_over(*f, planted(30'000, 12));
  // Halves mode: the 60 s span needs 2^12 ms buckets (15 slots), split after 8 of them.
  EXPECT_EQ(strings_after(json, "start"),
            (std::vector<std::string>{format_rfc3339_ms(0), format_rfc3339_ms(8 * 4096)}))
      << json;
  EXPECT_NE(json.find("\"shift\":true"), std::string::npos) << json;
  const auto distance = numbers_after(json, "distance");
  const auto threshold = numbers_after(json, "threshold");
  ASSERT_EQ(distance.size(), 1u);
  EXPECT_GT(distance[0], threshold[0]);
  // The before half holds 30 s of old and 2.768 s of new traffic: tv ~ 0.6 * 30/32.768.
  EXPECT_NEAR(distance[0], 0.6 * 30'000 / 32'768, 0.05);
  const size_t rising = json.find("\"rising\":"), falling = json.find("\"falling\":");
  const auto rising_items = strings_after(json.substr(rising, falling - rising), "value");
  const auto falling_items = strings_after(json.substr(falling), "value");
  ASSERT_EQ(rising_items.size(), 10u) << json;
  for (const auto& item : rising_items) EXPECT_EQ(item.substr(0, 3), "new") << json;
  ASSERT_FALSE(falling_items.empty());
  for (size_t i = 0; i < std::min<size_t>(falling_items.size(), 10); ++i) {
    EXPECT_EQ(falling_items[i].substr(0, 3), "old") << json;
  }
}

TEST(InterestShiftAggregate, PeriodSubPeriodsGiveExactShares) {
  auto f = compile("interest_shift(x, 10, period=30s)");
  const Planted p = planted(30'000, 13);
  const std::string json = shift_over(*f, p);
  EXPECT_EQ(strings_after(json, "start"),
            (std::vector<std::string>{format_rfc3339_ms(0), format_rfc3339_ms(30'000)}));
  // The capacity (1024) exceeds the 220 distinct items: the summaries are exact, so the reported
  // shares are the exact ones.
  std::map<std::string, double> before, after;
  for (const auto& [t, item] : p.events) (t < 30'000 ? before : after)[item] += 1;
  const double n = 6000;  // events per 30 s
  const size_t rising = json.find("\"rising\":"), falling = json.find("\"falling\":");
  const std::string rising_json = json.substr(rising, falling - rising);
  const auto items = strings_after(rising_json, "value");
  const auto shares = numbers_after(rising_json, "after");
  ASSERT_EQ(items.size(), 10u) << json;
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].substr(0, 3), "new");
    EXPECT_DOUBLE_EQ(shares[i], after[items[i]] / n) << items[i];
  }
  EXPECT_NE(json.find("\"shift\":true"), std::string::npos);
}

TEST(InterestShiftAggregate, NoShiftOnAStationaryStream) {
  // Planted shift beyond the window: one distribution throughout. The false-alarm probability
  // is at most false_alarm = 0.01 (Bretagnolle-Huber-Carol, distribution_shift.h).
  auto f = compile("interest_shift(x, 10)");
  const std::string json = shift_over(*f, planted(1'000'000, 14));
  EXPECT_NE(json.find("\"shift\":false"), std::string::npos) << json;
  const auto distance = numbers_after(json, "distance");
  ASSERT_EQ(distance.size(), 1u);
  EXPECT_LT(distance[0], numbers_after(json, "threshold")[0]);
}

TEST(InterestShiftAggregate, MergedPartialsEqualOneWorker) {
  for (const char* call : {"interest_shift(x, 10)", "interest_shift(x, 5, period=10s)"}) {
    auto f = compile(call);
    const Planted p = planted(30'000, 15);
    const std::string want = shift_over(*f, p);
    // Three workers by a hash of the item (as key routing would) or round robin; the first
    // worker sees only the first 20 s, so its bucket width starts smaller.
    for (int routing = 0; routing < 2; ++routing) {
      std::vector<std::unique_ptr<AggState>> parts;
      for (int w = 0; w < 3; ++w) parts.push_back(f->make_state());
      Arena arena;
      size_t i = 0;
      for (const auto& [t, item] : p.events) {
        size_t w = routing == 0 ? std::hash<std::string>()(item) % 3 : i % 3;
        if (t < 20'000) w = 0;
        parts[w]->add(Value::string(arena.copy(item)), t);
        ++i;
      }
      auto copy = round_trip(*f, *parts[2]);
      parts[1]->merge(*parts[0]);
      copy->merge(*parts[1]);
      EXPECT_EQ(result_text(*copy), want) << call << " routing " << routing;
      auto merged = round_trip(*f, *copy);
      EXPECT_EQ(result_text(*merged), want) << call;
    }
  }
}

TEST(InterestShiftAggregate, FewerThanTwoSubPeriodsGiveAnEmptyList) {
  auto f = compile("interest_shift(x, 3, period=1m)");
  auto s = f->make_state();
  EXPECT_EQ(result_text(*s), "[]");
  Arena arena;
  for (int i = 0; i < 100; ++i) s->add(Value::string(arena.copy("a")), i);
  EXPECT_EQ(result_text(*s), "[]");
  std::string error;
  EXPECT_FALSE(compile("interest_shift(x)", &error));
  EXPECT_FALSE(compile("interest_shift(x, 10, capacity=5)", &error));
  EXPECT_NE(error.find("capacity"), std::string::npos) << error;
}


// ---------------------------------------------------------------- deserialize of bad bytes
// Regression tests for what fuzz/aggregate_state_fuzz.cc found (issue 3: bad bytes give an
// error, never a crash or a silent wrong answer).

// Segment counts summing past 2^64 wrapped the folded count to 0: a null result.
TEST(EwmaAggregate, DeserializeRejectsRecordCountsThatWrap) {
  auto f = compile("ewma(x, 0.5)");
  auto payload = [](uint64_t n) {
    ByteWriter w;
    w.f64(0.5);
    w.varint(3);  // own (empty) and two merged segments
    w.i64(0);
    w.i64(0);
    w.varint(0);
    w.f64(0);
    w.f64(0);
    for (int64_t t : {10, 20}) {
      w.i64(t);
      w.i64(t);
      w.varint(n);
      w.f64(1.0);
      w.f64(1.0);
    }
    return seal(make_type_tag("AEW1"), 1, w.data());
  };
  auto s = f->make_state();
  ASSERT_TRUE(s->deserialize(payload(uint64_t{1} << 61)));
  EXPECT_EQ(result_text(*s), "1");
  EXPECT_FALSE(f->make_state()->deserialize(payload(uint64_t{1} << 63)));
  EXPECT_FALSE(f->make_state()->deserialize(payload((uint64_t{1} << 61) + 1)));
}

// A detection time outside the engine's event-time range overflowed formatting the result
// (append_rfc3339_ms(INT64_MIN): UBSan "negation of -9223372036854775808").
TEST(DriftAggregate, DeserializeRejectsDetectionTimesOutOfRange) {
  auto f = compile("drift(x, method=page_hinkley, lambda=5)");
  auto s = f->make_state();
  for (int i = 0; i < 400; ++i) s->add(Value::real(i < 200 ? 0.0 : 10.0), 1000 + i);
  ASSERT_NE(result_text(*s), "[]");
  std::string bytes;
  s->serialize(bytes);
  const std::string payload(*unseal(bytes, make_type_tag("ADR1"), 1, nullptr));
  // Payload: u8 method, bytes detector, varint own detections, then the first one's i64 time.
  ByteReader r(payload);
  uint8_t method;
  std::string_view detector;
  uint64_t own = 0;
  ASSERT_TRUE(r.u8(&method) && r.bytes(&detector) && r.varint(&own));
  ASSERT_GE(own, 1u);
  const size_t time_at = r.position();
  auto with_time = [&](int64_t t) {
    std::string p = payload;
    std::memcpy(p.data() + time_at, &t, sizeof(t));
    return seal(make_type_tag("ADR1"), 1, p);
  };
  EXPECT_TRUE(f->make_state()->deserialize(with_time(kMinTime)));
  EXPECT_TRUE(f->make_state()->deserialize(with_time(kMaxTime)));
  EXPECT_FALSE(f->make_state()->deserialize(with_time(kMinTime - 1)));
  EXPECT_FALSE(f->make_state()->deserialize(with_time(std::numeric_limits<int64_t>::min())));
  EXPECT_FALSE(f->make_state()->deserialize(with_time(std::numeric_limits<int64_t>::max())));
}

// A detector snapshot of another drift(...) call (other lambda, delta) was accepted: the state
// then went on with options the call does not have.
TEST(DriftAggregate, DeserializeRejectsADetectorOfAnotherCall) {
  for (const char* method : {"adwin", "page_hinkley", "cusum"}) {
    SCOPED_TRACE(method);
    const std::string base = std::string("drift(x, method=") + method;
    auto f = compile(base + ")");
    auto g = compile(base + ", delta=0.25)");
    ASSERT_TRUE(f && g);
    auto other = g->make_state();
    auto own = f->make_state();
    for (int i = 0; i < 100; ++i) {
      other->add(Value::real(i % 7), i);
      own->add(Value::real(i % 7), i);
    }
    std::string bytes;
    other->serialize(bytes);
    EXPECT_FALSE(f->make_state()->deserialize(bytes));
    bytes.clear();
    own->serialize(bytes);
    EXPECT_TRUE(f->make_state()->deserialize(bytes));
  }
}

// Two detections tied on time, index, start index and statistic listed in the order the
// bytes gave them in one state and in std::sort's order after a merge: merging a state into an
// empty one changed its result.
TEST(DriftAggregate, TiedDetectionsListTheSameWayAfterAMerge) {
  auto f = compile("drift(x)");
  auto state = [](double first_threshold, double second_threshold) {
    ByteWriter w;
    w.u8(0);  // adwin
    w.bytes(Adwin(AdwinOptions{}).serialize());
    w.varint(0);  // own detections
    w.varint(2);  // merged ones
    for (double threshold : {first_threshold, second_threshold}) {
      DriftEvent e;
      e.index = 40;
      e.start_index = 30;
      e.statistic = 2.0;
      e.threshold = threshold;
      e.mean_before = 1.0;
      e.mean_after = 3.0;
      e.method = "adwin";
      w.i64(5000);
      write_drift_event(w, e);
    }
    return seal(make_type_tag("ADR1"), 1, w.data());
  };
  auto a = f->make_state();
  auto b = f->make_state();
  ASSERT_TRUE(a->deserialize(state(1.0, 1.5)));
  ASSERT_TRUE(b->deserialize(state(1.5, 1.0)));
  EXPECT_EQ(result_text(*a), result_text(*b));
  auto fresh = f->make_state();
  fresh->merge(*b);
  EXPECT_EQ(result_text(*fresh), result_text(*a));
  EXPECT_LT(result_text(*a).find("\"threshold\":1,"), result_text(*a).find("\"threshold\":1.5,"));
}

// interest_shift (halves mode): event times outside the engine's range (sub-period bounds
// overflowed) and a bucket width coarser than the span needs (a coarser answer than add() and
// merge() give) are errors.
TEST(InterestShiftAggregate, DeserializeRejectsOutOfRangeTimesAndACoarserLayout) {
  auto f = compile("interest_shift(x, 2)");  // capacity 1024
  SpaceSaving sketch(1024);
  sketch.add("a");
  auto state = [&](uint64_t g, int64_t t_min, int64_t t_max) {
    ByteWriter w;
    w.varint(g);
    w.i64(t_min);
    w.i64(t_max);
    w.varint(2);
    for (int64_t t : {t_min, t_max}) {
      w.i64(t >> g);
      w.bytes(sketch.serialize());
    }
    return seal(make_type_tag("AIS1"), 1, w.data());
  };
  // 0 and 31 ms: 2^1-ms buckets give 16 slots; 2^0-ms ones would give 32.
  EXPECT_TRUE(f->make_state()->deserialize(state(1, 0, 31)));
  EXPECT_FALSE(f->make_state()->deserialize(state(2, 0, 31)));
  EXPECT_FALSE(f->make_state()->deserialize(state(5, 0, 31)));
  // 0 and 15 ms fit 16 slots of 1 ms.
  EXPECT_TRUE(f->make_state()->deserialize(state(0, 0, 15)));
  EXPECT_FALSE(f->make_state()->deserialize(state(1, 0, 15)));
  const int64_t kLow = kMinTime, kHigh = kMaxTime;
  EXPECT_TRUE(f->make_state()->deserialize(state(58, kLow, kHigh)));
  EXPECT_FALSE(f->make_state()->deserialize(state(59, kLow, kHigh)));
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_FALSE(f->make_state()->deserialize(state(61, kMin, kMax)));
  EXPECT_FALSE(f->make_state()->deserialize(state(0, kMax - 3, kMax)));
  EXPECT_FALSE(f->make_state()->deserialize(state(0, kMin, kMin + 3)));
  // An accepted state still gives its result and merges.
  auto s = f->make_state();
  ASSERT_TRUE(s->deserialize(state(1, 0, 31)));
  auto fresh = f->make_state();
  fresh->merge(*s);
  EXPECT_EQ(result_text(*fresh), result_text(*s));
}

}  // namespace
}  // namespace spate
