#pragma once
// What workers send the collector, and the bounded queue it comes through.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "spate/common/time.h"
#include "spate/runtime/window.h"

namespace spate {

// What workers tell the collector. A kFired message may carry the worker's watermark after the
// fire (kMinTime: none), so that the message that completes a window also says so.
struct CollectorMsg {
  enum class Kind { kFired, kProgress, kDone };
  Kind kind = Kind::kProgress;
  int worker = 0;
  int64_t watermark = kMinTime;
  FiredWindow fired;
};

// Bounded multi-producer queue to the collector (window results: low rate; a mutex is fine).
// A fired window waits while `cap` messages are queued, or while the queued windows hold rows
// and its rows would take them past `row_cap` (rows of keyed windows plus per-key partial
// states), so a slow sink holds the workers back instead of piling up results, and what waits
// here is bounded by rows whatever the number of keys per window. A window larger than row_cap
// still passes, alone. Progress and end messages never wait.
class CollectorQueue {
 public:
  CollectorQueue(size_t cap, size_t row_cap) : cap_(cap), row_cap_(row_cap) {}

  static size_t rows_of(const CollectorMsg& m) {
    if (m.kind != CollectorMsg::Kind::kFired) return 0;
    return (m.fired.rows ? m.fired.rows->rows() : 0) + m.fired.keyed.size();
  }
  // wake = false: leave a sleeping collector asleep (it takes the message at its next wake-up).
  // Waking a thread on another core costs tens of microseconds on virtual machines (an IPI),
  // which made progress reports a visible share of a worker's time.
  void push(CollectorMsg m, bool wake = true) {
    std::unique_lock<std::mutex> lk(mu_);
    const size_t rows = rows_of(m);
    not_full_.wait(lk, [&] { return fits(m, rows); });
    add(std::move(m), rows, wake);
  }
  // push() that does not wait: false (and m untouched) if m would have to.
  bool try_push(CollectorMsg& m, bool wake = true) {
    std::lock_guard<std::mutex> lk(mu_);
    const size_t rows = rows_of(m);
    if (!fits(m, rows)) return false;
    add(std::move(m), rows, wake);
    return true;
  }
  bool empty() {
    std::lock_guard<std::mutex> lk(mu_);
    return q_.empty();
  }
  size_t queued_rows() {
    std::lock_guard<std::mutex> lk(mu_);
    return rows_;
  }
  // Waits up to timeout for a message.
  bool pop(CollectorMsg* m, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!not_empty_.wait_for(lk, timeout, [&] { return !q_.empty(); })) return false;
    *m = std::move(q_.front());
    q_.pop_front();
    rows_ -= rows_of(*m);
    not_full_.notify_all();
    return true;
  }

 private:
  // REQUIRES: mu_ held.
  bool fits(const CollectorMsg& m, size_t rows) const {
    if (m.kind != CollectorMsg::Kind::kFired) return true;
    return q_.size() < cap_ && (rows_ == 0 || rows_ + rows <= row_cap_);
  }
  void add(CollectorMsg&& m, size_t rows, bool wake) {
    rows_ += rows;
    q_.push_back(std::move(m));
    if (wake) not_empty_.notify_one();
  }

  const size_t cap_;
  const size_t row_cap_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<CollectorMsg> q_;
  size_t rows_ = 0;  // rows_of() summed over q_
};

}  // namespace spate
