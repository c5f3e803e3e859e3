#include "spate/runtime/channel.h"

#include <thread>

#include <gtest/gtest.h>

namespace spate {
namespace {

TEST(SpscRing, FifoAndBounded) {
  SpscRing<int> r(3);
  EXPECT_TRUE(r.push(1));
  EXPECT_TRUE(r.push(2));
  EXPECT_TRUE(r.push(3));
  EXPECT_FALSE(r.push(4));  // full: capacity 3
  int v;
  ASSERT_TRUE(r.pop(&v));
  EXPECT_EQ(v, 1);
  EXPECT_TRUE(r.push(4));
  for (int want : {2, 3, 4}) {
    ASSERT_TRUE(r.pop(&v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(r.pop(&v));
  EXPECT_TRUE(r.empty());
}

// Two threads: every value arrives once, in order (run under TSan in CI).
TEST(SpscRing, TwoThreadsDeliverEverythingInOrder) {
  constexpr int kN = 200000;
  SpscRing<int> r(64);
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) {
      while (!r.push(i)) std::this_thread::yield();
    }
  });
  int expect = 0, v;
  while (expect < kN) {
    if (r.pop(&v)) {
      ASSERT_EQ(v, expect);
      ++expect;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
}

struct Item {
  int value = 0;
};

// Credits bound what the producer can have in flight; released items are reused, not
// reallocated.
TEST(CreditChannel, CreditsBoundInFlightItemsAndAreReused) {
  Doorbell consumer, producer;
  CreditChannel<Item> ch(2, &consumer, &producer);
  Item* a = ch.acquire();
  Item* b = ch.acquire();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(ch.acquire(), nullptr);  // backpressure
  EXPECT_EQ(ch.free_credits(), 0u);
  a->value = 7;
  ch.send(a);
  Item* got;
  ASSERT_TRUE(ch.receive(&got));
  EXPECT_EQ(got->value, 7);
  EXPECT_EQ(ch.acquire(), nullptr);  // still held by the consumer
  ch.release(got);
  EXPECT_EQ(ch.free_credits(), 1u);
  EXPECT_EQ(ch.acquire(), a);  // the same item again
}

TEST(CreditChannel, ProducerAndConsumerThreadsWithDoorbells) {
  constexpr int kN = 50000;
  Doorbell consumer_bell, producer_bell;
  CreditChannel<Item> ch(4, &consumer_bell, &producer_bell);
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) {
      Item* it;
      while ((it = ch.acquire()) == nullptr) {
        producer_bell.wait([&] { return ch.free_credits() > 0; }, std::chrono::milliseconds(5));
      }
      it->value = i;
      ch.send(it);
    }
  });
  long long sum = 0;
  for (int got = 0; got < kN;) {
    Item* it;
    if (ch.receive(&it)) {
      ASSERT_EQ(it->value, got);
      sum += it->value;
      ++got;
      ch.release(it);
    } else {
      consumer_bell.wait([&] { return ch.has_items(); }, std::chrono::milliseconds(5));
    }
  }
  producer.join();
  EXPECT_EQ(sum, static_cast<long long>(kN) * (kN - 1) / 2);
}

}  // namespace
}  // namespace spate
