#include "spate/io/parsers.h"

#include <charconv>
#include <cstring>

#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "spate/common/time.h"
#include "spate/io/csv.h"

namespace spate {

const std::vector<std::string>& metadata_field_names() {
  static const std::vector<std::string> k = {"$source", "$remote_ip", "$remote_port",
                                             "$ingest_time", "$length", "$rate"};
  return k;
}

namespace {

enum class Meta { kNone, kSource, kRemoteIp, kRemotePort, kIngestTime, kLength, kRate, kRaw };

Meta meta_of(const std::string& path) {
  if (path == "$source") return Meta::kSource;
  if (path == "$remote_ip") return Meta::kRemoteIp;
  if (path == "$remote_port") return Meta::kRemotePort;
  if (path == "$ingest_time") return Meta::kIngestTime;
  if (path == "$length") return Meta::kLength;
  if (path == "$rate") return Meta::kRate;
  if (path == "$raw") return Meta::kRaw;
  return Meta::kNone;
}

// Shared by the three parsers: line splitting, metadata, type checks, time extraction.
class ParserBase : public RecordParser {
 public:
  ParserBase(const InputSchema& s, DeadLetterOutput* dl) : schema_(s), dead_(dl) {
    for (size_t i = 0; i < s.fields.size(); ++i) {
      Meta m = meta_of(s.fields[i].path);
      if (m != Meta::kNone) meta_slots_.emplace_back(static_cast<int>(i), m);
    }
  }
  uint32_t slots() const override { return static_cast<uint32_t>(schema_.fields.size()); }

  void parse(const RawChunk& chunk, RecordBatch& batch) override {
    chunk_ = &chunk;
    raw_arena_ = &batch.arena();
    // Per-chunk metadata values, copied once into the batch's arena.
    source_v_ = Value::string(batch.arena().copy(chunk.stream->source));
    ip_v_ = chunk.stream->remote_ip.empty() ? Value()
                                            : Value::string(batch.arena().copy(chunk.stream->remote_ip));
    begin_chunk(chunk);
    // The lateness horizon is per input (file, connection): a slow input's events are judged
    // by its own clock, not by a faster input's.
    int64_t& input_max = max_seen_by_input_.try_emplace(chunk.stream->input, kMinTime).first->second;
    max_seen_ = input_max;
    const char* base = chunk.data.data();
    const char* p = base;
    const char* end = base + chunk.size;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* le = nl ? nl : end;
      size_t len = static_cast<size_t>(le - p);
      size_t raw_len = len;
      if (len > 0 && p[len - 1] == '\r') --len;
      if (!blank(p, len)) {
        uint64_t pos = chunk.position + static_cast<uint64_t>(p - base);
        if (len > schema_.max_event_bytes) {
          dead(DeadReason::kOversize, pos, {p, len},
               fmt::format("event of {} bytes exceeds max_event_size ({} bytes)", len,
                           schema_.max_event_bytes));
        } else {
          parse_line(p, len, static_cast<size_t>(end - p) + RawChunk::kChunkPadding, pos, batch);
        }
      }
      p = le + (nl ? 1 : 0);
      (void)raw_len;
    }
    input_max = max_seen_;
  }

 protected:
  static bool blank(const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (p[i] != ' ' && p[i] != '\t') return false;
    }
    return true;
  }
  virtual void begin_chunk(const RawChunk&) {}
  virtual void parse_line(const char* p, size_t len, size_t capacity, uint64_t pos,
                          RecordBatch& batch) = 0;

  void dead(DeadReason r, uint64_t pos, std::string_view raw, std::string_view detail) {
    if (dead_) dead_->write(r, chunk_->stream->source, fmt::format("{}", pos), raw, detail);
  }

