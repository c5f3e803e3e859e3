#include "spate/runtime/window.h"

#include <cmath>
#include <cstring>

#include "spate/common/time.h"

namespace spate {

void encode_key(const Value& v, std::string* out) {
  out->clear();
  auto put64 = [&](uint64_t x) { out->append(reinterpret_cast<const char*>(&x), 8); };
  switch (v.type) {
    case ValueType::kNull: out->push_back('n'); break;
    case ValueType::kBool: out->push_back(v.b ? 'T' : 'F'); break;
    case ValueType::kInt: out->push_back('i'); put64(static_cast<uint64_t>(v.i)); break;
    case ValueType::kDouble:
      if (v.d == std::floor(v.d) && std::fabs(v.d) < 9.2e18) {
        out->push_back('i');
        put64(static_cast<uint64_t>(static_cast<int64_t>(v.d)));
      } else {
        uint64_t bits;
        std::memcpy(&bits, &v.d, 8);
        out->push_back('d');
        put64(bits);
      }
      break;
    case ValueType::kString: out->push_back('s'); out->append(v.str, v.len); break;
  }
}

void record_to_json(const Value* rec, const std::vector<std::string>& names, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out->push_back(',');
    append_json_string(*out, names[i]);
    out->push_back(':');
    append_json(*out, rec[i]);
  }
  out->push_back('}');
}

WindowAggregator::WindowAggregator(const WindowPlan& plan, DeadLetterOutput* dead_letters)
    : plan_(plan), dead_letters_(dead_letters), fired_up_to_(kMinTime) {}

static int64_t window_start(int64_t t, int64_t size) {
  int64_t q = t / size;
  if (t % size != 0 && t < 0) --q;
  return q * size;
}

WindowAggregator::Pane* WindowAggregator::pane_for(int64_t start) {
  if (last_pane_ && last_pane_->start == start) return last_pane_;
  auto it = panes_.find(start);
  if (it == panes_.end()) {
    auto p = std::make_unique<Pane>();
    p->start = start;
    it = panes_.emplace(start, std::move(p)).first;
  }
  last_pane_ = it->second.get();
  return last_pane_;
}

WindowAggregator::Entry& WindowAggregator::entry_for(Pane& p, const Value& key) {
  encode_key(key, &key_buf_);
  auto it = p.index.find(key_buf_);
  if (it != p.index.end()) return p.entries[it->second];
  uint32_t idx = static_cast<uint32_t>(p.entries.size());
  p.index.emplace(key_buf_, idx);
  Entry e;
  e.key = key;
  if (key.is_string()) e.key = Value::string(p.arena.copy(key.sv()));
  e.states.reserve(plan_.aggs.size());
  for (const auto* a : plan_.aggs) e.states.push_back(a->make_state());
  p.entries.push_back(std::move(e));
  return p.entries.back();
}

void WindowAggregator::report_late(const Value* rec, uint32_t slots, int64_t t) {
  ++late_;
  if (!dead_letters_) return;
  std::string raw;
  std::vector<std::string> names = plan_.input_names;
  names.resize(slots, "");
  record_to_json(rec, names, &raw);
  std::string detail = "event time " + format_rfc3339_ms(t) +
                       " is in a window that already fired (watermark " +
                       format_rfc3339_ms(fired_up_to_) + ")";
  dead_letters_->write(DeadReason::kLate, plan_.source_name, "null", raw, detail);
}

void WindowAggregator::add(const RecordBatch& batch, Arena& scratch) {
  const uint32_t n = batch.size();
  const size_t naggs = plan_.aggs.size();
  static const Value kNullKey;
  for (uint32_t i = 0; i < n; ++i) {
    const int64_t t = batch.meta(i).event_time;
    const int64_t start = window_start(t, plan_.size_ms);
    const Value* rec = batch.record(i);
    if (start + plan_.size_ms <= fired_up_to_) {
      report_late(rec, batch.slots(), t);
      continue;
    }
    Pane* p = pane_for(start);
    p->records++;
    Entry& e = entry_for(*p, plan_.keyed ? rec[plan_.key_slot] : kNullKey);
    for (size_t a = 0; a < naggs; ++a) {
      const CompiledExpr* arg = plan_.aggs[a]->arg();
      e.states[a]->add(arg ? arg->eval(rec, scratch) : Value(), t);
    }
  }
}

void WindowAggregator::fire(int64_t watermark, std::vector<FiredWindow>* out) {
  if (watermark > fired_up_to_) fired_up_to_ = watermark;
  while (!panes_.empty()) {
    auto it = panes_.begin();
    Pane& p = *it->second;
    const int64_t end = p.start + plan_.size_ms;
    if (end > watermark) break;
    FiredWindow fw;
    fw.start = p.start;
    fw.end = end;
    fw.records = p.records;
    if (plan_.keyed) {
      fw.rows = std::make_unique<OutputRows>();
      fw.rows->reset(plan_.output_names);
      fw.rows->reserve(p.entries.size());
      std::string ws = format_rfc3339_ms(p.start), we = format_rfc3339_ms(end);
      Value vs = Value::string(fw.rows->arena().copy(ws));
      Value ve = Value::string(fw.rows->arena().copy(we));
      for (const Entry& e : p.entries) {
        OutField* row = fw.rows->add_row();
        row[0].value = e.key.is_string() ? Value::string(fw.rows->arena().copy(e.key.sv())) : e.key;
        row[1].value = vs;
        row[2].value = ve;
        for (size_t a = 0; a < e.states.size(); ++a) {
          e.states[a]->write_result(&row[3 + a], fw.rows->arena());
        }
      }
    } else if (!p.entries.empty()) {
      fw.partials = std::move(p.entries[0].states);
    }
    if (last_pane_ == &p) last_pane_ = nullptr;
    panes_.erase(it);
    out->push_back(std::move(fw));
  }
}

}  // namespace spate
