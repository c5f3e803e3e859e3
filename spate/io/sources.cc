#include "spate/io/sources.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "spate/common/time.h"
#include "spate/io/csv.h"

namespace spate {

namespace {

std::atomic<uint64_t> g_stream_ids{1};

std::shared_ptr<StreamInfo> new_stream(std::string source, std::string ip = {}, int port = 0) {
  auto s = std::make_shared<StreamInfo>();
  s->source = std::move(source);
  s->remote_ip = std::move(ip);
  s->remote_port = port;
  s->id = g_stream_ids.fetch_add(1);
  s->input = s->id;
  return s;
}

// Cuts a byte stream into chunks of whole lines. Lines longer than max_event_bytes never make it
// into memory whole: their first 4 KiB go to the dead-letter output (oversize) and the rest is
// skipped. A CSV header row, when expected, becomes part of the stream's info.
class LineAssembler {
 public:
  LineAssembler(const SourceOptions& o, std::shared_ptr<StreamInfo> stream, uint64_t position)
      : opts_(o), stream_(std::move(stream)), position_(position), want_header_(o.csv_header) {}

  // Feeds bytes; emits chunks of complete lines. Returns false if the pipeline is stopping.
  bool feed(ChunkEmitter& out, const char* p, size_t n) {
    while (n > 0) {
      if (discarding_) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        if (!nl) {
          position_ += n;
          return true;
        }
        size_t k = static_cast<size_t>(nl - p) + 1;
        position_ += k;
        p += k;
        n -= k;
        discarding_ = false;
        continue;
      }
      if (want_header_) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        if (!nl) {
          if (!append_partial(out, p, n)) return true;
          return true;
        }
        size_t k = static_cast<size_t>(nl - p);
        partial_.append(p, k);
        take_header(partial_);
        position_ += partial_.size() + 1;
        partial_.clear();
        p += k + 1;
        n -= k + 1;
        continue;
      }
      // Last newline of this block: everything before it is whole lines.
      const char* last = static_cast<const char*>(memrchr(p, '\n', n));
      if (!last) {
        append_partial(out, p, n);
        return true;
      }
      size_t whole = static_cast<size_t>(last - p) + 1;
      if (!(hold_bytes_ ? hold(out, p, whole) : emit(out, p, whole))) return false;
      p += whole;
      n -= whole;
    }
    return true;
  }

  // End of stream: the last line may lack its newline.
  bool finish(ChunkEmitter& out) {
    bool ok = flush(out);
    if (!ok || discarding_ || partial_.empty()) {
      ok = true;
    } else if (want_header_) {
      take_header(partial_);
      partial_.clear();
    } else {
      ok = emit(out, nullptr, 0);
    }
    out.end_input(*stream_);
    return ok;
  }

  // Micro-batch mode: whole lines are held (up to `bytes`) and emitted by flush() at the batch's
  // end, so a batch travels as a few large chunks instead of one chunk per read. 0: emit each
  // read's lines at once (per-event mode).
  void set_holding(size_t bytes) { hold_bytes_ = bytes; }
  // Emits the held lines, if any. Returns false if the pipeline is stopping.
  bool flush(ChunkEmitter& out) {
    if (held_.empty()) return true;
    if (!emit_bytes(out, held_.data(), held_.size(), nullptr, 0, held_since_ms_)) return false;
    held_.clear();
    return true;
  }

  // The stream offset of the first byte not yet emitted (held lines are not emitted yet).
  uint64_t position() const { return position_; }
  // Resuming past a CSV header row: the row, read again from the start of the file, names the
  // columns of what follows.
  void set_header(std::string_view line) { take_header(line); }
  void reset(uint64_t position) {
    position_ = position;
    partial_.clear();
    held_.clear();
    discarding_ = false;
    want_header_ = opts_.csv_header;
  }

 private:
  bool append_partial(ChunkEmitter& out, const char* p, size_t n) {
    if (partial_.size() + n > opts_.max_event_bytes) {
      flush(out);  // held lines come first in the stream (and in position_)
      std::string head = partial_;
      head.append(p, std::min(n, size_t{4096}));
      out.dead_letter(DeadReason::kOversize, *stream_, position_, head.substr(0, 4096),
                      fmt::format("event exceeds max_event_size ({} bytes)", opts_.max_event_bytes));
      position_ += partial_.size() + n;
      partial_.clear();
      discarding_ = true;
      return false;
    }
    partial_.append(p, n);
    return true;
  }

