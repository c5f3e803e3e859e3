#pragma once
// Expressions of filter, select and key_by steps (and the arguments of aggregates).
//
// Grammar (lowest to highest precedence):
//   or      := and ( '||' and )*
//   and     := not ( '&&' not )*
//   not     := '!' not | cmp
//   cmp     := add ( ('=='|'!='|'<'|'<='|'>'|'>=') add )?
//   add     := mul ( ('+'|'-') mul )*
//   mul     := unary ( ('*'|'/'|'%') unary )*
//   unary   := '-' unary | primary
//   primary := number | duration | string | 'true' | 'false' | 'null' | list
//            | field | call | '(' or ')'
//   field   := ident ('.' ident)* | '$' ident          e.g.  page, a.b.c, $remote_ip
//   call    := ident '(' [arg (',' arg)*] ')'          arg := or | ident '=' or  (keyword arg)
//   list    := '[' [or (',' or)*] ']'
//   duration:= number ('ms'|'s'|'m'|'h'|'d')           a number of milliseconds, e.g. 10s = 10000
//   string  := "..." | '...'  with \" \' \\ \n \t escapes
//   number  := digits ['.' digits] [('e'|'E') ['+'|'-'] digits]   an int unless it has a '.' or
//              an exponent or does not fit in int64 (then a double)
//
// Semantics: null (a missing field) makes arithmetic null and every comparison false; && and ||
// short-circuit on truthiness (only boolean true is true) and give a bool; !x is the negated
// truthiness (so !null is true); division or modulo by zero is null;
// int op int stays int unless it overflows (then the double result). '/' of two ints is an int
// when the division is exact (6 / 3 == 2) and a double otherwise (7 / 2 == 3.5). '%' of two ints
// takes the sign of the dividend (C's remainder); with a double operand it is fmod.
// '+' also concatenates two strings. == and != compare numbers by value (1 == 1.0) and values of
// different kinds as unequal; < <= > >= order two numbers or two strings (bytewise) and are false
// otherwise. A comparison with a null operand is false (!= too).
// Functions: contains(s, t), starts_with(s, p), ends_with(s, p), lower(s), upper(s) (ASCII-only
// case mapping: other bytes are kept), len(s) (Unicode code points of UTF-8: the bytes that are
// not continuation bytes), exists(field) (false when the field is null or missing). A string
// function given null, or a value that is not a string, gives null.
//
// Types (checked by compile): arithmetic needs numbers and makes fields of unknown type numbers,
// except '+' next to a string, which makes them strings; a field of unknown type compared with
// a value of known type takes that type (two unknown fields are compared at run time); && || !
// need bools (a bare field as a condition becomes a bool); string functions need strings.
// Comparing with the literal null is an error (it would always be false): use exists().
// Values that contradict the types at run time (bad input) follow the semantics above.
//
// Error positions are 0-based byte offsets (ExprError::pos, ExprNode::pos); an operator node's
// position is its operator's. Messages that point elsewhere in the text ("expected ')' to close
// '(' at column 5") use 1-based columns. Trees are at most 256 levels deep.
//
// Thread-safety: a CompiledExpr is immutable after compile(); eval() is const and may run on
// many threads at once, each with its own Arena.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spate/common/arena.h"
#include "spate/core/value.h"

namespace spate {

// Static type of an expression or of a field, inferred from use.
enum class ExprType : uint8_t { kAny = 0, kNull, kBool, kNumber, kString };
const char* expr_type_name(ExprType t);

struct ExprNode {
  enum class Kind { kLiteral, kField, kUnary, kBinary, kCall, kList };
  Kind kind = Kind::kLiteral;
  size_t pos = 0;                  // 0-based byte offset of the node in the expression text
  Value literal;                   // kLiteral (strings point into literal_storage)
  std::string literal_storage;
  bool is_duration = false;        // kLiteral written as a duration (value in ms)
  std::string name;                // kField path, operator ("==", "!", "-", ...), or function
  std::vector<std::unique_ptr<ExprNode>> args;  // operands, positional args, list items
  std::vector<std::pair<std::string, std::unique_ptr<ExprNode>>> kwargs;  // keyword args
};

struct ExprError {
  size_t pos = 0;                  // 0-based byte offset in the expression text
  std::string message;             // e.g. "unknown function 'lowr'; did you mean 'lower'?"
};

// Parses an expression; on failure returns nullptr and fills *error.
std::unique_ptr<ExprNode> parse_expr(std::string_view text, ExprError* error);

// The fields an expression may refer to, provided by the planner.
class FieldScope {
 public:
  virtual ~FieldScope() = default;
  // Slot index of the field path, or -1 with *error set (e.g. "unknown field 'pgae'; did you
  // mean 'page'?"). May create the slot (fields of the raw input are discovered by use).
  virtual int resolve(std::string_view path, std::string* error) = 0;
  // The expression uses slot as type t (kNumber or kString or kBool). Returns false with
  // *error set when that conflicts with an earlier use or with the field's known type.
  virtual bool constrain(int slot, ExprType t, std::string* error) = 0;
  // Current known type of a slot (kAny when unknown).
  virtual ExprType type_of(int slot) const = 0;
};

// A type-checked expression bound to slots, ready to evaluate.
class CompiledExpr {
 public:
  CompiledExpr();
  ~CompiledExpr();
  CompiledExpr(CompiledExpr&&) noexcept;
  CompiledExpr& operator=(CompiledExpr&&) noexcept;

  // Binds fields through scope and checks types. On failure returns nullopt and fills *error
  // (pos is the offending node's position). Only the scalar functions above are known here:
  // aggregate calls, lists and keyword arguments are the planner's to take apart before.
  // Subexpressions without fields are folded to constants.
  static std::optional<CompiledExpr> compile(const ExprNode& node, FieldScope& scope,
                                             ExprError* error);

  // Evaluates over one record's slots. Strings made by the expression (lower, upper, '+') are
  // allocated in arena; strings of slots are returned as they are; string literals point into
  // this CompiledExpr. Allocates nothing but those arena strings.
  Value eval(const Value* slots, Arena& arena) const;

  // Static type of the result, as known at compile time (kAny for a field of unknown type).
  ExprType type() const;
  // If the expression is a bare field reference, its slot; else -1.
  int field_slot() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spate
