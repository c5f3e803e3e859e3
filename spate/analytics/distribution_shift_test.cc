#include "spate/analytics/distribution_shift.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "spate/common/serde.h"

namespace spate {
namespace {

// Zipf(s) over ranks 0..n-1 by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) cdf_[i] = (total += std::pow(static_cast<double>(i + 1), -s));
    for (double& c : cdf_) c /= total;
  }
  size_t operator()(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }
  double share(size_t rank) const { return cdf_[rank] - (rank == 0 ? 0.0 : cdf_[rank - 1]); }

 private:
  std::vector<double> cdf_;
};

// A minimal Space-Saving summary (Metwally et al. 2005) for the tests: k counters; an unmonitored
// item replaces the minimum and inherits its count as error.
class TinySpaceSaving {
 public:
  explicit TinySpaceSaving(size_t k) : k_(k) {}
  void add(const std::string& item) {
    ++total_;
    auto it = index_.find(item);
    if (it != index_.end()) {
      ++counts_[it->second].count;
      return;
    }
    if (names_.size() < k_) {
      index_.emplace(item, names_.size());
      names_.push_back(item);
      counts_.push_back(ItemCount{1, 0});
      return;
    }
    size_t min = 0;
    for (size_t i = 1; i < counts_.size(); ++i) {
      if (counts_[i].count < counts_[min].count) min = i;
    }
    index_.erase(names_[min]);
    index_.emplace(item, min);
    names_[min] = item;
    counts_[min] = ItemCount{counts_[min].count + 1, counts_[min].count};
  }
  CategoryCounts summary() const {
    CategoryCounts c;
    c.total = total_;
    for (size_t i = 0; i < names_.size(); ++i) c.items.emplace_back(names_[i], counts_[i]);
    if (names_.size() == k_) {
      uint64_t min = counts_[0].count;
      for (const ItemCount& x : counts_) min = std::min(min, x.count);
      c.unlisted_max = min;
    }
    return c;
  }

 private:
  size_t k_;
  uint64_t total_ = 0;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::string> names_;
  std::vector<ItemCount> counts_;
};

constexpr size_t kUniverse = 10'000;
constexpr double kZipfS = 1.1;
constexpr size_t kWindow = 50'000;
constexpr size_t kCapacity = 200;

// One window: kWindow Zipf draws; rank r is named name_of(r).
template <typename NameOf>
void fill_window(uint64_t seed, Zipf& zipf, NameOf name_of, TinySpaceSaving* sketch,
                 std::unordered_map<std::string, uint64_t>* exact) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < kWindow; ++i) {
    const std::string name = name_of(zipf(rng));
    sketch->add(name);
    if (exact != nullptr) ++(*exact)[name];
  }
}

std::string plain_name(size_t rank) { return "i" + std::to_string(rank); }
// The re-permuted distribution: the 10 most frequent ranks now belong to new items.
std::string permuted_name(size_t rank) {
  return rank < 10 ? "new" + std::to_string(rank) : plain_name(rank);
}

TEST(DistributionShift, IdenticalWindowsShowNoShift) {
  CategoryCounts w{{{"a", {500, 0}}, {"b", {300, 0}}, {"c", {200, 0}}}, 1000, 0};
  DistributionShift ds;
  Result<ShiftReport> r = ds.compare(w, w);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->tv, 0.0);
  EXPECT_NEAR(r->js, 0.0, 1e-12);
  EXPECT_FALSE(r->shift);
  EXPECT_EQ(r->cells, 4u);
  EXPECT_EQ(r->sketch_error, 0.0);
  EXPECT_TRUE(r->rising.empty());
  EXPECT_TRUE(r->falling.empty());
}