  void take_header(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> fields;
    Arena arena;
    std::string err;
    auto info = std::make_shared<StreamInfo>(*stream_);
    info->id = g_stream_ids.fetch_add(1);
    if (split_csv(line, opts_.csv_delimiter, &fields, &arena, &err)) {
      for (auto f : fields) info->csv_header.emplace_back(f);
    }
    stream_ = std::move(info);
    want_header_ = false;
  }

  // Emits partial_ + [p, p+n) as one chunk (n may be 0 at end of stream).
  bool emit(ChunkEmitter& out, const char* p, size_t n) {
    if (!emit_bytes(out, partial_.data(), partial_.size(), p, n, wall_clock_ms())) return false;
    partial_.clear();
    return true;
  }
  // Holds partial_ + [p, p+n) (whole lines) after the held ones; emits them all once they reach
  // hold_bytes_.
  bool hold(ChunkEmitter& out, const char* p, size_t n) {
    if (held_.empty()) held_since_ms_ = wall_clock_ms();
    held_.append(partial_);
    partial_.clear();
    held_.append(p, n);
    return held_.size() < hold_bytes_ || flush(out);
  }
  // Emits [a, a+na) + [b, b+nb) as one chunk, the stream's next bytes; `ingest_ms` is when they
  // were read (the first of them, for held lines).
  bool emit_bytes(ChunkEmitter& out, const char* a, size_t na, const char* b, size_t nb,
                  int64_t ingest_ms) {
    RawChunk* c = out.acquire();
    if (!c) return false;
    size_t total = na + nb;
    if (c->data.size() < total + RawChunk::kChunkPadding) c->data.resize(total + RawChunk::kChunkPadding);
    if (na) std::memcpy(c->data.data(), a, na);
    if (nb) std::memcpy(c->data.data() + na, b, nb);
    std::memset(c->data.data() + total, 0, RawChunk::kChunkPadding);
    c->size = total;
    c->stream = stream_;
    c->position = position_;
    c->ingest_time_ms = ingest_ms;
    c->datagram = false;
    out.emit(c);
    position_ += total;
    return true;
  }

  const SourceOptions& opts_;
  std::shared_ptr<StreamInfo> stream_;
  uint64_t position_;
  bool want_header_;
  bool discarding_ = false;
  std::string partial_;  // the start of a line whose newline has not been read yet
  size_t hold_bytes_ = 0;
  std::string held_;     // micro-batch: whole lines read and not yet emitted (before partial_)
  int64_t held_since_ms_ = 0;
};

// Micro-batch mode: when sources cut their batches. Held lines are emitted shortly before each
// batch boundary of the engine (multiples of the interval on the wall clock) so that they reach
// a worker before it closes that batch.
class BatchClock {
 public:
  explicit BatchClock(int64_t interval_ms)
      : interval_(interval_ms), lead_(std::min<int64_t>(2, interval_ms / 4)) {}
  bool enabled() const { return interval_ > 0; }
  // True once per batch, at its cut.
  bool due(int64_t now_ms) {
    if (!enabled() || now_ms < next_) return false;
    next_ = next_batch_boundary(now_ms + lead_, interval_) - lead_;
    return true;
  }
  // How long a poll may wait before the next cut (at most cap_ms).
  int wait_ms(int64_t now_ms, int cap_ms) const {
    if (!enabled()) return cap_ms;
    return static_cast<int>(std::clamp<int64_t>(next_ - now_ms, 0, cap_ms));
  }

 private:
  int64_t interval_;
  int64_t lead_;
  int64_t next_ = 0;
};

std::string errno_text() { return std::strerror(errno); }

