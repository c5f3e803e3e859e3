// End-to-end: `spate run` on generated data, every window's result compared with an exact answer
// computed independently here; dead letters for every reason; `spate check` errors; exit codes.

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <poll.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "spate/common/time.h"
#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

struct Agg {
  int64_t count = 0;
  double sum = 0;
  double min = INFINITY, max = -INFINITY;
};

// Exact per-(page, 10 s window) aggregates of views with latency >= 0, computed from the raw
// JSON lines with simdjson's DOM parser (independent of spate's code path).
std::map<std::pair<std::string, int64_t>, Agg> exact_views(const std::string& jsonl,
                                                           int64_t window_ms, bool keyed) {
  std::map<std::pair<std::string, int64_t>, Agg> m;
  simdjson::dom::parser parser;
  for (const auto& line : lines(jsonl)) {
    simdjson::dom::element e = parser.parse(line);
    std::string_view type = e["type"].get_string().value();
    double lat = e["latency_ms"].get_double().value();
    if (type != "view" || lat < 0) continue;
    int64_t ts = e["ts"].get_int64().value();
    std::string page = keyed ? std::string(e["page"].get_string().value()) : "";
    int64_t start = ts / window_ms * window_ms;
    Agg& a = m[{page, start}];
    a.count++;
    a.sum += lat;
    a.min = std::min(a.min, lat);
    a.max = std::max(a.max, lat);
  }
  return m;
}

const char* kKeyedPipeline = R"(name: views-per-page
source: {type: file, path: @IN@, format: json}
time: {field: ts, max_out_of_order: 2s}
steps:
  - filter: 'type == "view" && latency_ms >= 0'
  - select: { page: page, ms: latency_ms, slow: 'latency_ms > 500' }
  - key_by: page
  - window: { tumbling: 10s }
  - aggregate: { views: count(), total_ms: sum(ms), avg_ms: avg(ms), min_ms: min(ms), max_ms: max(ms) }
sink: {type: stdout, format: json}
dead_letter: {path: @DEAD@}
)";

std::string fill(std::string text, const TempDir& dir, const std::string& in) {
  auto rep = [&](const std::string& from, const std::string& to) {
    for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
      text.replace(p, from.size(), to);
    }
  };
  rep("@IN@", in);
  rep("@DEAD@", dir.file("dead.jsonl"));
  return text;
}

std::string generate(const TempDir& dir, int count, int seed) {
  RunResult g = run_spate({"gen", "clicks", "--count", std::to_string(count), "--seed",
                           std::to_string(seed)});
  EXPECT_EQ(g.exit_code, 0) << g.err;
  dir.write("clicks.jsonl", g.out);
  return g.out;
}

void expect_matches(const std::vector<Row>& rows,
                    const std::map<std::pair<std::string, int64_t>, Agg>& exact, bool keyed) {
  ASSERT_EQ(rows.size(), exact.size());
  std::set<std::pair<std::string, int64_t>> seen;
  for (const Row& r : rows) {
    std::string page = keyed ? r.at("page") : "";
    auto start = parse_rfc3339_ms(r.at("window_start"));
    ASSERT_TRUE(start.is_ok());
    auto end = parse_rfc3339_ms(r.at("window_end"));
    ASSERT_EQ(*end - *start, 10000);
    auto it = exact.find({page, *start});
    ASSERT_NE(it, exact.end()) << "unexpected window " << page << " " << r.at("window_start");
    EXPECT_TRUE(seen.insert(it->first).second) << "window emitted twice";
    const Agg& a = it->second;
    EXPECT_EQ(std::stoll(r.at("views")), a.count);
    EXPECT_NEAR(std::stod(r.at("total_ms")), a.sum, 1e-9 * std::max(1.0, a.sum));
    EXPECT_NEAR(std::stod(r.at("avg_ms")), a.sum / a.count, 1e-9 * std::max(1.0, a.sum));
    EXPECT_EQ(std::stod(r.at("min_ms")), a.min);
    EXPECT_EQ(std::stod(r.at("max_ms")), a.max);
  }
}

class KeyedWindows : public ::testing::TestWithParam<int> {};

TEST_P(KeyedWindows, EveryWindowEqualsTheExactAnswer) {
  TempDir dir;
  std::string data = generate(dir, 60000, 11);
  dir.write("p.yaml", fill(kKeyedPipeline, dir, dir.file("clicks.jsonl")));
  RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", std::to_string(GetParam())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_matches(parse_rows(r.out), exact_views(data, 10000, true), true);
  // Rows come ordered by window, then by key.
  auto rows = parse_rows(r.out);
  for (size_t i = 1; i < rows.size(); ++i) {
    auto a = std::make_pair(rows[i - 1].at("window_start"), rows[i - 1].at("page"));
    auto b = std::make_pair(rows[i].at("window_start"), rows[i].at("page"));
    EXPECT_LT(a, b);
  }
  EXPECT_EQ(read_file(dir.file("dead.jsonl")), "");  // generated data is clean and within 2s
}

