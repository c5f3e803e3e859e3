#pragma once
// Sources: where raw events come from. A source thread reads bytes and hands whole events
// (newline-delimited) to workers as RawChunks; workers parse them. Sources know nothing about
// formats except where the stream itself carries schema (a CSV header row).
//
// Checkpoint door: a source can report a position and be rewound to it (file offsets now,
// Kafka offsets later), so that replay from a checkpoint is possible.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/status.h"

namespace spate {

// Per-stream information shared by the chunks of one stream (a file, a TCP connection...).
struct StreamInfo {
  std::string source;          // "$source": file path, "stdin", "tcp", "udp"
  std::string remote_ip;       // tcp/udp peer, else empty
  int remote_port = 0;
  // CSV: column names from the stream's header row (empty: declared columns apply).
  std::vector<std::string> csv_header;
  uint64_t id = 0;             // unique per stream within the process
  // The input (file, connection, UDP peer) the stream belongs to: its event times form one
  // watermark. Kept when a stream's info is replaced (e.g. after a CSV header row).
  uint64_t input = 0;
};

// A block of whole events. data[0, size) holds events separated by '\n' (the last one may lack
// it); data has kChunkPadding readable bytes after size (the JSON parser reads ahead).
struct RawChunk {
  static constexpr size_t kChunkPadding = 64;
  std::vector<char> data;      // capacity kept across reuse
  size_t size = 0;
  std::shared_ptr<const StreamInfo> stream;
  uint64_t position = 0;       // byte offset of data[0] within the stream
  int64_t ingest_time_ms = 0;  // wall clock when read
  bool datagram = false;       // udp: one datagram
  uint32_t input_slot = 0;     // set by the engine: where this input's event-time clock lives
  int64_t input_rate = 0;      // set by the engine when `$rate` is used: see InputRate

  void assign(const char* p, size_t n) {
    if (data.size() < n + kChunkPadding) data.resize(n + kChunkPadding);
    std::copy(p, p + n, data.begin());
    std::fill(data.begin() + static_cast<std::ptrdiff_t>(n),
              data.begin() + static_cast<std::ptrdiff_t>(n + kChunkPadding), '\0');
    size = n;
  }
};

// Dead-letter reasons. Counted per reason; written with the raw event.
enum class DeadReason : uint8_t {
  kBadJson = 0,
  kInvalidUtf8,
  kCsvColumns,
  kOversize,
  kWrongType,
  kBadTimestamp,
  kLate,
  kCount_
};
const char* dead_reason_name(DeadReason r);

// Where a source puts what it read. Implemented by the engine; called from the source thread.
class ChunkEmitter {
 public:
  virtual ~ChunkEmitter() = default;
  // A chunk to fill; blocks while every worker is busy (backpressure). nullptr if stopping.
  virtual RawChunk* acquire() = 0;
  // Hands a filled chunk to a worker.
  virtual void emit(RawChunk* chunk) = 0;
  // A malformed event found by the source itself (e.g. oversize).
  virtual void dead_letter(DeadReason reason, const StreamInfo& stream, uint64_t position,
                           std::string_view raw, std::string_view detail) = 0;
  // True once the pipeline is asked to stop (signal): the source should return soon.
  virtual bool stopping() const = 0;
  // The input of `stream` ended (end of file, connection closed): it no longer holds the
  // watermark back. Its chunks already emitted are still processed.
  virtual void end_input(const StreamInfo& /*stream*/) {}
};

// A source of events. run() reads until the input ends (returns OK), stop is requested (OK), or
// a fatal error (not a bad event) occurs.
class Source {
 public:
  virtual ~Source() = default;
  virtual Status run(ChunkEmitter& out) = 0;
  virtual std::string describe() const = 0;
  // Checkpoint door: an opaque position and a rewind to it. Sources that cannot rewind say so.
  virtual std::string position() const { return {}; }
  virtual Status seek(std::string_view /*position*/) {
    return Status::invalid(describe() + " cannot be rewound");
  }
};

}  // namespace spate
