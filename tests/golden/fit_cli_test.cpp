// bitnet-mem fit --json end to end: the api.md fields, and the printed flags pasted into
// `bitnet-mem estimate --json` give peaks inside each budget, while one more context step does not.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "synth/model_spec.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct CliRun {
  int rc = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(BITNET_CLI_PATH) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string model(const std::string& preset) {
  const fs::path dir = fs::temp_directory_path() / "bitnet-fit-cli";
  fs::create_directories(dir);
  const fs::path p = dir / (preset + "-128k.head.gguf");
  if (!fs::exists(p)) {
    auto spec = bitnet::detail::preset(preset);
    if (!spec) return {};
    spec->n_ctx_train = 131072;
    if (!bitnet::detail::synthesize(*spec, p.string(), true)) return {};
  }
  return p.string();
}

// Peak per device from estimate --json with the given flags.
json estimate(const std::string& m, const std::string& flags, bool gpu) {
  const CliRun r = run("estimate " + m + " --header-only --json " + flags + (gpu ? " --device cuda:0" : ""));
  EXPECT_EQ(r.rc, 0) << flags;
  return json::parse(r.out, nullptr, false);
}

std::uint64_t host_peak(const json& e) {
  return e["peak_usage"]["cpu_bytes"].get<std::uint64_t>() + e["peak_usage"]["shared_bytes"].get<std::uint64_t>();
}

}  // namespace

