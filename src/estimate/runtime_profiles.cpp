// Runtime profiles, repack rules, tokenizer costs: the data behind the estimator (style.md §5).
#include "estimate/runtime_profiles.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "bitnet/memory.h"

namespace bitnet::detail {
namespace {

using Q = QuantizationType;

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// clang-format off
constexpr RuntimeProfile kProfiles[] = {
  // llama.cpp, current (b10256, Aug 2026; ground truth: ggml 0.23.0 via node-llama-cpp 3.21.1).
  {.name = "llama.cpp",
   .ctx_pad = CtxPadRule::kPad256,          // llama-context.cpp: GGML_PAD(n_ctx, 256) (PR #17046)
   .swa = SwaRule::kCurrent,                // llama-kv-cache-iswa.cpp
   .logit_rows = LogitRows::kOutputsMax,    // llama-context.cpp graph_reserve (PR #23861)
   .compute_form = ComputeForm::kCorrected, // llama-graph.cpp build_inp_embd (PR #18550), v_idxs
   .fa_auto_on = true,                      // llama-context.cpp sched_reserve: auto -> on if placeable
   .fa_supported = true,
   .mapped_buffer = "CPU_Mapped",           // llama-model.cpp load_tensors (2025 rename)
   .repack = true,                          // --repack default on (common/arg.cpp)
   .default_isa = kIsaAvx2 | kIsaAvx512,    // an x86-64 AVX-512 host, as in the ground truth
   .bitnet_kernels = false,                 // upstream has no I2_S/TL kernels
   .cpu_work_buffer = true,                 // ggml-cpu.c ggml_graph_plan
   .tokenizer = true,                       // llama-vocab.cpp
   .commit_at_load = false,
   .maps_whole_file = false,
   .in_process = false,
   .host_objects = HostObjects::kRuntimeCalibrated,
   .host_base = "cpu",
   .has_gpu_backend = true,
   .default_threads = 4,                    // common: physical cores; 4 when unknown [heuristic]
   // llama-kv-cells.h llama_kv_cells: pos (4) + ext {x, y, tok} (12) + shift (4) + seq
   // (bitset<LLAMA_MAX_SEQ = 256>, 32) per cell; a used cell is one node of `used`
   // (std::set<uint32_t>) and one of seq_pos[s] (std::set<pair<pos, cell>>): 40-byte nodes, 48-byte
   // glibc chunks. Measured heap growth while filling: 96-124 B per cell (tiny-llama c1024-16384).
   // The first decode's heap blocks of 1 KiB or more beyond the work buffer (malloc traced in the
   // real llama.cpp, ub 512): 171,152 B on tiny-llama, llama, qwen3moe; 221,656 B with gemma3's
   // two caches [calibrated].
   .kv_cells = {52, 96, 171152, 50504,
                "llama-kv-cells.h: 52 B per cell (pos, ext, shift, seq bitset<256>) + 2 std::set "
                "nodes (48 B chunks) per used cell; + the first decode's heap (171,152 B, +50,504 "
                "per further cache; malloc trace, calibrated)"},
   .source = "llama.cpp b10256 (ggml 0.23.0 measured)"},
  // bitnet.cpp = microsoft/BitNet with Eddie-Wang1120/llama.cpp merge-dev (Oct 2024).
  {.name = "bitnet.cpp",
   .ctx_pad = CtxPadRule::kPadFa256Else32,  // llama.cpp PR #7257 (2024): pad(n_ctx, FA ? 256 : 32)
   .swa = SwaRule::kOld,                    // 2024 llama.cpp: n_swa * n_seq + n_batch
   .logit_rows = LogitRows::kUbatch,        // 2024 llama_output_reserve: n_outputs = n_tokens
   .compute_form = ComputeForm::kOld,       // 2024 graph: no inp_embd, no v_idxs
   .fa_auto_on = false,                     // no auto mode; run_inference.py leaves FA off
   .fa_supported = true,
   .mapped_buffer = "CPU",                  // 2024 llm_load_tensors: "CPU buffer size"
   .repack = false,                         // no runtime repack in the 2024 fork (I2_S used in place)
   .default_isa = kIsaAvx2 | kIsaAvx512,
   .bitnet_kernels = true,                  // src/ggml-bitnet-mad.cpp, src/ggml-bitnet-lut.cpp
   .cpu_work_buffer = true,
   .tokenizer = true,
   .commit_at_load = false,
   .maps_whole_file = false,
   .in_process = false,
   .host_objects = HostObjects::kRuntimeCalibrated,
   .host_base = "cpu",
   .has_gpu_backend = false,                // BitNet kernels are CPU-only
   .default_threads = 2,                    // run_inference.py -t 2
   // 2024 llama.cpp llama_kv_cell {pos, delta, src, tail, std::set<llama_seq_id> seq_id}: 16 B +
   // a 48-byte std::set per cell; one set node (48-byte glibc chunk) per sequence in a cell.
   .kv_cells = {64, 48, 0, 0,
                "llama.cpp (2024) llama_kv_cell: 64 B per cell + one std::set node (48 B chunk) "
                "per used cell (derived, not measured)"},
   .source = "microsoft/BitNet (llama.cpp merge-dev, Oct 2024)"},
  // native = this project's ProductionModelLoader::load (src/load/): the file mapped read-only (or
  // read into one anonymous buffer), one KV buffer, one activation arena sized like llama.cpp's CPU
  // compute buffer plus the output buffer, all committed at load. No tokenizer, no work buffer.
  {.name = "native",
   .ctx_pad = CtxPadRule::kPad256,
   .swa = SwaRule::kCurrent,
   .logit_rows = LogitRows::kOutputsMax,
   .compute_form = ComputeForm::kCorrected,
   .fa_auto_on = true,
   .fa_supported = true,
   .mapped_buffer = "CPU_Mapped",
   .repack = false,
   .default_isa = kIsaAvx2 | kIsaAvx512,
   .bitnet_kernels = false,
   .cpu_work_buffer = false,
   .tokenizer = false,
   .commit_at_load = true,
   .maps_whole_file = true,
   .in_process = true,                      // ProductionModelLoader::load runs in the caller
   .host_objects = HostObjects::kLoaderStructs,
   .host_base = "native",                   // bitnet-mem's own process before the load
   .has_gpu_backend = false,
   .default_threads = 1,
   .kv_cells = {},                          // cells are bytes of the one KV buffer
   .source = "bitnet-models ProductionModelLoader::load (docs/memory-model.md, native profile)"},
};

// ggml-cpu extra buffer types, in the order llama.cpp tries them (AMX before CPU_REPACK).
constexpr std::string_view kAmxSrc =
    "ggml-cpu/amx/common.h qtype_has_amx_kernels; amx/mmq.cpp get_row_size (+int32 compensation)";
constexpr std::string_view kRepackSrc =
    "ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type";
constexpr RepackRule kRepackRules[] = {
  {Q::kQ4_0,   kIsaAmx, "AMX", true, 32, 0, kAmxSrc},
  {Q::kQ4_1,   kIsaAmx, "AMX", true, 32, 0, kAmxSrc},
  {Q::kQ8_0,   kIsaAmx, "AMX", true, 32, 4, kAmxSrc},
  {Q::kQ4_K,   kIsaAmx, "AMX", true, 32, 4, kAmxSrc},
  {Q::kQ5_K,   kIsaAmx, "AMX", true, 32, 4, kAmxSrc},
  {Q::kQ6_K,   kIsaAmx, "AMX", true, 32, 0, kAmxSrc},
  {Q::kIQ4_XS, kIsaAmx, "AMX", true, 32, 2, kAmxSrc},
  {Q::kQ4_0,   kIsaAvx2 | kIsaAvx512 | kIsaNeonDot, "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kQ4_K,   kIsaAvx2 | kIsaAvx512 | kIsaNeonDot, "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kIQ4_NL, kIsaAvx2 | kIsaAvx512 | kIsaNeonDot, "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kMXFP4,  kIsaAvx2 | kIsaAvx512 | kIsaNeonDot, "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kQ2_K,   kIsaAvx512,                          "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kQ5_K,   kIsaNeonDot,                         "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kQ6_K,   kIsaNeonDot,                         "CPU_REPACK", false, 8, 0, kRepackSrc},
  {Q::kQ8_0,   kIsaNeonDot,                         "CPU_REPACK", false, 4, 0, kRepackSrc},
};

// llama.cpp src/models/bitnet.cpp: `cur = build_lora_mm(model.tok_embd, cur)`; the 2024 fork's
// bitnet-b1.58 / bitnet-25 builders do the same. Other architectures create a duplicated `output`.
constexpr std::string_view kHeadReadsTokenEmbd[] = {"bitnet", "bitnet-b1.58", "bitnet-25"};

// ggml-cuda.cu ggml_backend_cuda_device_supports_op: no MUL_MAT / GET_ROWS kernels for the ternary
// types (TQ1_0, TQ2_0) nor for BitNet's own formats; ground truth: bitnet-2b-tq2_0 ngl -1 keeps all
// TQ2_0 weights in CPU_Mapped.
constexpr QuantizationType kNoCudaKernels[] = {Q::kTQ1_0, Q::kTQ2_0, Q::kI2_S, Q::kI8_S,
                                               Q::kTL1,   Q::kTL2,   Q::kUnknown};

// Anonymous RSS after load beyond the model buffers and 1.5 KiB per tensor (memory-model.md §7):
// - every long token (> 15 bytes) is on the heap 4 times: the GGUF context's copy (freed after
//   load, but its small chunks stay in the heap), token_to_id's key, id_to_token's text and
//   cache_token_to_piece's piece; measured: 4.00 x the heap bytes of one copy (SPM 64000 tokens
//   with 25-100 % of them padded to 24 bytes, llama.cpp of node-llama-cpp 3.21.1 on this CPU).
// - BPE tokenizes "\n" at load (the linefeed id), which builds unicode.cpp's codepoint flags
//   table: 0x110000 codepoints x 2 bytes = 2,228,224 bytes, exact. SPM finds it by byte token.
// - per token / per merge: hash node + bucket + id_to_token + piece (SPM: 155 B, fitted on 6
//   synthesized vocabularies of 8k-96k tokens and the ground truth's 262144-token gemma, all
//   within 0.3 MiB); BPE: 206 B/token + 84 B/merge fitted on the ground truth's five BPE
//   vocabularies (4096-151936 tokens, within 0.1 MiB), 0.5-3 MiB high on short synthesized ones.
constexpr TokenizerCost kTokenizerCosts[] = {
  {"gpt2",  2228224, 206, 84, 4, Basis::kCalibrated,
   "llama-vocab.cpp BPE: unicode codepoint flags (0x110000 x 2 B) + 206 B/token + 84 B/merge "
   "(fit) + 4 heap copies of each token over 15 bytes"},
  {"llama", 107000, 155, 0, 4, Basis::kCalibrated,
   "llama-vocab.cpp SPM: 155 B/token + 0.1 MiB (fit) + 4 heap copies of each token over 15 bytes"},
  // Other tokenizers: the BPE row, as an estimate.
  {"",      2228224, 206, 84, 4, Basis::kHeuristic, "llama-vocab.cpp; BPE fit applied to another tokenizer"},
};
// clang-format on

}  // namespace

const RuntimeProfile* find_runtime_profile(std::string_view name) noexcept {
  for (const auto& p : kProfiles)
    if (iequals(p.name, name)) return &p;
  return nullptr;
}
std::span<const RuntimeProfile> all_runtime_profiles() noexcept { return kProfiles; }

constexpr bool multiples_are_powers_of_two() {
  for (const auto& r : kRepackRules)
    if (r.ne1_multiple == 0 || (r.ne1_multiple & (r.ne1_multiple - 1)) != 0) return false;
  return true;
}
static_assert(multiples_are_powers_of_two(), "row multiples are tested with a mask");
constexpr bool multiples_at_most_32() {
  for (const auto& r : kRepackRules)
    if (r.ne1_multiple > 32) return false;
  return true;
}
static_assert(multiples_at_most_32(), "weights.cpp memoises rules on ne1 & 31");

const RepackRule* find_repack_rule(QuantizationType t, std::uint64_t ne1, IsaMask isa) noexcept {
  for (const auto& r : kRepackRules)
    if (r.type == t && (r.needs & isa) != 0 && (ne1 & (r.ne1_multiple - 1)) == 0) return &r;
  return nullptr;
}

std::span<const RepackRule> all_repack_rules() noexcept { return kRepackRules; }

bool head_reads_token_embd(std::string_view architecture) noexcept {
  return std::any_of(std::begin(kHeadReadsTokenEmbd), std::end(kHeadReadsTokenEmbd),
                     [&](std::string_view a) { return a == architecture; });
}

bool cuda_supports_type(QuantizationType t) noexcept {
  return std::find(std::begin(kNoCudaKernels), std::end(kNoCudaKernels), t) ==
         std::end(kNoCudaKernels);
}

const TokenizerCost& tokenizer_cost(std::string_view model) noexcept {
  for (const auto& r : kTokenizerCosts)
    if (!r.model.empty() && r.model == model) return r;
  return kTokenizerCosts[std::size(kTokenizerCosts) - 1];
}

std::uint8_t vec_dot_class(QuantizationType t) noexcept {
  switch (t) {  // ggml-cpu.c type_traits_cpu[].vec_dot_type
    case Q::kF32: return 0;                       // no conversion
    case Q::kF16: case Q::kBF16: return 1;        // src1 -> f16 / bf16
    case Q::kQ4_0: case Q::kQ5_0: case Q::kQ8_0: case Q::kIQ4_NL: case Q::kMXFP4:
      return 2;                                   // block_q8_0
    case Q::kQ4_1: case Q::kQ5_1: return 3;       // block_q8_1
    case Q::kI2_S: case Q::kTL1: case Q::kTL2: return 0;  // BitNet kernels: own scratch
    default: return 4;                            // block_q8_K (K-quants, IQ, TQ)
  }
}

}  // namespace bitnet::detail

