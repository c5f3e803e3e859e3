#include "spate/core/expr.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Counts heap allocations so that tests can check that eval allocates nothing.
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

// GCC pairs the inlined malloc/free below with new/delete expressions and warns; they match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace spate {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// A FieldScope over a name -> slot map that records every constraint.
class TestScope : public FieldScope {
 public:
  int add(const std::string& name, ExprType type = ExprType::kAny) {
    auto it = slots_.find(name);
    if (it != slots_.end()) return it->second;
    int slot = static_cast<int>(names_.size());
    slots_[name] = slot;
    names_.push_back(name);
    types_.push_back(type);
    return slot;
  }

  int resolve(std::string_view path, std::string* error) override {
    auto it = slots_.find(std::string(path));
    if (it != slots_.end()) return it->second;
    if (closed) {
      *error = fmt::format("unknown field '{}'", path);
      return -1;
    }
    return add(std::string(path));
  }

  bool constrain(int slot, ExprType t, std::string* error) override {
    constraints.emplace_back(names_[static_cast<size_t>(slot)], t);
    if (locked.count(names_[static_cast<size_t>(slot)]) != 0) {
      *error = fmt::format("field '{}' cannot be used as {}", names_[static_cast<size_t>(slot)],
                           expr_type_name(t));
      return false;
    }
    ExprType& have = types_[static_cast<size_t>(slot)];
    if (have != ExprType::kAny && have != t) {
      *error = fmt::format("field '{}' is a {}, not a {}", names_[static_cast<size_t>(slot)],
                           expr_type_name(have), expr_type_name(t));
      return false;
    }
    have = t;
    return true;
  }

  ExprType type_of(int slot) const override { return types_[static_cast<size_t>(slot)]; }

  int slot_of(const std::string& name) const {
    auto it = slots_.find(name);
    return it == slots_.end() ? -1 : it->second;
  }
  ExprType type(const std::string& name) const {
    int s = slot_of(name);
    return s < 0 ? ExprType::kAny : type_of(s);
  }

  bool closed = false;           // unknown names fail to resolve
  std::set<std::string> locked;  // fields whose constrain() fails
  std::vector<std::pair<std::string, ExprType>> constraints;

 private:
  std::map<std::string, int> slots_;
  std::vector<std::string> names_;
  std::vector<ExprType> types_;
};

// "int:3", "double:3.5", "bool:true", "string:abc", "null".
std::string show(const Value& v) {
  switch (v.type) {
    case ValueType::kNull:
      return "null";
    case ValueType::kBool:
      return v.b ? "bool:true" : "bool:false";
    case ValueType::kInt:
      return fmt::format("int:{}", v.i);
    case ValueType::kDouble:
      return fmt::format("double:{}", v.d);
    case ValueType::kString:
      return fmt::format("string:{}", v.sv());
  }
  return "?";
}

// S-expression of a parse tree: (+ a (* b c)), (call f a k=v), [1 2], "str", 10000ms.
std::string sexpr(const ExprNode& n) {
  switch (n.kind) {
    case ExprNode::Kind::kLiteral:
      if (n.is_duration) return fmt::format("{}ms", n.literal.i);
      if (n.literal.type == ValueType::kString) return fmt::format("\"{}\"", n.literal.sv());
      if (n.literal.type == ValueType::kDouble) return fmt::format("{}d", n.literal.d);
      if (n.literal.type == ValueType::kBool) return n.literal.b ? "true" : "false";
      if (n.literal.type == ValueType::kNull) return "null";
      return fmt::format("{}", n.literal.i);
    case ExprNode::Kind::kField:
      return n.name;
    case ExprNode::Kind::kUnary:
      return fmt::format("({} {})", n.name, sexpr(*n.args[0]));
    case ExprNode::Kind::kBinary:
      return fmt::format("({} {} {})", n.name, sexpr(*n.args[0]), sexpr(*n.args[1]));
    case ExprNode::Kind::kCall: {
      std::string s = "(call " + n.name;
      for (const auto& a : n.args) s += " " + sexpr(*a);
      for (const auto& [k, v] : n.kwargs) s += " " + k + "=" + sexpr(*v);
      return s + ")";
    }
    case ExprNode::Kind::kList: {
      std::string s = "[";
      for (size_t i = 0; i < n.args.size(); ++i) s += (i ? " " : "") + sexpr(*n.args[i]);
      return s + "]";
    }
  }
  return "?";
}

std::string parse_tree(std::string_view text) {
  ExprError err;
  auto node = parse_expr(text, &err);
  if (!node) return fmt::format("error at {}: {}", err.pos, err.message);
  return sexpr(*node);
}

// "pos: message" of a parse that must fail.
std::string parse_error(std::string_view text) {
  ExprError err;
  auto node = parse_expr(text, &err);
  if (node) return "parsed: " + sexpr(*node);
  return fmt::format("{}: {}", err.pos, err.message);
}

class ExprTest : public ::testing::Test {
 protected:
  ExprTest() : slots_(64) {}

  std::optional<CompiledExpr> compile(std::string_view text, ExprError* err) {
    auto node = parse_expr(text, err);
    if (!node) return std::nullopt;
    return CompiledExpr::compile(*node, scope_, err);
  }

  // Value of text over slots_; a parse or compile error fails the test. The expression is kept
  // alive with the fixture: string results may point at its literals.
  Value eval(std::string_view text) {
    ExprError err;
    auto expr = compile(text, &err);
    if (!expr) {
      ADD_FAILURE() << text << ": error at " << err.pos << ": " << err.message;
      return Value::null();
    }
    kept_.push_back(std::move(*expr));
    return kept_.back().eval(slots_.data(), arena_);
  }
  std::string ev(std::string_view text) { return show(eval(text)); }

  // "pos: message" of a compile that must fail (the parse must succeed).
  std::string compile_error(std::string_view text) {
    ExprError err;
    auto node = parse_expr(text, &err);
    if (!node) return fmt::format("parse error {}: {}", err.pos, err.message);
    auto expr = CompiledExpr::compile(*node, scope_, &err);
    if (expr) return "compiled";
    return fmt::format("{}: {}", err.pos, err.message);
  }

  void set(const std::string& name, Value v) { slots_[static_cast<size_t>(scope_.add(name))] = v; }

  TestScope scope_;
  std::vector<Value> slots_;
  Arena arena_;
  std::deque<CompiledExpr> kept_;
};

// ------------------------------------------------------------------------------------------
// Parsing
// ------------------------------------------------------------------------------------------

