#include "spate/pipeline/yaml_loader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "spate/common/did_you_mean.h"
#include "spate/common/time.h"

namespace spate {

std::string ConfigError::to_string() const {
  std::string out;
  if (!loc.file.empty()) {
    out += loc.file;
    if (loc.line > 0) out += fmt::format(":{}:{}", loc.line, loc.column);
    out += ": ";
  } else if (loc.line > 0) {
    out += fmt::format("{}:{}: ", loc.line, loc.column);
  }
  if (!loc.path.empty()) {
    out += loc.path;
    out += ": ";
  }
  out += message;
  return out;
}

ConfigException::ConfigException(ConfigError error)
    : std::runtime_error(error.to_string()), error_(std::move(error)) {}

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 20000;  // far beyond any real pipeline; stops alias bombs
constexpr size_t kMaxFileBytes = size_t{16} << 20;
constexpr int kMaxWorkers = 1024;
constexpr int64_t kMaxEventBytes = int64_t{1} << 30;

[[noreturn]] void fail(SpecLoc loc, std::string message) {
  throw ConfigException(ConfigError{std::move(loc), std::move(message)});
}

// ---------------------------------------------------------------------------------------------
// The YAML tree as plain data, each node remembering where it was written. Overrides edit this
// tree; their nodes carry the override as file and no line.

struct ConfEntry;

struct ConfNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  std::string text;                // kScalar
  std::vector<ConfNode> items;     // kSeq
  std::vector<ConfEntry> entries;  // kMap, in document order, keys unique
  SpecLoc loc;                     // path left empty: callers know it
};

struct ConfEntry {
  std::string key;
  SpecLoc key_loc;
  ConfNode value;
};

