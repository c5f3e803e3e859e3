#include "spate/pipeline/plan.h"

#include <numeric>
#include <thread>

#include <fmt/format.h>

#include "spate/common/did_you_mean.h"
#include "spate/common/time.h"
#include "spate/io/sinks.h"
#include "spate/io/sources.h"

namespace spate {

namespace {

[[noreturn]] void fail(const SpecLoc& loc, std::string message) {
  throw ConfigException(ConfigError{loc, std::move(message)});
}

[[noreturn]] void fail_expr(const SpecLoc& text_loc, const ExprError& e) {
  throw ConfigException(ConfigError{loc_at_offset(text_loc, e.pos), e.message});
}

// The fields visible to an expression at one point of the pipeline.
class Scope final : public FieldScope {
 public:
  struct Slot {
    std::string name;
    ExprType type = ExprType::kAny;
    int origin = -1;  // slot of the parent scope this one copies (type constraints flow back)
  };

  // Input scope: fields are discovered by use (json, csv with header) or fixed (text, csv with
  // declared columns).
  static Scope input(const SourceSpec& src) {
    Scope s;
    s.open_ = true;
    s.source_ = &src;
    return s;
  }
  static Scope derived(Scope* parent) {
    Scope s;
    s.parent_ = parent;
    return s;
  }

  int add(std::string name, ExprType type, int origin) {
    slots_.push_back(Slot{std::move(name), type, origin});
    return static_cast<int>(slots_.size() - 1);
  }

  int resolve(std::string_view path, std::string* error) override {
    for (int i = static_cast<int>(slots_.size()) - 1; i >= 0; --i) {
      if (slots_[i].name == path) return i;
    }
    if (open_ && !frozen_) {
      std::string why;
      if (input_allows(path, &why)) return add(std::string(path), ExprType::kAny, -1);
      *error = why;
      return -1;
    }
    std::vector<std::string> names;
    for (const auto& s : slots_) {
      if (!s.name.empty() && s.name[0] != '$') names.push_back(s.name);
    }
    *error = fmt::format("unknown field '{}'{}{}", path, did_you_mean(path, names),
                         names.empty() ? std::string()
                                       : fmt::format("; fields here: {}", fmt::join(names, ", ")));
    return -1;
  }

  bool constrain(int slot, ExprType t, std::string* error) override {
    Slot& s = slots_[slot];
    if (t == ExprType::kAny || t == ExprType::kNull) return true;
    if (s.type == ExprType::kAny) {
      if (parent_ && s.origin >= 0 && !parent_->constrain(s.origin, t, error)) return false;
      s.type = t;
      return true;
    }
    if (s.type != t) {
      *error = fmt::format("field '{}' is used as a {} here, but it is a {} (from its other uses)",
                           s.name, expr_type_name(t), expr_type_name(s.type));
      return false;
    }
    return true;
  }
  ExprType type_of(int slot) const override { return slots_[slot].type; }

  void freeze() { frozen_ = true; }
  const std::vector<Slot>& slots() const { return slots_; }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& s : slots_) v.push_back(s.name);
    return v;
  }

 private:
  bool input_allows(std::string_view path, std::string* why) const {
    if (!path.empty() && path[0] == '$') {
      const auto& meta = metadata_field_names();
      if (std::find(meta.begin(), meta.end(), path) == meta.end()) {
        *why = fmt::format("unknown source metadata field '{}'{}; valid: {}", path,
                           did_you_mean(path, meta), fmt::join(meta, ", "));
        return false;
      }
      if ((path == "$remote_ip" || path == "$remote_port") && source_->type != "tcp" &&
          source_->type != "udp") {
        *why = fmt::format("'{}' exists only for tcp and udp sources (this source is {})", path,
                           source_->type);
        return false;
      }
      return true;
    }
    if (source_->format == Format::kText && path != "line") {
      *why = fmt::format("unknown field '{}': text input has one field, 'line' (and metadata such "
                         "as $length)", path);
      return false;
    }
    if (source_->format == Format::kCsv && !source_->header) {
      const auto& cols = source_->columns;
      if (std::find(cols.begin(), cols.end(), path) == cols.end()) {
        *why = fmt::format("unknown field '{}'{}; declared columns: {}", path,
                           did_you_mean(path, cols), fmt::join(cols, ", "));
        return false;
      }
    }
    return true;
  }

