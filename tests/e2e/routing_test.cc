// End-to-end: groupings (key, partial_key, hot keys, shuffle, broadcast, global) through the real
// `spate` binary; every grouping gives the results of plain key grouping; the routing seed, key
// hashes and placements never reach any output; the engine and `spate route-sim` place keys alike.

#include <sys/stat.h>

#include <cinttypes>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "spate/core/value.h"
#include "spate/hash/seed.h"
#include "spate/runtime/router.h"
#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

std::string generate(const TempDir& dir, int count, int seed) {
  RunResult g = run_spate({"gen", "clicks", "--count", std::to_string(count), "--seed",
                           std::to_string(seed)});
  EXPECT_EQ(g.exit_code, 0) << g.err;
  dir.write("clicks.jsonl", g.out);
  return g.out;
}

// A keyed pipeline whose aggregates are order-independent when merged (count, min, max and
// HyperLogLog registers exactly; sums up to floating-point rounding).
std::string keyed_pipeline(const TempDir& dir, const std::string& key_by) {
  return fmt::format(R"(name: groupings
source: {{type: file, path: {}, format: json}}
time: {{field: ts, max_out_of_order: 2s}}
steps:
  - filter: 'type == "view"'
  - key_by: {}
  - window: {{tumbling: 10s}}
  - aggregate: {{n: count(), total: sum(latency_ms), lo: min(latency_ms), hi: max(latency_ms), users: distinct(user)}}
sink: {{type: stdout, format: json}}
dead_letter: {{path: {}}}
)",
                     dir.file("clicks.jsonl"), key_by, dir.file("dead.jsonl"));
}

// The per-worker record counts after the exchange from `spate run --worker-load`.
std::vector<uint64_t> parse_owned(const std::string& err) {
  std::vector<uint64_t> v;
  const size_t p = err.find("after exchange [");
  if (p == std::string::npos) return v;
  const size_t e = err.find(']', p);
  std::string list = err.substr(p + 16, e - p - 16);
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    v.push_back(std::stoull(list.substr(pos, end - pos)));
    pos = end + 1;
  }
  return v;
}

void expect_same_rows(const std::vector<Row>& want, const std::vector<Row>& got,
                      const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].size(), got[i].size()) << what;
    for (const auto& [k, v] : want[i]) {
      const std::string& g = got[i].at(k);
      if (k == "total") {
        const double a = std::stod(v), b = std::stod(g);
        EXPECT_NEAR(a, b, 1e-9 * std::max(1.0, std::fabs(a))) << what << " row " << i;
      } else if (k == "users") {
        // distinct() hashes with a seed drawn at every start, so two runs give two independent
        // HyperLogLog estimates (RSE 1.63% at p = 12): their difference stays within 5 sd of
        // the difference of two independent estimates, sqrt(2) * 1.63%.
        const double a = std::stod(v), b = std::stod(g);
        EXPECT_LE(std::fabs(a - b), 2 + 5 * std::sqrt(2.0) * 0.0163 * a) << what << " row " << i;
      } else {
        EXPECT_EQ(v, g) << what << " row " << i << " field " << k;
      }
    }
  }
}

TEST(Groupings, EveryKeyGroupingGivesTheResultsOfKeyGrouping) {
  TempDir dir;
  generate(dir, 80000, 5);
  dir.write("key.yaml", keyed_pipeline(dir, "page"));
  RunResult base = run_spate({"run", dir.file("key.yaml"), "-w", "4"});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const std::vector<Row> want = parse_rows(base.out);
  ASSERT_GT(want.size(), 100u);
  const std::vector<std::string> variants = {
      "{field: page, grouping: partial_key}",
      "{field: page, grouping: partial_key, hot_keys: false}",
      // A low threshold makes many pages hot, so their windows are spread over every worker.
      "{field: page, grouping: partial_key, hot_share: 0.002}",
      "{field: page, hot_keys: true, hot_share: 0.002}",
  };
  for (size_t v = 0; v < variants.size(); ++v) {
    const std::string name = fmt::format("v{}.yaml", v);
    dir.write(name, keyed_pipeline(dir, variants[v]));
    for (const char* workers : {"1", "4"}) {
      RunResult r = run_spate({"run", dir.file(name), "-w", workers, "--worker-load"});
      ASSERT_EQ(r.exit_code, 0) << variants[v] << "\n" << r.err;
      expect_same_rows(want, parse_rows(r.out), variants[v] + " on " + workers + " workers");
    }
  }
}

