// libFuzzer target: Trending::deserialize (see fuzz_sketch.h for the input modes). A summary
// that deserializes must answer finite, ordered queries, keep working after adds (in and out of
// order, far in the future: renormalization) and merges, and round-trip again.
#include <cmath>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/trending.h"

namespace {

int64_t saturating_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::Trending;
  using spate::fuzz::check;
  return spate::fuzz::run<Trending>(
      data, size, Trending::kTypeTag, Trending::kVersion, [](Trending& t) {
        const auto top = t.top_rising(8);
        for (size_t i = 0; i < top.size(); ++i) {
          check(std::isfinite(top[i].score) && top[i].score >= 0);
          check(top[i].short_error <= top[i].short_count && top[i].long_error <= top[i].long_count);
          if (i > 0) check(top[i - 1].score >= top[i].score);
        }
        check(t.landmark() <= t.max_time());
        if (t.count() >= spate::fuzz::kHugeCount) return;
        std::string item;
        const int64_t base = t.max_time();
        for (uint64_t i = 0; i < 2 * t.capacity() + 3 && i < 3000; ++i) {
          item = "item-" + std::to_string(i % 97);
          // In order, out of order, and a jump far ahead (moves the landmark).
          const int64_t dt = i % 7 == 0 ? -static_cast<int64_t>(i) * 1000 : static_cast<int64_t>(i);
          t.add(item, saturating_add(base, i == 5 ? int64_t{1} << 40 : dt));
        }
        Trending copy = t;
        check(t.merge(copy).is_ok());
        check(t.top_rising(4).size() <= 4);
        check(std::isfinite(t.short_total(t.max_time())) &&
              std::isfinite(t.long_total(t.max_time())));
      });
}