INSTANTIATE_TEST_SUITE_P(Workers, KeyedWindows, ::testing::Values(1, 2, 4));

// Pipelines without windows: every worker formats and writes its own rows to the sink. Every
// kept event comes out exactly once, each line whole, with 1 to 4 workers, in both modes, to a
// file and to stdout, as JSON and as the raw lines.
class PassThrough : public ::testing::TestWithParam<int> {};

TEST_P(PassThrough, EveryKeptEventOnceAndWhole) {
  TempDir dir;
  std::string data = generate(dir, 40000, 31);
  std::multiset<std::string> want_sel, want_raw;
  simdjson::dom::parser parser;
  for (const auto& line : lines(data)) {
    simdjson::dom::element e = parser.parse(line);
    if (std::string_view(e["type"].get_string().value()) != "view") continue;
    want_sel.insert(std::string(e["page"].get_string().value()) + "|" +
                    std::to_string(e["ts"].get_int64().value()));
    want_raw.insert(std::string(line));
  }
  ASSERT_GT(want_sel.size(), 10000u);
  const std::string workers = std::to_string(GetParam());
  for (const std::string mode : {"", "mode: micro_batch\nbatch_interval: 20ms\n"}) {
    for (const std::string& sink : {std::string("{type: stdout, format: json}"),
                                   "{type: file, path: " + dir.file("out.jsonl") + ", format: json}"}) {
      SCOPED_TRACE(mode + sink);
      dir.write("p.yaml", "name: pass\n" + mode + "source: {type: file, path: " +
                              dir.file("clicks.jsonl") +
                              ", format: json}\nsteps:\n  - filter: 'type == \"view\"'\n"
                              "  - select: {page: page, ts: ts}\nsink: " + sink + "\n");
      RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", workers});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      std::string out =
          sink.find("stdout") != std::string::npos ? r.out : read_file(dir.file("out.jsonl"));
      std::multiset<std::string> got;
      for (const Row& row : parse_rows(out)) got.insert(row.at("page") + "|" + row.at("ts"));
      EXPECT_EQ(got, want_sel);
    }
  }
  // A filter alone writes the events as they came.
  dir.write("p.yaml", "name: raw\nsource: {type: file, path: " + dir.file("clicks.jsonl") +
                          ", format: json}\nsteps:\n  - filter: 'type == \"view\"'\n"
                          "sink: {type: stdout, format: json}\n");
  RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", workers});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::multiset<std::string> got;
  for (const auto& line : lines(r.out)) got.insert(std::string(line));
  EXPECT_EQ(got, want_raw);
}

INSTANTIATE_TEST_SUITE_P(Workers, PassThrough, ::testing::Values(1, 2, 4));

TEST(GlobalWindows, PartialsMergeToTheExactAnswer) {
  TempDir dir;
  std::string data = generate(dir, 40000, 5);
  std::string p = fill(kKeyedPipeline, dir, dir.file("clicks.jsonl"));
  p.replace(p.find("  - key_by: page\n"), std::string("  - key_by: page\n").size(), "");
  dir.write("p.yaml", p);
  for (int w : {1, 3}) {
    RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", std::to_string(w)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = parse_rows(r.out);
    expect_matches(rows, exact_views(data, 10000, false), false);
    EXPECT_EQ(rows[0].count("page"), 0u);
  }
}

TEST(Stdin, GeneratorPipedIntoRun) {
  TempDir dir;
  std::string data = generate(dir, 20000, 3);
  std::string p = fill(kKeyedPipeline, dir, "unused");
  p.replace(p.find("{type: file, path: unused, format: json}"),
            std::string("{type: file, path: unused, format: json}").size(), "{type: stdin}");
  dir.write("p.yaml", p);
  RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", "2"}, data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_matches(parse_rows(r.out), exact_views(data, 10000, true), true);
}

