#include "spate/analytics/trending.h"

#include <algorithm>
#include <cfloat>
#include <stdexcept>
#include <utility>

#include "spate/analytics/space_saving.h"

namespace spate {

// ---------------------------------------------------------------- WeightedSpaceSaving

WeightedSpaceSaving::WeightedSpaceSaving(uint32_t capacity, uint64_t salt)
    : capacity_(capacity), salt_(salt) {
  if (capacity < 1 || capacity > kMaxCapacity) {
    throw std::invalid_argument("WeightedSpaceSaving: capacity out of range");
  }
  clear();
}

void WeightedSpaceSaving::clear() {
  counters_.clear();
  heap_.clear();
  total_ = 0;
  slots_.assign(16, Slot{0, -1});
  mask_ = 15;
}

int32_t WeightedSpaceSaving::lookup(std::string_view item, uint64_t h) const {
  const auto tag = static_cast<uint32_t>(h);
  for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
    const Slot s = slots_[i];
    if (s.counter < 0) return -1;
    if (s.tag == tag && counters_[s.counter].item == item) return s.counter;
  }
}

void WeightedSpaceSaving::index_insert(int32_t c, uint32_t tag) {
  uint32_t i = tag & mask_;
  while (slots_[i].counter >= 0) i = (i + 1) & mask_;
  slots_[i] = Slot{tag, c};
}

// Backward-shift deletion: no tombstones, probe lengths never degrade.
void WeightedSpaceSaving::index_erase(int32_t c, uint32_t tag) {
  uint32_t i = tag & mask_;
  while (slots_[i].counter != c) i = (i + 1) & mask_;
  for (uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    const Slot s = slots_[j];
    if (s.counter < 0) break;
    if (((j - (s.tag & mask_)) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = s;
      i = j;
    }
  }
  slots_[i].counter = -1;
}

void WeightedSpaceSaving::grow_index_for_one_more() {
  if ((counters_.size() + 1) * 2 <= slots_.size()) return;
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Slot{0, -1});
  mask_ = static_cast<uint32_t>(slots_.size() - 1);
  for (const Slot& s : old) {
    if (s.counter >= 0) index_insert(s.counter, s.tag);
  }
}

void WeightedSpaceSaving::sift_up(uint32_t pos) {
  const int32_t c = heap_[pos];
  const double v = counters_[c].count;
  while (pos > 0) {
    const uint32_t parent = (pos - 1) / 2;
    if (!(counters_[heap_[parent]].count > v)) break;
    set_heap(pos, heap_[parent]);
    pos = parent;
  }
  set_heap(pos, c);
}

void WeightedSpaceSaving::sift_down(uint32_t pos) {
  const int32_t c = heap_[pos];
  const double v = counters_[c].count;
  const auto n = static_cast<uint32_t>(heap_.size());
  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && counters_[heap_[child + 1]].count < counters_[heap_[child]].count) ++child;
    if (!(counters_[heap_[child]].count < v)) break;
    set_heap(pos, heap_[child]);
    pos = child;
  }
  set_heap(pos, c);
}

void WeightedSpaceSaving::add(std::string_view item, uint64_t h, double w) {
  total_ += w;
  const int32_t found = lookup(item, h);
  if (found >= 0) {
    counters_[found].count += w;
    sift_down(counters_[found].pos);
    return;
  }
  const auto tag = static_cast<uint32_t>(h);
  if (counters_.size() < capacity_) {
    grow_index_for_one_more();
    const auto c = static_cast<int32_t>(counters_.size());
    counters_.emplace_back();
    Counter& ctr = counters_.back();
    ctr.item.assign(item.data(), item.size());
    ctr.count = w;
    ctr.tag = tag;
    index_insert(c, tag);
    heap_.push_back(c);
    ctr.pos = static_cast<uint32_t>(heap_.size() - 1);
    sift_up(ctr.pos);
    return;
  }
  // Full: the item takes over the minimum counter, inheriting its count as error (its true
  // weight so far is at most that count).
  const int32_t c = heap_[0];
  Counter& ctr = counters_[c];
  index_erase(c, ctr.tag);
  ctr.item.assign(item.data(), item.size());  // reuses the buffer when it fits
  ctr.tag = tag;
  ctr.error = ctr.count;
  ctr.count += w;
  index_insert(c, tag);
  sift_down(0);
}

