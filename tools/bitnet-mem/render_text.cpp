// bitnet-mem: human-readable output.
#include "render_text.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>
#include <utility>

#include "bitnet/types.h"

namespace bitnet::cli {
namespace {

constexpr std::uint64_t kMiB = 1024ull * 1024;
constexpr std::uint64_t kGiB = 1024ull * kMiB;

std::string_view filename(std::string_view path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The llama.cpp flag of each config setting, in the order of the JSON config echo.
struct SettingFlag {
  std::string_view name, flag;
};
constexpr SettingFlag kSettingFlags[] = {
    {"device", "--device"},     {"runtime", "--runtime"}, {"n_ctx", "-c"},
    {"n_batch", "-b"},          {"n_ubatch", "-ub"},      {"n_seq", "-np"},
    {"kv_unified", "-kvu"},     {"type_k", "-ctk"},       {"type_v", "-ctv"},
    {"flash_attn", "-fa"},      {"mmap", "--mmap"},       {"n_gpu_layers", "-ngl"},
    {"no_kv_offload", "-nkvo"}, {"n_threads", "-t"},     {"tensor_split", "-ts"},
};

std::string on_off(bool b) { return b ? "on" : "off"; }

// The value of a setting as resolved; empty for settings the config does not echo.
std::string setting_value(const ResolvedConfig& c, std::string_view name) {
  if (name == "device") return c.device;
  if (name == "runtime") return c.runtime;
  if (name == "n_ctx") {
    return c.n_ctx_seq != 0 && c.n_ctx_seq != c.n_ctx
               ? fmt::format("{} [{} per sequence]", c.n_ctx, c.n_ctx_seq)
               : fmt::format("{}", c.n_ctx);
  }
  if (name == "n_batch") return fmt::format("{}", c.n_batch);
  if (name == "n_ubatch") return fmt::format("{}", c.n_ubatch);
  if (name == "n_seq") return fmt::format("{}", c.n_seq);
  if (name == "kv_unified") return on_off(c.kv_unified);
  if (name == "type_k") return std::string(precision_name(c.type_k));
  if (name == "type_v") return std::string(precision_name(c.type_v));
  if (name == "flash_attn") return on_off(c.flash_attn);
  if (name == "mmap") return on_off(c.mmap);
  if (name == "n_gpu_layers") return fmt::format("{}", c.n_gpu_layers);
  if (name == "tensor_split") return fmt::format("{}", fmt::join(c.tensor_split, ","));
  if (name == "n_threads")
    return c.n_threads == 0 ? std::string("runtime default") : fmt::format("{}", c.n_threads);
  return {};
}

// A space that wrap_words does not break at (it prints as a space).
constexpr char kNoBreak = '\x01';

// `prefix` then `text`, word-wrapped at 100 columns; continuation lines start with `indent` spaces.
std::string wrap_words(std::string_view prefix, std::string_view text, std::size_t indent) {
  constexpr std::size_t kWidth = 100;
  std::string out, line(prefix);
  bool first_word = true;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (!first_word && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line = std::string(indent, ' ');
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
    pos = end + 1;
  }
  out += line + "\n";
  std::replace(out.begin(), out.end(), kNoBreak, ' ');
  return out;
}

std::string no_break(std::string s) {
  std::replace(s.begin(), s.end(), ' ', kNoBreak);
  return s;
}

// "label" then items joined by ", ", wrapped at about 100 columns under the first item.
std::string wrapped(std::string_view label, const std::vector<std::string>& items) {
  constexpr std::size_t kWidth = 100;
  const std::string indent(label.size(), ' ');
  std::string out(label), line_so_far(label);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string piece = items[i] + (i + 1 < items.size() ? "," : "");
    if (line_so_far.size() > label.size() && line_so_far.size() + 1 + piece.size() > kWidth) {
      out += "\n" + indent + piece;
      line_so_far = indent + piece;
    } else {
      const std::string sep = line_so_far.size() > label.size() ? " " : "";
      out += sep + piece;
      line_so_far += sep + piece;
    }
  }
  return out + "\n";
}

std::string settings_block(const ResolvedConfig& c, const std::vector<std::string>& given) {
  std::vector<std::string> giv, inf;
  for (const SettingFlag& s : kSettingFlags) {
    const bool is_given = std::find(given.begin(), given.end(), s.name) != given.end();
    std::string v = setting_value(c, s.name);
    if (v.empty()) {
      if (!is_given) continue;
      v = "on";  // a flag the config does not echo (-nkvo): given means set
    }
    (is_given ? giv : inf).push_back(fmt::format("{} {} ({})", s.name, v, s.flag));
  }
  std::string r = fmt::format("Runtime profile: {}   device: {}\n", c.runtime, c.device);
  r += giv.empty() ? "  given:    (none: all defaults)\n" : wrapped("  given:    ", giv);
  r += inf.empty() ? "  inferred: (none)\n" : wrapped("  inferred: ", inf);
  return r;
}

std::string model_line(const ModelStructureInfo& m) {
  return fmt::format("{}: {}, {} layers, {} parameters, {} ({:.2f} bits per weight), {}\n",
                     filename(m.path), m.architecture, m.n_layer, format_count(m.parameter_count),
                     quantization_type_name(m.quantization_type), m.bits_per_weight,
                     format_bytes(m.file_bytes));
}

// One row of the estimate table: label, CPU anon, mapped, GPU, basis/peak.
struct Row {
  std::string label, anon, mapped, gpu, note;
};

std::string table(const std::vector<Row>& rows, const std::array<std::string, 5>& header) {
  std::size_t w0 = header[0].size();
  for (const Row& r : rows) w0 = std::max(w0, r.label.size());
  constexpr std::size_t kW = 11;
  std::string out = fmt::format("{:<{}}  {:>{}}  {:>{}}  {:>{}}  {}\n", header[0], w0, header[1],
                                kW, header[2], kW, header[3], kW, header[4]);
  for (const Row& r : rows)
    out += fmt::format("{:<{}}  {:>{}}  {:>{}}  {:>{}}  {}\n", r.label, w0, r.anon, kW, r.mapped,
                       kW, r.gpu, kW, r.note);
  // Trailing spaces of rows without a note are noise.
  std::string trimmed;
  std::size_t start = 0;
  while (start < out.size()) {
    std::size_t end = out.find('\n', start);
    std::string_view line(out.data() + start, end - start);
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    trimmed.append(line);
    trimmed.push_back('\n');
    start = end + 1;
  }
  return trimmed;
}

std::string peak_note(double m) {
  if (std::isfinite(m) && std::fabs(m - 1.0) > 1e-9) return fmt::format("peak x{:.2f}", m);
  return {};
}

Row segment_row(std::string label, const MemorySegment& s) {
  return Row{std::move(label), format_bytes(s.cpu_bytes), format_bytes(s.shared_bytes),
             s.gpu_bytes ? format_bytes(*s.gpu_bytes) : "-", peak_note(s.peak_multiplier)};
}

Row part_row(const MemoryPart& p) {
  Row r;
  r.label =
      fmt::format("  {} ({}{})", p.name, p.device, p.kind == MemoryKind::kPinned ? ", pinned" : "");
  switch (p.kind) {
    case MemoryKind::kAnonymous:
    case MemoryKind::kPinned:
      r.anon = format_bytes(p.bytes);
      break;
    case MemoryKind::kMapped:
      r.mapped = format_bytes(p.bytes);
      break;
    case MemoryKind::kDevice:
      r.gpu = format_bytes(p.bytes);
      break;
  }
  r.note = std::string(basis_name(p.basis));
  return r;
}

const MemorySegment* segments(const DetailedMemoryRequirements& d, std::size_t i) {
  const MemorySegment* s[] = {&d.model_weights, &d.kv_cache, &d.activations,
                              &d.quantization_overhead, &d.system_overhead};
  return i < std::size(s) ? s[i] : nullptr;
}
constexpr std::string_view kSegmentLabels[] = {"model_weights", "kv_cache", "activations",
                                               "quantization_overhead", "system_overhead"};

std::string warnings_block(const std::vector<std::string>& w) {
  if (w.empty()) return {};
  std::string out = "\nWarnings\n";
  for (const std::string& s : w) out += wrap_words("  - ", s, 4);
  return out;
}

std::string percent(double x) { return fmt::format("{:+.1f}%", x * 100.0); }

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes < kGiB) return fmt::format("{} MiB", bytes_to_mib_ceil(bytes));
  // Hundredths of a GiB, rounded up, without overflow: q*100 + ceil(r*100 / GiB).
  const std::uint64_t q = bytes / kGiB, r = bytes % kGiB;
  const std::uint64_t h = q * 100 + (r * 100 + kGiB - 1) / kGiB;
  return fmt::format("{}.{:02} GiB", h / 100, h % 100);
}

