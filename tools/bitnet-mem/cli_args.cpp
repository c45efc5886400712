// bitnet-mem: CLI11 setup. Flags use llama.cpp's names and meanings (api.md §2), so a user can
// paste the flags of a llama-server command line; multi-letter short flags go through kFlagAliases.
#include "cli_args.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <sstream>
#include <utility>

#include "bitnet/types.h"

namespace bitnet::cli {
namespace {

constexpr std::string_view kVersion = "bitnet-mem 0.1.0";

constexpr const char* kGroupModel = "Model";
constexpr const char* kGroupContext = "Context (llama.cpp flags)";
constexpr const char* kGroupDevice = "Device";
constexpr const char* kGroupOutput = "Output";

constexpr const char* kExitCodes =
    "Exit codes: 0 ok; 1 the model or the request is invalid (the message names the file, the "
    "byte\n"
    "offset or field, and what to do); 2 usage error; 3 (validate) a segment or the total is\n"
    "outside --tolerance and more than 1 MiB off.";

// Raw flag values; what was given is decided from the options' counts after parsing.
struct RawFlags {
  std::uint32_t n_ctx = 4096, n_batch = 2048, n_ubatch = 512, n_seq = 1, n_threads = 0;
  std::int32_t n_gpu_layers = -1;
  std::string type_k = "f16", type_v = "f16", flash_attn = "auto", device = "cpu";
  std::string runtime = "llama.cpp", type_map = "auto", tensor_split;
  bool kv_unified = false, mmap_flag = false, no_mmap_flag = false, no_kv_offload = false;
  double safety_margin = 0.10;
};

// The options whose count tells "given", in the order of the JSON config echo.
struct GivenOpt {
  const char* name;
  CLI::Option* opt;
};

std::vector<std::string> kv_type_names() {
  std::vector<std::string> v;
  for (Precision p :
       {Precision::kF32, Precision::kF16, Precision::kBF16, Precision::kQ8_0, Precision::kQ4_0,
        Precision::kQ4_1, Precision::kIQ4_NL, Precision::kQ5_0, Precision::kQ5_1})
    v.emplace_back(precision_name(p));
  return v;
}

// "a,b,c" (llama.cpp also accepts '/' in -ts).
std::vector<std::string> split_list(const std::string& s, const char* seps) {
  std::vector<std::string> out;
  for (std::size_t pos = 0;;) {
    const std::size_t end = s.find_first_of(seps, pos);
    out.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

// One device, or a list of GPUs to split the layers over (llama.cpp --device A,B).
CLI::Validator device_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const std::vector<std::string> list = split_list(s, ",");
        for (const std::string& item : list) {
          auto d = Device::parse(item);
          if (!d) return "invalid device '" + item + "': use cpu, cuda, cuda:N or gpu";
          if (list.size() > 1 && !d->is_gpu())
            return "invalid device list '" + s + "': list only GPUs (cuda:0,cuda:1)";
        }
        return {};
      },
      "", "DEVICE");
}

CLI::Validator split_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        for (const std::string& item : split_list(s, ",/")) {
          std::size_t used = 0;
          float x = -1.0f;
          try {
            x = std::stof(item, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (item.empty() || used != item.size() || !(x >= 0.0f))
            return "invalid tensor split '" + s + "': proportions >= 0, e.g. 3,1";
        }
        return {};
      },
      "", "A,B,...");
}

void add_model_flags(CLI::App* sub, CliRequest& req, RawFlags& raw) {
  sub->add_option("MODEL", req.model, "Path of the GGUF model file")
      ->type_name("PATH")
      ->required()
      ->group(kGroupModel);
  sub->add_flag("--header-only", req.load.header_only,
                "The file holds only the header (as a remote read gives): use the declared tensor "
                "sizes instead of the byte spans")
      ->group(kGroupModel);
  sub->add_option("--type-map", raw.type_map,
                  "How to read the tensor type ids that BitNet builds and upstream ggml use "
                  "differently; auto decides by the tensors' byte spans")
      ->type_name("MAP")
      ->check(CLI::IsMember({"auto", "upstream", "bitnet", "bitnet-2024", "bitnet-port"}))
      ->capture_default_str()
      ->group(kGroupModel);
}