// Reads fd until EOF (or stop) into the assembler. Returns the error, if any.
Status pump_fd(int fd, LineAssembler& la, ChunkEmitter& out, size_t chunk_bytes, bool* eof,
               const std::string& what) {
  std::vector<char> buf(chunk_bytes);
  *eof = false;
  while (!out.stopping()) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Status::ok();
      return Status::io_error(fmt::format("reading {}: {}", what, errno_text()));
    }
    if (r == 0) {
      *eof = true;
      return Status::ok();
    }
    if (!la.feed(out, buf.data(), static_cast<size_t>(r))) return Status::ok();
    if (static_cast<size_t>(r) < buf.size()) return Status::ok();  // caught up
  }
  return Status::ok();
}

// ---------------------------------------------------------------- file

// The first line of fd (a CSV header row) without its newline, read with pread (the file offset
// is unchanged). It must end before `limit`; false if it does not (or on a read error).
bool read_first_line(int fd, uint64_t limit, std::string* line) {
  line->clear();
  char buf[4096];
  uint64_t off = 0;
  while (off < limit) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), limit - off));
    ssize_t r = ::pread(fd, buf, want, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(r)));
    if (nl) {
      line->append(buf, static_cast<size_t>(nl - buf));
      return true;
    }
    line->append(buf, static_cast<size_t>(r));
    off += static_cast<uint64_t>(r);
  }
  return false;
}

// True if `offset` starts a line of fd: 0, or the byte before it is a newline.
bool starts_line(int fd, uint64_t offset) {
  if (offset == 0) return true;
  char c = 0;
  return ::pread(fd, &c, 1, static_cast<off_t>(offset - 1)) == 1 && c == '\n';
}

// Splits "PATH:OFFSET" at its last ':' (a path may hold ':').
bool split_position(std::string_view pos, std::string_view* path, uint64_t* off) {
  size_t colon = pos.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == pos.size()) return false;
  const char* end = pos.data() + pos.size();
  auto [e, ec] = std::from_chars(pos.data() + colon + 1, end, *off);
  if (ec != std::errc() || e != end) return false;
  *path = pos.substr(0, colon);
  return true;
}

// A regular file with inode `ino` in the directory of `path` (e.g. app.log renamed app.log.1 by
// a rotation), or "" if there is none.
std::string find_inode_in_dir(const std::string& path, ino_t ino) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {};
  std::string found;
  // stat() every entry: readdir's d_ino is not st_ino on every file system (overlayfs). Done
  // once per resumed file.
  while (dirent* e = ::readdir(d)) {
    std::string candidate = (dir == "/" ? "" : dir) + "/" + e->d_name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && st.st_ino == ino && S_ISREG(st.st_mode)) {
      found = std::move(candidate);
      break;
    }
  }
  ::closedir(d);
  return found;
}

class FileSource final : public Source {
 public:
  FileSource(SourceOptions o, std::vector<std::string> files)
      : o_(std::move(o)), files_(std::move(files)), follow_pos_(files_.size()) {}
  std::string describe() const override { return "file " + o_.path; }

  // Without follow: "PATH:OFFSET", the file being read and the offset of the first byte not yet
  // handed out. With follow the files are read side by side and may be renamed away by a
  // rotation: one line per file, "PATH:OFFSET:inode=N", N the inode of the file the offset is
  // in (0: none yet; its next file is read from the beginning).
  // REQUIRES: the source is not running (checkpoints read it between runs or at a barrier).
  std::string position() const override {
    if (!o_.follow) return fmt::format("{}:{}", current_file_, current_offset_);
    std::string s;
    for (size_t i = 0; i < files_.size(); ++i) {
      if (i > 0) s += '\n';
      s += fmt::format("{}:{}:inode={}", files_[i], follow_pos_[i].offset,
                       static_cast<uint64_t>(follow_pos_[i].ino));
    }
    return s;
  }

  // Rewinds to a position() value (an offset that is not at the start of a line is an error).
  // Without follow, run() then starts in that file at that offset and continues with the files
  // after it. With follow, see seek_followed. With a CSV header row, a file resumed past its
  // header reads the header again from offset 0.
  Status seek(std::string_view pos) override {
    return o_.follow ? seek_followed(pos) : seek_file(pos);
  }

  Status run(ChunkEmitter& out) override {
    if (!o_.follow) {
      for (size_t i = resume_file_; i < files_.size(); ++i) {
        Status s = read_whole(files_[i], files_[i], i == resume_file_ ? resume_offset_ : 0, out);
        if (!s) return s;
        if (out.stopping()) break;
      }
      return Status::ok();
    }
    return follow(out);
  }

