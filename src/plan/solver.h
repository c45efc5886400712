// The inverse of the memory engine. Memory is piecewise linear in the context (KV linear per
// layer class, flat for SWA past its window, constant for recurrent state; compute a max of a
// constant and a linear term) and, per layer, in -ngl. So the largest x with f(x) <= budget on
// every device is found by secant steps through exact local slopes, bracketed so it always
// terminates, and proven maximal by an evaluation at x and at x + 1.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "bitnet/error.h"

namespace bitnet::detail {

// Bytes per device: [0] host, [1 + j] GPU j.
using Usage = std::vector<std::uint64_t>;

bool usage_fits(const Usage& u, const std::vector<std::uint64_t>& budget) noexcept;

struct MaxSolve {
  std::optional<std::int64_t> x;   // none: even lo does not fit
  Usage at_x;                      // usage at x (at lo when x is none)
  std::optional<Usage> at_next;    // usage at x + 1 (none when x == hi: bounded by hi)
  std::uint32_t evaluations = 0;
};

// Largest x in [lo, hi] with f(x) within budget, for f nondecreasing in x on every device.
// from_below: start from the slope at lo (lo, lo + 1, then the predicted answer and one step
// more) and evaluate hi only when the prediction reaches it; for searches whose top end is a
// different, costlier regime (a GPU's share of a split at "every layer": one GPU, the
// partial-offload simulation) that the answer rarely is.
Result<MaxSolve> solve_max(std::int64_t lo, std::int64_t hi,
                           const std::function<Result<Usage>(std::int64_t)>& f,
                           const std::vector<std::uint64_t>& budget, bool from_below = false);

// The same answer, searched on a cheaper approximation `fast` of f (within a few percent) and
// proven on f: f at the approximate answer x and at x + 1, stepping one unit at a time while
// they disagree with it (after two steps, solve_max on f over what is left). The result's usages
// are f's; `fast` only decides where to look.
Result<MaxSolve> solve_max_verified(std::int64_t lo, std::int64_t hi,
                                    const std::function<Result<Usage>(std::int64_t)>& f,
                                    const std::function<Result<Usage>(std::int64_t)>& fast,
                                    const std::vector<std::uint64_t>& budget, bool from_below = false);

}  // namespace bitnet::detail
