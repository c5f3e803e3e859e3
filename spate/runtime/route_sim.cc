#include "spate/runtime/route_sim.h"

#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <memory>
#include <utility>

#include "spate/analytics/prng.h"
#include "spate/core/value.h"
#include "spate/hash/seed.h"
#include "spate/runtime/router.h"

namespace spate {

namespace {

constexpr std::string_view kEventsLabel = "spate.runtime.route-sim.events.v1";

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool parse_double(std::string_view s, double* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(*out);
}

Status key_count(std::string_view s, std::string_view what, uint64_t* k) {
  if (!parse_u64(s, k) || *k < 1 || *k > kMaxSimKeys) {
    return Status::invalid(fmt::format("--keys {}: the number of keys must be an integer in [1, {}], got '{}'",
                                       what, kMaxSimKeys, s));
  }
  return Status::ok();
}

// Vose's alias method ("A linear algorithm for generating random numbers with a given
// distribution", IEEE TSE 1991): column i keeps itself with probability keep[i] / 2^32 and
// otherwise gives alias[i]. One 64-bit draw per sample: the high half picks the column, the low
// half is the coin. Rounding each column's split to 2^-32 moves a key's probability by at most
// 2^-32 / K.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights) {
    const size_t k = weights.size();
    keep_.assign(k, uint64_t{1} << 32);
    alias_.resize(k);
    for (size_t i = 0; i < k; ++i) alias_[i] = static_cast<uint32_t>(i);
    double total = 0;
    for (double w : weights) total += w;
    std::vector<double> scaled(k);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < k; ++i) {
      scaled[i] = weights[i] * static_cast<double>(k) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back();
      small.pop_back();
      const uint32_t l = large.back();
      keep_[s] = static_cast<uint64_t>(std::llround(scaled[s] * 0x1p32));
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Leftovers (either list) are columns of probability 1 up to rounding: keep them whole.
  }

  uint32_t sample(uint64_t r) const {
    const auto i = static_cast<uint32_t>(((r >> 32) * keep_.size()) >> 32);
    return (r & 0xFFFFFFFFu) < keep_[i] ? i : alias_[i];
  }

 private:
  std::vector<uint64_t> keep_;  // threshold in [0, 2^32]
  std::vector<uint32_t> alias_;
};

// The routers of P sources and the simulated loads they balance on.
class SimRouting {
 public:
  SimRouting(const RouteSimOptions& o, const Seed128& seed)
      : shuffle_(o.grouping.kind == GroupingKind::kShuffle), loads_(o.workers, 0) {
    routers_.reserve(o.sources);
    for (uint32_t s = 0; s < o.sources; ++s) routers_.emplace_back(o.grouping, o.workers, seed, s);
  }

  void route(uint64_t h) {
    Router& r = routers_[next_];
    if (++next_ == routers_.size()) next_ = 0;
    const uint32_t w = shuffle_ ? r.route_shuffle(loads_) : r.route_key(h);
    ++loads_[w];
  }

  std::vector<uint64_t> take_loads() { return std::move(loads_); }

 private:
  bool shuffle_;
  std::vector<Router> routers_;
  size_t next_ = 0;
  std::vector<uint64_t> loads_;
};

// Strips the line end; false for a line that holds no key (empty).
bool key_of_line(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return !line.empty();
}

Status count_lines(const std::string& path, uint64_t* lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(fmt::format("--keys file:{}: cannot open the file", path));
  std::string line;
  *lines = 0;
  while (std::getline(in, line)) {
    if (key_of_line(line)) ++*lines;
  }
  if (in.bad()) return Status::io_error(fmt::format("--keys file:{}: read error", path));
  return Status::ok();
}

void finish_report(const RouteSimOptions& o, std::vector<uint64_t> loads, uint64_t events,
                   uint64_t distinct, uint64_t top_count, long double sum_sq,
                   RouteSimReport* rep) {
  const double n = o.workers;
  rep->loads = std::move(loads);
  rep->events = events;
  rep->distinct_keys = distinct;
  rep->mean_load = static_cast<double>(events) / n;
  rep->max_load = rep->loads.empty() ? 0 : *std::max_element(rep->loads.begin(), rep->loads.end());
  std::vector<uint64_t> sorted = rep->loads;
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest load with at least 99% of the workers at or below it.
  const auto rank = static_cast<size_t>(std::ceil(0.99 * n));
  rep->p99_load = sorted[std::max<size_t>(rank, 1) - 1];
  if (events > 0) {
    rep->max_over_mean = static_cast<double>(rep->max_load) / rep->mean_load;
    rep->p99_over_mean = static_cast<double>(rep->p99_load) / rep->mean_load;
    rep->p1 = static_cast<double>(top_count) / static_cast<double>(events);
    const long double m = events;
    rep->effective_units = static_cast<double>(m * m / sum_sq);
    rep->ideal_max_over_mean = 1.0 + std::sqrt(2.0 * n * std::log(n) / rep->effective_units);
    rep->floor_max_over_mean = n * rep->p1;
  }
}