 private:
  struct FollowPos {
    ino_t ino = 0;        // 0: no file seen yet
    uint64_t offset = 0;  // first byte not yet handed out
  };

  Status seek_file(std::string_view pos) {
    std::string_view path;
    uint64_t off = 0;
    if (!split_position(pos, &path, &off)) {
      return Status::invalid(fmt::format("invalid file position '{}': expected PATH:OFFSET", pos));
    }
    auto it = std::find(files_.begin(), files_.end(), path);
    if (it == files_.end()) {
      return Status::not_found(fmt::format("position '{}': '{}' is not one of this source's files", pos, path));
    }
    if (off > 0) {
      int fd = ::open(it->c_str(), O_RDONLY | O_CLOEXEC);
      bool ok = fd >= 0 && starts_line(fd, off);
      if (fd >= 0) ::close(fd);
      if (!ok) return Status::invalid(fmt::format("position '{}' is not at the start of an event", pos));
    }
    resume_file_ = static_cast<size_t>(it - files_.begin());
    resume_offset_ = off;
    return Status::ok();
  }

  // With follow: every file named resumes at its offset if the path still names the same inode
  // (if the file is now shorter than the offset, it was truncated: from its beginning, as when
  // following). If the path names another file (rotated since the checkpoint), the old file is
  // looked for by inode in the same directory (app.log.1): found, it is read from the offset to
  // its end first; not found, the rest of the old file is lost (said on stderr). Then the
  // path's current file is read from its beginning. Files not named start at their beginning.
  Status seek_followed(std::string_view pos) {
    std::vector<FollowPos> want(files_.size());
    std::vector<bool> named(files_.size(), false);
    size_t start = 0;
    while (start <= pos.size()) {
      size_t nl = pos.find('\n', start);
      std::string_view entry =
          pos.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      start = nl == std::string_view::npos ? pos.size() + 1 : nl + 1;
      constexpr std::string_view kTag = ":inode=";
      size_t tag = entry.rfind(kTag);
      uint64_t ino = 0, off = 0;
      std::string_view path;
      bool ok = tag != std::string_view::npos && tag + kTag.size() < entry.size();
      if (ok) {
        const char* end = entry.data() + entry.size();
        auto [e, ec] = std::from_chars(entry.data() + tag + kTag.size(), end, ino);
        ok = ec == std::errc() && e == end && split_position(entry.substr(0, tag), &path, &off);
      }
      if (!ok) {
        return Status::invalid(fmt::format(
            "invalid position '{}' of a followed file: expected PATH:OFFSET:inode=N", entry));
      }
      auto it = std::find(files_.begin(), files_.end(), path);
      if (it == files_.end()) {
        return Status::not_found(
            fmt::format("position '{}': '{}' is not one of this source's files", entry, path));
      }
      size_t i = static_cast<size_t>(it - files_.begin());
      if (named[i]) return Status::invalid(fmt::format("position names '{}' twice", path));
      named[i] = true;
      want[i] = FollowPos{static_cast<ino_t>(ino), off};
      // Still the same file: the offset must start an event.
      if (ino != 0 && off > 0) {
        int fd = ::open(it->c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st;
        bool same = fd >= 0 && ::fstat(fd, &st) == 0 && st.st_ino == static_cast<ino_t>(ino) &&
                    static_cast<uint64_t>(st.st_size) >= off;
        bool bad = same && !starts_line(fd, off);
        if (fd >= 0) ::close(fd);
        if (bad) {
          return Status::invalid(
              fmt::format("position '{}' is not at the start of an event", entry));
        }
      }
    }
    follow_pos_ = std::move(want);
    resume_follow_ = true;
    return Status::ok();
  }

  // Reads `path` from `offset` to its end; its events have $source `name`.
  Status read_whole(const std::string& path, const std::string& name, uint64_t offset,
                    ChunkEmitter& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::io_error(fmt::format("cannot open '{}': {}", path, errno_text()));
    LineAssembler la(o_, new_stream(name), offset);
    if (o_.csv_header && offset > 0) {
      std::string header;
      if (!read_first_line(fd, offset, &header)) {
        ::close(fd);
        return Status::invalid(fmt::format(
            "cannot resume '{}' at offset {}: no CSV header row ends before it", path, offset));
      }
      la.set_header(header);
    }
    if (offset > 0 && ::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
      ::close(fd);
      return Status::io_error(fmt::format("cannot seek '{}': {}", path, errno_text()));
    }
    current_file_ = path;
    current_offset_ = offset;
    bool eof = false;
    Status s;
    while (!eof && !out.stopping() && s.is_ok()) {
      s = pump_fd(fd, la, out, o_.chunk_bytes, &eof, path);
      current_offset_ = la.position();
    }
    if (s.is_ok() && eof) la.finish(out);
    ::close(fd);
    return s;
  }

  struct Followed {
    std::string path;
    int fd = -1;
    ino_t ino = 0;
    off_t offset = 0;
    std::unique_ptr<LineAssembler> la;
  };

  // Starts reading fd (the file `f.path` names, inode ino) at `offset`, the start of a line.
  // Past a CSV header row the row is read again from offset 0; a file without one ending before
  // the offset is read from the beginning.
  void attach(Followed& f, int fd, ino_t ino, uint64_t offset) {
    std::string header;
    bool with_header = o_.csv_header && offset > 0;
    if (with_header && !read_first_line(fd, offset, &header)) {
      offset = 0;
      with_header = false;
    }
    f.fd = fd;
    f.ino = ino;
    f.offset = static_cast<off_t>(offset);
    ::lseek(fd, f.offset, SEEK_SET);
    f.la = std::make_unique<LineAssembler>(o_, new_stream(f.path), offset);
    if (with_header) f.la->set_header(header);
  }

  bool open_followed(Followed& f, bool at_end) {
    int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    fstat(fd, &st);
    attach(f, fd, st.st_ino, at_end ? static_cast<uint64_t>(st.st_size) : 0);
    return true;
  }

  // Opens f, files_[i], at its position from seek_followed (see there).
  Status open_resumed(size_t i, Followed& f, ChunkEmitter& out) {
    const FollowPos pos = follow_pos_[i];
    if (pos.ino == 0) {
      open_followed(f, false);
      return Status::ok();
    }
    int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_ino == pos.ino) {
      bool truncated = static_cast<uint64_t>(st.st_size) < pos.offset;
      attach(f, fd, st.st_ino, truncated ? 0 : pos.offset);
      return Status::ok();
    }
    if (fd >= 0) ::close(fd);
    std::string old = find_inode_in_dir(f.path, pos.ino);
    if (!old.empty()) {
      struct stat ost;
      bool whole =
          ::stat(old.c_str(), &ost) == 0 && static_cast<uint64_t>(ost.st_size) >= pos.offset;
      uint64_t off = whole ? pos.offset : 0;  // shorter than the offset: truncated, from 0
      Status s = read_whole(old, f.path, off, out);
      if (!s) return s;
      if (out.stopping()) {  // stopped inside the old file: resume there next time
        follow_pos_[i] = FollowPos{pos.ino, current_offset_};
        return Status::ok();
      }
    } else {
      std::fprintf(stderr,
                   "spate: %s was rotated away since the checkpoint and its old file (inode %llu) "
                   "is no longer in its directory: its events after offset %llu are lost\n",
                   f.path.c_str(), static_cast<unsigned long long>(pos.ino),
                   static_cast<unsigned long long>(pos.offset));
    }
    open_followed(f, false);
    return Status::ok();
  }