WeightedSpaceSaving::Bounds WeightedSpaceSaving::estimate(std::string_view item, uint64_t h) const {
  const int32_t found = lookup(item, h);
  if (found < 0) return {min_count(), min_count()};
  return {counters_[found].count, counters_[found].error};
}

void WeightedSpaceSaving::scale(double f) {
  for (Counter& c : counters_) {
    c.count *= f;
    c.error *= f;
    // error <= count survives rounding (monotone); keep it exact if a product underflows.
    if (c.error > c.count) c.error = c.count;
  }
  total_ *= f;
}

bool WeightedSpaceSaving::append_sorted(std::string_view item, double count, double error) {
  const uint64_t h = hash(item);
  if (lookup(item, h) >= 0) return false;
  grow_index_for_one_more();
  const auto c = static_cast<int32_t>(counters_.size());
  counters_.emplace_back();
  Counter& ctr = counters_.back();
  ctr.item.assign(item.data(), item.size());
  ctr.count = count;
  ctr.error = error;
  ctr.tag = static_cast<uint32_t>(h);
  index_insert(c, ctr.tag);
  heap_.push_back(c);  // count >= every count present: a sorted array is a min-heap
  ctr.pos = static_cast<uint32_t>(heap_.size() - 1);
  return true;
}

namespace {

bool by_count_desc(const WeightedSpaceSaving::Entry& a, const WeightedSpaceSaving::Entry& b) {
  if (a.count != b.count) return a.count > b.count;
  if (a.error != b.error) return a.error < b.error;
  return a.item < b.item;
}

}  // namespace

Status WeightedSpaceSaving::merge(const WeightedSpaceSaving& other, double s) {
  if (other.capacity_ < capacity_) {
    return Status::invalid("weighted space-saving merge: other has a smaller capacity");
  }
  if (other.counters_.empty() && other.total_ == 0) return Status::ok();
  const double min1 = min_count();
  std::vector<Entry> all;
  all.reserve(counters_.size() + other.counters_.size());
  for (const Counter& c : counters_) {
    const Bounds b2 = other.estimate(c.item);
    all.push_back(Entry{c.item, c.count + b2.count * s, c.error + b2.error * s});
  }
  for (const Counter& c : other.counters_) {
    if (lookup(c.item, hash(c.item)) >= 0) continue;
    all.push_back(Entry{c.item, c.count * s + min1, c.error * s + min1});
  }
  std::sort(all.begin(), all.end(), by_count_desc);
  if (all.size() > capacity_) all.resize(capacity_);
  const double total = total_ + other.total_ * s;
  clear();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    append_sorted(it->item, it->count, std::min(it->error, it->count));
  }
  total_ = total;
  return Status::ok();
}

std::vector<WeightedSpaceSaving::Entry> WeightedSpaceSaving::top(size_t k) const {
  std::vector<Entry> all;
  all.reserve(counters_.size());
  for (const Counter& c : counters_) all.push_back(Entry{c.item, c.count, c.error});
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    by_count_desc);
  all.resize(k);
  return all;
}

void WeightedSpaceSaving::write(ByteWriter* w) const {
  std::vector<const Counter*> sorted;
  sorted.reserve(counters_.size());
  for (const Counter& c : counters_) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(), [](const Counter* a, const Counter* b) {
    if (a->count != b->count) return a->count < b->count;
    return a->item < b->item;
  });
  w->f64(total_);
  w->varint(sorted.size());
  for (const Counter* c : sorted) {
    w->f64(c->count);
    w->f64(c->error);
    w->bytes(c->item);
  }
}

