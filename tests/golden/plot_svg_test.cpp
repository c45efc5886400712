// bitnet-mem plot: the SVG's embedded numbers equal `estimate --json` at every sampled context,
// budgets are drawn, and (where Chromium is installed) the SVG renders headless to a non-blank
// screenshot. CI: apt-get install -y --no-install-recommends chromium
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "synth/model_spec.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024, kGiB = std::uint64_t{1} << 30;

struct CliRun {
  int rc = -1;
  std::string out;
};

CliRun sh(const std::string& cmd) {
  CliRun r;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string cli() { return BITNET_CLI_PATH; }

fs::path workdir() {
  const fs::path d = fs::temp_directory_path() / "bitnet-plot-golden";
  fs::create_directories(d);
  return d;
}

std::string model(const std::string& preset) {
  const fs::path p = workdir() / (preset + "-32k.head.gguf");
  if (!fs::exists(p)) {
    auto spec = bitnet::detail::preset(preset);
    if (!spec) return {};
    spec->n_ctx_train = 32768;
    if (!bitnet::detail::synthesize(*spec, p.string(), true)) return {};
  }
  return p.string();
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

json metadata(const std::string& svg) {
  const std::string open = "<metadata id=\"bitnet-data\"><![CDATA[", close = "]]></metadata>";
  const std::size_t a = svg.find(open);
  const std::size_t b = svg.find(close, a);
  if (a == std::string::npos || b == std::string::npos) return json();
  return json::parse(svg.substr(a + open.size(), b - a - open.size()), nullptr, false);
}

void compare_with_estimate(const std::string& m, const std::string& runtime_flags, const json& data) {
  ASSERT_TRUE(data.contains("samples"));
  ASSERT_GE(data["samples"].size(), 4u);
  for (const json& s : data["samples"]) {
    const std::uint64_t c = s["n_ctx"].get<std::uint64_t>();
    SCOPED_TRACE("n_ctx " + std::to_string(c));
    const CliRun e = sh(cli() + " estimate " + m + " --header-only --json -c " + std::to_string(c) + " " + runtime_flags);
    ASSERT_EQ(e.rc, 0);
    const json j = json::parse(e.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["config"]["n_ctx"].get<std::uint64_t>(), c);
    for (const char* seg : {"model_weights", "quantization_overhead", "kv_cache", "activations", "system_overhead"})
      for (const char* f : {"cpu_bytes", "gpu_bytes", "shared_bytes"})
        EXPECT_EQ(s["segments"][seg][f], j["segments"][seg][f]) << seg << "." << f;
    for (const char* f : {"cpu_bytes", "gpu_bytes", "shared_bytes"}) {
      EXPECT_EQ(s["total"][f], j["total"][f]) << "total." << f;
      EXPECT_EQ(s["peak_usage"][f], j["peak_usage"][f]) << "peak_usage." << f;
    }
  }
}

}  // namespace

TEST(PlotSvg, CpuNumbersEqualEstimate) {
  if (cli().empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("bitnet-b1.58-2b-4t");
  const fs::path out = workdir() / "cpu.svg";
  fs::remove(out);
  const CliRun r = sh(cli() + " plot " + m + " --header-only --ram 8GiB --no-detect --points 6 -o " + out.string());
  ASSERT_EQ(r.rc, 0);
  const std::string svg = read(out);
  ASSERT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  const json data = metadata(svg);
  ASSERT_FALSE(data.is_discarded());
  ASSERT_EQ(data["budgets"].size(), 1u);
  EXPECT_EQ(data["budgets"][0]["budget_bytes"].get<std::uint64_t>(), 8 * kGiB - 512 * kMiB);
  EXPECT_NE(svg.find("data-bytes=\"" + std::to_string(8 * kGiB - 512 * kMiB) + "\""), std::string::npos);
  std::size_t polygons = 0;
  for (std::size_t p = 0; (p = svg.find("<polygon class=\"segment\"", p)) != std::string::npos; ++p) ++polygons;
  EXPECT_EQ(polygons, 5u);
  // Geometric samples from 256 to the training context, both ends included.
  EXPECT_EQ(data["samples"].front()["n_ctx"], 256);
  EXPECT_EQ(data["samples"].back()["n_ctx"], 32768);
  compare_with_estimate(m, "", data);
}

TEST(PlotSvg, GpuNumbersEqualEstimate) {
  if (cli().empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("llama-3.2-1b-q4_k");
  const fs::path out = workdir() / "gpu.svg";
  const CliRun r = sh(cli() + " plot " + m + " --header-only --device cuda:0 -ngl 12 --gpu 4GiB --ram 16GiB --points 5 -o " +
                      out.string());
  ASSERT_EQ(r.rc, 0);
  const json data = metadata(read(out));
  ASSERT_FALSE(data.is_discarded());
  ASSERT_EQ(data["budgets"].size(), 2u);
  EXPECT_EQ(data["budgets"][1]["device"], "cuda:0");
  compare_with_estimate(m, "--device cuda:0 -ngl 12", data);
}

TEST(PlotSvg, SplitOverTwoGpusHasAPeakLinePerGpu) {
  if (cli().empty()) GTEST_SKIP() << "bitnet-mem not built";
  const std::string m = model("llama-3.2-1b-q4_k");
  const fs::path out = workdir() / "split.svg";
  const std::string flags = "--device cuda:0,cuda:1 -ts 13,4";
  const CliRun r = sh(cli() + " plot " + m + " --header-only " + flags + " --gpu 3GiB --gpu 2GiB --ram 16GiB --no-detect " +
                      "--points 4 -o " + out.string());
  ASSERT_EQ(r.rc, 0);
  const std::string svg = read(out);
  const json data = metadata(svg);
  ASSERT_FALSE(data.is_discarded());
  EXPECT_EQ(data["device"], "cuda:0,cuda:1");
  ASSERT_EQ(data["budgets"].size(), 3u);
  for (const char* d : {"cuda:0", "cuda:1"})
    EXPECT_NE(svg.find(std::string("class=\"peak\" data-device=\"") + d + "\""), std::string::npos) << d;
  compare_with_estimate(m, flags, data);
  // Each sample's per-GPU peaks are estimate's "devices".
  for (const json& s : data["samples"]) {
    const CliRun e = sh(cli() + " estimate " + m + " --header-only --json -c " + std::to_string(s["n_ctx"].get<std::uint64_t>()) +
                        " " + flags);
    const json j = json::parse(e.out, nullptr, false);
    ASSERT_TRUE(j.contains("devices"));
    for (const json& d : j["devices"]) EXPECT_EQ(s["gpu_peaks"][d["device"].get<std::string>()], d["peak_bytes"]);
  }
}

TEST(PlotSvg, UsageErrors) {
  if (cli().empty()) GTEST_SKIP() << "bitnet-mem not built";
  EXPECT_EQ(sh(cli() + " plot " + model("tiny-llama") + " --header-only --ram 1GiB --no-detect").rc, 2);  // no -o
  EXPECT_EQ(sh(cli() + " plot " + model("tiny-llama") + " --header-only --ram 1GiB --no-detect --points 1 -o " +
               (workdir() / "x.svg").string()).rc, 1);
}

// Renders the SVG headless and checks that the screenshot shows more than an empty page of the
// same size: a PNG of the plot compresses far worse than a blank one.
TEST(PlotSvg, RendersInChromium) {
  if (cli().empty()) GTEST_SKIP() << "bitnet-mem not built";
  std::string chromium;
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"})
    if (sh(std::string("command -v ") + c).rc == 0) { chromium = c; break; }
  if (chromium.empty()) GTEST_SKIP() << "no Chromium (apt-get install -y --no-install-recommends chromium)";
  const std::string m = model("bitnet-b1.58-2b-4t");
  const fs::path svg = workdir() / "shot.svg", png = workdir() / "shot.png";
  const fs::path blank_svg = workdir() / "blank.svg", blank_png = workdir() / "blank.png";
  ASSERT_EQ(sh(cli() + " plot " + m + " --header-only --ram 4GiB --no-detect -o " + svg.string()).rc, 0);
  std::ofstream(blank_svg) << "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" "
                              "height=\"540\"><rect width=\"900\" height=\"540\" fill=\"white\"/></svg>\n";
  auto shot = [&](const fs::path& in, const fs::path& out) {
    fs::remove(out);
    const std::string dir = (workdir() / "chromium-profile").string();
    return sh("timeout 120 " + chromium + " --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=" +
              dir + " --window-size=900,540 --screenshot=" + out.string() + " file://" + in.string());
  };
  shot(svg, png);
  shot(blank_svg, blank_png);
  if (!fs::exists(png) || !fs::exists(blank_png)) GTEST_SKIP() << "Chromium did not produce a screenshot here";
  const std::string p = read(png);
  ASSERT_GE(p.size(), 8u);
  EXPECT_EQ(p.substr(1, 3), "PNG");
  EXPECT_GT(fs::file_size(png), 3 * fs::file_size(blank_png))
      << "plot " << fs::file_size(png) << " B vs blank " << fs::file_size(blank_png) << " B";
  std::printf("screenshot: %s (%ju bytes)\n", png.c_str(), static_cast<std::uintmax_t>(fs::file_size(png)));
}
