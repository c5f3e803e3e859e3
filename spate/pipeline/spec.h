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
#include "spate/runtime/grouping.h"

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
  enum class Kind { kTumbling, kSliding, kSession, kCount, kGlobal };
  Kind kind = Kind::kTumbling;
  int64_t size_ms = 0;                 // tumbling, sliding
  int64_t early_ms = 0;                // tumbling, sliding: provisional results this often
  int64_t every_ms = 0;                // global: running results this often (processing time)
  int64_t every_count = 0;             // global, keyed: a key's running result every N records
  SpecLoc early_loc;                   // early
  int64_t slide_ms = 0;                // sliding (tumbling: size_ms)
  int64_t gap_ms = 0;                  // session
  int64_t count_size = 0;              // count: records per window
  int64_t count_slide = 0;             // count: records between window starts (0: count_size)
  int64_t allowed_lateness_ms = 0;     // late records within this update fired windows
  SpecLoc loc;                         // the window mapping
  SpecLoc kind_loc;                    // the kind's value (e.g. steps[2].window.sliding)
  SpecLoc slide_loc;                   // sliding.slide / count.slide
  SpecLoc lateness_loc;                // allowed_lateness
};

// One named expression: select's output fields and aggregate's outputs.
struct NamedExpr {
  std::string name;
  std::string expr;
  SpecLoc loc;                         // location of the expression text
};

struct StepSpec {
  enum class Kind { kFilter, kSelect, kKeyBy, kShuffle, kWindow, kAggregate };
  Kind kind = Kind::kFilter;
  std::string expr;                    // filter, key_by
  std::string key_name;                // key_by: output field name of the key (default: expr)
  // key_by: key | partial_key; shuffle: shuffle | broadcast | global.
  GroupingKind grouping = GroupingKind::kKey;
  int hot_keys = -1;                   // key_by: -1 auto (on for partial_key), 0 off, 1 on
  double hot_share = 0;                // key_by: 0 means 1/(5 workers)
  SpecLoc grouping_loc;
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

// How keys are placed on workers. No seed: a fresh one from the OS at every start (the only safe
// choice in production). `seed` makes placement reproducible (tests, simulation; unsafe: an
// attacker who learns it can aim keys at one worker); `secret_file` derives the key from a
// secret shared by processes that must agree on placement.
struct RoutingSpec {
  bool has_seed = false;
  uint64_t seed = 0;
  std::string secret_file;
  SpecLoc loc;
};

struct PipelineSpec {
  std::string name = "pipeline";
  int workers = 0;                     // 0: number of cores
  // mode: per_event (Storm: results as soon as a window fires, records as they come) or
  // micro_batch (Spark Streaming: work is cut into batches of batch_interval of processing time;
  // a batch's results are emitted at its end).
  bool micro_batch = false;
  int64_t batch_interval_ms = 1000;
  SourceSpec source;
  TimeSpec time;
  std::vector<StepSpec> steps;
  SinkSpec sink;
  DeadLetterSpec dead_letter;
  RoutingSpec routing;
  std::string file;                    // the file it was loaded from ("" if built in C++)
};

}  // namespace spate
