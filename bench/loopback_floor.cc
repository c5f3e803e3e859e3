// The latency floor of this machine, without spate: what any process that waits for input and
// passes it on over loopback TCP pays here. latency_bench's per-event numbers are only meaningful
// against it (issue 5's target, p99 < 1 ms, is below it on a 2-vCPU paravirtualized guest).
//
// Two probes, each a standalone measurement (not Google Benchmark):
//   wake:  a thread sleeps to absolute deadlines `--period-us` apart and records how late it wakes;
//   relay: a sender thread writes an 8-byte CLOCK_MONOTONIC stamp to a TCP connection at `--rate`
//          messages/s; a relay thread read()s and write()s each read onward on a second
//          connection (the least any TCP-in, TCP-out pipeline does); a receiver thread records
//          now - stamp. With --pin the sender and receiver run on CPU 0 and the relay on CPU 1
//          (as latency_bench runs pinned), else wherever the scheduler puts them.
// Everything binds 127.0.0.1 and stops after --count messages (at most --count/rate + 10 s).
//
// Usage: loopback_floor [--count 40000] [--rate 10000] [--period-us 100] [--pin]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until(int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "loopback_floor: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) die("sched_setaffinity");
}

void report(const char* name, std::vector<int64_t> v) {
  if (v.empty()) {
    std::printf("%-34s no samples\n", name);
    return;
  }
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return static_cast<double>(v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]) / 1e3; };
  std::printf("%-34s n=%-7zu p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  max %8.1f us\n", name, v.size(), at(0.5),
              at(0.99), at(0.999), static_cast<double>(v.back()) / 1e3);
}

int listen_local(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 1) != 0) die("bind 127.0.0.1:0");
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) die("connect");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int accept_within(int lfd, int ms) {
  pollfd p{lfd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) die("accept timed out");
  int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) die("accept");
  return fd;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

std::vector<int64_t> wake_probe(int count, int64_t period_ns) {
  std::vector<int64_t> late;
  late.reserve(static_cast<size_t>(count));
  int64_t due = now_ns() + period_ns;
  for (int i = 0; i < count; ++i, due += period_ns) {
    sleep_until(due);
    const int64_t t = now_ns();
    late.push_back(t - due);
    if (t > due + period_ns) due = t;  // never pile up deadlines in the past
  }
  return late;
}

std::vector<int64_t> relay_probe(int count, double rate, bool pin) {
  int p1 = 0, p2 = 0;
  int l1 = listen_local(&p1), l2 = listen_local(&p2);
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(count));
  const int64_t deadline = now_ns() + static_cast<int64_t>((count / rate + 10) * 1e9);
  std::thread relay([&] {
    if (pin) pin_to(1);
    int in = accept_within(l1, 10000);
    int out = connect_local(p2);
    char buf[65536];
    ssize_t r;
    while ((r = ::read(in, buf, sizeof(buf))) > 0) {
      if (!write_all(out, buf, static_cast<size_t>(r))) break;
    }
    ::close(in);
    ::close(out);
  });
  std::thread receiver([&] {
    if (pin) pin_to(0);
    int in = accept_within(l2, 10000);
    char buf[65536];
    size_t have = 0;
    while (static_cast<int>(lat.size()) < count && now_ns() < deadline) {
      pollfd p{in, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      ssize_t r = ::read(in, buf + have, sizeof(buf) - have);
      if (r <= 0) break;
      const int64_t t = now_ns();
      have += static_cast<size_t>(r);
      size_t i = 0;
      for (; i + 8 <= have; i += 8) {
        int64_t stamp;
        std::memcpy(&stamp, buf + i, 8);
        lat.push_back(t - stamp);
      }
      std::memmove(buf, buf + i, have - i);
      have -= i;
    }
    ::close(in);
  });
  if (pin) pin_to(0);
  int out = connect_local(p1);
  const int64_t t0 = now_ns();
  for (int i = 0; i < count; ++i) {
    sleep_until(t0 + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate));
    const int64_t stamp = now_ns();
    if (!write_all(out, reinterpret_cast<const char*>(&stamp), 8)) break;
  }
  receiver.join();
  ::close(out);
  relay.join();
  ::close(l1);
  ::close(l2);
  if (pin) {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
    sched_setaffinity(0, sizeof(all), &all);
  }
  return lat;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 40000;
  double rate = 10000;
  int64_t period_us = 100;
  bool pin = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loopback_floor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--count") count = std::atoi(val().c_str());
    else if (a == "--rate") rate = std::atof(val().c_str());
    else if (a == "--period-us") period_us = std::atoll(val().c_str());
    else if (a == "--pin") pin = true;
    else {
      std::fprintf(stderr, "usage: loopback_floor [--count 40000] [--rate 10000] [--period-us 100] [--pin]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (count < 1 || count > 10'000'000 || rate <= 0 || rate > 1e6 || period_us < 1 || period_us > 1'000'000) {
    std::fprintf(stderr, "loopback_floor: --count 1..1e7, --rate (0, 1e6], --period-us 1..1e6\n");
    return 2;
  }
  std::printf("# %d samples; relay at %.0f messages/s%s\n", count, rate,
              pin ? ", sender+receiver on CPU 0, relay on CPU 1" : ", unpinned");
  char name[64];
  std::snprintf(name, sizeof(name), "wake-up lateness (%lld us sleeps)", static_cast<long long>(period_us));
  if (pin) pin_to(1);
  report(name, wake_probe(count, period_us * 1000));
  if (pin) pin_to(0);
  report("tcp relay (read -> write) latency", relay_probe(count, rate, pin));
  return 0;
}