TEST(DistributionShift, DisjointWindowsAreAtDistanceOne) {
  CategoryCounts a{{{"a", {600, 0}}, {"b", {400, 0}}}, 1000, 0};
  CategoryCounts b{{{"c", {700, 0}}, {"d", {300, 0}}}, 1000, 0};
  Result<ShiftReport> r = DistributionShift().compare(a, b);
  ASSERT_TRUE(r.is_ok());
  EXPECT_NEAR(r->tv, 1.0, 1e-12);
  EXPECT_NEAR(r->js, 1.0, 1e-12);
  EXPECT_TRUE(r->shift);
  ASSERT_EQ(r->rising.size(), 2u);
  EXPECT_EQ(r->rising[0].item, "c");
  EXPECT_EQ(r->rising[0].before, 0.0);
  EXPECT_NEAR(r->rising[0].after, 0.7, 1e-12);
  ASSERT_EQ(r->falling.size(), 2u);
  EXPECT_EQ(r->falling[0].item, "a");
}

TEST(DistributionShift, ThresholdTermsFollowTheDocumentedFormulas) {
  // Exact window (error 0) vs a sketched one: sketch_error = sum of half-widths / N.
  CategoryCounts a{{{"x", {400, 0}}, {"y", {100, 0}}}, 1000, 0};
  CategoryCounts b{{{"x", {420, 40}}, {"z", {150, 20}}}, 1000, 30};
  const double alpha = 0.05;
  Result<ShiftReport> r = DistributionShift({.alpha = alpha}).compare(a, b);
  ASSERT_TRUE(r.is_ok());
  // Cells: x (certified in both), y (certified in a), z (130 > 30 in b) + other = 4.
  EXPECT_EQ(r->cells, 4u);
  // Half-widths in b: x 20, y unlisted [0, 30] -> 15, z 10; a is exact.
  EXPECT_NEAR(r->sketch_error, (20.0 + 15.0 + 10.0) / 1000.0, 1e-12);
  const double s = std::sqrt((4 * std::log(2.0) + std::log(2.0 / alpha)) / 2000.0);
  EXPECT_NEAR(r->sampling_error, 2 * s, 1e-12);
  EXPECT_NEAR(r->threshold, r->sketch_error + r->sampling_error, 1e-15);
  // Shares: a: x .4 y .1 z 0 other .5; b: x .4 y .015 z .14 other .445 -> tv = (0+.085+.14+.055)/2
  EXPECT_NEAR(r->tv, 0.14, 1e-12);
}

TEST(DistributionShift, SameZipfDistributionRarelyShifts) {
  // Two independent windows of 50k Zipf(1.1) draws each, summarized by 200-counter Space-Saving.
  // The threshold is a (1 - alpha) bound, so false positives should be at most ~alpha; BHC's 2^K
  // union bound is loose, so in practice tv stays far below the threshold.
  Zipf zipf(kUniverse, kZipfS);
  const int seeds = 40;
  int shifts = 0;
  double worst_ratio = 0.0;
  for (int seed = 0; seed < seeds; ++seed) {
    TinySpaceSaving a(kCapacity);
    TinySpaceSaving b(kCapacity);
    fill_window(2 * seed + 1, zipf, plain_name, &a, nullptr);
    fill_window(2 * seed + 2, zipf, plain_name, &b, nullptr);
    Result<ShiftReport> r = DistributionShift().compare(a.summary(), b.summary());
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    shifts += r->shift ? 1 : 0;
    worst_ratio = std::max(worst_ratio, r->tv / r->threshold);
  }
  std::printf("distribution_shift same Zipf: %d/%d shifts, max tv/threshold %.2f\n", shifts, seeds,
              worst_ratio);
  // With alpha = 0.01, P(>= 2 of 40) < 6%, and the bound's slack makes it far smaller.
  EXPECT_LE(shifts, 1);
}

