#include "spate/analytics/distribution_shift.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace spate {

namespace {

// An item's count interval in one window, as a share estimate and its error radius.
struct Share {
  double estimate = 0.0;
  double radius = 0.0;
};

Share share_of(const ItemCount* listed, const CategoryCounts& w) {
  const double n = static_cast<double>(w.total);
  double lo = 0.0;
  double hi = static_cast<double>(w.unlisted_max);
  if (listed != nullptr) {
    lo = static_cast<double>(listed->count - listed->error);
    hi = static_cast<double>(listed->count);
  }
  return Share{(lo + hi) / 2.0 / n, (hi - lo) / 2.0 / n};
}

bool certified(const ItemCount& c, const CategoryCounts& w, double min_share) {
  const uint64_t lower = c.count - c.error;
  return lower > w.unlisted_max &&
         static_cast<double>(lower) >= min_share * static_cast<double>(w.total);
}

double sampling_radius(double cells, double alpha, uint64_t n) {
  return std::sqrt((cells * std::log(2.0) + std::log(2.0 / alpha)) /
                   (2.0 * static_cast<double>(n)));
}

// Jensen-Shannon distance, base 2, of two non-negative vectors normalized to sum 1.
double js_distance(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0.0;
  double sq = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    sp += p[i];
    sq += q[i];
  }
  if (sp <= 0.0 || sq <= 0.0) return 0.0;
  double div = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double a = p[i] / sp;
    const double b = q[i] / sq;
    const double m = (a + b) / 2.0;
    if (a > 0.0) div += 0.5 * a * std::log2(a / m);
    if (b > 0.0) div += 0.5 * b * std::log2(b / m);
  }
  return std::sqrt(std::clamp(div, 0.0, 1.0));
}

void write_window(ByteWriter& w, const CategoryCounts& c) {
  w.varint(c.total);
  w.varint(c.unlisted_max);
  w.varint(c.items.size());
  for (const auto& [name, ic] : c.items) {
    w.str(name);
    w.varint(ic.count);
    w.varint(ic.error);
  }
}

bool read_window(ByteReader& r, CategoryCounts* c) {
  uint64_t n = 0;
  if (!r.varint(&c->total) || !r.varint(&c->unlisted_max) || !r.varint(&n)) return false;
  if (n > r.remaining() / 3) return false;  // each item takes at least 3 bytes
  c->items.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name;
    ItemCount ic;
    if (!r.str(&name) || !r.varint(&ic.count) || !r.varint(&ic.error)) return false;
    c->items.emplace_back(std::string(name), ic);
  }
  return validate_category_counts(*c).is_ok();
}

void write_changes(ByteWriter& w, const std::vector<ShareChange>& v) {
  w.varint(v.size());
  for (const ShareChange& c : v) {
    w.str(c.item);
    w.f64(c.before);
    w.f64(c.after);
  }
}

bool read_changes(ByteReader& r, std::vector<ShareChange>* v) {
  uint64_t n = 0;
  if (!r.varint(&n) || n > r.remaining() / 17) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name;
    ShareChange c;
    if (!r.str(&name) || !r.f64(&c.before) || !r.f64(&c.after)) return false;
    if (!(c.before >= 0.0 && c.before <= 1.0 && c.after >= 0.0 && c.after <= 1.0)) return false;
    c.item = std::string(name);
    v->push_back(std::move(c));
  }
  return true;
}

void write_report(ByteWriter& w, const ShiftReport& s) {
  w.u8(s.shift ? 1 : 0);
  w.f64(s.tv);
  w.f64(s.js);
  w.f64(s.threshold);
  w.f64(s.sketch_error);
  w.f64(s.sampling_error);
  w.varint(s.cells);
  write_changes(w, s.rising);
  write_changes(w, s.falling);
}

bool read_report(ByteReader& r, ShiftReport* s) {
  uint8_t shift = 0;
  if (!r.u8(&shift) || shift > 1 || !r.f64(&s->tv) || !r.f64(&s->js) || !r.f64(&s->threshold) ||
      !r.f64(&s->sketch_error) || !r.f64(&s->sampling_error) || !r.varint(&s->cells) ||
      s->cells == 0) {
    return false;
  }
  s->shift = shift == 1;
  for (double v : {s->tv, s->js, s->threshold, s->sketch_error, s->sampling_error}) {
    if (!(v >= 0.0) || !std::isfinite(v)) return false;
  }
  return read_changes(r, &s->rising) && read_changes(r, &s->falling);
}

