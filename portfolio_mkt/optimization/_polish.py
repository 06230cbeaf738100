"""Curves without a conic form solved to the exact optimum, with a proven optimality gap.

Logistic and S-shaped Hill curves (on their concave envelope) enter the program as
piecewise-linear approximations (:mod:`portfolio_mkt.response`), whose optimum is within the
approximation tolerance (about 1e-4 relative) of the exact one. :func:`polish_curves` starts
from that answer and takes Newton steps on the true curves: each step solves the same program
(every constraint, the risk term) with each such curve replaced by its second-order Taylor model
at the current spend (a concave quadratic whose coefficients are cvxpy Parameters, so the program
is compiled once). This is sequential quadratic programming with the exact Hessian; from the
piecewise-linear start it converges quadratically, in two to four steps. When the constraints do
not involve the curves, a backtracking line search on the true objective keeps every step an
improvement.

The gap is then proven: the same program with every modelled curve replaced by its tangent line
at the answer is a relaxation (a concave curve lies under each of its tangents, also inside an
outcome constraint), so its optimum ``U`` bounds the exact optimum from above, while the true
objective at the answer ``F`` bounds it from below; ``(U - F) / |F|`` is the relative gap,
exact up to the bound solve's own tolerance (about 1e-12). For S-curves the bound holds for the
envelope problem and therefore for the true curves (the envelope lies above them).

When every constraint is a linear row (bounds, caps, locks, group floors and caps; no risk
limit, outcome target or custom constraint) and every such curve is logistic or Hill, the
polish takes the direct route instead (:mod:`._newton`): the same Newton steps on the plan's own
matrices by HiGHS or Clarabel, finished by Newton's method on the KKT equations, the gap proven
by weak duality on the same tangent-line relaxation; no cvxpy program is compiled.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import cvxpy as cp
import numpy as np

from ..problem import Problem
from ._allocation import Allocation
from ._answer import DEFAULT_TOLERANCE, _clean, allocation_from_raw, verify
from ._newton import envelope_note, newton_direct, newton_route
from ._program import compile_problem

__all__ = ["polish_curves", "DEFAULT_GAP"]

#: Relative optimality gap the polish aims for.
DEFAULT_GAP = 1e-8

_SETTINGS = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
             "tol_ktratio": 1e-10, "max_iter": 500}
_USABLE = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def _modelled(problem: Problem) -> bool:
    term = problem.return_term
    if getattr(term, "linear", True) or not hasattr(term, "local_model"):
        return False
    return bool((term.methods.isin(["pwl", "envelope"])).any())


def polish_curves(problem: Problem, allocation: Allocation, *, gap: float = DEFAULT_GAP,
                  max_iter: int = 20, tolerance: float = DEFAULT_TOLERANCE,
                  direct: bool = True) -> Allocation:
    """Polish a piecewise-linear optimum to the exact optimum on the true curves.

    Parameters
    ----------
    problem : Problem
        The plan; its objective is ``"utility"`` or ``"max_return"`` (otherwise, or when no
        curve is piecewise linear, ``allocation`` is returned unchanged).
    allocation : Allocation
        The answer of :func:`portfolio_mkt.solve` for ``problem`` (the starting point).
    gap : float, default 1e-8
        Relative optimality gap to reach; Newton steps stop once the proven gap is below it.
    max_iter : int, default 20
        Largest number of Newton steps.
    tolerance : float, default 1e-6
        Constraint tolerance of the post-solve check (see :func:`portfolio_mkt.verify`).
    direct : bool, default True
        Take the direct route (no cvxpy) when the plan's constraints are all linear rows;
        ``False`` always polishes through cvxpy (as a forced solver does).

    Returns
    -------
    Allocation
        The polished allocation, every constraint verified on the true curves. Its attribute
        ``optimality_gap`` is the proven relative gap to the exact optimum (upper bound from
        tangent lines, lower bound from the objective at the answer; for S-shaped curves both on
        their concave envelopes, as the program models them); a note and the last entry of
        ``attempts`` state it too. When the polish cannot improve the answer or its
        answer fails the check, the input allocation is returned with its own proven gap.
    """
    if problem.objective not in ("utility", "max_return") or not _modelled(problem):
        return allocation
    if direct and max_iter > 0:
        # linear constraints only: Newton steps on the plan's own rows, without cvxpy
        if not newton_route(problem)[0]:
            exact = newton_direct(problem, allocation.spend.to_numpy(dtype=float), gap=gap,
                                  tolerance=tolerance, notes=allocation.notes,
                                  attempts=allocation.attempts)
            if exact is not None:
                return exact
    t0 = time.perf_counter()
    term = problem.return_term
    model_term = term.local_model()
    mproblem = copy.copy(problem)
    mproblem.__dict__["return_term"] = model_term  # the cached property, overridden
    prog = compile_problem(mproblem)
    budget = problem.budget
    delta = (problem.risk_aversion
             if problem.objective == "utility" and problem.covariance is not None else 0.0)

    def penalty(x: np.ndarray) -> float:
        return delta / (2.0 * budget) * max(problem.variance(x), 0.0) if delta else 0.0

    def merit(x: np.ndarray) -> float:  # the objective on the envelopes
        return float(term.envelope_outcome(x).sum()) - penalty(x)

    def true_value(x: np.ndarray) -> float:
        return float(term.outcome(x).sum()) - penalty(x)

    outcome_constrained = problem.min_outcome is not None or any(
        c.kind == "response_floor" for c in problem.constraints)
    x = allocation.spend.to_numpy(dtype=float).copy()
    f = merit(x)
    last = None
    steps = 0
    solver_time = 0.0
    for _ in range(int(max_iter)):
        model_term.set_point(x)
        raw = prog.solve_with("CLARABEL", warm_start=False, settings=_SETTINGS)
        solver_time += raw.solve_time
        if raw.w is None or raw.status not in _USABLE:
            break
        xn = _clean(raw.w, budget)
        step = xn - x
        fn = merit(xn)
        # the improvement the model promises: quadratic convergence makes it ~ gap squared
        promised = (float(model_term.model_value(xn).sum()) - penalty(xn)
                    - float(model_term.model_value(x).sum()) + penalty(x))
        t = 1.0
        if not outcome_constrained:
            # the feasible set does not depend on the curves: every point of the step is
            # feasible, so backtrack until the true objective does not fall
            while fn < f - 1e-14 * max(abs(f), 1.0) and t > 1e-8:
                t *= 0.5
                xn = x + t * step
                fn = merit(xn)
            if fn < f - 1e-14 * max(abs(f), 1.0):
                break
        x, f = xn, fn
        raw.w = x / budget
        last = raw
        steps += 1
        moved = float(np.max(np.abs(t * step))) if len(step) else 0.0
        settled = promised <= 1e-14 * max(abs(f), 1e-300)
        if outcome_constrained:
            # the curves shape the feasible set too: the step itself must vanish (a model
            # constraint is only second-order accurate after a visible step)
            settled = settled and moved <= 1e-9 * budget
        if moved <= 1e-11 * budget or settled:
            break
    start_bound = None
    if last is None:  # no step taken: bound the input allocation
        x = allocation.spend.to_numpy(dtype=float).copy()
    upper = _tangent_bound(prog, model_term, x, budget, penalty)
    lower = merit(x)
    proven = max(upper - lower, 0.0) / max(abs(lower), 1e-300) if upper is not None else np.inf
    overstated = lower - true_value(x)  # S-curves funded below their payback spend
    elapsed = time.perf_counter() - t0
    if last is None:
        start_bound = proven
    checks = verify(problem, x, tolerance)
    holds = all(v <= tol for v, tol in checks.values())
    if last is None or not holds:
        why = ("no Newton step improved the piecewise-linear answer" if last is None else
               "the polished answer failed the constraint check")
        note = (f"exact curves: {why}; the piecewise-linear answer is kept (proven relative "
                f"gap {start_bound if start_bound is not None else np.nan:.2g}).")
        allocation.notes.append(note)
        allocation.optimality_gap = start_bound  # type: ignore[attr-defined]
        return allocation
    attempts = list(allocation.attempts) + [{
        "solver": "CLARABEL", "status": last.status, "time": solver_time,
        "message": f"Newton polish on the true curves: {steps} step(s), proven relative gap "
                   f"{proven:.2g} in {elapsed:.3f} s",
    }]
    if proven <= gap:
        last.status = cp.OPTIMAL  # the tangent bound proves it, whatever the last step said
    alloc = allocation_from_raw(prog, last, attempts, checks, problem)
    alloc.model_outcome = float(term.envelope_outcome(x).sum())
    alloc.optimality_gap = proven  # type: ignore[attr-defined]
    alloc.notes.extend(n for n in allocation.notes if n not in alloc.notes)
    reached = "" if proven <= gap else f" (target {gap:g} not reached in {max_iter} steps)"
    alloc.notes.append(
        f"exact curves: the piecewise-linear optimum was polished on the true curves "
        f"({steps} Newton step(s)); proven relative optimality gap {proven:.2g}{reached}.")
    note = envelope_note(lower, lower - overstated)
    if note:
        alloc.notes.append(note)
    return alloc


def _tangent_bound(prog: Any, model_term: Any, x: np.ndarray, budget: float,
                   penalty: Any) -> float | None:
    """Optimum of the program with each modelled curve replaced by its tangent at ``x``."""
    model_term.set_point(x, curvature=False)
    raw = prog.solve_with("CLARABEL", warm_start=False, settings=_SETTINGS)
    if raw.w is None or raw.status not in _USABLE:
        return None
    y = np.asarray(raw.w, dtype=float) * budget  # unclipped: the relaxation's own point
    return float(model_term.model_value(y).sum()) - penalty(y)
