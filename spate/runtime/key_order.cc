#include "spate/runtime/key_order.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>

namespace spate {

bool key_less(const Value& x, const Value& y) {
  bool ok;
  const int c = compare_values(x, y, &ok);
  if (ok) return c < 0;
  return static_cast<int>(x.type) < static_cast<int>(y.type);
}

namespace {

// 8 bytes of s from `at` as a big-endian number, zero past the end: numbers compare as the
// bytes do (unsigned, like memcmp), except that a string ending inside the window ties with one
// that continues with zero bytes; such ties are settled by the full comparison.
uint64_t be64(std::string_view s, size_t at) {
  unsigned char b[8] = {};
  if (at < s.size()) std::memcpy(b, s.data() + at, std::min<size_t>(8, s.size() - at));
  uint64_t x = 0;
  for (unsigned char c : b) x = (x << 8) | c;
  return x;
}

// 32 bytes of the key after the shared prefix: page-like keys ("/product/garden/guide-1973")
// tie in their first 16 bytes in 3 of 4 neighbouring pairs and in their first 32 almost never,
// and a tie costs a cache miss on the key in the row.
constexpr size_t kWords = 4;
struct Item {
  uint64_t w[kWords];
  uint32_t idx;
};

}  // namespace

bool key_order(const OutputRows& rows, std::vector<uint32_t>* order) {
  const size_t n = rows.rows();
  order->resize(n);
  std::iota(order->begin(), order->end(), uint32_t{0});
  auto key = [&](size_t i) -> const Value& { return rows.row(i)[0].value; };
  bool sorted = true, strings = true;
  size_t shared = 0;  // length of the prefix every key has
  std::string_view first;
  for (size_t i = 0; i < n; ++i) {
    const Value& k = key(i);
    if (sorted && i > 0 && key_less(k, key(i - 1))) sorted = false;
    if (!k.is_string()) {
      strings = false;
    } else if (strings) {
      const std::string_view s = k.sv();
      if (i == 0) {
        first = s;
        shared = s.size();
      } else {
        size_t m = 0;
        while (m < shared && m < s.size() && s[m] == first[m]) ++m;
        shared = m;
      }
    }
  }
  if (sorted) return false;
  if (!strings) {
    std::stable_sort(order->begin(), order->end(),
                     [&](uint32_t a, uint32_t b) { return key_less(key(a), key(b)); });
    return true;
  }
  std::vector<Item> items(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string_view s = key(i).sv();
    Item& it = items[i];
    for (size_t k = 0; k < kWords; ++k) it.w[k] = be64(s, shared + 8 * k);
    it.idx = static_cast<uint32_t>(i);
  }
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    for (size_t k = 0; k < kWords; ++k) {
      if (a.w[k] != b.w[k]) return a.w[k] < b.w[k];
    }
    const int c = key(a.idx).sv().substr(shared).compare(key(b.idx).sv().substr(shared));
    if (c != 0) return c < 0;
    return a.idx < b.idx;
  });
  for (size_t i = 0; i < n; ++i) (*order)[i] = items[i].idx;
  return true;
}

}  // namespace spate
