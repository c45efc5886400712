// Shared by cmd_fit.cpp and cmd_plot.cpp: the planner's own flags, split from the runtime flags
// that the estimate parser handles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitnet/plan.h"
#include "cli_args.h"

namespace bitnet::cli {

struct PlannerArgs {
  std::string command;           // "fit" or "plot"
  InventorySpec spec;            // --ram, --gpu, --target
  std::uint64_t reserve = kDefaultReserveBytes;
  bool detect = true;            // --no-detect turns the probe off
  std::vector<std::uint32_t> tensor_split;
  std::uint32_t fit_ctx_min = kDefaultFitContextMin;
  bool alternatives = true;
  bool list_targets = false;
  bool help = false;
  // plot
  std::string output;
  std::uint32_t points = 16, ctx_min = 256, ctx_max = 0;
  std::vector<std::string> rest;  // everything else: MODEL and the runtime flags
};

Result<PlannerArgs> split_planner_args(int argc, const char* const* argv);
ParseOutcome parse_runtime_flags(const PlannerArgs& a);
Result<Inventory> planner_inventory(const PlannerArgs& a, const CliRequest& req);
int planner_fail(const std::string& path, const Error& e);
int run_plot(const PlannerArgs& a);

}  // namespace bitnet::cli
