#include "spate/runtime/dead_letter.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "spate/common/time.h"
#include "spate/core/value.h"

namespace spate {

const char* dead_reason_name(DeadReason r) {
  switch (r) {
    case DeadReason::kBadJson: return "bad_json";
    case DeadReason::kInvalidUtf8: return "invalid_utf8";
    case DeadReason::kCsvColumns: return "csv_columns";
    case DeadReason::kOversize: return "oversize";
    case DeadReason::kWrongType: return "wrong_type";
    case DeadReason::kBadTimestamp: return "bad_timestamp";
    case DeadReason::kLate: return "late";
    case DeadReason::kCount_: break;
  }
  return "unknown";
}

Result<std::unique_ptr<DeadLetterOutput>> DeadLetterOutput::open(const std::string& path) {
  std::unique_ptr<DeadLetterOutput> d(new DeadLetterOutput());
  d->path_ = path;
  if (!path.empty()) {
    d->file_ = std::fopen(path.c_str(), "w");
    if (!d->file_) {
      return Status::io_error(
          fmt::format("cannot open dead-letter file '{}': {}", path, std::strerror(errno)));
    }
  }
  return d;
}

DeadLetterOutput::~DeadLetterOutput() {
  if (file_) std::fclose(file_);
}

void DeadLetterOutput::write(DeadReason reason, std::string_view source,
                             std::string_view position_json, std::string_view raw,
                             std::string_view detail) {
  counts_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(mu_);
  if (!file_) {
    int64_t now = wall_clock_ms();
    if (now - window_start_ms_ >= 1000) {
      if (suppressed_ > 0) {
        std::fprintf(stderr, "spate: %llu more dead letters not shown (rate limit)\n",
                     static_cast<unsigned long long>(suppressed_));
      }
      window_start_ms_ = now;
      window_lines_ = 0;
      suppressed_ = 0;
    }
    if (window_lines_ >= kStderrBurst) {
      ++suppressed_;
      return;
    }
    ++window_lines_;
  }
  line_.clear();
  line_ += "{\"reason\":\"";
  line_ += dead_reason_name(reason);
  line_ += "\",\"error\":";
  append_json_string(line_, detail);
  line_ += ",\"source\":";
  append_json_string(line_, source);
  line_ += ",\"position\":";
  line_ += position_json.empty() ? std::string_view("null") : position_json;
  line_ += ",\"raw\":";
  append_json_string(line_, raw.substr(0, kMaxRaw));
  line_ += "}\n";
  if (file_) {
    std::fwrite(line_.data(), 1, line_.size(), file_);
  } else {
    std::string msg = "spate: dead letter: " + line_;
    std::fwrite(msg.data(), 1, msg.size(), stderr);
  }
}

uint64_t DeadLetterOutput::total() const {
  uint64_t t = 0;
  for (const auto& c : counts_) t += c.load();
  return t;
}

std::string DeadLetterOutput::summary() const {
  std::string s;
  for (size_t i = 0; i < counts_.size(); ++i) {
    uint64_t c = counts_[i].load();
    if (c == 0) continue;
    if (!s.empty()) s += ' ';
    s += fmt::format("{}={}", dead_reason_name(static_cast<DeadReason>(i)), c);
  }
  return s;
}

void DeadLetterOutput::flush() {
  std::lock_guard<std::mutex> lk(mu_);
  if (file_) std::fflush(file_);
  if (!file_ && suppressed_ > 0) {
    std::fprintf(stderr, "spate: %llu more dead letters not shown (rate limit)\n",
                 static_cast<unsigned long long>(suppressed_));
    suppressed_ = 0;
  }
}

}  // namespace spate
