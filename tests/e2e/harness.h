#pragma once
// Test harness for end-to-end tests: runs the spate binary as a child process with pipes,
// bounded in time; temporary directories; JSON-lines helpers.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <simdjson.h>

namespace spate::test {

// Path of the spate binary under test (SPATE_BIN, set by CTest).
std::string spate_bin();
std::string source_dir();

struct RunResult {
  int exit_code = -1;     // -1: killed by the timeout
  int term_signal = 0;
  std::string out, err;
};

// Runs spate with args; feeds stdin_data (then closes stdin). Kills it after timeout.
RunResult run_spate(const std::vector<std::string>& args, const std::string& stdin_data = "",
                    std::chrono::milliseconds timeout = std::chrono::seconds(120));

// A running child with pipes, for tests that talk to it while it runs.
class Child {
 public:
  Child(const std::vector<std::string>& args, bool pipe_stdin = false, bool pipe_stdout = true);
  ~Child();
  pid_t pid() const { return pid_; }
  int stdin_fd() const { return in_; }
  int stdout_fd() const { return out_; }
  void close_stdin();
  // Hands the stdin pipe to the caller, who must close it (wait() no longer does).
  int release_stdin();
  // Reads stderr until a line containing `needle` shows up (returns that line) or timeout.
  std::string wait_stderr(const std::string& needle, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit, collecting remaining stdout/stderr. Kills after timeout.
  RunResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string out_buf_, err_buf_;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
std::vector<std::string> lines(const std::string& text);

// A parsed JSON line as a flat map of top-level fields to their JSON text (strings unquoted).
using Row = std::map<std::string, std::string>;
std::vector<Row> parse_rows(const std::string& jsonl);

}  // namespace spate::test
