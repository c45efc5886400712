// parse_cpu_isa on /proc/cpuinfo excerpts of real CPUs: the repack rules and ggml's CPU variant
// depend on it (memory-model.md §4).
#include <gtest/gtest.h>

#include "device/cpu_features.h"

namespace bitnet::detail {
namespace {

// AMD EPYC (Zen 3): AVX2, no AVX-512 -> ggml's haswell variant.
constexpr const char* kEpycZen3 =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 "
    "movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy abm sse4a fsgsbase bmi1 avx2 "
    "smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero vaes "
    "vpclmulqdq rdpid fsrm\n\nprocessor\t: 1\nflags\t\t: fpu avx2 avx512f avx512cd avx512vl avx512dq avx512bw\n";
// Intel Xeon (Cascade Lake): AVX-512 F/CD/VL/DQ/BW.
constexpr const char* kXeonAvx512 =
    "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl "
    "avx512_vnni\n";
// Intel Xeon (Sapphire Rapids): + AMX.
constexpr const char* kXeonAmx =
    "flags\t\t: avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile "
    "amx_int8\n";
// AVX-512 F only (Knights Landing lacks BW/VL/DQ): ggml's skylakex variant does not load.
constexpr const char* kAvx512FOnly = "flags\t\t: avx2 avx512f avx512cd avx512er avx512pf\n";
// A name that merely starts like a flag must not count.
constexpr const char* kPrefixOnly = "flags\t\t: avx avx2_fake avx512fx\n";
constexpr const char* kArmDot = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
                                "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n";
constexpr const char* kArmPlain = "Features\t: fp asimd evtstrm crc32 cpuid\n";

TEST(CpuFeatures, ParsesTheFirstProcessorsFlags) {
  EXPECT_EQ(parse_cpu_isa(kEpycZen3), "avx2");
  EXPECT_EQ(parse_cpu_isa(kXeonAvx512), "avx512");
  EXPECT_EQ(parse_cpu_isa(kXeonAmx), "avx512+amx");
  EXPECT_EQ(parse_cpu_isa(kAvx512FOnly), "avx2");
  EXPECT_EQ(parse_cpu_isa(kPrefixOnly), "");
  EXPECT_EQ(parse_cpu_isa(kArmDot), "neon");
  EXPECT_EQ(parse_cpu_isa(kArmPlain), "");
  EXPECT_EQ(parse_cpu_isa(""), "");
}

TEST(CpuFeatures, MissingFileIsNoFeatures) {
  EXPECT_EQ(probe_cpu_isa("/nonexistent/cpuinfo"), "");
}

}  // namespace
}  // namespace bitnet::detail
