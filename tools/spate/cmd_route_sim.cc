// `spate route-sim`: the balance a grouping gives N workers on a key distribution, simulated
// with the engine's own KeyHasher and Router (spate/runtime/route_sim.h). Prints per-worker
// totals only: never a seed, a hash or where a key went.

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "spate/runtime/route_sim.h"
#include "tools/spate/command.h"

namespace spate::cli {
namespace {

struct RouteSimFlags {
  std::string workers;
  std::string events = "1000000";
  std::string keys;
  std::string grouping = "key";
  std::string seed;
  std::string sources = "1";
  double hot_share = 0;
  bool hot_keys = false;
  bool json = false;
  const CLI::Option* events_option = nullptr;
  const CLI::Option* seed_option = nullptr;
};

// A non-negative integer written as digits or as an exact power-of-ten form such as 1e9.
bool parse_count(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  }
  if (s.find_first_of("eE") == std::string_view::npos || s.front() == '-') return false;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !(v >= 0) || v > 0x1p53 ||
      v != std::floor(v)) {
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

int usage(std::string_view message) {
  fmt::print(stderr, "spate route-sim: {}\n", message);
  return kExitUsage;
}

int run_route_sim_command(const RouteSimFlags& f) {
  RouteSimOptions o;
  uint64_t v = 0;
  if (!parse_count(f.workers, &v) || v < 1 || v > kMaxSimWorkers) {
    return usage(fmt::format("--workers must be an integer in [1, {}], got '{}'", kMaxSimWorkers,
                             f.workers));
  }
  o.workers = static_cast<uint32_t>(v);
  if (!parse_count(f.sources, &v) || v < 1 || v > kMaxSimSources) {
    return usage(fmt::format("--sources must be an integer in [1, {}], got '{}'", kMaxSimSources,
                             f.sources));
  }
  o.sources = static_cast<uint32_t>(v);
  auto keys = parse_sim_keys(f.keys);
  if (!keys) return usage(keys.status().message());
  o.keys = *keys;
  const bool file = o.keys.kind == SimKeys::Kind::kFile;
  if (!file || f.events_option->count() > 0) {
    if (!parse_count(f.events, &o.events) || (!file && o.events < 1)) {
      return usage(fmt::format("--events must be a positive integer (e.g. 1000000 or 1e9), got '{}'",
                               f.events));
    }
  }
  auto grouping = parse_sim_grouping(f.grouping, f.hot_keys);
  if (!grouping) return usage(grouping.status().message());
  o.grouping = *grouping;
  o.grouping_text = f.grouping;
  if (!(f.hot_share >= 0 && f.hot_share <= 1)) {
    return usage(fmt::format("--hot-share must be in [0, 1], got {}", f.hot_share));
  }
  o.grouping.hot_share = f.hot_share;
  if (f.seed_option->count() > 0) {
    uint64_t seed = 0;
    if (!parse_count(f.seed, &seed)) {
      return usage(fmt::format("--seed must be a non-negative integer, got '{}'", f.seed));
    }
    o.seed = seed;
  }
  auto report = run_route_sim(o);
  if (!report) {
    fmt::print(stderr, "spate route-sim: {}\n", report.status().message());
    return report.status().code() == StatusCode::kIoError ? kExitFailure : kExitUsage;
  }
  const std::string out =
      f.json ? format_route_sim_json(o, *report) : format_route_sim_text(o, *report);
  fmt::print("{}", out);
  return kExitOk;
}

}  // namespace

Runner add_route_sim_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "route-sim",
      "Simulate how a grouping balances keys over workers (the engine's own hash and router)");
  auto flags = std::make_shared<RouteSimFlags>();
  cmd->add_option("--workers", flags->workers, "number of workers N, 1..65536")
      ->type_name("N")
      ->required();
  flags->events_option =
      cmd->add_option("--events", flags->events,
                      "events M to draw (default 1000000; 1e9 accepted). With file:PATH the file's "
                      "lines are the events: omit it, or give exactly their number")
          ->type_name("M");
  cmd->add_option("--keys", flags->keys,
                  "key distribution: uniform:K, zipf:S:K (share of the i-th key ~ i^-S) or "
                  "file:PATH (one key per line, routed once per line, blank lines skipped)")
      ->type_name("SPEC")
      ->required();
  cmd->add_option("--grouping", flags->grouping,
                  "key, partial_key, hot (key grouping with hot keys spread) or shuffle; "
                  "partial_key runs without hot keys unless --hot-keys is given")
      ->type_name("NAME")
      ->capture_default_str();
  cmd->add_flag("--hot-keys", flags->hot_keys, "spread hot keys (partial_key, key)");
  cmd->add_option("--hot-share", flags->hot_share,
                  "share of recent traffic above which a key is hot (default 0: 1/(5N))")
      ->type_name("P");
  flags->seed_option = cmd->add_option(
      "--seed", flags->seed,
      "reproducible run (test seed; unsafe for production). Without it the seed is random and "
      "never printed")
      ->type_name("S");
  cmd->add_option("--sources", flags->sources, "sending routers P (event j goes to j mod P)")
      ->type_name("P")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "one JSON object, with per-worker loads");
  return [flags] { return run_route_sim_command(*flags); };
}

}  // namespace spate::cli