  void note(size_t i, const Followed& f) {
    if (f.fd >= 0) follow_pos_[i] = FollowPos{f.ino, f.la->position()};
  }

  // tail -F: read what is there, then poll for growth, truncation (size < offset: start over)
  // and rotation (the path names another file: finish the old one, open the new one).
  Status follow(ChunkEmitter& out) {
    std::vector<Followed> fs(files_.size());
    struct CloseAll {
      std::vector<Followed>& fs;
      ~CloseAll() {
        for (auto& f : fs) {
          if (f.fd >= 0) ::close(f.fd);
        }
      }
    } close_all{fs};
    for (size_t i = 0; i < files_.size(); ++i) {
      fs[i].path = files_[i];
      if (resume_follow_) {
        // Stopped while resuming: the files not opened yet keep the positions seek() gave.
        if (out.stopping()) return Status::ok();
        Status s = open_resumed(i, fs[i], out);
        if (!s) return s;
      } else {
        open_followed(fs[i], o_.start_at_end);  // a missing file is waited for, like tail -F
      }
      note(i, fs[i]);
    }
    resume_follow_ = false;
    while (!out.stopping()) {
      bool any = false;
      for (size_t i = 0; i < fs.size(); ++i) {
        Followed& f = fs[i];
        if (f.fd < 0) {
          if (open_followed(f, false)) {
            any = true;
            note(i, f);
          }
          continue;
        }
        struct stat st;
        if (fstat(f.fd, &st) == 0 && st.st_size < f.offset) {  // truncated
          ::lseek(f.fd, 0, SEEK_SET);
          f.offset = 0;
          f.la->reset(0);
        }
        bool eof = false;
        uint64_t before = f.la->position();
        Status s = pump_fd(f.fd, *f.la, out, o_.chunk_bytes, &eof, f.path);
        if (!s) return s;
        f.offset = static_cast<off_t>(::lseek(f.fd, 0, SEEK_CUR));
        if (f.la->position() != before) any = true;
        note(i, f);
        struct stat now;
        if (eof && (::stat(f.path.c_str(), &now) != 0 || now.st_ino != f.ino)) {  // rotated
          f.la->finish(out);
          ::close(f.fd);
          f.fd = -1;
          follow_pos_[i] = FollowPos{};  // the old file is done: the next one from its start
          if (open_followed(f, false)) {
            any = true;
            note(i, f);
          }
        }
      }
      if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(o_.follow_poll_ms));
    }
    return Status::ok();
  }

  SourceOptions o_;
  std::vector<std::string> files_;
  std::string current_file_;
  uint64_t current_offset_ = 0;
  size_t resume_file_ = 0;
  uint64_t resume_offset_ = 0;
  std::vector<FollowPos> follow_pos_;  // follow: per file of files_
  bool resume_follow_ = false;         // follow: seek() set follow_pos_ for the next run()
};

