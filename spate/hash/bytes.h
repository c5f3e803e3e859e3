#pragma once
// Little-endian loads and 128-bit arithmetic shared by the hash families (internal to
// spate/hash; not part of the public surface).
// Guarantee: every load reads only the bytes it is asked for (no read past the end of a key),
// and the value does not depend on the host's byte order, so hashes agree across machines.
// Thread-safety: pure functions.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace spate::hash_internal {

// GCC and Clang provide a 128-bit integer; __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef unsigned __int128 Uint128;

inline uint64_t byteswap64(uint64_t v) { return __builtin_bswap64(v); }
inline uint32_t byteswap32(uint32_t v) { return __builtin_bswap32(v); }

// 8 bytes at p as a little-endian integer.
inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = byteswap64(v);
  return v;
}

// 4 bytes at p as a little-endian integer.
inline uint32_t load_le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = byteswap32(v);
  return v;
}

// n bytes (0 <= n <= 8) at p as a little-endian integer, reading only p[0..n).
// Two overlapping loads instead of a byte loop: for 4..8 bytes the second 4-byte load ends at
// p + n, and the bytes both loads see land on the same bit positions, so OR is exact.
inline uint64_t load_le_upto8(const uint8_t* p, size_t n) {
  if (n >= 4) {
    const uint64_t lo = load_le32(p);
    const uint64_t hi = load_le32(p + n - 4);
    return lo | (hi << (8 * (n - 4)));
  }
  if (n == 0) return 0;
  // 1..3 bytes: first, middle and last byte (some coincide for n < 3).
  return static_cast<uint64_t>(p[0]) | (static_cast<uint64_t>(p[n / 2]) << (8 * (n / 2))) |
         (static_cast<uint64_t>(p[n - 1]) << (8 * (n - 1)));
}

inline uint64_t rotl64(uint64_t v, int r) { return std::rotl(v, r); }

}  // namespace spate::hash_internal
