#include "spate/common/did_you_mean.h"

#include <algorithm>
#include <limits>

namespace spate {

namespace {
char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // Three rows of the dynamic-programming table: i-2, i-1 and i.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
      size_t d = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1])) {
        d = std::min(d, prev2[j - 2] + 1);
      }
      cur[j] = d;
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string did_you_mean(std::string_view got, const std::vector<std::string>& valid) {
  const std::string* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : valid) {
    if (candidate == got) return "";
    const size_t longer = std::max(got.size(), candidate.size());
    const size_t d = edit_distance(got, candidate);
    const size_t limit = std::max<size_t>(2, longer / 3);
    if (d <= limit && d < longer && d < best_distance) {
      best = &candidate;
      best_distance = d;
    }
  }
  if (best == nullptr) return "";
  return "; did you mean '" + *best + "'?";
}

std::string one_of(const std::vector<std::string>& valid) {
  std::string out = "one of: ";
  for (size_t i = 0; i < valid.size(); ++i) {
    if (i > 0) out += ", ";
    out += valid[i];
  }
  return out;
}

}  // namespace spate
