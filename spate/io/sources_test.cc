#include "spate/io/sources.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
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
  void emit(RawChunk* c) override {
    got.emplace_back(c->position, std::string(c->data.data(), c->size));
    std::string h;
    for (const auto& col : c->stream->csv_header) h += (h.empty() ? "" : ",") + col;
    headers.push_back(h);
    sources.push_back(c->stream->source);
    bytes += c->size;
  }
  void dead_letter(DeadReason, const StreamInfo&, uint64_t, std::string_view, std::string_view) override {}
  // Follow mode never ends by itself: stop once stop_after bytes came (or after a bounded
  // number of polls, so that a failing test ends).
  bool stopping() const override {
    return stop_after > 0 && (bytes >= stop_after || ++polls > 50000);
  }
  std::vector<std::pair<uint64_t, std::string>> got;
  std::vector<std::string> headers;  // per chunk: its stream's CSV header row, comma-joined
  std::vector<std::string> sources;  // per chunk: $source
  size_t bytes = 0;
  size_t stop_after = 0;             // 0: never stop
  mutable size_t polls = 0;

 private:
  std::vector<std::unique_ptr<RawChunk>> chunks_;
};

std::string all(const Collect& c) {
  std::string s;
  for (const auto& [pos, bytes] : c.got) s += bytes;
  return s;
}

// Chunks from a source running in another thread, per stream (TCP connection).
class SharedCollect final : public ChunkEmitter {
 public:
  RawChunk* acquire() override {
    std::lock_guard<std::mutex> lk(mu_);
    chunks_.push_back(std::make_unique<RawChunk>());
    return chunks_.back().get();
  }
  void emit(RawChunk* c) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::string& s = text[c->stream->remote_port];
    EXPECT_EQ(c->position, s.size()) << "chunks of a connection are contiguous, in order";
    s.append(c->data.data(), c->size);
    ++chunks;
    bytes += c->size;
  }
  void dead_letter(DeadReason, const StreamInfo&, uint64_t, std::string_view, std::string_view) override {}
  bool stopping() const override { return stop.load(); }
  size_t total() {
    std::lock_guard<std::mutex> lk(mu_);
    return bytes;
  }

  std::atomic<bool> stop{false};
  std::mutex mu_;
  std::map<int, std::string> text;  // by the client's port
  size_t chunks = 0, bytes = 0;

 private:
  std::vector<std::unique_ptr<RawChunk>> chunks_;
};

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
int local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// Micro-batch mode: the TCP source holds each connection's lines and hands them on in large
// chunks, once per batch or per chunk_bytes. Nothing is lost, split or reordered, a line cut
// between two writes is whole, and a connection that stays open gets its lines at the next cut.
TEST(TcpSource, MicroBatchHoldsLinesAndHandsThemOnWhole) {
  SourceOptions o;
  o.type = "tcp";
  o.listen = "127.0.0.1:0";
  o.batch_interval_ms = 20;
  o.chunk_bytes = 4096;
  auto src = make_source(o);
  ASSERT_TRUE(src) << src.status().message();
  const std::string d = (*src)->describe();  // "tcp 127.0.0.1:PORT"
  const int port = std::atoi(d.c_str() + d.rfind(':') + 1);
  SharedCollect got;
  Status run_status;
  std::thread t([&] { run_status = (*src)->run(got); });

  // Three clients, 3000 lines each, written a few bytes at a time so lines straddle writes.
  std::map<int, std::string> sent;
  std::vector<int> fds;
  for (int c = 0; c < 3; ++c) {
    int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    std::string& s = sent[local_port(fd)];
    for (int i = 0; i < 3000; ++i) s += fmt::format("{{\"client\":{},\"seq\":{}}}\n", c, i);
  }
  size_t writes = 0;
  for (size_t at = 0; at < sent.begin()->second.size() * 2; at += 37) {
    for (int fd : fds) {
      const std::string& s = sent[local_port(fd)];
      if (at >= s.size()) continue;
      size_t n = std::min<size_t>(37, s.size() - at);
      ASSERT_EQ(::write(fd, s.data() + at, n), static_cast<ssize_t>(n));
      ++writes;
    }
  }
  // The last client stays open: its lines must arrive at a batch cut, not at its close.
  for (size_t k = 0; k + 1 < fds.size(); ++k) ::close(fds[k]);
  size_t want = 0;
  for (const auto& [p, s] : sent) want += s.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.total() < want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(got.total(), want);
  got.stop = true;
  t.join();
  ::close(fds.back());
  EXPECT_TRUE(run_status.is_ok());
  EXPECT_EQ(got.text, sent);
  // Held, not one chunk per read: about chunk_bytes per chunk (plus a partial one per cut).
  EXPECT_LT(got.chunks, writes / 10) << writes << " writes";
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

// A temporary directory, removed with its files.
class Dir {
 public:
  Dir() {
    char d[] = "/tmp/spate-src-XXXXXX";
    EXPECT_NE(mkdtemp(d), nullptr);
    path_ = d;
  }
  ~Dir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text, bool append = false) const {
    std::ofstream(file(name), append ? std::ios::app : std::ios::trunc) << text;
    return file(name);
  }

 private:
  std::string path_;
};

