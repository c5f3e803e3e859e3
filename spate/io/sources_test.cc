#include "spate/io/sources.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

namespace spate {
namespace {

// Collects every chunk a source emits, as (position, bytes).
class Collect final : public ChunkEmitter {
 public:
  RawChunk* acquire() override {
    chunks_.push_back(std::make_unique<RawChunk>());
    return chunks_.back().get();
  }
  void emit(RawChunk* c) override { got.emplace_back(c->position, std::string(c->data.data(), c->size)); }
  void dead_letter(DeadReason, const StreamInfo&, uint64_t, std::string_view, std::string_view) override {}
  bool stopping() const override { return false; }
  std::vector<std::pair<uint64_t, std::string>> got;

 private:
  std::vector<std::unique_ptr<RawChunk>> chunks_;
};

std::string all(const Collect& c) {
  std::string s;
  for (const auto& [pos, bytes] : c.got) s += bytes;
  return s;
}

TEST(FileSource, PositionAndSeekResumeAtTheSameEvent) {
  char dir[] = "/tmp/spate-src-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string a = std::string(dir) + "/a.jsonl", b = std::string(dir) + "/b.jsonl";
  std::ofstream(a) << "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
  std::ofstream(b) << "{\"n\":4}\n";
  SourceOptions o;
  o.type = "file";
  o.path = std::string(dir) + "/*.jsonl";
  auto src = make_source(o);
  ASSERT_TRUE(src.is_ok()) << src.status().message();
  Collect first;
  ASSERT_TRUE((*src)->run(first).is_ok());
  EXPECT_EQ(all(first), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
  EXPECT_EQ((*src)->position(), b + ":8");

  // Rewind to the second event of a.jsonl: replay from there, then b.jsonl.
  ASSERT_TRUE((*src)->seek(a + ":8").is_ok());
  Collect replay;
  ASSERT_TRUE((*src)->run(replay).is_ok());
  EXPECT_EQ(all(replay), "{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
  EXPECT_EQ(replay.got.front().first, 8u);

  EXPECT_FALSE((*src)->seek(a + ":5").is_ok());          // mid-event
  EXPECT_FALSE((*src)->seek("/nope.jsonl:0").is_ok());   // not one of its files
  EXPECT_FALSE((*src)->seek("garbage").is_ok());
  std::remove(a.c_str());
  std::remove(b.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace spate
