// libFuzzer target: PageHinkley::deserialize (see fuzz_sketch.h for the input modes). The exercise only
// reads the restored detector: the round trip of what deserialize accepts is what is checked.
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/page_hinkley.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using spate::PageHinkley;
  return spate::fuzz::run<PageHinkley>(data, size, PageHinkley::kTypeTag, PageHinkley::kVersion, [](PageHinkley& d) {
    spate::fuzz::check(d.detections() <= d.updates());
    spate::fuzz::check(PageHinkley::validate(d.options()).is_ok());
    if (d.last_detection()) spate::fuzz::check(d.detections() > 0);
  });
}
