#include "spate/hash/tabulation.h"

namespace spate {

SimpleTabulation::SimpleTabulation(const Seed128& seed) : table_(8 * 256) {
  KeyStream ks(seed, "spate.hash.simple-tabulation.v1");
  for (uint64_t& word : table_) word = ks.next();
}

}  // namespace spate