std::string child_path(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

std::string index_path(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

SpecLoc at(const SpecLoc& loc, const std::string& path) {
  SpecLoc out = loc;
  out.path = path;
  return out;
}

SpecLoc at(const ConfNode& n, const std::string& path) { return at(n.loc, path); }

// How a node appears in "expected X, found Y".
std::string describe(const ConfNode& n) {
  switch (n.kind) {
    case ConfNode::Kind::kNull:
      return "nothing";
    case ConfNode::Kind::kScalar:
      if (n.text.size() > 60) {
        size_t cut = 57;  // not inside a UTF-8 sequence
        while (cut > 0 && (static_cast<unsigned char>(n.text[cut]) & 0xC0) == 0x80) --cut;
        return fmt::format("'{}...'", n.text.substr(0, cut));
      }
      return fmt::format("'{}'", n.text);
    case ConfNode::Kind::kMap:
      return "a mapping";
    case ConfNode::Kind::kSeq:
      return "a sequence";
  }
  return "?";
}

std::string describe_yaml(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a sequence";
  return "nothing";
}

// Converts yaml-cpp nodes, checking for duplicate keys, non-string keys, alias cycles and
// alias bombs on the way.
class TreeConverter {
 public:
  // positions: whether marks are meaningful (false for override values: no line numbers).
  TreeConverter(std::string file, std::string_view text, bool positions)
      : file_(std::move(file)), text_(text), positions_(positions) {}

  ConfNode convert(const YAML::Node& y, const std::string& path) { return convert_at(y, path, 0); }

 private:
  SpecLoc loc_of(const YAML::Mark& m) const {
    SpecLoc loc;
    loc.file = file_;
    if (positions_ && m.line >= 0 && m.column >= 0) {
      loc.line = m.line + 1;
      loc.column = m.column + 1;
    }
    return loc;
  }

  // The location of a scalar's text: past an anchor or tag written before it, past the opening
  // quote (quote_offset), or on the first content line of a block scalar (| or >).
  SpecLoc scalar_loc(const YAML::Mark& m) const {
    SpecLoc loc = loc_of(m);
    if (loc.line == 0 || m.pos < 0 || static_cast<size_t>(m.pos) >= text_.size()) return loc;
    const size_t start = static_cast<size_t>(m.pos);
    size_t p = start;
    auto blank = [&](char c) { return c == ' ' || c == '\t'; };
    auto line_end = [&](char c) { return c == '\n' || c == '\r'; };
    while (p < text_.size() && (text_[p] == '&' || text_[p] == '!')) {
      while (p < text_.size() && !blank(text_[p]) && !line_end(text_[p])) ++p;
      while (p < text_.size() && blank(text_[p])) ++p;
    }
    if (p >= text_.size() || line_end(text_[p])) return loc;
    loc.column += static_cast<int>(p - start);
    const char c = text_[p];
    if (c == '"' || c == '\'') {
      loc.quote_offset = 1;
    } else if (c == '|' || c == '>') {
      size_t nl = text_.find('\n', p);
      int line = loc.line;
      while (nl != std::string_view::npos) {
        ++line;
        const size_t line_start = nl + 1;
        size_t q = line_start;
        while (q < text_.size() && text_[q] == ' ') ++q;
        if (q < text_.size() && !line_end(text_[q])) {
          loc.line = line;
          loc.column = static_cast<int>(q - line_start) + 1;
          break;
        }
        nl = text_.find('\n', q);
      }
    }
    return loc;
  }

  ConfNode convert_at(const YAML::Node& y, const std::string& path, int depth) {
    ConfNode n;
    n.loc = loc_of(y.Mark());
    if (++nodes_ > kMaxNodes) {
      fail(at(n, path), fmt::format("the document is too large: more than {} nodes after "
                                    "expanding aliases",
                                    kMaxNodes));
    }
    if (depth > kMaxDepth) {
      std::string shown = path;
      if (shown.size() > 40) shown = shown.substr(0, shown.find_last_of("[.", 40)) + "...";
      fail(at(n, shown), fmt::format("nested more than {} levels deep (does an alias refer to "
                                     "itself?)",
                                     kMaxDepth));
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        n.kind = ConfNode::Kind::kNull;
        break;
      case YAML::NodeType::Scalar:
        n.kind = ConfNode::Kind::kScalar;
        n.text = y.Scalar();
        n.loc = scalar_loc(y.Mark());
        break;
      case YAML::NodeType::Sequence: {
        n.kind = ConfNode::Kind::kSeq;
        n.items.reserve(y.size());
        size_t i = 0;
        for (const YAML::Node& item : y) {
          n.items.push_back(convert_at(item, index_path(path, i), depth + 1));
          ++i;
        }
        break;
      }
      case YAML::NodeType::Map:
        n.kind = ConfNode::Kind::kMap;
        std::unordered_map<std::string, int> first_line;  // key → line (duplicate keys)
        for (auto it = y.begin(); it != y.end(); ++it) {
          const YAML::Node key = it->first;  // copies: `it->` yields a temporary proxy
          const YAML::Node value = it->second;
          SpecLoc key_loc = loc_of(key.Mark());
          if (!key.IsScalar()) {
            fail(at(key_loc, path), "expected a string key, found " + describe_yaml(key));
          }
          const std::string& name = key.Scalar();
          const auto [seen, inserted] = first_line.emplace(name, key_loc.line);
          if (!inserted) {
            std::string msg = fmt::format("duplicate key '{}'", name);
            if (seen->second > 0) msg += fmt::format(" (first at line {})", seen->second);
            fail(at(key_loc, path), msg);
          }
          ConfEntry entry{name, key_loc, convert_at(value, child_path(path, name), depth + 1)};
          // The mark of an empty value is the next token's; the key is the better place.
          if (entry.value.kind == ConfNode::Kind::kNull) entry.value.loc = key_loc;
          n.entries.push_back(std::move(entry));
        }
        break;
    }
    return n;
  }

  std::string file_;
  std::string_view text_;
  bool positions_;
  size_t nodes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Small parsers and checks.

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

bool is_identifier(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  return std::all_of(s.begin(), s.end(), is_ident_char);
}

// A field reference of the expression language: ident ('.' ident)* or '$' ident.
bool is_field_path(std::string_view s) {
  if (!s.empty() && s[0] == '$') return is_identifier(s.substr(1));
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!is_identifier(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

const std::vector<std::string> kReservedWords = {"true", "false", "null"};

// Output names (select, aggregate, key_by as, csv columns) are referred to by later expressions.
void check_name(const std::string& name, const SpecLoc& loc) {
  if (!is_identifier(name)) {
    fail(loc, fmt::format("'{}' is not a valid name; use letters, digits and '_', not starting "
                          "with a digit",
                          name));
  }
  if (contains(kReservedWords, name)) {
    fail(loc, fmt::format("'{}' is a reserved word and cannot be a name", name));
  }
}

const ConfEntry* find_entry(const ConfNode& map, std::string_view key) {
  for (const ConfEntry& e : map.entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

const ConfNode* find(const ConfNode& map, std::string_view key) {
  const ConfEntry* e = find_entry(map, key);
  return e == nullptr ? nullptr : &e->value;
}

std::string unknown_message(std::string_view what, std::string_view got,
                            const std::vector<std::string>& valid) {
  std::string dym = did_you_mean(got, valid);
  return fmt::format("unknown {} '{}'{} valid: {}", what, got, dym.empty() ? ";" : dym,
                     join(valid));
}

// Every key of map must be in valid. Duplicates were rejected when the tree was built.
void check_keys(const ConfNode& map, const std::string& path,
                const std::vector<std::string>& valid) {
  for (const ConfEntry& e : map.entries) {
    if (contains(valid, e.key)) continue;
    std::string msg = fmt::format("unknown key '{}'", e.key);
    std::string dym = did_you_mean(e.key, valid);
    msg += dym.empty() ? "; expected " + one_of(valid) : dym;
    fail(at(e.key_loc, path), msg);
  }
}

void expect_map(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kMap) {
    fail(at(n, path), "expected a mapping, found " + describe(n));
  }
}

// A missing section, or one set to null, means "use the defaults".
bool absent(const ConfNode* n) { return n == nullptr || n->kind == ConfNode::Kind::kNull; }

std::string get_string(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kScalar) {
    fail(at(n, path), "expected a string, found " + describe(n));
  }
  return n.text;
}

std::string get_nonempty_string(const ConfNode& n, const std::string& path) {
  std::string s = get_string(n, path);
  if (trim(s).empty()) fail(at(n, path), "must not be empty");
  return s;
}

// An expression text: trailing whitespace (the newline of a block scalar) is dropped; leading
// whitespace is kept so that byte offsets stay aligned with the location.
std::string get_expr(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kScalar) {
    fail(at(n, path), "expected an expression, found " + describe(n));
  }
  std::string s = n.text;
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  if (trim(s).empty()) fail(at(n, path), "expected an expression, found an empty string");
  return s;
}

bool get_bool(const ConfNode& n, const std::string& path) {
  if (n.kind == ConfNode::Kind::kScalar) {
    std::string s = n.text;
    for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  fail(at(n, path), "expected true or false, found " + describe(n));
}

int64_t get_int(const ConfNode& n, const std::string& path, int64_t min, int64_t max) {
  if (n.kind == ConfNode::Kind::kScalar) {
    const std::string& s = n.text;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!s.empty() && end == s.data() + s.size()) {
      if (ec == std::errc::result_out_of_range || v > static_cast<uint64_t>(max)) {
        fail(at(n, path), fmt::format("{} is too large; at most {}", s, max));
      }
      if (ec == std::errc() && static_cast<int64_t>(v) < min) {
        fail(at(n, path), fmt::format("must be at least {}, found {}", min, s));
      }
      if (ec == std::errc()) return static_cast<int64_t>(v);
    }
  }
  fail(at(n, path), "expected a positive integer, found " + describe(n));
}

int64_t get_duration(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kScalar) {
    fail(at(n, path), "expected a duration such as 500ms, 10s or 1m, found " + describe(n));
  }
  Result<int64_t> ms = parse_duration_ms(n.text);
  if (!ms.is_ok()) fail(at(n, path), ms.status().message());
  return *ms;
}

// "1MiB", "64 KiB", "512B", "4096" → bytes, 1 .. kMaxEventBytes.
int64_t get_size(const ConfNode& n, const std::string& path) {
  const std::string expected =
      "expected a whole number of bytes, KiB or MiB such as 1MiB, 64KiB or 4096, found " +
      describe(n);
  if (n.kind != ConfNode::Kind::kScalar) fail(at(n, path), expected);
  std::string_view s = trim(n.text);
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  if (end == s.data()) fail(at(n, path), expected);
  std::string_view unit = trim(s.substr(static_cast<size_t>(end - s.data())));
  if (!unit.empty() && (unit[0] == '.' || unit[0] == ',')) fail(at(n, path), expected);
  uint64_t mult = 0;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB") {
    mult = 1024;
  } else if (unit == "MiB") {
    mult = uint64_t{1} << 20;
  } else {
    fail(at(n, path), fmt::format("unknown size unit '{}' in '{}'; valid units: B, KiB, MiB "
                                  "(1KiB = 1024 bytes)",
                                  unit, n.text));
  }
  if (ec == std::errc::result_out_of_range ||
      number > static_cast<uint64_t>(kMaxEventBytes) / mult) {
    fail(at(n, path), fmt::format("'{}' is too large; at most 1024MiB", n.text));
  }
  if (number == 0) fail(at(n, path), "must be at least 1 byte");
  return static_cast<int64_t>(number * mult);
}

// One of a fixed set of words; returns its index in valid.
size_t get_choice(const ConfNode& n, const std::string& path, std::string_view what,
                  const std::vector<std::string>& valid) {
  if (n.kind != ConfNode::Kind::kScalar) {
    fail(at(n, path), fmt::format("expected a {}, {}, found {}", what, one_of(valid), describe(n)));
  }
  for (size_t i = 0; i < valid.size(); ++i) {
    if (valid[i] == n.text) return i;
  }
  fail(at(n, path), unknown_message(what, n.text, valid));
}

// "host:port", ":port" or "port" → "host:port" (host 127.0.0.1 when omitted).
std::string get_endpoint(const ConfNode& n, const std::string& path, bool allow_port_zero) {
  const std::string s = get_nonempty_string(n, path);
  auto bad = [&]() {
    fail(at(n, path),
         fmt::format("expected host:port (e.g. 127.0.0.1:9999, :9999 or 9999), found '{}'", s));
  };
  std::string host;
  std::string_view port_text;
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) {
    port_text = s;
  } else {
    host = s.substr(0, colon);
    port_text = std::string_view(s).substr(colon + 1);
  }
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') bad();
  } else if (host.find(':') != std::string::npos) {
    fail(at(n, path),
         fmt::format("an IPv6 address needs brackets, e.g. [::1]:9999; found '{}'", s));
  }
  if (host.find_first_of(" \t/") != std::string::npos) bad();
  if (host.empty()) host = "127.0.0.1";
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || end != port_text.data() + port_text.size() ||
      ec == std::errc::result_out_of_range) {
    bad();
  }
  const unsigned min_port = allow_port_zero ? 0 : 1;
  if (port < min_port || port > 65535) {
    fail(at(n, path),
         fmt::format("port {} is out of range; valid: {} to 65535", port_text, min_port));
  }
  return fmt::format("{}:{}", host, port);
}

