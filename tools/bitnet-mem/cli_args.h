// bitnet-mem: argv -> a request (subcommand, model, runtime settings, output). No model logic here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/loader.h"
#include "bitnet/memory.h"

namespace bitnet::cli {

enum class Command { kInspect, kEstimate, kSynth, kValidate };

// Exit codes (api.md §2; validate adds 3).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;  // the model or the request is invalid
inline constexpr int kExitUsage = 2;    // bad command line
inline constexpr int kExitOutOfTolerance =
    3;  // validate: a segment or the total missed --tolerance

struct CliRequest {
  Command command = Command::kInspect;
  std::string model;              // MODEL (inspect, estimate, validate)
  ProductionLoadConfig load;      // --type-map, --header-only
  MemoryAnalysisConfig analysis;  // runtime flags (estimate, validate)
  // The settings the user set explicitly, by their JSON config name ("n_ctx", "type_v", ...), in
  // the order of the config echo; every other setting is inferred (a default or resolved).
  std::vector<std::string> given;
  bool json = false;  // --json
  // synth
  std::string preset;         // PRESET
  std::string output;         // -o PATH
  bool list_presets = false;  // --list
  // validate
  double tolerance = 0.05;  // --tolerance
  bool force = false;       // --force
};

// What the parser needs from the outside world (so tests can run it without the synth tables).
struct CliContext {
  std::vector<std::string> preset_names;  // choices for `synth PRESET`
};

// Either a request to run, or the text to print and the exit code (help, version, usage error).
struct ParseOutcome {
  std::optional<CliRequest> request;
  int exit_code = kExitOk;
  std::string out;  // stdout (help, version)
  std::string err;  // stderr (usage errors)
};

// llama.cpp's multi-letter short flags, which CLI11 2.1 cannot register ("Invalid one char name").
struct FlagAlias {
  std::string_view from, to;
};
inline constexpr FlagAlias kFlagAliases[] = {
    {"-ub", "--ubatch-size"},   {"-np", "--parallel"},        {"-kvu", "--kv-unified"},
    {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"},   {"-fa", "--flash-attn"},
    {"-ngl", "--n-gpu-layers"}, {"-nkvo", "--no-kv-offload"}, {"-ts", "--tensor-split"},
};

// argv[1..] with the aliases rewritten (up to a "--" separator), in CLI11's REVERSE order, as
// App::parse(std::vector<std::string>&) expects.
std::vector<std::string> cli11_args(int argc, const char* const* argv);

// Parses arguments in CLI11's reversed order (the output of cli11_args).
ParseOutcome parse_cli(std::vector<std::string> reversed_args, const CliContext& ctx);

// Convenience for tests: arguments in command-line order, without the program name.
ParseOutcome parse_cli_in_order(const std::vector<std::string>& args, const CliContext& ctx);

}  // namespace bitnet::cli
