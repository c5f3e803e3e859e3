// End-to-end: the one-liners (`spate top`, `stats`, `distinct`, `drift`) on generated clicks,
// every answer checked against --exact and against an exact computation done here with
// simdjson's DOM parser (independent of spate's input path), within the sketches' stated bounds.

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "spate/common/time.h"
#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

constexpr uint64_t kEvents = 200'000;
constexpr double kKllRankError = 0.0133;                 // k = 200, 99% per query
const double kHllBound = 4 * 1.04 / std::sqrt(4096.0);  // 4 standard errors at p = 12

struct Event {
  int64_t ts;
  std::string user, page, country;
  double latency;
};

struct Data {
  std::string jsonl;
  std::vector<Event> events;
};

// One generated data set for the whole binary (generation and parsing cost ~0.3 s).
const Data& data() {
  static const Data d = [] {
    Data out;
    RunResult r = run_spate({"gen", "clicks", "--count", std::to_string(kEvents), "--seed", "11"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    out.jsonl = std::move(r.out);
    simdjson::dom::parser parser;
    for (const auto& line : lines(out.jsonl)) {
      simdjson::dom::element e = parser.parse(line);
      out.events.push_back({e["ts"].get_int64().value(),
                            std::string(e["user"].get_string().value()),
                            std::string(e["page"].get_string().value()),
                            std::string(e["country"].get_string().value()),
                            e["latency_ms"].get_double().value()});
    }
    return out;
  }();
  return d;
}

// Parsed JSON lines (each document keeps its own parser alive).
struct Docs {
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers;
  std::vector<simdjson::dom::element> docs;
  size_t size() const { return docs.size(); }
  simdjson::dom::element operator[](size_t i) const { return docs[i]; }
};

Docs parse_all(const std::string& jsonl) {
  Docs d;
  for (const auto& l : lines(jsonl)) {
    d.parsers.push_back(std::make_unique<simdjson::dom::parser>());
    d.docs.push_back(d.parsers.back()->parse(l).value());
  }
  return d;
}

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

struct TopEntry {
  std::string value;
  uint64_t count, error;
};

std::vector<TopEntry> top_entries(simdjson::dom::element e) {
  std::vector<TopEntry> out;
  for (simdjson::dom::element t : e["top"].get_array()) {
    out.push_back({std::string(t["value"].get_string().value()),
                   t["count"].get_uint64().value(), t["error"].get_uint64().value()});
  }
  return out;
}

class OneLiners : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    path_ = dir_->write("clicks.jsonl", data().jsonl);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static std::string path_;
};
TempDir* OneLiners::dir_ = nullptr;
std::string OneLiners::path_;

TEST_F(OneLiners, TopBoundsHoldAndExactMatches) {
  std::map<std::string, uint64_t> truth;
  for (const auto& e : data().events) ++truth[e.page];
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (const auto& [p, c] : truth) ranked.push_back({c, p});
  std::sort(ranked.rbegin(), ranked.rend());

  RunResult r = run_spate({"top", "-f", "page", "-k", "10", "-o", "json", path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = parse_all(r.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(std::string(docs[0]["field"].get_string().value()), "page");
  EXPECT_EQ(docs[0]["total"].get_uint64().value(), kEvents);
  auto top = top_entries(docs[0]);
  ASSERT_EQ(top.size(), 10u);
  std::set<std::string> shown;
  for (const auto& t : top) {
    const uint64_t true_count = truth[t.value];
    EXPECT_LE(t.count - t.error, true_count) << t.value;
    EXPECT_LE(true_count, t.count) << t.value;
    shown.insert(t.value);
  }
  // Zipf pages: the true top 5 are far above total / capacity and must be shown.
  for (size_t i = 0; i < 5; ++i) EXPECT_TRUE(shown.count(ranked[i].second)) << ranked[i].second;

  RunResult x = run_spate({"top", "-f", "page", "-k", "10", "--exact", "-o", "json", path_});
  ASSERT_EQ(x.exit_code, 0) << x.err;
  auto xdocs = parse_all(x.out);
  ASSERT_EQ(xdocs.size(), 1u);
  auto exact = top_entries(xdocs[0]);
  ASSERT_EQ(exact.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(exact[i].count, ranked[i].first);
    EXPECT_EQ(exact[i].count, truth[exact[i].value]);
    EXPECT_EQ(exact[i].error, 0u);
  }
}

TEST_F(OneLiners, DistinctWithinBoundAndExact) {
  std::set<std::string> users;
  for (const auto& e : data().events) users.insert(e.user);
  const double n = static_cast<double>(users.size());

  RunResult r = run_spate({"distinct", "-f", "user", "-o", "json", path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = parse_rows(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["field"], "user");
  EXPECT_NEAR(std::stod(rows[0]["distinct"]), n, kHllBound * n);
  EXPECT_NEAR(std::stod(rows[0]["rse"]), 1.04 / 64, 1e-4);

  RunResult x = run_spate({"distinct", "-f", "user", "--exact", "-o", "json", path_});
  ASSERT_EQ(x.exit_code, 0) << x.err;
  auto xr = parse_rows(x.out);
  ASSERT_EQ(xr.size(), 1u);
  EXPECT_EQ(std::stoull(xr[0]["distinct"]), users.size());
  EXPECT_EQ(std::stod(xr[0]["rse"]), 0.0);
}

TEST_F(OneLiners, DistinctByGroup) {
  std::map<std::string, std::set<std::string>> truth;
  for (const auto& e : data().events) truth[e.country].insert(e.user);
  for (const bool exact : {false, true}) {
    std::vector<std::string> args{"distinct", "-f", "user", "--by", "country", "-o", "json", path_};
    if (exact) args.push_back("--exact");
    RunResult r = run_spate(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = parse_rows(r.out);
    ASSERT_EQ(rows.size(), truth.size());
    for (auto& row : rows) {
      const auto& set = truth.at(row["country"]);
      const double n = static_cast<double>(set.size());
      EXPECT_EQ(row["field"], "user");
      if (exact) {
        EXPECT_EQ(std::stoull(row["distinct"]), set.size()) << row["country"];
      } else {
        EXPECT_NEAR(std::stod(row["distinct"]), n, kHllBound * n) << row["country"];
      }
    }
  }
}

// Checks count/mean/stddev/min/max exactly and each quantile within the KLL rank error.
void check_stats(simdjson::dom::element e, std::vector<double> values,
                 const std::vector<std::string>& qs) {
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  long double sum = 0;
  for (double v : values) sum += v;
  const double mean = static_cast<double>(sum / values.size());
  long double ss = 0;
  for (double v : values) ss += (v - static_cast<long double>(mean)) * (v - static_cast<long double>(mean));
  const double stddev = std::sqrt(static_cast<double>(ss / values.size()));
  EXPECT_EQ(e["count"].get_uint64().value(), values.size());
  EXPECT_NEAR(e["mean"].get_double().value(), mean, 1e-9 * std::abs(mean));
  EXPECT_NEAR(e["stddev"].get_double().value(), stddev, 1e-9 * stddev);
  EXPECT_EQ(e["min"].get_double().value(), values.front());
  EXPECT_EQ(e["max"].get_double().value(), values.back());
  for (const auto& qs_text : qs) {
    const double q = std::stod(qs_text);
    const double x = e["quantiles"][qs_text].get_double().value();
    const double below = static_cast<double>(std::lower_bound(values.begin(), values.end(), x) -
                                             values.begin()) / n;
    const double at_or_below = static_cast<double>(
        std::upper_bound(values.begin(), values.end(), x) - values.begin()) / n;
    EXPECT_LE(below, q + kKllRankError) << "q=" << qs_text << " x=" << x;
    EXPECT_GE(at_or_below, q - kKllRankError) << "q=" << qs_text << " x=" << x;
  }
}

TEST_F(OneLiners, StatsExactMomentsAndQuantilesWithinRankError) {
  std::vector<double> values;
  for (const auto& e : data().events) values.push_back(e.latency);
  RunResult r = run_spate({"stats", "-f", "latency_ms", "-q", "0.5,0.9,0.99", "-o", "json", path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = parse_all(r.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(std::string(docs[0]["field"].get_string().value()), "latency_ms");
  check_stats(docs[0], values, {"0.5", "0.9", "0.99"});
}

TEST_F(OneLiners, StatsPerTumblingWindow) {
  constexpr int64_t kWindow = 10'000;
  std::map<int64_t, std::vector<double>> truth;
  for (const auto& e : data().events) truth[e.ts / kWindow * kWindow].push_back(e.latency);
  RunResult r = run_spate({"stats", "-f", "latency_ms", "--time", "ts", "--window", "10s", "-o",
                           "json", path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("late"), std::string::npos) << r.err;  // jitter <= 1 s < lateness 2 s
  auto docs = parse_all(r.out);
  ASSERT_EQ(docs.size(), truth.size());
  auto it = truth.begin();
  for (auto& d : docs.docs) {  // in window order
    const std::string start(d["window_start"].get_string().value());
    const std::string end(d["window_end"].get_string().value());
    EXPECT_EQ(start, format_rfc3339_ms(it->first));
    EXPECT_EQ(end, format_rfc3339_ms(it->first + kWindow));
    check_stats(d, it->second, {"0.5", "0.9", "0.99"});
    ++it;
  }
}

TEST_F(OneLiners, CsvInputAndStdin) {
  std::string csv = "country,page,latency_ms\n";
  std::map<std::string, uint64_t> truth;
  std::vector<double> lat;
  for (size_t i = 0; i < 20'000; ++i) {
    const auto& e = data().events[i];
    csv += e.country + "," + e.page + "," + fmt_double(e.latency) + "\n";
    ++truth[e.page];
    lat.push_back(e.latency);
  }
  for (const bool via_stdin : {false, true}) {
    std::vector<std::string> args{"top", "-i", "csv", "-f", "page", "-k", "5", "--exact", "-o",
                                  "json"};
    if (!via_stdin) args.push_back(dir_->write("clicks.csv", csv));
    RunResult r = run_spate(args, via_stdin ? csv : "");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto docs = parse_all(r.out);
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0]["total"].get_uint64().value(), 20'000u);
    for (const auto& t : top_entries(docs[0])) EXPECT_EQ(t.count, truth[t.value]);
  }
  RunResult s = run_spate({"stats", "-i", "csv", "-f", "latency_ms", "-o", "json", "-"}, csv);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto docs = parse_all(s.out);
  ASSERT_EQ(docs.size(), 1u);
  check_stats(docs[0], lat, {"0.5", "0.9", "0.99"});
}

TEST_F(OneLiners, OutputShapes) {
  // csv: header once, one row per top entry.
  RunResult c = run_spate({"top", "-f", "country", "-k", "3", "-o", "csv", "--exact", path_});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto cl = lines(c.out);
  ASSERT_EQ(cl.size(), 4u);
  EXPECT_EQ(cl[0], "country,count,error");
  EXPECT_EQ(cl[1].rfind("US,", 0), 0u) << cl[1];
  // text: an aligned table with a header.
  RunResult t = run_spate({"stats", "-f", "latency_ms", "--by", "type", path_});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto tl = lines(t.out);
  ASSERT_EQ(tl.size(), 4u);  // header + click, purchase, view
  EXPECT_EQ(tl[0].rfind("type", 0), 0u) << tl[0];
  EXPECT_NE(tl[0].find("q0.99"), std::string::npos);
  EXPECT_EQ(tl[1].rfind("click ", 0), 0u) << tl[1];
  // Columns line up: every row is as wide as the header or ends on a right-aligned number.
  EXPECT_EQ(tl[1].size(), tl[0].size());
  // csv stats with windows and groups.
  RunResult w = run_spate({"distinct", "-f", "user", "--by", "type", "--time", "ts", "--window",
                           "1m", "-o", "csv", path_});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  auto wl = lines(w.out);
  EXPECT_EQ(wl[0], "window_start,window_end,type,field,distinct,rse");
  EXPECT_EQ(wl[1].rfind("2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,click,user,", 0), 0u)
      << wl[1];
  // text input: the field is `line`.
  RunResult x = run_spate({"top", "-i", "text", "-f", "line", "-o", "json", "--exact"},
                          "a\nb\na\r\nc\na\n");
  ASSERT_EQ(x.exit_code, 0) << x.err;
  EXPECT_EQ(x.out,
            "{\"field\":\"line\",\"total\":5,\"top\":[{\"value\":\"a\",\"count\":3,\"error\":0},"
            "{\"value\":\"b\",\"count\":1,\"error\":0},{\"value\":\"c\",\"count\":1,\"error\":0}]}\n");
}

TEST_F(OneLiners, MissingFieldsAndMalformedLinesAreCounted) {
  const std::string in =
      "{\"a\":{\"b\":\"x\"},\"n\":1}\n"
      "not json\n"
      "{\"a\":{\"c\":1}}\n"
      "{\"a\":{\"b\":\"x\"},\"n\":\"oops\"}\n"
      "{\"a\":{\"b\":\"y\"},\"n\":3}\n"
      "{\"a\":{\"b\":null}}\n";
  RunResult r = run_spate({"top", "-f", "a.b", "-o", "json", "--exact"}, in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"field\":\"a.b\",\"total\":3,\"top\":[{\"value\":\"x\",\"count\":2,\"error\":0},"
            "{\"value\":\"y\",\"count\":1,\"error\":0}]}\n");
  EXPECT_NE(r.err.find("spate top: 1 malformed lines skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("spate top: 2 events without field 'a.b'"), std::string::npos) << r.err;
  RunResult s = run_spate({"stats", "-f", "n", "-o", "json"}, in);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto rows = parse_rows(s.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["count"], "2");
  EXPECT_EQ(rows[0]["mean"], "2");
  EXPECT_NE(s.err.find("1 events with a non-numeric 'n'"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("2 events without field 'n'"), std::string::npos) << s.err;
  RunResult bad = run_spate({"top", "-f", "x", "nonexistent-file"});
  EXPECT_EQ(bad.exit_code, 1);
  RunResult usage = run_spate({"stats", "-f", "x", "--window", "1m"});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(OneLiners, DriftFindsTheShift) {
  // Latency that jumps from ~100 to ~200 at event 2000.
  std::string in;
  for (int i = 0; i < 4000; ++i) {
    in += "{\"v\":" + std::to_string((i < 2000 ? 100 : 200) + (i * 7919) % 11) + "}\n";
  }
  for (const std::string method : {"adwin", "page_hinkley", "cusum"}) {
    RunResult r = run_spate({"drift", "-f", "v", "--method", method, "-o", "json"}, in);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = parse_rows(r.out);
    ASSERT_FALSE(rows.empty()) << method;
    bool found = false;
    for (auto& row : rows) {
      EXPECT_EQ(row["method"], method);
      const int64_t idx = std::stoll(row["index"]);
      if (idx > 2000 && idx < 2300) found = true;
    }
    EXPECT_TRUE(found) << method << "\n" << r.out;
  }
}

// Reads from fd until `pred(buffer)` holds or the deadline passes.
bool read_until(int fd, std::string& buf, const std::function<bool(const std::string&)>& pred,
                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred(buf)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char tmp[4096];
    const ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) return pred(buf);
    buf.append(tmp, static_cast<size_t>(n));
  }
  return true;
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    ASSERT_GT(n, 0);
    off += static_cast<size_t>(n);
  }
}

TEST_F(OneLiners, EveryRefreshesWhileTheInputIsIdle) {
  Child child({"top", "-f", "page", "-o", "json", "--exact", "--every", "100ms"},
              /*pipe_stdin=*/true);
  const std::string first = "{\"page\":\"/a\"}\n{\"page\":\"/a\"}\n{\"page\":\"/b\"}\n";
  write_all(child.stdin_fd(), first);
  std::string out;
  // Stdin stays open: the refresh must come from the timer, not from the end of the input.
  ASSERT_TRUE(read_until(child.stdout_fd(), out,
                         [](const std::string& b) { return b.find("\"total\":3") != std::string::npos; },
                         std::chrono::seconds(10)))
      << out;
  write_all(child.stdin_fd(), "{\"page\":\"/b\"}\n{\"page\":\"/b\"}\n");
  ASSERT_TRUE(read_until(child.stdout_fd(), out,
                         [](const std::string& b) { return b.find("\"total\":5") != std::string::npos; },
                         std::chrono::seconds(10)))
      << out;
  EXPECT_NE(out.find("{\"value\":\"/b\",\"count\":3,\"error\":0}"), std::string::npos) << out;
  child.close_stdin();
  RunResult r = child.wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}


// ---- stats --exact, drift per window and the interest shift (issue 3) ----

// 50 000 generated clicks (interest shift at event 25 000, 25 s after the start), parsed here
// with simdjson's DOM parser, independently of spate's input path.
struct SmallClicks {
  TempDir dir;
  std::string path;
  std::vector<Event> events;
};

class OneLinersIssue3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    clicks_ = new SmallClicks();
    RunResult r = run_spate({"gen", "clicks", "--count", "50000", "--seed", "23"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    clicks_->path = clicks_->dir.write("clicks50k.jsonl", r.out);
    simdjson::dom::parser parser;
    for (const auto& line : lines(r.out)) {
      simdjson::dom::element e = parser.parse(line);
      clicks_->events.push_back({e["ts"].get_int64().value(),
                                 std::string(e["user"].get_string().value()),
                                 std::string(e["page"].get_string().value()),
                                 std::string(e["country"].get_string().value()),
                                 e["latency_ms"].get_double().value()});
    }
  }
  static void TearDownTestSuite() {
    delete clicks_;
    clicks_ = nullptr;
  }
  static const SmallClicks& small_clicks() { return *clicks_; }
  static SmallClicks* clicks_;
};
SmallClicks* OneLinersIssue3::clicks_ = nullptr;

constexpr int64_t kClicksStart = 1767225600000;  // the generator's first base time, 2026-01-01

// The smallest value whose rank (fraction of values <= it) is >= q.
double exact_quantile(const std::vector<double>& sorted, double q) {
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

TEST_F(OneLinersIssue3, StatsExactEqualsAnIndependentComputation) {
  const SmallClicks& d = small_clicks();
  ASSERT_EQ(d.events.size(), 50'000u);
  std::vector<double> v;
  for (const auto& e : d.events) v.push_back(e.latency);
  std::sort(v.begin(), v.end());
  long double sum = 0;
  for (double x : v) sum += x;
  const long double mean = sum / v.size();
  long double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  const double stddev = static_cast<double>(std::sqrt(ss / v.size()));

  RunResult r = run_spate({"stats", "-f", "latency_ms", "--exact", "-q", "0,0.5,0.9,0.99,1", "-o",
                           "json", d.path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = parse_all(r.out);
  ASSERT_EQ(docs.size(), 1u);
  simdjson::dom::element e = docs[0];
  EXPECT_EQ(e["count"].get_uint64().value(), v.size());
  EXPECT_NEAR(e["mean"].get_double().value(), static_cast<double>(mean), 1e-12 * static_cast<double>(mean));
  EXPECT_NEAR(e["stddev"].get_double().value(), stddev, 1e-12 * stddev);
  EXPECT_EQ(e["min"].get_double().value(), v.front());
  EXPECT_EQ(e["max"].get_double().value(), v.back());
  for (const char* q : {"0", "0.5", "0.9", "0.99", "1"}) {
    EXPECT_EQ(e["quantiles"][q].get_double().value(), exact_quantile(v, std::stod(q))) << q;
  }
  // Same output shape as the sketch: the CSV header row is identical.
  RunResult exact_csv = run_spate({"stats", "-f", "latency_ms", "--exact", "-o", "csv", d.path});
  RunResult sketch_csv = run_spate({"stats", "-f", "latency_ms", "-o", "csv", d.path});
  ASSERT_EQ(exact_csv.exit_code, 0) << exact_csv.err;
  ASSERT_EQ(sketch_csv.exit_code, 0) << sketch_csv.err;
  EXPECT_EQ(lines(exact_csv.out).at(0), lines(sketch_csv.out).at(0));
  EXPECT_EQ(lines(exact_csv.out).size(), 2u);
}

TEST_F(OneLinersIssue3, StatsSketchQuantilesWithinKllBoundOfExact) {
  const SmallClicks& d = small_clicks();
  std::vector<double> v;
  for (const auto& e : d.events) v.push_back(e.latency);
  std::sort(v.begin(), v.end());
  const std::vector<std::string> qs = {"0.1", "0.5", "0.9", "0.99"};
  RunResult exact = run_spate({"stats", "-f", "latency_ms", "--exact", "-q", "0.1,0.5,0.9,0.99",
                               "--time", "ts", "--window", "20s", "-o", "json", d.path});
  RunResult sketch = run_spate({"stats", "-f", "latency_ms", "-q", "0.1,0.5,0.9,0.99", "--time",
                                "ts", "--window", "20s", "-o", "json", d.path});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  ASSERT_EQ(sketch.exit_code, 0) << sketch.err;
  auto de = parse_all(exact.out), ds = parse_all(sketch.out);
  ASSERT_EQ(de.size(), 3u);  // 50 s of events in 20 s windows
  ASSERT_EQ(ds.size(), de.size());
  // Per window: each sketch quantile's exact rank (within that window) is within KLL's 99%
  // single-query bound (k = 200) of q; the exact answers are the window's order statistics.
  std::map<int64_t, std::vector<double>> windows;
  for (const auto& e : d.events) windows[e.ts / 20'000 * 20'000].push_back(e.latency);
  size_t i = 0;
  for (auto& [start, w] : windows) {
    std::sort(w.begin(), w.end());
    EXPECT_EQ(std::string(de[i]["window_start"].get_string().value()), format_rfc3339_ms(start));
    EXPECT_EQ(de[i]["count"].get_uint64().value(), w.size());
    EXPECT_EQ(ds[i]["count"].get_uint64().value(), w.size());
    for (const auto& q : qs) {
      EXPECT_EQ(de[i]["quantiles"][q].get_double().value(), exact_quantile(w, std::stod(q)));
      const double x = ds[i]["quantiles"][q].get_double().value();
      const double m = static_cast<double>(w.size());
      const double below = static_cast<double>(std::lower_bound(w.begin(), w.end(), x) - w.begin()) / m;
      const double at_or_below = static_cast<double>(std::upper_bound(w.begin(), w.end(), x) - w.begin()) / m;
      EXPECT_LE(below, std::stod(q) + kKllRankError) << q;
      EXPECT_GE(at_or_below, std::stod(q) - kKllRankError) << q;
    }
    ++i;
  }
}

// Exact page counts before and after the generator's shift (event index 25 000).
struct PageSplit {
  std::map<std::string, uint64_t> before, after;
  std::set<std::string> top_before, top_after;  // the 100 most frequent of each side
};

PageSplit page_split(const std::vector<Event>& events) {
  PageSplit s;
  for (size_t i = 0; i < events.size(); ++i) (i < events.size() / 2 ? s.before : s.after)[events[i].page]++;
  auto top = [](const std::map<std::string, uint64_t>& m) {
    std::vector<std::pair<uint64_t, std::string>> v;
    for (const auto& [p, c] : m) v.emplace_back(c, p);
    std::sort(v.rbegin(), v.rend());
    std::set<std::string> out;
    for (size_t i = 0; i < std::min<size_t>(100, v.size()); ++i) out.insert(v[i].second);
    return out;
  };
  s.top_before = top(s.before);
  s.top_after = top(s.after);
  return s;
}

TEST_F(OneLinersIssue3, DriftShiftFindsTheClickInterestShift) {
  // `spate drift` on a raw numeric field cannot see this shift (the generator changes only which
  // pages are popular); --method shift compares the page distributions of consecutive windows.
  const SmallClicks& d = small_clicks();
  const PageSplit split = page_split(d.events);
  const int64_t t0 = kClicksStart;  // a multiple of 10 s
  RunResult r = run_spate({"drift", "-f", "page", "--method", "shift", "-k", "20", "--time", "ts",
                           "--window", "10s", "-o", "json", d.path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = parse_all(r.out);
  // Windows [0,10), [10,20), [20,30), [30,40), [40,50) s; the shift at 25 s changes [20,30)
  // (half old, half new) and [30,40). The stationary comparisons (10 vs 0, 40 vs 30) each alarm
  // with probability <= 0.01 (distribution_shift.h): none expected.
  std::set<std::string> starts;
  for (size_t i = 0; i < docs.size(); ++i) {
    starts.insert(std::string(docs[i]["window_start"].get_string().value()));
    EXPECT_EQ(std::string(docs[i]["method"].get_string().value()), "shift");
    EXPECT_GT(docs[i]["statistic"].get_double().value(), docs[i]["threshold"].get_double().value());
    size_t rising = 0;
    for (simdjson::dom::element item : docs[i]["rising"].get_array()) {
      const std::string page(item["value"].get_string().value());
      EXPECT_TRUE(split.top_after.contains(page)) << page;
      EXPECT_FALSE(split.top_before.contains(page)) << page;
      EXPECT_GT(item["after"].get_double().value(), item["before"].get_double().value());
      ++rising;
    }
    EXPECT_GT(rising, 0u);
    for (simdjson::dom::element item : docs[i]["falling"].get_array()) {
      const std::string page(item["value"].get_string().value());
      EXPECT_TRUE(split.top_before.contains(page)) << page;
    }
  }
  EXPECT_TRUE(starts.contains(format_rfc3339_ms(t0 + 20'000)) || starts.contains(format_rfc3339_ms(t0 + 30'000)))
      << r.out;
  for (int64_t w : {0, 10'000, 40'000}) EXPECT_FALSE(starts.contains(format_rfc3339_ms(t0 + w))) << r.out;
  // On a raw numeric field the same data shows nothing at the shift: latency is independent of
  // the page. (No assertion on its false alarms: that is the detector's own unit test.)
}

TEST_F(OneLinersIssue3, InterestShiftAggregateFindsTheShiftInAPipeline) {
  const SmallClicks& d = small_clicks();
  const PageSplit split = page_split(d.events);
  TempDir dir;
  dir.write("p.yaml", "name: shift\nsource: {type: file, path: " + d.path +
                          ", format: json}\ntime: {field: ts, max_out_of_order: 2s}\n"
                          "steps:\n  - window: {tumbling: 1m}\n  - aggregate:\n"
                          "      n: count()\n      shift: interest_shift(page, 20)\n"
                          "sink: {type: stdout, format: json}\n");
  for (const char* workers : {"1", "3"}) {
    RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", workers});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto docs = parse_all(r.out);
    ASSERT_EQ(docs.size(), 1u) << r.out;  // one 1-minute window holds all 50 s
    EXPECT_EQ(docs[0]["n"].get_uint64().value(), 50'000u);
    auto comparisons = docs[0]["shift"].get_array();
    ASSERT_EQ(comparisons.size(), 1u) << r.out;  // the two halves of the window
    simdjson::dom::element c = comparisons.at(0).value();
    EXPECT_TRUE(c["shift"].get_bool().value()) << r.out;
    EXPECT_GT(c["distance"].get_double().value(), c["threshold"].get_double().value());
    EXPECT_EQ(c["before"]["count"].get_uint64().value() + c["after"]["count"].get_uint64().value(),
              50'000u);
    size_t rising = 0;
    for (simdjson::dom::element item : c["rising"].get_array()) {
      const std::string page(item["value"].get_string().value());
      EXPECT_TRUE(split.top_after.contains(page)) << workers << " " << page;
      EXPECT_FALSE(split.top_before.contains(page)) << workers << " " << page;
      ++rising;
    }
    EXPECT_GE(rising, 10u) << r.out;
  }
}

TEST_F(OneLinersIssue3, DriftPerWindowRestartsTheDetector) {
  // Two 10 s windows of 1000 values each (one per 10 ms); in each, the value steps from ~100 to
  // ~200 halfway. A detector per window: each window's detection index counts from its start.
  std::string in;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 1000; ++i) {
      const int64_t ts = kClicksStart + w * 10'000 + i * 10;
      in += "{\"ts\":" + std::to_string(ts) + ",\"v\":" +
            std::to_string((i < 500 ? 100 : 200) + (i * 7919) % 11) + "}\n";
    }
  }
  for (const std::string method : {"adwin", "page_hinkley", "cusum"}) {
    RunResult r = run_spate({"drift", "-f", "v", "--method", method, "--time", "ts", "--window",
                             "10s", "-o", "json"}, in);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = parse_rows(r.out);
    std::set<std::string> windows_with_step;
    for (auto& row : rows) {
      const int64_t idx = std::stoll(row["index"]);
      if (idx > 500 && idx <= 800) {
        windows_with_step.insert(row["window_start"]);
        // The detecting event's time is inside its window.
        EXPECT_GE(row["time"], row["window_start"]);
        EXPECT_LT(row["time"], row["window_end"]);
      }
    }
    EXPECT_EQ(windows_with_step,
              (std::set<std::string>{format_rfc3339_ms(kClicksStart), format_rfc3339_ms(kClicksStart + 10'000)}))
        << method << "\n" << r.out;
  }
  RunResult usage = run_spate({"drift", "-f", "page", "--method", "shift"});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(OneLinersIssue3, DriftEveryPrintsStatusWhileTheInputIsIdle) {
  Child child({"drift", "-f", "v", "--method", "page_hinkley", "-o", "json", "--every", "100ms"},
              /*pipe_stdin=*/true);
  write_all(child.stdin_fd(), "{\"v\":1}\n{\"v\":2}\n{\"v\":6}\n");
  std::string out;
  // Stdin stays open: the status row comes from the timer.
  ASSERT_TRUE(read_until(child.stdout_fd(), out,
                         [](const std::string& b) {
                           return b.find("\"values\":3,\"detections\":0,\"mean\":3") != std::string::npos;
                         },
                         std::chrono::seconds(10)))
      << out;
  EXPECT_NE(out.find("\"kind\":\"status\""), std::string::npos) << out;
  child.close_stdin();
  RunResult r = child.wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// `spate trending` on 200 000 clicks (1000 events/s of event time, interest shift at event
// 100 000): pages popular only in the second half must outrank pages popular throughout. The
// sets come from exact per-half counts computed here; the expected scores from the forward-decay
// closed forms at T = 200 s, short 10 s, long 10 m: a page at rate r since the shift has short
// rate ~r and long rate ~r (1 - 2^(-100/600)) = 0.109 r, score ~9.2; a page at a steady rate r
// has long rate ~r (1 - 2^(-200/600)) = 0.206 r, score ~4.8, and pages that are steady here
// are rare (the shift swaps the top 100) so their long rates sit under the floor (long total
// rate / 1024 ~ 0.2/s), which lowers their scores further.
TEST(OneLinersTrending, SecondHalfPagesOutrankPagesPopularThroughout) {
  RunResult g = run_spate({"gen", "clicks", "--count", "200000", "--seed", "3"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  std::map<std::string, std::pair<uint64_t, uint64_t>> halves;  // page -> (first, second)
  {
    simdjson::dom::parser parser;
    size_t i = 0;
    for (const auto& line : lines(g.out)) {
      simdjson::dom::element e = parser.parse(line);
      auto& h = halves[std::string(e["page"].get_string().value())];
      (i++ < 100000 ? h.first : h.second) += 1;
    }
    ASSERT_EQ(i, 200000u);
  }
  // Risers: the 10 pages with the most second-half views among those with at least 10x more
  // views in the second half. Steady: the 10 pages with the most views among those whose two
  // halves are within a factor of 2.
  std::vector<std::pair<uint64_t, std::string>> by_second, by_total;
  for (const auto& [page, h] : halves) {
    if (h.second >= 10 * h.first) by_second.push_back({h.second, page});
    if (h.first > 0 && h.second > 0 && h.second <= 2 * h.first && h.first <= 2 * h.second) {
      by_total.push_back({h.first + h.second, page});
    }
  }
  std::sort(by_second.rbegin(), by_second.rend());
  std::sort(by_total.rbegin(), by_total.rend());
  ASSERT_GE(by_second.size(), 10u);
  ASSERT_GE(by_total.size(), 10u);
  by_second.resize(10);
  by_total.resize(10);

  RunResult r = run_spate({"trending", "-f", "page", "--time", "ts", "--short", "10s", "--long",
                           "10m", "-k", "100", "-o", "json"},
                          g.out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto docs = parse_all(r.out);
  ASSERT_EQ(docs.docs.size(), 1u) << r.out;
  simdjson::dom::element doc = docs.docs[0];
  EXPECT_EQ(std::string(doc["field"].get_string().value()), "page");
  EXPECT_EQ(doc["total"].get_uint64().value(), 200000u);
  std::map<std::string, size_t> rank;
  std::vector<double> scores;
  for (simdjson::dom::element e : doc["trending"].get_array()) {
    const std::string page(e["value"].get_string().value());
    const double score = e["score"].get_double().value();
    const double s = e["short_rate"].get_double().value(), l = e["long_rate"].get_double().value();
    EXPECT_GT(s, 0);
    EXPECT_GT(l, 0);
    // score = short / max(long, floor) <= short / long, and <= long / short half-life (60).
    EXPECT_LE(score, s / l * (1 + 1e-12)) << page;
    EXPECT_LE(score, 60.0) << page;
    rank[page] = scores.size();
    scores.push_back(score);
  }
  ASSERT_EQ(scores.size(), 100u);
  EXPECT_TRUE(std::is_sorted(scores.rbegin(), scores.rend()));
  size_t worst_riser = 0;
  for (const auto& [views, page] : by_second) {
    ASSERT_TRUE(rank.count(page)) << "riser missing: " << page << " (" << views << " views)";
    worst_riser = std::max(worst_riser, rank[page]);
    EXPECT_GT(scores[rank[page]], 7.0) << page;  // ~9.2 expected
  }
  for (const auto& [views, page] : by_total) {
    if (rank.count(page)) {
      EXPECT_GT(rank[page], worst_riser) << "steady page " << page << " ranks above a riser";
    }
  }
  // The head of the ranking is made of risers too.
  for (size_t i = 0; i < 10; ++i) {
    simdjson::dom::element e = doc["trending"].at(i);
    const auto& h = halves[std::string(e["value"].get_string().value())];
    EXPECT_GE(h.second, 5 * h.first) << e["value"].get_string().value();
  }
}

}  // namespace
}  // namespace spate::test
