#include "spate/runtime/output.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spate {
namespace {

// permute() follows the permutation's cycles in place: every permutation of every small size
// (and random larger ones) must put old row order[i] at row i.
TEST(OutputRows, PermuteMovesEveryRowWhereTheOrderSays) {
  auto names = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"a", "b"});
  std::mt19937_64 rng(7);
  for (size_t n = 0; n <= 300; n += (n < 8 ? 1 : 37)) {
    for (int trial = 0; trial < (n < 8 ? 40 : 5); ++trial) {
      OutputRows rows;
      rows.reset(names);
      for (size_t i = 0; i < n; ++i) {
        OutField* r = rows.add_row();
        r[0].value = Value::integer(static_cast<int64_t>(i));
        r[1].value = Value::integer(static_cast<int64_t>(1000 + i));
      }
      std::vector<uint32_t> order(n);
      std::iota(order.begin(), order.end(), 0u);
      std::shuffle(order.begin(), order.end(), rng);
      const std::vector<uint32_t> want = order;
      rows.permute(order);
      ASSERT_EQ(rows.rows(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(rows.row(i)[0].value.i, static_cast<int64_t>(want[i])) << n << " " << i;
        ASSERT_EQ(rows.row(i)[1].value.i, static_cast<int64_t>(1000 + want[i]));
      }
    }
  }
}

}  // namespace
}  // namespace spate
