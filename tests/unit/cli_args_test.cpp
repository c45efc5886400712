// bitnet-mem argument parsing: llama.cpp flag names and meanings (api.md §2), the alias table,
// flags before or after MODEL, given vs inferred, and the exit codes of style.md §6.
//
// The CLI's sources are not part of the library, so this test compiles cli_args.cpp itself
// (CLI11 is header-only).
#include "../../tools/bitnet-mem/cli_args.cpp"  // NOLINT(bugprone-suspicious-include)

#include <gtest/gtest.h>

namespace bitnet::cli {
namespace {

const CliContext kCtx{{"bitnet-b1.58-2b-4t", "llama-3.2-1b"}};

ParseOutcome parse(const std::vector<std::string>& args) { return parse_cli_in_order(args, kCtx); }

CliRequest ok(const std::vector<std::string>& args) {
  ParseOutcome o = parse(args);
  EXPECT_TRUE(o.request.has_value()) << "exit " << o.exit_code << ": " << o.err;
  return o.request.value_or(CliRequest{});
}

TEST(CliArgs, AliasesAreRewrittenAndArgumentsReversed) {
  const char* argv[] = {"bitnet-mem", "estimate", "m.gguf", "-ub",  "256",  "-np",
                        "4",          "-ctk",     "q8_0",   "-ctv", "q8_0", "-fa",
                        "on",         "-ngl",     "9",      "-kvu", "-nkvo"};
  const std::vector<std::string> got = cli11_args(static_cast<int>(std::size(argv)), argv);
  const std::vector<std::string> want = {"--no-kv-offload",
                                         "--kv-unified",
                                         "9",
                                         "--n-gpu-layers",
                                         "on",
                                         "--flash-attn",
                                         "q8_0",
                                         "--cache-type-v",
                                         "q8_0",
                                         "--cache-type-k",
                                         "4",
                                         "--parallel",
                                         "256",
                                         "--ubatch-size",
                                         "m.gguf",
                                         "estimate"};
  EXPECT_EQ(got, want);
}

TEST(CliArgs, NothingIsRewrittenAfterDoubleDash) {
  const char* argv[] = {"bitnet-mem", "inspect", "--", "-fa"};
  const std::vector<std::string> got = cli11_args(4, argv);
  EXPECT_EQ(got, (std::vector<std::string>{"-fa", "--", "inspect"}));
}

TEST(CliArgs, EstimateDefaultsAreApiMdDefaults) {
  const CliRequest r = ok({"estimate", "m.gguf"});
  EXPECT_EQ(r.command, Command::kEstimate);
  EXPECT_EQ(r.model, "m.gguf");
  const RuntimeConfig& rc = r.analysis.runtime;
  EXPECT_EQ(rc.n_ctx, 4096u);
  EXPECT_EQ(rc.n_batch, 2048u);
  EXPECT_EQ(rc.n_ubatch, 512u);
  EXPECT_EQ(rc.max_batch_size, 1u);
  EXPECT_FALSE(rc.kv_unified);
  EXPECT_EQ(rc.effective_type_k(), Precision::kF16);
  EXPECT_EQ(rc.effective_type_v(), Precision::kF16);
  EXPECT_FALSE(rc.type_k.has_value());  // not given: the library's default applies
  EXPECT_FALSE(rc.type_v.has_value());
  EXPECT_EQ(rc.flash_attn, FlashAttn::kAuto);
  EXPECT_TRUE(rc.mmap);
  EXPECT_FALSE(rc.n_gpu_layers.has_value());
  EXPECT_FALSE(rc.no_kv_offload);
  EXPECT_EQ(rc.n_threads, 0u);
  EXPECT_EQ(rc.device, Device{});
  EXPECT_EQ(r.analysis.device, Device{});
  EXPECT_EQ(rc.runtime, "llama.cpp");
  EXPECT_DOUBLE_EQ(r.analysis.safety_margin, 0.10);
  EXPECT_EQ(r.load.type_map, TypeMap::kAuto);
  EXPECT_FALSE(r.load.header_only);
  EXPECT_FALSE(r.json);
  EXPECT_TRUE(r.given.empty());
}

TEST(CliArgs, LlamaCppFlagsSetTheirFieldsAndAreMarkedGiven) {
  const CliRequest r =
      ok({"estimate", "m.gguf", "-c",       "8192",      "-b",        "1024",       "-ub",
          "256",      "-np",    "4",        "-kvu",      "-ctk",      "q8_0",       "-ctv",
          "Q4_0",     "-fa",    "on",       "--no-mmap", "-ngl",      "20",         "-nkvo",
          "-t",       "8",      "--device", "cuda:1",    "--runtime", "bitnet.cpp", "--json"});
  const RuntimeConfig& rc = r.analysis.runtime;
  EXPECT_EQ(rc.n_ctx, 8192u);
  EXPECT_EQ(rc.n_batch, 1024u);
  EXPECT_EQ(rc.n_ubatch, 256u);
  EXPECT_EQ(rc.max_batch_size, 4u);
  EXPECT_TRUE(rc.kv_unified);
  EXPECT_EQ(rc.effective_type_k(), Precision::kQ8_0);
  EXPECT_EQ(rc.effective_type_v(), Precision::kQ4_0);  // IsMember ignores case
  EXPECT_EQ(rc.flash_attn, FlashAttn::kOn);
  EXPECT_FALSE(rc.mmap);
  EXPECT_EQ(rc.n_gpu_layers, std::optional<std::int32_t>(20));
  EXPECT_TRUE(rc.no_kv_offload);
  EXPECT_EQ(rc.n_threads, 8u);
  EXPECT_EQ(rc.device, (Device{Device::Kind::kCuda, 1}));
  EXPECT_EQ(r.analysis.device, (Device{Device::Kind::kCuda, 1}));
  EXPECT_EQ(rc.runtime, "bitnet.cpp");
  EXPECT_TRUE(r.json);
  // In the order of the JSON config echo.
  EXPECT_EQ(r.given,
            (std::vector<std::string>{"device", "runtime", "n_ctx", "n_batch", "n_ubatch", "n_seq",
                                      "kv_unified", "type_k", "type_v", "flash_attn", "mmap",
                                      "n_gpu_layers", "no_kv_offload", "n_threads"}));
}

TEST(CliArgs, LongFormsWorkToo) {
  const CliRequest r =
      ok({"estimate", "--ctx-size", "0", "--ubatch-size", "128", "--parallel", "2",
          "--cache-type-k", "bf16", "--flash-attn", "off", "--n-gpu-layers", "0", "m.gguf"});
  EXPECT_EQ(r.analysis.runtime.n_ctx, 0u);  // 0 = the model's training context
  EXPECT_EQ(r.analysis.runtime.n_ubatch, 128u);
  EXPECT_EQ(r.analysis.runtime.max_batch_size, 2u);
  EXPECT_EQ(r.analysis.runtime.effective_type_k(), Precision::kBF16);
  EXPECT_EQ(r.analysis.runtime.flash_attn, FlashAttn::kOff);
  EXPECT_EQ(r.analysis.runtime.n_gpu_layers, std::optional<std::int32_t>(0));
}

TEST(CliArgs, FlagsBeforeAndAfterModelGiveTheSameRequest) {
  const CliRequest a = ok({"estimate", "-c", "2048", "-fa", "off", "m.gguf", "--json"});
  const CliRequest b = ok({"estimate", "m.gguf", "--json", "-fa", "off", "-c", "2048"});
  EXPECT_EQ(a.model, "m.gguf");
  EXPECT_EQ(b.model, "m.gguf");
  EXPECT_EQ(a.analysis.runtime.n_ctx, 2048u);
  EXPECT_EQ(b.analysis.runtime.n_ctx, 2048u);
  EXPECT_EQ(a.analysis.runtime.flash_attn, FlashAttn::kOff);
  EXPECT_EQ(b.analysis.runtime.flash_attn, FlashAttn::kOff);
  EXPECT_EQ(a.given, b.given);
  EXPECT_TRUE(a.json && b.json);
}

TEST(CliArgs, MmapFlagPair) {
  EXPECT_FALSE(ok({"estimate", "m.gguf", "--no-mmap"}).analysis.runtime.mmap);
  const CliRequest r = ok({"estimate", "m.gguf", "--mmap"});
  EXPECT_TRUE(r.analysis.runtime.mmap);
  EXPECT_EQ(r.given, (std::vector<std::string>{"mmap"}));
}

TEST(CliArgs, TensorSplitAndDeviceList) {
  const CliRequest r = ok({"estimate", "m.gguf", "--device", "cuda:0,cuda:2", "-ts", "3,1"});
  const RuntimeConfig& rc = r.analysis.runtime;
  EXPECT_EQ(rc.device, (Device{Device::Kind::kCuda, 0}));
  EXPECT_EQ(rc.devices, (std::vector<Device>{{Device::Kind::kCuda, 0}, {Device::Kind::kCuda, 2}}));
  EXPECT_EQ(rc.tensor_split, (std::vector<float>{3.0f, 1.0f}));
  EXPECT_EQ(r.given, (std::vector<std::string>{"device", "tensor_split"}));
  // llama.cpp also separates proportions with '/'; a single device leaves the list empty.
  const CliRequest s = ok({"estimate", "m.gguf", "--device", "cuda", "--tensor-split", "0.5/0.25/0.25"});
  EXPECT_TRUE(s.analysis.runtime.devices.empty());
  EXPECT_EQ(s.analysis.runtime.tensor_split, (std::vector<float>{0.5f, 0.25f, 0.25f}));
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"estimate", "m.gguf", "-ts", "3,x"},
        std::vector<std::string>{"estimate", "m.gguf", "-ts", "1,-1"},
        std::vector<std::string>{"estimate", "m.gguf", "--device", "cuda:0,cpu"}}) {
    const ParseOutcome o = parse(bad);
    EXPECT_EQ(o.exit_code, kExitUsage) << bad.back();
  }
}

