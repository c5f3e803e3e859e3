// CollectorQueue: fired windows are bounded by count and by rows; a window larger than the row
// budget passes alone; progress and end messages never wait.

#include "spate/runtime/collector_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace spate {
namespace {

CollectorMsg fired(size_t rows, size_t keyed = 0) {
  CollectorMsg m;
  m.kind = CollectorMsg::Kind::kFired;
  m.fired.rows = std::make_unique<OutputRows>();
  m.fired.rows->reset(
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"k", "n"}));
  for (size_t i = 0; i < rows; ++i)
    m.fired.rows->add_row()[1].value = Value::integer(static_cast<int64_t>(i));
  m.fired.keyed.resize(keyed);
  return m;
}

CollectorMsg progress() {
  CollectorMsg m;
  m.kind = CollectorMsg::Kind::kProgress;
  return m;
}

TEST(CollectorQueueTest, RowsBoundFiredWindows) {
  CollectorQueue q(64, 1000);
  CollectorMsg a = fired(600), b = fired(300, 100), c = fired(1);
  EXPECT_TRUE(q.try_push(a));
  EXPECT_TRUE(q.try_push(b));  // 600 + 400 = 1000: at the budget
  EXPECT_EQ(q.queued_rows(), 1000u);
  EXPECT_FALSE(q.try_push(c));  // one more row is over it
  EXPECT_EQ(c.fired.rows->rows(), 1u) << "a refused message is left as it was";
  CollectorMsg p = progress();
  EXPECT_TRUE(q.try_push(p)) << "progress never waits";
  CollectorMsg out;
  ASSERT_TRUE(q.pop(&out, std::chrono::milliseconds(0)));
  EXPECT_EQ(out.fired.rows->rows(), 600u);
  EXPECT_EQ(q.queued_rows(), 400u);
  EXPECT_TRUE(q.try_push(c));
  EXPECT_EQ(q.queued_rows(), 401u);
}

TEST(CollectorQueueTest, AWindowOverTheBudgetPassesAlone) {
  CollectorQueue q(64, 1000);
  CollectorMsg big = fired(5000), small = fired(1), big2 = fired(5000);
  EXPECT_TRUE(q.try_push(big)) << "nothing queued: a window larger than the budget still passes";
  EXPECT_FALSE(q.try_push(small));
  CollectorMsg out;
  ASSERT_TRUE(q.pop(&out, std::chrono::milliseconds(0)));
  EXPECT_EQ(q.queued_rows(), 0u);
  CollectorMsg p = progress();
  EXPECT_TRUE(q.try_push(p));
  EXPECT_TRUE(q.try_push(big2)) << "queued progress holds no rows";
}

TEST(CollectorQueueTest, CountBoundsWindowsWithoutRows) {
  CollectorQueue q(3, 1000);
  for (int i = 0; i < 3; ++i) {
    CollectorMsg m = fired(0);
    EXPECT_TRUE(q.try_push(m));
  }
  CollectorMsg m = fired(0);
  EXPECT_FALSE(q.try_push(m));
  CollectorMsg d;
  d.kind = CollectorMsg::Kind::kDone;
  EXPECT_TRUE(q.try_push(d)) << "the end message never waits";
}

TEST(CollectorQueueTest, BlockedPushGoesOnWhenTheCollectorTakesRows) {
  CollectorQueue q(64, 100);
  q.push(fired(100));
  std::thread producer([&] { q.push(fired(50)); });  // waits: 150 > 100
  CollectorMsg out;
  ASSERT_TRUE(q.pop(&out, std::chrono::seconds(10)));
  EXPECT_EQ(out.fired.rows->rows(), 100u);
  ASSERT_TRUE(q.pop(&out, std::chrono::seconds(10))) << "the producer was not released";
  EXPECT_EQ(out.fired.rows->rows(), 50u);
  producer.join();
  EXPECT_EQ(q.queued_rows(), 0u);
}

}  // namespace
}  // namespace spate
