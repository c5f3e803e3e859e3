// libFuzzer target: DistributionShift::deserialize (see fuzz_sketch.h for the input modes). The
// exercise only reads the restored detector: the round trip of what deserialize accepts is what
// is checked.
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/distribution_shift.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::DistributionShift;
  return spate::fuzz::run<DistributionShift>(
      data, size, DistributionShift::kTypeTag, DistributionShift::kVersion,
      [](DistributionShift& d) {
        spate::fuzz::check(d.detections() <= d.windows());
        spate::fuzz::check(DistributionShift::validate(d.options()).is_ok());
        if (d.last_detection()) spate::fuzz::check(d.last_report().has_value());
      });
}