// ---------------------------------------------------------------------------------------------
// Sections.

const std::vector<std::string> kTopKeys = {"name",  "workers", "mode",        "batch_interval",
                                           "source", "time",   "steps",      "sink",
                                           "dead_letter", "routing"};
const std::vector<std::string> kModes = {"per_event", "micro_batch"};
const std::vector<std::string> kRoutingKeys = {"seed", "secret_file"};
const std::vector<std::string> kSourceKeys = {
    "type",   "path",    "follow",    "start",          "listen",         "format",
    "header", "columns", "delimiter", "max_event_size", "max_connections"};
const std::vector<std::string> kSourceTypes = {"file", "stdin", "tcp", "udp"};
const std::vector<std::string> kCsvKeys = {"header", "columns", "delimiter"};
const std::vector<std::string> kFormats = {"json", "csv", "text"};
const std::vector<std::string> kStarts = {"beginning", "end"};
const std::vector<std::string> kTimeKeys = {"field", "max_out_of_order", "idle_timeout"};
const std::vector<std::string> kSinkKeys = {"type", "path", "append", "connect", "format"};
const std::vector<std::string> kSinkTypes = {"stdout", "file", "tcp"};
const std::vector<std::string> kDeadLetterKeys = {"path"};
const std::vector<std::string> kStepKinds = {"filter", "select",  "key_by",
                                             "shuffle", "window", "aggregate"};
const std::vector<std::string> kKeyByKeys = {"expr", "field", "as", "grouping", "hot_keys", "hot_share"};
const std::vector<std::string> kKeyGroupings = {"key", "partial_key"};
const std::vector<std::string> kShuffleKeys = {"grouping"};
const std::vector<std::string> kShuffleGroupings = {"shuffle", "broadcast", "global"};
const std::vector<std::string> kHotKeys = {"auto", "true", "false"};
const std::vector<std::string> kWindowKinds = {"tumbling", "sliding", "session", "count",
                                               "global"};
const std::vector<std::string> kWindowKeys = {"tumbling", "sliding", "session", "count",
                                              "global", "allowed_lateness", "early"};
const std::vector<std::string> kGlobalKeys = {"every", "every_count"};
const std::vector<std::string> kSlidingKeys = {"size", "slide"};
const std::vector<std::string> kSessionKeys = {"gap"};
const std::vector<std::string> kCountKeys = {"size", "slide"};

Format format_at(size_t i) {
  static constexpr Format kByIndex[] = {Format::kJson, Format::kCsv, Format::kText};
  return kByIndex[i];
}

// The source/sink keys that apply to a type; entries outside are errors.
std::vector<std::string> source_keys_for(const std::string& type) {
  std::vector<std::string> keys = {"type",   "format",  "max_event_size",
                                   "header", "columns", "delimiter"};
  if (type == "file") keys.insert(keys.end(), {"path", "follow", "start"});
  if (type == "tcp") keys.insert(keys.end(), {"listen", "max_connections"});
  if (type == "udp") keys.insert(keys.end(), {"listen"});
  return keys;
}

std::vector<std::string> sink_keys_for(const std::string& type) {
  std::vector<std::string> keys = {"type", "format"};
  if (type == "file") keys.insert(keys.end(), {"path", "append"});
  if (type == "tcp") keys.insert(keys.end(), {"connect"});
  return keys;
}

const ConfNode& require(const ConfNode& map, const std::string& path, std::string_view key,
                        std::string_view why) {
  const ConfNode* n = find(map, key);
  if (n == nullptr) fail(at(map, path), fmt::format("missing required key '{}'{}", key, why));
  return *n;
}