uint64_t inode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_ino);
}

uint64_t inode_of_fd(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<uint64_t>(st.st_ino);
}

std::unique_ptr<Source> source(const SourceOptions& o) {
  auto src = make_source(o);
  EXPECT_TRUE(src.is_ok()) << src.status().message();
  return src.is_ok() ? std::move(*src) : nullptr;
}

TEST(FileSource, CsvHeaderRowIsReadAgainWhenResumingPastIt) {
  Dir dir;
  std::string a = dir.write("a.csv", "x,y\r\n1,2\n3,4\n");
  SourceOptions o;
  o.type = "file";
  o.path = a;
  o.csv_header = true;
  auto src = source(o);
  ASSERT_TRUE(src);
  Collect first;
  ASSERT_TRUE(src->run(first).is_ok());
  EXPECT_EQ(all(first), "1,2\n3,4\n");
  EXPECT_EQ(first.headers.front(), "x,y");
  EXPECT_EQ(src->position(), a + ":13");

  ASSERT_TRUE(src->seek(a + ":9").is_ok());
  Collect replay;
  ASSERT_TRUE(src->run(replay).is_ok());
  EXPECT_EQ(all(replay), "3,4\n");
  EXPECT_EQ(replay.got.front().first, 9u);
  for (const auto& h : replay.headers) EXPECT_EQ(h, "x,y");

  ASSERT_TRUE(src->seek(a + ":5").is_ok());  // just past the header
  Collect after_header;
  ASSERT_TRUE(src->run(after_header).is_ok());
  EXPECT_EQ(all(after_header), "1,2\n3,4\n");
  EXPECT_EQ(after_header.headers.front(), "x,y");

  ASSERT_TRUE(src->seek(a + ":0").is_ok());  // the beginning: the header row as usual
  Collect from_start;
  ASSERT_TRUE(src->run(from_start).is_ok());
  EXPECT_EQ(all(from_start), "1,2\n3,4\n");
  EXPECT_EQ(from_start.headers.front(), "x,y");

  EXPECT_FALSE(src->seek(a + ":2").is_ok());  // inside the header row
  EXPECT_FALSE(src->seek(a + ":9x").is_ok());
}

TEST(FileSource, CsvHeaderOverUdpIsRefused) {
  SourceOptions o;
  o.type = "udp";
  o.listen = "127.0.0.1:0";
  o.csv_header = true;
  auto src = make_source(o);
  ASSERT_FALSE(src.is_ok());
  EXPECT_NE(src.status().message().find("declare the columns"), std::string::npos);
}

SourceOptions followed(const std::string& path) {
  SourceOptions o;
  o.type = "file";
  o.path = path;
  o.follow = true;
  o.follow_poll_ms = 1;
  return o;
}

// A followed file holding "e1\ne2\n", read to its end by a first source: that source's
// position (the checkpoint a restarted process resumes from).
std::string position_after_reading(const std::string& path) {
  auto src = source(followed(path));
  if (!src) {
    ADD_FAILURE() << "cannot open " << path;
    return {};
  }
  Collect first;
  first.stop_after = 6;
  EXPECT_TRUE(src->run(first).is_ok());
  EXPECT_EQ(all(first), "e1\ne2\n");
  return src->position();
}

TEST(FollowedFile, PositionHoldsTheInodeAndSeekResumesThere) {
  Dir dir;
  std::string a = dir.write("a.log", "e1\ne2\n");
  const std::string pos = position_after_reading(a);
  EXPECT_EQ(pos, fmt::format("{}:6:inode={}", a, inode_of(a)));

  // A new source (a restarted process): resumes after e2, not at the beginning.
  dir.write("a.log", "e3\n", true);
  auto again = source(followed(a));
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->seek(pos).is_ok());
  Collect resumed;
  resumed.stop_after = 3;
  ASSERT_TRUE(again->run(resumed).is_ok());
  EXPECT_EQ(all(resumed), "e3\n");
  EXPECT_EQ(resumed.got.front().first, 6u);

  EXPECT_FALSE(again->seek(fmt::format("{}:4:inode={}", a, inode_of(a))).is_ok());  // mid-event
  EXPECT_FALSE(again->seek(a + ":3").is_ok());                                      // no inode
  EXPECT_FALSE(again->seek(dir.file("b.log") + ":0:inode=1").is_ok());  // not its file
}