TEST(ExprParse, Precedence) {
  EXPECT_EQ(parse_tree("1 + 2 * 3 - 4 / 5 % 6"), "(- (+ 1 (* 2 3)) (% (/ 4 5) 6))");
  EXPECT_EQ(parse_tree("a || b && !c == d"), "(|| a (&& b (! (== c d))))");
  EXPECT_EQ(parse_tree("a && b || c && d"), "(|| (&& a b) (&& c d))");
  EXPECT_EQ(parse_tree("-a * b"), "(* (- a) b)");
  EXPECT_EQ(parse_tree("--a"), "(- (- a))");
  EXPECT_EQ(parse_tree("!!a"), "(! (! a))");
  EXPECT_EQ(parse_tree("(1 + 2) * 3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(parse_tree("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(parse_tree("a / b / c"), "(/ (/ a b) c)");
  EXPECT_EQ(parse_tree("a + 1 < b * 2"), "(< (+ a 1) (* b 2))");
  EXPECT_EQ(parse_tree("!a < b"), "(! (< a b))");
  EXPECT_EQ(parse_tree("a == b != c"),
            "error at 7: comparisons cannot be chained; combine them "
            "with '&&', e.g. a < b && b < c");
  for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
    EXPECT_EQ(parse_tree(fmt::format("a{}b", op)), fmt::format("({} a b)", op));
  }
}

TEST(ExprParse, Literals) {
  EXPECT_EQ(parse_tree("42"), "42");
  EXPECT_EQ(parse_tree("3.5"), "3.5d");
  EXPECT_EQ(parse_tree("1e3"), "1000d");
  EXPECT_EQ(parse_tree("2.5E-1"), "0.25d");
  EXPECT_EQ(parse_tree("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(parse_tree("99999999999999999999"), "1e+20d");
  EXPECT_EQ(parse_tree("true"), "true");
  EXPECT_EQ(parse_tree("false"), "false");
  EXPECT_EQ(parse_tree("null"), "null");
  EXPECT_EQ(parse_tree(R"("a\"b\\c\nd\te'")"), "\"a\"b\\c\nd\te'\"");
  EXPECT_EQ(parse_tree(R"('it\'s "x"')"), "\"it's \"x\"\"");
  EXPECT_EQ(parse_tree(R"("")"), "\"\"");
  EXPECT_EQ(parse_tree("\"h\xC3\xA9llo\""), "\"h\xC3\xA9llo\"");
}

TEST(ExprParse, Durations) {
  EXPECT_EQ(parse_tree("10s"), "10000ms");
  EXPECT_EQ(parse_tree("500ms"), "500ms");
  EXPECT_EQ(parse_tree("1m"), "60000ms");
  EXPECT_EQ(parse_tree("2h"), "7200000ms");
  EXPECT_EQ(parse_tree("1d"), "86400000ms");
  EXPECT_EQ(parse_tree("1.5s"), "1500ms");
  EXPECT_EQ(parse_tree("0s"), "0ms");
  ExprError err;
  auto n = parse_expr("10s", &err);
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->is_duration);
  EXPECT_EQ(n->literal.type, ValueType::kInt);
  EXPECT_EQ(n->literal.i, 10000);
  n = parse_expr("10", &err);
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->is_duration);
  EXPECT_EQ(parse_tree("t > 1h + 30m"), "(> t (+ 3600000ms 1800000ms))");
}

TEST(ExprParse, FieldsAndMetadata) {
  EXPECT_EQ(parse_tree("page"), "page");
  EXPECT_EQ(parse_tree("a.b.c"), "a.b.c");
  EXPECT_EQ(parse_tree("a . b"), "a.b");
  EXPECT_EQ(parse_tree("_x1.y_2"), "_x1.y_2");
  EXPECT_EQ(parse_tree("$remote_ip"), "$remote_ip");
  EXPECT_EQ(parse_tree("$remote_ip == \"1.2.3.4\""), "(== $remote_ip \"1.2.3.4\")");
  EXPECT_EQ(parse_tree("a.null"), "a.null");
  EXPECT_EQ(parse_tree("truex"), "truex");
}

TEST(ExprParse, CallsListsAndKeywordArguments) {
  EXPECT_EQ(parse_tree("count()"), "(call count)");
  EXPECT_EQ(parse_tree("sum(x)"), "(call sum x)");
  EXPECT_EQ(parse_tree("quantile(latency_ms, 0.9)"), "(call quantile latency_ms 0.9d)");
  EXPECT_EQ(parse_tree("trending(page, 10, short=1m, long=1h)"),
            "(call trending page 10 short=60000ms long=3600000ms)");
  EXPECT_EQ(parse_tree("quantiles(x, [0.5, 0.9, 0.99])"), "(call quantiles x [0.5d 0.9d 0.99d])");
  EXPECT_EQ(parse_tree("f(k = a == b)"), "(call f k=(== a b))");
  EXPECT_EQ(parse_tree("f(a == b)"), "(call f (== a b))");
  EXPECT_EQ(parse_tree("f([])"), "(call f [])");
  EXPECT_EQ(parse_tree("[1, [2, 3], \"x\"]"), "[1 [2 3] \"x\"]");
  EXPECT_EQ(parse_tree("lower(a) + upper(b.c)"), "(+ (call lower a) (call upper b.c))");
  EXPECT_EQ(parse_tree("f(g(h(1)))"), "(call f (call g (call h 1)))");
  EXPECT_EQ(parse_tree("top(page, k=-1)"), "(call top page k=(- 1))");
}

TEST(ExprParse, Positions) {
  ExprError err;
  auto n = parse_expr("a + lower(b.c) * 10s", &err);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->pos, 2u);                              // '+'
  EXPECT_EQ(n->args[0]->pos, 0u);                     // a
  EXPECT_EQ(n->args[1]->pos, 15u);                    // '*'
  EXPECT_EQ(n->args[1]->args[0]->pos, 4u);            // lower
  EXPECT_EQ(n->args[1]->args[0]->args[0]->pos, 10u);  // b.c
  EXPECT_EQ(n->args[1]->args[1]->pos, 17u);           // 10s
  n = parse_expr("  -(x)", &err);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->pos, 2u);
  EXPECT_EQ(n->args[0]->pos, 4u);
  n = parse_expr("[1, $m]", &err);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->pos, 0u);
  EXPECT_EQ(n->args[1]->pos, 4u);
}

TEST(ExprParse, StringLiteralsOwnTheirBytes) {
  ExprError err;
  std::string text = "\"abc\"";
  auto n = parse_expr(text, &err);
  ASSERT_TRUE(n);
  text.assign("zzzzz");
  EXPECT_EQ(n->literal.sv(), "abc");
  EXPECT_EQ(n->literal_storage, "abc");
}

