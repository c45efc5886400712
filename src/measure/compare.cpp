// compare_with_measurement: the plan's segments against the growth the loader measured around each
// commit (see validate.cpp for what each segment's actual number is).
#include <algorithm>
#include <cmath>
#include <string>

#include "measure/validate.h"

namespace bitnet {
namespace {

std::uint64_t growth(std::uint64_t before, std::uint64_t after) { return after > before ? after - before : 0; }

struct SegmentRow {
  std::string_view name;
  MemorySegment DetailedMemoryRequirements::*predicted;
  MemorySegment ValidationReport::*actual;
};
// clang-format off
constexpr SegmentRow kRows[] = {
  {"model_weights",         &DetailedMemoryRequirements::model_weights,         &ValidationReport::actual_model_weights},
  {"kv_cache",              &DetailedMemoryRequirements::kv_cache,              &ValidationReport::actual_kv_cache},
  {"activations",           &DetailedMemoryRequirements::activations,           &ValidationReport::actual_activations},
  {"quantization_overhead", &DetailedMemoryRequirements::quantization_overhead, &ValidationReport::actual_quantization_overhead},
  {"system_overhead",       &DetailedMemoryRequirements::system_overhead,       &ValidationReport::actual_system_overhead},
  {"total",                 &DetailedMemoryRequirements::total,                 &ValidationReport::actual_total},
};
// clang-format on

ValidationRow make_row(std::string_view name, std::uint64_t predicted, std::uint64_t actual, double tolerance,
                       std::uint64_t tolerance_bytes) {
  ValidationRow r;
  r.segment = std::string(name);
  r.predicted_bytes = predicted;
  r.actual_bytes = actual;
  const double a = static_cast<double>(actual), p = static_cast<double>(predicted);
  r.error = actual == 0 ? (predicted == 0 ? 0.0 : 1.0) : (p - a) / a;
  const std::uint64_t diff = predicted > actual ? predicted - actual : actual - predicted;
  r.within_tolerance = std::fabs(r.error) <= tolerance || diff <= tolerance_bytes;
  return r;
}

MemoryPart measured_part(const detail::CommitRecord& c, std::uint64_t bytes, const char* what) {
  MemoryPart p;
  p.name = c.part;
  p.device = "cpu";
  p.kind = c.kind;
  p.bytes = bytes;
  p.resident_bytes = bytes;
  p.basis = Basis::kExact;
  p.source = what;
  return p;
}

}  // namespace

namespace detail {

ValidationReport compare_with_measurement(const DetailedMemoryRequirements& plan, const std::vector<CommitRecord>& commits,
                                          const MeasuredMemory& before, const MeasuredMemory& after, double tolerance) {
  ValidationReport rep;
  rep.predicted = plan;
  rep.before_load = before;
  rep.after_load = after;
  rep.tolerance = tolerance;
  rep.tolerance_bytes = kValidationFloorBytes;
  std::uint64_t attributed = 0;
  for (const CommitRecord& c : commits) {
    MemorySegment* seg = nullptr;
    for (const SegmentRow& r : kRows)
      if (r.name == c.segment) seg = &(rep.*(r.actual));
    if (seg == nullptr) continue;
    if (c.kind == MemoryKind::kMapped) {
      const std::uint64_t g = growth(c.before.rss_file_bytes, c.after.rss_file_bytes);
      seg->shared_bytes += g;
      attributed += g;
      seg->parts.push_back(measured_part(c, g, "measured: RssFile growth while mapping and reading the tensor span"));
    } else {
      const std::uint64_t g = growth(c.before.rss_anon_bytes, c.after.rss_anon_bytes);
      seg->cpu_bytes += g;
      attributed += g;
      seg->parts.push_back(measured_part(c, g, "measured: RssAnon growth while committing this buffer"));
    }
  }
  rep.actual_system_overhead.cpu_bytes = after.rss_bytes > attributed ? after.rss_bytes - attributed : 0;
  rep.actual_total.cpu_bytes = after.rss_bytes - std::min(after.rss_bytes, rep.actual_model_weights.shared_bytes);
  rep.actual_total.shared_bytes = std::min(after.rss_bytes, rep.actual_model_weights.shared_bytes);
  rep.passed = true;
  for (const SegmentRow& r : kRows) {
    const MemorySegment& p = plan.*(r.predicted);
    const MemorySegment& a = rep.*(r.actual);
    rep.rows.push_back(make_row(r.name, p.host_bytes(), a.host_bytes(), tolerance, rep.tolerance_bytes));
    rep.passed = rep.passed && rep.rows.back().within_tolerance;
  }
  return rep;
}

}  // namespace detail

}  // namespace bitnet