std::string format_signed_bytes(std::int64_t bytes) {
  if (bytes >= 0) return format_bytes(static_cast<std::uint64_t>(bytes));
  // -(INT64_MIN) does not fit in int64: negate in unsigned arithmetic.
  return fmt::format("-{}", format_bytes(0 - static_cast<std::uint64_t>(bytes)));
}

std::string format_count(std::uint64_t n) {
  if (n >= 1'000'000'000ull) return fmt::format("{:.2f} B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000ull) return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6);
  if (n >= 10'000ull) return fmt::format("{:.1f} K", static_cast<double>(n) / 1e3);
  return fmt::format("{}", n);
}

std::string render_inspect(const ModelStructureInfo& m) {
  std::string out;
  out += fmt::format("{}  (GGUF v{}, {}{}, header {}, alignment {})\n", m.path, m.gguf_version,
                     format_bytes(m.file_bytes), m.header_only ? ", header only" : "",
                     format_bytes(m.header_bytes), m.alignment);
  // "  key             value", long values word-wrapped under the value column.
  auto kv = [&out](std::string_view k, const std::string& v) {
    out += wrap_words(fmt::format("  {:<16}", k), v, 18);
  };
  kv("architecture", m.architecture_known ? m.architecture
                                          : m.architecture +
                                                " (unknown: a generic decoder derived "
                                                "from the tensor shapes)");
  kv("layers", fmt::format("{}", m.n_layer));
  kv("n_embd", fmt::format("{}", m.n_embd));

  // Per-layer values that vary (GQA patterns, SWA, hybrids) are shown as ranges.
  std::uint32_t kv_min = m.n_head_kv, kv_max = m.n_head_kv;
  std::size_t n_swa = 0, n_rec = 0, n_nocache = 0, n_moe = 0;
  for (const LayerInfo& l : m.layers) {
    if (l.kind == LayerKind::kAttention) {
      kv_min = std::min(kv_min, l.n_head_kv);
      kv_max = std::max(kv_max, l.n_head_kv);
    }
    n_swa += l.is_swa ? 1 : 0;
    n_rec += l.kind == LayerKind::kRecurrent ? 1 : 0;
    n_nocache += l.kind == LayerKind::kNoCache ? 1 : 0;
    n_moe += l.is_moe ? 1 : 0;
  }
  std::string heads = fmt::format("{} query, ", m.n_head);
  heads += kv_min == kv_max ? fmt::format("{} KV", m.n_head_kv)
                            : fmt::format("{}..{} KV (varies by layer)", kv_min, kv_max);
  if (m.n_head_kv != 0 && kv_min == kv_max && m.n_head % m.n_head_kv == 0 &&
      m.n_head != m.n_head_kv)
    heads += fmt::format(" (GQA {}:1)", m.n_head / m.n_head_kv);
  if (m.mla) heads += " (MLA)";
  kv("heads", heads);
  kv("head dims", fmt::format("K {}, V {}", m.head_dim_k, m.head_dim_v));
  kv("n_ff", fmt::format("{}", m.n_ff));
  kv("n_vocab", fmt::format("{}", m.n_vocab));
  kv("n_ctx_train", fmt::format("{}", m.n_ctx_train));
  kv("experts", m.n_expert == 0 ? std::string("none")
                                : fmt::format("{} ({} used per token, n_ff_exp {}, {} MoE layers)",
                                              m.n_expert, m.n_expert_used, m.n_ff_exp, n_moe));
  kv("sliding window", m.sliding_window ? fmt::format("{} tokens on {} of {} layers",
                                                      *m.sliding_window, n_swa, m.n_layer)
                                        : std::string("none"));
  if (n_rec != 0 || n_nocache != 0)
    kv("layer kinds", fmt::format("{} attention, {} recurrent, {} without cache",
                                  m.n_layer - n_rec - n_nocache, n_rec, n_nocache));
  kv("output", m.tied_output ? "tied to token_embd" : "output.weight");
  kv("parameters", fmt::format("{} ({})", format_count(m.parameter_count), m.parameter_count));
  kv("quantization", fmt::format("{}, {:.2f} bits per weight",
                                 quantization_type_name(m.quantization_type), m.bits_per_weight));
  kv("type map", m.type_map_reason.empty()
                     ? std::string(type_map_name(m.type_map))
                     : fmt::format("{} ({})", type_map_name(m.type_map), m.type_map_reason));
  if (!m.tokenizer.model.empty() || m.tokenizer.n_tokens != 0)
    kv("tokenizer",
       fmt::format("{}, {} tokens, {} merges", m.tokenizer.model.empty() ? "?" : m.tokenizer.model,
                   m.tokenizer.n_tokens, m.tokenizer.n_merges));

  // Tensors by type, largest first.
  std::vector<std::pair<std::string, TensorTypeStats>> types(m.tensor_types.begin(),
                                                             m.tensor_types.end());
  std::stable_sort(types.begin(), types.end(),
                   [](const auto& a, const auto& b) { return a.second.bytes > b.second.bytes; });
  std::size_t w = 5;
  for (const auto& t : types) w = std::max(w, t.first.size());
  out += fmt::format("\n  {:<{}}  {:>7}  {:>12}  {:>11}  {:>6}\n", "type", w, "tensors",
                     "parameters", "bytes", "bpw");
  auto type_row = [&](std::string_view name, const TensorTypeStats& s) {
    const double bpw = s.parameters == 0
                           ? 0.0
                           : 8.0 * static_cast<double>(s.bytes) / static_cast<double>(s.parameters);
    out += fmt::format("  {:<{}}  {:>7}  {:>12}  {:>11}  {:>6.2f}\n", name, w, s.count,
                       format_count(s.parameters), format_bytes(s.bytes), bpw);
  };
  for (const auto& [name, s] : types) type_row(name, s);
  type_row("total", TensorTypeStats{m.tensors.size(), m.parameter_count, m.tensor_bytes});
  out += warnings_block(m.warnings);
  return out;
}

std::string render_estimate(const ModelStructureInfo& m, const DetailedMemoryRequirements& d,
                            const std::vector<std::string>& given) {
  std::string out = model_line(m);
  out += settings_block(d.config, given);
  out += "\n";

  std::vector<Row> rows;
  for (std::size_t i = 0; const MemorySegment* s = segments(d, i); ++i) {
    rows.push_back(segment_row(std::string(kSegmentLabels[i]), *s));
    for (const MemoryPart& p : s->parts) rows.push_back(part_row(p));
  }
  rows.push_back(Row{});
  rows.push_back(segment_row("total (reserved)", d.total));
  rows.push_back(segment_row("peak (resident)", d.peak_usage));
  out += table(rows, {"segment / part", "CPU anon", "mapped", "GPU", "basis"});

  // A split over several GPUs: each GPU's share (the parts above, summed per device).
  if (d.devices.size() > 1) {
    out += "\nPer GPU (layer split)\n";
    for (const DeviceUsage& u : d.devices)
      out += fmt::format("  {:<8} {:>3} layers  weights {:>10}  KV {:>10}  compute {:>10}  overheads {:>10}  peak {:>10}\n",
                         u.device, u.n_layers, format_bytes(u.weights_bytes), format_bytes(u.kv_bytes),
                         format_bytes(u.compute_bytes), format_bytes(u.overhead_bytes), format_bytes(u.peak_bytes));
  }

  const MemoryRecommendations& r = d.recommendations;
  out += "\nRecommendations\n";
  out +=
      fmt::format("  system RAM: min {}, recommended {}; swap {}\n", format_bytes(r.min_system_ram),
                  format_bytes(r.recommended_system_ram), format_bytes(r.swap_requirements));
  if (r.min_gpu_memory || r.recommended_gpu_memory)
    out += fmt::format("  GPU memory: min {}, recommended {}{}\n",
                       r.min_gpu_memory ? format_bytes(*r.min_gpu_memory) : "-",
                       r.recommended_gpu_memory ? format_bytes(*r.recommended_gpu_memory) : "-",
                       d.devices.size() > 1 ? " per GPU (the most loaded one)" : "");
  if (!r.optimization_suggestions.empty()) {
    out += "\nSuggestions\n";
    int n = 0;
    for (const OptimizationSuggestion& s : r.optimization_suggestions) {
      std::string effect = s.saves_bytes >= 0 ? "saves " + format_signed_bytes(s.saves_bytes)
                                              : "costs " + format_signed_bytes(-s.saves_bytes);
      const std::string prefix = fmt::format("  {}. ", ++n);
      out +=
          wrap_words(prefix,
                     fmt::format("{}{} ({})", s.text,
                                 s.flags.empty() ? std::string() : " [" + no_break(s.flags) + "]",
                                 no_break(effect)),
                     prefix.size());
    }
  }
  out += warnings_block(d.warnings);
  return out;
}

std::string render_validate(const ModelStructureInfo& m, const ValidationReport& r,
                            const std::vector<std::string>& given) {
  std::string out = model_line(m);
  out += settings_block(r.predicted.config, given);
  out += "\n";
  std::size_t w = 7;
  for (const ValidationRow& row : r.rows) w = std::max(w, row.segment.size());
  out +=
      fmt::format("{:<{}}  {:>11}  {:>11}  {:>8}\n", "segment", w, "predicted", "actual", "error");
  for (const ValidationRow& row : r.rows)
    out += fmt::format("{:<{}}  {:>11}  {:>11}  {:>8}  {}\n", row.segment, w,
                       format_bytes(row.predicted_bytes), format_bytes(row.actual_bytes),
                       percent(row.error), row.within_tolerance ? "ok" : "OUTSIDE");
  out += fmt::format("\nProcess: RSS {} after load ({} before), peak RSS (VmHWM) {}\n",
                     format_bytes(r.after_load.rss_bytes), format_bytes(r.before_load.rss_bytes),
                     format_bytes(r.after_load.hwm_bytes));
  if (r.passed) {
    out += fmt::format("PASSED: every segment and the total within {:.1f}% (or {} absolute)\n",
                       r.tolerance * 100, format_bytes(r.tolerance_bytes));
  } else {
    std::string misses;
    for (const ValidationRow& row : r.rows)
      if (!row.within_tolerance)
        misses +=
            fmt::format("{}{} {}", misses.empty() ? "" : ", ", row.segment, percent(row.error));
    out += fmt::format("FAILED: outside {:.1f}% and {} absolute: {}\n", r.tolerance * 100,
                       format_bytes(r.tolerance_bytes), misses);
  }
  out += warnings_block(r.predicted.warnings);
  return out;
}

}  // namespace bitnet::cli