SourceSpec parse_source(const ConfNode* node, const std::string& file) {
  const std::string path = "source";
  SourceSpec s;
  s.loc = at(SpecLoc{file}, path);
  if (absent(node)) return s;
  const ConfNode& n = *node;
  expect_map(n, path);
  check_keys(n, path, kSourceKeys);
  s.loc = at(n, path);
  const ConfNode& type = require(n, path, "type", "; expected " + one_of(kSourceTypes));
  s.type = kSourceTypes[get_choice(type, "source.type", "source type", kSourceTypes)];
  if (const ConfNode* f = find(n, "format")) {
    s.format = format_at(get_choice(*f, "source.format", "format", kFormats));
  }
  const std::vector<std::string> allowed = source_keys_for(s.type);
  for (const ConfEntry& e : n.entries) {
    if (!contains(allowed, e.key)) {
      fail(at(e.key_loc, path),
           fmt::format("key '{}' does not apply to source type '{}'", e.key, s.type));
    }
    if (contains(kCsvKeys, e.key) && s.format != Format::kCsv) {
      fail(at(e.key_loc, path), fmt::format("key '{}' applies only to format csv (format is {})",
                                            e.key, format_name(s.format)));
    }
  }
  if (s.type == "file") {
    s.path = get_nonempty_string(require(n, path, "path", " (required for source type 'file')"),
                                 "source.path");
    if (const ConfNode* v = find(n, "follow")) s.follow = get_bool(*v, "source.follow");
    if (const ConfNode* v = find(n, "start")) {
      s.start = kStarts[get_choice(*v, "source.start", "start position", kStarts)];
    }
  }
  if (s.type == "tcp" || s.type == "udp") {
    const std::string why = fmt::format(" (required for source type '{}')", s.type);
    s.listen = get_endpoint(require(n, path, "listen", why), "source.listen", true);
  }
  if (s.type == "tcp") {
    if (const ConfNode* v = find(n, "max_connections")) {
      s.max_connections = static_cast<int>(get_int(*v, "source.max_connections", 1, 65536));
    }
  }
  if (const ConfNode* v = find(n, "max_event_size")) {
    s.max_event_bytes = get_size(*v, "source.max_event_size");
  }
  if (s.format == Format::kCsv) {
    if (const ConfNode* v = find(n, "header")) s.header = get_bool(*v, "source.header");
    if (const ConfNode* v = find(n, "delimiter")) {
      const std::string d = get_string(*v, "source.delimiter");
      const bool ascii = d.size() == 1 && static_cast<unsigned char>(d[0]) < 0x80;
      if (!ascii || d[0] == '\n' || d[0] == '\r' || d[0] == '"') {
        fail(at(*v, "source.delimiter"),
             fmt::format("expected one character other than a quote or newline, found '{}'", d));
      }
      s.delimiter = d[0];
    }
    const ConfEntry* columns = find_entry(n, "columns");
    if (columns != nullptr && s.header) {
      fail(at(columns->key_loc, path),
           "key 'columns' applies only with header: false (a header row names the columns)");
    }
    if (!s.header) {
      const ConfNode& c = require(n, path, "columns", " (required when header is false)");
      const std::string cpath = "source.columns";
      if (c.kind != ConfNode::Kind::kSeq || c.items.empty()) {
        fail(at(c, cpath), "expected a non-empty sequence of column names, found " + describe(c));
      }
      for (size_t i = 0; i < c.items.size(); ++i) {
        const std::string ipath = index_path(cpath, i);
        std::string name = get_string(c.items[i], ipath);
        check_name(name, at(c.items[i], ipath));
        if (contains(s.columns, name)) {
          fail(at(c.items[i], ipath), fmt::format("duplicate column '{}'", name));
        }
        s.columns.push_back(std::move(name));
      }
    }
  }
  return s;
}

TimeSpec parse_time(const ConfNode* node, const std::string& file) {
  const std::string path = "time";
  TimeSpec t;
  t.loc = at(SpecLoc{file}, path);
  if (absent(node)) return t;
  const ConfNode& n = *node;
  expect_map(n, path);
  check_keys(n, path, kTimeKeys);
  t.loc = at(n, path);
  const ConfNode& field = require(
      n, path, "field", " (the event-time field; omit the time section for processing time)");
  t.field = get_nonempty_string(field, "time.field");
  t.field_loc = at(field, "time.field");
  if (!is_field_path(t.field)) {
    fail(t.field_loc,
         fmt::format("expected a field path such as ts or event.time, found '{}'", t.field));
  }
  if (const ConfNode* v = find(n, "max_out_of_order")) {
    t.max_out_of_order_ms = get_duration(*v, "time.max_out_of_order");
  }
  if (const ConfNode* v = find(n, "idle_timeout")) {
    t.idle_timeout_ms = get_duration(*v, "time.idle_timeout");
    if (t.idle_timeout_ms <= 0) {
      fail(at(*v, "time.idle_timeout"), "must be greater than 0, found " + describe(*v));
    }
  }
  return t;
}

SinkSpec parse_sink(const ConfNode* node, const std::string& file) {
  const std::string path = "sink";
  SinkSpec s;
  s.loc = at(SpecLoc{file}, path);
  if (absent(node)) return s;
  const ConfNode& n = *node;
  expect_map(n, path);
  check_keys(n, path, kSinkKeys);
  s.loc = at(n, path);
  const ConfNode& type = require(n, path, "type", "; expected " + one_of(kSinkTypes));
  s.type = kSinkTypes[get_choice(type, "sink.type", "sink type", kSinkTypes)];
  const std::vector<std::string> allowed = sink_keys_for(s.type);
  for (const ConfEntry& e : n.entries) {
    if (!contains(allowed, e.key)) {
      fail(at(e.key_loc, path),
           fmt::format("key '{}' does not apply to sink type '{}'", e.key, s.type));
    }
  }
  if (const ConfNode* f = find(n, "format")) {
    s.format = format_at(get_choice(*f, "sink.format", "format", kFormats));
  }
  if (s.type == "file") {
    s.path = get_nonempty_string(require(n, path, "path", " (required for sink type 'file')"),
                                 "sink.path");
    if (const ConfNode* v = find(n, "append")) s.append = get_bool(*v, "sink.append");
  }
  if (s.type == "tcp") {
    s.connect = get_endpoint(require(n, path, "connect", " (required for sink type 'tcp')"),
                             "sink.connect", false);
  }
  return s;
}

