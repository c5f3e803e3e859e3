#include "spate/runtime/router.h"

#include <sys/random.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <xxhash.h>

namespace spate {

namespace {

// Interim default until spate/hash's RoutingHasher is wired in: XXH3 keyed with a 64-bit
// secret-derived seed from getrandom. Not a PRF: see docs/guarantees.md.
class XxhKeyHasher final : public KeyHasher {
 public:
  explicit XxhKeyHasher(uint64_t seed) : seed_(seed) {}
  uint64_t hash(const Value& v) const override {
    switch (v.type) {
      case ValueType::kString: return XXH3_64bits_withSeed(v.str, v.len, seed_);
      case ValueType::kInt: return hash_int(v.i);
      case ValueType::kDouble: {
        double d = v.d;
        if (d == std::floor(d) && std::fabs(d) < 9.2e18) return hash_int(static_cast<int64_t>(d));
        uint64_t bits;
        std::memcpy(&bits, &d, 8);
        return XXH3_64bits_withSeed(&bits, 8, seed_ ^ 0x5bd1e995u);
      }
      case ValueType::kBool: return hash_int(v.b ? 1 : 0) ^ 0x1;
      case ValueType::kNull: return XXH3_64bits_withSeed("", 0, seed_ ^ 0x7f4a7c15u);
    }
    return 0;
  }

 private:
  uint64_t hash_int(int64_t i) const { return XXH3_64bits_withSeed(&i, 8, seed_ ^ 0x9e3779b9u); }
  uint64_t seed_;
};

uint64_t os_random_u64() {
  uint64_t v = 0;
  char* p = reinterpret_cast<char*>(&v);
  size_t got = 0;
  while (got < sizeof(v)) {
    ssize_t r = getrandom(p + got, sizeof(v) - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return v;
}

}  // namespace

std::unique_ptr<KeyHasher> make_default_key_hasher() {
  return std::make_unique<XxhKeyHasher>(os_random_u64());
}

std::unique_ptr<KeyHasher> make_seeded_key_hasher(uint64_t seed) {
  return std::make_unique<XxhKeyHasher>(seed);
}

}  // namespace spate
