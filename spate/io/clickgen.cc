#include "spate/io/clickgen.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <numbers>
#include <stdexcept>

namespace spate {
namespace {

// splitmix64: a 64-bit counter passed through a strong mixer. Fast, statistically good enough
// for synthetic data, and trivially seedable. Each component gets its own stream.
uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform integer in [0, n) by multiply-shift of the high 32 bits (bias ≤ n / 2^32,
// irrelevant here).
uint32_t below(uint64_t* state, uint32_t n) {
  return static_cast<uint32_t>(((splitmix64(state) >> 32) * static_cast<uint64_t>(n)) >> 32);
}

// Stream ids: setup streams are independent of the event stream, so e.g. catalogue details do
// not shift the event sequence.
constexpr uint64_t kStreamEvents = 0x6576656e7473ULL;
constexpr uint64_t kStreamCatalogue = 0x636174616c6fULL;
constexpr uint64_t kStreamUsers = 0x7573657273ULL;
constexpr uint64_t kStreamMappings = 0x6d617070ULL;

uint64_t stream_state(uint64_t seed, uint64_t stream) {
  uint64_t s = seed ^ (stream * 0xd1342543de82ef95ULL);
  return splitmix64(&s);
}

// Probabilities as thresholds on a uniform 32-bit number.
constexpr uint32_t threshold32(double p) { return static_cast<uint32_t>(p * 4294967296.0); }
constexpr uint32_t kViewBelow = threshold32(0.90);
constexpr uint32_t kClickBelow = threshold32(0.98);
constexpr uint32_t kSlowTailBelow = threshold32(0.03);
constexpr uint32_t kLateBelow = threshold32(0.08);
constexpr double kLateMeanMs = 150.0;
constexpr double kLatencyMedianMs = 118.0;
constexpr double kLatencySigma = 0.45;
constexpr double kSlowMedianMs = 900.0;
constexpr double kSlowSigma = 0.7;
constexpr double kLatencyMinMs = 1.0;
constexpr double kLatencyMaxMs = 60000.0;
constexpr size_t kMaxPathBytes = 96;

struct Country {
  const char* code;
  int weight;
};
// Rough shares of web users; weights need not sum to 100.
constexpr Country kCountries[] = {
    {"US", 28}, {"IN", 8}, {"GB", 6}, {"DE", 6}, {"BR", 5}, {"FR", 4}, {"JP", 4}, {"CA", 4},
    {"IT", 3},  {"ES", 3}, {"MX", 3}, {"ID", 3}, {"AU", 2}, {"NL", 2}, {"KR", 2}, {"PL", 2},
    {"TR", 2},  {"RU", 2}, {"SE", 1}, {"CH", 1}, {"AR", 1}, {"ZA", 1}, {"NG", 1}, {"EG", 1},
    {"VN", 1},  {"PH", 1}, {"TH", 1}, {"SG", 1}, {"IE", 1}, {"BE", 1},
};

constexpr const char* kSpecialPages[] = {"/",      "/search", "/cart", "/checkout", "/account",
                                         "/login", "/deals",  "/help", "/about",    "/contact"};
constexpr const char* kCategories[] = {
    "electronics", "books",      "home-kitchen", "garden", "toys", "sports", "fashion", "beauty",
    "grocery",     "automotive", "music",        "office", "pets", "baby",   "health",  "outdoors"};
constexpr const char* kWords[] = {
    "best",   "guide",    "how",     "to",      "review",    "tips",    "budget", "winter",
    "summer", "setup",    "vs",      "ideas",   "beginners", "tested",  "cheap",  "fast",
    "quiet",  "wireless", "organic", "vintage", "modern",    "classic", "smart",  "compact",
    "eco",    "premium",  "travel",  "kids",    "home",      "office",  "gift",   "diy",
    "repair", "clean",    "choose",  "fix",     "upgrade",   "compare", "top",    "new"};

template <typename T, size_t N>
const T& pick(const T (&items)[N], uint64_t* state) {
  return items[below(state, static_cast<uint32_t>(N))];
}

inline char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

template <size_t N>
inline char* put_literal(char* p, const char (&s)[N]) {
  std::memcpy(p, s, N - 1);
  return p + (N - 1);
}

inline char* put_int(char* p, int64_t v) {
  const fmt::format_int f(v);
  return put(p, {f.data(), f.size()});
}

void shuffle(std::vector<uint32_t>* v, uint64_t* state) {
  for (size_t i = v->size(); i > 1; --i) {
    const uint32_t j = below(state, static_cast<uint32_t>(i));
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

std::vector<uint32_t> identity(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<double> zipf_weights(uint32_t n, double s) {
  std::vector<double> w(n);
  for (uint32_t i = 0; i < n; ++i) w[i] = std::pow(static_cast<double>(i) + 1.0, -s);
  return w;
}

}  // namespace

void ClickGenerator::AliasTable::build(const std::vector<double>& weights) {
  // Vose's method: scale so the mean is 1, then pair each under-full column with an over-full
  // outcome that tops it up.
  const size_t n = weights.size();
  double sum = 0;
  for (double w : weights) sum += w;
  std::vector<double> scaled(n);
  for (size_t i = 0; i < n; ++i) scaled[i] = weights[i] * static_cast<double>(n) / sum;
  threshold.assign(n, 0);
  alias.assign(n, 0);
  std::vector<uint32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
  }
  auto set_threshold = [&](uint32_t i, double p) {
    threshold[i] = p >= 1.0 ? UINT32_MAX : static_cast<uint32_t>(p * 4294967296.0);
  };
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    set_threshold(s, scaled[s]);
    alias[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are full columns (up to rounding): always accept themselves.
  for (const std::vector<uint32_t>* rest : {&large, &small}) {
    for (uint32_t i : *rest) {
      threshold[i] = UINT32_MAX;
      alias[i] = i;
    }
  }
}

ClickGenerator::ClickGenerator(const ClickGeneratorOptions& options) : options_(options) {
  if (options_.users == 0 || options_.users > 10'000'000) {
    throw std::invalid_argument("click generator: users must be in 1..10000000");
  }
  if (options_.pages == 0 || options_.pages > 10'000'000) {
    throw std::invalid_argument("click generator: pages must be in 1..10000000");
  }
  if (!(options_.events_per_second_of_event_time > 0) ||
      !std::isfinite(options_.events_per_second_of_event_time)) {
    throw std::invalid_argument("click generator: events per second must be positive");
  }
  shift_at_ = options_.shift_at     ? *options_.shift_at
              : options_.count == 0 ? ClickGeneratorOptions::kUnboundedShiftAt
                                    : options_.count / 2;
  ms_per_event_ = 1000.0 / options_.events_per_second_of_event_time;
  rng_state_ = stream_state(options_.seed, kStreamEvents);
  build_catalogue();
  build_users();
  build_mappings();
}

void ClickGenerator::build_catalogue() {
  uint64_t st = stream_state(options_.seed, kStreamCatalogue);
  const uint32_t n = options_.pages;
  page_offsets_.clear();
  page_offsets_.reserve(n + 1);
  page_blob_.clear();
  page_blob_.reserve(static_cast<size_t>(n) * 28);
  constexpr uint32_t kSpecial = sizeof(kSpecialPages) / sizeof(kSpecialPages[0]);
  for (uint32_t i = 0; i < n; ++i) {
    page_offsets_.push_back(static_cast<uint32_t>(page_blob_.size()));
    auto out = std::back_inserter(page_blob_);
    if (i < kSpecial) {
      page_blob_ += kSpecialPages[i];
      continue;
    }
    // The page number makes every path unique.
    const uint32_t kind = below(&st, 100);
    if (kind < 62) {
      const char* cat = pick(kCategories, &st);
      fmt::format_to(out, "/product/{}/{}-{}", cat, pick(kWords, &st), i);
    } else if (kind < 80) {
      const char* a = pick(kWords, &st);
      const char* b = pick(kWords, &st);
      const char* c = pick(kWords, &st);
      fmt::format_to(out, "/blog/{}-{}-{}-{}", a, b, c, i);
    } else if (kind < 90) {
      const char* cat = pick(kCategories, &st);
      fmt::format_to(out, "/category/{}/{}-{}", cat, pick(kWords, &st), i);
    } else {
      const char* a = pick(kWords, &st);
      fmt::format_to(out, "/help/{}-{}-{}", a, pick(kWords, &st), i);
    }
  }
  page_offsets_.push_back(static_cast<uint32_t>(page_blob_.size()));
  for (uint32_t i = 0; i < n; ++i) {
    if (page_offsets_[i + 1] - page_offsets_[i] > kMaxPathBytes) {
      throw std::logic_error("click generator: page path too long");
    }
  }
  page_share_ = zipf_weights(n, kPageZipfS);
  page_table_.build(page_share_);
  double sum = 0;
  for (double w : page_share_) sum += w;
  for (double& w : page_share_) w /= sum;
}

void ClickGenerator::build_users() {
  uint64_t st = stream_state(options_.seed, kStreamUsers);
  const uint32_t n = options_.users;
  // users_[k] is the user with the k-th highest activity; its id number is a random one of
  // 1..n so that activity does not follow the id order.
  std::vector<uint32_t> numbers = identity(n);
  shuffle(&numbers, &st);
  int total_weight = 0;
  for (const Country& c : kCountries) total_weight += c.weight;
  users_.resize(n);
  for (uint32_t k = 0; k < n; ++k) {
    User& u = users_[k];
    const auto name = fmt::format_to_n(u.name, sizeof(u.name), "u{:08d}", numbers[k] + 1);
    u.name_len = static_cast<uint8_t>(name.size);
    int w = static_cast<int>(below(&st, static_cast<uint32_t>(total_weight)));
    uint8_t country = 0;
    while (w >= kCountries[country].weight) w -= kCountries[country++].weight;
    u.country = country;
    uint32_t o1 = 0;
    uint64_t r = 0;
    do {  // a public-looking first octet
      r = splitmix64(&st);
      o1 = 1 + static_cast<uint32_t>(r % 223);
    } while (o1 == 10 || o1 == 100 || o1 == 127 || o1 == 169 || o1 == 172 || o1 == 192);
    const auto ip = fmt::format_to_n(u.ip, sizeof(u.ip), "{}.{}.{}.{}", o1, (r >> 8) & 255,
                                     (r >> 16) & 255, 1 + ((r >> 24) % 254));
    u.ip_len = static_cast<uint8_t>(ip.size);
  }
  user_table_.build(zipf_weights(n, kUserZipfS));
}

void ClickGenerator::build_mappings() {
  uint64_t st = stream_state(options_.seed, kStreamMappings);
  const uint32_t n = options_.pages;
  rank_to_page_before_ = identity(n);
  shuffle(&rank_to_page_before_, &st);
  rank_to_page_after_ = identity(n);
  shuffle(&rank_to_page_after_, &st);
  // Make the top of the new ranking disjoint from the top of the old one: swap any page that
  // was in the old top into a position below the top. Possible because top ≤ n / 2.
  const uint32_t top = static_cast<uint32_t>(std::min<size_t>(kShiftDisjointTop, n / 2));
  if (top == 0) return;
  std::vector<bool> old_top(n, false);
  for (uint32_t r = 0; r < top; ++r) old_top[rank_to_page_before_[r]] = true;
  for (uint32_t r = 0; r < top; ++r) {
    if (!old_top[rank_to_page_after_[r]]) continue;
    uint32_t j = top + below(&st, n - top);
    while (old_top[rank_to_page_after_[j]]) j = j + 1 < n ? j + 1 : top;
    std::swap(rank_to_page_after_[r], rank_to_page_after_[j]);
  }
}

std::string_view ClickGenerator::page_path(uint32_t page) const {
  return std::string_view(page_blob_)
      .substr(page_offsets_[page], page_offsets_[page + 1] - page_offsets_[page]);
}

std::vector<std::string_view> ClickGenerator::top_pages(const std::vector<uint32_t>& rank_to_page,
                                                        size_t k) const {
  std::vector<std::string_view> out;
  k = std::min(k, rank_to_page.size());
  out.reserve(k);
  for (size_t r = 0; r < k; ++r) out.push_back(page_path(rank_to_page[r]));
  return out;
}

std::vector<std::string_view> ClickGenerator::top_pages_before(size_t k) const {
  return top_pages(rank_to_page_before_, k);
}

std::vector<std::string_view> ClickGenerator::top_pages_after(size_t k) const {
  return top_pages(rank_to_page_after_, k);
}

uint64_t ClickGenerator::next_random() { return splitmix64(&rng_state_); }

double ClickGenerator::next_normal() {
  // Box–Muller on one 64-bit draw: the high half gives the radius (u1 in (0, 1)), the low half
  // the angle; the second normal is kept for the next call.
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  const uint64_t r = next_random();
  const double u1 = (static_cast<double>(r >> 32) + 0.5) * (1.0 / 4294967296.0);
  const double u2 = static_cast<double>(static_cast<uint32_t>(r)) * (1.0 / 4294967296.0);
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

void ClickGenerator::next(std::string* line) {
  const int64_t base =
      options_.start_ms + static_cast<int64_t>(static_cast<double>(emitted_) * ms_per_event_);
  next_at(line, base);
}

void ClickGenerator::next_at(std::string* line, int64_t base_ms) {
  if (emitted_ == 0) first_base_ms_ = max_base_ms_ = base_ms;
  base_ms = std::max(base_ms, max_base_ms_);
  max_base_ms_ = base_ms;

  const User& user = users_[user_table_.sample(next_random())];
  const uint32_t rank = page_table_.sample(next_random());
  const uint32_t page =
      emitted_ < shift_at_ ? rank_to_page_before_[rank] : rank_to_page_after_[rank];

  const uint64_t r_type = next_random();
  const uint32_t t = static_cast<uint32_t>(r_type);
  const std::string_view type = t < kViewBelow    ? std::string_view("view")
                                : t < kClickBelow ? std::string_view("click")
                                                  : std::string_view("purchase");
  const bool slow = static_cast<uint32_t>(r_type >> 32) < kSlowTailBelow;
  const double z = next_normal();
  double latency = slow ? kSlowMedianMs * std::exp(kSlowSigma * z)
                        : kLatencyMedianMs * std::exp(kLatencySigma * z);
  latency = std::clamp(latency, kLatencyMinMs, kLatencyMaxMs);
  const int64_t tenths = static_cast<int64_t>(latency * 10.0 + 0.5);

  int64_t ts = base_ms;
  const uint64_t r_late = next_random();
  if (static_cast<uint32_t>(r_late) < kLateBelow) {
    const double u = (static_cast<double>(r_late >> 32) + 0.5) * (1.0 / 4294967296.0);
    const double delay = std::min(-std::log(u) * kLateMeanMs, static_cast<double>(kMaxJitterMs));
    ts = std::max(base_ms - static_cast<int64_t>(delay), first_base_ms_);
  }

  char buf[kMaxLineBytes];
  char* p = buf;
  p = put_literal(p, "{\"ts\":");
  p = put_int(p, ts);
  p = put_literal(p, ",\"user\":\"");
  p = put(p, {user.name, user.name_len});
  p = put_literal(p, "\",\"page\":\"");
  p = put(p, page_path(page));
  p = put_literal(p, "\",\"type\":\"");
  p = put(p, type);
  p = put_literal(p, "\",\"latency_ms\":");
  p = put_int(p, tenths / 10);
  *p++ = '.';
  *p++ = static_cast<char>('0' + tenths % 10);
  p = put_literal(p, ",\"country\":\"");
  p = put(p, {kCountries[user.country].code, 2});
  p = put_literal(p, "\",\"ip\":\"");
  p = put(p, {user.ip, user.ip_len});
  p = put_literal(p, "\"}\n");
  line->append(buf, static_cast<size_t>(p - buf));
  ++emitted_;
}

}  // namespace spate