TEST(ExprParse, Errors) {
  EXPECT_EQ(parse_error(""), "0: empty expression");
  EXPECT_EQ(parse_error("   "), "0: empty expression");
  EXPECT_EQ(parse_error("a +"), "3: unexpected end of expression");
  EXPECT_EQ(parse_error("!"), "1: unexpected end of expression");
  EXPECT_EQ(parse_error("(a + b"), "6: expected ')' to close '(' at column 1");
  EXPECT_EQ(parse_error("x + (a + b"), "10: expected ')' to close '(' at column 5");
  EXPECT_EQ(parse_error("x + (a + b]"), "10: expected ')' to close '(' at column 5");
  EXPECT_EQ(parse_error("x\n  + (a"), "8: expected ')' to close '(' at line 2, column 5");
  EXPECT_EQ(parse_error("'abc"), "0: unterminated string");
  EXPECT_EQ(parse_error("x == \"abc"), "5: unterminated string");
  EXPECT_EQ(parse_error("x == \"abc\\"), "5: unterminated string");
  EXPECT_EQ(parse_error("x == \"a\\qb\""),
            "7: unknown escape '\\q' in string; use \\\", \\', \\\\, \\n or \\t");
  EXPECT_EQ(parse_error("a = 1"), "2: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(parse_error("(a = 1)"), "3: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(parse_error("f(a.b = 1)"), "6: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(parse_error("short=1m"), "5: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(parse_error("a => b"), "2: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(parse_error("a & b"), "2: '&' is not an operator; use '&&'");
  EXPECT_EQ(parse_error("a | b"), "2: '|' is not an operator; use '||'");
  EXPECT_EQ(parse_error("a b"),
            "2: unexpected name 'b'; expected an operator or the end of the expression");
  EXPECT_EQ(parse_error("a 'b'"),
            "2: unexpected string 'b'; expected an operator or the end of the expression");
  EXPECT_EQ(parse_error("f(x))"),
            "4: unexpected ')'; expected an operator or the end of the expression");
  EXPECT_EQ(parse_error("a < b < c"),
            "6: comparisons cannot be chained; combine them with '&&', e.g. a < b && b < c");
  EXPECT_EQ(parse_error("a + )"), "4: expected a value but found ')'");
  EXPECT_EQ(parse_error("a * * b"), "4: expected a value but found '*'");
  EXPECT_EQ(parse_error("+a"), "0: expected a value but found '+'");
  EXPECT_EQ(parse_error("f(a, )"), "5: expected a value but found ')'");
  EXPECT_EQ(parse_error("f(a b)"), "4: expected ',' or ')' to close '(' at column 2");
  EXPECT_EQ(parse_error("f(a"), "3: expected ',' or ')' to close '(' at column 2");
  EXPECT_EQ(parse_error("[1, 2"), "5: expected ',' or ']' to close '[' at column 1");
  EXPECT_EQ(parse_error("[1, 2)"), "5: expected ',' or ']' to close '[' at column 1");
  EXPECT_EQ(parse_error("[1,]"), "3: expected a value but found ']'");
  EXPECT_EQ(parse_error("f(k=1, 2)"), "7: positional argument after keyword argument");
  EXPECT_EQ(parse_error("f(k=1, k=2)"), "7: duplicate keyword argument 'k'");
  EXPECT_EQ(parse_error("a.b(1)"), "3: 'a.b' is not a function name (function names have no '.')");
  EXPECT_EQ(parse_error("a."), "2: expected a field name after '.' but found end of expression");
  EXPECT_EQ(parse_error("a.1"), "2: expected a field name after '.' but found number '1'");
  EXPECT_EQ(parse_error("$"), "0: expected a metadata name after '$', e.g. $remote_ip");
  EXPECT_EQ(parse_error("x + $1"), "4: expected a metadata name after '$', e.g. $remote_ip");
  EXPECT_EQ(parse_error("a # b"), "2: unexpected character '#'");
  EXPECT_EQ(parse_error("a \xC3\xA9"), "2: unexpected character '\xC3\xA9'");
  EXPECT_EQ(parse_error("a \x01"), "2: unexpected character 0x01");
  EXPECT_EQ(parse_error("10x"), "2: unknown unit 'x' in '10x'; durations use ms, s, m, h or d");
  EXPECT_EQ(parse_error("5sec"), "1: unknown unit 'sec' in '5sec'; durations use ms, s, m, h or d");
  EXPECT_EQ(parse_error("1.5ms"), "0: duration '1.5ms' is not a whole number of milliseconds");
  EXPECT_EQ(parse_error("999999999999999d"), "0: duration '999999999999999d' is too large");
  EXPECT_EQ(parse_error("1."), "0: invalid number '1.': expected digits after '.'");
  EXPECT_EQ(parse_error("1e999"), "0: number '1e999' is out of range");
  EXPECT_EQ(parse_error("true(1)"),
            "4: unexpected '('; expected an operator or the end of the expression");
  // The first error in the text wins, even one the lexer finds while looking ahead.
  EXPECT_EQ(parse_error("f(a # b)"), "4: unexpected character '#'");
  EXPECT_EQ(parse_error("f(k # b)"), "4: unexpected character '#'");
  EXPECT_EQ(parse_error("(a + b 'c"), "7: unterminated string");
}

TEST(ExprParse, NestingIsBounded) {
  auto nest = [](int n, const std::string& open, const std::string& inner,
                 const std::string& close) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += inner;
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  EXPECT_EQ(parse_tree(nest(3, "(", "a", ")")), "a");
  EXPECT_NE(parse_tree(nest(200, "(", "a", ")")).find("error"), 0u);
  EXPECT_NE(parse_tree(nest(200, "-", "a", "")).find("error"), 0u);
  EXPECT_NE(parse_tree(nest(200, "f(", "a", ")")).find("error"), 0u);
  const std::string deep = "expression is nested too deeply (more than 256 levels)";
  for (const std::string& text :
       {nest(100000, "(", "a", ")"), nest(100000, "-", "a", ""), nest(100000, "!", "a", ""),
        nest(100000, "f(", "a", ")"), nest(100000, "[", "a", "]"), nest(100000, "a + ", "a", ""),
        nest(100000, "a && ", "a", ""), nest(100000, "f(k=", "a", ")")}) {
    ExprError err;
    EXPECT_EQ(parse_expr(text, &err), nullptr);
    EXPECT_EQ(err.message, deep) << text.substr(0, 20);
  }
}

TEST(ExprParse, NullErrorPointerIsAllowed) {
  EXPECT_EQ(parse_expr("(", nullptr), nullptr);
  EXPECT_NE(parse_expr("a", nullptr), nullptr);
}

// ------------------------------------------------------------------------------------------
// Evaluation
// ------------------------------------------------------------------------------------------

TEST_F(ExprTest, IntegerArithmetic) {
  EXPECT_EQ(ev("1 + 2"), "int:3");
  EXPECT_EQ(ev("7 - 10"), "int:-3");
  EXPECT_EQ(ev("6 * 7"), "int:42");
  EXPECT_EQ(ev("6 / 3"), "int:2");
  EXPECT_EQ(ev("-6 / 3"), "int:-2");
  EXPECT_EQ(ev("7 / 2"), "double:3.5");
  EXPECT_EQ(ev("-7 / 2"), "double:-3.5");
  EXPECT_EQ(ev("1 / 3"), "double:0.3333333333333333");
  EXPECT_EQ(ev("7 % 3"), "int:1");
  EXPECT_EQ(ev("-7 % 3"), "int:-1");
  EXPECT_EQ(ev("7 % -3"), "int:1");
  EXPECT_EQ(ev("-(3)"), "int:-3");
  EXPECT_EQ(ev("2 + 3 * 4"), "int:14");
  EXPECT_EQ(ev("(2 + 3) * 4"), "int:20");
  EXPECT_EQ(ev("20 / 2 / 5"), "int:2");
  EXPECT_EQ(ev("20 - 2 - 5"), "int:13");
}

TEST_F(ExprTest, DoubleArithmeticAndPromotion) {
  EXPECT_EQ(ev("1 + 2.5"), "double:3.5");
  EXPECT_EQ(ev("2.5 * 2"), "double:5");
  EXPECT_EQ(show(eval("2.5 * 2")).substr(0, 7), "double:");
  EXPECT_EQ(ev("1.5 - 0.5"), "double:1");
  EXPECT_EQ(ev("1 / 4.0"), "double:0.25");
  EXPECT_EQ(ev("7.5 % 2"), "double:1.5");
  EXPECT_EQ(ev("-7.5 % 2"), "double:-1.5");
  EXPECT_EQ(ev("7 % 2.5"), "double:2");
  EXPECT_EQ(ev("-2.5"), "double:-2.5");
  EXPECT_EQ(ev("1e308 * 10"), "double:inf");
}

TEST_F(ExprTest, OverflowFallsBackToDouble) {
  EXPECT_EQ(ev("9223372036854775807 + 1"), "double:9.223372036854776e+18");
  EXPECT_EQ(ev("-9223372036854775807 - 2"), "double:-9.223372036854776e+18");
  EXPECT_EQ(ev("4611686018427387904 * 2"), "double:9.223372036854776e+18");
  EXPECT_EQ(ev("4611686018427387904 * -2"), "int:-9223372036854775808");
  EXPECT_EQ(ev("9223372036854775807 - -1"), "double:9.223372036854776e+18");
  set("m", Value::integer(kMin));
  EXPECT_EQ(ev("m"), "int:-9223372036854775808");
  EXPECT_EQ(ev("-m"), "double:9.223372036854776e+18");
  EXPECT_EQ(ev("m / -1"), "double:9.223372036854776e+18");
  EXPECT_EQ(ev("m % -1"), "int:0");
  EXPECT_EQ(ev("m / 2"), "int:-4611686018427387904");
  EXPECT_EQ(ev("m - 1"), "double:-9.223372036854776e+18");
  EXPECT_EQ(ev("m + 1"), "int:-9223372036854775807");
}

TEST_F(ExprTest, DivisionByZeroIsNull) {
  EXPECT_EQ(ev("1 / 0"), "null");
  EXPECT_EQ(ev("1 % 0"), "null");
  EXPECT_EQ(ev("1.5 / 0"), "null");
  EXPECT_EQ(ev("1 / 0.0"), "null");
  EXPECT_EQ(ev("1 % 0.0"), "null");
  EXPECT_EQ(ev("1 / -0.0"), "null");
  set("x", Value::integer(10));
  set("zero", Value::integer(0));
  EXPECT_EQ(ev("x / zero"), "null");
  EXPECT_EQ(ev("x % zero"), "null");
  EXPECT_EQ(ev("x / zero + 1"), "null");
  EXPECT_EQ(ev("x / zero == 1"), "bool:false");
}

TEST_F(ExprTest, NullSemantics) {
  // "missing" is a slot that holds null.
  scope_.add("missing");
  EXPECT_EQ(ev("missing"), "null");
  EXPECT_EQ(ev("missing + 1"), "null");
  EXPECT_EQ(ev("1 - missing"), "null");
  EXPECT_EQ(ev("missing * missing"), "null");
  EXPECT_EQ(ev("-missing"), "null");
  EXPECT_EQ(ev("missing == 1"), "bool:false");
  EXPECT_EQ(ev("missing != 1"), "bool:false");
  EXPECT_EQ(ev("missing < 1"), "bool:false");
  EXPECT_EQ(ev("missing == 1.5"), "bool:false");
  EXPECT_EQ(ev("missing != 1.5"), "bool:false");
  EXPECT_EQ(ev("str_missing == \"a\""), "bool:false");
  EXPECT_EQ(ev("str_missing != \"a\""), "bool:false");
  EXPECT_EQ(ev("str_missing < \"a\""), "bool:false");
  EXPECT_EQ(ev("missing >= 1"), "bool:false");
  EXPECT_EQ(ev("missing + 1 != 1"), "bool:false");
  EXPECT_EQ(ev("other == missing"), "bool:false");
  EXPECT_EQ(ev("other != missing"), "bool:false");
  EXPECT_EQ(ev("lower(s1)"), "null");
  EXPECT_EQ(ev("upper(s1)"), "null");
  EXPECT_EQ(ev("len(s1)"), "null");
  EXPECT_EQ(ev("contains(s1, \"a\")"), "null");
  EXPECT_EQ(ev("starts_with(\"a\", s1)"), "null");
  EXPECT_EQ(ev("ends_with(s1, s1)"), "null");
  EXPECT_EQ(ev("s1 + \"x\""), "null");
  EXPECT_EQ(ev("null"), "null");
  EXPECT_EQ(ev("null + 1"), "null");
  // Logic uses truthiness: null is not true.
  EXPECT_EQ(ev("b1"), "null");
  EXPECT_EQ(ev("!b1"), "bool:true");
  EXPECT_EQ(ev("b1 && true"), "bool:false");
  EXPECT_EQ(ev("b1 || true"), "bool:true");
  EXPECT_EQ(ev("b1 || b1"), "bool:false");
  EXPECT_EQ(ev("!contains(s1, \"a\")"), "bool:true");
}

TEST_F(ExprTest, Comparisons) {
  EXPECT_EQ(ev("1 == 1"), "bool:true");
  EXPECT_EQ(ev("1 == 1.0"), "bool:true");
  EXPECT_EQ(ev("1 != 1.0"), "bool:false");
  EXPECT_EQ(ev("1 < 2"), "bool:true");
  EXPECT_EQ(ev("2 <= 2"), "bool:true");
  EXPECT_EQ(ev("2 > 2"), "bool:false");
  EXPECT_EQ(ev("2 >= 2.5"), "bool:false");
  EXPECT_EQ(ev("-1 < 0.5"), "bool:true");
  EXPECT_EQ(ev("\"a\" < \"b\""), "bool:true");
  EXPECT_EQ(ev("\"abc\" >= \"abd\""), "bool:false");
  EXPECT_EQ(ev("\"ab\" < \"abc\""), "bool:true");
  EXPECT_EQ(ev("\"x\" == 'x'"), "bool:true");
  EXPECT_EQ(ev("\"x\" != 'y'"), "bool:true");
  EXPECT_EQ(ev("true == true"), "bool:true");
  EXPECT_EQ(ev("true != false"), "bool:true");
  // inf - inf is NaN: equal to nothing, unordered.
  EXPECT_EQ(ev("1e308 * 10 - 1e308 * 10 == 0"), "bool:false");
  EXPECT_EQ(ev("1e308 * 10 - 1e308 * 10 != 0"), "bool:true");
  EXPECT_EQ(ev("1e308 * 10 - 1e308 * 10 < 0"), "bool:false");
  EXPECT_EQ(ev("1e308 * 10 - 1e308 * 10 >= 0"), "bool:false");
  // Field against literal on either side (the fused instruction mirrors the operator).
  set("n", Value::integer(5));
  set("d", Value::real(2.5));
  set("s", Value::string("view"));
  for (auto [text, want] : std::vector<std::pair<const char*, bool>>{
           {"n == 5", true},         {"5 == n", true},       {"n != 5", false},
           {"n < 6", true},          {"6 < n", false},       {"n <= 5", true},
           {"5 <= n", true},         {"n > 4.5", true},      {"4.5 > n", false},
           {"n >= 6", false},        {"6 >= n", true},       {"d == 2.5", true},
           {"d < 3", true},          {"3 < d", false},       {"s == \"view\"", true},
           {"\"view\" != s", false}, {"s < \"w\"", true},    {"\"w\" < s", false},
           {"n == n", true},         {"n < d", false},       {"d < n", true},
           {"n + 0 == 5", true},     {"5 == n + 0", true},   {"d > 2", true},
           {"d == 2", false},        {"2 < d", true},        {"d != 2", true},
           {"n == 5.0", true},       {"n < 5.5", true},      {"s != \"x\"", true},
           {"s >= \"view\"", true},  {"s > \"view\"", false}}) {
    EXPECT_EQ(ev(text), want ? "bool:true" : "bool:false") << text;
  }
}

TEST_F(ExprTest, RuntimeKindMismatch) {
  // A field constrained to number may still hold a string in bad input: no crash, defined
  // results.
  set("x", Value::string("abc"));
  EXPECT_EQ(ev("x + 1"), "null");
  EXPECT_EQ(ev("-x"), "null");
  EXPECT_EQ(ev("x == 1"), "bool:false");
  EXPECT_EQ(ev("x != 1"), "bool:true");
  EXPECT_EQ(ev("x < 1"), "bool:false");
  set("ns", Value::integer(3));
  EXPECT_EQ(ev("ns == \"a\""), "bool:false");
  EXPECT_EQ(ev("ns != \"a\""), "bool:true");
  EXPECT_EQ(ev("ns >= \"a\""), "bool:false");
  set("y", Value::integer(3));
  EXPECT_EQ(ev("lower(y)"), "null");
  EXPECT_EQ(ev("len(y)"), "null");
  EXPECT_EQ(ev("contains(y, \"3\")"), "null");
  set("b", Value::integer(1));
  EXPECT_EQ(ev("b && true"), "bool:false");
  EXPECT_EQ(ev("!b"), "bool:true");
  set("t", Value::boolean(true));
  set("f", Value::boolean(false));
  EXPECT_EQ(ev("t == f"), "bool:false");
  EXPECT_EQ(ev("t != f"), "bool:true");
  set("u1", Value::boolean(true));
  set("u2", Value::boolean(false));
  EXPECT_EQ(ev("u1 < u2"), "bool:false");  // bools have no order
  EXPECT_EQ(ev("u1 == u2"), "bool:false");
  set("v1", Value::string("1"));
  set("v2", Value::integer(1));
  EXPECT_EQ(ev("v1 == v2"), "bool:false");
  EXPECT_EQ(ev("v1 != v2"), "bool:true");
  EXPECT_EQ(ev("v1 <= v2"), "bool:false");
}

TEST_F(ExprTest, Logic) {
  for (const char* a : {"true", "false"}) {
    for (const char* b : {"true", "false"}) {
      bool x = std::string(a) == "true";
      bool y = std::string(b) == "true";
      EXPECT_EQ(ev(fmt::format("{} && {}", a, b)), (x && y) ? "bool:true" : "bool:false");
      EXPECT_EQ(ev(fmt::format("{} || {}", a, b)), (x || y) ? "bool:true" : "bool:false");
    }
  }
  EXPECT_EQ(ev("!true"), "bool:false");
  EXPECT_EQ(ev("!false"), "bool:true");
  EXPECT_EQ(ev("!!true"), "bool:true");
  set("p", Value::boolean(true));
  set("q", Value::boolean(false));
  set("n", Value::integer(3));
  EXPECT_EQ(ev("p && q"), "bool:false");
  EXPECT_EQ(ev("p || q"), "bool:true");
  EXPECT_EQ(ev("!q"), "bool:true");
  EXPECT_EQ(ev("p && n > 2"), "bool:true");
  EXPECT_EQ(ev("q || n > 2 && n < 3"), "bool:false");
  EXPECT_EQ(ev("(q || n > 2) && n < 4"), "bool:true");
  EXPECT_EQ(ev("!(n > 2)"), "bool:false");
  EXPECT_EQ(ev("p == true"), "bool:true");
  EXPECT_EQ(ev("q == true"), "bool:false");
}

TEST_F(ExprTest, StringConcat) {
  // Known strings (from a schema): '+' concatenates. Unknown fields would be numbers.
  scope_.add("a", ExprType::kString);
  scope_.add("b", ExprType::kString);
  scope_.add("e", ExprType::kString);
  set("a", Value::string("foo"));
  set("b", Value::string("bar"));
  set("e", Value::string(""));
  EXPECT_EQ(ev("a + b"), "string:foobar");
  EXPECT_EQ(ev("a + \"-\" + b"), "string:foo-bar");
  EXPECT_EQ(ev("\"<\" + a + \">\""), "string:<foo>");
  EXPECT_EQ(ev("\"x\" + \"y\""), "string:xy");
  EXPECT_EQ(ev("a + b == \"foobar\""), "bool:true");
  // An empty side gives the other side itself, without allocating.
  Value v = eval("e + a");
  EXPECT_EQ(v.str, slots_[static_cast<size_t>(scope_.slot_of("a"))].str);
  v = eval("a + e");
  EXPECT_EQ(v.str, slots_[static_cast<size_t>(scope_.slot_of("a"))].str);
  EXPECT_EQ(scope_.type("a"), ExprType::kString);
  // A field of unknown type next to a string literal becomes a string.
  set("u", Value::string("x"));
  EXPECT_EQ(ev("u + \"!\""), "string:x!");
  EXPECT_EQ(scope_.type("u"), ExprType::kString);
}

TEST_F(ExprTest, StringFunctions) {
  set("s", Value::string("Hello, World"));
  set("u", Value::string("\xC3\x89"
                         "COLE Ab"));  // "ÉCOLE Ab"
  set("lo", Value::string("already lower"));
  EXPECT_EQ(ev("lower(s)"), "string:hello, world");
  EXPECT_EQ(ev("upper(s)"), "string:HELLO, WORLD");
  EXPECT_EQ(ev("lower(u)"),
            "string:\xC3\x89"
            "cole ab");  // ASCII-only mapping
  EXPECT_EQ(ev("upper(\"\xC3\xA9t\xC3\xA9\")"), "string:\xC3\xA9T\xC3\xA9");
  EXPECT_EQ(ev("lower(\"\")"), "string:");
  // Unchanged text is returned as it is.
  EXPECT_EQ(eval("lower(lo)").str, slots_[static_cast<size_t>(scope_.slot_of("lo"))].str);
  EXPECT_EQ(ev("len(s)"), "int:12");
  EXPECT_EQ(ev("len(\"\")"), "int:0");
  EXPECT_EQ(ev("len(\"h\xC3\xA9llo\")"), "int:5");
  EXPECT_EQ(ev("len(\"\xE6\x97\xA5\xE6\x9C\xAC\")"), "int:2");  // 日本
  EXPECT_EQ(ev("len(\"\xF0\x9F\x98\x80!\")"), "int:2");         // 😀!
  EXPECT_EQ(ev("contains(s, \"o, W\")"), "bool:true");
  EXPECT_EQ(ev("contains(s, \"world\")"), "bool:false");
  EXPECT_EQ(ev("contains(s, \"\")"), "bool:true");
  EXPECT_EQ(ev("contains(lower(s), \"world\")"), "bool:true");
  EXPECT_EQ(ev("starts_with(s, \"Hell\")"), "bool:true");
  EXPECT_EQ(ev("starts_with(s, \"hell\")"), "bool:false");
  EXPECT_EQ(ev("starts_with(\"ab\", \"abc\")"), "bool:false");
  EXPECT_EQ(ev("ends_with(s, \"World\")"), "bool:true");
  EXPECT_EQ(ev("ends_with(s, \"Hello\")"), "bool:false");
  EXPECT_EQ(ev("len(s) + 1"), "int:13");
  EXPECT_EQ(ev("upper(lower(s)) == \"HELLO, WORLD\""), "bool:true");
  EXPECT_EQ(ev("len(s + \"!\")"), "int:13");
}

TEST_F(ExprTest, Exists) {
  set("here", Value::integer(0));
  set("$remote_ip", Value::string("10.0.0.1"));
  scope_.add("gone");
  EXPECT_EQ(ev("exists(here)"), "bool:true");
  EXPECT_EQ(ev("exists(gone)"), "bool:false");
  EXPECT_EQ(ev("!exists(gone)"), "bool:true");
  EXPECT_EQ(ev("exists(never.seen)"), "bool:false");
  EXPECT_EQ(ev("exists($remote_ip)"), "bool:true");
  EXPECT_EQ(ev("exists(here) && here == 0"), "bool:true");
  EXPECT_EQ(scope_.type("gone"), ExprType::kAny);  // exists() constrains nothing
}

TEST_F(ExprTest, FieldPathsMetadataAndDurations) {
  set("user.geo.country", Value::string("FR"));
  set("$remote_ip", Value::string("10.0.0.1"));
  set("elapsed_ms", Value::integer(15000));
  EXPECT_EQ(ev("user.geo.country == \"FR\""), "bool:true");
  EXPECT_EQ(ev("user . geo . country"), "string:FR");
  EXPECT_EQ(ev("$remote_ip == \"10.0.0.1\""), "bool:true");
  EXPECT_EQ(ev("starts_with($remote_ip, \"10.\")"), "bool:true");
  EXPECT_EQ(ev("elapsed_ms > 10s"), "bool:true");
  EXPECT_EQ(ev("elapsed_ms > 1m"), "bool:false");
  EXPECT_EQ(ev("elapsed_ms - 15s"), "int:0");
  EXPECT_EQ(ev("1m + 1"), "int:60001");
  EXPECT_EQ(ev("1d / 1h"), "int:24");
  EXPECT_EQ(ev("500ms * 2 == 1s"), "bool:true");
}

// ------------------------------------------------------------------------------------------
// Types and constraints
// ------------------------------------------------------------------------------------------

TEST_F(ExprTest, InfersAndConstrainsFieldTypes) {
  ExprError err;
  auto e = compile("a + 1", &err);
  ASSERT_TRUE(e) << err.message;
  EXPECT_EQ(e->type(), ExprType::kNumber);
  EXPECT_EQ(scope_.type("a"), ExprType::kNumber);
  EXPECT_EQ(e->field_slot(), -1);

  e = compile("b == \"x\"", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), ExprType::kBool);
  EXPECT_EQ(scope_.type("b"), ExprType::kString);
  ASSERT_TRUE(compile("\"x\" != c", &err));
  EXPECT_EQ(scope_.type("c"), ExprType::kString);
  ASSERT_TRUE(compile("d < 5", &err));
  EXPECT_EQ(scope_.type("d"), ExprType::kNumber);
  ASSERT_TRUE(compile("e < \"m\"", &err));
  EXPECT_EQ(scope_.type("e"), ExprType::kString);
  ASSERT_TRUE(compile("f && g > 1", &err));
  EXPECT_EQ(scope_.type("f"), ExprType::kBool);
  EXPECT_EQ(scope_.type("g"), ExprType::kNumber);
  ASSERT_TRUE(compile("!h", &err));
  EXPECT_EQ(scope_.type("h"), ExprType::kBool);
  ASSERT_TRUE(compile("i == true", &err));
  EXPECT_EQ(scope_.type("i"), ExprType::kBool);

  e = compile("s + \"!\"", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), ExprType::kString);
  EXPECT_EQ(scope_.type("s"), ExprType::kString);
  ASSERT_TRUE(compile("\"!\" + t", &err));
  EXPECT_EQ(scope_.type("t"), ExprType::kString);
  ASSERT_TRUE(compile("p + q", &err));  // two unknown fields: numbers
  EXPECT_EQ(scope_.type("p"), ExprType::kNumber);
  EXPECT_EQ(scope_.type("q"), ExprType::kNumber);
  ASSERT_TRUE(compile("s + r", &err));  // s is known to be a string
  EXPECT_EQ(scope_.type("r"), ExprType::kString);

  e = compile("lower(l1)", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), ExprType::kString);
  EXPECT_EQ(scope_.type("l1"), ExprType::kString);
  e = compile("len(l2)", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), ExprType::kNumber);
  EXPECT_EQ(scope_.type("l2"), ExprType::kString);
  ASSERT_TRUE(compile("contains(l3, l4)", &err));
  EXPECT_EQ(scope_.type("l3"), ExprType::kString);
  EXPECT_EQ(scope_.type("l4"), ExprType::kString);

  // Unknown on both sides: compared at run time, nothing constrained.
  ASSERT_TRUE(compile("u == v", &err));
  EXPECT_EQ(scope_.type("u"), ExprType::kAny);
  EXPECT_EQ(scope_.type("v"), ExprType::kAny);
  // Unknown against a known field or expression takes its type.
  ASSERT_TRUE(compile("w == a", &err));
  EXPECT_EQ(scope_.type("w"), ExprType::kNumber);
  ASSERT_TRUE(compile("lower(b) == x", &err));
  EXPECT_EQ(scope_.type("x"), ExprType::kString);
  ASSERT_TRUE(compile("y > a * 2", &err));
  EXPECT_EQ(scope_.type("y"), ExprType::kNumber);
}