DeadLetterSpec parse_dead_letter(const ConfNode* node, const std::string& file) {
  const std::string path = "dead_letter";
  DeadLetterSpec d;
  d.loc = at(SpecLoc{file}, path);
  if (absent(node)) return d;
  const ConfNode& n = *node;
  expect_map(n, path);
  check_keys(n, path, kDeadLetterKeys);
  d.loc = at(n, path);
  d.path = get_nonempty_string(
      require(n, path, "path", " (omit dead_letter to write rate-limited lines to stderr)"),
      "dead_letter.path");
  return d;
}

// select and aggregate: output name → expression text, in document order.
std::vector<NamedExpr> parse_named_exprs(const ConfNode& n, const std::string& path,
                                         std::string_view example) {
  if (n.kind != ConfNode::Kind::kMap || n.entries.empty()) {
    fail(at(n, path), fmt::format("expected a non-empty mapping of output names to {}, found {}",
                                  example, describe(n)));
  }
  std::vector<NamedExpr> out;
  for (const ConfEntry& e : n.entries) {
    check_name(e.key, at(e.key_loc, path));
    const std::string epath = child_path(path, e.key);
    NamedExpr ne;
    ne.name = e.key;
    ne.expr = get_expr(e.value, epath);
    ne.loc = at(e.value, epath);
    out.push_back(std::move(ne));
  }
  return out;
}

void parse_key_by(const ConfNode& n, const std::string& path, StepSpec* s) {
  if (n.kind == ConfNode::Kind::kScalar || n.kind == ConfNode::Kind::kNull) {
    s->expr = get_expr(n, path);
    s->expr_loc = at(n, path);
  } else if (n.kind == ConfNode::Kind::kMap) {
    check_keys(n, path, kKeyByKeys);
    const char* expr_key = find(n, "field") ? "field" : "expr";
    if (find(n, "field") && find(n, "expr")) {
      fail(at(*find(n, "field"), child_path(path, "field")),
           "give either field or expr, not both (field is the same as expr)");
    }
    const ConfNode& e = require(n, path, expr_key, " (the key: a field or an expression)");
    const std::string epath = child_path(path, expr_key);
    s->expr = get_expr(e, epath);
    s->expr_loc = at(e, epath);
    if (const ConfNode* g = find(n, "grouping")) {
      const std::string gpath = child_path(path, "grouping");
      const std::string name = get_string(*g, gpath);
      if (!contains(kKeyGroupings, name)) {
        std::string msg = unknown_message("grouping", name, kKeyGroupings);
        if (contains(kShuffleGroupings, name)) {
          msg += fmt::format("; '{}' does not use a key: write it as a step, "
                             "- shuffle: {{grouping: {}}}",
                             name, name);
        }
        fail(at(*g, gpath), msg);
      }
      s->grouping = *parse_grouping(name);
      s->grouping_loc = at(*g, gpath);
    }
    if (const ConfNode* h = find(n, "hot_keys")) {
      const std::string hpath = child_path(path, "hot_keys");
      const std::string v = get_string(*h, hpath);
      if (v == "auto") {
        s->hot_keys = -1;
      } else if (v == "true" || v == "on") {
        s->hot_keys = 1;
      } else if (v == "false" || v == "off") {
        s->hot_keys = 0;
      } else {
        fail(at(*h, hpath), unknown_message("hot_keys value", v, kHotKeys));
      }
    }
    if (const ConfNode* h = find(n, "hot_share")) {
      const std::string hpath = child_path(path, "hot_share");
      const std::string v = get_string(*h, hpath);
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !(d > 0 && d < 1)) {
        fail(at(*h, hpath), fmt::format("hot_share must be a number between 0 and 1 (exclusive), "
                                        "e.g. 0.01; found '{}'", v));
      }
      s->hot_share = d;
    }
    if (const ConfNode* as = find(n, "as")) {
      const std::string apath = child_path(path, "as");
      s->key_name = get_string(*as, apath);
      check_name(s->key_name, at(*as, apath));
    }
  } else {
    fail(at(n, path),
         "expected an expression or a mapping {expr: <expression>, as: <name>}, found " +
             describe(n));
  }
  if (s->key_name.empty()) {
    const std::string_view text = trim(s->expr);
    if (!is_field_path(text)) {
      fail(s->expr_loc, fmt::format("the key '{}' is not a field, so it needs a name: write "
                                    "key_by: {{expr: <expression>, as: <name>}}",
                                    text));
    }
    s->key_name = std::string(text);
  }
}

// shuffle: {} | shuffle: {grouping: shuffle|broadcast|global}
void parse_shuffle(const ConfNode& n, const std::string& path, StepSpec* s) {
  s->grouping = GroupingKind::kShuffle;
  s->grouping_loc = at(n, path);
  if (n.kind == ConfNode::Kind::kNull) return;
  if (n.kind != ConfNode::Kind::kMap) {
    fail(at(n, path), "expected a mapping, e.g. {} or {grouping: broadcast}, found " + describe(n));
  }
  check_keys(n, path, kShuffleKeys);
  if (const ConfNode* g = find(n, "grouping")) {
    const std::string gpath = child_path(path, "grouping");
    const std::string name = get_string(*g, gpath);
    if (!contains(kShuffleGroupings, name)) {
      std::string msg = unknown_message("grouping", name, kShuffleGroupings);
      if (contains(kKeyGroupings, name)) {
        msg += fmt::format("; '{}' needs a key: write it as - key_by: {{field: <field>, grouping: {}}}",
                           name, name);
      }
      fail(at(*g, gpath), msg);
    }
    s->grouping = *parse_grouping(name);
    s->grouping_loc = at(*g, gpath);
  }
}

RoutingSpec parse_routing(const ConfNode* node, const std::string& file) {
  const std::string path = "routing";
  RoutingSpec r;
  r.loc = at(SpecLoc{file}, path);
  if (absent(node)) return r;
  const ConfNode& n = *node;
  expect_map(n, path);
  check_keys(n, path, kRoutingKeys);
  r.loc = at(n, path);
  if (const ConfNode* v = find(n, "seed")) {
    r.seed = static_cast<uint64_t>(get_int(*v, "routing.seed", 0, INT64_MAX));
    r.has_seed = true;
  }
  if (const ConfNode* v = find(n, "secret_file")) {
    if (r.has_seed) {
      fail(at(*v, "routing.secret_file"), "give either seed or secret_file, not both");
    }
    r.secret_file = get_nonempty_string(*v, "routing.secret_file");
  }
  return r;
}

