#pragma once
// DeadLetterOutput: where malformed events go, with their reason, so that nothing is dropped
// silently. Each bad event is counted per reason and written as one JSON line
//   {"reason":"bad_json","error":"...","source":"data/x.jsonl","position":1234,"raw":"..."}
// (raw: the first 4 KiB of the event) to a file, or, by default, to stderr with a rate limit
// (the counts are always exact; a summary is printed at exit).
// Thread-safety: every method may be called from any thread (a mutex guards the output; bad
// events are rare, so this is off the hot path).

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "spate/common/status.h"
#include "spate/runtime/source.h"

namespace spate {

class DeadLetterOutput {
 public:
  static constexpr size_t kMaxRaw = 4096;
  static constexpr int kStderrBurst = 10;  // lines per second on stderr

  // path empty: stderr. Fails if the file cannot be opened.
  static Result<std::unique_ptr<DeadLetterOutput>> open(const std::string& path);
  ~DeadLetterOutput();

  // position_json: a JSON value (number or string) locating the event in its source.
  void write(DeadReason reason, std::string_view source, std::string_view position_json,
             std::string_view raw, std::string_view detail);

  uint64_t count(DeadReason r) const { return counts_[static_cast<size_t>(r)].load(); }
  uint64_t total() const;
  // "bad_json=3 late=10" (reasons with a zero count omitted); empty when none.
  std::string summary() const;
  const std::string& path() const { return path_; }
  void flush();

 private:
  DeadLetterOutput() = default;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DeadReason::kCount_)> counts_{};
  std::mutex mu_;
  std::FILE* file_ = nullptr;  // null: stderr
  std::string path_;
  std::string line_;
  int64_t window_start_ms_ = 0;
  int window_lines_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace spate
