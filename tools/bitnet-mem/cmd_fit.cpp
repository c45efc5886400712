// bitnet-mem fit MODEL [inventory] [llama.cpp flags] [--json]
#include "cmd_fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "bitnet/loader.h"
#include "bitnet/plan.h"
#include "cli_args.h"
#include "cmd_planner.h"
#include "render_text.h"

namespace bitnet::cli {
namespace {

using detail::Json;

void out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }
void err(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stderr); }

constexpr std::string_view kFitHelp = R"(bitnet-mem fit MODEL [inventory] [llama.cpp flags] [--json]

The largest configuration that fits this machine, or the hardware you describe: the context, -ngl,
the split over several GPUs, and whether q8_0/q4_0 KV or flash attention is needed. What you set is
kept; only what is left unset is solved (as llama.cpp's --fit does), from the memory equations,
without loading the model.

Inventory (anything not described is detected: /proc/meminfo, the cgroup limit, NVML):
  --ram SIZE            host memory (e.g. 32GiB)
  --gpu SIZE            one GPU of SIZE; repeat for several (device order)
  --target NAME         a catalog GPU or instance (repeatable); --list-targets shows them
  --reserve SIZE        kept free on every device (default 512MiB; llama.cpp's --fit keeps 1024MiB,
                        but part of that covers what our estimate already counts)
  --no-detect           use only what is described
  -ts, --tensor-split a,b,...   keep this split (proportions, as llama.cpp)
  --device cuda:0,cuda:2        plan on these GPUs only, in this order (flags add -dev CUDA0,CUDA2)
  --fit-ctx-min N       the context floor kept before layers are given up (default 4096, llama.cpp -fitc)
  --no-alternatives     skip the alternatives table
  --list-targets        print the catalog and exit

Runtime flags: every flag of `bitnet-mem estimate` (-c, -ngl, -ctk, -ctv, -fa, -np, -ub, ...).
Output: --json prints {"fits", "config", "flags", "budget", "alternatives", ...} on stdout.

Examples:
  bitnet-mem fit model.gguf                              # this machine
  bitnet-mem fit model.gguf --target rtx-4090 --ram 64GiB
  bitnet-mem fit model.gguf --gpu 24GiB --gpu 12GiB --ram 32GiB -np 4 --json
  bitnet-mem fit model.gguf --target g5.xlarge -c 32768  # keeps -c, solves -ngl and KV type
)";

Json budget_json(const std::vector<DeviceBudget>& b) {
  Json j = Json::object();
  for (const DeviceBudget& d : b) j[d.device] = d.budget;
  return j;
}

Json used_json(const std::vector<DeviceBudget>& b, const std::vector<std::uint64_t>& used) {
  Json j = Json::object();
  for (std::size_t i = 0; i < b.size(); ++i) j[b[i].device] = i < used.size() ? used[i] : 0;
  return j;
}

Json fit_json(const ModelStructureInfo& m, const Inventory& inv, const FitResult& r,
              const std::vector<std::string>& given) {
  Json j;
  j["fits"] = r.fits;
  j["config"] = detail::config_json(r.config, given);
  j["flags"] = r.flags;
  j["budget"] = budget_json(r.budget);
  Json alts = Json::array();
  for (const FitCandidate& a : r.alternatives) {
    Json x;
    x["fits"] = a.fits;
    x["config"] = detail::config_json(a.config);
    x["flags"] = a.flags;
    x["tensor_split"] = a.tensor_split;
    x["used_bytes"] = used_json(r.budget, a.used);
    x["note"] = a.note;
    alts.push_back(x);
  }
  j["alternatives"] = alts;
  // Extra fields.
  j["model"] = detail::model_json(m);
  j["tensor_split"] = r.tensor_split;
  j["reason"] = r.reason;
  j["limited_by"] = r.limited_by;
  Json devs = Json::array();
  for (const DeviceBudget& d : r.budget)
    devs.push_back(Json{{"device", d.device}, {"name", d.name}, {"usable_bytes", d.usable},
                        {"reserve_bytes", d.reserve}, {"budget_bytes", d.budget}, {"used_bytes", d.used}});
  j["devices"] = devs;
  if (r.scale_out) {
    const ScaleOutPlan& s = *r.scale_out;
    j["scale_out"] = Json{{"gpu", s.gpu}, {"gpu_bytes", s.gpu_bytes}, {"n_gpus", s.n_gpus},
                          {"tensor_split", s.tensor_split}, {"n_ctx", s.n_ctx}, {"flags", s.flags},
                          {"note", s.note}};
  } else {
    j["scale_out"] = nullptr;
  }
  Json host;
  host["source"] = inv.host.source;
  host["mem_total_bytes"] = inv.host.mem_total;
  host["mem_available_bytes"] = inv.host.mem_available ? Json(*inv.host.mem_available) : Json(nullptr);
  host["cgroup_limit_bytes"] = inv.host.cgroup_limit ? Json(*inv.host.cgroup_limit) : Json(nullptr);
  host["swap_total_bytes"] = inv.host.swap_total;
  host["logical_cores"] = inv.host.logical_cores;
  host["physical_cores"] = inv.host.physical_cores;
  Json gpus = Json::array();
  for (const GpuInventory& g : inv.gpus)
    gpus.push_back(Json{{"index", g.index}, {"name", g.name}, {"total_bytes", g.total_bytes},
                        {"free_bytes", g.free_bytes ? Json(*g.free_bytes) : Json(nullptr)},
                        {"source", g.source}});
  j["inventory"] = Json{{"host", host}, {"gpus", gpus}, {"notes", inv.notes}};
  j["warnings"] = r.warnings;
  j["engine_calls"] = r.engine_calls;
  return j;
}