// A positive duration (window sizes, slides, gaps).
int64_t get_positive_duration(const ConfNode& n, const std::string& path, std::string_view what) {
  const int64_t ms = get_duration(n, path);
  if (ms <= 0) fail(at(n, path), fmt::format("{} must be greater than 0, found {}", what, describe(n)));
  return ms;
}

// The settings mapping of a window kind, e.g. sliding: {size: 1m, slide: 10s}.
const ConfNode& window_settings(const ConfNode& n, const std::string& path,
                                const std::vector<std::string>& keys, std::string_view example) {
  if (n.kind != ConfNode::Kind::kMap) {
    fail(at(n, path), fmt::format("expected a mapping such as {}, found {}", example, describe(n)));
  }
  check_keys(n, path, keys);
  return n;
}

const ConfNode& required(const ConfNode& map, const std::string& path, std::string_view key,
                         std::string_view example) {
  const ConfNode* v = find(map, key);
  if (v == nullptr) fail(at(map, path), fmt::format("missing '{}', e.g. {}", key, example));
  return *v;
}

WindowSpec parse_window(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kMap) {
    fail(at(n, path),
         "expected a mapping with the window kind, e.g. {tumbling: 10s}, found " + describe(n));
  }
  for (const ConfEntry& e : n.entries) {
    if (e.key == "hopping") {
      fail(at(e.key_loc, path),
           "hopping windows are written sliding: {size: 1m, slide: 10s}");
    }
  }
  check_keys(n, path, kWindowKeys);
  WindowSpec w;
  w.loc = at(n, path);
  const ConfEntry* kind = nullptr;
  for (const ConfEntry& e : n.entries) {
    if (e.key == "allowed_lateness") {
      const std::string lpath = child_path(path, e.key);
      w.allowed_lateness_ms = get_duration(e.value, lpath);
      w.lateness_loc = at(e.value, lpath);
      continue;
    }
    if (e.key == "early") {
      const std::string epath = child_path(path, e.key);
      w.early_ms = get_positive_duration(e.value, epath, "early interval");
      w.early_loc = at(e.value, epath);
      continue;
    }
    if (kind != nullptr) {
      fail(at(e.key_loc, path),
           fmt::format("a window has one kind, found {} and {}", kind->key, e.key));
    }
    kind = &e;
  }
  if (kind == nullptr) {
    fail(at(n, path), "missing the window kind; expected " + one_of(kWindowKinds));
  }
  const std::string kpath = child_path(path, kind->key);
  const ConfNode& v = kind->value;
  w.kind_loc = at(v, kpath);
  if (kind->key == "tumbling") {
    w.kind = WindowSpec::Kind::kTumbling;
    w.size_ms = get_positive_duration(v, kpath, "window size");
  } else if (kind->key == "sliding") {
    constexpr std::string_view kExample = "{size: 1m, slide: 10s}";
    w.kind = WindowSpec::Kind::kSliding;
    const ConfNode& m = window_settings(v, kpath, kSlidingKeys, kExample);
    w.size_ms = get_positive_duration(required(m, kpath, "size", kExample),
                                      child_path(kpath, "size"), "window size");
    const ConfNode& slide = required(m, kpath, "slide", kExample);
    w.slide_ms = get_positive_duration(slide, child_path(kpath, "slide"), "slide");
    w.slide_loc = at(slide, child_path(kpath, "slide"));
  } else if (kind->key == "session") {
    constexpr std::string_view kExample = "{gap: 30s}";
    w.kind = WindowSpec::Kind::kSession;
    const ConfNode& m = window_settings(v, kpath, kSessionKeys, kExample);
    w.gap_ms = get_positive_duration(required(m, kpath, "gap", kExample),
                                     child_path(kpath, "gap"), "session gap");
  } else if (kind->key == "global") {
    constexpr std::string_view kExample = "{every: 10s} or {every_count: 1000}";
    w.kind = WindowSpec::Kind::kGlobal;
    const ConfNode& m = window_settings(v, kpath, kGlobalKeys, kExample);
    if (const ConfNode* every = find(m, "every")) {
      w.every_ms = get_positive_duration(*every, child_path(kpath, "every"), "every");
    }
    if (const ConfNode* every = find(m, "every_count")) {
      w.every_count = get_int(*every, child_path(kpath, "every_count"), 1, int64_t{1} << 40);
    }
    if (w.every_ms == 0 && w.every_count == 0) {
      fail(at(v, kpath), fmt::format("a global window needs a trigger: {}", kExample));
    }
  } else {
    constexpr std::string_view kExample = "{size: 1000, slide: 100}";
    constexpr int64_t kMaxCount = int64_t{1} << 40;
    w.kind = WindowSpec::Kind::kCount;
    const ConfNode& m = window_settings(v, kpath, kCountKeys, kExample);
    w.count_size = get_int(required(m, kpath, "size", kExample), child_path(kpath, "size"), 1,
                           kMaxCount);
    if (const ConfNode* slide = find(m, "slide")) {
      w.count_slide = get_int(*slide, child_path(kpath, "slide"), 1, kMaxCount);
      w.slide_loc = at(*slide, child_path(kpath, "slide"));
    }
  }
  return w;
}

StepSpec parse_step(const ConfNode& n, const std::string& path) {
  if (n.kind != ConfNode::Kind::kMap) {
    fail(at(n, path), fmt::format("expected a step: a mapping with one key, {}; found {}",
                                  one_of(kStepKinds), describe(n)));
  }
  if (n.entries.empty()) {
    fail(at(n, path), "empty step; expected one key, " + one_of(kStepKinds));
  }
  if (n.entries.size() > 1) {
    std::vector<std::string> keys;
    for (const ConfEntry& e : n.entries) keys.push_back(e.key);
    std::string msg =
        fmt::format("a step has exactly one key, found {}: {}", keys.size(), join(keys));
    const ConfEntry& first = n.entries[0];
    if (first.value.kind == ConfNode::Kind::kNull && contains(kStepKinds, first.key)) {
      msg += fmt::format("; indent the settings of '{}' under it", first.key);
    } else {
      msg += "; start each step with its own '- '";
    }
    fail(at(n.entries[1].key_loc, path), msg);
  }
  const ConfEntry& e = n.entries[0];
  if (!contains(kStepKinds, e.key)) {
    fail(at(e.key_loc, path), unknown_message("step", e.key, kStepKinds));
  }
  StepSpec s;
  s.loc = at(n, path);
  const std::string kpath = child_path(path, e.key);
  if (e.key == "filter") {
    s.kind = StepSpec::Kind::kFilter;
    s.expr = get_expr(e.value, kpath);
    s.expr_loc = at(e.value, kpath);
  } else if (e.key == "select") {
    s.kind = StepSpec::Kind::kSelect;
    s.fields = parse_named_exprs(e.value, kpath, "expressions, e.g. {page: page}");
  } else if (e.key == "key_by") {
    s.kind = StepSpec::Kind::kKeyBy;
    parse_key_by(e.value, kpath, &s);
  } else if (e.key == "shuffle") {
    s.kind = StepSpec::Kind::kShuffle;
    parse_shuffle(e.value, kpath, &s);
  } else if (e.key == "window") {
    s.kind = StepSpec::Kind::kWindow;
    s.window = parse_window(e.value, kpath);
  } else {
    s.kind = StepSpec::Kind::kAggregate;
    s.fields = parse_named_exprs(e.value, kpath, "aggregates, e.g. {views: count()}");
  }
  return s;
}

