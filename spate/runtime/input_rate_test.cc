#include "spate/runtime/input_rate.h"

#include <string>

#include <gtest/gtest.h>

namespace spate {
namespace {

TEST(InputRate, CountsTheLastSecondAndForgetsOlderEvents) {
  InputRate r;
  const int64_t t0 = 1'767'225'600'000;  // a bucket boundary
  EXPECT_EQ(r.add(t0, 100), 100);
  EXPECT_EQ(r.add(t0 + 50, 20), 120);     // same bucket
  EXPECT_EQ(r.add(t0 + 550, 30), 150);    // half a second later: all still counted
  EXPECT_EQ(r.add(t0 + 999, 0), 150);     // last bucket of the second
  EXPECT_EQ(r.add(t0 + 1000, 1), 31);     // t0's bucket slid out (100 + 20 forgotten)
  EXPECT_EQ(r.add(t0 + 1550, 4), 5);      // t0+550's bucket slid out
  EXPECT_EQ(r.add(t0 + 60'000, 7), 7);    // after a long pause: only the new events
}

TEST(InputRate, AClockThatStepsBackCountsInTheNewestBucket) {
  InputRate r;
  const int64_t t0 = 1'767'225'600'000;
  r.add(t0 + 500, 10);
  EXPECT_EQ(r.add(t0, 5), 15);            // earlier than the newest: nothing forgotten
  EXPECT_EQ(r.add(t0 + 1400, 1), 16);     // the window still follows the newest bucket (t0+500)
  EXPECT_EQ(r.add(t0 + 1500, 1), 2);      // t0+500's bucket, holding all 15, slid out
}

TEST(InputRate, ASteadyStreamReadsAsItsRate) {
  InputRate r;
  int64_t last = 0;
  // 2000 events/s in blocks of 20 every 10 ms, for 3 s.
  for (int64_t t = 0; t < 3000; t += 10) last = r.add(1'767'225'600'000 + t, 20);
  EXPECT_GE(last, 1800);
  EXPECT_LE(last, 2000);
}

TEST(CountEvents, LinesWithOrWithoutAFinalNewline) {
  const std::string a = "{\"a\":1}\n{\"a\":2}\n";
  const std::string b = "{\"a\":1}\n{\"a\":2}";
  EXPECT_EQ(count_events(a.data(), a.size()), 2);
  EXPECT_EQ(count_events(b.data(), b.size()), 2);
  EXPECT_EQ(count_events("x", 1), 1);
  EXPECT_EQ(count_events("", 0), 0);
}

}  // namespace
}  // namespace spate
