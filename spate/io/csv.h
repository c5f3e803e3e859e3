#pragma once
// CSV (RFC 4180) for line-oriented events: splitting one record line into fields, and writing
// one field with the quoting it needs.
//
// Reading rules (split_csv):
//   - Fields are separated by `delimiter`; n delimiters give n + 1 fields, so an empty line is
//     one empty field and a trailing delimiter gives a last empty field.
//   - A field that starts with '"' is quoted: it runs to the matching closing quote, "" inside
//     it stands for one '"', and delimiters inside it are data. After the closing quote only a
//     delimiter or the end of the line may follow (error otherwise, "a"b is rejected).
//   - A '"' inside an unquoted field (5" screen) is kept as data, as most CSV readers do.
//   - Spaces are data (never trimmed).
//   - One trailing "\n", "\r\n" or "\r" is ignored. A quoted field may NOT span lines: events
//     are lines, so a quoted field still open at the end of the line is an error
//     ("unterminated quoted field").
// Output views: unquoted fields and quoted fields without "" are views into `line`; quoted
// fields with "" escapes are unescaped into `arena`. Views live as long as both.
// Thread-safety: pure functions (the arena belongs to the caller's thread).

#include <string>
#include <string_view>
#include <vector>

#include "spate/common/arena.h"

namespace spate {

// Splits `line` into *fields (cleared first). Returns false with a message naming the 1-based
// column in *error (if not null) on a malformed line; *fields is then unspecified.
// REQUIRES: arena != nullptr; delimiter is not '"', '\r' or '\n' (returns false otherwise).
bool split_csv(std::string_view line, char delimiter, std::vector<std::string_view>* fields,
               Arena* arena, std::string* error);

// Appends `s` as one CSV field: quoted (with '"' doubled) when it contains the delimiter, '"',
// '\r' or '\n', verbatim otherwise. Note that a field with a line break makes a multi-line
// record, which split_csv does not read back.
void append_csv_field(std::string& out, std::string_view s, char delimiter);

}  // namespace spate
