#include "spate/io/sinks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "spate/common/time.h"
#include "spate/io/csv.h"
#include "spate/io/sources.h"

namespace spate {

namespace {

Status write_all(int fd, std::string_view bytes, const std::string& what) {
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(fmt::format("writing {}: {}", what, std::strerror(errno)));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::ok();
}

class FdSink final : public Sink {
 public:
  FdSink(int fd, std::string what, bool owned) : fd_(fd), what_(std::move(what)), owned_(owned) {}
  ~FdSink() override {
    if (owned_ && fd_ >= 0) ::close(fd_);
  }
  Status write(std::string_view bytes) override { return write_all(fd_, bytes, what_); }
  Status close() override {
    if (owned_ && fd_ >= 0) {
      int rc = ::close(fd_);
      fd_ = -1;
      if (rc != 0) return Status::io_error(fmt::format("closing {}: {}", what_, std::strerror(errno)));
    }
    return Status::ok();
  }
  std::string describe() const override { return what_; }

 private:
  int fd_;
  std::string what_;
  bool owned_;
};

class TcpSink final : public Sink {
 public:
  TcpSink(SinkOptions o, const std::atomic<bool>* stop) : o_(std::move(o)), stop_(stop) {}
  ~TcpSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string describe() const override { return "tcp " + o_.connect; }

  Status open() override {
    Status s = parse_host_port(o_.connect, &host_, &port_);
    if (!s) return s;
    in_addr a{};
    if (::inet_pton(AF_INET, host_.c_str(), &a) == 1) return Status::ok();
    // A host name: resolve it once (IPv4), and fail clearly if it does not resolve.
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host_.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res) {
      return Status::invalid(fmt::format("tcp sink: cannot resolve host '{}' of '{}': {}", host_,
                                         o_.connect, gai_strerror(rc)));
    }
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof(buf));
    ::freeaddrinfo(res);
    host_ = buf;
    return Status::ok();
  }

