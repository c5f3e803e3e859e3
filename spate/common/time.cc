#include "spate/common/time.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace spate {

Result<int64_t> parse_duration_ms(std::string_view t) {
  std::string_view orig = t;
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) {
    return Status::invalid(fmt::format("invalid duration '{}'; expected e.g. 500ms, 10s, 1m, 2h, 1d", orig));
  }
  double n = 0;
  try {
    n = std::stod(std::string(t.substr(0, i)));
  } catch (...) {
    return Status::invalid(fmt::format("invalid duration '{}'", orig));
  }
  std::string_view unit = t.substr(i);
  double mult;
  if (unit.empty() || unit == "s" || unit == "sec") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m" || unit == "min") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else if (unit == "d") mult = 86400000;
  else if (unit == "us") mult = 0.001;
  else {
    return Status::invalid(
        fmt::format("invalid duration unit '{}' in '{}'; valid units: ms, s, m, h, d", unit, orig));
  }
  double ms = n * mult;
  if (!std::isfinite(ms) || ms > 1e15) return Status::invalid(fmt::format("duration '{}' too large", orig));
  return static_cast<int64_t>(std::llround(ms));
}

std::string format_duration_ms(int64_t ms) {
  if (ms != 0 && ms % 86400000 == 0) return fmt::format("{}d", ms / 86400000);
  if (ms != 0 && ms % 3600000 == 0) return fmt::format("{}h", ms / 3600000);
  if (ms != 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

namespace {
// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}
bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = s[pos + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

Result<int64_t> parse_rfc3339_ms(std::string_view s) {
  auto bad = [&] {
    return Status::invalid(fmt::format("invalid RFC 3339 timestamp '{}'", s.substr(0, 64)));
  };
  int Y, M, D, h, m, sec;
  if (!digits(s, 0, 4, &Y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, &M) ||
      s[7] != '-' || !digits(s, 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, &h) || s[13] != ':' || !digits(s, 14, 2, &m) || s[16] != ':' ||
      !digits(s, 17, 2, &sec)) {
    return bad();
  }
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return bad();
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (D > kDays[M - 1]) return bad();
  size_t i = 19;
  int64_t frac_ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    int scale = 100;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (scale > 0) frac_ms += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return bad();
  }
  int64_t offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!digits(s, i + 1, 2, &oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return bad();
  }
  if (i != s.size()) return bad();
  int64_t days = days_from_civil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D));
  int64_t secs = days * 86400 + h * 3600 + m * 60 + std::min(sec, 59) - offset_min * 60;
  return secs * 1000 + frac_ms;
}

void append_rfc3339_ms(std::string& out, int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int64_t milli = ms - secs * 1000;
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, mo, d,
                 sod / 3600, (sod / 60) % 60, sod % 60, milli);
}

std::string format_rfc3339_ms(int64_t ms) {
  std::string s;
  append_rfc3339_ms(s, ms);
  return s;
}

bool epoch_number_to_ms(double v, int64_t* ms) {
  if (!std::isfinite(v) || v < 0) return false;
  double r;
  if (v < 1e11) r = v * 1000.0;
  else if (v < 1e14) r = v;
  else if (v < 1e17) r = v / 1000.0;
  else r = v / 1e6;
  if (r > 253402300799999.0) return false;  // 9999-12-31T23:59:59.999Z
  *ms = static_cast<int64_t>(r);
  return true;
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace spate
