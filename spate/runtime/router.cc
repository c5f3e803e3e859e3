#include "spate/runtime/router.h"

#include <cmath>
#include <cstring>

#include "spate/hash/routing_hash.h"
#include "spate/hash/seed.h"

namespace spate {

namespace {

// The routing hash of spate/hash (universal compression finished by SipHash-1-3, keyed from the
// OS's randomness), applied to a typed encoding of the key so that 1 and "1" differ while 1 and
// 1.0 agree. See docs/guarantees.md for the threat model.
class RoutingKeyHasher final : public KeyHasher {
 public:
  explicit RoutingKeyHasher(const Seed128& seed) : h_(seed) {}
  uint64_t hash(const Value& v) const override {
    switch (v.type) {
      case ValueType::kString: return h_.hash(v.sv());
      case ValueType::kInt: return h_.hash_u64(static_cast<uint64_t>(v.i));
      case ValueType::kDouble: {
        double d = v.d;
        if (d == std::floor(d) && std::fabs(d) < 9.2e18) {
          return h_.hash_u64(static_cast<uint64_t>(static_cast<int64_t>(d)));
        }
        char buf[9] = {'d'};
        std::memcpy(buf + 1, &d, 8);
        return h_.hash(std::string_view(buf, 9));
      }
      case ValueType::kBool: return h_.hash(v.b ? std::string_view("\x01T", 2) : std::string_view("\x01F", 2));
      case ValueType::kNull: return h_.hash(std::string_view("\x01N", 2));
    }
    return 0;
  }

 private:
  RoutingHasher h_;
};

}  // namespace

std::unique_ptr<KeyHasher> make_default_key_hasher() {
  return std::make_unique<RoutingKeyHasher>(random_seed());
}

std::unique_ptr<KeyHasher> make_seeded_key_hasher(uint64_t seed) {
  return std::make_unique<RoutingKeyHasher>(seed_from_u64(seed));
}

std::unique_ptr<KeyHasher> make_key_hasher(const Seed128& seed) {
  return std::make_unique<RoutingKeyHasher>(seed);
}

}  // namespace spate
