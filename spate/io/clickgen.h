#pragma once
// ClickGenerator: a synthetic but realistic clickstream, one JSON object per line, for demos,
// benchmarks and statistical tests of the analytics (top-k, trending, drift, cardinality).
//
// A line (fields always in this order; ≈148 bytes on average; ASCII, nothing to escape):
//   {"ts":1767225600123,"user":"u00042137","page":"/product/books/compact-4821","type":"view",
//    "latency_ms":118.4,"country":"US","ip":"81.23.190.7"}
//
// What the fields follow:
//   ts          epoch milliseconds. The base time of event i is start_ms + i * 1000 / rate
//               (rate = events_per_second_of_event_time), or the caller's clock with next_at().
//               About 8% of events arrive late: ts = base − d with d exponential (mean 150 ms)
//               capped at kMaxJitterMs. GUARANTEE: every ts is ≥ (the largest ts emitted before
//               it) − kMaxJitterMs, and ≥ the first base time (start_ms); so a pipeline with
//               max_out_of_order ≥ 1s sees no late event. Pipelines use 2s.
//   user        "u" + 8 digits; `users` distinct users (default 100k) with skewed activity:
//               Zipf with exponent kUserZipfS over the users in a seeded random order.
//   page        one of `pages` paths (default 10k): "/product/<category>/<word>-<n>",
//               "/blog/<slug>-<n>", "/help/<slug>-<n>", "/category/<category>/<word>-<n>" and a
//               few like "/cart". Popularity is Zipf with exponent kPageZipfS over popularity
//               ranks; a seeded permutation maps rank → page. At event index shift_at the
//               permutation changes (interest shift): the kShiftDisjointTop most popular pages
//               after the shift are none of the kShiftDisjointTop most popular before, so
//               trending and drift detectors have a real change to find.
//   type        "view" 90%, "click" 8%, "purchase" 2% (independent of everything else).
//   latency_ms  log-normal mixture: 97% median ≈118 ms (σ 0.45), 3% slow tail median 900 ms
//               (σ 0.7); overall median ≈120 ms; clamped to [1, 60000]; exactly one decimal.
//   country     ISO 3166-1 alpha-2, stable per user, drawn from a weighted list of ≈30
//               countries (US ≈28% of users).
//   ip          dotted IPv4, stable per user (public-looking first octet).
//
// Determinism: everything (catalogue, users, mappings, the event sequence) derives from `seed`;
// the same options and the same sequence of calls give byte-identical output on the same
// platform and build (the latency and jitter use libm's log/exp/cos).
// Cost: no allocation per line once the caller's string has capacity; ≥ 2M lines/s per core.
// Thread-safety: not thread-safe; one generator per thread (they are independent objects).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spate {

struct ClickGeneratorOptions {
  // 2026-01-01T00:00:00Z.
  static constexpr int64_t kDefaultStartMs = 1767225600000;
  // Default shift point when count is 0 (unbounded).
  static constexpr uint64_t kUnboundedShiftAt = 500'000;

  uint64_t count = 1'000'000;  // planned number of events; 0 = unbounded (see done())
  uint64_t seed = 1;
  int64_t start_ms = kDefaultStartMs;               // base time of event 0 for next()
  double events_per_second_of_event_time = 1000.0;  // > 0
  // Event index at which the interest shift happens; default count / 2 (kUnboundedShiftAt when
  // count == 0). A value ≥ count means no shift within the planned events.
  std::optional<uint64_t> shift_at;
  uint32_t users = 100'000;  // 1 .. 10'000'000
  uint32_t pages = 10'000;   // 1 .. 10'000'000
};

class ClickGenerator {
 public:
  static constexpr int64_t kMaxJitterMs = 1000;
  static constexpr double kPageZipfS = 1.1;
  static constexpr double kUserZipfS = 0.8;
  static constexpr size_t kShiftDisjointTop = 100;
  static constexpr size_t kMaxLineBytes = 256;

  // Throws std::invalid_argument on bad options (zero users or pages, non-positive rate).
  explicit ClickGenerator(const ClickGeneratorOptions& options);
  ClickGenerator(const ClickGenerator&) = delete;
  ClickGenerator& operator=(const ClickGenerator&) = delete;

  // Appends the next event as one JSON line INCLUDING its trailing '\n' to *line (nothing is
  // cleared, so many lines can be appended to one buffer). Base time from the event-time
  // schedule: start_ms + index * 1000 / rate.
  void next(std::string* line);
  // Same, with the base time given by the caller (e.g. the wall clock). A base smaller than a
  // previous one is raised to it, so the jitter guarantee holds for any clock.
  void next_at(std::string* line, int64_t base_ms);

  // Number of events emitted so far (= index of the next event).
  uint64_t emitted() const { return emitted_; }
  // True when count > 0 and count events have been emitted (next() still works after).
  bool done() const { return options_.count != 0 && emitted_ >= options_.count; }
  uint64_t shift_at() const { return shift_at_; }
  bool shifted() const { return emitted_ >= shift_at_; }
  const ClickGeneratorOptions& options() const { return options_; }

  // For tests and examples.
  uint32_t page_count() const { return static_cast<uint32_t>(page_offsets_.size() - 1); }
  uint32_t user_count() const { return static_cast<uint32_t>(users_.size()); }
  std::string_view page_path(uint32_t page) const;
  // Theoretical probability of the page at popularity rank `rank` (0 = most popular).
  double rank_share(uint32_t rank) const { return page_share_[rank]; }
  // The k most popular pages (paths, most popular first) before / after the shift.
  std::vector<std::string_view> top_pages_before(size_t k) const;
  std::vector<std::string_view> top_pages_after(size_t k) const;

 private:
  // Walker/Vose alias table over n outcomes: O(1) sampling from one 64-bit random number.
  struct AliasTable {
    std::vector<uint32_t> threshold;  // accept column i when low 32 bits < threshold[i]
    std::vector<uint32_t> alias;
    void build(const std::vector<double>& weights);
    uint32_t sample(uint64_t r) const {
      const uint32_t col =
          static_cast<uint32_t>(((r >> 32) * static_cast<uint64_t>(threshold.size())) >> 32);
      return static_cast<uint32_t>(r) < threshold[col] ? col : alias[col];
    }
  };
  struct User {
    char name[10];  // "u" + 8 digits (not NUL-terminated)
    uint8_t name_len;
    uint8_t ip_len;
    uint8_t country;
    char ip[16];
  };

  uint64_t next_random();
  double next_normal();
  void build_catalogue();
  void build_users();
  void build_mappings();
  std::vector<std::string_view> top_pages(const std::vector<uint32_t>& rank_to_page,
                                          size_t k) const;

  ClickGeneratorOptions options_;
  uint64_t shift_at_ = 0;
  uint64_t rng_state_ = 0;
  double ms_per_event_ = 1.0;
  uint64_t emitted_ = 0;
  int64_t first_base_ms_ = 0;
  int64_t max_base_ms_ = 0;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;

  AliasTable user_table_;  // activity rank → user index (users_ is in activity-rank order)
  AliasTable page_table_;  // popularity rank
  std::vector<double> page_share_;
  std::vector<User> users_;
  std::string page_blob_;               // all paths back to back
  std::vector<uint32_t> page_offsets_;  // page i is [offsets[i], offsets[i+1]) of page_blob_
  std::vector<uint32_t> rank_to_page_before_;
  std::vector<uint32_t> rank_to_page_after_;
};

}  // namespace spate