  // Fills metadata slots, checks types and extracts the event time. Returns false (after writing
  // the dead letter) if the record must be dropped.
  bool finish_record(Value* rec, RecordMeta& meta, size_t len, uint64_t pos, std::string_view raw) {
    for (auto [slot, m] : meta_slots_) {
      switch (m) {
        case Meta::kSource: rec[slot] = source_v_; break;
        case Meta::kRemoteIp: rec[slot] = ip_v_; break;
        case Meta::kRemotePort:
          rec[slot] = chunk_->stream->remote_port ? Value::integer(chunk_->stream->remote_port) : Value();
          break;
        case Meta::kIngestTime: rec[slot] = Value::integer(chunk_->ingest_time_ms); break;
        case Meta::kLength: rec[slot] = Value::integer(static_cast<int64_t>(len)); break;
        case Meta::kRate: rec[slot] = Value::integer(chunk_->input_rate); break;
        case Meta::kRaw: rec[slot] = Value::string(raw_arena_->copy(raw)); break;
        case Meta::kNone: break;
      }
    }
    const size_t n = schema_.fields.size();
    for (size_t i = 0; i < n; ++i) {
      ExprType want = schema_.fields[i].expected;
      const Value& v = rec[i];
      if (want == ExprType::kAny || v.is_null() || static_cast<int>(i) == schema_.time_slot) continue;
      bool ok = (want == ExprType::kNumber && v.is_number()) ||
                (want == ExprType::kString && v.is_string()) ||
                (want == ExprType::kBool && v.type == ValueType::kBool);
      if (!ok) {
        std::string shown;
        append_json(shown, v);
        dead(DeadReason::kWrongType, pos, raw,
             fmt::format("field '{}' should be a {}, found {} {}", schema_.fields[i].path,
                         expr_type_name(want), value_type_name(v.type), shown.substr(0, 100)));
        return false;
      }
    }
    if (schema_.time_slot >= 0) {
      const Value& tv = rec[schema_.time_slot];
      int64_t ms = 0;
      bool ok = false;
      std::string why;
      if (tv.is_number()) {
        ok = epoch_number_to_ms(tv.as_double(), &ms);
        if (!ok) why = "is out of range (before 1970 or after 9999)";
      } else if (tv.is_string()) {
        auto r = parse_rfc3339_ms(tv.sv());
        if (r) {
          ms = *r;
          ok = ms >= 0 && ms <= 253402300799999LL;
          if (!ok) why = "is out of range (before 1970 or after 9999)";
        } else {
          double d;
          auto [e, ec] = std::from_chars(tv.str, tv.str + tv.len, d);
          ok = ec == std::errc() && e == tv.str + tv.len && epoch_number_to_ms(d, &ms);
          if (!ok) why = "is neither an epoch number nor an RFC 3339 timestamp";
        }
      } else if (tv.is_null()) {
        why = "is missing";
      } else {
        why = "is neither an epoch number nor an RFC 3339 timestamp";
      }
      if (!ok) {
        std::string shown;
        if (!tv.is_null()) {
          shown = " (";
          append_json(shown, tv);
          shown += ")";
        }
        dead(DeadReason::kBadTimestamp, pos, raw,
             fmt::format("time field '{}' {}{}", schema_.fields[schema_.time_slot].path, why,
                         shown.substr(0, 120)));
        return false;
      }
      meta.event_time = ms;
      if (schema_.window_ms > 0) {
        int64_t start = ms / schema_.window_ms * schema_.window_ms;
        if (ms < 0 && ms % schema_.window_ms != 0) start -= schema_.window_ms;
        int64_t horizon = max_seen_ - schema_.max_out_of_order_ms;
        if (max_seen_ != kMinTime && start + schema_.window_ms <= horizon) {
          dead(DeadReason::kLate, pos, raw,
               fmt::format("event time {} is in a window that closed before {} (max event time "
                           "seen {} minus max_out_of_order)",
                           format_rfc3339_ms(ms), format_rfc3339_ms(horizon),
                           format_rfc3339_ms(max_seen_)));
          return false;
        }
        max_seen_ = std::max(max_seen_, ms);
      }
    } else {
      meta.event_time = chunk_->ingest_time_ms;
    }
    return true;
  }

