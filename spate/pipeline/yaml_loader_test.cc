#include "spate/pipeline/yaml_loader.h"

#include "spate/pipeline/plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace spate {
namespace {

// The error message of loading yaml (file "p.yaml"), or "(no error)".
std::string error_of(std::string_view yaml, const std::vector<std::string>& overrides = {},
                     const std::string& file = "p.yaml") {
  try {
    load_pipeline_string(yaml, file, overrides);
  } catch (const ConfigException& e) {
    EXPECT_EQ(std::string(e.what()), e.error().to_string());
    return e.error().to_string();
  }
  return "(no error)";
}

void expect_loc(const SpecLoc& loc, int line, int column, const std::string& path,
                int quote_offset = 0) {
  EXPECT_EQ(loc.file, "p.yaml");
  EXPECT_EQ(loc.line, line) << path;
  EXPECT_EQ(loc.column, column) << path;
  EXPECT_EQ(loc.path, path);
  EXPECT_EQ(loc.quote_offset, quote_offset) << path;
}

constexpr const char* kFull = R"(name: views-per-page
workers: 2
source:
  type: file
  path: data/clicks.jsonl
  follow: true
  start: end
  format: json
  max_event_size: 64KiB
time:
  field: ts
  max_out_of_order: 2s
  idle_timeout: 1m
steps:
  - filter: 'type == "view" && latency_ms >= 0'
  - select: { page: page, ms: latency_ms, slow: 'latency_ms > 500' }
  - key_by: page
  - window: { tumbling: 10s }
  - aggregate: { views: count(), total_ms: sum(ms), avg_ms: avg(ms) }
sink:
  type: file
  path: out.jsonl
  append: true
  format: csv
dead_letter: { path: dead.jsonl }
)";

TEST(YamlLoaderTest, FullPipeline) {
  const PipelineSpec p = load_pipeline_string(kFull, "p.yaml");
  EXPECT_EQ(p.file, "p.yaml");
  EXPECT_EQ(p.name, "views-per-page");
  EXPECT_EQ(p.workers, 2);

  EXPECT_EQ(p.source.type, "file");
  EXPECT_EQ(p.source.path, "data/clicks.jsonl");
  EXPECT_TRUE(p.source.follow);
  EXPECT_EQ(p.source.start, "end");
  EXPECT_EQ(p.source.format, Format::kJson);
  EXPECT_EQ(p.source.max_event_bytes, 64 * 1024);
  EXPECT_EQ(p.source.max_connections, 1024);
  expect_loc(p.source.loc, 4, 3, "source");

  EXPECT_EQ(p.time.field, "ts");
  EXPECT_EQ(p.time.max_out_of_order_ms, 2000);
  EXPECT_EQ(p.time.idle_timeout_ms, 60000);
  expect_loc(p.time.loc, 11, 3, "time");
  expect_loc(p.time.field_loc, 11, 10, "time.field");

  ASSERT_EQ(p.steps.size(), 5u);
  const StepSpec& filter = p.steps[0];
  EXPECT_EQ(filter.kind, StepSpec::Kind::kFilter);
  EXPECT_EQ(filter.expr, R"(type == "view" && latency_ms >= 0)");
  expect_loc(filter.loc, 15, 5, "steps[0]");
  expect_loc(filter.expr_loc, 15, 13, "steps[0].filter", 1);
  // "latency_ms" is at byte 18 of the expression; on the line it is at column 32.
  const SpecLoc at18 = loc_at_offset(filter.expr_loc, 18);
  EXPECT_EQ(at18.line, 15);
  EXPECT_EQ(at18.column, 32);
  EXPECT_EQ(at18.quote_offset, 0);

  const StepSpec& select = p.steps[1];
  EXPECT_EQ(select.kind, StepSpec::Kind::kSelect);
  ASSERT_EQ(select.fields.size(), 3u);
  EXPECT_EQ(select.fields[0].name, "page");
  EXPECT_EQ(select.fields[0].expr, "page");
  expect_loc(select.fields[0].loc, 16, 21, "steps[1].select.page");
  EXPECT_EQ(select.fields[1].name, "ms");
  EXPECT_EQ(select.fields[1].expr, "latency_ms");
  expect_loc(select.fields[1].loc, 16, 31, "steps[1].select.ms");
  EXPECT_EQ(select.fields[2].name, "slow");
  EXPECT_EQ(select.fields[2].expr, "latency_ms > 500");
  expect_loc(select.fields[2].loc, 16, 49, "steps[1].select.slow", 1);

  const StepSpec& key_by = p.steps[2];
  EXPECT_EQ(key_by.kind, StepSpec::Kind::kKeyBy);
  EXPECT_EQ(key_by.expr, "page");
  EXPECT_EQ(key_by.key_name, "page");
  expect_loc(key_by.expr_loc, 17, 13, "steps[2].key_by");

  const StepSpec& window = p.steps[3];
  EXPECT_EQ(window.kind, StepSpec::Kind::kWindow);
  EXPECT_EQ(window.window.kind, WindowSpec::Kind::kTumbling);
  EXPECT_EQ(window.window.size_ms, 10000);
  expect_loc(window.loc, 18, 5, "steps[3]");
  expect_loc(window.window.loc, 18, 13, "steps[3].window");

  const StepSpec& aggregate = p.steps[4];
  EXPECT_EQ(aggregate.kind, StepSpec::Kind::kAggregate);
  ASSERT_EQ(aggregate.fields.size(), 3u);
  EXPECT_EQ(aggregate.fields[0].name, "views");
  EXPECT_EQ(aggregate.fields[0].expr, "count()");
  expect_loc(aggregate.fields[0].loc, 19, 25, "steps[4].aggregate.views");
  EXPECT_EQ(aggregate.fields[1].name, "total_ms");
  EXPECT_EQ(aggregate.fields[1].expr, "sum(ms)");
  EXPECT_EQ(aggregate.fields[2].name, "avg_ms");
  EXPECT_EQ(aggregate.fields[2].expr, "avg(ms)");

  EXPECT_EQ(p.sink.type, "file");
  EXPECT_EQ(p.sink.path, "out.jsonl");
  EXPECT_TRUE(p.sink.append);
  EXPECT_EQ(p.sink.format, Format::kCsv);
  expect_loc(p.sink.loc, 21, 3, "sink");

  EXPECT_EQ(p.dead_letter.path, "dead.jsonl");
  expect_loc(p.dead_letter.loc, 25, 14, "dead_letter");
}