  bool open_ = false;
  bool frozen_ = false;
  const SourceSpec* source_ = nullptr;
  Scope* parent_ = nullptr;
  std::vector<Slot> slots_;
};

void collect_fields(const ExprNode& n, std::vector<const ExprNode*>* out) {
  if (n.kind == ExprNode::Kind::kField) out->push_back(&n);
  for (const auto& a : n.args) collect_fields(*a, out);
  for (const auto& [k, v] : n.kwargs) collect_fields(*v, out);
}

std::unique_ptr<ExprNode> parse_or_fail(const std::string& text, const SpecLoc& loc) {
  ExprError e;
  auto node = parse_expr(text, &e);
  if (!node) fail_expr(loc, e);
  return node;
}

CompiledExpr compile_or_fail(const ExprNode& node, Scope& scope, const SpecLoc& loc) {
  ExprError e;
  auto c = CompiledExpr::compile(node, scope, &e);
  if (!c) fail_expr(loc, e);
  return std::move(*c);
}

// Validates a window step's settings (the YAML loader checked their syntax; a spec built in
// C++ reaches here unchecked).
void check_window(const WindowSpec& w, const PipelineSpec& s, bool keyed) {
  using Kind = WindowSpec::Kind;
  const SpecLoc& kind_loc = w.kind_loc.path.empty() ? w.loc : w.kind_loc;
  const SpecLoc& slide_loc = w.slide_loc.path.empty() ? kind_loc : w.slide_loc;
  const SpecLoc& lateness_loc = w.lateness_loc.path.empty() ? w.loc : w.lateness_loc;
  switch (w.kind) {
    case Kind::kTumbling:
      if (w.size_ms <= 0) fail(kind_loc, "the window size must be positive");
      break;
    case Kind::kSliding:
      if (w.size_ms <= 0) fail(kind_loc, "the window size must be positive");
      if (w.slide_ms <= 0) fail(slide_loc, "the slide must be positive");
      if (w.slide_ms > w.size_ms) {
        fail(slide_loc, fmt::format("the slide ({}) is longer than the window size ({}): events "
                                    "between windows would belong to none; use a slide of at most "
                                    "the size",
                                    format_duration_ms(w.slide_ms), format_duration_ms(w.size_ms)));
      }
      break;
    case Kind::kSession:
      if (w.gap_ms <= 0) fail(kind_loc, "the session gap must be positive");
      break;
    case Kind::kGlobal:
      if (w.every_ms <= 0 && w.every_count <= 0) {
        fail(kind_loc, "a global window needs a trigger: {every: 10s} or {every_count: 1000}");
      }
      if (w.every_count > 0 && !keyed) {
        fail(kind_loc, "every_count counts a key's records: add a key_by step before the window, "
                       "or use every: <duration>");
      }
      break;
    case Kind::kCount:
      if (w.count_size <= 0) fail(kind_loc, "the count window size must be positive");
      if (w.count_slide < 0) fail(slide_loc, "the slide must be positive");
      if (w.count_slide > w.count_size) {
        fail(slide_loc, fmt::format("the slide ({} records) is larger than the window size ({} "
                                    "records): records between windows would belong to none",
                                    w.count_slide, w.count_size));
      }
      if (w.allowed_lateness_ms != 0) {
        fail(lateness_loc, "count windows fire when they are full, in arrival order: nothing is "
                           "late, so allowed_lateness does not apply; remove it");
      }
      break;
  }
  if (w.allowed_lateness_ms < 0) fail(lateness_loc, "allowed_lateness must not be negative");
  if (w.kind != Kind::kGlobal && (w.every_ms != 0 || w.every_count != 0)) {
    // YAML puts the triggers inside `global:`; a spec built in C++ could set them on any window.
    fail(kind_loc, "every and every_count are the triggers of a global window; other windows "
                   "fire when they close (use early: <duration> for results before that)");
  }
  if (w.early_ms != 0 && w.kind != Kind::kTumbling && w.kind != Kind::kSliding) {
    fail(w.early_loc.path.empty() ? w.loc : w.early_loc,
         "early results are supported for tumbling and sliding windows; a global window has its "
         "own trigger (global: {every: 10s})");
  }
  if (w.kind == Kind::kGlobal && w.allowed_lateness_ms != 0) {
    fail(lateness_loc, "a global window never closes, so nothing is late: remove allowed_lateness");
  }
  if (w.allowed_lateness_ms > 0 && s.time.field.empty()) {
    fail(lateness_loc, "allowed_lateness needs event time (time: {field: ...}); with processing "
                       "time nothing is ever late");
  }
  if ((w.kind == Kind::kSession || w.kind == Kind::kCount) && !keyed) {
    fail(kind_loc, fmt::format("{} windows are per key: add a key_by step before the window",
                               w.kind == Kind::kSession ? "session" : "count"));
  }
}

