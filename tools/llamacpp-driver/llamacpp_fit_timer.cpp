// llamacpp-fit-timer: how long llama.cpp's own fit (common_fit_params, common/fit.h: what
// llama-server --fit runs) takes on a model, for comparison with `bitnet-mem fit` (bench/
// plan_bench.cpp). Each step of llama.cpp's fit is a no-alloc model load plus context creation
// (common_get_device_memory_data); on a machine without a GPU it only fits the context to host
// memory, so --host-budget-mib sets the host memory it may use (via the margin: total - budget)
// to make it shrink the context instead of returning at once.
//
//   llamacpp-fit-timer MODEL [--lib-dir DIR] [--reps N] [--host-budget-mib B] [--n-ctx-min N]
//
// Prints one JSON object: the status, the n_ctx / n_gpu_layers it chose, and the wall time of
// each repetition and their median, in milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fit.h"
#include "ggml-backend.h"
#include "llama.h"

namespace {

struct Args {
  std::string model, lib_dir;
  int reps = 5;
  long long host_budget_mib = -1;  // -1: llama.cpp's default margin (1024 MiB)
  unsigned n_ctx_min = 4096;
};

int usage() {
  std::fprintf(stderr,
               "usage: llamacpp-fit-timer MODEL [--lib-dir DIR] [--reps N] [--host-budget-mib B] "
               "[--n-ctx-min N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (s == "--lib-dir" && (v = next())) a.lib_dir = v;
    else if (s == "--reps" && (v = next())) a.reps = std::max(1, std::atoi(v));
    else if (s == "--host-budget-mib" && (v = next())) a.host_budget_mib = std::atoll(v);
    else if (s == "--n-ctx-min" && (v = next())) a.n_ctx_min = static_cast<unsigned>(std::atoi(v));
    else if (!s.empty() && s[0] != '-' && a.model.empty()) a.model = s;
    else return usage();
  }
  if (a.model.empty()) return usage();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  if (!a.lib_dir.empty()) ggml_backend_load_all_from_path(a.lib_dir.c_str());
  else ggml_backend_load_all();
  llama_backend_init();

  std::size_t host_free = 0, host_total = 0;
  if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU))
    ggml_backend_dev_memory(cpu, &host_free, &host_total);
  std::size_t n_gpus = 0;
  for (std::size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    const auto t = ggml_backend_dev_type(ggml_backend_dev_get(i));
    if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) ++n_gpus;
  }

  std::vector<double> ms;
  int status = -1;
  std::uint32_t n_ctx = 0;
  std::int32_t ngl = 0;
  for (int r = 0; r < a.reps; ++r) {
    llama_model_params mp = llama_model_default_params();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 0;  // 0: the fit may choose the context
    std::vector<float> ts(llama_max_devices(), 0.0f);
    std::vector<llama_model_tensor_buft_override> ov(llama_max_tensor_buft_overrides());
    std::vector<std::size_t> margins(llama_max_devices(), std::size_t{1024} << 20);
    if (a.host_budget_mib >= 0) {
      const std::size_t budget = static_cast<std::size_t>(a.host_budget_mib) << 20;
      margins[0] = host_total > budget ? host_total - budget : 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    status = common_fit_params(a.model.c_str(), &mp, &cp, ts.data(), ov.data(), margins.data(),
                               a.n_ctx_min, nullptr, GGML_LOG_LEVEL_ERROR);
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    n_ctx = cp.n_ctx;
    ngl = mp.n_gpu_layers;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  std::printf("{\"model\": \"%s\", \"gpus\": %zu, \"host_total_bytes\": %zu, \"host_budget_mib\": %lld, "
              "\"status\": %d, \"n_ctx\": %u, \"n_gpu_layers\": %d, \"times_ms\": [",
              a.model.c_str(), n_gpus, host_total, a.host_budget_mib, status, n_ctx, ngl);
  for (std::size_t i = 0; i < ms.size(); ++i) std::printf("%s%.3f", i ? ", " : "", ms[i]);
  std::printf("], \"median_ms\": %.3f}\n", median);
  llama_backend_free();
  return status == 2 ? 1 : 0;
}
