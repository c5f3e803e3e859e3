#include "spate/io/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace spate {
namespace {

using Fields = std::vector<std::string>;

// Splits and copies the fields out (so the test compares values, not views).
Fields split(std::string_view line, char delimiter = ',') {
  Arena arena;
  std::vector<std::string_view> views;
  std::string error;
  EXPECT_TRUE(split_csv(line, delimiter, &views, &arena, &error)) << line << ": " << error;
  return Fields(views.begin(), views.end());
}

std::string split_error(std::string_view line, char delimiter = ',') {
  Arena arena;
  std::vector<std::string_view> views;
  std::string error;
  EXPECT_FALSE(split_csv(line, delimiter, &views, &arena, &error)) << line;
  return error;
}

bool within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

TEST(SplitCsv, SimpleFields) {
  EXPECT_EQ(split("a,b,c"), (Fields{"a", "b", "c"}));
  EXPECT_EQ(split("1767225600000,u00042137,/p/1,118.5"),
            (Fields{"1767225600000", "u00042137", "/p/1", "118.5"}));
  EXPECT_EQ(split("single"), (Fields{"single"}));
}

TEST(SplitCsv, EmptyFields) {
  EXPECT_EQ(split(""), (Fields{""}));
  EXPECT_EQ(split(","), (Fields{"", ""}));
  EXPECT_EQ(split(",,"), (Fields{"", "", ""}));
  EXPECT_EQ(split("a,,c"), (Fields{"a", "", "c"}));
  EXPECT_EQ(split(",b"), (Fields{"", "b"}));
  EXPECT_EQ(split("\"\""), (Fields{""}));
  EXPECT_EQ(split("\"\",\"\""), (Fields{"", ""}));
  EXPECT_EQ(split("a,\"\",c"), (Fields{"a", "", "c"}));
}

TEST(SplitCsv, TrailingDelimiter) {
  EXPECT_EQ(split("a,b,"), (Fields{"a", "b", ""}));
  EXPECT_EQ(split("a,\"b\","), (Fields{"a", "b", ""}));
}

TEST(SplitCsv, LineEndingsAreIgnored) {
  EXPECT_EQ(split("a,b\r"), (Fields{"a", "b"}));
  EXPECT_EQ(split("a,b\r\n"), (Fields{"a", "b"}));
  EXPECT_EQ(split("a,b\n"), (Fields{"a", "b"}));
  EXPECT_EQ(split("a,\"b\"\r\n"), (Fields{"a", "b"}));
  EXPECT_EQ(split("a,\r"), (Fields{"a", ""}));
  EXPECT_EQ(split("\r\n"), (Fields{""}));
  // Only one line ending is removed; a \r inside a quoted field is data.
  EXPECT_EQ(split("\"x\ry\",z"), (Fields{"x\ry", "z"}));
}

TEST(SplitCsv, QuotedFields) {
  EXPECT_EQ(split("\"a\",\"b\""), (Fields{"a", "b"}));
  EXPECT_EQ(split("\"hello, world\",2"), (Fields{"hello, world", "2"}));
  EXPECT_EQ(split("1,\"a,b,c\""), (Fields{"1", "a,b,c"}));
  EXPECT_EQ(split("\" spaced \""), (Fields{" spaced "}));
}

TEST(SplitCsv, EscapedQuotes) {
  EXPECT_EQ(split("\"say \"\"hi\"\"\",x"), (Fields{"say \"hi\"", "x"}));
  EXPECT_EQ(split("\"\"\"\""), (Fields{"\""}));
  EXPECT_EQ(split("\"\"\"\"\"\""), (Fields{"\"\""}));
  EXPECT_EQ(split("\"a\"\"\",\"\"\"b\""), (Fields{"a\"", "\"b"}));
  EXPECT_EQ(split("\"\"\",\"\"\""), (Fields{"\",\""}));
}

TEST(SplitCsv, QuoteInsideUnquotedFieldIsData) {
  EXPECT_EQ(split("5\" screen,ok"), (Fields{"5\" screen", "ok"}));
  EXPECT_EQ(split("a\"\"b"), (Fields{"a\"\"b"}));
}

TEST(SplitCsv, SpacesAreData) {
  EXPECT_EQ(split(" a , b "), (Fields{" a ", " b "}));
  EXPECT_EQ(split(" \"a\""), (Fields{" \"a\""}));  // not a quoted field: it starts with a space
}

TEST(SplitCsv, OtherDelimiters) {
  EXPECT_EQ(split("a;b;\"c;d\"", ';'), (Fields{"a", "b", "c;d"}));
  EXPECT_EQ(split("a\tb\t\t", '\t'), (Fields{"a", "b", "", ""}));
  EXPECT_EQ(split("a,b|c", '|'), (Fields{"a,b", "c"}));
}

TEST(SplitCsv, ViewsIntoLineUnlessUnescaped) {
  const std::string line = "plain,\"quoted\",\"esc\"\"aped\"";
  Arena arena;
  std::vector<std::string_view> fields;
  ASSERT_TRUE(split_csv(line, ',', &fields, &arena, nullptr));
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_TRUE(within(fields[0], line));
  EXPECT_TRUE(within(fields[1], line));
  EXPECT_FALSE(within(fields[2], line));  // unescaped copy in the arena
  EXPECT_EQ(fields[2], "esc\"aped");
}

TEST(SplitCsv, ClearsFieldsAndReusesArena) {
  Arena arena;
  std::vector<std::string_view> fields{"stale", "stale"};
  ASSERT_TRUE(split_csv("x", ',', &fields, &arena, nullptr));
  EXPECT_EQ(fields, (std::vector<std::string_view>{"x"}));
  for (int i = 0; i < 10000; ++i) {
    arena.reset();
    ASSERT_TRUE(split_csv("\"a\"\"b\",\"c\"\"d\"", ',', &fields, &arena, nullptr));
    ASSERT_EQ(fields[0], "a\"b");
    ASSERT_EQ(fields[1], "c\"d");
  }
  EXPECT_EQ(arena.bytes_reserved(), Arena::kBlockSize);
}

TEST(SplitCsv, UnterminatedQuote) {
  EXPECT_EQ(split_error("\"abc"), "csv: unterminated quoted field starting at column 1");
  EXPECT_EQ(split_error("a,\"b,c"), "csv: unterminated quoted field starting at column 3");
  EXPECT_EQ(split_error("a,\"b\"\"\r\n"), "csv: unterminated quoted field starting at column 3");
  EXPECT_EQ(split_error("\""), "csv: unterminated quoted field starting at column 1");
  EXPECT_EQ(split_error("x,\""), "csv: unterminated quoted field starting at column 3");
}

TEST(SplitCsv, CharacterAfterClosingQuote) {
  const std::string e = split_error("\"a\"b,c");
  EXPECT_NE(e.find("unexpected character 'b' after closing quote at column 4"), std::string::npos)
      << e;
  const std::string e2 = split_error("1,\"x\" ,2");
  EXPECT_NE(e2.find("' ' after closing quote at column 6"), std::string::npos) << e2;
  const std::string e3 = split_error("\"a\"\"\"b");  // "a""" then b
  EXPECT_NE(e3.find("'b' after closing quote at column 6"), std::string::npos) << e3;
  EXPECT_EQ(split("\"a\"\"\"\"b\""), (Fields{"a\"\"b"}));
}

TEST(SplitCsv, BadDelimiterAndNullError) {
  EXPECT_FALSE(split_error("a\"b", '"').empty());
  EXPECT_FALSE(split_error("a", '\n').empty());
  Arena arena;
  std::vector<std::string_view> fields;
  EXPECT_FALSE(split_csv("\"open", ',', &fields, &arena, nullptr));  // error may be null
}

TEST(AppendCsvField, QuotesOnlyWhenNeeded) {
  auto field = [](std::string_view s, char d = ',') {
    std::string out;
    append_csv_field(out, s, d);
    return out;
  };
  EXPECT_EQ(field("plain"), "plain");
  EXPECT_EQ(field(""), "");
  EXPECT_EQ(field(" spaced "), " spaced ");
  EXPECT_EQ(field("a,b"), "\"a,b\"");
  EXPECT_EQ(field("a;b"), "a;b");
  EXPECT_EQ(field("a;b", ';'), "\"a;b\"");
  EXPECT_EQ(field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(field("\""), "\"\"\"\"");
  EXPECT_EQ(field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(field("cr\r"), "\"cr\r\"");
  std::string out = "x,";
  append_csv_field(out, "y", ',');
  EXPECT_EQ(out, "x,y");  // appends, never clears
}

TEST(AppendCsvField, RoundTripsThroughSplit) {
  const std::vector<std::string> values = {"",        "a",         "a,b", "\"",   "\"\"",
                                           "x\"y",    " sp ",      ",",   ",\",", "end\"",
                                           "\"start", "tab\there", "x\ry"};
  for (char d : {',', ';', '\t', '|'}) {
    std::string line;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) line.push_back(d);
      append_csv_field(line, values[i], d);
    }
    EXPECT_EQ(split(line, d), values) << "delimiter " << static_cast<int>(d) << ": " << line;
  }
}

}  // namespace
}  // namespace spate
