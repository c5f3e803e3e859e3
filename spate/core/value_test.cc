#include "spate/core/value.h"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace spate {
namespace {

// One byte at a time: the escapes append_json_string documents, for ASCII input (non-ASCII
// bytes are checked separately below).
std::string escape_ascii(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// The word-at-a-time scan must stop at a byte that needs escaping wherever it sits in the word.
TEST(AppendJsonString, EveryAsciiByteAtEveryOffset) {
  for (int b = 0; b < 0x80; ++b) {
    for (size_t len = 1; len <= 25; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(b);
        std::string out;
        append_json_string(out, s);
        ASSERT_EQ(out, escape_ascii(s)) << "byte " << b << " at " << at << " of " << len;
      }
    }
  }
}

TEST(AppendJsonString, Utf8IsKeptAndInvalidBytesAreEscaped) {
  for (size_t at = 0; at < 20; ++at) {
    std::string prefix(at, 'x');
    std::string out;
    append_json_string(out, prefix + "\xC3\xA9" + "yyyyyyyyyy");  // é
    EXPECT_EQ(out, "\"" + prefix + "\xC3\xA9" + "yyyyyyyyyy\"");
    out.clear();
    append_json_string(out, prefix + "\xFF" + "yyyyyyyyyy");  // never valid in UTF-8
    EXPECT_EQ(out, "\"" + prefix + "\\u00ff" + "yyyyyyyyyy\"");
  }
}

TEST(AppendJsonString, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "/product/garden/guide-1973");
  EXPECT_EQ(out, "{\"k\":\"/product/garden/guide-1973\"");
}

}  // namespace
}  // namespace spate
