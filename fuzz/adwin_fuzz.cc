// libFuzzer target: Adwin::deserialize (see fuzz_sketch.h: the input modes, run_detector).
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/adwin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return spate::fuzz::run_detector<spate::Adwin>(data, size);
}
