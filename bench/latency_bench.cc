// End-to-end latency and throughput of `spate run` over TCP (issue 5), per-event vs micro-batch.
//
// A standalone program (not Google Benchmark). For every trial it:
//   1. opens its own TCP server on 127.0.0.1 (port 0) for spate's TCP sink;
//   2. writes a pipeline YAML into a fresh temp dir and starts the spate binary on it
//      (TCP source on 127.0.0.1:0; the bound port is read from spate's stderr);
//   3. connects a TCP client to the source and sends JSON events, each carrying `sent` =
//      steady_clock ns taken just before the send() of its burst, paced at the target rate in
//      small bursts (or as fast as possible for the throughput runs);
//   4. reads the sink's lines; latency = steady_clock at read() return - `sent`.
// Sender and receiver are threads of this one process, so one monotonic clock serves both.
//
// Plan: for each mode, R throughput runs (N events as fast as the pipeline takes them; rate =
// events / (last receive - first send)); then, at 10%, 50% and 90% of the per-event median
// maximum, R latency runs per mode. Runs are interleaved (repeat, load, mode) so slow periods
// of a shared machine hit both modes. Output: one line per run, then a Markdown table of
// medians with [min-max] over the repeats.
//
// Usage: latency_bench [--spate PATH] [--workers 1] [--batch-ms 100] [--pipeline select]
//                      [--max-events 5000000] [--seconds 5] [--warmup 0.5] [--repeats 3]
//                      [--fractions 0.1,0.5,0.9] [--modes per_event,micro_batch]
//                      [--max-rate R] (skip the throughput runs; use R as the per-event max)
// --pipeline: select (filter + select with $ingest_time), filter (filter only: spate writes the
// original lines), window (100 ms processing-time tumbling window, count/min/max of `sent`;
// latency = result arrival on CLOCK_REALTIME - window_end, i.e. how long after its window
// closed a result arrives; windows whose first event was sent in the warm-up are not measured).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // what std::chrono::steady_clock reads on Linux
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
int64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// "window_end":"2026-01-01T00:00:10.100Z" -> ms since the epoch.
int64_t window_end_ms(std::string_view line, bool* ok) {
  constexpr std::string_view key = "\"window_end\":\"";
  size_t at = line.find(key);
  if (at == std::string_view::npos || line.size() < at + key.size() + 24) {
    *ok = false;
    return 0;
  }
  const std::string v(line.substr(at + key.size(), 24));
  tm t{};
  int ms = 0;
  if (std::sscanf(v.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour,
                  &t.tm_min, &t.tm_sec, &ms) != 7) {
    *ok = false;
    return 0;
  }
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  return int64_t{timegm(&t)} * 1000 + ms;
}

std::atomic<pid_t> g_child{-1};  // the running spate, killed if the bench gives up

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "latency_bench: %s\n", msg.c_str());
  if (pid_t c = g_child.load(); c > 0) {
    ::kill(c, SIGKILL);
    ::waitpid(c, nullptr, 0);
  }
  std::exit(1);
}

struct Options {
  std::string spate;
  int workers = 1;
  int batch_ms = 100;
  std::string pipeline = "select";
  int64_t max_events = 5'000'000;
  double seconds = 5;
  double warmup = 0.5;
  int repeats = 3;
  std::vector<double> fractions{0.1, 0.5, 0.9};
  std::vector<std::string> modes{"per_event", "micro_batch"};
  double max_rate = 0;  // > 0: skip the throughput runs
  double tick_us = 100;  // paced sender: at most one send per tick
};

