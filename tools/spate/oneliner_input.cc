#include "tools/spate/oneliner_input.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "spate/common/time.h"
#include "spate/io/csv.h"

namespace spate::cli {
namespace {

constexpr size_t kReadBytes = size_t{1} << 20;
constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

bool parse_number(std::string_view text, double* out) {
  text = trim(text);
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

LineReader::LineReader() : buf_(new char[kReadBytes + kPadding]), size_(kReadBytes) {
  std::memset(buf_.get(), 0, size_ + kPadding);
}

bool LineReader::read_fd(int fd, const LineFn& on_line, int64_t period_ms, const TickFn& on_tick,
                         std::string* error) {
  size_t begin = 0, end = 0;  // unconsumed bytes
  if (period_ms > 0 && next_tick_ns_ == 0) next_tick_ns_ = monotonic_ns() + period_ms * 1'000'000;
  auto emit = [&](const char* p, size_t len) {
    if (len > 0 && p[len - 1] == '\r') --len;
    on_line(p, len, static_cast<size_t>(buf_.get() + size_ + kPadding - p));
  };
  while (true) {
    if (period_ms > 0) {
      while (true) {
        const int64_t now = monotonic_ns();
        if (now >= next_tick_ns_) {
          on_tick();
          next_tick_ns_ += period_ms * 1'000'000;
          if (next_tick_ns_ <= now) next_tick_ns_ = now + period_ms * 1'000'000;
          continue;
        }
        pollfd p{fd, POLLIN, 0};
        const int wait_ms = static_cast<int>((next_tick_ns_ - now + 999'999) / 1'000'000);
        const int r = ::poll(&p, 1, wait_ms);
        if (r > 0) break;
        if (r < 0 && errno != EINTR) break;  // let read() report it
      }
    }
    // Make room: move the partial line to the front, grow when it fills the buffer.
    if (begin > 0) {
      std::memmove(buf_.get(), buf_.get() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (end == size_) {
      const size_t bigger = size_ * 2;
      std::unique_ptr<char[]> nb(new char[bigger + kPadding]);
      std::memcpy(nb.get(), buf_.get(), end);
      std::memset(nb.get() + end, 0, bigger + kPadding - end);
      buf_ = std::move(nb);
      size_ = bigger;
    }
    const ssize_t n = ::read(fd, buf_.get() + end, size_ - end);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = std::strerror(errno);
      return false;
    }
    if (n == 0) {
      if (end > begin) emit(buf_.get() + begin, end - begin);
      return true;
    }
    end += static_cast<size_t>(n);
    const char* base = buf_.get();
    while (begin < end) {
      const void* nl = std::memchr(base + begin, '\n', end - begin);
      if (nl == nullptr) break;
      const size_t pos = static_cast<size_t>(static_cast<const char*>(nl) - base);
      emit(base + begin, pos - begin);
      begin = pos + 1;
    }
  }
}

FieldExtractor::FieldExtractor(InputFormat format, const std::vector<std::string>& names)
    : format_(format), names_(names) {
  if (names.size() > kMaxSlots) throw std::invalid_argument("too many fields");
  for (const auto& n : names) {
    paths_.push_back(n.empty() ? std::vector<std::string>{} : split_path(n));
    if (format == InputFormat::kText && !n.empty() && n != "line") {
      throw std::invalid_argument("text input has one field, 'line' (got '" + n + "')");
    }
  }
}

ExtractOutcome FieldExtractor::extract(const char* line, size_t len, size_t capacity,
                                       size_t* missing_slot) {
  switch (format_) {
    case InputFormat::kJson:
      return extract_json(line, len, capacity, missing_slot);
    case InputFormat::kCsv:
      return extract_csv(line, len, missing_slot);
    case InputFormat::kText:
      for (size_t i = 0; i < names_.size(); ++i) {
        values_[i] = std::string_view(line, len);
        is_string_[i] = true;
      }
      return ExtractOutcome::kOk;
  }
  return ExtractOutcome::kMalformed;
}

ExtractOutcome FieldExtractor::extract_json(const char* line, size_t len, size_t capacity,
                                            size_t* missing) {
  using namespace simdjson;
  ondemand::document doc;
  if (parser_.iterate(line, len, capacity).get(doc) != SUCCESS) return ExtractOutcome::kMalformed;
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].empty()) continue;
    if (i > 0) doc.rewind();
    ondemand::object obj;
    if (doc.get_object().get(obj) != SUCCESS) return ExtractOutcome::kMalformed;
    ondemand::value v;
    const auto& path = paths_[i];
    for (size_t j = 0; j < path.size(); ++j) {
      const error_code e = obj.find_field_unordered(path[j]).get(v);
      if (e == NO_SUCH_FIELD) {
        *missing = i;
        return ExtractOutcome::kMissing;
      }
      if (e != SUCCESS) return ExtractOutcome::kMalformed;
      if (j + 1 < path.size() && v.get_object().get(obj) != SUCCESS) {
        *missing = i;
        return ExtractOutcome::kMissing;
      }
    }
    ondemand::json_type type;
    if (v.type().get(type) != SUCCESS) return ExtractOutcome::kMalformed;
    switch (type) {
      case ondemand::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s) != SUCCESS) return ExtractOutcome::kMalformed;
        copies_[i].assign(s.data(), s.size());
        values_[i] = copies_[i];
        is_string_[i] = true;
        break;
      }
      case ondemand::json_type::number:
      case ondemand::json_type::boolean:
        values_[i] = trim(v.raw_json_token());
        is_string_[i] = false;
        break;
      default:  // null, object, array: not a value to count
        *missing = i;
        return ExtractOutcome::kMissing;
    }
  }
  return ExtractOutcome::kOk;
}

ExtractOutcome FieldExtractor::extract_csv(const char* line, size_t len, size_t* missing) {
  arena_.reset();
  if (!split_csv(std::string_view(line, len), ',', &fields_, &arena_, &csv_error_)) {
    return have_header_ ? ExtractOutcome::kMalformed : ExtractOutcome::kHeader;
  }
  if (!have_header_) {
    have_header_ = true;
    for (size_t i = 0; i < names_.size(); ++i) {
      columns_[i] = -1;
      for (size_t c = 0; c < fields_.size(); ++c) {
        if (fields_[c] == names_[i]) columns_[i] = static_cast<int>(c);
      }
    }
    return ExtractOutcome::kHeader;
  }
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].empty()) continue;
    const int c = columns_[i];
    if (c < 0 || static_cast<size_t>(c) >= fields_.size()) {
      *missing = i;
      return ExtractOutcome::kMissing;
    }
    values_[i] = fields_[static_cast<size_t>(c)];
    is_string_[i] = true;
  }
  return ExtractOutcome::kOk;
}

}  // namespace spate::cli