TEST(Groupings, PartialKeySpreadsAHotKeyThatKeyGroupingCannot) {
  // One key carries 60% of the events: key grouping puts them all on one worker; partial key
  // grouping with hot keys spreads them (the results stay equal).
  TempDir dir;
  std::string in;
  for (int i = 0; i < 40000; ++i) {
    const std::string key = (i % 5 < 3) ? "hot" : fmt::format("k{}", i % 997);
    in += fmt::format("{{\"ts\": {}, \"k\": \"{}\", \"v\": {}}}\n", 1700000000000LL + i, key, i % 13);
  }
  dir.write("in.jsonl", in);
  auto pipeline = [&](const std::string& key_by) {
    return fmt::format(R"(source: {{type: file, path: {}, format: json}}
time: {{field: ts}}
steps:
  - key_by: {}
  - window: {{tumbling: 1s}}
  - aggregate: {{n: count(), s: sum(v)}}
sink: {{type: stdout, format: json}}
)",
                       dir.file("in.jsonl"), key_by);
  };
  dir.write("key.yaml", pipeline("k"));
  dir.write("pk.yaml", pipeline("{field: k, grouping: partial_key}"));
  RunResult k = run_spate({"run", dir.file("key.yaml"), "-w", "4", "--worker-load"});
  RunResult pk = run_spate({"run", dir.file("pk.yaml"), "-w", "4", "--worker-load"});
  ASSERT_EQ(k.exit_code, 0) << k.err;
  ASSERT_EQ(pk.exit_code, 0) << pk.err;
  expect_same_rows(parse_rows(k.out), parse_rows(pk.out), "partial_key");
  std::vector<uint64_t> lk = parse_owned(k.err), lpk = parse_owned(pk.err);
  ASSERT_EQ(lk.size(), 4u);
  ASSERT_EQ(lpk.size(), 4u);
  const uint64_t max_k = *std::max_element(lk.begin(), lk.end());
  const uint64_t max_pk = *std::max_element(lpk.begin(), lpk.end());
  EXPECT_GE(max_k, 24000u);  // the hot key alone
  EXPECT_LE(max_pk, 40000u / 4 * 13 / 10) << "partial key grouping left a worker overloaded";
}

TEST(Groupings, ShuffleAndGlobalBeforeAGlobalWindowKeepTheResult) {
  TempDir dir;
  generate(dir, 50000, 8);
  auto pipeline = [&](const std::string& step) {
    return fmt::format(R"(source: {{type: file, path: {}, format: json}}
time: {{field: ts, max_out_of_order: 2s}}
steps:
  - filter: 'type != "purchase"'
{}  - window: {{tumbling: 30s}}
  - aggregate: {{n: count(), lo: min(latency_ms), hi: max(latency_ms), users: distinct(user)}}
sink: {{type: stdout, format: json}}
)",
                       dir.file("clicks.jsonl"), step);
  };
  dir.write("none.yaml", pipeline(""));
  dir.write("shuffle.yaml", pipeline("  - shuffle: {}\n"));
  dir.write("global.yaml", pipeline("  - shuffle: {grouping: global}\n"));
  RunResult base = run_spate({"run", dir.file("none.yaml"), "-w", "3"});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  for (const char* f : {"shuffle.yaml", "global.yaml"}) {
    RunResult r = run_spate({"run", dir.file(f), "-w", "3"});
    ASSERT_EQ(r.exit_code, 0) << f << "\n" << r.err;
    expect_same_rows(parse_rows(base.out), parse_rows(r.out), f);
  }
}