std::string fit_text(const ModelStructureInfo& m, const Inventory& inv, const FitResult& r) {
  std::string s;
  s += fmt::format("model      {} ({}, {} layers + output, n_ctx_train {})\n", m.path, m.architecture,
                   m.n_layer, m.n_ctx_train);
  s += fmt::format("host       {} usable ({}; {} logical / {} physical cores, 0 = unknown)\n",
                   format_bytes(inv.host.usable_bytes()), inv.host.source, inv.host.logical_cores,
                   inv.host.physical_cores);
  for (const GpuInventory& g : inv.gpus)
    s += fmt::format("gpu        cuda:{} {} {} ({})\n", g.index, g.name, format_bytes(g.usable_bytes()), g.source);
  for (const std::string& n : inv.notes) s += "note       " + n + "\n";
  s += fmt::format("\n{}  {}\n", r.fits ? "FITS" : "DOES NOT FIT", r.reason);
  if (r.fits) s += fmt::format("flags      {}\n", r.flags);
  s += "\ndevice     usable       reserve      budget       used at the answer\n";
  for (const DeviceBudget& d : r.budget)
    s += fmt::format("{:<10} {:<12} {:<12} {:<12} {}\n", d.device, format_bytes(d.usable), format_bytes(d.reserve),
                     format_bytes(d.budget), format_bytes(d.used));
  if (!r.alternatives.empty()) {
    s += "\nalternatives (context x KV type x ngl), peak per device:\n";
    for (const FitCandidate& a : r.alternatives) {
      std::string used;
      for (std::size_t i = 0; i < r.budget.size() && i < a.used.size(); ++i)
        used += fmt::format("{}{} {}", i ? ", " : "", r.budget[i].device, format_bytes(a.used[i]));
      s += fmt::format("  {} {:<52} {}\n      {}\n", a.fits ? "fits" : "over", a.flags, used, a.note);
    }
  }
  if (r.scale_out) {
    const ScaleOutPlan& so = *r.scale_out;
    s += "\nscale-out  " + so.note + (so.n_gpus ? "\n           " + so.flags : std::string()) + "\n";
  }
  for (const std::string& w : r.warnings) s += "warning    " + w + "\n";
  return s;
}

std::string list_targets() {
  std::string s = "id                 GPUs  GPU memory   host RAM     description (source)\n";
  for (const DeviceTarget& t : device_catalog()) {
    const GpuOverheadInfo o = gpu_overhead_info(t.description);
    s += fmt::format("{:<18} {:<5} {:<12} {:<12} {} ({}; per-GPU overhead the engine charges: context {}, pools {} [{}])\n",
                     t.id, t.n_gpus, t.gpu_bytes ? format_bytes(t.gpu_bytes) : "-",
                     t.host_bytes ? format_bytes(t.host_bytes) : "-", t.description, t.source,
                     t.n_gpus ? format_bytes(o.cuda_context) : "-",
                     t.n_gpus ? format_bytes(o.retained_pool + o.transient_pool) : "-",
                     t.n_gpus ? std::string(basis_name(o.basis)) : "-");
  }
  return s;
}

}  // namespace

