#include "spate/runtime/window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <utility>

#include "spate/common/time.h"
#include "spate/runtime/router.h"

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

// Records carry the routing hash of their key, as KeyByOp leaves them.
const KeyHasher& hasher() {
  static const std::unique_ptr<KeyHasher> h = make_default_key_hasher();
  return *h;
}

void add(RecordBatch& b, int64_t t, const char* key, int64_t x) {
  Value* r = b.append(t);
  r[0] = Value::string(b.arena().copy(key));
  r[1] = Value::integer(x);
  b.meta(b.size() - 1).key_hash = hasher().hash(r[0]);
}

// Sums per (window_start, key) of what the fired windows hold: rows of keyed windows, or the
// one partial state of unkeyed ones ("" as the key).
using Sums = std::map<std::pair<std::string, std::string>, int64_t>;
Sums sums(const std::vector<FiredWindow>& fired) {
  Sums out;
  for (const auto& fw : fired) {
    if (fw.rows) {
      for (size_t i = 0; i < fw.rows->rows(); ++i) {
        const OutField* r = fw.rows->row(i);
        auto [it, inserted] = out.try_emplace(
            {std::string(r[1].value.sv()), std::string(r[0].value.sv())}, r[4].value.i);
        EXPECT_TRUE(inserted) << "two rows for key " << r[0].value.sv();
      }
    } else if (!fw.partials.empty()) {
      OutputRows rows;
      rows.reset(std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"s"}));
      fw.partials[1]->write_result(rows.add_row(), rows.arena());
      out[{format_rfc3339_ms(fw.start), ""}] = rows.row(0)[0].value.i;
    }
  }
  return out;
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

// (window_start ms, n, s) of every row of fired windows, in order.
std::vector<std::tuple<int64_t, int64_t, int64_t>> starts_counts_sums(
    const std::vector<FiredWindow>& fired) {
  std::vector<std::tuple<int64_t, int64_t, int64_t>> v;
  for (const auto& fw : fired) {
    for (size_t i = 0; i < fw.rows->rows(); ++i) {
      const OutField* r = fw.rows->row(i);
      v.emplace_back(*parse_rfc3339_ms(r[1].value.sv()), r[3].value.i, r[4].value.i);
    }
  }
  return v;
}

TEST(WindowAggregator, SlidingWindowsShareStateInPanes) {
  Fixture f(true);
  f.plan.kind = WindowPlan::Kind::kSliding;
  f.plan.size_ms = 10000;
  f.plan.slide_ms = 5000;
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 1000, "a", 1);
  add(b, 7000, "a", 2);
  add(b, 12000, "a", 4);
  Arena scratch;
  w.add(b, scratch);
  EXPECT_EQ(w.open_windows(), 3u);  // three 5 s panes hold the four windows' state
  std::vector<FiredWindow> fired;
  w.fire(kMaxTime, &fired);
  using T = std::tuple<int64_t, int64_t, int64_t>;
  EXPECT_EQ(starts_counts_sums(fired),
            (std::vector<T>{{-5000, 1, 1}, {0, 2, 3}, {5000, 2, 6}, {10000, 1, 4}}));
  EXPECT_EQ(w.open_windows(), 0u);
}

TEST(WindowAggregator, SessionsMergeWhenAnEventBridgesTheGap) {
  Fixture f(true);
  f.plan.kind = WindowPlan::Kind::kSession;
  f.plan.gap_ms = 3000;
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 0, "a", 1);
  add(b, 5000, "a", 2);  // 5 s after: a second session
  add(b, 1000, "b", 7);
  Arena scratch;
  w.add(b, scratch);
  EXPECT_EQ(w.open_windows(), 3u);
  b.reset(2);
  add(b, 2500, "a", 4);  // within 3 s of both: one session [0, 8 s)
  w.add(b, scratch);
  EXPECT_EQ(w.open_windows(), 2u);
  std::vector<FiredWindow> fired;
  w.fire(3999, &fired);  // b's session [1 s, 4 s) has not ended yet
  EXPECT_TRUE(fired.empty());
  w.fire(4000, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].rows->row(0)[0].value.sv(), "b");
  fired.clear();
  w.fire(8000, &fired);
  using T = std::tuple<int64_t, int64_t, int64_t>;
  EXPECT_EQ(starts_counts_sums(fired), (std::vector<T>{{0, 3, 7}}));
  EXPECT_EQ(fired[0].end, 8000);
  EXPECT_EQ(fired[0].rows->row(0)[2].value.sv(), format_rfc3339_ms(8000));
}

