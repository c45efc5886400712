// Host CPU features from /proc/cpuinfo (the first processor's flags: ggml decides per process).
#include "device/cpu_features.h"

#include <algorithm>
#include <initializer_list>

#include "device/probe_linux.h"

namespace bitnet::detail {
namespace {

// Whether the whitespace-separated list `flags` holds `flag` as a whole word.
bool has_flag(std::string_view flags, std::string_view flag) {
  std::size_t i = 0;
  while (i < flags.size()) {
    while (i < flags.size() && (flags[i] == ' ' || flags[i] == '\t')) ++i;
    std::size_t e = i;
    while (e < flags.size() && flags[e] != ' ' && flags[e] != '\t') ++e;
    if (flags.substr(i, e - i) == flag) return true;
    i = e;
  }
  return false;
}

bool has_all(std::string_view flags, std::initializer_list<std::string_view> need) {
  return std::all_of(need.begin(), need.end(), [&](std::string_view f) { return has_flag(flags, f); });
}

}  // namespace

std::string parse_cpu_isa(std::string_view text) {
  // The first "flags" (x86) or "Features" (ARM) line: "flags\t\t: fpu vme ...".
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    const std::string_view flags = line.substr(colon + 1);
    if (key == "flags") {
      // ggml-cpu variants (ggml/src/CMakeLists.txt GGML_CPU_ALL_VARIANTS): skylakex = AVX-512
      // F/CD/VL/DQ/BW; sapphirerapids adds AMX-INT8/TILE; haswell = AVX2 (+FMA, F16C).
      if (!has_flag(flags, "avx2")) return "";
      if (!has_all(flags, {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"})) return "avx2";
      if (has_all(flags, {"amx_int8", "amx_tile"})) return "avx512+amx";
      return "avx512";
    }
    if (key == "Features") return has_flag(flags, "asimddp") ? "neon" : "";
  }
  return "";
}

std::string probe_cpu_isa(const std::string& path) {
  auto text = read_text_file(path);
  return text ? parse_cpu_isa(*text) : std::string();
}

}  // namespace bitnet::detail