// with_runtime: validate always predicts with the native profile (our loader), so it has no
// --runtime.
std::vector<GivenOpt> add_runtime_flags(CLI::App* sub, RawFlags& raw, bool with_runtime) {
  const std::vector<std::string> kv_types = kv_type_names();
  const CLI::Validator kPositive =
      CLI::Range(1u, std::numeric_limits<std::uint32_t>::max()).description("");
  std::vector<GivenOpt> g;
  g.push_back({"device", sub->add_option("--device", raw.device,
                                         "Target device; a GPU device offloads all layers unless "
                                         "-ngl says otherwise")
                             ->type_name("cpu|cuda|cuda:N[,cuda:M...]")
                             ->check(device_validator())
                             ->capture_default_str()
                             ->group(kGroupDevice)});
  if (with_runtime) {
    g.push_back(
        {"runtime", sub->add_option("--runtime", raw.runtime,
                                    "Whose allocation behaviour to predict: llama.cpp (current "
                                    "upstream), bitnet.cpp (the 2024 fork), native (our loader)")
                        ->type_name("NAME")
                        ->check(CLI::IsMember({"llama.cpp", "bitnet.cpp", "native"}))
                        ->capture_default_str()
                        ->group(kGroupDevice)});
  }
  g.push_back(
      {"n_ctx", sub->add_option("-c,--ctx-size", raw.n_ctx,
                                "Total KV cells over all sequences; 0 = the model's training "
                                "context")
                    ->type_name("N")
                    ->capture_default_str()
                    ->group(kGroupContext)});
  g.push_back({"n_batch", sub->add_option("-b,--batch-size", raw.n_batch, "Logical batch size")
                              ->type_name("N")
                              ->check(kPositive)
                              ->capture_default_str()
                              ->group(kGroupContext)});
  g.push_back({"n_ubatch", sub->add_option("--ubatch-size", raw.n_ubatch,
                                           "(-ub) Physical batch size; sizes the compute buffer")
                               ->type_name("N")
                               ->check(kPositive)
                               ->capture_default_str()
                               ->group(kGroupContext)});
  g.push_back({"n_seq", sub->add_option("--parallel", raw.n_seq, "(-np) Concurrent sequences")
                            ->type_name("N")
                            ->check(kPositive)
                            ->capture_default_str()
                            ->group(kGroupContext)});
  g.push_back({"kv_unified", sub->add_flag("--kv-unified", raw.kv_unified,
                                           "(-kvu) One KV buffer shared by all sequences")
                                 ->group(kGroupContext)});
  g.push_back({"type_k", sub->add_option("--cache-type-k", raw.type_k, "(-ctk) K cache type")
                             ->type_name("TYPE")
                             ->check(CLI::IsMember(kv_types, CLI::ignore_case))
                             ->capture_default_str()
                             ->group(kGroupContext)});
  g.push_back({"type_v", sub->add_option("--cache-type-v", raw.type_v,
                                         "(-ctv) V cache type; a quantized V needs flash attention")
                             ->type_name("TYPE")
                             ->check(CLI::IsMember(kv_types, CLI::ignore_case))
                             ->capture_default_str()
                             ->group(kGroupContext)});
  g.push_back({"flash_attn", sub->add_option("--flash-attn", raw.flash_attn,
                                             "(-fa) Flash attention; auto = as the runtime decides")
                                 ->type_name("MODE")
                                 ->check(CLI::IsMember({"on", "off", "auto"}, CLI::ignore_case))
                                 ->capture_default_str()
                                 ->group(kGroupContext)});
  CLI::Option* mmap_on = sub->add_flag("--mmap", raw.mmap_flag, "Map the model file (the default)")
                             ->group(kGroupContext);
  CLI::Option* mmap_off = sub->add_flag("--no-mmap", raw.no_mmap_flag,
                                        "Read the weights into anonymous memory instead of mapping")
                              ->group(kGroupContext)
                              ->excludes(mmap_on);
  g.push_back({"mmap", mmap_on});
  g.push_back({"mmap", mmap_off});
  g.push_back({"n_gpu_layers",
               sub->add_option("--n-gpu-layers", raw.n_gpu_layers,
                               "(-ngl) Layers offloaded to the GPU; above the layer count = all, "
                               "output layer included; -1 = the default (0 on cpu, all on a GPU)")
                   ->type_name("N")
                   ->check(CLI::Range(-1, std::numeric_limits<std::int32_t>::max()).description(""))
                   ->group(kGroupDevice)});
  g.push_back({"tensor_split",
               sub->add_option("--tensor-split", raw.tensor_split,
                               "(-ts) Split the offloaded layers over several GPUs in these "
                               "proportions (llama.cpp's layer split), e.g. 3,1 = cuda:0 and "
                               "cuda:1 from --device cuda; one per --device entry")
                   ->type_name("A,B,...")
                   ->check(split_validator())
                   ->group(kGroupDevice)});
  g.push_back(
      {"no_kv_offload", sub->add_flag("--no-kv-offload", raw.no_kv_offload,
                                      "(-nkvo) Keep the KV cache in host memory when layers "
                                      "are offloaded")
                            ->group(kGroupDevice)});
  g.push_back(
      {"n_threads", sub->add_option("-t,--threads", raw.n_threads,
                                    "CPU threads of the runtime (sizes the CPU work buffer); "
                                    "0 = the runtime's default")
                        ->type_name("N")
                        ->capture_default_str()
                        ->group(kGroupContext)});
  sub->add_option("--safety-margin", raw.safety_margin,
                  "Recommended memory = minimum * (1 + margin)")
      ->type_name("F")
      ->check(CLI::Range(0.0, 10.0).description(""))
      ->capture_default_str()
      ->group(kGroupOutput);
  return g;
}

