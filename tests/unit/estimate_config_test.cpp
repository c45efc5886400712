// Config resolution, compute buffers by hand, runtime profiles, degraded inputs.
#include <gtest/gtest.h>

#include "estimate/estimate.h"
#include "unit/estimate_fixtures.h"

namespace bitnet {
namespace {

using test::Shape;

std::uint64_t part(const MemorySegment& s, const std::string& name, const std::string& dev = "cpu") {
  std::uint64_t v = 0;
  for (const auto& p : s.parts)
    if (p.name == name && p.device == dev) v += p.bytes;
  return v;
}

MemoryAnalysisConfig cfg(const std::string& runtime = "llama.cpp") {
  MemoryAnalysisConfig c;
  c.runtime.runtime = runtime;
  c.suggestions = false;
  return c;
}

TEST(EstimateConfig, QuantizedVWithoutFlashAttentionIsAnError) {
  const auto m = test::make_model(Shape{});
  auto c = cfg();
  c.runtime.type_v = Precision::kQ8_0;
  c.runtime.flash_attn = FlashAttn::kOff;
  auto r = detail::estimate_memory(m, c);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_NE(r.error().message.find("requires Flash Attention"), std::string::npos);
  // bitnet.cpp has no auto mode: auto resolves to off, so the same request fails.
  auto cb = cfg("bitnet.cpp");
  cb.runtime.type_v = Precision::kQ8_0;
  auto rb = detail::estimate_memory(m, cb);
  ASSERT_FALSE(rb.has_value());
  EXPECT_NE(rb.error().message.find("auto resolved to off"), std::string::npos);
  // With FA on it is fine; a quantized K alone is fine without FA.
  c.runtime.flash_attn = FlashAttn::kOn;
  EXPECT_TRUE(detail::estimate_memory(m, c).has_value());
  auto ck = cfg();
  ck.runtime.type_k = Precision::kQ8_0;
  ck.runtime.flash_attn = FlashAttn::kOff;
  EXPECT_TRUE(detail::estimate_memory(m, ck).has_value());
}

TEST(EstimateConfig, ResolvesBatchesFlashAttnAndEchoes) {
  const auto m = test::make_model(Shape{});
  auto c = cfg();
  c.runtime.n_ctx = 300;     // padded to 512
  c.runtime.n_batch = 2048;  // clamped to n_ctx
  c.runtime.n_ubatch = 1024; // clamped to n_batch
  auto r = detail::estimate_memory(m, c);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config.n_ctx, 512u);
  EXPECT_EQ(r->config.n_batch, 512u);
  EXPECT_EQ(r->config.n_ubatch, 512u);
  EXPECT_TRUE(r->config.flash_attn);  // auto -> on for the CPU
  EXPECT_EQ(r->config.runtime, "llama.cpp");
  EXPECT_EQ(r->config.device, "cpu");
  EXPECT_EQ(r->config.n_gpu_layers, 0);
  auto rb = detail::estimate_memory(m, cfg("bitnet.cpp"));
  ASSERT_TRUE(rb.has_value());
  EXPECT_FALSE(rb->config.flash_attn);  // the 2024 fork: off
  auto bad = cfg("vllm");
  EXPECT_EQ(detail::estimate_memory(m, bad).error().code, Errc::kInvalidArgument);
}

TEST(EstimateConfig, CpuComputeBufferIsTheLogitsBranch) {
  Shape s;  // 32000 vocab, 256 embd, c4096, FA on (auto): the logits set the peak
  s.n_vocab = 32000;
  const auto m = test::make_model(s);
  auto r = detail::estimate_memory(m, cfg());
  ASSERT_TRUE(r.has_value());
  const std::uint64_t n_ub = 512;
  // ggml_gallocr places the logits (4·n_ub·n_vocab) at the start of the free tail, which at the
  // head begins after the token ids (2 KiB), the unused embedding input (4·n_embd·n_ub, never
  // freed) and the f16 mask's span (2·n_kv·n_ub): 4720640 B, the offset the ground truth's
  // tiny-llama (n_embd 256, c4096, FA) measures, 13109248 B = 4720640 + 4·512·4096.
  const std::uint64_t L = 4 * n_ub * 32000 + (2048 + 4 * 256 * n_ub + 2 * 4096 * n_ub);
  EXPECT_EQ(part(r->activations, "compute_buffer"), L);
  EXPECT_EQ(part(r->activations, "output_buffer"), 4u * 32000);
  // Resident: the logits rows are never written with last-token logits.
  for (const auto& p : r->activations.parts)
    if (p.name == "compute_buffer") {
      EXPECT_LT(p.resident_bytes, p.bytes);
    }
}

TEST(EstimateConfig, BitnetCppWorkedExample) {
  // memory-model.md §10: 2B-4T, -c 2048, FA off, bitnet.cpp profile.
  const auto m = test::make_model(test::bitnet_2b4t());
  auto c = cfg("bitnet.cpp");
  c.runtime.n_ctx = 2048;
  c.runtime.n_threads = 2;
  auto r = detail::estimate_memory(m, c);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(part(r->model_weights, "CPU"), 1179449920u);  // the fork names the mapped buffer CPU
  EXPECT_EQ(r->model_weights.shared_bytes, 1179449920u);
  EXPECT_EQ(r->kv_cache.cpu_bytes, 157286400u);           // 30 x (640x2 + 640x2) x 2048
  EXPECT_EQ(part(r->activations, "compute_buffer"),
            std::max<std::uint64_t>(4ull * 512 * (128256 + 2560),
                                    4ull * 512 * (1 + 10240 + 2048 * 21)));  // 267,911,168
  EXPECT_EQ(part(r->activations, "output_buffer"), 513024u);
  EXPECT_EQ(part(r->activations, "cpu_work_buffer"), 2ull * 2048 * 512 * 20 + 64 * 2);
}

TEST(EstimateConfig, NativeProfileCommitsEveryPartAtLoad) {
  const auto m = test::make_model(test::bitnet_2b4t());
  auto r = detail::estimate_memory(m, cfg("native"));
  ASSERT_TRUE(r.has_value());
  // The loader allocates exactly these: the mapped file, kv_cache, compute_buffer, output_buffer.
  EXPECT_EQ(part(r->model_weights, "CPU_Mapped"), m.file_bytes);
  const std::uint64_t kv = part(r->kv_cache, "kv_cache"), cb = part(r->activations, "compute_buffer"),
                      ob = part(r->activations, "output_buffer");
  EXPECT_EQ(kv, 30ull * 2 * 640 * 2 * 4096);
  EXPECT_GT(cb, 0u);
  EXPECT_EQ(part(r->activations, "cpu_work_buffer"), 0u);
  for (const auto* seg : {&r->kv_cache, &r->activations})
    for (const auto& p : seg->parts) EXPECT_EQ(p.resident_bytes, p.bytes) << p.name;
  std::uint64_t sys = 0;
  for (const auto& p : r->system_overhead.parts) sys += p.resident_bytes;
  EXPECT_EQ(r->peak_usage.cpu_bytes + r->peak_usage.shared_bytes, m.file_bytes + kv + cb + ob + sys);
}

TEST(EstimateConfig, NoGpuBackendForCpuOnlyRuntimes) {
  const auto m = test::make_model(Shape{});
  auto c = cfg("bitnet.cpp");
  c.device = Device{Device::Kind::kCuda, 0};
  EXPECT_EQ(detail::estimate_memory(m, c).error().code, Errc::kInvalidArgument);
}

TEST(EstimateConfig, UnknownArchitectureDegradesWithWarnings) {
  Shape s;
  auto m = test::make_model(s);
  m.architecture = "mystery";
  m.architecture_known = false;
  m.hparams_basis = Basis::kDerived;
  m.tensors[3].type = QuantizationType::kUnknown;  // sized by its span
  m.tensors[3].size_basis = Basis::kDerived;
  m.layers.clear();  // no per-layer data
  auto r = detail::estimate_memory(m, cfg());
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_GE(r->warnings.size(), 3u);
  EXPECT_EQ(r->kv_cache.cpu_bytes, 4ull * 2 * 64 * 2 * 4096);  // from the model-level scalars
  for (const auto& p : r->kv_cache.parts) EXPECT_EQ(p.basis, Basis::kDerived);
  for (const auto& p : r->model_weights.parts) EXPECT_EQ(p.basis, Basis::kDerived);
  EXPECT_GT(r->model_weights.shared_bytes, 0u);
}

}  // namespace
}  // namespace bitnet

