// The one-liners: `spate top`, `spate stats`, `spate distinct` and `spate drift`, Unix filters
// that answer one question about a field of the events in files or stdin (JSON lines, CSV with
// a header row, or text lines).
//
//   spate top -f page -k 10            most frequent values (Space-Saving; --exact: hash map)
//   spate stats -f latency_ms          count, mean, stddev, min, max, quantiles (Moments + KLL;
//                                      --exact: every value kept, quantiles by sorting)
//   spate distinct -f user --by country  distinct count (HyperLogLog p=12; --exact: hash set)
//   spate drift -f latency_ms          one line per detected change (ADWIN, Page-Hinkley, CUSUM;
//                                      a detector per --window and --by group, fed in arrival
//                                      order; --method shift: top-k distribution of a categorical
//                                      field compared between consecutive windows)
//   spate trending -f page             rising values: short / long half-life decayed rates
//                                      (decay by --time FIELD, else by arrival wall-clock time)
//
// Common: --by FIELD (one answer per group), --time FIELD --window DUR (one answer per tumbling
// event-time window, closed in order once the largest event time seen passes window end +
// --lateness; later events for a closed window are dropped and counted), --every DUR (print the
// current answer every DUR of wall time while reading, also when the input is idle; `drift`
// prints its detections as they happen and, with --every, a status row per open detector). Events
// without the field, with an unusable value or malformed lines are skipped and counted; the
// counts go to stderr at exit ("spate top: 3 events without field 'x'").
//
// Output (-o): text (aligned table, the default), json (one object per answer), csv.

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "spate/analytics/adwin.h"
#include "spate/analytics/cusum.h"
#include "spate/analytics/distribution_shift.h"
#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/kll.h"
#include "spate/analytics/moments.h"
#include "spate/analytics/page_hinkley.h"
#include "spate/analytics/space_saving.h"
#include "spate/analytics/trending.h"
#include "spate/common/time.h"
#include "spate/io/csv.h"
#include "tools/spate/command.h"
#include "tools/spate/oneliner_input.h"

namespace spate::cli {
namespace {

enum class OutputFormat { kText, kJson, kCsv };

// Slots of the FieldExtractor.
constexpr size_t kValueSlot = 0;
constexpr size_t kGroupSlot = 1;
constexpr size_t kTimeSlot = 2;

struct CommonFlags {
  std::vector<std::string> inputs;
  std::string input_format = "json";
  std::string output_format = "text";
  std::string field;
  std::string by;
  std::string time_field;
  std::string window;
  std::string lateness = "2s";
  std::string every;
  bool exact = false;
};

void add_common_flags(CLI::App* cmd, CommonFlags& f, bool with_exact, bool with_window) {
  cmd->add_option("inputs", f.inputs, "Input files ('-' or none: stdin)");
  cmd->add_option("-f,--field", f.field, "Field to analyse (nested: a.b)")->required();
  cmd->add_option("--by", f.by, "Group by this field: one answer per value");
  cmd->add_option("-i,--input-format", f.input_format, "json, csv (header row) or text (field 'line')")
      ->check(CLI::IsMember({"json", "csv", "text"}));
  cmd->add_option("-o,--output-format", f.output_format, "text, json or csv")
      ->check(CLI::IsMember({"text", "json", "csv"}));
  if (with_window) {
    cmd->add_option("--time", f.time_field, "Event-time field (epoch number or RFC 3339)");
    cmd->add_option("--window", f.window, "Tumbling event-time window (e.g. 1m); needs --time");
    cmd->add_option("--lateness", f.lateness, "Allowed out-of-orderness before a window closes")
        ->capture_default_str();
    cmd->add_option("--every", f.every, "Print the current answer every DUR of wall time");
  }
  if (with_exact) cmd->add_flag("--exact", f.exact, "Exact computation with a hash map (memory grows)");
}

// Debian's abseil has its own string_view type: heterogeneous lookups go through it.
absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ---- formatting helpers ----

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default: fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
      }
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

std::string num_text(double v, bool human) {
  if (std::isnan(v)) return human ? "-" : "";
  return human ? fmt::format("{:.6g}", v) : fmt::format("{}", v);
}

Result<int64_t> parse_duration_flag(const std::string& name, const std::string& text) {
  auto r = parse_duration_ms(text);
  if (!r.is_ok() || *r <= 0) {
    throw std::invalid_argument(fmt::format("{}: bad duration '{}'", name, text));
  }
  return r;
}

// ---- per-group states ----

struct TopConfig {
  size_t k = 10;
  uint32_t capacity = 0;
  bool exact = false;
};

class TopState {
 public:
  using Config = TopConfig;
  static constexpr bool kNumeric = false;
  static constexpr bool kFieldColumn = false;  // the value column is named after the field

  explicit TopState(const TopConfig& c) : config_(c) {
    if (!c.exact) sketch_.emplace(c.capacity);
  }
  void add(std::string_view v, double /*unused*/) {
    if (sketch_) {
      sketch_->add(v);
    } else {
      ++total_;
      auto it = exact_.find(av(v));
      if (it == exact_.end()) {
        exact_.emplace(std::string(v), 1);
      } else {
        ++it->second;
      }
    }
  }
  struct Row {
    std::string value;
    uint64_t count, error;
  };
  std::vector<Row> top() const {
    std::vector<Row> rows;
    if (sketch_) {
      for (auto& e : sketch_->top(config_.k)) rows.push_back({e.item, e.count, e.error});
      return rows;
    }
    for (const auto& [v, c] : exact_) rows.push_back({v, c, 0});
    auto by_rank = [](const Row& a, const Row& b) {
      return a.count != b.count ? a.count > b.count : a.value < b.value;
    };
    const size_t k = std::min(config_.k, rows.size());
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(k), rows.end(),
                      by_rank);
    rows.resize(k);
    return rows;
  }
  uint64_t total() const { return sketch_ ? sketch_->total() : total_; }

  static std::vector<std::string> header(const std::string& field) {
    return {field, "count", "error"};
  }
  void json(std::string& out) const {
    fmt::format_to(std::back_inserter(out), ",\"total\":{},\"top\":[", total());
    bool first = true;
    for (const auto& r : top()) {
      if (!first) out.push_back(',');
      first = false;
      out += "{\"value\":";
      append_json_string(out, r.value);
      fmt::format_to(std::back_inserter(out), ",\"count\":{},\"error\":{}}}", r.count, r.error);
    }
    out.push_back(']');
  }
  void rows(std::vector<std::vector<std::string>>& out, bool /*human*/) const {
    for (const auto& r : top()) {
      out.push_back({r.value, std::to_string(r.count), std::to_string(r.error)});
    }
  }

