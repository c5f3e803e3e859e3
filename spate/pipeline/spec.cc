#include "spate/pipeline/spec.h"

namespace spate {

const char* format_name(Format f) {
  switch (f) {
    case Format::kJson:
      return "json";
    case Format::kCsv:
      return "csv";
    case Format::kText:
      return "text";
  }
  return "unknown";
}

SpecLoc loc_at_offset(const SpecLoc& text_loc, size_t offset) {
  SpecLoc loc = text_loc;
  if (loc.line > 0) loc.column += loc.quote_offset + static_cast<int>(offset);
  loc.quote_offset = 0;
  return loc;
}

}  // namespace spate