TEST(FitCli, JsonFieldsAndPastedFlags) {
  if (std::string(BITNET_CLI_PATH).empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("llama-3.2-1b-q4_k");
  ASSERT_FALSE(m.empty());
  // (inventory and runtime flags, the context step: 256 cells per stream, 4 streams with -np 4)
  for (const auto& [inv, unit] : {std::pair<std::string, std::uint64_t>{"--ram 3GiB --no-detect", 256},
                                  {"--ram 16GiB --gpu 2GiB", 256},
                                  {"--ram 64GiB --target t4 -np 4", 1024}}) {
    SCOPED_TRACE(inv);
    const CliRun r = run("fit " + m + " --header-only --json " + inv);
    ASSERT_EQ(r.rc, 0);
    const json j = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    for (const char* k : {"fits", "config", "flags", "budget", "alternatives"}) ASSERT_TRUE(j.contains(k)) << k;
    for (const char* k : {"device", "runtime", "n_ctx", "n_batch", "n_ubatch", "n_seq", "type_k", "type_v",
                          "flash_attn", "mmap", "n_gpu_layers"})
      EXPECT_TRUE(j["config"].contains(k)) << k;
    ASSERT_TRUE(j["fits"].get<bool>());
    const bool gpu = j["budget"].contains("cuda:0");
    const std::string flags = j["flags"].get<std::string>();
    const json e = estimate(m, flags, gpu);
    ASSERT_FALSE(e.is_discarded());
    EXPECT_EQ(e["config"]["n_ctx"], j["config"]["n_ctx"]);
    EXPECT_LE(host_peak(e), j["budget"]["cpu"].get<std::uint64_t>()) << flags;
    if (gpu) {
      EXPECT_LE(e["peak_usage"]["gpu_bytes"].get<std::uint64_t>(), j["budget"]["cuda:0"].get<std::uint64_t>());
    }
    // One more padding unit of context does not fit (the answers here are budget-limited).
    ASSERT_NE(j["limited_by"].get<std::string>(), "n_ctx_train");
    const std::uint64_t c = j["config"]["n_ctx"].get<std::uint64_t>();
    std::string more = flags;
    more.replace(0, more.find(" -ngl"), "-c " + std::to_string(c + unit));
    const json e2 = estimate(m, more, gpu);
    const bool over = host_peak(e2) > j["budget"]["cpu"].get<std::uint64_t>() ||
                      (gpu && e2["peak_usage"]["gpu_bytes"].get<std::uint64_t>() > j["budget"]["cuda:0"].get<std::uint64_t>());
    EXPECT_TRUE(over) << more;
  }
}

TEST(FitCli, UsageErrorsAndTargets) {
  if (std::string(BITNET_CLI_PATH).empty()) GTEST_SKIP() << "bitnet-mem not built";
  EXPECT_EQ(run("fit x.gguf --ram 12XB").rc, 2);
  EXPECT_EQ(run("fit x.gguf --ram").rc, 2);
  EXPECT_EQ(run("fit " + model("tiny-llama") + " --header-only --target tpu-v9 --ram 1GiB").rc, 2);
  EXPECT_EQ(run("fit /no/such/model.gguf --ram 8GiB --no-detect").rc, 1);
  const CliRun h = run("fit --help");
  EXPECT_EQ(h.rc, 0);
  EXPECT_NE(h.out.find("--target"), std::string::npos);
  const CliRun t = run("fit --list-targets");
  EXPECT_EQ(t.rc, 0);
  EXPECT_NE(t.out.find("rtx-4090"), std::string::npos);
  EXPECT_NE(t.out.find("g5.xlarge"), std::string::npos);
}

TEST(FitCli, GivenFlagsStayAsGiven) {
  if (std::string(BITNET_CLI_PATH).empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("bitnet-b1.58-2b-4t");
  const CliRun r = run("fit " + m + " --header-only --json --ram 8GiB --no-detect -c 8192 -ctk q8_0 -np 2");
  ASSERT_EQ(r.rc, 0);
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["config"]["n_ctx"], 8192);
  EXPECT_EQ(j["config"]["type_k"], "q8_0");
  EXPECT_EQ(j["config"]["n_seq"], 2);
  const std::string flags = j["flags"].get<std::string>();
  EXPECT_EQ(flags.rfind("-c 8192 -ngl 0 -ctk q8_0", 0), 0u) << flags;
  EXPECT_NE(flags.find("-np 2"), std::string::npos) << flags;
}

// Several GPUs end to end: --device picks two of three described GPUs; the printed -ts and the
// -dev for llama.cpp, pasted into `estimate --device cuda:0,cuda:2 -ts ...`, give every GPU a
// peak inside its budget, and one more padding unit of context with that split does not fit.
TEST(FitCli, TwoOfThreeGpusPastedIntoEstimate) {
  if (std::string(BITNET_CLI_PATH).empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("llama-3.2-1b-q4_k");
  const CliRun r = run("fit " + m + " --header-only --json --ram 16GiB --no-detect --gpu 2GiB --gpu 1GiB "
                       "--gpu 3GiB --device cuda:0,cuda:2");
  ASSERT_EQ(r.rc, 0);
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_TRUE(j["fits"].get<bool>());
  EXPECT_TRUE(j["budget"].contains("cuda:2"));
  EXPECT_FALSE(j["budget"].contains("cuda:1"));
  std::string flags = j["flags"].get<std::string>();
  const std::size_t dev = flags.find(" -dev CUDA0,CUDA2");
  ASSERT_NE(dev, std::string::npos) << flags;
  ASSERT_NE(flags.find(" -ts "), std::string::npos) << flags;
  flags.erase(dev, std::string(" -dev CUDA0,CUDA2").size());
  auto peaks = [&](const std::string& f) {
    const CliRun e = run("estimate " + m + " --header-only --json --device cuda:0,cuda:2 " + f);
    EXPECT_EQ(e.rc, 0) << f;
    const json ej = json::parse(e.out, nullptr, false);
    std::vector<std::uint64_t> p;
    if (ej.is_discarded() || !ej.contains("devices")) return p;
    for (const json& d : ej["devices"]) p.push_back(d["peak_bytes"].get<std::uint64_t>());
    return p;
  };
  const std::vector<std::uint64_t> at = peaks(flags);
  ASSERT_EQ(at.size(), 2u);
  EXPECT_LE(at[0], j["budget"]["cuda:0"].get<std::uint64_t>()) << flags;
  EXPECT_LE(at[1], j["budget"]["cuda:2"].get<std::uint64_t>()) << flags;
  ASSERT_NE(j["limited_by"].get<std::string>(), "n_ctx_train");
  std::string more = flags;
  more.replace(0, more.find(" -ngl"), "-c " + std::to_string(j["config"]["n_ctx"].get<std::uint64_t>() + 256));
  const std::vector<std::uint64_t> next = peaks(more);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_TRUE(next[0] > j["budget"]["cuda:0"].get<std::uint64_t>() || next[1] > j["budget"]["cuda:2"].get<std::uint64_t>())
      << more;
}
