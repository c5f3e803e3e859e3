#include "spate/io/csv.h"

#include <fmt/format.h>

#include <cstring>

namespace spate {
namespace {

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

}  // namespace

bool split_csv(std::string_view line, char delimiter, std::vector<std::string_view>* fields,
               Arena* arena, std::string* error) {
  fields->clear();
  if (delimiter == '"' || delimiter == '\r' || delimiter == '\n') {
    return fail(error, "csv: the delimiter may not be a quote or a line break");
  }
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  const char* const begin = line.data();
  const char* const end = begin + line.size();
  const char* p = begin;
  auto column = [begin](const char* at) { return static_cast<size_t>(at - begin) + 1; };
  while (true) {
    if (p < end && *p == '"') {
      // Quoted field: find the closing quote, noting whether any "" escapes occur.
      const char* const open = p;
      const char* const start = p + 1;
      const char* q = start;
      bool escaped = false;
      while (true) {
        q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end - q)));
        if (q == nullptr) {
          return fail(error, fmt::format("csv: unterminated quoted field starting at column {}",
                                         column(open)));
        }
        if (q + 1 < end && q[1] == '"') {
          escaped = true;
          q += 2;
          continue;
        }
        break;  // q is the closing quote
      }
      if (!escaped) {
        fields->emplace_back(start, static_cast<size_t>(q - start));
      } else {
        char* out = arena->allocate(static_cast<size_t>(q - start));
        size_t n = 0;
        for (const char* s = start; s < q; ++s) {
          out[n++] = *s;
          if (*s == '"') ++s;  // skip the second quote of ""
        }
        fields->emplace_back(out, n);
      }
      p = q + 1;
      if (p == end) return true;
      if (*p != delimiter) {
        return fail(error, fmt::format("csv: unexpected character '{}' after closing quote at "
                                       "column {} (expected the delimiter or end of line)",
                                       *p, column(p)));
      }
      ++p;
      continue;
    }
    // Unquoted field: up to the next delimiter.
    if (p == end) {  // (also keeps memchr away from a null data pointer)
      fields->emplace_back();
      return true;
    }
    const char* d =
        static_cast<const char*>(std::memchr(p, delimiter, static_cast<size_t>(end - p)));
    if (d == nullptr) {
      fields->emplace_back(p, static_cast<size_t>(end - p));
      return true;
    }
    fields->emplace_back(p, static_cast<size_t>(d - p));
    p = d + 1;
  }
}

void append_csv_field(std::string& out, std::string_view s, char delimiter) {
  bool needs_quotes = false;
  for (char c : s) {
    if (c == delimiter || c == '"' || c == '\r' || c == '\n') {
      needs_quotes = true;
      break;
    }
  }
  if (!needs_quotes) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace spate