Result<RouteSimReport> run_generated(const RouteSimOptions& o, const Seed128& seed,
                                     const KeyHasher& hasher) {
  const uint64_t k = o.keys.keys;
  // One hash per key, computed as the engine computes it for a string key.
  std::vector<uint64_t> hashes(k);
  char buf[24] = {'k'};
  for (uint64_t i = 0; i < k; ++i) {
    const auto r = std::to_chars(buf + 1, buf + sizeof buf, i);
    hashes[i] = hasher.hash(Value::string(std::string_view(buf, static_cast<size_t>(r.ptr - buf))));
  }
  std::unique_ptr<AliasTable> alias;
  if (o.keys.kind == SimKeys::Kind::kZipf) {
    std::vector<double> w(k);
    for (uint64_t i = 0; i < k; ++i) w[i] = std::pow(static_cast<double>(i + 1), -o.keys.exponent);
    alias = std::make_unique<AliasTable>(w);
  }
  KeyStream stream(derive_seed(seed, kEventsLabel), kEventsLabel);
  Xoshiro256 rng;
  Xoshiro256::State state;
  for (uint64_t& word : state) word = stream.next();
  if (!rng.set_state(state)) rng.reseed(stream.next());

  std::vector<uint64_t> counts(k, 0);
  SimRouting routing(o, seed);
  for (uint64_t e = 0; e < o.events; ++e) {
    const uint64_t r = rng.next();
    const uint32_t key =
        alias ? alias->sample(r) : static_cast<uint32_t>(((r >> 32) * k) >> 32);
    ++counts[key];
    routing.route(hashes[key]);
  }
  uint64_t distinct = 0, top = 0;
  long double sum_sq = 0;
  for (uint64_t c : counts) {
    distinct += c > 0;
    top = std::max(top, c);
    sum_sq += static_cast<long double>(c) * static_cast<long double>(c);
  }
  RouteSimReport rep;
  finish_report(o, routing.take_loads(), o.events, distinct, top, sum_sq, &rep);
  return rep;
}

Result<RouteSimReport> run_file(const RouteSimOptions& o, const Seed128& seed,
                                const KeyHasher& hasher) {
  const std::string& path = o.keys.path;
  if (o.events != 0) {  // first pass: the count must agree before anything is routed
    uint64_t lines = 0;
    if (Status s = count_lines(path, &lines); !s) return s;
    if (lines != o.events) {
      return Status::invalid(fmt::format(
          "--events {} does not match file:{}, which lists {} keys (omit --events to route them all)",
          o.events, path, lines));
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(fmt::format("--keys file:{}: cannot open the file", path));
  absl::flat_hash_map<std::string, uint64_t> counts;
  SimRouting routing(o, seed);
  std::string line;
  uint64_t events = 0;
  while (std::getline(in, line)) {
    if (!key_of_line(line)) continue;
    routing.route(hasher.hash(Value::string(line)));
    auto it = counts.find(line);
    if (it == counts.end()) {
      counts.emplace(line, 1);
    } else {
      ++it->second;
    }
    ++events;
  }
  if (in.bad()) return Status::io_error(fmt::format("--keys file:{}: read error", path));
  if (events == 0) return Status::invalid(fmt::format("--keys file:{}: the file lists no keys", path));
  uint64_t top = 0;
  long double sum_sq = 0;
  for (const auto& [key, c] : counts) {
    top = std::max(top, c);
    sum_sq += static_cast<long double>(c) * static_cast<long double>(c);
  }
  RouteSimReport rep;
  finish_report(o, routing.take_loads(), events, counts.size(), top, sum_sq, &rep);
  return rep;
}

}  // namespace

Result<SimKeys> parse_sim_keys(std::string_view text) {
  SimKeys keys;
  keys.text = std::string(text);
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "uniform" && colon != std::string_view::npos) {
    keys.kind = SimKeys::Kind::kUniform;
    if (Status s = key_count(rest, "uniform:K", &keys.keys); !s) return s;
    return keys;
  }
  if (kind == "zipf" && colon != std::string_view::npos) {
    keys.kind = SimKeys::Kind::kZipf;
    const size_t second = rest.find(':');
    if (second == std::string_view::npos) {
      return Status::invalid(fmt::format("--keys zipf:S:K: expected an exponent and a key count, got '{}'", text));
    }
    const std::string_view exponent = rest.substr(0, second);
    if (!parse_double(exponent, &keys.exponent) || keys.exponent < 0) {
      return Status::invalid(fmt::format(
          "--keys zipf:S:K: the exponent S must be a finite number >= 0, got '{}'", exponent));
    }
    if (Status s = key_count(rest.substr(second + 1), "zipf:S:K", &keys.keys); !s) return s;
    return keys;
  }
  if (kind == "file" && colon != std::string_view::npos) {
    keys.kind = SimKeys::Kind::kFile;
    if (rest.empty()) return Status::invalid("--keys file:PATH: the path is empty");
    keys.path = std::string(rest);
    return keys;
  }
  return Status::invalid(fmt::format(
      "--keys: expected uniform:K, zipf:S:K or file:PATH, got '{}'", text));
}

