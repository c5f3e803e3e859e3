#pragma once
// PipelineSpec: the plain-data description of a pipeline. The YAML loader (yaml_loader.h) and
// the C++ builder (builder.h) both produce it; compile() (plan.h) validates it into a Plan that
// the runtime executes. Every element carries the place it came from so that later errors
// (expression syntax, types) can name file, line and column.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "spate/io/format.h"

namespace spate {

// Where a configuration element was written: "trending.yaml", line 12, column 9, field path
// "steps[2].window". line/column are 1-based; 0 when unknown (e.g. built from C++, or given on
// the command line with --set, where file is "--set <path>=<value>").
struct SpecLoc {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  // For the location of a text (an expression): columns from `column` to the text's first
  // character; 1 when the YAML scalar was quoted ('...' or "..."), else 0.
  int quote_offset = 0;
};

// The location of byte `offset` of a text whose location is text_loc (e.g. an expression error
// at ExprError::pos): column + quote_offset + offset on the same line. Exact for single-line
// plain scalars and for quoted scalars without escapes; the first line for multi-line texts.
// Unchanged line/column when unknown (0).
SpecLoc loc_at_offset(const SpecLoc& text_loc, size_t offset);

const char* format_name(Format f);

struct SourceSpec {
  std::string type = "stdin";          // file | stdin | tcp | udp
  std::string path;                    // file: path or glob
  bool follow = false;                 // file: keep reading appended data, like tail -F
  std::string start = "beginning";     // file: beginning | end
  std::string listen;                  // tcp/udp: "host:port" (default host 127.0.0.1)
  Format format = Format::kJson;
  // csv
  bool header = true;                  // first row names the columns
  std::vector<std::string> columns;    // declared columns (when header is false)
  char delimiter = ',';
  int64_t max_event_bytes = 1 << 20;   // longer events go to the dead-letter output (oversize)
  int max_connections = 1024;          // tcp
  SpecLoc loc;
};

struct TimeSpec {
  std::string field;                   // empty: processing time
  int64_t max_out_of_order_ms = 0;
  int64_t idle_timeout_ms = 30000;
  SpecLoc loc;
  SpecLoc field_loc;
};

struct WindowSpec {
  enum class Kind { kTumbling };
  Kind kind = Kind::kTumbling;
  int64_t size_ms = 0;
  SpecLoc loc;
};

// One named expression: select's output fields and aggregate's outputs.
struct NamedExpr {
  std::string name;
  std::string expr;
  SpecLoc loc;                         // location of the expression text
};

struct StepSpec {
  enum class Kind { kFilter, kSelect, kKeyBy, kWindow, kAggregate };
  Kind kind = Kind::kFilter;
  std::string expr;                    // filter, key_by
  std::string key_name;                // key_by: output field name of the key (default: expr)
  std::vector<NamedExpr> fields;       // select, aggregate
  WindowSpec window;                   // window
  SpecLoc loc;                         // the step itself (e.g. "steps[2]")
  SpecLoc expr_loc;                    // filter/key_by expression text
};

struct SinkSpec {
  std::string type = "stdout";         // stdout | file | tcp
  std::string path;                    // file
  bool append = false;                 // file: append instead of truncate
  std::string connect;                 // tcp: "host:port"
  Format format = Format::kJson;
  SpecLoc loc;
};

struct DeadLetterSpec {
  std::string path;                    // empty: rate-limited lines on stderr
  SpecLoc loc;
};

struct PipelineSpec {
  std::string name = "pipeline";
  int workers = 0;                     // 0: number of cores
  SourceSpec source;
  TimeSpec time;
  std::vector<StepSpec> steps;
  SinkSpec sink;
  DeadLetterSpec dead_letter;
  std::string file;                    // the file it was loaded from ("" if built in C++)
};

}  // namespace spate
