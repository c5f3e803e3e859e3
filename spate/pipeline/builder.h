#pragma once
// PipelineBuilder: the C++ face of spate pipelines. It produces the same PipelineSpec that the
// YAML loader produces, so a pipeline built here compiles (Plan::compile) and runs (run_plan)
// exactly like its YAML twin:
//
//   auto spec = spate::PipelineBuilder("views-per-page")
//                   .file_source("data/clicks.jsonl", spate::Format::kJson)
//                   .event_time("ts", std::chrono::seconds(2))
//                   .filter(R"(type == "view")")
//                   .key_by("page")
//                   .tumbling(std::chrono::seconds(10))
//                   .aggregate({{"views", "count()"}, {"avg_ms", "avg(latency_ms)"}})
//                   .stdout_sink(spate::Format::kJson)
//                   .build();
//   auto plan = spate::Plan::compile(spec);           // throws ConfigException
//   spate::RunReport report;
//   spate::Status s = spate::run_plan(*plan, {}, &report);
//
// Thread-safety: a builder is a plain value used by one thread.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "spate/pipeline/spec.h"

namespace spate {

class PipelineBuilder {
 public:
  explicit PipelineBuilder(std::string name) { spec_.name = std::move(name); }

  PipelineBuilder& workers(int n) { spec_.workers = n; return *this; }

  PipelineBuilder& file_source(std::string path, Format format, bool follow = false) {
    spec_.source = SourceSpec{};
    spec_.source.type = "file";
    spec_.source.path = std::move(path);
    spec_.source.format = format;
    spec_.source.follow = follow;
    return *this;
  }
  PipelineBuilder& stdin_source(Format format) {
    spec_.source = SourceSpec{};
    spec_.source.type = "stdin";
    spec_.source.format = format;
    return *this;
  }
  // type: "tcp" or "udp"; listen: "127.0.0.1:9999".
  PipelineBuilder& socket_source(std::string type, std::string listen, Format format) {
    spec_.source = SourceSpec{};
    spec_.source.type = std::move(type);
    spec_.source.listen = std::move(listen);
    spec_.source.format = format;
    return *this;
  }
  // Full control over the source (CSV columns, max event size...).
  PipelineBuilder& source(SourceSpec s) { spec_.source = std::move(s); return *this; }

  PipelineBuilder& event_time(std::string field, std::chrono::milliseconds max_out_of_order) {
    spec_.time.field = std::move(field);
    spec_.time.max_out_of_order_ms = max_out_of_order.count();
    return *this;
  }