TEST_F(ExprTest, BareFieldAndConstantResults) {
  int slot = scope_.add("page");
  ExprError err;
  auto e = compile("page", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field_slot(), slot);
  EXPECT_EQ(e->type(), ExprType::kAny);
  scope_.add("latency", ExprType::kNumber);
  e = compile("latency", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type(), ExprType::kNumber);
  EXPECT_EQ(compile("(page)", &err)->field_slot(), slot);
  EXPECT_EQ(compile("page == \"x\"", &err)->field_slot(), -1);

  // Constants are folded: no slot is read.
  for (auto [text, want] : std::vector<std::pair<const char*, const char*>>{
           {"1 + 2 * 3", "int:7"},
           {"lower(\"AbC\") + upper(\"x\")", "string:abcX"},
           {"len(\"abc\") > 2 && !false", "bool:true"},
           {"1 / 0", "null"},
           {"-(-(5))", "int:5"},
           {"\"a\" < \"b\"", "bool:true"},
           {"contains(\"abc\", \"b\")", "bool:true"}}) {
    auto c = compile(text, &err);
    ASSERT_TRUE(c) << text << ": " << err.message;
    EXPECT_EQ(show(c->eval(nullptr, arena_)), want) << text;
  }
  EXPECT_EQ(compile("1 / 0", &err)->type(), ExprType::kNumber);
  EXPECT_EQ(compile("null", &err)->type(), ExprType::kNull);
  EXPECT_EQ(compile("\"s\"", &err)->type(), ExprType::kString);
  EXPECT_EQ(compile("true", &err)->type(), ExprType::kBool);
}