TEST(DistributionShift, RepermutedZipfShiftsWithNewTopItemsRising) {
  Zipf zipf(kUniverse, kZipfS);
  // The 10 replaced ranks hold this much mass; the coarsened tv is about that.
  double top_mass = 0.0;
  for (size_t r = 0; r < 10; ++r) top_mass += zipf.share(r);
  for (int seed = 0; seed < 5; ++seed) {
    TinySpaceSaving a(kCapacity);
    TinySpaceSaving b(kCapacity);
    fill_window(100 + seed, zipf, plain_name, &a, nullptr);
    fill_window(200 + seed, zipf, permuted_name, &b, nullptr);
    Result<ShiftReport> r = DistributionShift().compare(a.summary(), b.summary());
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_TRUE(r->shift);
    EXPECT_NEAR(r->tv, top_mass, r->sketch_error + 0.03);
    EXPECT_GT(r->tv - r->threshold, 0.1);
    ASSERT_EQ(r->rising.size(), 5u);
    ASSERT_EQ(r->falling.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      // The five biggest risers are the five most frequent new items, in order; likewise the
      // fallers are the old top five.
      EXPECT_EQ(r->rising[i].item, "new" + std::to_string(i)) << "seed " << seed;
      EXPECT_EQ(r->falling[i].item, "i" + std::to_string(i)) << "seed " << seed;
      EXPECT_NEAR(r->rising[i].after, zipf.share(i), 0.02);
      EXPECT_NEAR(r->falling[i].before, zipf.share(i), 0.02);
    }
    if (seed == 0) {
      std::printf(
          "distribution_shift permuted Zipf: tv %.3f js %.3f threshold %.3f "
          "(sketch %.3f + sampling %.3f), %llu cells, top riser %s %.3f -> %.3f\n",
          r->tv, r->js, r->threshold, r->sketch_error, r->sampling_error,
          static_cast<unsigned long long>(r->cells), r->rising[0].item.c_str(), r->rising[0].before,
          r->rising[0].after);
    }
  }
}

TEST(DistributionShift, SketchErrorBoundsTheDistanceFromExactCounts) {
  // The deterministic part: tv from sketch counts is within sketch_error of the same statistic
  // computed from the exact window counts over the same cells.
  Zipf zipf(kUniverse, kZipfS);
  for (int seed = 0; seed < 10; ++seed) {
    TinySpaceSaving a(kCapacity / 2);
    TinySpaceSaving b(kCapacity / 2);
    std::unordered_map<std::string, uint64_t> ea;
    std::unordered_map<std::string, uint64_t> eb;
    fill_window(300 + seed, zipf, plain_name, &a, &ea);
    fill_window(400 + seed, zipf, seed % 2 ? permuted_name : plain_name, &b, &eb);
    const CategoryCounts sa = a.summary();
    const CategoryCounts sb = b.summary();
    // The cells compare() uses: items certified (count - error > unlisted_max) in either window.
    std::unordered_set<std::string> cells;
    for (const CategoryCounts* w : {&sa, &sb}) {
      for (const auto& [name, c] : w->items) {
        if (c.count - c.error > w->unlisted_max) cells.insert(name);
      }
    }
    auto exact = [&](const std::unordered_map<std::string, uint64_t>& counts) {
      CategoryCounts c;
      c.total = kWindow;
      for (const std::string& name : cells) {
        auto it = counts.find(name);
        if (it != counts.end()) c.items.emplace_back(name, ItemCount{it->second, 0});
      }
      return c;
    };
    DistributionShift ds;
    Result<ShiftReport> sketched = ds.compare(sa, sb);
    Result<ShiftReport> truth = ds.compare(exact(ea), exact(eb));
    ASSERT_TRUE(sketched.is_ok() && truth.is_ok());
    EXPECT_EQ(sketched->cells, cells.size() + 1);
    EXPECT_EQ(truth->cells, sketched->cells);
    EXPECT_LE(std::abs(sketched->tv - truth->tv), sketched->sketch_error) << "seed " << seed;
    EXPECT_EQ(truth->sketch_error, 0.0);
  }
}

TEST(DistributionShift, MinShareLimitsTheCells) {
  CategoryCounts a{{{"a", {900, 0}}, {"b", {50, 0}}, {"c", {50, 0}}}, 1000, 0};
  Result<ShiftReport> r = DistributionShift({.min_share = 0.1}).compare(a, a);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->cells, 2u);  // "a" and other
}