// ------------------------------------------------------------------ sockets
int listen_local(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || ::listen(fd, 4) < 0) {
    die("bind/listen 127.0.0.1:0: " + std::string(std::strerror(errno)));
  }
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    die("connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

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

// ------------------------------------------------------------------ spate process
class SpateProcess {
 public:
  // Starts `spate run yaml --workers N -q`; waits (at most 10 s) for its listening line.
  SpateProcess(const std::string& bin, const std::string& yaml, int workers) {
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) != 0) die("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    std::string w = std::to_string(workers);
    const char* argv[] = {bin.c_str(), "run", yaml.c_str(), "--workers", w.c_str(), "-q", nullptr};
    int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(pfd[1]);
    if (rc != 0) die("cannot start " + bin + ": " + std::strerror(rc));
    g_child.store(pid_);
    err_fd_ = pfd[0];
    const std::string marker = "spate: listening on tcp 127.0.0.1:";
    int64_t deadline = now_ns() + 10'000'000'000;
    char buf[4096];
    while (port_ == 0) {
      int64_t left_ms = (deadline - now_ns()) / 1'000'000;
      if (left_ms <= 0) die("spate did not report its listening port within 10 s; stderr:\n" + err_);
      pollfd p{err_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
      ssize_t r = ::read(err_fd_, buf, sizeof(buf));
      if (r <= 0) die("spate exited before listening; stderr:\n" + err_);
      err_.append(buf, static_cast<size_t>(r));
      size_t at = err_.find(marker);
      if (at != std::string::npos) {
        size_t nl = err_.find('\n', at);
        if (nl == std::string::npos) continue;
        port_ = std::atoi(err_.c_str() + at + marker.size());
      }
    }
    // Keep draining stderr so spate never blocks on a full pipe.
    drain_ = std::thread([this] {
      char b[4096];
      ssize_t r;
      while ((r = ::read(err_fd_, b, sizeof(b))) > 0) {
        std::lock_guard<std::mutex> lk(mu_);
        err_.append(b, static_cast<size_t>(r));
      }
    });
  }
  ~SpateProcess() { stop(); }
  int port() const { return port_; }
  std::string stderr_text() {
    std::lock_guard<std::mutex> lk(mu_);
    return err_;
  }
  // SIGINT (drain and exit), at most 10 s, then SIGKILL. Returns the exit status text.
  std::string stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGINT);
    int st = 0;
    int64_t deadline = now_ns() + 10'000'000'000;
    pid_t r = 0;
    while ((r = ::waitpid(pid_, &st, WNOHANG)) == 0 && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (r == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      status_ = "killed after 10 s";
    } else {
      status_ = WIFEXITED(st) ? "exit " + std::to_string(WEXITSTATUS(st))
                              : "signal " + std::to_string(WTERMSIG(st));
    }
    pid_ = -1;
    g_child.store(-1);
    if (drain_.joinable()) drain_.join();
    ::close(err_fd_);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::string err_;
  std::string status_;
  std::thread drain_;
};

// ------------------------------------------------------------------ one trial
struct TrialResult {
  std::string mode;
  double target_rate = 0;  // 0: as fast as possible
  int64_t sent = 0, received = 0, measured = 0;
  double rate = 0;  // events/s at the sink
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double send_lag_max_us = 0;  // how far the sender fell behind its schedule
  double spate_cpu_ns = 0, bench_cpu_ns = 0;  // CPU time (user + sys) per event sent
  double ingest_p50_ms = -1, ingest_p99_ms = -1;  // select: sink wall - $ingest_time (ms)
  bool ok = true;
  std::string note;
};

int64_t field_int(std::string_view line, std::string_view key, bool* ok) {
  size_t at = line.find(key);
  if (at == std::string_view::npos) {
    *ok = false;
    return 0;
  }
  const char* p = line.data() + at + key.size();
  const char* e = line.data() + line.size();
  int64_t v = 0;
  auto [q, ec] = std::from_chars(p, e, v);
  if (ec != std::errc()) {
    *ok = false;
    return 0;
  }
  if (q < e && (*q == '.' || *q == 'e' || *q == 'E')) {  // a double: parse it whole
    double d = 0;
    std::from_chars(p, e, d);
    v = static_cast<int64_t>(d);
  }
  return v;
}

std::string write_pipeline(const std::filesystem::path& dir, const Options& o,
                           const std::string& mode, int sink_port) {
  std::string y = "name: latency-bench\nmode: " + mode + "\n";
  if (mode == "micro_batch") y += "batch_interval: " + std::to_string(o.batch_ms) + "ms\n";
  y += "source: {type: tcp, listen: \"127.0.0.1:0\", format: json}\nsteps:\n";
  if (o.pipeline == "select") {
    y += "  - filter: 'type == \"view\"'\n"
         "  - select: {seq: seq, sent: sent, page: page, ingest: '$ingest_time'}\n";
  } else if (o.pipeline == "filter") {
    y += "  - filter: 'type == \"view\"'\n";
  } else if (o.pipeline == "window") {
    y += "  - window: {tumbling: 100ms}\n"
         "  - aggregate: {n: count(), first: min(sent), last: max(sent)}\n";
  } else {
    die("unknown --pipeline '" + o.pipeline + "' (select, filter, window)");
  }
  y += "sink: {type: tcp, connect: \"127.0.0.1:" + std::to_string(sink_port) + "\", format: json}\n";
  std::filesystem::path p = dir / ("pipeline-" + mode + ".yaml");
  std::ofstream(p) << y;
  return p.string();
}

double pct(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]);
}