  const InputSchema& schema_;
  DeadLetterOutput* dead_;
  const RawChunk* chunk_ = nullptr;
  std::vector<std::pair<int, Meta>> meta_slots_;
  Value source_v_, ip_v_;
  Arena* raw_arena_ = nullptr;
  int64_t max_seen_ = kMinTime;  // max event time of the chunk's input so far (lateness horizon)
  // Per input: the max event time this parser has seen from it. Grows with the number of
  // inputs (connections, files) of the run; entries are 16 bytes.
  absl::flat_hash_map<uint64_t, int64_t> max_seen_by_input_;
};

// ---------------------------------------------------------------- JSON
class JsonParser final : public ParserBase {
 public:
  JsonParser(const InputSchema& s, DeadLetterOutput* dl) : ParserBase(s, dl) {
    nodes_.push_back(Node{});
    for (size_t i = 0; i < s.fields.size(); ++i) {
      const std::string& path = s.fields[i].path;
      if (path.empty() || path[0] == '$') continue;
      int cur = 0;
      size_t start = 0;
      while (true) {
        size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        int child = -1;
        for (int c : nodes_[cur].children) {
          if (nodes_[c].name == part) child = c;
        }
        if (child < 0) {
          nodes_.push_back(Node{part, -1, {}, {}, false});
          child = static_cast<int>(nodes_.size() - 1);
          nodes_[cur].children.push_back(child);
        }
        cur = child;
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      nodes_[cur].slot = static_cast<int>(i);
    }
    // Slots under each node, so that a repeated key clears what an earlier occurrence set
    // (last occurrence wins, as for a plain field).
    for (size_t n = nodes_.size(); n-- > 1;) {
      nodes_[n].leaf = nodes_[n].children.empty();
      for (int c : nodes_[n].children) {
        if (nodes_[c].slot >= 0) nodes_[n].below.push_back(nodes_[c].slot);
        const std::vector<int>& sub = nodes_[c].below;
        nodes_[n].below.insert(nodes_[n].below.end(), sub.begin(), sub.end());
      }
    }
  }

 private:
  struct Node {
    std::string name;
    int slot = -1;
    std::vector<int> children;
    std::vector<int> below;  // slots of all the nodes under this one
    bool leaf = false;       // no path under it (then slot >= 0): the common case
  };

  // a[1..n) == b[1..n) (the first bytes were compared already).
  static bool same_tail(const char* a, const char* b, size_t n) {
    for (size_t k = 1; k < n; ++k) {
      if (a[k] != b[k]) return false;
    }
    return true;
  }

  void parse_line(const char* p, size_t len, size_t capacity, uint64_t pos,
                  RecordBatch& batch) override {
    using namespace simdjson;
    Value* rec = batch.append();
    std::string why;
    DeadReason reason = DeadReason::kBadJson;
    ondemand::document doc;
    auto err = parser_.iterate(padded_string_view(p, len, capacity)).get(doc);
    if (!err) {
      ondemand::object obj;
      err = doc.get_object().get(obj);
      if (err == INCORRECT_TYPE) {
        why = "an event must be a JSON object";
      } else if (!err) {
        doc_ = &doc;
        err = extract(obj, 0, rec, batch);
        const char* trailing = nullptr;
        if (!err && doc.current_location().get(trailing) == SUCCESS) err = TRAILING_CONTENT;
      }
    }
    if (err || !why.empty()) {
      if (err == UTF8_ERROR) reason = DeadReason::kInvalidUtf8;
      if (why.empty()) why = error_message(err);
      batch.pop_back();
      dead(reason, pos, {p, len}, why);
      return;
    }
    if (!finish_record(rec, batch.meta(batch.size() - 1), len, pos, {p, len})) batch.pop_back();
  }

  simdjson::error_code extract(simdjson::ondemand::object obj, int node, Value* rec,
                               RecordBatch& batch) {
    using namespace simdjson;
    const Node& n = nodes_[node];
    for (auto field : obj) {
      std::string_view key;
      auto err = field.unescaped_key().get(key);
      if (err) return err;
      int child = -1;
      for (int c : n.children) {
        const std::string& name = nodes_[c].name;
        // Length and first byte first: most keys of an event are not wanted. The rest is
        // compared inline: keys are short, and a call to memcmp per wanted key cost more than
        // the comparison.
        if (name.size() == key.size() && (key.empty() || name[0] == key[0]) &&
            same_tail(name.data(), key.data(), key.size())) {
          child = c;
          break;
        }
      }
      ondemand::value val;
      err = field.value().get(val);
      if (err) return err;
      if (child < 0) continue;  // skipped by the iterator
      const Node& cn = nodes_[child];
      ondemand::json_type t;
      err = val.type().get(t);
      if (err) return err;
      if (!cn.leaf) {
        // Paths under this key are wanted (`a.b`): clear what an earlier occurrence of the key
        // set (the last occurrence wins).
        for (int s : cn.below) rec[s] = Value();
        if (t == ondemand::json_type::object) {
          // When the object is wanted itself too (`a` and `a.b`), read the children in this one
          // pass, then take `a` as the raw text from its '{' to where the iteration stopped
          // (after its '}'): object::raw_json() would consume it and leave the children unread.
          const std::string_view first = val.raw_json_token();  // starts at the '{'
          ondemand::object sub;
          err = val.get_object().get(sub);
          if (err) return err;
          err = extract(sub, child, rec, batch);
          if (err) return err;
          if (cn.slot >= 0) {
            const char* after = nullptr;
            err = doc_->current_location().get(after);
            if (err) return err;
            std::string_view raw(first.data(), static_cast<size_t>(after - first.data()));
            rec[cn.slot] = Value::string(batch.arena().copy(trim_raw(raw)));
          }
          continue;
        }
        if (cn.slot < 0) continue;  // not an object: the paths under it stay null
      }
      Value& out = rec[cn.slot];
      switch (t) {
        case ondemand::json_type::number: {
          ondemand::number num;
          err = val.get_number().get(num);
          if (err) return err;
          if (num.is_int64()) out = Value::integer(num.get_int64());
          else out = Value::real(num.as_double());
          break;
        }
        case ondemand::json_type::string: {
          std::string_view s;
          err = val.get_string().get(s);
          if (err) return err;
          out = Value::string(batch.arena().copy(s));
          break;
        }
        case ondemand::json_type::boolean: {
          bool b;
          err = val.get_bool().get(b);
          if (err) return err;
          out = Value::boolean(b);
          break;
        }
        case ondemand::json_type::null:
          if (!val.is_null()) return INCORRECT_TYPE;
          out = Value();
          break;
        case ondemand::json_type::object: {
          ondemand::object o;
          std::string_view raw;
          err = val.get_object().get(o);
          if (!err) err = o.raw_json().get(raw);
          if (err) return err;
          out = Value::string(batch.arena().copy(trim_raw(raw)));
          break;
        }
        case ondemand::json_type::array: {
          ondemand::array a;
          std::string_view raw;
          err = val.get_array().get(a);
          if (!err) err = a.raw_json().get(raw);
          if (err) return err;
          out = Value::string(batch.arena().copy(trim_raw(raw)));
          break;
        }
      }
    }
    return simdjson::SUCCESS;
  }

  // raw_json() of an object or array runs up to the next token: drop the blanks before it.
  static std::string_view trim_raw(std::string_view raw) {
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' ||
                            raw.back() == '\n')) {
      raw.remove_suffix(1);
    }
    return raw;
  }

  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document* doc_ = nullptr;  // the event being parsed (for its location)
  std::vector<Node> nodes_;
};