namespace bitnet::detail {

bool cuda_fa_supports_head_dims(std::uint32_t dk, std::uint32_t dv) noexcept {
  // fattn.cu: DKQ/DV pairs with kernels (64, 80, 96, 112, 128, 256 equal; 576/512 for MLA; 40, 72
  // on the tile kernel).
  constexpr std::uint32_t kEqual[] = {40, 64, 72, 80, 96, 112, 128, 256};
  if (dk == dv) return std::find(std::begin(kEqual), std::end(kEqual), dk) != std::end(kEqual);
  return (dk == 576 && dv == 512) || (dk == 192 && dv == 128);
}

std::optional<IsaMask> parse_isa(std::string_view s) noexcept {
  struct Row { std::string_view name; IsaMask bits; };
  constexpr Row kRows[] = {{"avx2", kIsaAvx2}, {"avx512", kIsaAvx2 | kIsaAvx512},
                           {"amx", kIsaAvx2 | kIsaAvx512 | kIsaAmx}, {"neon", kIsaNeonDot},
                           {"generic", 0}};
  IsaMask m = 0;
  while (!s.empty()) {
    const std::size_t cut = s.find_first_of("+,");
    const std::string_view tok = s.substr(0, cut);
    bool found = false;
    for (const auto& r : kRows)
      if (iequals(r.name, tok)) { m |= r.bits; found = true; }
    if (!found) return std::nullopt;
    if (cut == std::string_view::npos) break;
    s.remove_prefix(cut + 1);
  }
  return m;
}

}  // namespace bitnet::detail