// target_rate 0: send `count` events as fast as possible.
TrialResult run_trial(const Options& o, const std::filesystem::path& dir, const std::string& mode,
                      double target_rate, int64_t count) {
  TrialResult res;
  res.mode = mode;
  res.target_rate = target_rate;
  const bool window = o.pipeline == "window";
  int sink_port = 0;
  int lfd = listen_local(&sink_port);
  std::string yaml = write_pipeline(dir, o, mode, sink_port);
  auto cpu_ns = [](int who) {
    rusage ru{};
    ::getrusage(who, &ru);
    return (int64_t{ru.ru_utime.tv_sec} + ru.ru_stime.tv_sec) * 1'000'000'000 +
           (int64_t{ru.ru_utime.tv_usec} + ru.ru_stime.tv_usec) * 1000;
  };
  const int64_t children0 = cpu_ns(RUSAGE_CHILDREN), self0 = cpu_ns(RUSAGE_SELF);
  SpateProcess spate(o.spate, yaml, o.workers);

  // Events scheduled in the first `warmup` seconds are not measured (sink connect, page faults).
  const int64_t warm = target_rate > 0 ? static_cast<int64_t>(target_rate * o.warmup) : 0;
  std::vector<int64_t> lat;  // ns
  std::vector<int64_t> ingest_lag_ms;
  lat.reserve(static_cast<size_t>(window ? 1024 : count));
  if (o.pipeline == "select") ingest_lag_ms.reserve(static_cast<size_t>(count));
  std::atomic<int64_t> received{0};
  std::atomic<bool> send_done{false};
  std::atomic<int64_t> first_send{now_ns()};
  int64_t last_recv = 0;
  std::string recv_error;

  std::thread receiver([&] {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 15000) <= 0) {
      recv_error = "the sink never connected";
      return;
    }
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      recv_error = "accept failed";
      return;
    }
    std::vector<char> buf(1 << 20);
    std::string partial;
    int64_t idle_deadline = 0;
    int64_t n = 0;
    while (true) {
      if (n >= count) break;
      if (send_done.load()) {
        // Everything is sent: wait at most 10 s (plus a batch) for the rest.
        if (idle_deadline == 0) idle_deadline = now_ns() + 10'000'000'000 + int64_t{o.batch_ms} * 1'000'000;
        if (now_ns() > idle_deadline) break;
      }
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 50) <= 0) continue;
      ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r <= 0) break;
      const int64_t t = now_ns();
      const int64_t tw = window ? 0 : wall_ms();
      last_recv = t;
      std::string_view data(buf.data(), static_cast<size_t>(r));
      while (!data.empty()) {
        size_t nl = data.find('\n');
        if (nl == std::string_view::npos) {
          partial.append(data);
          break;
        }
        std::string_view line = data.substr(0, nl);
        if (!partial.empty()) {
          partial.append(line);
          line = partial;
        }
        bool ok = true;
        if (window) {
          int64_t k = field_int(line, "\"n\":", &ok);
          int64_t last = field_int(line, "\"last\":", &ok);
          int64_t first = field_int(line, "\"first\":", &ok);
          int64_t end_ms = window_end_ms(line, &ok);
          (void)last;
          if (ok) {
            n += k;
            // Result latency: arrival (wall clock) - window_end (the window closes on spate's
            // wall clock: processing time).
            if (first >= first_send.load() + static_cast<int64_t>(o.warmup * 1e9) || target_rate == 0) {
              lat.push_back(wall_ns() - end_ms * 1'000'000);
            }
          }
        } else {
          int64_t seq = field_int(line, "\"seq\":", &ok);
          int64_t sent = field_int(line, "\"sent\":", &ok);
          if (ok) {
            ++n;
            if (seq >= warm) {
              lat.push_back(t - sent);
              if (o.pipeline == "select") {
                bool iok = true;
                int64_t ing = field_int(line, "\"ingest\":", &iok);
                if (iok) ingest_lag_ms.push_back(tw - ing);
              }
            }
          }
        }
        if (!ok && recv_error.empty()) recv_error = "unparsable sink line: " + std::string(line.substr(0, 200));
        partial.clear();
        data.remove_prefix(nl + 1);
      }
      received.store(n);
    }
    received.store(n);
    ::close(fd);
  });

  // Sender.
  int sfd = connect_local(spate.port());
  std::string out;
  out.reserve(1 << 20);
  char num[32];
  auto add_int = [&](int64_t v) {
    auto [e, ec] = std::to_chars(num, num + sizeof(num), v);
    out.append(num, static_cast<size_t>(e - num));
  };
  auto add_event = [&](int64_t seq, int64_t sent) {
    // Shaped like `spate gen clicks` lines (~125 B).
    out += "{\"seq\":";
    add_int(seq);
    out += ",\"sent\":";
    add_int(sent);
    out += ",\"ts\":";
    add_int(1767225600000 + seq);
    out += ",\"page\":\"/products/";
    add_int(seq % 997);
    out += "\",\"user\":\"u";
    add_int((seq * 7919) % 100000);
    out += "\",\"type\":\"view\",\"latency_ms\":";
    add_int(seq % 250);
    out += "}\n";
  };
  bool send_ok = true;
  const int64_t t0 = now_ns();
  first_send.store(t0);
  int64_t lag_max = 0;
  if (target_rate <= 0) {
    for (int64_t i = 0; i < count && send_ok;) {
      out.clear();
      const int64_t t = now_ns();
      for (int k = 0; k < 256 && i < count; ++k, ++i) add_event(i, t);
      send_ok = send_all(sfd, out.data(), out.size());
    }
  } else {
    const double ns_per_event = 1e9 / target_rate;
    const int64_t tick_ns = static_cast<int64_t>(o.tick_us * 1000);
    const int64_t hard_stop = t0 + static_cast<int64_t>((o.seconds * 3 + 10) * 1e9);
    int64_t i = 0;
    while (i < count && send_ok) {
      const int64_t t = now_ns();
      if (t > hard_stop) {
        res.note = "sender could not keep the rate";
        break;
      }
      int64_t due = std::min<int64_t>(count, static_cast<int64_t>(static_cast<double>(t - t0) / ns_per_event) + 1);
      if (due > i) {
        lag_max = std::max<int64_t>(lag_max, t - (t0 + static_cast<int64_t>(static_cast<double>(i) * ns_per_event)));
        out.clear();
        for (int k = 0; k < 4096 && i < due; ++k, ++i) add_event(i, t);
        send_ok = send_all(sfd, out.data(), out.size());
        continue;
      }
      // Nothing due: sleep until the next event is due, but at least one tick, so that the
      // sender sends a batch per tick instead of spinning for each event between (at 1M
      // events/s one event is due every microsecond; a spinning sender took a whole core from
      // the two spate runs on). Events are stamped when sent, so the tick does not enter the
      // measured latency.
      const int64_t next = t0 + static_cast<int64_t>(static_cast<double>(i) * ns_per_event);
      const int64_t wake = std::max(next, t + tick_ns);
      timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
  }
  res.sent = count;
  send_done.store(true);
  receiver.join();
  ::close(sfd);
  ::close(lfd);
  std::string status = spate.stop();  // reaped: its CPU time is now in RUSAGE_CHILDREN
  res.spate_cpu_ns = static_cast<double>(cpu_ns(RUSAGE_CHILDREN) - children0) / static_cast<double>(count);
  res.bench_cpu_ns = static_cast<double>(cpu_ns(RUSAGE_SELF) - self0) / static_cast<double>(count);
  if (!send_ok) res.note += " send failed;";
  if (!recv_error.empty()) res.note += " " + recv_error + ";";
  res.received = received.load();
  // Filter keeps every event (all are views); windows count them.
  if (res.received != count) {
    res.ok = false;
    res.note += " received " + std::to_string(res.received) + " of " + std::to_string(count) +
                " (spate " + status + "; stderr: " + spate.stderr_text() + ")";
  }
  const int64_t fs = first_send.load();
  res.rate = last_recv > fs ? static_cast<double>(res.received) * 1e9 / static_cast<double>(last_recv - fs) : 0;
  res.send_lag_max_us = static_cast<double>(lag_max) / 1e3;
  std::sort(lat.begin(), lat.end());
  res.measured = static_cast<int64_t>(lat.size());
  res.p50_us = pct(lat, 0.5) / 1e3;
  res.p99_us = pct(lat, 0.99) / 1e3;
  res.p999_us = pct(lat, 0.999) / 1e3;
  res.max_us = lat.empty() ? 0 : static_cast<double>(lat.back()) / 1e3;
  if (!ingest_lag_ms.empty()) {
    std::sort(ingest_lag_ms.begin(), ingest_lag_ms.end());
    res.ingest_p50_ms = pct(ingest_lag_ms, 0.5);
    res.ingest_p99_ms = pct(ingest_lag_ms, 0.99);
  }
  return res;
}

