// The estimator against measurements of the real llama.cpp (BITNET_SHARED_DIR/groundtruth/*.jsonl).
// Expected values come only from the records' measurements; the estimate comes from the record's
// header file and settings. Thresholds (the brief; memory-model.md §4-§7):
//   model buffers per buffer type and in total, KV cache: equal to the byte;
//   compute buffers: within 1 % of llama.cpp's;
//   peak RSS (CPU records): within 3 % and never under by more than 1 % (only the latter where the
//     widest graph did not run: workload.final_full_ubatch_at_end == false);
//   device memory peak (GPU records): within 3 %.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitnet/loader.h"
#include "bitnet/memory.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kGt = std::string(BITNET_SHARED_DIR) + "/groundtruth";

// The CPU features of each measured host (they decide repacking; a profile field, §4):
// cpu-llamacpp ran on an x86-64 AVX-512 CPU; cpu16-llamacpp on an Intel Xeon whose breakdown shows
// AMX buffers, i.e. AMX-INT8 (Sapphire Rapids or later).
const std::map<std::string, std::string> kHostIsa = {
    {"cpu-llamacpp.jsonl", "avx512"}, {"cpu16-llamacpp.jsonl", "avx512+amx"},
    {"gpu-llamacpp.jsonl", "avx512"}};

struct Row {
  std::string file, id;
  double weights_err = 0, kv_err = 0;             // bytes (signed)
  std::map<std::string, double> compute_pct;      // per buffer type
  std::optional<double> rss_pct, dev_pct, host_info_pct;
  bool rss_lower_bound = false;
  std::vector<std::string> failures;
};

double pct(double pred, double meas) { return meas == 0 ? 0 : 100.0 * (pred - meas) / meas; }

bitnet::Precision prec(const std::string& s) { return *bitnet::parse_precision(s); }

