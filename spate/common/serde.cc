#include "spate/common/serde.h"

#include <array>
#include <stdexcept>

namespace spate {
namespace {

constexpr uint32_t kCrc32cPoly = 0x82F63B78u;  // reflected 0x1EDC6F41

using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr CrcTables kCrcTables = make_crc_tables();

inline uint32_t load_le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void store_le(char* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t c = ~crc;
  // Slicing-by-8: eight table lookups per 8 input bytes.
  while (n >= 8) {
    uint32_t lo = load_le32(p) ^ c;
    uint32_t hi = load_le32(p + 4);
    c = kCrcTables[7][lo & 0xff] ^ kCrcTables[6][(lo >> 8) & 0xff] ^
        kCrcTables[5][(lo >> 16) & 0xff] ^ kCrcTables[4][lo >> 24] ^ kCrcTables[3][hi & 0xff] ^
        kCrcTables[2][(hi >> 8) & 0xff] ^ kCrcTables[1][(hi >> 16) & 0xff] ^
        kCrcTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kCrcTables[0][(c ^ *p++) & 0xff];
  return ~c;
}

bool ByteReader::varint(uint64_t* v) {
  uint64_t x = 0;
  size_t p = pos_;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= in_.size()) return false;
    auto b = static_cast<uint8_t>(in_[p++]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && b > 1) return false;
    x |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      pos_ = p;
      *v = x;
      return true;
    }
  }
  return false;
}

std::string seal(uint32_t type_tag, uint16_t version, std::string_view payload) {
  if (payload.size() > 0xffffffffu) throw std::length_error("spate::seal: payload over 4 GiB");
  std::string out(kFrameHeaderSize + payload.size(), '\0');
  char* h = out.data();
  std::memcpy(h, kFrameMagic, 3);
  h[3] = static_cast<char>(kFrameFormat);
  store_le(h + 4, type_tag, 4);
  store_le(h + 8, version, 2);
  store_le(h + 10, payload.size(), 4);
  if (!payload.empty()) std::memcpy(h + kFrameHeaderSize, payload.data(), payload.size());
  uint32_t crc = crc32c(std::string_view(h, 14));
  crc = crc32c(payload, crc);
  store_le(h + 14, crc, 4);
  return out;
}

Result<std::string_view> unseal(std::string_view bytes, uint32_t expected_tag, uint16_t max_version,
                                uint16_t* version_out) {
  if (bytes.size() < kFrameHeaderSize) return Status::corruption("frame: truncated header");
  if (std::memcmp(bytes.data(), kFrameMagic, 3) != 0) return Status::corruption("frame: bad magic");
  ByteReader r(bytes.substr(3));
  uint8_t format = 0;
  uint32_t tag = 0, length = 0, crc = 0;
  uint16_t version = 0;
  r.u8(&format);
  r.u32(&tag);
  r.u16(&version);
  r.u32(&length);
  r.u32(&crc);
  if (format != kFrameFormat) return Status::corruption("frame: unknown format byte");
  if (tag != expected_tag) {
    return Status::corruption("frame: type tag " + type_tag_name(tag) + ", expected " +
                              type_tag_name(expected_tag));
  }
  if (length != bytes.size() - kFrameHeaderSize) {
    return Status::corruption(length > bytes.size() - kFrameHeaderSize ? "frame: truncated"
                                                                       : "frame: trailing bytes");
  }
  std::string_view payload = bytes.substr(kFrameHeaderSize);
  uint32_t actual = crc32c(payload, crc32c(bytes.substr(0, 14)));
  if (actual != crc) return Status::corruption("frame: checksum mismatch");
  if (version == 0 || version > max_version) {
    return Status::corruption("frame: unsupported version " + std::to_string(version));
  }
  if (version_out != nullptr) *version_out = version;
  return payload;
}

std::string type_tag_name(uint32_t tag) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    auto c = static_cast<char>(tag >> (8 * i));
    if (c >= 0x20 && c < 0x7f) s[static_cast<size_t>(i)] = c;
  }
  return s;
}

}  // namespace spate
