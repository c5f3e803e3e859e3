#pragma once
// SpaceSaving: top-k / heavy hitters with m counters (Metwally, Agrawal, El Abbadi, "Efficient
// computation of frequent and top-k elements in data streams", ICDT 2005). The stream-summary
// is kept as an array of counters sorted by count (descending), cut into runs of equal count
// (each run knows its first slot), with an item -> slot index (open addressing over groups of 8
// entries probed linearly group by group, load <= 1/2, hashed with a per-summary salt; see
// Group). A weight-1 increment swaps the counter with the first of its run and adds one: the
// counter then ends its own run or starts the run of count + 1 (the next-higher run, if it has
// that count, simply gains it). Eviction takes the first counter of the last (minimum) run.
//
// Guarantee: for every monitored item, count - error <= true <= count; an item not monitored
// has true <= min_count() (0 while fewer than m items were seen); min_count() <= total() / m, so
// every item with true frequency > total() / m is monitored (Metwally et al. 2005, Lemmas 3.3,
// 3.4). merge() keeps all of this (the mergeable-summaries construction of Agarwal, Cormode,
// Huang, Phillips, Wei, Yi, "Mergeable summaries", PODS 2012, section 3, written for
// Space-Saving counters: see merge()).
//
// Cost: add(item) with weight 1 is O(1) expected (one index probe, at most one swap of two
// counters, no allocation once m distinct items were seen; replacing a std::string item reuses
// its buffer when the new item fits). add(item, w) moves the counter past every run with a count
// in (count, count + w), one swap per run: O(1 + that number of distinct counts), at most O(m);
// for small weights that is O(w). top(k) sorts the m counters: O(m log m).
//
// Items: BasicSpaceSaving<std::string> (alias SpaceSaving; looked up by std::string_view, no
// allocation per lookup) and BasicSpaceSaving<uint64_t> (alias SpaceSavingU64).
//
// Thread-safety: plain value, one updating thread; merge() and copies read `other`, which must
// not be updated concurrently.

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "spate/analytics/item_hash.h"
#include "spate/analytics/prng.h"
#include "spate/common/serde.h"
#include "spate/common/status.h"

namespace spate {

// A fresh salt for each summary's private hash index, so crafted keys cannot be made to
// collide in it (the salt never affects results or serialized bytes).
inline uint64_t space_saving_salt() {
  static std::atomic<uint64_t> next{
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&next))};
  uint64_t s = next.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
  return splitmix64(&s);
}

template <typename Item>
struct SpaceSavingItemTraits;

template <>
struct SpaceSavingItemTraits<std::string> {
  using Key = std::string_view;
  static constexpr uint32_t kTypeTag = make_type_tag("SSS1");
  static constexpr bool kCompareTags = true;
  static Key key(const std::string& s) { return s; }
  static uint64_t hash(Key k, uint64_t salt) { return hash_item(k, salt); }
  static void assign(std::string* dst, Key k) { dst->assign(k.data(), k.size()); }
  static void write(ByteWriter* w, const std::string& s) { w->bytes(s); }
  static bool read(ByteReader* r, std::string* out) {
    std::string_view v;
    if (!r->bytes(&v)) return false;
    out->assign(v.data(), v.size());
    return true;
  }
};

template <>
struct SpaceSavingItemTraits<uint64_t> {
  using Key = uint64_t;
  static constexpr uint32_t kTypeTag = make_type_tag("SSU1");
  static constexpr bool kCompareTags = false;
  static Key key(uint64_t v) { return v; }
  // Multiply-shift (Dietzfelbinger et al.) with the salt as the random odd multiplier: the high
  // 32 bits of the product, in the low half, are the index's tag (one multiply on the critical
  // path of every update).
  static uint64_t hash(Key k, uint64_t salt) { return (k * (salt | 1)) >> 32; }
  static void assign(uint64_t* dst, Key k) { *dst = k; }
  static void write(ByteWriter* w, uint64_t v) { w->varint(v); }
  static bool read(ByteReader* r, uint64_t* out) { return r->varint(out); }
};

template <typename Item>
class BasicSpaceSaving {
 public:
  using Traits = SpaceSavingItemTraits<Item>;
  using Key = typename Traits::Key;
  static constexpr uint32_t kTypeTag = Traits::kTypeTag;
  static constexpr uint16_t kVersion = 1;
  static constexpr uint32_t kMaxCapacity = uint32_t{1} << 20;