void fill_window_plan(const WindowSpec& w, WindowPlan* p) {
  using Kind = WindowSpec::Kind;
  switch (w.kind) {
    case Kind::kTumbling: p->kind = WindowPlan::Kind::kTumbling; break;
    case Kind::kSliding: p->kind = WindowPlan::Kind::kSliding; break;
    case Kind::kSession: p->kind = WindowPlan::Kind::kSession; break;
    case Kind::kCount: p->kind = WindowPlan::Kind::kCount; break;
    case Kind::kGlobal: p->kind = WindowPlan::Kind::kGlobal; break;
  }
  p->early_ms = w.kind == Kind::kGlobal ? w.every_ms : w.early_ms;
  p->every_count = w.every_count;
  p->size_ms = w.size_ms;
  p->slide_ms = w.kind == Kind::kSliding ? w.slide_ms : w.size_ms;
  p->gap_ms = w.gap_ms;
  p->count_size = w.count_size;
  p->count_slide = w.count_slide > 0 ? w.count_slide : w.count_size;
  p->allowed_lateness_ms = w.allowed_lateness_ms;
}

// The parser drops (reason `late`, raw bytes kept) an event whose windows all closed for good
// before its own horizon. InputSchema states the rule for tumbling windows (window_ms wide,
// max_out_of_order); the other kinds are written in those terms:
// - tumbling: window end + lateness <= max seen - max_out_of_order;
// - sliding: the last window of t is [floor(t/slide)*slide, +size): panes of `slide` and a
//   horizon moved back by size - slide + lateness;
// - session: t + lateness < max seen - max_out_of_order (1 ms "windows");
// - count: nothing is late.
void set_parser_lateness(const WindowPlan& w, int64_t max_out_of_order_ms, InputSchema* in) {
  switch (w.kind) {
    case WindowPlan::Kind::kTumbling:
      in->window_ms = w.size_ms;
      in->max_out_of_order_ms = max_out_of_order_ms + w.allowed_lateness_ms;
      break;
    case WindowPlan::Kind::kSliding:
      in->window_ms = w.slide_ms;
      in->max_out_of_order_ms =
          max_out_of_order_ms + (w.size_ms - w.slide_ms) + w.allowed_lateness_ms;
      break;
    case WindowPlan::Kind::kSession:
      in->window_ms = 1;
      in->max_out_of_order_ms = max_out_of_order_ms + w.allowed_lateness_ms;
      break;
    case WindowPlan::Kind::kCount:
    case WindowPlan::Kind::kGlobal:
      in->window_ms = 0;
      break;
  }
}

std::string describe_window_kind(const WindowPlan& w);

std::string describe_window(const WindowPlan& w) {
  std::string d = describe_window_kind(w);
  if (w.early_ms > 0 && w.kind != WindowPlan::Kind::kGlobal) {
    d += ", early results every " + format_duration_ms(w.early_ms);
  }
  return d;
}

