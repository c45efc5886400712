// The reserve graph llama.cpp builds for one ubatch, as tensors for the allocator model
// (graph_alloc.h), and the compute buffer ggml_gallocr sizes for it (memory-model.md §6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace bitnet::detail {

struct Plan;

namespace gsim {

enum class FfnAct : std::uint8_t { kSwiglu, kGeglu };

// How an architecture's graph differs from llama's (src/models/<arch>.cpp); data, not code paths.
struct Recipe {
  std::string_view arch;
  bool qk_norm = false;        // rms_norm * w on Q and K before RoPE (qwen3, gemma3)
  bool sub_norms = false;      // bitnet: attn_sub_norm before wo, ffn_sub_norm before ffn_down
  bool post_norms = false;     // gemma2/3: attn_post_norm, ffn_post_norm
  bool embd_scale = false;     // gemma: inpL = scale(get_rows)
  bool q_scale = false;        // gemma: Qcur = scale(Qcur) after RoPE
  bool attn_softcap = false;   // gemma2: scale, tanh, scale on KQ (no FA)
  bool final_softcap = false;  // gemma2: scale, tanh, scale on the logits
  bool iswa = false;           // two caches (base, SWA) with their own inputs
  bool moe = false;            // build_moe_ffn on layers with experts
  bool moe_norm_w = false;     // the top-k weights are renormalised (qwen3moe)
  FfnAct act = FfnAct::kSwiglu;
};

// The recipe for an architecture name, or nullptr (the closed form applies).
const Recipe* find_recipe(std::string_view arch) noexcept;

struct Layer {
  std::uint32_t n_head = 0, n_head_kv = 0, hd_k = 0, hd_v = 0;
  std::uint64_t n_ff = 0;  // dense FFN width
  std::uint64_t n_kv = 0;  // cells per stream of this layer's cache
  bool swa = false;
  bool moe = false;
  bool operator==(const Layer& o) const noexcept {
    return n_head == o.n_head && n_head_kv == o.n_head_kv && hd_k == o.hd_k && hd_v == o.hd_v &&
           n_ff == o.n_ff && n_kv == o.n_kv && swa == o.swa && moe == o.moe;
  }
};

// Element type of a cache tensor as the graph sees it.
enum class CacheType : std::uint8_t { kF16, kF32, kQuant };

struct Params {
  const Recipe* recipe = nullptr;
  std::uint64_t n_embd = 0, n_vocab = 0;
  std::uint64_t n_stream = 1;  // KV streams (n_seq without a unified cache)
  std::uint64_t n_seq = 1;
  std::uint64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  std::uint64_t n_embd_v_gqa_max = 0;
  std::uint32_t hd_k_max = 0, hd_v_max = 0;
  bool flash_attn = false;
  CacheType type_k = CacheType::kF16, type_v = CacheType::kF16;
  std::vector<Layer> layers;
  // The CUDA build: where each layer's weights and cache live (index n_layer: the output layer),
  // and each matmul weight's bytes as a copy in the GPU buffer and whether CUDA runs it.
  struct Dev {
    bool gpu = false, kv_gpu = false;
    std::array<std::uint64_t, 7> wb{};  // q, k, v, o, up, gate, down (output layer: [0] the head)
    std::array<bool, 7> wok{true, true, true, true, true, true, true};
    // The weight is in a host buffer although the layer is offloaded: a type CUDA cannot run
    // (llama-model.cpp falls back to the CPU buffer type when the device rejects the weight's op),
    // or the output layer's head when it is token_embd itself (SimWeights::head_host).
    std::array<bool, 7> whost{};
    // The matmul is followed by a MUL with a per-tensor scale weight (build_lora_mm's w_s); in the
    // layer's buffer (CUDA runs MUL), so with a host weight the product crosses to the GPU there.
    std::array<bool, 7> ws{};
    bool operator==(const Dev& o) const noexcept {
      return gpu == o.gpu && kv_gpu == o.kv_gpu && wb == o.wb && wok == o.wok && whost == o.whost &&
             ws == o.ws;
    }
  };
  bool gpu = false;
  bool op_offload = true;  // llama_context_params.op_offload (default on)
  std::vector<Dev> dev;
  bool every_layer = false;  // simulate every layer (no periodicity jump): tests compare the two
  // Filled by the engine from the digest's layer runs (0: work them out from `layers`): the
  // cells of the base and SWA caches, whether any layer is SWA, the period of the layer classes.
  std::uint64_t n_kv_base = 0, n_kv_swa = 0;
  bool has_swa = false;
  std::size_t period = 0;
  // Residency (memory-model.md §6): record the pages the serving graphs touch in this graph's
  // layout, when they request serve_outputs logits rows per ubatch.
  bool track_touch = false;
  std::uint64_t serve_outputs = 1;
};

struct GraphResult {
  std::uint64_t max_size = 0;    // the peak offset ggml_gallocr reaches: the buffer this graph needs
  std::uint64_t own_bytes = 0;   // sum of the sizes of every non-view, non-external tensor of the
  std::uint64_t own_count = 0;   // whole graph (skipped layers included), and their number
  std::uint64_t layers_run = 0;  // layers actually simulated (the rest repeated a state)
  std::uint64_t touched = 0;     // with track_touch: resident bytes of the buffer while serving
  bool tail_replayed = false;    // the tail layers replayed (the last one up to wo), not built
};
// ggml_gallocr over the graph of one ubatch of n_tokens tokens and n_outputs logits rows.
GraphResult simulate_graph(const Params& sp, std::uint64_t n_tokens, std::uint64_t n_outputs);

// llama-context.cpp sched_reserve on the CPU: the pp graph (n_ubatch tokens, n_outputs rows), the
// tg graph (n_seq tokens and rows), the pp graph again; the buffer only grows, so its size is the
// larger of the two. nullopt: the architecture has no recipe.
struct Reserve {
  std::uint64_t size = 0;      // the CPU compute buffer
  std::uint64_t resident = 0;  // what serving touches of it (memory-model.md §6 "Residency")
};
std::optional<Reserve> simulate_reserve(const Plan& p);

// The CUDA build: ggml_backend_sched over the same reserve graphs; [0] the GPU compute buffer
// (CUDA0), [1] the host one (CUDA_Host). nullopt: no recipe, or a graph not modelled there.
std::optional<std::array<std::uint64_t, 2>> simulate_reserve_gpu(const Plan& p);
// One graph of the CUDA build (sp.gpu and sp.dev set): the peaks of the two buffers. `stats`, when
// given, receives the bytes and count of the graph's own tensors (neither views nor external),
// as built (runs of identical layers cut short).
struct GpuGraphStats {
  std::uint64_t own_bytes = 0, own_count = 0;
};
std::array<std::uint64_t, 2> simulate_graph_gpu(const Params& sp, std::uint64_t n_tokens,
                                                std::uint64_t n_outputs, GpuGraphStats* stats = nullptr);

// Whether the tg graph (ns tokens and rows, ns < 32: no op offload, no weight copies) provably
// cannot enlarge either buffer of the pp graph (n_tok tokens, n_out rows) of the same topology:
// each of its tensors is at most ns / min(n_tok, n_out) of its pp size (constant `fixed_bytes`
// aside: the Hadamard inputs), each has at most one copy in the other backend, and an allocator
// never holds more than the padded sum of what it is given (128-byte alignment at most).
bool gpu_tg_cannot_grow(const GpuGraphStats& pp, const std::array<std::uint64_t, 2>& pp_sizes, std::uint64_t ns,
                        std::uint64_t n_tok, std::uint64_t n_out, std::uint64_t fixed_bytes) noexcept;

}  // namespace gsim
}  // namespace bitnet::detail
