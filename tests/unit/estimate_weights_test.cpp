// Model buffers and -ngl placement: expected bytes by hand (memory-model.md §4).
#include <gtest/gtest.h>

#include "estimate/estimate.h"
#include "unit/estimate_fixtures.h"

namespace bitnet {
namespace {

using test::pad32;
using test::Shape;

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

MemoryAnalysisConfig cfg() {
  MemoryAnalysisConfig c;
  c.suggestions = false;
  return c;
}

MemoryAnalysisConfig gpu_cfg(std::optional<std::int32_t> ngl) {
  MemoryAnalysisConfig c = cfg();
  c.device = Device{Device::Kind::kCuda, 0};
  c.runtime.device = c.device;
  c.runtime.n_gpu_layers = ngl;
  return c;
}

std::uint64_t pad128(std::uint64_t x) { return (x + 127) / 128 * 128; }

TEST(EstimateWeights, Bitnet2B4TIsTheTensorData) {
  const auto m = test::make_model(test::bitnet_2b4t());
  const auto d = est(m, cfg());
  // memory-model.md §3: 30 x (7 I2_S + 4 norms) + F16 token_embd + output_norm = 1,179,449,920 B;
  // every size is a multiple of 32, so the mapped span is exactly the data.
  EXPECT_EQ(d.model_weights.shared_bytes, 1179449920u);
  EXPECT_EQ(part(d.model_weights, "CPU_Mapped"), 1179449920u);
  EXPECT_EQ(d.model_weights.cpu_bytes, 0u);
  EXPECT_FALSE(d.model_weights.gpu_bytes.has_value());
}

TEST(EstimateWeights, NoMmapIsAnonymousPad32) {
  Shape s;
  s.n_vocab = 4097;  // token_embd = 7 x 34 x 4097 B, not a multiple of 32: pad32 shows
  const auto m = test::make_model(s);
  auto c = cfg();
  c.runtime.mmap = false;
  const auto d = est(m, c);
  std::uint64_t expected = 0;
  for (const auto& t : m.tensors) expected += pad32(t.nbytes);
  EXPECT_EQ(part(d.model_weights, "CPU"), expected);
  EXPECT_EQ(d.model_weights.shared_bytes, 0u);
}

TEST(EstimateWeights, RepackCopiesMatmulWeightsAndTiedHead) {
  Shape s;  // Q4_0 blocks, tied head: x86 repacks MUL_MAT weights with ne1 % 8 == 0
  s.weight = QuantizationType::kQ4_0;
  s.embd = QuantizationType::kQ4_0;
  const auto m = test::make_model(s);
  const auto d = est(m, cfg());
  std::uint64_t repack = 0, last_mapped_end = 0, first = ~0ull;
  for (const auto& t : m.tensors) {
    first = std::min(first, t.offset);
    if (t.op == TensorOp::kMulMat && t.ne[1] % 8 == 0)
      repack += pad32(t.nbytes);
    else
      last_mapped_end = std::max(last_mapped_end, t.offset + t.nbytes);
  }
  repack += pad32(m.find_tensor("token_embd.weight")->nbytes);  // the tied head's copy
  EXPECT_EQ(part(d.quantization_overhead, "CPU_REPACK"), repack);
  // The mapped span ends at the last tensor that is not repacked (output_norm).
  EXPECT_EQ(part(d.model_weights, "CPU_Mapped"), last_mapped_end - first);
  // --no-repack: nothing copied.
  auto c = cfg();
  c.runtime.repack = false;
  EXPECT_EQ(part(est(m, c).quantization_overhead, "CPU_REPACK"), 0u);
}

TEST(EstimateWeights, NglCountsTheOutputLayerAndKeepsTokenEmbdOnHost) {
  Shape s;  // 4 layers, Q8_0, tied head
  const auto m = test::make_model(s);
  auto cuda = [&](const TensorInfo& t) {
    // MATRIX_ROW_PADDING: quantized rows padded to a multiple of 512 elements.
    const std::uint64_t pad_el = t.ne[0] % 512 ? 512 - t.ne[0] % 512 : 0;
    const std::uint64_t rowpad = t.type == QuantizationType::kF32 ? 0 : pad_el / 32 * 34;
    return pad128(t.nbytes + rowpad);
  };
  const TensorInfo& tok = *m.find_tensor("token_embd.weight");
  auto layer_bytes = [&](std::int32_t il) {
    std::uint64_t b = 0;
    for (const auto& t : m.tensors)
      if (t.layer == il && t.layer_class == LayerClass::kRepeating) b += cuda(t);
    return b;
  };
  const std::uint64_t out = cuda(*m.find_tensor("output_norm.weight")) + cuda(tok);  // + tied copy
  // -ngl 1: only the output layer.
  auto d1 = est(m, gpu_cfg(1));
  EXPECT_EQ(part(d1.model_weights, "CUDA0", "cuda:0"), out);
  EXPECT_EQ(d1.config.n_gpu_layers, 1);
  // -ngl 2: the output layer and block 3.
  auto d2 = est(m, gpu_cfg(2));
  EXPECT_EQ(part(d2.model_weights, "CUDA0", "cuda:0"), out + layer_bytes(3));
  const std::uint64_t kv_layer = 2ull * 64 * 2 * 4096;
  EXPECT_EQ(part(d2.kv_cache, "kv_cache", "cuda:0"), kv_layer);
  EXPECT_EQ(part(d2.kv_cache, "kv_cache", "cpu"), 3 * kv_layer);
  // Default on a GPU: everything (5 = 4 blocks + output); token_embd stays mapped on the host.
  auto dall = est(m, gpu_cfg(std::nullopt));
  EXPECT_EQ(dall.config.n_gpu_layers, 5);
  EXPECT_EQ(part(dall.model_weights, "CUDA0", "cuda:0"),
            out + layer_bytes(0) + layer_bytes(1) + layer_bytes(2) + layer_bytes(3));
  EXPECT_EQ(part(dall.model_weights, "CPU_Mapped"), tok.nbytes);
  EXPECT_EQ(part(dall.kv_cache, "kv_cache", "cuda:0"), 4 * kv_layer);
  // -ngl 0: no weights or KV on the device, but the compute buffer is there.
  auto d0 = est(m, gpu_cfg(0));
  EXPECT_EQ(part(d0.model_weights, "CUDA0", "cuda:0"), 0u);
  EXPECT_EQ(part(d0.kv_cache, "kv_cache", "cpu"), 4 * kv_layer);
  EXPECT_GT(part(d0.activations, "compute_buffer", "cuda:0"), 0u);
  // -nkvo: KV on the host.
  auto c = gpu_cfg(std::nullopt);
  c.runtime.no_kv_offload = true;
  auto dn = est(m, c);
  EXPECT_EQ(part(dn.kv_cache, "kv_cache", "cpu"), 4 * kv_layer);
  EXPECT_EQ(part(dn.kv_cache, "kv_cache", "cuda:0"), 0u);
}

TEST(EstimateWeights, TernaryTqTypesStayOnTheHostOnCuda) {
  Shape s;
  s.arch = "bitnet";
  s.n_head = 4; s.head_dim = 64;  // a CUDA FA head size: FA auto -> on
  s.weight = QuantizationType::kTQ2_0;
  s.embd = QuantizationType::kF16;
  const auto m = test::make_model(s);
  const auto d = est(m, gpu_cfg(std::nullopt));
  // Only the F32 norms go to CUDA0 (pad128 each); no duplicate of the F16 token_embd.
  std::uint64_t norms = 0;
  for (const auto& t : m.tensors)
    if (t.type == QuantizationType::kF32) norms += pad128(t.nbytes);
  EXPECT_EQ(part(d.model_weights, "CUDA0", "cuda:0"), norms);
  // The head reads token_embd from the host: the GPU compute buffer holds a copy of it.
  const std::uint64_t logits = 4ull * 512 * (4096 + 256);
  EXPECT_EQ(part(d.activations, "compute_buffer", "cuda:0"),
            logits + m.find_tensor("token_embd.weight")->nbytes);
}

TEST(EstimateWeights, MibAccessorsRoundUp) {
  EXPECT_EQ(bytes_to_mib_ceil(0), 0u);
  EXPECT_EQ(bytes_to_mib_ceil(1), 1u);
  EXPECT_EQ(bytes_to_mib_ceil(1024 * 1024), 1u);
  EXPECT_EQ(bytes_to_mib_ceil(1024 * 1024 + 1), 2u);
  const auto d = est(test::make_model(Shape{}), cfg());
  EXPECT_EQ(d.kv_cache.cpu_mb(), (d.kv_cache.cpu_bytes + (1 << 20) - 1) >> 20);
  EXPECT_EQ(d.model_weights.shared_mb(), (d.model_weights.shared_bytes + (1 << 20) - 1) >> 20);
}

}  // namespace
}  // namespace bitnet
