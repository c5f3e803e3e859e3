#include "spate/core/expr.h"

#include "spate/common/did_you_mean.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <tuple>

namespace spate {

const char* expr_type_name(ExprType t) {
  switch (t) {
    case ExprType::kAny:
      return "any";
    case ExprType::kNull:
      return "null";
    case ExprType::kBool:
      return "bool";
    case ExprType::kNumber:
      return "number";
    case ExprType::kString:
      return "string";
  }
  return "?";
}

namespace {

// Deepest tree the parser accepts. Parsing, compiling, evaluating and destroying a tree all
// recurse over it, so this bounds their stack use (fuzzers and hostile configs included).
constexpr int kMaxDepth = 256;

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "column 5" or "line 2, column 3" (1-based) for the byte offset pos of text.
std::string where(std::string_view text, size_t pos) {
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  if (line == 1) return fmt::format("column {}", pos + 1);
  return fmt::format("line {}, column {}", line, pos - line_start + 1);
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

enum class Tok : uint8_t {
  kEnd,
  kError,  // the lexer failed; the error is already recorded
  kNumber,
  kString,
  kIdent,
  kMeta,  // $name
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kNot,
  kAssign,  // '=': keyword arguments only
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;
  size_t end = 0;    // one past the last byte
  std::string text;  // identifier / metadata name ("$x"), decoded string
  Value number;      // kNumber
  bool is_duration = false;
};

class Lexer {
 public:
  Lexer(std::string_view text, ExprError* error) : text_(text), error_(error) {}

  bool failed() const { return failed_; }

  Token next() {
    while (i_ < text_.size() &&
           (text_[i_] == ' ' || text_[i_] == '\t' || text_[i_] == '\n' || text_[i_] == '\r')) {
      ++i_;
    }
    Token t;
    t.pos = i_;
    if (i_ >= text_.size()) {
      t.kind = Tok::kEnd;
      t.end = i_;
      return t;
    }
    char c = text_[i_];
    if (is_digit(c)) return lex_number(t);
    if (c == '"' || c == '\'') return lex_string(t);
    if (is_ident_start(c)) {
      size_t j = i_;
      while (j < text_.size() && is_ident_char(text_[j])) ++j;
      t.kind = Tok::kIdent;
      t.text.assign(text_.substr(i_, j - i_));
      i_ = t.end = j;
      return t;
    }
    if (c == '$') {
      size_t j = i_ + 1;
      if (j >= text_.size() || !is_ident_start(text_[j])) {
        return fail(t, i_, "expected a metadata name after '$', e.g. $remote_ip");
      }
      while (j < text_.size() && is_ident_char(text_[j])) ++j;
      t.kind = Tok::kMeta;
      t.text.assign(text_.substr(i_, j - i_));
      i_ = t.end = j;
      return t;
    }
    char n = i_ + 1 < text_.size() ? text_[i_ + 1] : '\0';
    auto one = [&](Tok k) {
      t.kind = k;
      i_ += 1;
      t.end = i_;
      return t;
    };
    auto two = [&](Tok k) {
      t.kind = k;
      i_ += 2;
      t.end = i_;
      return t;
    };
    switch (c) {
      case '(':
        return one(Tok::kLParen);
      case ')':
        return one(Tok::kRParen);
      case '[':
        return one(Tok::kLBracket);
      case ']':
        return one(Tok::kRBracket);
      case ',':
        return one(Tok::kComma);
      case '.':
        return one(Tok::kDot);
      case '+':
        return one(Tok::kPlus);
      case '-':
        return one(Tok::kMinus);
      case '*':
        return one(Tok::kStar);
      case '/':
        return one(Tok::kSlash);
      case '%':
        return one(Tok::kPercent);
      case '=':
        return n == '=' ? two(Tok::kEq) : one(Tok::kAssign);
      case '!':
        return n == '=' ? two(Tok::kNe) : one(Tok::kNot);
      case '<':
        return n == '=' ? two(Tok::kLe) : one(Tok::kLt);
      case '>':
        return n == '=' ? two(Tok::kGe) : one(Tok::kGt);
      case '&':
        if (n == '&') return two(Tok::kAnd);
        return fail(t, i_, "'&' is not an operator; use '&&'");
      case '|':
        if (n == '|') return two(Tok::kOr);
        return fail(t, i_, "'|' is not an operator; use '||'");
      default:
        break;
    }
    // Quote the whole UTF-8 sequence of a non-ASCII character; control bytes in hex.
    auto uc = static_cast<unsigned char>(c);
    if (uc < 0x20 || uc == 0x7F) {
      return fail(t, i_, fmt::format("unexpected character 0x{:02X}", static_cast<int>(uc)));
    }
    size_t len = 1;
    if (uc >= 0xC0) {
      while (i_ + len < text_.size() && len < 4 &&
             (static_cast<unsigned char>(text_[i_ + len]) & 0xC0) == 0x80) {
        ++len;
      }
    }
    return fail(t, i_, fmt::format("unexpected character '{}'", text_.substr(i_, len)));
  }

 private:
  Token fail(Token& t, size_t pos, std::string message) {
    failed_ = true;
    error_->pos = pos;
    error_->message = std::move(message);
    t.kind = Tok::kError;
    t.end = pos;
    i_ = text_.size();
    return t;
  }

  Token lex_number(Token& t) {
    size_t j = i_;
    bool is_real = false;
    while (j < text_.size() && is_digit(text_[j])) ++j;
    if (j < text_.size() && text_[j] == '.') {
      if (j + 1 >= text_.size() || !is_digit(text_[j + 1])) {
        return fail(t, i_,
                    fmt::format("invalid number '{}': expected digits after '.'",
                                text_.substr(i_, j + 1 - i_)));
      }
      is_real = true;
      ++j;
      while (j < text_.size() && is_digit(text_[j])) ++j;
    }
    if (j < text_.size() && (text_[j] == 'e' || text_[j] == 'E')) {
      size_t k = j + 1;
      if (k < text_.size() && (text_[k] == '+' || text_[k] == '-')) ++k;
      if (k < text_.size() && is_digit(text_[k])) {
        is_real = true;
        j = k;
        while (j < text_.size() && is_digit(text_[j])) ++j;
      }
    }
    const size_t num_end = j;
    while (j < text_.size() && is_ident_char(text_[j])) ++j;
    std::string_view digits = text_.substr(i_, num_end - i_);
    std::string_view unit = text_.substr(num_end, j - num_end);
    std::string_view whole = text_.substr(i_, j - i_);

    int64_t iv = 0;
    double dv = 0;
    if (!is_real) {
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), iv);
      if (r.ec != std::errc()) is_real = true;  // beyond int64: a double
    }
    if (is_real) {
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), dv);
      if (r.ec != std::errc() || !std::isfinite(dv)) {
        return fail(t, i_, fmt::format("number '{}' is out of range", digits));
      }
    }
    t.kind = Tok::kNumber;
    if (unit.empty()) {
      t.number = is_real ? Value::real(dv) : Value::integer(iv);
    } else {
      int64_t scale = 0;
      if (unit == "ms")
        scale = 1;
      else if (unit == "s")
        scale = 1000;
      else if (unit == "m")
        scale = 60 * 1000;
      else if (unit == "h")
        scale = 60 * 60 * 1000;
      else if (unit == "d")
        scale = 24 * 60 * 60 * 1000;
      if (scale == 0) {
        return fail(
            t, num_end,
            fmt::format("unknown unit '{}' in '{}'; durations use ms, s, m, h or d", unit, whole));
      }
      int64_t ms = 0;
      if (!is_real) {
        if (__builtin_mul_overflow(iv, scale, &ms)) {
          return fail(t, i_, fmt::format("duration '{}' is too large", whole));
        }
      } else {
        double x = dv * static_cast<double>(scale);
        if (!(x < 9.2e18)) return fail(t, i_, fmt::format("duration '{}' is too large", whole));
        if (x != std::floor(x)) {
          return fail(t, i_,
                      fmt::format("duration '{}' is not a whole number of milliseconds", whole));
        }
        ms = static_cast<int64_t>(x);
      }
      t.number = Value::integer(ms);
      t.is_duration = true;
    }
    i_ = t.end = j;
    return t;
  }

  Token lex_string(Token& t) {
    const char quote = text_[i_];
    size_t j = i_ + 1;
    std::string out;
    while (true) {
      if (j >= text_.size()) return fail(t, i_, "unterminated string");
      char c = text_[j];
      if (c == quote) break;
      if (c == '\\') {
        if (j + 1 >= text_.size()) return fail(t, i_, "unterminated string");
        char e = text_[j + 1];
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\'':
            out += '\'';
            break;
          case '\\':
            out += '\\';
            break;
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          default:
            return fail(t, j,
                        fmt::format("unknown escape '\\{}' in string; use \\\", \\', \\\\, \\n "
                                    "or \\t",
                                    e));
        }
        j += 2;
        continue;
      }
      out += c;
      ++j;
    }
    t.kind = Tok::kString;
    t.text = std::move(out);
    i_ = t.end = j + 1;
    return t;
  }

  std::string_view text_;
  ExprError* error_;
  size_t i_ = 0;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

