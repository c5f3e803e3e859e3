#pragma once
// Item hashing for the sketches: XXH3-64 with a seed (Collet, xxHash 0.8), kept out of line so
// xxhash.h stays an implementation detail of the analytics library. The sketches that hash
// store their seed and refuse to merge with a sketch hashed under another seed.
// Thread-safety: pure functions.

#include <cstdint>
#include <string_view>

namespace spate {

// XXH3_64bits_withSeed over the bytes of `item`.
uint64_t hash_item(std::string_view item, uint64_t seed);
// XXH3_64bits_withSeed over the 8 little-endian bytes of `item`.
uint64_t hash_item(uint64_t item, uint64_t seed);

}  // namespace spate