TEST(Groupings, BroadcastCopiesEveryRecordToEveryWorker) {
  TempDir dir;
  std::string in;
  for (int i = 0; i < 3000; ++i) in += fmt::format("line {}\n", i);
  dir.write("in.txt", in);
  dir.write("b.yaml", fmt::format(R"(source: {{type: file, path: {}, format: text}}
steps:
  - shuffle: {{grouping: broadcast}}
sink: {{type: stdout, format: text}}
)",
                                  dir.file("in.txt")));
  RunResult r = run_spate({"run", dir.file("b.yaml"), "-w", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> copies;
  for (const auto& l : lines(r.out)) copies[l]++;
  ASSERT_EQ(copies.size(), 3000u);
  for (const auto& [line, c] : copies) ASSERT_EQ(c, 3) << line;
}

TEST(Groupings, ConfigurationErrorsNameTheFieldAndTheFix) {
  TempDir dir;
  auto check = [&](const std::string& yaml) {
    dir.write("p.yaml", yaml);
    return run_spate({"check", dir.file("p.yaml")});
  };
  RunResult r = check("steps:\n  - key_by: {field: page, grouping: partial_keys}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("p.yaml:2:37: steps[0].key_by.grouping:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'partial_key'"), std::string::npos) << r.err;
  r = check("steps:\n  - key_by: {field: page, grouping: broadcast}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("shuffle: {grouping: broadcast}"), std::string::npos) << r.err;
  r = check("steps:\n  - shuffle: {grouping: partial_key}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs a key"), std::string::npos) << r.err;
  r = check("steps:\n  - shuffle: {grouping: broadcast}\n  - window: {tumbling: 1s}\n"
            "  - aggregate: {n: count()}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("once per worker"), std::string::npos) << r.err;
  r = check("routing: {seed: 1, secret_file: /x}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
  r = check("routing: {secret_file: " + dir.file("missing") + "}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("routing"), std::string::npos) << r.err;
}

// Every way a 64-bit secret value could be written in text.
std::vector<std::string> renderings(uint64_t x) {
  return {fmt::format("{}", x), fmt::format("{}", static_cast<int64_t>(x)), fmt::format("{:x}", x),
          fmt::format("{:X}", x), fmt::format("{:016x}", x), fmt::format("{:e}", double(x))};
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

// Greps every output channel of a run (stdout, stderr, the sink file, the dead-letter file) for
// the seed, the secret and each key's hash.
void expect_nothing_leaks(const std::vector<std::string>& channels, const Seed128& seed,
                          const std::vector<std::string>& keys, const std::string& secret) {
  std::vector<std::string> needles;
  const auto bytes = seed.unsafe_bytes();
  uint64_t lo = 0, hi = 0;
  for (int i = 0; i < 8; ++i) lo |= uint64_t(bytes[i]) << (8 * i);
  for (int i = 0; i < 8; ++i) hi |= uint64_t(bytes[8 + i]) << (8 * i);
  for (uint64_t w : {lo, hi}) {
    for (auto& r : renderings(w)) needles.push_back(r);
  }
  needles.push_back(hex_bytes(bytes.data(), bytes.size()));
  needles.push_back(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  auto hasher = make_key_hasher(seed);
  for (const auto& k : keys) {
    for (auto& r : renderings(hasher->hash(Value::string(k)))) needles.push_back(r);
  }
  if (!secret.empty()) {
    needles.push_back(secret);
    needles.push_back(hex_bytes(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()));
  }
  // One pass over each channel (tens of thousands of needles: a find() per needle would scan
  // the output that many times, minutes under TSan): at each position whose first two bytes
  // start some needle, look the substring of every needle length up in a set.
  std::unordered_set<std::string_view> set;
  std::set<size_t> lengths;
  std::vector<uint8_t> starts(1 << 16, 0);
  for (const auto& n : needles) {
    if (n.size() < 6) continue;  // short decimal renderings could match by chance
    set.insert(n);
    lengths.insert(n.size());
    starts[(static_cast<uint8_t>(n[0]) << 8) | static_cast<uint8_t>(n[1])] = 1;
  }
  auto count_in = [&](const std::string& ch) {
    size_t found = 0;
    for (size_t i = 0; i + 1 < ch.size(); ++i) {
      if (!starts[(static_cast<uint8_t>(ch[i]) << 8) | static_cast<uint8_t>(ch[i + 1])]) continue;
      for (size_t len : lengths) {
        if (i + len <= ch.size() && set.count(std::string_view(ch.data() + i, len))) ++found;
      }
    }
    return found;
  };
  // The scan itself must find a key's hash written inside other text.
  const std::string control =
      fmt::format("{{\"k\":\"x{:016x}y\"}}", hasher->hash(Value::string(keys.at(0))));
  EXPECT_GT(count_in(control), 0u) << "the leak scan misses a planted hash";
  for (size_t c = 0; c < channels.size(); ++c) {
    EXPECT_EQ(count_in(channels[c]), 0u) << "output channel " << c << " contains routing key material";
  }
}

TEST(RoutingSecrecy, NoSeedSecretOrKeyHashReachesAnyOutput) {
  TempDir dir;
  std::string data = generate(dir, 20000, 2);
  data += "{not json\n";  // a dead letter, so that channel carries something
  dir.write("clicks.jsonl", data);
  // A secret file (0600), the way a production deployment shares placement.
  std::string secret;
  for (int i = 0; i < 32; ++i) secret.push_back(static_cast<char>('A' + (i * 7) % 26));
  dir.write("secret", secret);
  ASSERT_EQ(::chmod(dir.file("secret").c_str(), 0600), 0);
  auto seed = seed_from_secret_file(dir.file("secret"));
  ASSERT_TRUE(seed.is_ok());
  std::set<std::string> page_set;
  simdjson::dom::parser parser;
  for (const auto& l : lines(data)) {
    simdjson::dom::element e;
    if (parser.parse(l).get(e)) continue;
    page_set.insert(std::string(e["page"].get_string().value()));
  }
  std::vector<std::string> pages(page_set.begin(), page_set.end());
  for (const std::string grouping : {"key", "partial_key"}) {
    std::string p = keyed_pipeline(dir, "{field: page, grouping: " + grouping + "}");
    p += "routing: {secret_file: " + dir.file("secret") + "}\n";
    p.replace(p.find("sink: {type: stdout,"), 20, "sink: {type: file, path: " + dir.file("out.jsonl") + ",");
    dir.write("p.yaml", p);
    RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", "4", "--worker-load"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    RunResult c = run_spate({"check", dir.file("p.yaml")});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_NE(c.out.find("derived from the secret file"), std::string::npos) << c.out;
    const std::string out = read_file(dir.file("out.jsonl"));
    const std::string dead = read_file(dir.file("dead.jsonl"));
    ASSERT_GT(out.size(), 1000u);
    ASSERT_NE(dead.find("bad_json"), std::string::npos);
    expect_nothing_leaks({r.out, r.err, c.out, c.err, out, dead}, *seed, pages, secret);
  }
  // An explicit seed (tests only) is not echoed either.
  std::string p = keyed_pipeline(dir, "page") + "routing: {seed: 8123456789}\n";
  dir.write("s.yaml", p);
  RunResult r = run_spate({"run", dir.file("s.yaml"), "-w", "2"});
  RunResult c = run_spate({"check", dir.file("s.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_nothing_leaks({r.out, r.err, c.out, c.err, read_file(dir.file("dead.jsonl"))},
                       seed_from_u64(8123456789ULL), pages, "8123456789");
}

TEST(RoutingSeeds, DifferentRunsPlaceKeysDifferentlyAndAFixedSeedReproduces) {
  TempDir dir;
  std::string in;
  for (int i = 0; i < 2000; ++i) in += fmt::format("key-{}\n", i);
  dir.write("keys.txt", in);
  auto yaml = [&](const std::string& extra) {
    return fmt::format(R"(source: {{type: file, path: {}, format: text}}
steps:
  - key_by: line
sink: {{type: file, path: {}, format: text}}
{})",
                       dir.file("keys.txt"), dir.file("out.txt"), extra);
  };
  dir.write("random.yaml", yaml(""));
  dir.write("fixed.yaml", yaml("routing: {seed: 42}\n"));
  std::set<std::vector<uint64_t>> random_loads;
  for (int run = 0; run < 3; ++run) {
    RunResult r = run_spate({"run", dir.file("random.yaml"), "-w", "8", "--worker-load"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = parse_owned(r.err);
    ASSERT_EQ(v.size(), 8u) << r.err;
    random_loads.insert(v);
  }
  // 2000 keys on 8 workers: two random placements give the same 8 totals with negligible odds.
  EXPECT_EQ(random_loads.size(), 3u);
  RunResult a = run_spate({"run", dir.file("fixed.yaml"), "-w", "8", "--worker-load"});
  RunResult b = run_spate({"run", dir.file("fixed.yaml"), "-w", "8", "--worker-load"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(parse_owned(a.err), parse_owned(b.err));
}

TEST(RoutingSeeds, EngineAndSimulatorAgreeOnPlacement) {
  TempDir dir;
  std::string in;
  // Skewed: key i is listed (i % 7) + 1 times.
  for (int i = 0; i < 3000; ++i) {
    for (int c = 0; c <= i % 7; ++c) in += fmt::format("user-{}\n", i);
  }
  dir.write("keys.txt", in);
  dir.write("p.yaml", fmt::format(R"(source: {{type: file, path: {}, format: text}}
steps:
  - key_by: line
sink: {{type: file, path: {}, format: text}}
routing: {{seed: 1234}}
)",
                                  dir.file("keys.txt"), dir.file("out.txt")));
  for (const char* workers : {"3", "8"}) {
    RunResult r = run_spate({"run", dir.file("p.yaml"), "-w", workers, "--worker-load"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<uint64_t> engine = parse_owned(r.err);
    RunResult s = run_spate({"route-sim", "--workers", workers, "--keys",
                             "file:" + dir.file("keys.txt"), "--grouping", "key", "--seed", "1234",
                             "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    simdjson::dom::parser parser;
    simdjson::dom::element e = parser.parse(s.out);
    std::vector<uint64_t> sim;
    for (auto x : e["loads"].get_array()) sim.push_back(x.get_uint64().value());
    EXPECT_EQ(engine, sim) << "workers " << workers;
  }
}

}  // namespace
}  // namespace spate::test