  struct Entry {
    Item item;
    uint64_t count;  // upper bound on the true frequency
    uint64_t error;  // count - error is a lower bound
  };
  // The bounds for one item, monitored or not.
  struct Bounds {
    uint64_t count;
    uint64_t error;
  };

  // REQUIRES: 1 <= capacity <= kMaxCapacity (else throws std::invalid_argument).
  explicit BasicSpaceSaving(uint32_t capacity) : capacity_(capacity) {
    if (capacity < 1 || capacity > kMaxCapacity) {
      throw std::invalid_argument("SpaceSaving: capacity out of range");
    }
    init_storage();
  }
  BasicSpaceSaving(const BasicSpaceSaving&) = default;
  BasicSpaceSaving& operator=(const BasicSpaceSaving&) = default;
  BasicSpaceSaving(BasicSpaceSaving&&) noexcept = default;
  BasicSpaceSaving& operator=(BasicSpaceSaving&&) noexcept = default;

  void add(Key item, uint64_t weight = 1) {
    if (weight == 0) return;
    total_ += weight;
    const uint64_t h = Traits::hash(item, salt_);
    int32_t s = lookup(item, h);
    if (s < 0) {
      const auto tag = static_cast<uint32_t>(h);
      if (slots_.size() < capacity_) {
        add_new(item, tag, weight);
        return;
      }
      // Full: the item takes over the first counter of the minimum run (the one that has been
      // there longest, up to the reordering by increments), inheriting its count as error (its
      // true frequency so far is at most that count). That counter is already first in its run.
      s = first_[run_.back()];
      Slot& slot = slots_[s];
      index_erase(slot);
      Traits::assign(&slot.item, item);
      slot.tag = tag;
      slot.error = count_[s];
      slot.ipos = index_insert(s, tag);
    }
    increment(s, weight);
  }

  // Merges `other` into this summary (Agarwal et al. 2012, via the Space-Saving / Misra-Gries
  // correspondence of their section 3): every item of either side gets count = c1 + c2 and
  // error = e1 + e2, where a side that does not monitor the item contributes its min_count()
  // to both (its upper bound for an unmonitored item; the lower bound 0); the m largest counts
  // are kept. Any m items' counts then sum to at most total1 + total2, so the guarantee above
  // holds for the merged summary. Fails (kInvalidArgument) when other.capacity() < capacity().
  [[nodiscard]] Status merge(const BasicSpaceSaving& other);

  // The k entries with the largest counts, by count descending (ties: smaller error first,
  // then item ascending).
  std::vector<Entry> top(size_t k) const;
  // Bounds for any item: a monitored item's (count, error); otherwise (min_count(), min_count()),
  // i.e. true in [0, min_count()].
  Bounds estimate(Key item) const {
    const int32_t found = lookup(item, Traits::hash(item, salt_));
    if (found < 0) return {min_count(), min_count()};
    return {count_[found], slots_[found].error};
  }

  // Sum of the weights added (N).
  uint64_t total() const { return total_; }
  uint32_t capacity() const { return capacity_; }
  size_t size() const { return slots_.size(); }
  // The smallest count once all m counters are in use, else 0.
  uint64_t min_count() const { return slots_.size() < capacity_ ? 0 : count_.back(); }
  // Forgets every item and the total but keeps the storage: a summary reused per epoch (the
  // hot-key detector of spate/runtime/grouping.h) stops allocating once it has been full.
  // O(capacity) (the index is wiped in place).
  void clear() {
    total_ = 0;
    slots_.clear();
    count_.clear();
    run_.clear();
    first_.clear();
    free_run_ = -1;
    std::fill(groups_.begin(), groups_.end(), Group{});
  }

  std::string serialize() const;
  static Result<BasicSpaceSaving> deserialize(std::string_view bytes);

 private:
  // The counters live in slots 0 .. size() - 1 sorted by count, descending; a run is a maximal
  // range of slots of equal count. count_ and run_ are kept apart from the rest of a slot so the
  // neighbour tests of an increment read one or two adjacent words.
  struct Slot {
    Item item{};
    uint64_t error = 0;
    uint32_t tag = 0;   // low 32 bits of Traits::hash(item, salt_): locates its index slot
    uint32_t ipos = 0;  // its entry in the index: group * 8 + position in the group
  };