const char* binary_op_name(Tok k) {
  switch (k) {
    case Tok::kPlus:
      return "+";
    case Tok::kMinus:
      return "-";
    case Tok::kStar:
      return "*";
    case Tok::kSlash:
      return "/";
    case Tok::kPercent:
      return "%";
    case Tok::kEq:
      return "==";
    case Tok::kNe:
      return "!=";
    case Tok::kLt:
      return "<";
    case Tok::kLe:
      return "<=";
    case Tok::kGt:
      return ">";
    case Tok::kGe:
      return ">=";
    case Tok::kAnd:
      return "&&";
    case Tok::kOr:
      return "||";
    default:
      return nullptr;
  }
}

bool is_comparison(Tok k) {
  return k == Tok::kEq || k == Tok::kNe || k == Tok::kLt || k == Tok::kLe || k == Tok::kGt ||
         k == Tok::kGe;
}

// A parsed subtree and its height (the parser bounds heights by kMaxDepth).
struct Parsed {
  std::unique_ptr<ExprNode> node;
  int height = 0;
  explicit operator bool() const { return node != nullptr; }
};

class Parser {
 public:
  Parser(std::string_view text, ExprError* error)
      : text_(text), error_(error), lexer_(text, error) {}

  std::unique_ptr<ExprNode> parse() {
    if (peek().kind == Tok::kEnd) {
      fail(0, "empty expression");
      return nullptr;
    }
    Parsed p = parse_or(0);
    if (!p) return nullptr;
    const Token& t = peek();
    if (t.kind != Tok::kEnd) {
      fail_at(t, fmt::format("unexpected {}; expected an operator or the end of the expression",
                             describe(t)));
      return nullptr;
    }
    return std::move(p.node);
  }

 private:
  const Token& peek(size_t k = 0) {
    while (ahead_.size() <= k) {
      if (!ahead_.empty() && ahead_.back().kind == Tok::kError) return ahead_.back();
      ahead_.push_back(lexer_.next());
    }
    return ahead_[k];
  }
  Token take() {
    peek();
    Token t = std::move(ahead_.front());
    ahead_.pop_front();
    return t;
  }

  // Records the first error only (a lexer error found while peeking comes first).
  void fail(size_t pos, std::string message) {
    if (failed_ || lexer_.failed()) return;
    failed_ = true;
    error_->pos = pos;
    error_->message = std::move(message);
  }
  // An error about token t; '=' gets the dedicated hint, lexer errors are already recorded.
  void fail_at(const Token& t, std::string message) {
    if (t.kind == Tok::kError) {
      failed_ = true;
      return;
    }
    if (t.kind == Tok::kAssign) message = "'=' is not an operator; use '==' to compare";
    fail(t.pos, std::move(message));
  }

  std::string describe(const Token& t) const {
    if (t.kind == Tok::kEnd) return "end of expression";
    std::string_view src = text_.substr(t.pos, t.end - t.pos);
    if (t.kind == Tok::kString) return fmt::format("string {}", src);
    if (t.kind == Tok::kNumber) return fmt::format("number '{}'", src);
    if (t.kind == Tok::kIdent) return fmt::format("name '{}'", src);
    return fmt::format("'{}'", src);
  }

  static std::unique_ptr<ExprNode> node(ExprNode::Kind kind, size_t pos) {
    auto n = std::make_unique<ExprNode>();
    n->kind = kind;
    n->pos = pos;
    return n;
  }

