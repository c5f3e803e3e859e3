#include "spate/runtime/aggregate.h"

namespace spate {

const AggregateRegistry& AggregateRegistry::builtin() {
  static const AggregateRegistry r = [] {
    AggregateRegistry reg;
    register_basic_aggregates(reg);
    register_analytics_aggregates(reg);
    register_trending_aggregate(reg);
    register_detector_aggregates(reg);
    return reg;
  }();
  return r;
}

}  // namespace spate
