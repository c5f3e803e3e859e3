// libFuzzer target: Moments::deserialize (see fuzz_sketch.h for the input modes).
#include <cmath>

#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/moments.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::Moments;
  return spate::fuzz::run<Moments>(data, size, Moments::kTypeTag, Moments::kVersion,
                                   [](Moments& m) {
                                     const uint64_t n = m.count();
                                     (void)m.mean();
                                     (void)m.sample_stddev();
                                     if (n > 0) spate::fuzz::check(m.min() <= m.max());
                                     if (n >= spate::fuzz::kHugeCount) return;
                                     m.add(1.5);
                                     m.add(NAN);
                                     Moments copy = m;
                                     m.merge(copy);
                                     spate::fuzz::check(m.count() == 2 * (n + 1));
                                   });
}
