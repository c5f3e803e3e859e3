#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace spate::test {

std::string spate_bin() {
  const char* b = std::getenv("SPATE_BIN");
  return b ? b : "spate";
}
std::string source_dir() {
  const char* s = std::getenv("SPATE_SOURCE_DIR");
  return s ? s : ".";
}

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
// Reads what is available from fd into buf; returns false on EOF.
bool drain(int fd, std::string* buf) {
  char tmp[65536];
  while (true) {
    ssize_t r = ::read(fd, tmp, sizeof(tmp));
    if (r > 0) {
      buf->append(tmp, static_cast<size_t>(r));
      continue;
    }
    if (r == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}
}  // namespace

Child::Child(const std::vector<std::string>& args, bool pipe_stdin, bool pipe_stdout) {
  // A child that exits before reading all its input must fail the test, not kill it.
  static const bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2];
  if (pipe_stdin && pipe(in) != 0) throw std::runtime_error("pipe");
  if (pipe_stdout && pipe(out) != 0) throw std::runtime_error("pipe");
  if (pipe(err) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (pipe_stdin) {
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, in[1]);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  if (pipe_stdout) {
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addclose(&fa, err[0]);
  std::vector<char*> argv;
  std::string bin = spate_bin();
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot spawn " + bin);
  }
  posix_spawn_file_actions_destroy(&fa);
  if (pipe_stdin) {
    ::close(in[0]);
    in_ = in[1];
  }
  if (pipe_stdout) {
    ::close(out[1]);
    out_ = out[0];
    set_nonblock(out_);
  }
  ::close(err[1]);
  err_ = err[0];
  set_nonblock(err_);
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  for (int fd : {in_, out_, err_}) {
    if (fd >= 0) ::close(fd);
  }
}

int Child::release_stdin() {
  int fd = in_;
  in_ = -1;
  return fd;
}

void Child::close_stdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

void Child::signal(int sig) { ::kill(pid_, sig); }

std::string Child::wait_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
  int64_t deadline = now_ms() + timeout.count();
  while (now_ms() < deadline) {
    if (out_ >= 0) drain(out_, &out_buf_);
    drain(err_, &err_buf_);
    size_t at = err_buf_.find(needle);
    if (at != std::string::npos) {
      size_t b = err_buf_.rfind('\n', at);
      b = b == std::string::npos ? 0 : b + 1;
      size_t e = err_buf_.find('\n', at);
      return err_buf_.substr(b, e == std::string::npos ? std::string::npos : e - b);
    }
    pollfd p{err_, POLLIN, 0};
    ::poll(&p, 1, 20);
  }
  return {};
}

RunResult Child::wait(std::chrono::milliseconds timeout) {
  close_stdin();
  RunResult r;
  int64_t deadline = now_ms() + timeout.count();
  bool out_open = out_ >= 0, err_open = true;
  int status = 0;
  bool exited = false;
  while (true) {
    if (out_open) out_open = drain(out_, &out_buf_);
    if (err_open) err_open = drain(err_, &err_buf_);
    if (!exited) {
      pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) exited = true;
    }
    if (exited && !out_open && !err_open) break;
    if (exited) {
      // Grandchildren could hold the pipes; the child is gone, stop after a last drain.
      if (out_open) drain(out_, &out_buf_);
      drain(err_, &err_buf_);
      break;
    }
    if (now_ms() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      r.exit_code = -1;
      r.out = out_buf_;
      r.err = err_buf_ + "\n[harness: killed after timeout]";
      return r;
    }
    pollfd p[2] = {{out_open ? out_ : -1, POLLIN, 0}, {err_open ? err_ : -1, POLLIN, 0}};
    ::poll(p, 2, 10);
  }
  pid_ = -1;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  r.out = out_buf_;
  r.err = err_buf_;
  return r;
}

RunResult run_spate(const std::vector<std::string>& args, const std::string& stdin_data,
                    std::chrono::milliseconds timeout) {
  Child c(args, !stdin_data.empty(), true);
  if (stdin_data.empty()) return c.wait(timeout);
  // Write stdin from a thread while wait() drains stdout and stderr, so that a child blocked on
  // a full stdout pipe cannot deadlock us. The writer owns (and closes) the stdin pipe.
  int fd = c.release_stdin();
  std::thread writer([fd, &stdin_data] {
    const char* p = stdin_data.data();
    size_t n = stdin_data.size();
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w <= 0) {
        if (w < 0 && errno == EINTR) continue;
        break;  // EPIPE: the child exited early; its exit status tells the test
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    ::close(fd);
  });
  RunResult r = c.wait(timeout);
  writer.join();
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/spate-test-XXXXXX";
  char* p = mkdtemp(tmpl);
  if (!p) throw std::runtime_error("mkdtemp");
  path_ = p;
}
TempDir::~TempDir() {
  std::string cmd = "rm -rf '" + path_ + "'";
  int r = std::system(cmd.c_str());
  (void)r;
}
std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = file(name);
  std::ofstream f(p, std::ios::binary);
  f << content;
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> v;
  std::string cur;
  std::istringstream is(text);
  while (std::getline(is, cur)) {
    if (!cur.empty()) v.push_back(cur);
  }
  return v;
}

std::vector<Row> parse_rows(const std::string& jsonl) {
  std::vector<Row> rows;
  simdjson::dom::parser parser;
  for (const auto& line : lines(jsonl)) {
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc)) throw std::runtime_error("not JSON: " + line);
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) throw std::runtime_error("not an object: " + line);
    Row r;
    for (auto [k, v] : obj) {
      std::string_view s;
      if (v.is_string()) {
        if (v.get_string().get(s)) throw std::runtime_error("bad string");
        r[std::string(k)] = std::string(s);
      } else {
        r[std::string(k)] = simdjson::minify(v);
      }
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace spate::test