bool read_optional_report(ByteReader& r, std::optional<ShiftReport>* out) {
  uint8_t has = 0;
  if (!r.u8(&has) || has > 1) return false;
  if (has == 0) return true;
  ShiftReport s;
  if (!read_report(r, &s)) return false;
  *out = std::move(s);
  return true;
}

}  // namespace

Status validate_category_counts(const CategoryCounts& w) {
  if (w.total == 0) return Status::invalid("distribution_shift: window total is 0");
  if (w.unlisted_max > w.total) {
    return Status::invalid("distribution_shift: unlisted_max exceeds the window total");
  }
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(w.items.size());
  uint64_t certain = 0;
  for (const auto& [name, c] : w.items) {
    if (c.error > c.count) {
      return Status::invalid("distribution_shift: error exceeds count for item '" + name + "'");
    }
    if (c.count > w.total) {
      return Status::invalid("distribution_shift: count exceeds total for item '" + name + "'");
    }
    if (!seen.emplace(name, 0).second) {
      return Status::invalid("distribution_shift: duplicate item '" + name + "'");
    }
    certain += c.count - c.error;
    if (certain > w.total) {
      return Status::invalid("distribution_shift: guaranteed counts sum above the window total");
    }
  }
  return Status::ok();
}

Status DistributionShift::validate(const DistributionShiftOptions& o) {
  if (!(o.alpha > 0.0 && o.alpha < 1.0)) {
    return Status::invalid("distribution_shift: alpha must be in (0, 1)");
  }
  if (!(o.min_share >= 0.0 && o.min_share <= 1.0)) {
    return Status::invalid("distribution_shift: min_share must be in [0, 1]");
  }
  return Status::ok();
}

DistributionShift::DistributionShift(DistributionShiftOptions options) : options_(options) {
  Status s = validate(options_);
  if (!s) throw std::invalid_argument(s.message());
}

Result<ShiftReport> DistributionShift::compare(const CategoryCounts& before,
                                               const CategoryCounts& after) const {
  if (Status s = validate_category_counts(before); !s) return s;
  if (Status s = validate_category_counts(after); !s) return s;

  // name -> (entry in before, entry in after); certified in either window decides the cells.
  struct Entry {
    const ItemCount* before = nullptr;
    const ItemCount* after = nullptr;
    bool certified = false;
  };
  std::unordered_map<std::string_view, Entry> entries;
  entries.reserve(before.items.size() + after.items.size());
  for (const auto& [name, c] : before.items) {
    Entry& e = entries[name];
    e.before = &c;
    e.certified = e.certified || certified(c, before, options_.min_share);
  }
  for (const auto& [name, c] : after.items) {
    Entry& e = entries[name];
    e.after = &c;
    e.certified = e.certified || certified(c, after, options_.min_share);
  }

  struct Cell {
    std::string_view name;
    double p = 0.0;
    double q = 0.0;
  };
  std::vector<Cell> cells;
  cells.reserve(entries.size());
  double sketch_error = 0.0;
  double sum_p = 0.0;
  double sum_q = 0.0;
  for (const auto& [name, e] : entries) {
    if (!e.certified) continue;
    const Share p = share_of(e.before, before);
    const Share q = share_of(e.after, after);
    sketch_error += p.radius + q.radius;
    sum_p += p.estimate;
    sum_q += q.estimate;
    cells.push_back(Cell{name, p.estimate, q.estimate});
  }
  // Deterministic order (the hash map's is not), so reports and ties are reproducible.
  std::sort(cells.begin(), cells.end(),
            [](const Cell& a, const Cell& b) { return a.name < b.name; });

  ShiftReport report;
  const double other_p = std::max(0.0, 1.0 - sum_p);
  const double other_q = std::max(0.0, 1.0 - sum_q);
  double l1 = std::abs(other_p - other_q);
  std::vector<double> pv;
  std::vector<double> qv;
  pv.reserve(cells.size() + 1);
  qv.reserve(cells.size() + 1);
  for (const Cell& c : cells) {
    l1 += std::abs(c.p - c.q);
    pv.push_back(c.p);
    qv.push_back(c.q);
  }
  pv.push_back(other_p);
  qv.push_back(other_q);
  report.cells = cells.size() + 1;
  report.tv = std::min(1.0, l1 / 2.0);
  report.js = js_distance(pv, qv);
  report.sketch_error = sketch_error;
  const double k = static_cast<double>(report.cells);
  report.sampling_error = sampling_radius(k, options_.alpha, before.total) +
                          sampling_radius(k, options_.alpha, after.total);
  report.threshold = report.sketch_error + report.sampling_error;
  report.shift = report.tv > report.threshold;

  // Top movers: stable sort by change, ties keep name order.
  std::vector<const Cell*> order;
  order.reserve(cells.size());
  for (const Cell& c : cells) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(),
                   [](const Cell* a, const Cell* b) { return a->q - a->p > b->q - b->p; });
  for (const Cell* c : order) {
    if (report.rising.size() == options_.top || c->q - c->p <= 0.0) break;
    report.rising.push_back(ShareChange{std::string(c->name), c->p, c->q});
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Cell* c = *it;
    if (report.falling.size() == options_.top || c->q - c->p >= 0.0) break;
    report.falling.push_back(ShareChange{std::string(c->name), c->p, c->q});
  }
  return report;
}