  PipelineBuilder& filter(std::string expr) { return step(StepSpec::Kind::kFilter, std::move(expr)); }
  PipelineBuilder& select(std::vector<std::pair<std::string, std::string>> fields) {
    return named(StepSpec::Kind::kSelect, std::move(fields));
  }
  PipelineBuilder& key_by(std::string expr, std::string as = {}) {
    step(StepSpec::Kind::kKeyBy, expr);
    spec_.steps.back().key_name = as.empty() ? std::move(expr) : std::move(as);
    return *this;
  }
  PipelineBuilder& tumbling(std::chrono::milliseconds size) {
    WindowSpec w;
    w.size_ms = size.count();
    return window(std::move(w));
  }
  // Windows of `size` starting every `slide` (slide <= size; state shared in panes).
  PipelineBuilder& sliding(std::chrono::milliseconds size, std::chrono::milliseconds slide) {
    WindowSpec w;
    w.kind = WindowSpec::Kind::kSliding;
    w.size_ms = size.count();
    w.slide_ms = slide.count();
    return window(std::move(w));
  }
  // Per-key sessions closed by `gap` without events (needs key_by).
  PipelineBuilder& session(std::chrono::milliseconds gap) {
    WindowSpec w;
    w.kind = WindowSpec::Kind::kSession;
    w.gap_ms = gap.count();
    return window(std::move(w));
  }
  // Per-key windows of `size` records, one starting every `slide` records (0: size).
  PipelineBuilder& count_window(int64_t size, int64_t slide = 0) {
    WindowSpec w;
    w.kind = WindowSpec::Kind::kCount;
    w.count_size = size;
    w.count_slide = slide;
    return window(std::move(w));
  }
  // One window for the whole stream, closed only at the end of the input (YAML
  // `window: {global: {...}}`). It needs a trigger: follow it with every() and/or every_count().
  PipelineBuilder& global_window() {
    WindowSpec w;
    w.kind = WindowSpec::Kind::kGlobal;
    return window(std::move(w));
  }
  // Trigger of the global window added last: running results (final: false) of the windows that
  // changed, every `interval` of wall-clock time (YAML `global: {every: 10s}`).
  PipelineBuilder& every(std::chrono::milliseconds interval) {
    if (WindowSpec* w = last_window()) w->every_ms = interval.count();
    return *this;
  }
  // Trigger of the global window added last (keyed): a key's running result at every multiple
  // of `n` of its records (YAML `global: {every_count: 1000}`).
  PipelineBuilder& every_count(int64_t n) {
    if (WindowSpec* w = last_window()) w->every_count = n;
    return *this;
  }
  // Early (provisional, final: false) results of the tumbling or sliding window added last,
  // every `interval` of wall-clock time (YAML `window: {tumbling: 1h, early: 10s}`).
  PipelineBuilder& early(std::chrono::milliseconds interval) {
    if (WindowSpec* w = last_window()) {
      w->early_ms = interval.count();
      w->early_loc.path = w->loc.path + ".early";
    }
    return *this;
  }
  // Allowed lateness of the window step added last (call after tumbling/sliding/session).
  PipelineBuilder& allowed_lateness(std::chrono::milliseconds lateness) {
    if (WindowSpec* w = last_window()) w->allowed_lateness_ms = lateness.count();
    return *this;
  }
  PipelineBuilder& window(WindowSpec w) {
    StepSpec s;
    s.kind = StepSpec::Kind::kWindow;
    s.loc.path = path_of_next();
    w.loc.path = s.loc.path + ".window";
    w.kind_loc.path = w.loc.path;
    w.slide_loc.path = w.loc.path;
    w.lateness_loc.path = w.loc.path + ".allowed_lateness";
    s.window = std::move(w);
    spec_.steps.push_back(std::move(s));
    return *this;
  }
  PipelineBuilder& aggregate(std::vector<std::pair<std::string, std::string>> aggs) {
    return named(StepSpec::Kind::kAggregate, std::move(aggs));
  }

  PipelineBuilder& stdout_sink(Format format) {
    spec_.sink = SinkSpec{};
    spec_.sink.format = format;
    return *this;
  }
  PipelineBuilder& file_sink(std::string path, Format format, bool append = false) {
    spec_.sink = SinkSpec{};
    spec_.sink.type = "file";
    spec_.sink.path = std::move(path);
    spec_.sink.format = format;
    spec_.sink.append = append;
    return *this;
  }
  PipelineBuilder& tcp_sink(std::string connect, Format format) {
    spec_.sink = SinkSpec{};
    spec_.sink.type = "tcp";
    spec_.sink.connect = std::move(connect);
    spec_.sink.format = format;
    return *this;
  }
  PipelineBuilder& dead_letter(std::string path) { spec_.dead_letter.path = std::move(path); return *this; }

  PipelineSpec build() const { return spec_; }

 private:
  std::string path_of_next() const { return "steps[" + std::to_string(spec_.steps.size()) + "]"; }
  // The window step added last (nullptr when there is none: the setters then do nothing, and
  // Plan::compile reports what is missing).
  WindowSpec* last_window() {
    for (auto it = spec_.steps.rbegin(); it != spec_.steps.rend(); ++it) {
      if (it->kind == StepSpec::Kind::kWindow) return &it->window;
    }
    return nullptr;
  }
  PipelineBuilder& step(StepSpec::Kind kind, std::string expr) {
    StepSpec s;
    s.kind = kind;
    s.expr = std::move(expr);
    s.loc.path = path_of_next();
    s.expr_loc.path = s.loc.path;
    spec_.steps.push_back(std::move(s));
    return *this;
  }
  PipelineBuilder& named(StepSpec::Kind kind, std::vector<std::pair<std::string, std::string>> f) {
    StepSpec s;
    s.kind = kind;
    s.loc.path = path_of_next();
    for (auto& [name, expr] : f) {
      NamedExpr ne;
      ne.name = name;
      ne.expr = std::move(expr);
      ne.loc.path = s.loc.path + "." + name;
      s.fields.push_back(std::move(ne));
    }
    spec_.steps.push_back(std::move(s));
    return *this;
  }

  PipelineSpec spec_;
};

}  // namespace spate
