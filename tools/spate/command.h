#pragma once
// The spate CLI: one file per subcommand (cmd_<name>.cc). Each registers itself on the root
// CLI11 app and returns the function that runs it after parsing. Exit codes: 0 success,
// 1 runtime failure, 2 usage or configuration error.

#include <functional>

#include <CLI/CLI.hpp>

namespace spate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

using Runner = std::function<int()>;

Runner add_run_command(CLI::App& root);
Runner add_check_command(CLI::App& root);
Runner add_gen_command(CLI::App& root);
// cmd_oneliners.cc
Runner add_top_command(CLI::App& root);
Runner add_stats_command(CLI::App& root);
Runner add_distinct_command(CLI::App& root);
Runner add_drift_command(CLI::App& root);
Runner add_trending_command(CLI::App& root);
Runner add_route_sim_command(CLI::App& root);  // cmd_route_sim.cc

}  // namespace spate::cli