TEST(YamlLoaderTest, Defaults) {
  const PipelineSpec p = load_pipeline_string("name: minimal\n", "p.yaml");
  EXPECT_EQ(p.name, "minimal");
  EXPECT_EQ(p.workers, 0);
  EXPECT_EQ(p.source.type, "stdin");
  EXPECT_EQ(p.source.format, Format::kJson);
  EXPECT_EQ(p.source.max_event_bytes, 1 << 20);
  EXPECT_TRUE(p.time.field.empty());
  EXPECT_EQ(p.time.max_out_of_order_ms, 0);
  EXPECT_EQ(p.time.idle_timeout_ms, 30000);
  EXPECT_TRUE(p.steps.empty());
  EXPECT_EQ(p.sink.type, "stdout");
  EXPECT_EQ(p.sink.format, Format::kJson);
  EXPECT_TRUE(p.dead_letter.path.empty());
  EXPECT_EQ(p.source.loc.file, "p.yaml");
  EXPECT_EQ(p.source.loc.path, "source");
  EXPECT_EQ(p.source.loc.line, 0);

  // Null sections are the same as omitted ones.
  const PipelineSpec q = load_pipeline_string("source:\ntime: ~\nsteps:\nsink:\n", "p.yaml");
  EXPECT_EQ(q.source.type, "stdin");
  EXPECT_TRUE(q.time.field.empty());
  EXPECT_TRUE(q.steps.empty());
  EXPECT_EQ(q.sink.type, "stdout");
}

TEST(YamlLoaderTest, TcpCsvSourceAndTcpSink) {
  const PipelineSpec p = load_pipeline_string(R"(source:
  type: tcp
  listen: 9999
  format: csv
  header: false
  columns: [ts, page, ms]
  delimiter: "\t"
  max_event_size: 512
  max_connections: 8
sink:
  type: tcp
  connect: ":7000"
  format: text
)",
                                              "p.yaml");
  EXPECT_EQ(p.source.type, "tcp");
  EXPECT_EQ(p.source.listen, "127.0.0.1:9999");
  EXPECT_EQ(p.source.format, Format::kCsv);
  EXPECT_FALSE(p.source.header);
  EXPECT_EQ(p.source.columns, (std::vector<std::string>{"ts", "page", "ms"}));
  EXPECT_EQ(p.source.delimiter, '\t');
  EXPECT_EQ(p.source.max_event_bytes, 512);
  EXPECT_EQ(p.source.max_connections, 8);
  EXPECT_EQ(p.sink.type, "tcp");
  EXPECT_EQ(p.sink.connect, "127.0.0.1:7000");
  EXPECT_EQ(p.sink.format, Format::kText);
}

TEST(YamlLoaderTest, ListenAddresses) {
  auto listen = [](const std::string& value) {
    return load_pipeline_string("source: {type: udp, listen: '" + value + "'}", "p.yaml")
        .source.listen;
  };
  EXPECT_EQ(listen("9999"), "127.0.0.1:9999");
  EXPECT_EQ(listen(":9999"), "127.0.0.1:9999");
  EXPECT_EQ(listen("0.0.0.0:80"), "0.0.0.0:80");
  EXPECT_EQ(listen("localhost:0"), "localhost:0");
  EXPECT_EQ(listen("[::1]:9999"), "[::1]:9999");
  EXPECT_EQ(error_of("source: {type: udp, listen: 'host:'}"),
            "p.yaml:1:29: source.listen: expected host:port (e.g. 127.0.0.1:9999, :9999 or "
            "9999), found 'host:'");
  EXPECT_EQ(error_of("source: {type: udp, listen: '::1:99'}"),
            "p.yaml:1:29: source.listen: an IPv6 address needs brackets, e.g. [::1]:9999; found "
            "'::1:99'");
  EXPECT_EQ(error_of("source: {type: udp, listen: 70000}"),
            "p.yaml:1:29: source.listen: port 70000 is out of range; valid: 0 to 65535");
  EXPECT_EQ(error_of("sink: {type: tcp, connect: 'db:0'}"),
            "p.yaml:1:28: sink.connect: port 0 is out of range; valid: 1 to 65535");
}

TEST(YamlLoaderTest, SizesAndBooleans) {
  auto size = [](const std::string& value) {
    return load_pipeline_string("source: {type: stdin, max_event_size: " + value + "}", "p.yaml")
        .source.max_event_bytes;
  };
  EXPECT_EQ(size("1MiB"), 1 << 20);
  EXPECT_EQ(size("'2 KiB'"), 2048);
  EXPECT_EQ(size("100B"), 100);
  EXPECT_EQ(size("4096"), 4096);
  EXPECT_EQ(size("1024MiB"), int64_t{1} << 30);
  EXPECT_EQ(error_of("source: {type: stdin, max_event_size: 1MB}"),
            "p.yaml:1:39: source.max_event_size: unknown size unit 'MB' in '1MB'; valid units: "
            "B, KiB, MiB (1KiB = 1024 bytes)");
  EXPECT_EQ(error_of("source: {type: stdin, max_event_size: big}"),
            "p.yaml:1:39: source.max_event_size: expected a whole number of bytes, KiB or MiB "
            "such as 1MiB, 64KiB or 4096, found 'big'");
  EXPECT_EQ(error_of("source: {type: stdin, max_event_size: 1.5MiB}"),
            "p.yaml:1:39: source.max_event_size: expected a whole number of bytes, KiB or MiB "
            "such as 1MiB, 64KiB or 4096, found '1.5MiB'");
  EXPECT_EQ(error_of("source: {type: stdin, max_event_size: 0}"),
            "p.yaml:1:39: source.max_event_size: must be at least 1 byte");
  EXPECT_EQ(error_of("source: {type: stdin, max_event_size: 1025MiB}"),
            "p.yaml:1:39: source.max_event_size: '1025MiB' is too large; at most 1024MiB");

  auto follow = [](const std::string& value) {
    return load_pipeline_string("source: {type: file, path: x, follow: " + value + "}", "p.yaml")
        .source.follow;
  };
  EXPECT_TRUE(follow("true"));
  EXPECT_TRUE(follow("yes"));
  EXPECT_TRUE(follow("On"));
  EXPECT_FALSE(follow("false"));
  EXPECT_FALSE(follow("NO"));
  EXPECT_EQ(error_of("source: {type: file, path: x, follow: maybe}"),
            "p.yaml:1:39: source.follow: expected true or false, found 'maybe'");
}

TEST(YamlLoaderTest, TypoInWindowKind) {
  const std::string yaml = R"(name: trending
source:
  type: file
  path: clicks.jsonl
time:
  field: ts
  max_out_of_order: 2s
steps:
  - filter: 'type == "view"'
  - key_by: page
  - window:
        tumbeling: 10s
  - aggregate: { views: count() }
)";
  EXPECT_EQ(error_of(yaml, {}, "trending.yaml"),
            "trending.yaml:12:9: steps[2].window: unknown key 'tumbeling'; did you mean "
            "'tumbling'?");
  try {
    load_pipeline_string(yaml, "trending.yaml");
    FAIL() << "no error";
  } catch (const ConfigException& e) {
    EXPECT_EQ(e.error().loc.file, "trending.yaml");
    EXPECT_EQ(e.error().loc.line, 12);
    EXPECT_EQ(e.error().loc.column, 9);
    EXPECT_EQ(e.error().loc.path, "steps[2].window");
    EXPECT_EQ(e.error().message, "unknown key 'tumbeling'; did you mean 'tumbling'?");
  }
}