TEST(CliArgs, NglMinusOneMeansTheDefault) {
  const CliRequest r = ok({"estimate", "m.gguf", "-ngl", "-1"});
  EXPECT_FALSE(r.analysis.runtime.n_gpu_layers.has_value());
  EXPECT_TRUE(r.given.empty());
}

TEST(CliArgs, InspectModelFlags) {
  const CliRequest r = ok({"inspect", "--type-map", "bitnet", "--header-only", "m.gguf", "--json"});
  EXPECT_EQ(r.command, Command::kInspect);
  EXPECT_EQ(r.load.type_map, TypeMap::kBitnet2024);
  EXPECT_TRUE(r.load.header_only);
  EXPECT_TRUE(r.json);
  EXPECT_EQ(ok({"inspect", "m.gguf", "--type-map", "bitnet-port"}).load.type_map,
            TypeMap::kBitnetPort);
  EXPECT_EQ(ok({"inspect", "m.gguf", "--type-map", "upstream"}).load.type_map, TypeMap::kUpstream);
}

TEST(CliArgs, ValidateTakesRuntimeFlagsAndTolerance) {
  const CliRequest r = ok({"validate", "m.gguf", "-c", "1024", "--tolerance", "0.1", "--force"});
  EXPECT_EQ(r.command, Command::kValidate);
  EXPECT_EQ(r.analysis.runtime.n_ctx, 1024u);
  EXPECT_DOUBLE_EQ(r.tolerance, 0.1);
  EXPECT_TRUE(r.force);
  EXPECT_DOUBLE_EQ(ok({"validate", "m.gguf"}).tolerance, 0.05);
  // validate loads with our own loader, so it predicts with the native profile and has no
  // --runtime.
  EXPECT_EQ(r.analysis.runtime.runtime, "native");
  EXPECT_EQ(parse({"validate", "m.gguf", "--runtime", "llama.cpp"}).exit_code, kExitUsage);
}