  Status write(std::string_view bytes) override {
    int64_t backoff = 50;
    int64_t stopping_since = 0;
    while (true) {
      // A peer that closed the connection (e.g. a server restart) still lets the next send()
      // succeed: the bytes go to the kernel and are then discarded by the peer's reset. Check
      // before writing and reconnect, so such results are not lost silently.
      if (fd_ >= 0 && peer_closed()) {
        ::close(fd_);
        fd_ = -1;
        last_error_ = "connection closed by the peer";
      }
      if (fd_ < 0) connect_once();
      if (fd_ >= 0) {
        Status s = send_all(bytes);
        if (s) return s;
        ::close(fd_);
        fd_ = -1;
        last_error_ = s.message();
      }
      // Not delivered: retry with backoff. Once the pipeline is stopping, give up after a while
      // and say so (never drop silently).
      if (stop_ && stop_->load()) {
        if (stopping_since == 0) stopping_since = wall_clock_ms();
        if (wall_clock_ms() - stopping_since > o_.give_up_after_ms) {
          return Status::io_error(fmt::format("tcp sink {}: {} bytes of results not delivered: {}",
                                              o_.connect, bytes.size(), last_error_));
        }
      }
      if (!warned_) {
        std::fprintf(stderr, "spate: tcp sink %s unavailable (%s); retrying\n", o_.connect.c_str(),
                     last_error_.c_str());
        warned_ = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff = std::min<int64_t>(backoff * 2, 2000);
    }
  }

 private:
  // True when the peer has closed (or reset) the connection. Data the peer sent is left alone.
  bool peer_closed() const {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return true;
    char c;
    ssize_t r = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  void connect_once() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error_ = std::strerror(errno);
      return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      last_error_ = std::strerror(errno);
      ::close(fd);
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fd_ = fd;
    if (warned_) std::fprintf(stderr, "spate: tcp sink %s connected\n", o_.connect.c_str());
    warned_ = false;
  }
  Status send_all(std::string_view bytes) {
    const char* p = bytes.data();
    size_t n = bytes.size();
    while (n > 0) {
      ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::io_error(std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::ok();
  }

  SinkOptions o_;
  const std::atomic<bool>* stop_;
  std::string host_;
  int port_ = 0;
  int fd_ = -1;
  bool warned_ = false;
  std::string last_error_;
};

void append_field_text(std::string& out, const OutField& f) {
  if (f.raw_json) out.append(f.value.sv());
  else append_text(out, f.value);
}

class JsonFormatter final : public Formatter {
 public:
  void format_row(const OutputRows& rows, size_t i, std::string& out) override {
    if (rows.names_ptr() != names_) remember(rows.names_ptr());
    const OutField* row = rows.row(i);
    for (size_t c = 0; c < heads_.size(); ++c) {
      out.append(heads_[c]);
      if (row[c].raw_json) out.append(row[c].value.sv());
      else append_json(out, row[c].value);
    }
    out += heads_.empty() ? "{}\n" : "}\n";
  }

 private:
  // The escaped field names with their punctuation ('{"page":', ',"n":'...), built once per
  // schema: every row of a run shares one or two schemas.
  void remember(const std::shared_ptr<const std::vector<std::string>>& names) {
    names_ = names;
    heads_.clear();
    for (size_t c = 0; c < names->size(); ++c) {
      std::string h = c ? "," : "{";
      append_json_string(h, (*names)[c]);
      h.push_back(':');
      heads_.push_back(std::move(h));
    }
  }
  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<std::string> heads_;
};

class CsvFormatter final : public Formatter {
 public:
  explicit CsvFormatter(char d) : d_(d) {}
  void format_row(const OutputRows& rows, size_t i, std::string& out) override {
    const auto& names = rows.names();
    if (!header_done_ || header_ != names) {
      header_ = names;
      header_done_ = true;
      for (size_t c = 0; c < names.size(); ++c) {
        if (c) out.push_back(d_);
        append_csv_field(out, names[c], d_);
      }
      out.push_back('\n');
    }
    const OutField* row = rows.row(i);
    std::string tmp;
    for (size_t c = 0; c < names.size(); ++c) {
      if (c) out.push_back(d_);
      tmp.clear();
      append_field_text(tmp, row[c]);
      append_csv_field(out, tmp, d_);
    }
    out.push_back('\n');
  }

 private:
  char d_;
  bool header_done_ = false;
  std::vector<std::string> header_;
};

class TextFormatter final : public Formatter {
 public:
  void format_row(const OutputRows& rows, size_t i, std::string& out) override {
    const OutField* row = rows.row(i);
    const auto& names = rows.names();
    std::string tmp;
    for (size_t c = 0; c < names.size(); ++c) {
      if (c) out.push_back(' ');
      out += names[c];
      out.push_back('=');
      tmp.clear();
      append_field_text(tmp, row[c]);
      bool quote = tmp.empty() || tmp.find_first_of(" \t\"=") != std::string::npos;
      if (quote) append_json_string(out, tmp);
      else out += tmp;
    }
    out.push_back('\n');
  }
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const SinkOptions& o, const std::atomic<bool>* stop) {
  if (o.type == "stdout") return std::unique_ptr<Sink>(new FdSink(1, "stdout", false));
  if (o.type == "file") {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.append ? O_APPEND : O_TRUNC);
    int fd = ::open(o.path.c_str(), flags, 0644);
    if (fd < 0) {
      return Status::io_error(fmt::format("cannot open sink file '{}': {}", o.path, std::strerror(errno)));
    }
    return std::unique_ptr<Sink>(new FdSink(fd, "file " + o.path, true));
  }
  if (o.type == "tcp") return std::unique_ptr<Sink>(new TcpSink(o, stop));
  return Status::invalid(fmt::format("unknown sink type '{}'", o.type));
}

std::unique_ptr<Formatter> make_formatter(Format f, char d) {
  switch (f) {
    case Format::kJson: return std::make_unique<JsonFormatter>();
    case Format::kCsv: return std::make_unique<CsvFormatter>(d);
    case Format::kText: return std::make_unique<TextFormatter>();
  }
  return nullptr;
}

}  // namespace spate
