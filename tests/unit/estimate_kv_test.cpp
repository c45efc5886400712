// KV cache and recurrent state: expected bytes by hand (memory-model.md §5).
#include <gtest/gtest.h>

#include "estimate/estimate.h"
#include "unit/estimate_fixtures.h"

namespace bitnet {
namespace {

using test::Shape;

MemoryAnalysisConfig cpu_cfg(std::uint32_t n_ctx = 4096) {
  MemoryAnalysisConfig c;
  c.runtime.n_ctx = n_ctx;
  c.suggestions = false;
  return c;
}

std::uint64_t part(const MemorySegment& s, const std::string& name, const std::string& dev = "cpu") {
  std::uint64_t v = 0;
  for (const auto& p : s.parts)
    if (p.name == name && p.device == dev) v += p.bytes;
  return v;
}

DetailedMemoryRequirements est(const ModelStructureInfo& m, const MemoryAnalysisConfig& c) {
  auto r = detail::estimate_memory(m, c);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
  return r ? *r : DetailedMemoryRequirements{};
}

TEST(EstimateKv, Bitnet2B4TAtDefaultsUsesKvHeads) {
  const auto m = test::make_model(test::bitnet_2b4t());
  const auto d = est(m, cpu_cfg());
  // 30 layers x (K + V) x 640 (5 KV heads x 128) x 2 bytes (f16) x 4096 cells.
  const std::uint64_t expected = 30ull * 2 * 640 * 2 * 4096;
  EXPECT_EQ(d.kv_cache.cpu_bytes, expected);
  EXPECT_EQ(part(d.kv_cache, "kv_cache"), expected);
  // The original sketch used the 20 attention heads: 4x too big.
  EXPECT_NE(d.kv_cache.cpu_bytes, 30ull * 2 * 2560 * 2 * 4096);
  EXPECT_EQ(d.config.n_ctx, 4096u);
}

TEST(EstimateKv, GqaLlama1BShape) {
  Shape s;
  s.n_layer = 16; s.n_embd = 2048; s.n_head = 32; s.n_head_kv = 8; s.head_dim = 64;
  const auto d = est(test::make_model(s), cpu_cfg());
  EXPECT_EQ(d.kv_cache.cpu_bytes, 16ull * 2 * (8 * 64 * 2) * 4096);  // 128 MiB, as llama.cpp logs
}

TEST(EstimateKv, QuantizedKUsesBlockRows) {
  Shape s;  // 4 layers, 2 KV heads x 32 = 64 wide rows
  auto c = cpu_cfg();
  c.runtime.type_k = Precision::kQ8_0;
  const auto d = est(test::make_model(s), c);
  // K: 64/32 blocks x 34 B; V: 64 x 2 B.
  EXPECT_EQ(d.kv_cache.cpu_bytes, 4ull * (2 * 34 + 64 * 2) * 4096);
}

TEST(EstimateKv, SlidingWindowLayersHoldWindowPlusUbatch) {
  Shape s;  // gemma3-like: 18 layers, every 6th global, window 512, 1 KV head of 256
  s.arch = "gemma3"; s.n_layer = 18; s.n_embd = 640; s.n_head = 4; s.n_head_kv = 1; s.head_dim = 256;
  s.sliding_window = 512; s.swa_period = 6;
  const auto d = est(test::make_model(s), cpu_cfg(4096));
  const std::uint64_t per_cell = 2ull * 256 * 2;  // K + V, f16
  const std::uint64_t swa_cells = 1024;           // pad(min(4096, 512 + 512), 256)
  EXPECT_EQ(d.kv_cache.cpu_bytes, 3 * per_cell * 4096 + 15 * per_cell * swa_cells);
  // At 32k the SWA layers stay at 1024 cells.
  const auto d32 = est(test::make_model(s), cpu_cfg(32768));
  EXPECT_EQ(d32.kv_cache.cpu_bytes, 3 * per_cell * 32768 + 15 * per_cell * swa_cells);
}

// The host bookkeeping of the cells (system_overhead kv_cell_metadata, llama.cpp profile), by hand
// from llama-kv-cells.h: per allocated cell pos (int32) + ext {x, y, tok} (3 x int32) + shift
// (int32) + seq (std::bitset<256>, 32 B) = 52 B; per cell the workload's sequence fills, one node
// of `used` and one of seq_pos[0] (40-byte std::set nodes, 48-byte glibc chunks) = 96 B; plus the
// heap the first decode leaves (171,152 B measured, 50,504 B more for a second cache).
TEST(EstimateKv, CellBookkeepingByHand) {
  auto cells_part = [](const DetailedMemoryRequirements& d) { return part(d.system_overhead, "kv_cell_metadata"); };
  const std::uint64_t per_cell = 4 + 3 * 4 + 4 + 256 / 8, per_used = 2 * 48;
  {
    Shape s;  // one cache of 4096 cells, one stream
    EXPECT_EQ(cells_part(est(test::make_model(s), cpu_cfg(4096))), 4096 * (per_cell + per_used) + 171152);
  }
  {
    Shape s;  // four sequences, split streams: 4 x 1024 cells allocated, one stream filled
    auto c = cpu_cfg(4096);
    c.runtime.max_batch_size = 4;
    EXPECT_EQ(cells_part(est(test::make_model(s), c)), 4096 * per_cell + 1024 * per_used + 171152);
  }
  {
    Shape s;  // gemma3-like: a full cache of 4096 cells and an SWA cache of 1024
    s.arch = "gemma3"; s.n_layer = 18; s.n_embd = 640; s.n_head = 4; s.n_head_kv = 1; s.head_dim = 256;
    s.sliding_window = 512; s.swa_period = 6;
    EXPECT_EQ(cells_part(est(test::make_model(s), cpu_cfg(4096))),
              (4096 + 1024) * (per_cell + per_used) + 171152 + 50504);
  }
}

TEST(EstimateKv, MlaCachesKOnly) {
  Shape s;
  s.arch = "deepseek2"; s.mla_k = 576; s.n_head = 16; s.head_dim = 128;
  auto c = cpu_cfg();
  c.runtime.flash_attn = FlashAttn::kOn;
  const auto d = est(test::make_model(s), c);
  EXPECT_EQ(d.kv_cache.cpu_bytes, 4ull * 576 * 2 * 4096);  // no V tensor
}

TEST(EstimateKv, RecurrentStateIndependentOfContext) {
  Shape s;
  s.arch = "mamba"; s.n_embd_r = 3 * 1024; s.n_embd_s = 16 * 1024;
  const auto d1 = est(test::make_model(s), cpu_cfg(4096));
  const auto d2 = est(test::make_model(s), cpu_cfg(65536));
  const std::uint64_t per_layer = 4ull * (3 * 1024) + 4ull * (16 * 1024);  // one sequence
  EXPECT_EQ(part(d1.kv_cache, "recurrent_state"), 4 * per_layer);
  EXPECT_EQ(part(d2.kv_cache, "recurrent_state"), 4 * per_layer);
  EXPECT_EQ(part(d1.kv_cache, "kv_cache"), 0u);
  auto c = cpu_cfg();
  c.runtime.max_batch_size = 3;
  EXPECT_EQ(part(est(test::make_model(s), c).kv_cache, "recurrent_state"), 3 * 4 * per_layer);
}

TEST(EstimateKv, StreamsPadPerSequenceCells) {
  Shape s;
  const std::uint64_t per_cell = 4ull * 2 * 64 * 2;  // 4 layers, K + V, 64 wide, f16
  auto c = cpu_cfg(4096);
  c.runtime.max_batch_size = 4;  // 4 streams of 1024 cells
  EXPECT_EQ(est(test::make_model(s), c).kv_cache.cpu_bytes, per_cell * 4096);
  c.runtime.max_batch_size = 3;  // 4096 / 3 = 1365 -> pad 256 = 1536 cells per stream
  const auto d = est(test::make_model(s), c);
  EXPECT_EQ(d.kv_cache.cpu_bytes, per_cell * 3 * 1536);
  EXPECT_EQ(d.config.n_ctx_seq, 1536u);
  c.runtime.kv_unified = true;  // one stream of 4096
  EXPECT_EQ(est(test::make_model(s), c).kv_cache.cpu_bytes, per_cell * 4096);
}

TEST(EstimateKv, GrowsWithBatchAndSequenceLength) {
  Shape s;
  const std::uint64_t per_cell = 4ull * 2 * 64 * 2;
  auto c = cpu_cfg(0);
  c.runtime.max_sequence_length = 1024;
  c.runtime.max_batch_size = 1;
  const auto a = est(test::make_model(s), c);
  c.runtime.max_batch_size = 4;
  const auto b = est(test::make_model(s), c);
  c.runtime.max_sequence_length = 4096;
  const auto e = est(test::make_model(s), c);
  EXPECT_EQ(a.kv_cache.cpu_bytes, per_cell * 1024);
  EXPECT_EQ(b.kv_cache.cpu_bytes, per_cell * 4096);
  EXPECT_EQ(e.kv_cache.cpu_bytes, per_cell * 16384);
}

TEST(EstimateKv, ContextZeroMeansTrainingContextPadded) {
  Shape s;
  s.n_ctx_train = 5000;  // padded to 5120
  const auto d = est(test::make_model(s), cpu_cfg(0));
  EXPECT_EQ(d.config.n_ctx, 5120u);
  EXPECT_EQ(d.kv_cache.cpu_bytes, 4ull * 2 * 64 * 2 * 5120);
}

TEST(EstimateKv, MoeUsesKvHeadsAndCountsEveryExpert) {
  Shape s;
  s.arch = "qwen3moe"; s.n_expert = 8; s.n_expert_used = 2; s.n_ff_exp = 256;
  s.weight = QuantizationType::kQ8_0;
  const auto m = test::make_model(s);
  const auto d = est(m, cpu_cfg());
  EXPECT_EQ(d.kv_cache.cpu_bytes, 4ull * 2 * 64 * 2 * 4096);
  // All tensors are Q8_0 or F32 (not repacked on x86): the mapped span is the whole data section.
  std::uint64_t data = 0;
  for (const auto& t : m.tensors) data = t.offset + t.nbytes;
  EXPECT_EQ(d.model_weights.shared_bytes, data);
  // The experts: 3 x (256 x 256 x 8) Q8_0 per layer, all resident.
  const std::uint64_t experts = 4ull * 3 * (256ull * 256 * 8 / 32 * 34);
  EXPECT_GT(d.model_weights.shared_bytes, experts);
}

}  // namespace
}  // namespace bitnet