  // Storage grows with the number of counters in use (up to capacity_, then stays): a large
  // capacity costs memory only once that many distinct items were seen.
  void init_storage() {
    first_.clear();
    free_run_ = -1;
    groups_.assign(2, Group{});
    gmask_ = 1;
    gshift_ = 31;
  }

  // The item -> slot index: groups of 8 entries. An entry's control byte is 0 when empty, else
  // 0x80 | the tag's low 7 bits, so one 64-bit word answers "which entries may hold this
  // item" and "is there a free entry" for the whole group without a branch per entry. An item
  // lives in its home group (the tag's top bits) or, when that group was full, in one of the
  // following groups (linear probing by group); `overflow` counts the live items whose probe
  // sequence crosses a group (stored past it), so a lookup stops at the first group with
  // overflow == 0 and an erase needs no tombstones: probe lengths depend only on the items
  // present, never on how many came and went. At load <= 1/2 a group overflows rarely: almost
  // every lookup reads one 64-byte group, and its loops and exits are predictable. Each slot
  // knows its entry (Slot::ipos), so moving a counter between slots rewrites the entry without
  // a probe.
  struct alignas(64) Group {
    uint64_t ctrl = 0;      // byte i: 0 (entry i empty) or 0x80 | tag7
    uint32_t overflow = 0;  // items whose probe sequence passes this group
    int32_t slot[8] = {};
  };
  static constexpr uint64_t kLsb = 0x0101010101010101ull;
  static constexpr uint64_t kMsb = 0x8080808080808080ull;
  // The home group: the tag's top log2(groups) bits (the best-mixed ones of a multiply-shift
  // hash). groups_.size() is at most 2^18, so gshift_ >= 14.
  uint32_t home_of(uint32_t tag) const { return tag >> gshift_; }
  static uint64_t ctrl_byte(uint32_t tag) { return 0x80u | (tag & 0x7Fu); }
  // Bytes of `ctrl` equal to `byte` have their top bit set in the result (a byte above a true
  // match can be a false positive; callers verify every candidate).
  static uint64_t match(uint64_t ctrl, uint64_t byte) {
    const uint64_t x = ctrl ^ (byte * kLsb);
    return (x - kLsb) & ~x & kMsb;
  }
  static uint64_t empty_slots(uint64_t ctrl) { return ~ctrl & kMsb; }
  int32_t& entry(uint32_t ipos) { return groups_[ipos >> 3].slot[ipos & 7]; }

  // Makes room for one more counter: keeps one run id more than counters (the free list is never
  // empty, so taking an id cannot fail or allocate; ids are reserved up to capacity_ + 1) and
  // doubles the index (rehashing by the stored tags) when it would be more than half full.
  // Called before adding a counter.
  void reserve_one_more() {
    const size_t want = slots_.size() + 2;
    if (first_.capacity() < want) first_.reserve(std::min(2 * want, size_t{capacity_} + 1));
    while (first_.size() < want) {
      first_.push_back(free_run_);
      free_run_ = static_cast<int32_t>(first_.size() - 1);
    }
    if ((slots_.size() + 1) * 2 <= groups_.size() * 8) return;
    groups_.assign(groups_.size() * 2, Group{});
    gmask_ = static_cast<uint32_t>(groups_.size() - 1);
    gshift_ = static_cast<uint32_t>(32 - std::countr_zero(groups_.size()));
    for (size_t s = 0; s < slots_.size(); ++s) {
      slots_[s].ipos = index_insert(static_cast<int32_t>(s), slots_[s].tag);
    }
  }

  // The slot holding `item` (hash h), or -1.
  int32_t lookup(Key item, uint64_t h) const {
    const auto tag = static_cast<uint32_t>(h);
    const uint64_t byte = ctrl_byte(tag);
    uint32_t g = home_of(tag);
    for (uint32_t probed = 0;; g = (g + 1) & gmask_) {
      const Group& grp = groups_[g];
      for (uint64_t m = match(grp.ctrl, byte); m != 0; m &= m - 1) {
        const int32_t s = grp.slot[std::countr_zero(m) >> 3];
        const Slot& slot = slots_[s];
        // The tag compare first spares string compares; a uint64_t item compares as cheaply.
        if ((Traits::kCompareTags ? slot.tag == tag : true) && Traits::key(slot.item) == item) {
          return s;
        }
      }
      // Every group can have overflow > 0 at once (items displaced past each of them in turn,
      // the groups emptied since): after a full turn the item is absent.
      if (grp.overflow == 0 || ++probed > gmask_) return -1;
    }
  }

