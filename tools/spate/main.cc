// spate: stream analytics from the command line. One file per subcommand (cmd_*.cc).

#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "tools/spate/command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "spate: a stream analytics engine.\n"
      "Runs pipelines of filters, keyed windows and aggregates over events from files, stdin,\n"
      "TCP and UDP, and answers questions about a stream from the shell.",
      "spate"};
  app.set_version_flag("--version", std::string("spate ") + SPATE_VERSION);
  app.require_subcommand(1);
  app.footer("Run `spate <command> --help` for a command's options.\n"
             "Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.");
  std::vector<spate::cli::Runner> runners;
  runners.push_back(spate::cli::add_run_command(app));
  runners.push_back(spate::cli::add_check_command(app));
  runners.push_back(spate::cli::add_gen_command(app));
  runners.push_back(spate::cli::add_top_command(app));
  runners.push_back(spate::cli::add_stats_command(app));
  runners.push_back(spate::cli::add_distinct_command(app));
  runners.push_back(spate::cli::add_drift_command(app));
  runners.push_back(spate::cli::add_trending_command(app));
  runners.push_back(spate::cli::add_route_sim_command(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return spate::cli::kExitUsage;
  }
  auto subs = app.get_subcommands({});
  for (size_t i = 0; i < subs.size() && i < runners.size(); ++i) {
    if (subs[i]->parsed()) {
      try {
        return runners[i]();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "spate: error: %s\n", e.what());
        return spate::cli::kExitFailure;
      }
    }
  }
  return spate::cli::kExitUsage;
}
