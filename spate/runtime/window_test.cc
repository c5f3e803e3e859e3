#include "spate/runtime/window.h"

#include <gtest/gtest.h>

#include "spate/common/time.h"

namespace spate {
namespace {

class Scope1 : public FieldScope {
 public:
  int resolve(std::string_view path, std::string* error) override {
    if (path == "k") return 0;
    if (path == "x") return 1;
    *error = "unknown";
    return -1;
  }
  bool constrain(int, ExprType, std::string*) override { return true; }
  ExprType type_of(int) const override { return ExprType::kAny; }
};

std::unique_ptr<AggregateFunction> agg(const std::string& text) {
  Scope1 scope;
  ExprError e;
  auto node = parse_expr(text, &e);
  EXPECT_TRUE(node) << e.message;
  auto f = AggregateRegistry::builtin().compile(*node, scope, &e);
  EXPECT_TRUE(f) << e.message;
  return f;
}

struct Fixture {
  std::unique_ptr<AggregateFunction> count = agg("count()");
  std::unique_ptr<AggregateFunction> sum = agg("sum(x)");
  WindowPlan plan;
  Fixture(bool keyed) {
    plan.size_ms = 10000;
    plan.keyed = keyed;
    plan.key_slot = 0;
    plan.aggs = {count.get(), sum.get()};
    plan.agg_names = {"n", "s"};
    std::vector<std::string> names;
    if (keyed) names.push_back("k");
    for (const char* n : {"window_start", "window_end", "n", "s"}) names.push_back(n);
    plan.output_names = std::make_shared<const std::vector<std::string>>(names);
    plan.input_names = {"k", "x"};
  }
};

void add(RecordBatch& b, int64_t t, const char* key, int64_t x) {
  Value* r = b.append(t);
  r[0] = Value::string(b.arena().copy(key));
  r[1] = Value::integer(x);
}

TEST(WindowAggregator, TumblingKeyedWindowsFireAtTheirEnd) {
  Fixture f(true);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 1000, "a", 1);
  add(b, 9999, "a", 2);
  add(b, 5000, "b", 5);
  add(b, 10000, "a", 7);  // next window: [10 s, 20 s)
  add(b, -1, "a", 100);   // before the epoch: window [-10 s, 0)
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> fired;
  w.fire(9999, &fired);
  ASSERT_EQ(fired.size(), 1u);  // only [-10 s, 0) has ended
  EXPECT_EQ(fired[0].start, -10000);
  fired.clear();
  w.fire(10000, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].start, 0);
  ASSERT_EQ(fired[0].rows->rows(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const OutField* r = fired[0].rows->row(i);
    EXPECT_EQ(r[1].value.sv(), format_rfc3339_ms(0));
    if (r[0].value.sv() == "a") {
      EXPECT_EQ(r[3].value.i, 2);
      EXPECT_EQ(r[4].value.i, 3);
    } else {
      EXPECT_EQ(r[0].value.sv(), "b");
      EXPECT_EQ(r[3].value.i, 1);
      EXPECT_EQ(r[4].value.i, 5);
    }
  }
  EXPECT_EQ(w.open_windows(), 1u);
  // A record of a fired window is late.
  b.reset(2);
  add(b, 3000, "a", 1);
  w.add(b, scratch);
  EXPECT_EQ(w.late(), 1u);
  fired.clear();
  w.fire(kMaxTime, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].rows->row(0)[4].value.i, 7);
}

TEST(WindowAggregator, GlobalPartialsMergeLikeOneStream) {
  Fixture f(false);
  WindowAggregator a(f.plan, nullptr), b(f.plan, nullptr), all(f.plan, nullptr);
  RecordBatch ba, bb, ball;
  ba.reset(2);
  bb.reset(2);
  ball.reset(2);
  for (int i = 0; i < 100; ++i) {
    add(i % 3 ? ba : bb, i * 37, "k", i);
    add(ball, i * 37, "k", i);
  }
  Arena s;
  a.add(ba, s);
  b.add(bb, s);
  all.add(ball, s);
  std::vector<FiredWindow> fa, fb, fall;
  a.fire(kMaxTime, &fa);
  b.fire(kMaxTime, &fb);
  all.fire(kMaxTime, &fall);
  ASSERT_EQ(fa.size(), 1u);
  ASSERT_EQ(fb.size(), 1u);
  ASSERT_EQ(fall.size(), 1u);
  for (size_t i = 0; i < fa[0].partials.size(); ++i) fa[0].partials[i]->merge(*fb[0].partials[i]);
  Arena out;
  for (size_t i = 0; i < fa[0].partials.size(); ++i) {
    OutField x, y;
    fa[0].partials[i]->write_result(&x, out);
    fall[0].partials[i]->write_result(&y, out);
    EXPECT_TRUE(values_equal(x.value, y.value));
  }
}

TEST(AggregateStates, SerializeRoundTrip) {
  for (const char* text : {"count()", "sum(x)", "avg(x)", "min(x)", "max(x)", "stddev(x)",
                           "distinct(x)", "quantile(x, 0.5)", "top_k(x, 3)"}) {
    auto f = agg(text);
    auto st = f->make_state();
    for (int i = 0; i < 50; ++i) st->add(Value::integer(i * i % 17), i);
    std::string bytes;
    st->serialize(bytes);
    auto copy = f->make_state();
    ASSERT_TRUE(copy->deserialize(bytes)) << text;
    Arena a;
    OutField x, y;
    st->write_result(&x, a);
    copy->write_result(&y, a);
    if (x.raw_json) {
      EXPECT_EQ(x.value.sv(), y.value.sv()) << text;
    } else {
      EXPECT_TRUE(values_equal(x.value, y.value)) << text;
    }
    if (bytes.size() > 1) {
      EXPECT_FALSE(copy->deserialize(bytes.substr(0, bytes.size() - 1))) << text;
    }
  }
}

}  // namespace
}  // namespace spate
