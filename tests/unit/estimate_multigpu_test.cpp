// Several GPUs (llama.cpp's layer split, -ts / --device a,b): which layers each GPU holds, and its
// weights, KV cache and fixed overheads, with the expected bytes derived by hand from the shapes
// (memory-model.md §4, §5, "Several GPUs").
#include <gtest/gtest.h>

#include <numeric>

#include "bitnet/plan.h"
#include "estimate/estimate.h"
#include "unit/estimate_fixtures.h"

namespace bitnet {
namespace {

using test::Shape;

constexpr std::uint64_t kCtx = 4096;

std::uint64_t part(const MemorySegment& s, const std::string& name, const std::string& dev) {
  std::uint64_t v = 0;
  for (const auto& p : s.parts)
    if (p.name == name && p.device == dev) v += p.bytes;
  return v;
}

std::uint64_t pad128(std::uint64_t x) { return (x + 127) / 128 * 128; }

// A CUDA buffer's bytes for one tensor: quantized rows padded to 512 elements, then 128 bytes.
std::uint64_t cuda_bytes(const TensorInfo& t) {
  const std::uint64_t pad_el = t.ne[0] % 512 ? 512 - t.ne[0] % 512 : 0;
  const std::uint64_t rowpad = t.type == QuantizationType::kF32 ? 0 : pad_el / 32 * 34;  // Q8_0
  return pad128(t.nbytes + rowpad);
}

MemoryAnalysisConfig split_cfg(std::optional<std::int32_t> ngl, std::vector<float> ts) {
  MemoryAnalysisConfig c;
  c.runtime.n_ctx = static_cast<std::uint32_t>(kCtx);
  c.runtime.flash_attn = FlashAttn::kOn;
  c.runtime.device = Device{Device::Kind::kCuda, 0};
  c.runtime.n_gpu_layers = ngl;
  c.runtime.tensor_split = std::move(ts);
  c.device = c.runtime.device;
  c.suggestions = false;
  return c;
}

DetailedMemoryRequirements est(const ModelStructureInfo& m, const MemoryAnalysisConfig& c) {
  auto r = detail::estimate_memory(m, c);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
  return r ? *r : DetailedMemoryRequirements{};
}

struct Eight {
  Shape s;
  ModelStructureInfo m;
  Eight() {
    s.n_layer = 8;  // Q8_0, tied head, n_head_kv 2 x head_dim 32 = 64-wide K and V rows
    m = test::make_model(s);
  }
  // f16 K + V of n blocks at kCtx cells: n x 2 x n_ctx x n_embd_kv x 2 bytes.
  std::uint64_t kv(std::uint64_t n_blocks) const {
    return n_blocks * 2 * kCtx * (std::uint64_t{s.n_head_kv} * s.head_dim) * 2;
  }
  std::uint64_t block(std::int32_t il) const {
    std::uint64_t b = 0;
    for (const auto& t : m.tensors)
      if (t.layer == il && t.layer_class == LayerClass::kRepeating) b += cuda_bytes(t);
    return b;
  }
  std::uint64_t blocks(std::int32_t from, std::int32_t to) const {  // [from, to)
    std::uint64_t b = 0;
    for (std::int32_t il = from; il < to; ++il) b += block(il);
    return b;
  }
  // The output layer on a GPU: output_norm and the tied head's copy of token_embd.
  std::uint64_t output() const {
    return cuda_bytes(*m.find_tensor("output_norm.weight")) + cuda_bytes(*m.find_tensor("token_embd.weight"));
  }
};

TEST(EstimateMultiGpu, EqualSplitOfAllLayers) {
  const Eight e;
  // -ngl all = 9 layers (8 blocks + output), -ts 1,1: split points 0.5, 1.0; layer i goes to
  // GPU 0 while i/9 < 0.5, i.e. blocks 0..4 (4/9 = 0.44), and blocks 5..7 + output to GPU 1.
  const auto d = est(e.m, split_cfg(std::nullopt, {1, 1}));
  EXPECT_EQ(d.config.device, "cuda:0,cuda:1");
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(d.devices[0].n_layers, 5u);
  EXPECT_EQ(d.devices[1].n_layers, 4u);
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cuda:0"), e.kv(5));
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cuda:1"), e.kv(3));
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cpu"), 0u);
  EXPECT_EQ(part(d.model_weights, "CUDA0", "cuda:0"), e.blocks(0, 5));
  EXPECT_EQ(part(d.model_weights, "CUDA1", "cuda:1"), e.blocks(5, 8) + e.output());
  EXPECT_EQ(d.devices[0].kv_bytes, e.kv(5));
  EXPECT_EQ(d.devices[1].weights_bytes, e.blocks(5, 8) + e.output());
  // Every layer offloaded to 2 GPUs: pipeline parallelism, 4 copies of each GPU's split inputs
  // (residual 4 n_embd n_ub, positions 4 n_ub, FA mask 2 n_kv n_ub, K and V indices 8 n_ub each).
  const std::uint64_t n_ub = 512, inputs = 4 * 256 * n_ub + 4 * n_ub + 2 * kCtx * n_ub + 16 * n_ub;
  // The logits run on GPU 1 (the output layer): with FA, 4 x n_ubatch x (n_vocab + n_embd).
  EXPECT_EQ(part(d.activations, "compute_buffer", "cuda:1"), 4ull * n_ub * (4096 + 256) + 4 * inputs);
  // GPU 0 has no logits: its own layers' FFN phase, 4 x n_ubatch x (3 n_ff + 4 n_embd).
  EXPECT_EQ(part(d.activations, "compute_buffer", "cuda:0"), 4 * inputs + 4ull * n_ub * (3 * 512 + 4 * 256));
  // The host's graph inputs (tokens, positions, outputs 12 n_ub; mask and indices) four times too.
  const std::uint64_t host_one = 8 * 256 * n_ub + 12 * n_ub + 2 * kCtx * n_ub + 16 * n_ub;
  EXPECT_EQ(part(d.activations, "compute_buffer", "cpu"), host_one + 3 * (12 * n_ub + 2 * kCtx * n_ub + 16 * n_ub));
  // Each GPU has its own CUDA context.
  const GpuOverheadInfo o = gpu_overhead_info("");
  EXPECT_EQ(part(d.system_overhead, "cuda_context", "cuda:0"), o.cuda_context);
  EXPECT_EQ(part(d.system_overhead, "cuda_context", "cuda:1"), o.cuda_context);
  // The per-GPU peaks add up to the device total; the recommendation is the larger GPU.
  EXPECT_EQ(d.devices[0].peak_bytes + d.devices[1].peak_bytes, d.peak_usage.gpu_bytes.value_or(0));
  EXPECT_EQ(d.recommendations.min_gpu_memory.value_or(0),
            std::max(d.devices[0].peak_bytes, d.devices[1].peak_bytes));
  for (const DeviceUsage& u : d.devices)
    EXPECT_EQ(u.peak_bytes, u.weights_bytes + u.kv_bytes + u.compute_bytes + u.overhead_bytes) << u.device;
}

TEST(EstimateMultiGpu, PartialOffloadSplitsFromTheFirstOffloadedLayer) {
  const Eight e;
  // -ngl 5: layers 4..8 (blocks 4..7 + output) offloaded, act = 5; -ts 3,1: split points 0.75, 1.
  // (i - 4)/5 = 0, .2, .4, .6 < .75 -> GPU 0 (blocks 4..7); .8 -> GPU 1 (the output layer alone).
  const auto d = est(e.m, split_cfg(5, {3, 1}));
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cpu"), e.kv(4));     // blocks 0..3
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cuda:0"), e.kv(4));  // blocks 4..7
  EXPECT_EQ(part(d.kv_cache, "kv_cache", "cuda:1"), 0u);
  EXPECT_EQ(part(d.model_weights, "CUDA0", "cuda:0"), e.blocks(4, 8));
  EXPECT_EQ(part(d.model_weights, "CUDA1", "cuda:1"), e.output());
  EXPECT_EQ(d.devices[0].n_layers, 4u);
  EXPECT_EQ(d.devices[1].n_layers, 1u);
  // Not every layer offloaded: no pipeline parallelism, one copy of the inputs; the output GPU's
  // compute buffer is the single-GPU form (FA: the logits).
  EXPECT_EQ(part(d.activations, "compute_buffer", "cuda:1"), 4ull * 512 * (4096 + 256));
}

TEST(EstimateMultiGpu, LayerCountsAsProportionsGiveThoseCounts) {
  const Eight e;
  // What fit prints (-ts as layer counts summing to -ngl) must place exactly those counts.
  for (const auto& ts : std::vector<std::vector<float>>{{5, 4}, {0, 9}, {9, 0}, {2, 3, 4}, {1, 0, 8}}) {
    const auto d = est(e.m, split_cfg(std::nullopt, ts));
    ASSERT_EQ(d.devices.size(), ts.size());
    std::uint64_t kv_sum = 0;
    std::uint32_t first = 0;
    for (std::size_t j = 0; j < ts.size(); ++j) {
      EXPECT_EQ(d.devices[j].n_layers, static_cast<std::uint32_t>(ts[j])) << j;
      // Blocks [first, first + ts[j]) -- the output layer (index 8) holds no KV.
      const std::uint32_t last = std::min<std::uint32_t>(first + static_cast<std::uint32_t>(ts[j]), 8);
      EXPECT_EQ(d.devices[j].kv_bytes, e.kv(last > first ? last - first : 0)) << j;
      kv_sum += d.devices[j].kv_bytes;
      first += static_cast<std::uint32_t>(ts[j]);
    }
    EXPECT_EQ(kv_sum, e.kv(8));
  }
}

TEST(EstimateMultiGpu, OneGpuOrOneProportionIsTheSingleGpuEstimate) {
  const Eight e;
  const auto one = est(e.m, split_cfg(std::nullopt, {}));
  const auto ts1 = est(e.m, split_cfg(std::nullopt, {3}));
  EXPECT_EQ(one.peak_usage.gpu_bytes, ts1.peak_usage.gpu_bytes);
  EXPECT_EQ(one.total.cpu_bytes, ts1.total.cpu_bytes);
  EXPECT_EQ(ts1.config.device, "cuda:0");
  EXPECT_TRUE(ts1.config.tensor_split.empty());
  ASSERT_EQ(one.devices.size(), 1u);
  EXPECT_EQ(one.devices[0].peak_bytes, one.peak_usage.gpu_bytes.value_or(0));
}

TEST(EstimateMultiGpu, AGpuWithoutLayersHoldsOnlyItsContextAndPool) {
  const Eight e;
  auto c = split_cfg(std::nullopt, {1, 0});
  c.runtime.devices = {Device{Device::Kind::kCuda, 0}, Device{Device::Kind::kCuda, 3}};
  const auto d = est(e.m, c);
  EXPECT_EQ(d.config.device, "cuda:0,cuda:3");
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(d.devices[1].device, "cuda:3");
  EXPECT_EQ(d.devices[1].weights_bytes + d.devices[1].kv_bytes + d.devices[1].compute_bytes, 0u);
  const GpuOverheadInfo o = gpu_overhead_info("");
  EXPECT_EQ(d.devices[1].overhead_bytes, o.cuda_context + o.retained_pool + o.transient_pool);
  // GPU 0 holds everything the single-GPU estimate puts on its GPU, plus -- two devices with
  // every layer offloaded turn pipeline parallelism on -- 4 copies of its split inputs (residual
  // 4 n_embd n_ub, positions 4 n_ub, FA mask 2 n_kv n_ub, K and V indices 8 n_ub each).
  const auto one = est(e.m, split_cfg(std::nullopt, {}));
  const std::uint64_t n_ub = 512, inputs = 4 * 256 * n_ub + 4 * n_ub + 2 * kCtx * n_ub + 16 * n_ub;
  EXPECT_EQ(d.devices[0].peak_bytes, one.peak_usage.gpu_bytes.value_or(0) + 4 * inputs);
}

TEST(EstimateMultiGpu, ADeviceListAloneMeansThoseGpus) {
  const Eight e;
  MemoryAnalysisConfig c;  // device left at cpu; only the list says where
  c.runtime.devices = {Device{Device::Kind::kCuda, 2}, Device{Device::Kind::kCuda, 3}};
  c.runtime.tensor_split = {1, 1};
  c.suggestions = false;
  const auto d = est(e.m, c);
  EXPECT_EQ(d.config.device, "cuda:2,cuda:3");
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(d.devices[0].n_layers + d.devices[1].n_layers, 9u);  // a GPU device offloads all
}

TEST(EstimateMultiGpu, PerGpuOverheadRows) {
  const Eight e;
  auto c = split_cfg(std::nullopt, {1, 1});
  c.gpu_names = {"H100", "some unknown GPU"};
  const auto d = est(e.m, c);
  EXPECT_EQ(part(d.system_overhead, "cuda_context", "cuda:0"), gpu_overhead_info("H100").cuda_context);
  EXPECT_EQ(part(d.system_overhead, "cuda_context", "cuda:1"), gpu_overhead_info("").cuda_context);
}

TEST(EstimateMultiGpu, InvalidSplitsAreRefused) {
  const Eight e;
  auto c = split_cfg(std::nullopt, {1, 1, 1});
  c.runtime.devices = {Device{Device::Kind::kCuda, 0}, Device{Device::Kind::kCuda, 1}};
  EXPECT_FALSE(detail::estimate_memory(e.m, c).has_value());  // 3 proportions, 2 devices
  EXPECT_FALSE(detail::estimate_memory(e.m, split_cfg(std::nullopt, {1, -1})).has_value());
  auto dup = split_cfg(std::nullopt, {});
  dup.runtime.devices = {Device{Device::Kind::kCuda, 1}, Device{Device::Kind::kCuda, 1}};
  EXPECT_FALSE(detail::estimate_memory(e.m, dup).has_value());
  // Devices without -ts: an equal split, said in a warning.
  auto eq = split_cfg(std::nullopt, {});
  eq.runtime.devices = {Device{Device::Kind::kCuda, 0}, Device{Device::Kind::kCuda, 1}};
  const auto d = est(e.m, eq);
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(d.devices[0].n_layers, 5u);
  bool warned = false;
  for (const std::string& w : d.warnings) warned = warned || w.find("equal split") != std::string::npos;
  EXPECT_TRUE(warned);
}

}  // namespace
}  // namespace bitnet
