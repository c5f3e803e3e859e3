#pragma once
// Connectors that consume results, and the output formats.
// Sinks: stdout, file (truncate or append), TCP client (reconnects with exponential backoff; a
// write that cannot be delivered is retried, never dropped silently; when the pipeline stops
// with undelivered data the sink reports an error and spate exits 1).
// Formats: json (one object per line), csv (RFC 4180, header row first), text (key=value pairs
// separated by spaces, for people).
// Thread-safety: used by the collector thread only.

#include <atomic>
#include <memory>
#include <string>

#include "spate/common/status.h"
#include "spate/io/format.h"
#include "spate/runtime/output.h"

namespace spate {

struct SinkOptions {
  std::string type = "stdout";   // stdout | file | tcp
  std::string path;
  bool append = false;
  std::string connect;
  // tcp: give up delivering after this long once the pipeline is stopping (ms).
  int64_t give_up_after_ms = 10000;
};

// stop: when set, a TCP sink that cannot connect gives up (after give_up_after_ms).
Result<std::unique_ptr<Sink>> make_sink(const SinkOptions& options,
                                        const std::atomic<bool>* stop = nullptr);
std::unique_ptr<Formatter> make_formatter(Format format, char csv_delimiter = ',');

}  // namespace spate
