// Type-map resolution by byte spans (memory-model.md §2.2).
#include "analysis/type_resolution.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <optional>

#include "core/checked.h"
#include "tables/arch_traits.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

// general.file_type values that hint at a dialect. Weak: some upstream-derived trees reuse 40.
struct FileTypeHint {
  std::uint64_t file_type;
  TypeMap map;
  std::string_view note;
};
constexpr FileTypeHint kFileTypeHints[] = {
    {40, TypeMap::kBitnet2024, "MOSTLY_I2_S in the BitNet forks (weak: newer upstream trees use 40 for Q1_0)"},
};

constexpr std::size_t kNumMaps = std::size(kCandidateMaps);

std::string hex(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), d[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

struct Candidate {
  TypeMap map;
  std::vector<std::optional<std::uint64_t>> nbytes;
  std::vector<QuantizationType> type;
  std::vector<bool> ok;
  std::size_t n_ok = 0;
};

std::string type_under(const Candidate& c, std::size_t i, std::uint32_t id) {
  if (c.type[i] == QuantizationType::kUnknown) {
    const QuantTraits* t = find_traits(id, c.map);
    if (t != nullptr && t->rule == SizeRule::kRemoved) return "removed " + std::string(t->name);
    return "no type";
  }
  return std::string(quantization_type_name(c.type[i]));
}

std::string describe_candidates(const std::array<Candidate, kNumMaps>& cs, std::size_t i,
                                std::uint32_t id) {
  std::string s;
  for (const Candidate& c : cs) {
    if (!s.empty()) s += "; ";
    s += type_map_name(c.map);
    s += ": ";
    s += type_under(c, i, id);
    if (c.nbytes[i]) {
      s += ' ';
      s += std::to_string(*c.nbytes[i]);
      s += " B";
    }
  }
  return s;
}

std::string map_list(const std::vector<std::size_t>& idx, const std::array<Candidate, kNumMaps>& cs) {
  std::string s;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    if (k > 0) s += (k + 1 == idx.size()) ? " and " : ", ";
    s += type_map_name(cs[idx[k]].map);
  }
  return s;
}

// Picks among the maps in `set` by the architecture's hint, then general.file_type. Returns the
// index into the candidates and a description of what decided.
std::pair<std::size_t, std::string> pick_by_hint(const GgufFile& f, const std::vector<std::size_t>& set,
                                                 const std::array<Candidate, kNumMaps>& cs) {
  auto has = [&](TypeMap m) -> std::optional<std::size_t> {
    for (std::size_t k : set)
      if (cs[k].map == m) return k;
    return std::nullopt;
  };
  std::string arch;
  if (auto a = f.get_string("general.architecture")) arch = std::string(*a);
  if (const ArchTraits* t = find_arch(arch)) {
    if (t->type_map_hint == TypeMapHint::kBitnet) {
      for (TypeMap m : {TypeMap::kBitnet2024, TypeMap::kBitnetPort})
        if (auto k = has(m))
          return {*k, "general.architecture '" + arch + "' is written only by the BitNet forks"};
    } else if (t->type_map_hint == TypeMapHint::kUpstream) {
      if (auto k = has(TypeMap::kUpstream))
        return {*k, "general.architecture '" + arch + "' is upstream llama.cpp's (TQ1_0/TQ2_0)"};
    }
  }
  if (const GgufKv* kv = f.find("general.file_type")) {
    if (auto ft = kv->value.as_u64("general.file_type")) {
      for (const FileTypeHint& h : kFileTypeHints)
        if (h.file_type == *ft)
          if (auto k = has(h.map))
            return {*k, "general.file_type " + std::to_string(*ft) + " is " + std::string(h.note)};
    }
  }
  return {set.front(), "no hint; the first candidate in the order upstream, bitnet-2024, bitnet-port"};
}

}  // namespace

