// The JSON documents of api.md §3 on hand-built structs: required fields in api.md's order with
// the right JSON types, null for absent optionals, extra fields only after the required ones.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/json.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t MiB = 1024ull * 1024;

std::vector<std::string> keys(const Json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

// The first keys of `j` are exactly `required`, in that order.
void expect_prefix(const Json& j, const std::vector<std::string>& required, const char* what) {
  const std::vector<std::string> k = keys(j);
  ASSERT_GE(k.size(), required.size()) << what;
  EXPECT_EQ(std::vector<std::string>(k.begin(), k.begin() + static_cast<long>(required.size())),
            required)
      << what;
}

ModelStructureInfo model() {
  ModelStructureInfo m;
  m.path = "m.gguf";
  m.gguf_version = 3;
  m.file_bytes = 123'456;
  m.architecture = "bitnet-b1.58";
  m.n_layer = 2;
  m.n_embd = 256;
  m.n_head = 4;
  m.n_head_kv = 2;
  m.head_dim_k = 64;
  m.head_dim_v = 64;
  m.n_ff = 512;
  m.n_vocab = 1000;
  m.n_ctx_train = 4096;
  m.parameter_count = 1'000'000;
  m.tensor_bytes = 300'000;
  m.tensors.resize(7);
  m.quantization_type = QuantizationType::kI2_S;
  m.tensor_types["F32"] = {4, 1000, 4000};
  m.tensor_types["I2_S"] = {3, 999'000, 296'000};
  m.layers.resize(2);
  return m;
}

MemorySegment seg(std::uint64_t cpu, std::optional<std::uint64_t> gpu, std::uint64_t shared) {
  MemorySegment s;
  s.cpu_bytes = cpu;
  s.gpu_bytes = gpu;
  s.shared_bytes = shared;
  MemoryPart p;
  p.name = "kv_cache";
  p.device = "cpu";
  p.bytes = cpu;
  p.resident_bytes = cpu / 2;
  p.basis = Basis::kCalibrated;
  p.source = "llama-kv-cache.cpp";
  s.parts.push_back(p);
  return s;
}

DetailedMemoryRequirements estimate() {
  DetailedMemoryRequirements d;
  d.model_weights = seg(0, std::nullopt, 300'000);
  d.kv_cache = seg(8 * MiB, std::nullopt, 0);
  d.activations = seg(3 * MiB, std::nullopt, 0);
  d.system_overhead = seg(MiB, std::nullopt, 0);
  d.total = seg(12 * MiB, std::nullopt, 300'000);
  d.peak_usage = seg(12 * MiB, std::nullopt, 300'000);
  d.peak_usage.peak_multiplier = 1.25;
  d.recommendations.min_system_ram = 20 * MiB;
  d.recommendations.recommended_system_ram = 22 * MiB;
  d.recommendations.optimization_suggestions = {
      {"kv_q8_0", "Quantize the KV cache", "-ctk q8_0 -ctv q8_0 -fa on", 4 * MiB}};
  d.config.device = "cpu";
  d.config.runtime = "llama.cpp";
  d.config.n_ctx = 4096;
  d.config.n_ctx_seq = 4096;
  d.config.n_batch = 2048;
  d.config.n_ubatch = 512;
  d.config.n_seq = 1;
  d.config.type_k = Precision::kQ8_0;
  d.config.type_v = Precision::kF16;
  d.config.flash_attn = true;
  d.config.mmap = true;
  d.config.n_gpu_layers = 0;
  return d;
}

TEST(CliJson, InspectFieldsInApiMdOrder) {
  const Json j = model_json(model());
  expect_prefix(
      j, {"path",          "format",         "gguf_version",    "file_bytes",   "architecture",
          "n_layer",       "n_embd",         "n_head",          "n_head_kv",    "head_dim_k",
          "head_dim_v",    "n_ff",           "n_vocab",         "n_ctx_train",  "n_expert",
          "n_expert_used", "sliding_window", "parameter_count", "tensor_count", "tensor_bytes",
          "quantization",  "tensor_types"},
      "inspect");
  EXPECT_EQ(j["path"], "m.gguf");
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["n_head_kv"], 2);
  EXPECT_TRUE(j["sliding_window"].is_null());
  EXPECT_EQ(j["tensor_count"], 7);
  EXPECT_EQ(j["quantization"], "I2_S");
  // tensor_types: largest first, each {count, parameters, bytes}.
  EXPECT_EQ(keys(j["tensor_types"]), (std::vector<std::string>{"I2_S", "F32"}));
  EXPECT_EQ(keys(j["tensor_types"]["I2_S"]),
            (std::vector<std::string>{"count", "parameters", "bytes"}));
  EXPECT_EQ(j["tensor_types"]["I2_S"]["parameters"], 999'000);
  EXPECT_EQ(j["tensor_types"]["F32"]["bytes"], 4000);
  EXPECT_EQ(j["layers"].size(), 2u);

  ModelStructureInfo swa = model();
  swa.sliding_window = 512;
  EXPECT_EQ(model_json(swa)["sliding_window"], 512);
}

TEST(CliJson, SegmentShape) {
  const Json s = segment_json(seg(5, std::nullopt, 7));
  expect_prefix(s, {"cpu_bytes", "gpu_bytes", "shared_bytes", "peak_multiplier", "parts"}, "SEG");
  EXPECT_EQ(s["cpu_bytes"], 5);
  EXPECT_TRUE(s["gpu_bytes"].is_null());
  EXPECT_EQ(s["shared_bytes"], 7);
  EXPECT_TRUE(s["peak_multiplier"].is_number_float());
  ASSERT_EQ(s["parts"].size(), 1u);
  const Json& p = s["parts"][0];
  expect_prefix(p, {"name", "device", "bytes", "basis", "source", "kind", "resident_bytes"},
                "PART");
  EXPECT_EQ(p["basis"], "calibrated");
  EXPECT_EQ(p["kind"], "anonymous");
  EXPECT_EQ(p["resident_bytes"], 2);  // 5 / 2 as built above
  EXPECT_EQ(segment_json(seg(1, 9, 0))["gpu_bytes"], 9);
}

TEST(CliJson, EstimateDocument) {
  const Json j = estimate_json(model(), estimate(), {"n_ctx", "type_k"});
  expect_prefix(j, {"model", "config", "segments", "total", "peak_usage", "recommendations"},
                "estimate");
  EXPECT_EQ(j["model"], model_json(model()));
  expect_prefix(j["config"],
                {"device", "runtime", "n_ctx", "n_batch", "n_ubatch", "n_seq", "type_k", "type_v",
                 "flash_attn", "mmap", "n_gpu_layers"},
                "config");
  EXPECT_EQ(j["config"]["type_k"], "q8_0");
  EXPECT_EQ(j["config"]["flash_attn"], true);
  EXPECT_EQ(j["config"]["given"], Json({"n_ctx", "type_k"}));
  EXPECT_EQ(keys(j["segments"]),
            (std::vector<std::string>{"model_weights", "kv_cache", "activations",
                                      "quantization_overhead", "system_overhead"}));
  EXPECT_EQ(j["segments"]["kv_cache"]["cpu_bytes"], 8 * MiB);
  EXPECT_EQ(j["segments"]["quantization_overhead"]["parts"], Json::array());
  EXPECT_DOUBLE_EQ(j["peak_usage"]["peak_multiplier"].get<double>(), 1.25);
  const Json& r = j["recommendations"];
  expect_prefix(r,
                {"min_system_ram_bytes", "recommended_system_ram_bytes", "min_gpu_memory_bytes",
                 "recommended_gpu_memory_bytes", "swap_bytes", "suggestions"},
                "recommendations");
  EXPECT_EQ(r["min_system_ram_bytes"], 20 * MiB);
  EXPECT_TRUE(r["min_gpu_memory_bytes"].is_null());
  expect_prefix(r["suggestions"][0], {"text", "saves_bytes", "id", "flags"}, "suggestion");
  EXPECT_EQ(r["suggestions"][0]["saves_bytes"], 4 * MiB);
  EXPECT_EQ(j["warnings"], Json::array());
  // One document that parses back to itself.
  EXPECT_EQ(Json::parse(j.dump(2)), j);
}

TEST(CliJson, ValidationAddsActual) {
  ValidationReport r;
  r.predicted = estimate();
  r.actual_kv_cache = seg(9 * MiB, std::nullopt, 0);
  r.actual_total = seg(13 * MiB, std::nullopt, 300'000);
  r.after_load.rss_bytes = 14 * MiB;
  r.after_load.hwm_bytes = 15 * MiB;
  r.tolerance = 0.05;
  r.passed = false;
  r.rows = {{"kv_cache", 8 * MiB, 9 * MiB, -1.0 / 9, false}};
  const Json j = validation_json(model(), r);
  // estimate's document first, then the validation fields.
  expect_prefix(j,
                {"model", "config", "segments", "total", "peak_usage", "recommendations",
                 "warnings", "actual", "rss_bytes", "hwm_bytes", "passed", "tolerance"},
                "validate");
  EXPECT_EQ(keys(j["actual"]), (std::vector<std::string>{"model_weights", "kv_cache", "activations",
                                                         "quantization_overhead", "system_overhead",
                                                         "total", "rss_bytes", "hwm_bytes"}));
  EXPECT_EQ(j["actual"]["kv_cache"], segment_json(r.actual_kv_cache));
  EXPECT_EQ(j["actual"]["total"]["cpu_bytes"], 13 * MiB);
  EXPECT_EQ(j["rss_bytes"], 14 * MiB);
  EXPECT_EQ(j["hwm_bytes"], 15 * MiB);
  EXPECT_EQ(j["passed"], false);
  EXPECT_DOUBLE_EQ(j["tolerance"].get<double>(), 0.05);
  EXPECT_EQ(j["rows"][0]["segment"], "kv_cache");
  EXPECT_EQ(j["rows"][0]["within_tolerance"], false);
}

}  // namespace
}  // namespace bitnet::detail