Result<bool> DistributionShift::observe(CategoryCounts window) {
  if (Status s = validate_category_counts(window); !s) return s;
  bool shift = false;
  if (previous_) {
    Result<ShiftReport> r = compare(*previous_, window);
    if (!r) return r.status();
    shift = r->shift;
    if (shift) {
      ++detections_;
      last_detection_ = *r;
    }
    last_report_ = std::move(*r);
  }
  previous_ = std::move(window);
  ++windows_;
  return shift;
}

// Payload v1: f64 alpha, u32 top, f64 min_share, varint windows, varint detections,
// u8 has_previous, [window: varint total, varint unlisted_max, varint n, n x (str name,
// varint count, varint error)], u8 has_last_report, [report], u8 has_last_detection, [report].
// report: u8 shift, f64 tv, js, threshold, sketch_error, sampling_error, varint cells,
// rising and falling as varint n, n x (str item, f64 before, f64 after).
std::string DistributionShift::serialize() const {
  ByteWriter w;
  w.f64(options_.alpha);
  w.u32(options_.top);
  w.f64(options_.min_share);
  w.varint(windows_);
  w.varint(detections_);
  w.u8(previous_ ? 1 : 0);
  if (previous_) write_window(w, *previous_);
  w.u8(last_report_ ? 1 : 0);
  if (last_report_) write_report(w, *last_report_);
  w.u8(last_detection_ ? 1 : 0);
  if (last_detection_) write_report(w, *last_detection_);
  return seal(kTypeTag, kVersion, w.data());
}

Result<DistributionShift> DistributionShift::deserialize(std::string_view bytes) {
  Result<std::string_view> payload = unseal(bytes, kTypeTag, kVersion, nullptr);
  if (!payload) return payload.status();
  ByteReader r(*payload);
  const Status bad = Status::corruption("distribution_shift: malformed snapshot");
  DistributionShiftOptions o;
  if (!r.f64(&o.alpha) || !r.u32(&o.top) || !r.f64(&o.min_share)) return bad;
  if (Status s = validate(o); !s) {
    return Status::corruption("distribution_shift: snapshot options: " + s.message());
  }
  DistributionShift d(o);
  uint8_t has_previous = 0;
  if (!r.varint(&d.windows_) || !r.varint(&d.detections_) || !r.u8(&has_previous) ||
      has_previous > 1 || d.detections_ > d.windows_ || (has_previous == 0) != (d.windows_ == 0)) {
    return bad;
  }
  if (has_previous) {
    CategoryCounts c;
    if (!read_window(r, &c)) return bad;
    d.previous_ = std::move(c);
  }
  if (!read_optional_report(r, &d.last_report_) || !read_optional_report(r, &d.last_detection_)) {
    return bad;
  }
  if (d.last_detection_.has_value() != (d.detections_ > 0)) return bad;
  // A detection is made by a comparison, which also sets the last report.
  if (d.last_detection_ && !d.last_report_) return bad;
  if (!r.at_end()) return bad;
  return d;
}

}  // namespace spate
