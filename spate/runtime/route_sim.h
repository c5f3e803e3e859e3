#pragma once
// Route simulation: the load that a grouping puts on N workers for a stream of keys, computed
// with the exact classes the engine routes with (the KeyHasher of runtime/router.h applied to
// Value::string(key text), then a Router per source) and simulated load in place of queues: a
// worker's load is the number of records routed to it, and shuffle is given those loads.
// Used by `spate route-sim` and by route_sim_test.cc.
//
// Keys: "uniform:K" (keys k0..k{K-1}, equal shares), "zipf:S:K" (key k{i-1} with share
// proportional to i^-S), "file:PATH" (the file's lines, in order, each once per occurrence).
// Generated streams draw M events with xoshiro256** (Vose's alias table for Zipf: O(1) per
// draw). Event j is routed by source j mod P.
// Memory: O(N + K) (one precomputed hash, one count and one alias entry per key); a file's
// distinct keys are kept once each for the hottest-key share.
//
// Expectations reported (docs/guarantees.md, "Measured balance"):
//   M' = M^2 / sum_k c_k^2, c_k the events of key k: the number of equal, independently placed
//      units with the same load variance under one-worker-per-key random placement. K equal
//      keys give M' ~ K M / (K + M): K when K << M (keys are the units), M when K >> M.
//   ideal max/mean ~ 1 + sqrt(2 N ln N / M'): the Gaussian approximation of the largest of N
//      loads under ideal random hashing, valid when M' / N >> ln N (fewer units per worker:
//      it underestimates).
//   floor N p1: a single-worker grouping (key) puts the hottest key's c_1 = p1 M events on one
//      worker, so max/mean >= N p1 whatever the hash.
// A seed makes the run reproducible (tests, docs); without one it is random and never shown.
// Thread-safety: run_route_sim is reentrant (no shared state).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/status.h"
#include "spate/runtime/grouping.h"

namespace spate {

inline constexpr uint32_t kMaxSimWorkers = 65536;
inline constexpr uint64_t kMaxSimKeys = 10'000'000;
inline constexpr uint32_t kMaxSimSources = 1024;

struct SimKeys {
  enum class Kind { kUniform, kZipf, kFile };
  Kind kind = Kind::kUniform;
  uint64_t keys = 0;    // K (uniform, zipf)
  double exponent = 0;  // S (zipf)
  std::string path;     // file
  std::string text;     // as given, for the report
};

// "uniform:K", "zipf:S:K" (S finite, >= 0), "file:PATH"; 1 <= K <= kMaxSimKeys.
Result<SimKeys> parse_sim_keys(std::string_view text);

// The simulator's grouping names: "key", "partial_key", "hot" (key with hot keys) and
// "shuffle". hot_keys adds hot keys to partial_key (they are off there unless asked for).
Result<GroupingSpec> parse_sim_grouping(std::string_view name, bool hot_keys);

struct RouteSimOptions {
  uint32_t workers = 0;   // N, 1..kMaxSimWorkers
  uint64_t events = 0;    // M; file keys: 0 routes every line, otherwise it must equal the
                          // number of non-empty lines
  SimKeys keys;
  GroupingSpec grouping;  // kKey, kPartialKey or kShuffle
  std::string grouping_text = "key";
  std::optional<uint64_t> seed;  // none: random (random_seed(), make_default_key_hasher())
  uint32_t sources = 1;          // P sending routers
};

struct RouteSimReport {
  std::vector<uint64_t> loads;  // records per worker
  uint64_t events = 0;          // M
  uint64_t distinct_keys = 0;   // keys with at least one event
  uint64_t max_load = 0;
  double mean_load = 0;
  uint64_t p99_load = 0;          // nearest-rank 99th percentile of the per-worker loads
  double max_over_mean = 0;
  double p99_over_mean = 0;
  double p1 = 0;                  // hottest key's share of the events
  double effective_units = 0;     // M'
  double ideal_max_over_mean = 0; // 1 + sqrt(2 N ln N / M')
  double floor_max_over_mean = 0; // N p1
};

// Errors (kInvalidArgument: a usage error; kNotFound/kIoError: the key file): bad sizes, an
// unreadable file, --events not matching a file.
Result<RouteSimReport> run_route_sim(const RouteSimOptions& options);

// Human-readable report, and one JSON object (fields of docs/guarantees.md, "Measured
// balance"). Neither contains a seed, a hash or a key's placement; per-worker totals only.
std::string format_route_sim_text(const RouteSimOptions& options, const RouteSimReport& report);
std::string format_route_sim_json(const RouteSimOptions& options, const RouteSimReport& report);

}  // namespace spate