 private:
  TopConfig config_;
  std::optional<SpaceSaving> sketch_;
  absl::flat_hash_map<std::string, uint64_t> exact_;
  uint64_t total_ = 0;
};

struct StatsConfig {
  std::vector<double> quantiles;
  bool exact = false;
};

// Moments + KLL, or with --exact every value kept: sums in long double, quantiles by sorting.
class StatsState {
 public:
  using Config = StatsConfig;
  static constexpr bool kNumeric = true;
  static constexpr bool kFieldColumn = true;
  static constexpr uint32_t kKllK = 200;

  explicit StatsState(const StatsConfig& c) : config_(c), kll_(kKllK, 1) {}
  void add(std::string_view /*unused*/, double x) {
    if (config_.exact) {
      if (std::isfinite(x)) values_.push_back(x);  // as Moments: non-finite values are skipped
      return;
    }
    moments_.add(x);
    kll_.add(x);
  }
  static std::vector<std::string> header_for(const std::string& field,
                                             const std::vector<double>& qs) {
    std::vector<std::string> h{"field", "count", "mean", "stddev", "min", "max"};
    (void)field;
    for (double q : qs) h.push_back(fmt::format("q{}", q));
    return h;
  }
  void json(std::string& out) const {
    const Summary s = summary();
    fmt::format_to(std::back_inserter(out), ",\"count\":{},\"mean\":", s.count);
    append_json_number(out, s.mean);
    out += ",\"stddev\":";
    append_json_number(out, s.stddev);
    out += ",\"min\":";
    append_json_number(out, s.min);
    out += ",\"max\":";
    append_json_number(out, s.max);
    out += ",\"quantiles\":{";
    for (size_t i = 0; i < s.quantiles.size(); ++i) {
      if (i > 0) out.push_back(',');
      fmt::format_to(std::back_inserter(out), "\"{}\":", config_.quantiles[i]);
      append_json_number(out, s.quantiles[i]);
    }
    out.push_back('}');
  }
  void rows(std::vector<std::vector<std::string>>& out, bool human) const {
    const Summary s = summary();
    std::vector<std::string> r{std::to_string(s.count), num_text(s.mean, human),
                               num_text(s.stddev, human), num_text(s.min, human),
                               num_text(s.max, human)};
    for (double q : s.quantiles) r.push_back(num_text(q, human));
    out.push_back(std::move(r));
  }

 private:
  struct Summary {
    uint64_t count = 0;
    double mean, stddev, min, max;  // NaN when count == 0
    std::vector<double> quantiles;
  };

  Summary summary() const {
    Summary s;
    if (!config_.exact) {
      s = {moments_.count(), moments_.mean(), moments_.stddev(), moments_.min(), moments_.max(),
           kll_.quantiles(config_.quantiles)};
      return s;
    }
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    s.count = values_.size();
    s.mean = s.stddev = s.min = s.max = kNaN;
    s.quantiles.assign(config_.quantiles.size(), kNaN);
    if (values_.empty()) return s;
    std::sort(values_.begin(), values_.end());  // nearly sorted again on an --every refresh
    const auto n = static_cast<long double>(values_.size());
    long double sum = 0;
    for (double v : values_) sum += v;
    const long double mean = sum / n;
    long double ss = 0;
    for (double v : values_) ss += (v - mean) * (v - mean);
    s.mean = static_cast<double>(mean);
    s.stddev = static_cast<double>(std::sqrt(ss / n));  // population, as Moments
    s.min = values_.front();
    s.max = values_.back();
    // The smallest value whose rank (fraction of values <= it) is >= q: KLL's definition.
    for (size_t i = 0; i < config_.quantiles.size(); ++i) {
      const double q = std::clamp(config_.quantiles[i], 0.0, 1.0);
      const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values_.size())));
      s.quantiles[i] = values_[std::min(values_.size() - 1, rank == 0 ? 0 : rank - 1)];
    }
    return s;
  }

  StatsConfig config_;
  Moments moments_;
  KllSketch kll_;
  mutable std::vector<double> values_;  // --exact; sorted lazily by summary()
};

struct DistinctConfig {
  bool exact = false;
};

class DistinctState {
 public:
  using Config = DistinctConfig;
  static constexpr bool kNumeric = false;
  static constexpr bool kFieldColumn = true;
  static constexpr int kPrecision = 12;

  explicit DistinctState(const DistinctConfig& c) {
    if (!c.exact) hll_.emplace(kPrecision, 0);
  }
  void add(std::string_view v, double /*unused*/) {
    if (hll_) {
      hll_->add(v);
    } else if (!exact_.contains(av(v))) {
      exact_.emplace(v);
    }
  }
  uint64_t distinct() const {
    return hll_ ? static_cast<uint64_t>(std::llround(hll_->estimate())) : exact_.size();
  }
  double rse() const { return hll_ ? hll_->standard_error() : 0.0; }
  static std::vector<std::string> header(const std::string& /*field*/) {
    return {"field", "distinct", "rse"};
  }
  void json(std::string& out) const {
    fmt::format_to(std::back_inserter(out), ",\"distinct\":{},\"rse\":", distinct());
    append_json_number(out, rse());
  }
  void rows(std::vector<std::vector<std::string>>& out, bool human) const {
    out.push_back({std::to_string(distinct()), num_text(rse(), human)});
  }

 private:
  std::optional<HyperLogLog> hll_;
  absl::flat_hash_set<std::string> exact_;
};

struct TrendingConfig {
  size_t k = 10;
  uint32_t capacity = 1024;
  double short_ms = 60000;
  double long_ms = 3600000;
  bool processing_time = true;  // no --time: events are stamped with the wall clock
};

// Forward-decayed rates at two half-lives (spate/analytics/trending.h). Rates are evaluated at
// the latest event time seen (--time), or at the wall clock when printed (processing time, so
// with --every an item that stops arriving decays while the input is idle).
class TrendingState {
 public:
  using Config = TrendingConfig;
  static constexpr bool kNumeric = false;
  static constexpr bool kFieldColumn = false;
  static constexpr bool kTimed = true;