TEST(FollowedFile, RotatedSinceTheCheckpointTheOldFileIsFinishedFirst) {
  Dir dir;
  std::string a = dir.write("a.log", "e1\ne2\n");
  const std::string pos = position_after_reading(a);
  ASSERT_FALSE(pos.empty());

  // After the checkpoint: e3 appended, then a rotation (a.log -> a.log.1, a new a.log).
  dir.write("a.log", "e3\n", true);
  ASSERT_EQ(std::rename(a.c_str(), dir.file("a.log.1").c_str()), 0);
  dir.write("a.log", "n1\nn2\n");
  auto again = source(followed(a));
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->seek(pos).is_ok());
  Collect resumed;
  resumed.stop_after = 9;
  ASSERT_TRUE(again->run(resumed).is_ok());
  EXPECT_EQ(all(resumed), "e3\nn1\nn2\n");
  for (const auto& s : resumed.sources) EXPECT_EQ(s, a);  // $source: the path followed
  EXPECT_EQ(again->position(), fmt::format("{}:6:inode={}", a, inode_of(a)));
}

TEST(FollowedFile, StoppedInsideTheRotatedFileResumesThere) {
  Dir dir;
  std::string a = dir.write("a.log", "e1\n");
  const std::string pos = fmt::format("{}:3:inode={}", a, inode_of(a));
  dir.write("a.log", "e2\ne3\n", true);
  std::string old = dir.file("a.log.1");
  ASSERT_EQ(std::rename(a.c_str(), old.c_str()), 0);
  dir.write("a.log", "n1\n");

  SourceOptions o = followed(a);
  o.chunk_bytes = 3;  // one event per read
  auto src = source(o);
  ASSERT_TRUE(src);
  ASSERT_TRUE(src->seek(pos).is_ok());
  Collect part;
  part.stop_after = 3;
  ASSERT_TRUE(src->run(part).is_ok());
  EXPECT_EQ(all(part), "e2\n");
  // Still in the old file (by its inode), after e2.
  EXPECT_EQ(src->position(), fmt::format("{}:6:inode={}", a, inode_of(old)));

  auto again = source(followed(a));
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->seek(src->position()).is_ok());
  Collect rest;
  rest.stop_after = 6;
  ASSERT_TRUE(again->run(rest).is_ok());
  EXPECT_EQ(all(rest), "e3\nn1\n");
}

TEST(FollowedFile, RotatedAwayForGoodTheNewFileIsReadFromItsStart) {
  Dir dir;
  std::string a = dir.write("a.log", "e1\ne2\n");
  const std::string pos = position_after_reading(a);
  ASSERT_FALSE(pos.empty());

  // The old file is gone (rotated and deleted): its rest is lost, the new file is read whole.
  // (An open descriptor keeps the old inode from being given to the new file.)
  ASSERT_EQ(std::rename(a.c_str(), dir.file("old").c_str()), 0);
  int held = ::open(dir.file("old").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::unlink(dir.file("old").c_str()), 0);
  dir.write("a.log", "n1\n");
  EXPECT_NE(inode_of(a), inode_of_fd(held));
  auto again = source(followed(a));
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->seek(pos).is_ok());
  Collect resumed;
  resumed.stop_after = 3;
  ASSERT_TRUE(again->run(resumed).is_ok());
  EXPECT_EQ(all(resumed), "n1\n");
  ::close(held);

  // Truncated since the checkpoint (same inode, now shorter): from the beginning.
  std::string b = dir.write("b.log", "0123456789\nabc\n");
  auto bs = source(followed(b));
  ASSERT_TRUE(bs);
  std::string bpos = fmt::format("{}:15:inode={}", b, inode_of(b));
  dir.write("b.log", "t\n");
  ASSERT_TRUE(bs->seek(bpos).is_ok());
  Collect truncated;
  truncated.stop_after = 2;
  ASSERT_TRUE(bs->run(truncated).is_ok());
  EXPECT_EQ(all(truncated), "t\n");
}

TEST(FollowedFile, CsvHeaderAndSeveralFiles) {
  Dir dir;
  std::string a = dir.write("a.csv", "k,v\na,1\na,2\n");
  std::string b = dir.write("b.csv", "v,k\n3,b\n");
  SourceOptions o = followed(dir.file("*.csv"));
  o.csv_header = true;
  auto src = source(o);
  ASSERT_TRUE(src);
  Collect first;
  first.stop_after = 12;
  ASSERT_TRUE(src->run(first).is_ok());
  // One line per file.
  EXPECT_EQ(src->position(), fmt::format("{}:12:inode={}\n{}:8:inode={}", a, inode_of(a), b,
                                         inode_of(b)));

  // Resume a.csv after its first row and b.csv at its end; both keep their header.
  dir.write("b.csv", "4,c\n", true);
  auto again = source(o);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->seek(fmt::format("{}:8:inode={}\n{}:8:inode={}", a, inode_of(a), b,
                                      inode_of(b)))
                  .is_ok());
  Collect resumed;
  resumed.stop_after = 8;
  ASSERT_TRUE(again->run(resumed).is_ok());
  ASSERT_EQ(resumed.got.size(), 2u);
  EXPECT_EQ(resumed.got[0].second, "a,2\n");
  EXPECT_EQ(resumed.headers[0], "k,v");
  EXPECT_EQ(resumed.got[1].second, "4,c\n");
  EXPECT_EQ(resumed.headers[1], "v,k");
}

}  // namespace
}  // namespace spate