std::string describe_window_kind(const WindowPlan& w) {
  switch (w.kind) {
    case WindowPlan::Kind::kTumbling: return "tumbling " + format_duration_ms(w.size_ms);
    case WindowPlan::Kind::kSliding:
      return fmt::format("sliding {} every {} (panes of {})", format_duration_ms(w.size_ms),
                         format_duration_ms(w.slide_ms),
                         format_duration_ms(std::gcd(w.size_ms, w.slide_ms)));
    case WindowPlan::Kind::kSession: return "session, gap " + format_duration_ms(w.gap_ms);
    case WindowPlan::Kind::kCount:
      return fmt::format("count of {} records every {} (arrival order per key)", w.count_size,
                         w.count_slide);
    case WindowPlan::Kind::kGlobal:
      return fmt::format("global (never closes), running results{}{}",
                         w.early_ms > 0 ? " every " + format_duration_ms(w.early_ms) : "",
                         w.every_count > 0 ? fmt::format(" every {} records of a key", w.every_count)
                                           : "");
  }
  return "";
}

bool is_field_path(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$')) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Plan> Plan::compile(const PipelineSpec& spec) {
  std::unique_ptr<Plan> plan(new Plan());
  Plan& p = *plan;
  p.spec_ = spec;
  const PipelineSpec& s = p.spec_;
  if (s.source.type == "udp" && s.source.format == Format::kCsv && s.source.header) {
    // A header row needs a stream order; datagrams have none (lost, reordered, a restarted
    // sender): no row of a peer can be trusted to be its header.
    SpecLoc loc = s.source.loc;
    loc.path = "source.header";
    fail(loc, "a CSV header row cannot be used over udp: datagrams have no order, so no row is "
              "known to be the header; found header: true (the csv default); declare the "
              "columns instead: header: false, columns: [name, ...]");
  }
  if (s.routing.has_seed) {
    p.routing_seed_ = seed_from_u64(s.routing.seed);
  } else if (!s.routing.secret_file.empty()) {
    Result<Seed128> r = seed_from_secret_file(s.routing.secret_file);
    if (!r) fail(s.routing.loc, "secret_file: " + r.status().message());
    p.routing_seed_ = *r;
  } else {
    p.routing_seed_ = random_seed();
  }

  // Scopes live in a deque-like vector of unique_ptr so parents stay put.
  std::vector<std::unique_ptr<Scope>> scopes;
  scopes.push_back(std::make_unique<Scope>(Scope::input(s.source)));
  Scope* input = scopes.back().get();

  // Parse every expression first (syntax errors in document order).
  std::vector<std::unique_ptr<ExprNode>> step_expr(s.steps.size());
  std::vector<std::vector<std::unique_ptr<ExprNode>>> step_fields(s.steps.size());
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const StepSpec& st = s.steps[i];
    switch (st.kind) {
      case StepSpec::Kind::kFilter:
      case StepSpec::Kind::kKeyBy:
        step_expr[i] = parse_or_fail(st.expr, st.expr_loc);
        break;
      case StepSpec::Kind::kSelect:
      case StepSpec::Kind::kAggregate:
        for (const auto& f : st.fields) step_fields[i].push_back(parse_or_fail(f.expr, f.loc));
        break;
      case StepSpec::Kind::kWindow:
      case StepSpec::Kind::kShuffle: break;
    }
  }

  // Without select or aggregate the pipeline passes the original events through: slot 0
  // holds the raw event.
  bool passthrough_raw = true;
  for (const auto& st : s.steps) {
    if (st.kind == StepSpec::Kind::kSelect || st.kind == StepSpec::Kind::kAggregate) passthrough_raw = false;
  }
  if (passthrough_raw) input->add("$raw", ExprType::kAny, -1);

  // Input fields: the time field, then every field the steps up to the first select read.
  int time_slot = -1;
  if (!s.time.field.empty()) {
    std::string err;
    time_slot = input->resolve(s.time.field, &err);
    if (time_slot < 0) fail(s.time.field_loc, err);
  }
  std::vector<std::string> key_names;  // names introduced by earlier key_by steps
  for (size_t i = 0; i < s.steps.size(); ++i) {
    if (i > 0 && s.steps[i - 1].kind == StepSpec::Kind::kKeyBy &&
        !s.steps[i - 1].key_name.empty() && s.steps[i - 1].key_name != s.steps[i - 1].expr) {
      key_names.push_back(s.steps[i - 1].key_name);
    }
    // Every field these expressions read must be an input field (or a key_by output name):
    // report an unknown one here, with its place in the expression.
    auto discover = [&](const ExprNode& root, const SpecLoc& loc) {
      std::vector<const ExprNode*> fields;
      collect_fields(root, &fields);
      for (const ExprNode* f : fields) {
        if (std::find(key_names.begin(), key_names.end(), f->name) != key_names.end()) continue;
        std::string err;
        if (input->resolve(f->name, &err) < 0) fail_expr(loc, ExprError{f->pos, err});
      }
    };
    if (step_expr[i]) discover(*step_expr[i], s.steps[i].expr_loc);
    for (size_t k = 0; k < step_fields[i].size(); ++k) {
      discover(*step_fields[i][k], s.steps[i].fields[k].loc);
    }
    if (s.steps[i].kind == StepSpec::Kind::kSelect) break;
  }
  input->freeze();

  // Compile steps.
  Scope* cur = input;
  std::optional<size_t> key_step;
  const Scope* key_scope = nullptr;  // the scope key_by made (its last slot is the key)
  const StepSpec* window_step = nullptr;
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const StepSpec& st = s.steps[i];
    switch (st.kind) {
      case StepSpec::Kind::kFilter: {
        CompiledExpr c = compile_or_fail(*step_expr[i], *cur, st.expr_loc);
        if (c.type() != ExprType::kBool && c.type() != ExprType::kAny) {
          fail(st.expr_loc, fmt::format("a filter must be a condition (bool), but this is a {}",
                                        expr_type_name(c.type())));
        }
        p.ops_.push_back(std::make_unique<FilterOp>(std::move(c), 0));
        break;
      }
      case StepSpec::Kind::kSelect: {
        scopes.push_back(std::make_unique<Scope>(Scope::derived(cur)));
        Scope* next = scopes.back().get();
        std::vector<CompiledExpr> exprs;
        for (size_t k = 0; k < st.fields.size(); ++k) {
          CompiledExpr c = compile_or_fail(*step_fields[i][k], *cur, st.fields[k].loc);
          next->add(st.fields[k].name, c.type(), c.field_slot());
          exprs.push_back(std::move(c));
        }
        p.ops_.push_back(std::make_unique<SelectOp>(std::move(exprs)));
        cur = next;
        break;
      }
      case StepSpec::Kind::kKeyBy: {
        if (key_step) fail(st.loc, "only one key_by is allowed in a pipeline");
        CompiledExpr c = compile_or_fail(*step_expr[i], *cur, st.expr_loc);
        std::string name = st.key_name.empty() ? st.expr : st.key_name;
        if (!is_field_path(name)) {
          fail(st.expr_loc, fmt::format("name the key of this expression with `as`, e.g. "
                                        "key_by: {{expr: '{}', as: key}}", st.expr));
        }
        scopes.push_back(std::make_unique<Scope>(Scope::derived(cur)));
        Scope* next = scopes.back().get();
        uint32_t in_slots = static_cast<uint32_t>(cur->slots().size());
        for (size_t k = 0; k < cur->slots().size(); ++k) {
          next->add(cur->slots()[k].name, cur->slots()[k].type, static_cast<int>(k));
        }
        next->add(name, c.type(), c.field_slot());
        key_scope = next;
        if (!p.hasher_) p.hasher_ = make_key_hasher(p.routing_seed_);
        p.ops_.push_back(std::make_unique<KeyByOp>(std::move(c), in_slots, p.hasher_));
        p.pre_ops_ = p.ops_.size();
        p.keyed_ = true;
        p.exchange_ = true;
        p.grouping_.kind = st.grouping;
        // Hot-key spreading is on by default for partial_key (its purpose is balance), off for
        // key (one owner per key, like Flink's keyBy) unless asked.
        p.grouping_.hot_keys = st.hot_keys < 0 ? st.grouping == GroupingKind::kPartialKey : st.hot_keys == 1;
        p.grouping_.hot_share = st.hot_share;
        key_step = i;
        cur = next;
        break;
      }
      case StepSpec::Kind::kShuffle: {
        if (key_step) fail(st.loc, "only one key_by or shuffle step is allowed in a pipeline");
        p.pre_ops_ = p.ops_.size();
        p.exchange_ = true;
        p.grouping_.kind = st.grouping;
        key_step = i;
        break;
      }
      case StepSpec::Kind::kWindow: {
        if (window_step) fail(st.loc, "only one window is allowed in a pipeline");
        check_window(st.window, s, p.keyed_);
        window_step = &st;
        break;
      }
      case StepSpec::Kind::kAggregate: {
        if (!window_step) fail(st.loc, "aggregate needs a window step before it, e.g. window: {tumbling: 10s}");
        if (!p.aggs_.empty()) fail(st.loc, "only one aggregate step is allowed");
        for (size_t k = 0; k < st.fields.size(); ++k) {
          ExprError e;
          auto f = AggregateRegistry::builtin().compile(*step_fields[i][k], *cur, &e);
          if (!f) fail_expr(st.fields[k].loc, e);
          p.aggs_.push_back(std::move(f));
          p.window_.agg_names.push_back(st.fields[k].name);
        }
        break;
      }
    }
  }
  if (window_step && p.aggs_.empty()) {
    fail(window_step->loc, "a window must be followed by an aggregate step, e.g. aggregate: {n: count()}");
  }
  if (!key_step) p.pre_ops_ = p.ops_.size();
  if (window_step && p.exchange_ && p.grouping_.kind == GroupingKind::kBroadcast) {
    const StepSpec& sh = s.steps[*key_step];
    fail(sh.grouping_loc, "broadcast copies every record to every worker, so the aggregate after it "
                          "would count each record once per worker; use broadcast in pipelines "
                          "without a window, or use shuffle: {} to spread records");
  }

  // Input schema from the (frozen) input scope.
  for (const auto& sl : input->slots()) p.input_.fields.push_back(InputField{sl.name, sl.type});
  p.input_.time_slot = time_slot;
  p.input_.format = s.source.format;
  p.input_.delimiter = s.source.delimiter;
  p.input_.declared_columns = s.source.columns;
  p.input_.max_event_bytes = static_cast<size_t>(s.source.max_event_bytes);

  std::vector<std::string> out_names;
  if (window_step) {
    p.has_window_ = true;
    fill_window_plan(window_step->window, &p.window_);
    if (time_slot >= 0) set_parser_lateness(p.window_, s.time.max_out_of_order_ms, &p.input_);
    p.window_.keyed = p.keyed_;
    // Partial key grouping and hot keys spread a key over workers: its per-worker states are
    // merged by the collector when the window fires.
    p.window_.merge_keys =
        p.keyed_ && (p.grouping_.kind == GroupingKind::kPartialKey || p.grouping_.hot_keys);
    const WindowSpec& ws = window_step->window;
    if (p.window_.merge_keys && ws.every_count > 0) {
      fail(ws.kind_loc.path.empty() ? ws.loc : ws.kind_loc,
           "every_count needs each key on one worker: use grouping: key without hot keys, or "
           "every: <duration>");
    }
    if (p.window_.merge_keys &&
        (ws.kind == WindowSpec::Kind::kSession || ws.kind == WindowSpec::Kind::kCount)) {
      const StepSpec& kb = s.steps[*key_step];
      fail(kb.grouping_loc.path.empty() ? kb.loc : kb.grouping_loc,
           fmt::format("{} windows need every record of a key on one worker, but partial_key "
                       "grouping and hot keys spread a key over workers; use grouping: key "
                       "(and hot_keys: false)",
                       ws.kind == WindowSpec::Kind::kSession ? "session" : "count"));
    }
    if (p.keyed_) {
      p.window_.key_slot = static_cast<uint32_t>(cur->slots().size() - 1);
      // The key is the last slot of the key_by scope; later selects would move it, so find it.
      out_names.push_back(cur->slots().back().name);
    }
    out_names.push_back("window_start");
    out_names.push_back("window_end");
    for (const auto& n : p.window_.agg_names) out_names.push_back(n);
    // Late updates re-emit a window: the last column says which record is the update.
    if (p.window_.allowed_lateness_ms > 0) out_names.push_back("update");
    if (p.window_.has_final_column()) out_names.push_back("final");
    for (const auto& a : p.aggs_) p.window_.aggs.push_back(a.get());
    p.window_.input_names = cur->names();
    p.window_.source_name = s.source.type == "file" ? s.source.path : s.source.type;
  } else if (passthrough_raw) {
    out_names.push_back("$raw");
    p.raw_passthrough_ = true;
  } else {
    out_names = cur->names();
    // Without a window key_by only routes: the key slot it appends is not an output column.
    if (cur == key_scope) out_names.pop_back();
  }
  if (window_step && p.keyed_) {
    // A select after key_by would drop the key slot: the key must be the scope's last slot.
    const auto& last = cur->slots().back();
    if (key_step && s.steps.size() > *key_step + 1) {
      for (size_t i = *key_step + 1; i < s.steps.size(); ++i) {
        if (s.steps[i].kind == StepSpec::Kind::kSelect) {
          fail(s.steps[i].loc, "select after key_by is not supported before a window; select before key_by");
        }
      }
    }
    (void)last;
  }
  for (size_t i = 0; i < out_names.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out_names[i] != out_names[j]) continue;
      const StepSpec* agg_step = nullptr;
      for (const auto& st : s.steps) {
        if (st.kind == StepSpec::Kind::kAggregate) agg_step = &st;
      }
      SpecLoc where = agg_step ? agg_step->loc : SpecLoc{s.file, 0, 0, "steps"};
      if (agg_step) {
        for (const auto& f : agg_step->fields) {
          if (f.name == out_names[i]) where = f.loc;
        }
      }
      fail(where, fmt::format("output field '{}' appears twice in the results ({}); rename one",
                              out_names[i], fmt::join(out_names, ", ")));
    }
  }
  p.output_names_ = std::make_shared<const std::vector<std::string>>(out_names);
  p.window_.output_names = p.output_names_;
  return plan;
}