TEST(YamlLoaderTest, UnknownKeys) {
  EXPECT_EQ(error_of("sorce:\n  type: stdin\n"),
            "p.yaml:1:1: unknown key 'sorce'; did you mean 'source'?");
  EXPECT_EQ(error_of("name: x\nzzz: 1\n"),
            "p.yaml:2:1: unknown key 'zzz'; expected one of: name, workers, mode, batch_interval, "
            "source, time, steps, sink, dead_letter, routing");
  EXPECT_EQ(error_of("source:\n  type: file\n  path: x\n  folow: true\n"),
            "p.yaml:4:3: source: unknown key 'folow'; did you mean 'follow'?");
  EXPECT_EQ(error_of("time:\n  field: ts\n  max_out_of_ordr: 1s\n"),
            "p.yaml:3:3: time: unknown key 'max_out_of_ordr'; did you mean 'max_out_of_order'?");
  EXPECT_EQ(error_of("sink:\n  type: stdout\n  fromat: csv\n"),
            "p.yaml:3:3: sink: unknown key 'fromat'; did you mean 'format'?");
  EXPECT_EQ(error_of("dead_letter: {file: d.jsonl}"),
            "p.yaml:1:15: dead_letter: unknown key 'file'; expected one of: path");
  EXPECT_EQ(error_of("steps:\n  - key_by: {expr: page, name: p}\n"),
            "p.yaml:2:26: steps[0].key_by: unknown key 'name'; expected one of: expr, field, as, "
            "grouping, hot_keys, hot_share");
}

TEST(YamlLoaderTest, YamlSyntaxAndDocumentShape) {
  EXPECT_EQ(error_of("source:\n\ttype: file\n"), "p.yaml:2:6: invalid YAML: illegal map value");
  EXPECT_EQ(error_of("name: x\nsteps: [a, b\n"),
            "p.yaml:3:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(error_of(""), "p.yaml: the pipeline is empty; expected a mapping of pipeline settings");
  EXPECT_EQ(error_of("# only a comment\n"),
            "p.yaml: the pipeline is empty; expected a mapping of pipeline settings");
  EXPECT_EQ(error_of("- a\n- b\n"),
            "p.yaml:1:1: expected a mapping of pipeline settings (source, steps, sink, ...), "
            "found a sequence");
  EXPECT_EQ(error_of("name: a\n---\nname: b\n"),
            "p.yaml:2:1: expected one YAML document, found more (a '---' line starts another)");
  // yaml-cpp 0.7's LoadAll never returns on this (jbeder/yaml-cpp#1040).
  EXPECT_EQ(error_of(",ame: x\nworkers: 2\n"), "p.yaml:1:1: invalid YAML: unexpected ','");
  EXPECT_EQ(error_of("workers: 1\nname: x\nworkers: 2\n"),
            "p.yaml:3:1: duplicate key 'workers' (first at line 1)");
  EXPECT_EQ(error_of("steps:\n  - select: {a: x, a: y}\n"),
            "p.yaml:2:20: steps[0].select: duplicate key 'a' (first at line 2)");
  EXPECT_EQ(error_of("[a]: 1\n"), "p.yaml:1:1: expected a string key, found a sequence");
}

TEST(YamlLoaderTest, CrlfAndByteOrderMark) {
  const PipelineSpec p = load_pipeline_string(
      "\xEF\xBB\xBFname: x\r\nsteps:\r\n  - filter: 'a > 1'\r\n  - select: {b: c}\r\n", "p.yaml");
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.name, "x");
  expect_loc(p.steps[0].expr_loc, 3, 13, "steps[0].filter", 1);
  expect_loc(p.steps[1].fields[0].loc, 4, 17, "steps[1].select.b");
  EXPECT_EQ(error_of("name: x\r\nworkers: many\r\n"),
            "p.yaml:2:10: workers: expected a positive integer, found 'many'");
}

TEST(YamlLoaderTest, LongValuesAreShortenedInMessages) {
  const std::string long_value(100, 'x');
  EXPECT_EQ(error_of("workers: " + long_value),
            "p.yaml:1:10: workers: expected a positive integer, found '" +
                long_value.substr(0, 57) + "...'");
}