// ---------------------------------------------------------------- stdin
class StdinSource final : public Source {
 public:
  explicit StdinSource(SourceOptions o) : o_(std::move(o)) {}
  std::string describe() const override { return "stdin"; }
  Status run(ChunkEmitter& out) override {
    LineAssembler la(o_, new_stream("stdin"), 0);
    BatchClock batches(o_.batch_interval_ms);
    if (batches.enabled()) la.set_holding(o_.chunk_bytes);
    std::vector<char> buf(o_.chunk_bytes);
    while (!out.stopping()) {
      if (batches.due(wall_clock_ms()) && !la.flush(out)) break;
      pollfd pfd{0, POLLIN, 0};
      int pr = ::poll(&pfd, 1, batches.wait_ms(wall_clock_ms(), 100));
      if (pr < 0 && errno != EINTR) return Status::io_error("poll stdin: " + errno_text());
      if (pr <= 0) continue;
      ssize_t r = ::read(0, buf.data(), buf.size());
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Status::io_error("reading stdin: " + errno_text());
      }
      if (r == 0) break;
      if (!la.feed(out, buf.data(), static_cast<size_t>(r))) break;
    }
    la.finish(out);
    return Status::ok();
  }

 private:
  SourceOptions o_;
};

Status make_listen_socket(int type, const std::string& listen, int* fd_out, std::string* bound) {
  std::string host;
  int port;
  Status s = parse_host_port(listen, &host, &port);
  if (!s) return s;
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::io_error("socket: " + errno_text());
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return Status::invalid(fmt::format("'{}' is not an IPv4 address", host));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    std::string e = errno_text();
    ::close(fd);
    return Status::io_error(fmt::format("cannot bind {}: {}", listen, e));
  }
  if (type == SOCK_STREAM && ::listen(fd, 128) < 0) {
    std::string e = errno_text();
    ::close(fd);
    return Status::io_error(fmt::format("cannot listen on {}: {}", listen, e));
  }
  // Port 0 picks a free port: report the real one (tests and users read it from stderr).
  socklen_t alen = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) == 0) port = ntohs(addr.sin_port);
  *fd_out = fd;
  *bound = fmt::format("{}:{}", host, port);
  std::fprintf(stderr, "spate: listening on %s %s\n", type == SOCK_STREAM ? "tcp" : "udp",
               bound->c_str());
  return Status::ok();
}