TEST(CliArgs, Synth) {
  const CliRequest r = ok({"synth", "bitnet-b1.58-2b-4t", "-o", "x.gguf", "--header-only"});
  EXPECT_EQ(r.command, Command::kSynth);
  EXPECT_EQ(r.preset, "bitnet-b1.58-2b-4t");
  EXPECT_EQ(r.output, "x.gguf");
  EXPECT_TRUE(r.load.header_only);
  EXPECT_TRUE(ok({"synth", "--list"}).list_presets);
}

struct UsageCase {
  std::vector<std::string> args;
  std::string in_message;  // a piece of the message on stderr
};

TEST(CliArgs, UsageErrorsExitTwoWithAMessage) {
  const UsageCase cases[] = {
      {{}, "subcommand"},
      {{"frobnicate"}, "frobnicate"},
      {{"estimate"}, "MODEL"},
      {{"estimate", "m.gguf", "--bogus"}, "--bogus"},
      {{"estimate", "m.gguf", "-ctk", "q3_k"}, "q3_k"},
      {{"estimate", "m.gguf", "-fa", "maybe"}, "maybe"},
      {{"estimate", "m.gguf", "-c", "lots"}, "lots"},
      {{"estimate", "m.gguf", "-np", "0"}, "parallel"},
      {{"estimate", "m.gguf", "--device", "tpu"}, "tpu"},
      {{"estimate", "m.gguf", "--runtime", "vllm"}, "vllm"},
      {{"inspect", "m.gguf", "--type-map", "other"}, "other"},
      {{"inspect", "m.gguf", "-c", "10"}, "-c"},  // runtime flags belong to estimate/validate
      {{"synth", "bitnet-b1.58-2b-4t"}, "-o PATH"},
      {{"synth", "no-such-preset", "-o", "x.gguf"}, "no-such-preset"},
      {{"validate", "m.gguf", "--tolerance", "-1"}, "tolerance"},
  };
  for (const UsageCase& c : cases) {
    const ParseOutcome o = parse(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_FALSE(o.request.has_value()) << joined;
    EXPECT_EQ(o.exit_code, kExitUsage) << joined;
    EXPECT_NE(o.err.find(c.in_message), std::string::npos) << joined << "-> " << o.err;
    EXPECT_NE(o.err.find("--help"), std::string::npos) << joined << "-> " << o.err;
    EXPECT_TRUE(o.out.empty()) << joined;
  }
}

TEST(CliArgs, HelpExitsZeroAndTeachesBothSpellings) {
  const ParseOutcome top = parse({"--help"});
  EXPECT_FALSE(top.request.has_value());
  EXPECT_EQ(top.exit_code, kExitOk);
  for (const char* s : {"inspect", "estimate", "synth", "validate", "Exit codes", "Examples:"})
    EXPECT_NE(top.out.find(s), std::string::npos) << s;

  const ParseOutcome est = parse({"estimate", "--help"});
  EXPECT_EQ(est.exit_code, kExitOk);
  EXPECT_TRUE(est.err.empty());
  for (const char* s : {"Model",
                        "Context (llama.cpp flags)",
                        "Device",
                        "Output",
                        "--ubatch-size",
                        "-ub",
                        "--parallel",
                        "-np",
                        "--cache-type-k",
                        "-ctk",
                        "--flash-attn",
                        "-fa",
                        "--n-gpu-layers",
                        "-ngl",
                        "--no-kv-offload",
                        "-nkvo",
                        "--no-mmap",
                        "--ctx-size",
                        "4096",
                        "2048",
                        "512",
                        "f16",
                        "auto",
                        "llama.cpp"})
    EXPECT_NE(est.out.find(s), std::string::npos) << s;
  // The help ends with worked examples.
  const auto ex = est.out.rfind("Examples:");
  ASSERT_NE(ex, std::string::npos);
  EXPECT_NE(est.out.find("bitnet-mem estimate", ex), std::string::npos);
  EXPECT_EQ(est.out.find("--ctx-size", ex), std::string::npos);  // no option list after them

  const ParseOutcome val = parse({"validate", "--help"});
  EXPECT_EQ(val.exit_code, kExitOk);
  EXPECT_NE(val.out.find("3 (validate) a segment or the total is"), std::string::npos);
  EXPECT_NE(val.out.rfind("Examples:"), std::string::npos);
  EXPECT_NE(val.out.find("--tolerance"), std::string::npos);
}

TEST(CliArgs, VersionExitsZero) {
  const ParseOutcome o = parse({"--version"});
  EXPECT_FALSE(o.request.has_value());
  EXPECT_EQ(o.exit_code, kExitOk);
  EXPECT_NE(o.out.find("bitnet-mem"), std::string::npos);
}

}  // namespace
}  // namespace bitnet::cli