// ---------------------------------------------------------------- CSV
class CsvParser final : public ParserBase {
 public:
  CsvParser(const InputSchema& s, DeadLetterOutput* dl) : ParserBase(s, dl) {}

 private:
  void begin_chunk(const RawChunk& chunk) override {
    if (chunk.stream->id == mapped_stream_ && mapped_) return;
    mapped_stream_ = chunk.stream->id;
    mapped_ = true;
    const auto& cols = chunk.stream->csv_header.empty() ? schema_.declared_columns
                                                        : chunk.stream->csv_header;
    column_slot_.assign(cols.size(), -1);
    for (size_t c = 0; c < cols.size(); ++c) {
      for (size_t i = 0; i < schema_.fields.size(); ++i) {
        if (schema_.fields[i].path == cols[c]) column_slot_[c] = static_cast<int>(i);
      }
    }
  }

  void parse_line(const char* p, size_t len, size_t, uint64_t pos, RecordBatch& batch) override {
    std::string_view line(p, len);
    if (!simdjson::validate_utf8(p, len)) {
      dead(DeadReason::kInvalidUtf8, pos, line, "the line is not valid UTF-8");
      return;
    }
    std::string err;
    if (!split_csv(line, schema_.delimiter, &fields_, &batch.arena(), &err)) {
      dead(DeadReason::kCsvColumns, pos, line, err);
      return;
    }
    if (fields_.size() != column_slot_.size()) {
      dead(DeadReason::kCsvColumns, pos, line,
           fmt::format("expected {} columns, found {}", column_slot_.size(), fields_.size()));
      return;
    }
    Value* rec = batch.append();
    for (size_t c = 0; c < fields_.size(); ++c) {
      int slot = column_slot_[c];
      if (slot < 0) continue;
      std::string_view f = fields_[c];
      ExprType want = schema_.fields[slot].expected;
      if (slot == schema_.time_slot) want = ExprType::kAny;
      if (f.empty()) continue;  // empty cell: null
      if (want == ExprType::kString) {
        rec[slot] = Value::string(batch.arena().copy(f));
      } else if (want == ExprType::kBool) {
        if (f == "true") rec[slot] = Value::boolean(true);
        else if (f == "false") rec[slot] = Value::boolean(false);
        else rec[slot] = Value::string(batch.arena().copy(f));  // wrong_type below
      } else {
        Value num;
        if (to_number(f, &num)) rec[slot] = num;
        else rec[slot] = Value::string(batch.arena().copy(f));
      }
    }
    if (!finish_record(rec, batch.meta(batch.size() - 1), len, pos, line)) batch.pop_back();
  }