TEST_F(ExprTest, DefaultAndMovedExpressions) {
  CompiledExpr empty;
  EXPECT_EQ(show(empty.eval(nullptr, arena_)), "null");
  EXPECT_EQ(empty.field_slot(), -1);

  set("s", Value::string("x"));
  ExprError err;
  std::optional<CompiledExpr> e;
  {
    std::string text = "s + \"yz\" + \"w\"";
    auto node = parse_expr(text, &err);
    ASSERT_TRUE(node);
    e = CompiledExpr::compile(*node, scope_, &err);
    ASSERT_TRUE(e);
  }  // the text and the tree are gone; the expression owns its literals
  CompiledExpr moved = std::move(*e);
  e.reset();
  EXPECT_EQ(show(moved.eval(slots_.data(), arena_)), "string:xyzw");
  CompiledExpr assigned;
  assigned = std::move(moved);
  EXPECT_EQ(show(assigned.eval(slots_.data(), arena_)), "string:xyzw");
  auto lit = compile("\"literal\"", &err);
  ASSERT_TRUE(lit);
  CompiledExpr lit2 = std::move(*lit);
  EXPECT_EQ(show(lit2.eval(nullptr, arena_)), "string:literal");
}

// ------------------------------------------------------------------------------------------
// Compile errors
// ------------------------------------------------------------------------------------------

