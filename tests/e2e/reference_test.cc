// End-to-end against a reference model (issue 5, "Tests"): seeded random out-of-order streams
// (random delays, pauses, exact duplicate lines, events late far beyond max_out_of_order +
// allowed_lateness, blank lines, several inputs of which one is sparse) are run through
// `spate run` for every window kind, both modes and 1 to 4 workers; every window's final result
// must equal what a simple, obviously correct model computes here: exactly for
// count/sum/min/max, within HyperLogLog's bound for distinct().
//
// Which events are late. The docs (pipelines.md, "Watermarks, firing and late events") check
// lateness twice: when an event is parsed, against the largest event time the parsing worker
// has seen from the same input (file), and at the window, against the watermark W the window
// operator has fired up to. The rule is the same in both places, with h the horizon
// (max seen - max_out_of_order, or W):
//   tumbling: end + lateness <= h;   sliding: end of the event's last window + lateness <= h;
//   session: t + lateness < h;       count, global: never late.
// W is at most (largest event time read before the event, over every input, in read order)
// minus max_out_of_order, but it may lag behind that by any amount (scheduling, micro-batches).
//
// The generator makes one worker deterministic: every event is either late by its own file's
// prefix (one worker parses a file's chunks in order, so its parse-time check sees the whole
// prefix) or "safe": none of its windows can be closed by any W up to the bound above (events
// that would be neither are moved to the current time). Then, with 1 worker, the late events
// are exactly the parse-time ones and everything else is aggregated in full; both are checked
// exactly.
//
// With more workers, a file's chunks (in0 and in2 span several 256 KiB chunks) and the files
// themselves are parsed in parallel, so which events are late depends on timing. The test
// checks what holds on every schedule:
//  (a) every `late` dead letter is admissibly late: by its file's prefix when found at parse
//      time (it has a position), by the largest event time read before it when found at the
//      window (position null; identified by its `id` field);
//  (b) nothing stronger: no margin makes an event late on every schedule, because the
//      watermark may lag without bound and a worker may parse a chunk without its file's
//      prefix, so the test asserts no "must be late" set;
//  (c) the results equal the reference computed on exactly the events not dead-lettered. One
//      documented exception: a sliding-window event that is behind the watermark is added only
//      to those of its windows with end + allowed_lateness > W, so a window holding such events
//      must equal the reference over its other events plus some subset of them.
// Count windows with several workers see a key's records in another order, so their windows
// are checked for structure (sizes, totals, min/max), not membership; likewise the running rows
// of the global window.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "spate/common/time.h"
#include "tests/e2e/harness.h"

