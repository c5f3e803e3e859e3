// The one-liners: `spate top`, `spate stats`, `spate distinct` and `spate drift`, Unix filters
// that answer one question about a field of the events in files or stdin (JSON lines, CSV with
// a header row, or text lines).
//
//   spate top -f page -k 10            most frequent values (Space-Saving; --exact: hash map)
//   spate stats -f latency_ms          count, mean, stddev, min, max, quantiles (Moments + KLL)
//   spate distinct -f user --by country  distinct count (HyperLogLog p=12; --exact: hash set)
//   spate drift -f latency_ms          one line per detected change (ADWIN, Page-Hinkley, CUSUM)
//
// Common: --by FIELD (one answer per group), --time FIELD --window DUR (one answer per tumbling
// event-time window, closed in order once the largest event time seen passes window end +
// --lateness; later events for a closed window are dropped and counted), --every DUR (print the
// current answer every DUR of wall time while reading, also when the input is idle). Events
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
#include "spate/analytics/hyperloglog.h"
#include "spate/analytics/kll.h"
#include "spate/analytics/moments.h"
#include "spate/analytics/page_hinkley.h"
#include "spate/analytics/space_saving.h"
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
};

class StatsState {
 public:
  using Config = StatsConfig;
  static constexpr bool kNumeric = true;
  static constexpr bool kFieldColumn = true;
  static constexpr uint32_t kKllK = 200;

  explicit StatsState(const StatsConfig& c) : config_(c), kll_(kKllK, 1) {}
  void add(std::string_view /*unused*/, double x) {
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
    fmt::format_to(std::back_inserter(out), ",\"count\":{},\"mean\":", moments_.count());
    append_json_number(out, moments_.mean());
    out += ",\"stddev\":";
    append_json_number(out, moments_.stddev());
    out += ",\"min\":";
    append_json_number(out, moments_.min());
    out += ",\"max\":";
    append_json_number(out, moments_.max());
    out += ",\"quantiles\":{";
    const auto qv = kll_.quantiles(config_.quantiles);
    for (size_t i = 0; i < qv.size(); ++i) {
      if (i > 0) out.push_back(',');
      fmt::format_to(std::back_inserter(out), "\"{}\":", config_.quantiles[i]);
      append_json_number(out, qv[i]);
    }
    out.push_back('}');
  }
  void rows(std::vector<std::vector<std::string>>& out, bool human) const {
    std::vector<std::string> r{std::to_string(moments_.count()), num_text(moments_.mean(), human),
                               num_text(moments_.stddev(), human), num_text(moments_.min(), human),
                               num_text(moments_.max(), human)};
    for (double q : kll_.quantiles(config_.quantiles)) r.push_back(num_text(q, human));
    out.push_back(std::move(r));
  }

 private:
  StatsConfig config_;
  Moments moments_;
  KllSketch kll_;
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
      window_ms_ = *parse_duration_flag("--window", flags.window);
      auto l = parse_duration_ms(flags.lateness);
      if (!l.is_ok() || *l < 0) throw std::invalid_argument("--lateness: bad duration");
      lateness_ms_ = *l;
    } else if (!flags.time_field.empty()) {
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
    if (windows_.empty() && window_ms_ == 0 && flags_.by.empty()) state_for(0, "");
    emit_all();
    flush_out(out_);
    report_skips(command_, names_, skips_);
    return kExitOk;
  }

 private:
  using Groups = absl::flat_hash_map<std::string, std::unique_ptr<State>>;

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
    if (window_ms_ > 0) {
      int64_t t;
      if (!parse_event_time(extractor_.value(kTimeSlot), extractor_.is_string(kTimeSlot), &t)) {
        ++skips_.bad_time;
        return;
      }
      window_start = t - (((t % window_ms_) + window_ms_) % window_ms_);
      if (window_start < closed_before_) {
        ++skips_.late;
        return;
      }
      if (t > max_time_) {
        max_time_ = t;
        close_windows_until(max_time_ - lateness_ms_);
        if (window_start < closed_before_) {  // only with lateness 0 and t at a window end
          ++skips_.late;
          return;
        }
      }
    }
    state_for(window_start, flags_.by.empty() ? std::string_view() : extractor_.value(kGroupSlot))
        .add(extractor_.value(kValueSlot), x);
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
    while (!windows_.empty() && windows_.begin()->first + window_ms_ <= watermark) {
      emit_window(windows_.begin()->first, windows_.begin()->second);
      closed_before_ = std::max(closed_before_, windows_.begin()->first + window_ms_);
      windows_.erase(windows_.begin());
      last_state_ = nullptr;
      any = true;
    }
    if (watermark >= closed_before_ && window_ms_ > 0) {
      // Windows with no events before the watermark are closed too (late events for them drop).
      closed_before_ = std::max(closed_before_, watermark - (((watermark % window_ms_) + window_ms_) % window_ms_));
    }
    if (any) flush_out(out_);
  }

  void emit_all() {
    for (auto& [start, groups] : windows_) emit_window(start, groups);
  }

  void emit_window(int64_t start, const Groups& groups) {
    std::vector<const typename Groups::value_type*> sorted;
    for (const auto& g : groups) sorted.push_back(&g);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    const bool windowed = window_ms_ > 0;
    if (output_ == OutputFormat::kJson) {
      for (const auto* g : sorted) {
        out_.push_back('{');
        if (windowed) {
          out_ += "\"window_start\":\"";
          append_rfc3339_ms(out_, start);
          out_ += "\",\"window_end\":\"";
          append_rfc3339_ms(out_, start + window_ms_);
          out_ += "\",";
        }
        if (!flags_.by.empty()) {
          append_json_string(out_, flags_.by);
          out_.push_back(':');
          append_json_string(out_, g->first);
          out_.push_back(',');
        }
        out_ += "\"field\":";
        append_json_string(out_, flags_.field);
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
          r.push_back(format_rfc3339_ms(start + window_ms_));
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
  int64_t window_ms_ = 0;
  int64_t lateness_ms_ = 0;
  int64_t every_ms_ = 0;
  int64_t max_time_ = kMinTime;
  int64_t closed_before_ = kMinTime;  // windows starting before this are closed
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
};

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
      if (f.lambda > 0) o.h = f.lambda;
      cusum_.emplace(o);
    }
  }
  // The detection this value raised, if any.
  const DriftEvent* update(double x) {
    if (adwin_) return adwin_->update(x) ? &*adwin_->last_detection() : nullptr;
    if (ph_) return ph_->update(x) ? &*ph_->last_detection() : nullptr;
    return cusum_->update(x) ? &*cusum_->last_detection() : nullptr;
  }

 private:
  std::optional<Adwin> adwin_;
  std::optional<PageHinkley> ph_;
  std::optional<Cusum> cusum_;
};