TEST_F(ExprTest, CompileErrors) {
  scope_.add("latency_ms", ExprType::kNumber);
  scope_.add("name", ExprType::kString);
  scope_.add("flag", ExprType::kBool);
  EXPECT_EQ(compile_error("lowr(name)"), "0: unknown function 'lowr'; did you mean 'lower'?");
  EXPECT_EQ(compile_error("name == uper(name)"),
            "8: unknown function 'uper'; did you mean 'upper'?");
  EXPECT_EQ(compile_error("contain(name, \"x\")"),
            "0: unknown function 'contain'; did you mean 'contains'?");
  EXPECT_EQ(compile_error("startswith(name, \"x\")"),
            "0: unknown function 'startswith'; did you mean 'starts_with'?");
  EXPECT_EQ(compile_error("ln(name)"), "0: unknown function 'ln'; did you mean 'len'?");
  EXPECT_EQ(compile_error("1 + frobnicate(name)"),
            "4: unknown function 'frobnicate'; functions are contains, ends_with, exists, len, "
            "lower, starts_with, upper");
  EXPECT_EQ(compile_error("count()"),
            "0: unknown function 'count'; functions are contains, ends_with, exists, len, "
            "lower, starts_with, upper");
  EXPECT_EQ(compile_error("[1, 2]"), "0: lists are only allowed as aggregate arguments");
  EXPECT_EQ(compile_error("latency_ms == [1]"),
            "14: lists are only allowed as aggregate arguments");
  EXPECT_EQ(compile_error("lower(name, k=1)"),
            "14: keyword argument 'k': keyword arguments are only allowed in aggregate calls");
  EXPECT_EQ(compile_error("latency_ms == \"x\""),
            "11: cannot compare number 'latency_ms' with string \"x\"");
  EXPECT_EQ(compile_error("\"x\" != latency_ms"),
            "4: cannot compare string \"x\" with number 'latency_ms'");
  EXPECT_EQ(compile_error("5 == \"x\""), "2: cannot compare number 5 with string \"x\"");
  EXPECT_EQ(compile_error("name < latency_ms + 1"),
            "5: cannot compare string 'name' with number 'latency_ms + 1'");
  EXPECT_EQ(compile_error("flag == 1"), "5: cannot compare bool 'flag' with number 1");
  EXPECT_EQ(compile_error("flag < true"),
            "5: operator '<' needs two numbers or two strings; got bool 'flag'");
  EXPECT_EQ(compile_error("1 >= (latency_ms > 2)"),
            "2: operator '>=' needs two numbers or two strings; got bool 'latency_ms > 2'");
  EXPECT_EQ(compile_error("latency_ms == null"),
            "11: comparing with null is always false; use exists(field) to test whether a "
            "field is present");
  EXPECT_EQ(compile_error("name * 2"), "0: operator '*' needs numbers; got string 'name'");
  EXPECT_EQ(compile_error("2 - name"), "4: operator '-' needs numbers; got string 'name'");
  EXPECT_EQ(compile_error("latency_ms % flag"), "13: operator '%' needs numbers; got bool 'flag'");
  EXPECT_EQ(compile_error("-\"a\""), "1: operator '-' needs numbers; got string \"a\"");
  EXPECT_EQ(compile_error("-flag"), "1: operator '-' needs numbers; got bool 'flag'");
  EXPECT_EQ(compile_error("flag + 1"), "0: operator '+' needs numbers; got bool 'flag'");
  EXPECT_EQ(compile_error("\"a\" + 1"),
            "4: cannot add string \"a\" and number 1; '+' needs two numbers or two strings");
  EXPECT_EQ(compile_error("latency_ms + name"),
            "11: cannot add number 'latency_ms' and string 'name'; '+' needs two numbers or two "
            "strings");
  EXPECT_EQ(compile_error("flag && latency_ms"),
            "8: operator '&&' needs bool operands (conditions); got number 'latency_ms'");
  EXPECT_EQ(compile_error("name || flag"),
            "0: operator '||' needs bool operands (conditions); got string 'name'");
  EXPECT_EQ(compile_error("!latency_ms"),
            "1: operator '!' needs bool operands (conditions); got number 'latency_ms'");
  EXPECT_EQ(compile_error("flag && 1"),
            "8: operator '&&' needs bool operands (conditions); got number 1");
  EXPECT_EQ(compile_error("len(5)"), "4: function 'len' needs a string argument; got number 5");
  EXPECT_EQ(compile_error("lower(latency_ms)"),
            "6: function 'lower' needs a string argument; got number 'latency_ms'");
  EXPECT_EQ(compile_error("contains(name, latency_ms * 2)"),
            "26: function 'contains' needs string arguments; got number 'latency_ms * 2'");
  EXPECT_EQ(compile_error("upper(flag)"),
            "6: function 'upper' needs a string argument; got bool 'flag'");
  EXPECT_EQ(compile_error("lower(name, name)"), "0: function 'lower' takes 1 argument, got 2");
  EXPECT_EQ(compile_error("contains(name)"), "0: function 'contains' takes 2 arguments, got 1");
  EXPECT_EQ(compile_error("len()"), "0: function 'len' takes 1 argument, got 0");
  EXPECT_EQ(compile_error("exists(latency_ms + 1)"),
            "18: exists() takes a field name, e.g. exists(user.id)");
  EXPECT_EQ(compile_error("exists(\"x\")"), "7: exists() takes a field name, e.g. exists(user.id)");
  // A field constrained by one use conflicts with a later use of the same expression.
  EXPECT_EQ(compile_error("z > 1 && z == \"a\""),
            "11: cannot compare number 'z' with string \"a\"");
  EXPECT_EQ(compile_error("y + 1 > 0 && lower(y) == \"a\""),
            "19: function 'lower' needs a string argument; got number 'y'");
}

