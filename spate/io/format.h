#pragma once
// The event formats spate reads and writes.

namespace spate {

enum class Format { kJson, kCsv, kText };

}  // namespace spate