Result<TypeResolution> resolve_types(const GgufFile& f, TypeMap forced) {
  const std::size_t n = f.tensors.size();
  const std::uint64_t align = f.alignment;
  TypeResolution out;
  out.tensors.resize(n);

  // 1. Spans, in offset order.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return f.tensors[a].offset < f.tensors[b].offset; });
  std::optional<std::uint64_t> data_size;
  if (!f.header_only) data_size = f.buffer_bytes > f.data_offset ? f.buffer_bytes - f.data_offset : 0;
  std::vector<std::optional<std::uint64_t>> span(n);
  std::vector<bool> is_last(n, false);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = order[k];
    const GgufTensorInfo& t = f.tensors[i];
    if (k + 1 < n) {
      const GgufTensorInfo& next = f.tensors[order[k + 1]];
      if (next.offset == t.offset)
        return Error{Errc::kUnknownTensorType,
                     std::string(t.name) + " and " + std::string(next.name) + " start at the same data offset " +
                         std::to_string(t.offset) + ": overlapping tensors",
                     f.data_offset + t.offset, std::string(next.name),
                     "the file is corrupt; re-download or re-convert it"};
      span[i] = next.offset - t.offset;
    } else {
      is_last[i] = true;
      if (data_size) {
        if (t.offset >= *data_size)
          return Error{Errc::kUnknownTensorType,
                       std::string(t.name) + " starts at data offset " + std::to_string(t.offset) +
                           ", past the end of the data (" + std::to_string(*data_size) + " B)",
                       f.data_offset + t.offset, std::string(t.name),
                       "the file is truncated; if it holds only the header, pass --header-only"};
        span[i] = *data_size - t.offset;
      }
    }
  }

  // 2. Sizes under every candidate map.
  std::array<Candidate, kNumMaps> cs;
  for (std::size_t m = 0; m < kNumMaps; ++m) {
    Candidate& c = cs[m];
    c.map = kCandidateMaps[m];
    c.nbytes.resize(n);
    c.type.assign(n, QuantizationType::kUnknown);
    c.ok.assign(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const GgufTensorInfo& t = f.tensors[i];
      const QuantTraits* q = find_traits(t.type_id, c.map);
      if (q == nullptr || q->rule == SizeRule::kRemoved) continue;
      auto nb = tensor_bytes(*q, t.ne);
      if (!nb) continue;
      c.nbytes[i] = *nb;
      c.type[i] = q->type;
      bool ok = true;
      if (span[i]) {
        const std::uint64_t padded = pad_to(*nb, align);
        ok = is_last[i] ? (*nb <= *span[i] && *span[i] <= padded) : padded == *span[i];
      }
      c.ok[i] = ok;
      if (ok) ++c.n_ok;
    }
  }

  // 3. A tensor whose size every map agrees on must fit its span; otherwise tensors overlap.
  for (std::size_t i = 0; i < n; ++i) {
    if (!span[i]) continue;
    const auto& first = cs[0].nbytes[i];
    bool certain = first.has_value();
    for (const Candidate& c : cs) certain = certain && c.nbytes[i] == first;
    if (certain && *first > *span[i]) {
      const GgufTensorInfo& t = f.tensors[i];
      return Error{Errc::kUnknownTensorType,
                   std::string(t.name) + " (" + std::string(quantization_type_name(cs[0].type[i])) + ", " +
                       std::to_string(*first) + " B) is larger than its " + std::to_string(*span[i]) +
                       " B span: it overlaps the next tensor or runs past the end of the file",
                   t.info_offset, std::string(t.name), "the file is corrupt or truncated; re-download it"};
    }
  }

  auto finish = [&](std::size_t m) -> Result<TypeResolution> {
    out.map = cs[m].map;
    std::uint64_t end = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ResolvedTensor& r = out.tensors[i];
      const GgufTensorInfo& t = f.tensors[i];
      if (cs[m].ok[i] && cs[m].nbytes[i]) {
        r.type = cs[m].type[i];
        r.nbytes = *cs[m].nbytes[i];
        r.size_basis = Basis::kExact;
      } else if (span[i]) {
        r.type = QuantizationType::kUnknown;
        r.nbytes = *span[i];
        r.size_basis = Basis::kDerived;
        out.warnings.push_back(std::string(t.name) + " @" + hex(f.data_offset + t.offset) + ": type id " +
                               std::to_string(t.type_id) + " fits no type map (" +
                               describe_candidates(cs, i, t.type_id) + "); sized by its " +
                               std::to_string(*span[i]) + " B span");
      } else {
        return Error{Errc::kUnknownTensorType,
                     std::string(t.name) + ": type id " + std::to_string(t.type_id) +
                         " has no size under any type map (" + describe_candidates(cs, i, t.type_id) +
                         ") and, as the last tensor of a header-only file, no span to size it by",
                     t.info_offset, std::string(t.name),
                     "analyse the whole file instead of its header, or pass --type-map"};
      }
      r.span = span[i].value_or(0);
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t padded, checked_pad(r.nbytes, align));
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t e, checked_add(t.offset, padded, "tensor end"));
      end = std::max(end, e);
    }
    out.data_end = end;
    return std::move(out);
  };

  // 4a. A forced map: every tensor must fit it.
  if (forced != TypeMap::kAuto) {
    std::size_t m = 0;
    while (m < kNumMaps && cs[m].map != forced) ++m;
    if (m == kNumMaps)
      return Error{Errc::kInvalidArgument, "unknown type map", kNoOffset, "--type-map", {}};
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = order[k];
      if (cs[m].ok[i]) continue;
      const GgufTensorInfo& t = f.tensors[i];
      std::string fits;
      for (const Candidate& c : cs)
        if (c.map != forced && c.ok[i]) fits += (fits.empty() ? "" : ", ") + std::string(type_map_name(c.map));
      std::string msg = std::string(t.name) + " @" + hex(f.data_offset + t.offset) + ": type id " +
                        std::to_string(t.type_id) + " under --type-map " + std::string(type_map_name(forced)) +
                        " is " + type_under(cs[m], i, t.type_id);
      if (cs[m].nbytes[i]) msg += " of " + std::to_string(*cs[m].nbytes[i]) + " B";
      if (span[i]) msg += ", but its span is " + std::to_string(*span[i]) + " B";
      msg += " (" + describe_candidates(cs, i, t.type_id) + ")";
      return Error{Errc::kUnknownTensorType, std::move(msg), t.info_offset, std::string(t.name),
                   fits.empty() ? std::string("pass --type-map auto to size it by its span")
                                : "its span fits " + fits + "; pass --type-map auto or --type-map " +
                                      fits.substr(0, fits.find(','))};
    }
    out.reason = "forced by --type-map " + std::string(type_map_name(forced)) + "; every tensor's span fits it";
    return finish(m);
  }

  // 4b. Automatic: keep the maps under which every tensor fits its span.
  std::vector<std::size_t> survivors;
  for (std::size_t m = 0; m < kNumMaps; ++m)
    if (cs[m].n_ok == n) survivors.push_back(m);

  if (survivors.size() == 1) {
    out.reason = "only " + std::string(type_map_name(cs[survivors[0]].map)) + " fits every tensor's byte span";
    return finish(survivors[0]);
  }
  if (survivors.size() > 1) {
    bool same_sizes = true, same_types = true;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k : survivors) {
        same_sizes = same_sizes && cs[k].nbytes[i] == cs[survivors[0]].nbytes[i];
        same_types = same_types && cs[k].type[i] == cs[survivors[0]].type[i];
      }
    auto [m, why] = pick_by_hint(f, survivors, cs);
    if (same_sizes && same_types) {
      out.reason = map_list(survivors, cs) + " fit every tensor's span with the same types and sizes; the choice "
                   "does not matter (" + std::string(type_map_name(cs[m].map)) + ": " + why + ")";
    } else {
      out.reason = map_list(survivors, cs) + " fit every tensor's span but " +
                   (same_sizes ? "name types differently" : "disagree on sizes") + "; " +
                   std::string(type_map_name(cs[m].map)) + " chosen because " + why;
      out.warnings.push_back("type map " + std::string(type_map_name(cs[m].map)) + " chosen by a hint (" + why +
                             "); pass --type-map to override");
    }
    return finish(m);
  }

  // 4c. No map fits every tensor: take the one that fits most, size the rest by their spans.
  std::vector<std::size_t> best;
  std::size_t best_n = 0;
  for (std::size_t m = 0; m < kNumMaps; ++m) {
    if (cs[m].n_ok > best_n) {
      best_n = cs[m].n_ok;
      best.clear();
    }
    if (cs[m].n_ok == best_n) best.push_back(m);
  }
  auto [m, why] = pick_by_hint(f, best, cs);
  out.reason = "no type map fits every tensor's span; " + std::string(type_map_name(cs[m].map)) + " fits " +
               std::to_string(best_n) + " of " + std::to_string(n) + " (" + why +
               "); the others are sized by their spans";
  return finish(m);
}

}  // namespace bitnet::detail
