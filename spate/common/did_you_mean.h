#pragma once
// Suggestions for misspelled names in error messages ("unknown key 'tumbeling'; did you mean
// 'tumbling'?") and lists of valid choices ("one of: a, b, c").
// Thread-safety: pure functions.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spate {

// Edit distance between a and b: insertions, deletions, substitutions and transpositions of two
// adjacent characters each cost 1 (optimal string alignment). ASCII letters compare without
// regard to case, so "TCP" is at distance 0 from "tcp".
size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'x'?" where x is the entry of valid closest to got, when it is close enough:
// distance <= 2, or <= a third of the longer name's length, and not a complete rewrite (the
// distance is below the longer length). "" when nothing is close or got is itself valid.
// Ties go to the earlier entry of valid.
std::string did_you_mean(std::string_view got, const std::vector<std::string>& valid);

// "one of: a, b, c" (the entries of valid in order).
std::string one_of(const std::vector<std::string>& valid);

}  // namespace spate
