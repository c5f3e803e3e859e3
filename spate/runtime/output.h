#pragma once
// Output side: result rows, their formats, and sinks.
//
// OutputRows: rows of named fields (one schema per batch). A field is a Value or preformatted
// JSON (nested results such as a top-k list). Strings live in the batch's arena.
// Formatter: turns rows into bytes (json lines, csv with a header row, text key=value).
// Sink: where bytes go (stdout, file, tcp). Sinks may block: that is backpressure.
// Thread-safety: a Sink and its Formatter belong to the collector thread.

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
  // Reorders the rows: row i becomes the old row order[i] (order is a permutation).
  void permute(const std::vector<uint32_t>& order) {
    std::vector<OutField> out;
    out.reserve(fields_.size());
    const size_t c = columns();
    for (uint32_t i : order) out.insert(out.end(), fields_.begin() + i * c, fields_.begin() + (i + 1) * c);
    fields_ = std::move(out);
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
