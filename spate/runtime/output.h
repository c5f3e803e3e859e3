#pragma once
// Output side: result rows, their formats, and sinks.
//
// OutputRows: rows of named fields (one schema per batch). A field is a Value or preformatted
// JSON (nested results such as a top-k list). Strings live in the batch's arena.
// Formatter: turns rows into bytes (json lines, csv with a header row, text key=value).
// Sink: where bytes go (stdout, file, tcp). Sinks may block: that is backpressure.
// Thread-safety: a Sink and its Formatter belong to the collector thread.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spate/common/arena.h"
#include "spate/common/status.h"
#include "spate/core/value.h"

namespace spate {

struct OutField {
  Value value;
  bool raw_json = false;  // value is a string holding JSON text (object/array)
};

class OutputRows {
 public:
  void reset(std::shared_ptr<const std::vector<std::string>> names) {
    names_ = std::move(names);
    fields_.clear();
    rows_ = 0;
    arena_.reset();
  }
  const std::vector<std::string>& names() const { return *names_; }
  const std::shared_ptr<const std::vector<std::string>>& names_ptr() const { return names_; }
  size_t columns() const { return names_->size(); }
  size_t rows() const { return rows_; }
  void reserve(size_t rows) { fields_.reserve(rows * columns()); }
  OutField* add_row() {
    fields_.resize(fields_.size() + columns());
    ++rows_;
    return fields_.data() + (rows_ - 1) * columns();
  }
  OutField* row(size_t i) { return fields_.data() + i * columns(); }
  const OutField* row(size_t i) const { return fields_.data() + i * columns(); }
  Arena& arena() { return arena_; }
  // Reorders the rows in place: row i becomes the old row order[i] (order is a permutation; it
  // is consumed). Follows the permutation's cycles with one row of scratch, so a large result
  // does not allocate a second copy of its fields.
  void permute(std::vector<uint32_t>& order) {
    const size_t c = columns();
    std::vector<OutField> tmp(c);
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i] == i) continue;  // in place already (or placed by an earlier cycle)
      std::copy(row(i), row(i) + c, tmp.begin());
      size_t j = i;
      while (true) {
        const size_t k = order[j];
        order[j] = static_cast<uint32_t>(j);
        if (k == i) {
          std::copy(tmp.begin(), tmp.end(), row(j));
          break;
        }
        std::copy(row(k), row(k) + c, row(j));
        j = k;
      }
    }
  }

 private:
  std::shared_ptr<const std::vector<std::string>> names_ =
      std::make_shared<const std::vector<std::string>>();
  std::vector<OutField> fields_;
  size_t rows_ = 0;
  Arena arena_;
};

class Formatter {
 public:
  virtual ~Formatter() = default;
  // Appends row i of rows, with a trailing newline, to out (a CSV formatter also writes its
  // header row before the first row).
  virtual void format_row(const OutputRows& rows, size_t i, std::string& out) = 0;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status open() { return Status::ok(); }
  // Writes everything or fails; may block (backpressure).
  virtual Status write(std::string_view bytes) = 0;
  virtual Status flush() { return Status::ok(); }
  virtual Status close() { return flush(); }
  virtual std::string describe() const = 0;
};

}  // namespace spate