TEST(WindowAggregator, CountWindowsFireWhenFullAndFlushAtTheEnd) {
  Fixture f(true);
  f.plan.kind = WindowPlan::Kind::kCount;
  f.plan.count_size = 3;
  f.plan.count_slide = 2;
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  for (int i = 1; i <= 6; ++i) add(b, i * 1000, "a", i);
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> fired;
  w.fire(0, &fired);  // records 1-3 and 3-5 filled their windows
  using T = std::tuple<int64_t, int64_t, int64_t>;
  EXPECT_EQ(starts_counts_sums(fired), (std::vector<T>{{1000, 3, 6}, {3000, 3, 12}}));
  fired.clear();
  w.fire(kMaxTime, &fired);  // end of input: the started window 5-6 fires partly filled
  EXPECT_EQ(starts_counts_sums(fired), (std::vector<T>{{5000, 2, 11}}));
  EXPECT_EQ(fired[0].rows->row(0)[2].value.sv(), format_rfc3339_ms(6000));
}

TEST(WindowAggregator, LateRecordsUpdateWithinLatenessAndAreDroppedBeyond) {
  Fixture f(true);
  f.plan.allowed_lateness_ms = 5000;
  std::vector<std::string> names = *f.plan.output_names;
  names.push_back("update");
  f.plan.output_names = std::make_shared<const std::vector<std::string>>(names);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  Arena scratch;
  b.reset(2);
  add(b, 1000, "a", 1);
  add(b, 2000, "b", 2);
  w.add(b, scratch);
  std::vector<FiredWindow> fired;
  w.fire(10000, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_FALSE(fired[0].update);
  EXPECT_FALSE(fired[0].rows->row(0)[5].value.b);
  b.reset(2);
  add(b, 3000, "a", 10);  // window [0, 10 s) fired at 10 s; kept until 15 s
  w.add(b, scratch);
  fired.clear();
  w.fire(12000, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_TRUE(fired[0].update);
  ASSERT_EQ(fired[0].rows->rows(), 1u);  // only the key a late record touched
  const OutField* r = fired[0].rows->row(0);
  EXPECT_EQ(r[0].value.sv(), "a");
  EXPECT_EQ(r[3].value.i, 2);   // the full result, not the difference
  EXPECT_EQ(r[4].value.i, 11);
  EXPECT_TRUE(r[5].value.b);
  fired.clear();
  w.fire(15000, &fired);
  EXPECT_EQ(w.open_windows(), 0u);
  b.reset(2);
  add(b, 4000, "a", 100);  // beyond the lateness
  w.add(b, scratch);
  EXPECT_EQ(w.late(), 1u);
  fired.clear();
  w.fire(kMaxTime, &fired);
  EXPECT_TRUE(fired.empty());
}

// Output names for a plan with a trailing `final` column.
void with_final_column(Fixture& f, bool keyed) {
  std::vector<std::string> names;
  if (keyed) names.push_back("k");
  for (const char* n : {"window_start", "window_end", "n", "s", "final"}) names.push_back(n);
  f.plan.output_names = std::make_shared<const std::vector<std::string>>(names);
}

TEST(WindowAggregator, EarlyResultsAreProvisionalSnapshotsOfChangedWindows) {
  Fixture f(true);
  f.plan.early_ms = 100;
  with_final_column(f, true);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 1000, "a", 1);
  add(b, 2000, "a", 2);
  add(b, 12000, "b", 5);  // a second open window
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> out;
  w.early(&out);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& fw : out) {
    EXPECT_TRUE(fw.provisional);
    ASSERT_EQ(fw.rows->rows(), 1u);
    const OutField* r = fw.rows->row(0);
    EXPECT_FALSE(r[5].value.b);  // final = false
    if (fw.start == 0) {
      EXPECT_EQ(r[3].value.i, 2);
      EXPECT_EQ(r[4].value.i, 3);
    } else {
      EXPECT_EQ(fw.start, 10000);
      EXPECT_EQ(r[4].value.i, 5);
    }
  }
  // Nothing changed: no provisional results.
  out.clear();
  w.early(&out);
  EXPECT_TRUE(out.empty());
  // Only the window that changed is reported again, with its running result.
  b.reset(2);
  add(b, 3000, "a", 10);
  w.add(b, scratch);
  out.clear();
  w.early(&out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].start, 0);
  EXPECT_EQ(out[0].rows->row(0)[4].value.i, 13);
  // The snapshots did not take the worker's state: the final result is complete.
  out.clear();
  w.fire(10000, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].provisional);
  EXPECT_EQ(out[0].rows->row(0)[3].value.i, 3);
  EXPECT_EQ(out[0].rows->row(0)[4].value.i, 13);
  EXPECT_TRUE(out[0].rows->row(0)[5].value.b);  // final = true
}

