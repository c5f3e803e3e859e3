#pragma once
// The order in which keyed window results are written: by key, so that a window's rows come out
// the same whatever the number of workers.

#include <cstdint>
#include <vector>

#include "spate/core/value.h"
#include "spate/runtime/output.h"

namespace spate {

// Numbers by value, strings byte-wise (shorter first on a tie), false before true; keys of
// different kinds (or NaN) by type.
bool key_less(const Value& x, const Value& y);

// Sets *order to the row indices of `rows` (key in column 0) in key_less order, rows with equal
// keys in their original order. Returns false when the rows were in that order already (then
// *order is 0..n-1). String keys, the usual case, are compared through the 32 bytes after the
// prefix all of them share, held next to the index, so that most comparisons touch neither the
// rows nor the key bytes.
bool key_order(const OutputRows& rows, std::vector<uint32_t>* order);

}  // namespace spate