TEST_F(ExprTest, ScopeErrorsArePropagatedWithThePosition) {
  scope_.add("page", ExprType::kString);
  scope_.closed = true;
  EXPECT_EQ(compile_error("pgae == \"x\""), "0: unknown field 'pgae'");
  EXPECT_EQ(compile_error("page == \"x\" && 1 + nope > 2"), "19: unknown field 'nope'");
  EXPECT_EQ(compile_error("exists(nope)"), "7: unknown field 'nope'");
  EXPECT_EQ(compile_error("$nope"), "0: unknown field '$nope'");
  scope_.closed = false;
  scope_.add("locked");
  scope_.locked.insert("locked");
  EXPECT_EQ(compile_error("1 + locked"), "4: field 'locked' cannot be used as number");
  EXPECT_EQ(compile_error("lower(locked)"), "6: field 'locked' cannot be used as string");
  EXPECT_EQ(compile_error("locked && true"), "0: field 'locked' cannot be used as bool");
  EXPECT_EQ(compile_error("locked == \"x\""), "0: field 'locked' cannot be used as string");
}

TEST_F(ExprTest, ConstraintsAreRecorded) {
  ASSERT_EQ(compile_error("a > 1 && lower(b) == \"x\" && c"), "compiled");
  std::vector<std::pair<std::string, ExprType>> want = {
      {"a", ExprType::kNumber}, {"b", ExprType::kString}, {"c", ExprType::kBool}};
  EXPECT_EQ(scope_.constraints, want);
}

TEST_F(ExprTest, CompileDepthIsBounded) {
  // A hand-built tree deeper than the parser allows is rejected, not overflowed.
  auto root = std::make_unique<ExprNode>();
  root->kind = ExprNode::Kind::kField;
  root->name = "x";
  for (int i = 0; i < 1000; ++i) {
    auto n = std::make_unique<ExprNode>();
    n->kind = ExprNode::Kind::kUnary;
    n->name = "-";
    n->pos = static_cast<size_t>(i);
    n->args.push_back(std::move(root));
    root = std::move(n);
  }
  ExprError err;
  EXPECT_FALSE(CompiledExpr::compile(*root, scope_, &err));
  EXPECT_EQ(err.message, "expression is nested too deeply (more than 256 levels)");
}

// ------------------------------------------------------------------------------------------
// Allocation and threads
// ------------------------------------------------------------------------------------------

