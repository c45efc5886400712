// The llama.cpp cross-check: synthesized models of several architectures over a settings matrix,
// loaded by the real llama.cpp (tools/llamacpp-driver, one fresh process per run), against our
// --runtime llama.cpp estimate. Model and KV buffers must match exactly. Targets: the compute buffer
// within 1 %, the peak RSS within 3 %; the test fails outside the hard bounds (compute: 1 % or one
// allocator block; peak: -1 % .. +6 %) and prints how many runs meet the targets, with a table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bitnet/loader.h"
#include "device/cpu_features.h"
#include "synth/model_spec.h"

namespace bitnet {
namespace {

using detail::ModelSpec;
using Q = QuantizationType;
using json = nlohmann::json;

constexpr const char* kDriver = BITNET_LLAMACPP_DRIVER;
constexpr const char* kLibDir = BITNET_LLAMACPP_LIB_DIR;
constexpr const char* kSkipReason = BITNET_LLAMACPP_SKIP_REASON;
constexpr std::uint32_t kThreads = 2;  // as the ground truth's CPU runs

struct Settings {
  std::uint32_t n_ctx = 2048, n_ubatch = 512, n_seq = 1;
  bool flash_attn = true, mmap = true, kv_unified = false;
  std::string type_k = "f16", type_v = "f16";
  std::string label() const {
    return "c" + std::to_string(n_ctx) + " ub" + std::to_string(n_ubatch) + " np" + std::to_string(n_seq) +
           (flash_attn ? " fa1" : " fa0") + (mmap ? " mm1" : " mm0") + (kv_unified ? " kvu" : "") +
           (type_k != "f16" ? " k" + type_k : "") + (type_v != "f16" ? " v" + type_v : "");
  }
};

struct ModelCase {
  std::string name;
  ModelSpec spec;
  std::vector<Settings> settings;
};

ModelSpec base_spec(const char* preset, std::string arch_name) {
  auto s = detail::preset(preset);
  EXPECT_TRUE(s) << s.error().to_string();
  ModelSpec m = *s;
  m.name = std::move(arch_name);
  // Small enough to fill a 4k context in seconds on two cores, large enough that buffers (not the
  // process base) dominate the peak: 32k BPE vocabulary, 512-wide, 4 blocks.
  m.n_layer = 4;
  m.n_embd = 512;
  m.n_ff = 1536;
  m.n_vocab = 32000;
  m.n_merges = m.tokenizer == "gpt2" ? 20000 : 0;
  m.n_ctx_train = 8192;
  return m;
}

std::vector<ModelCase> matrix() {
  // Settings: {n_ctx, n_ubatch, n_seq, flash_attn, mmap, kv_unified, type_k, type_v}.
  const Settings fa{2048, 512, 1, true, true};
  const Settings nofa{2048, 512, 1, false, true};
  const Settings nofa_long{4096, 512, 1, false, true};
  const Settings nommap_seqs{2048, 256, 2, true, false};
  const Settings q8kv{2048, 512, 1, true, true, false, "q8_0", "q8_0"};
  const Settings short_ctx{1024, 256, 1, true, true};
  std::vector<ModelCase> v;
  {
    ModelSpec s = base_spec("tiny-llama", "llama");  // Q4_0 blocks: repacked (CPU_REPACK) on x86
    s.n_head = 8; s.n_head_kv = 4; s.weight_type = Q::kQ4_0; s.embd_type = Q::kQ4_0; s.output_type = Q::kQ6_K;
    v.push_back({"llama-q4_0", s, {fa, nofa_long, nommap_seqs, q8kv}});
  }
  {
    ModelSpec s = base_spec("tiny-qwen2", "qwen2");  // Q8_0, tied head
    s.n_head = 8; s.n_head_kv = 2; s.weight_type = Q::kQ8_0; s.embd_type = Q::kQ8_0; s.output_type.reset();
    v.push_back({"qwen2-q8_0", s, {fa, nofa}});
  }
  {
    ModelSpec s = base_spec("tiny-qwen3moe", "qwen3moe");  // MoE, Q4_K experts
    s.n_head = 8; s.n_head_kv = 2; s.head_dim = 64; s.n_expert = 8; s.n_expert_used = 2; s.n_ff_exp = 256;
    v.push_back({"qwen3moe-q4_k", s, {fa, nommap_seqs}});
  }
  {
    ModelSpec s = base_spec("tiny-gemma3", "gemma3");  // iSWA: period 6, window 256
    s.n_layer = 6; s.n_head = 4; s.n_head_kv = 1; s.head_dim = 128; s.sliding_window = 256;
    v.push_back({"gemma3-swa-q8_0", s, {fa, nofa}});
  }
  {
    ModelSpec s = base_spec("tiny-bitnet-tq2_0", "bitnet");  // upstream bitnet, TQ2_0 blocks
    s.n_head = 8; s.n_head_kv = 2;
    v.push_back({"bitnet-tq2_0", s, {fa, nofa}});
  }
  {
    ModelSpec s = base_spec("tiny-gemma2", "gemma2");  // SWA period 2, F16
    s.n_head = 4; s.n_head_kv = 2; s.head_dim = 128; s.sliding_window = 256;
    v.push_back({"gemma2-f16", s, {short_ctx}});
  }
  {
    ModelSpec s = base_spec("tiny-qwen3", "qwen3");  // key_length != n_embd / n_head
    s.n_head = 8; s.n_head_kv = 2; s.head_dim = 128; s.weight_type = Q::kQ8_0; s.embd_type = Q::kQ8_0;
    v.push_back({"qwen3-q8_0", s, {short_ctx}});
  }
  return v;
}

// A model synthesized into a temporary file, removed when it goes out of scope; `error` says why
// it could not be written.
struct TempModel {
  std::string path, error;
  explicit TempModel(const ModelSpec& spec) {
    char tmpl[] = "/tmp/bitnet_xcheck_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) {
      error = "mkstemp failed";
      return;
    }
    ::close(fd);
    path = tmpl;
    auto written = detail::synthesize(spec, path);
    if (!written) error = written.error().to_string();
  }
  ~TempModel() {
    if (!path.empty()) std::remove(path.c_str());
  }
  TempModel(const TempModel&) = delete;
  TempModel& operator=(const TempModel&) = delete;
};

Result<json> run_driver(const std::string& model, const Settings& s, bool fill = true) {
  std::string cmd = std::string(kDriver) + " --model " + model + " --lib-dir " + kLibDir +
                    " -c " + std::to_string(s.n_ctx) + " -b 512 -ub " + std::to_string(s.n_ubatch) +
                    " -np " + std::to_string(s.n_seq) + " -fa " + (s.flash_attn ? "1" : "0") + " -ctk " + s.type_k +
                    " -ctv " + s.type_v + (s.mmap ? "" : " --no-mmap") + (s.kv_unified ? " -kvu" : "") +
                    " -t " + std::to_string(kThreads) + (fill ? "" : " --no-fill");
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return Error{Errc::kIo, "cannot run " + cmd, kNoOffset, {}, {}};
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) return Error{Errc::kInternal, "driver failed (" + std::to_string(rc) + "): " + cmd, kNoOffset, {}, {}};
  json j = json::parse(out, nullptr, false);
  if (j.is_discarded()) return Error{Errc::kMalformed, "driver printed no JSON: " + out, kNoOffset, {}, {}};
  return j;
}

