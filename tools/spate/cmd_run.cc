// spate run PIPELINE.yaml: runs a pipeline until its sources end or SIGINT/SIGTERM.
// spate check PIPELINE.yaml: validates a pipeline without running it.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "spate/pipeline/plan.h"
#include "spate/pipeline/yaml_loader.h"
#include "tools/spate/command.h"

namespace spate::cli {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};

extern "C" void on_signal(int sig) {
  if (g_signals.fetch_add(1) >= 1) {
    // Second signal: exit at once.
    const char msg[] = "spate: second signal, exiting now\n";
    ssize_t r = ::write(2, msg, sizeof(msg) - 1);
    (void)r;
    ::_exit(128 + sig);
  }
  g_stop.store(true);
  const char msg[] = "spate: stopping: draining, firing open windows (signal again to exit now)\n";
  ssize_t r = ::write(2, msg, sizeof(msg) - 1);
  (void)r;
}

void install_signals() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

struct PipelineArgs {
  std::string file;
  std::vector<std::string> sets;
  int workers = 0;
  bool quiet = false;
  bool worker_load = false;
};

// Loads and compiles; prints the error and returns null on a configuration error.
std::unique_ptr<Plan> load(const PipelineArgs& a) {
  try {
    PipelineSpec spec = load_pipeline_file(a.file, a.sets);
    return Plan::compile(spec);
  } catch (const ConfigException& e) {
    std::fprintf(stderr, "%s\n", e.error().to_string().c_str());
    return nullptr;
  }
}

}  // namespace

Runner add_run_command(CLI::App& root) {
  auto args = std::make_shared<PipelineArgs>();
  CLI::App* cmd = root.add_subcommand(
      "run", "Run a pipeline until its source ends (then drain, fire every window, flush) or until "
             "SIGINT/SIGTERM (same drain; a second signal exits at once)");
  cmd->add_option("pipeline", args->file, "Pipeline file (YAML)")->required();
  cmd->add_option("-w,--workers", args->workers, "Worker threads (default: the pipeline's, else the number of cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--set", args->sets, "Override a pipeline value: path=value, e.g. --set source.path=x.jsonl "
                                        "--set steps[3].window.tumbling=5s")
      ->take_all();
  cmd->add_flag("-q,--quiet", args->quiet, "No summary on stderr at exit");
  cmd->add_flag("--worker-load", args->worker_load,
                "Add each worker's load to the summary: events parsed, and records processed after "
                "the key_by/shuffle exchange (totals only; placement of keys is never shown)");
  return [args]() -> int {
    auto plan = load(*args);
    if (!plan) return kExitUsage;
    install_signals();
    RunOptions o;
    o.workers = args->workers;
    o.stop = &g_stop;
    o.quiet = args->quiet;
    RunReport rep;
    Status s = run_plan(*plan, o, &rep);
    if (!args->quiet) {
      const auto& st = rep.stats;
      std::string dl = rep.dead_letters
                           ? fmt::format(", {} dead letters ({}){}", rep.dead_letters,
                                         rep.dead_letter_summary,
                                         plan->spec().dead_letter.path.empty()
                                             ? ""
                                             : " in " + plan->spec().dead_letter.path)
                           : "";
      std::fprintf(stderr, "spate: %s: %llu events in %.2f s (%.0f events/s) on %d worker%s, %llu results%s\n",
                   plan->spec().name.c_str(), static_cast<unsigned long long>(st.records_parsed),
                   st.seconds, st.seconds > 0 ? double(st.records_parsed) / st.seconds : 0.0,
                   rep.workers, rep.workers == 1 ? "" : "s",
                   static_cast<unsigned long long>(st.records_out), dl.c_str());
      if (args->worker_load) {
        std::fprintf(stderr, "spate: worker load: parsed [%s], after exchange [%s]\n",
                     fmt::format("{}", fmt::join(st.per_worker_records, ", ")).c_str(),
                     fmt::format("{}", fmt::join(st.per_worker_owned, ", ")).c_str());
      }
    }
    if (!s) {
      std::fprintf(stderr, "spate: error: %s\n", s.message().c_str());
      return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound
                 ? kExitUsage
                 : kExitFailure;
    }
    return kExitOk;
  };
}

Runner add_check_command(CLI::App& root) {
  auto args = std::make_shared<PipelineArgs>();
  CLI::App* cmd = root.add_subcommand(
      "check", "Validate a pipeline without running it: every error names file:line:column, the "
               "field, what was found and what would be valid");
  cmd->add_option("pipeline", args->file, "Pipeline file (YAML)")->required();
  cmd->add_option("--set", args->sets, "Override a pipeline value: path=value")->take_all();
  cmd->add_flag("-q,--quiet", args->quiet, "Print nothing when the pipeline is valid");
  return [args]() -> int {
    auto plan = load(*args);
    if (!plan) return kExitUsage;
    if (!args->quiet) std::printf("%s: OK\n%s", args->file.c_str(), plan->describe().c_str());
    return kExitOk;
  };
}

}  // namespace spate::cli
