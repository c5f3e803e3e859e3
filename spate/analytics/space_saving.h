#pragma once
// SpaceSaving: top-k / heavy hitters with m counters (Metwally, Agrawal, El Abbadi, "Efficient
// computation of frequent and top-k elements in data streams", ICDT 2005), kept in their
// stream-summary structure: buckets of equal count in a doubly linked list sorted by count, each
// holding a circular list of its counters, and an item -> counter index (open addressing over
// groups of 8 slots probed linearly group by group, load <= 1/2, hashed with a per-summary salt;
// see Group).
//
// Guarantee: for every monitored item, count - error <= true <= count; an item not monitored
// has true <= min_count() (0 while fewer than m items were seen); min_count() <= total() / m, so
// every item with true frequency > total() / m is monitored (Metwally et al. 2005, Lemmas 3.3,
// 3.4). merge() keeps all of this (the mergeable-summaries construction of Agarwal, Cormode,
// Huang, Phillips, Wei, Yi, "Mergeable summaries", PODS 2012, section 3, written for
// Space-Saving counters: see merge()).
//
// Cost: add(item) with weight 1 is O(1) expected (one index probe and a few list moves, no
// allocation once m distinct items were seen; replacing a std::string item reuses its buffer when
// the new item fits). add(item, w) walks the bucket list from the item's bucket to count + w: O(1 +
// the number of distinct counts in (count, count + w]), at most O(m); for small weights that is
// O(w). top(k) sorts the m counters: O(m log m).
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
  static Key key(uint64_t v) { return v; }
  // murmur3's fmix64 of the salted key.
  static uint64_t hash(Key k, uint64_t salt) {
    k += salt;
    k = (k ^ (k >> 33)) * 0xff51afd7ed558ccdull;
    k = (k ^ (k >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
  }
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
    const int32_t found = lookup(item, h);
    if (found >= 0) {
      increment(found, weight);
      return;
    }
    if (counters_.size() < capacity_) {
      reserve_one_more();
      const auto c = static_cast<int32_t>(counters_.size());
      counters_.emplace_back();
      Traits::assign(&counters_.back().item, item);
      counters_.back().tag = static_cast<uint32_t>(h);
      index_insert(c, static_cast<uint32_t>(h));
      place_new(c, weight);
      return;
    }
    // Full: the item takes over the oldest counter of the minimum bucket, inheriting its count
    // as error (its true frequency so far is at most that count).
    const int32_t b = min_bucket_;
    const int32_t c = buckets_[b].head;
    Counter& ctr = counters_[c];
    index_erase(c, ctr.tag);
    Traits::assign(&ctr.item, item);
    ctr.tag = static_cast<uint32_t>(h);
    ctr.error = buckets_[b].count;
    index_insert(c, ctr.tag);
    increment(c, weight);
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
    const Counter& c = counters_[found];
    return {buckets_[c.bucket].count, c.error};
  }

  // Sum of the weights added (N).
  uint64_t total() const { return total_; }
  uint32_t capacity() const { return capacity_; }
  size_t size() const { return counters_.size(); }
  // The smallest count once all m counters are in use, else 0.
  uint64_t min_count() const {
    return counters_.size() < capacity_ ? 0 : buckets_[min_bucket_].count;
  }
  // Forgets every item and the total but keeps the storage: a summary reused per epoch (the
  // hot-key detector of spate/runtime/grouping.h) stops allocating once it has been full.
  // O(capacity) (the index is wiped in place).
  void clear() {
    total_ = 0;
    counters_.clear();
    buckets_.clear();
    free_bucket_ = -1;
    min_bucket_ = -1;
    std::fill(groups_.begin(), groups_.end(), Group{});
  }

  std::string serialize() const;
  static Result<BasicSpaceSaving> deserialize(std::string_view bytes);

 private:
  struct Counter {
    Item item{};
    uint64_t error = 0;
    uint32_t tag = 0;  // low 32 bits of Traits::hash(item, salt_): locates its index slot
    int32_t bucket = -1;
    int32_t prev = -1;  // circular list inside the bucket; the bucket's head is the oldest
    int32_t next = -1;
  };
  struct Bucket {
    uint64_t count = 0;
    int32_t head = -1;
    int32_t prev = -1;  // bucket list by count ascending; min_bucket_ is its head
    int32_t next = -1;
  };

  // Storage grows with the number of counters in use (up to capacity_, then stays): a large
  // capacity costs memory only once that many distinct items were seen.
  void init_storage() {
    buckets_.clear();
    free_bucket_ = -1;
    groups_.assign(2, Group{});
    gmask_ = 1;
  }

  // The item -> counter index: groups of 8 slots. A slot's control byte is 0 when empty, else
  // 0x80 | 7 bits of the item's hash, so one 64-bit word answers "which slots may hold this
  // item" and "is there a free slot" for the whole group without a branch per slot. An item
  // lives in its home group (hash bits 7 and up) or, when that group was full, in one of the
  // following groups (linear probing by group); `overflow` counts the live items whose probe
  // sequence crosses a group (stored past it), so a lookup stops at the first group with
  // overflow == 0 and an erase needs no tombstones: probe lengths depend only on the items
  // present, never on how many came and went. At load <= 1/2 a group overflows rarely: almost
  // every lookup reads one 64-byte group, and its loops and exits are predictable.
  struct alignas(64) Group {
    uint64_t ctrl = 0;      // byte i: 0 (slot i empty) or 0x80 | tag7
    uint32_t overflow = 0;  // items whose probe sequence passes this group
    int32_t counter[8] = {};
  };
  static constexpr uint64_t kLsb = 0x0101010101010101ull;
  static constexpr uint64_t kMsb = 0x8080808080808080ull;
  static uint32_t home_of(uint32_t tag, uint32_t gmask) { return (tag >> 7) & gmask; }
  static uint64_t ctrl_byte(uint32_t tag) { return 0x80u | (tag & 0x7Fu); }
  // Bytes of `ctrl` equal to `byte` have their top bit set in the result (a byte above a true
  // match can be a false positive; callers verify every candidate).
  static uint64_t match(uint64_t ctrl, uint64_t byte) {
    const uint64_t x = ctrl ^ (byte * kLsb);
    return (x - kLsb) & ~x & kMsb;
  }
  static uint64_t empty_slots(uint64_t ctrl) { return ~ctrl & kMsb; }

  // Makes room for one more counter: grows the bucket pool and doubles the index (rehashing by
  // the counters' stored tags) when it would be more than half full. Called before adding a
  // counter.
  void reserve_one_more() {
    // Bucket slots for every counter plus one: once full, moves never allocate.
    const size_t want = counters_.size() + 2;
    if (buckets_.capacity() < want) {
      buckets_.reserve(std::min(2 * want, size_t{capacity_} + 1));
    }
    if ((counters_.size() + 1) * 2 <= groups_.size() * 8) return;
    groups_.assign(groups_.size() * 2, Group{});
    gmask_ = static_cast<uint32_t>(groups_.size() - 1);
    for (size_t c = 0; c < counters_.size(); ++c) {
      index_insert(static_cast<int32_t>(c), counters_[c].tag);
    }
  }

  // The counter holding `item` (hash h), or -1.
  int32_t lookup(Key item, uint64_t h) const {
    const auto tag = static_cast<uint32_t>(h);
    const uint64_t byte = ctrl_byte(tag);
    uint32_t g = home_of(tag, gmask_);
    for (uint32_t probed = 0;; g = (g + 1) & gmask_) {
      const Group& grp = groups_[g];
      for (uint64_t m = match(grp.ctrl, byte); m != 0; m &= m - 1) {
        const int32_t c = grp.counter[std::countr_zero(m) >> 3];
        const Counter& ctr = counters_[c];
        if (ctr.tag == tag && Traits::key(ctr.item) == item) return c;
      }
      // Every group can have overflow > 0 at once (items displaced past each of them in turn,
      // the groups emptied since): after a full turn the item is absent.
      if (grp.overflow == 0 || ++probed > gmask_) return -1;
    }
  }

  void index_insert(int32_t c, uint32_t tag) {
    for (uint32_t g = home_of(tag, gmask_);; g = (g + 1) & gmask_) {
      Group& grp = groups_[g];
      const uint64_t e = empty_slots(grp.ctrl);
      if (e != 0) {
        const int i = std::countr_zero(e) >> 3;
        grp.ctrl |= ctrl_byte(tag) << (8 * i);
        grp.counter[i] = c;
        return;
      }
      ++grp.overflow;
    }
  }

  // Removes counter c (tag `tag`) from the index: clears its slot and takes it out of the
  // overflow counts of the groups before it on its probe sequence.
  void index_erase(int32_t c, uint32_t tag) {
    const uint64_t byte = ctrl_byte(tag);
    for (uint32_t g = home_of(tag, gmask_);; g = (g + 1) & gmask_) {
      Group& grp = groups_[g];
      for (uint64_t m = match(grp.ctrl, byte); m != 0; m &= m - 1) {
        const int i = std::countr_zero(m) >> 3;
        if (grp.counter[i] == c) {
          grp.ctrl &= ~(uint64_t{0xFF} << (8 * i));
          return;
        }
      }
      --grp.overflow;
    }
  }

  void clear_storage() {
    counters_.clear();
    min_bucket_ = -1;
    init_storage();
  }

  int32_t alloc_bucket(uint64_t count) {
    if (free_bucket_ == -1) {  // at most capacity_ + 1 buckets ever exist
      buckets_.emplace_back();
      free_bucket_ = static_cast<int32_t>(buckets_.size() - 1);
      buckets_.back().next = -1;
    }
    const int32_t b = free_bucket_;
    free_bucket_ = buckets_[b].next;
    buckets_[b] = Bucket{count, -1, -1, -1};
    return b;
  }

  // Links bucket b after bucket p (p == -1: at the front).
  void link_bucket_after(int32_t b, int32_t p) {
    Bucket& nb = buckets_[b];
    nb.prev = p;
    if (p == -1) {
      nb.next = min_bucket_;
      if (min_bucket_ != -1) buckets_[min_bucket_].prev = b;
      min_bucket_ = b;
    } else {
      nb.next = buckets_[p].next;
      if (nb.next != -1) buckets_[nb.next].prev = b;
      buckets_[p].next = b;
    }
  }

  void unlink_and_free_bucket(int32_t b) {
    Bucket& ob = buckets_[b];
    if (ob.prev != -1) {
      buckets_[ob.prev].next = ob.next;
    } else {
      min_bucket_ = ob.next;
    }
    if (ob.next != -1) buckets_[ob.next].prev = ob.prev;
    ob.next = free_bucket_;
    free_bucket_ = b;
  }

  // Appends counter c at the tail of bucket b's circular list.
  void attach(int32_t c, int32_t b) {
    Counter& ctr = counters_[c];
    Bucket& bk = buckets_[b];
    ctr.bucket = b;
    if (bk.head == -1) {
      bk.head = ctr.prev = ctr.next = c;
      return;
    }
    const int32_t tail = counters_[bk.head].prev;
    ctr.prev = tail;
    ctr.next = bk.head;
    counters_[tail].next = c;
    counters_[bk.head].prev = c;
  }

  // Removes counter c from its bucket; returns true when the bucket became empty.
  bool detach(int32_t c) {
    Counter& ctr = counters_[c];
    Bucket& bk = buckets_[ctr.bucket];
    if (ctr.next == c) {
      bk.head = -1;
      return true;
    }
    counters_[ctr.prev].next = ctr.next;
    counters_[ctr.next].prev = ctr.prev;
    if (bk.head == c) bk.head = ctr.next;
    return false;
  }

  // Adds w to counter c's count.
  void increment(int32_t c, uint64_t w) {
    const int32_t b = counters_[c].bucket;
    const uint64_t target = buckets_[b].count + w;
    if (w == 1) {  // the common case: the next bucket holds count + 1 or there is none between
      const int32_t n = buckets_[b].next;
      if (n != -1 && buckets_[n].count == target) {
        if (detach(c)) unlink_and_free_bucket(b);
        attach(c, n);
      } else if (counters_[c].next == c) {  // alone: relabel
        buckets_[b].count = target;
      } else {
        const int32_t nb = alloc_bucket(target);
        link_bucket_after(nb, b);
        detach(c);
        attach(c, nb);
      }
      return;
    }
    // p: the last bucket with count <= target, searching forward from b.
    int32_t p = b;
    for (int32_t n = buckets_[p].next; n != -1 && buckets_[n].count <= target;
         n = buckets_[n].next) {
      p = n;
    }
    if (buckets_[p].count == target) {
      if (detach(c)) unlink_and_free_bucket(b);
      attach(c, p);
      return;
    }
    if (p == b && counters_[c].next == c) {  // alone, and no bucket in between: relabel
      buckets_[b].count = target;
      return;
    }
    const int32_t nb = alloc_bucket(target);
    link_bucket_after(nb, p);
    if (detach(c)) unlink_and_free_bucket(b);
    attach(c, nb);
  }

  // Puts a new counter c (not in any bucket) at count w.
  void place_new(int32_t c, uint64_t w) {
    int32_t p = -1;
    for (int32_t n = min_bucket_; n != -1 && buckets_[n].count <= w; n = buckets_[n].next) p = n;
    if (p != -1 && buckets_[p].count == w) {
      attach(c, p);
      return;
    }
    const int32_t nb = alloc_bucket(w);
    link_bucket_after(nb, p);
    attach(c, nb);
  }

  // The last bucket in the list (largest count), or -1.
  int32_t max_bucket() const {
    int32_t b = min_bucket_;
    while (b != -1 && buckets_[b].next != -1) b = buckets_[b].next;
    return b;
  }

  // Appends an entry whose count is >= every count present (rebuilds: copy, merge, restore).
  // Returns false for a duplicate item.
  bool append_sorted(Key item, uint64_t count, uint64_t error, int32_t* last_bucket) {
    const uint64_t h = Traits::hash(item, salt_);
    if (lookup(item, h) >= 0) return false;
    reserve_one_more();
    const auto c = static_cast<int32_t>(counters_.size());
    counters_.emplace_back();
    Traits::assign(&counters_.back().item, item);
    counters_.back().tag = static_cast<uint32_t>(h);
    counters_.back().error = error;
    index_insert(c, static_cast<uint32_t>(h));
    if (*last_bucket == -1 || buckets_[*last_bucket].count != count) {
      const int32_t nb = alloc_bucket(count);
      link_bucket_after(nb, *last_bucket);
      *last_bucket = nb;
    }
    attach(c, *last_bucket);
    return true;
  }

  // Visits counters by count ascending, each bucket from its oldest counter.
  template <typename F>
  void for_each_ascending(F&& f) const {
    for (int32_t b = min_bucket_; b != -1; b = buckets_[b].next) {
      int32_t c = buckets_[b].head;
      do {
        f(counters_[c], buckets_[b].count);
        c = counters_[c].next;
      } while (c != buckets_[b].head);
    }
  }

  uint32_t capacity_;
  uint64_t total_ = 0;
  int32_t min_bucket_ = -1;
  int32_t free_bucket_ = -1;
  std::vector<Counter> counters_;  // at most capacity_
  std::vector<Bucket> buckets_;    // grows to at most capacity_ + 1 (one extra during a move)
  std::vector<Group> groups_;  // the item -> counter index (a power of two of groups)
  uint32_t gmask_ = 0;         // groups_.size() - 1
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
  all.reserve(counters_.size() + other.counters_.size());
  for (const Counter& c : counters_) {
    const Bounds b2 = other.estimate(Traits::key(c.item));
    all.push_back(Entry{c.item, buckets_[c.bucket].count + b2.count, c.error + b2.error});
  }
  for (const Counter& c : other.counters_) {
    if (lookup(Traits::key(c.item), Traits::hash(Traits::key(c.item), salt_)) >= 0) continue;
    all.push_back(Entry{c.item, other.buckets_[c.bucket].count + min1, c.error + min1});
  }
  auto by_rank = [](const Entry& a, const Entry& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.error != b.error) return a.error < b.error;
    return a.item < b.item;
  };
  std::sort(all.begin(), all.end(), by_rank);
  if (all.size() > capacity_) all.resize(capacity_);
  const uint64_t total = total_ + other.total_;
  clear_storage();
  int32_t last = -1;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    append_sorted(Traits::key(it->item), it->count, it->error, &last);
  }
  total_ = total;
  return Status::ok();
}