namespace spate::test {
namespace {

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z, epoch ms
constexpr int64_t kOoo = 1000;          // max_out_of_order
constexpr int64_t kNone = INT64_MIN;

enum class Kind { kTumbling, kSliding, kSession, kCount, kGlobal };

struct Variant {
  const char* name;
  Kind kind;
  int64_t size = 0, slide = 0;  // ms (tumbling, sliding) or records (count)
  int64_t gap = 0;              // session
  int64_t lateness = 0;         // allowed_lateness
  int64_t every_count = 0;      // global
  std::string yaml() const {
    auto ms = [](int64_t v) { return std::to_string(v) + "ms"; };
    std::string late = lateness > 0 ? ", allowed_lateness: " + ms(lateness) : "";
    switch (kind) {
      case Kind::kTumbling: return "{tumbling: " + ms(size) + late + "}";
      case Kind::kSliding:
        return "{sliding: {size: " + ms(size) + ", slide: " + ms(slide) + "}" + late + "}";
      case Kind::kSession: return "{session: {gap: " + ms(gap) + "}" + late + "}";
      case Kind::kCount:
        return "{count: {size: " + std::to_string(size) + ", slide: " + std::to_string(slide) + "}}";
      case Kind::kGlobal: return "{global: {every_count: " + std::to_string(every_count) + "}}";
    }
    return "";
  }
  bool timed() const { return kind == Kind::kTumbling || kind == Kind::kSliding || kind == Kind::kSession; }
};

const Variant kVariants[] = {
    {"tumbling", Kind::kTumbling, 1000, 1000, 0, 0, 0},
    {"tumbling_lateness", Kind::kTumbling, 1000, 1000, 0, 1500, 0},
    {"sliding", Kind::kSliding, 1500, 500, 0, 0, 0},
    {"sliding_lateness", Kind::kSliding, 1000, 300, 0, 1200, 0},
    {"session", Kind::kSession, 0, 0, 250, 0, 0},
    {"session_lateness", Kind::kSession, 0, 0, 250, 1500, 0},
    {"count", Kind::kCount, 5, 5, 0, 0, 0},
    {"count_sliding", Kind::kCount, 6, 4, 0, 0, 0},
    {"global", Kind::kGlobal, 0, 0, 0, 0, 40},
};

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// ---------------------------------------------------------------------------------------------
// The model: windows of an event, lateness.

// Start of every time window holding t (tumbling: one; sliding: size/slide of them).
std::vector<int64_t> window_starts(const Variant& v, int64_t t) {
  std::vector<int64_t> s;
  const int64_t slide = v.kind == Kind::kTumbling ? v.size : v.slide;
  for (int64_t st = floor_div(t, slide) * slide; st + v.size > t; st -= slide) s.push_back(st);
  return s;
}

// Late against horizon h (the docs' rule, see the top of the file).
bool late_at(const Variant& v, int64_t t, int64_t h) {
  if (h == kNone || !v.timed()) return false;
  if (v.kind == Kind::kSession) return t + v.lateness < h;
  const int64_t last_end = window_starts(v, t).front() + v.size;
  return last_end + v.lateness <= h;
}

// No window of t can be closed (for good or for now) by any watermark up to h: t's first window
// ends after h (tumbling and sliding: then the event is added in full wherever it lands), or
// for sessions, t is not behind h by more than the lateness.
bool safe_at(const Variant& v, int64_t t, int64_t h) {
  if (h == kNone || !v.timed()) return true;
  if (v.kind == Kind::kSession) return t + v.lateness >= h;
  const int64_t first_end = window_starts(v, t).back() + v.size;
  return first_end + v.lateness > h;
}

struct Event {
  int64_t t = 0;
  std::string key;
  int64_t v = 0, id = 0;
  int file = 0;
  int64_t pos = 0;             // byte offset of its line in its file
  int64_t file_prefix = kNone;  // largest event time before it in its file (read order)
  int64_t read_prefix = kNone;  // largest event time before it in all files, in read order
  bool late1 = false;          // late with one worker (found at parse time)
  std::string line;            // its line, without the newline
};

struct Stream {
  std::vector<std::string> names;  // file names, in name (= read) order
  std::vector<std::string> files;  // contents
  std::vector<Event> events;       // in read order
  bool one_worker_exact = true;    // built so that one worker's results are deterministic
};

// The usual stream: in0 and in2 hold the bulk (several source chunks each); in1 is sparse (few
// events far apart in time, a key of its own, blank lines); in3 holds a handful of events, then
// ends. Made deterministic for one worker (see the top of the file).
//
// cross_file: ten smaller files, each starting well behind where the one before ended (by more
// than max_out_of_order + allowed_lateness + the window), so that with several workers, whose
// watermark follows whichever files were parsed first, events are also found late at the window.
// Not deterministic with any number of workers.
Stream generate(const Variant& var, uint64_t seed, bool cross_file = false) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const char* keys[] = {"a", "a", "a", "a", "b", "b", "b", "c", "c", "d", "e"};
  const int counts[] = {1100, 40, 1100, 8};
  const int64_t steps[] = {6, 150, 6, 40};
  const int nfiles = cross_file ? 10 : 4;
  Stream s;
  s.one_worker_exact = !cross_file;
  int64_t clock = kT0 + uni(0, 999), read_max = kNone, next_id = 1;
  for (int f = 0; f < nfiles; ++f) {
    s.names.push_back(cross_file ? "in" + std::to_string(10 + f) + ".jsonl" : "in" + std::to_string(f) + ".jsonl");
    if (cross_file && f > 0) clock -= uni(4000, 5000);  // back behind the previous file's end
    const int count = cross_file ? 220 : counts[f];
    const int64_t step = cross_file ? 27 : steps[f];
    std::string text;
    int64_t file_max = kNone;
    int64_t edge_end = kNone;  // see "pusher" below
    std::vector<size_t> file_events;  // indices in s.events
    for (int i = 0; i < count; ++i) {
      clock += uni(0, 2 * step);
      if (chance(0.008)) clock += uni(1500, 4000);  // a pause: windows and sessions with gaps
      if (f == 1 && chance(0.2)) text += chance(0.5) ? "\n" : "  \t\n";
      Event e;
      e.file = f;
      e.pos = static_cast<int64_t>(text.size());
      e.file_prefix = file_max;
      e.read_prefix = read_max;
      bool dup = false;
      size_t dup_of = 0;
      const double r = std::uniform_real_distribution<double>(0, 1)(rng);
      if (r < 0.03 && !file_events.empty()) {
        // An exact duplicate of a recent line of this file.
        const size_t back = std::min<size_t>(file_events.size(), 40);
        dup_of = file_events[file_events.size() - 1 - static_cast<size_t>(uni(0, static_cast<int64_t>(back) - 1))];
        const Event& o = s.events[dup_of];
        e.t = o.t, e.key = o.key, e.v = o.v, e.id = o.id;
        dup = true;
      } else {
        e.key = f == 1 && chance(0.5) ? "z" : keys[uni(0, 10)];
        e.v = uni(-500, 500);
        e.id = next_id++;
        // Time windows: the horizon on a window boundary. A "pusher" moves this file's maximum
        // to E + lateness + max_out_of_order, E the end of a window (tumbling, sliding; for
        // sessions any ms); the next event is exactly on the lateness rule's edge: in the
        // windows ending at E (late: end + lateness == horizon) or just after (not late).
        // Window ends are the multiples of the slide plus the size (sessions: every ms).
        const int64_t grain = var.kind == Kind::kTumbling ? var.size : var.kind == Kind::kSliding ? var.slide : 1;
        const int64_t offset = var.kind == Kind::kSession ? 0 : var.size;
        if (edge_end != kNone) {
          const bool late_side = chance(0.5);
          switch (var.kind) {
            case Kind::kTumbling: e.t = late_side ? edge_end - 1 - uni(0, var.size - 1) : edge_end; break;
            case Kind::kSliding: e.t = edge_end - var.size + (late_side ? uni(0, var.slide - 1) : var.slide); break;
            default: e.t = late_side ? edge_end - 1 : edge_end; break;
          }
          edge_end = kNone;
        } else if (r < 0.06 && file_max != kNone) {
          // Far beyond max_out_of_order + allowed_lateness (and every window size).
          e.t = file_max - kOoo - var.lateness - 3000 - uni(0, 20000);
        } else if (var.timed() && r < 0.08 && file_max != kNone) {
          edge_end = (floor_div(file_max - kOoo - var.lateness - offset, grain) + 1) * grain + offset;
          e.t = edge_end + var.lateness + kOoo;
          clock = std::max(clock, e.t);
        } else if (r < 0.20) {
          e.t = clock - kOoo - uni(1, var.lateness + 1500);  // beyond max_out_of_order
        } else {
          e.t = clock - uni(0, kOoo);
        }
      }
      const int64_t h_file = file_max == kNone ? kNone : file_max - kOoo;
      const int64_t h_read = read_max == kNone ? kNone : read_max - kOoo;
      e.late1 = late_at(var, e.t, h_file);
      if (!cross_file && !e.late1 && !safe_at(var, e.t, h_read)) {
        // Its fate would depend on scheduling even with one worker: make it on time.
        if (dup) e.id = next_id++;
        dup = false;
        e.t = clock;
        e.late1 = false;
      }
      // in0 and in2 carry padding (a field the pipeline does not read) so that each spans
      // several source chunks (256 KiB), which several workers parse in parallel.
      if (dup) {
        e.line = s.events[dup_of].line;
      } else {
        const std::string pad = !cross_file && (f == 0 || f == 2) ? R"(,"pad":")" + std::string(uni(250, 450), 'p') + "\"" : "";
        e.line = R"({"ts":)" + std::to_string(e.t) + R"(,"k":")" + e.key + R"(","v":)" +
                 std::to_string(e.v) + pad + R"(,"id":)" + std::to_string(e.id) + "}";
      }
      text += e.line + "\n";
      if (!e.late1) file_max = std::max(file_max, e.t);
      read_max = std::max(read_max, e.t);  // (a late event is behind its file's maximum anyway)
      file_events.push_back(s.events.size());
      s.events.push_back(std::move(e));
    }
    s.files.push_back(std::move(text));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Reference results.

// The sketch aggregate is distinct(id % kMod): few enough values that windows of many events
// have far fewer distinct values than events.
constexpr int64_t kMod = 97;

struct Agg {
  int64_t n = 0, sum = 0, lo = INT64_MAX, hi = INT64_MIN;
  std::set<int64_t> ids;  // distinct id % kMod
  int64_t first_t = INT64_MAX, last_t = INT64_MIN;
  void add(const Event& e) {
    n++;
    sum += e.v;
    lo = std::min(lo, e.v);
    hi = std::max(hi, e.v);
    ids.insert(e.id % kMod);
    first_t = std::min(first_t, e.t);
    last_t = std::max(last_t, e.t);
  }
};

using WinKey = std::tuple<std::string, int64_t, int64_t>;  // key, window_start, window_end

// Final result per (key, window) of the time kinds over `events` (any order).
std::map<WinKey, Agg> reference_timed(const Variant& v, const std::vector<const Event*>& events) {
  std::map<WinKey, Agg> out;
  if (v.kind == Kind::kSession) {
    std::map<std::string, std::vector<const Event*>> by_key;
    for (const Event* e : events) by_key[e->key].push_back(e);
    for (auto& [k, evs] : by_key) {
      std::stable_sort(evs.begin(), evs.end(), [](const Event* a, const Event* b) { return a->t < b->t; });
      Agg cur;
      for (size_t i = 0; i < evs.size(); ++i) {
        if (i > 0 && evs[i]->t - evs[i - 1]->t >= v.gap) {
          out[{k, cur.first_t, cur.last_t + v.gap}] = cur;
          cur = Agg();
        }
        cur.add(*evs[i]);
      }
      if (cur.n > 0) out[{k, cur.first_t, cur.last_t + v.gap}] = cur;
    }
    return out;
  }
  for (const Event* e : events) {
    for (int64_t s : window_starts(v, e->t)) out[{e->key, s, s + v.size}].add(*e);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading spate's output.

int64_t num(const Row& r, const std::string& f) {
  auto it = r.find(f);
  if (it == r.end()) throw std::runtime_error("missing field " + f);
  return std::stoll(it->second);
}
int64_t ts(const Row& r, const std::string& f) {
  auto t = parse_rfc3339_ms(r.at(f));
  if (!t.is_ok()) throw std::runtime_error("bad time " + r.at(f));
  return *t;
}

// HyperLogLog, precision 12 (4096 registers): the docs give a standard error of 1.6%. At the
// small counts here (at most kMod) it counts linearly, and its error is how far the number of
// register collisions is from its expectation (about n^2 / 8192, so at most ~1.2, standard
// deviation ~1.1): an absolute bound of 8 fails with probability about 1e-6 per window.
void expect_distinct(int64_t got, size_t exact, const std::string& where) {
  const double bound = std::max(8.0, 0.05 * static_cast<double>(exact));
  EXPECT_LE(std::abs(static_cast<double>(got) - static_cast<double>(exact)), bound)
      << where << ": distinct(id % 97) " << got << ", exact " << exact;
}

void expect_agg(const Row& r, const Agg& a, const std::string& where) {
  EXPECT_EQ(num(r, "n"), a.n) << where;
  EXPECT_EQ(num(r, "s"), a.sum) << where;
  EXPECT_EQ(num(r, "lo"), a.lo) << where;
  EXPECT_EQ(num(r, "hi"), a.hi) << where;
  expect_distinct(num(r, "d"), a.ids.size(), where);
}

std::string describe(const WinKey& w) {
  return "key " + std::get<0>(w) + " [" + format_rfc3339_ms(std::get<1>(w)) + ", " +
         format_rfc3339_ms(std::get<2>(w)) + ")";
}

// The consumer of docs/pipelines.md "Which record to keep": per key and window the last record;
// a record also replaces the key's earlier records whose window lies inside its own (sessions).
std::map<WinKey, Row> keep_last(const std::vector<Row>& rows) {
  std::map<WinKey, Row> kept;
  for (const Row& r : rows) {
    WinKey w{r.at("k"), ts(r, "window_start"), ts(r, "window_end")};
    // A window's first result (update: false) must not follow an update of a window holding
    // it (the consumer would keep the stale one). Known to fail for sessions with several
    // workers: Engine::Impl::handle_update looks for the pending first result by window end,
    // which a session's update has moved, so it writes the update before the first result.
    if (r.count("update") && r.at("update") == "false") {
      for (const auto& [kw, kr] : kept) {
        EXPECT_FALSE(std::get<0>(kw) == std::get<0>(w) && std::get<1>(kw) <= std::get<1>(w) &&
                     std::get<2>(kw) >= std::get<2>(w) && kr.at("update") == "true")
            << describe(w) << ": its first result is written after an update of "
            << describe(kw) << " (bug: session update overtakes the pending first result)";
      }
    }
    for (auto it = kept.begin(); it != kept.end();) {
      const bool inside = std::get<0>(it->first) == std::get<0>(w) &&
                          std::get<1>(it->first) >= std::get<1>(w) &&
                          std::get<2>(it->first) <= std::get<2>(w);
      it = inside ? kept.erase(it) : std::next(it);
    }
    kept[w] = r;
  }
  return kept;
}

// The time kinds. `maybe_partial`: accepted events that some of their sliding windows may have
// missed (docs: an event is added to those of its windows with end + allowed_lateness > W);
// a window holding k of them must equal the reference over its other events plus one of the
// 2^k subsets of them. Empty with one worker, and for tumbling and session windows (one window,
// or all or nothing).
void check_timed(const Variant& v, const std::vector<Row>& rows, const std::vector<const Event*>& accepted,
                 const std::set<const Event*>& maybe_partial) {
  std::set<WinKey> seen;
  int64_t prev_end = INT64_MIN;
  for (const Row& r : rows) {
    EXPECT_EQ(r.count("update"), v.lateness > 0 ? 1u : 0u) << "the update column";
    if (v.lateness > 0) continue;
    // Without lateness every window is written once, ordered by window end.
    WinKey w{r.at("k"), ts(r, "window_start"), ts(r, "window_end")};
    EXPECT_TRUE(seen.insert(w).second) << describe(w) << " written twice";
    EXPECT_GE(std::get<2>(w), prev_end) << describe(w) << " out of order";
    prev_end = std::get<2>(w);
  }
  const std::map<WinKey, Row> got = keep_last(rows);
  const std::map<WinKey, Agg> want = reference_timed(v, accepted);
  std::vector<const Event*> sure_events;
  std::map<WinKey, std::vector<const Event*>> maybe;
  for (const Event* e : accepted) {
    if (!maybe_partial.count(e)) {
      sure_events.push_back(e);
      continue;
    }
    for (int64_t s : window_starts(v, e->t)) maybe[{e->key, s, s + v.size}].push_back(e);
  }
  const std::map<WinKey, Agg> sure = reference_timed(v, sure_events);
  for (const auto& [w, a] : want) {
    auto it = got.find(w);
    auto m = maybe.find(w);
    if (m == maybe.end()) {
      if (it == got.end()) {
        ADD_FAILURE() << "missing window " << describe(w) << " (" << a.n << " events)";
        continue;
      }
      expect_agg(it->second, a, describe(w));
      continue;
    }
    const std::vector<const Event*>& u = m->second;
    auto sit = sure.find(w);
    const Agg base = sit == sure.end() ? Agg() : sit->second;
    if (it == got.end()) {
      EXPECT_EQ(base.n, 0) << "missing window " << describe(w) << " (" << base.n << " events)";
      continue;
    }
    ASSERT_LE(u.size(), 12u) << describe(w);
    bool matched = false;
    for (uint32_t mask = 0; mask < (1u << u.size()) && !matched; ++mask) {
      Agg c = base;
      for (size_t i = 0; i < u.size(); ++i) {
        if (mask & (1u << i)) c.add(*u[i]);
      }
      if (c.n == num(it->second, "n") && c.n > 0 && c.sum == num(it->second, "s") &&
          c.lo == num(it->second, "lo") && c.hi == num(it->second, "hi")) {
        expect_distinct(num(it->second, "d"), c.ids.size(), describe(w));
        matched = true;
      }
    }
    EXPECT_TRUE(matched) << describe(w) << ": n=" << it->second.at("n") << " s=" << it->second.at("s")
                         << " is not the reference over its events (" << base.n << " certain, "
                         << u.size() << " late ones that it may lack)";
  }
  for (const auto& [w, r] : got) {
    EXPECT_TRUE(want.count(w)) << "unexpected window " << describe(w) << " n=" << r.at("n");
  }
}

// Count windows. Exact (membership): window i of a key holds its records i*slide ..
// i*slide + size - 1 in arrival order. Structure only: arrival order unknown.
void check_count(const Variant& v, const std::vector<Row>& rows, const std::vector<const Event*>& accepted,
                 bool exact) {
  std::map<std::string, std::vector<const Event*>> by_key;
  for (const Event* e : accepted) by_key[e->key].push_back(e);
  using CountRow = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
  std::multiset<CountRow> want, got;
  std::map<CountRow, size_t> want_ids;  // each window's distinct id % kMod
  std::map<std::string, std::multiset<int64_t>> want_sizes, got_sizes;
  std::map<std::string, Agg> totals;
  for (auto& [k, evs] : by_key) {
    for (const Event* e : evs) totals[k].add(*e);
    const int64_t seen = static_cast<int64_t>(evs.size());
    for (int64_t w = 0; w * v.slide < seen; ++w) {
      Agg a;
      for (int64_t j = w * v.slide; j < std::min(seen, w * v.slide + v.size); ++j) a.add(*evs[j]);
      want.insert({k, a.first_t, a.last_t, a.n, a.sum, a.lo, a.hi});
      want_ids[{k, a.first_t, a.last_t, a.n, a.sum, a.lo, a.hi}] = a.ids.size();
      want_sizes[k].insert(a.n);
    }
  }
  std::map<std::string, Agg> from_rows;  // lo/hi: over windows; n, sum: over windows
  for (const Row& r : rows) {
    const std::string k = r.at("k");
    const int64_t ws = ts(r, "window_start"), we = ts(r, "window_end");
    const int64_t n = num(r, "n");
    got.insert({k, ws, we, n, num(r, "s"), num(r, "lo"), num(r, "hi")});
    got_sizes[k].insert(n);
    EXPECT_LE(ws, we) << k;
    EXPECT_LE(num(r, "lo"), num(r, "hi")) << k;
    EXPECT_LE(num(r, "d"), n + 1) << k;
    auto t = totals.find(k);
    if (t == totals.end()) {
      ADD_FAILURE() << "unexpected key " << k;
      continue;
    }
    EXPECT_GE(ws, t->second.first_t) << k;
    EXPECT_LE(we, t->second.last_t) << k;
    Agg& f = from_rows[k];
    f.n += n;
    f.sum += num(r, "s");
    f.lo = std::min(f.lo, num(r, "lo"));
    f.hi = std::max(f.hi, num(r, "hi"));
    f.first_t = std::min(f.first_t, ws);
    f.last_t = std::max(f.last_t, we);
  }
  EXPECT_EQ(got_sizes, want_sizes) << "window sizes per key";
  for (const auto& [k, a] : totals) {
    const Agg& f = from_rows[k];
    EXPECT_EQ(f.lo, a.lo) << k;
    EXPECT_EQ(f.hi, a.hi) << k;
    EXPECT_EQ(f.first_t, a.first_t) << k;
    EXPECT_EQ(f.last_t, a.last_t) << k;
    if (v.slide == v.size) {  // the windows partition the key's records
      EXPECT_EQ(f.n, a.n) << k;
      EXPECT_EQ(f.sum, a.sum) << k;
    }
  }
  if (!exact) return;
  EXPECT_TRUE(got == want) << "count windows differ from the reference (membership)";
  for (const Row& r : rows) {
    const CountRow c{r.at("k"), ts(r, "window_start"), ts(r, "window_end"), num(r, "n"),
                     num(r, "s"), num(r, "lo"), num(r, "hi")};
    auto it = want_ids.find(c);
    if (it != want_ids.end()) expect_distinct(num(r, "d"), it->second, "count window of " + r.at("k"));
  }
}

// Global window with every_count: one final row per key (totals); running rows at every
// multiple of N of a key's records: exactly the prefixes with one worker; with more, the right
// sizes, and each row's state contains the previous one's (min falls, max rises).
void check_global(const Variant& v, const std::vector<Row>& rows, const std::vector<const Event*>& accepted,
                  bool exact) {
  std::map<std::string, std::vector<const Event*>> by_key;
  for (const Event* e : accepted) by_key[e->key].push_back(e);
  std::map<std::string, std::vector<const Row*>> running;
  std::map<std::string, const Row*> finals;
  for (const Row& r : rows) {
    EXPECT_EQ(r.at("window_start"), "null");
    EXPECT_EQ(r.at("window_end"), "null");
    const std::string k = r.at("k");
    if (r.at("final") == "true") {
      EXPECT_TRUE(finals.emplace(k, &r).second) << "two final rows for key " << k;
    } else {
      EXPECT_EQ(r.at("final"), "false");
      running[k].push_back(&r);
    }
  }
  EXPECT_EQ(finals.size(), by_key.size());
  for (const auto& [k, evs] : by_key) {
    Agg total;
    std::vector<Agg> prefixes;
    for (const Event* e : evs) {
      total.add(*e);
      if (total.n % v.every_count == 0) prefixes.push_back(total);
    }
    auto f = finals.find(k);
    if (f == finals.end()) {
      ADD_FAILURE() << "no final row for key " << k;
      continue;
    }
    expect_agg(*f->second, total, "final row of key " + k);
    std::vector<const Row*> rs = running[k];
    std::stable_sort(rs.begin(), rs.end(), [](const Row* a, const Row* b) { return num(*a, "n") < num(*b, "n"); });
    ASSERT_EQ(rs.size(), prefixes.size()) << "running rows of key " << k;
    for (size_t i = 0; i < rs.size(); ++i) {
      const std::string where = "running row " + std::to_string(i) + " of key " + k;
      EXPECT_EQ(num(*rs[i], "n"), prefixes[i].n) << where;
      if (exact) {
        expect_agg(*rs[i], prefixes[i], where);
      } else {
        EXPECT_GE(num(*rs[i], "lo"), total.lo) << where;
        EXPECT_LE(num(*rs[i], "hi"), total.hi) << where;
        if (i > 0) {
          EXPECT_LE(num(*rs[i], "lo"), num(*rs[i - 1], "lo")) << where;
          EXPECT_GE(num(*rs[i], "hi"), num(*rs[i - 1], "hi")) << where;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

// Runs `spate run` on the stream and checks everything described at the top of the file.
void run_and_check(const Variant& v, const Stream& stream, bool micro, int workers) {
  const bool exact = workers == 1 && stream.one_worker_exact;
  TempDir dir;
  std::vector<std::string> paths;
  for (size_t f = 0; f < stream.files.size(); ++f) {
    paths.push_back(dir.write(stream.names[f], stream.files[f]));
  }
  std::string yaml = "name: reference\n";
  if (micro) yaml += "mode: micro_batch\nbatch_interval: 10ms\n";
  yaml += "source: {type: file, path: '" + dir.path() + "/in*.jsonl'}\n";
  yaml += "time: {field: ts, max_out_of_order: " + std::to_string(kOoo) + "ms}\n";
  yaml += "steps:\n  - key_by: k\n  - window: " + v.yaml() + "\n";
  yaml += "  - aggregate: {n: count(), s: sum(v), lo: min(v), hi: max(v), d: 'distinct(id % 97)'}\n";
  yaml += "sink: {type: stdout, format: json}\n";
  yaml += "dead_letter: {path: '" + dir.file("dead.jsonl") + "'}\n";
  dir.write("p.yaml", yaml);
  RunResult r = run_spate({"run", dir.file("p.yaml"), "--workers", std::to_string(workers)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<Row> rows = parse_rows(r.out);
  const std::vector<Row> dead = parse_rows(read_file(dir.file("dead.jsonl")));

  // Which events were dropped (late), and are they admissibly late?
  std::map<std::pair<std::string, int64_t>, size_t> by_pos;  // (file path, offset) -> event
  std::map<int64_t, std::vector<size_t>> by_id;
  for (size_t i = 0; i < stream.events.size(); ++i) {
    const Event& e = stream.events[i];
    by_pos[{paths[static_cast<size_t>(e.file)], e.pos}] = i;
    by_id[e.id].push_back(i);
  }
  std::vector<bool> dropped(stream.events.size(), false);
  size_t at_parse = 0, at_window = 0;
  simdjson::dom::parser parser;
  for (const Row& d : dead) {
    ASSERT_EQ(d.at("reason"), "late") << d.at("error");
    if (d.at("position") != "null") {
      auto it = by_pos.find({d.at("source"), std::stoll(d.at("position"))});
      ASSERT_NE(it, by_pos.end()) << "no event at " << d.at("source") << ":" << d.at("position");
      const Event& e = stream.events[it->second];
      const std::string& file = stream.files[static_cast<size_t>(e.file)];
      const size_t eol = file.find('\n', static_cast<size_t>(e.pos));
      EXPECT_EQ(d.at("raw"), file.substr(static_cast<size_t>(e.pos), eol - static_cast<size_t>(e.pos)));
      // (a) late by its own file's prefix.
      EXPECT_TRUE(late_at(v, e.t, e.file_prefix == kNone ? kNone : e.file_prefix - kOoo))
          << "not admissibly late at parse time: " << d.at("raw") << " " << d.at("error");
      EXPECT_FALSE(dropped[it->second]) << "dead-lettered twice: " << d.at("raw");
      dropped[it->second] = true;
      ++at_parse;
      continue;
    }
    // Found at the window: raw is the parsed fields; find the event by id. Duplicates share an
    // id (and their content): take the earliest admissibly late, not yet dropped occurrence.
    simdjson::dom::element raw;
    ASSERT_FALSE(parser.parse(d.at("raw")).get(raw)) << d.at("raw");
    int64_t id = 0;
    ASSERT_FALSE(raw["id"].get_int64().get(id)) << d.at("raw");
    bool found = false;
    for (size_t i : by_id[id]) {
      const Event& e = stream.events[i];
      if (dropped[i] || !late_at(v, e.t, e.read_prefix == kNone ? kNone : e.read_prefix - kOoo)) continue;
      dropped[i] = found = true;
      break;
    }
    EXPECT_TRUE(found) << "not admissibly late at the window: " << d.at("raw") << " " << d.at("error");
    ++at_window;
  }
  if (exact) {
    // Exactly the events late by their file's prefix, all found at parse time.
    for (size_t i = 0; i < stream.events.size(); ++i) {
      const Event& e = stream.events[i];
      EXPECT_EQ(dropped[i], e.late1) << "event " << i << " (file " << e.file << " offset " << e.pos
                                     << ", t " << format_rfc3339_ms(e.t) << ", key " << e.key << ")";
    }
    EXPECT_EQ(at_window, 0u);
    EXPECT_EQ(at_parse, static_cast<size_t>(std::count_if(stream.events.begin(), stream.events.end(),
                                                           [](const Event& e) { return e.late1; })));
  }
  if (!v.timed()) {
    EXPECT_EQ(dead.size(), 0u) << "nothing is late for count and global windows";
  }

  std::vector<const Event*> accepted;
  std::set<const Event*> maybe_partial;  // sliding: accepted, but maybe not by all its windows
  for (size_t i = 0; i < stream.events.size(); ++i) {
    if (dropped[i]) continue;
    const Event& e = stream.events[i];
    accepted.push_back(&e);
    if (v.kind == Kind::kSliding &&
        !safe_at(v, e.t, e.read_prefix == kNone ? kNone : e.read_prefix - kOoo)) {
      maybe_partial.insert(&e);
    }
  }
  if (exact) {
    EXPECT_TRUE(maybe_partial.empty());
  }
  switch (v.kind) {
    case Kind::kTumbling:
    case Kind::kSliding:
    case Kind::kSession: check_timed(v, rows, accepted, maybe_partial); break;
    case Kind::kCount: check_count(v, rows, accepted, exact); break;
    case Kind::kGlobal: check_global(v, rows, accepted, exact); break;
  }
}

using Param = std::tuple<int, bool, int>;  // variant, micro_batch, workers

class Reference : public ::testing::TestWithParam<Param> {};

TEST_P(Reference, EveryWindowEqualsTheModel) {
  const auto [vi, micro, workers] = GetParam();
  // One stream per variant (the same for every mode and worker count).
  const Stream stream = generate(kVariants[vi], 0x5eed0000u + static_cast<uint64_t>(vi) * 7919u);
  EXPECT_GT(stream.files[0].size(), 300u * 1024) << "in0 should span several chunks";
  EXPECT_GT(stream.files[2].size(), 300u * 1024) << "in2 should span several chunks";
  run_and_check(kVariants[vi], stream, micro, workers);
}

// Files far behind each other: lateness found at the window too; checks (a) and (c) only.
class CrossFile : public ::testing::TestWithParam<Param> {};

TEST_P(CrossFile, EveryWindowEqualsTheModelOnTheEventsKept) {
  const auto [vi, micro, workers] = GetParam();
  const Stream stream = generate(kVariants[vi], 0xc0ffee00u + static_cast<uint64_t>(vi) * 104729u, true);
  run_and_check(kVariants[vi], stream, micro, workers);
}

// The streams are what the test claims: late events of every sort, duplicates, blank lines.
TEST(ReferenceStreams, HoldEverySortOfEvent) {
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    const Stream s = generate(v, 42);
    size_t late = 0, far = 0, beyond_ooo = 0, dups = 0, edge = 0;
    std::set<int64_t> ids;
    for (const Event& e : s.events) {
      late += e.late1;
      // Late exactly at the rule's boundary (not late with a horizon 1 ms earlier).
      if (e.late1 && !late_at(v, e.t, e.file_prefix - kOoo - 1)) ++edge;
      if (e.read_prefix != kNone && e.t < e.read_prefix - kOoo) ++beyond_ooo;
      if (e.read_prefix != kNone && e.t < e.read_prefix - kOoo - v.lateness - 3000) ++far;
      dups += !ids.insert(e.id).second;
    }
    EXPECT_GT(far, 20u);
    EXPECT_GT(beyond_ooo, far + 20);  // also events beyond max_out_of_order but not far
    EXPECT_GT(dups, 10u);
    if (v.timed()) {
      EXPECT_GT(late, 20u);
      EXPECT_GT(edge, 5u);
    } else {
      EXPECT_EQ(late, 0u);
    }
    EXPECT_NE(s.files[1].find("\n\n"), std::string::npos);
  }
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const auto [vi, micro, workers] = info.param;
  return std::string(kVariants[vi].name) + (micro ? "_micro_batch_" : "_per_event_") +
         std::to_string(workers) + "w";
}

INSTANTIATE_TEST_SUITE_P(AllKindsModesWorkers, Reference,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kVariants))),
                                            ::testing::Bool(), ::testing::Range(1, 5)),
                         param_name);
// Tumbling and session windows, with and without lateness (sliding windows would need the
// subset search of check_timed over too many partially added events).
INSTANTIATE_TEST_SUITE_P(TimeKindsModesWorkers, CrossFile,
                         ::testing::Combine(::testing::Values(0, 1, 4, 5), ::testing::Bool(),
                                            ::testing::Range(1, 5)),
                         param_name);

}  // namespace
}  // namespace spate::test