void print_trial(const TrialResult& r) {
  std::printf("%-11s target %9.0f/s  got %9.0f/s  n=%-8lld p50 %9.1f us  p99 %9.1f us  p99.9 %9.1f us  "
              "max %9.1f us  send-lag max %8.1f us",
              r.mode.c_str(), r.target_rate, r.rate, static_cast<long long>(r.measured), r.p50_us,
              r.p99_us, r.p999_us, r.max_us, r.send_lag_max_us);
  std::printf("  cpu/event spate %.0f ns, bench %.0f ns", r.spate_cpu_ns, r.bench_cpu_ns);
  if (r.ingest_p50_ms >= 0) std::printf("  ingest->sink p50/p99 %.0f/%.0f ms", r.ingest_p50_ms, r.ingest_p99_ms);
  if (!r.ok || !r.note.empty()) std::printf("  [%s%s]", r.ok ? "" : "FAILED", r.note.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

struct Spread {
  double med = 0, lo = 0, hi = 0;
};
Spread spread(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.lo = v.front();
  s.hi = v.back();
  s.med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}
std::string fmt_us(const Spread& s) {
  char b[128];
  auto one = [](double us) {
    char t[32];
    if (us >= 10000) std::snprintf(t, sizeof(t), "%.0f ms", us / 1000);
    else if (us >= 1000) std::snprintf(t, sizeof(t), "%.2f ms", us / 1000);
    else std::snprintf(t, sizeof(t), "%.0f µs", us);
    return std::string(t);
  };
  std::snprintf(b, sizeof(b), "%s [%s–%s]", one(s.med).c_str(), one(s.lo).c_str(), one(s.hi).c_str());
  return b;
}
std::string fmt_rate(const Spread& s) {
  char b[128];
  std::snprintf(b, sizeof(b), "%.0fk [%.0fk–%.0fk]", s.med / 1e3, s.lo / 1e3, s.hi / 1e3);
  return b;
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> v;
  size_t at = 0;
  while (at <= s.size()) {
    size_t c = s.find(',', at);
    if (c == std::string::npos) c = s.size();
    v.push_back(std::atof(s.substr(at, c - at).c_str()));
    at = c + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--spate") o.spate = val();
    else if (a == "--workers") o.workers = std::atoi(val().c_str());
    else if (a == "--batch-ms") o.batch_ms = std::atoi(val().c_str());
    else if (a == "--pipeline") o.pipeline = val();
    else if (a == "--max-events") o.max_events = std::atoll(val().c_str());
    else if (a == "--seconds") o.seconds = std::atof(val().c_str());
    else if (a == "--warmup") o.warmup = std::atof(val().c_str());
    else if (a == "--repeats") o.repeats = std::atoi(val().c_str());
    else if (a == "--fractions") o.fractions = parse_list(val());
    else if (a == "--max-rate") o.max_rate = std::atof(val().c_str());
    else if (a == "--tick-us") o.tick_us = std::atof(val().c_str());
    else if (a == "--modes") {
      o.modes.clear();
      std::string m = val();
      size_t at = 0;
      while (at <= m.size()) {
        size_t c = m.find(',', at);
        if (c == std::string::npos) c = m.size();
        o.modes.push_back(m.substr(at, c - at));
        at = c + 1;
      }
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [--spate PATH] [--workers N] [--batch-ms MS] [--pipeline select|filter|window]\n"
                  "  [--max-events N] [--seconds S] [--warmup S] [--repeats R] [--fractions 0.1,0.5,0.9]\n"
                  "  [--modes per_event,micro_batch] [--max-rate EVENTS_PER_S] [--tick-us US]\n", argv[0]);
      return 0;
    } else {
      die("unknown argument '" + a + "' (--help)");
    }
  }
  if (o.spate.empty()) {
    std::filesystem::path self = std::filesystem::canonical("/proc/self/exe");
    o.spate = (self.parent_path().parent_path() / "tools" / "spate" / "spate").string();
  }
  if (::access(o.spate.c_str(), X_OK) != 0) die("no spate binary at " + o.spate + " (use --spate PATH)");
  if (o.repeats < 1 || o.repeats > 50 || o.workers < 1 || o.seconds <= 0 || o.seconds > 600 ||
      o.max_events < 1 || o.max_events > 100'000'000 || o.tick_us < 0 || o.tick_us > 1e6) {
    die("option out of range");
  }
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  // 1 µs: pacing sleeps wake on time
  ::signal(SIGPIPE, SIG_IGN);

  char tmpl[] = "/tmp/spate-latency-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  std::filesystem::path dir(tmpl);

  std::printf("spate %s, pipeline %s, %d worker(s), batch_interval %d ms, %d repeats\n", o.spate.c_str(),
              o.pipeline.c_str(), o.workers, o.batch_ms, o.repeats);
  std::map<std::string, std::vector<TrialResult>> maxruns;
  std::map<std::pair<double, std::string>, std::vector<TrialResult>> rateruns;
  double base = o.max_rate;
  bool failed = false;
  if (base <= 0) {
    std::printf("## maximum throughput (%lld events as fast as possible)\n", static_cast<long long>(o.max_events));
    for (int r = 0; r < o.repeats; ++r) {
      for (const auto& m : o.modes) {
        TrialResult t = run_trial(o, dir, m, 0, o.max_events);
        print_trial(t);
        failed |= !t.ok;
        maxruns[m].push_back(t);
      }
    }
    std::vector<double> v;
    const std::string ref = maxruns.count("per_event") ? "per_event" : o.modes.front();
    for (auto& t : maxruns[ref]) v.push_back(t.rate);
    base = spread(v).med;
  }
  std::printf("## latency at fractions of %.0f events/s (%.1f s per run, first %.1f s not measured)\n", base,
              o.seconds, o.warmup);
  for (int r = 0; r < o.repeats; ++r) {
    for (double f : o.fractions) {
      for (const auto& m : o.modes) {
        double rate = base * f;
        int64_t count = std::max<int64_t>(1000, static_cast<int64_t>(rate * o.seconds));
        TrialResult t = run_trial(o, dir, m, rate, count);
        print_trial(t);
        failed |= !t.ok;
        rateruns[{f, m}].push_back(t);
      }
    }
  }
  std::filesystem::remove_all(dir);

  std::printf("\n| mode | load | events/s at sink | p50 | p99 | p99.9 | max | sender lag max | spate CPU ns/event |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  auto row = [&](const std::string& m, const std::string& load, const std::vector<TrialResult>& ts) {
    std::vector<double> rate, p50, p99, p999, mx, lag, cpu;
    for (auto& t : ts) {
      rate.push_back(t.rate);
      p50.push_back(t.p50_us);
      p99.push_back(t.p99_us);
      p999.push_back(t.p999_us);
      mx.push_back(t.max_us);
      lag.push_back(t.send_lag_max_us);
      cpu.push_back(t.spate_cpu_ns);
    }
    const Spread c = spread(cpu);
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %.0f [%.0f–%.0f] |\n", m.c_str(), load.c_str(),
                fmt_rate(spread(rate)).c_str(), fmt_us(spread(p50)).c_str(), fmt_us(spread(p99)).c_str(),
                fmt_us(spread(p999)).c_str(), fmt_us(spread(mx)).c_str(), fmt_us(spread(lag)).c_str(), c.med,
                c.lo, c.hi);
  };
  for (const auto& m : o.modes) {
    if (maxruns.count(m)) row(m, "max (unpaced)", maxruns[m]);
    for (double f : o.fractions) {
      char load[64];
      std::snprintf(load, sizeof(load), "%.0f%% (%.0fk/s)", f * 100, base * f / 1e3);
      row(m, load, rateruns[{f, m}]);
    }
  }
  if (maxruns.count("per_event") && maxruns.count("micro_batch")) {
    std::vector<double> a, b;
    for (auto& t : maxruns["per_event"]) a.push_back(t.rate);
    for (auto& t : maxruns["micro_batch"]) b.push_back(t.rate);
    std::printf("\nmicro_batch / per_event maximum throughput (medians): %.2fx\n", spread(b).med / spread(a).med);
    std::vector<double> ca, cb;
    for (auto& t : maxruns["per_event"]) ca.push_back(t.spate_cpu_ns);
    for (auto& t : maxruns["micro_batch"]) cb.push_back(t.spate_cpu_ns);
    std::printf("spate CPU per event, unpaced (medians): per_event %.0f ns, micro_batch %.0f ns (%.2fx)\n",
                spread(ca).med, spread(cb).med, spread(ca).med / spread(cb).med);
  }
  return failed ? 1 : 0;
}
