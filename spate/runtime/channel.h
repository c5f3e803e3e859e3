#pragma once
// Channels between threads.
//
// SpscRing<T>: a bounded single-producer single-consumer lock-free ring (Lamport's queue with
// cached indices; producer and consumer indices on separate cache lines). push/pop never block.
//
// Wakeup: a sleeping thread waits on its Doorbell; whoever gives it work rings the bell. Rings
// are cheap when nobody sleeps (one atomic load).
//
// CreditChannel: a pair of rings between one producer and one consumer: `full` carries items
// forward, `empty` returns them for reuse. The producer owns at most `credits` items, so a slow
// consumer stops the producer (backpressure) and memory stays bounded; items are reused, so the
// steady state allocates nothing. This is the credit-based flow control of Flink's network stack.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace spate {

inline constexpr size_t kCacheLine = 64;

template <typename T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) : cap_(capacity + 1), buf_(cap_) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer only.
  bool push(T v) {
    size_t h = head_.load(std::memory_order_relaxed);
    size_t next = h + 1 == cap_ ? 0 : h + 1;
    if (next == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (next == tail_cache_) return false;
    }
    buf_[h] = std::move(v);
    head_.store(next, std::memory_order_release);
    return true;
  }
  // Consumer only.
  bool pop(T* out) {
    size_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t == head_cache_) return false;
    }
    *out = std::move(buf_[t]);
    tail_.store(t + 1 == cap_ ? 0 : t + 1, std::memory_order_release);
    return true;
  }
  // Either side; approximate.
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }
  size_t size_approx() const {
    size_t h = head_.load(std::memory_order_acquire), t = tail_.load(std::memory_order_acquire);
    return h >= t ? h - t : h + cap_ - t;
  }

 private:
  const size_t cap_;
  std::vector<T> buf_;
  alignas(kCacheLine) std::atomic<size_t> head_{0};
  size_t tail_cache_ = 0;  // producer's view of tail
  alignas(kCacheLine) std::atomic<size_t> tail_{0};
  size_t head_cache_ = 0;  // consumer's view of head
};

// Doorbell: lets one thread sleep until another gives it work, with a timeout.
class Doorbell {
 public:
  // Any thread: wake the owner if it sleeps.
  void ring() {
    if (sleeping_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lk(mu_);
      rung_ = true;
      cv_.notify_one();
    }
  }
  // Owner only: sleep until rung or timeout, unless has_work() (checked after announcing the
  // sleep, so a ring between the check and the wait is never lost).
  template <typename F>
  void wait(F has_work, std::chrono::microseconds timeout) {
    std::unique_lock<std::mutex> lk(mu_);
    sleeping_.store(true, std::memory_order_seq_cst);
    if (!rung_ && !has_work()) cv_.wait_for(lk, timeout, [&] { return rung_; });
    rung_ = false;
    sleeping_.store(false, std::memory_order_relaxed);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool rung_ = false;
  alignas(kCacheLine) std::atomic<bool> sleeping_{false};
};

// CreditChannel<T>: see the file comment. T is owned through unique_ptr.
template <typename T>
class CreditChannel {
 public:
  CreditChannel(size_t credits, Doorbell* consumer_bell, Doorbell* producer_bell)
      : full_(credits), empty_(credits), credits_(credits), consumer_bell_(consumer_bell),
        producer_bell_(producer_bell) {}

  // Producer: an item to fill, reused or new; nullptr when all credits are in flight.
  T* acquire() {
    T* item = nullptr;
    if (empty_.pop(&item)) return item;
    if (owned_.size() < credits_) {
      owned_.push_back(std::make_unique<T>());
      return owned_.back().get();
    }
    return nullptr;
  }
  // Producer: sends an acquired item. Never fails (an acquired item always has a slot).
  void send(T* item) {
    bool ok = full_.push(item);
    (void)ok;
    consumer_bell_->ring();
  }
  // Consumer.
  bool receive(T** item) { return full_.pop(item); }
  bool has_items() const { return !full_.empty(); }
  // Consumer: items sent and not yet received (at least those sent before this call).
  size_t queued() const { return full_.size_approx(); }
  // Consumer: gives a processed item back to the producer. A producer blocked on credits is
  // woken when half of them are back, or when this consumer has nothing left (the producer may
  // be holding the others), not for every item: a wake-up across cores is expensive (an IPI on
  // virtual machines) and a producer woken for one credit blocks again at once.
  void release(T* item) {
    bool ok = empty_.push(item);
    (void)ok;
    if (producer_bell_ && (empty_.size_approx() >= wake_at_ || full_.empty())) producer_bell_->ring();
  }
  // Producer side: how many items acquire() can hand out now (returned ones plus credits never
  // used); the consumer's queue length is credits minus this.
  size_t free_credits() const { return empty_.size_approx() + (credits_ - owned_.size()); }

 private:
  SpscRing<T*> full_;
  SpscRing<T*> empty_;
  size_t credits_;
  size_t wake_at_ = std::max<size_t>(1, credits_ / 2);
  std::vector<std::unique_ptr<T>> owned_;  // producer side; freed with the channel
  Doorbell* consumer_bell_;
  Doorbell* producer_bell_;
};

}  // namespace spate