// ---------------------------------------------------------------- tcp
class TcpSource final : public Source {
 public:
  TcpSource(SourceOptions o, int fd, std::string bound) : o_(std::move(o)), lfd_(fd), bound_(std::move(bound)) {}
  ~TcpSource() override {
    if (lfd_ >= 0) ::close(lfd_);
  }
  std::string describe() const override { return "tcp " + bound_; }

  Status run(ChunkEmitter& out) override {
    struct Conn {
      int fd;
      std::unique_ptr<LineAssembler> la;
    };
    std::vector<Conn> conns;
    std::vector<pollfd> pfds;
    std::vector<char> buf(64 * 1024);
    // Micro-batch mode: a connection's lines are held until the batch's cut, and the kernel is
    // asked (SO_RCVLOWAT) not to report a connection readable before a chunk's worth of bytes has
    // arrived: the source then wakes about once per batch or per chunk_bytes instead of once per
    // TCP segment, and reads in large blocks (each small read costs a wake-up, two system calls
    // and an ACK). At the cut every connection is read to its end, whatever it holds.
    BatchClock batches(o_.batch_interval_ms);
    const int lowat = static_cast<int>(std::min<size_t>(o_.chunk_bytes, 1 << 20));
    // Reads what c has (up to max_reads blocks). False when the connection ended or failed.
    auto read_conn = [&](Conn& c, int max_reads) {
      for (int k = 0; k < max_reads; ++k) {
        ssize_t r = ::read(c.fd, buf.data(), buf.size());
        if (r > 0) {
          if (!c.la->feed(out, buf.data(), static_cast<size_t>(r))) return true;  // stopping
          if (static_cast<size_t>(r) < buf.size()) return true;
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
        c.la->finish(out);
        ::close(c.fd);
        c.fd = -1;
        return false;
      }
      return true;
    };
    auto drop_closed = [&] {
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.fd < 0; }),
                  conns.end());
    };
    while (!out.stopping()) {
      if (batches.due(wall_clock_ms())) {
        for (auto& c : conns) {
          if (read_conn(c, 64)) c.la->flush(out);
        }
        drop_closed();
      }
      pfds.clear();
      pfds.push_back({lfd_, POLLIN, 0});
      for (auto& c : conns) pfds.push_back({c.fd, POLLIN, 0});
      int pr = ::poll(pfds.data(), pfds.size(), batches.wait_ms(wall_clock_ms(), 100));
      if (pr < 0 && errno != EINTR) return Status::io_error("poll: " + errno_text());
      if (pr <= 0) continue;
      if (pfds[0].revents & POLLIN) {
        while (true) {
          sockaddr_in peer{};
          socklen_t len = sizeof(peer);
          int cfd = ::accept4(lfd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (cfd < 0) break;
          if (static_cast<int>(conns.size()) >= o_.max_connections) {
            ::close(cfd);  // over the limit: refuse rather than starve the others
            continue;
          }
          char ip[INET_ADDRSTRLEN] = {0};
          ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
          conns.push_back({cfd, std::make_unique<LineAssembler>(
                                    o_, new_stream("tcp", ip, ntohs(peer.sin_port)), 0)});
          if (batches.enabled()) {
            conns.back().la->set_holding(o_.chunk_bytes);
            ::setsockopt(cfd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
          }
        }
      }
      // Readable connections (pfds[k+1] belongs to conns[k] as it was when polled).
      const size_t polled = pfds.size() - 1;
      for (size_t k = 0; k < polled && !out.stopping(); ++k) {
        if (pfds[k + 1].revents & (POLLIN | POLLHUP | POLLERR)) read_conn(conns[k], 1);
      }
      drop_closed();
    }
    for (auto& c : conns) {
      c.la->finish(out);
      ::close(c.fd);
    }
    return Status::ok();
  }

 private:
  SourceOptions o_;
  int lfd_;
  std::string bound_;
};