  // Enters slot s (tag `tag`) in the index; returns its entry (group * 8 + position).
  uint32_t index_insert(int32_t s, uint32_t tag) {
    for (uint32_t g = home_of(tag);; g = (g + 1) & gmask_) {
      Group& grp = groups_[g];
      const uint64_t e = empty_slots(grp.ctrl);
      if (e != 0) {
        const int i = std::countr_zero(e) >> 3;
        grp.ctrl |= ctrl_byte(tag) << (8 * i);
        grp.slot[i] = s;
        return g * 8 + static_cast<uint32_t>(i);
      }
      ++grp.overflow;
    }
  }

  // Removes a slot's item from the index: clears its entry and takes it out of the overflow
  // counts of the groups before it on its probe sequence.
  void index_erase(const Slot& slot) {
    const uint32_t at = slot.ipos >> 3;
    for (uint32_t g = home_of(slot.tag); g != at; g = (g + 1) & gmask_) {
      --groups_[g].overflow;
    }
    groups_[at].ctrl &= ~(uint64_t{0xFF} << (8 * (slot.ipos & 7)));
  }

  // Exchanges the counters (item, error, index entry) of slots a != b; their counts and runs
  // stay with the slots.
  void swap_slots(int32_t a, int32_t b) {
    Slot& x = slots_[a];
    Slot& y = slots_[b];
    std::swap(x, y);
    entry(x.ipos) = a;
    entry(y.ipos) = b;
  }

  // A counter for an item not monitored while fewer than capacity_ are in use.
  void add_new(Key item, uint32_t tag, uint64_t weight) {
    reserve_one_more();
    const auto s = static_cast<int32_t>(slots_.size());
    slots_.emplace_back();
    Traits::assign(&slots_.back().item, item);
    slots_.back().tag = tag;
    slots_.back().ipos = index_insert(s, tag);
    count_.push_back(0);
    run_.push_back(-1);
    rise(s, weight);
  }

  // Run ids: first_ has one id more than there are counters, so the free list (threaded
  // through first_) is never empty.
  int32_t alloc_run(int32_t first) {
    const int32_t r = free_run_;
    free_run_ = first_[r];
    first_[r] = first;
    return r;
  }
  void free_run(int32_t r) {
    first_[r] = free_run_;
    free_run_ = r;
  }

  // Adds w to the count of slot s.
  void increment(int32_t s, uint64_t w) {
    if (w == 1) {
      increment_one(s);
      return;
    }
    const int32_t r = run_[s];
    const int32_t f = first_[r];
    const uint64_t c = count_[s];
    // Move the counter to the front of its run, and the run's front past it.
    if (s != f) swap_slots(s, f);
    const auto n = static_cast<int32_t>(slots_.size());
    if (f + 1 < n && count_[f + 1] == c) {
      first_[r] = f + 1;
    } else if (f == 0 || count_[f - 1] > c + w) {  // alone, and no run to join or pass: relabel
      count_[f] = c + w;
      return;
    } else {
      free_run(r);
    }
    rise(f, c + w);
  }