  static bool to_number(std::string_view f, Value* out) {
    const char* b = f.data();
    const char* e = b + f.size();
    int64_t i;
    auto [pi, eci] = std::from_chars(b, e, i);
    if (eci == std::errc() && pi == e) {
      *out = Value::integer(i);
      return true;
    }
    double d;
    auto [pd, ecd] = std::from_chars(b, e, d);
    if (ecd == std::errc() && pd == e) {
      *out = Value::real(d);
      return true;
    }
    return false;
  }

  std::vector<std::string_view> fields_;
  std::vector<int> column_slot_;
  uint64_t mapped_stream_ = 0;
  bool mapped_ = false;
};

// ---------------------------------------------------------------- text
class TextParser final : public ParserBase {
 public:
  TextParser(const InputSchema& s, DeadLetterOutput* dl) : ParserBase(s, dl) {
    for (size_t i = 0; i < s.fields.size(); ++i) {
      if (s.fields[i].path == "line") line_slot_ = static_cast<int>(i);
    }
  }

 private:
  void parse_line(const char* p, size_t len, size_t, uint64_t pos, RecordBatch& batch) override {
    std::string_view line(p, len);
    if (!simdjson::validate_utf8(p, len)) {
      dead(DeadReason::kInvalidUtf8, pos, line, "the line is not valid UTF-8");
      return;
    }
    Value* rec = batch.append();
    if (line_slot_ >= 0) rec[line_slot_] = Value::string(batch.arena().copy(line));
    if (!finish_record(rec, batch.meta(batch.size() - 1), len, pos, line)) batch.pop_back();
  }
  int line_slot_ = -1;
};

}  // namespace

std::unique_ptr<RecordParser> make_record_parser(const InputSchema& schema,
                                                 DeadLetterOutput* dead_letters) {
  switch (schema.format) {
    case Format::kJson: return std::make_unique<JsonParser>(schema, dead_letters);
    case Format::kCsv: return std::make_unique<CsvParser>(schema, dead_letters);
    case Format::kText: return std::make_unique<TextParser>(schema, dead_letters);
  }
  return nullptr;
}

}  // namespace spate