// Each bad event goes to the dead-letter output with its reason; the good events around it give
// exactly the results they give alone.
TEST(DeadLetters, EveryReasonIsCountedAndTheRestIsUntouched) {
  TempDir dir;
  std::string good;
  for (int i = 0; i < 300; ++i) {
    good += "{\"ts\":" + std::to_string(1767225600000 + i * 100) + ",\"page\":\"p" +
            std::to_string(i % 7) + "\",\"type\":\"view\",\"latency_ms\":" + std::to_string(i) + "}\n";
  }
  std::vector<std::pair<std::string, std::string>> bad = {
      {"bad_json", "{\"ts\":1767225600100,\"page\":\"p1\",\"type\":\"view\",\"latency_ms\":5"},
      {"bad_json", "[1,2,3]"},
      {"bad_json", "{\"ts\":1767225600100} trailing"},
      {"invalid_utf8", "{\"ts\":1767225600100,\"page\":\"p\xff\xfe\",\"type\":\"view\",\"latency_ms\":5}"},
      {"wrong_type", "{\"ts\":1767225600100,\"page\":\"p1\",\"type\":\"view\",\"latency_ms\":\"slow\"}"},
      {"wrong_type", "{\"ts\":1767225600100,\"page\":\"p1\",\"type\":7,\"latency_ms\":5}"},
      {"bad_timestamp", "{\"ts\":\"yesterday\",\"page\":\"p1\",\"type\":\"view\",\"latency_ms\":5}"},
      {"bad_timestamp", "{\"page\":\"p1\",\"type\":\"view\",\"latency_ms\":5}"},
      {"oversize", "{\"ts\":1767225600100,\"page\":\"" + std::string(3000, 'x') +
                       "\",\"type\":\"view\",\"latency_ms\":5}"},
  };
  std::string mixed;
  size_t b = 0;
  auto good_lines = lines(good);
  for (size_t i = 0; i < good_lines.size(); ++i) {
    mixed += good_lines[i] + "\n";
    if (i % 30 == 29 && b < bad.size()) mixed += bad[b++].second + "\n";
  }
  while (b < bad.size()) mixed += bad[b++].second + "\n";
  // A late event: far behind the watermark once the stream has moved on.
  mixed += "{\"ts\":1767225000000,\"page\":\"p1\",\"type\":\"view\",\"latency_ms\":5}\n";
  dir.write("good.jsonl", good);
  dir.write("mixed.jsonl", mixed);
  dir.write("good.yaml", fill(kKeyedPipeline, dir, dir.file("good.jsonl")));
  dir.write("mixed.yaml", fill(kKeyedPipeline, dir, dir.file("mixed.jsonl")));
  RunResult rg = run_spate({"run", dir.file("good.yaml"), "-w", "2"});
  ASSERT_EQ(rg.exit_code, 0) << rg.err;
  RunResult rm = run_spate({"run", dir.file("mixed.yaml"), "-w", "2", "--set",
                            "source.max_event_size=2KiB"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, rg.out);
  std::map<std::string, int> reasons;
  for (const Row& r : parse_rows(read_file(dir.file("dead.jsonl")))) {
    reasons[r.at("reason")]++;
    EXPECT_FALSE(r.at("error").empty());
    EXPECT_FALSE(r.at("raw").empty());
    EXPECT_EQ(r.count("source"), 1u);
    EXPECT_EQ(r.count("position"), 1u);
  }
  std::map<std::string, int> want;
  for (const auto& [reason, line] : bad) want[reason]++;
  want["late"] = 1;
  EXPECT_EQ(reasons, want);
  EXPECT_NE(rm.err.find("dead letters"), std::string::npos) << rm.err;
}

TEST(DeadLetters, CsvColumnCount) {
  TempDir dir;
  dir.write("in.csv", "ts,page,n\n1767225600000,a,1\n1767225600001,b\n1767225600002,a,3\n");
  dir.write("p.yaml", fill(R"(source: {type: file, path: @IN@, format: csv}
time: {field: ts}
steps:
  - key_by: page
  - window: {tumbling: 1m}
  - aggregate: {n: count(), s: sum(n)}
sink: {type: stdout, format: csv}
dead_letter: {path: @DEAD@}
)", dir, dir.file("in.csv")));
  RunResult r = run_spate({"run", dir.file("p.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "page,window_start,window_end,n,s\n"
            "a,2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,2,4\n");
  auto dead = parse_rows(read_file(dir.file("dead.jsonl")));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("reason"), "csv_columns");
  EXPECT_EQ(dead[0].at("raw"), "1767225600001,b");
}

TEST(Check, TypoNamesFileLineColumnAndSuggests) {
  TempDir dir;
  dir.write("t.yaml", R"(name: x
source: {type: stdin}
steps:
  - key_by: page
  - window:
      tumbeling: 10s
  - aggregate: {n: count()}
)");
  RunResult r = run_spate({"check", dir.file("t.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("t.yaml:6:7: steps[1].window: unknown key 'tumbeling'; did you mean 'tumbling'?"),
            std::string::npos) << r.err;
}

TEST(Check, ExpressionErrorsPointIntoTheExpression) {
  TempDir dir;
  dir.write("t.yaml", R"(source: {type: stdin}
steps:
  - filter: 'type == "view" && lowr(page) == "x"'
)");
  RunResult r = run_spate({"check", dir.file("t.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("t.yaml:3:32:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'lower'?"), std::string::npos) << r.err;

  dir.write("u.yaml", R"(source: {type: stdin}
steps:
  - select: {page: page, ms: latency_ms}
  - filter: 'pgae == "x"'
)");
  r = run_spate({"check", dir.file("u.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown field 'pgae'; did you mean 'page'?"), std::string::npos) << r.err;

  dir.write("v.yaml", R"(source: {type: stdin}
steps:
  - filter: 'latency_ms > 5 && latency_ms == "fast"'
)");
  r = run_spate({"check", dir.file("v.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("v.yaml:3:"), std::string::npos) << r.err;
}

TEST(Check, ValidPipelineDescribesItself) {
  RunResult r = run_spate({"check", source_dir() + "/examples/trending.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("OK"), std::string::npos);
  EXPECT_NE(r.out.find("window: tumbling 10s, keyed"), std::string::npos) << r.out;
}

TEST(Cli, ExitCodesHelpAndVersion) {
  EXPECT_EQ(run_spate({"--version"}).exit_code, 0);
  EXPECT_NE(run_spate({"--version"}).out.find("spate "), std::string::npos);
  RunResult h = run_spate({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* c : {"run", "check", "gen"}) EXPECT_NE(h.out.find(c), std::string::npos);
  RunResult rh = run_spate({"run", "--help"});
  EXPECT_EQ(rh.exit_code, 0);
  EXPECT_NE(rh.out.find("--workers"), std::string::npos);
  EXPECT_EQ(run_spate({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_spate({"run"}).exit_code, 2);
  EXPECT_EQ(run_spate({"run", "/nonexistent/p.yaml"}).exit_code, 2);
  TempDir dir;
  dir.write("p.yaml", "source: {type: file, path: /nonexistent/x.jsonl}\n");
  RunResult r = run_spate({"run", dir.file("p.yaml")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/x.jsonl"), std::string::npos);
  // A sink that cannot be written is a runtime failure.
  dir.write("q.yaml", "source: {type: stdin}\nsink: {type: file, path: /nonexistent/dir/out}\n");
  EXPECT_EQ(run_spate({"run", dir.file("q.yaml")}, "{}\n").exit_code, 1);
}

TEST(Passthrough, FilterOnlyWritesTheOriginalEvents) {
  TempDir dir;
  std::string data = generate(dir, 5000, 9);
  dir.write("p.yaml", fill(R"(source: {type: file, path: @IN@}
steps:
  - filter: 'type == "purchase"'
)", dir, dir.file("clicks.jsonl")));
  RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string want;
  for (const auto& l : lines(data)) {
    if (l.find("\"type\":\"purchase\"") != std::string::npos) want += l + "\n";
  }
  EXPECT_EQ(r.out, want);
}

}  // namespace
}  // namespace spate::test

namespace spate::test {
namespace {

// The C++ API example builds the same topology as examples/trending.yaml: same output.
TEST(CppApi, ExampleEqualsItsYamlTwin) {
  TempDir dir;
  generate(dir, 20000, 21);
  std::string bin = spate_bin();
  std::string example = bin.substr(0, bin.rfind("/tools/spate/")) + "/views_per_page";
  std::string cmd = example + " " + dir.file("clicks.jsonl") + " > " + dir.file("cpp.out") + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  RunResult y = run_spate({"run", source_dir() + "/examples/trending.yaml", "--set",
                           "source.path=" + dir.file("clicks.jsonl"), "--set",
                           "dead_letter.path=" + dir.file("dead.jsonl")});
  ASSERT_EQ(y.exit_code, 0) << y.err;
  // Sums may differ in the last bits (addition order differs between runs): compare rows.
  auto a = parse_rows(read_file(dir.file("cpp.out")));
  auto b = parse_rows(y.out);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].at("page"), b[i].at("page"));
    EXPECT_EQ(a[i].at("window_start"), b[i].at("window_start"));
    EXPECT_EQ(a[i].at("views"), b[i].at("views"));
    EXPECT_NEAR(std::stod(a[i].at("total_ms")), std::stod(b[i].at("total_ms")), 1e-6);
  }
}

}  // namespace
}  // namespace spate::test

namespace spate::test {
namespace {

// Sketch aggregates in a global window over several workers: per-worker partials merge to the
// answer within each sketch's bound (exactly for moments-based ones).
TEST(AnalyticsAggregates, MergedPartialsStayWithinTheirBounds) {
  TempDir dir;
  std::string data = generate(dir, 50000, 17);
  dir.write("p.yaml", fill(R"(source: {type: file, path: @IN@}
time: {field: ts, max_out_of_order: 2s}
steps:
  - window: {tumbling: 1d}
  - aggregate:
      n: count()
      users: distinct(user)
      p90: quantile(latency_ms, 0.9)
      sd: stddev(latency_ms)
      var: variance(latency_ms)
      top: top_k(page, 5)
)", dir, dir.file("clicks.jsonl")));
  // Exact answers.
  simdjson::dom::parser parser;
  std::set<std::string> users;
  std::vector<double> lat;
  std::map<std::string, int64_t> pages;
  for (const auto& line : lines(data)) {
    simdjson::dom::element e = parser.parse(line);
    users.insert(std::string(e["user"].get_string().value()));
    lat.push_back(e["latency_ms"].get_double().value());
    pages[std::string(e["page"].get_string().value())]++;
  }
  double mean = 0;
  for (double x : lat) mean += x;
  mean /= lat.size();
  double var = 0;
  for (double x : lat) var += (x - mean) * (x - mean);
  var /= lat.size();
  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  for (int w : {1, 3}) {
    RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", std::to_string(w)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = parse_rows(r.out);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(std::stoll(rows[0].at("n")), 50000);
    // HyperLogLog p=12: RSE 1.63% (classic bound); 4 sigma.
    double d = std::stod(rows[0].at("users"));
    EXPECT_NEAR(d, users.size(), 4 * 0.0163 * users.size());
    EXPECT_NEAR(std::stod(rows[0].at("var")), var, 1e-9 * var);
    EXPECT_NEAR(std::stod(rows[0].at("sd")), std::sqrt(var), 1e-9 * std::sqrt(var));
    // KLL k=200: normalized rank error 1.33% at 99% confidence.
    double q = std::stod(rows[0].at("p90"));
    double rank = double(std::lower_bound(sorted.begin(), sorted.end(), q) - sorted.begin()) / sorted.size();
    double rank_hi = double(std::upper_bound(sorted.begin(), sorted.end(), q) - sorted.begin()) / sorted.size();
    EXPECT_LE(rank, 0.9 + 0.0133);
    EXPECT_GE(rank_hi, 0.9 - 0.0133);
    // Space-Saving: count - error <= true <= count for every reported item.
    simdjson::dom::element top = parser.parse(rows[0].at("top"));
    size_t items = 0;
    for (simdjson::dom::element t : top.get_array()) {
      std::string v(t["value"].get_string().value());
      int64_t c = t["count"].get_int64().value(), e = t["error"].get_int64().value();
      EXPECT_LE(c - e, pages[v]) << v;
      EXPECT_GE(c, pages[v]) << v;
      ++items;
    }
    EXPECT_EQ(items, 5u);
  }
}

}  // namespace
}  // namespace spate::test

namespace spate::test {
namespace {

TEST(Check, UnknownInputFieldsAndDuplicateOutputsAreReportedWithTheirPlace) {
  TempDir dir;
  dir.write("a.yaml", "source: {type: stdin}\nsteps:\n  - filter: '$remote_port > 1'\n");
  RunResult r = run_spate({"check", dir.file("a.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a.yaml:3:14: steps[0].filter: '$remote_port' exists only for tcp and udp"),
            std::string::npos) << r.err;
  dir.write("b.yaml", R"(source: {type: stdin}
steps:
  - key_by: n
  - window: {tumbling: 1m}
  - aggregate: {n: count()}
)");
  r = run_spate({"check", dir.file("b.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("output field 'n' appears twice"), std::string::npos) << r.err;
  dir.write("c.yaml", R"(source: {type: stdin}
steps:
  - window: {tumbling: 1m}
  - aggregate:
      p: quantile(x, q=0.9)
      t: top_k(x, k=2)
)");
  r = run_spate({"check", dir.file("c.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// ---- Sliding and session windows (issue 5): every window vs an exact computation here. ----

struct View {
  int64_t ts;
  double ms;
};

// The views (type == "view", latency >= 0) of each page, in file order.
std::map<std::string, std::vector<View>> views_by_page(const std::string& jsonl) {
  std::map<std::string, std::vector<View>> m;
  simdjson::dom::parser parser;
  for (const auto& line : lines(jsonl)) {
    simdjson::dom::element e = parser.parse(line);
    double lat = e["latency_ms"].get_double().value();
    if (std::string_view(e["type"].get_string().value()) != "view" || lat < 0) continue;
    m[std::string(e["page"].get_string().value())].push_back(
        View{e["ts"].get_int64().value(), lat});
  }
  return m;
}

using WindowKey = std::tuple<std::string, int64_t, int64_t>;  // page, start, end

void add_view(Agg& a, double ms) {
  a.count++;
  a.sum += ms;
  a.min = std::min(a.min, ms);
  a.max = std::max(a.max, ms);
}

// Every window [s, s + size), s a multiple of slide, that holds a view.
std::map<WindowKey, Agg> exact_sliding(const std::map<std::string, std::vector<View>>& views,
                                       int64_t size, int64_t slide) {
  std::map<WindowKey, Agg> m;
  for (const auto& [page, vs] : views) {
    for (const View& v : vs) {
      for (int64_t s = v.ts / slide * slide; s > v.ts - size; s -= slide) {
        add_view(m[{page, s, s + size}], v.ms);
      }
    }
  }
  return m;
}

// Sessions: a page's views sorted by time, split where two neighbours are gap or more apart;
// each session is [first, last + gap).
std::map<WindowKey, Agg> exact_sessions(std::map<std::string, std::vector<View>> views,
                                        int64_t gap) {
  std::map<WindowKey, Agg> m;
  for (auto& [page, vs] : views) {
    std::sort(vs.begin(), vs.end(), [](const View& a, const View& b) { return a.ts < b.ts; });
    size_t first = 0;
    for (size_t i = 1; i <= vs.size(); ++i) {
      if (i < vs.size() && vs[i].ts - vs[i - 1].ts < gap) continue;
      Agg& a = m[{page, vs[first].ts, vs[i - 1].ts + gap}];
      for (size_t j = first; j < i; ++j) add_view(a, vs[j].ms);
      first = i;
    }
  }
  return m;
}

void expect_windows(const std::vector<Row>& rows, const std::map<WindowKey, Agg>& exact) {
  ASSERT_EQ(rows.size(), exact.size());
  std::set<WindowKey> seen;
  for (const Row& r : rows) {
    WindowKey k{r.at("page"), *parse_rfc3339_ms(r.at("window_start")),
                *parse_rfc3339_ms(r.at("window_end"))};
    auto it = exact.find(k);
    ASSERT_NE(it, exact.end()) << "unexpected window " << r.at("page") << " "
                               << r.at("window_start") << " " << r.at("window_end");
    EXPECT_TRUE(seen.insert(k).second) << "window emitted twice";
    const Agg& a = it->second;
    EXPECT_EQ(std::stoll(r.at("views")), a.count);
    EXPECT_NEAR(std::stod(r.at("total_ms")), a.sum, 1e-9 * std::max(1.0, a.sum));
    EXPECT_EQ(std::stod(r.at("min_ms")), a.min);
    EXPECT_EQ(std::stod(r.at("max_ms")), a.max);
  }
}

const char* kWindowKindPipeline = R"(name: window-kinds
source: {type: file, path: @IN@, format: json}
time: {field: ts, max_out_of_order: 2s}
steps:
  - filter: 'type == "view" && latency_ms >= 0'
  - select: { page: page, ms: latency_ms }
  - key_by: page
  - window: @WINDOW@
  - aggregate: { views: count(), total_ms: sum(ms), min_ms: min(ms), max_ms: max(ms) }
sink: {type: stdout, format: json}
dead_letter: {path: @DEAD@}
)";

std::string window_pipeline(const TempDir& dir, const std::string& window) {
  std::string p = fill(kWindowKindPipeline, dir, dir.file("clicks.jsonl"));
  p.replace(p.find("@WINDOW@"), 8, window);
  return p;
}

class WindowKinds : public ::testing::TestWithParam<int> {};

TEST_P(WindowKinds, SlidingWindowsEqualTheExactAnswer) {
  TempDir dir;
  std::string data = generate(dir, 30000, 17);
  dir.write("p.yaml", window_pipeline(dir, "{sliding: {size: 10s, slide: 4s}}"));
  RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", std::to_string(GetParam())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = parse_rows(r.out);
  expect_windows(rows, exact_sliding(views_by_page(data), 10000, 4000));
  // Ordered by window end, then key, whatever the number of workers.
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(std::make_pair(rows[i - 1].at("window_end"), rows[i - 1].at("page")),
              std::make_pair(rows[i].at("window_end"), rows[i].at("page")));
  }
  EXPECT_EQ(read_file(dir.file("dead.jsonl")), "");
}

TEST_P(WindowKinds, SessionWindowsEqualTheExactAnswer) {
  TempDir dir;
  std::string data = generate(dir, 30000, 23);
  dir.write("p.yaml", window_pipeline(dir, "{session: {gap: 1500ms}}"));
  RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", std::to_string(GetParam())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = parse_rows(r.out);
  auto exact = exact_sessions(views_by_page(data), 1500);
  size_t multi = 0;
  for (const auto& [k, a] : exact) multi += a.count > 1;
  EXPECT_GT(multi, 100u);  // sessions of several views, not only singletons
  expect_windows(rows, exact);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(std::make_pair(rows[i - 1].at("window_end"), rows[i - 1].at("page")),
              std::make_pair(rows[i].at("window_end"), rows[i].at("page")));
  }
  EXPECT_EQ(read_file(dir.file("dead.jsonl")), "");
}

INSTANTIATE_TEST_SUITE_P(Workers, WindowKinds, ::testing::Values(1, 2, 4));

// Reads the child's (non-blocking) stdout into *out until it holds `needle` or 20 s pass.
bool read_until(Child& child, std::string* out, const std::string& needle) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  char buf[4096];
  while (out->find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ssize_t r = ::read(child.stdout_fd(), buf, sizeof(buf));
    if (r > 0) {
      out->append(buf, static_cast<size_t>(r));
      continue;
    }
    pollfd p{child.stdout_fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
  }
  return true;
}

void send(Child& child, const std::string& text) {
  ASSERT_EQ(::write(child.stdin_fd(), text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
}

// A live stream: a late event within allowed_lateness re-emits its window with "update": true
// and the full corrected result; one beyond it is a `late` dead letter.
TEST(Lateness, LateEventsUpdateTheirWindowOrGoToDeadLetters) {
  TempDir dir;
  dir.write("p.yaml", R"(source: {type: stdin, format: json}
time: {field: ts, max_out_of_order: 0s}
steps:
  - key_by: k
  - window: {tumbling: 10s, allowed_lateness: 30s}
  - aggregate: {n: count(), s: sum(x)}
sink: {type: stdout, format: json}
dead_letter: {path: )" + dir.file("dead.jsonl") + "}\n");
  const int64_t t0 = 1767225600000;
  auto ev = [&](int64_t ms, const char* k, int x) {
    return "{\"ts\":" + std::to_string(t0 + ms) + ",\"k\":\"" + k + "\",\"x\":" +
           std::to_string(x) + "}\n";
  };
  Child child({"run", dir.file("p.yaml"), "--workers", "1"}, /*pipe_stdin=*/true);
  std::string out;
  send(child, ev(1000, "a", 1) + ev(2000, "a", 2) + ev(12000, "b", 5));
  ASSERT_TRUE(read_until(child, &out, "\"update\":false")) << out;
  send(child, ev(3000, "a", 10));  // window [0, 10 s) fired; 10 s + 30 s > watermark 12 s
  ASSERT_TRUE(read_until(child, &out, "\"update\":true")) << out;
  send(child, ev(60000, "b", 1));  // watermark 60 s: [0, 10 s) is closed for good
  ASSERT_TRUE(read_until(child, &out, "\"s\":5,\"update\":false")) << out;
  send(child, ev(4000, "a", 100));  // beyond the lateness
  child.close_stdin();
  RunResult r = child.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  out += r.out;
  auto rows = parse_rows(out);
  ASSERT_EQ(rows.size(), 4u) << out;
  auto expect_row = [&](const Row& row, const char* k, int64_t start, const char* n,
                        const char* sum, const char* update) {
    EXPECT_EQ(row.at("k"), k);
    EXPECT_EQ(row.at("window_start"), format_rfc3339_ms(t0 + start));
    EXPECT_EQ(row.at("n"), n);
    EXPECT_EQ(row.at("s"), sum);
    EXPECT_EQ(row.at("update"), update);
  };
  expect_row(rows[0], "a", 0, "2", "3", "false");
  expect_row(rows[1], "a", 0, "3", "13", "true");  // the full result, not the difference
  expect_row(rows[2], "b", 10000, "1", "5", "false");
  expect_row(rows[3], "b", 60000, "1", "1", "false");
  auto dead = parse_rows(read_file(dir.file("dead.jsonl")));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("reason"), "late");
  EXPECT_NE(dead[0].at("raw").find("\"x\":100"), std::string::npos) << dead[0].at("raw");
}

TEST(Check, WindowKindErrorsNameTheirPlace) {
  TempDir dir;
  auto check = [&](const std::string& window, const std::string& key_by) {
    dir.write("w.yaml", "source: {type: stdin}\ntime: {field: ts}\nsteps:\n" + key_by +
                            "  - window: " + window + "\n  - aggregate: {n: count()}\n");
    return run_spate({"check", dir.file("w.yaml")});
  };
  RunResult r = check("{sliding: {size: 10s, slide: 20s}}", "  - key_by: page\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("w.yaml:5:42: steps[1].window.sliding.slide: the slide (20s) is longer "
                       "than the window size (10s)"),
            std::string::npos) << r.err;
  r = check("{session: {gap: 30s}}", "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("w.yaml:4:23: steps[0].window.session: session windows are per key: add "
                       "a key_by step before the window"),
            std::string::npos) << r.err;
  r = check("{count: {size: 10}, allowed_lateness: 1m}", "  - key_by: page\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("w.yaml:5:51: steps[1].window.allowed_lateness: count windows fire when"),
            std::string::npos) << r.err;
  r = check("{session: {gap: 30s}}", "  - key_by: {field: page, grouping: partial_key}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("session windows need every record of a key on one worker, but "
                       "partial_key grouping and hot keys spread a key over workers"),
            std::string::npos) << r.err;
  r = check("{tumbling: 10s, allowed_lateness: 1m}", "  - key_by: page\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = check("{sliding: {size: 1m, slide: 10s}, allowed_lateness: 30s}", "  - key_by: page\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("window: sliding 1m every 10s (panes of 10s), allowed lateness 30s, keyed"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("window_end, n, update"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace spate::test

namespace spate::test {
namespace {

// A field and a path under it used together (`a` and `a.b`): both are read from JSON input,
// at any depth, whatever `a` holds; a repeated key counts by its last occurrence.
TEST(NestedFields, AFieldAndAPathUnderItAreBothRead) {
  TempDir dir;
  const std::string events =
      "{\"a\":{\"b\":1,\"c\":{\"d\":2}},\"z\":1}\n"
      "{\"a\":5}\n"
      "{\"a\":[{\"b\":1}]}\n"
      "{\"a\":{\"b\":{\"c\":3}}}\n"
      "{\"a\":{\"b\":1},\"a\":{\"c\":{\"d\":4}}}\n";
  dir.write("s.yaml", R"(source: {type: stdin}
steps:
  - select: {x: a, y: a.b, w: a.c.d, v: a.c}
sink: {type: stdout, format: json}
)");
  RunResult r = run_spate({"run", dir.file("s.yaml"), "-w", "1"}, events);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"x\":\"{\\\"b\\\":1,\\\"c\\\":{\\\"d\\\":2}}\",\"y\":1,\"w\":2,"
            "\"v\":\"{\\\"d\\\":2}\"}\n"
            "{\"x\":5,\"y\":null,\"w\":null,\"v\":null}\n"
            "{\"x\":\"[{\\\"b\\\":1}]\",\"y\":null,\"w\":null,\"v\":null}\n"
            "{\"x\":\"{\\\"b\\\":{\\\"c\\\":3}}\",\"y\":\"{\\\"c\\\":3}\",\"w\":null,\"v\":null}\n"
            "{\"x\":\"{\\\"c\\\":{\\\"d\\\":4}}\",\"y\":null,\"w\":4,\"v\":\"{\\\"d\\\":4}\"}\n");

  // filter on exists(a), key_by a.b, count per key in one global window.
  dir.write("k.yaml", R"(source: {type: stdin}
steps:
  - filter: 'exists(a)'
  - key_by: a.b
  - window: {tumbling: 1h}
  - aggregate: {n: count()}
sink: {type: stdout, format: json}
)");
  r = run_spate({"run", dir.file("k.yaml"), "-w", "2"},
                "{\"a\":{\"b\":\"p\"}}\n{\"a\":{\"b\":\"q\"}}\n{\"a\":{\"b\":\"p\"}}\n{\"x\":1}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> n;
  for (const Row& row : parse_rows(r.out)) {
    for (const auto& [k, v] : row) {
      if (k != "n" && k != "window_start" && k != "window_end") n[v] = row.at("n");
    }
  }
  EXPECT_EQ(n, (std::map<std::string, std::string>{{"p", "2"}, {"q", "1"}})) << r.out;
}

}  // namespace
}  // namespace spate::test