Result<PlannerArgs> split_planner_args(int argc, const char* const* argv) {
  PlannerArgs a;
  a.command = argv[1];
  auto need = [&](int& i, std::string_view flag, std::string_view inline_value) -> Result<std::string> {
    if (!inline_value.empty()) return std::string(inline_value);
    if (i + 1 >= argc)
      return Error{Errc::kInvalidArgument, std::string(flag) + " needs a value", kNoOffset, std::string(flag), {}};
    return std::string(argv[++i]);
  };
  auto to_u32 = [](std::string_view flag, const std::string& v) -> Result<std::uint32_t> {
    std::uint32_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size())
      return Error{Errc::kInvalidArgument, std::string(flag) + ": '" + v + "' is not a count", kNoOffset,
                   std::string(flag), {}};
    return x;
  };
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view flag = arg, inline_value;
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
        flag = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    }
    if (flag == "--ram") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.spec.ram, parse_size(v));
    } else if (flag == "--gpu") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t b, parse_size(v));
      a.spec.gpus.push_back(b);
    } else if (flag == "--target") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      a.spec.targets.push_back(v);
    } else if (flag == "--reserve") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.reserve, parse_size(v));
    } else if (flag == "--no-detect") {
      a.detect = false;
    } else if (flag == "-ts" || flag == "--tensor-split") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      std::size_t pos = 0;
      while (pos <= v.size()) {
        std::size_t end = v.find_first_of(",/", pos);
        if (end == std::string::npos) end = v.size();
        BITNET_ASSIGN_OR_RETURN(const std::uint32_t x, to_u32(flag, v.substr(pos, end - pos)));
        a.tensor_split.push_back(x);
        pos = end + 1;
      }
    } else if (flag == "--fit-ctx-min" || flag == "-fitc") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.fit_ctx_min, to_u32(flag, v));
    } else if (flag == "--no-alternatives") {
      a.alternatives = false;
    } else if (flag == "--list-targets") {
      a.list_targets = true;
    } else if (a.command == "plot" && (flag == "-o" || flag == "--output")) {
      BITNET_ASSIGN_OR_RETURN(a.output, need(i, flag, inline_value));
    } else if (a.command == "plot" && flag == "--points") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.points, to_u32(flag, v));
    } else if (a.command == "plot" && flag == "--ctx-min") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.ctx_min, to_u32(flag, v));
    } else if (a.command == "plot" && flag == "--ctx-max") {
      BITNET_ASSIGN_OR_RETURN(const std::string v, need(i, flag, inline_value));
      BITNET_ASSIGN_OR_RETURN(a.ctx_max, to_u32(flag, v));
    } else if (flag == "-h" || flag == "--help") {
      a.help = true;
    } else {
      a.rest.emplace_back(arg);
    }
  }
  return a;
}

Result<Inventory> planner_inventory(const PlannerArgs& a, const CliRequest& req) {
  std::optional<Inventory> detected;
  if (a.detect) {
    InventoryProbeOptions o;
    // A described host and described GPUs need no probe of either.
    const bool host_described = a.spec.ram.has_value();
    o.probe_gpus = a.spec.gpus.empty() && a.spec.targets.empty();
    if (!(host_described && !o.probe_gpus)) {
      BITNET_ASSIGN_OR_RETURN(detected, detect_inventory(o));
    }
  }
  BITNET_ASSIGN_OR_RETURN(Inventory inv, describe_inventory(a.spec, detected ? &*detected : nullptr));
  // --device cpu, given explicitly: plan for the CPU alone.
  if (std::find(req.given.begin(), req.given.end(), "device") != req.given.end() &&
      !req.analysis.runtime.device.is_gpu()) {
    if (!inv.gpus.empty()) inv.notes.emplace_back("--device cpu: the GPUs are left out of the plan");
    inv.gpus.clear();
  }
  // --device cuda:0,cuda:2: plan on those GPUs only, in that order (llama.cpp: -dev CUDA0,CUDA2).
  const std::vector<Device>& devs = req.analysis.runtime.devices;
  if (devs.size() > 1) {
    std::vector<GpuInventory> kept;
    for (const Device& d : devs) {
      const auto it = std::find_if(inv.gpus.begin(), inv.gpus.end(),
                                   [&](const GpuInventory& g) { return g.index == d.index; });
      if (it == inv.gpus.end())
        return Error{Errc::kInvalidArgument, "--device lists " + d.to_string() + ", which the inventory does not have",
                     kNoOffset, "device", "describe it with --gpu/--target, or list only detected GPUs"};
      kept.push_back(*it);
    }
    inv.gpus = std::move(kept);
  }
  return inv;
}