TEST(WindowAggregator, EarlyGlobalSnapshotsAreCopies) {
  Fixture f(false);
  f.plan.early_ms = 100;
  with_final_column(f, false);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 1000, "a", 4);
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> out;
  w.early(&out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].partials.size(), 2u);
  OutField r;
  Arena a;
  out[0].partials[1]->write_result(&r, a);
  EXPECT_EQ(r.value.i, 4);
  b.reset(2);
  add(b, 2000, "a", 6);
  w.add(b, scratch);
  out.clear();
  w.fire(kMaxTime, &out);
  ASSERT_EQ(out.size(), 1u);
  out[0].partials[1]->write_result(&r, a);
  EXPECT_EQ(r.value.i, 10);
}

TEST(WindowAggregator, GlobalWindowEmitsAKeysRunningResultEveryNRecords) {
  Fixture f(true);
  f.plan.kind = WindowPlan::Kind::kGlobal;
  f.plan.every_count = 2;
  with_final_column(f, true);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  add(b, 5, "a", 1);
  add(b, 1, "a", 2);   // a's 2nd record: running result n=2, s=3
  add(b, 3, "b", 5);
  add(b, 9000000, "a", 1);
  add(b, 4, "a", 1);   // a's 4th: n=4, s=5
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> out;
  w.fire(1LL << 50, &out);  // far in event time: a global window does not close
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].provisional);
  ASSERT_EQ(out[0].rows->rows(), 2u);
  const OutField* r0 = out[0].rows->row(0);
  const OutField* r1 = out[0].rows->row(1);
  EXPECT_EQ(r0[0].value.sv(), "a");
  EXPECT_TRUE(r0[1].value.is_null());  // a global window has no bounds
  EXPECT_EQ(r0[3].value.i, 2);
  EXPECT_EQ(r0[4].value.i, 3);
  EXPECT_EQ(r1[3].value.i, 4);
  EXPECT_EQ(r1[4].value.i, 5);
  EXPECT_FALSE(r1[5].value.b);
  out.clear();
  w.fire(kMaxTime, &out);  // end of input: the final results
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].provisional);
  ASSERT_EQ(out[0].rows->rows(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(out[0].rows->row(i)[5].value.b);
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


// ---------------------------------------------------------------------------------------------
// Every window kind against a reference model: random out-of-order streams (delays, duplicates,
// events far behind the watermark), a watermark sequence, and the exact expected emissions of
// every fire() computed from the raw records.

struct Rec {
  int64_t t;
  std::string key;
  int64_t x;
};

// One emitted result: a keyed row, a global window, or one key's partial states.
struct Row {
  std::string key;
  int64_t start = 0, end = 0;
  int64_t n = 0;
  double sum = 0, min = 0, max = 0;
  bool update = false;
  auto operator<=>(const Row&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << "{" << r.key << " [" << r.start << "," << r.end << ") n=" << r.n << " sum=" << r.sum
            << " min=" << r.min << " max=" << r.max << (r.update ? " update" : "") << "}";
}

Row row_of(const std::string& key, int64_t start, int64_t end, const std::vector<const Rec*>& rs,
           bool update) {
  Row r{key, start, end, 0, 0, 0, 0, update};
  for (const Rec* x : rs) {
    if (r.n == 0 || x->x < r.min) r.min = static_cast<double>(x->x);
    if (r.n == 0 || x->x > r.max) r.max = static_cast<double>(x->x);
    r.sum += static_cast<double>(x->x);
    r.n++;
  }
  return r;
}

enum class Mode { kRows, kGlobal, kMergeKeys };

// Plain, quadratic models of the rules in window.h.
class Reference {
 public:
  virtual ~Reference() = default;
  virtual void add(const Rec& r) = 0;
  // Emissions of fire(wm).
  virtual std::vector<Row> fire(int64_t wm) = 0;
  uint64_t late = 0;
};

class TimeReference final : public Reference {
 public:
  TimeReference(int64_t size, int64_t slide, int64_t lateness, Mode mode)
      : size_(size), slide_(slide), l_(lateness), mode_(mode) {}

  void add(const Rec& r) override {
    bool any = false;
    for (int64_t s : windows_of(r.t)) {
      if (s + size_ + l_ <= f_) continue;  // that window accepts nothing any more
      any = true;
      member_.push_back({&r, s});
      if (s + size_ <= f_) late_adds_.push_back({&r, s});
    }
    if (!any) ++late;
  }

  std::vector<Row> fire(int64_t wm) override {
    const int64_t prev = f_;
    f_ = std::max(f_, wm);
    std::vector<Row> out;
    // Updates: windows that received records after they fired.
    std::set<int64_t> dirty;
    for (auto& [r, s] : late_adds_) dirty.insert(s);
    for (int64_t s : dirty) {
      if (mode_ == Mode::kRows) {
        std::set<std::string> keys;
        for (auto& [r, w] : late_adds_) {
          if (w == s) keys.insert(r->key);
        }
        for (const auto& k : keys) out.push_back(row_of(k, s, s + size_, members(s, &k), true));
      } else {
        std::map<std::string, std::vector<const Rec*>> delta;
        for (auto& [r, w] : late_adds_) {
          if (w == s) delta[mode_ == Mode::kGlobal ? "" : r->key].push_back(r);
        }
        for (auto& [k, rs] : delta) out.push_back(row_of(k, s, s + size_, rs, true));
      }
    }
    late_adds_.clear();
    // First emissions: windows whose end the watermark passed now.
    std::set<int64_t> due;
    for (auto& [r, s] : member_) {
      if (s + size_ > prev && s + size_ <= f_) due.insert(s);
    }
    for (int64_t s : due) {
      std::set<std::string> keys;
      for (auto& [r, w] : member_) {
        if (w == s) keys.insert(mode_ == Mode::kGlobal ? "" : r->key);
      }
      for (const auto& k : keys) {
        out.push_back(row_of(k, s, s + size_, members(s, mode_ == Mode::kGlobal ? nullptr : &k),
                             false));
      }
    }
    return out;
  }

 private:
  std::vector<int64_t> windows_of(int64_t t) const {
    std::vector<int64_t> v;
    for (int64_t s = (t - 10 * size_) / slide_ * slide_ - slide_; s <= t; s += slide_) {
      if (s <= t && t < s + size_) v.push_back(s);
    }
    return v;
  }
  std::vector<const Rec*> members(int64_t s, const std::string* key) const {
    std::vector<const Rec*> v;
    for (auto& [r, w] : member_) {
      if (w == s && (!key || r->key == *key)) v.push_back(r);
    }
    return v;
  }

  const int64_t size_, slide_, l_;
  const Mode mode_;
  int64_t f_ = kMinTime;
  std::vector<std::pair<const Rec*, int64_t>> member_;     // (record, window start)
  std::vector<std::pair<const Rec*, int64_t>> late_adds_;  // since the last fire
};

class SessionReference final : public Reference {
 public:
  SessionReference(int64_t gap, int64_t lateness) : gap_(gap), l_(lateness) {}

  void add(const Rec& r) override {
    if (r.t + l_ < f_) {
      ++late;
      return;
    }
    auto& list = sessions_[r.key];
    Session joined{{&r}, false, true};
    std::vector<Session> rest;
    for (auto& s : list) {
      if (s.start() < r.t + gap_ && r.t < s.end(gap_)) {
        joined.recs.insert(joined.recs.end(), s.recs.begin(), s.recs.end());
        joined.emitted = joined.emitted || s.emitted;
      } else {
        rest.push_back(std::move(s));
      }
    }
    rest.push_back(std::move(joined));
    list = std::move(rest);
  }

  std::vector<Row> fire(int64_t wm) override {
    const int64_t prev = f_;
    f_ = std::max(f_, wm);
    std::vector<Row> out;
    for (auto& [k, list] : sessions_) {
      std::vector<Session> keep;
      for (auto& s : list) {
        if (s.end(gap_) <= f_ && s.changed) {
          out.push_back(row_of(k, s.start(), s.end(gap_), s.recs, s.emitted || s.end(gap_) <= prev));
          s.emitted = true;
          s.changed = false;
        }
        if (s.end(gap_) + l_ > f_) keep.push_back(std::move(s));
      }
      list = std::move(keep);
    }
    return out;
  }

 private:
  struct Session {
    std::vector<const Rec*> recs;
    bool emitted;  // some of it was emitted before
    bool changed;  // records joined since its last emission
    int64_t start() const {
      int64_t v = recs[0]->t;
      for (auto* r : recs) v = std::min(v, r->t);
      return v;
    }
    int64_t end(int64_t gap) const {
      int64_t v = recs[0]->t;
      for (auto* r : recs) v = std::max(v, r->t);
      return v + gap;
    }
  };
  const int64_t gap_, l_;
  int64_t f_ = kMinTime;
  std::map<std::string, std::vector<Session>> sessions_;
};

class CountReference final : public Reference {
 public:
  CountReference(int64_t size, int64_t slide) : size_(size), slide_(slide) {}

  void add(const Rec& r) override {
    auto& v = seq_[r.key];
    v.push_back(&r);
    const int64_t n = static_cast<int64_t>(v.size());
    if (n >= size_ && (n - size_) % slide_ == 0) emit(r.key, n - size_, n);
  }

  std::vector<Row> fire(int64_t wm) override {
    if (wm >= kMaxTime) {
      for (auto& [k, v] : seq_) {
        const int64_t n = static_cast<int64_t>(v.size());
        for (int64_t first = 0; first < n; first += slide_) {
          if (first + size_ > n) emit(k, first, n);
        }
      }
      seq_.clear();
    }
    return std::exchange(pending_, {});
  }

 private:
  void emit(const std::string& key, int64_t first, int64_t last) {
    const auto& v = seq_[key];
    std::vector<const Rec*> rs(v.begin() + first, v.begin() + last);
    int64_t lo = rs[0]->t, hi = rs[0]->t;
    for (auto* r : rs) {
      lo = std::min(lo, r->t);
      hi = std::max(hi, r->t);
    }
    pending_.push_back(row_of(key, lo, hi, rs, false));
  }
  const int64_t size_, slide_;
  std::map<std::string, std::vector<const Rec*>> seq_;
  std::vector<Row> pending_;
};

struct RefCase {
  WindowPlan::Kind kind;
  int64_t size = 0, slide = 0, gap = 0, lateness = 0;
  Mode mode = Mode::kRows;
};

std::string describe(const RefCase& c, uint64_t seed) {
  return "kind " + std::to_string(static_cast<int>(c.kind)) + " size " + std::to_string(c.size) +
         " slide " + std::to_string(c.slide) + " gap " + std::to_string(c.gap) + " lateness " +
         std::to_string(c.lateness) + " mode " + std::to_string(static_cast<int>(c.mode)) +
         " seed " + std::to_string(seed);
}

double num(const OutField& f) { return f.value.as_double(); }

std::vector<Row> rows_of(const std::vector<FiredWindow>& fired, const WindowPlan& plan) {
  std::vector<Row> out;
  for (const FiredWindow& fw : fired) {
    if (fw.rows) {
      for (size_t i = 0; i < fw.rows->rows(); ++i) {
        const OutField* r = fw.rows->row(i);
        Row x;
        x.key = std::string(r[0].value.sv());
        x.start = *parse_rfc3339_ms(r[1].value.sv());
        x.end = *parse_rfc3339_ms(r[2].value.sv());
        x.n = r[3].value.i;
        x.sum = num(r[4]);
        x.min = num(r[5]);
        x.max = num(r[6]);
        if (plan.allowed_lateness_ms > 0) {
          x.update = r[7].value.b;
          EXPECT_EQ(x.update, fw.update);
        }
        EXPECT_LE(x.end, fw.end);
        out.push_back(x);
      }
    }
    auto from_states = [&](const std::string& key, const std::vector<std::unique_ptr<AggState>>& st) {
      Arena a;
      OutField f[4];
      for (size_t i = 0; i < 4; ++i) st[i]->write_result(&f[i], a);
      out.push_back(Row{key, fw.start, fw.end, f[0].value.i, num(f[1]), num(f[2]), num(f[3]),
                        fw.update});
    };
    if (!fw.partials.empty()) from_states("", fw.partials);
    for (const KeyedPartial& kp : fw.keyed) from_states(std::string(kp.key.sv()), kp.states);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What a case exercised (so that a test cannot pass on empty output).
struct Coverage {
  size_t rows = 0, updates = 0, late = 0;
};

void run_reference_case(const RefCase& c, uint64_t seed, Coverage* cov) {
  SCOPED_TRACE(describe(c, seed));
  auto count = agg("count()"), sum = agg("sum(x)"), mn = agg("min(x)"), mx = agg("max(x)");
  WindowPlan plan;
  plan.kind = c.kind;
  plan.size_ms = c.size;
  plan.slide_ms = c.slide;
  plan.gap_ms = c.gap;
  plan.count_size = c.size;
  plan.count_slide = c.slide;
  plan.allowed_lateness_ms = c.lateness;
  plan.keyed = c.mode != Mode::kGlobal;
  plan.merge_keys = c.mode == Mode::kMergeKeys;
  plan.aggs = {count.get(), sum.get(), mn.get(), mx.get()};
  plan.agg_names = {"n", "s", "mn", "mx"};
  std::vector<std::string> names = {"k", "window_start", "window_end", "n", "s", "mn", "mx"};
  if (c.lateness > 0) names.push_back("update");
  plan.output_names = std::make_shared<const std::vector<std::string>>(names);
  plan.input_names = {"k", "x"};

  std::unique_ptr<Reference> ref;
  switch (c.kind) {
    case WindowPlan::Kind::kTumbling:
      ref = std::make_unique<TimeReference>(c.size, c.size, c.lateness, c.mode);
      break;
    case WindowPlan::Kind::kSliding:
      ref = std::make_unique<TimeReference>(c.size, c.slide, c.lateness, c.mode);
      break;
    case WindowPlan::Kind::kSession:
      ref = std::make_unique<SessionReference>(c.gap, c.lateness);
      break;
    case WindowPlan::Kind::kCount:
      ref = std::make_unique<CountReference>(c.size, c.slide);
      break;
    case WindowPlan::Kind::kGlobal:
      FAIL() << "global windows have their own tests";
  }
  WindowAggregator w(plan, nullptr);

  // The stream: time advances in random steps from before the epoch; each event is delayed by
  // a random amount (a few far behind the watermark), some are sent twice.
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t max_delay = uni(0, 8000);
  std::deque<Rec> recs;  // stable addresses for the reference
  int64_t clock = -30000, max_seen = kMinTime;
  Arena scratch;
  RecordBatch b;
  int fires = 0;
  while (recs.size() < 400) {
    b.reset(2);
    const int64_t n = uni(1, 6);
    for (int64_t i = 0; i < n; ++i) {
      clock += uni(0, 1500);
      Rec r;
      if (!recs.empty() && uni(0, 9) == 0) {
        r = recs[static_cast<size_t>(uni(0, static_cast<int64_t>(recs.size()) - 1))];  // duplicate
      } else {
        // Mostly within the disorder the watermark allows; some just behind the watermark
        // (within or beyond the lateness); a few far behind it.
        const int64_t roll = uni(0, 19);
        const int64_t delay = roll == 0   ? uni(0, 60000)
                              : roll <= 2 ? max_delay + uni(0, 10000)
                                          : uni(0, max_delay);
        r = Rec{clock - delay, std::string(1, static_cast<char>('a' + uni(0, 3))), uni(-50, 50)};
      }
      recs.push_back(r);
      ref->add(recs.back());
      add(b, r.t, r.key.c_str(), r.x);
      max_seen = std::max(max_seen, r.t);
    }
    w.add(b, scratch);
    if (uni(0, 2) == 0) continue;  // not every batch is followed by a fire
    // The watermark: max event time minus the allowed disorder, sometimes going back (ignored).
    const int64_t wm = max_seen - max_delay + (uni(0, 9) == 0 ? -uni(0, 20000) : 0);
    std::vector<FiredWindow> fired;
    w.fire(wm, &fired);
    std::vector<Row> want = ref->fire(wm);
    std::sort(want.begin(), want.end());
    ASSERT_EQ(rows_of(fired, plan), want) << "at fire " << fires << ", watermark " << wm;
    ++fires;
    cov->rows += want.size();
    for (const Row& r : want) cov->updates += r.update;
  }
  std::vector<FiredWindow> fired;
  w.fire(kMaxTime, &fired);
  std::vector<Row> want = ref->fire(kMaxTime);
  std::sort(want.begin(), want.end());
  ASSERT_EQ(rows_of(fired, plan), want) << "at end of input";
  EXPECT_EQ(w.late(), ref->late);
  cov->rows += want.size();
  cov->late += ref->late;
  EXPECT_EQ(w.open_windows(), 0u);  // end of input: nothing is kept
}

TEST(WindowReference, TumblingAndSlidingMatchTheModel) {
  using K = WindowPlan::Kind;
  std::vector<RefCase> cases;
  for (Mode mode : {Mode::kRows, Mode::kGlobal, Mode::kMergeKeys}) {
    for (int64_t lateness : {0, 4000, 30000}) {
      cases.push_back({K::kTumbling, 5000, 5000, 0, lateness, mode});
      cases.push_back({K::kSliding, 10000, 2000, 0, lateness, mode});
      cases.push_back({K::kSliding, 10000, 4000, 0, lateness, mode});  // slide does not divide
      cases.push_back({K::kSliding, 6000, 6000, 0, lateness, mode});
    }
  }
  for (const RefCase& c : cases) {
    Coverage cov;
    for (uint64_t seed = 1; seed <= 8; ++seed) run_reference_case(c, seed, &cov);
    SCOPED_TRACE(describe(c, 0));
    EXPECT_GT(cov.rows, 100u);
    EXPECT_GT(cov.late, 0u);
    if (c.lateness > 0) {
      EXPECT_GT(cov.updates, 10u);
    }
  }
}

TEST(WindowReference, SessionsMatchTheModel) {
  for (int64_t gap : {1000, 3000, 9000}) {
    for (int64_t lateness : {0, 4000, 30000}) {
      RefCase c{WindowPlan::Kind::kSession, 0, 0, gap, lateness, Mode::kRows};
      Coverage cov;
      for (uint64_t seed = 1; seed <= 15; ++seed) run_reference_case(c, seed, &cov);
      SCOPED_TRACE(describe(c, 0));
      EXPECT_GT(cov.rows, 100u);
      EXPECT_GT(cov.late, 0u);
      if (lateness > 0) {
        EXPECT_GT(cov.updates, 0u);  // rarer for sessions: a late event must reach a fired one
      }
    }
  }
}

TEST(WindowReference, CountWindowsMatchTheModel) {
  for (auto [size, slide] : {std::pair<int64_t, int64_t>{5, 5}, {6, 2}, {7, 3}, {1, 1}, {4, 1}}) {
    RefCase c{WindowPlan::Kind::kCount, size, slide, 0, 0, Mode::kRows};
    Coverage cov;
    for (uint64_t seed = 1; seed <= 15; ++seed) run_reference_case(c, seed, &cov);
    EXPECT_GT(cov.rows, 100u);
    EXPECT_EQ(cov.late, 0u);  // count windows have no lateness
  }
}

TEST(WindowAggregator, KeysWhoseHashesCollideStayApart) {
  // The tables look keys up by their routing hash first; keys with one hash are still apart.
  for (auto kind : {WindowPlan::Kind::kTumbling, WindowPlan::Kind::kSession}) {
    Fixture f(true);
    f.plan.kind = kind;
    f.plan.gap_ms = 5000;
    WindowAggregator w(f.plan, nullptr);
    RecordBatch b;
    b.reset(2);
    Sums want;
    for (int i = 0; i < 300; ++i) {
      const std::string key = "k" + std::to_string(i % 37);
      add(b, 1000 + i, key.c_str(), i);
      b.meta(b.size() - 1).key_hash = 42;  // every key: one hash
      want[{format_rfc3339_ms(kind == WindowPlan::Kind::kTumbling ? 0 : 1000 + i % 37), key}] += i;
    }
    Arena scratch;
    w.add(b, scratch);
    std::vector<FiredWindow> fired;
    w.fire(kMaxTime, &fired);
    EXPECT_EQ(sums(fired), want) << "kind " << static_cast<int>(kind);
  }
}

TEST(WindowAggregator, UnkeyedWindowsIgnoreTheRecordsKeyHashes) {
  // A window without key_by folds every record into one state, whatever hash an earlier
  // key_by left on the records.
  Fixture f(false);
  WindowAggregator w(f.plan, nullptr);
  RecordBatch b;
  b.reset(2);
  int64_t total = 0;
  for (int i = 0; i < 100; ++i) {
    add(b, 1000 + i, ("k" + std::to_string(i)).c_str(), i);
    total += i;
  }
  Arena scratch;
  w.add(b, scratch);
  std::vector<FiredWindow> fired;
  w.fire(kMaxTime, &fired);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(sums(fired), (Sums{{{format_rfc3339_ms(0), ""}, total}}));
}

}  // namespace
}  // namespace spate