TEST_F(ExprTest, EvalAllocatesNothingButArenaStrings) {
  set("type", Value::string("view"));
  set("latency_ms", Value::integer(12));
  set("page", Value::string("Home"));
  ExprError err;
  auto filter = compile("type == \"view\" && latency_ms >= 0", &err);
  auto concat = compile("lower(page) + \"/\" + type", &err);
  auto math = compile("latency_ms * 3 / 2 + len(page) - (latency_ms % 5)", &err);
  ASSERT_TRUE(filter && concat && math);
  // Warm the arena: its first block is allocated once, then kept across reset().
  (void)concat->eval(slots_.data(), arena_);
  arena_.reset();
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(filter->eval(slots_.data(), arena_).truthy());
    EXPECT_EQ(concat->eval(slots_.data(), arena_).sv(), "home/view");
    EXPECT_EQ(math->eval(slots_.data(), arena_).i, 18 + 4 - 2);
    arena_.reset();
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST_F(ExprTest, ConcurrentEvaluation) {
  set("a", Value::string("abc"));
  set("n", Value::integer(7));
  ExprError err;
  auto e = compile("upper(a) + \"-\" + lower(\"X\") == \"ABC-x\" && n * 6 == 42", &err);
  ASSERT_TRUE(e) << err.message;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Arena arena;
      for (int i = 0; i < 20000; ++i) {
        if (!e->eval(slots_.data(), arena).truthy()) bad.fetch_add(1);
        if (i % 100 == 0) arena.reset();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ------------------------------------------------------------------------------------------
// Randomized differential test against a reference evaluator
// ------------------------------------------------------------------------------------------

// A random expression over the int fields x0..x3 (x3 is often null), printed as text and
// evaluated both by spate and by the reference below, written independently with 128-bit integers.
struct RNode {
  enum Kind { kLit, kField, kNeg, kArith, kCmp, kAnd, kOr, kNot } kind = kLit;
  int64_t lit = 0;
  int field = 0;
  char op = '+';    // kArith: + - * / %
  std::string cmp;  // kCmp
  std::unique_ptr<RNode> a, b;
};

// 128-bit integers hold every exact int64 result of + - * /, so overflow is a range check.
__extension__ typedef __int128 Wide;

struct RVal {
  enum Kind { kNull, kInt, kDouble, kBool } kind = kNull;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  double num() const { return kind == kInt ? static_cast<double>(i) : d; }
  bool is_num() const { return kind == kInt || kind == kDouble; }
};

class RandomExprs {
 public:
  explicit RandomExprs(uint32_t seed) : rng_(seed) {}

  std::unique_ptr<RNode> number(int depth) {
    auto n = std::make_unique<RNode>();
    int pick = depth <= 0 ? static_cast<int>(rng_() % 2) : static_cast<int>(rng_() % 8);
    if (pick == 0) {
      n->kind = RNode::kLit;
      n->lit = literal();
    } else if (pick == 1) {
      n->kind = RNode::kField;
      n->field = static_cast<int>(rng_() % 4);
    } else if (pick == 2) {
      n->kind = RNode::kNeg;
      n->a = number(depth - 1);
    } else {
      n->kind = RNode::kArith;
      n->op = "+-*/%"[rng_() % 5];
      n->a = number(depth - 1);
      n->b = number(depth - 1);
    }
    return n;
  }

  std::unique_ptr<RNode> condition(int depth) {
    auto n = std::make_unique<RNode>();
    int pick = depth <= 0 ? 0 : static_cast<int>(rng_() % 6);
    if (pick <= 2) {
      static const char* kCmps[] = {"==", "!=", "<", "<=", ">", ">="};
      n->kind = RNode::kCmp;
      n->cmp = kCmps[rng_() % 6];
      n->a = number(depth - 1);
      n->b = number(depth - 1);
    } else if (pick == 3) {
      n->kind = RNode::kNot;
      n->a = condition(depth - 1);
    } else {
      n->kind = pick == 4 ? RNode::kAnd : RNode::kOr;
      n->a = condition(depth - 1);
      n->b = condition(depth - 1);
    }
    return n;
  }

  int64_t literal() {
    switch (rng_() % 8) {
      case 0:
        return 0;
      case 1:
        return kMax - static_cast<int64_t>(rng_() % 3);
      case 2:
        return -kMax + static_cast<int64_t>(rng_() % 3);
      case 3:
        return static_cast<int64_t>(rng_() % 2 == 0 ? 1 : -1) << (rng_() % 63);
      default:
        return static_cast<int64_t>(rng_() % 21) - 10;
    }
  }

  Value field_value(bool may_be_null) {
    if (may_be_null && rng_() % 3 == 0) return Value::null();
    switch (rng_() % 6) {
      case 0:
        return Value::integer(kMin);
      case 1:
        return Value::integer(kMax);
      case 2:
        return Value::integer(static_cast<int64_t>(rng_()) << 31);
      default:
        return Value::integer(static_cast<int64_t>(rng_() % 41) - 20);
    }
  }

 private:
  std::mt19937 rng_;
};

std::string print(const RNode& n) {
  switch (n.kind) {
    case RNode::kLit:
      return n.lit < 0 ? fmt::format("(-{})", -n.lit) : fmt::format("{}", n.lit);
    case RNode::kField:
      return fmt::format("x{}", n.field);
    case RNode::kNeg:
      return fmt::format("-({})", print(*n.a));
    case RNode::kArith:
      return fmt::format("({} {} {})", print(*n.a), n.op, print(*n.b));
    case RNode::kCmp:
      return fmt::format("({} {} {})", print(*n.a), n.cmp, print(*n.b));
    case RNode::kAnd:
      return fmt::format("({} && {})", print(*n.a), print(*n.b));
    case RNode::kOr:
      return fmt::format("({} || {})", print(*n.a), print(*n.b));
    case RNode::kNot:
      return fmt::format("!({})", print(*n.a));
  }
  return "?";
}

RVal r_int(Wide v, double fallback) {
  RVal r;
  if (v >= kMin && v <= kMax) {
    r.kind = RVal::kInt;
    r.i = static_cast<int64_t>(v);
  } else {
    r.kind = RVal::kDouble;
    r.d = fallback;
  }
  return r;
}
RVal r_double(double d) {
  RVal r;
  r.kind = RVal::kDouble;
  r.d = d;
  return r;
}
RVal r_bool(bool b) {
  RVal r;
  r.kind = RVal::kBool;
  r.b = b;
  return r;
}

RVal reference(const RNode& n, const std::vector<Value>& fields) {
  switch (n.kind) {
    case RNode::kLit:
      return r_int(n.lit, 0);
    case RNode::kField: {
      const Value& v = fields[static_cast<size_t>(n.field)];
      if (v.is_null()) return RVal{};
      return r_int(v.i, 0);
    }
    case RNode::kNeg: {
      RVal a = reference(*n.a, fields);
      if (a.kind == RVal::kInt) return r_int(-static_cast<Wide>(a.i), -static_cast<double>(a.i));
      if (a.kind == RVal::kDouble) return r_double(-a.d);
      return RVal{};
    }
    case RNode::kArith: {
      RVal a = reference(*n.a, fields);
      RVal b = reference(*n.b, fields);
      if (!a.is_num() || !b.is_num()) return RVal{};
      if (a.kind == RVal::kInt && b.kind == RVal::kInt) {
        Wide x = a.i, y = b.i;
        double dx = static_cast<double>(a.i), dy = static_cast<double>(b.i);
        switch (n.op) {
          case '+':
            return r_int(x + y, dx + dy);
          case '-':
            return r_int(x - y, dx - dy);
          case '*':
            return r_int(x * y, dx * dy);
          case '/':
            if (y == 0) return RVal{};
            if (x % y == 0) return r_int(x / y, dx / dy);
            return r_double(dx / dy);
          case '%':
            if (y == 0) return RVal{};
            return r_int(x % y, 0);
        }
      }
      double x = a.num(), y = b.num();
      switch (n.op) {
        case '+':
          return r_double(x + y);
        case '-':
          return r_double(x - y);
        case '*':
          return r_double(x * y);
        case '/':
          return y == 0 ? RVal{} : r_double(x / y);
        case '%':
          return y == 0 ? RVal{} : r_double(std::fmod(x, y));
      }
      return RVal{};
    }
    case RNode::kCmp: {
      RVal a = reference(*n.a, fields);
      RVal b = reference(*n.b, fields);
      if (!a.is_num() || !b.is_num()) return r_bool(false);
      int c;  // -1, 0, 1, or 2 when unordered
      if (a.kind == RVal::kInt && b.kind == RVal::kInt) {
        c = a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
      } else {
        double x = a.num(), y = b.num();
        c = x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
      }
      if (n.cmp == "==") return r_bool(c == 0);
      if (n.cmp == "!=") return r_bool(c != 0);
      if (c == 2) return r_bool(false);
      if (n.cmp == "<") return r_bool(c < 0);
      if (n.cmp == "<=") return r_bool(c <= 0);
      if (n.cmp == ">") return r_bool(c > 0);
      return r_bool(c >= 0);
    }
    case RNode::kAnd: {
      RVal a = reference(*n.a, fields);
      RVal b = reference(*n.b, fields);
      return r_bool(a.kind == RVal::kBool && a.b && b.kind == RVal::kBool && b.b);
    }
    case RNode::kOr: {
      RVal a = reference(*n.a, fields);
      RVal b = reference(*n.b, fields);
      return r_bool((a.kind == RVal::kBool && a.b) || (b.kind == RVal::kBool && b.b));
    }
    case RNode::kNot: {
      RVal a = reference(*n.a, fields);
      return r_bool(!(a.kind == RVal::kBool && a.b));
    }
  }
  return RVal{};
}

std::string show(const RVal& v) {
  switch (v.kind) {
    case RVal::kNull:
      return "null";
    case RVal::kInt:
      return fmt::format("int:{}", v.i);
    case RVal::kDouble:
      return fmt::format("double:{}", v.d);
    case RVal::kBool:
      return v.b ? "bool:true" : "bool:false";
  }
  return "?";
}

TEST(ExprDifferential, RandomArithmeticAndComparisons) {
  RandomExprs gen(20240611);
  int cases = 0;
  int ints = 0, doubles = 0, nulls = 0, trues = 0, falses = 0;
  for (int e = 0; e < 3000; ++e) {
    std::unique_ptr<RNode> tree = e % 2 == 0 ? gen.number(1 + e % 5) : gen.condition(1 + e % 5);
    const std::string text = print(*tree);
    TestScope scope;
    for (int f = 0; f < 4; ++f) scope.add(fmt::format("x{}", f));
    ExprError err;
    auto node = parse_expr(text, &err);
    ASSERT_TRUE(node) << text << ": " << err.message;
    auto expr = CompiledExpr::compile(*node, scope, &err);
    ASSERT_TRUE(expr) << text << ": " << err.message;
    Arena arena;
    for (int run = 0; run < 4; ++run) {
      std::vector<Value> slots(4);
      for (int f = 0; f < 4; ++f) slots[static_cast<size_t>(f)] = gen.field_value(f == 3);
      const std::string want = show(reference(*tree, slots));
      const std::string got = show(expr->eval(slots.data(), arena));
      ASSERT_EQ(got, want) << text << " with x0=" << show(slots[0]) << " x1=" << show(slots[1])
                           << " x2=" << show(slots[2]) << " x3=" << show(slots[3]);
      ++cases;
      ints += want.starts_with("int:");
      doubles += want.starts_with("double:");
      nulls += want == "null";
      trues += want == "bool:true";
      falses += want == "bool:false";
    }
  }
  EXPECT_EQ(cases, 12000);
  // The generator reaches every kind of result (so overflow, division and null paths ran).
  EXPECT_GT(ints, 500);
  EXPECT_GT(doubles, 500);
  EXPECT_GT(nulls, 500);
  EXPECT_GT(trues, 500);
  EXPECT_GT(falses, 500);
}

}  // namespace
}  // namespace spate
