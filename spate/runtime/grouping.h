#pragma once
// Groupings: how a sending worker picks the worker that receives a record (Storm's names).
//
//   key          every record of a key goes to owner_of(h, N): one worker holds the key's state.
//                Balance is that of a random function (docs/guarantees.md, "Groupings"); a key
//                that is a share p of the traffic puts at least p N times the mean on its worker.
//   partial_key  two candidates per key, derived from independent halves of h; each record goes
//                to the candidate this sender has sent fewer records to (Nasir, Morales,
//                Garcia-Soriano, Kourtellis, Serafini, "The power of both choices", ICDE 2015).
//                A key's state lives on at most 2 workers and is merged when a window fires.
//   shuffle      the less loaded of two random workers (power of two choices on queue depth).
//   broadcast    every record to every worker: handled by the caller, not by Router.
//   global       every record to worker 0: handled by the caller, not by Router.
//
// Hot keys (GroupingSpec::hot_keys, on top of key or partial_key): a key whose share of recent
// traffic exceeds hot_share goes to d candidates instead, d growing with its share up to all N
// workers (D-Choices and W-Choices of Nasir, Morales, Kourtellis, Serafini, "When two choices
// are not enough", ICDE 2016). Detection and parameters are in Router below.
// Default for the YAML layer: partial_key turns hot_keys on unless the pipeline disables it;
// key keeps it off (exact single-worker placement) unless the pipeline enables it.
//
// Nothing here logs or returns a key's hash or placement except through route_*() to the
// caller, which must not expose them either (docs/guarantees.md, "Threat model").

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "spate/analytics/prng.h"
#include "spate/analytics/space_saving.h"
#include "spate/hash/seed.h"

namespace spate {

enum class GroupingKind { kKey, kPartialKey, kShuffle, kBroadcast, kGlobal };

// "key", "partial_key", "shuffle", "broadcast", "global".
const char* grouping_name(GroupingKind k);
// The inverse of grouping_name (exact, lower case); nullopt for anything else.
std::optional<GroupingKind> parse_grouping(std::string_view s);

struct GroupingSpec {
  GroupingKind kind = GroupingKind::kKey;
  bool hot_keys = false;  // spread keys above hot_share of recent traffic over many workers
  double hot_share = 0;   // 0 means 1/(5N); otherwise in (0, 1]
};

// Router: the placement decisions of one sending worker.
//
// One Router per sending worker (per-sender load estimates, as in Nasir et al. ICDE 2015): the
// load it balances on is the number of records it sent to each worker itself (sent()), except
// shuffle, which is given the receivers' queue depths. Balancing its own sends balances the
// sum over senders.
//
// Hot-key detection (hot_keys on, kKey or kPartialKey), per router:
//   theta = hot_share (default 1/(5N));  m = min(ceil(2/theta), 2^20) Space-Saving counters;
//   epochs of E = 8m records. Two SpaceSavingU64 over key hashes: the current epoch's and the
//   previous epoch's. A key is hot when its count (an upper bound, Metwally et al. 2005) is at
//   least ceil(theta E) in either, i.e. when its share of the current epoch so far or of the
//   whole previous epoch reaches theta. "Recent" is therefore the last E to 2E records: a key
//   that turns hot is caught within theta E / p of its own records, independent of the epoch
//   boundary, and a key that cools stops being spread within two epochs.
//   Bounds: every key with true share >= theta of an epoch is hot (Space-Saving monitors every
//   item above E/m = theta E / 2); a key is flagged only if its true count is at least
//   theta E - E/m = theta E / 2 (share >= theta / 2). At most 2/theta keys are hot at once.
//   E = 8m keeps the O(m) epoch reset at O(1) amortized per record and makes theta E = 16
//   occurrences, so a key at share theta is not missed by chance (Poisson sd 4).
// Hot key placement: share estimate p = max(count in either epoch) / E, d = ceil(8 p N) clamped
//   to [2, N]: spread evenly, the key puts at most 1/8 of a worker's mean load on each
//   candidate, and every key with p >= 1/8 may use every worker (W-Choices). Candidate sets are
//   random, so the hot keys must cover every worker many times over for the load-aware choice
//   to even out what the pinned keys leave; d = 2pN left the hottest Zipf(1.5) key on ~34 of
//   64 workers and max/mean at 1.27, 8pN gives 1.0000 (docs/guarantees.md, "Groupings").
//   Extra state copies stay below 8N + 2/theta whatever the distribution (sum of d over hot
//   keys). Candidate 0 is the key's usual worker; candidate i >= 1 is reduce(mix(h, i), N).
//   Each record goes to the less loaded (by sent()) of two candidates drawn at random among
//   the d (two choices within the set: O(1) per record, where scanning d would cost O(N) for
//   the hottest keys); when d = N the two are drawn among all N workers.
//
// Cost: route_key O(1) expected (hot keys on: one Space-Saving update and two lookups, plus an
// O(m) reset every E records); route_shuffle O(1). No allocation per record once the
// Space-Saving summaries have seen m distinct keys.
// Thread-safety: not thread-safe; one sending worker owns its Router.
class Router {
 public:
  // seed: the per-process routing seed. Random choices (shuffle, hot keys) come from a
  // xoshiro256** stream keyed by derive_seed(seed, "spate.runtime.router.choices.v1", sender),
  // so every sender draws an independent stream. Throws std::invalid_argument when workers is 0
  // or hot_share is outside [0, 1] (set-up only).
  Router(const GroupingSpec& spec, uint32_t workers, const Seed128& seed, uint32_t sender);

  // kKey and kPartialKey (hot keys included): the worker for a record whose key hashes to h
  // (KeyHasher::hash of the key: a pseudorandom 64-bit value). kKey without hot keys equals
  // owner_of(h, workers()). For kShuffle it routes as route_shuffle(sent()); for kGlobal and
  // kBroadcast it returns 0 (callers handle those kinds themselves).
  uint32_t route_key(uint64_t h);

  // kShuffle: the less loaded of two distinct random workers; load[i] is worker i's queue depth
  // (engine) or simulated load (simulator); ties go to the worker this router sent fewer
  // records to, then to the first draw. REQUIRES: load.size() == workers().
  uint32_t route_shuffle(std::span<const uint64_t> load);

  // True when one key's records may reach several workers (kPartialKey, kShuffle, or kKey with
  // hot keys): keyed window state must then be merged per key when a window fires. False for
  // kBroadcast and kGlobal, where the caller decides.
  bool splits_keys() const;

  // Records this router sent to each worker (every route_* call counts one).
  const std::vector<uint64_t>& sent() const { return sent_; }
  uint32_t workers() const { return workers_; }

 private:
  bool is_hot(uint64_t h, uint64_t* count);
  uint32_t route_hot(uint64_t h, uint64_t count, uint32_t primary);
  uint32_t less_sent(uint32_t a, uint32_t b) const { return sent_[b] < sent_[a] ? b : a; }
  uint32_t take(uint32_t w) {
    ++sent_[w];
    return w;
  }

  GroupingKind kind_;
  bool hot_keys_;
  uint32_t workers_;
  std::vector<uint64_t> sent_;
  Xoshiro256 rng_;
  // Hot-key detection (allocated only when hot keys are on).
  uint64_t hot_count_ = 0;    // ceil(theta E)
  uint64_t epoch_len_ = 0;    // E
  uint64_t epoch_seen_ = 0;   // records in the current epoch
  SpaceSavingU64 current_{1};
  SpaceSavingU64 previous_{1};
};

}  // namespace spate
