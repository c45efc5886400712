// estimate_memory on already-analysed models (BitNet-2B-4T- and Llama-70B-shaped
// ModelStructureInfo built in memory), against a same-run baseline: one pass over the tensors that
// sums their bytes, the least any estimator that looks at every tensor must do.
//   cmake -S . -B build -DBITNET_BUILD_BENCH=ON && cmake --build build -j2 --target bitnet_bench
//   build/bench/bitnet_bench --benchmark_filter=Estimate --benchmark_repetitions=10
//     --benchmark_report_aggregates_only=true
// Targets: an estimate without suggestions <= 10 us median; the suggestion search (about 20
// alternative estimates) <= 1 ms median.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "../tests/unit/estimate_fixtures.h"
#include "estimate/digest.h"
#include "estimate/estimate.h"
#include "estimate/estimate_internal.h"
#include "estimate/graph_sim.h"

namespace {

using bitnet::MemoryAnalysisConfig;
using bitnet::ModelStructureInfo;

const ModelStructureInfo& bitnet_2b() {
  static const ModelStructureInfo m = bitnet::test::make_model(bitnet::test::bitnet_2b4t());
  return m;
}
const ModelStructureInfo& llama_70b() {
  static const ModelStructureInfo m = bitnet::test::make_model(bitnet::test::llama_70b());
  return m;
}

void BM_EstimateBaselineSumTensors(benchmark::State& state, const ModelStructureInfo* m) {
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (const auto& t : m->tensors) {
      benchmark::DoNotOptimize(t);
      sum += t.nbytes;
    }
    benchmark::DoNotOptimize(sum);
  }
}

void BM_Estimate(benchmark::State& state, const ModelStructureInfo* m) {
  MemoryAnalysisConfig cfg;
  cfg.suggestions = false;
  for (auto _ : state) {
    auto r = bitnet::detail::estimate_memory(*m, cfg);
    benchmark::DoNotOptimize(r);
  }
}

// What ProductionModelLoader does: the tensor digest is made once at open (make_digest), and each
// estimate reads the digest, not the tensors.
void BM_EstimateCachedDigest(benchmark::State& state, const ModelStructureInfo* m) {
  const bitnet::detail::TensorDigest digest = bitnet::detail::make_digest(*m);
  MemoryAnalysisConfig cfg;
  cfg.suggestions = false;
  for (auto _ : state) {
    auto r = bitnet::detail::estimate_memory(*m, digest, cfg);
    benchmark::DoNotOptimize(r);
  }
}

// The same on a CUDA device with 40 layers offloaded: placement by layer (the per-layer groups).
void BM_EstimateCachedDigestGpu(benchmark::State& state, const ModelStructureInfo* m) {
  const bitnet::detail::TensorDigest digest = bitnet::detail::make_digest(*m);
  MemoryAnalysisConfig cfg;
  cfg.suggestions = false;
  cfg.device = bitnet::Device{bitnet::Device::Kind::kCuda, 0};
  cfg.runtime.n_gpu_layers = 40;
  for (auto _ : state) {
    auto r = bitnet::detail::estimate_memory(*m, digest, cfg);
    benchmark::DoNotOptimize(r);
  }
}

void BM_EstimateWithSuggestions(benchmark::State& state, const ModelStructureInfo* m) {
  MemoryAnalysisConfig cfg;  // all suggestions, plus the context bisection for 48 GiB of RAM
  cfg.runtime.n_ctx = 32768;
  cfg.runtime.flash_attn = bitnet::FlashAttn::kOff;
  cfg.available_ram = 48ull << 30;
  std::size_t n = 0;
  for (auto _ : state) {
    auto r = bitnet::detail::estimate_memory(*m, cfg);
    n = r ? r->recommendations.optimization_suggestions.size() : 0;
    benchmark::DoNotOptimize(r);
  }
  state.counters["suggestions"] = static_cast<double>(n);
}

// The share of an estimate that simulates ggml_gallocr over the reserve graphs (CPU build,
// llama.cpp profile; the default context): part of BM_EstimateCachedDigest.
void BM_SimulateComputeBuffer(benchmark::State& state, const ModelStructureInfo* m) {
  const bitnet::detail::TensorDigest digest = bitnet::detail::make_digest(*m);
  MemoryAnalysisConfig cfg;
  cfg.suggestions = false;
  auto plan = bitnet::detail::resolve_plan(*m, digest, cfg);
  if (!plan) {
    state.SkipWithError("resolve_plan failed");
    return;
  }
  for (auto _ : state) {
    auto r = bitnet::detail::gsim::simulate_reserve(*plan);
    benchmark::DoNotOptimize(r);
  }
}

BENCHMARK_CAPTURE(BM_SimulateComputeBuffer, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_EstimateBaselineSumTensors, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_Estimate, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_EstimateBaselineSumTensors, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_Estimate, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_EstimateCachedDigest, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_EstimateCachedDigest, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_EstimateCachedDigestGpu, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_EstimateWithSuggestions, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_EstimateWithSuggestions, llama_70b, &llama_70b());

}  // namespace
