// libFuzzer target: Ewma::deserialize (see fuzz_sketch.h for the input modes).
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/moments.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::Ewma;
  return spate::fuzz::run<Ewma>(data, size, Ewma::kTypeTag, Ewma::kVersion, [](Ewma& e) {
    spate::fuzz::check(e.alpha() > 0 && e.alpha() <= 1);
    if (e.count() >= spate::fuzz::kHugeCount) return;
    e.add(3.0);
    (void)e.value();
  });
}
