// bitnet-mem fit / plot (planner issue): the inventory flags are taken here, the runtime flags by
// the estimate parser (cli_args), and the answer comes from the library (bitnet/plan.h).
#pragma once

namespace bitnet::cli {

// True for the subcommands this file runs ("fit", "plot").
bool is_planner_command(int argc, const char* const* argv);
// Runs `bitnet-mem fit ...` or `bitnet-mem plot ...`; returns the exit code.
int run_planner_command(int argc, const char* const* argv);

}  // namespace bitnet::cli
