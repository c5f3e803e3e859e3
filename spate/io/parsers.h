#pragma once
// Record parsers for the three input formats: JSON lines (simdjson on-demand: only the fields
// the pipeline uses are extracted), CSV (RFC 4180 quoting; header row or declared columns) and
// text (the line as field `line`). Source metadata ($source, $remote_ip, $remote_port,
// $ingest_time, $length) fills slots like any field.
//
// Bad events never stop the pipeline: each is counted and written to the dead-letter output
// with its reason (bad_json, invalid_utf8, csv_columns, oversize, wrong_type, bad_timestamp);
// the events around it are parsed exactly as if it were absent.
// Thread-safety: one parser per worker.

#include <memory>
#include <string>
#include <vector>

#include "spate/core/expr.h"
#include "spate/io/format.h"
#include "spate/runtime/dead_letter.h"
#include "spate/runtime/engine.h"

namespace spate {

// The fields a pipeline reads from its input, one slot each.
struct InputField {
  std::string path;                     // "page", "a.b.c", or "$remote_ip"
  ExprType expected = ExprType::kAny;   // inferred from use; other types are wrong_type
};

struct InputSchema {
  std::vector<InputField> fields;
  int time_slot = -1;                   // event-time field slot; -1: processing time
  Format format = Format::kJson;
  char delimiter = ',';
  std::vector<std::string> declared_columns;  // csv without header
  size_t max_event_bytes = 1 << 20;
  // Event-time windows: an event whose window ended before (max event time this parser has
  // seen − max_out_of_order) is late and goes to the dead-letter output with its raw bytes.
  int64_t window_ms = 0;
  int64_t max_out_of_order_ms = 0;
};

// Metadata fields every source provides (some only for sockets).
const std::vector<std::string>& metadata_field_names();

std::unique_ptr<RecordParser> make_record_parser(const InputSchema& schema,
                                                 DeadLetterOutput* dead_letters);

}  // namespace spate
