// libFuzzer target: CountMin::deserialize (see fuzz_sketch.h for the input modes).
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/count_min.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::CountMin;
  return spate::fuzz::run<CountMin>(data, size, CountMin::kTypeTag, CountMin::kVersion,
                                    [](CountMin& cm) {
                                      for (uint64_t k = 0; k < 16; ++k)
                                        spate::fuzz::check(cm.estimate_hash(k) <= cm.total());
                                      if (cm.total() >= spate::fuzz::kHugeCount) return;
                                      cm.add("fuzz", 3);
                                      spate::fuzz::check(cm.estimate("fuzz") >= 3);
                                      CountMin copy = cm;
                                      spate::fuzz::check(cm.merge(copy).is_ok());
                                    });
}