// At most one key_by; window directly followed by aggregate; aggregate last.
void check_step_order(const std::vector<StepSpec>& steps) {
  int key_by = -1;
  bool after_aggregate = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepSpec& s = steps[i];
    if (after_aggregate) {
      fail(s.loc, "steps after aggregate are not supported yet; aggregate must be the last step");
    }
    switch (s.kind) {
      case StepSpec::Kind::kKeyBy:
      case StepSpec::Kind::kShuffle:
        if (key_by >= 0) {
          fail(s.loc, fmt::format("only one key_by or shuffle step is allowed (the first is "
                                  "steps[{}])",
                                  key_by));
        }
        key_by = static_cast<int>(i);
        break;
      case StepSpec::Kind::kWindow:
        if (i + 1 >= steps.size() || steps[i + 1].kind != StepSpec::Kind::kAggregate) {
          fail(s.loc, "a window step must be followed by an aggregate step");
        }
        break;
      case StepSpec::Kind::kAggregate:
        if (i == 0 || steps[i - 1].kind != StepSpec::Kind::kWindow) {
          fail(s.loc, "an aggregate step must directly follow a window step");
        }
        after_aggregate = true;
        break;
      case StepSpec::Kind::kFilter:
      case StepSpec::Kind::kSelect:
        break;
    }
  }
}

std::vector<StepSpec> parse_steps(const ConfNode* node) {
  std::vector<StepSpec> steps;
  if (absent(node)) return steps;
  if (node->kind != ConfNode::Kind::kSeq) {
    fail(at(*node, "steps"), "expected a sequence of steps, found " + describe(*node));
  }
  for (size_t i = 0; i < node->items.size(); ++i) {
    steps.push_back(parse_step(node->items[i], index_path("steps", i)));
  }
  check_step_order(steps);
  return steps;
}

// REQUIRES: root is a mapping.
PipelineSpec parse_pipeline(const ConfNode& root, const std::string& file) {
  check_keys(root, "", kTopKeys);
  PipelineSpec spec;
  spec.file = file;
  if (const ConfNode* v = find(root, "name")) {
    spec.name = get_nonempty_string(*v, "name");
    const bool ok = std::all_of(spec.name.begin(), spec.name.end(),
                                [](char c) { return is_ident_char(c) || c == '-' || c == '.'; });
    if (!ok) {
      fail(at(*v, "name"), fmt::format("'{}' is not a valid pipeline name; use letters, digits, "
                                       "'-', '_' and '.'",
                                       spec.name));
    }
  }
  if (const ConfNode* v = find(root, "workers")) {
    spec.workers = static_cast<int>(get_int(*v, "workers", 0, kMaxWorkers));
  }
  if (const ConfNode* v = find(root, "mode")) {
    const std::string mode = get_string(*v, "mode");
    if (!contains(kModes, mode)) fail(at(*v, "mode"), unknown_message("mode", mode, kModes));
    spec.micro_batch = mode == "micro_batch";
  }
  if (const ConfNode* v = find(root, "batch_interval")) {
    if (!spec.micro_batch) {
      fail(at(*v, "batch_interval"), "batch_interval applies to mode: micro_batch; add it, or "
                                     "remove batch_interval");
    }
    spec.batch_interval_ms = get_duration(*v, "batch_interval");
    if (spec.batch_interval_ms <= 0) {
      fail(at(*v, "batch_interval"), "batch_interval must be greater than 0, e.g. 1s");
    }
  }
  spec.source = parse_source(find(root, "source"), file);
  spec.time = parse_time(find(root, "time"), file);
  spec.steps = parse_steps(find(root, "steps"));
  spec.sink = parse_sink(find(root, "sink"), file);
  spec.dead_letter = parse_dead_letter(find(root, "dead_letter"), file);
  spec.routing = parse_routing(find(root, "routing"), file);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Overrides.

struct PathSegment {
  std::string key;  // empty for an index
  size_t index = 0;
};

std::vector<PathSegment> parse_override_path(std::string_view text, const SpecLoc& loc) {
  auto bad = [&]() {
    fail(loc, fmt::format("invalid path '{}'; expected names and indexes such as "
                          "steps[2].window.tumbling",
                          text));
  };
  std::vector<PathSegment> out;
  size_t i = 0;
  bool need_name = true;
  while (i < text.size() || need_name) {
    if (need_name) {
      const size_t start = i;
      while (i < text.size() && is_ident_char(text[i])) ++i;
      if (i == start) bad();
      out.push_back(PathSegment{std::string(text.substr(start, i - start)), 0});
      need_name = false;
    } else if (text[i] == '.') {
      ++i;
      need_name = true;
    } else if (text[i] == '[') {
      const size_t close = text.find(']', i);
      if (close == std::string_view::npos) bad();
      size_t index = 0;
      const char* first = text.data() + i + 1;
      const char* last = text.data() + close;
      auto [end, ec] = std::from_chars(first, last, index);
      if (first == last || end != last || ec != std::errc()) bad();
      out.push_back(PathSegment{"", index});
      i = close + 1;
    } else {
      bad();
    }
  }
  return out;
}

// The value of an override. Flow nodes and quoted scalars are YAML; other text is a plain
// string taken verbatim (expressions may contain '!', '#', ': ' that YAML would interpret).
ConfNode parse_override_value(std::string_view text, const SpecLoc& loc, const std::string& path) {
  const std::string_view v = trim(text);
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") {
    ConfNode n;
    n.loc = loc;
    return n;
  }
  if (v.front() == '[' || v.front() == '{' || v.front() == '"' || v.front() == '\'') {
    YAML::Node y;
    try {
      y = YAML::Load(std::string(v));
    } catch (const YAML::Exception& e) {
      fail(at(loc, path), "invalid value: " + e.msg);
    }
    TreeConverter converter(loc.file, "", false);
    ConfNode n = converter.convert(y, path);
    return n;
  }
  ConfNode n;
  n.kind = ConfNode::Kind::kScalar;
  n.text = std::string(v);
  n.loc = loc;
  return n;
}