std::vector<json> read_records(const std::string& name) {
  std::vector<json> out;
  std::ifstream in(kGt + "/" + name);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

bitnet::MemoryAnalysisConfig config_for(const json& r, const std::string& file) {
  const json& s = r["settings"];
  bitnet::MemoryAnalysisConfig cfg;
  bitnet::RuntimeConfig& rt = cfg.runtime;
  rt.runtime = "llama.cpp";
  rt.n_ctx = s["n_ctx"].get<std::uint32_t>();
  rt.n_batch = s["n_batch"].get<std::uint32_t>();
  rt.n_ubatch = s["n_ubatch"].get<std::uint32_t>();
  rt.max_batch_size = s["n_seq"].get<std::uint32_t>();
  rt.kv_unified = s["kv_unified"].get<int>() != 0;
  const int fa = s["flash_attn"].get<int>();
  rt.flash_attn = fa < 0 ? bitnet::FlashAttn::kAuto : fa ? bitnet::FlashAttn::kOn : bitnet::FlashAttn::kOff;
  rt.type_k = prec(s["type_k"].get<std::string>());
  rt.type_v = prec(s["type_v"].get<std::string>());
  rt.mmap = s["mmap"].get<int>() != 0;
  rt.n_threads = s["threads"].get<std::uint32_t>();
  rt.repack = s.value("repack", 1) != 0;
  if (s.contains("ngl")) {
    rt.device = bitnet::Device{bitnet::Device::Kind::kCuda, 0};
    cfg.device = rt.device;
    rt.n_gpu_layers = s["ngl"].get<std::int32_t>();
    rt.no_kv_offload = s.value("kv_offload", 1) == 0;
    cfg.gpu_name = r["runtime"].value("gpu", "");
  }
  cfg.cpu_isa = kHostIsa.at(file);
  cfg.suggestions = false;
  return cfg;
}

// Device memory or host memory: a buffer type's name says it (CPU_REPACK and AMX report
// is_host = false because their layout is not plain, yet they live in host memory).
bool device_buffer(const std::string& buft) { return buft.rfind("CUDA", 0) == 0 && buft != "CUDA_Host"; }

std::uint64_t part_sum(const bitnet::MemorySegment& s, const std::string& name, bool gpu) {
  std::uint64_t v = 0;
  for (const auto& p : s.parts)
    if (p.name == name && (p.device != "cpu") == gpu) v += p.bytes;
  return v;
}

class GroundTruth : public ::testing::Test {
 protected:
  static std::map<std::string, bitnet::ProductionModelLoader>& models() {
    static std::map<std::string, bitnet::ProductionModelLoader> m;
    return m;
  }
  static const bitnet::ProductionModelLoader& model(const std::string& header_file) {
    auto it = models().find(header_file);
    if (it == models().end()) {
      auto r = bitnet::ProductionModelLoader::open(kGt + "/" + header_file, {.header_only = true});
      if (!r) throw std::runtime_error(r.error().to_string());
      it = models().emplace(header_file, std::move(r).value()).first;
    }
    return it->second;
  }
};

Row check(const json& r, const std::string& file, const bitnet::ProductionModelLoader& ml) {
  Row row;
  row.file = file;
  row.id = r["id"].get<std::string>();
  auto est = ml.get_detailed_memory_requirements(config_for(r, file));
  if (!est) {
    row.failures.push_back("estimate failed: " + est.error().to_string());
    return row;
  }
  const bitnet::DetailedMemoryRequirements& d = *est;
  const json& bd = r["measured"]["breakdown"];

  // Model buffers: per buffer type, to the byte (weights + repacked copies).
  double w_err_total = 0;
  std::set<std::string> seen;
  for (const auto& [buft, v] : bd.items()) {
    if (buft.front() == '_') continue;
    const bool gpu = device_buffer(buft);
    const auto meas = v["model"].get<std::uint64_t>();
    const auto pred = part_sum(d.model_weights, buft, gpu) + part_sum(d.quantization_overhead, buft, gpu);
    seen.insert(buft);
    const double e = static_cast<double>(pred) - static_cast<double>(meas);
    w_err_total += e;
    if (e != 0) row.failures.push_back("model buffer " + buft + " off by " + std::to_string(static_cast<long long>(e)) + " B");
  }
  for (const auto* seg : {&d.model_weights, &d.quantization_overhead})
    for (const auto& p : seg->parts)
      if (!seen.count(p.name) && p.bytes > 0 &&
          (p.name == "CPU_Mapped" || p.name == "CPU" || p.name == "CPU_REPACK" || p.name == "AMX" ||
           p.name == "CUDA0" || p.name == "CUDA_Host"))
        row.failures.push_back("model buffer " + p.name + " predicted but not measured");
  row.weights_err = w_err_total;

  // KV cache: per device, to the byte.
  std::uint64_t kv_meas_cpu = 0, kv_meas_gpu = 0;
  for (const auto& [buft, v] : bd.items()) {
    if (buft.front() == '_') continue;
    (device_buffer(buft) ? kv_meas_gpu : kv_meas_cpu) += v["context"].get<std::uint64_t>();
  }
  const std::uint64_t kv_cpu = part_sum(d.kv_cache, "kv_cache", false) + part_sum(d.kv_cache, "recurrent_state", false);
  const std::uint64_t kv_gpu = part_sum(d.kv_cache, "kv_cache", true) + part_sum(d.kv_cache, "recurrent_state", true);
  row.kv_err = (static_cast<double>(kv_cpu) - kv_meas_cpu) + (static_cast<double>(kv_gpu) - kv_meas_gpu);
  if (kv_cpu != kv_meas_cpu || kv_gpu != kv_meas_gpu)
    row.failures.push_back("kv cache off: cpu " + std::to_string(kv_cpu) + " vs " + std::to_string(kv_meas_cpu) +
                           ", gpu " + std::to_string(kv_gpu) + " vs " + std::to_string(kv_meas_gpu));

  // Compute buffers: per buffer type, within 1 %.
  for (const auto& [buft, v] : bd.items()) {
    if (buft.front() == '_') continue;
    const auto meas = v["compute"].get<std::uint64_t>();
    if (meas == 0) continue;
    const bool gpu = device_buffer(buft);
    const auto pred = part_sum(d.activations, "compute_buffer", gpu);
    const double e = pct(static_cast<double>(pred), static_cast<double>(meas));
    row.compute_pct[buft] = e;
    if (std::fabs(e) > 1.0) row.failures.push_back("compute " + buft + " off " + std::to_string(e) + " %");
  }

  // Peak RSS (CPU records).
  const json& m = r["measured"];
  if (m.contains("peak_rss")) {
    const double meas = m["peak_rss"].get<double>();
    const double pred = static_cast<double>(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes);
    const double e = pct(pred, meas);
    row.rss_pct = e;
    // A lower bound where the widest graph did not run: no final ubatch at the end of the context,
    // or a cache that was not filled and is longer than the one ubatch that ran (the s4 runs: the
    // ubatch ran with 512 cells of a 1024-cell stream).
    const json& wl = r["workload"];
    const auto& ci = m["ctx_info"];
    row.rss_lower_bound = !wl["final_full_ubatch_at_end"].get<bool>() ||
                          (!wl["kv_filled_to_end"].get<bool>() &&
                           ci["n_ctx_seq"].get<std::uint64_t>() > ci["n_ubatch"].get<std::uint64_t>());
    if (e < -1.0) row.failures.push_back("peak RSS under by " + std::to_string(e) + " %");
    if (!row.rss_lower_bound && e > 3.0) row.failures.push_back("peak RSS over by " + std::to_string(e) + " %");
  }
  // GPU records carry no peak_rss: their host peak (the largest VmHWM of the phases, which the
  // CUDA build's 280 MiB base dominates) is printed for information, not asserted.
  if (!m.contains("peak_rss") && m.contains("rss_phases")) {
    double hwm = 0;
    for (const auto& [phase, v] : m["rss_phases"].items()) hwm = std::max(hwm, v["hwm"].get<double>());
    row.host_info_pct = pct(static_cast<double>(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes), hwm);
  }
  // Device memory peak (GPU records).
  if (m.contains("device_memory")) {
    const double meas = m["device_memory"]["peak_used"].get<double>() -
                        m["device_memory"].value("used_before_process", 0.0);
    const double pred = static_cast<double>(d.peak_usage.gpu_bytes.value_or(0));
    const double e = pct(pred, meas);
    row.dev_pct = e;
    if (std::fabs(e) > 3.0) row.failures.push_back("device peak off " + std::to_string(e) + " %");
  }
  return row;
}

// Records that miss a threshold with every mechanism we can justify (see docs/memory-model.md,
// "Known ground-truth misses"). They print loudly and do not fail the test; any other miss fails.
// Key: record id + "|" + the failure's first word pair.
const std::set<std::string> kKnownFailures = {
    // (CPU compute buffers: exact since the ggml_gallocr simulation, memory-model.md §6.)
    // (CUDA0 / CUDA_Host compute: exact since the ggml_backend_sched simulation, upstream bitnet
    // TQ2_0 included: host-resident TQ weights and token_embd head, per-tensor scales, §13.)
};

std::string failure_key(const Row& r, const std::string& f) {
  return r.id + "|" + f.substr(0, f.find(" off") == std::string::npos ? f.find(' ', f.find(' ') + 1) : f.find(" off"));
}

TEST_F(GroundTruth, EveryRecordWithinThresholds) {
  std::vector<Row> rows;
  for (const char* file : {"cpu-llamacpp.jsonl", "cpu16-llamacpp.jsonl", "gpu-llamacpp.jsonl"}) {
    const auto recs = read_records(file);
    ASSERT_FALSE(recs.empty()) << "no records in " << kGt << "/" << file;
    for (const json& r : recs) {
      const std::string hf = r["model"]["header_file"].get<std::string>();
      rows.push_back(check(r, file, model(hf)));
    }
  }
  // The table: signed errors per term.
  std::printf("\n%-72s %10s %8s %-30s %8s %8s\n", "record", "weights B", "kv B", "compute %", "rss %", "dev %");
  struct Stat { double max_abs = 0; int n = 0, pass = 0; };
  std::map<std::string, Stat> stats;
  int known = 0;
  for (const Row& r : rows) {
    std::string comp;
    for (const auto& [b, e] : r.compute_pct) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s%s:%+.2f", comp.empty() ? "" : " ", b.c_str(), e);
      comp += buf;
      auto& s = stats["compute " + b];
      s.max_abs = std::max(s.max_abs, std::fabs(e)); ++s.n; s.pass += std::fabs(e) <= 1.0;
    }
    char rss[24] = "-", dev[24] = "-";
    if (r.host_info_pct) std::snprintf(rss, sizeof rss, "(%+.1f)", *r.host_info_pct);
    if (r.rss_pct) {
      std::snprintf(rss, sizeof rss, "%+.2f%s", *r.rss_pct, r.rss_lower_bound ? "*" : "");
      auto& s = stats[r.rss_lower_bound ? "peak rss (lower bound)" : "peak rss"];
      s.max_abs = std::max(s.max_abs, std::fabs(*r.rss_pct)); ++s.n;
      s.pass += *r.rss_pct >= -1.0 && (r.rss_lower_bound || *r.rss_pct <= 3.0);
    }
    if (r.dev_pct) {
      std::snprintf(dev, sizeof dev, "%+.2f", *r.dev_pct);
      auto& s = stats["device peak"];
      s.max_abs = std::max(s.max_abs, std::fabs(*r.dev_pct)); ++s.n; s.pass += std::fabs(*r.dev_pct) <= 3.0;
    }
    for (auto [name, v] : {std::pair{"weights", r.weights_err}, std::pair{"kv", r.kv_err}}) {
      auto& s = stats[name];
      s.max_abs = std::max(s.max_abs, std::fabs(v)); ++s.n; s.pass += v == 0;
    }
    std::printf("%-72s %10.0f %8.0f %-30s %8s %8s\n", r.id.c_str(), r.weights_err, r.kv_err,
                comp.c_str(), rss, dev);
  }
  std::printf("(rss %%: * = lower-bound record; (x) = GPU record host peak, information only)\n");
  std::printf("\n%-26s %12s %6s %6s\n", "term", "max |err|", "pass", "of");
  for (const auto& [name, s] : stats)
    std::printf("%-26s %12.3f %6d %6d%s\n", name.c_str(), s.max_abs, s.pass, s.n,
                (name == "weights" || name == "kv") ? "  (bytes)" : "  (%)");
  for (const Row& r : rows)
    for (const auto& f : r.failures) {
      if (kKnownFailures.count(failure_key(r, f))) {
        ++known;
        std::printf("KNOWN FAILURE (documented): %s: %s\n", r.id.c_str(), f.c_str());
        continue;
      }
      ADD_FAILURE() << r.file << " " << r.id << ": " << f << "  [key " << failure_key(r, f) << "]";
    }
  if (known > 0) std::printf("\n*** %d documented known failure(s) above ***\n", known);
  // A listed failure that no longer happens means the list is stale: fail so it gets removed.
  std::set<std::string> happened;
  for (const Row& r : rows)
    for (const auto& f : r.failures) happened.insert(failure_key(r, f));
  for (const auto& k : kKnownFailures)
    EXPECT_TRUE(happened.count(k)) << "known failure no longer happens, remove it: " << k;
}

}  // namespace
