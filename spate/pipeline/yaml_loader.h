#pragma once
// The YAML pipeline loader: a pipeline file (plus `--set path=value` overrides) → PipelineSpec.
// It checks structure (keys, kinds of nodes, enum values, required fields, step order); it does
// not parse expressions (compile() does, using the locations recorded here).
//
// Every key, its type, default and valid values:
//
//   name:               string of letters, digits, '-', '_', '.'        default "pipeline"
//   workers:            integer 0..1024; 0 = one per core               default 0
//   source:             mapping; omitted (or null) = {type: stdin}
//     type:             file | stdin | tcp | udp                        required
//     path:             string, a path or glob                          file: required
//     follow:           bool, keep reading appended data (tail -F)      file; default false
//     start:            beginning | end                                 file; default beginning
//     listen:           "host:port", ":port" or "port" (host            tcp, udp: required
//                       127.0.0.1); port 0..65535 (0: any free port);
//                       IPv6 host in brackets "[::1]:9999"
//     format:           json | csv | text                               default json
//     header:           bool, the first row names the columns           csv; default true
//     columns:          sequence of names (identifiers)                 csv; required when
//                                                                       header is false, else
//                                                                       not allowed
//     delimiter:        one ASCII character (not a quote or newline)    csv; default ","
//     max_event_size:   size: bytes, or a number with unit B, KiB, MiB; default 1MiB
//                       1 byte .. 1024MiB
//     max_connections:  integer 1..65536                                tcp; default 1024
//   time:               mapping; omitted (or null) = processing time
//     field:            field path of the event time (a.b.c or $name)   required
//     max_out_of_order: duration (500ms, 10s, 1m, 2h, 1d)               default 0
//     idle_timeout:     duration > 0                                    default 30s
//   steps:              sequence of steps, each a mapping with one key; default none
//     - filter:         expression (keeps records where it is true)
//     - select:         mapping output name (identifier) → expression; non-empty; in order
//     - key_by:         expression, or mapping:
//                         expr: expression                              required
//                         as:   key field name (identifier)             required unless expr
//                                                                       is a field path (then
//                                                                       the name is the path)
//     - window:         mapping with exactly one window kind:
//                         tumbling: duration > 0
//     - aggregate:      mapping output name (identifier) → aggregate call text, e.g.
//                       count(), sum(ms); non-empty; in order
//     Order: at most one key_by; a window is directly followed by an aggregate, an aggregate
//     directly follows a window, and nothing may follow the aggregate (for now).
//   sink:               mapping; omitted (or null) = {type: stdout}
//     type:             stdout | file | tcp                             required
//     path:             string                                          file: required
//     append:           bool, append instead of truncating              file; default false
//     connect:          "host:port" (":port" or "port": 127.0.0.1)      tcp: required
//     format:           json | csv | text                               default json
//   dead_letter:        mapping; omitted (or null) = rate-limited lines on stderr
//     path:             string                                          required
//
// Keys a type or format does not use are errors (e.g. source.path with type tcp, header with
// format json), as are unknown and duplicate keys. Booleans: true/false (also yes/no, on/off,
// any case). Durations: a number with unit ms, s, m, h, d (also us, sec, min); a bare number is
// seconds (parse_duration_ms). Anchors and aliases are allowed. Limits: a 16 MiB file, 64
// levels of nesting, 20000 nodes after expanding aliases.
//
// Overrides: "path=value", path as in error messages ("workers", "source.path",
// "steps[3].window.tumbling"). A value starting with '[', '{', '"' or '\'' is parsed as a YAML
// flow node or quoted scalar; "", "~" and "null" are null (which removes an optional section);
// anything else is taken verbatim as a plain string, so expressions need no quoting
// (--set 'steps[0].filter=!exists(x) # ok'). Missing mapping keys are added; a sequence index
// must exist.
//
// Errors: the first error found, as "file:line:column: path: message"; for overrides the file
// is "--set path=value" and there is no line.
//
// Thread-safety: the functions are reentrant; they share no state.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "spate/pipeline/spec.h"

namespace spate {

struct ConfigError {
  SpecLoc loc;
  std::string message;
  // "trending.yaml:12:9: steps[2].window: unknown key 'tumbeling'; did you mean 'tumbling'?"
  // Parts that are unknown (file, line, path) are left out.
  std::string to_string() const;
};

// A configuration error; what() is error().to_string().
class ConfigException : public std::runtime_error {
 public:
  explicit ConfigException(ConfigError error);
  const ConfigError& error() const { return error_; }

 private:
  ConfigError error_;
};

// Reads the file, applies overrides in order, validates. Throws ConfigException on the first
// error (including an unreadable file: the path and the OS error).
PipelineSpec load_pipeline_file(const std::string& path,
                                const std::vector<std::string>& overrides = {});

// As load_pipeline_file for text already in memory; file_name is used in locations.
PipelineSpec load_pipeline_string(std::string_view yaml, const std::string& file_name,
                                  const std::vector<std::string>& overrides = {});

}  // namespace spate
