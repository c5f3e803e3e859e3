// libFuzzer target: Adwin::deserialize (see fuzz_sketch.h for the input modes). The exercise only
// reads the restored detector: the round trip of what deserialize accepts is what is checked.
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/adwin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::Adwin;
  return spate::fuzz::run<Adwin>(data, size, Adwin::kTypeTag, Adwin::kVersion, [](Adwin& d) {
    spate::fuzz::check(d.detections() <= d.updates());
    spate::fuzz::check(Adwin::validate(d.options()).is_ok());
    if (d.last_detection()) spate::fuzz::check(d.detections() > 0);
  });
}
