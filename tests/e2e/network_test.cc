// End-to-end tests of spate's connectors under real conditions: loopback TCP and UDP sockets
// (127.0.0.1 only), many concurrent clients, a followed file, signals (drain on SIGTERM, exit at
// once on a second signal), backpressure from an unread stdout pipe, a TCP sink that comes and
// goes, and stdin. Every answer is computed inside the test from the data it sent.
//
// Rules kept by every test: each loop is bounded in count and time (Deadline); nothing waits by
// sleeping a fixed time for something to happen, it polls the condition until a deadline; each
// test ends by itself within a few seconds.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBase = 1767225600000;  // 2026-01-01T00:00:00Z in epoch ms

// ------------------------------------------------------------------ time and small helpers

// A point in time after which a bounded wait gives up.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds d) : end_(Clock::now() + d) {}
  bool passed() const { return Clock::now() >= end_; }
  int left_ms() const {
    auto l = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now()).count();
    return l < 0 ? 0 : static_cast<int>(l);
  }

 private:
  Clock::time_point end_;
};

// Polls pred every `every` until it holds or the deadline passes. Returns pred's last value.
bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = 5ms) {
  Deadline d(timeout);
  while (true) {
    if (pred()) return true;
    if (d.passed()) return false;
    std::this_thread::sleep_for(every);
  }
}

// Epoch ms → "YYYY-MM-DDTHH:MM:SS.mmmZ" (computed here, independently of spate's formatter).
std::string rfc3339(int64_t ms) {
  time_t s = static_cast<time_t>(ms / 1000);
  std::tm t{};
  gmtime_r(&s, &t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.tm_year + 1900, t.tm_mon + 1,
                     t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<int>(ms % 1000));
}

int64_t window_of(int64_t ts, int64_t size) { return ts - ts % size; }  // ts >= 0 here

// Closes the fd it holds.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// "spate: listening on tcp 127.0.0.1:PORT" → PORT, or -1.
int port_of_line(const std::string& line) {
  auto colon = line.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(line.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

// Waits for the source's "listening" line and returns the port (or -1).
int listen_port(Child& child, const std::string& proto) {
  std::string line = child.wait_stderr("spate: listening on " + proto + " 127.0.0.1:", 10s);
  return line.empty() ? -1 : port_of_line(line);
}

// Sends all bytes on a socket whose send timeout is set. Returns false on error or timeout.
bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A connected TCP client socket to 127.0.0.1:port with 10 s send/receive timeouts, or -1.
Fd connect_tcp(int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fd;
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fd.reset();
  return fd;
}

// After shutdown(SHUT_WR): waits until the peer closes its side (recv returns 0). The source
// closes a connection only after reading it to the end, so this proves every byte was taken.
bool wait_peer_closed(int fd, const Deadline& d) {
  char tmp[256];
  while (!d.passed()) {
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, std::min(d.left_ms(), 100));
    if (pr < 0 && errno != EINTR) return false;
    if (pr <= 0) continue;
    ssize_t r = ::recv(fd, tmp, sizeof(tmp), 0);
    if (r == 0) return true;
    if (r < 0 && errno != EINTR && errno != EAGAIN) return errno == ECONNRESET;
  }
  return false;
}

// Reads the child's stdout (non-blocking pipe) into *buf until pred(*buf) or the deadline.
bool read_stdout_until(Child& child, std::string* buf,
                       const std::function<bool(const std::string&)>& pred,
                       std::chrono::milliseconds timeout) {
  Deadline d(timeout);
  char tmp[65536];
  while (true) {
    while (true) {
      ssize_t r = ::read(child.stdout_fd(), tmp, sizeof(tmp));
      if (r <= 0) break;
      buf->append(tmp, static_cast<size_t>(r));
    }
    if (pred(*buf)) return true;
    if (d.passed()) return false;
    pollfd p{child.stdout_fd(), POLLIN, 0};
    ::poll(&p, 1, std::min(d.left_ms(), 20));
  }
}

// The complete lines of text (a trailing partial line, still being written, is left out).
std::string complete_lines(const std::string& text) {
  auto nl = text.rfind('\n');
  return nl == std::string::npos ? std::string() : text.substr(0, nl + 1);
}

std::string yaml_file(const TempDir& dir, const std::string& name, const std::string& yaml) {
  return dir.write(name, yaml);
}

// ------------------------------------------------------------------ expected answers

// A test event: event time, key, integer value.
struct Event {
  int64_t ts;
  std::string k;
  int64_t v;
};

std::string to_json(const Event& e) {
  return fmt::format(R"({{"ts":{},"k":"{}","v":{},"note":"e2e network"}})", e.ts, e.k, e.v);
}

struct Agg {
  int64_t n = 0;
  double sum = 0;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double x) {
    ++n;
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
};

// (key, window start in epoch ms) → aggregate.
using Table = std::map<std::pair<std::string, int64_t>, Agg>;

void add_event(Table& t, const Event& e, int64_t window_ms) {
  t[{e.k, window_of(e.ts, window_ms)}].add(static_cast<double>(e.v));
}

std::string describe(const Row& r) {
  std::string s;
  for (const auto& [k, v] : r) s += fmt::format("{}={} ", k, v);
  return s;
}

double num(const Row& r, const std::string& f) {
  auto it = r.find(f);
  if (it == r.end()) return std::nan("");
  try {
    return std::stod(it->second);
  } catch (...) {
    return std::nan("");
  }
}

bool close_enough(double got, double want, double rel_tol) {
  if (rel_tol == 0) return got == want;
  return std::fabs(got - want) <= rel_tol * std::max(1.0, std::fabs(want));
}

struct Fields {
  std::string key;            // the key column ("k", "$remote_ip", ...)
  std::string n = "n";        // count()
  std::string sum = "total";  // sum(...), empty: not checked
  std::string lo, hi;         // min(...), max(...), empty: not checked
  double sum_rel_tol = 0;     // 0: exact
};

// Compares window result rows with the expected table: every (key, window) exactly once, each
// with window_end = start + size and the exact count and sum (min, max).
::testing::AssertionResult rows_match(const std::vector<Row>& rows, const Table& want,
                                      int64_t window_ms, const Fields& f) {
  // (key, window_start text) → (window start ms, aggregate)
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, const Agg*>> expected;
  for (const auto& [key, agg] : want)
    expected[{key.first, rfc3339(key.second)}] = {key.second, &agg};
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<std::string> problems;
  for (const Row& r : rows) {
    auto k = r.find(f.key);
    auto ws = r.find("window_start");
    auto we = r.find("window_end");
    if (k == r.end() || ws == r.end() || we == r.end()) {
      problems.push_back("row without key/window fields: " + describe(r));
      continue;
    }
    std::pair<std::string, std::string> id{k->second, ws->second};
    if (!seen.insert(id).second) {
      problems.push_back("duplicate row: " + describe(r));
      continue;
    }
    auto e = expected.find(id);
    if (e == expected.end()) {
      problems.push_back("unexpected row: " + describe(r));
      continue;
    }
    const int64_t start = e->second.first;
    const Agg& a = *e->second.second;
    bool ok = we->second == rfc3339(start + window_ms) && num(r, f.n) == static_cast<double>(a.n);
    if (!f.sum.empty()) ok = ok && close_enough(num(r, f.sum), a.sum, f.sum_rel_tol);
    if (!f.lo.empty()) ok = ok && num(r, f.lo) == a.lo;
    if (!f.hi.empty()) ok = ok && num(r, f.hi) == a.hi;
    if (!ok) {
      problems.push_back(fmt::format(
          "wrong row: {}; want {}={} {}={}{} end={}", describe(r), f.n, a.n, f.sum, a.sum,
          f.lo.empty() ? "" : fmt::format(" {}={} {}={}", f.lo, a.lo, f.hi, a.hi),
          rfc3339(start + window_ms)));
    }
  }
  for (const auto& [id, e] : expected) {
    if (!seen.count(id)) {
      problems.push_back(fmt::format("missing row: {}={} window_start={} (n={})", f.key, id.first,
                                     id.second, e.second->n));
    }
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  std::string msg = fmt::format("{} problem(s) in {} rows (want {}):\n", problems.size(),
                                rows.size(), want.size());
  for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "  " + problems[i] + "\n";
  return ::testing::AssertionFailure() << msg;
}

std::vector<Row> rows_or_fail(const std::string& jsonl) {
  try {
    return parse_rows(jsonl);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "output is not JSON lines: " << e.what();
    return {};
  }
}

// ------------------------------------------------------------------ /proc helpers

// The fd of `pid` that has `path` open, if any.
std::optional<int> find_fd(pid_t pid, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path want = fs::weakly_canonical(path, ec);
  for (const auto& entry : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code ec2;
    fs::path target = fs::read_symlink(entry.path(), ec2);
    if (!ec2 && target == want) return std::stoi(entry.path().filename().string());
  }
  return std::nullopt;
}

// "pos:" of /proc/<pid>/fdinfo/<fd>, or -1.
int64_t fd_position(pid_t pid, int fd) {
  std::ifstream in(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
  std::string key;
  int64_t v;
  while (in >> key) {
    if (key == "pos:" && in >> v) return v;
  }
  return -1;
}

// A "Name:  value kB" line of /proc/<pid>/status, in kB, or -1.
int64_t status_kb(pid_t pid, const std::string& name) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::istringstream is(line.substr(name.size() + 1));
      int64_t v = -1;
      is >> v;
      return v;
    }
  }
  return -1;
}

