#include "spate/runtime/grouping.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "spate/hash/mix.h"
#include "spate/runtime/router.h"

namespace spate {

namespace {

constexpr std::string_view kChoicesLabel = "spate.runtime.router.choices.v1";
constexpr uint64_t kEpochsPerCapacity = 8;  // E = 8 m
constexpr uint64_t kSpreadFactor = 8;       // a hot key of share p gets d = ceil(8 p N)

// floor(x n / 2^32) for a 32-bit x: the multiply-high reduction of one half of a hash.
inline uint32_t reduce32(uint64_t x32, uint64_t n) { return static_cast<uint32_t>((x32 * n) >> 32); }

// Candidate i >= 1 of a hot key: the splitmix64 finalizer (Steele, Lea & Flood 2014) of h + i
// times the golden ratio, reduced. h is a PRF output, so the candidates are pseudorandom to
// anyone without the seed; the finalizer is a bijection, so distinct i give unrelated words.
inline uint64_t mix(uint64_t h, uint64_t i) { return mix64(h + i * kGoldenGamma); }

}  // namespace

const char* grouping_name(GroupingKind k) {
  switch (k) {
    case GroupingKind::kKey: return "key";
    case GroupingKind::kPartialKey: return "partial_key";
    case GroupingKind::kShuffle: return "shuffle";
    case GroupingKind::kBroadcast: return "broadcast";
    case GroupingKind::kGlobal: return "global";
  }
  return "key";
}

std::optional<GroupingKind> parse_grouping(std::string_view s) {
  for (GroupingKind k : {GroupingKind::kKey, GroupingKind::kPartialKey, GroupingKind::kShuffle,
                         GroupingKind::kBroadcast, GroupingKind::kGlobal}) {
    if (s == grouping_name(k)) return k;
  }
  return std::nullopt;
}

Router::Router(const GroupingSpec& spec, uint32_t workers, const Seed128& seed, uint32_t sender)
    : kind_(spec.kind),
      hot_keys_(spec.hot_keys && workers > 1 &&
                (spec.kind == GroupingKind::kKey || spec.kind == GroupingKind::kPartialKey)),
      workers_(workers),
      sent_(workers, 0) {
  if (workers == 0) throw std::invalid_argument("grouping: the number of workers must be >= 1");
  if (!(spec.hot_share >= 0 && spec.hot_share <= 1)) {
    throw std::invalid_argument("grouping: hot_share must be in [0, 1] (0: 1/(5N))");
  }
  KeyStream stream(derive_seed(seed, kChoicesLabel, sender), kChoicesLabel);
  Xoshiro256::State state;
  for (uint64_t& w : state) w = stream.next();
  if (!rng_.set_state(state)) rng_.reseed(stream.next());  // all-zero: probability 2^-256
  if (hot_keys_) {
    const double theta = spec.hot_share > 0 ? spec.hot_share : 1.0 / (5.0 * workers);
    const double want = std::ceil(2.0 / theta);
    const uint32_t m = want >= SpaceSavingU64::kMaxCapacity
                           ? SpaceSavingU64::kMaxCapacity
                           : std::max<uint32_t>(1, static_cast<uint32_t>(want));
    epoch_len_ = kEpochsPerCapacity * m;
    // ceil(theta E), forgiving the rounding of theta (1/(5N) * 80N must give 16, not 17).
    const double threshold = theta * static_cast<double>(epoch_len_);
    hot_count_ = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(threshold * (1 - 1e-12))));
    current_ = SpaceSavingU64(m);
    previous_ = SpaceSavingU64(m);
  }
}

bool Router::splits_keys() const {
  switch (kind_) {
    case GroupingKind::kPartialKey:
    case GroupingKind::kShuffle: return true;
    case GroupingKind::kKey: return hot_keys_;
    case GroupingKind::kBroadcast:
    case GroupingKind::kGlobal: return false;
  }
  return false;
}

bool Router::is_hot(uint64_t h, uint64_t* count) {
  if (epoch_seen_ == epoch_len_) {
    std::swap(current_, previous_);
    current_.clear();
    epoch_seen_ = 0;
  }
  ++epoch_seen_;
  current_.add(h);
  // An item not monitored gets min_count() <= E/m = theta E / 2 < hot_count_: never hot.
  *count = std::max(current_.estimate(h).count, previous_.estimate(h).count);
  return *count >= hot_count_;
}

uint32_t Router::route_hot(uint64_t h, uint64_t count, uint32_t primary) {
  const uint64_t n = workers_;
  const uint64_t r = rng_.next();
  // d = ceil(8 p N) >= N exactly when 8 count N >= N E: all workers, no division needed.
  if (count * kSpreadFactor >= epoch_len_) {
    return less_sent(reduce32(r >> 32, n), reduce32(r & 0xFFFFFFFFu, n));
  }
  // p = count / E; count <= 2^23 and n < 2^32: no overflow.
  const uint64_t d =
      std::max<uint64_t>(2, (kSpreadFactor * count * n + epoch_len_ - 1) / epoch_len_);
  const uint64_t i = reduce32(r >> 32, d);
  const uint64_t j = reduce32(r & 0xFFFFFFFFu, d);
  const uint32_t a = i == 0 ? primary : owner_of(mix(h, i), workers_);
  const uint32_t b = j == 0 ? primary : owner_of(mix(h, j), workers_);
  return less_sent(a, b);
}

uint32_t Router::route_key(uint64_t h) {
  uint64_t count = 0;
  switch (kind_) {
    case GroupingKind::kKey: {
      const uint32_t owner = owner_of(h, workers_);
      if (hot_keys_ && is_hot(h, &count)) return take(route_hot(h, count, owner));
      return take(owner);
    }
    case GroupingKind::kPartialKey: {
      // Two candidates from the two 32-bit halves of h. h is a PRF output, indistinguishable
      // from 64 uniform bits, whose halves are independent and uniform; multiply-high maps each
      // to a worker with |Pr - 1/N| < 2^-32 (relative bias < N / 2^32). So the candidates are
      // two independent near-uniform choices, as the analysis of partial key grouping assumes.
      const uint32_t a = reduce32(h >> 32, workers_);
      const uint32_t b = reduce32(h & 0xFFFFFFFFu, workers_);
      if (hot_keys_ && is_hot(h, &count)) return take(route_hot(h, count, a));
      return take(less_sent(a, b));
    }
    case GroupingKind::kShuffle: return route_shuffle(sent_);
    case GroupingKind::kBroadcast:
    case GroupingKind::kGlobal: return take(0);
  }
  return take(0);
}

uint32_t Router::route_shuffle(std::span<const uint64_t> load) {
  const uint64_t n = workers_;
  if (n == 1) return take(0);
  // Two distinct workers from one draw: a uniform in [0, n), b uniform among the others (bias
  // below n / 2^32 relative, as for every multiply-high reduction of 32 bits).
  const uint64_t r = rng_.next();
  const uint32_t a = reduce32(r >> 32, n);
  uint32_t b = reduce32(r & 0xFFFFFFFFu, n - 1);
  if (b >= a) ++b;
  if (load[a] != load[b]) return take(load[a] < load[b] ? a : b);
  return take(less_sent(a, b));
}

}  // namespace spate
