#pragma once
// Shared driver for the sketch deserialize fuzzers (fuzz/*_fuzz.cc).
//
// Input byte 0 picks the mode: even -> the remaining bytes go to deserialize() as they are (the
// frame checks: magic, tag, version, length, CRC); odd -> the remaining bytes are sealed as a
// payload with the right tag and version first, so the fuzzer explores the payload parser past
// the checksum. A sketch that deserializes must re-serialize to bytes that deserialize to the
// same bytes again, and survive `exercise` (queries, updates, merges). Any violation traps.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "spate/common/serde.h"

namespace spate::fuzz {

// Counts are uint64 and wrap past 2^64 (no stream comes near: 2^62 items is 146 years at 1e9
// items/s). A crafted input may start just below the wrap, so the exercises that add or merge
// skip sketches whose count is already above this.
inline constexpr uint64_t kHugeCount = uint64_t{1} << 62;

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <typename T, typename Exercise>
int run(const uint8_t* data, size_t size, uint32_t tag, uint16_t version, Exercise&& exercise) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string framed;
  if (data[0] & 1) {
    framed = seal(tag, version, in);
    in = framed;
  }
  auto r = T::deserialize(in);
  if (!r.is_ok()) {
    check(!r.status().message().empty());
    return 0;
  }
  const std::string again = r->serialize();
  auto r2 = T::deserialize(again);
  check(r2.is_ok());
  check(r2->serialize() == again);
  exercise(*r);
  // After updates and merges the sketch still round-trips.
  const std::string after = r->serialize();
  auto r3 = T::deserialize(after);
  check(r3.is_ok());
  check(r3->serialize() == after);
  return 0;
}

// The numeric drift detectors (Adwin, PageHinkley, Cusum): the exercise only reads the restored
// detector; the round trip of what deserialize accepts is what run() checks.
template <typename Detector>
int run_detector(const uint8_t* data, size_t size) {
  return run<Detector>(data, size, Detector::kTypeTag, Detector::kVersion, [](Detector& d) {
    check(d.detections() <= d.updates());
    check(Detector::validate(d.options()).is_ok());
    if (d.last_detection()) check(d.detections() > 0);
  });
}

}  // namespace spate::fuzz