  explicit TrendingState(const TrendingConfig& c)
      : config_(c), sketch_(c.capacity, c.short_ms, c.long_ms) {}
  void add(std::string_view v, double /*unused*/, int64_t t_ms) { sketch_.add(v, t_ms); }
  std::vector<Trending::Entry> top() const {
    const int64_t now = config_.processing_time ? std::max(wall_clock_ms(), sketch_.max_time())
                                                : sketch_.max_time();
    return sketch_.top_rising(config_.k, now);
  }
  static std::vector<std::string> header(const std::string& field) {
    return {field, "score", "short_rate", "long_rate"};
  }
  void json(std::string& out) const {
    fmt::format_to(std::back_inserter(out), ",\"total\":{},\"trending\":[", sketch_.count());
    bool first = true;
    for (const auto& e : top()) {
      if (!first) out.push_back(',');
      first = false;
      out += "{\"value\":";
      append_json_string(out, e.item);
      out += ",\"score\":";
      append_json_number(out, e.score);
      out += ",\"short_rate\":";
      append_json_number(out, e.short_rate);
      out += ",\"long_rate\":";
      append_json_number(out, e.long_rate);
      out.push_back('}');
    }
    out.push_back(']');
  }
  void rows(std::vector<std::vector<std::string>>& out, bool human) const {
    for (const auto& e : top()) {
      out.push_back({e.item, num_text(e.score, human), num_text(e.short_rate, human),
                     num_text(e.long_rate, human)});
    }
  }

 private:
  TrendingConfig config_;
  Trending sketch_;
};

// ---- reading and reporting shared by every command ----

// Counts of what was skipped, reported on stderr at exit.
struct SkipCounts {
  uint64_t malformed = 0;
  uint64_t missing[FieldExtractor::kMaxSlots] = {};
  uint64_t non_numeric = 0;
  uint64_t bad_time = 0;
  uint64_t late = 0;
};

void report_skips(const std::string& command, const std::vector<std::string>& names,
                  const SkipCounts& s) {
  if (s.malformed > 0) {
    fmt::print(stderr, "spate {}: {} malformed lines skipped\n", command, s.malformed);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (s.missing[i] > 0) {
      fmt::print(stderr, "spate {}: {} events without field '{}'\n", command, s.missing[i],
                 names[i]);
    }
  }
  if (s.non_numeric > 0) {
    fmt::print(stderr, "spate {}: {} events with a non-numeric '{}'\n", command, s.non_numeric,
               names[kValueSlot]);
  }
  if (s.bad_time > 0) {
    fmt::print(stderr, "spate {}: {} events with an unparseable time '{}'\n", command, s.bad_time,
               names[kTimeSlot]);
  }
  if (s.late > 0) {
    fmt::print(stderr, "spate {}: {} late events dropped (their window had closed)\n", command,
               s.late);
  }
}

InputFormat input_format_of(const std::string& s) {
  if (s == "csv") return InputFormat::kCsv;
  if (s == "text") return InputFormat::kText;
  return InputFormat::kJson;
}

OutputFormat output_format_of(const std::string& s) {
  if (s == "json") return OutputFormat::kJson;
  if (s == "csv") return OutputFormat::kCsv;
  return OutputFormat::kText;
}

bool parse_event_time(std::string_view text, bool is_string, int64_t* ms) {
  double v;
  if (parse_number(text, &v)) return epoch_number_to_ms(v, ms);
  if (!is_string) return false;
  auto r = parse_rfc3339_ms(text);
  if (!r.is_ok()) return false;
  *ms = *r;
  return true;
}

// Reads every input, calling on_line(line, len, capacity). Returns an exit code.
int read_inputs(const std::string& command, const std::vector<std::string>& inputs,
                const LineReader::LineFn& on_line, int64_t every_ms,
                const LineReader::TickFn& on_tick) {
  LineReader reader;
  std::vector<std::string> names = inputs;
  if (names.empty()) names.push_back("-");
  for (const auto& name : names) {
    int fd = STDIN_FILENO;
    if (name != "-") {
      fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        fmt::print(stderr, "spate {}: cannot open '{}': {}\n", command, name,
                   std::strerror(errno));
        return kExitFailure;
      }
    }
    std::string error;
    const bool ok = reader.read_fd(fd, on_line, every_ms, on_tick, &error);
    if (fd != STDIN_FILENO) ::close(fd);
    if (!ok) {
      fmt::print(stderr, "spate {}: read error on '{}': {}\n", command, name, error);
      return kExitFailure;
    }
  }
  return kExitOk;
}

// Writes `out` to stdout and clears it.
void flush_out(std::string& out) {
  if (!out.empty()) {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  }
  std::fflush(stdout);
}

// Prints rows as columns padded to their widths (numeric columns right-aligned).
void append_text_table(std::string& out, const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  // A column whose cells are all numbers (or empty) is right-aligned, its header too.
  std::vector<bool> right(header.size(), !rows.empty());
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < right.size(); ++i) {
      double v;
      if (!r[i].empty() && r[i] != "-" && !parse_number(r[i], &v)) right[i] = false;
    }
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string l;
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      if (i > 0) l += "  ";
      const size_t pad = width[i] - r[i].size();
      if (right[i]) {
        l.append(pad, ' ');
        l += r[i];
      } else {
        l += r[i];
        if (i + 1 < r.size()) l.append(pad, ' ');
      }
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l;
    out.push_back('\n');
  };
  line(header);
  for (const auto& r : rows) line(r);
}

// The fields every JSON answer starts with (after its '{'): window_start/window_end when
// windowed (window_ms > 0), the --by group under its own name, then "field".
void append_json_head(std::string& out, int64_t window_start, int64_t window_ms,
                      const std::string& by, std::string_view group, const std::string& field) {
  if (window_ms > 0) {
    out += "\"window_start\":\"";
    append_rfc3339_ms(out, window_start);
    out += "\",\"window_end\":\"";
    append_rfc3339_ms(out, window_start + window_ms);
    out += "\",";
  }
  if (!by.empty()) {
    append_json_string(out, by);
    out.push_back(':');
    append_json_string(out, group);
    out.push_back(',');
  }
  out += "\"field\":";
  append_json_string(out, field);
}