// The receive queue (bytes) and drop count of the UDP socket bound to 127.0.0.1:port.
struct UdpQueue {
  int64_t rx_queue = -1;
  int64_t drops = -1;
};
UdpQueue udp_queue(int port) {
  std::ifstream in("/proc/net/udp");
  std::string line;
  std::getline(in, line);  // header
  const std::string local = fmt::format("0100007F:{:04X}", port);
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string sl, loc, rem, st, queues, tr, retr, uid, timeout, inode, ref, ptr;
    int64_t drops = -1;
    is >> sl >> loc >> rem >> st >> queues >> tr >> retr >> uid >> timeout >> inode >> ref >> ptr >>
        drops;
    if (loc != local) continue;
    UdpQueue q;
    auto colon = queues.find(':');
    if (colon != std::string::npos) q.rx_queue = std::stoll(queues.substr(colon + 1), nullptr, 16);
    q.drops = drops;
    return q;
  }
  return {};
}

// ------------------------------------------------------------------ a loopback TCP server

// Accepts connections on 127.0.0.1 and reads them to the end, on its own thread. The port is
// reserved (bound) at construction; listening can start later, so that a client's connect is
// refused until then.
class LoopbackServer {
 public:
  explicit LoopbackServer(bool listen_now) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in a = loopback(0);
    if (fd_.get() < 0 || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      throw std::runtime_error("cannot bind a loopback socket");
    }
    socklen_t len = sizeof(a);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (listen_now) start_listening();
  }
  ~LoopbackServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }

  void start_listening() {
    if (::listen(fd_.get(), 16) != 0) throw std::runtime_error("listen");
    thread_ = std::thread([this] { serve(); });
  }

  // Waits until at least one connection was accepted and every accepted one reached EOF.
  bool wait_all_closed(std::chrono::milliseconds timeout) {
    return poll_until(
        [this] {
          std::lock_guard<std::mutex> lk(mu_);
          return accepted_ > 0 && open_ == 0;
        },
        timeout);
  }
  std::string data() {
    std::lock_guard<std::mutex> lk(mu_);
    std::string all;
    for (const auto& d : per_conn_) all += d;
    return all;
  }
  int accepted() {
    std::lock_guard<std::mutex> lk(mu_);
    return accepted_;
  }
  // Closes every open connection (as a server restart would) and waits until that is done;
  // the server keeps listening.
  bool drop_connections(std::chrono::milliseconds timeout) {
    drop_ = true;
    return poll_until([this] { return !drop_; }, timeout);
  }

 private:
  void serve() {
    Deadline hard(60s);                        // never outlive a test
    std::vector<std::pair<Fd, size_t>> conns;  // fd, index into per_conn_
    char buf[65536];
    while (!stop_ && !hard.passed()) {
      std::vector<pollfd> p{{fd_.get(), POLLIN, 0}};
      for (auto& c : conns) p.push_back({c.first.get(), POLLIN, 0});
      ::poll(p.data(), p.size(), 20);
      if (drop_) {
        std::lock_guard<std::mutex> lk(mu_);
        open_ -= static_cast<int>(conns.size());
        conns.clear();
        drop_ = false;
      }
      while (true) {
        int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) break;
        std::lock_guard<std::mutex> lk(mu_);
        ++accepted_;
        ++open_;
        per_conn_.emplace_back();
        conns.emplace_back(Fd(c), per_conn_.size() - 1);
      }
      for (auto it = conns.begin(); it != conns.end();) {
        bool closed = false;
        while (true) {
          ssize_t r = ::read(it->first.get(), buf, sizeof(buf));
          if (r > 0) {
            std::lock_guard<std::mutex> lk(mu_);
            per_conn_[it->second].append(buf, static_cast<size_t>(r));
            continue;
          }
          closed = r == 0 || (errno != EAGAIN && errno != EINTR);
          break;
        }
        if (closed) {
          std::lock_guard<std::mutex> lk(mu_);
          --open_;
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  Fd fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false}, drop_{false};
  std::thread thread_;
  std::mutex mu_;
  int accepted_ = 0, open_ = 0;
  std::vector<std::string> per_conn_;
};

std::string keyed_window_pipeline(const std::string& name, const std::string& source,
                                  const std::string& time, const std::string& key,
                                  const std::string& window, const std::string& aggregate,
                                  const std::string& sink, int workers) {
  return fmt::format(
      "name: {}\n"
      "workers: {}\n"
      "source: {}\n"
      "time: {}\n"
      "steps:\n"
      "  - key_by: {}\n"
      "  - window: {{tumbling: {}}}\n"
      "  - aggregate: {}\n"
      "sink: {}\n",
      name, workers, source, time, key, window, aggregate, sink);
}

// ================================================================== 1. TCP source

// One client's events and how it sends them.
struct ClientPlan {
  std::vector<Event> events;
  std::string payload;         // the bytes it sends
  std::vector<size_t> pieces;  // sizes of its send() calls, summing to payload.size()
};

ClientPlan plan_client(int c, int per_client, int64_t span_ms) {
  ClientPlan p;
  std::mt19937 rng(static_cast<uint32_t>(c) * 7919u + 1);
  for (int j = 0; j < per_client; ++j) {
    Event e{kBase + (c * 131 + j * 29) % span_ms, fmt::format("k{}", (c * 7 + j * 3) % 13),
            (c * 1000 + j * 17) % 1001 - 300};
    p.events.push_back(e);
    std::string line = to_json(e);
    size_t before = p.payload.size();
    p.payload += line;
    // Clients 17 and 42 end their stream without a newline after the last event.
    bool last_without_newline = (c == 17 || c == 42) && j == per_client - 1;
    if (!last_without_newline) p.payload += '\n';
    size_t len = p.payload.size() - before;
    if (c % 4 == 1) {  // one send per line
      p.pieces.push_back(len);
    } else if (c % 4 == 3) {  // every line cut in the middle
      p.pieces.push_back(len / 2);
      p.pieces.push_back(len - len / 2);
    }
  }
  if (c % 4 == 0) p.pieces.push_back(p.payload.size());  // everything in one send
  if (c % 4 == 2) {                                      // random pieces of 1..97 bytes
    size_t left = p.payload.size();
    while (left > 0) {
      size_t k = std::min<size_t>(left, 1 + rng() % 97);
      p.pieces.push_back(k);
      left -= k;
    }
  }
  return p;
}

// Runs the clients concurrently (all connect first, then all send). Each half-closes and waits
// until spate has read its stream to the end. Returns one error text per failed client.
std::vector<std::string> run_tcp_clients(int port, const std::vector<ClientPlan>& plans) {
  std::vector<std::string> errors(plans.size());
  std::latch connected(static_cast<std::ptrdiff_t>(plans.size()));
  std::vector<std::thread> threads;
  for (size_t c = 0; c < plans.size(); ++c) {
    threads.emplace_back([&, c] {
      Fd fd = connect_tcp(port);
      connected.arrive_and_wait();  // every thread arrives, connected or not
      if (fd.get() < 0) {
        errors[c] = fmt::format("client {}: connect: {}", c, std::strerror(errno));
        return;
      }
      const ClientPlan& p = plans[c];
      size_t at = 0;
      for (size_t piece : p.pieces) {
        if (!send_all(fd.get(), p.payload.data() + at, piece)) {
          errors[c] = fmt::format("client {}: send: {}", c, std::strerror(errno));
          return;
        }
        at += piece;
        if (p.pieces.size() > 1) std::this_thread::yield();  // let the others interleave
      }
      ::shutdown(fd.get(), SHUT_WR);
      if (!wait_peer_closed(fd.get(), Deadline(20s))) {
        errors[c] = fmt::format("client {}: spate did not finish reading the stream", c);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> failed;
  for (auto& e : errors) {
    if (!e.empty()) failed.push_back(e);
  }
  return failed;
}

TEST(NetworkTest, TcpSourceManyConcurrentClientsExactWindows) {
  constexpr int kClients = 50, kPerClient = 200;
  constexpr int64_t kWindow = 1000, kSpan = 5000;
  TempDir dir;
  std::string pipeline =
      yaml_file(dir, "tcp.yaml",
                keyed_window_pipeline("tcp-many", R"({type: tcp, listen: "127.0.0.1:0"})",
                                      "{field: ts, max_out_of_order: 1h}", "k", "1s",
                                      "{n: count(), total: sum(v)}", "{type: stdout}", 3));
  std::vector<ClientPlan> plans;
  Table want;
  for (int c = 0; c < kClients; ++c) {
    plans.push_back(plan_client(c, kPerClient, kSpan));
    for (const auto& e : plans.back().events) add_event(want, e, kWindow);
  }

  Child child({"run", pipeline});
  int port = listen_port(child, "tcp");
  ASSERT_GT(port, 0) << "no 'listening on tcp' line; stderr:\n" << child.wait(5s).err;

  std::vector<std::string> failed = run_tcp_clients(port, plans);
  EXPECT_TRUE(failed.empty()) << failed.size() << " client(s) failed, first: " << failed[0];

  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("{} events", kClients * kPerClient)), std::string::npos)
      << r.err;
  EXPECT_TRUE(rows_match(rows_or_fail(r.out), want, kWindow, Fields{.key = "k"}));
}

TEST(NetworkTest, TcpSourceRemoteIpAsKey) {
  constexpr int kClients = 5, kPerClient = 100;
  constexpr int64_t kWindow = 1000;
  TempDir dir;
  std::string pipeline =
      yaml_file(dir, "ip.yaml",
                keyed_window_pipeline("tcp-ip", R"({type: tcp, listen: "127.0.0.1:0"})",
                                      "{field: ts, max_out_of_order: 1h}", "$remote_ip", "1s",
                                      "{n: count(), total: sum(v)}", "{type: stdout}", 2));
  std::vector<ClientPlan> plans;
  Table want;
  for (int c = 0; c < kClients; ++c) {
    plans.push_back(plan_client(c, kPerClient, 3000));
    for (Event e : plans.back().events) {
      e.k = "127.0.0.1";  // what $remote_ip must be for every loopback client
      add_event(want, e, kWindow);
    }
  }
  Child child({"run", pipeline});
  int port = listen_port(child, "tcp");
  ASSERT_GT(port, 0) << child.wait(5s).err;
  std::vector<std::string> failed = run_tcp_clients(port, plans);
  EXPECT_TRUE(failed.empty()) << failed[0];
  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(rows_match(rows_or_fail(r.out), want, kWindow, Fields{.key = "$remote_ip"}));
}

// ================================================================== 2. UDP source

TEST(NetworkTest, UdpSourceDatagramsWithSeveralEvents) {
  constexpr int kSenders = 4, kPerSender = 500;
  constexpr int64_t kWindow = 1000, kSpan = 4000;
  const std::string kFlushKey = "zz-flush";
  TempDir dir;
  // Data spans 4 s of event time, well inside max_out_of_order, so nothing can be late whatever
  // the interleaving. A final event 60 s later moves the watermark past every data window, so the
  // data windows fire while running (the workers that did not see it must not hold it back).
  std::string pipeline = yaml_file(
      dir, "udp.yaml",
      // UDP peers never end: the senders stop holding the watermark back once idle for 200 ms,
      // and the flush event from a new peer then fires every data window.
      keyed_window_pipeline("udp", R"({type: udp, listen: "127.0.0.1:0"})",
                            "{field: ts, max_out_of_order: 10s, idle_timeout: 200ms}", "k", "1s",
                            "{n: count(), total: sum(v)}", "{type: stdout}", 2));
  Child child({"run", pipeline});
  int port = listen_port(child, "udp");
  ASSERT_GT(port, 0) << child.wait(5s).err;

  // Each sender: datagrams of 1..5 events, some ending with a newline, some not; after every 16
  // datagrams it waits (bounded) until the receive queue is below 128 KiB, so nothing is dropped.
  std::vector<std::vector<Event>> sent(kSenders);
  std::vector<std::string> errors(kSenders);
  std::vector<int> datagrams(kSenders, 0);
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_in a = loopback(port);
      if (fd.get() < 0 || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        errors[s] = "cannot create the UDP socket";
        return;
      }
      std::mt19937 rng(static_cast<uint32_t>(s) + 11);
      int i = 0;
      while (i < kPerSender) {
        int group = std::min<int>(kPerSender - i, 1 + static_cast<int>(rng() % 5));
        std::string dgram;
        for (int g = 0; g < group; ++g, ++i) {
          Event e{kBase + (s * 577 + i * 13) % kSpan, fmt::format("u{}", (s * 3 + i) % 7),
                  (i * 31 + s) % 200};
          if (g) dgram += '\n';
          dgram += to_json(e);
          sent[s].push_back(e);
        }
        if (datagrams[s] % 2 == 0) dgram += '\n';
        if (::send(fd.get(), dgram.data(), dgram.size(), 0) != static_cast<ssize_t>(dgram.size())) {
          errors[s] = fmt::format("send: {}", std::strerror(errno));
          return;
        }
        if (++datagrams[s] % 16 == 0) {
          poll_until([&] { return udp_queue(port).rx_queue < (128 << 10); }, 5s, 1ms);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int s = 0; s < kSenders; ++s) ASSERT_TRUE(errors[s].empty()) << errors[s];

  Table want;
  for (const auto& v : sent) {
    for (const auto& e : v) add_event(want, e, kWindow);
  }
  {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopback(port);
    std::string flush = to_json(Event{kBase + 60000, kFlushKey, 1}) + "\n";
    ASSERT_EQ(::sendto(fd.get(), flush.data(), flush.size(), 0, reinterpret_cast<sockaddr*>(&a),
                       sizeof(a)),
              static_cast<ssize_t>(flush.size()));
  }
  // Wait until every data window has fired (one row per expected (key, window)).
  std::string out;
  bool fired = read_stdout_until(
      child, &out,
      [&](const std::string& text) { return lines(complete_lines(text)).size() >= want.size(); },
      10s);
  UdpQueue q = udp_queue(port);
  EXPECT_TRUE(fired) << "data windows did not all fire: " << lines(complete_lines(out)).size()
                     << " of " << want.size() << " rows; kernel drops=" << q.drops;
  EXPECT_EQ(q.drops, 0) << "the kernel dropped datagrams; counts cannot be exact";

  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("{} events", kSenders * kPerSender + 1)), std::string::npos)
      << r.err;
  want[{kFlushKey, window_of(kBase + 60000, kWindow)}].add(1);
  EXPECT_TRUE(rows_match(rows_or_fail(out + r.out), want, kWindow, Fields{.key = "k"}));
}

// CSV over UDP: datagrams have no order, so no row can be trusted to be a header. A header row
// (the csv default) is a configuration error; declared columns work.
TEST(NetworkTest, UdpCsvNeedsDeclaredColumns) {
  TempDir dir;
  std::string bad = yaml_file(dir, "u.yaml",
                              "source: {type: udp, listen: \"127.0.0.1:0\", format: csv}\n"
                              "sink: {type: stdout}\n");
  for (const char* cmd : {"check", "run"}) {
    RunResult r = run_spate({cmd, bad}, "", 20s);
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("u.yaml:1:9: source.header: a CSV header row cannot be used over udp"),
              std::string::npos) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("declare the columns instead: header: false, columns: [name, ...]"),
              std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("listening on"), std::string::npos) << r.err;  // nothing was bound
  }

  std::string good = yaml_file(dir, "g.yaml",
                               "source: {type: udp, listen: \"127.0.0.1:0\", format: csv, "
                               "header: false, columns: [k, v]}\n"
                               "steps:\n  - select: {k: k, v: v}\n"
                               "sink: {type: stdout, format: json}\n");
  Child child({"run", good, "-w", "1"});
  int port = listen_port(child, "udp");
  ASSERT_GT(port, 0) << child.wait(5s).err;
  {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopback(port);
    std::string dgram = "a,1\nb,2\n";
    ASSERT_EQ(::sendto(fd.get(), dgram.data(), dgram.size(), 0, reinterpret_cast<sockaddr*>(&a),
                       sizeof(a)),
              static_cast<ssize_t>(dgram.size()));
  }
  std::string out;
  bool got = read_stdout_until(
      child, &out, [](const std::string& text) { return lines(complete_lines(text)).size() >= 2; },
      10s);
  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_TRUE(got) << out << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(out + r.out, "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\":2}\n");
}

