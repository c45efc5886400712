// The host CPU's instruction-set features that decide llama.cpp's weight repacking and which ggml
// CPU variant it loads (memory-model.md §4 "Repack eligibility"). The parser takes /proc/cpuinfo
// text so that tests can feed it fixtures; probe_cpu_isa() reads the real file.
#pragma once

#include <string>
#include <string_view>

namespace bitnet::detail {

// "avx512+amx", "avx512", "avx2", "neon" or "" (none of them; the caller falls back to the
// runtime profile's default). The spelling is what MemoryAnalysisConfig::cpu_isa accepts.
// x86: AVX-512 counts when ggml's skylakex variant could load (avx512f, cd, vl, dq, bw); AMX when
// the sapphirerapids variant's amx_int8 and amx_tile are present. ARM: NEON dotprod (asimddp).
std::string parse_cpu_isa(std::string_view cpuinfo_text);

// parse_cpu_isa of `path` (default /proc/cpuinfo); "" when it cannot be read.
std::string probe_cpu_isa(const std::string& path = "/proc/cpuinfo");

}  // namespace bitnet::detail