  // increment(s, 1) with selects instead of branches for the run bookkeeping (as branches, its
  // data-dependent outcome cost 0.16 mispredicts per update on the Zipf input). The counter goes
  // to the front f of its run r and gets count c + 1; then `rest`: r still has counters (its
  // front becomes f + 1), `join`: the run before f has count c + 1 (f joins it). Neither: f
  // stays alone in r, relabelled. rest only: f starts a new run. join only: r is freed.
  void increment_one(int32_t s) {
    const int32_t r = run_[s];
    const int32_t f = first_[r];
    const uint64_t c = count_[s];
    if (s != f) swap_slots(s, f);
    count_[f] = c + 1;
    const auto n = static_cast<int32_t>(slots_.size());
    // Neighbours clamped into range: at the back count_[f] itself (now c + 1 != c); at the
    // front, join is masked by f > 0.
    const int32_t next = f + static_cast<int32_t>(f + 1 < n);
    const int32_t prev = f - static_cast<int32_t>(f > 0);
    const bool rest = count_[next] == c;
    const bool join = (count_[prev] == c + 1) & (f > 0);
    const int32_t prev_run = run_[prev];
    const int32_t head = free_run_;
    const int32_t head_next = first_[head];
    const bool take = rest & !join;
    const int32_t first_r = rest ? f + 1 : (join ? head : f);
    first_[r] = first_r;
    first_[take ? head : r] = take ? f : first_r;
    run_[f] = join ? prev_run : (take ? head : r);
    free_run_ = take ? head_next : ((!rest & join) ? r : head);
  }

  // Slot p holds a counter in no run, with every count before p above count_[p] and every one
  // after it at most count_[p]. Gives it the count `target` and moves it forward past the runs
  // of smaller counts (each such run's first counter takes slot p, and the run shifts back by
  // one), then joins the run of equal count before it or starts a new one.
  void rise(int32_t p, uint64_t target) {
    while (p > 0 && count_[p - 1] < target) {
      const int32_t r = run_[p - 1];
      const int32_t g = first_[r];
      swap_slots(p, g);
      count_[p] = count_[g];
      run_[p] = r;
      first_[r] = g + 1;
      p = g;
    }
    count_[p] = target;
    run_[p] = (p > 0 && count_[p - 1] == target) ? run_[p - 1] : alloc_run(p);
  }

  // Appends an entry whose count is <= every count present (rebuilds: copy, merge, restore).
  // Returns false for a duplicate item.
  bool append_sorted(Key item, uint64_t count, uint64_t error) {
    const uint64_t h = Traits::hash(item, salt_);
    if (lookup(item, h) >= 0) return false;
    reserve_one_more();
    const auto s = static_cast<int32_t>(slots_.size());
    slots_.emplace_back();
    Slot& slot = slots_.back();
    Traits::assign(&slot.item, item);
    slot.tag = static_cast<uint32_t>(h);
    slot.error = error;
    slot.ipos = index_insert(s, slot.tag);
    const bool joins = s > 0 && count_.back() == count;
    run_.push_back(joins ? run_.back() : alloc_run(s));
    count_.push_back(count);
    return true;
  }

  uint32_t capacity_;
  uint64_t total_ = 0;
  std::vector<Slot> slots_;      // at most capacity_, by count descending
  std::vector<uint64_t> count_;  // count_[s]: the count of slot s
  std::vector<int32_t> run_;     // run_[s]: the id of the run holding slot s
  std::vector<int32_t> first_;   // first_[r]: the first slot of run r (free ids: the next free)
  int32_t free_run_ = -1;        // head of the free run ids
  std::vector<Group> groups_;    // the item -> slot index (a power of two of groups)
  uint32_t gmask_ = 0;           // groups_.size() - 1
  uint32_t gshift_ = 32;         // 32 - log2(groups_.size())
  uint64_t salt_ = space_saving_salt();
};

using SpaceSaving = BasicSpaceSaving<std::string>;
using SpaceSavingU64 = BasicSpaceSaving<uint64_t>;

// ---- implementation ----

template <typename Item>
Status BasicSpaceSaving<Item>::merge(const BasicSpaceSaving& other) {
  if (other.capacity_ < capacity_) {
    return Status::invalid("space-saving merge: other has a smaller capacity");
  }
  if (other.total_ == 0) return Status::ok();
  const uint64_t min1 = min_count();  // other's min_count() enters through other.estimate()
  std::vector<Entry> all;
  all.reserve(slots_.size() + other.slots_.size());
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Bounds b2 = other.estimate(Traits::key(slots_[s].item));
    all.push_back(Entry{slots_[s].item, count_[s] + b2.count, slots_[s].error + b2.error});
  }
  for (size_t s = 0; s < other.slots_.size(); ++s) {
    const Slot& o = other.slots_[s];
    if (lookup(Traits::key(o.item), Traits::hash(Traits::key(o.item), salt_)) >= 0) continue;
    all.push_back(Entry{o.item, other.count_[s] + min1, o.error + min1});
  }
  auto by_rank = [](const Entry& a, const Entry& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.error != b.error) return a.error < b.error;
    return a.item < b.item;
  };
  std::sort(all.begin(), all.end(), by_rank);
  if (all.size() > capacity_) all.resize(capacity_);
  const uint64_t total = total_ + other.total_;
  clear();
  for (const Entry& e : all) append_sorted(Traits::key(e.item), e.count, e.error);
  total_ = total;
  return Status::ok();
}

