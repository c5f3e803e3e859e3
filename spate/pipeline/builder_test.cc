// PipelineBuilder: a pipeline built in C++ equals its YAML twin, field by field and as compiled
// (Plan::describe), in particular for global windows (every, every_count) and early results.

#include "spate/pipeline/builder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "spate/pipeline/plan.h"
#include "spate/pipeline/yaml_loader.h"

namespace spate {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

void expect_same_window(const WindowSpec& a, const WindowSpec& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.size_ms, b.size_ms);
  EXPECT_EQ(a.slide_ms, b.slide_ms);
  EXPECT_EQ(a.gap_ms, b.gap_ms);
  EXPECT_EQ(a.count_size, b.count_size);
  EXPECT_EQ(a.count_slide, b.count_slide);
  EXPECT_EQ(a.early_ms, b.early_ms);
  EXPECT_EQ(a.every_ms, b.every_ms);
  EXPECT_EQ(a.every_count, b.every_count);
  EXPECT_EQ(a.allowed_lateness_ms, b.allowed_lateness_ms);
}

// Same steps, window settings, time and compiled description (the pipeline file name aside).
void expect_twins(const PipelineSpec& built, const std::string& yaml) {
  const PipelineSpec loaded = load_pipeline_string(yaml, "p.yaml");
  EXPECT_EQ(built.name, loaded.name);
  EXPECT_EQ(built.time.field, loaded.time.field);
  EXPECT_EQ(built.time.max_out_of_order_ms, loaded.time.max_out_of_order_ms);
  ASSERT_EQ(built.steps.size(), loaded.steps.size());
  for (size_t i = 0; i < built.steps.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_EQ(built.steps[i].kind, loaded.steps[i].kind);
    EXPECT_EQ(built.steps[i].expr, loaded.steps[i].expr);
    EXPECT_EQ(built.steps[i].loc.path, loaded.steps[i].loc.path);
    if (built.steps[i].kind == StepSpec::Kind::kWindow) {
      expect_same_window(built.steps[i].window, loaded.steps[i].window);
      if (loaded.steps[i].window.early_ms > 0) {
        EXPECT_EQ(built.steps[i].window.early_loc.path, loaded.steps[i].window.early_loc.path);
      }
    }
  }
  auto a = Plan::compile(built);
  auto b = Plan::compile(loaded);
  EXPECT_EQ(a->describe(), b->describe());
  EXPECT_EQ(a->output_names(), b->output_names());
}

TEST(PipelineBuilderTest, GlobalWindowEveryEqualsYaml) {
  auto spec = PipelineBuilder("g")
                  .event_time("ts", seconds(2))
                  .global_window()
                  .every(seconds(10))
                  .aggregate({{"n", "count()"}})
                  .build();
  EXPECT_EQ(spec.steps[0].window.kind, WindowSpec::Kind::kGlobal);
  EXPECT_EQ(spec.steps[0].window.every_ms, 10000);
  EXPECT_EQ(spec.steps[0].window.every_count, 0);
  expect_twins(spec, R"(name: g
time: {field: ts, max_out_of_order: 2s}
steps:
  - window: {global: {every: 10s}}
  - aggregate: {n: count()}
)");
}

TEST(PipelineBuilderTest, KeyedGlobalWindowEveryCountEqualsYaml) {
  auto spec = PipelineBuilder("g")
                  .key_by("page")
                  .global_window()
                  .every_count(1000)
                  .every(milliseconds(500))
                  .aggregate({{"n", "count()"}, {"total", "sum(ms)"}})
                  .build();
  EXPECT_EQ(spec.steps[1].window.every_count, 1000);
  EXPECT_EQ(spec.steps[1].window.every_ms, 500);
  expect_twins(spec, R"(name: g
steps:
  - key_by: page
  - window: {global: {every_count: 1000, every: 500ms}}
  - aggregate: {n: count(), total: sum(ms)}
)");
  // Results end with `final`, as with YAML.
  EXPECT_EQ(Plan::compile(spec)->output_names().back(), "final");
}

