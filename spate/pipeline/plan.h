#pragma once
// Plan: a PipelineSpec validated and compiled — expressions bound to slots and type-checked,
// aggregates resolved, the input schema inferred (only the fields the pipeline uses are
// parsed). compile() reports every configuration error as a ConfigException naming the file,
// line, column and field; a Plan that compiled runs without type errors.
//
// run_plan() wires a Plan into a runtime Engine: source, parser per worker, operators split at
// the key_by exchange, window, formatter and sink.
// Thread-safety: a Plan is immutable after compile() and shared by every worker.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spate/io/parsers.h"
#include "spate/pipeline/spec.h"
#include "spate/pipeline/yaml_loader.h"
#include "spate/runtime/aggregate.h"
#include "spate/runtime/engine.h"
#include "spate/runtime/operators.h"
#include "spate/runtime/window.h"

namespace spate {

class Plan {
 public:
  // Throws ConfigException.
  static std::unique_ptr<Plan> compile(const PipelineSpec& spec);

  const PipelineSpec& spec() const { return spec_; }
  const InputSchema& input() const { return input_; }
  bool keyed() const { return keyed_; }
  bool has_window() const { return has_window_; }
  // Output field names of result records.
  const std::vector<std::string>& output_names() const { return *output_names_; }
  // A human summary of the plan for `spate check`.
  std::string describe() const;

 private:
  friend struct PlanRunner;
  Plan() = default;
  PipelineSpec spec_;
  InputSchema input_;
  std::vector<std::unique_ptr<BatchOperator>> ops_;
  size_t pre_ops_ = 0;  // ops_[0, pre_ops_) run before the exchange
  bool keyed_ = false;
  bool has_window_ = false;
  bool raw_passthrough_ = false;
  std::vector<std::unique_ptr<AggregateFunction>> aggs_;
  WindowPlan window_;
  std::shared_ptr<const std::vector<std::string>> output_names_;
  std::shared_ptr<const KeyHasher> hasher_;
  // The exchange (key_by or shuffle step), if any, and the routing seed of this process.
  bool exchange_ = false;
  GroupingSpec grouping_;
  Seed128 routing_seed_ = random_seed();
};

struct RunOptions {
  int workers = 0;                       // overrides spec.workers when > 0
  std::atomic<bool>* stop = nullptr;     // set to stop (SIGINT/SIGTERM)
  bool quiet = false;                    // no summary on stderr
  // Replaces the pipeline's source (its `source:` format and time settings still apply): events
  // produced by the program itself, through the C++ API.
  std::function<std::unique_ptr<Source>()> source;
};

struct RunReport {
  EngineStats stats;
  uint64_t dead_letters = 0;
  std::string dead_letter_summary;
  int workers = 0;
};

// Runs the plan to completion. Returns the first fatal error (cannot open the source or sink,
// I/O failure); bad events are not errors (they go to the dead-letter output).
Status run_plan(const Plan& plan, const RunOptions& options, RunReport* report);

// The number of workers a spec asks for (0 = number of cores).
int resolve_workers(int requested);

}  // namespace spate