// Event-time tumbling windows of the one-liners (--window, --lateness): which window an event
// falls in, which events are late, and when a new maximum event time closes windows.
class WindowClock {
 public:
  int64_t window_ms = 0;  // 0: no windows
  int64_t lateness_ms = 0;

  int64_t start_of(int64_t t) const { return t - (((t % window_ms) + window_ms) % window_ms); }
  // The window start of an event at t, or nullopt when it is late. When t raises the maximum
  // event time, close(watermark) runs first; it closes the windows that end at or before the
  // watermark, reporting each with closed().
  template <class Close>
  std::optional<int64_t> place(int64_t t, Close&& close) {
    const int64_t start = start_of(t);
    if (start < closed_before_) return std::nullopt;
    if (t > max_time_) {
      max_time_ = t;
      close(max_time_ - lateness_ms);
      if (start < closed_before_) return std::nullopt;  // only with lateness 0, t at a window end
    }
    return start;
  }
  // The window starting at `start` was closed: its events are late from now on.
  void closed(int64_t start) { closed_before_ = std::max(closed_before_, start + window_ms); }
  // Windows that had no events before the watermark are closed too (late events for them drop).
  void passed(int64_t watermark) {
    if (watermark >= closed_before_ && watermark < kMaxTime) {
      closed_before_ = std::max(closed_before_, start_of(watermark));
    }
  }

 private:
  int64_t max_time_ = kMinTime;
  int64_t closed_before_ = kMinTime;  // windows starting before this are closed
};

// One group's state per distinct --by value, one set of groups per open window.
template <class State>
class Aggregator {
 public:
  Aggregator(std::string command, const CommonFlags& flags, typename State::Config config,
             std::vector<std::string> header)
      : command_(std::move(command)),
        flags_(flags),
        config_(std::move(config)),
        header_(std::move(header)),
        output_(output_format_of(flags.output_format)),
        names_{flags.field, flags.by, flags.time_field},
        extractor_(input_format_of(flags.input_format), names_) {
    if (!flags.window.empty()) {
      if (flags.time_field.empty()) throw std::invalid_argument("--window needs --time FIELD");
      clock_.window_ms = *parse_duration_flag("--window", flags.window);
      auto l = parse_duration_ms(flags.lateness);
      if (!l.is_ok() || *l < 0) throw std::invalid_argument("--lateness: bad duration");
      clock_.lateness_ms = *l;
    } else if (!flags.time_field.empty() && !kTimedState) {
      throw std::invalid_argument("--time needs --window DUR");
    }
    if (!flags.every.empty()) every_ms_ = *parse_duration_flag("--every", flags.every);
  }

  int run() {
    const int rc = read_inputs(
        command_, flags_.inputs,
        [this](const char* line, size_t len, size_t cap) { on_line(line, len, cap); }, every_ms_,
        [this] {
          emit_all();
          flush_out(out_);
        });
    if (rc != kExitOk) return rc;
    if (windows_.empty() && clock_.window_ms == 0 && flags_.by.empty()) state_for(0, "");
    emit_all();
    flush_out(out_);
    report_skips(command_, names_, skips_);
    return kExitOk;
  }

 private:
  using Groups = absl::flat_hash_map<std::string, std::unique_ptr<State>>;
  // A State with kTimed takes each event's time: add(value, x, t_ms) (--time without --window
  // is then allowed).
  static constexpr bool kTimedState = requires { State::kTimed; };

  void on_line(const char* line, size_t len, size_t cap) {
    size_t missing = 0;
    switch (extractor_.extract(line, len, cap, &missing)) {
      case ExtractOutcome::kHeader:
        return;
      case ExtractOutcome::kMalformed:
        ++skips_.malformed;
        return;
      case ExtractOutcome::kMissing:
        ++skips_.missing[missing];
        return;
      case ExtractOutcome::kOk:
        break;
    }
    double x = 0;
    if constexpr (State::kNumeric) {
      if (!parse_number(extractor_.value(kValueSlot), &x)) {
        ++skips_.non_numeric;
        return;
      }
    }
    int64_t window_start = 0;
    int64_t t = 0;
    if (clock_.window_ms > 0 || (kTimedState && !flags_.time_field.empty())) {
      if (!parse_event_time(extractor_.value(kTimeSlot), extractor_.is_string(kTimeSlot), &t)) {
        ++skips_.bad_time;
        return;
      }
    }
    if (clock_.window_ms > 0) {
      auto start = clock_.place(t, [this](int64_t wm) { close_windows_until(wm); });
      if (!start) {
        ++skips_.late;
        return;
      }
      window_start = *start;
    }
    State& state = state_for(window_start, flags_.by.empty() ? std::string_view()
                                                            : extractor_.value(kGroupSlot));
    if constexpr (kTimedState) {
      // Event time with --time, else processing time (the wall clock at arrival).
      state.add(extractor_.value(kValueSlot), x, flags_.time_field.empty() ? wall_clock_ms() : t);
    } else {
      state.add(extractor_.value(kValueSlot), x);
    }
  }

  State& state_for(int64_t window_start, std::string_view group) {
    if (last_state_ != nullptr && window_start == last_window_ && group == last_group_) {
      return *last_state_;
    }
    Groups& groups = windows_[window_start];
    auto it = groups.find(av(group));
    if (it == groups.end()) {
      it = groups.emplace(std::string(group), std::make_unique<State>(config_)).first;
    }
    last_state_ = it->second.get();
    last_window_ = window_start;
    last_group_.assign(group.data(), group.size());
    return *last_state_;
  }

  // Closes (emits and forgets) every window whose end is <= watermark, in order.
  void close_windows_until(int64_t watermark) {
    bool any = false;
    while (!windows_.empty() && windows_.begin()->first + clock_.window_ms <= watermark) {
      emit_window(windows_.begin()->first, windows_.begin()->second);
      clock_.closed(windows_.begin()->first);
      windows_.erase(windows_.begin());
      last_state_ = nullptr;
      any = true;
    }
    if (clock_.window_ms > 0) clock_.passed(watermark);
    if (any) flush_out(out_);
  }

  void emit_all() {
    for (auto& [start, groups] : windows_) emit_window(start, groups);
  }