Result<GroupingSpec> parse_sim_grouping(std::string_view name, bool hot_keys) {
  GroupingSpec spec;
  if (name == "key") {
    spec.kind = GroupingKind::kKey;
    spec.hot_keys = hot_keys;
  } else if (name == "hot") {
    spec.kind = GroupingKind::kKey;
    spec.hot_keys = true;
  } else if (name == "partial_key") {
    spec.kind = GroupingKind::kPartialKey;
    spec.hot_keys = hot_keys;
  } else if (name == "shuffle") {
    spec.kind = GroupingKind::kShuffle;
  } else {
    return Status::invalid(fmt::format(
        "--grouping: expected key, partial_key, hot or shuffle, got '{}'", name));
  }
  return spec;
}

Result<RouteSimReport> run_route_sim(const RouteSimOptions& o) {
  if (o.workers < 1 || o.workers > kMaxSimWorkers) {
    return Status::invalid(fmt::format("--workers must be in [1, {}], got {}", kMaxSimWorkers, o.workers));
  }
  if (o.sources < 1 || o.sources > kMaxSimSources) {
    return Status::invalid(fmt::format("--sources must be in [1, {}], got {}", kMaxSimSources, o.sources));
  }
  const GroupingKind kind = o.grouping.kind;
  if (kind != GroupingKind::kKey && kind != GroupingKind::kPartialKey &&
      kind != GroupingKind::kShuffle) {
    return Status::invalid("route-sim: only key, partial_key, hot and shuffle are simulated");
  }
  if (!(o.grouping.hot_share >= 0 && o.grouping.hot_share <= 1)) {
    return Status::invalid("--hot-share must be in [0, 1] (0: 1/(5N))");
  }
  const bool file = o.keys.kind == SimKeys::Kind::kFile;
  if (!file && o.events < 1) return Status::invalid("--events must be at least 1");
  // Reproducible with a seed (tests, documentation); otherwise fresh randomness, never shown.
  const Seed128 seed = o.seed ? seed_from_u64(*o.seed) : random_seed();
  const std::unique_ptr<KeyHasher> hasher =
      o.seed ? make_seeded_key_hasher(*o.seed) : make_default_key_hasher();
  return file ? run_file(o, seed, *hasher) : run_generated(o, seed, *hasher);
}

std::string format_route_sim_text(const RouteSimOptions& o, const RouteSimReport& r) {
  std::string out;
  const char* hot = o.grouping.hot_keys && o.grouping.kind != GroupingKind::kShuffle ? " (hot keys on)" : "";
  out += fmt::format("route-sim: {} workers, {} events from {} ({} distinct keys), grouping {}{}, {} source{}\n",
                     o.workers, r.events, o.keys.text, r.distinct_keys, o.grouping_text, hot,
                     o.sources, o.sources == 1 ? "" : "s");
  out += fmt::format("load per worker     max {}  mean {:.1f}  p99 {}\n", r.max_load, r.mean_load,
                     r.p99_load);
  out += fmt::format("max/mean            {:.4f}\n", r.max_over_mean);
  out += fmt::format("p99/mean            {:.4f}\n", r.p99_over_mean);
  out += fmt::format("hottest key share   p1 = {:.6g}\n", r.p1);
  out += fmt::format(
      "expected, ideal random hashing of one worker per key:\n"
      "                    max/mean ~ 1 + sqrt(2 N ln N / M') = {:.4f}, M' = M^2 / sum c_k^2 = {:.6g}{}\n",
      r.ideal_max_over_mean, r.effective_units,
      r.effective_units / o.workers < 4 * std::log(static_cast<double>(o.workers)) + 1
          ? " (few units per worker: an underestimate)"
          : "");
  out += fmt::format("floor, single-worker groupings (key): max/mean >= N p1 = {:.4f}\n",
                     r.floor_max_over_mean);
  return out;
}

std::string format_route_sim_json(const RouteSimOptions& o, const RouteSimReport& r) {
  std::string keys;
  append_json_string(keys, o.keys.text);
  std::string out = fmt::format(
      "{{\"workers\":{},\"events\":{},\"sources\":{},\"keys\":{},\"grouping\":\"{}\","
      "\"hot_keys\":{},\"distinct_keys\":{},\"max_load\":{},\"mean_load\":{},\"p99_load\":{},"
      "\"max_over_mean\":{},\"p99_over_mean\":{},\"p1\":{},\"effective_units\":{},"
      "\"ideal_max_over_mean\":{},\"floor_max_over_mean\":{},\"loads\":[",
      o.workers, r.events, o.sources, keys, o.grouping_text,
      o.grouping.hot_keys && o.grouping.kind != GroupingKind::kShuffle ? "true" : "false",
      r.distinct_keys, r.max_load, r.mean_load, r.p99_load, r.max_over_mean, r.p99_over_mean,
      r.p1, r.effective_units, r.ideal_max_over_mean, r.floor_max_over_mean);
  for (size_t i = 0; i < r.loads.size(); ++i) {
    if (i > 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}", r.loads[i]);
  }
  out += "]}\n";
  return out;
}

}  // namespace spate