int run_drift(const DriftFlags& f) {
  const CommonFlags& c = f.common;
  const std::vector<std::string> names{c.field, c.by};
  FieldExtractor extractor(input_format_of(c.input_format), names);
  const OutputFormat output = output_format_of(c.output_format);
  absl::flat_hash_map<std::string, std::unique_ptr<DriftDetector>> detectors;
  SkipCounts skips;
  std::string out;
  bool header_done = false;
  uint64_t line_index = 0;
  auto on_line = [&](const char* line, size_t len, size_t cap) {
    size_t missing = 0;
    switch (extractor.extract(line, len, cap, &missing)) {
      case ExtractOutcome::kHeader: return;
      case ExtractOutcome::kMalformed: ++skips.malformed; return;
      case ExtractOutcome::kMissing: ++skips.missing[missing]; return;
      case ExtractOutcome::kOk: break;
    }
    ++line_index;
    double x;
    if (!parse_number(extractor.value(kValueSlot), &x)) {
      ++skips.non_numeric;
      return;
    }
    const std::string_view group = c.by.empty() ? std::string_view() : extractor.value(kGroupSlot);
    auto it = detectors.find(av(group));
    if (it == detectors.end()) {
      it = detectors.emplace(std::string(group), std::make_unique<DriftDetector>(f)).first;
    }
    const DriftEvent* e = it->second->update(x);
    if (e == nullptr) return;
    if (output == OutputFormat::kJson) {
      out.push_back('{');
      if (!c.by.empty()) {
        append_json_string(out, c.by);
        out.push_back(':');
        append_json_string(out, group);
        out.push_back(',');
      }
      out += "\"field\":";
      append_json_string(out, c.field);
      fmt::format_to(std::back_inserter(out), ",\"index\":{},\"event\":{},\"statistic\":", e->index,
                     line_index);
      append_json_number(out, e->statistic);
      out += ",\"mean_before\":";
      append_json_number(out, e->mean_before);
      out += ",\"mean_after\":";
      append_json_number(out, e->mean_after);
      fmt::format_to(std::back_inserter(out), ",\"direction\":\"{}\",\"method\":\"{}\"}}\n",
                     drift_direction_name(e->direction), e->method);
    } else {
      const char sep = output == OutputFormat::kCsv ? ',' : '\t';
      if (!header_done) {
        header_done = true;
        if (!c.by.empty()) fmt::format_to(std::back_inserter(out), "{}{}", c.by, sep);
        fmt::format_to(std::back_inserter(out), "index{0}event{0}statistic{0}mean_before{0}mean_after{0}direction{0}method\n", sep);
      }
      if (!c.by.empty()) {
        if (output == OutputFormat::kCsv) {
          append_csv_field(out, group, ',');
        } else {
          out += group;
        }
        out.push_back(sep);
      }
      const bool human = output == OutputFormat::kText;
      fmt::format_to(std::back_inserter(out), "{1}{0}{2}{0}{3}{0}{4}{0}{5}{0}{6}{0}{7}\n", sep,
                     e->index, line_index, num_text(e->statistic, human),
                     num_text(e->mean_before, human), num_text(e->mean_after, human),
                     drift_direction_name(e->direction), e->method);
    }
    flush_out(out);
  };
  const int rc = read_inputs("drift", c.inputs, on_line, 0, [] {});
  flush_out(out);
  report_skips("drift", names, skips);
  return rc;
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
  add_common_flags(cmd, *flags, false, true);
  cmd->add_option("-q,--quantiles", *qs, "Quantiles to estimate")->capture_default_str();
  return [flags, qs] {
    try {
      StatsConfig config{parse_quantiles(*qs)};
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
      "drift", "Detect changes in the mean of a numeric field (one line per detection)");
  auto flags = std::make_shared<DriftFlags>();
  add_common_flags(cmd, flags->common, false, false);
  cmd->add_option("--method", flags->method, "adwin, page_hinkley or cusum")
      ->capture_default_str()
      ->check(CLI::IsMember({"adwin", "page_hinkley", "cusum"}));
  cmd->add_option("--delta", flags->delta, "adwin: confidence; page_hinkley: tolerated change");
  cmd->add_option("--lambda", flags->lambda, "page_hinkley: threshold; cusum: h (sigmas)");
  return [flags] {
    try {
      return run_drift(*flags);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "spate drift: {}\n", e.what());
      return kExitUsage;
    }
  };
}

}  // namespace spate::cli