std::string Plan::describe() const {
  std::string d;
  d += fmt::format("pipeline '{}': source {} ({}), {} step(s), sink {} ({})\n", spec_.name,
                   spec_.source.type, format_name(spec_.source.format), spec_.steps.size(),
                   spec_.sink.type, format_name(spec_.sink.format));
  std::vector<std::string> fields;
  for (const auto& f : input_.fields) {
    if (f.path == "$raw") continue;
    fields.push_back(f.expected == ExprType::kAny ? f.path
                                                  : fmt::format("{}:{}", f.path, expr_type_name(f.expected)));
  }
  d += fmt::format("  reads: {}\n", fields.empty() ? std::string("(whole events)") : fmt::format("{}", fmt::join(fields, ", ")));
  d += fmt::format("  time: {}\n", spec_.time.field.empty()
                                       ? std::string("processing time")
                                       : fmt::format("event time from '{}', max out of order {}",
                                                     spec_.time.field,
                                                     format_duration_ms(spec_.time.max_out_of_order_ms)));
  d += spec_.micro_batch
           ? fmt::format("  mode: micro_batch, batches of {} (windows fire and the sink flushes at "
                         "batch ends)\n",
                         format_duration_ms(spec_.batch_interval_ms))
           : std::string("  mode: per_event\n");
  if (exchange_) {
    d += fmt::format("  exchange: {} grouping{}; routing seed: {}\n", grouping_name(grouping_.kind),
                     grouping_.hot_keys ? ", hot keys spread over workers" : "",
                     spec_.routing.has_seed ? "fixed (reproducible; unsafe in production)"
                     : spec_.routing.secret_file.empty() ? "random at start-up"
                                                         : "derived from the secret file");
  }
  if (has_window_) {
    d += fmt::format("  window: {}{}{}\n", describe_window(window_),
                     window_.allowed_lateness_ms > 0
                         ? ", allowed lateness " + format_duration_ms(window_.allowed_lateness_ms)
                         : std::string(),
                     keyed_ ? ", keyed" : ", global (per-worker partials merged)");
  }
  d += fmt::format("  output fields: {}\n", fmt::join(*output_names_, ", "));
  return d;
}