// -dev CUDA0,CUDA2 for llama.cpp when --device listed the GPUs to use.
static std::string dev_flag(const CliRequest& req) {
  const std::vector<Device>& devs = req.analysis.runtime.devices;
  if (devs.size() < 2) return {};
  std::string f = " -dev ";
  for (std::size_t i = 0; i < devs.size(); ++i) f += (i ? ",CUDA" : "CUDA") + std::to_string(devs[i].index);
  return f;
}

ParseOutcome parse_runtime_flags(const PlannerArgs& a) {
  std::vector<std::string> args{"estimate"};
  args.insert(args.end(), a.rest.begin(), a.rest.end());
  // CLI11's reverse-order API with llama.cpp's short aliases rewritten, as main does.
  std::vector<const char*> argv{"bitnet-mem"};
  for (const std::string& s : args) argv.push_back(s.c_str());
  ParseOutcome o = parse_cli(cli11_args(static_cast<int>(argv.size()), argv.data()), CliContext{});
  auto rename = [&](std::string& text) {
    for (std::size_t p = 0; (p = text.find("estimate", p)) != std::string::npos; p += a.command.size())
      text.replace(p, 8, a.command);
  };
  rename(o.err);
  return o;
}

FitRequest fit_request(const PlannerArgs& a, const CliRequest& req) {
  auto given = [&](std::string_view n) {
    return std::find(req.given.begin(), req.given.end(), n) != req.given.end();
  };
  FitRequest f;
  f.given = req.analysis.runtime;
  f.n_ctx_given = given("n_ctx");
  f.flash_attn_given = given("flash_attn");
  if (!given("n_gpu_layers")) f.given.n_gpu_layers.reset();
  if (!given("type_k")) f.given.type_k.reset();
  if (!given("type_v")) f.given.type_v.reset();
  f.tensor_split = a.tensor_split;
  f.reserve = a.reserve;
  f.n_ctx_min = a.fit_ctx_min;
  f.alternatives = a.alternatives;
  return f;
}

int planner_fail(const std::string& path, const Error& e) {
  std::string text = e.to_string();
  if (!path.empty() && text.find(path) == std::string::npos) text = path + ": " + text;
  err(fmt::format("bitnet-mem: error [{}]: {}\n", errc_name(e.code), text));
  return kExitInvalid;
}

int run_fit(const PlannerArgs& a) {
  if (a.help) {
    out(std::string(kFitHelp));
    return kExitOk;
  }
  if (a.list_targets) {
    out(list_targets());
    return kExitOk;
  }
  ParseOutcome parsed = parse_runtime_flags(a);
  if (!parsed.request) {
    out(parsed.out);
    err(parsed.err);
    return parsed.exit_code;
  }
  const CliRequest& req = *parsed.request;
  auto inv = planner_inventory(a, req);
  if (!inv) {
    err(fmt::format("bitnet-mem: error [{}]: {}\n", errc_name(inv.error().code), inv.error().to_string()));
    return inv.error().code == Errc::kInvalidArgument ? kExitUsage : kExitInvalid;
  }
  auto loader = ProductionModelLoader::open(req.model, req.load);
  if (!loader) return planner_fail(req.model, loader.error());
  auto r = get_optimal_device_config(*loader, *inv, fit_request(a, req));
  if (!r) return planner_fail(req.model, r.error());
  if (const std::string dev = dev_flag(req); !dev.empty() && r->flags.find(" -dev ") == std::string::npos) {
    r->flags += dev;
    for (FitCandidate& c : r->alternatives) c.flags += dev;
  }
  if (req.json) {
    for (const std::string& w : r->warnings) err("bitnet-mem: warning: " + w + "\n");
    out(fit_json(loader->model_info(), *inv, *r, req.given).dump(2) + "\n");
  } else {
    out(fit_text(loader->model_info(), *inv, *r));
  }
  return kExitOk;
}

bool is_planner_command(int argc, const char* const* argv) {
  if (argc < 2) return false;
  const std::string_view c = argv[1];
  return c == "fit" || c == "plot";
}

int run_planner_command(int argc, const char* const* argv) {
  auto a = split_planner_args(argc, argv);
  if (!a) {
    err(fmt::format("bitnet-mem: {}\nrun with --help for more information\n", a.error().to_string()));
    return kExitUsage;
  }
  return a->command == "fit" ? run_fit(*a) : run_plot(*a);
}

}  // namespace bitnet::cli
