// AggState::deserialize on bad bytes (issue 3): an error, never a crash or a silent wrong
// answer. Regression tests for what fuzz/aggregate_state_fuzz.cc found: every input these tests
// expect to be rejected was accepted before the fix.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "spate/runtime/aggregate.h"
#include "spate/runtime/aggregate_test_util.h"

namespace spate {
namespace {

using test_util::compile;

std::string bytes_of(const AggState& s) {
  std::string out;
  s.serialize(out);
  return out;
}

std::string result_text(const AggState& s) {
  OutField out;
  Arena arena;
  s.write_result(&out, arena);
  std::string t;
  if (out.value.is_string()) {
    t = out.value.sv();
  } else {
    append_json(t, out.value);
  }
  return t;
}

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

// count/sum/avg/min/max layout: raw little-endian fields (spate/runtime/aggregate.cc).
std::string sum_bytes(uint8_t is_double, int64_t isum, double dsum, int64_t n) {
  std::string b;
  put(b, is_double);
  put(b, isum);
  put(b, dsum);
  put(b, n);
  return b;
}

std::string extreme_bytes(uint8_t has, uint8_t type, int64_t bits) {
  std::string b;
  put(b, has);
  put(b, type);
  put(b, bits);
  return b;
}

// reset() returns a used state to a fresh one: same bytes, same result, and it aggregates
// afresh (windows reuse the states of dropped panes for new keys). Sketches and detectors do
// not support it and say so.
TEST(AggregateStateReset, ResetStateEqualsAFreshOne) {
  for (const char* call : {"count()", "count(x)", "sum(x)", "avg(x)", "min(x)", "max(x)"}) {
    SCOPED_TRACE(call);
    auto f = compile(call);
    ASSERT_TRUE(f);
    auto fresh = f->make_state();
    auto used = f->make_state();
    used->add(Value::integer(5), 0);
    used->add(Value::real(2.5), 0);
    used->add(Value(), 0);
    ASSERT_NE(bytes_of(*used), bytes_of(*fresh));
    ASSERT_TRUE(used->reset());
    EXPECT_EQ(bytes_of(*used), bytes_of(*fresh));
    EXPECT_EQ(result_text(*used), result_text(*fresh));
    used->add(Value::integer(3), 0);
    fresh->add(Value::integer(3), 0);
    EXPECT_EQ(bytes_of(*used), bytes_of(*fresh));
    EXPECT_EQ(result_text(*used), result_text(*fresh));
  }
  for (const char* call : {"distinct(x)", "quantile(x, 0.5)", "top_k(x, 3)"}) {
    SCOPED_TRACE(call);
    auto f = compile(call);
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->make_state()->reset());
  }
}

// A rejected input leaves the state as it was (it used to be half overwritten).
TEST(AggregateStateDeserialize, RejectedInputLeavesTheStateUnchanged) {
  for (const char* call : {"count()", "sum(x)", "avg(x)", "min(x)", "max(x)"}) {
    SCOPED_TRACE(call);
    auto f = compile(call);
    ASSERT_TRUE(f);
    auto s = f->make_state();
    s->add(Value::integer(5), 0);
    s->add(Value::integer(7), 0);
    const std::string before = bytes_of(*s);
    const std::string result = result_text(*s);
    // Fields that read, then one byte too many.
    std::string bad(before.size(), '\x01');
    bad.push_back('\0');
    EXPECT_FALSE(s->deserialize(bad));
    EXPECT_EQ(bytes_of(*s), before);
    EXPECT_EQ(result_text(*s), result);
  }
}

// A bool is one byte 0 or 1; any other byte is an error (it used to be loaded as a bool: UB).
TEST(AggregateStateDeserialize, BoolBytesOtherThanZeroOrOneAreErrors) {
  auto sum = compile("sum(x)");
  EXPECT_TRUE(sum->make_state()->deserialize(sum_bytes(1, 0, 2.5, 1)));
  EXPECT_FALSE(sum->make_state()->deserialize(sum_bytes(2, 0, 2.5, 1)));
  EXPECT_FALSE(sum->make_state()->deserialize(sum_bytes(0xff, 3, 0, 1)));
  auto max = compile("max(x)");
  EXPECT_TRUE(max->make_state()->deserialize(
      extreme_bytes(1, static_cast<uint8_t>(ValueType::kInt), 4)));
  EXPECT_FALSE(max->make_state()->deserialize(
      extreme_bytes(2, static_cast<uint8_t>(ValueType::kInt), 4)));
}

// Counts no state reaches: negative (a negative count() result) or above 2^62 (merges would
// overflow int64).
TEST(AggregateStateDeserialize, CountsOutOfRangeAreErrors) {
  auto count = compile("count()");
  auto s = count->make_state();
  std::string b;
  put(b, int64_t{-3});
  EXPECT_FALSE(s->deserialize(b));
  b.clear();
  put(b, int64_t{1} << 62);
  EXPECT_TRUE(s->deserialize(b));
  b.clear();
  put(b, (int64_t{1} << 62) + 1);
  EXPECT_FALSE(s->deserialize(b));
  b.clear();
  put(b, INT64_MAX);
  EXPECT_FALSE(s->deserialize(b));
  EXPECT_EQ(result_text(*s), std::to_string(int64_t{1} << 62));

  for (const char* call : {"sum(x)", "avg(x)"}) {
    SCOPED_TRACE(call);
    auto f = compile(call);
    EXPECT_TRUE(f->make_state()->deserialize(sum_bytes(0, 12, 0, 3)));
    EXPECT_FALSE(f->make_state()->deserialize(sum_bytes(0, 12, 0, -3)));
    EXPECT_FALSE(f->make_state()->deserialize(sum_bytes(0, 12, 0, INT64_MAX)));
  }
}

// Fields that contradict each other: a sum without numbers (sum 12 but avg null), an integer
// sum with a double half, a max that has a value of type null (it then never updated).
TEST(AggregateStateDeserialize, InconsistentBasicStatesAreErrors) {
  auto avg = compile("avg(x)");
  EXPECT_FALSE(avg->make_state()->deserialize(sum_bytes(0, 12, 0, 0)));
  EXPECT_FALSE(avg->make_state()->deserialize(sum_bytes(1, 0, 2.5, 0)));
  EXPECT_FALSE(avg->make_state()->deserialize(sum_bytes(0, 12, 2.5, 3)));
  EXPECT_TRUE(avg->make_state()->deserialize(sum_bytes(0, 0, 0, 0)));
  // A double sum keeps its last integer sum (the state switched on an overflow or a double).
  EXPECT_TRUE(avg->make_state()->deserialize(sum_bytes(1, 12, 14.5, 3)));

  auto max = compile("max(x)");
  const auto null_type = static_cast<uint8_t>(ValueType::kNull);
  const auto int_type = static_cast<uint8_t>(ValueType::kInt);
  EXPECT_FALSE(max->make_state()->deserialize(extreme_bytes(1, null_type, 0)));
  EXPECT_FALSE(max->make_state()->deserialize(extreme_bytes(0, int_type, 4)));
  EXPECT_FALSE(max->make_state()->deserialize(extreme_bytes(0, null_type, 4)));
  EXPECT_FALSE(max->make_state()->deserialize(
      extreme_bytes(1, static_cast<uint8_t>(ValueType::kString), 4)));
  auto s = max->make_state();
  EXPECT_TRUE(s->deserialize(extreme_bytes(0, null_type, 0)));
  s->add(Value::integer(3), 0);
  EXPECT_EQ(result_text(*s), "3");
}

// The sketch states accepted a sketch of another configuration, and merge() (whose status they
// ignore: "cannot fail" for states of one function) then silently dropped the other side.
TEST(AggregateStateDeserialize, SketchOfAnotherConfigurationIsAnError) {
  struct Case {
    const char* call;
    const char* other;
  };
  for (const Case& c : {Case{"distinct(x)", "distinct(x, precision=4)"},
                        Case{"quantile(x, 0.5)", "quantile(x, 0.5, k=8)"},
                        Case{"quantiles(x, [0.5], k=8)", "quantiles(x, [0.5], k=9)"},
                        Case{"top_k(x, 3)", "top_k(x, 3, capacity=4)"},
                        Case{"top_k(x, 3, capacity=5)", "top_k(x, 3, capacity=4)"},
                        Case{"sample(x, 3)", "sample(x, 1)"}}) {
    SCOPED_TRACE(c.call);
    auto f = compile(c.call);
    auto g = compile(c.other);
    ASSERT_TRUE(f && g);
    auto foreign = g->make_state();
    for (int i = 0; i < 20; ++i) foreign->add(Value::integer(i), i);
    EXPECT_FALSE(f->make_state()->deserialize(bytes_of(*foreign)));
    // Its own configuration still round-trips, and merges into a fresh state exactly.
    auto own = f->make_state();
    for (int i = 0; i < 20; ++i) own->add(Value::integer(i), i);
    auto copy = f->make_state();
    ASSERT_TRUE(copy->deserialize(bytes_of(*own)));
    EXPECT_EQ(bytes_of(*copy), bytes_of(*own));
  }
  // distinct: merge() needs the function's seed too; another function's state (same
  // precision, another per-process seed) merged into nothing.
  auto f = compile("distinct(x)");
  auto g = compile("distinct(x)");
  auto foreign = g->make_state();
  for (int i = 0; i < 20; ++i) foreign->add(Value::integer(i), i);
  EXPECT_FALSE(f->make_state()->deserialize(bytes_of(*foreign)));
  auto own = f->make_state();
  for (int i = 0; i < 20; ++i) own->add(Value::integer(i), i);
  auto restored = f->make_state();
  ASSERT_TRUE(restored->deserialize(bytes_of(*own)));
  auto merged = f->make_state();
  merged->merge(*restored);
  EXPECT_EQ(result_text(*merged), result_text(*own));
}

}  // namespace
}  // namespace spate
