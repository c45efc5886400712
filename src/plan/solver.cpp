#include "plan/solver.h"

#include <algorithm>
#include <limits>
#include <map>

namespace bitnet::detail {

bool usage_fits(const Usage& u, const std::vector<std::uint64_t>& budget) noexcept {
  for (std::size_t d = 0; d < u.size() && d < budget.size(); ++d)
    if (u[d] > budget[d]) return false;
  return true;
}

namespace {

// Largest step from x (usage u, local slope s per unit) that keeps every device in budget:
// min over devices of floor((B - u) / s). Devices with s == 0 do not bound it.
std::optional<std::int64_t> newton_step(const Usage& u, const Usage& u_next,
                                        const std::vector<std::uint64_t>& budget) {
  std::optional<std::int64_t> best;
  for (std::size_t d = 0; d < u.size() && d < budget.size(); ++d) {
    if (u_next[d] <= u[d]) continue;
    const std::uint64_t slope = u_next[d] - u[d];
    const std::int64_t room = u[d] <= budget[d]
                                  ? static_cast<std::int64_t>((budget[d] - u[d]) / slope)
                                  : -static_cast<std::int64_t>((u[d] - budget[d] + slope - 1) / slope);
    best = best ? std::min(*best, room) : room;
  }
  return best;
}

// Secant between a feasible (xl, ul) and an infeasible (xh, uh): where the first device's line
// crosses its budget.
std::int64_t secant(std::int64_t xl, const Usage& ul, std::int64_t xh, const Usage& uh,
                    const std::vector<std::uint64_t>& budget) {
  long double best = static_cast<long double>(xh);
  for (std::size_t d = 0; d < ul.size() && d < budget.size(); ++d) {
    if (uh[d] <= budget[d] || uh[d] <= ul[d]) continue;
    const long double t = static_cast<long double>(budget[d] - std::min(budget[d], ul[d])) /
                          static_cast<long double>(uh[d] - ul[d]);
    best = std::min(best, static_cast<long double>(xl) + t * static_cast<long double>(xh - xl));
  }
  return static_cast<std::int64_t>(best);
}

}  // namespace

Result<MaxSolve> solve_max(std::int64_t lo, std::int64_t hi,
                           const std::function<Result<Usage>(std::int64_t)>& f,
                           const std::vector<std::uint64_t>& budget, bool from_below) {
  MaxSolve r;
  std::map<std::int64_t, Usage> seen;
  auto eval = [&](std::int64_t x) -> Result<const Usage*> {
    auto it = seen.find(x);
    if (it != seen.end()) return &it->second;
    BITNET_ASSIGN_OR_RETURN(Usage u, f(x));
    ++r.evaluations;
    return &seen.emplace(x, std::move(u)).first->second;
  };
  if (hi < lo) hi = lo;
  BITNET_ASSIGN_OR_RETURN(const Usage* ulo, eval(lo));
  if (!usage_fits(*ulo, budget)) {
    r.at_x = *ulo;
    return r;
  }
  std::int64_t xl = lo;  // fits
  std::optional<std::int64_t> over;  // a point known not to fit
  if (from_below) {
    // Climb along local slopes: each pair (x, x + 1) gives the slope to the budget; stop at the
    // first x that fits with x + 1 over, or hand over to the bracketed search once a point
    // fails (the bracket is then known without evaluating hi) or the prediction reaches hi.
    for (int step = 0; step < 4 && xl < hi; ++step) {
      BITNET_ASSIGN_OR_RETURN(const Usage* un, eval(xl + 1));
      if (!usage_fits(*un, budget)) {
        r.x = xl;
        r.at_x = seen.at(xl);
        r.at_next = *un;
        return r;
      }
      ++xl;
      const std::optional<std::int64_t> st = newton_step(seen.at(xl - 1), *un, budget);
      const std::int64_t c = st ? std::clamp<std::int64_t>(xl + *st, xl, hi) : hi;
      if (c >= hi) break;     // the prediction is the top: the bracketed search below
      if (c == xl) continue;  // no room predicted beyond xl: xl + 1 decides, next round
      BITNET_ASSIGN_OR_RETURN(const Usage* uc, eval(c));
      if (!usage_fits(*uc, budget)) {
        over = c;  // overshot: the bracket [xl, c] below finds it
        break;
      }
      xl = c;
    }
  }
  if (!over) {
    BITNET_ASSIGN_OR_RETURN(const Usage* uhi, eval(hi));
    if (usage_fits(*uhi, budget)) {
      r.x = hi;
      r.at_x = *uhi;
      return r;
    }
    over = hi;
  }
  std::int64_t xh = *over;  // invariant: xl fits, xh does not
  // Start from the local slope at lo (one more evaluation at lo + 1).
  std::optional<std::int64_t> guess;
  int secant_budget = 6;  // then bisection: the bracket always shrinks
  while (xh - xl > 1) {
    std::int64_t c;
    if (secant_budget > 0) {
      // A prediction at or beyond the bracket says the answer is at its edge: test the edge.
      c = guess ? *guess : secant(xl, seen.at(xl), xh, seen.at(xh), budget);
      c = std::clamp(c, xl + 1, xh - 1);
    } else {
      c = xl + (xh - xl) / 2;
    }
    --secant_budget;
    guess.reset();
    BITNET_ASSIGN_OR_RETURN(const Usage* uc, eval(c));
    if (!usage_fits(*uc, budget)) {
      xh = c;
      // Step back along the slope between c - 1 and c when c - 1 is in the bracket.
      if (c - 1 > xl) {
        BITNET_ASSIGN_OR_RETURN(const Usage* ub, eval(c - 1));
        if (usage_fits(*ub, budget)) {
          xl = c - 1;
          break;
        }
        xh = c - 1;
        if (auto step = newton_step(*ub, *uc, budget)) guess = c - 1 + *step;
      }
      continue;
    }
    xl = c;
    if (c + 1 >= xh) break;
    BITNET_ASSIGN_OR_RETURN(const Usage* un, eval(c + 1));
    if (!usage_fits(*un, budget)) {
      xh = c + 1;
      break;
    }
    xl = c + 1;
    if (auto step = newton_step(*uc, *un, budget)) guess = c + 1 + *step;
  }
  r.x = xl;  // the loop ends with xh == xl + 1
  r.at_x = seen.at(xl);
  r.at_next = seen.at(xh);
  return r;
}

Result<MaxSolve> solve_max_verified(std::int64_t lo, std::int64_t hi,
                                    const std::function<Result<Usage>(std::int64_t)>& f,
                                    const std::function<Result<Usage>(std::int64_t)>& fast,
                                    const std::vector<std::uint64_t>& budget, bool from_below) {
  if (hi < lo) hi = lo;
  BITNET_ASSIGN_OR_RETURN(const MaxSolve guess, solve_max(lo, hi, fast, budget, from_below));
  MaxSolve r;
  r.evaluations = guess.evaluations;
  std::int64_t x = guess.x.value_or(lo);
  BITNET_ASSIGN_OR_RETURN(Usage u, f(x));
  ++r.evaluations;
  constexpr int kSteps = 2;  // the approximation is within a unit or two of the answer
  if (usage_fits(u, budget)) {
    // Up while x + 1 fits too.
    for (int step = 0; x < hi; ++step) {
      if (step == kSteps) {
        BITNET_ASSIGN_OR_RETURN(MaxSolve rest, solve_max(x, hi, f, budget));
        rest.evaluations += r.evaluations;
        return rest;
      }
      BITNET_ASSIGN_OR_RETURN(Usage un, f(x + 1));
      ++r.evaluations;
      if (!usage_fits(un, budget)) {
        r.x = x;
        r.at_x = std::move(u);
        r.at_next = std::move(un);
        return r;
      }
      ++x;
      u = std::move(un);
    }
    r.x = hi;  // bounded by hi
    r.at_x = std::move(u);
    return r;
  }
  // Down until something fits (lo not fitting: none does).
  for (int step = 0; x > lo; ++step) {
    if (step == kSteps) {
      BITNET_ASSIGN_OR_RETURN(MaxSolve rest, solve_max(lo, x - 1, f, budget));
      rest.evaluations += r.evaluations;
      if (rest.x && !rest.at_next && *rest.x == x - 1) rest.at_next = std::move(u);  // x was over
      return rest;
    }
    BITNET_ASSIGN_OR_RETURN(Usage ub, f(x - 1));
    ++r.evaluations;
    if (usage_fits(ub, budget)) {
      r.x = x - 1;
      r.at_x = std::move(ub);
      r.at_next = std::move(u);
      return r;
    }
    --x;
    u = std::move(ub);
  }
  r.at_x = std::move(u);  // lo does not fit
  return r;
}

}  // namespace bitnet::detail