// Fills req.analysis and req.given from the raw values. The values were validated by CLI11.
void apply_runtime(const RawFlags& raw, const std::vector<GivenOpt>& given, CliRequest& req) {
  for (const GivenOpt& g : given) {
    if (g.opt->count() == 0) continue;
    if (std::string_view(g.name) == "n_gpu_layers" && raw.n_gpu_layers < 0) continue;
    if (!req.given.empty() && req.given.back() == g.name) continue;
    req.given.emplace_back(g.name);
  }
  auto is_given = [&req](std::string_view name) {
    return std::find(req.given.begin(), req.given.end(), name) != req.given.end();
  };
  RuntimeConfig& rc = req.analysis.runtime;
  rc.n_ctx = raw.n_ctx;
  rc.n_batch = raw.n_batch;
  rc.n_ubatch = raw.n_ubatch;
  rc.max_batch_size = raw.n_seq;
  rc.kv_unified = raw.kv_unified;
  // Unset unless given: the library's default (kv_cache_precision, f16) applies.
  if (is_given("type_k")) rc.type_k = parse_precision(raw.type_k);
  if (is_given("type_v")) rc.type_v = parse_precision(raw.type_v);
  rc.flash_attn = raw.flash_attn == "on"    ? FlashAttn::kOn
                  : raw.flash_attn == "off" ? FlashAttn::kOff
                                            : FlashAttn::kAuto;
  rc.mmap = !raw.no_mmap_flag;
  if (raw.n_gpu_layers >= 0) rc.n_gpu_layers = raw.n_gpu_layers;
  rc.no_kv_offload = raw.no_kv_offload;
  rc.n_threads = raw.n_threads;
  rc.runtime = raw.runtime;
  const std::vector<std::string> devs = split_list(raw.device, ",");
  const auto dev = Device::parse(devs.front());
  rc.device = dev ? *dev : Device{};
  if (devs.size() > 1)
    for (const std::string& d : devs)
      if (auto parsed = Device::parse(d)) rc.devices.push_back(*parsed);
  if (!raw.tensor_split.empty())
    for (const std::string& x : split_list(raw.tensor_split, ",/")) rc.tensor_split.push_back(std::stof(x));
  req.analysis.device = rc.device;
  req.analysis.safety_margin = raw.safety_margin;
}

void lower(std::string& s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
}

}  // namespace

std::vector<std::string> cli11_args(int argc, const char* const* argv) {
  std::vector<std::string> in_order;
  bool rewriting = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") rewriting = false;
    if (rewriting)
      for (const FlagAlias& al : kFlagAliases)
        if (a == al.from) {
          a = al.to;
          break;
        }
    in_order.push_back(std::move(a));
  }
  return {in_order.rbegin(), in_order.rend()};
}

