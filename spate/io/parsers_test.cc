#include "spate/io/parsers.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spate {
namespace {

// Parses `input` (JSON lines) reading `paths`; returns one line per good event: the values of
// the slots as JSON, separated by " | ". Dead letters go to a temporary file, counted in *dead.
std::vector<std::string> parse_json(const std::vector<std::string>& paths, const std::string& input,
                                    uint64_t* dead = nullptr) {
  InputSchema schema;
  schema.format = Format::kJson;
  for (const auto& p : paths) schema.fields.push_back(InputField{p, ExprType::kAny});
  char dl_path[] = "/tmp/spate-parsers-dl-XXXXXX";
  int fd = mkstemp(dl_path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  auto dl = DeadLetterOutput::open(dl_path);
  EXPECT_TRUE(dl.is_ok());
  auto parser = make_record_parser(schema, dl->get());
  auto stream = std::make_shared<StreamInfo>();
  stream->source = "test";
  stream->id = 1;
  stream->input = 1;
  RawChunk chunk;
  chunk.assign(input.data(), input.size());
  chunk.stream = stream;
  RecordBatch batch;
  batch.reset(parser->slots());
  parser->parse(chunk, batch);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < batch.size(); ++i) {
    std::string line;
    for (uint32_t s = 0; s < batch.slots(); ++s) {
      if (s) line += " | ";
      append_json(line, batch.record(i)[s]);
    }
    out.push_back(line);
  }
  if (dead) *dead = (*dl)->total();
  dl->reset();
  std::remove(dl_path);
  return out;
}

using Lines = std::vector<std::string>;

TEST(JsonParser, FieldAndPathUnderItTogether) {
  // The bug: with `a` and `a.b` both used, `a.b` read as null.
  EXPECT_EQ(parse_json({"a", "a.b"}, "{\"a\":{\"b\":1,\"c\":2},\"z\":1}\n"),
            (Lines{R"("{\"b\":1,\"c\":2}" | 1)"}));
  // Either order of the fields.
  EXPECT_EQ(parse_json({"a.b", "a"}, "{\"a\":{\"b\":\"x\"}}\n"), (Lines{R"("x" | "{\"b\":\"x\"}")"}));
  // Fields after the object are still read; blanks around the object are not part of `a`.
  EXPECT_EQ(parse_json({"a", "a.b", "z"}, "{ \"a\" : { \"b\" : 1 } , \"z\" : 2 }\n"),
            (Lines{R"("{ \"b\" : 1 }" | 1 | 2)"}));
}

TEST(JsonParser, DeeperCombinations) {
  const std::vector<std::string> paths = {"a", "a.b", "a.b.c", "a.c"};
  EXPECT_EQ(parse_json(paths, "{\"a\":{\"b\":{\"c\":3,\"d\":4},\"c\":true},\"e\":0}\n"),
            (Lines{R"("{\"b\":{\"c\":3,\"d\":4},\"c\":true}" | "{\"c\":3,\"d\":4}" | 3 | true)"}));
  // `a.b` not an object: `a.b.c` is null; `a.c` still read.
  EXPECT_EQ(parse_json(paths, "{\"a\":{\"b\":7,\"c\":\"s\"}}\n"),
            (Lines{R"("{\"b\":7,\"c\":\"s\"}" | 7 | null | "s")"}));
  // Without `a` itself.
  EXPECT_EQ(parse_json({"a.b", "a.b.c", "a.c"}, "{\"a\":{\"c\":1,\"b\":{\"c\":2}}}\n"),
            (Lines{R"("{\"c\":2}" | 2 | 1)"}));
  // Empty object, missing `a`.
  EXPECT_EQ(parse_json(paths, "{\"a\":{}}\n{\"x\":1}\n"),
            (Lines{R"("{}" | null | null | null)", "null | null | null | null"}));
}

TEST(JsonParser, NonObjectParent) {
  const std::vector<std::string> paths = {"a", "a.b"};
  EXPECT_EQ(parse_json(paths, "{\"a\":5}\n{\"a\":\"s\"}\n{\"a\":null}\n{\"a\":[{\"b\":1}]}\n"),
            (Lines{"5 | null", R"("s" | null)", "null | null", R"("[{\"b\":1}]" | null)"}));
  // An array under `a` with only `a.b` used.
  EXPECT_EQ(parse_json({"a.b"}, "{\"a\":[1,2] ,\"b\":1}\n"), (Lines{"null"}));
  EXPECT_EQ(parse_json({"a"}, "{\"a\":[1,2] ,\"b\":1}\n"), (Lines{R"("[1,2]")"}));
}

TEST(JsonParser, DuplicateKeysLastOccurrenceWins) {
  const std::vector<std::string> paths = {"a", "a.b", "a.c"};
  EXPECT_EQ(parse_json(paths, "{\"a\":{\"b\":1},\"a\":{\"c\":2}}\n"),
            (Lines{R"("{\"c\":2}" | null | 2)"}));
  EXPECT_EQ(parse_json(paths, "{\"a\":{\"b\":1},\"a\":5}\n"), (Lines{"5 | null | null"}));
  EXPECT_EQ(parse_json(paths, "{\"a\":5,\"a\":{\"b\":1}}\n"), (Lines{R"("{\"b\":1}" | 1 | null)"}));
  EXPECT_EQ(parse_json({"a.b"}, "{\"a\":{\"b\":1},\"a\":{\"c\":2}}\n"), (Lines{"null"}));
  EXPECT_EQ(parse_json({"a.b"}, "{\"a\":{\"b\":1,\"b\":3}}\n"), (Lines{"3"}));
  EXPECT_EQ(parse_json({"x"}, "{\"x\":1,\"x\":2}\n"), (Lines{"2"}));
}

TEST(JsonParser, BadJsonInsideAnObjectThatIsAlsoReadWhole) {
  uint64_t dead = 0;
  EXPECT_EQ(parse_json({"a", "a.b"}, "{\"a\":{\"b\":1,}}\n{\"a\":{\"b\":2}}\n", &dead),
            (Lines{R"("{\"b\":2}" | 2)"}));
  EXPECT_EQ(dead, 1u);
  EXPECT_EQ(parse_json({"a", "a.b"}, "{\"a\":{\"b\":1}} x\n", &dead), Lines{});
  EXPECT_EQ(dead, 1u);
}

}  // namespace
}  // namespace spate
