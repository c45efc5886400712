// bitnet-mem text output on hand-built structs: sizes rounded up and never 0 for non-zero bytes,
// one table of segments x (CPU anon / mapped / GPU), given vs inferred settings, the runtime
// profile named, suggestions and the validate verdict.
//
// The CLI's sources are not part of the library, so this test compiles render_text.cpp itself.
#include <gtest/gtest.h>

#include <limits>
#include <sstream>

#include "../../tools/bitnet-mem/render_text.cpp"  // NOLINT(bugprone-suspicious-include)

namespace bitnet::cli {
namespace {

constexpr std::uint64_t MiB = 1024ull * 1024;
constexpr std::uint64_t GiB = 1024 * MiB;

TEST(CliFormat, BytesRoundUpAndNeverShowZeroForNonZero) {
  EXPECT_EQ(format_bytes(0), "0");
  EXPECT_EQ(format_bytes(1), "1 MiB");
  EXPECT_EQ(format_bytes(MiB), "1 MiB");
  EXPECT_EQ(format_bytes(MiB + 1), "2 MiB");
  EXPECT_EQ(format_bytes(1023 * MiB), "1023 MiB");
  EXPECT_EQ(format_bytes(1023 * MiB + 1), "1024 MiB");  // still below 1 GiB
  EXPECT_EQ(format_bytes(GiB), "1.00 GiB");
  EXPECT_EQ(format_bytes(GiB + 1), "1.01 GiB");
  EXPECT_EQ(format_bytes(GiB + GiB / 2), "1.50 GiB");
  // 1,179,449,920 B = 1.0985 GiB -> 1.10 (the BitNet 2B mapped span of memory-model.md §10).
  EXPECT_EQ(format_bytes(1'179'449'920ull), "1.10 GiB");
  // 2^64 - 1 = (2^34 - 1) GiB + (GiB - 1) B -> rounds up to 2^34 GiB, without overflow.
  EXPECT_EQ(format_bytes(std::numeric_limits<std::uint64_t>::max()), "17179869184.00 GiB");
}

TEST(CliFormat, SignedBytesAndCounts) {
  EXPECT_EQ(format_signed_bytes(-static_cast<std::int64_t>(3 * MiB)), "-3 MiB");
  EXPECT_EQ(format_signed_bytes(5), "1 MiB");
  EXPECT_EQ(format_signed_bytes(std::numeric_limits<std::int64_t>::min()), "-8589934592.00 GiB");
  EXPECT_EQ(format_count(4096), "4096");
  EXPECT_EQ(format_count(494'032'768), "494.03 M");
  EXPECT_EQ(format_count(2'412'820'480ull), "2.41 B");
  EXPECT_EQ(format_count(12'345), "12.3 K");
}

ModelStructureInfo tiny_model() {
  ModelStructureInfo m;
  m.path = "/tmp/models/tiny-bitnet.gguf";
  m.gguf_version = 3;
  m.file_bytes = 1'179'449'920ull;
  m.header_bytes = 5 * MiB;
  m.architecture = "bitnet-b1.58";
  m.n_layer = 2;
  m.n_embd = 256;
  m.n_head = 4;
  m.n_head_kv = 1;
  m.head_dim_k = 64;
  m.head_dim_v = 64;
  m.n_ff = 512;
  m.n_vocab = 1000;
  m.n_ctx_train = 4096;
  m.layers.resize(2);
  for (LayerInfo& l : m.layers) {
    l.n_head = 4;
    l.n_head_kv = 1;
    l.head_dim_k = l.head_dim_v = 64;
  }
  m.parameter_count = 1'305'856;
  m.tensor_bytes = 779'712;
  m.quantization_type = QuantizationType::kI2_S;
  m.bits_per_weight = 8.0 * 779'712 / 1'305'856;
  m.tensor_types["I2_S"] = {14, 1'048'576, 262'592};
  m.tensor_types["F16"] = {1, 256'000, 512'000};
  m.tensor_types["F32"] = {5, 1'280, 5'120};
  m.tensors.resize(20);
  m.type_map = TypeMap::kBitnet2024;
  m.type_map_reason = "id 36 spans match I2_S";
  m.warnings = {"tokenizer.ggml.merges is missing"};
  return m;
}

MemoryPart part(std::string name, MemoryKind kind, std::uint64_t bytes, Basis basis,
                std::string device = "cpu") {
  MemoryPart p;
  p.name = std::move(name);
  p.device = std::move(device);
  p.kind = kind;
  p.bytes = bytes;
  p.resident_bytes = bytes;
  p.basis = basis;
  p.source = "test";
  return p;
}

// The memory-model.md §10 numbers, as a hand-built estimate.
DetailedMemoryRequirements tiny_estimate() {
  DetailedMemoryRequirements d;
  d.model_weights.shared_bytes = 1'179'449'920ull;
  d.model_weights.parts = {
      part("CPU_Mapped", MemoryKind::kMapped, 1'179'449'920ull, Basis::kExact)};
  d.kv_cache.cpu_bytes = 157'286'400;
  d.kv_cache.parts = {part("kv_cache", MemoryKind::kAnonymous, 157'286'400, Basis::kExact)};
  d.activations.cpu_bytes = 267'911'168 + 513'024 + 41'943'040;
  d.activations.peak_multiplier = 1.5;
  d.activations.parts = {
      part("compute_buffer", MemoryKind::kAnonymous, 267'911'168, Basis::kExact),
      part("output_buffer", MemoryKind::kAnonymous, 513'024, Basis::kExact),
      part("cpu_work_buffer", MemoryKind::kAnonymous, 41'943'040, Basis::kDerived)};
  d.system_overhead.cpu_bytes = 100;
  d.system_overhead.parts = {part("tokenizer", MemoryKind::kAnonymous, 100, Basis::kHeuristic)};
  d.total.cpu_bytes = 157'286'400 + 267'911'168 + 513'024 + 41'943'040 + 100;
  d.total.shared_bytes = 1'179'449'920ull;
  d.peak_usage = d.total;
  d.recommendations.min_system_ram = 2 * GiB;
  d.recommendations.recommended_system_ram = 2 * GiB + GiB / 4;
  d.recommendations.optimization_suggestions = {
      {"kv_q8_0", "Quantize the KV cache to q8_0", "-ctk q8_0 -ctv q8_0 -fa on", 75 * MiB},
      {"ctx_more", "A larger context", "-c 8192", -static_cast<std::int64_t>(150 * MiB)}};
  d.config.device = "cpu";
  d.config.runtime = "bitnet.cpp";
  d.config.n_ctx = 2048;
  d.config.n_ctx_seq = 2048;
  d.config.n_batch = 2048;
  d.config.n_ubatch = 512;
  d.config.n_seq = 1;
  d.config.flash_attn = false;
  d.config.mmap = true;
  d.warnings = {"the embedding type is uncertain"};
  return d;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The line that starts with `label` (after the indentation of parts), split at runs of 2+ spaces.
std::vector<std::string> row(const std::string& text, const std::string& label) {
  for (const std::string& l : lines(text)) {
    const auto first = l.find_first_not_of(' ');
    if (first == std::string::npos || l.compare(first, label.size(), label) != 0) continue;
    std::vector<std::string> cells;
    std::size_t i = first;
    while (i < l.size()) {
      std::size_t j = l.find("  ", i);
      if (j == std::string::npos) j = l.size();
      if (j > i) cells.push_back(l.substr(i, j - i));
      i = l.find_first_not_of(' ', j);
      if (i == std::string::npos) break;
    }
    return cells;
  }
  return {};
}

TEST(CliRenderEstimate, OneTableOfSegmentsAndParts) {
  const std::string t = render_estimate(tiny_model(), tiny_estimate(), {"n_ctx", "runtime"});
  // Segment rows: label, CPU anon, mapped, GPU (no GPU: "-").
  EXPECT_EQ(row(t, "model_weights"),
            (std::vector<std::string>{"model_weights", "0", "1.10 GiB", "-"}));
  EXPECT_EQ(row(t, "kv_cache"), (std::vector<std::string>{"kv_cache", "150 MiB", "0", "-"}));
  // 310,367,232 B = 295.99 MiB -> 296; the peak multiplier is shown where it is not 1.
  EXPECT_EQ(row(t, "activations"),
            (std::vector<std::string>{"activations", "296 MiB", "0", "-", "peak x1.50"}));
  // Parts sit under their segment, in the column of their kind, with their basis.
  EXPECT_EQ(row(t, "CPU_Mapped (cpu)"),
            (std::vector<std::string>{"CPU_Mapped (cpu)", "1.10 GiB", "exact"}));
  EXPECT_EQ(row(t, "compute_buffer (cpu)"),
            (std::vector<std::string>{"compute_buffer (cpu)", "256 MiB", "exact"}));
  EXPECT_EQ(row(t, "cpu_work_buffer (cpu)"),
            (std::vector<std::string>{"cpu_work_buffer (cpu)", "40 MiB", "derived"}));
  // 100 bytes are shown as 1 MiB, never as 0.
  EXPECT_EQ(row(t, "system_overhead"),
            (std::vector<std::string>{"system_overhead", "1 MiB", "0", "-"}));
  EXPECT_EQ(row(t, "tokenizer (cpu)"),
            (std::vector<std::string>{"tokenizer (cpu)", "1 MiB", "heuristic"}));
  // 157,286,400 + 310,367,232 + 100 = 467,653,732 B = 445.99 MiB -> 446.
  EXPECT_EQ(row(t, "total (reserved)"),
            (std::vector<std::string>{"total (reserved)", "446 MiB", "1.10 GiB", "-"}));
  EXPECT_EQ(row(t, "peak (resident)"),
            (std::vector<std::string>{"peak (resident)", "446 MiB", "1.10 GiB", "-"}));
  EXPECT_EQ(t.find(" 0 MiB"), std::string::npos);
  EXPECT_EQ(t.find(" 0.00 GiB"), std::string::npos);
  // Exactly one table: one header line.
  std::size_t headers = 0;
  for (const std::string& l : lines(t)) headers += l.rfind("segment / part", 0) == 0 ? 1 : 0;
  EXPECT_EQ(headers, 1u);
}

TEST(CliRenderEstimate, NamesTheProfileAndMarksGivenAndInferred) {
  const std::string t = render_estimate(tiny_model(), tiny_estimate(), {"runtime", "n_ctx"});
  EXPECT_NE(t.find("Runtime profile: bitnet.cpp"), std::string::npos);
  // Each block is its first line plus the wrapped lines under it; no line is wider than 100.
  std::string given, inferred;
  std::string* current = nullptr;
  for (const std::string& l : lines(t)) {
    if (l.rfind("  given:", 0) == 0)
      current = &given;
    else if (l.rfind("  inferred:", 0) == 0)
      current = &inferred;
    else if (l.rfind("            ", 0) != 0)
      current = nullptr;
    if (current != nullptr) *current += l + "\n";
    EXPECT_LE(l.size(), 100u) << l;
  }
  EXPECT_NE(given.find("runtime bitnet.cpp (--runtime)"), std::string::npos) << given;
  EXPECT_NE(given.find("n_ctx 2048 (-c)"), std::string::npos) << given;
  EXPECT_EQ(given.find("n_ubatch"), std::string::npos) << given;
  EXPECT_NE(inferred.find("n_ubatch 512 (-ub)"), std::string::npos) << inferred;
  EXPECT_NE(inferred.find("flash_attn off (-fa)"), std::string::npos) << inferred;
  EXPECT_NE(inferred.find("type_v f16 (-ctv)"), std::string::npos) << inferred;
  EXPECT_EQ(inferred.find("n_ctx"), std::string::npos) << inferred;

  const std::string none = render_estimate(tiny_model(), tiny_estimate(), {});
  EXPECT_NE(none.find("given:    (none: all defaults)"), std::string::npos);
}

TEST(CliRenderEstimate, RecommendationsSuggestionsAndWarnings) {
  const std::string t = render_estimate(tiny_model(), tiny_estimate(), {});
  EXPECT_NE(t.find("system RAM: min 2.00 GiB, recommended 2.25 GiB; swap 0"), std::string::npos)
      << t;
  EXPECT_EQ(t.find("GPU memory"), std::string::npos);  // no GPU involved
  EXPECT_NE(t.find("1. Quantize the KV cache to q8_0 [-ctk q8_0 -ctv q8_0 -fa on] (saves 75 MiB)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("2. A larger context [-c 8192] (costs 150 MiB)"), std::string::npos) << t;
  EXPECT_NE(t.find("  - the embedding type is uncertain"), std::string::npos);
}

TEST(CliRenderEstimate, LongSuggestionsWrapButKeepTheirFlagsOnOneLine) {
  DetailedMemoryRequirements d = tiny_estimate();
  d.recommendations.optimization_suggestions = {
      {"kv_q4_0",
       "store K and V as q4_0 (needs flash attention; lower quality): peak 1573 MiB -> 1423 MiB",
       "-ctk q4_0 -ctv q4_0 -fa on", 150 * MiB}};
  const std::string t = render_estimate(tiny_model(), d, {});
  for (const std::string& l : lines(t)) EXPECT_LE(l.size(), 100u) << l;
  EXPECT_NE(t.find("[-ctk q4_0 -ctv q4_0 -fa on] (saves 150 MiB)"), std::string::npos) << t;
  // The effect stays whole too: "(saves" and its size on one line.
  for (const std::string& l : lines(t)) {
    const std::string_view v(l);
    EXPECT_FALSE(v.ends_with("(saves")) << l;
  }
  EXPECT_EQ(t.find('\x01'), std::string::npos);
}

TEST(CliRenderEstimate, GpuColumnWhenAGpuIsInvolved) {
  DetailedMemoryRequirements d = tiny_estimate();
  d.kv_cache.gpu_bytes = 3 * GiB;
  d.kv_cache.parts.push_back(
      part("kv_cache", MemoryKind::kDevice, 3 * GiB, Basis::kExact, "cuda:0"));
  d.recommendations.min_gpu_memory = 4 * GiB;
  const std::string t = render_estimate(tiny_model(), d, {});
  EXPECT_EQ(row(t, "kv_cache"), (std::vector<std::string>{"kv_cache", "150 MiB", "0", "3.00 GiB"}));
  EXPECT_EQ(row(t, "kv_cache (cuda:0)"),
            (std::vector<std::string>{"kv_cache (cuda:0)", "3.00 GiB", "exact"}));
  EXPECT_NE(t.find("GPU memory: min 4.00 GiB, recommended -"), std::string::npos);
}

TEST(CliRenderInspect, Summary) {
  const std::string t = render_inspect(tiny_model());
  EXPECT_NE(t.find("/tmp/models/tiny-bitnet.gguf  (GGUF v3, 1.10 GiB, header 5 MiB"),
            std::string::npos)
      << t;
  EXPECT_EQ(row(t, "architecture"), (std::vector<std::string>{"architecture", "bitnet-b1.58"}));
  EXPECT_EQ(row(t, "heads"), (std::vector<std::string>{"heads", "4 query, 1 KV (GQA 4:1)"}));
  EXPECT_EQ(row(t, "head dims"), (std::vector<std::string>{"head dims", "K 64, V 64"}));
  EXPECT_EQ(row(t, "sliding window"), (std::vector<std::string>{"sliding window", "none"}));
  EXPECT_EQ(row(t, "experts"), (std::vector<std::string>{"experts", "none"}));
  // 8 * 779,712 / 1,305,856 = 4.7767 bits per weight.
  EXPECT_EQ(row(t, "quantization"),
            (std::vector<std::string>{"quantization", "I2_S, 4.78 bits per weight"}));
  EXPECT_EQ(row(t, "type map"),
            (std::vector<std::string>{"type map", "bitnet-2024 (id 36 spans match I2_S)"}));
  // Tensors by type, largest first: F16 512,000 B, I2_S 262,592 B, F32 5,120 B.
  // bpw: 8 * 512000 / 256000 = 16; 8 * 262592 / 1048576 = 2.0034; 8 * 5120 / 1280 = 32.
  EXPECT_EQ(row(t, "F16"), (std::vector<std::string>{"F16", "1", "256.0 K", "1 MiB", "16.00"}));
  EXPECT_EQ(row(t, "I2_S"), (std::vector<std::string>{"I2_S", "14", "1.05 M", "1 MiB", "2.00"}));
  EXPECT_EQ(row(t, "F32"), (std::vector<std::string>{"F32", "5", "1280", "1 MiB", "32.00"}));
  EXPECT_LT(t.find("\n  F16 "), t.find("\n  I2_S "));
  EXPECT_LT(t.find("\n  I2_S "), t.find("\n  F32 "));
  EXPECT_EQ(row(t, "total"), (std::vector<std::string>{"total", "20", "1.31 M", "1 MiB", "4.78"}));
  EXPECT_NE(t.find("  - tokenizer.ggml.merges is missing"), std::string::npos);
}

TEST(CliRenderInspect, PerLayerKvHeadsAndSlidingWindow) {
  ModelStructureInfo m = tiny_model();
  m.layers[1].n_head_kv = 4;
  m.layers[1].is_swa = true;
  m.sliding_window = 512;
  const std::string t = render_inspect(m);
  EXPECT_EQ(row(t, "heads"),
            (std::vector<std::string>{"heads", "4 query, 1..4 KV (varies by layer)"}));
  EXPECT_EQ(row(t, "sliding window"),
            (std::vector<std::string>{"sliding window", "512 tokens on 1 of 2 layers"}));
}

TEST(CliRenderInspect, LongValuesWrapUnderTheValueColumn) {
  ModelStructureInfo m = tiny_model();
  std::string reason;
  for (int i = 0; i < 30; ++i) reason += "word" + std::to_string(i) + " ";
  reason.pop_back();
  m.type_map_reason = reason;
  const std::string t = render_inspect(m);
  std::string joined;
  bool in_type_map = false;
  for (const std::string& l : lines(t)) {
    EXPECT_LE(l.size(), 100u) << l;
    if (l.rfind("  type map", 0) == 0) {
      in_type_map = true;
      joined = l.substr(18);
    } else if (in_type_map && l.rfind(std::string(18, ' '), 0) == 0) {
      joined += " " + l.substr(18);
    } else {
      in_type_map = false;
    }
  }
  EXPECT_EQ(joined, "bitnet-2024 (" + reason + ")");
}

ValidationReport tiny_report(bool pass) {
  ValidationReport r;
  r.predicted = tiny_estimate();
  r.tolerance = 0.05;
  r.tolerance_bytes = 1 * MiB;
  r.rows = {{"kv_cache", 157'286'400, 157'286'400, 0.0, true},
            {"activations", 112 * MiB, 100 * MiB, 0.12, pass},
            {"total", 1300 * MiB, 1290 * MiB, 10.0 / 1290, true}};
  r.passed = pass;
  r.before_load.rss_bytes = 10 * MiB;
  r.after_load.rss_bytes = 1290 * MiB;
  r.after_load.hwm_bytes = 1300 * MiB;
  return r;
}

TEST(CliRenderValidate, PredictedVsActualAndVerdict) {
  const std::string fail = render_validate(tiny_model(), tiny_report(false), {});
  EXPECT_EQ(row(fail, "activations"),
            (std::vector<std::string>{"activations", "112 MiB", "100 MiB", "+12.0%", "OUTSIDE"}));
  EXPECT_EQ(row(fail, "kv_cache"),
            (std::vector<std::string>{"kv_cache", "150 MiB", "150 MiB", "+0.0%", "ok"}));
  // 10 / 1290 = 0.775 %.
  EXPECT_EQ(row(fail, "total"),
            (std::vector<std::string>{"total", "1.27 GiB", "1.26 GiB", "+0.8%", "ok"}));
  EXPECT_NE(fail.find("FAILED: outside 5.0% and 1 MiB absolute: activations +12.0%"), std::string::npos) << fail;
  EXPECT_NE(fail.find("RSS 1.26 GiB after load (10 MiB before), peak RSS (VmHWM) 1.27 GiB"),
            std::string::npos)
      << fail;
  const std::string pass = render_validate(tiny_model(), tiny_report(true), {});
  EXPECT_NE(pass.find("PASSED: every segment and the total within 5.0% (or 1 MiB absolute)"), std::string::npos);
}

}  // namespace
}  // namespace bitnet::cli

namespace bitnet::cli {
namespace {

TEST(CliRender, SplitOverGpusListsEachGpu) {
  DetailedMemoryRequirements d = tiny_estimate();
  const std::string one = render_estimate(tiny_model(), d, {});
  EXPECT_EQ(one.find("Per GPU"), std::string::npos);  // one device: no per-GPU block
  d.config.device = "cuda:0,cuda:1";
  d.config.tensor_split = {3.0f, 1.0f};
  d.peak_usage.gpu_bytes = 3ull << 30;
  d.recommendations.min_gpu_memory = 2ull << 30;
  d.recommendations.recommended_gpu_memory = (2ull << 30) + (200ull << 20);
  d.devices = {DeviceUsage{"cuda:0", 12, 1ull << 30, 512ull << 20, 256ull << 20, 256ull << 20, 2ull << 30},
               DeviceUsage{"cuda:1", 5, 512ull << 20, 128ull << 20, 128ull << 20, 256ull << 20, 1ull << 30}};
  const std::string t = render_estimate(tiny_model(), d, {"device", "tensor_split"});
  EXPECT_NE(t.find("Per GPU (layer split)"), std::string::npos) << t;
  EXPECT_NE(t.find("cuda:0    12 layers"), std::string::npos) << t;
  EXPECT_NE(t.find("cuda:1     5 layers"), std::string::npos) << t;
  EXPECT_NE(t.find("peak   2.00 GiB"), std::string::npos) << t;
  EXPECT_NE(t.find("per GPU (the most loaded one)"), std::string::npos) << t;
  EXPECT_NE(t.find("tensor_split 3,1 (-ts)"), std::string::npos) << t;
}

}  // namespace
}  // namespace bitnet::cli
