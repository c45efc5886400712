// bitnet-mem: argv -> request -> library -> output. Thin by design (style.md §6).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "api/json.h"
#include "bitnet/error.h"
#include "bitnet/loader.h"
#include "bitnet/measure.h"
#include "cli_args.h"
#include "cmd_fit.h"
#include "render_text.h"
#include "synth/model_spec.h"

namespace {

using bitnet::cli::CliRequest;
using bitnet::cli::Command;

void print_stdout(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }
void print_stderr(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stderr); }

// One line on stderr that names the file, the offset or field, and what to do.
int fail(const std::string& path, bitnet::Error e) {
  // "PATH: field @0xOFFSET: message (hint)": the library may already have put the path in front of
  // the message; move it to the front of the whole line.
  if (!path.empty() && e.message.rfind(path + ": ", 0) == 0) e.message.erase(0, path.size() + 2);
  std::string text = e.to_string();
  if (!path.empty() && text.find(path) == std::string::npos) text = path + ": " + text;
  print_stderr(fmt::format("bitnet-mem: error [{}]: {}\n", bitnet::errc_name(e.code), text));
  return bitnet::cli::kExitInvalid;
}

void print_json(const bitnet::detail::Json& j) { print_stdout(j.dump(2) + "\n"); }

// With --json, warnings go to stderr as well as into the document.
void warn_stderr(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) print_stderr("bitnet-mem: warning: " + w + "\n");
}

bitnet::Result<bitnet::ProductionModelLoader> open_model(const CliRequest& req) {
  return bitnet::ProductionModelLoader::open(req.model, req.load);
}

int run_inspect(const CliRequest& req) {
  auto loader = open_model(req);
  if (!loader) return fail(req.model, loader.error());
  const bitnet::ModelStructureInfo& m = loader->model_info();
  if (req.json) {
    warn_stderr(m.warnings);
    print_json(bitnet::detail::model_json(m));
  } else {
    print_stdout(bitnet::cli::render_inspect(m));
  }
  return bitnet::cli::kExitOk;
}

int run_estimate(const CliRequest& req) {
  auto loader = open_model(req);
  if (!loader) return fail(req.model, loader.error());
  auto d = loader->get_detailed_memory_requirements(req.analysis);
  if (!d) return fail(req.model, d.error());
  const bitnet::ModelStructureInfo& m = loader->model_info();
  if (req.json) {
    warn_stderr(d->warnings);
    print_json(bitnet::detail::estimate_json(m, *d, req.given));
  } else {
    print_stdout(bitnet::cli::render_estimate(m, *d, req.given));
  }
  return bitnet::cli::kExitOk;
}

int run_validate(const CliRequest& req) {
  auto loader = open_model(req);
  if (!loader) return fail(req.model, loader.error());
  bitnet::LoadOptions lo;
  lo.analysis = req.analysis;
  lo.force = req.force;
  lo.progress = !req.json && isatty(STDERR_FILENO) != 0;
  auto report = bitnet::validate_model(*loader, lo, req.tolerance);
  if (!report) return fail(req.model, report.error());
  const bitnet::ModelStructureInfo& m = loader->model_info();
  if (req.json) {
    warn_stderr(report->predicted.warnings);
    print_json(bitnet::detail::validation_json(m, *report, req.given));
  } else {
    print_stdout(bitnet::cli::render_validate(m, *report, req.given));
  }
  return report->passed ? bitnet::cli::kExitOk : bitnet::cli::kExitOutOfTolerance;
}

int run_synth(const CliRequest& req) {
  namespace d = bitnet::detail;
  if (req.list_presets) {
    if (req.json) {
      d::Json j = d::Json::array();
      for (std::string_view n : d::preset_names()) j.push_back(std::string(n));
      print_json(j);
    } else {
      for (std::string_view n : d::preset_names()) print_stdout(std::string(n) + "\n");
    }
    return bitnet::cli::kExitOk;
  }
  auto spec = d::preset(req.preset);
  if (!spec) return fail({}, spec.error());
  auto size = d::synthesize(*spec, req.output, req.load.header_only);
  if (!size) return fail(req.output, size.error());
  if (req.json) {
    d::Json j;
    j["path"] = req.output;
    j["preset"] = req.preset;
    j["file_bytes"] = *size;
    j["header_only"] = req.load.header_only;
    print_json(j);
  } else {
    print_stdout(fmt::format("wrote {}: preset {}, {} ({} bytes{})\n", req.output, req.preset,
                             bitnet::cli::format_bytes(*size), *size,
                             req.load.header_only ? ", header only" : ", sparse zero data"));
  }
  return bitnet::cli::kExitOk;
}

int run(const CliRequest& req) {
  switch (req.command) {
    case Command::kInspect:
      return run_inspect(req);
    case Command::kEstimate:
      return run_estimate(req);
    case Command::kValidate:
      return run_validate(req);
    case Command::kSynth:
      return run_synth(req);
  }
  return bitnet::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (bitnet::cli::is_planner_command(argc, argv)) return bitnet::cli::run_planner_command(argc, argv);
    bitnet::cli::CliContext ctx;
    for (std::string_view n : bitnet::detail::preset_names()) ctx.preset_names.emplace_back(n);
    bitnet::cli::ParseOutcome parsed =
        bitnet::cli::parse_cli(bitnet::cli::cli11_args(argc, argv), ctx);
    if (!parsed.request) {
      print_stdout(parsed.out);
      print_stderr(parsed.err);
      return parsed.exit_code;
    }
    return run(*parsed.request);
  } catch (const std::bad_alloc&) {
    print_stderr("bitnet-mem: error [resource_limit]: out of memory\n");
  } catch (const std::exception& e) {
    print_stderr(fmt::format("bitnet-mem: error [internal]: {} (please report this)\n", e.what()));
  }
  return bitnet::cli::kExitInvalid;
}
