// The C++ twin of examples/trending.yaml: the same topology built with PipelineBuilder.
// Usage: views_per_page [clicks.jsonl]   (default data/clicks.jsonl; `make demo` generates it)

#include <cstdio>

#include "spate/pipeline/builder.h"
#include "spate/pipeline/plan.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const char* path = argc > 1 ? argv[1] : "data/clicks.jsonl";
  spate::PipelineSpec spec =
      spate::PipelineBuilder("views-per-page")
          .workers(2)
          .file_source(path, spate::Format::kJson)
          .event_time("ts", 2s)
          .filter(R"(type == "view" && latency_ms >= 0)")
          .select({{"page", "page"}, {"ms", "latency_ms"}, {"slow", "latency_ms > 500"}})
          .key_by("page")
          .tumbling(10s)
          .aggregate({{"views", "count()"}, {"total_ms", "sum(ms)"}, {"avg_ms", "avg(ms)"},
                      {"min_ms", "min(ms)"}, {"max_ms", "max(ms)"}})
          .stdout_sink(spate::Format::kJson)
          .build();
  try {
    auto plan = spate::Plan::compile(spec);
    spate::RunReport report;
    spate::Status s = spate::run_plan(*plan, {}, &report);
    if (!s) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return 1;
    }
    std::fprintf(stderr, "%llu events, %llu results\n",
                 static_cast<unsigned long long>(report.stats.records_parsed),
                 static_cast<unsigned long long>(report.stats.records_out));
  } catch (const spate::ConfigException& e) {
    std::fprintf(stderr, "%s\n", e.error().to_string().c_str());
    return 2;
  }
  return 0;
}
