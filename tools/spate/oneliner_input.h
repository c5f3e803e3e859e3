#pragma once
// Input side of the one-liner commands (`spate top`, `stats`, `distinct`, `drift`): reading
// events from files or stdin in large blocks and pulling a few named fields out of each line.
//
// LineReader reads 1 MiB blocks with read(2), splits lines with memchr and hands each line out
// as a view into its buffer (no per-line allocation). The buffer keeps simdjson's padding after
// the data, so a line can be parsed in place. With a wall-clock period it polls the descriptor
// and calls a tick callback when the period elapses, also while the input is idle.
//
// FieldExtractor pulls up to kMaxSlots fields (nested JSON paths "a.b", CSV columns named by the
// header row, or `line` for text) out of one line as text. Strings are unescaped; numbers and
// booleans are their JSON token. Views stay valid until the next extract().
//
// Thread-safety: plain objects, one thread each.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "spate/common/arena.h"

namespace spate::cli {

enum class InputFormat { kJson, kCsv, kText };

class LineReader {
 public:
  using LineFn = std::function<void(const char* line, size_t len, size_t capacity)>;
  using TickFn = std::function<void()>;

  LineReader();

  // Reads all of `fd` to its end, calling on_line for each line (without its '\n'; a trailing
  // '\r' is removed). `capacity` is the readable bytes from `line` (>= len + simdjson padding).
  // When period_ms > 0, on_tick runs every period_ms of wall time. Returns false with *error
  // set on a read error.
  bool read_fd(int fd, const LineFn& on_line, int64_t period_ms, const TickFn& on_tick,
               std::string* error);

 private:
  std::unique_ptr<char[]> buf_;
  size_t size_ = 0;  // usable bytes (padding follows)
  int64_t next_tick_ns_ = 0;
};

enum class ExtractOutcome { kOk, kHeader, kMalformed, kMissing };

class FieldExtractor {
 public:
  static constexpr size_t kMaxSlots = 4;

  // `names`: the field of each slot ("" = slot unused). Text input knows only `line`
  // (throws std::invalid_argument otherwise).
  FieldExtractor(InputFormat format, const std::vector<std::string>& names);

  // Extracts every used slot. kMissing sets *missing_slot to the first slot not found (or not
  // a scalar). For CSV the first line is the header (kHeader).
  ExtractOutcome extract(const char* line, size_t len, size_t capacity, size_t* missing_slot);

  std::string_view value(size_t slot) const { return values_[slot]; }
  // True when the slot's value was a JSON string (else a number, boolean or CSV/text field).
  bool is_string(size_t slot) const { return is_string_[slot]; }

 private:
  ExtractOutcome extract_json(const char* line, size_t len, size_t capacity, size_t* missing);
  ExtractOutcome extract_csv(const char* line, size_t len, size_t* missing);

  InputFormat format_;
  std::vector<std::vector<std::string>> paths_;  // per slot, split on '.'
  std::vector<std::string> names_;
  std::string_view values_[kMaxSlots];
  bool is_string_[kMaxSlots] = {};
  std::string copies_[kMaxSlots];  // unescaped strings survive the next field's lookup
  simdjson::ondemand::parser parser_;
  // CSV
  bool have_header_ = false;
  int columns_[kMaxSlots] = {-1, -1, -1, -1};
  std::vector<std::string_view> fields_;
  Arena arena_;
  std::string csv_error_;
};

// Parses a value as a double (JSON number token or numeric string). False if it is not one.
bool parse_number(std::string_view text, double* out);

}  // namespace spate::cli
