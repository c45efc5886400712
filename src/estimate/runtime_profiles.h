// Runtime profiles (memory-model.md §8, §9): whose allocation behaviour an estimate predicts. Every
// difference between runtimes is a field of a row here, with the upstream source beside it; the
// estimator has no code path keyed on a runtime's or an architecture's name.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "bitnet/model_info.h"
#include "bitnet/types.h"

namespace bitnet::detail {

// CPU instruction-set features that decide weight repacking (ggml-cpu extra buffer types).
enum IsaBits : std::uint8_t {
  kIsaAvx2 = 1,     // x86 AVX2
  kIsaAvx512 = 2,   // x86 AVX-512 (F/BW/VL ...)
  kIsaAmx = 4,      // x86 AMX-INT8 (Sapphire Rapids and later)
  kIsaNeonDot = 8,  // ARM NEON with dotprod / i8mm
};
using IsaMask = std::uint8_t;

// Which KV sizes the profile's cache uses (memory-model.md §5, §9).
enum class CtxPadRule : std::uint8_t {
  kPad256,          // current llama.cpp: n_ctx padded to 256 (PR #17046), per-stream cells padded to 256
  kPadFa256Else32,  // 2024 fork: pad(n_ctx, FA ? 256 : 32) (PR #7257)
};
enum class SwaRule : std::uint8_t {
  kCurrent,  // pad(min(size_base, n_swa * (unified ? n_seq : 1) + n_ubatch), 256)
  kOld,      // min(n_ctx, pad(n_swa * n_seq + n_batch, pad))
};
enum class LogitRows : std::uint8_t {
  kOutputsMax,  // min(n_tokens, n_outputs_max), n_outputs_max defaulting to n_batch (PR #23861)
  kUbatch,      // n_tokens (2024 fork and builds before #23861)
};
enum class ComputeForm : std::uint8_t {
  kCorrected,  // current graph: inp_embd and KV index inputs (memory-model.md §6, corrected form)
  kOld,        // 2024 fork: logits vs attention, no input terms (memory-model.md §6, old form)
};

// Host memory per tensor and layer after load, beyond the buffers.
enum class HostObjects : std::uint8_t {
  kRuntimeCalibrated,  // llama.cpp: ggml_tensor objects, names, loader maps (fit: 1.5 KiB per tensor)
  kLoaderStructs,      // our loader: its own structs (TensorInfo copy, TensorView, names), derived
};

// Host bookkeeping of the KV cells (system_overhead "kv_cell_metadata"): per cell of every cache
// at creation, and per cell a sequence occupies while serving (heap nodes, glibc chunks).
struct KvCellRule {
  std::uint32_t per_cell = 0;       // bytes per allocated cell (vectors sized at creation)
  std::uint32_t per_used_cell = 0;  // bytes per cell one sequence holds (std::set nodes)
  // Heap the first decodes leave behind (the ubatch's cell copies, the batch allocator, graph
  // inputs): for the first cache, and for each further one (iSWA).
  std::uint32_t first_decode = 0, first_decode_per_cache = 0;
  std::string_view source;
};

struct RuntimeProfile {
  std::string_view name;          // --runtime
  CtxPadRule ctx_pad;
  SwaRule swa;
  LogitRows logit_rows;
  ComputeForm compute_form;
  bool fa_auto_on;                // -fa auto resolves to on where the backend supports the head dims
  bool fa_supported;              // the runtime has flash attention at all
  std::string_view mapped_buffer; // name of the mapped model buffer: "CPU_Mapped" or "CPU"
  bool repack;                    // CPU weight repacking into extra buffer types
  IsaMask default_isa;            // the CPU the estimate assumes unless told otherwise
  bool bitnet_kernels;            // I2_S / TL1 / TL2 kernels (I8_S and LUT scratch, TL extras)
  bool cpu_work_buffer;           // a ggml-cpu work buffer (ggml_graph_plan) is allocated
  bool tokenizer;                 // the runtime builds llama-vocab's tokenizer structures
  bool commit_at_load;            // every anonymous buffer is allocated and touched at load
  bool maps_whole_file;           // the mapped part is the whole file, not the tensors' span
  bool in_process;                // the runtime loads inside the caller's process (our loader): a
                                  // measured process base (MemoryAnalysisConfig) applies
  HostObjects host_objects;       // what the host objects per tensor are
  std::string_view host_base;     // row of tables/device_overheads host_base() for a CPU build
  bool has_gpu_backend;           // a CUDA backend exists
  std::uint32_t default_threads;  // -t default when the config says 0
  KvCellRule kv_cells;            // zero: the runtime keeps no per-cell heap structures
  std::string_view source;
};

// The profile named `name`, or nullptr.
const RuntimeProfile* find_runtime_profile(std::string_view name) noexcept;
std::span<const RuntimeProfile> all_runtime_profiles() noexcept;

// A CPU extra buffer type that repacks weights of one type (ggml-cpu repack.cpp / amx).
struct RepackRule {
  QuantizationType type;
  IsaMask needs;                 // any of these ISA bits enables the rule
  std::string_view buffer;       // "CPU_REPACK", "AMX"
  bool amx;                      // the AMX buffer type (MUL_MAT only, 64-byte alignment)
  std::uint32_t ne1_multiple;    // weight rows must be a multiple of this
  std::uint32_t extra_per_block; // bytes added per block by the packed layout (AMX compensation)
  std::string_view source;
};
// The first rule that repacks a MUL_MAT weight of type `t` with `ne1` rows on `isa`; nullptr if
// the weight stays in the default buffer. Rules are tried in llama.cpp's buffer-type order.
const RepackRule* find_repack_rule(QuantizationType t, std::uint64_t ne1, IsaMask isa) noexcept;
std::span<const RepackRule> all_repack_rules() noexcept;

// Architectures whose output head multiplies by token_embd directly instead of a (duplicated)
// output tensor: the tied weight is never copied to another buffer (llama.cpp src/models/*.cpp).
bool head_reads_token_embd(std::string_view architecture) noexcept;

// Which tensor types the CUDA backend can run (a weight of another type stays in host memory even
// when its layer is offloaded: memory-model.md §3, ground truth README).
bool cuda_supports_type(QuantizationType t) noexcept;

// llama-vocab.cpp tokenizer cost (memory-model.md §7): fixed + per token + per merge + the heap
// copies of the tokens longer than std::string's small-string buffer.
struct TokenizerCost {
  std::string_view model;        // tokenizer.ggml.model ("gpt2" = BPE, "llama" = SPM ...)
  std::uint64_t fixed_bytes;
  std::uint64_t per_token;
  std::uint64_t per_merge;
  std::uint64_t long_token_copies;  // heap copies of each long token (TokenizerInfo::long_token_heap_bytes)
  Basis basis;
  std::string_view source;
};
const TokenizerCost& tokenizer_cost(std::string_view model) noexcept;  // a generic row if unknown

// Vector-dot type bytes per element for the src1 conversion of a MUL_MAT whose weight has type t
// (ggml-cpu type_traits_cpu[t].vec_dot_type): Q8_K for K-quants, Q8_0 for the legacy quants, f16
// for f16. Returned as a fraction num/den of bytes per element.
struct BytesPerElem { std::uint32_t num, den; };
// The conversion classes (index into kVecDotClasses): none, f16/bf16, q8_0, q8_1, q8_K.
inline constexpr BytesPerElem kVecDotClasses[] = {{0, 1}, {2, 1}, {34, 32}, {36, 32}, {292, 256}};
std::uint8_t vec_dot_class(QuantizationType t) noexcept;
inline BytesPerElem vec_dot_bytes(QuantizationType t) noexcept { return kVecDotClasses[vec_dot_class(t)]; }

}  // namespace bitnet::detail

namespace bitnet::detail {

// ggml-cuda/fattn.cu ggml_cuda_flash_attn_ext_get_best: head sizes with CUDA FA kernels.
bool cuda_fa_supports_head_dims(std::uint32_t dk, std::uint32_t dv) noexcept;

// "avx2", "avx512", "avx512+amx", "amx", "neon" (comma or plus separated); nullopt if unknown.
std::optional<IsaMask> parse_isa(std::string_view s) noexcept;

}  // namespace bitnet::detail