// ================================================================== 3. signals

// A followed file, appended to by the test. SIGTERM must drain: every window, including the
// last one that is still open, fires with the exact counts.
TEST(NetworkTest, SigtermDrainsFollowedFileAndFiresOpenWindow) {
  constexpr int64_t kWindow = 1000;
  TempDir dir;
  const std::string data = dir.file("live.jsonl");
  const std::string results = dir.file("results.jsonl");
  // Default idle_timeout (30 s): a worker that has no chunk to process must not hold the
  // watermark back, or W0..W3 would not fire while running.
  std::string pipeline = yaml_file(
      dir, "follow.yaml",
      keyed_window_pipeline("follow", fmt::format("{{type: file, path: '{}', follow: true}}", data),
                            "{field: ts, max_out_of_order: 0s}", "k", "1s",
                            "{n: count(), total: sum(v)}",
                            fmt::format("{{type: file, path: '{}'}}", results), 2));
  // Windows W0..W4, 40 events each, in event-time order.
  auto window_events = [](int w) {
    std::vector<Event> v;
    for (int i = 0; i < 40; ++i) {
      v.push_back(Event{kBase + w * kWindow + i * 20, fmt::format("p{}", i % 5), w * 100 + i});
    }
    return v;
  };
  Table want;
  auto append = [&](int from_w, int to_w, const std::string& tail) {
    std::string text;
    for (int w = from_w; w <= to_w; ++w) {
      for (const auto& e : window_events(w)) {
        text += to_json(e) + "\n";
        add_event(want, e, kWindow);
      }
    }
    text += tail;
    Fd fd(::open(data.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    return fd.get() >= 0 &&
           ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  };
  // Rows in the results file whose window starts at one of `windows`.
  auto fired_rows = [&](std::initializer_list<int> windows) {
    std::set<std::string> starts;
    for (int w : windows) starts.insert(rfc3339(kBase + w * kWindow));
    size_t n = 0;
    for (const Row& r : parse_rows(complete_lines(read_file(results)))) {
      n += starts.count(r.at("window_start"));
    }
    return n;
  };

  ASSERT_TRUE(append(0, 2, ""));
  Child child({"run", pipeline});
  // W0 and W1 fire once W2 events are read (5 keys each); W2 stays open.
  EXPECT_TRUE(poll_until(
      [&] {
        return fired_rows({0, 1}) == 10;
      },
      10s))
      << "W0/W1 did not fire: " << read_file(results);
  // Append W3, W4 and a malformed marker line: its dead letter on stderr proves spate has read
  // (and handed to the workers) everything before it.
  ASSERT_TRUE(append(3, 4, "MARKER-end-of-appended-data\n"));
  EXPECT_FALSE(child.wait_stderr("MARKER-end-of-appended-data", 10s).empty());
  EXPECT_TRUE(poll_until(
      [&] {
        return fired_rows({2, 3}) == 10;
      },
      10s))
      << "W2/W3 did not fire: " << read_file(results);
  EXPECT_EQ(fired_rows({4}), 0u) << "W4 cannot fire before the end: its end is past the watermark";

  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("200 events"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad_json=1"), std::string::npos) << r.err;
  EXPECT_TRUE(rows_match(rows_or_fail(read_file(results)), want, kWindow, Fields{.key = "k"}));
}

// A second signal while the first one's drain is blocked (here: a TCP sink nobody accepts on)
// exits at once with 128 + the signal.
TEST(NetworkTest, SecondSignalExitsAtOnce) {
  TempDir dir;
  LoopbackServer reserved(/*listen_now=*/false);  // bound, never listening: connect is refused
  std::string pipeline =
      yaml_file(dir, "stuck.yaml",
                keyed_window_pipeline(
                    "stuck", "{type: stdin}", "{field: ts}", "k", "1s", "{n: count()}",
                    fmt::format(R"({{type: tcp, connect: "127.0.0.1:{}"}})", reserved.port()), 1));
  Child child({"run", pipeline}, /*pipe_stdin=*/true);
  std::string events;
  for (int i = 0; i < 10; ++i) events += to_json(Event{kBase + i * 100, "a", i}) + "\n";
  ASSERT_EQ(::write(child.stdin_fd(), events.data(), events.size()),
            static_cast<ssize_t>(events.size()));
  child.close_stdin();
  ASSERT_FALSE(child.wait_stderr("unavailable", 10s).empty()) << "the sink never tried to write";
  child.signal(SIGINT);
  ASSERT_FALSE(child.wait_stderr("spate: stopping", 5s).empty());
  auto t0 = Clock::now();
  child.signal(SIGTERM);
  RunResult r = child.wait(5s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_LT(took.count(), 2000) << "the second signal should end the process at once";
  EXPECT_NE(r.err.find("second signal"), std::string::npos) << r.err;
}

// ================================================================== 4. backpressure

// A large generated input and a pass-through pipeline whose stdout is a pipe nobody reads: the
// reader must stall with its read position well below the file size and its memory bounded;
// then the pipe is read to the end and every result must be there.
class BackpressureTest : public ::testing::Test {
 protected:
  static constexpr int kEvents = 400000;

  // The input is generated once for the suite.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = dir_->file("clicks.jsonl");
    RunResult gen = run_spate(
        {"gen", "clicks", "--count", std::to_string(kEvents), "--seed", "5", "--output", data_}, "",
        60s);
    if (gen.exit_code != 0) setup_error_ = "spate gen clicks failed: " + gen.err;
    input_ = read_file(data_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    input_.clear();
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  // Runs the pipeline with these steps, checks the stall, then drains stdout. The RunResult.
  RunResult run_stalled(const std::string& steps, const std::string& time = "", int workers = 2,
                        bool rss_below_half_input = true) {
    std::string pipeline =
        dir_->write("pass.yaml", fmt::format("name: passthrough\n"
                                             "workers: {}\n"
                                             "source: {{type: file, path: '{}'}}\n"
                                             "{}"
                                             "steps:\n{}"
                                             "sink: {{type: stdout}}\n",
                                             workers, data_, time, steps));
    const int64_t size = static_cast<int64_t>(input_.size());
    Child child({"run", pipeline});  // stdout is a pipe that nobody reads for now
    std::optional<int> fd;
    if (!poll_until([&] { return (fd = find_fd(child.pid(), data_)).has_value(); }, 10s)) {
      ADD_FAILURE() << "spate never opened " << data_;
      return child.wait(5s);
    }
    // Stalled: the read position has not moved for 500 ms.
    int64_t pos = -1, last = -2;
    auto since = Clock::now();
    bool stalled = poll_until(
        [&] {
          pos = fd_position(child.pid(), *fd);
          if (pos != last) {
            last = pos;
            since = Clock::now();
            return false;
          }
          return pos > 0 && Clock::now() - since >= 500ms;
        },
        20s, 20ms);
    int64_t rss_kb = status_kb(child.pid(), "VmRSS");
    EXPECT_TRUE(stalled) << "the reader never stalled; position " << pos << " of " << size;
    EXPECT_LT(pos, size / 2) << "spate read " << pos << " of " << size
                             << " bytes though its output is not being read";
    EXPECT_GT(rss_kb, 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // sanitizers inflate RSS
    EXPECT_LT(rss_kb, 200 * 1024) << "VmRSS " << rss_kb << " kB";
    if (rss_below_half_input) {
      EXPECT_LT(rss_kb * 1024, size / 2)
          << "VmRSS " << rss_kb << " kB for a " << size << "-byte file";
    }
#endif
    std::printf("backpressure: stalled at %lld of %lld bytes, VmRSS %lld kB\n",
                static_cast<long long>(pos), static_cast<long long>(size),
                static_cast<long long>(rss_kb));
    return child.wait(60s);  // reads the pipe to the end
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string data_, input_, setup_error_;
};

// Only a filter: the raw events are written as they are.
TEST_F(BackpressureTest, RawPassThroughFromUnreadStdout) {
  std::vector<std::string> want;  // the input lines whose latency_ms >= 100, unchanged
  simdjson::dom::parser parser;
  for (const auto& line : lines(input_)) {
    double latency = 0;
    ASSERT_EQ(parser.parse(line)["latency_ms"].get_double().get(latency), simdjson::SUCCESS)
        << line;
    if (latency >= 100) want.push_back(line);
  }
  ASSERT_GT(want.size(), static_cast<size_t>(kEvents) / 4);
  ASSERT_LT(want.size(), static_cast<size_t>(kEvents));
  RunResult r = run_stalled("  - filter: 'latency_ms >= 100'\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> got = lines(r.out);
  EXPECT_EQ(got.size(), want.size());
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_TRUE(got == want) << "the output is not exactly the filtered input";
}

// The same with a select (records, not raw events, flow to the sink).
TEST_F(BackpressureTest, FilterSelectFromUnreadStdout) {
  // user, page, latency of the events whose latency_ms >= 100, as "user page latency".
  auto key = [](std::string_view user, std::string_view page, double ms) {
    return fmt::format("{} {} {:.17g}", user, page, ms);
  };
  std::vector<std::string> want;
  simdjson::dom::parser parser;
  for (const auto& line : lines(input_)) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    double latency = 0;
    std::string_view user, page;
    ASSERT_EQ(doc["latency_ms"].get_double().get(latency), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["user"].get_string().get(user), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["page"].get_string().get(page), simdjson::SUCCESS) << line;
    if (latency >= 100) want.push_back(key(user, page, latency));
  }
  RunResult r = run_stalled(
      "  - filter: 'latency_ms >= 100'\n"
      "  - select: {user: user, page: page, ms: latency_ms}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> got;
  for (const auto& line : lines(r.out)) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    double ms = 0;
    std::string_view user, page;
    ASSERT_EQ(doc["ms"].get_double().get(ms), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["user"].get_string().get(user), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["page"].get_string().get(page), simdjson::SUCCESS) << line;
    got.push_back(key(user, page, ms));
  }
  EXPECT_EQ(got.size(), want.size());
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_TRUE(got == want) << "the output is not exactly the filtered, selected input";
}

// Window results: the worker waits when the collector has a bounded number of fired windows
// queued, so an unread stdout stops the reader too (fired windows used to pile up in memory
// while the whole input was read). Every event is counted once when the pipe is drained.
// Two workers, so records also cross the exchange. What a stalled pipeline holds is the sum of
// bounded buffers: collector_capacity (64) fired windows queued for the collector, windows it
// waits to complete, its unwritten output, the exchange channels (16 batches per worker pair),
// the raw chunks (4 per worker) and each worker's open windows. Windows of 100 ms (about 100 of
// the input's events each) keep that sum well under half of the input; with 1 s windows it was
// 25-39 MB of the 58.5 MB file on two workers, too close to the limit to tell a leak apart.
TEST_F(BackpressureTest, WindowResultsFromUnreadStdout) {
  RunResult r = run_stalled(
      "  - key_by: user\n"
      "  - window: {tumbling: 100ms}\n"
      "  - aggregate: {n: count()}\n",
      "time: {field: ts, max_out_of_order: 2s}\n", /*workers=*/2, /*rss_below_half_input=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int64_t total = 0;
  simdjson::dom::parser parser;
  for (const auto& line : lines(r.out)) {
    int64_t n = 0;
    ASSERT_EQ(parser.parse(line)["n"].get_int64().get(n), simdjson::SUCCESS) << line;
    total += n;
  }
  EXPECT_EQ(total, kEvents);
}

// ================================================================== 5. TCP sink

std::string sink_test_events(Table* want, int64_t window_ms) {
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    Event e{kBase + (i * 7) % 6000, fmt::format("s{}", i % 11), (i * 13) % 500};
    text += to_json(e) + "\n";
    add_event(*want, e, window_ms);
  }
  return text;
}

TEST(NetworkTest, TcpSinkDeliversEveryResult) {
  constexpr int64_t kWindow = 1000;
  TempDir dir;
  LoopbackServer server(/*listen_now=*/true);
  Table want;
  std::string events = sink_test_events(&want, kWindow);
  std::string pipeline =
      yaml_file(dir, "sink.yaml",
                keyed_window_pipeline(
                    "tcp-sink", "{type: stdin}", "{field: ts, max_out_of_order: 1h}", "k", "1s",
                    "{n: count(), total: sum(v)}",
                    fmt::format(R"({{type: tcp, connect: "127.0.0.1:{}"}})", server.port()), 2));
  RunResult r = run_spate({"run", pipeline}, events, 20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(server.wait_all_closed(10s)) << "accepted " << server.accepted();
  EXPECT_TRUE(rows_match(rows_or_fail(server.data()), want, kWindow, Fields{.key = "k"}));
}

TEST(NetworkTest, TcpSinkReconnectsWhenTheServerComesLate) {
  constexpr int64_t kWindow = 1000;
  TempDir dir;
  LoopbackServer server(/*listen_now=*/false);  // port reserved; connections refused for now
  Table want;
  std::string events = sink_test_events(&want, kWindow);
  std::string pipeline =
      yaml_file(dir, "late-sink.yaml",
                keyed_window_pipeline(
                    "late-sink", "{type: stdin}", "{field: ts, max_out_of_order: 1h}", "k", "1s",
                    "{n: count(), total: sum(v)}",
                    fmt::format(R"({{type: tcp, connect: "127.0.0.1:{}"}})", server.port()), 2));
  Child child({"run", pipeline}, /*pipe_stdin=*/true);
  std::thread writer([&] {
    size_t at = 0;
    while (at < events.size()) {
      ssize_t w = ::write(child.stdin_fd(), events.data() + at, events.size() - at);
      if (w <= 0) break;
      at += static_cast<size_t>(w);
    }
  });
  writer.join();
  child.close_stdin();
  // All input is in; the results cannot be delivered yet: the sink says it will retry.
  ASSERT_FALSE(child.wait_stderr("unavailable", 10s).empty());
  server.start_listening();
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("connected"), std::string::npos) << r.err;
  ASSERT_TRUE(server.wait_all_closed(10s)) << "accepted " << server.accepted();
  EXPECT_TRUE(rows_match(rows_or_fail(server.data()), want, kWindow, Fields{.key = "k"}));
}

// The server goes away between two results (it closes the connection, as a restart would) and
// comes back: the results written after that must still all arrive.
TEST(NetworkTest, TcpSinkReconnectsAfterTheServerClosesTheConnection) {
  constexpr int64_t kWindow = 1000;
  TempDir dir;
  LoopbackServer server(/*listen_now=*/true);
  // One worker and in-order events: each window fires (and is written to the sink on its own)
  // as soon as the first event of the next window is read.
  std::string pipeline = yaml_file(
      dir, "restart-sink.yaml",
      keyed_window_pipeline(
          "restart-sink", "{type: stdin}", "{field: ts}", "k", "1s", "{n: count(), total: sum(v)}",
          fmt::format(R"({{type: tcp, connect: "127.0.0.1:{}"}})", server.port()), 1));
  Table want;
  auto window_text = [&](int w) {
    std::string text;
    for (int i = 0; i < 30; ++i) {
      Event e{kBase + w * kWindow + i * 30, fmt::format("r{}", i % 3), w * 10 + i};
      text += to_json(e) + "\n";
      add_event(want, e, kWindow);
    }
    return text;
  };
  auto rows_of = [&](int w) {
    size_t n = 0;
    for (const Row& r : parse_rows(complete_lines(server.data()))) {
      n += r.at("window_start") == rfc3339(kBase + w * kWindow);
    }
    return n;
  };
  Child child({"run", pipeline}, /*pipe_stdin=*/true);
  auto feed = [&](const std::string& text) {
    return ::write(child.stdin_fd(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  };
  ASSERT_TRUE(feed(window_text(0) + window_text(1)));  // W0 fires
  ASSERT_TRUE(poll_until([&] { return rows_of(0) == 3; }, 10s)) << server.data();
  ASSERT_TRUE(server.drop_connections(5s));
  ASSERT_TRUE(feed(window_text(2)));  // W1 fires: written after the server closed the connection
  bool w1 = poll_until([&] { return rows_of(1) == 3; }, 3s);
  EXPECT_TRUE(w1) << "W1's results, written after the server closed the connection, did not "
                     "arrive (sent into the dead connection?)";
  ASSERT_TRUE(feed(window_text(3)));  // W2 fires
  child.close_stdin();                // W3 fires at the end
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(server.wait_all_closed(10s));
  EXPECT_GE(server.accepted(), 2);
  EXPECT_TRUE(rows_match(rows_or_fail(server.data()), want, kWindow, Fields{.key = "k"}));
}

// ================================================================== 6. stdin

TEST(NetworkTest, StdinGeneratedClicksExactWindows) {
  constexpr int64_t kWindow = 5000;
  RunResult gen = run_spate({"gen", "clicks", "--count", "20000", "--seed", "3"}, "", 30s);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  // The answer, from the same bytes: per (country, 5 s window) of non-purchase events the count,
  // sum, min and max of latency_ms. gen promises events at most 1 s late, so with
  // max_out_of_order: 2s none may be dropped.
  Table want;
  int64_t events = 0;
  {
    simdjson::dom::parser parser;
    for (const auto& line : lines(gen.out)) {
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
      int64_t ts = 0;
      std::string_view country, type;
      double latency = 0;
      ASSERT_EQ(doc["ts"].get_int64().get(ts), simdjson::SUCCESS) << line;
      ASSERT_EQ(doc["country"].get_string().get(country), simdjson::SUCCESS) << line;
      ASSERT_EQ(doc["type"].get_string().get(type), simdjson::SUCCESS) << line;
      ASSERT_EQ(doc["latency_ms"].get_double().get(latency), simdjson::SUCCESS) << line;
      ++events;
      if (type == "purchase") continue;
      want[{std::string(country), window_of(ts, kWindow)}].add(latency);
    }
  }
  ASSERT_EQ(events, 20000);
  TempDir dir;
  std::string pipeline = yaml_file(
      dir, "stdin.yaml",
      fmt::format("name: stdin-clicks\n"
                  "workers: 2\n"
                  "source: {{type: stdin}}\n"
                  "time: {{field: ts, max_out_of_order: 2s}}\n"
                  "steps:\n"
                  "  - filter: 'type != \"purchase\"'\n"
                  "  - key_by: country\n"
                  "  - window: {{tumbling: 5s}}\n"
                  "  - aggregate: {{n: count(), total: sum(latency_ms), lo: min(latency_ms), "
                  "hi: max(latency_ms)}}\n"));
  RunResult r = run_spate({"run", pipeline}, gen.out, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("20000 events"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("dead letter"), std::string::npos) << "nothing may be late: " << r.err;
  EXPECT_TRUE(rows_match(rows_or_fail(r.out), want, kWindow,
                         Fields{.key = "country", .lo = "lo", .hi = "hi", .sum_rel_tol = 1e-9}));
}

// Per-input watermarks: a client whose clock runs behind another's is not made late by it, and a
// client that goes quiet stops holding windows back after idle_timeout.
std::string two_clock_pipeline(const TempDir& dir, const std::string& idle) {
  return yaml_file(dir, "clocks.yaml", fmt::format(R"(name: clocks
workers: 2
source: {{type: tcp, listen: "127.0.0.1:0"}}
time: {{field: ts, max_out_of_order: 1s, idle_timeout: {}}}
steps:
  - key_by: k
  - window: {{tumbling: 1s}}
  - aggregate: {{n: count()}}
sink: {{type: stdout}}
)",
                                                   idle));
}

// Half-closes every client, waits until spate has read each stream to its end, then SIGTERM:
// spate drains and exits. A client spate did not finish reading fails the test.
RunResult end_clients_then_drain(Child& child, std::initializer_list<const Fd*> clients) {
  for (const Fd* c : clients) ::shutdown(c->get(), SHUT_WR);
  for (const Fd* c : clients) {
    EXPECT_TRUE(wait_peer_closed(c->get(), Deadline(20s))) << "spate did not read a client's end";
  }
  child.signal(SIGTERM);
  return child.wait(20s);
}

std::string clock_event(const std::string& k, int64_t ts) {
  return fmt::format("{{\"k\": \"{}\", \"ts\": {}}}\n", k, ts);
}

TEST(NetworkTest, ASlowInputIsNotMadeLateByAFastOne) {
  TempDir dir;
  Child child({"run", two_clock_pipeline(dir, "1h")});
  int port = listen_port(child, "tcp");
  ASSERT_GT(port, 0) << child.wait(5s).err;
  Fd slow = connect_tcp(port), fast = connect_tcp(port);
  ASSERT_GE(slow.get(), 0);
  ASSERT_GE(fast.get(), 0);
  // The fast client is an hour ahead. Each sends in turn, so both inputs stay active.
  constexpr int kRounds = 50, kPer = 20;
  for (int r = 0; r < kRounds; ++r) {
    std::string a, b;
    for (int i = 0; i < kPer; ++i) {
      a += clock_event("slow", kBase + (r * kPer + i) * 10);
      b += clock_event("fast", kBase + 3600000 + (r * kPer + i) * 10);
    }
    ASSERT_TRUE(send_all(slow.get(), a.data(), a.size()));
    ASSERT_TRUE(send_all(fast.get(), b.data(), b.size()));
  }
  RunResult r = end_clients_then_drain(child, {&slow, &fast});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int64_t slow_n = 0, fast_n = 0;
  for (const Row& row : rows_or_fail(r.out)) {
    (row.at("k") == "slow" ? slow_n : fast_n) += std::stoll(row.at("n"));
  }
  EXPECT_EQ(slow_n, kRounds * kPer) << r.err;
  EXPECT_EQ(fast_n, kRounds * kPer) << r.err;
  EXPECT_EQ(r.err.find("dead letter"), std::string::npos) << r.err;
}

TEST(NetworkTest, AQuietInputStopsHoldingWindowsBackAfterIdleTimeout) {
  TempDir dir;
  Child child({"run", two_clock_pipeline(dir, "300ms")});
  int port = listen_port(child, "tcp");
  ASSERT_GT(port, 0) << child.wait(5s).err;
  Fd quiet = connect_tcp(port), busy = connect_tcp(port);
  ASSERT_GE(quiet.get(), 0);
  ASSERT_GE(busy.get(), 0);
  // The quiet client sends one early event and then nothing (its connection stays open).
  std::string q = clock_event("quiet", kBase);
  ASSERT_TRUE(send_all(quiet.get(), q.data(), q.size()));
  // The busy client's clock moves on; once the quiet one has been idle for 300 ms, the busy
  // client's windows must fire while both connections are still open.
  std::string out;
  Deadline d(20s);
  int64_t t = kBase;
  bool fired = false;
  while (!d.passed() && !fired) {
    std::string b;
    for (int i = 0; i < 20; ++i, t += 50) b += clock_event("busy", t);
    ASSERT_TRUE(send_all(busy.get(), b.data(), b.size()));
    fired = read_stdout_until(child, &out, [](const std::string& s) {
      return s.find("\"busy\"") != std::string::npos;
    }, 50ms);
  }
  EXPECT_TRUE(fired) << "no window of the busy input fired while the quiet input was connected";
  child.signal(SIGTERM);
  RunResult r = child.wait(20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}


// `$rate` is the event rate of the event's own input: a client that floods shows thousands of
// events per second, a client with three events never more than three, and a bucket of it is a
// routing key like any other.
int local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  return ntohs(a.sin_port);
}

TEST(NetworkTest, RateIsPerInputAndBucketsRouteLikeAnyKey) {
  TempDir dir;
  std::string pipeline = yaml_file(dir, "rate.yaml", R"(name: rate-buckets
workers: 3
source: {type: tcp, listen: "127.0.0.1:0", format: json}
steps:
  - select: {port: '$remote_port', r: '$rate', bucket: '$rate - $rate % 1000', v: v}
  - key_by: {field: bucket, grouping: partial_key}
sink: {type: stdout, format: json}
)");
  Child child({"run", pipeline});
  int port = listen_port(child, "tcp");
  ASSERT_GT(port, 0) << child.wait(5s).err;
  Fd slow = connect_tcp(port), fast = connect_tcp(port);
  ASSERT_GE(slow.get(), 0);
  ASSERT_GE(fast.get(), 0);
  constexpr int kFast = 20000, kSlow = 3;
  std::string a, b;
  for (int i = 0; i < kSlow; ++i) a += fmt::format("{{\"v\": {}}}\n", i);
  for (int i = 0; i < kFast; ++i) b += fmt::format("{{\"v\": {}}}\n", i);
  ASSERT_TRUE(send_all(slow.get(), a.data(), a.size()));
  ASSERT_TRUE(send_all(fast.get(), b.data(), b.size()));
  RunResult r = end_clients_then_drain(child, {&slow, &fast});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string slow_port = std::to_string(local_port(slow.get()));
  const std::string fast_port = std::to_string(local_port(fast.get()));
  int64_t slow_n = 0, fast_n = 0, fast_max = 0;
  for (const Row& row : rows_or_fail(r.out)) {
    const int64_t rate = std::stoll(row.at("r"));
    EXPECT_EQ(std::stoll(row.at("bucket")), rate - rate % 1000);
    EXPECT_GE(rate, 1);
    if (row.at("port") == slow_port) {
      ++slow_n;
      EXPECT_LE(rate, kSlow);
    } else {
      ASSERT_EQ(row.at("port"), fast_port);
      ++fast_n;
      fast_max = std::max(fast_max, rate);
      EXPECT_LE(rate, kFast);
    }
  }
  EXPECT_EQ(slow_n, kSlow);
  EXPECT_EQ(fast_n, kFast);
  // 20000 events sent at once reach spate within a second: at least 1000 are counted together.
  EXPECT_GE(fast_max, 1000);
}

}  // namespace
}  // namespace spate::test