template <typename Item>
std::vector<typename BasicSpaceSaving<Item>::Entry> BasicSpaceSaving<Item>::top(size_t k) const {
  std::vector<Entry> all;
  all.reserve(counters_.size());
  for (const Counter& c : counters_)
    all.push_back(Entry{c.item, buckets_[c.bucket].count, c.error});
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
// (each bucket from its oldest counter): varint count, varint error, item.
template <typename Item>
std::string BasicSpaceSaving<Item>::serialize() const {
  ByteWriter w;
  w.varint(capacity_);
  w.varint(total_);
  w.varint(counters_.size());
  for_each_ascending([&](const Counter& ctr, uint64_t count) {
    w.varint(count);
    w.varint(ctr.error);
    Traits::write(&w, ctr.item);
  });
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
  BasicSpaceSaving s(static_cast<uint32_t>(capacity));
  const bool full = size == capacity;
  int32_t last = -1;
  uint64_t prev_count = 0, sum = 0;
  Item item{};
  for (uint64_t i = 0; i < size; ++i) {
    uint64_t count = 0, error = 0;
    if (!r.varint(&count) || !r.varint(&error) || !Traits::read(&r, &item)) {
      return Status::corruption("space-saving: truncated counters");
    }
    if (count == 0 || count < prev_count) return Status::corruption("space-saving: bad order");
    if (error > count) return Status::corruption("space-saving: error above count");
    if (!full && error != 0) return Status::corruption("space-saving: error while not full");
    if (count > total - sum) return Status::corruption("space-saving: counts above total");
    sum += count;
    prev_count = count;
    if (!s.append_sorted(Traits::key(item), count, error, &last)) {
      return Status::corruption("space-saving: duplicate item");
    }
  }
  if (!r.at_end()) return Status::corruption("space-saving: trailing bytes");
  if (!full && sum != total) return Status::corruption("space-saving: counts != total");
  s.total_ = total;
  return s;
}

}  // namespace spate
