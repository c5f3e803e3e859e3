// key_order against a plain stable sort by key_less, on keys built to hit its shortcuts: a long
// shared prefix, ties in the 32 bytes after it, strings that end inside those bytes, zero and
// 0xff bytes, duplicates (stability), and keys of mixed kinds.

#include "spate/runtime/key_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace spate {
namespace {

std::unique_ptr<OutputRows> rows_with(const std::vector<Value>& keys) {
  auto out = std::make_unique<OutputRows>();
  OutputRows& rows = *out;
  rows.reset(std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"k", "n"}));
  for (size_t i = 0; i < keys.size(); ++i) {
    OutField* r = rows.add_row();
    r[0].value = keys[i].is_string() ? Value::string(rows.arena().copy(keys[i].sv())) : keys[i];
    r[1].value = Value::integer(static_cast<int64_t>(i));
  }
  return out;
}

std::vector<uint32_t> reference(const OutputRows& rows) {
  std::vector<uint32_t> order(rows.rows());
  std::iota(order.begin(), order.end(), uint32_t{0});
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return key_less(rows.row(a)[0].value, rows.row(b)[0].value);
  });
  return order;
}

std::string random_key(std::mt19937_64& rng, const std::string& shared) {
  static const std::string kAlphabet = std::string("ab/-z09", 7) + std::string(1, '\0') + "\xff";
  std::string s = shared;
  // Half of the keys start with a run of 'p' that ends just before, inside or just after the 32
  // compared bytes (ties there, settled by the bytes after them); tails are short random bytes.
  if (rng() % 2 == 0) s.append(26 + rng() % 10, 'p');
  const size_t len = rng() % 12;
  for (size_t i = 0; i < len; ++i) s.push_back(kAlphabet[rng() % kAlphabet.size()]);
  return s;
}

TEST(KeyOrderTest, StringKeysMatchAStableSort) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 300; ++round) {
    const std::string shared = round % 3 == 0 ? "" : std::string(round % 40, 'x') + "/product/";
    const size_t n = 1 + rng() % 400;
    std::vector<std::string> pool;
    for (size_t i = 0; i < 1 + n / 3; ++i) pool.push_back(random_key(rng, shared));
    std::vector<std::string> keys(n);
    for (auto& k : keys) k = pool[rng() % pool.size()];  // duplicates: stability matters
    std::vector<Value> vals;
    for (const auto& k : keys) vals.push_back(Value::string(k));
    const auto rows_p = rows_with(vals);
    const OutputRows& rows = *rows_p;
    std::vector<uint32_t> got;
    const bool moved = key_order(rows, &got);
    const std::vector<uint32_t> want = reference(rows);
    ASSERT_EQ(got, want) << "round " << round << ", shared prefix '" << shared << "'";
    std::vector<uint32_t> identity(n);
    std::iota(identity.begin(), identity.end(), uint32_t{0});
    EXPECT_EQ(moved, want != identity) << "round " << round;
  }
}

TEST(KeyOrderTest, PrefixesAndZeroBytesOrderLikeMemcmp) {
  const std::vector<std::string> keys = {std::string("ab\0", 3),
                                         "ab",
                                         std::string("ab\0\0", 4),
                                         "a",
                                         "",
                                         "ab\xff",
                                         "ab\x01",
                                         std::string(20, 'q'),
                                         std::string(19, 'q'),
                                         std::string(17, 'q') + "\xff",
                                         "ab"};
  std::vector<Value> vals;
  for (const auto& k : keys) vals.push_back(Value::string(k));
  const auto rows_p = rows_with(vals);
  const OutputRows& rows = *rows_p;
  std::vector<uint32_t> got;
  ASSERT_TRUE(key_order(rows, &got));
  EXPECT_EQ(got, reference(rows));
  // Spelled out: "" < "a" < "ab" (twice, in input order) < "ab\0" < "ab\0\0" < "ab\x01" < ...
  EXPECT_EQ(got[0], 4u);
  EXPECT_EQ(got[1], 3u);
  EXPECT_EQ(got[2], 1u);
  EXPECT_EQ(got[3], 10u);
  EXPECT_EQ(got[4], 0u);
  EXPECT_EQ(got[5], 2u);
  EXPECT_EQ(got[6], 6u);
}

TEST(KeyOrderTest, MixedKindsMatchAStableSort) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 100; ++round) {
    const size_t n = 1 + rng() % 200;
    std::vector<Value> vals;
    std::vector<std::string> strs(n);
    for (size_t i = 0; i < n; ++i) {
      switch (rng() % 5) {
        case 0:
          vals.push_back(Value::integer(static_cast<int64_t>(rng() % 50) - 25));
          break;
        case 1:
          vals.push_back(Value::real(static_cast<double>(rng() % 50) / 2 - 12));
          break;
        case 2:
          vals.push_back(Value::boolean(rng() % 2 == 0));
          break;
        case 3:
          vals.push_back(Value());
          break;
        default:
          strs[i] = random_key(rng, "k");
          vals.push_back(Value::string(strs[i]));
      }
    }
    const auto rows_p = rows_with(vals);
    const OutputRows& rows = *rows_p;
    std::vector<uint32_t> got;
    key_order(rows, &got);
    ASSERT_EQ(got, reference(rows)) << "round " << round;
  }
}

TEST(KeyOrderTest, SortedInputIsLeftAlone) {
  const auto rows_p =
      rows_with({Value::string("a"), Value::string("b"), Value::string("b"), Value::string("c")});
  const OutputRows& rows = *rows_p;
  std::vector<uint32_t> got = {9, 9};
  EXPECT_FALSE(key_order(rows, &got));
  EXPECT_EQ(got, (std::vector<uint32_t>{0, 1, 2, 3}));
  const auto none_p = rows_with({});
  const OutputRows& none = *none_p;
  EXPECT_FALSE(key_order(none, &got));
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace spate