template <typename Item>
std::vector<typename BasicSpaceSaving<Item>::Entry> BasicSpaceSaving<Item>::top(size_t k) const {
  std::vector<Entry> all;
  all.reserve(slots_.size());
  for (size_t s = 0; s < slots_.size(); ++s) {
    all.push_back(Entry{slots_[s].item, count_[s], slots_[s].error});
  }
  auto by_rank = [](const Entry& a, const Entry& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.error != b.error) return a.error < b.error;
    return a.item < b.item;
  };
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), by_rank);
  all.resize(k);
  return all;
}

// Payload v1: varint capacity, varint total, varint size, then per counter by count ascending
// (within equal counts, in eviction order: the next to be evicted first): varint count, varint
// error, item. Restoring rebuilds the same slot order, so a restored summary evicts as the
// original would.
template <typename Item>
std::string BasicSpaceSaving<Item>::serialize() const {
  ByteWriter w;
  w.varint(capacity_);
  w.varint(total_);
  w.varint(slots_.size());
  // Runs from the last (smallest count) to the first, each from its first slot.
  for (size_t end = slots_.size(); end > 0;) {
    const auto begin = static_cast<size_t>(first_[run_[end - 1]]);
    for (size_t s = begin; s < end; ++s) {
      w.varint(count_[s]);
      w.varint(slots_[s].error);
      Traits::write(&w, slots_[s].item);
    }
    end = begin;
  }
  return seal(kTypeTag, kVersion, w.data());
}

template <typename Item>
Result<BasicSpaceSaving<Item>> BasicSpaceSaving<Item>::deserialize(std::string_view bytes) {
  auto payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  uint64_t capacity = 0, total = 0, size = 0;
  if (!r.varint(&capacity) || !r.varint(&total) || !r.varint(&size)) {
    return Status::corruption("space-saving: truncated header");
  }
  if (capacity < 1 || capacity > kMaxCapacity) return Status::corruption("space-saving: capacity");
  if (size > capacity) return Status::corruption("space-saving: more counters than capacity");
  // Each counter takes at least 3 bytes: refuse a lying size before allocating.
  if (size > r.remaining() / 3) return Status::corruption("space-saving: truncated counters");
  const bool full = size == capacity;
  std::vector<Entry> entries(size);  // by count ascending, as stored
  uint64_t prev_count = 0, sum = 0;
  for (Entry& e : entries) {
    if (!r.varint(&e.count) || !r.varint(&e.error) || !Traits::read(&r, &e.item)) {
      return Status::corruption("space-saving: truncated counters");
    }
    if (e.count == 0 || e.count < prev_count) return Status::corruption("space-saving: bad order");
    if (e.error > e.count) return Status::corruption("space-saving: error above count");
    if (!full && e.error != 0) return Status::corruption("space-saving: error while not full");
    if (e.count > total - sum) return Status::corruption("space-saving: counts above total");
    sum += e.count;
    prev_count = e.count;
  }
  if (!r.at_end()) return Status::corruption("space-saving: trailing bytes");
  if (!full && sum != total) return Status::corruption("space-saving: counts != total");
  BasicSpaceSaving s(static_cast<uint32_t>(capacity));
  // Slots hold counts descending: append the runs of equal count from the largest count down,
  // each in its stored (eviction) order.
  for (size_t end = entries.size(); end > 0;) {
    size_t begin = end - 1;
    while (begin > 0 && entries[begin - 1].count == entries[end - 1].count) --begin;
    for (size_t i = begin; i < end; ++i) {
      if (!s.append_sorted(Traits::key(entries[i].item), entries[i].count, entries[i].error)) {
        return Status::corruption("space-saving: duplicate item");
      }
    }
    end = begin;
  }
  s.total_ = total;
  return s;
}

}  // namespace spate
