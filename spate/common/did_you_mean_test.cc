#include "spate/common/did_you_mean.h"

#include <gtest/gtest.h>

namespace spate {
namespace {

TEST(EditDistanceTest, BasicOperations) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("tumbeling", "tumbling"), 1u);  // one deletion
  EXPECT_EQ(edit_distance("tcpp", "tcp"), 1u);
  EXPECT_EQ(edit_distance("ftiler", "filter"), 2u);
}

TEST(EditDistanceTest, TranspositionCostsOne) {
  EXPECT_EQ(edit_distance("fitler", "filter"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
}

TEST(EditDistanceTest, IgnoresAsciiCase) {
  EXPECT_EQ(edit_distance("TCP", "tcp"), 0u);
  EXPECT_EQ(edit_distance("Json", "json"), 0u);
}

TEST(EditDistanceTest, IsSymmetric) {
  EXPECT_EQ(edit_distance("aggregate", "agregat"), edit_distance("agregat", "aggregate"));
}

TEST(DidYouMeanTest, SuggestsClosest) {
  const std::vector<std::string> keys = {"tumbling"};
  EXPECT_EQ(did_you_mean("tumbeling", keys), "; did you mean 'tumbling'?");
  const std::vector<std::string> types = {"file", "stdin", "tcp", "udp"};
  EXPECT_EQ(did_you_mean("tcpp", types), "; did you mean 'tcp'?");
  EXPECT_EQ(did_you_mean("stdni", types), "; did you mean 'stdin'?");
  EXPECT_EQ(did_you_mean("UDP", types), "; did you mean 'udp'?");
}

TEST(DidYouMeanTest, NothingWhenFar) {
  const std::vector<std::string> types = {"file", "stdin", "tcp", "udp"};
  EXPECT_EQ(did_you_mean("kafka", types), "");
  EXPECT_EQ(did_you_mean("", types), "");
  // Two edits on a two-letter name rewrite it completely: no suggestion.
  EXPECT_EQ(did_you_mean("xy", {"ab"}), "");
}

TEST(DidYouMeanTest, NothingWhenExact) { EXPECT_EQ(did_you_mean("tcp", {"tcp", "udp"}), ""); }

TEST(DidYouMeanTest, LongNamesAllowAThirdOfTheirLength) {
  // 12 letters: up to 4 edits.
  EXPECT_EQ(did_you_mean("mxx_outoforder", {"max_out_of_order"}),
            "; did you mean 'max_out_of_order'?");
  EXPECT_EQ(did_you_mean("abcdefghijkl", {"abcdefghijkl_zzzzzzz"}), "");
}

TEST(DidYouMeanTest, TiesGoToTheEarlierEntry) {
  EXPECT_EQ(did_you_mean("cat", {"bat", "hat"}), "; did you mean 'bat'?");
  EXPECT_EQ(did_you_mean("cat", {"hat", "bat"}), "; did you mean 'hat'?");
}

TEST(DidYouMeanTest, PrefersSmallerDistance) {
  EXPECT_EQ(did_you_mean("fiter", {"first", "filter"}), "; did you mean 'filter'?");
}

TEST(OneOfTest, JoinsWithCommas) {
  EXPECT_EQ(one_of({"a", "b", "c"}), "one of: a, b, c");
  EXPECT_EQ(one_of({"json"}), "one of: json");
}

}  // namespace
}  // namespace spate
