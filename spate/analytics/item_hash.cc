#include "spate/analytics/item_hash.h"

#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace spate {

uint64_t hash_item(std::string_view item, uint64_t seed) {
  return XXH3_64bits_withSeed(item.data(), item.size(), seed);
}

uint64_t hash_item(uint64_t item, uint64_t seed) {
  unsigned char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<unsigned char>(item >> (8 * i));
  return XXH3_64bits_withSeed(buf, sizeof buf, seed);
}

}  // namespace spate