Status WeightedSpaceSaving::read(ByteReader* r) {
  clear();
  double total = 0;
  uint64_t size = 0;
  if (!r->f64(&total) || !r->varint(&size))
    return Status::corruption("trending: truncated summary");
  if (!std::isfinite(total) || total < 0) return Status::corruption("trending: bad total");
  if (size > capacity_) return Status::corruption("trending: more counters than capacity");
  // Each counter takes at least 17 bytes: refuse a lying size before allocating.
  if (size > r->remaining() / 17) return Status::corruption("trending: truncated counters");
  const bool full = size == capacity_;
  double prev = 0, sum = 0;
  for (uint64_t i = 0; i < size; ++i) {
    double count = 0, error = 0;
    std::string_view item;
    if (!r->f64(&count) || !r->f64(&error) || !r->bytes(&item)) {
      return Status::corruption("trending: truncated counters");
    }
    if (!std::isfinite(count) || count < prev) return Status::corruption("trending: bad order");
    if (!(error >= 0) || error > count) return Status::corruption("trending: bad error");
    if (!full && error != 0) return Status::corruption("trending: error while not full");
    sum += count;
    prev = count;
    if (!append_sorted(item, count, error)) return Status::corruption("trending: duplicate item");
  }
  // Counts sum to the total (every weight went to one counter; merges keep the m largest):
  // allow summation rounding.
  const double slack = 1e-9 * total + static_cast<double>(size) * DBL_MIN;
  if (sum > total + slack) return Status::corruption("trending: counts above total");
  if (!full && sum < total - slack) return Status::corruption("trending: counts below total");
  total_ = total;
  return Status::ok();
}

// ---------------------------------------------------------------- Trending

namespace {

bool valid_half_lives(double s, double l) {
  return s >= Trending::kMinHalfLifeMs && s < l && l <= Trending::kMaxHalfLifeMs;
}

}  // namespace

Trending::Trending(uint32_t capacity, double short_half_life_ms, double long_half_life_ms)
    : short_half_life_ms_(short_half_life_ms),
      long_half_life_ms_(long_half_life_ms),
      lambda_short_(std::log(2.0) / short_half_life_ms),
      lambda_long_(std::log(2.0) / long_half_life_ms),
      ss_short_(capacity, space_saving_salt()),
      ss_long_(capacity, ss_short_.salt()) {  // one salt: add() hashes the item once
  if (!valid_half_lives(short_half_life_ms, long_half_life_ms)) {
    throw std::invalid_argument(
        "Trending: half-lives must satisfy 1 ms <= short < long <= 1e15 ms");
  }
}

void Trending::move_landmark(int64_t to) {
  const double shift = static_cast<double>(to) - static_cast<double>(landmark_);
  ss_short_.scale(std::exp(-lambda_short_ * shift));
  ss_long_.scale(std::exp(-lambda_long_ * shift));
  landmark_ = to;
}

void Trending::add(std::string_view item, int64_t t_ms, double weight) {
  if (!(weight > 0 && weight <= kMaxWeight)) return;
  if (count_ == 0) {
    landmark_ = max_time_ = t_ms;
  } else if (t_ms > max_time_) {
    max_time_ = t_ms;
  }
  ++count_;
  double age = static_cast<double>(t_ms) - static_cast<double>(landmark_);
  if (lambda_short_ * age > kRenormalizeExponent) {
    move_landmark(t_ms);
    age = 0;
  }
  const double ws = weight * std::exp(lambda_short_ * age);
  const double wl = weight * std::exp(lambda_long_ * age);
  const uint64_t h = ss_short_.hash(item);
  if (ws > 0) ss_short_.add(item, h, ws);
  if (wl > 0) ss_long_.add(item, h, wl);
}

double Trending::score_floor(int64_t now_ms) const {
  return std::max(long_total(now_ms) * lambda_long_per_s() / capacity(), DBL_MIN);
}

Trending::Bounds Trending::estimate(std::string_view item, int64_t now_ms) const {
  const uint64_t h = ss_short_.hash(item);
  const auto s = ss_short_.estimate(item, h);
  const auto l = ss_long_.estimate(item, h);
  const double ds = decay_short(now_ms), dl = decay_long(now_ms);
  return {s.count * ds, s.error * ds, l.count * dl, l.error * dl};
}

