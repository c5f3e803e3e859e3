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

}  // namespace
}  // namespace spate::test
