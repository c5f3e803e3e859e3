// libFuzzer target: KllSketch::deserialize (see fuzz_sketch.h for the input modes).
#include <cmath>

#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/kll.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::KllSketch;
  return spate::fuzz::run<KllSketch>(data, size, KllSketch::kTypeTag, KllSketch::kVersion,
                                     [](KllSketch& k) {
                                       const auto qs = k.quantiles({0.0, 0.25, 0.5, 0.99, 1.0});
                                       if (!k.empty()) {
                                         for (double q : qs)
                                           spate::fuzz::check(q >= k.min() && q <= k.max());
                                       }
                                       const double r = k.rank(0.5);
                                       spate::fuzz::check(r >= 0 && r <= 1);
                                       const uint64_t n = k.count();
                                       if (n >= spate::fuzz::kHugeCount) return;
                                       for (int i = 0; i < 300; ++i) k.add(i * 0.25);
                                       KllSketch copy = k;
                                       spate::fuzz::check(k.merge(copy).is_ok());
                                       spate::fuzz::check(k.count() == 2 * (n + 300));
                                     });
}