TEST(DistributionShift, InvalidWindowsAreRejected) {
  DistributionShift ds;
  const CategoryCounts ok{{{"a", {10, 0}}}, 10, 0};
  const std::vector<CategoryCounts> bad = {
      {{{"a", {10, 0}}}, 0, 0},                 // empty window
      {{{"a", {5, 6}}}, 10, 0},                 // error > count
      {{{"a", {11, 0}}}, 10, 0},                // count > total
      {{{"a", {5, 0}}, {"a", {1, 0}}}, 10, 0},  // duplicate
      {{{"a", {8, 0}}, {"b", {8, 0}}}, 10, 0},  // guaranteed counts above total
      {{{"a", {5, 0}}}, 10, 11},                // unlisted_max > total
  };
  for (const CategoryCounts& w : bad) {
    EXPECT_EQ(ds.compare(ok, w).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ds.compare(w, ok).status().code(), StatusCode::kInvalidArgument);
  }
  DistributionShift stateful;
  EXPECT_FALSE(stateful.observe(bad[0]).is_ok());
  EXPECT_EQ(stateful.windows(), 0u);
  EXPECT_THROW(DistributionShift({.alpha = 0.0}), std::invalid_argument);
  EXPECT_THROW(DistributionShift({.min_share = 2.0}), std::invalid_argument);
}

TEST(DistributionShift, ObserveComparesConsecutiveWindows) {
  DistributionShift ds;
  const CategoryCounts w1{{{"a", {800, 0}}, {"b", {200, 0}}}, 1000, 0};
  const CategoryCounts w2{{{"a", {790, 0}}, {"b", {210, 0}}}, 1000, 0};
  const CategoryCounts w3{{{"a", {100, 0}}, {"c", {900, 0}}}, 1000, 0};
  EXPECT_FALSE(*ds.observe(w1));
  EXPECT_FALSE(ds.last_report().has_value());
  EXPECT_FALSE(*ds.observe(w2));
  ASSERT_TRUE(ds.last_report().has_value());
  EXPECT_FALSE(ds.last_detection().has_value());
  EXPECT_TRUE(*ds.observe(w3));
  EXPECT_EQ(ds.windows(), 3u);
  EXPECT_EQ(ds.detections(), 1u);
  ASSERT_TRUE(ds.last_detection().has_value());
  EXPECT_EQ(ds.last_detection()->rising[0].item, "c");
  EXPECT_FALSE(*ds.observe(w3));  // w3 vs w3
  EXPECT_TRUE(ds.last_detection()->shift);
  EXPECT_FALSE(ds.last_report()->shift);
}

TEST(DistributionShift, SerializeRoundTripAndCorruption) {
  DistributionShift ds({.alpha = 0.05, .top = 3});
  ASSERT_TRUE(ds.observe({{{"a", {800, 0}}, {"b", {200, 0}}}, 1000, 0}).is_ok());
  ASSERT_TRUE(ds.observe({{{"a", {100, 5}}, {"c", {900, 10}}}, 1000, 3}).is_ok());
  const std::string good = ds.serialize();
  Result<DistributionShift> back = DistributionShift::deserialize(good);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->serialize(), good);
  EXPECT_EQ(back->options().top, 3u);
  EXPECT_EQ(back->detections(), 1u);
  ASSERT_TRUE(back->last_detection().has_value());
  EXPECT_EQ(back->last_detection()->rising[0].item, "c");
  // Both continue identically.
  const CategoryCounts next{{{"c", {850, 0}}, {"d", {150, 0}}}, 1000, 0};
  EXPECT_EQ(*ds.observe(next), *back->observe(next));
  EXPECT_EQ(ds.serialize(), back->serialize());

  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    EXPECT_FALSE(DistributionShift::deserialize(bad).is_ok()) << "flip at " << i;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DistributionShift::deserialize(good.substr(0, n)).is_ok()) << n;
  }
  EXPECT_FALSE(DistributionShift::deserialize(good + std::string(1, '\0')).is_ok());
  EXPECT_TRUE(DistributionShift::deserialize(DistributionShift().serialize()).is_ok());
}

}  // namespace
}  // namespace spate
