#include "spate/core/value.h"

#include <cmath>
#include <cstring>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace spate {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return "bool";
    case ValueType::kInt: return "int";
    case ValueType::kDouble: return "double";
    case ValueType::kString: return "string";
  }
  return "?";
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.type == ValueType::kInt && b.type == ValueType::kInt) return a.i == b.i;
    return a.as_double() == b.as_double();
  }
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::kBool: return a.b == b.b;
    case ValueType::kString: return a.sv() == b.sv();
    default: return false;
  }
}

int compare_values(const Value& a, const Value& b, bool* ok) {
  *ok = true;
  if (a.is_number() && b.is_number()) {
    if (a.type == ValueType::kInt && b.type == ValueType::kInt) return (a.i > b.i) - (a.i < b.i);
    double x = a.as_double(), y = b.as_double();
    if (std::isnan(x) || std::isnan(y)) { *ok = false; return 0; }
    return (x > y) - (x < y);
  }
  if (a.type == ValueType::kString && b.type == ValueType::kString) {
    int c = a.sv().compare(b.sv());
    return (c > 0) - (c < 0);
  }
  if (a.type == ValueType::kBool && b.type == ValueType::kBool) return int(a.b) - int(b.b);
  *ok = false;
  return 0;
}

namespace {
// Formats with fmt's "{}" (shortest round-trip for doubles), compiled: no format string parsed at
// run time and no type-erased dispatch per number (these run once per field of every result row).
template <typename T>
void append_formatted(std::string& out, T v) {
  char buf[64];  // "{}" of an int64 or a double is at most 24 characters
  char* end = fmt::format_to(buf, FMT_COMPILE("{}"), v);
  out.append(buf, static_cast<size_t>(end - buf));
}
}  // namespace

void append_number(std::string& out, double d) {
  if (!std::isfinite(d)) { out += "null"; return; }
  if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    append_formatted(out, static_cast<int64_t>(d));
  } else {
    append_formatted(out, d);
  }
}

namespace {
// Length of a valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_seq_len(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c == 0xE0 && c1 < 0xA0) return 0;
    if (c == 0xED && c1 > 0x9F) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c == 0xF0 && c1 < 0x90) return 0;
    if (c == 0xF4 && c1 > 0x8F) return 0;
    return 4;
  }
  return 0;
}
}  // namespace

namespace {
// True if one of the 8 bytes of w is below 0x20, '"', '\\' or not ASCII (word-at-a-time
// tests: "has a byte less than n" and "has a zero byte" are exact for whether any byte does).
inline bool any_byte_needs_escape(uint64_t w) {
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t x) { return (x - k01) & ~x & k80; };
  return ((w & k80) | ((w - k01 * 0x20) & ~w & k80) | has_zero(w ^ (k01 * '"')) |
          has_zero(w ^ (k01 * '\\'))) != 0;
}
}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      size_t j = i + 1;
      for (uint64_t w; j + 8 <= s.size(); j += 8) {
        std::memcpy(&w, s.data() + j, 8);
        if (any_byte_needs_escape(w)) break;
      }
      while (j < s.size()) {
        auto cj = static_cast<unsigned char>(s[j]);
        if (cj < 0x20 || cj >= 0x80 || cj == '"' || cj == '\\') break;
        ++j;
      }
      out.append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
      ++i;
      continue;
    }
    size_t n = utf8_seq_len(s, i);
    if (n == 0) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  out += '"';
}

void append_json(std::string& out, const Value& v) {
  switch (v.type) {
    case ValueType::kNull: out += "null"; break;
    case ValueType::kBool: out += v.b ? "true" : "false"; break;
    case ValueType::kInt: append_formatted(out, v.i); break;
    case ValueType::kDouble: append_number(out, v.d); break;
    case ValueType::kString: append_json_string(out, v.sv()); break;
  }
}

void append_text(std::string& out, const Value& v) {
  switch (v.type) {
    case ValueType::kNull: break;
    case ValueType::kString: out.append(v.sv()); break;
    default: append_json(out, v); break;
  }
}

}  // namespace spate
