// bitnet-mem plot MODEL [flags] -o mem.svg
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <string_view>

#include "bitnet/loader.h"
#include "bitnet/plan.h"
#include "cmd_planner.h"

namespace bitnet::cli {
namespace {

constexpr std::string_view kPlotHelp = R"(bitnet-mem plot MODEL [llama.cpp flags] [inventory] -o mem.svg

Draws memory per segment against the context length (stacked, log-scaled context), the peak per
device as lines, and each device budget (after --reserve) as a horizontal line. The sampled values
are embedded in the SVG (<metadata id="bitnet-data">, JSON, bytes), equal to `estimate --json -c N`.

  -o, --output PATH     the SVG to write (required)
  --points N            sampled contexts, geometric (default 16)
  --ctx-min N / --ctx-max N   the range (default 256 .. the training context)
  --ram / --gpu / --target / --reserve / --no-detect   budgets, as for `fit`

Examples:
  bitnet-mem plot model.gguf -o mem.svg
  bitnet-mem plot model.gguf --device cuda -ngl 99 --target rtx-4090 --ram 64GiB -o mem.svg
)";

}  // namespace

int run_plot(const PlannerArgs& a) {
  if (a.help) {
    std::fwrite(kPlotHelp.data(), 1, kPlotHelp.size(), stdout);
    return kExitOk;
  }
  ParseOutcome parsed = parse_runtime_flags(a);
  if (!parsed.request) {
    std::fwrite(parsed.out.data(), 1, parsed.out.size(), stdout);
    std::fwrite(parsed.err.data(), 1, parsed.err.size(), stderr);
    return parsed.exit_code;
  }
  if (a.output.empty()) {
    std::fputs("bitnet-mem: plot needs -o PATH (the SVG to write)\nrun with --help for more information\n", stderr);
    return kExitUsage;
  }
  const CliRequest& req = *parsed.request;
  auto inv = planner_inventory(a, req);
  if (!inv) return planner_fail({}, inv.error());
  auto loader = ProductionModelLoader::open(req.model, req.load);
  if (!loader) return planner_fail(req.model, loader.error());
  PlotOptions o;
  o.n_points = a.points;
  o.n_ctx_min = a.ctx_min;
  o.n_ctx_max = a.ctx_max;
  RuntimeConfig rc = req.analysis.runtime;
  for (std::uint32_t x : a.tensor_split) rc.tensor_split.push_back(static_cast<float>(x));  // -ts
  auto svg = render_memory_plot(*loader, rc, &*inv, a.reserve, o);
  if (!svg) return planner_fail(req.model, svg.error());
  std::ofstream f(a.output, std::ios::binary);
  if (!f || !(f << *svg)) {
    std::fputs(fmt::format("bitnet-mem: error [io]: cannot write {}\n", a.output).c_str(), stderr);
    return kExitInvalid;
  }
  if (!req.json) std::fputs(fmt::format("wrote {}\n", a.output).c_str(), stderr);
  return kExitOk;
}

}  // namespace bitnet::cli
