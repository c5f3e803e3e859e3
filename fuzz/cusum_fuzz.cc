// libFuzzer target: Cusum::deserialize (see fuzz_sketch.h for the input modes). The exercise only
// reads the restored detector: the round trip of what deserialize accepts is what is checked.
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/cusum.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::Cusum;
  return spate::fuzz::run<Cusum>(data, size, Cusum::kTypeTag, Cusum::kVersion, [](Cusum& d) {
    spate::fuzz::check(d.detections() <= d.updates());
    spate::fuzz::check(Cusum::validate(d.options()).is_ok());
    if (d.last_detection()) spate::fuzz::check(d.detections() > 0);
  });
}
