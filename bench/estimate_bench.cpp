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
#include "estimate/estimate.h"

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

BENCHMARK_CAPTURE(BM_EstimateBaselineSumTensors, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_Estimate, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_EstimateBaselineSumTensors, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_Estimate, llama_70b, &llama_70b());
BENCHMARK_CAPTURE(BM_EstimateWithSuggestions, bitnet_2b, &bitnet_2b());
BENCHMARK_CAPTURE(BM_EstimateWithSuggestions, llama_70b, &llama_70b());

}  // namespace
