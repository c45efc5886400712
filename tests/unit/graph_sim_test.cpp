// The reserve-graph simulation (src/estimate/graph_sim.h): the periodicity jump must give what
// simulating every layer gives, on uniform stacks, SWA patterns and MoE, for pp and tg graphs.
#include <gtest/gtest.h>

#include <cstdio>

#include "estimate/graph_sim.h"

namespace bitnet::detail::gsim {
namespace {

Params model(const char* arch, std::uint32_t n_layer, std::uint32_t swa_period, bool fa, CacheType kt) {
  Params sp;
  sp.recipe = find_recipe(arch);
  sp.n_embd = 512;
  sp.n_vocab = 3000;
  sp.flash_attn = fa;
  sp.type_k = kt;
  sp.type_v = fa ? kt : CacheType::kF16;
  const bool moe = std::string_view(arch) == "qwen3moe";
  sp.n_expert = moe ? 8 : 0;
  sp.n_expert_used = moe ? 2 : 0;
  sp.n_ff_exp = moe ? 256 : 0;
  for (std::uint32_t il = 0; il < n_layer; ++il) {
    Layer L;
    L.n_head = 8;
    L.n_head_kv = 2;
    L.hd_k = L.hd_v = 64;
    L.n_ff = moe ? 0 : 1536;
    L.moe = moe;
    L.swa = swa_period > 0 && (il + 1) % swa_period != 0;
    L.n_kv = L.swa ? 256 : 2048;
    sp.layers.push_back(L);
  }
  sp.n_embd_v_gqa_max = 128;
  sp.hd_k_max = sp.hd_v_max = 64;
  return sp;
}

TEST(GraphSim, PeriodicityJumpEqualsEveryLayer) {
  struct Case {
    const char* arch;
    std::uint32_t swa_period;
  };
  int jumped = 0, tail_replayed = 0;
  for (const Case& c : {Case{"llama", 0}, Case{"bitnet", 0}, Case{"qwen3", 0}, Case{"qwen3moe", 0},
                        Case{"gemma2", 2}, Case{"gemma3", 6}})
    for (std::uint32_t n_layer : {3u, 7u, 16u, 27u, 40u})
      for (bool fa : {false, true})
        for (CacheType kt : {CacheType::kF16, CacheType::kQuant, CacheType::kF32})
          for (auto [n_tok, n_out] : {std::pair<std::uint64_t, std::uint64_t>{512, 512}, {512, 1}, {1, 1}, {96, 96}}) {
            if (!fa && kt == CacheType::kQuant) continue;
            Params sp = model(c.arch, n_layer, c.swa_period, fa, kt);
            ASSERT_NE(sp.recipe, nullptr) << c.arch;
            sp.track_touch = true;  // the touched pages too: replayed layers record their ranges
            const GraphResult fast = simulate_graph(sp, n_tok, n_out);
            sp.every_layer = true;
            const GraphResult full = simulate_graph(sp, n_tok, n_out);
            EXPECT_EQ(fast.max_size, full.max_size)
                << c.arch << " n_layer " << n_layer << " fa " << fa << " n_tok " << n_tok;
            EXPECT_EQ(fast.own_bytes, full.own_bytes) << c.arch << " n_layer " << n_layer;
            EXPECT_EQ(fast.own_count, full.own_count) << c.arch << " n_layer " << n_layer;
            EXPECT_EQ(fast.touched, full.touched) << c.arch << " n_layer " << n_layer << " fa " << fa;
            EXPECT_GT(fast.touched, 0u);
            EXPECT_LE(fast.touched, full.max_size + 4096) << c.arch;
            EXPECT_EQ(full.layers_run, n_layer);
            jumped += fast.layers_run < n_layer;
            tail_replayed += fast.tail_replayed;
            EXPECT_FALSE(full.tail_replayed);
            // A uniform stack repeats after two layers: two, then the last one, replayed up to wo.
            if (c.swa_period == 0 && n_layer >= 16) {
              EXPECT_LE(fast.layers_run, 3u) << c.arch;
              EXPECT_TRUE(fast.tail_replayed) << c.arch << " n_layer " << n_layer;
            }
          }
  EXPECT_GT(jumped, 100);
  EXPECT_GT(tail_replayed, 100);
}

// Residency: with last-token logits the reserved logits rows are never written; asking for every
// row writes the whole logits tensor (L = 4 * n_vocab * n_out bytes, far larger than the rest of
// the graph here, so it cannot hide in pages other tensors touched). The token path's embeddings
// input is never written and, an input with no consumer, never freed: its range (4 * n_embd *
// n_tok) stays out of the touched pages whatever is asked.
TEST(GraphSim, ServingTouchesOnlyTheRowsItAsksFor) {
  Params sp = model("llama", 4, 0, true, CacheType::kF16);
  sp.n_vocab = 32000;
  sp.track_touch = true;
  sp.serve_outputs = 1;
  const GraphResult one = simulate_graph(sp, 512, 512);
  sp.serve_outputs = 512;
  const GraphResult all = simulate_graph(sp, 512, 512);
  const std::uint64_t logits = 4u * 32000 * 512, embd = 4u * 512 * 512;
  EXPECT_GE(all.touched, logits);
  EXPECT_LT(one.touched, logits / 2);
  EXPECT_LE(all.touched, all.max_size + 4096 - (embd - 2 * 4096));
}

// The CUDA build (ggml_backend_sched split + one allocator per backend): cutting runs of identical
// layers short must give what simulating every layer gives, for host / partial / full offload, a
// KV cache kept on the host, weights CUDA cannot run, pp and tg graphs.
TEST(GraphSim, GpuRunCutEqualsEveryLayer) {
  int cut = 0, skipped = 0;
  for (const char* arch : {"llama", "bitnet", "qwen3", "gemma2", "gemma3"})
    for (std::uint32_t n_layer : {5u, 16u, 27u, 40u})
      for (std::uint32_t i_gpu_start : {0u, n_layer / 3, n_layer, n_layer + 1})
        for (bool kv_gpu : {true, false})
          for (bool fa : {false, true})
            for (bool host_ffn : {false, true})
              for (auto [n_tok, n_out] : {std::pair<std::uint64_t, std::uint64_t>{512, 512}, {512, 1}, {1, 1}}) {
                const std::uint32_t period = std::string_view(arch) == "gemma3" ? 6 : std::string_view(arch) == "gemma2" ? 2 : 0;
                Params sp = model(arch, n_layer, period, fa, CacheType::kF16);
                sp.gpu = true;
                sp.dev.resize(n_layer + 1);
                for (std::uint32_t il = 0; il <= n_layer; ++il) {
                  Params::Dev& d = sp.dev[il];
                  d.gpu = il >= i_gpu_start;
                  d.kv_gpu = d.gpu && kv_gpu;
                  d.wb = {512 * 512 * 2, 128 * 512 * 2, 128 * 512 * 2, 512 * 512 * 2, 1536 * 512 * 2,
                          1536 * 512 * 2, 1536 * 512 * 2};
                  if (il == n_layer) d.wb = {3000ull * 512 * 2, 0, 0, 0, 0, 0, 0};
                  if (host_ffn && il < n_layer) {
                    d.wok[4] = d.wok[5] = d.wok[6] = false;
                    d.whost[4] = d.whost[5] = d.whost[6] = true;
                  }
                  // bitnet: per-tensor scales after every matmul; with host_ffn the head is
                  // token_embd in host memory as well (upstream bitnet's tied head).
                  if (std::string_view(arch) == "bitnet" && il < n_layer) d.ws.fill(true);
                  if (std::string_view(arch) == "bitnet" && host_ffn && il == n_layer) d.whost[0] = true;
                }
                const auto fast = simulate_graph_gpu(sp, n_tok, n_out);
                sp.every_layer = true;
                const auto full = simulate_graph_gpu(sp, n_tok, n_out);
                EXPECT_EQ(fast, full) << arch << " n_layer " << n_layer << " i_gpu_start " << i_gpu_start
                                      << " kv_gpu " << kv_gpu << " fa " << fa << " host_ffn " << host_ffn
                                      << " n_tok " << n_tok << " n_out " << n_out;
                cut += n_layer > 9 && period == 0;
                // Soundness of the bound that skips the tg graph (simulate_reserve_gpu): where it
                // says the tg graph (1 token and row) cannot enlarge a buffer, it does not.
                if (n_tok == 512) {
                  GpuGraphStats st;
                  sp.every_layer = false;
                  const auto pp = simulate_graph_gpu(sp, n_tok, n_out, &st);
                  if (gpu_tg_cannot_grow(st, pp, 1, n_tok, n_out, 0)) {
                    ++skipped;
                    const auto tg = simulate_graph_gpu(sp, 1, 1);
                    EXPECT_LE(tg[0], pp[0]) << arch << " n_layer " << n_layer << " i_gpu_start " << i_gpu_start;
                    EXPECT_LE(tg[1], pp[1]) << arch << " n_layer " << n_layer << " i_gpu_start " << i_gpu_start;
                  }
                }
              }
  EXPECT_GT(cut, 100);
  EXPECT_GT(skipped, 50);  // the bound is not vacuous
  std::printf("tg bound: %d of the pp graphs skip their tg graph, each checked\n", skipped);
}

// A head weight in host memory (bitnet's tied head is token_embd, which never leaves the host)
// with every layer offloaded: the head matmul of a 512-row ubatch is op-offloaded to the GPU and
// its weight copied into the GPU compute buffer as a split input. The head weight and the logits
// are each larger than everything the layers free, so both land at the buffer's end and the GPU
// buffer grows by exactly the weight's bytes (a multiple of the 128-byte alignment); the host
// buffer does not change. With one output row there is no offload: the head runs on the CPU.
TEST(GraphSim, HostHeadIsCopiedIntoGpuBuffer) {
  for (bool fa : {false, true}) {
    Params sp = model("bitnet", 4, 0, fa, CacheType::kF16);
    sp.n_vocab = 32000;
    sp.gpu = true;
    sp.dev.resize(5);
    for (std::uint32_t il = 0; il <= 4; ++il) {
      Params::Dev& d = sp.dev[il];
      d.gpu = d.kv_gpu = true;
      d.wb = {512 * 512 * 2, 128 * 512 * 2, 128 * 512 * 2, 512 * 512 * 2, 1536 * 512 * 2,
              1536 * 512 * 2, 1536 * 512 * 2};
      if (il == 4) d.wb = {32000ull * 512 * 2, 0, 0, 0, 0, 0, 0};
    }
    const auto on_gpu = simulate_graph_gpu(sp, 512, 512);
    sp.dev[4].whost[0] = true;
    const auto on_host = simulate_graph_gpu(sp, 512, 512);
    EXPECT_EQ(on_host[0], on_gpu[0] + 32000ull * 512 * 2) << "fa " << fa;
    EXPECT_EQ(on_host[1], on_gpu[1]) << "fa " << fa;
    // One row: the CPU runs the head, so the GPU buffer needs no copy of the weight.
    const auto tg = simulate_graph_gpu(sp, 1, 1);
    EXPECT_LT(tg[0], 32000ull * 512 * 2) << "fa " << fa;
  }
}

}  // namespace
}  // namespace bitnet::detail::gsim
