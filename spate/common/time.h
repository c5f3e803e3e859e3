#pragma once
// Time helpers: durations ("500ms", "10s", "1m", "2h", "1d"), RFC 3339 timestamps, clocks.
// All event times in spate are int64 milliseconds since the Unix epoch (UTC).
// Thread-safety: pure functions.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "spate/common/status.h"

namespace spate {

inline constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min() / 4;
inline constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max() / 4;

// Parses "250ms", "10s", "1.5m", "2h", "1d" (a bare number is seconds) into milliseconds.
Result<int64_t> parse_duration_ms(std::string_view text);
// Formats milliseconds back as the shortest exact unit ("10s", "1m", "250ms").
std::string format_duration_ms(int64_t ms);

// Parses RFC 3339 ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00.250+01:00", space instead of
// T accepted) into epoch milliseconds (sub-millisecond digits truncated).
Result<int64_t> parse_rfc3339_ms(std::string_view text);
// Formats epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_rfc3339_ms(int64_t ms);
void append_rfc3339_ms(std::string& out, int64_t ms);

// Converts a numeric epoch timestamp to milliseconds: values below 1e11 are seconds, below 1e14
// milliseconds, below 1e17 microseconds, else nanoseconds. Returns false when out of range
// (before 1970 or after 9999) or not finite.
bool epoch_number_to_ms(double v, int64_t* ms);

int64_t wall_clock_ms();      // system clock
int64_t monotonic_ns();       // steady clock
// Micro-batch boundaries: the first multiple of interval_ms after now_ms. Every thread that cuts
// batches (sources, workers, the collector) uses it, so they cut at the same instants.
inline int64_t next_batch_boundary(int64_t now_ms, int64_t interval_ms) {
  return (now_ms / interval_ms + 1) * interval_ms;
}

}  // namespace spate