// The estimate's config for the driver's settings (both tests run the same flags).
MemoryAnalysisConfig config_for(const Settings& s) {
  MemoryAnalysisConfig cfg;
  cfg.suggestions = false;
  RuntimeConfig& rc = cfg.runtime;
  rc.runtime = "llama.cpp";
  rc.n_ctx = s.n_ctx;
  rc.n_batch = 512;
  rc.n_ubatch = s.n_ubatch;
  rc.max_batch_size = s.n_seq;
  rc.kv_unified = s.kv_unified;
  rc.flash_attn = s.flash_attn ? FlashAttn::kOn : FlashAttn::kOff;
  rc.type_k = parse_precision(s.type_k);
  rc.type_v = parse_precision(s.type_v);
  rc.mmap = s.mmap;
  rc.n_threads = kThreads;
  return cfg;
}

std::uint64_t part_sum(const MemorySegment& s, const std::string& name) {
  std::uint64_t b = 0;
  for (const MemoryPart& p : s.parts)
    if (p.name == name) b += p.bytes;
  return b;
}

double rel(double pred, double act) { return act == 0 ? (pred == 0 ? 0 : 1) : (pred - act) / act; }

struct TableRow {
  std::string model, settings;
  std::uint64_t model_pred, model_act, kv_pred, kv_act, compute_pred, compute_act, res_pred, res_act, peak_pred,
      peak_act;
};

class LlamaCppCrossCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(kDriver).empty()) GTEST_SKIP() << kSkipReason;
    if (::access(kDriver, X_OK) != 0) GTEST_SKIP() << "the driver " << kDriver << " was not built";
  }
};

TEST_F(LlamaCppCrossCheck, EstimateMatchesTheRealRuntime) {
  const std::string isa = detail::probe_cpu_isa();
  std::printf("host CPU features for repacking: %s\n", isa.empty() ? "(none detected)" : isa.c_str());
  std::vector<TableRow> table;
  int runs = 0, compute_on_target = 0, peak_on_target = 0, resident_exact = 0;
  for (const ModelCase& mc : matrix()) {
    const TempModel tm(mc.spec);
    ASSERT_TRUE(tm.error.empty()) << mc.name << ": " << tm.error;
    const std::string& path = tm.path;
    // BITNET_XCHECK_KEEP=DIR keeps a copy of each model there, to rerun the driver and
    // `bitnet-mem estimate` on it by hand.
    if (const char* keep = std::getenv("BITNET_XCHECK_KEEP"); keep != nullptr && *keep != '\0') {
      auto kept = detail::synthesize(mc.spec, std::string(keep) + "/" + mc.name + ".gguf");
      EXPECT_TRUE(kept) << kept.error().to_string();
    }
    auto loader = ProductionModelLoader::open(path);
    ASSERT_TRUE(loader) << mc.name << ": " << loader.error().to_string();
    for (const Settings& s : mc.settings) {
      SCOPED_TRACE(mc.name + " " + s.label());
      auto measured = run_driver(path, s);
      if (!measured) {
        ADD_FAILURE() << measured.error().to_string();
        continue;
      }
      const json& j = *measured;
      ++runs;
      MemoryAnalysisConfig cfg = config_for(s);
      cfg.cpu_isa = isa;
      auto est = loader->get_detailed_memory_requirements(cfg);
      if (!est) {
        ADD_FAILURE() << est.error().to_string();
        continue;
      }

      // Model buffers: one part per llama.cpp buffer type, to the byte.
      std::uint64_t model_act = 0, model_pred = 0;
      for (const auto& [buft, v] : j["breakdown"].items()) {
        if (buft == "_total") continue;
        const std::uint64_t act = v["model"].get<std::uint64_t>();
        const std::uint64_t pred = part_sum(est->model_weights, buft) + part_sum(est->quantization_overhead, buft);
        EXPECT_EQ(pred, act) << "model buffer " << buft;
        model_act += act;
        model_pred += pred;
      }
      const std::uint64_t kv_act = j["breakdown"]["_total"]["context"].get<std::uint64_t>();
      const std::uint64_t kv_pred = est->kv_cache.cpu_bytes + est->kv_cache.gpu_bytes.value_or(0);
      EXPECT_EQ(kv_pred, kv_act) << "KV cache";
      const std::uint64_t compute_act = j["breakdown"]["_total"]["compute"].get<std::uint64_t>();
      const std::uint64_t compute_pred = part_sum(est->activations, "compute_buffer");
      // Within 1 %: the CPU compute buffer is a simulation of ggml_gallocr over the reserve
      // graphs (memory-model.md §6), byte-exact on every run so far.
      const double compute_err = rel(static_cast<double>(compute_pred), static_cast<double>(compute_act));
      if (std::fabs(compute_err) <= 0.01) ++compute_on_target;
      EXPECT_LE(std::fabs(compute_err), 0.01)
          << "compute buffer: predicted " << compute_pred << ", llama.cpp " << compute_act;
      // Residency (memory-model.md §6): the pages of the CPU compute buffer the serving graphs
      // touch, against mincore on the real buffer (the driver's host_buffers: the one ggml
      // allocated for the compute buffer, at most a page of padding larger).
      std::uint64_t res_pred = 0, res_act = 0;
      bool res_found = false;
      for (const auto& p : est->activations.parts)
        if (p.name == "compute_buffer" && p.device == "cpu") res_pred += p.resident_bytes;
      for (const json& b : j["host_buffers"]) {
        const std::uint64_t size = b["size"].get<std::uint64_t>();
        if (size >= compute_act && size <= compute_act + 4096) {
          res_act = b["resident"].get<std::uint64_t>();
          res_found = true;
        }
      }
      EXPECT_TRUE(res_found) << "the driver saw no host buffer of the compute buffer's size";
      const double res_err = rel(static_cast<double>(res_pred), static_cast<double>(res_act));
      if (res_found && res_pred == res_act) ++resident_exact;
      EXPECT_LE(std::fabs(res_err), 0.01)
          << "resident compute buffer: predicted " << res_pred << ", measured (mincore) " << res_act;
      const std::uint64_t peak_act = j["peak_rss"].get<std::uint64_t>();
      const std::uint64_t peak_pred = est->peak_usage.cpu_bytes + est->peak_usage.shared_bytes;
      // The thresholds: within 3 % and never under by more than 1 % (an under-estimate
      // is an OOM).
      const double peak_err = rel(static_cast<double>(peak_pred), static_cast<double>(peak_act));
      if (std::fabs(peak_err) <= 0.03) ++peak_on_target;
      EXPECT_TRUE(peak_err >= -0.01 && peak_err <= 0.03)
          << "peak RSS: predicted " << peak_pred << ", measured " << peak_act << " (cpu variant "
          << j["cpu_variant"].get<std::string>() << ")";
      table.push_back({mc.name, s.label(), model_pred, model_act, kv_pred, kv_act, compute_pred, compute_act,
                       res_pred, res_act, peak_pred, peak_act});
    }
  }
  auto mib = [](std::uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  std::printf("\n%-16s %-28s %21s %21s %28s %24s %28s\n", "model", "settings", "model MiB pred/act", "KV MiB pred/act",
              "compute MiB pred/act (err)", "resident compute MiB", "peak RSS MiB pred/act (err)");
  for (const TableRow& r : table)
    std::printf("%-16s %-28s %10.2f/%-10.2f %10.2f/%-10.2f %9.2f/%-9.2f (%+5.2f%%) %9.2f/%-9.2f%s %9.2f/%-9.2f (%+5.2f%%)\n",
                r.model.c_str(), r.settings.c_str(), mib(r.model_pred), mib(r.model_act), mib(r.kv_pred),
                mib(r.kv_act), mib(r.compute_pred), mib(r.compute_act),
                100 * rel(static_cast<double>(r.compute_pred), static_cast<double>(r.compute_act)), mib(r.res_pred),
                mib(r.res_act), r.res_pred == r.res_act ? " =" : " ~", mib(r.peak_pred), mib(r.peak_act),
                100 * rel(static_cast<double>(r.peak_pred), static_cast<double>(r.peak_act)));
  std::printf("\ntargets: compute within 1 %%: %d/%d runs; peak RSS within 3 %%: %d/%d runs%s\n"
              "resident compute buffer (mincore) equal to the byte: %d/%d runs\n",
              compute_on_target, runs, peak_on_target, runs,
              compute_on_target == runs && peak_on_target == runs ? "" : "  <-- TARGET MISSED (see table)",
              resident_exact, runs);
  EXPECT_EQ(runs, 14);  // every run of the matrix measured
}

// The compute buffer alone (no fill: only the reserve matters) on deeper stacks, where the
// allocator simulation jumps over repeating layers, and on settings the ground truth lacks: odd
// ubatch sizes, three sequences, a unified cache, quantized and f32 caches, an SWA pattern whose
// last layer breaks the period, MoE with one and four experts per token.
TEST_F(LlamaCppCrossCheck, ComputeBufferOnDeeperStacksAndOtherSettings) {
  struct Deep {
    std::string name;
    ModelSpec spec;
  };
  std::vector<Deep> models;
  auto deep = [&](const char* preset, const char* arch, const std::string& name, auto edit) {
    ModelSpec s = base_spec(preset, arch);
    s.n_vocab = 5000;
    s.n_merges = s.tokenizer == "gpt2" ? 2000 : 0;
    edit(s);
    models.push_back({name, s});
  };
  deep("tiny-llama", "llama", "llama-24L", [](ModelSpec& s) { s.n_layer = 24; s.n_head = 8; s.n_head_kv = 2; });
  deep("tiny-gemma3", "gemma3", "gemma3-26L", [](ModelSpec& s) {  // last layer SWA: breaks the period
    s.n_layer = 26; s.n_head = 4; s.n_head_kv = 1; s.head_dim = 128; s.sliding_window = 128; s.swa_period = 6;
  });
  deep("tiny-gemma2", "gemma2", "gemma2-13L", [](ModelSpec& s) {
    s.n_layer = 13; s.n_head = 4; s.n_head_kv = 2; s.head_dim = 128; s.sliding_window = 200;
  });
  deep("tiny-qwen3moe", "qwen3moe", "qwen3moe-10L-top4", [](ModelSpec& s) {
    s.n_layer = 10; s.n_head = 8; s.n_head_kv = 2; s.head_dim = 64; s.n_expert = 16; s.n_expert_used = 4; s.n_ff_exp = 512;
  });
  deep("tiny-qwen3moe", "qwen3moe", "qwen3moe-12L-top1", [](ModelSpec& s) {
    s.n_layer = 12; s.n_head = 8; s.n_head_kv = 2; s.head_dim = 64; s.n_expert = 8; s.n_expert_used = 1; s.n_ff_exp = 256;
  });
  deep("tiny-bitnet-tq2_0", "bitnet", "bitnet-20L", [](ModelSpec& s) { s.n_layer = 20; s.n_head = 8; s.n_head_kv = 2; });
  // {n_ctx, n_ubatch, n_seq, flash_attn, mmap, kv_unified, type_k, type_v}
  const std::vector<Settings> settings = {
      {3072, 256, 3, false, true},
      {1024, 100, 2, true, true, true},
      {1024, 512, 1, true, true, false, "q8_0", "q8_0"},
      {4096, 32, 1, false, true, false, "f32", "f16"},
  };
  int runs = 0, exact = 0;
  for (const Deep& d : models) {
    const TempModel tm(d.spec);
    ASSERT_TRUE(tm.error.empty()) << d.name << ": " << tm.error;
    const std::string& path = tm.path;
    auto loader = ProductionModelLoader::open(path);
    ASSERT_TRUE(loader) << d.name << ": " << loader.error().to_string();
    for (const Settings& s : settings) {
      SCOPED_TRACE(d.name + " " + s.label());
      auto measured = run_driver(path, s, /*fill=*/false);
      if (!measured) {
        ADD_FAILURE() << measured.error().to_string();
        continue;
      }
      MemoryAnalysisConfig cfg = config_for(s);
      auto est = loader->get_detailed_memory_requirements(cfg);
      ASSERT_TRUE(est) << est.error().to_string();
      const std::uint64_t act = (*measured)["breakdown"]["_total"]["compute"].get<std::uint64_t>();
      const std::uint64_t pred = part_sum(est->activations, "compute_buffer");
      ++runs;
      exact += pred == act;
      std::printf("%-20s %-32s compute %12llu / %-12llu (%+.3f%%)\n", d.name.c_str(), s.label().c_str(),
                  static_cast<unsigned long long>(pred), static_cast<unsigned long long>(act),
                  100 * rel(static_cast<double>(pred), static_cast<double>(act)));
      EXPECT_LE(std::fabs(rel(static_cast<double>(pred), static_cast<double>(act))), 0.01)
          << "compute buffer: predicted " << pred << ", llama.cpp " << act;
    }
  }
  std::printf("compute buffer byte-exact on %d/%d runs\n", exact, runs);
  EXPECT_EQ(runs, 24);
}

}  // namespace
}  // namespace bitnet
