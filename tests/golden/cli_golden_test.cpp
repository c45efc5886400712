// Golden tests of the built bitnet-mem (BITNET_CLI_PATH): `inspect --json` and `estimate --json` on
// tiny fixtures, compared field by field with values derived by hand in this file (block sizes,
// KV bytes from the per-layer KV heads), a schema check that guards api.md §3, and the CLI's
// error paths and exit codes (api.md §2, style.md §6).
//
// Fixtures: one written here with GgufWriter (every tensor, shape and type chosen below), and one
// made by `bitnet-mem synth tiny-bitnet-b1.58-i2_s`, whose spec is restated below.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "synth/gguf_writer.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// ---- running the CLI ------------------------------------------------------------------------

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path work_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("bitnet-golden-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// Removes the fixtures when the test program ends.
class RemoveWorkDir : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(work_dir(), ec);
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveWorkDir =
    ::testing::AddGlobalTestEnvironment(new RemoveWorkDir);

CliRun run(const std::vector<std::string>& args) {
  const fs::path out = work_dir() / "stdout.txt", err = work_dir() / "stderr.txt";
  std::string cmd = quote(BITNET_CLI_PATH);
  for (const std::string& a : args) {
    cmd += ' ';
    cmd += quote(a);
  }
  cmd += " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// The whole of stdout must be exactly one JSON document (a second one, or any text, fails parse).
Json json_of(const CliRun& r) {
  Json j = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON document:\n" << r.out;
  return j;
}

// ---- hand arithmetic ------------------------------------------------------------------------

constexpr std::uint64_t kF32 = 0, kF16 = 1, kQ8_0 = 8;  // ggml type ids
std::uint64_t f32_bytes(std::uint64_t n) { return 4 * n; }
std::uint64_t f16_bytes(std::uint64_t n) { return 2 * n; }
std::uint64_t q8_0_bytes(std::uint64_t n) {
  return n / 32 * (2 + 32);
}  // block: f16 scale + 32 int8
std::uint64_t i2_s_bytes(std::uint64_t n) {
  return n / 4 + 32;
}  // 2 bits each + 32 B tail (2024 fork)
std::uint64_t pad(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

struct TypeTotals {
  std::uint64_t count = 0, parameters = 0, bytes = 0;
};

// ---- fixture 1: a hand-written llama with per-layer KV heads ----------------------------------

// llama, 2 layers, n_embd 256, 4 heads of 64, KV heads [2, 1] (per layer), n_ff 512, vocab 1024.
// token_embd F16, output Q8_0, norms F32, every block matrix Q8_0.
struct HandLlama {
  static constexpr std::uint64_t E = 256, H = 4, HD = 64, F = 512, V = 1024, CTX = 2048;
  static constexpr std::uint64_t KV[2] = {2, 1};
  std::uint64_t tensor_bytes = 0, parameters = 0, tensors = 0;
  std::map<std::string, TypeTotals> types;
  std::uint64_t file_bytes = 0;
  fs::path path;

  void add(bitnet::detail::GgufWriter& w, const std::string& name, std::uint64_t type,
           std::vector<std::uint64_t> ne) {
    std::uint64_t n = 1;
    for (std::uint64_t d : ne) n *= d;
    const std::uint64_t bytes = type == kF32   ? f32_bytes(n)
                                : type == kF16 ? f16_bytes(n)
                                               : q8_0_bytes(n);
    const char* tname = type == kF32 ? "F32" : type == kF16 ? "F16" : "Q8_0";
    w.add_tensor(name, static_cast<std::uint32_t>(type), ne, bytes);
    tensor_bytes += bytes;
    parameters += n;
    ++tensors;
    TypeTotals& t = types[tname];
    ++t.count;
    t.parameters += n;
    t.bytes += bytes;
  }

  explicit HandLlama(fs::path p) : path(std::move(p)) {
    bitnet::detail::GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "golden-hand-llama");
    w.add_u32("llama.context_length", CTX);
    w.add_u32("llama.embedding_length", E);
    w.add_u32("llama.block_count", 2);
    w.add_u32("llama.feed_forward_length", F);
    w.add_u32("llama.attention.head_count", H);
    w.add_u32_array("llama.attention.head_count_kv", {KV[0], KV[1]});
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string_array_fn("tokenizer.ggml.tokens", V, [](std::uint64_t i) {
      std::string t = std::to_string(i);
      t.insert(t.begin(), 't');
      return t;
    });
    add(w, "token_embd.weight", kF16, {E, V});
    for (int il = 0; il < 2; ++il) {
      const std::string b = "blk." + std::to_string(il) + ".";
      add(w, b + "attn_norm.weight", kF32, {E});
      add(w, b + "attn_q.weight", kQ8_0, {E, H * HD});
      add(w, b + "attn_k.weight", kQ8_0, {E, KV[il] * HD});
      add(w, b + "attn_v.weight", kQ8_0, {E, KV[il] * HD});
      add(w, b + "attn_output.weight", kQ8_0, {H * HD, E});
      add(w, b + "ffn_norm.weight", kF32, {E});
      add(w, b + "ffn_gate.weight", kQ8_0, {E, F});
      add(w, b + "ffn_up.weight", kQ8_0, {E, F});
      add(w, b + "ffn_down.weight", kQ8_0, {F, E});
    }
    add(w, "output_norm.weight", kF32, {E});
    add(w, "output.weight", kQ8_0, {E, V});
    const auto st = w.write(path.string());
    EXPECT_TRUE(st.has_value());
    file_bytes = fs::file_size(path);
  }
};

const HandLlama& hand_llama() {
  static const HandLlama m(work_dir() / "hand-llama.gguf");
  return m;
}

// ---- fixture 2: `bitnet-mem synth tiny-bitnet-b1.58-i2_s` --------------------------------------

// The preset's spec (src/synth/model_spec.cpp): bitnet-b1.58, 2 layers, n_embd 256, 4 heads,
// 2 KV heads, n_ff 768, vocab 1024, training context 4096, I2_S blocks, F16 token_embd, tied
// output; per block the BitNet sub-norms attn_sub_norm [n_embd] and ffn_sub_norm [n_ff].
struct TinyI2s {
  static constexpr std::uint64_t E = 256, H = 4, KVH = 2, F = 768, V = 1024, L = 2;
  static constexpr std::uint64_t HD = E / H;
  fs::path path;
  std::uint64_t file_bytes = 0;
  TypeTotals i2s, f16, f32;
  std::uint64_t parameters = 0, tensor_bytes = 0, tensors = 0;

  explicit TinyI2s(fs::path p) : path(std::move(p)) {
    const CliRun r = run({"synth", "tiny-bitnet-b1.58-i2_s", "-o", path.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    file_bytes = fs::file_size(path);
    const std::uint64_t mats[] = {E * E, E * KVH * HD, E * KVH * HD, E * E, E * F, E * F, F * E};
    for (std::uint64_t l = 0; l < L; ++l)
      for (std::uint64_t n : mats) {
        ++i2s.count;
        i2s.parameters += n;
        i2s.bytes += i2_s_bytes(n);
      }
    f16 = {1, E * V, f16_bytes(E * V)};
    const std::uint64_t norms = L * (E + E + E + F) + E;  // attn, attn_sub, ffn, ffn_sub; output
    f32 = {L * 4 + 1, norms, f32_bytes(norms)};
    parameters = i2s.parameters + f16.parameters + f32.parameters;
    tensor_bytes = i2s.bytes + f16.bytes + f32.bytes;
    tensors = i2s.count + f16.count + f32.count;
  }
};

const TinyI2s& tiny_i2s() {
  static const TinyI2s m(work_dir() / "tiny-i2s.gguf");
  return m;
}

// ---- schema (api.md §3) ---------------------------------------------------------------------

enum class T { kString, kUint, kInt, kNumber, kBool, kObject, kArray, kUintOrNull };

bool has_type(const Json& v, T t) {
  switch (t) {
    case T::kString:
      return v.is_string();
    case T::kUint:
      return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    case T::kInt:
      return v.is_number_integer();
    case T::kNumber:
      return v.is_number();
    case T::kBool:
      return v.is_boolean();
    case T::kObject:
      return v.is_object();
    case T::kArray:
      return v.is_array();
    case T::kUintOrNull:
      return v.is_null() || has_type(v, T::kUint);
  }
  return false;
}

struct Field {
  const char* name;
  T type;
};

// Every required field is present, with its type, and the required fields come first in api.md's
// order.
void check_fields(const Json& j, const std::vector<Field>& fields, const std::string& where) {
  ASSERT_TRUE(j.is_object()) << where;
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  ASSERT_GE(keys.size(), fields.size()) << where;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    EXPECT_EQ(keys[i], fields[i].name) << where << ": field #" << i;
    ASSERT_TRUE(j.contains(fields[i].name)) << where << "." << fields[i].name;
    EXPECT_TRUE(has_type(j[fields[i].name], fields[i].type))
        << where << "." << fields[i].name << " = " << j[fields[i].name].dump();
  }
}

void check_model_schema(const Json& m) {
  check_fields(m,
               {{"path", T::kString},
                {"format", T::kString},
                {"gguf_version", T::kUint},
                {"file_bytes", T::kUint},
                {"architecture", T::kString},
                {"n_layer", T::kUint},
                {"n_embd", T::kUint},
                {"n_head", T::kUint},
                {"n_head_kv", T::kUint},
                {"head_dim_k", T::kUint},
                {"head_dim_v", T::kUint},
                {"n_ff", T::kUint},
                {"n_vocab", T::kUint},
                {"n_ctx_train", T::kUint},
                {"n_expert", T::kUint},
                {"n_expert_used", T::kUint},
                {"sliding_window", T::kUintOrNull},
                {"parameter_count", T::kUint},
                {"tensor_count", T::kUint},
                {"tensor_bytes", T::kUint},
                {"quantization", T::kString},
                {"tensor_types", T::kObject}},
               "model");
  for (const auto& [name, t] : m["tensor_types"].items())
    check_fields(t, {{"count", T::kUint}, {"parameters", T::kUint}, {"bytes", T::kUint}},
                 "tensor_types." + name);
}

void check_segment_schema(const Json& s, const std::string& where) {
  check_fields(s,
               {{"cpu_bytes", T::kUint},
                {"gpu_bytes", T::kUintOrNull},
                {"shared_bytes", T::kUint},
                {"peak_multiplier", T::kNumber},
                {"parts", T::kArray}},
               where);
  static const std::set<std::string> kBases = {"exact", "derived", "calibrated", "heuristic"};
  for (const Json& p : s["parts"]) {
    check_fields(p,
                 {{"name", T::kString},
                  {"device", T::kString},
                  {"bytes", T::kUint},
                  {"basis", T::kString},
                  {"source", T::kString}},
                 where + ".parts");
    EXPECT_TRUE(kBases.count(p["basis"].get<std::string>())) << where << ": basis " << p["basis"];
  }
}

void check_estimate_schema(const Json& j) {
  check_fields(j,
               {{"model", T::kObject},
                {"config", T::kObject},
                {"segments", T::kObject},
                {"total", T::kObject},
                {"peak_usage", T::kObject},
                {"recommendations", T::kObject}},
               "estimate");
  check_model_schema(j["model"]);
  check_fields(j["config"],
               {{"device", T::kString},
                {"runtime", T::kString},
                {"n_ctx", T::kUint},
                {"n_batch", T::kUint},
                {"n_ubatch", T::kUint},
                {"n_seq", T::kUint},
                {"type_k", T::kString},
                {"type_v", T::kString},
                {"flash_attn", T::kBool},
                {"mmap", T::kBool},
                {"n_gpu_layers", T::kInt}},
               "config");
  const Json& segs = j["segments"];
  std::vector<std::string> names;
  for (auto it = segs.begin(); it != segs.end(); ++it) names.push_back(it.key());
  EXPECT_EQ(names, (std::vector<std::string>{"model_weights", "kv_cache", "activations",
                                             "quantization_overhead", "system_overhead"}));
  for (const std::string& n : names) check_segment_schema(segs[n], "segments." + n);
  check_segment_schema(j["total"], "total");
  check_segment_schema(j["peak_usage"], "peak_usage");
  const Json& r = j["recommendations"];
  check_fields(r,
               {{"min_system_ram_bytes", T::kUint},
                {"recommended_system_ram_bytes", T::kUint},
                {"min_gpu_memory_bytes", T::kUintOrNull},
                {"recommended_gpu_memory_bytes", T::kUintOrNull},
                {"swap_bytes", T::kUint},
                {"suggestions", T::kArray}},
               "recommendations");
  for (const Json& s : r["suggestions"])
    check_fields(s, {{"text", T::kString}, {"saves_bytes", T::kInt}}, "suggestion");
}

// Sum of a segment's parts of the given kinds.
std::uint64_t parts_sum(const Json& seg, const std::set<std::string>& kinds) {
  std::uint64_t s = 0;
  for (const Json& p : seg["parts"])
    if (kinds.count(p["kind"].get<std::string>())) s += p["bytes"].get<std::uint64_t>();
  return s;
}

std::set<std::string> part_names(const Json& seg) {
  std::set<std::string> s;
  for (const Json& p : seg["parts"]) s.insert(p["name"].get<std::string>());
  return s;
}

const char* const kSegments[] = {"model_weights", "kv_cache", "activations",
                                 "quantization_overhead", "system_overhead"};

// ---- inspect ----------------------------------------------------------------------------------

TEST(GoldenInspect, HandWrittenLlamaFieldByField) {
  const HandLlama& m = hand_llama();
  const CliRun r = run({"inspect", m.path.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = json_of(r);
  check_model_schema(j);
  EXPECT_EQ(j["path"], m.path.string());
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["gguf_version"], 3);
  EXPECT_EQ(j["file_bytes"], m.file_bytes);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["n_layer"], 2);
  EXPECT_EQ(j["n_embd"], HandLlama::E);
  EXPECT_EQ(j["n_head"], HandLlama::H);
  EXPECT_EQ(j["n_head_kv"], HandLlama::KV[0]);  // layer 0's (also the largest)
  EXPECT_EQ(j["head_dim_k"], HandLlama::E / HandLlama::H);
  EXPECT_EQ(j["head_dim_v"], HandLlama::E / HandLlama::H);
  EXPECT_EQ(j["n_ff"], HandLlama::F);
  EXPECT_EQ(j["n_vocab"], HandLlama::V);
  EXPECT_EQ(j["n_ctx_train"], HandLlama::CTX);
  EXPECT_EQ(j["n_expert"], 0);
  EXPECT_EQ(j["n_expert_used"], 0);
  EXPECT_TRUE(j["sliding_window"].is_null());
  EXPECT_EQ(j["parameter_count"], m.parameters);
  EXPECT_EQ(j["tensor_count"], m.tensors);
  EXPECT_EQ(j["tensor_bytes"], m.tensor_bytes);
  EXPECT_EQ(j["quantization"], "Q8_0");  // the type holding most parameters
  ASSERT_EQ(j["tensor_types"].size(), m.types.size());
  for (const auto& [name, t] : m.types) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(j["tensor_types"].contains(name));
    EXPECT_EQ(j["tensor_types"][name]["count"], t.count);
    EXPECT_EQ(j["tensor_types"][name]["parameters"], t.parameters);
    EXPECT_EQ(j["tensor_types"][name]["bytes"], t.bytes);
  }
  // Every size above is a multiple of 32, so the data section is exactly the tensor bytes.
  EXPECT_EQ(j["file_bytes"].get<std::uint64_t>() - j["header_bytes"].get<std::uint64_t>(),
            m.tensor_bytes);
  // Per-layer KV heads (extra field "layers").
  ASSERT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["n_head_kv"], HandLlama::KV[0]);
  EXPECT_EQ(j["layers"][1]["n_head_kv"], HandLlama::KV[1]);
}

TEST(GoldenInspect, SynthesizedBitnetI2sFieldByField) {
  const TinyI2s& m = tiny_i2s();
  const CliRun r = run({"inspect", "--json", m.path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = json_of(r);
  check_model_schema(j);
  EXPECT_EQ(j["architecture"], "bitnet-b1.58");
  EXPECT_EQ(j["file_bytes"], m.file_bytes);
  EXPECT_EQ(j["n_layer"], TinyI2s::L);
  EXPECT_EQ(j["n_embd"], TinyI2s::E);
  EXPECT_EQ(j["n_head"], TinyI2s::H);
  EXPECT_EQ(j["n_head_kv"], TinyI2s::KVH);
  EXPECT_EQ(j["head_dim_k"], TinyI2s::HD);
  EXPECT_EQ(j["head_dim_v"], TinyI2s::HD);
  EXPECT_EQ(j["n_ff"], TinyI2s::F);
  EXPECT_EQ(j["n_vocab"], TinyI2s::V);
  EXPECT_EQ(j["n_ctx_train"], 4096);
  EXPECT_EQ(j["quantization"], "I2_S");
  EXPECT_EQ(j["parameter_count"], m.parameters);
  EXPECT_EQ(j["tensor_count"], m.tensors);
  EXPECT_EQ(j["tensor_bytes"], m.tensor_bytes);
  const Json& tt = j["tensor_types"];
  ASSERT_EQ(tt.size(), 3u);
  EXPECT_EQ(
      tt["I2_S"],
      (Json{{"count", m.i2s.count}, {"parameters", m.i2s.parameters}, {"bytes", m.i2s.bytes}}));
  EXPECT_EQ(
      tt["F16"],
      (Json{{"count", m.f16.count}, {"parameters", m.f16.parameters}, {"bytes", m.f16.bytes}}));
  EXPECT_EQ(
      tt["F32"],
      (Json{{"count", m.f32.count}, {"parameters", m.f32.parameters}, {"bytes", m.f32.bytes}}));
  EXPECT_EQ(j["type_map"], "bitnet-2024");
}

TEST(GoldenInspect, HeaderOnlyFileGivesTheFullFilesNumbers) {
  const TinyI2s& full = tiny_i2s();
  const fs::path head = work_dir() / "tiny-i2s.head.gguf";
  const CliRun s = run({"synth", "tiny-bitnet-b1.58-i2_s", "-o", head.string(), "--header-only"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_LT(fs::file_size(head), full.file_bytes);
  const CliRun r = run({"inspect", head.string(), "--header-only", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = json_of(r);
  EXPECT_EQ(j["file_bytes"], full.file_bytes);
  EXPECT_EQ(j["tensor_bytes"], full.tensor_bytes);
  EXPECT_EQ(j["header_only"], true);
}

TEST(GoldenInspect, TextSummaryNamesTheEssentials) {
  const CliRun r = run({"inspect", hand_llama().path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"architecture    llama", "4 query, 1..2 KV (varies by layer)", "K 64, V 64",
                        "Q8_0", "F16", "F32", "total"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

// ---- estimate ---------------------------------------------------------------------------------

// KV bytes of the hand llama: per layer, K and V rows of n_head_kv[il] * 64 elements, per cell.
std::uint64_t hand_llama_kv(std::uint64_t cells, std::uint64_t (*row)(std::uint64_t)) {
  std::uint64_t total = 0;
  for (std::uint64_t kvh : HandLlama::KV) total += 2 * row(kvh * HandLlama::HD) * cells;
  return total;
}

Json estimate(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"estimate", hand_llama().path.string(), "--json"};
  args.insert(args.end(), flags.begin(), flags.end());
  const CliRun r = run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json_of(r);
}

TEST(GoldenEstimate, KvCacheFromPerLayerKvHeads) {
  struct Case {
    std::vector<std::string> flags;
    std::uint64_t cells;  // llama.cpp pads n_ctx to 256 (memory-model.md §5)
    std::uint64_t (*row)(std::uint64_t);
  };
  const Case cases[] = {
      {{}, 4096, f16_bytes},
      {{"-c", "1100"}, pad(1100, 256), f16_bytes},
      {{"-c", "1100", "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on"}, pad(1100, 256), q8_0_bytes},
      {{"-c", "0"}, HandLlama::CTX, f16_bytes},           // 0 = the training context
      {{"-c", "4096", "-np", "4"}, 4 * 1024, f16_bytes},  // 4 streams of pad(4096 / 4, 256)
      {{"-c", "4096", "-np", "4", "-kvu"}, 4096, f16_bytes},
  };
  for (const Case& c : cases) {
    std::string label;
    for (const auto& f : c.flags) label += f + " ";
    SCOPED_TRACE(label);
    const Json j = estimate(c.flags);
    const Json& kv = j["segments"]["kv_cache"];
    EXPECT_EQ(kv["cpu_bytes"], hand_llama_kv(c.cells, c.row));
    EXPECT_EQ(kv["shared_bytes"], 0);
    EXPECT_TRUE(kv["gpu_bytes"].is_null());
    EXPECT_EQ(part_names(kv), std::set<std::string>{"kv_cache"});
  }
  // Not the original sketch's n_head: with 4 heads everywhere the KV cache would be
  // 2 layers * 2 * (4 * 64) * 2 B * 4096 cells = 8 MiB; per-layer KV heads [2, 1] give 3 MiB.
  EXPECT_EQ(estimate({})["segments"]["kv_cache"]["cpu_bytes"], 3u * 1024 * 1024);
}

TEST(GoldenEstimate, ConfigEchoesResolvedSettings) {
  const Json d = estimate({})["config"];
  EXPECT_EQ(d["device"], "cpu");
  EXPECT_EQ(d["runtime"], "llama.cpp");
  EXPECT_EQ(d["n_ctx"], 4096);
  EXPECT_EQ(d["n_ubatch"], 512);
  EXPECT_EQ(d["n_seq"], 1);
  EXPECT_EQ(d["type_k"], "f16");
  EXPECT_EQ(d["type_v"], "f16");
  EXPECT_TRUE(d["flash_attn"].is_boolean());  // auto, decided
  EXPECT_EQ(d["mmap"], true);
  EXPECT_EQ(d["n_gpu_layers"], 0);
  EXPECT_EQ(d["given"], Json::array());

  const Json g =
      estimate({"-c", "1100", "-ub", "256", "-ctk", "q8_0", "-fa", "off", "--no-mmap"})["config"];
  EXPECT_EQ(g["n_ctx"], pad(1100, 256));
  EXPECT_EQ(g["n_ubatch"], 256);
  EXPECT_EQ(g["type_k"], "q8_0");
  EXPECT_EQ(g["type_v"], "f16");
  EXPECT_EQ(g["flash_attn"], false);
  EXPECT_EQ(g["mmap"], false);
  EXPECT_EQ(g["given"], (Json{"n_ctx", "n_ubatch", "type_k", "flash_attn", "mmap"}));
}

TEST(GoldenEstimate, SegmentsAreTheSumOfTheirPartsAndTotalTheSumOfSegments) {
  for (const std::vector<std::string>& flags : {std::vector<std::string>{},
                                                {"--no-mmap"},
                                                {"-c", "8192", "-fa", "off"},
                                                {"--runtime", "bitnet.cpp"}}) {
    const Json j = estimate(flags);
    check_estimate_schema(j);
    std::uint64_t cpu = 0, shared = 0;
    for (const char* s : kSegments) {
      SCOPED_TRACE(s);
      const Json& seg = j["segments"][s];
      EXPECT_EQ(seg["cpu_bytes"], parts_sum(seg, {"anonymous", "pinned"}));
      EXPECT_EQ(seg["shared_bytes"], parts_sum(seg, {"mapped"}));
      cpu += seg["cpu_bytes"].get<std::uint64_t>();
      shared += seg["shared_bytes"].get<std::uint64_t>();
    }
    EXPECT_EQ(j["total"]["cpu_bytes"], cpu);
    EXPECT_EQ(j["total"]["shared_bytes"], shared);
    // The minimum RAM covers the resident peak; the recommendation adds the safety margin.
    const Json& rec = j["recommendations"];
    const std::uint64_t peak_host = j["peak_usage"]["cpu_bytes"].get<std::uint64_t>() +
                                    j["peak_usage"]["shared_bytes"].get<std::uint64_t>();
    EXPECT_GE(rec["min_system_ram_bytes"].get<std::uint64_t>(), peak_host);
    EXPECT_GE(rec["recommended_system_ram_bytes"].get<std::uint64_t>(),
              rec["min_system_ram_bytes"].get<std::uint64_t>());
  }
}

TEST(GoldenEstimate, WeightsMappedOrRead) {
  const TinyI2s& m = tiny_i2s();
  // bitnet.cpp does not repack I2_S: the model buffer is the tensor data, mapped or read.
  const CliRun mapped = run({"estimate", m.path.string(), "--runtime", "bitnet.cpp", "--json"});
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  const Json w = json_of(mapped)["segments"]["model_weights"];
  EXPECT_EQ(w["shared_bytes"], m.tensor_bytes);
  EXPECT_EQ(w["cpu_bytes"], 0);
  EXPECT_EQ(parts_sum(w, {"mapped"}), m.tensor_bytes);

  const CliRun read =
      run({"estimate", m.path.string(), "--runtime", "bitnet.cpp", "--no-mmap", "--json"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  const Json r = json_of(read)["segments"]["model_weights"];
  EXPECT_EQ(r["cpu_bytes"], m.tensor_bytes);  // every I2_S size here is a multiple of 32
  EXPECT_EQ(r["shared_bytes"], 0);
}

TEST(GoldenEstimate, RequiredPartNames) {
  const Json j = estimate({});
  const std::set<std::string> act = part_names(j["segments"]["activations"]);
  EXPECT_TRUE(act.count("compute_buffer")) << j["segments"]["activations"].dump();
  EXPECT_TRUE(act.count("output_buffer")) << j["segments"]["activations"].dump();
  const std::set<std::string> w = part_names(j["segments"]["model_weights"]);
  EXPECT_TRUE(w.count("CPU_Mapped")) << j["segments"]["model_weights"].dump();
}

TEST(GoldenEstimate, GpuDeviceFillsGpuFields) {
  const Json j = estimate({"--device", "cuda"});
  check_estimate_schema(j);
  EXPECT_EQ(j["config"]["device"], "cuda:0");
  EXPECT_TRUE(j["segments"]["model_weights"]["gpu_bytes"].is_number_unsigned());
  EXPECT_TRUE(j["segments"]["kv_cache"]["gpu_bytes"].is_number_unsigned());
  // All layers offloaded: the whole KV cache lives on the GPU.
  EXPECT_EQ(j["segments"]["kv_cache"]["gpu_bytes"], hand_llama_kv(4096, f16_bytes));
  EXPECT_TRUE(j["recommendations"]["min_gpu_memory_bytes"].is_number_unsigned());
  EXPECT_TRUE(j["peak_usage"]["gpu_bytes"].is_number_unsigned());
}

TEST(GoldenEstimate, TextIsOneTableAndNamesTheProfile) {
  const CliRun r = run({"estimate", hand_llama().path.string(), "-c", "2048"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Runtime profile: llama.cpp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("given:    n_ctx 2048 (-c)"), std::string::npos) << r.out;
  // KV: (2 + 1) heads * 64 * 2 (K and V) * 2 B * 2048 cells = 1.5 MiB -> "2 MiB" (rounded up).
  std::istringstream in(r.out);
  bool found = false;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("kv_cache ", 0) == 0) {
      found = true;
      EXPECT_NE(line.find(" 2 MiB"), std::string::npos) << line;
    }
  EXPECT_TRUE(found) << r.out;
  EXPECT_EQ(r.out.find(" 0 MiB"), std::string::npos);
}

// ---- validate ---------------------------------------------------------------------------------

TEST(GoldenValidate, JsonIsEstimatePlusActual) {
  const CliRun r = run({"validate", tiny_i2s().path.string(), "-c", "512", "--json"});
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.exit_code << ": " << r.err;
  const Json j = json_of(r);
  check_estimate_schema(j);
  ASSERT_TRUE(j.contains("actual"));
  for (const char* s : kSegments) check_segment_schema(j["actual"][s], std::string("actual.") + s);
  check_segment_schema(j["actual"]["total"], "actual.total");
  EXPECT_TRUE(has_type(j["rss_bytes"], T::kUint));
  EXPECT_TRUE(has_type(j["hwm_bytes"], T::kUint));
  EXPECT_GE(j["hwm_bytes"].get<std::uint64_t>(), j["rss_bytes"].get<std::uint64_t>());
  EXPECT_DOUBLE_EQ(j["tolerance"].get<double>(), 0.05);
  // Exit code 3 exactly when validation failed.
  EXPECT_EQ(j["passed"].get<bool>(), r.exit_code == 0);
}

TEST(GoldenValidate, ToleranceDecidesTheExitCode) {
  // With a tolerance of 1000 % nothing can be outside it.
  const CliRun r = run({"validate", tiny_i2s().path.string(), "-c", "512", "--tolerance", "10"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
}

// ---- synth --------------------------------------------------------------------------------------

TEST(GoldenSynth, ListsPresetsAndReportsWhatItWrote) {
  const CliRun l = run({"synth", "--list"});
  ASSERT_EQ(l.exit_code, 0);
  EXPECT_NE(l.out.find("bitnet-b1.58-2b-4t\n"), std::string::npos);
  EXPECT_NE(l.out.find("tiny-bitnet-b1.58-i2_s\n"), std::string::npos);
  const fs::path p = work_dir() / "synth-report.gguf";
  const CliRun r = run({"synth", "tiny-llama", "-o", p.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(p.string()), std::string::npos);
  EXPECT_NE(r.out.find("tiny-llama"), std::string::npos);
  std::string size = std::to_string(fs::file_size(p));
  size.insert(size.begin(), '(');
  size.append(" bytes");
  EXPECT_NE(r.out.find(size), std::string::npos) << r.out;
}

// ---- errors and exit codes --------------------------------------------------------------------

TEST(GoldenErrors, MissingFileExitsOneNamingThePath) {
  const std::string path = (work_dir() / "no-such-model.gguf").string();
  for (const char* cmd : {"inspect", "estimate"}) {
    const CliRun r = run({cmd, path, "--json"});
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;  // no JSON document on failure
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one message
  }
}

std::string hex(std::uint64_t v) {
  std::ostringstream o;
  o << std::hex << v;
  return o.str();
}

TEST(GoldenErrors, CorruptFileExitsOneWithTheByteOffset) {
  // Two keys; the second key's value type is overwritten with 99 (no such GGUF type).
  bitnet::detail::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  const fs::path p = work_dir() / "corrupt.gguf";
  ASSERT_TRUE(w.write(p.string()).has_value());
  // magic 4 + version 4 + n_tensors 8 + n_kv 8; key 1: 8 + 20 chars, type 4, string 8 + 5;
  // key 2: 8 + 17 chars, then its type.
  const std::uint64_t type_off = 24 + (8 + 20) + 4 + (8 + 5) + (8 + 17);
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(type_off));
    const std::uint32_t bad = 99;
    f.write(reinterpret_cast<const char*>(&bad), 4);
  }
  const CliRun r = run({"inspect", p.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(p.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("@0x" + hex(type_off)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("llama.block_count"), std::string::npos) << r.err;

  // Not GGUF at all: offset 0.
  const fs::path bad = work_dir() / "not-gguf.gguf";
  std::ofstream(bad) << "this is not a model file, just text";
  const CliRun b = run({"estimate", bad.string()});
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_NE(b.err.find("@0x0"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find(bad.string()), std::string::npos) << b.err;
}

TEST(GoldenErrors, UsageErrorsExitTwo) {
  const std::string model = hand_llama().path.string();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"estimate", model, "--bogus"},
        {"estimate", model, "-ctk", "q3_k"},
        {"estimate", model, "-fa", "sometimes"},
        {"frobnicate"},
        {}}) {
    const CliRun r = run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

TEST(GoldenErrors, QuantizedVWithoutFlashAttentionIsAnInvalidRequest) {
  const CliRun r =
      run({"estimate", hand_llama().path.string(), "-ctv", "q8_0", "-fa", "off", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("type_v"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-fa on"), std::string::npos) << r.err;  // what to do
  EXPECT_TRUE(r.out.empty());
  // A quantized K alone is fine without flash attention.
  EXPECT_EQ(run({"estimate", hand_llama().path.string(), "-ctk", "q8_0", "-fa", "off"}).exit_code,
            0);
}

TEST(GoldenErrors, HelpAndVersionExitZero) {
  const CliRun h = run({"estimate", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("Examples:"), std::string::npos);
  EXPECT_EQ(run({"--version"}).exit_code, 0);
}

TEST(GoldenJson, StdoutIsExactlyOneDocument) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"inspect", hand_llama().path.string(), "--json"},
        {"estimate", hand_llama().path.string(), "--json", "-c", "2048"},
        {"synth", "--list", "--json"}}) {
    const CliRun r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Json j = json_of(r);
    EXPECT_FALSE(j.is_discarded());
    // Nothing after the document but its newline.
    EXPECT_EQ(r.out.back(), '\n');
    EXPECT_EQ(Json::parse(r.out.substr(0, r.out.size() - 1), nullptr, false), j);
  }
}

}  // namespace
