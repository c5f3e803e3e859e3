#pragma once
// Value: one field of a record, 24 bytes. Strings are views into the
// arena of the batch that holds the record (or into a longer-lived arena); a Value never owns.
// Thread-safety: plain value.

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace spate {

enum class ValueType : uint8_t { kNull = 0, kBool, kInt, kDouble, kString };

static_assert(std::endian::native == std::endian::little, "Value::boolean assumes little-endian");

const char* value_type_name(ValueType t);

struct Value {
  ValueType type = ValueType::kNull;
  uint32_t len = 0;  // string length (kString); sits in what would be padding after the type
  union {
    bool b;
    int64_t i;
    double d;
  };
  const char* str = nullptr;  // string bytes (kString)

  Value() : i(0) {}
  // Copied field by field, not as one block. A Value is usually built field by field (a type
  // byte, a payload, a pointer) right before it is copied into a batch or a row; a block copy
  // then loads 16 bytes across several narrower stores still in flight, which the CPU cannot
  // forward from its store buffer (a stall of some 15 cycles per copy: the top cost of
  // send_record, write_row and the aggregate argument copy in `perf annotate`). Field loads
  // match the stores and forward. The union is copied through its widest member.
  Value(const Value& o) noexcept : type(o.type), len(o.len), i(o.i), str(o.str) {}
  Value& operator=(const Value& o) noexcept {
    type = o.type;
    len = o.len;
    i = o.i;
    str = o.str;
    return *this;
  }
  static Value null() { return Value(); }
  // Written through the widest member (its low byte is the bool, 0 or 1, on the little-endian
  // targets spate builds for): a copy then loads what was stored (see the copy constructor).
  static Value boolean(bool v) { Value x; x.type = ValueType::kBool; x.i = v ? 1 : 0; return x; }
  static Value integer(int64_t v) { Value x; x.type = ValueType::kInt; x.i = v; return x; }
  static Value real(double v) { Value x; x.type = ValueType::kDouble; x.d = v; return x; }
  static Value string(std::string_view s) {
    Value x;
    x.type = ValueType::kString;
    x.str = s.data();
    x.len = static_cast<uint32_t>(s.size());
    return x;
  }

  bool is_null() const { return type == ValueType::kNull; }
  bool is_number() const { return type == ValueType::kInt || type == ValueType::kDouble; }
  bool is_string() const { return type == ValueType::kString; }
  std::string_view sv() const { return {str, len}; }
  // Numeric value as double (int converted); 0 for non-numbers.
  double as_double() const {
    return type == ValueType::kInt ? static_cast<double>(i) : type == ValueType::kDouble ? d : 0.0;
  }
  // Truthiness for filters: only boolean true is true.
  bool truthy() const { return type == ValueType::kBool && b; }
};

// Equality with numeric promotion (1 == 1.0); null equals nothing, not even null.
bool values_equal(const Value& a, const Value& b);
// Three-way order for same-kind values (numbers with numbers, strings with strings, bools).
// Returns false in *ok when the kinds are not comparable.
int compare_values(const Value& a, const Value& b, bool* ok);

// Appends the value as JSON (strings escaped; non-finite doubles as null).
void append_json(std::string& out, const Value& v);
// Appends a JSON string literal for arbitrary bytes: invalid UTF-8 bytes become \u00XX.
void append_json_string(std::string& out, std::string_view s);
// Appends a number with the shortest round-trip representation (integral doubles without ".0").
void append_number(std::string& out, double d);
// Appends the value as plain text (strings raw, null empty).
void append_text(std::string& out, const Value& v);

}  // namespace spate
