// Recommendations and suggestions: policy checks against the estimate's own peak (policy, not
// values), and suggestions that must be real savings.
#include <gtest/gtest.h>

#include <cmath>

#include "estimate/estimate.h"
#include "unit/estimate_fixtures.h"

namespace bitnet {
namespace {

DetailedMemoryRequirements est(const ModelStructureInfo& m, const MemoryAnalysisConfig& c) {
  auto r = detail::estimate_memory(m, c);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
  return r ? *r : DetailedMemoryRequirements{};
}

TEST(EstimateRecommend, LargeModelGetsSuggestionsThatSave) {
  const auto m = test::make_model(test::llama_70b());
  MemoryAnalysisConfig c;
  c.runtime.n_ctx = 32768;
  c.runtime.flash_attn = FlashAttn::kOff;
  const auto d = est(m, c);
  const auto& s = d.recommendations.optimization_suggestions;
  ASSERT_FALSE(s.empty());
  bool kv = false, fa = false;
  for (const auto& x : s) {
    EXPECT_GT(x.saves_bytes, 0) << x.id;
    EXPECT_FALSE(x.flags.empty()) << x.id;
    kv = kv || x.id == "kv_q8_0";
    fa = fa || x.id == "flash_attn_on";
  }
  EXPECT_TRUE(kv);
  EXPECT_TRUE(fa);
  // q8_0 K and V save a little under half of the f16 cache: 80 x 2 x 1024 x 32768 x (2 - 34/32).
  for (const auto& x : s)
    if (x.id == "kv_q8_0") {
      EXPECT_GE(x.saves_bytes, static_cast<std::int64_t>(80ull * 2 * 1024 * 32768 * 30 / 32));
    }
  // Sorted by savings.
  for (std::size_t i = 1; i < s.size(); ++i) EXPECT_GE(s[i - 1].saves_bytes, s[i].saves_bytes);
}

TEST(EstimateRecommend, RecommendedAboveMinimumByTheSafetyMargin) {
  const auto m = test::make_model(test::bitnet_2b4t());
  MemoryAnalysisConfig c;
  c.safety_margin = 0.25;
  const auto d = est(m, c);
  const auto& r = d.recommendations;
  EXPECT_EQ(r.min_system_ram, d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes);
  EXPECT_GT(r.recommended_system_ram, r.min_system_ram);
  EXPECT_GE(static_cast<double>(r.recommended_system_ram), 1.25 * static_cast<double>(r.min_system_ram));
  EXPECT_LT(static_cast<double>(r.recommended_system_ram), 1.25 * static_cast<double>(r.min_system_ram) + (1 << 20));
  EXPECT_FALSE(r.min_gpu_memory.has_value());
  EXPECT_FALSE(r.recommended_gpu_memory.has_value());
}

TEST(EstimateRecommend, GpuDeviceGetsGpuRecommendations) {
  test::Shape s;
  s.n_head = 4; s.head_dim = 64;
  const auto m = test::make_model(s);
  MemoryAnalysisConfig c;
  c.device = Device{Device::Kind::kCuda, 0};
  c.gpu_name = "NVIDIA H100 80GB HBM3";
  const auto d = est(m, c);
  ASSERT_TRUE(d.recommendations.min_gpu_memory.has_value());
  ASSERT_TRUE(d.peak_usage.gpu_bytes.has_value());
  // The device peak includes the measured H100 context (552,402,944 B) and the buffers.
  EXPECT_GT(*d.peak_usage.gpu_bytes, 552402944u + *d.model_weights.gpu_bytes + *d.kv_cache.gpu_bytes);
  EXPECT_GT(*d.recommendations.recommended_gpu_memory, *d.recommendations.min_gpu_memory);
}

TEST(EstimateRecommend, LargestContextThatFitsTheGivenRam) {
  const auto m = test::make_model(test::bitnet_2b4t());
  MemoryAnalysisConfig c;
  c.runtime.n_ctx = 131072;
  c.available_ram = 3ull << 30;  // 3 GiB
  const auto d = est(m, c);
  const OptimizationSuggestion* fit = nullptr;
  for (const auto& x : d.recommendations.optimization_suggestions)
    if (x.id == "max_ctx_fits") fit = &x;
  ASSERT_NE(fit, nullptr);
  const std::uint32_t ctx = static_cast<std::uint32_t>(std::stoul(fit->flags.substr(3)));
  MemoryAnalysisConfig probe;
  probe.suggestions = false;
  probe.runtime.n_ctx = ctx;
  const auto a = est(m, probe);
  EXPECT_LE(a.peak_usage.cpu_bytes + a.peak_usage.shared_bytes, *c.available_ram);
  probe.runtime.n_ctx = ctx + 256;
  const auto b = est(m, probe);
  EXPECT_GT(b.peak_usage.cpu_bytes + b.peak_usage.shared_bytes, *c.available_ram);
  // Anonymous memory beyond the available RAM would need swap.
  EXPECT_EQ(d.recommendations.swap_requirements, d.peak_usage.cpu_bytes - *c.available_ram);
}

}  // namespace
}  // namespace bitnet

namespace bitnet {
namespace {

TEST(EstimateRecommend, NglThatFitsTheGivenVram) {
  test::Shape s = test::llama_70b();
  s.n_layer = 20;  // a 20-layer slice of the 70B shape: ~10 GiB of Q4_K
  const auto m = test::make_model(s);
  MemoryAnalysisConfig c;
  c.device = Device{Device::Kind::kCuda, 0};
  c.gpu_name = "H100";
  c.available_vram = 6ull << 30;
  const auto d = est(m, c);
  ASSERT_TRUE(d.peak_usage.gpu_bytes.has_value());
  ASSERT_GT(*d.peak_usage.gpu_bytes, *c.available_vram);
  const OptimizationSuggestion* fit = nullptr;
  for (const auto& x : d.recommendations.optimization_suggestions)
    if (x.id == "ngl_fits") fit = &x;
  ASSERT_NE(fit, nullptr);
  const int ngl = std::stoi(fit->flags.substr(5));
  MemoryAnalysisConfig probe = c;
  probe.suggestions = false;
  probe.available_vram.reset();
  probe.runtime.n_gpu_layers = ngl;
  EXPECT_LE(*est(m, probe).peak_usage.gpu_bytes, *c.available_vram);
  probe.runtime.n_gpu_layers = ngl + 1;
  EXPECT_GT(*est(m, probe).peak_usage.gpu_bytes, *c.available_vram);
  EXPECT_GT(ngl, 0);
  EXPECT_LT(ngl, 21);
}

}  // namespace
}  // namespace bitnet
