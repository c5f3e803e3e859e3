#pragma once
// Test helpers for aggregate functions: compile an aggregate call against a scope where every
// field resolves to slot 0 with an unknown type (tests feed the argument values directly).

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "spate/core/expr.h"
#include "spate/runtime/aggregate.h"

namespace spate::test_util {

class AnyScope : public FieldScope {
 public:
  int resolve(std::string_view, std::string*) override { return 0; }
  bool constrain(int, ExprType, std::string*) override { return true; }
  ExprType type_of(int) const override { return ExprType::kAny; }
};

// Compiles an aggregate call such as "drift(x, method=adwin)". On a compile error returns null
// and, when error is given, stores the message there.
inline std::unique_ptr<AggregateFunction> compile(const std::string& text,
                                                  std::string* error = nullptr) {
  AnyScope scope;
  ExprError e;
  auto node = parse_expr(text, &e);
  EXPECT_TRUE(node) << e.message;
  if (!node) return nullptr;
  auto f = AggregateRegistry::builtin().compile(*node, scope, &e);
  if (error != nullptr) *error = e.message;
  return f;
}

}  // namespace spate::test_util
