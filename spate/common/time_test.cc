#include "spate/common/time.h"

#include <gtest/gtest.h>

namespace spate {
namespace {

constexpr int64_t k2026 = 1767225600000;  // 2026-01-01T00:00:00Z in ms

TEST(EpochNumbers, SecondsMillisMicrosAndNanosByMagnitude) {
  int64_t ms = 0;
  ASSERT_TRUE(epoch_number_to_ms(1767225600.0, &ms));
  EXPECT_EQ(ms, k2026);
  ASSERT_TRUE(epoch_number_to_ms(1767225600.25, &ms));  // fractional seconds
  EXPECT_EQ(ms, k2026 + 250);
  ASSERT_TRUE(epoch_number_to_ms(1767225600123.0, &ms));
  EXPECT_EQ(ms, k2026 + 123);
  ASSERT_TRUE(epoch_number_to_ms(1767225600123456.0, &ms));
  EXPECT_EQ(ms, k2026 + 123);
  ASSERT_TRUE(epoch_number_to_ms(1767225600123456789.0, &ms));
  EXPECT_NEAR(static_cast<double>(ms), static_cast<double>(k2026 + 123), 1.0);
  ASSERT_TRUE(epoch_number_to_ms(0, &ms));
  EXPECT_EQ(ms, 0);
}

TEST(EpochNumbers, OutOfRangeIsRejected) {
  int64_t ms = 0;
  EXPECT_FALSE(epoch_number_to_ms(-1, &ms));                    // before 1970
  EXPECT_FALSE(epoch_number_to_ms(3e20, &ms));  // nanoseconds after 9999
  EXPECT_FALSE(epoch_number_to_ms(1e300, &ms));
  EXPECT_FALSE(epoch_number_to_ms(std::numeric_limits<double>::infinity(), &ms));
  EXPECT_FALSE(epoch_number_to_ms(std::numeric_limits<double>::quiet_NaN(), &ms));
}

TEST(Rfc3339, OffsetsFractionsAndRoundTrip) {
  EXPECT_EQ(*parse_rfc3339_ms("2026-01-01T00:00:00Z"), k2026);
  EXPECT_EQ(*parse_rfc3339_ms("2026-01-01T01:00:00.250+01:00"), k2026 + 250);
  EXPECT_EQ(*parse_rfc3339_ms("2025-12-31T19:30:00-04:30"), k2026);
  EXPECT_EQ(*parse_rfc3339_ms("2026-01-01 00:00:00.123456Z"), k2026 + 123);  // µs truncated
  EXPECT_EQ(format_rfc3339_ms(k2026 + 5), "2026-01-01T00:00:00.005Z");
  EXPECT_EQ(*parse_rfc3339_ms(format_rfc3339_ms(k2026 + 987654321)), k2026 + 987654321);
  EXPECT_FALSE(parse_rfc3339_ms("2026-13-01T00:00:00Z").is_ok());
  EXPECT_FALSE(parse_rfc3339_ms("2026-01-01").is_ok());
  EXPECT_FALSE(parse_rfc3339_ms("2026-01-01T00:00:00").is_ok());  // no offset
}

}  // namespace
}  // namespace spate