namespace bitnet {
namespace {

// Regression (accuracy branch, llama.cpp cross-check qwen3moe +12 % peak): a MoE model's
// feed_forward_length (qwen3moe declares one) is no block's FFN width. The resident part of the
// CPU compute buffer is now the pages the serving graphs touch (memory-model.md §6), built from the
// blocks' own widths, so the declared dense width must change nothing.
TEST(EstimateConfig, MoeResidencyIgnoresTheDeclaredDenseWidth) {
  Shape s;
  s.arch = "qwen3moe";
  s.n_embd = 512;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_ff_exp = 256;
  s.n_vocab = 32000;  // the logits reservation stays the larger phase
  s.weight = QuantizationType::kQ4_K;
  auto c = cfg();
  c.runtime.n_ctx = 4096;
  c.runtime.n_ubatch = 512;
  c.runtime.flash_attn = FlashAttn::kOn;
  auto compute = [&](std::uint64_t declared_n_ff) {
    auto m = test::make_model(s);
    m.n_ff = declared_n_ff;
    auto r = detail::estimate_memory(m, c);
    EXPECT_TRUE(r) << r.error().to_string();
    std::pair<std::uint64_t, std::uint64_t> v{0, 0};
    for (const auto& p : r->activations.parts)
      if (p.name == "compute_buffer") v = {p.bytes, p.resident_bytes};
    return v;
  };
  const auto declared = compute(1536), wide = compute(65536);
  EXPECT_EQ(declared, wide);
  // Touched: at least one MoE block's expert outputs (4 * n_ub * n_ff_exp * n_expert_used); not
  // the logits reservation (4 * n_vocab * n_ub), of which one row is written.
  EXPECT_GE(declared.second, 4u * 512 * 256 * 2);
  EXPECT_LT(declared.second, 4u * 32000 * 512 / 2);
}

}  // namespace
}  // namespace bitnet

