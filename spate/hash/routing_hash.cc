#include "spate/hash/routing_hash.h"

namespace spate {

RoutingHasher::RoutingHasher(const Seed128& seed, uint32_t choice)
    : direct_(derive_seed(seed, "spate.hash.routing.v1.direct", choice)),
      finish_mid_(derive_seed(seed, "spate.hash.routing.v1.finish-mid", choice)),
      finish_long_(derive_seed(seed, "spate.hash.routing.v1.finish-long", choice)),
      mid_(derive_seed(seed, "spate.hash.routing.v1.mid", choice)),
      long_(derive_seed(seed, "spate.hash.routing.v1.long", choice)) {}

}  // namespace spate
