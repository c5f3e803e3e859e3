#pragma once
// Routing seam: how key_by picks the worker that owns a key, and how the source picks the
// worker that parses a chunk. The routing issue plugs its seeded universal hashing and its
// groupings (partial key, hot keys, two choices) in behind these interfaces.
//
// KeyHasher: a keyed hash of a key Value. Seeded from the OS at start-up; neither the seed nor a
// hash ever leaves the process. Equal values hash equally across types where they compare equal
// (1 and 1.0).
// Thread-safety: immutable after construction; hash() may run on any thread.

#include <cstdint>
#include <memory>

#include "spate/core/value.h"
#include "spate/hash/seed.h"

namespace spate {

class KeyHasher {
 public:
  virtual ~KeyHasher() = default;
  virtual uint64_t hash(const Value& key) const = 0;
};

// The default hasher (seeded from getrandom at construction).
std::unique_ptr<KeyHasher> make_default_key_hasher();
// A hasher with an explicit seed: reproducible placement for tests and simulation only.
std::unique_ptr<KeyHasher> make_seeded_key_hasher(uint64_t seed);
// A hasher keyed by a 128-bit seed (random_seed(), seed_from_u64() or seed_from_secret_file()).
std::unique_ptr<KeyHasher> make_key_hasher(const Seed128& seed);

// Maps a key hash to one of n workers without modulo bias (multiply-high reduction).
__extension__ using RouterU128 = unsigned __int128;
inline uint32_t owner_of(uint64_t hash, uint32_t n) {
  return static_cast<uint32_t>((static_cast<RouterU128>(hash) * n) >> 64);
}

}  // namespace spate