namespace bitnet {
namespace {

std::uint64_t tokenizer_bytes(const ModelStructureInfo& m) {
  MemoryAnalysisConfig c;
  c.runtime.runtime = "llama.cpp";
  c.suggestions = false;
  auto r = detail::estimate_memory(m, c);
  EXPECT_TRUE(r.has_value());
  std::uint64_t v = 0;
  for (const auto& p : r->system_overhead.parts)
    if (p.name == "tokenizer") v += p.bytes;
  return v;
}

// memory-model.md §7: a BPE vocabulary tokenizes "\n" at load and so builds unicode.cpp's
// codepoint flags table (0x110000 codepoints x 2 bytes); SPM does not. Every token longer than
// the small-string buffer is on the heap four times (GGUF copy, token_to_id, id_to_token, piece
// cache).
TEST(EstimateTokenizer, BpeCarriesTheCodepointTableAndLongTokensCostFourCopies) {
  test::Shape s;
  s.n_vocab = 4096;
  s.tokenizer = "llama";
  auto spm = test::make_model(s);
  spm.tokenizer.n_tokens = 4096;
  s.tokenizer = "gpt2";
  auto bpe = test::make_model(s);
  bpe.tokenizer.n_tokens = 4096;
  const std::uint64_t kCodepointTable = 0x110000ull * 2;
  EXPECT_LT(tokenizer_bytes(spm), kCodepointTable);  // 4096 short tokens: well under 2 MiB
  EXPECT_GE(tokenizer_bytes(bpe), kCodepointTable);
  auto spm_long = spm;
  spm_long.tokenizer.n_long_tokens = 1000;
  spm_long.tokenizer.long_token_heap_bytes = 1000 * 48;
  EXPECT_EQ(tokenizer_bytes(spm_long) - tokenizer_bytes(spm), 4u * 1000 * 48);
}

}  // namespace
}  // namespace bitnet