  void emit_window(int64_t start, const Groups& groups) {
    std::vector<const typename Groups::value_type*> sorted;
    for (const auto& g : groups) sorted.push_back(&g);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    const bool windowed = clock_.window_ms > 0;
    if (output_ == OutputFormat::kJson) {
      for (const auto* g : sorted) {
        out_.push_back('{');
        append_json_head(out_, start, clock_.window_ms, flags_.by, g->first, flags_.field);
        g->second->json(out_);
        out_ += "}\n";
      }
      return;
    }
    const bool human = output_ == OutputFormat::kText;
    std::vector<std::string> header;
    if (windowed) {
      header.push_back("window_start");
      header.push_back("window_end");
    }
    if (!flags_.by.empty()) header.push_back(flags_.by);
    const bool field_column = State::kFieldColumn;
    header.insert(header.end(), header_.begin(), header_.end());
    std::vector<std::vector<std::string>> rows;
    for (const auto* g : sorted) {
      std::vector<std::vector<std::string>> body;
      g->second->rows(body, human);
      for (auto& b : body) {
        std::vector<std::string> r;
        if (windowed) {
          r.push_back(format_rfc3339_ms(start));
          r.push_back(format_rfc3339_ms(start + clock_.window_ms));
        }
        if (!flags_.by.empty()) r.push_back(g->first);
        if (field_column) r.push_back(flags_.field);
        r.insert(r.end(), b.begin(), b.end());
        rows.push_back(std::move(r));
      }
    }
    if (output_ == OutputFormat::kCsv) {
      if (!csv_header_done_) {
        csv_header_done_ = true;
        append_csv_row(header);
      }
      for (const auto& r : rows) append_csv_row(r);
    } else {
      if (text_blocks_++ > 0) out_.push_back('\n');
      append_text_table(out_, header, rows);
    }
  }

  void append_csv_row(const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i > 0) out_.push_back(',');
      append_csv_field(out_, r[i], ',');
    }
    out_.push_back('\n');
  }

  std::string command_;
  const CommonFlags& flags_;
  typename State::Config config_;
  std::vector<std::string> header_;
  OutputFormat output_;
  std::vector<std::string> names_;
  FieldExtractor extractor_;
  WindowClock clock_;
  int64_t every_ms_ = 0;
  std::map<int64_t, Groups> windows_;
  State* last_state_ = nullptr;
  int64_t last_window_ = 0;
  std::string last_group_;
  SkipCounts skips_;
  std::string out_;
  bool csv_header_done_ = false;
  uint64_t text_blocks_ = 0;
};

std::vector<double> parse_quantiles(const std::string& text) {
  std::vector<double> qs;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    double q;
    if (!parse_number(std::string_view(text).substr(start, comma - start), &q) || q < 0 || q > 1) {
      throw std::invalid_argument(fmt::format("-q: bad quantile list '{}' (want e.g. 0.5,0.9,0.99)", text));
    }
    qs.push_back(q);
    start = comma + 1;
  }
  return qs;
}

// ---- drift ----

struct DriftFlags {
  CommonFlags common;
  std::string method = "adwin";
  double delta = -1;
  double lambda = -1;
  size_t top = 20;  // shift: the top-k distribution compared between windows
  double false_alarm = 0.01;
};

// One numeric detector, plus what the --every status rows show: values seen, detections, and
// the mean of the values since the last detection (the current regime).
class DriftDetector {
 public:
  explicit DriftDetector(const DriftFlags& f) {
    if (f.method == "adwin") {
      AdwinOptions o;
      if (f.delta > 0) o.delta = f.delta;
      adwin_.emplace(o);
    } else if (f.method == "page_hinkley") {
      PageHinkleyOptions o;
      if (f.delta >= 0) o.delta = f.delta;
      if (f.lambda > 0) o.lambda = f.lambda;
      ph_.emplace(o);
    } else {
      CusumOptions o;
      if (f.delta >= 0) o.k = f.delta;
      if (f.lambda > 0) o.h = f.lambda;
      cusum_.emplace(o);
    }
  }
  // The detection this value raised, if any.
  const DriftEvent* update(double x) {
    ++values_;
    ++regime_n_;
    regime_mean_ += (x - regime_mean_) / static_cast<double>(regime_n_);
    const DriftEvent* e = nullptr;
    if (adwin_) {
      e = adwin_->update(x) ? &*adwin_->last_detection() : nullptr;
    } else if (ph_) {
      e = ph_->update(x) ? &*ph_->last_detection() : nullptr;
    } else {
      e = cusum_->update(x) ? &*cusum_->last_detection() : nullptr;
    }
    if (e != nullptr) {
      ++detections_;
      regime_n_ = 0;
      regime_mean_ = 0;
    }
    return e;
  }
  uint64_t values() const { return values_; }
  uint64_t detections() const { return detections_; }
  double regime_mean() const {
    return regime_n_ == 0 ? std::numeric_limits<double>::quiet_NaN() : regime_mean_;
  }

 private:
  std::optional<Adwin> adwin_;
  std::optional<PageHinkley> ph_;
  std::optional<Cusum> cusum_;
  uint64_t values_ = 0;
  uint64_t detections_ = 0;
  uint64_t regime_n_ = 0;
  double regime_mean_ = 0;
};

// `spate drift`. Numeric methods run one detector per (--window, --by group) over the values in
// arrival order and print each detection when it happens. --method shift summarizes a
// categorical field per window and group (Space-Saving) and, when a window closes, compares its
// top-k distribution with the group's previous window (DistributionShift), printing a row when
// they differ. --every prints a status row per open window and group.
class DriftRunner {
 public:
  explicit DriftRunner(const DriftFlags& f)
      : flags_(f),
        c_(f.common),
        shift_mode_(f.method == "shift"),
        names_{c_.field, c_.by, c_.time_field},
        extractor_(input_format_of(c_.input_format), names_),
        output_(output_format_of(c_.output_format)) {
    if (!c_.window.empty()) {
      if (c_.time_field.empty()) throw std::invalid_argument("--window needs --time FIELD");
      clock_.window_ms = *parse_duration_flag("--window", c_.window);
      auto l = parse_duration_ms(c_.lateness);
      if (!l.is_ok() || *l < 0) throw std::invalid_argument("--lateness: bad duration");
      clock_.lateness_ms = *l;
    }
    if (shift_mode_ && clock_.window_ms == 0) {
      throw std::invalid_argument("--method shift compares windows: it needs --time FIELD --window DUR");
    }
    if (shift_mode_ && (flags_.delta >= 0 || flags_.lambda >= 0)) {
      throw std::invalid_argument("--delta and --lambda do not apply to --method shift");
    }
    if (flags_.method == "adwin" && flags_.delta >= 1) {
      throw std::invalid_argument("--delta: adwin's confidence must be in (0, 1)");
    }
    if (!c_.every.empty()) every_ms_ = *parse_duration_flag("--every", c_.every);
    shift_options_.alpha = flags_.false_alarm;
    shift_options_.top = static_cast<uint32_t>(flags_.top);
    capacity_ = static_cast<uint32_t>(
        std::min<size_t>(SpaceSaving::kMaxCapacity, std::max<size_t>(1024, 10 * flags_.top)));
  }

