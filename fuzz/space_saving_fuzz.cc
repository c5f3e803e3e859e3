// libFuzzer target: SpaceSaving (std::string items) and SpaceSavingU64 deserialize; input byte 0
// bit 1 picks the item type (see fuzz_sketch.h for bit 0).
#include "fuzz/fuzz_sketch.h"
#include "spate/analytics/space_saving.h"

namespace {

template <typename S, typename MakeItem>
int fuzz_one(const uint8_t* data, size_t size, MakeItem make_item) {
  return spate::fuzz::run<S>(data, size, S::kTypeTag, S::kVersion, [&](S& s) {
    const auto top = s.top(8);
    for (size_t i = 1; i < top.size(); ++i) spate::fuzz::check(top[i - 1].count >= top[i].count);
    spate::fuzz::check(s.min_count() <= s.total());
    if (s.total() >= spate::fuzz::kHugeCount) return;
    for (uint64_t i = 0; i < 2 * s.capacity() + 3 && i < 5000; ++i) s.add(make_item(i), 1 + i % 3);
    S copy = s;
    spate::fuzz::check(s.merge(copy).is_ok());
    spate::fuzz::check(s.size() <= s.capacity());
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && (data[0] & 2)) {
    return fuzz_one<spate::SpaceSavingU64>(data, size, [](uint64_t i) { return i * 7; });
  }
  std::string buf;
  return fuzz_one<spate::SpaceSaving>(data, size, [&buf](uint64_t i) {
    buf = "item-" + std::to_string(i % 97);
    return std::string_view(buf);
  });
}
