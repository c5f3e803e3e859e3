#pragma once
// Binary serialization helpers for sketches and checkpoints (house style rule 7).
//
//  - ByteWriter appends little-endian integers, LEB128 varints, IEEE-754 doubles and
//    length-prefixed byte strings to a std::string.
//  - ByteReader reads them back with a bounds check on every read: a read past the end returns
//    false and leaves the output untouched; it never reads out of bounds.
//  - crc32c() is the Castagnoli CRC (polynomial 0x1EDC6F41, reflected 0x82F63B78), software
//    slicing-by-8.
//  - seal()/unseal() frame a payload with magic, type tag, version, length and CRC-32C; the
//    exact layout is in docs/formats.md and below.
//
// Frame layout (all integers little-endian), kFrameHeaderSize = 18 bytes of header:
//   offset 0  : 'S' 'P' 'T'            magic
//   offset 3  : u8  format             kFrameFormat (1): the layout of this header
//   offset 4  : u32 type_tag           what the payload is (make_type_tag("HLL1") ...)
//   offset 8  : u16 version            the payload's version, chosen by its owner
//   offset 10 : u32 payload_length     bytes after the header; the frame must end exactly there
//   offset 14 : u32 crc                crc32c(header bytes [0, 14) ++ payload)
//   offset 18 : payload
//
// Thread-safety: ByteWriter/ByteReader are plain values owned by one thread; the free
// functions are pure and thread-safe.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "spate/common/status.h"

namespace spate {

inline constexpr char kFrameMagic[3] = {'S', 'P', 'T'};
inline constexpr uint8_t kFrameFormat = 1;
inline constexpr size_t kFrameHeaderSize = 18;

// A type tag from four ASCII characters, first character in the lowest byte ("HLL1" reads as
// "HLL1" in a hex dump of the frame).
constexpr uint32_t make_type_tag(const char (&s)[5]) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}

// CRC-32C of `data`, continuing from a previous crc32c() result `crc` (0 to start).
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

class ByteWriter {
 public:
  ByteWriter() = default;

  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void i64(int64_t v) { put_le(static_cast<uint64_t>(v), 8); }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_le(bits, 8);
  }
  // Unsigned LEB128: 7 bits per byte, high bit = more; 1..10 bytes.
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  // varint length, then the bytes.
  void bytes(std::string_view s) {
    varint(s.size());
    out_.append(s.data(), s.size());
  }
  void str(std::string_view s) { bytes(s); }
  // Raw bytes without a length.
  void raw(std::string_view s) { out_.append(s.data(), s.size()); }
  void reserve(size_t n) { out_.reserve(n); }

  size_t size() const { return out_.size(); }
  const std::string& data() const { return out_; }
  std::string release() { return std::move(out_); }

 private:
  void put_le(uint64_t v, int n) {
    char buf[8];
    for (int i = 0; i < n; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_.append(buf, static_cast<size_t>(n));
  }
  std::string out_;
};

// Every read returns false on truncation (or an over-long / overflowing varint) and then leaves
// its output unchanged; the reader stays at the failing position.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool u8(uint8_t* v) {
    uint64_t x;
    if (!get_le(&x, 1)) return false;
    *v = static_cast<uint8_t>(x);
    return true;
  }
  bool u16(uint16_t* v) {
    uint64_t x;
    if (!get_le(&x, 2)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool u32(uint32_t* v) {
    uint64_t x;
    if (!get_le(&x, 4)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool u64(uint64_t* v) { return get_le(v, 8); }
  bool i64(int64_t* v) {
    uint64_t x;
    if (!get_le(&x, 8)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  bool f64(double* v) {
    uint64_t x;
    if (!get_le(&x, 8)) return false;
    std::memcpy(v, &x, sizeof x);
    return true;
  }
  bool varint(uint64_t* v);
  // A varint length then that many bytes; the view points into the input.
  bool bytes(std::string_view* v) {
    size_t save = pos_;
    uint64_t n;
    if (!varint(&n)) return false;
    if (n > remaining()) {
      pos_ = save;
      return false;
    }
    *v = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool str(std::string_view* v) { return bytes(v); }
  // Exactly n raw bytes.
  bool raw(size_t n, std::string_view* v) {
    if (n > remaining()) return false;
    *v = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  bool get_le(uint64_t* v, size_t n) {
    if (n > remaining()) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) {
      x |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    *v = x;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

// Frames `payload` (layout above). payload.size() must be < 4 GiB (checked: larger throws
// std::length_error, a programming error: no sketch comes near it).
std::string seal(uint32_t type_tag, uint16_t version, std::string_view payload);

// Checks a frame made by seal() and returns a view of its payload (pointing into `bytes`).
// Errors (kCorruption): too short, bad magic or format, wrong type tag, version 0 or above
// max_version, length not matching the bytes given (truncated or trailing bytes), CRC mismatch.
// On success *version_out (if not null) gets the payload version.
Result<std::string_view> unseal(std::string_view bytes, uint32_t expected_tag, uint16_t max_version,
                                uint16_t* version_out);

// "ABCD" for a tag made by make_type_tag("ABCD"); non-printable bytes as '?'. For messages.
std::string type_tag_name(uint32_t tag);

}  // namespace spate
