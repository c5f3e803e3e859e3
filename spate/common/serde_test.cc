#include "spate/common/serde.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace spate {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) appendix B.4 and the common check value.
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[static_cast<size_t>(i)] = static_cast<char>(i);
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, IncrementalEqualsOneShot) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = crc32c(s);
  for (size_t cut = 0; cut <= s.size(); cut += 7) {
    std::string_view v(s);
    EXPECT_EQ(crc32c(v.substr(cut), crc32c(v.substr(0, cut))), whole) << cut;
  }
}

TEST(ByteWriterReader, RoundTrip) {
  ByteWriter w;
  w.u8(0xab);
  w.u16(0xbeef);
  w.u32(0xdeadbeef);
  w.u64(0x0123456789abcdefull);
  w.i64(-42);
  w.f64(-0.0);
  w.f64(std::numeric_limits<double>::infinity());
  w.f64(3.141592653589793);
  const uint64_t varints[] = {0,          1,    127, 128, 255, 300, 16383, 16384, (1ull << 32) - 1,
                              1ull << 63, ~0ull};
  for (uint64_t v : varints) w.varint(v);
  w.bytes("hello");
  w.bytes("");
  w.str(std::string(300, 'x'));
  const std::string data = w.release();

  ByteReader r(data);
  uint8_t a;
  uint16_t b;
  uint32_t c;
  uint64_t d;
  int64_t e;
  double f, g, h;
  ASSERT_TRUE(r.u8(&a) && r.u16(&b) && r.u32(&c) && r.u64(&d) && r.i64(&e) && r.f64(&f) &&
              r.f64(&g) && r.f64(&h));
  EXPECT_EQ(a, 0xab);
  EXPECT_EQ(b, 0xbeef);
  EXPECT_EQ(c, 0xdeadbeefu);
  EXPECT_EQ(d, 0x0123456789abcdefull);
  EXPECT_EQ(e, -42);
  EXPECT_TRUE(f == 0 && std::signbit(f));
  EXPECT_EQ(g, std::numeric_limits<double>::infinity());
  EXPECT_EQ(h, 3.141592653589793);
  for (uint64_t v : varints) {
    uint64_t got;
    ASSERT_TRUE(r.varint(&got));
    EXPECT_EQ(got, v);
  }
  std::string_view s1, s2, s3;
  ASSERT_TRUE(r.bytes(&s1) && r.bytes(&s2) && r.str(&s3));
  EXPECT_EQ(s1, "hello");
  EXPECT_EQ(s2, "");
  EXPECT_EQ(s3, std::string(300, 'x'));
  EXPECT_TRUE(r.at_end());
  EXPECT_FALSE(r.u8(&a));
}

TEST(ByteWriterReader, LittleEndianLayout) {
  ByteWriter w;
  w.u32(0x04030201);
  EXPECT_EQ(w.data(), std::string("\x01\x02\x03\x04", 4));
}

TEST(ByteReader, EveryTruncationFailsWithoutConsuming) {
  ByteWriter w;
  w.u64(7);
  w.varint(1ull << 40);
  w.bytes("abcdef");
  const std::string data = w.release();
  for (size_t len = 0; len < data.size(); ++len) {
    ByteReader r(std::string_view(data).substr(0, len));
    uint64_t x = 99, y = 99;
    std::string_view s;
    bool ok = r.u64(&x) && r.varint(&y) && r.bytes(&s);
    EXPECT_FALSE(ok) << len;
    // The failing read left the position at its start.
    if (len < 8) {
      EXPECT_EQ(r.position(), 0u);
      EXPECT_EQ(x, 99u);
    }
  }
}

TEST(ByteReader, RejectsOverlongVarints) {
  // 11 continuation bytes.
  std::string overlong(10, '\x80');
  overlong.push_back('\x01');
  uint64_t v;
  EXPECT_FALSE(ByteReader(overlong).varint(&v));
  // A tenth byte carrying more than the top bit overflows 64 bits.
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');
  EXPECT_FALSE(ByteReader(overflow).varint(&v));
  std::string max(9, '\xff');
  max.push_back('\x01');
  ASSERT_TRUE(ByteReader(max).varint(&v));
  EXPECT_EQ(v, ~0ull);
  // A length prefix beyond the input.
  ByteWriter w;
  w.varint(1000);
  w.raw("short");
  std::string_view s;
  ByteReader r(w.data());
  EXPECT_FALSE(r.bytes(&s));
  EXPECT_EQ(r.position(), 0u);
}

TEST(Frame, LayoutIsAsDocumented) {
  const uint32_t tag = make_type_tag("TEST");
  const std::string f = seal(tag, 3, "xyz");
  ASSERT_EQ(f.size(), kFrameHeaderSize + 3);
  EXPECT_EQ(f.substr(0, 4), std::string("SPT\x01", 4));
  EXPECT_EQ(f.substr(4, 4), "TEST");
  EXPECT_EQ(f.substr(8, 2), std::string("\x03\x00", 2));
  EXPECT_EQ(f.substr(10, 4), std::string("\x03\x00\x00\x00", 4));
  const uint32_t crc = crc32c(std::string(f.substr(0, 14)) + "xyz");
  ByteReader r(std::string_view(f).substr(14, 4));
  uint32_t stored;
  ASSERT_TRUE(r.u32(&stored));
  EXPECT_EQ(stored, crc);
  EXPECT_EQ(f.substr(18), "xyz");
  EXPECT_EQ(type_tag_name(tag), "TEST");
}

TEST(Frame, RoundTripAndVersion) {
  const uint32_t tag = make_type_tag("ABCD");
  for (std::string payload : {std::string(), std::string("p"), std::string(1000, 'q')}) {
    const std::string f = seal(tag, 2, payload);
    uint16_t version = 0;
    auto r = unseal(f, tag, 2, &version);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(*r, payload);
    EXPECT_EQ(version, 2);
    // A reader that knows only version 1 refuses version 2.
    EXPECT_FALSE(unseal(f, tag, 1, nullptr).is_ok());
  }
  EXPECT_FALSE(unseal(seal(tag, 0, "x"), tag, 5, nullptr).is_ok());
}

TEST(Frame, RejectsWrongTagTruncationTrailingAndEveryBitFlip) {
  const uint32_t tag = make_type_tag("ABCD");
  const std::string f = seal(tag, 1, "some payload bytes");
  auto wrong = unseal(f, make_type_tag("ABCE"), 1, nullptr);
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kCorruption);
  for (size_t len = 0; len < f.size(); ++len) {
    EXPECT_FALSE(unseal(std::string_view(f).substr(0, len), tag, 1, nullptr).is_ok()) << len;
  }
  EXPECT_FALSE(unseal(f + "!", tag, 1, nullptr).is_ok());
  std::string g = f;
  for (size_t i = 0; i < f.size(); ++i) {
    for (int b = 0; b < 8; ++b) {
      g[i] = static_cast<char>(f[i] ^ (1 << b));
      EXPECT_FALSE(unseal(g, tag, 1, nullptr).is_ok()) << i << ":" << b;
      g[i] = f[i];
    }
  }
}

}  // namespace
}  // namespace spate
