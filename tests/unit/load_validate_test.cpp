// validate_model on synthesized models of real shapes (the loader issue's acceptance): each load
// runs in a forked child so that one test's freed memory cannot flatter the next, and the child
// reports the rows over a pipe. The actual numbers are /proc measurements taken by the loader
// around each commit; the predicted ones come from the estimator's native profile.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bitnet/loader.h"
#include "bitnet/measure.h"
#include "measure/validate.h"
#include "synth/model_spec.h"

namespace bitnet {
namespace {

using detail::ModelSpec;

struct Row {
  std::string segment;
  std::uint64_t predicted = 0, actual = 0;
  double error = 0;
};

struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<Row> rows;
  std::uint64_t before_rss = 0;  // the child's RSS before the load
  std::uint64_t base_input = 0;      // predicted process_base: RSS measured before load()
  std::uint64_t loader_objects = 0;  // predicted loader_objects
  double anon_unattributed = 0;      // measured anonymous growth beyond every buffer
};

// Runs validate_model in a child process; returns its rows (or its error).
Outcome validate_in_child(const std::string& path, const RuntimeConfig& rc) {
  int fds[2];
  if (::pipe(fds) != 0) return {false, "pipe failed", {}};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::ostringstream out;
    auto loader = ProductionModelLoader::open(path);
    if (!loader) {
      out << "ERR " << loader.error().to_string() << "\n";
    } else {
      LoadOptions o;
      o.progress = false;
      o.analysis.runtime = rc;
      o.analysis.suggestions = false;
      auto rep = validate_model(*loader, o, 0.05);
      if (!rep) {
        out << "ERR " << rep.error().to_string() << "\n";
      } else {
        for (const ValidationRow& r : rep->rows)
          out << r.segment << " " << r.predicted_bytes << " " << r.actual_bytes << " " << r.error << "\n";
        // Not a row: the process before the load (RSS, its anonymous and file parts) and the header.
        out << "before_load_rss/anon/file " << rep->before_load.rss_bytes << " " << rep->before_load.rss_anon_bytes
            << " " << rep->before_load.rss_file_bytes << "\n";
        out << "header_bytes " << loader->model_info().header_bytes << " 0 0\n";
        // The predicted system_overhead's parts: the measured process base (an input) and the
        // loader's own structs (derived).
        for (const MemoryPart& p : rep->predicted.system_overhead.parts)
          out << "part_" << p.name << "_bytes " << p.bytes << " 0 0\n";
        // Anonymous growth over the load that no buffer explains: the loader's own structs.
        const std::uint64_t buffers = rep->actual_model_weights.cpu_bytes + rep->actual_kv_cache.cpu_bytes +
                                      rep->actual_activations.cpu_bytes +
                                      rep->actual_quantization_overhead.cpu_bytes;
        const std::int64_t anon = static_cast<std::int64_t>(rep->after_load.rss_anon_bytes) -
                                  static_cast<std::int64_t>(rep->before_load.rss_anon_bytes) -
                                  static_cast<std::int64_t>(buffers);
        out << "anon_unattributed_bytes " << anon << " 0 0\n";
      }
    }
    const std::string s = out.str();
    const ssize_t w = ::write(fds[1], s.data(), s.size());
    ::_exit(w == static_cast<ssize_t>(s.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {false, "child failed: " + text, {}};
  if (text.rfind("ERR ", 0) == 0) return {false, text, {}};
  std::istringstream in(text);
  Row r;
  std::string name;
  while (in >> name) {
    if (name == "anon_unattributed_bytes") {
      long long v = 0, z1 = 0, z2 = 0;
      in >> v >> z1 >> z2;
      o.anon_unattributed = static_cast<double>(v);
      continue;
    }
    r.segment = name;
    if (!(in >> r.predicted >> r.actual >> r.error)) break;
    if (r.segment.find("_bytes") != std::string::npos || r.segment.find('/') != std::string::npos) {
      std::printf("  (%s %llu %llu %.0f)\n", r.segment.c_str(), static_cast<unsigned long long>(r.predicted),
                  static_cast<unsigned long long>(r.actual), r.error);
      if (r.segment.rfind("before_load", 0) == 0) o.before_rss = r.predicted;
      if (r.segment == "part_process_base_bytes") o.base_input = r.predicted;
      if (r.segment == "part_loader_objects_bytes") o.loader_objects = r.predicted;
      continue;
    }
    o.rows.push_back(r);
  }
  o.ok = true;
  return o;
}

struct Case {
  const char* name;
  ModelSpec (*spec)();
  std::uint32_t n_ctx;
  bool mmap;
};

ModelSpec preset_or_die(const char* name) {
  auto s = detail::preset(name);
  EXPECT_TRUE(s) << s.error().to_string();
  return *s;
}

// A MoE of Qwen3-MoE's layout at a few hundred MiB, and an SWA model of Gemma-3-270M's shape.
ModelSpec moe_spec() {
  ModelSpec s = preset_or_die("tiny-qwen3moe");
  s.n_layer = 8;
  s.n_embd = 1024;
  s.n_head = 16;
  s.n_head_kv = 4;
  s.head_dim = 128;
  s.n_ff = 3072;
  s.n_expert = 32;
  s.n_expert_used = 4;
  s.n_ff_exp = 512;
  s.n_vocab = 32768;
  s.n_merges = 30000;
  return s;
}
ModelSpec swa_spec() {
  ModelSpec s = preset_or_die("tiny-gemma3");
  s.n_layer = 18;
  s.n_embd = 640;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.head_dim = 256;
  s.n_ff = 2048;
  s.n_vocab = 262144;
  s.sliding_window = 512;
  s.swa_period = 6;
  return s;
}

class ValidateAcceptance : public ::testing::TestWithParam<Case> {};

TEST_P(ValidateAcceptance, EverySegmentWithin5PercentTotalWithin3) {
  const Case& c = GetParam();
  char tmpl[] = "/tmp/bitnet_validate_XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = tmpl;
  auto written = detail::synthesize(c.spec(), path);
  ASSERT_TRUE(written) << written.error().to_string();

  RuntimeConfig rc;
  rc.runtime = "native";
  rc.n_ctx = c.n_ctx;
  rc.mmap = c.mmap;
  const Outcome o = validate_in_child(path, rc);
  std::remove(path.c_str());
  ASSERT_TRUE(o.ok) << o.error;
  std::printf("  %-24s c%-6u %-8s %14s %14s %9s\n", c.name, c.n_ctx, c.mmap ? "mmap" : "no-mmap", "predicted",
              "actual", "error");
  for (const Row& r : o.rows)
    std::printf("  %-24s %14llu %14llu %+8.3f%%\n", r.segment.c_str(), static_cast<unsigned long long>(r.predicted),
                static_cast<unsigned long long>(r.actual), 100.0 * r.error);
  ASSERT_EQ(o.rows.size(), 6u);
  ASSERT_GT(o.base_input, 0u) << "validate_model did not pass the measured process base";
  ASSERT_GT(o.loader_objects, 0u);
  for (const Row& r : o.rows) {
    if (r.segment == "system_overhead") {
      // The predicted side = the process base measured before load() (an input) + the code pages
      // the load runs (calibrated) + the loader's structs derived from the model. The part the
      // loader owns is checked on its own: the anonymous growth during load_model that no buffer
      // explains stays within the derived loader_objects + 64 KiB (page rounding). It may be
      // less: glibc serves the structs from heap pages the analysis and the plan freed.
      const double want = static_cast<double>(o.loader_objects);
      std::printf("  loader's own anonymous growth %+.0f B vs derived loader_objects %.0f B\n",
                  o.anon_unattributed, want);
      EXPECT_LE(o.anon_unattributed, want + 65536.0)
          << c.name << ": the loader allocated beyond its derived structs";
    }
    // validate's pass rule (measure/validate.h): within the tolerance, or for a segment within
    // the 1 MiB RSS noise floor (system_overhead is ~6 MiB here, so 5 % is 300 KiB: less than
    // the code pages that other tests in the same process may or may not have touched first).
    const double tol = r.segment == "total" ? 0.03 : 0.05;
    const std::uint64_t diff = r.predicted > r.actual ? r.predicted - r.actual : r.actual - r.predicted;
    const bool floor_ok = r.segment != "total" && diff <= detail::kValidationFloorBytes;
    EXPECT_TRUE(std::fabs(r.error) <= tol || floor_ok)
        << c.name << " " << r.segment << ": predicted " << r.predicted << ", measured " << r.actual;
  }
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(Models, ValidateAcceptance, ::testing::Values(
  Case{"bitnet_2b_i2s",       [] { return preset_or_die("bitnet-b1.58-2b-4t"); }, 4096,  true},
  Case{"bitnet_2b_i2s_nommap",[] { return preset_or_die("bitnet-b1.58-2b-4t"); }, 512,   false},
  Case{"llama_1b_q4k",        [] { return preset_or_die("llama-3.2-1b-q4_k"); },  32768, true},
  Case{"llama_1b_q4k_nommap", [] { return preset_or_die("llama-3.2-1b-q4_k"); },  2048,  false},
  Case{"moe",                 moe_spec,                                           8192,  true},
  Case{"swa",                 swa_spec,                                           16384, true}),
  [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });
// clang-format on

}  // namespace
}  // namespace bitnet