  int run() {
    const int rc = read_inputs(
        "drift", c_.inputs,
        [this](const char* line, size_t len, size_t cap) { on_line(line, len, cap); }, every_ms_,
        [this] {
          emit_status();
          flush_out(out_);
        });
    if (rc != kExitOk) return rc;
    close_windows_until(kMaxTime);  // the input ended: every window is complete
    flush_out(out_);
    report_skips("drift", names_, skips_);
    return kExitOk;
  }

 private:
  // The open state of one group in one window.
  struct Group {
    std::unique_ptr<DriftDetector> detector;  // numeric methods
    std::unique_ptr<SpaceSaving> summary;     // shift
  };
  using Groups = absl::flat_hash_map<std::string, Group>;

  void on_line(const char* line, size_t len, size_t cap) {
    size_t missing = 0;
    switch (extractor_.extract(line, len, cap, &missing)) {
      case ExtractOutcome::kHeader: return;
      case ExtractOutcome::kMalformed: ++skips_.malformed; return;
      case ExtractOutcome::kMissing: ++skips_.missing[missing]; return;
      case ExtractOutcome::kOk: break;
    }
    ++line_index_;
    double x = 0;
    if (!shift_mode_ && !parse_number(extractor_.value(kValueSlot), &x)) {
      ++skips_.non_numeric;
      return;
    }
    int64_t t = 0;
    if (!c_.time_field.empty() &&
        !parse_event_time(extractor_.value(kTimeSlot), extractor_.is_string(kTimeSlot), &t)) {
      ++skips_.bad_time;
      return;
    }
    int64_t window_start = 0;
    if (clock_.window_ms > 0) {
      auto start = clock_.place(t, [this](int64_t wm) { close_windows_until(wm); });
      if (!start) {
        ++skips_.late;
        return;
      }
      window_start = *start;
    }
    const std::string_view group =
        c_.by.empty() ? std::string_view() : extractor_.value(kGroupSlot);
    Groups& groups = windows_[window_start];
    auto it = groups.find(av(group));
    if (it == groups.end()) {
      Group g;
      if (shift_mode_) {
        g.summary = std::make_unique<SpaceSaving>(capacity_);
      } else {
        g.detector = std::make_unique<DriftDetector>(flags_);
      }
      it = groups.emplace(std::string(group), std::move(g)).first;
    }
    if (shift_mode_) {
      it->second.summary->add(extractor_.value(kValueSlot));
      return;
    }
    const DriftEvent* e = it->second.detector->update(x);
    if (e == nullptr) return;
    emit_detection(window_start, group, t, *e);
    flush_out(out_);
  }

  // Closes every window whose end is <= watermark, in window order.
  void close_windows_until(int64_t watermark) {
    while (!windows_.empty() &&
           (clock_.window_ms == 0 || windows_.begin()->first + clock_.window_ms <= watermark)) {
      if (shift_mode_) close_shift_window(windows_.begin()->first, windows_.begin()->second);
      if (clock_.window_ms > 0) clock_.closed(windows_.begin()->first);
      windows_.erase(windows_.begin());
      if (clock_.window_ms == 0) break;
    }
    if (clock_.window_ms > 0) clock_.passed(watermark);
    flush_out(out_);
  }

  // The window's top-k distribution per group, compared with the group's previous window.
  void close_shift_window(int64_t start, const Groups& groups) {
    std::vector<const Groups::value_type*> sorted;
    for (const auto& g : groups) sorted.push_back(&g);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    for (const auto* g : sorted) {
      const SpaceSaving& s = *g->second.summary;
      CategoryCounts w;
      w.total = s.total();
      w.unlisted_max = s.min_count();
      auto top = s.top(flags_.top + 1);
      if (top.size() > flags_.top) {
        w.unlisted_max = std::max(w.unlisted_max, top.back().count);
        top.pop_back();
      }
      for (auto& e : top) w.items.push_back({std::move(e.item), ItemCount{e.count, e.error}});
      auto track = shift_tracks_.find(av(g->first));
      if (track == shift_tracks_.end()) {
        track = shift_tracks_.emplace(g->first, ShiftTrack{DistributionShift(shift_options_), 0, 0}).first;
      }
      ShiftTrack& tr = track->second;
      const uint64_t total = w.total;
      auto shifted = tr.detector.observe(std::move(w));
      if (shifted.is_ok() && *shifted) {
        emit_shift(start, g->first, tr.previous_start, tr.previous_total, total,
                   *tr.detector.last_report());
      }
      tr.previous_start = start;
      tr.previous_total = total;
    }
  }