std::vector<Trending::Entry> Trending::top_rising(size_t k, int64_t now_ms) const {
  const double ds = decay_short(now_ms), dl = decay_long(now_ms);
  const double ls = lambda_short_per_s(), ll = lambda_long_per_s();
  const double floor = score_floor(now_ms);
  std::vector<Entry> all;
  all.reserve(ss_short_.size());
  ss_short_.for_each([&](std::string_view item, double count, double error) {
    const auto l = ss_long_.estimate(item, ss_long_.hash(item));
    Entry e;
    e.item.assign(item.data(), item.size());
    e.short_count = count * ds;
    e.short_error = error * ds;
    e.long_count = l.count * dl;
    e.long_error = l.error * dl;
    e.short_rate = e.short_count * ls;
    e.long_rate = e.long_count * ll;
    e.score = e.short_rate / std::max(e.long_rate, floor);
    all.push_back(std::move(e));
  });
  auto by_score = [](const Entry& a, const Entry& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.short_rate != b.short_rate) return a.short_rate > b.short_rate;
    return a.item < b.item;
  };
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), by_score);
  all.resize(k);
  return all;
}

Status Trending::merge(const Trending& other) {
  if (&other == this) {
    const Trending copy = other;
    return merge(copy);
  }
  if (other.short_half_life_ms_ != short_half_life_ms_ ||
      other.long_half_life_ms_ != long_half_life_ms_) {
    return Status::invalid("trending merge: different half-lives");
  }
  if (other.capacity() < capacity()) {
    return Status::invalid("trending merge: other has a smaller capacity");
  }
  if (other.count_ == 0) return Status::ok();
  double other_short = 1, other_long = 1;
  if (count_ == 0) {
    landmark_ = other.landmark_;
    max_time_ = other.max_time_;
  } else {
    if (other.landmark_ > landmark_) move_landmark(other.landmark_);
    const double shift = static_cast<double>(landmark_) - static_cast<double>(other.landmark_);
    other_short = std::exp(-lambda_short_ * shift);
    other_long = std::exp(-lambda_long_ * shift);
    max_time_ = std::max(max_time_, other.max_time_);
  }
  Status s = ss_short_.merge(other.ss_short_, other_short);
  if (!s.is_ok()) return s;
  s = ss_long_.merge(other.ss_long_, other_long);
  if (!s.is_ok()) return s;
  count_ += other.count_;
  return Status::ok();
}

// Payload v1 (docs/formats.md): f64 short_half_life_ms, f64 long_half_life_ms, varint
// capacity, varint count, i64 landmark_ms, i64 max_time_ms, then the short and the long
// summaries (WeightedSpaceSaving::write).
std::string Trending::serialize() const {
  ByteWriter w;
  w.f64(short_half_life_ms_);
  w.f64(long_half_life_ms_);
  w.varint(capacity());
  w.varint(count_);
  w.i64(landmark_);
  w.i64(max_time_);
  ss_short_.write(&w);
  ss_long_.write(&w);
  return seal(kTypeTag, kVersion, w.data());
}

Result<Trending> Trending::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  double sh = 0, lh = 0;
  uint64_t capacity = 0, count = 0;
  int64_t landmark = 0, max_time = 0;
  if (!r.f64(&sh) || !r.f64(&lh) || !r.varint(&capacity) || !r.varint(&count) ||
      !r.i64(&landmark) || !r.i64(&max_time)) {
    return Status::corruption("trending: truncated header");
  }
  if (!valid_half_lives(sh, lh)) return Status::corruption("trending: bad half-lives");
  if (capacity < 1 || capacity > kMaxCapacity) return Status::corruption("trending: capacity");
  Trending t(static_cast<uint32_t>(capacity), sh, lh);
  if (count == 0) {
    if (landmark != 0 || max_time != 0) return Status::corruption("trending: empty with times");
  } else {
    if (landmark > max_time) return Status::corruption("trending: landmark after max time");
    const double age = static_cast<double>(max_time) - static_cast<double>(landmark);
    if (t.lambda_short_ * age > kRenormalizeExponent) {
      return Status::corruption("trending: landmark too old");
    }
  }
  t.count_ = count;
  t.landmark_ = landmark;
  t.max_time_ = max_time;
  Status s = t.ss_short_.read(&r);
  if (!s.is_ok()) return s;
  s = t.ss_long_.read(&r);
  if (!s.is_ok()) return s;
  if (!r.at_end()) return Status::corruption("trending: trailing bytes");
  if (count == 0 && (t.ss_short_.total() != 0 || t.ss_long_.total() != 0 ||
                     t.ss_short_.size() != 0 || t.ss_long_.size() != 0)) {
    return Status::corruption("trending: empty with counters");
  }
  return t;
}

}  // namespace spate