TEST(PipelineBuilderTest, EarlyResultsEqualYaml) {
  auto tumbling = PipelineBuilder("e")
                      .event_time("ts", seconds(1))
                      .key_by("page")
                      .tumbling(std::chrono::hours(1))
                      .early(seconds(10))
                      .allowed_lateness(std::chrono::minutes(5))
                      .aggregate({{"n", "count()"}})
                      .build();
  EXPECT_EQ(tumbling.steps[1].window.early_ms, 10000);
  EXPECT_EQ(tumbling.steps[1].window.early_loc.path, "steps[1].window.early");
  expect_twins(tumbling, R"(name: e
time: {field: ts, max_out_of_order: 1s}
steps:
  - key_by: page
  - window: {tumbling: 1h, early: 10s, allowed_lateness: 5m}
  - aggregate: {n: count()}
)");
  auto sliding = PipelineBuilder("e")
                     .event_time("ts", seconds(1))
                     .sliding(std::chrono::minutes(1), seconds(10))
                     .early(milliseconds(250))
                     .aggregate({{"n", "count()"}})
                     .build();
  expect_twins(sliding, R"(name: e
time: {field: ts, max_out_of_order: 1s}
steps:
  - window: {sliding: {size: 1m, slide: 10s}, early: 250ms}
  - aggregate: {n: count()}
)");
  const std::string d = Plan::compile(sliding)->describe();
  EXPECT_NE(d.find("early results every 250ms"), std::string::npos) << d;
}

// The setters change the window step added last, not an earlier one, and do nothing before any
// window (compile then reports what is missing, as for YAML).
TEST(PipelineBuilderTest, SettersApplyToTheLastWindowAndCompileChecksThem) {
  PipelineBuilder b("x");
  b.early(seconds(1)).every(seconds(1)).every_count(3);  // no window yet: no effect
  EXPECT_TRUE(b.build().steps.empty());

  // A global window without a trigger, early results on a session, every_count without key_by:
  // the same errors as their YAML twins (the YAML loader rejects the first one itself).
  auto no_trigger = PipelineBuilder("x").global_window().aggregate({{"n", "count()"}}).build();
  EXPECT_THROW(Plan::compile(no_trigger), ConfigException);
  try {
    Plan::compile(no_trigger);
  } catch (const ConfigException& e) {
    EXPECT_NE(std::string(e.what()).find("a global window needs a trigger"), std::string::npos)
        << e.what();
  }
  auto early_session = PipelineBuilder("x")
                           .event_time("ts", seconds(0))
                           .key_by("k")
                           .session(seconds(5))
                           .early(seconds(1))
                           .aggregate({{"n", "count()"}})
                           .build();
  try {
    Plan::compile(early_session);
    ADD_FAILURE() << "early on a session compiled";
  } catch (const ConfigException& e) {
    EXPECT_NE(std::string(e.what()).find("steps[1].window.early"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("early results are supported for tumbling and sliding"),
              std::string::npos)
        << e.what();
  }
  auto unkeyed_count = PipelineBuilder("x").global_window().every_count(10)
                           .aggregate({{"n", "count()"}}).build();
  try {
    Plan::compile(unkeyed_count);
    ADD_FAILURE() << "every_count without key_by compiled";
  } catch (const ConfigException& e) {
    EXPECT_NE(std::string(e.what()).find("every_count counts a key's records"), std::string::npos)
        << e.what();
  }
  // YAML can only put the triggers inside `global:`; in C++ they could land on any window.
  for (auto tumbling : {PipelineBuilder("x").tumbling(seconds(10)).every(seconds(1)),
                        PipelineBuilder("x").tumbling(seconds(10)).every_count(5)}) {
    auto spec = tumbling.aggregate({{"n", "count()"}}).build();
    try {
      Plan::compile(spec);
      ADD_FAILURE() << "a trigger on a tumbling window compiled";
    } catch (const ConfigException& e) {
      EXPECT_NE(std::string(e.what()).find("every and every_count are the triggers of a global "
                                           "window"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace spate