  bool check_height(int height, size_t pos) {
    if (height <= kMaxDepth) return true;
    fail(pos, fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
    return false;
  }

  Parsed binary(const char* op, size_t pos, Parsed lhs, Parsed rhs) {
    int height = 1 + std::max(lhs.height, rhs.height);
    if (!check_height(height, pos)) return {};
    auto n = node(ExprNode::Kind::kBinary, pos);
    n->name = op;
    n->args.push_back(std::move(lhs.node));
    n->args.push_back(std::move(rhs.node));
    return {std::move(n), height};
  }

  Parsed unary(const char* op, size_t pos, Parsed operand) {
    int height = 1 + operand.height;
    if (!check_height(height, pos)) return {};
    auto n = node(ExprNode::Kind::kUnary, pos);
    n->name = op;
    n->args.push_back(std::move(operand.node));
    return {std::move(n), height};
  }

  // Each recursive rule takes the current nesting depth; the recursion (parentheses, unary
  // operators, calls, lists) stops at kMaxDepth before the stack can overflow.
  Parsed parse_or(int depth) {
    if (depth > kMaxDepth) {
      fail(peek().pos,
           fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
      return {};
    }
    Parsed lhs = parse_and(depth);
    while (lhs && peek().kind == Tok::kOr) {
      size_t pos = take().pos;
      Parsed rhs = parse_and(depth);
      if (!rhs) return {};
      lhs = binary("||", pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Parsed parse_and(int depth) {
    Parsed lhs = parse_not(depth);
    while (lhs && peek().kind == Tok::kAnd) {
      size_t pos = take().pos;
      Parsed rhs = parse_not(depth);
      if (!rhs) return {};
      lhs = binary("&&", pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Parsed parse_not(int depth) {
    if (peek().kind == Tok::kNot) {
      size_t pos = take().pos;
      if (depth + 1 > kMaxDepth) return too_deep(pos);
      Parsed operand = parse_not(depth + 1);
      if (!operand) return {};
      return unary("!", pos, std::move(operand));
    }
    return parse_cmp(depth);
  }

  Parsed parse_cmp(int depth) {
    Parsed lhs = parse_add(depth);
    if (!lhs || !is_comparison(peek().kind)) return lhs;
    Token op = take();
    Parsed rhs = parse_add(depth);
    if (!rhs) return {};
    if (is_comparison(peek().kind)) {
      fail(peek().pos,
           "comparisons cannot be chained; combine them with '&&', e.g. "
           "a < b && b < c");
      return {};
    }
    return binary(binary_op_name(op.kind), op.pos, std::move(lhs), std::move(rhs));
  }

  Parsed parse_add(int depth) {
    Parsed lhs = parse_mul(depth);
    while (lhs && (peek().kind == Tok::kPlus || peek().kind == Tok::kMinus)) {
      Token op = take();
      Parsed rhs = parse_mul(depth);
      if (!rhs) return {};
      lhs = binary(binary_op_name(op.kind), op.pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Parsed parse_mul(int depth) {
    Parsed lhs = parse_unary(depth);
    while (lhs && (peek().kind == Tok::kStar || peek().kind == Tok::kSlash ||
                   peek().kind == Tok::kPercent)) {
      Token op = take();
      Parsed rhs = parse_unary(depth);
      if (!rhs) return {};
      lhs = binary(binary_op_name(op.kind), op.pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Parsed parse_unary(int depth) {
    if (peek().kind == Tok::kMinus) {
      size_t pos = take().pos;
      if (depth + 1 > kMaxDepth) return too_deep(pos);
      Parsed operand = parse_unary(depth + 1);
      if (!operand) return {};
      return unary("-", pos, std::move(operand));
    }
    return parse_primary(depth);
  }

  Parsed too_deep(size_t pos) {
    fail(pos, fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
    return {};
  }

  Parsed parse_primary(int depth) {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::kError:
        failed_ = true;
        return {};
      case Tok::kEnd:
        fail(t.pos, "unexpected end of expression");
        return {};
      case Tok::kNumber: {
        Token tok = take();
        auto n = node(ExprNode::Kind::kLiteral, tok.pos);
        n->literal = tok.number;
        n->is_duration = tok.is_duration;
        return {std::move(n), 1};
      }
      case Tok::kString: {
        Token tok = take();
        auto n = node(ExprNode::Kind::kLiteral, tok.pos);
        n->literal_storage = std::move(tok.text);
        n->literal = Value::string(n->literal_storage);
        return {std::move(n), 1};
      }
      case Tok::kMeta: {
        Token tok = take();
        auto n = node(ExprNode::Kind::kField, tok.pos);
        n->name = std::move(tok.text);
        return {std::move(n), 1};
      }
      case Tok::kIdent:
        return parse_name(depth);
      case Tok::kLParen: {
        Token open = take();
        if (depth + 1 > kMaxDepth) return too_deep(open.pos);
        Parsed inner = parse_or(depth + 1);
        if (!inner) return {};
        if (peek().kind != Tok::kRParen) {
          fail_at(peek(), fmt::format("expected ')' to close '(' at {}", where(text_, open.pos)));
          return {};
        }
        take();
        return inner;
      }
      case Tok::kLBracket:
        return parse_list(depth);
      default:
        fail_at(t, fmt::format("expected a value but found {}", describe(t)));
        return {};
    }
  }

  Parsed parse_name(int depth) {
    Token first = take();
    if (first.text == "true" || first.text == "false" || first.text == "null") {
      auto n = node(ExprNode::Kind::kLiteral, first.pos);
      if (first.text != "null") n->literal = Value::boolean(first.text == "true");
      return {std::move(n), 1};
    }
    if (peek().kind == Tok::kLParen) return parse_call(std::move(first), depth);
    auto n = node(ExprNode::Kind::kField, first.pos);
    n->name = std::move(first.text);
    while (peek().kind == Tok::kDot) {
      take();
      if (peek().kind != Tok::kIdent) {
        fail_at(peek(),
                fmt::format("expected a field name after '.' but found {}", describe(peek())));
        return {};
      }
      n->name += '.';
      n->name += take().text;
    }
    if (peek().kind == Tok::kLParen) {
      fail(peek().pos,
           fmt::format("'{}' is not a function name (function names have no '.')", n->name));
      return {};
    }
    return {std::move(n), 1};
  }

  Parsed parse_call(Token name, int depth) {
    Token open = take();  // '('
    if (depth + 1 > kMaxDepth) return too_deep(open.pos);
    auto n = node(ExprNode::Kind::kCall, name.pos);
    n->name = std::move(name.text);
    int height = 1;
    if (peek().kind == Tok::kRParen) {
      take();
      return {std::move(n), height};
    }
    while (true) {
      const Token& t = peek();
      if (t.kind == Tok::kIdent && peek(1).kind == Tok::kAssign) {
        Token key = take();
        take();  // '='
        for (const auto& kw : n->kwargs) {
          if (kw.first == key.text) {
            fail(key.pos, fmt::format("duplicate keyword argument '{}'", key.text));
            return {};
          }
        }
        Parsed value = parse_or(depth + 1);
        if (!value) return {};
        height = std::max(height, 1 + value.height);
        n->kwargs.emplace_back(std::move(key.text), std::move(value.node));
      } else {
        if (!n->kwargs.empty() && t.kind != Tok::kError) {
          fail(t.pos, "positional argument after keyword argument");
          return {};
        }
        Parsed arg = parse_or(depth + 1);
        if (!arg) return {};
        height = std::max(height, 1 + arg.height);
        n->args.push_back(std::move(arg.node));
      }
      if (peek().kind == Tok::kComma) {
        take();
        continue;
      }
      if (peek().kind == Tok::kRParen) {
        take();
        break;
      }
      fail_at(peek(),
              fmt::format("expected ',' or ')' to close '(' at {}", where(text_, open.pos)));
      return {};
    }
    if (!check_height(height, n->pos)) return {};
    return {std::move(n), height};
  }

  Parsed parse_list(int depth) {
    Token open = take();  // '['
    if (depth + 1 > kMaxDepth) return too_deep(open.pos);
    auto n = node(ExprNode::Kind::kList, open.pos);
    int height = 1;
    if (peek().kind == Tok::kRBracket) {
      take();
      return {std::move(n), height};
    }
    while (true) {
      Parsed item = parse_or(depth + 1);
      if (!item) return {};
      height = std::max(height, 1 + item.height);
      n->args.push_back(std::move(item.node));
      if (peek().kind == Tok::kComma) {
        take();
        continue;
      }
      if (peek().kind == Tok::kRBracket) {
        take();
        break;
      }
      fail_at(peek(),
              fmt::format("expected ',' or ']' to close '[' at {}", where(text_, open.pos)));
      return {};
    }
    if (!check_height(height, n->pos)) return {};
    return {std::move(n), height};
  }

  std::string_view text_;
  ExprError* error_;
  Lexer lexer_;
  std::deque<Token> ahead_;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Printing (for error messages)
// ---------------------------------------------------------------------------------------------

int precedence(const ExprNode& n) {
  if (n.kind == ExprNode::Kind::kUnary) return n.name == "!" ? 3 : 7;
  if (n.kind != ExprNode::Kind::kBinary) return 8;
  const std::string& op = n.name;
  if (op == "||") return 1;
  if (op == "&&") return 2;
  if (op == "+" || op == "-") return 5;
  if (op == "*" || op == "/" || op == "%") return 6;
  return 4;  // comparisons
}

void print_node(const ExprNode& n, std::string& out, int min_prec);

void print_literal(const ExprNode& n, std::string& out) {
  const Value& v = n.literal;
  if (n.is_duration && v.type == ValueType::kInt) {
    static constexpr std::pair<int64_t, const char*> kUnits[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (const auto& [ms, unit] : kUnits) {
      if (v.i != 0 && v.i % ms == 0) {
        fmt::format_to(std::back_inserter(out), "{}{}", v.i / ms, unit);
        return;
      }
    }
    fmt::format_to(std::back_inserter(out), "{}ms", v.i);
    return;
  }
  switch (v.type) {
    case ValueType::kNull:
      out += "null";
      break;
    case ValueType::kBool:
      out += v.b ? "true" : "false";
      break;
    case ValueType::kInt:
      fmt::format_to(std::back_inserter(out), "{}", v.i);
      break;
    case ValueType::kDouble:
      fmt::format_to(std::back_inserter(out), "{}", v.d);
      break;
    case ValueType::kString:
      append_json_string(out, v.sv());
      break;
  }
}

void print_node(const ExprNode& n, std::string& out, int min_prec) {
  const int prec = precedence(n);
  const bool parens = prec < min_prec;
  if (parens) out += '(';
  switch (n.kind) {
    case ExprNode::Kind::kLiteral:
      print_literal(n, out);
      break;
    case ExprNode::Kind::kField:
      out += n.name;
      break;
    case ExprNode::Kind::kUnary:
      out += n.name;
      if (!n.args.empty()) print_node(*n.args[0], out, prec);
      break;
    case ExprNode::Kind::kBinary:
      if (n.args.size() == 2) {
        // Left-associative levels; comparisons do not chain, so both sides bind tighter.
        print_node(*n.args[0], out, prec == 4 ? 5 : prec);
        out += ' ';
        out += n.name;
        out += ' ';
        print_node(*n.args[1], out, prec + 1);
      }
      break;
    case ExprNode::Kind::kCall: {
      out += n.name;
      out += '(';
      bool first = true;
      for (const auto& a : n.args) {
        if (!first) out += ", ";
        first = false;
        print_node(*a, out, 0);
      }
      for (const auto& [key, value] : n.kwargs) {
        if (!first) out += ", ";
        first = false;
        out += key;
        out += '=';
        print_node(*value, out, 0);
      }
      out += ')';
      break;
    }
    case ExprNode::Kind::kList: {
      out += '[';
      for (size_t i = 0; i < n.args.size(); ++i) {
        if (i > 0) out += ", ";
        print_node(*n.args[i], out, 0);
      }
      out += ']';
      break;
    }
  }
  if (parens) out += ')';
}

// "number 'latency_ms'", "string \"x\"", "number 5", "bool 'a > 1'".
std::string describe(const ExprNode& n, ExprType t) {
  std::string text;
  print_node(n, text, 0);
  if (n.kind == ExprNode::Kind::kLiteral) {
    if (n.literal.is_null()) return "null";
    return fmt::format("{} {}", expr_type_name(t), text);
  }
  return fmt::format("{} '{}'", expr_type_name(t), text);
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

// Instructions. The comparison and arithmetic families are laid out in Cmp / Arith order so
// that an opcode is its family's first member plus the operator.
enum class Op : uint8_t {
  kLiteral,
  kField,
  kExists,  // slot
  kNeg,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kNot,
  kAnd,
  kOr,
  kEq,  // a <op> b
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kFieldEqStr,  // slot == / != string literal
  kFieldNeStr,
  kFieldEqInt,  // slot <op> int literal
  kFieldNeInt,
  kFieldLtInt,
  kFieldLeInt,
  kFieldGtInt,
  kFieldGeInt,
  kFieldEq,  // slot <op> other literal
  kFieldNe,
  kFieldLt,
  kFieldLe,
  kFieldGt,
  kFieldGe,
  kContains,
  kStartsWith,
  kEndsWith,
  kLower,
  kUpper,
  kLen,
};

enum Arith : uint8_t { kAdd, kSub, kMul, kDiv, kMod };
enum Cmp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

Op op_of(Op family, uint8_t member) {
  return static_cast<Op>(static_cast<uint8_t>(family) + member);
}

Cmp mirror(Cmp c) {
  switch (c) {
    case kLt:
      return kGt;
    case kLe:
      return kGe;
    case kGt:
      return kLt;
    case kGe:
      return kLe;
    default:
      return c;
  }
}

struct Instr;
// An instruction's value, and its truthiness (without making a Value for conditions).
using EvalFn = Value (*)(const Instr& in, const Value* slots, Arena& arena);
using TestFn = bool (*)(const Instr& in, const Value* slots, Arena& arena);

// One node of the flattened tree. Each node calls its own small function through a pointer:
// leaves need no stack frame, and there is no central switch to pay for.
struct Instr {
  EvalFn eval = nullptr;  // set by Program::link()
  TestFn test = nullptr;
  const Instr* pa = nullptr;  // operands, set by Program::link()
  const Instr* pb = nullptr;
  Op op = Op::kLiteral;
  int32_t a = -1;     // first operand (index into the program)
  int32_t b = -1;     // second operand
  int32_t slot = -1;  // kField, kExists, kField<cmp>*
  Value lit;          // kLiteral, kField<cmp>*
};

template <Cmp C, typename T>
inline bool ordered(T x, T y) {
  if constexpr (C == kEq) return x == y;
  if constexpr (C == kNe) return x != y;
  if constexpr (C == kLt) return x < y;
  if constexpr (C == kLe) return x <= y;
  if constexpr (C == kGt) return x > y;
  if constexpr (C == kGe) return x >= y;
}

inline bool same_string(const Value& x, const Value& y) {
  return x.len == y.len && (x.len == 0 || std::memcmp(x.str, y.str, x.len) == 0);
}

// Comparison semantics: null compares false (also !=); ints compare exactly, other numbers as
// doubles (NaN: only != is true); strings bytewise; bools by == and != only; values of different
// kinds are unequal and unordered.
template <Cmp C>
[[gnu::noinline]] bool compare_any(const Value& x, const Value& y) {
  if (x.type == ValueType::kInt && y.type == ValueType::kInt) return ordered<C>(x.i, y.i);
  if (x.type == ValueType::kString && y.type == ValueType::kString) {
    if constexpr (C == kEq) return same_string(x, y);
    if constexpr (C == kNe) return !same_string(x, y);
    return ordered<C>(x.sv().compare(y.sv()), 0);
  }
  if (x.is_null() || y.is_null()) return false;
  if (x.is_number() && y.is_number()) return ordered<C>(x.as_double(), y.as_double());
  if (x.type == ValueType::kBool && y.type == ValueType::kBool) {
    if constexpr (C == kEq || C == kNe) return ordered<C>(x.b, y.b);
    return false;
  }
  return C == kNe;  // different kinds
}

// compare_any() with the int case inline.
template <Cmp C>
inline bool compare(const Value& x, const Value& y) {
  if (x.type == ValueType::kInt && y.type == ValueType::kInt) [[likely]] {
    return ordered<C>(x.i, y.i);
  }
  return compare_any<C>(x, y);
}

template <Arith A>
Value arith_double(double x, double y) {
  if constexpr (A == kAdd) return Value::real(x + y);
  if constexpr (A == kSub) return Value::real(x - y);
  if constexpr (A == kMul) return Value::real(x * y);
  if constexpr (A == kDiv) return y == 0 ? Value::null() : Value::real(x / y);
  if constexpr (A == kMod) return y == 0 ? Value::null() : Value::real(std::fmod(x, y));
}

Value concat(const Value& x, const Value& y, Arena& arena) {
  if (y.len == 0) return x;
  if (x.len == 0) return y;
  const uint64_t n = uint64_t{x.len} + y.len;
  if (n > std::numeric_limits<uint32_t>::max()) return Value::null();
  char* p = arena.allocate(n);
  std::memcpy(p, x.str, x.len);
  std::memcpy(p + x.len, y.str, y.len);
  return Value::string({p, static_cast<size_t>(n)});
}

// int op int stays int unless it overflows (then the double result); '/' of ints is an int only
// when exact; by zero gives null; '+' of two strings concatenates; other kinds give null.
template <Arith A>
[[gnu::noinline]] Value arith_any(const Value& x, const Value& y, Arena& arena) {
  if (x.type == ValueType::kInt && y.type == ValueType::kInt) {
    int64_t r;
    if constexpr (A == kAdd) {
      if (!__builtin_add_overflow(x.i, y.i, &r)) return Value::integer(r);
    } else if constexpr (A == kSub) {
      if (!__builtin_sub_overflow(x.i, y.i, &r)) return Value::integer(r);
    } else if constexpr (A == kMul) {
      if (!__builtin_mul_overflow(x.i, y.i, &r)) return Value::integer(r);
    } else if constexpr (A == kDiv) {
      if (y.i == 0) return Value::null();
      // INT64_MIN / -1 overflows: falls through to the double.
      if (!(y.i == -1 && x.i == std::numeric_limits<int64_t>::min()) && x.i % y.i == 0) {
        return Value::integer(x.i / y.i);
      }
    } else {
      if (y.i == 0) return Value::null();
      if (y.i == -1) return Value::integer(0);  // INT64_MIN % -1 is undefined in C++
      return Value::integer(x.i % y.i);
    }
    return arith_double<A>(static_cast<double>(x.i), static_cast<double>(y.i));
  }
  if (x.is_number() && y.is_number()) return arith_double<A>(x.as_double(), y.as_double());
  if constexpr (A == kAdd) {
    if (x.type == ValueType::kString && y.type == ValueType::kString) return concat(x, y, arena);
  }
  return Value::null();
}

// arith_any() with + - * of ints that do not overflow inline.
template <Arith A>
inline Value arith(const Value& x, const Value& y, Arena& arena) {
  if constexpr (A == kAdd || A == kSub || A == kMul) {
    int64_t r;
    if (x.type == ValueType::kInt && y.type == ValueType::kInt) [[likely]] {
      bool overflow = A == kAdd   ? __builtin_add_overflow(x.i, y.i, &r)
                      : A == kSub ? __builtin_sub_overflow(x.i, y.i, &r)
                                  : __builtin_mul_overflow(x.i, y.i, &r);
      if (!overflow) [[likely]]
        return Value::integer(r);
    }
  }
  return arith_any<A>(x, y, arena);
}

Value negate(const Value& x) {
  if (x.type == ValueType::kInt) {
    if (x.i == std::numeric_limits<int64_t>::min()) return Value::real(-static_cast<double>(x.i));
    return Value::integer(-x.i);
  }
  if (x.type == ValueType::kDouble) return Value::real(-x.d);
  return Value::null();
}

// ASCII-only case mapping; returns the input itself when nothing changes.
Value map_case(const Value& x, bool upper, Arena& arena) {
  if (x.type != ValueType::kString) return Value::null();
  const char lo = upper ? 'a' : 'A';
  const char hi = upper ? 'z' : 'Z';
  size_t i = 0;
  while (i < x.len && !(x.str[i] >= lo && x.str[i] <= hi)) ++i;
  if (i == x.len) return x;
  char* p = arena.allocate(x.len);
  std::memcpy(p, x.str, x.len);
  for (; i < x.len; ++i) {
    if (p[i] >= lo && p[i] <= hi) p[i] = static_cast<char>(p[i] ^ 0x20);
  }
  return Value::string({p, x.len});
}

// Unicode code points of UTF-8 text: the bytes that are not continuation bytes (10xxxxxx).
int64_t code_points(const Value& x) {
  int64_t n = 0;
  for (uint32_t i = 0; i < x.len; ++i) {
    n += (static_cast<unsigned char>(x.str[i]) & 0xC0) != 0x80;
  }
  return n;
}

}  // namespace

std::unique_ptr<ExprNode> parse_expr(std::string_view text, ExprError* error) {
  ExprError scratch;
  if (error == nullptr) error = &scratch;
  *error = ExprError{};
  Parser parser(text, error);
  return parser.parse();
}

// ---------------------------------------------------------------------------------------------
// CompiledExpr
// ---------------------------------------------------------------------------------------------

namespace {

// Instruction bodies; their operands are in.pa and in.pb.
// Literals and fields, the commonest operands, are read without a call.
inline Value operand_value(const Instr* x, const Value* s, Arena& arena) {
  if (x->op == Op::kField) return s[x->slot];
  if (x->op == Op::kLiteral) return x->lit;
  return x->eval(*x, s, arena);
}
bool operand_test(const Instr* x, const Value* s, Arena& arena) { return x->test(*x, s, arena); }

Value ev_literal(const Instr& in, const Value*, Arena&) { return in.lit; }
Value ev_field(const Instr& in, const Value* s, Arena&) { return s[in.slot]; }
Value ev_by_test(const Instr& in, const Value* s, Arena& arena) {
  return Value::boolean(in.test(in, s, arena));
}
bool t_by_eval(const Instr& in, const Value* s, Arena& arena) {
  return in.eval(in, s, arena).truthy();
}
bool t_field(const Instr& in, const Value* s, Arena&) { return s[in.slot].truthy(); }
bool t_exists(const Instr& in, const Value* s, Arena&) { return !s[in.slot].is_null(); }

Value ev_neg(const Instr& in, const Value* s, Arena& arena) {
  return negate(operand_value(in.pa, s, arena));
}
template <Arith A>
Value ev_arith(const Instr& in, const Value* s, Arena& arena) {
  return arith<A>(operand_value(in.pa, s, arena), operand_value(in.pb, s, arena), arena);
}

bool t_not(const Instr& in, const Value* s, Arena& arena) { return !operand_test(in.pa, s, arena); }
bool t_and(const Instr& in, const Value* s, Arena& arena) {
  return operand_test(in.pa, s, arena) && operand_test(in.pb, s, arena);
}
bool t_or(const Instr& in, const Value* s, Arena& arena) {
  return operand_test(in.pa, s, arena) || operand_test(in.pb, s, arena);
}
template <Cmp C>
bool t_cmp(const Instr& in, const Value* s, Arena& arena) {
  return compare<C>(operand_value(in.pa, s, arena), operand_value(in.pb, s, arena));
}
bool t_field_eq_str(const Instr& in, const Value* s, Arena&) {
  const Value& x = s[in.slot];
  return x.type == ValueType::kString && same_string(x, in.lit);
}
bool t_field_ne_str(const Instr& in, const Value* s, Arena&) {
  const Value& x = s[in.slot];
  if (x.type == ValueType::kString) return !same_string(x, in.lit);
  return x.type != ValueType::kNull;  // another kind: unequal
}
template <Cmp C>
bool t_field_int(const Instr& in, const Value* s, Arena&) {
  return compare<C>(s[in.slot], in.lit);  // the literal is an int: one branch when s is too
}
template <Cmp C>
bool t_field_lit(const Instr& in, const Value* s, Arena&) {
  return compare_any<C>(s[in.slot], in.lit);
}

template <Op F>
Value ev_match(const Instr& in, const Value* s, Arena& arena) {
  Value x = operand_value(in.pa, s, arena);
  Value y = operand_value(in.pb, s, arena);
  if (!x.is_string() || !y.is_string()) return Value::null();
  std::string_view a = x.sv();
  std::string_view b = y.sv();
  if constexpr (F == Op::kContains) return Value::boolean(a.find(b) != std::string_view::npos);
  if constexpr (F == Op::kStartsWith) return Value::boolean(a.starts_with(b));
  if constexpr (F == Op::kEndsWith) return Value::boolean(a.ends_with(b));
}
template <bool Upper>
Value ev_case(const Instr& in, const Value* s, Arena& arena) {
  return map_case(operand_value(in.pa, s, arena), Upper, arena);
}
Value ev_len(const Instr& in, const Value* s, Arena& arena) {
  Value x = operand_value(in.pa, s, arena);
  if (!x.is_string()) return Value::null();
  return Value::integer(code_points(x));
}

// The functions of an opcode: a value function and a truth function.
std::pair<EvalFn, TestFn> functions_of(Op op) {
  switch (op) {
    case Op::kLiteral:
      return {ev_literal, t_by_eval};
    case Op::kField:
      return {ev_field, t_field};
    case Op::kExists:
      return {ev_by_test, t_exists};
    case Op::kNeg:
      return {ev_neg, t_by_eval};
    case Op::kAdd:
      return {ev_arith<kAdd>, t_by_eval};
    case Op::kSub:
      return {ev_arith<kSub>, t_by_eval};
    case Op::kMul:
      return {ev_arith<kMul>, t_by_eval};
    case Op::kDiv:
      return {ev_arith<kDiv>, t_by_eval};
    case Op::kMod:
      return {ev_arith<kMod>, t_by_eval};
    case Op::kNot:
      return {ev_by_test, t_not};
    case Op::kAnd:
      return {ev_by_test, t_and};
    case Op::kOr:
      return {ev_by_test, t_or};
    case Op::kEq:
      return {ev_by_test, t_cmp<kEq>};
    case Op::kNe:
      return {ev_by_test, t_cmp<kNe>};
    case Op::kLt:
      return {ev_by_test, t_cmp<kLt>};
    case Op::kLe:
      return {ev_by_test, t_cmp<kLe>};
    case Op::kGt:
      return {ev_by_test, t_cmp<kGt>};
    case Op::kGe:
      return {ev_by_test, t_cmp<kGe>};
    case Op::kFieldEqStr:
      return {ev_by_test, t_field_eq_str};
    case Op::kFieldNeStr:
      return {ev_by_test, t_field_ne_str};
    case Op::kFieldEqInt:
      return {ev_by_test, t_field_int<kEq>};
    case Op::kFieldNeInt:
      return {ev_by_test, t_field_int<kNe>};
    case Op::kFieldLtInt:
      return {ev_by_test, t_field_int<kLt>};
    case Op::kFieldLeInt:
      return {ev_by_test, t_field_int<kLe>};
    case Op::kFieldGtInt:
      return {ev_by_test, t_field_int<kGt>};
    case Op::kFieldGeInt:
      return {ev_by_test, t_field_int<kGe>};
    case Op::kFieldEq:
      return {ev_by_test, t_field_lit<kEq>};
    case Op::kFieldNe:
      return {ev_by_test, t_field_lit<kNe>};
    case Op::kFieldLt:
      return {ev_by_test, t_field_lit<kLt>};
    case Op::kFieldLe:
      return {ev_by_test, t_field_lit<kLe>};
    case Op::kFieldGt:
      return {ev_by_test, t_field_lit<kGt>};
    case Op::kFieldGe:
      return {ev_by_test, t_field_lit<kGe>};
    case Op::kContains:
      return {ev_match<Op::kContains>, t_by_eval};
    case Op::kStartsWith:
      return {ev_match<Op::kStartsWith>, t_by_eval};
    case Op::kEndsWith:
      return {ev_match<Op::kEndsWith>, t_by_eval};
    case Op::kLower:
      return {ev_case<false>, t_by_eval};
    case Op::kUpper:
      return {ev_case<true>, t_by_eval};
    case Op::kLen:
      return {ev_len, t_by_eval};
  }
  return {ev_literal, t_by_eval};
}

// The flattened tree: operands come before their users, the root is last.
struct Program {
  std::vector<Instr> code;
  std::vector<std::unique_ptr<std::string>> strings;  // storage of string literals

  Program() {
    code.emplace_back();  // a null literal until compiled
    link();
  }

  // Sets the functions and operand pointers of every instruction; again after code changes.
  void link() {
    for (Instr& in : code) {
      std::tie(in.eval, in.test) = functions_of(in.op);
      in.pa = in.a >= 0 ? &code[static_cast<size_t>(in.a)] : nullptr;
      in.pb = in.b >= 0 ? &code[static_cast<size_t>(in.b)] : nullptr;
    }
  }

  Value eval(int32_t i, const Value* s, Arena& arena) const {
    const Instr& in = code[static_cast<size_t>(i)];
    return in.eval(in, s, arena);
  }
};

struct Function {
  const char* name;
  Op op;
  int arity;
  ExprType result;
};

constexpr Function kFunctions[] = {
    {"contains", Op::kContains, 2, ExprType::kBool},
    {"ends_with", Op::kEndsWith, 2, ExprType::kBool},
    {"exists", Op::kExists, 1, ExprType::kBool},
    {"len", Op::kLen, 1, ExprType::kNumber},
    {"lower", Op::kLower, 1, ExprType::kString},
    {"starts_with", Op::kStartsWith, 2, ExprType::kBool},
    {"upper", Op::kUpper, 1, ExprType::kString},
};

// Walks an ExprNode tree: binds fields, checks types, emits the program (folding constants).
class Compiler {
 public:
  Compiler(FieldScope& scope, ExprError* error, Program& impl)
      : scope_(scope), error_(error), impl_(impl) {}

  // The compiled subtree: its instruction, static type and, for a bare field, its slot.
  struct Out {
    int32_t idx = -1;
    ExprType type = ExprType::kAny;
    int slot = -1;
  };

  bool build(const ExprNode& n, int depth, Out* out) {
    if (depth > kMaxDepth) {
      return fail(n.pos,
                  fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
    }
    const size_t start = impl_.code.size();
    switch (n.kind) {
      case ExprNode::Kind::kLiteral:
        return literal(n.literal, out);
      case ExprNode::Kind::kField:
        return field(n, out);
      case ExprNode::Kind::kList:
        return fail(n.pos, "lists are only allowed as aggregate arguments");
      case ExprNode::Kind::kUnary:
        return unary(n, depth, start, out);
      case ExprNode::Kind::kBinary:
        return binary(n, depth, start, out);
      case ExprNode::Kind::kCall:
        return call(n, depth, start, out);
    }
    return fail(n.pos, "invalid expression node");
  }

 private:
  bool fail(size_t pos, std::string message) {
    error_->pos = pos;
    error_->message = std::move(message);
    return false;
  }

  int32_t emit(const Instr& in) {
    impl_.code.push_back(in);
    return static_cast<int32_t>(impl_.code.size() - 1);
  }

  bool literal(const Value& v, Out* out) {
    Instr in;
    in.op = Op::kLiteral;
    in.lit = v;
    if (v.is_string()) {
      impl_.strings.push_back(std::make_unique<std::string>(v.sv()));
      in.lit = Value::string(*impl_.strings.back());
    }
    out->idx = emit(in);
    switch (v.type) {
      case ValueType::kNull:
        out->type = ExprType::kNull;
        break;
      case ValueType::kBool:
        out->type = ExprType::kBool;
        break;
      case ValueType::kInt:
      case ValueType::kDouble:
        out->type = ExprType::kNumber;
        break;
      case ValueType::kString:
        out->type = ExprType::kString;
        break;
    }
    return true;
  }

  bool field(const ExprNode& n, Out* out) {
    std::string msg;
    int slot = scope_.resolve(n.name, &msg);
    if (slot < 0) {
      return fail(n.pos, msg.empty() ? fmt::format("unknown field '{}'", n.name) : msg);
    }
    Instr in;
    in.op = Op::kField;
    in.slot = slot;
    out->idx = emit(in);
    out->type = scope_.type_of(slot);
    out->slot = slot;
    return true;
  }

  const ExprNode& operand(const ExprNode& n, size_t i) { return *n.args[i]; }

  // Uses o as type want: a bare field is constrained through the scope. REQUIRES: o.type is
  // want, kAny or kNull.
  bool bind(Out& o, const ExprNode& n, ExprType want) {
    if (o.slot < 0 || o.type == ExprType::kNull) return true;
    std::string msg;
    if (!scope_.constrain(o.slot, want, &msg)) {
      return fail(n.pos, msg.empty() ? fmt::format("field '{}' cannot be used as {}", n.name,
                                                   expr_type_name(want))
                                     : msg);
    }
    o.type = want;
    return true;
  }

  static bool fits(ExprType have, ExprType want) {
    return have == want || have == ExprType::kAny || have == ExprType::kNull;
  }

  bool want_number(Out& o, const ExprNode& n, const std::string& op) {
    if (!fits(o.type, ExprType::kNumber)) {
      return fail(n.pos,
                  fmt::format("operator '{}' needs numbers; got {}", op, describe(n, o.type)));
    }
    return bind(o, n, ExprType::kNumber);
  }

  bool want_bool(Out& o, const ExprNode& n, const std::string& op) {
    if (!fits(o.type, ExprType::kBool)) {
      return fail(n.pos, fmt::format("operator '{}' needs bool operands (conditions); got {}", op,
                                     describe(n, o.type)));
    }
    return bind(o, n, ExprType::kBool);
  }

  bool is_literal(int32_t idx) const {
    return impl_.code[static_cast<size_t>(idx)].op == Op::kLiteral;
  }

  // Replaces the instructions from start on (a subtree of constants) by its value.
  void fold(size_t start, Out* out) {
    Arena arena;
    impl_.link();
    Value v = impl_.eval(out->idx, nullptr, arena);
    impl_.code.resize(start);
    ExprType type = out->type;
    literal(v, out);
    out->type = type;  // static type of the expression (e.g. number for 1 / 0)
    out->slot = -1;
  }

  bool unary(const ExprNode& n, int depth, size_t start, Out* out) {
    if (n.args.size() != 1) return fail(n.pos, "invalid unary expression");
    Out a;
    if (!build(operand(n, 0), depth + 1, &a)) return false;
    Instr in;
    in.a = a.idx;
    if (n.name == "-") {
      if (!want_number(a, operand(n, 0), n.name)) return false;
      in.op = Op::kNeg;
      out->type = ExprType::kNumber;
    } else if (n.name == "!") {
      if (!want_bool(a, operand(n, 0), n.name)) return false;
      in.op = Op::kNot;
      out->type = ExprType::kBool;
    } else {
      return fail(n.pos, fmt::format("unknown unary operator '{}'", n.name));
    }
    out->idx = emit(in);
    if (is_literal(a.idx)) fold(start, out);
    return true;
  }

  bool binary(const ExprNode& n, int depth, size_t start, Out* out) {
    if (n.args.size() != 2) return fail(n.pos, "invalid binary expression");
    const ExprNode& ln = operand(n, 0);
    const ExprNode& rn = operand(n, 1);
    Out l, r;
    if (!build(ln, depth + 1, &l) || !build(rn, depth + 1, &r)) return false;
    const std::string& op = n.name;
    Instr in;
    in.a = l.idx;
    in.b = r.idx;

    if (op == "&&" || op == "||") {
      if (!want_bool(l, ln, op) || !want_bool(r, rn, op)) return false;
      in.op = op == "&&" ? Op::kAnd : Op::kOr;
      out->type = ExprType::kBool;
    } else if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
      out->type = ExprType::kNumber;
      if (op == "+" && (l.type == ExprType::kString || r.type == ExprType::kString)) {
        if (!fits(l.type, ExprType::kString) || !fits(r.type, ExprType::kString)) {
          return fail(n.pos, fmt::format("cannot add {} and {}; '+' needs two numbers or two "
                                         "strings",
                                         describe(ln, l.type), describe(rn, r.type)));
        }
        if (!bind(l, ln, ExprType::kString) || !bind(r, rn, ExprType::kString)) return false;
        out->type = ExprType::kString;
      } else {
        if (!want_number(l, ln, op) || !want_number(r, rn, op)) return false;
      }
      Arith a = op == "+" ? kAdd : op == "-" ? kSub : op == "*" ? kMul : op == "/" ? kDiv : kMod;
      in.op = op_of(Op::kAdd, a);
    } else if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
      if (!comparison(n, l, r)) return false;
      Cmp c = op == "=="   ? kEq
              : op == "!=" ? kNe
              : op == "<"  ? kLt
              : op == "<=" ? kLe
              : op == ">"  ? kGt
                           : kGe;
      in.op = op_of(Op::kEq, c);
      out->type = ExprType::kBool;
      // field <op> constant: one instruction, specialised by the constant's kind.
      const Instr& li = impl_.code[static_cast<size_t>(l.idx)];
      const Instr& ri = impl_.code[static_cast<size_t>(r.idx)];
      if ((li.op == Op::kField && ri.op == Op::kLiteral) ||
          (li.op == Op::kLiteral && ri.op == Op::kField)) {
        const bool field_left = li.op == Op::kField;
        const Cmp fc = field_left ? c : mirror(c);
        Instr fused;
        fused.slot = field_left ? li.slot : ri.slot;
        fused.lit = field_left ? ri.lit : li.lit;  // strings stay in impl_.strings
        if (fused.lit.type == ValueType::kString && (fc == kEq || fc == kNe)) {
          fused.op = fc == kEq ? Op::kFieldEqStr : Op::kFieldNeStr;
        } else if (fused.lit.type == ValueType::kInt) {
          fused.op = op_of(Op::kFieldEqInt, fc);
        } else {
          fused.op = op_of(Op::kFieldEq, fc);
        }
        impl_.code.resize(start);
        out->idx = emit(fused);
        return true;
      }
    } else {
      return fail(n.pos, fmt::format("unknown operator '{}'", op));
    }
    out->idx = emit(in);
    if (is_literal(l.idx) && is_literal(r.idx)) fold(start, out);
    return true;
  }

  bool comparison(const ExprNode& n, Out& l, Out& r) {
    const ExprNode& ln = operand(n, 0);
    const ExprNode& rn = operand(n, 1);
    const std::string& op = n.name;
    if (l.type == ExprType::kNull || r.type == ExprType::kNull) {
      return fail(n.pos,
                  "comparing with null is always false; use exists(field) to test "
                  "whether a field is present");
    }
    const bool ordering = op != "==" && op != "!=";
    if (ordering) {
      for (auto [o, on] : {std::pair<Out*, const ExprNode*>{&l, &ln}, {&r, &rn}}) {
        if (o->type == ExprType::kBool) {
          return fail(n.pos, fmt::format("operator '{}' needs two numbers or two strings; got {}",
                                         op, describe(*on, o->type)));
        }
      }
    }
    if (l.type != ExprType::kAny && r.type != ExprType::kAny) {
      if (l.type != r.type) {
        return fail(n.pos, fmt::format("cannot compare {} with {}", describe(ln, l.type),
                                       describe(rn, r.type)));
      }
      // Known on both sides: record the use of bare fields.
      return bind(l, ln, l.type) && bind(r, rn, r.type);
    }
    // A side of unknown type takes the type of the other side.
    if (l.type == ExprType::kAny && r.type != ExprType::kAny) {
      return bind(l, ln, r.type) && bind(r, rn, r.type);
    }
    if (r.type == ExprType::kAny && l.type != ExprType::kAny) {
      return bind(l, ln, l.type) && bind(r, rn, l.type);
    }
    return true;  // both unknown: compared at run time
  }

  bool call(const ExprNode& n, int depth, size_t start, Out* out) {
    const Function* fn = nullptr;
    for (const Function& f : kFunctions) {
      if (n.name == f.name) fn = &f;
    }
    if (fn == nullptr) {
      const char* best = nullptr;
      size_t best_d = 3;
      for (const Function& f : kFunctions) {
        size_t d = edit_distance(n.name, f.name);
        if (d < best_d) {
          best_d = d;
          best = f.name;
        }
      }
      if (best != nullptr) {
        return fail(n.pos, fmt::format("unknown function '{}'; did you mean '{}'?", n.name, best));
      }
      std::string names;
      for (const Function& f : kFunctions) {
        if (!names.empty()) names += ", ";
        names += f.name;
      }
      return fail(n.pos, fmt::format("unknown function '{}'; functions are {}", n.name, names));
    }
    if (!n.kwargs.empty()) {
      return fail(n.kwargs.front().second->pos,
                  fmt::format("keyword argument '{}': keyword arguments are only allowed in "
                              "aggregate calls",
                              n.kwargs.front().first));
    }
    if (n.args.size() != static_cast<size_t>(fn->arity)) {
      return fail(n.pos, fmt::format("function '{}' takes {} argument{}, got {}", fn->name,
                                     fn->arity, fn->arity == 1 ? "" : "s", n.args.size()));
    }
    Instr in;
    in.op = fn->op;
    out->type = fn->result;
    if (fn->op == Op::kExists) {
      const ExprNode& a = operand(n, 0);
      if (a.kind != ExprNode::Kind::kField) {
        return fail(a.pos, "exists() takes a field name, e.g. exists(user.id)");
      }
      std::string msg;
      int slot = scope_.resolve(a.name, &msg);
      if (slot < 0) {
        return fail(a.pos, msg.empty() ? fmt::format("unknown field '{}'", a.name) : msg);
      }
      in.slot = slot;
      out->idx = emit(in);
      return true;
    }
    bool all_literal = true;
    for (size_t i = 0; i < n.args.size(); ++i) {
      const ExprNode& an = operand(n, i);
      Out a;
      if (!build(an, depth + 1, &a)) return false;
      if (!fits(a.type, ExprType::kString)) {
        return fail(an.pos, fmt::format("function '{}' needs {}; got {}", fn->name,
                                        fn->arity == 1 ? "a string argument" : "string arguments",
                                        describe(an, a.type)));
      }
      if (!bind(a, an, ExprType::kString)) return false;
      (i == 0 ? in.a : in.b) = a.idx;
      all_literal = all_literal && is_literal(a.idx);
    }
    out->idx = emit(in);
    if (all_literal) fold(start, out);
    return true;
  }

  FieldScope& scope_;
  ExprError* error_;
  Program& impl_;
};

}  // namespace

struct CompiledExpr::Impl {
  Program program;
  const Instr* root = &program.code[0];
  ExprType type = ExprType::kNull;
  int field_slot = -1;
};

CompiledExpr::CompiledExpr() : impl_(std::make_unique<Impl>()) {}
CompiledExpr::~CompiledExpr() = default;
CompiledExpr::CompiledExpr(CompiledExpr&&) noexcept = default;
CompiledExpr& CompiledExpr::operator=(CompiledExpr&&) noexcept = default;

std::optional<CompiledExpr> CompiledExpr::compile(const ExprNode& node, FieldScope& scope,
                                                  ExprError* error) {
  ExprError scratch;
  if (error == nullptr) error = &scratch;
  CompiledExpr expr;
  Impl& impl = *expr.impl_;
  impl.program.code.clear();
  Compiler compiler(scope, error, impl.program);
  Compiler::Out out;
  if (!compiler.build(node, 0, &out)) return std::nullopt;
  impl.program.link();
  impl.root = &impl.program.code[static_cast<size_t>(out.idx)];
  const Instr& root = *impl.root;
  if (root.op == Op::kField) {
    impl.field_slot = root.slot;
    impl.type = scope.type_of(root.slot);
  } else {
    impl.type = out.type;
  }
  return expr;
}

Value CompiledExpr::eval(const Value* slots, Arena& arena) const {
  const Instr& root = *impl_->root;
  return root.eval(root, slots, arena);
}

ExprType CompiledExpr::type() const { return impl_->type; }

int CompiledExpr::field_slot() const { return impl_->field_slot; }

}  // namespace spate