  // Columns before the method's own: [kind] [window_start window_end] [group].
  void begin_row(std::string_view kind, int64_t window_start, std::string_view group,
                 std::vector<std::string>& cells) const {
    if (every_ms_ > 0) cells.emplace_back(kind);
    if (clock_.window_ms > 0) {
      cells.push_back(format_rfc3339_ms(window_start));
      cells.push_back(format_rfc3339_ms(window_start + clock_.window_ms));
    }
    if (!c_.by.empty()) cells.emplace_back(group);
  }
  void begin_json(std::string_view kind, int64_t window_start, std::string_view group) {
    out_.push_back('{');
    if (every_ms_ > 0) fmt::format_to(std::back_inserter(out_), "\"kind\":\"{}\",", kind);
    append_json_head(out_, window_start, clock_.window_ms, c_.by, group, c_.field);
  }
  void write_cells(const std::vector<std::string>& cells) {
    if (!header_done_) {
      header_done_ = true;
      std::vector<std::string> header;
      if (every_ms_ > 0) header.emplace_back("kind");
      if (clock_.window_ms > 0) {
        header.emplace_back("window_start");
        header.emplace_back("window_end");
      }
      if (!c_.by.empty()) header.push_back(c_.by);
      if (shift_mode_) {
        for (const char* h : {"previous_window_start", "events", "statistic", "threshold", "js",
                              "rising", "falling", "method"}) {
          header.emplace_back(h);
        }
      } else {
        if (!c_.time_field.empty()) header.emplace_back("time");
        for (const char* h : {"index", "event", "statistic", "mean_before", "mean_after",
                              "direction", "method"}) {
          header.emplace_back(h);
        }
      }
      write_cells(header);
      return write_cells(cells);
    }
    const char sep = output_ == OutputFormat::kCsv ? ',' : '\t';
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out_.push_back(sep);
      if (output_ == OutputFormat::kCsv) {
        append_csv_field(out_, cells[i], ',');
      } else {
        out_ += cells[i];
      }
    }
    out_.push_back('\n');
  }

  void emit_detection(int64_t window_start, std::string_view group, int64_t t,
                      const DriftEvent& e) {
    if (output_ == OutputFormat::kJson) {
      begin_json("detection", window_start, group);
      if (!c_.time_field.empty()) {
        out_ += ",\"time\":\"";
        append_rfc3339_ms(out_, t);
        out_.push_back('"');
      }
      fmt::format_to(std::back_inserter(out_), ",\"index\":{},\"event\":{},\"statistic\":",
                     e.index, line_index_);
      append_json_number(out_, e.statistic);
      out_ += ",\"mean_before\":";
      append_json_number(out_, e.mean_before);
      out_ += ",\"mean_after\":";
      append_json_number(out_, e.mean_after);
      fmt::format_to(std::back_inserter(out_), ",\"direction\":\"{}\",\"method\":\"{}\"}}\n",
                     drift_direction_name(e.direction), e.method);
      return;
    }
    const bool human = output_ == OutputFormat::kText;
    std::vector<std::string> cells;
    begin_row("detection", window_start, group, cells);
    if (!c_.time_field.empty()) cells.push_back(format_rfc3339_ms(t));
    cells.push_back(std::to_string(e.index));
    cells.push_back(std::to_string(line_index_));
    cells.push_back(num_text(e.statistic, human));
    cells.push_back(num_text(e.mean_before, human));
    cells.push_back(num_text(e.mean_after, human));
    cells.emplace_back(drift_direction_name(e.direction));
    cells.emplace_back(e.method);
    write_cells(cells);
  }

  static std::string shares_text(const std::vector<ShareChange>& changes) {
    std::string t;
    for (const auto& c : changes) {
      if (!t.empty()) t.push_back(' ');
      t += fmt::format("{}:{:.4g}->{:.4g}", c.item, c.before, c.after);
    }
    return t;
  }
  void append_shares_json(const std::vector<ShareChange>& changes) {
    out_.push_back('[');
    for (size_t i = 0; i < changes.size(); ++i) {
      if (i > 0) out_.push_back(',');
      out_ += "{\"value\":";
      append_json_string(out_, changes[i].item);
      out_ += ",\"before\":";
      append_json_number(out_, changes[i].before);
      out_ += ",\"after\":";
      append_json_number(out_, changes[i].after);
      out_.push_back('}');
    }
    out_.push_back(']');
  }

  void emit_shift(int64_t start, std::string_view group, int64_t previous_start,
                  uint64_t previous_total, uint64_t total, const ShiftReport& r) {
    if (output_ == OutputFormat::kJson) {
      begin_json("detection", start, group);
      out_ += ",\"before\":{\"window_start\":\"";
      append_rfc3339_ms(out_, previous_start);
      fmt::format_to(std::back_inserter(out_), "\",\"events\":{}}},\"after\":{{\"events\":{}}}",
                     previous_total, total);
      out_ += ",\"statistic\":";
      append_json_number(out_, r.tv);
      out_ += ",\"threshold\":";
      append_json_number(out_, r.threshold);
      out_ += ",\"js\":";
      append_json_number(out_, r.js);
      out_ += ",\"rising\":";
      append_shares_json(r.rising);
      out_ += ",\"falling\":";
      append_shares_json(r.falling);
      out_ += ",\"method\":\"shift\"}\n";
      return;
    }
    const bool human = output_ == OutputFormat::kText;
    std::vector<std::string> cells;
    begin_row("detection", start, group, cells);
    cells.push_back(format_rfc3339_ms(previous_start));
    cells.push_back(std::to_string(total));
    cells.push_back(num_text(r.tv, human));
    cells.push_back(num_text(r.threshold, human));
    cells.push_back(num_text(r.js, human));
    cells.push_back(shares_text(r.rising));
    cells.push_back(shares_text(r.falling));
    cells.emplace_back("shift");
    write_cells(cells);
  }

  // --every: one row per open window and group.
  void emit_status() {
    const bool human = output_ == OutputFormat::kText;
    for (const auto& [start, groups] : windows_) {
      std::vector<const Groups::value_type*> sorted;
      for (const auto& g : groups) sorted.push_back(&g);
      std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
      for (const auto* g : sorted) {
        const Group& s = g->second;
        if (output_ == OutputFormat::kJson) {
          begin_json("status", start, g->first);
          if (shift_mode_) {
            fmt::format_to(std::back_inserter(out_), ",\"events\":{},\"method\":\"shift\"}}\n",
                           s.summary->total());
          } else {
            fmt::format_to(std::back_inserter(out_), ",\"values\":{},\"detections\":{},\"mean\":",
                           s.detector->values(), s.detector->detections());
            append_json_number(out_, s.detector->regime_mean());
            fmt::format_to(std::back_inserter(out_), ",\"method\":\"{}\"}}\n", flags_.method);
          }
          continue;
        }
        std::vector<std::string> cells;
        begin_row("status", start, g->first, cells);
        if (shift_mode_) {
          for (const std::string& v : {std::string(), std::to_string(s.summary->total()),
                                       std::string(), std::string(), std::string(), std::string(),
                                       std::string(), std::string("shift")}) {
            cells.push_back(v);
          }
        } else {
          // index = values seen, mean_after = mean since the last detection.
          if (!c_.time_field.empty()) cells.emplace_back();
          cells.push_back(std::to_string(s.detector->values()));
          cells.push_back(std::to_string(line_index_));
          cells.emplace_back();
          cells.emplace_back();
          cells.push_back(num_text(s.detector->regime_mean(), human));
          cells.emplace_back();
          cells.push_back(flags_.method);
        }
        write_cells(cells);
      }
    }
  }

  struct ShiftTrack {
    DistributionShift detector;
    int64_t previous_start;
    uint64_t previous_total;
  };

  const DriftFlags& flags_;
  const CommonFlags& c_;
  bool shift_mode_;
  std::vector<std::string> names_;
  FieldExtractor extractor_;
  OutputFormat output_;
  WindowClock clock_;
  int64_t every_ms_ = 0;
  std::map<int64_t, Groups> windows_;  // without --window: one, at 0
  absl::flat_hash_map<std::string, ShiftTrack> shift_tracks_;
  DistributionShiftOptions shift_options_;
  uint32_t capacity_ = 1024;
  uint64_t line_index_ = 0;
  SkipCounts skips_;
  std::string out_;
  bool header_done_ = false;
};