// ---------------------------------------------------------------- udp
class UdpSource final : public Source {
 public:
  UdpSource(SourceOptions o, int fd, std::string bound) : o_(std::move(o)), fd_(fd), bound_(std::move(bound)) {}
  ~UdpSource() override {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string describe() const override { return "udp " + bound_; }

  Status run(ChunkEmitter& out) override {
    std::vector<char> buf(65536);
    std::map<std::pair<uint32_t, uint16_t>, std::shared_ptr<StreamInfo>> peers;
    uint64_t position = 0;
    int rcvbuf = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    while (!out.stopping()) {
      pollfd pfd{fd_, POLLIN, 0};
      int pr = ::poll(&pfd, 1, 100);
      if (pr <= 0) continue;
      while (true) {
        sockaddr_in peer{};
        socklen_t len = sizeof(peer);
        ssize_t r = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&peer), &len);
        if (r < 0) break;
        if (r == 0) continue;
        auto key = std::make_pair(peer.sin_addr.s_addr, peer.sin_port);
        auto it = peers.find(key);
        if (it == peers.end()) {
          // Bound memory under address churn. (Clear before inserting: clearing after would
          // destroy the entry just made while it is still in use below.)
          if (peers.size() >= 65536) peers.clear();
          char ip[INET_ADDRSTRLEN] = {0};
          ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
          it = peers.emplace(key, new_stream("udp", ip, ntohs(peer.sin_port))).first;
        }
        const std::shared_ptr<StreamInfo>& info = it->second;
        RawChunk* c = out.acquire();
        if (!c) return Status::ok();
        c->assign(buf.data(), static_cast<size_t>(r));
        c->stream = info;
        c->position = position;
        c->ingest_time_ms = wall_clock_ms();
        c->datagram = true;
        position += static_cast<uint64_t>(r);
        out.emit(c);
      }
    }
    return Status::ok();
  }

 private:
  SourceOptions o_;
  int fd_;
  std::string bound_;
};

}  // namespace

Status parse_host_port(const std::string& text, std::string* host, int* port) {
  std::string h = "127.0.0.1";
  std::string p = text;
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    if (colon > 0) h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (h == "localhost") h = "127.0.0.1";
  int v = -1;
  auto [e, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || e != p.data() + p.size() || v < 0 || v > 65535) {
    return Status::invalid(fmt::format("invalid address '{}': expected host:port, e.g. 127.0.0.1:9999", text));
  }
  *host = h;
  *port = v;
  return Status::ok();
}

Result<std::unique_ptr<Source>> make_source(const SourceOptions& o) {
  if (o.type == "file") {
    glob_t g{};
    int rc = ::glob(o.path.c_str(), GLOB_NOSORT | GLOB_BRACE, nullptr, &g);
    std::vector<std::string> files;
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      if (o.follow && o.path.find_first_of("*?[{") == std::string::npos) {
        files.push_back(o.path);  // tail -F waits for the file to appear
      } else {
        return Status::not_found(fmt::format("source.path: no file matches '{}'", o.path));
      }
    }
    if (!o.follow) {
      for (const auto& f : files) {
        if (::access(f.c_str(), R_OK) != 0) {
          return Status::io_error(fmt::format("cannot read '{}': {}", f, errno_text()));
        }
      }
    }
    return std::unique_ptr<Source>(new FileSource(o, files));
  }
  if (o.type == "stdin") return std::unique_ptr<Source>(new StdinSource(o));
  if (o.type == "udp" && o.csv_header) {
    // Datagrams have no order: no row of a peer is known to be its header.
    return Status::invalid("a CSV header row cannot be used over udp: declare the columns");
  }
  if (o.type == "tcp" || o.type == "udp") {
    int fd = -1;
    std::string bound;
    Status s = make_listen_socket(o.type == "tcp" ? SOCK_STREAM : SOCK_DGRAM, o.listen, &fd, &bound);
    if (!s) return s;
    if (o.type == "tcp") return std::unique_ptr<Source>(new TcpSource(o, fd, bound));
    return std::unique_ptr<Source>(new UdpSource(o, fd, bound));
  }
  return Status::invalid(fmt::format("unknown source type '{}'", o.type));
}

}  // namespace spate
