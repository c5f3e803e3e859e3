// libFuzzer target: HyperLogLog::deserialize (see fuzz_sketch.h for the input modes).
#include <cmath>

#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/hyperloglog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::HyperLogLog;
  return spate::fuzz::run<HyperLogLog>(data, size, HyperLogLog::kTypeTag, HyperLogLog::kVersion,
                                       [](HyperLogLog& h) {
                                         const double before = h.estimate();
                                         spate::fuzz::check(std::isfinite(before) && before >= 0);
                                         h.add("fuzz");
                                         h.add(uint64_t{42});
                                         HyperLogLog copy = h;
                                         spate::fuzz::check(h.merge(copy).is_ok());
                                         spate::fuzz::check(h.estimate() >= 0);
                                       });
}