int resolve_workers(int requested) {
  if (requested > 0) return requested;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

struct PlanRunner {
  static Status run(const Plan& p, const RunOptions& o, RunReport* report) {
    const PipelineSpec& s = p.spec_;
    auto dl = DeadLetterOutput::open(s.dead_letter.path);
    if (!dl) return dl.status();
    std::unique_ptr<DeadLetterOutput> dead = std::move(*dl);

    SourceOptions so;
    so.type = s.source.type;
    so.path = s.source.path;
    so.follow = s.source.follow;
    so.start_at_end = s.source.start == "end";
    so.listen = s.source.listen;
    so.csv_header = s.source.format == Format::kCsv && s.source.header;
    so.csv_delimiter = s.source.delimiter;
    so.max_event_bytes = static_cast<size_t>(s.source.max_event_bytes);
    so.max_connections = s.source.max_connections;
    so.batch_interval_ms = s.micro_batch ? s.batch_interval_ms : 0;
    Result<std::unique_ptr<Source>> src =
        o.source ? Result<std::unique_ptr<Source>>(o.source()) : make_source(so);
    if (!src) return src.status();

    SinkOptions sk;
    sk.type = s.sink.type;
    sk.path = s.sink.path;
    sk.append = s.sink.append;
    sk.connect = s.sink.connect;
    auto sink = make_sink(sk, o.stop);
    if (!sink) return sink.status();

    EngineSpec es;
    es.workers = resolve_workers(o.workers > 0 ? o.workers : s.workers);
    es.source = std::move(*src);
    const InputSchema* schema = &p.input_;
    DeadLetterOutput* dead_ptr = dead.get();
    es.make_parser = [schema, dead_ptr] { return make_record_parser(*schema, dead_ptr); };
    for (size_t i = 0; i < p.ops_.size(); ++i) {
      (i < p.pre_ops_ ? es.pre_ops : es.post_ops).push_back(p.ops_[i].get());
    }
    es.exchange = p.exchange_;
    es.grouping = p.grouping_;
    es.routing_seed = p.routing_seed_;
    es.window = p.has_window_ ? &p.window_ : nullptr;
    es.record_names = p.output_names_;
    es.raw_passthrough = p.raw_passthrough_;
    for (const InputField& f : p.input_.fields) es.measure_input_rate |= f.path == "$rate";
    es.event_time = !s.time.field.empty();
    es.max_out_of_order_ms = s.time.max_out_of_order_ms;
    es.idle_timeout_ms = s.time.idle_timeout_ms;
    es.batch_interval_ms = s.micro_batch ? s.batch_interval_ms : 0;
    es.sink = std::move(*sink);
    es.formatter = make_formatter(s.sink.format);
    es.dead_letters = dead_ptr;
    es.stop_flag = o.stop;
    int workers = es.workers;
    Engine engine(std::move(es));
    Status st = engine.run();
    if (report) {
      report->stats = engine.stats();
      report->dead_letters = dead->total();
      report->dead_letter_summary = dead->summary();
      report->workers = workers;
    }
    return st;
  }
};

Status run_plan(const Plan& plan, const RunOptions& options, RunReport* report) {
  return PlanRunner::run(plan, options, report);
}

}  // namespace spate