ParseOutcome parse_cli_in_order(const std::vector<std::string>& args, const CliContext& ctx) {
  std::vector<const char*> argv{"bitnet-mem"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_cli(cli11_args(static_cast<int>(argv.size()), argv.data()), ctx);
}

ParseOutcome parse_cli(std::vector<std::string> reversed_args, const CliContext& ctx) {
  CliRequest req;
  RawFlags raw;
  double tolerance = 0.05;

  CLI::App app{
      "bitnet-mem: how much memory a GGUF model needs under llama.cpp, bitnet.cpp or our own "
      "loader\n"
      "(weights, KV cache, activations, quantization and system overhead, peak), BitNet's I2_S,\n"
      "TL1 and TL2 formats included. The runtime flags are llama.cpp's: paste those of your\n"
      "llama-server command line.",
      "bitnet-mem"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(1);
  app.footer(std::string(kExitCodes) +
             "\n\nExamples:\n"
             "  bitnet-mem synth bitnet-b1.58-2b-4t -o bitnet-2b.gguf\n"
             "  bitnet-mem inspect bitnet-2b.gguf\n"
             "  bitnet-mem estimate bitnet-2b.gguf -c 8192 -np 4 -ctk q8_0 -ctv q8_0 -fa on\n"
             "  bitnet-mem estimate model.gguf --device cuda -ngl 20 --json\n"
             "  bitnet-mem validate bitnet-2b.gguf -c 2048 --tolerance 0.05\n"
             "Run `bitnet-mem SUBCOMMAND --help` for the flags of each subcommand.\n");

  // inspect
  CLI::App* inspect = app.add_subcommand("inspect",
                                         "Model structure, tensors by type, parameter "
                                         "count, quantization and bits per weight");
  add_model_flags(inspect, req, raw);
  inspect->add_flag("--json", req.json, "One JSON document on stdout (api.md §3), nothing else")
      ->group(kGroupOutput);
  inspect->footer(
      "Examples:\n"
      "  bitnet-mem inspect bitnet-2b.gguf\n"
      "  bitnet-mem inspect model.head.gguf --header-only --json\n"
      "  bitnet-mem inspect old-bitnet.gguf --type-map bitnet-2024\n");

  // estimate
  CLI::App* estimate = app.add_subcommand(
      "estimate",
      "Memory per segment (weights, KV cache, activations, quantization and system "
      "overhead), total, peak, and recommendations for the given runtime settings");
  add_model_flags(estimate, req, raw);
  const std::vector<GivenOpt> est_given = add_runtime_flags(estimate, raw, true);
  estimate->add_flag("--json", req.json, "One JSON document on stdout (api.md §3), nothing else")
      ->group(kGroupOutput);
  estimate->footer(
      "Short flags as in llama.cpp: -ub -np -kvu -ctk -ctv -fa -ngl -nkvo -ts are accepted for "
      "the long\n"
      "forms shown above.\n\n"
      "Examples:\n"
      "  bitnet-mem estimate bitnet-2b.gguf\n"
      "      CPU, 4096 cells, f16 KV, flash attention as the runtime decides, mmap\n"
      "  bitnet-mem estimate bitnet-2b.gguf -c 32768 -np 4 -ctk q8_0 -ctv q8_0 -fa on\n"
      "      four sequences of 8192 tokens with a q8_0 KV cache\n"
      "  bitnet-mem estimate model.gguf --device cuda -ngl 20 -nkvo\n"
      "      20 layers on the GPU, KV cache kept in host memory\n"
      "  bitnet-mem estimate model.gguf --device cuda:0,cuda:1 -ts 3,1 --json\n"
      "      layers split 3:1 over two GPUs (llama.cpp's layer split); per-GPU \"devices\" in JSON\n"
      "  bitnet-mem estimate bitnet-2b.gguf --runtime bitnet.cpp -c 2048 --json | jq "
      ".peak_usage\n");

  // synth
  CLI::App* synth = app.add_subcommand(
      "synth", "Write a synthesized model (real shapes and types, sparse zero data) from a preset");
  synth->add_option("PRESET", req.preset, "Preset name (see --list)")
      ->check(CLI::IsMember(ctx.preset_names))
      ->group(kGroupModel);
  synth->add_option("-o,--output", req.output, "Path of the GGUF file to write")
      ->group(kGroupModel);
  synth
      ->add_flag("--header-only", req.load.header_only,
                 "Write only the header (what a remote read of the file gives)")
      ->group(kGroupModel);
  synth->add_flag("--list", req.list_presets, "List the presets and exit")->group(kGroupOutput);
  synth->add_flag("--json", req.json, "One JSON document on stdout, nothing else")
      ->group(kGroupOutput);
  synth->footer(
      "Examples:\n"
      "  bitnet-mem synth --list\n"
      "  bitnet-mem synth bitnet-b1.58-2b-4t -o bitnet-2b.gguf\n"
      "  bitnet-mem synth llama-3.2-1b-q4_k -o llama-1b.head.gguf --header-only\n");

  // validate
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Load the model with our loader, measure the process, and print predicted vs "
      "actual memory per segment (predicted with the native runtime profile)");
  add_model_flags(validate, req, raw);
  const std::vector<GivenOpt> val_given = add_runtime_flags(validate, raw, false);
  validate
      ->add_option("--tolerance", tolerance,
                   "Largest accepted |predicted - actual| / actual per segment and in total (a "
                   "segment within 1 MiB absolute passes too: the RSS noise floor)")
      ->type_name("F")
      ->check(CLI::Range(0.0, 10.0).description(""))
      ->capture_default_str()
      ->group(kGroupOutput);
  validate
      ->add_flag("--force", req.force,
                 "Load even when the pre-flight check says the plan does not fit")
      ->group(kGroupOutput);
  validate
      ->add_flag("--json", req.json,
                 "One JSON document on stdout: estimate's, plus actual, rss_bytes, hwm_bytes, "
                 "passed, tolerance")
      ->group(kGroupOutput);
  validate->footer(std::string(kExitCodes) +
                   "\n\nExamples:\n"
                   "  bitnet-mem validate bitnet-2b.gguf -c 2048\n"
                   "  bitnet-mem validate bitnet-2b.gguf -c 4096 -np 2 --tolerance 0.10 --json\n");

  ParseOutcome out;
  // An unknown first word would only give CLI11's "A subcommand is required": name it.
  const CLI::App* const subcommands[] = {inspect, estimate, synth, validate};
  if (!reversed_args.empty() && !reversed_args.back().empty() && reversed_args.back()[0] != '-' &&
      std::none_of(std::begin(subcommands), std::end(subcommands),
                   [&](const CLI::App* a) { return a->get_name() == reversed_args.back(); })) {
    out.exit_code = kExitUsage;
    out.err =
        "unknown subcommand '" + reversed_args.back() +
        "': use inspect, estimate, synth or validate\nRun with --help for more information.\n";
    return out;
  }
  try {
    app.parse(reversed_args);
  } catch (const CLI::ParseError& e) {
    std::ostringstream o, er;
    const int code = app.exit(e, o, er);
    out.out = o.str();
    out.err = er.str();
    if (code == static_cast<int>(CLI::ExitCodes::Success)) {
      out.exit_code = kExitOk;  // --help, --version
    } else {
      out.exit_code = kExitUsage;
      if (out.err.empty()) out.err = std::string(e.what()) + "\n";
      if (out.err.find("--help") == std::string::npos)
        out.err += "Run with --help for more information.\n";
    }
    return out;
  }

  if (inspect->parsed()) {
    req.command = Command::kInspect;
  } else if (estimate->parsed()) {
    req.command = Command::kEstimate;
    apply_runtime(raw, est_given, req);
  } else if (validate->parsed()) {
    req.command = Command::kValidate;
    raw.runtime = "native";  // what validate_model loads and predicts with
    apply_runtime(raw, val_given, req);
    req.tolerance = tolerance;
  } else {
    req.command = Command::kSynth;
    if (!req.list_presets && (req.preset.empty() || req.output.empty())) {
      out.exit_code = kExitUsage;
      out.err =
          "synth: give a PRESET and -o PATH, or --list\nRun with --help for more information.\n";
      return out;
    }
  }
  lower(raw.type_map);
  req.load.type_map = parse_type_map(raw.type_map).value_or(TypeMap::kAuto);
  out.request = std::move(req);
  return out;
}

}  // namespace bitnet::cli