void apply_override(ConfNode& root, std::string_view text) {
  SpecLoc loc;
  loc.file = fmt::format("--set {}", text);
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) fail(loc, "expected path=value, e.g. --set workers=4");
  const std::string_view path_text = trim(text.substr(0, eq));
  const std::vector<PathSegment> segments = parse_override_path(path_text, loc);
  std::string path;
  for (const PathSegment& s : segments) {
    path = s.key.empty() ? index_path(path, s.index) : child_path(path, s.key);
  }
  ConfNode value = parse_override_value(text.substr(eq + 1), loc, path);

  ConfNode* cur = &root;
  std::string walked;
  for (const PathSegment& s : segments) {
    if (!s.key.empty()) {
      if (cur->kind == ConfNode::Kind::kNull) {
        cur->kind = ConfNode::Kind::kMap;
        cur->loc = loc;
      }
      if (cur->kind != ConfNode::Kind::kMap) {
        fail(at(loc, walked),
             fmt::format("cannot set '{}': found {}, not a mapping", s.key, describe(*cur)));
      }
      ConfEntry* entry = nullptr;
      for (ConfEntry& e : cur->entries) {
        if (e.key == s.key) entry = &e;
      }
      if (entry == nullptr) {
        ConfNode placeholder;
        placeholder.loc = loc;
        cur->entries.push_back(ConfEntry{s.key, loc, std::move(placeholder)});
        entry = &cur->entries.back();
      }
      walked = child_path(walked, s.key);
      cur = &entry->value;
    } else {
      const std::string here = index_path(walked, s.index);
      if (cur->kind != ConfNode::Kind::kSeq && cur->kind != ConfNode::Kind::kNull) {
        fail(at(loc, walked),
             fmt::format("cannot set '{}': found {}, not a sequence", here, describe(*cur)));
      }
      const size_t size = cur->items.size();
      if (s.index >= size) {
        std::string msg;
        if (walked == "steps") {
          msg = size == 0 ? "no such step; the pipeline has no steps"
                          : fmt::format(
                                "no such step; the pipeline has {} step{} (steps[0] to "
                                "steps[{}])",
                                size, size == 1 ? "" : "s", size - 1);
        } else {
          msg = fmt::format("no such element; {} has {} element{}", walked, size,
                            size == 1 ? "" : "s");
        }
        fail(at(loc, here), msg);
      }
      walked = here;
      cur = &cur->items[s.index];
    }
  }
  *cur = std::move(value);
}

// ---------------------------------------------------------------------------------------------
// Documents and files.

SpecLoc mark_loc(const std::string& file, const YAML::Mark& m) {
  SpecLoc loc;
  loc.file = file;
  if (m.line >= 0 && m.column >= 0) {
    loc.line = m.line + 1;
    loc.column = m.column + 1;
  }
  return loc;
}

// Records where a document starts and ignores its content.
class DocumentStart final : public YAML::EventHandler {
 public:
  YAML::Mark mark = YAML::Mark::null_mark();

  void OnDocumentStart(const YAML::Mark& m) override { mark = m; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::string read_pipeline_file(const std::string& path) {
  auto os_error = [&](std::string_view what, int err) {
    fail(SpecLoc{path}, fmt::format("cannot {} pipeline file: {}", what,
                                    std::error_code(err, std::generic_category()).message()));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) os_error("open", errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) os_error("read", errno);
  if (S_ISDIR(st.st_mode)) os_error("read", EISDIR);
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      os_error("read", errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      fail(SpecLoc{path}, fmt::format("pipeline file is larger than {} MiB", kMaxFileBytes >> 20));
    }
  }
  return text;
}

}  // namespace

PipelineSpec load_pipeline_string(std::string_view yaml, const std::string& file_name,
                                  const std::vector<std::string>& overrides) {
  // yaml-cpp skips a UTF-8 byte order mark and counts positions after it; so do we.
  if (yaml.substr(0, 3) == "\xEF\xBB\xBF") yaml.remove_prefix(3);
  YAML::Node doc;
  try {
    // At most two documents are read: LoadAll would loop forever on some malformed input.
    std::istringstream in{std::string(yaml)};
    YAML::Parser parser(in);
    DocumentStart first;
    DocumentStart second;
    if (parser.HandleNextDocument(first) && parser.HandleNextDocument(second)) {
      const SpecLoc loc = mark_loc(file_name, second.mark);
      if (second.mark.pos == first.mark.pos) {
        // The parser did not move: a token it cannot place (yaml-cpp#1040).
        const size_t pos = static_cast<size_t>(std::max(second.mark.pos, 0));
        if (pos < yaml.size()) {
          fail(loc, fmt::format("invalid YAML: unexpected '{}'", yaml[pos]));
        }
        fail(loc, "invalid YAML");
      }
      fail(loc, "expected one YAML document, found more (a '---' line starts another)");
    }
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    fail(mark_loc(file_name, e.mark), "invalid YAML: " + e.msg);
  }
  if (!doc.IsDefined() || doc.IsNull()) {
    fail(SpecLoc{file_name}, "the pipeline is empty; expected a mapping of pipeline settings");
  }
  TreeConverter converter(file_name, yaml, true);
  ConfNode root = converter.convert(doc, "");
  if (root.kind != ConfNode::Kind::kMap) {
    fail(at(root, ""),
         "expected a mapping of pipeline settings (source, steps, sink, ...), "
         "found " +
             describe(root));
  }
  for (const std::string& o : overrides) apply_override(root, o);
  return parse_pipeline(root, file_name);
}

PipelineSpec load_pipeline_file(const std::string& path,
                                const std::vector<std::string>& overrides) {
  return load_pipeline_string(read_pipeline_file(path), path, overrides);
}

}  // namespace spate