TEST(YamlLoaderTest, AliasCycleAndAliasBomb) {
  EXPECT_EQ(error_of("steps: &s [*s]\n"),
            "p.yaml:1:8: steps[0][0][0][0][0][0][0][0][0][0][0]...: nested more than 64 "
            "levels deep (does an alias refer to itself?)");
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  // Six levels of ten aliases each would expand to a million nodes.
  for (char c = 'b'; c <= 'g'; ++c) {
    const std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + std::string(1, c) + " [";
    for (int i = 0; i < 10; ++i) bomb += (i > 0 ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  const std::string err = error_of(bomb);
  EXPECT_NE(err.find("the document is too large: more than 20000 nodes after expanding aliases"),
            std::string::npos)
      << err;
}

TEST(YamlLoaderTest, WrongNodeKinds) {
  EXPECT_EQ(error_of("source: file\n"), "p.yaml:1:9: source: expected a mapping, found 'file'");
  EXPECT_EQ(error_of("name: [a]\n"), "p.yaml:1:7: name: expected a string, found a sequence");
  EXPECT_EQ(error_of("name:\n"), "p.yaml:1:1: name: expected a string, found nothing");
  EXPECT_EQ(error_of("name: 'two words'\n"),
            "p.yaml:1:7: name: 'two words' is not a valid pipeline name; use letters, digits, "
            "'-', '_' and '.'");
  EXPECT_EQ(error_of("source: {type: file, path: {a: 1}}\n"),
            "p.yaml:1:28: source.path: expected a string, found a mapping");
  EXPECT_EQ(error_of("steps: {filter: x}\n"),
            "p.yaml:1:8: steps: expected a sequence of steps, found a mapping");
  EXPECT_EQ(error_of("time: [ts]\n"), "p.yaml:1:7: time: expected a mapping, found a sequence");
  EXPECT_EQ(error_of("dead_letter: dead.jsonl\n"),
            "p.yaml:1:14: dead_letter: expected a mapping, found 'dead.jsonl'");
}

TEST(YamlLoaderTest, Workers) {
  EXPECT_EQ(load_pipeline_string("workers: 0", "p.yaml").workers, 0);
  EXPECT_EQ(load_pipeline_string("workers: 1024", "p.yaml").workers, 1024);
  EXPECT_EQ(error_of("workers: abc"),
            "p.yaml:1:10: workers: expected a positive integer, found 'abc'");
  EXPECT_EQ(error_of("workers: -1"),
            "p.yaml:1:10: workers: expected a positive integer, found '-1'");
  EXPECT_EQ(error_of("workers: 1.5"),
            "p.yaml:1:10: workers: expected a positive integer, found '1.5'");
  EXPECT_EQ(error_of("workers: 1025"), "p.yaml:1:10: workers: 1025 is too large; at most 1024");
  EXPECT_EQ(error_of("workers: 99999999999999999999999"),
            "p.yaml:1:10: workers: 99999999999999999999999 is too large; at most 1024");
  EXPECT_EQ(error_of("source: {type: tcp, listen: 1, max_connections: 0}"),
            "p.yaml:1:49: source.max_connections: must be at least 1, found 0");
}

TEST(YamlLoaderTest, SourceEnumsAndRequiredFields) {
  EXPECT_EQ(error_of("source:\n  type: tcpp\n  listen: 9999\n"),
            "p.yaml:2:9: source.type: unknown source type 'tcpp'; did you mean 'tcp'? valid: file, "
            "stdin, tcp, udp");
  EXPECT_EQ(error_of("source:\n  type: kafka\n"),
            "p.yaml:2:9: source.type: unknown source type 'kafka'; valid: file, stdin, tcp, udp");
  EXPECT_EQ(error_of("source:\n  type: [file]\n"),
            "p.yaml:2:9: source.type: expected a source type, one of: file, stdin, tcp, udp, "
            "found a sequence");
  EXPECT_EQ(error_of("source:\n  path: x\n"),
            "p.yaml:2:3: source: missing required key 'type'; expected one of: file, stdin, tcp, "
            "udp");
  EXPECT_EQ(error_of("source:\n  type: file\n"),
            "p.yaml:2:3: source: missing required key 'path' (required for source type 'file')");
  EXPECT_EQ(error_of("source:\n  type: file\n  path: ''\n"),
            "p.yaml:3:9: source.path: must not be empty");
  EXPECT_EQ(error_of("source:\n  type: udp\n"),
            "p.yaml:2:3: source: missing required key 'listen' (required for source type 'udp')");
  EXPECT_EQ(error_of("source:\n  type: file\n  path: x\n  start: middle\n"),
            "p.yaml:4:10: source.start: unknown start position 'middle'; valid: beginning, end");
  EXPECT_EQ(error_of("source:\n  type: stdin\n  format: jsn\n"),
            "p.yaml:3:11: source.format: unknown format 'jsn'; did you mean 'json'? valid: json, "
            "csv, text");
  EXPECT_EQ(error_of("source:\n  type: tcp\n  listen: 9999\n  path: x\n"),
            "p.yaml:4:3: source: key 'path' does not apply to source type 'tcp'");
  EXPECT_EQ(error_of("source:\n  type: udp\n  listen: 9999\n  max_connections: 5\n"),
            "p.yaml:4:3: source: key 'max_connections' does not apply to source type 'udp'");
  EXPECT_EQ(error_of("source:\n  type: stdin\n  follow: true\n"),
            "p.yaml:3:3: source: key 'follow' does not apply to source type 'stdin'");
}

TEST(YamlLoaderTest, CsvOptions) {
  EXPECT_EQ(error_of("source:\n  type: stdin\n  header: false\n"),
            "p.yaml:3:3: source: key 'header' applies only to format csv (format is json)");
  EXPECT_EQ(error_of("source:\n  type: stdin\n  format: csv\n  header: false\n"),
            "p.yaml:2:3: source: missing required key 'columns' (required when header is false)");
  EXPECT_EQ(error_of("source:\n  type: stdin\n  format: csv\n  columns: [a]\n"),
            "p.yaml:4:3: source: key 'columns' applies only with header: false (a header row "
            "names the columns)");
  EXPECT_EQ(error_of("source: {type: stdin, format: csv, header: false, columns: []}"),
            "p.yaml:1:60: source.columns: expected a non-empty sequence of column names, found a "
            "sequence");
  EXPECT_EQ(error_of("source: {type: stdin, format: csv, header: false, columns: [a, 1b]}"),
            "p.yaml:1:64: source.columns[1]: '1b' is not a valid name; use letters, digits and "
            "'_', not starting with a digit");
  EXPECT_EQ(error_of("source: {type: stdin, format: csv, header: false, columns: [a, a]}"),
            "p.yaml:1:64: source.columns[1]: duplicate column 'a'");
  EXPECT_EQ(error_of("source: {type: stdin, format: csv, delimiter: ';;'}"),
            "p.yaml:1:47: source.delimiter: expected one character other than a quote or newline, "
            "found ';;'");
  EXPECT_EQ(load_pipeline_string("source: {type: stdin, format: csv, delimiter: ';'}", "p.yaml")
                .source.delimiter,
            ';');
}

// The error message of loading and compiling yaml (file "p.yaml"), or "(no error)".
std::string plan_error_of(std::string_view yaml) {
  try {
    Plan::compile(load_pipeline_string(yaml, "p.yaml"));
  } catch (const ConfigException& e) {
    return e.error().to_string();
  }
  return "(no error)";
}

TEST(PlanTest, CsvHeaderRowIsRejectedOverUdp) {
  const std::string want =
      "source.header: a CSV header row cannot be used over udp: datagrams have no order, so no "
      "row is known to be the header; found header: true (the csv default); declare the columns "
      "instead: header: false, columns: [name, ...]";
  EXPECT_EQ(plan_error_of("source: {type: udp, listen: 9999, format: csv, header: true}"),
            "p.yaml:1:9: " + want);
  // header: true is the default for csv.
  EXPECT_EQ(plan_error_of("name: u\nsource:\n  type: udp\n  listen: 9999\n  format: csv\n"),
            "p.yaml:3:3: " + want);
  EXPECT_EQ(plan_error_of("source: {type: udp, listen: 9999, format: csv, header: false, "
                          "columns: [a, b]}"),
            "(no error)");
  // A TCP connection is a stream: its first row is its header.
  EXPECT_EQ(plan_error_of("source: {type: tcp, listen: 9999, format: csv}"), "(no error)");
  EXPECT_EQ(plan_error_of("source: {type: udp, listen: 9999, format: json}"), "(no error)");
}

TEST(YamlLoaderTest, Time) {
  EXPECT_EQ(error_of("time:\n  max_out_of_order: 1s\n"),
            "p.yaml:2:3: time: missing required key 'field' (the event-time field; omit the time "
            "section for processing time)");
  EXPECT_EQ(error_of("time:\n  field: 'event time'\n"),
            "p.yaml:2:10: time.field: expected a field path such as ts or event.time, found "
            "'event time'");
  EXPECT_EQ(error_of("time:\n  field: ts\n  max_out_of_order: 2x\n"),
            "p.yaml:3:21: time.max_out_of_order: invalid duration unit 'x' in '2x'; valid units: "
            "ms, s, m, h, d");
  EXPECT_EQ(error_of("time:\n  field: ts\n  idle_timeout: 0s\n"),
            "p.yaml:3:17: time.idle_timeout: must be greater than 0, found '0s'");
  EXPECT_EQ(error_of("time:\n  field: ts\n  idle_timeout: {a: 1}\n"),
            "p.yaml:3:17: time.idle_timeout: expected a duration such as 500ms, 10s or 1m, found "
            "a mapping");
  const PipelineSpec p =
      load_pipeline_string("time: {field: event.at, max_out_of_order: 250ms}", "p.yaml");
  EXPECT_EQ(p.time.field, "event.at");
  EXPECT_EQ(p.time.max_out_of_order_ms, 250);
  EXPECT_EQ(load_pipeline_string("time: {field: $ingest}", "p.yaml").time.field, "$ingest");
}

TEST(YamlLoaderTest, StepShape) {
  EXPECT_EQ(error_of("steps:\n  - filter\n"),
            "p.yaml:2:5: steps[0]: expected a step: a mapping with one key, one of: filter, "
            "select, key_by, shuffle, window, aggregate; found 'filter'");
  EXPECT_EQ(error_of("steps:\n  - {}\n"),
            "p.yaml:2:5: steps[0]: empty step; expected one key, one of: filter, select, key_by, "
            "shuffle, window, aggregate");
  EXPECT_EQ(error_of("steps:\n  - filter: a\n    select: {b: c}\n"),
            "p.yaml:3:5: steps[0]: a step has exactly one key, found 2: filter, select; start "
            "each step with its own '- '");
  // The settings of a window written at the step's own indentation.
  EXPECT_EQ(error_of("steps:\n  - window:\n    tumbling: 10s\n  - aggregate: {n: count()}\n"),
            "p.yaml:3:5: steps[0]: a step has exactly one key, found 2: window, tumbling; indent "
            "the settings of 'window' under it");
  EXPECT_EQ(error_of("steps:\n  - filtr: a > 1\n"),
            "p.yaml:2:5: steps[0]: unknown step 'filtr'; did you mean 'filter'? valid: filter, "
            "select, key_by, shuffle, window, aggregate");
  EXPECT_EQ(error_of("steps:\n  - map: {a: b}\n"),
            "p.yaml:2:5: steps[0]: unknown step 'map'; valid: filter, select, key_by, shuffle, "
            "window, aggregate");
}

TEST(YamlLoaderTest, FilterAndSelect) {
  EXPECT_EQ(error_of("steps:\n  - filter: ''\n"),
            "p.yaml:2:13: steps[0].filter: expected an expression, found an empty string");
  EXPECT_EQ(error_of("steps:\n  - filter:\n"),
            "p.yaml:2:5: steps[0].filter: expected an expression, found nothing");
  EXPECT_EQ(error_of("steps:\n  - filter: {a: 1}\n"),
            "p.yaml:2:13: steps[0].filter: expected an expression, found a mapping");
  EXPECT_EQ(error_of("steps:\n  - select: {}\n"),
            "p.yaml:2:13: steps[0].select: expected a non-empty mapping of output names to "
            "expressions, e.g. {page: page}, found a mapping");
  EXPECT_EQ(error_of("steps:\n  - select: [a, b]\n"),
            "p.yaml:2:13: steps[0].select: expected a non-empty mapping of output names to "
            "expressions, e.g. {page: page}, found a sequence");
  EXPECT_EQ(error_of("steps:\n  - select: {ok: a, 'not ok': b}\n"),
            "p.yaml:2:21: steps[0].select: 'not ok' is not a valid name; use letters, digits and "
            "'_', not starting with a digit");
  EXPECT_EQ(error_of("steps:\n  - select: {'null': a}\n"),
            "p.yaml:2:14: steps[0].select: 'null' is a reserved word and cannot be a name");
  EXPECT_EQ(error_of("steps:\n  - select:\n      a: x\n      b:\n"),
            "p.yaml:4:7: steps[0].select.b: expected an expression, found nothing");

  // A block scalar: the expression starts on the next line; its final newline is dropped.
  const PipelineSpec p =
      load_pipeline_string("steps:\n  - filter: |\n      a > 1 &&\n      b < 2\n", "p.yaml");
  EXPECT_EQ(p.steps[0].expr, "a > 1 &&\nb < 2");
  expect_loc(p.steps[0].expr_loc, 3, 7, "steps[0].filter");
  // Anchors before a value are skipped; double quotes set quote_offset.
  const PipelineSpec q = load_pipeline_string("steps:\n  - filter: &f \"a > 1\"\n", "p.yaml");
  expect_loc(q.steps[0].expr_loc, 2, 16, "steps[0].filter", 1);
}

TEST(YamlLoaderTest, KeyBy) {
  auto step = [](const std::string& yaml) { return load_pipeline_string(yaml, "p.yaml").steps[0]; };
  const StepSpec a = step("steps:\n  - key_by: user.id\n");
  EXPECT_EQ(a.expr, "user.id");
  EXPECT_EQ(a.key_name, "user.id");
  const StepSpec b = step("steps:\n  - key_by: {expr: lower(page), as: page_name}\n");
  EXPECT_EQ(b.expr, "lower(page)");
  EXPECT_EQ(b.key_name, "page_name");
  expect_loc(b.expr_loc, 2, 20, "steps[0].key_by.expr");
  const StepSpec c = step("steps:\n  - key_by: {expr: page}\n");
  EXPECT_EQ(c.key_name, "page");

  EXPECT_EQ(error_of("steps:\n  - key_by: lower(page)\n"),
            "p.yaml:2:13: steps[0].key_by: the key 'lower(page)' is not a field, so it needs a "
            "name: write key_by: {expr: <expression>, as: <name>}");
  EXPECT_EQ(error_of("steps:\n  - key_by: {as: p}\n"),
            "p.yaml:2:13: steps[0].key_by: missing required key 'expr' (the key: a field or an "
            "expression)");
  EXPECT_EQ(error_of("steps:\n  - key_by: {expr: a, as: 'a.b'}\n"),
            "p.yaml:2:27: steps[0].key_by.as: 'a.b' is not a valid name; use letters, digits and "
            "'_', not starting with a digit");
  EXPECT_EQ(error_of("steps:\n  - key_by: [a]\n"),
            "p.yaml:2:13: steps[0].key_by: expected an expression or a mapping {expr: "
            "<expression>, as: <name>}, found a sequence");
  EXPECT_EQ(error_of("steps:\n  - key_by: a\n  - filter: x\n  - key_by: b\n"),
            "p.yaml:4:5: steps[2]: only one key_by or shuffle step is allowed (the first is "
            "steps[0])");
}

TEST(YamlLoaderTest, Groupings) {
  auto step = [](const std::string& yaml) { return load_pipeline_string(yaml, "p.yaml").steps[0]; };
  const StepSpec a = step("steps:\n  - key_by: page\n");
  EXPECT_EQ(a.grouping, GroupingKind::kKey);
  EXPECT_EQ(a.hot_keys, -1);
  const StepSpec b = step("steps:\n  - key_by: {field: page, grouping: partial_key, hot_keys: false}\n");
  EXPECT_EQ(b.expr, "page");
  EXPECT_EQ(b.key_name, "page");
  EXPECT_EQ(b.grouping, GroupingKind::kPartialKey);
  EXPECT_EQ(b.hot_keys, 0);
  const StepSpec c = step("steps:\n  - key_by: {field: page, hot_keys: true, hot_share: 0.05}\n");
  EXPECT_EQ(c.grouping, GroupingKind::kKey);
  EXPECT_EQ(c.hot_keys, 1);
  EXPECT_DOUBLE_EQ(c.hot_share, 0.05);
  EXPECT_EQ(step("steps:\n  - shuffle: {}\n").grouping, GroupingKind::kShuffle);
  EXPECT_EQ(step("steps:\n  - shuffle:\n").kind, StepSpec::Kind::kShuffle);
  EXPECT_EQ(step("steps:\n  - shuffle: {grouping: broadcast}\n").grouping, GroupingKind::kBroadcast);
  EXPECT_EQ(step("steps:\n  - shuffle: {grouping: global}\n").grouping, GroupingKind::kGlobal);

  EXPECT_EQ(error_of("steps:\n  - key_by: {field: a, grouping: shufle}\n"),
            "p.yaml:2:34: steps[0].key_by.grouping: unknown grouping 'shufle'; valid: key, "
            "partial_key");
  EXPECT_EQ(error_of("steps:\n  - key_by: {field: a, hot_keys: maybe}\n"),
            "p.yaml:2:34: steps[0].key_by.hot_keys: unknown hot_keys value 'maybe'; valid: auto, "
            "true, false");
  EXPECT_EQ(error_of("steps:\n  - key_by: {field: a, hot_share: 2}\n"),
            "p.yaml:2:35: steps[0].key_by.hot_share: hot_share must be a number between 0 and 1 "
            "(exclusive), e.g. 0.01; found '2'");
  EXPECT_EQ(error_of("steps:\n  - key_by: {field: a, expr: b}\n"),
            "p.yaml:2:21: steps[0].key_by.field: give either field or expr, not both (field is the "
            "same as expr)");
  EXPECT_EQ(error_of("steps:\n  - shuffle: {to: all}\n"),
            "p.yaml:2:15: steps[0].shuffle: unknown key 'to'; expected one of: grouping");
  EXPECT_EQ(error_of("steps:\n  - key_by: a\n  - shuffle: {}\n"),
            "p.yaml:3:5: steps[1]: only one key_by or shuffle step is allowed (the first is "
            "steps[0])");
}

TEST(YamlLoaderTest, EarlyAndGlobalWindows) {
  auto window = [](const std::string& w) {
    return load_pipeline_string("steps:\n  - window: " + w + "\n  - aggregate: {n: count()}\n",
                                "p.yaml")
        .steps[0]
        .window;
  };
  const WindowSpec a = window("{tumbling: 1m, early: 5s}");
  EXPECT_EQ(a.kind, WindowSpec::Kind::kTumbling);
  EXPECT_EQ(a.early_ms, 5000);
  const WindowSpec b = window("{global: {every: 10s, every_count: 3}}");
  EXPECT_EQ(b.kind, WindowSpec::Kind::kGlobal);
  EXPECT_EQ(b.every_ms, 10000);
  EXPECT_EQ(b.every_count, 3);
  EXPECT_EQ(error_of("steps:\n  - window: {global: {evry: 1s}}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:23: steps[0].window.global: unknown key 'evry'; did you mean 'every'?");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 1m, early: 0s}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:35: steps[0].window.early: early interval must be greater than 0, found '0s'");
}

TEST(YamlLoaderTest, Routing) {
  const PipelineSpec a = load_pipeline_string("routing: {seed: 42}\n", "p.yaml");
  EXPECT_TRUE(a.routing.has_seed);
  EXPECT_EQ(a.routing.seed, 42u);
  const PipelineSpec b = load_pipeline_string("routing: {secret_file: /etc/k}\n", "p.yaml");
  EXPECT_FALSE(b.routing.has_seed);
  EXPECT_EQ(b.routing.secret_file, "/etc/k");
  const PipelineSpec c = load_pipeline_string("name: x\n", "p.yaml");
  EXPECT_FALSE(c.routing.has_seed);
  EXPECT_TRUE(c.routing.secret_file.empty());
  EXPECT_EQ(error_of("routing: {sead: 1}\n"),
            "p.yaml:1:11: routing: unknown key 'sead'; did you mean 'seed'?");
  EXPECT_EQ(error_of("routing: {seed: 1, secret_file: k}\n"),
            "p.yaml:1:33: routing.secret_file: give either seed or secret_file, not both");
}

TEST(YamlLoaderTest, Window) {
  EXPECT_EQ(error_of("steps:\n  - window: 10s\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:13: steps[0].window: expected a mapping with the window kind, e.g. "
            "{tumbling: 10s}, found '10s'");
  EXPECT_EQ(error_of("steps:\n  - window: {}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:13: steps[0].window: missing the window kind; expected one of: tumbling, "
            "sliding, session, count, global");
  EXPECT_EQ(error_of("steps:\n  - window: {allowed_lateness: 1m}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:13: steps[0].window: missing the window kind; expected one of: tumbling, "
            "sliding, session, count, global");
  EXPECT_EQ(error_of("steps:\n  - window: {sliding: 10s}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:23: steps[0].window.sliding: expected a mapping such as {size: 1m, slide: "
            "10s}, found '10s'");
  EXPECT_EQ(error_of("steps:\n  - window: {hopping: {size: 1m, slide: 10s}}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:14: steps[0].window: hopping windows are written sliding: {size: 1m, slide: "
            "10s}");
  EXPECT_EQ(error_of("steps:\n  - window: {slidng: {size: 1m, slide: 10s}}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:14: steps[0].window: unknown key 'slidng'; did you mean 'sliding'?");
  EXPECT_EQ(error_of("steps:\n  - window: {sliding: {size: 1m, slid: 10s}}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:34: steps[0].window.sliding: unknown key 'slid'; did you mean 'slide'?");
  EXPECT_EQ(error_of("steps:\n  - window: {sliding: {size: 1m}}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:23: steps[0].window.sliding: missing 'slide', e.g. {size: 1m, slide: 10s}");
  EXPECT_EQ(error_of("steps:\n  - window: {sliding: {size: 1m, slide: 0s}}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:41: steps[0].window.sliding.slide: slide must be greater than 0, found '0s'");
  EXPECT_EQ(error_of("steps:\n  - window: {session: {gap: 0}}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:29: steps[0].window.session.gap: session gap must be greater than 0, found "
            "'0'");
  EXPECT_EQ(error_of("steps:\n  - window: {session: 30s}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:23: steps[0].window.session: expected a mapping such as {gap: 30s}, found "
            "'30s'");
  EXPECT_EQ(error_of("steps:\n  - window: {count: {size: 0}}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:28: steps[0].window.count.size: must be at least 1, found 0");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 1s, session: {gap: 1s}}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:28: steps[0].window: a window has one kind, found tumbling and session");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 1s, allowed_lateness: later}\n"
                     "  - aggregate: {n: count()}\n"),
            "p.yaml:2:46: steps[0].window.allowed_lateness: invalid duration 'later'; expected "
            "e.g. 500ms, 10s, 1m, 2h, 1d");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 0s}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:24: steps[0].window.tumbling: window size must be greater than 0, found "
            "'0s'");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: soon}\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:24: steps[0].window.tumbling: invalid duration 'soon'; expected e.g. 500ms, "
            "10s, 1m, 2h, 1d");
}

TEST(YamlLoaderTest, WindowKinds) {
  auto window_of = [](const std::string& w) {
    PipelineSpec p = load_pipeline_string(
        "steps:\n  - key_by: k\n  - window: " + w + "\n  - aggregate: {n: count()}\n", "p.yaml", {});
    return p.steps[1].window;
  };
  WindowSpec t = window_of("{tumbling: 10s, allowed_lateness: 1m}");
  EXPECT_EQ(t.kind, WindowSpec::Kind::kTumbling);
  EXPECT_EQ(t.size_ms, 10000);
  EXPECT_EQ(t.allowed_lateness_ms, 60000);
  expect_loc(t.lateness_loc, 3, 47, "steps[1].window.allowed_lateness");
  WindowSpec s = window_of("{sliding: {size: 1m, slide: 10s}}");
  EXPECT_EQ(s.kind, WindowSpec::Kind::kSliding);
  EXPECT_EQ(s.size_ms, 60000);
  EXPECT_EQ(s.slide_ms, 10000);
  EXPECT_EQ(s.allowed_lateness_ms, 0);
  expect_loc(s.slide_loc, 3, 41, "steps[1].window.sliding.slide");
  WindowSpec g = window_of("{session: {gap: 30s}, allowed_lateness: 5s}");
  EXPECT_EQ(g.kind, WindowSpec::Kind::kSession);
  EXPECT_EQ(g.gap_ms, 30000);
  EXPECT_EQ(g.allowed_lateness_ms, 5000);
  WindowSpec c = window_of("{count: {size: 1000, slide: 100}}");
  EXPECT_EQ(c.kind, WindowSpec::Kind::kCount);
  EXPECT_EQ(c.count_size, 1000);
  EXPECT_EQ(c.count_slide, 100);
  EXPECT_EQ(window_of("{count: {size: 5}}").count_slide, 0);
}

TEST(YamlLoaderTest, StepOrder) {
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 1s}\n  - filter: x\n"),
            "p.yaml:2:5: steps[0]: a window step must be followed by an aggregate step");
  EXPECT_EQ(error_of("steps:\n  - filter: x\n  - window: {tumbling: 1s}\n"),
            "p.yaml:3:5: steps[1]: a window step must be followed by an aggregate step");
  EXPECT_EQ(error_of("steps:\n  - filter: x\n  - aggregate: {n: count()}\n"),
            "p.yaml:3:5: steps[1]: an aggregate step must directly follow a window step");
  EXPECT_EQ(error_of("steps:\n  - aggregate: {n: count()}\n"),
            "p.yaml:2:5: steps[0]: an aggregate step must directly follow a window step");
  EXPECT_EQ(error_of("steps:\n  - window: {tumbling: 1s}\n  - aggregate: {n: count()}\n"
                     "  - filter: n > 1\n"),
            "p.yaml:4:5: steps[2]: steps after aggregate are not supported yet; aggregate must be "
            "the last step");
  EXPECT_EQ(error_of("steps:\n  - aggregate: {}\n"),
            "p.yaml:2:16: steps[0].aggregate: expected a non-empty mapping of output names to "
            "aggregates, e.g. {views: count()}, found a mapping");
  // A pipeline without aggregation is fine; filters may follow key_by.
  EXPECT_EQ(error_of("steps:\n  - key_by: a\n  - filter: x\n  - select: {a: a}\n"), "(no error)");
}

TEST(YamlLoaderTest, AggregateKeepsDocumentOrder) {
  const PipelineSpec p = load_pipeline_string(R"(steps:
  - window: {tumbling: 1m}
  - aggregate:
      zeta: count()
      alpha: sum(x)
      mid: max(x)
)",
                                              "p.yaml");
  ASSERT_EQ(p.steps[1].fields.size(), 3u);
  EXPECT_EQ(p.steps[1].fields[0].name, "zeta");
  EXPECT_EQ(p.steps[1].fields[1].name, "alpha");
  EXPECT_EQ(p.steps[1].fields[2].name, "mid");
  expect_loc(p.steps[1].fields[1].loc, 5, 14, "steps[1].aggregate.alpha");
  EXPECT_EQ(p.steps[0].window.size_ms, 60000);
}

TEST(YamlLoaderTest, SinkAndDeadLetter) {
  EXPECT_EQ(error_of("sink:\n  type: stdot\n"),
            "p.yaml:2:9: sink.type: unknown sink type 'stdot'; did you mean 'stdout'? valid: "
            "stdout, file, tcp");
  EXPECT_EQ(error_of("sink:\n  format: csv\n"),
            "p.yaml:2:3: sink: missing required key 'type'; expected one of: stdout, file, tcp");
  EXPECT_EQ(error_of("sink:\n  type: file\n"),
            "p.yaml:2:3: sink: missing required key 'path' (required for sink type 'file')");
  EXPECT_EQ(error_of("sink:\n  type: tcp\n"),
            "p.yaml:2:3: sink: missing required key 'connect' (required for sink type 'tcp')");
  EXPECT_EQ(error_of("sink:\n  type: stdout\n  path: x\n"),
            "p.yaml:3:3: sink: key 'path' does not apply to sink type 'stdout'");
  EXPECT_EQ(error_of("sink:\n  type: file\n  path: x\n  append: sometimes\n"),
            "p.yaml:4:11: sink.append: expected true or false, found 'sometimes'");
  EXPECT_EQ(error_of("dead_letter: {}\n"),
            "p.yaml:1:14: dead_letter: missing required key 'path' (omit dead_letter to write "
            "rate-limited lines to stderr)");
  const PipelineSpec p =
      load_pipeline_string("sink: {type: tcp, connect: 'db.local:7000'}", "p.yaml");
  EXPECT_EQ(p.sink.connect, "db.local:7000");
}

TEST(YamlLoaderOverrideTest, SetExistingValues) {
  const PipelineSpec p = load_pipeline_string(
      kFull, "p.yaml",
      {"workers=4", "source.path=other.jsonl", "sink.format=text", "time.max_out_of_order=5s",
       "steps[3].window.tumbling=1m", "steps[0].filter=!exists(x) && a == \"b #c\"",
       "steps[1].select={only: page}"});
  EXPECT_EQ(p.workers, 4);
  EXPECT_EQ(p.source.path, "other.jsonl");
  EXPECT_EQ(p.sink.format, Format::kText);
  EXPECT_EQ(p.time.max_out_of_order_ms, 5000);
  EXPECT_EQ(p.steps[3].window.size_ms, 60000);
  // Not YAML: taken verbatim (YAML would read '!' as a tag and ' #' as a comment).
  EXPECT_EQ(p.steps[0].expr, "!exists(x) && a == \"b #c\"");
  EXPECT_EQ(p.steps[0].expr_loc.file, "--set steps[0].filter=!exists(x) && a == \"b #c\"");
  EXPECT_EQ(p.steps[0].expr_loc.line, 0);
  EXPECT_EQ(p.steps[0].expr_loc.path, "steps[0].filter");
  ASSERT_EQ(p.steps[1].fields.size(), 1u);
  EXPECT_EQ(p.steps[1].fields[0].name, "only");
  // Untouched values keep their file locations.
  expect_loc(p.steps[2].expr_loc, 17, 13, "steps[2].key_by");
}

TEST(YamlLoaderOverrideTest, AddValuesAndSections) {
  const PipelineSpec p = load_pipeline_string(
      "name: x\n", "p.yaml",
      {"time.field=ts", "time.max_out_of_order=1s", "dead_letter.path=dead.jsonl",
       "sink={type: file, path: 'o.jsonl'}", "workers=3", "workers=5", "source.type=stdin"});
  EXPECT_EQ(p.time.field, "ts");
  EXPECT_EQ(p.time.max_out_of_order_ms, 1000);
  EXPECT_EQ(p.dead_letter.path, "dead.jsonl");
  EXPECT_EQ(p.sink.type, "file");
  EXPECT_EQ(p.sink.path, "o.jsonl");
  EXPECT_EQ(p.workers, 5);  // in order: the last one wins
  EXPECT_EQ(p.source.type, "stdin");
  EXPECT_EQ(p.time.loc.file, "--set time.field=ts");

  // null removes an optional section.
  const PipelineSpec q = load_pipeline_string(kFull, "p.yaml", {"time=null", "dead_letter="});
  EXPECT_TRUE(q.time.field.empty());
  EXPECT_TRUE(q.dead_letter.path.empty());
}

TEST(YamlLoaderOverrideTest, Errors) {
  EXPECT_EQ(error_of(kFull, {"workers=abc"}),
            "--set workers=abc: workers: expected a positive integer, found 'abc'");
  EXPECT_EQ(error_of(kFull, {"workers"}),
            "--set workers: expected path=value, e.g. --set workers=4");
  EXPECT_EQ(error_of(kFull, {"steps..filter=x"}),
            "--set steps..filter=x: invalid path 'steps..filter'; expected names and indexes such "
            "as steps[2].window.tumbling");
  EXPECT_EQ(error_of(kFull, {"steps[x].filter=x"}),
            "--set steps[x].filter=x: invalid path 'steps[x].filter'; expected names and indexes "
            "such as steps[2].window.tumbling");
  EXPECT_EQ(error_of(kFull, {"=x"}),
            "--set =x: invalid path ''; expected names and indexes such as "
            "steps[2].window.tumbling");
  EXPECT_EQ(error_of(kFull, {"steps[9].filter=x"}),
            "--set steps[9].filter=x: steps[9]: no such step; the pipeline has 5 steps (steps[0] "
            "to steps[4])");
  EXPECT_EQ(error_of("name: x\n", {"steps[0].filter=x"}),
            "--set steps[0].filter=x: steps[0]: no such step; the pipeline has no steps");
  EXPECT_EQ(error_of(kFull, {"sorce.path=x"}),
            "--set sorce.path=x: unknown key 'sorce'; did you mean 'source'?");
  EXPECT_EQ(error_of(kFull, {"name.first=x"}),
            "--set name.first=x: name: cannot set 'first': found 'views-per-page', not a mapping");
  EXPECT_EQ(error_of(kFull, {"source[0]=x"}),
            "--set source[0]=x: source: cannot set 'source[0]': found a mapping, not a sequence");
  EXPECT_EQ(error_of(kFull, {"steps[3].window={tumbling: 0s}"}),
            "--set steps[3].window={tumbling: 0s}: steps[3].window.tumbling: window size must be "
            "greater than 0, found '0s'");
  EXPECT_EQ(error_of(kFull, {"steps[3].window.tumbeling=5s"}),
            "--set steps[3].window.tumbeling=5s: steps[3].window: unknown key 'tumbeling'; did "
            "you mean 'tumbling'?");
  EXPECT_EQ(error_of(kFull, {"source.type=tcp"}),
            "p.yaml:5:3: source: key 'path' does not apply to source type 'tcp'");
  const std::string bad_flow = error_of(kFull, {"steps[3].window={tumbling: 5s"});
  EXPECT_EQ(
      bad_flow.rfind("--set steps[3].window={tumbling: 5s: steps[3].window: invalid value: ", 0),
      0u)
      << bad_flow;
  EXPECT_EQ(error_of(kFull, {"sink={type: file, type: tcp}"}),
            "--set sink={type: file, type: tcp}: sink: duplicate key 'type'");
}

TEST(YamlLoaderFileTest, LoadsAFile) {
  const std::string path = testing::TempDir() + "/yaml_loader_test_pipeline.yaml";
  {
    std::ofstream out(path);
    out << kFull;
  }
  const PipelineSpec p = load_pipeline_file(path, {"workers=7"});
  EXPECT_EQ(p.file, path);
  EXPECT_EQ(p.workers, 7);
  EXPECT_EQ(p.steps[0].expr_loc.file, path);
  EXPECT_EQ(p.steps[0].expr_loc.line, 15);
  std::remove(path.c_str());
}

TEST(YamlLoaderFileTest, MissingFileAndDirectory) {
  try {
    load_pipeline_file("/nonexistent/spate/p.yaml");
    FAIL() << "no error";
  } catch (const ConfigException& e) {
    EXPECT_EQ(e.error().to_string(),
              "/nonexistent/spate/p.yaml: cannot open pipeline file: No such file or directory");
    EXPECT_EQ(e.error().loc.file, "/nonexistent/spate/p.yaml");
  }
  try {
    load_pipeline_file(testing::TempDir());
    FAIL() << "no error";
  } catch (const ConfigException& e) {
    EXPECT_EQ(e.error().message, "cannot read pipeline file: Is a directory");
  }
}

TEST(SpecTest, FormatNames) {
  EXPECT_STREQ(format_name(Format::kJson), "json");
  EXPECT_STREQ(format_name(Format::kCsv), "csv");
  EXPECT_STREQ(format_name(Format::kText), "text");
}

TEST(SpecTest, LocAtOffsetWithoutPosition) {
  SpecLoc loc;
  loc.file = "--set x=y";
  const SpecLoc moved = loc_at_offset(loc, 5);
  EXPECT_EQ(moved.line, 0);
  EXPECT_EQ(moved.column, 0);
}

}  // namespace
}  // namespace spate