int run_drift(const DriftFlags& f) {
  DriftRunner runner(f);
  return runner.run();
}

}  // namespace

Runner add_top_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("top", "Most frequent values of a field (Space-Saving top-k)");
  auto flags = std::make_shared<CommonFlags>();
  auto k = std::make_shared<size_t>(10);
  auto capacity = std::make_shared<uint32_t>(0);
  add_common_flags(cmd, *flags, true, true);
  cmd->add_option("-k", *k, "How many values to show")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--capacity", *capacity, "Space-Saving counters (default max(1024, 10k))")
      ->check(CLI::Range(1u, SpaceSaving::kMaxCapacity));
  return [flags, k, capacity] {
    TopConfig config;
    config.k = *k;
    config.exact = flags->exact;
    config.capacity = *capacity != 0
                          ? *capacity
                          : static_cast<uint32_t>(std::min<size_t>(
                                SpaceSaving::kMaxCapacity, std::max<size_t>(1024, 10 * *k)));
    try {
      Aggregator<TopState> agg("top", *flags, config, TopState::header(flags->field));
      return agg.run();
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate top: {}\n", e.what());
      return kExitUsage;
    }
  };
}

Runner add_stats_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "stats", "Count, mean, stddev (population), min, max and quantiles (KLL) of a numeric field");
  auto flags = std::make_shared<CommonFlags>();
  auto qs = std::make_shared<std::string>("0.5,0.9,0.99");
  add_common_flags(cmd, *flags, true, true);
  cmd->add_option("-q,--quantiles", *qs, "Quantiles to estimate")->capture_default_str();
  return [flags, qs] {
    try {
      StatsConfig config{parse_quantiles(*qs), flags->exact};
      auto header = StatsState::header_for(flags->field, config.quantiles);
      Aggregator<StatsState> agg("stats", *flags, config, header);
      return agg.run();
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate stats: {}\n", e.what());
      return kExitUsage;
    }
  };
}

Runner add_distinct_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("distinct", "Number of distinct values of a field (HyperLogLog)");
  auto flags = std::make_shared<CommonFlags>();
  add_common_flags(cmd, *flags, true, true);
  return [flags] {
    try {
      Aggregator<DistinctState> agg("distinct", *flags, DistinctConfig{flags->exact},
                                    DistinctState::header(flags->field));
      return agg.run();
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate distinct: {}\n", e.what());
      return kExitUsage;
    }
  };
}

Runner add_drift_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "drift",
      "Detect changes in the mean of a numeric field, or (--method shift) in the top-k "
      "distribution of a categorical field between consecutive windows (one line per detection)");
  auto flags = std::make_shared<DriftFlags>();
  add_common_flags(cmd, flags->common, false, true);
  cmd->add_option("--method", flags->method, "adwin, page_hinkley, cusum or shift (categorical)")
      ->capture_default_str()
      ->check(CLI::IsMember({"adwin", "page_hinkley", "cusum", "shift"}));
  cmd->add_option("--delta", flags->delta,
                  "adwin: confidence; page_hinkley: tolerated change; cusum: k (sigmas)");
  cmd->add_option("--lambda", flags->lambda, "page_hinkley: threshold; cusum: h (sigmas)");
  cmd->add_option("-k,--top", flags->top, "shift: items in each window's top-k distribution")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--false-alarm", flags->false_alarm,
                  "shift: false-alarm probability per comparison")
      ->capture_default_str()
      ->check(CLI::Range(1e-12, 0.5));
  return [flags] {
    try {
      return run_drift(*flags);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate drift: {}\n", e.what());
      return kExitUsage;
    }
  };
}

Runner add_trending_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "trending", "Values whose rate is rising: short / long half-life decayed rates");
  auto flags = std::make_shared<CommonFlags>();
  auto k = std::make_shared<size_t>(10);
  auto capacity = std::make_shared<uint32_t>(0);
  auto short_hl = std::make_shared<std::string>("1m");
  auto long_hl = std::make_shared<std::string>("1h");
  add_common_flags(cmd, *flags, false, true);
  cmd->add_option("-k", *k, "How many values to show")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--short", *short_hl, "Short half-life (the recent rate)")->capture_default_str();
  cmd->add_option("--long", *long_hl, "Long half-life (the baseline rate)")->capture_default_str();
  cmd->add_option("--capacity", *capacity,
                  "Space-Saving counters per half-life (default max(1024, 10k))")
      ->check(CLI::Range(1u, Trending::kMaxCapacity));
  return [flags, k, capacity, short_hl, long_hl] {
    try {
      TrendingConfig config;
      config.k = *k;
      config.capacity = *capacity != 0
                            ? *capacity
                            : static_cast<uint32_t>(std::min<size_t>(
                                  Trending::kMaxCapacity, std::max<size_t>(1024, 10 * *k)));
      config.short_ms = static_cast<double>(*parse_duration_flag("--short", *short_hl));
      config.long_ms = static_cast<double>(*parse_duration_flag("--long", *long_hl));
      if (config.short_ms >= config.long_ms) {
        throw std::invalid_argument("--short must be shorter than --long");
      }
      config.processing_time = flags->time_field.empty();
      Aggregator<TrendingState> agg("trending", *flags, config,
                                    TrendingState::header(flags->field));
      return agg.run();
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate trending: {}\n", e.what());
      return kExitUsage;
    }
  };
}

}  // namespace spate::cli
