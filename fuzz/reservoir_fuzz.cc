// libFuzzer target: Reservoir<std::string>, Reservoir<uint64_t> and Reservoir<double>
// deserialize; input byte 0 bits 1-2 pick the item type (see fuzz_sketch.h for bit 0).
#include <string>

#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/reservoir.h"

namespace {

template <typename T, typename MakeItem>
int fuzz_one(const uint8_t* data, size_t size, MakeItem make_item) {
  using R = spate::Reservoir<T>;
  return spate::fuzz::run<R>(
      data, size, spate::ReservoirItemTraits<T>::kTypeTag, R::kVersion, [&](R& r) {
        const uint64_t n = r.count();
        spate::fuzz::check(r.sample().size() == (n < r.capacity() ? n : r.capacity()));
        if (n >= spate::fuzz::kHugeCount) return;
        for (uint64_t i = 0; i < 100; ++i) r.add(make_item(i));
        if (r.capacity() <= 4096) {
          R copy = r;
          spate::fuzz::check(r.merge(copy).is_ok());
          spate::fuzz::check(r.count() == 2 * (n + 100));
        }
      });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int type = size > 0 ? (data[0] >> 1) % 3 : 0;
  if (type == 1) return fuzz_one<uint64_t>(data, size, [](uint64_t i) { return i; });
  if (type == 2) return fuzz_one<double>(data, size, [](uint64_t i) { return i * 0.5; });
  return fuzz_one<std::string>(data, size, [](uint64_t i) { return std::to_string(i); });
}
