#pragma once
// Connectors that produce events: file (path or glob; follow like tail -F, with rotation and
// truncation; start at beginning or end), stdin, TCP server (many clients, newline-delimited) and
// UDP (one datagram holds one or more newline-delimited events). Sockets bind 127.0.0.1 unless
// told otherwise.
// Thread-safety: a source runs on its own thread (Source::run).

#include <memory>
#include <string>
#include <vector>

#include "spate/common/status.h"
#include "spate/runtime/source.h"

namespace spate {

struct SourceOptions {
  std::string type;                 // file | stdin | tcp | udp
  std::string path;                 // file: path or glob
  bool follow = false;
  bool start_at_end = false;
  std::string listen;               // tcp/udp: host:port
  bool csv_header = false;          // the first line of each stream is a CSV header row
  char csv_delimiter = ',';
  size_t max_event_bytes = 1 << 20;
  int max_connections = 1024;
  size_t chunk_bytes = 256 * 1024;
  int follow_poll_ms = 100;
  // Micro-batch mode (> 0): the tcp and stdin sources hold whole lines and hand them on once per
  // batch interval (or when chunk_bytes are held), in a few large chunks.
  int64_t batch_interval_ms = 0;
};

// Creates the source; fails (with a message naming the path or address) when it cannot be opened.
Result<std::unique_ptr<Source>> make_source(const SourceOptions& options);

// Parses "host:port", ":port" or "port" (host defaults to 127.0.0.1).
Status parse_host_port(const std::string& text, std::string* host, int* port);

}  // namespace spate
