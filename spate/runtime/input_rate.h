#pragma once
// InputRate: how many events one input (a file, a TCP connection, a UDP peer) delivered over
// the last second of wall clock, the value of the `$rate` metadata field. Ten 100 ms buckets
// slide with the clock: the rate read at time t counts the events read in (t − ~1000 ms, t],
// including the block being stamped, so a burst shows at once and fades within a second.
// Owned by the source thread (one meter per live input); O(1) memory and time per block.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstddef>

namespace spate {

class InputRate {
 public:
  static constexpr int64_t kBucketMs = 100;
  static constexpr int kBuckets = 10;

  // Adds `events` read at wall-clock `now_ms`; returns the events of the last second, these
  // included. A clock that steps back counts into the newest bucket.
  int64_t add(int64_t now_ms, int64_t events) {
    int64_t b = now_ms / kBucketMs;
    if (last_ < 0 || b - last_ >= kBuckets) {
      buckets_.fill(0);
      sum_ = 0;
    } else {
      for (int64_t k = last_ + 1; k <= b; ++k) {
        int64_t& slot = buckets_[static_cast<size_t>(k % kBuckets)];
        sum_ -= slot;
        slot = 0;
      }
    }
    if (b > last_) last_ = b;
    buckets_[static_cast<size_t>(last_ % kBuckets)] += events;
    sum_ += events;
    return sum_;
  }

 private:
  std::array<int64_t, kBuckets> buckets_{};
  int64_t last_ = -1;  // newest bucket index (now_ms / kBucketMs)
  int64_t sum_ = 0;
};

// Events in a block of newline-separated events: its line endings, plus a last line without
// one. Blank lines count (the parser skips them; they are rare on real inputs).
inline int64_t count_events(const char* p, size_t n) {
  if (n == 0) return 0;
  const int64_t lines = std::count(p, p + n, '\n');
  return lines + (p[n - 1] != '\n' ? 1 : 0);
}

}  // namespace spate
