"""solve(): cheap feasibility checks, solver choice with fallback, verification, explanation."""

from __future__ import annotations

import warnings
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from .._validation import check_finite_number
from ..exceptions import (
    ConstraintViolationError,
    InaccurateSolutionWarning,
    InfeasibleError,
    InputError,
    SolverError,
    format_labels,
)
from ..problem import Problem
from ..status import normalize_status
from ._allocation import Allocation
from ._answer import (
    _TIGHT_CLARABEL,
    DEFAULT_TOLERANCE,
    _clean,
    allocation_from_raw,
    verify,
)
from ._polish import DEFAULT_GAP, polish_curves
from ._program import Program, RawResult, compile_problem, installed_solvers

__all__ = ["solve", "check_feasibility", "verify", "diagnose_infeasibility",
           "DEFAULT_TOLERANCE", "allocation_from_raw", "solve_curves_exact"]


_INFEASIBLE = {cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE}
#: statuses that carry an answer worth verifying (a time limit may stop at a usable point)
_ANSWERS = {cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.USER_LIMIT}
_TIME_LIMIT_KEY = {"OSQP": "time_limit", "CLARABEL": "time_limit", "HIGHS": "time_limit",
                   "SCS": "time_limit_secs"}


def _time_limit_settings(solver: str, time_limit: float | None) -> dict[str, Any]:
    """The solver's own time-limit option (seconds), or nothing."""
    key = _TIME_LIMIT_KEY.get(solver)
    return {} if time_limit is None or key is None else {key: float(time_limit)}


# ---------------------------------------------------------------------------- pre-checks
def check_feasibility(problem: Problem) -> None:
    """Cheap checks that find conflicting constraints before any solver runs.

    The checks only detect a conflict (locks over budget, floors over 100%, a floor on a group
    whose assets are capped below it, lower bounds above upper bounds ...); the constraints in
    conflict are then named exactly by :func:`diagnose_infeasibility`.

    Parameters
    ----------
    problem : Problem

    Raises
    ------
    InfeasibleError
        Saying why, with ``conflicts`` = the irreducible set of constraints in conflict.
    """
    n, budget = problem.n_assets, problem.budget
    tol = DEFAULT_TOLERANCE * budget
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    for c in problem.constraints:
        b = c.implied_bounds(problem)
        if b is None:
            continue
        lo = np.maximum(lo, b[0])
        hi = np.minimum(hi, b[1])
    bad = np.flatnonzero(lo > hi + tol)
    if len(bad):
        i = bad[0]
        raise _conflict(problem, f"asset {problem.index[i]!r} must get at least {lo[i]:,.2f} "
                                 f"and at most {hi[i]:,.2f}")
    if lo.sum() > budget + tol:
        raise _conflict(problem, f"the commitments add up to {lo.sum():,.2f}, more than the "
                                 f"budget of {budget:,.2f}")
    if problem.budget_mode == "exact" and hi.sum() < budget - tol:
        raise _conflict(problem, f"the caps allow at most {hi.sum():,.2f} in total, less than "
                                 f"the budget of {budget:,.2f} that must be spent (or use "
                                 "budget_mode='cap')")
    for c in problem.constraints:
        if c.kind not in ("group_floor", "group_cap"):
            continue
        mask = c.group_mask(problem)
        amount = c._money_amount(problem)
        if c.kind == "group_floor" and amount > min(budget, hi[mask].sum()) + tol:
            raise _conflict(problem, f"floor '{c.name}' asks for {amount:,.2f} on its group, "
                                     f"which can get at most {min(budget, hi[mask].sum()):,.2f}")
        if c.kind == "group_cap" and lo[mask].sum() > amount + tol:
            raise _conflict(problem, f"cap '{c.name}' allows {amount:,.2f} on its group, but "
                                     f"{lo[mask].sum():,.2f} is committed there")


def _conflict(problem: Problem, reason: str) -> InfeasibleError:
    """The exact diagnosis, with the reason a cheap check found."""
    diag = diagnose_infeasibility(problem)
    return InfeasibleError(f"plan '{problem.name}' is infeasible: {reason}. {diag.detail}",
                           conflicts=diag.conflicts, slack=diag.slack)


def diagnose_infeasibility(problem: Problem) -> InfeasibleError:
    """Find exactly which named constraints conflict, and by how much each must be relaxed.

    Every named constraint (and the budget and the risk/outcome targets) gets a non-negative
    slack whose weight in the objective is a Parameter; a constraint is removed by giving its
    slack weight 0. A deletion filter then drops, one at a time, every constraint without
    which the rest is still infeasible. What remains is an irreducible infeasible subset: the
    constraints in conflict, every one of them and only them (removing any one of them makes
    the rest feasible). For each member, the smallest relaxation of that member alone that
    makes the plan feasible is reported.

    Parameters
    ----------
    problem : Problem

    Returns
    -------
    InfeasibleError
        With ``conflicts`` (names, the irreducible subset) and ``slack`` (name -> the smallest
        relaxation of that constraint alone: money, outcome units for outcome targets, the
        standard deviation for ``max_risk``; ``inf`` when relaxing it alone is not enough
        because of another, separate conflict).
    """
    prog = compile_problem(problem, relax=True)
    weights = prog.slack_weights
    owners = list(weights)
    tol = 1e-7

    def shortfall(active: set[str], big: float = 1.0, focus: str | None = None) -> float | None:
        for o, wgt in weights.items():
            wgt.value = (1.0 if o == focus else big) if o in active else 0.0
        raw = prog.solve_with("CLARABEL", warm_start=False)
        if raw.w is None or raw.objective is None:
            return None
        return float(raw.objective)

    first = shortfall(set(owners))
    if first is None:
        names = [c.name for c in problem.constraints]
        detail = (f"The relaxation that names the conflict could not be solved; check the "
                  f"constraints {format_labels(names)}.")
        err = InfeasibleError(f"plan '{problem.name}' is infeasible. {detail}",
                              conflicts=names)
        err.detail = detail
        return err
    subset = list(owners)
    if first > tol:
        # deletion filter: the budget last, so that strategy constraints are tried first
        for name in sorted(owners, key=lambda o: o == "budget"):
            rest = set(subset) - {name}
            value = shortfall(rest)
            if value is not None and value > tol:
                subset = [o for o in subset if o != name]
    slack: dict[str, float] = {}
    for name in subset:
        value = shortfall(set(owners), big=1e6, focus=name)
        total = 0.0
        if value is not None:
            total = float(sum(np.sum(np.abs(v.value)) for v in prog.ctx.slacks[name]
                              if v.value is not None))
            others = value - total
            if others > 1e6 * tol:
                total = np.inf  # relaxing this one alone is not enough
        slack[name] = _slack_in_units(problem, name, total)
    builtin = ("budget", "max_risk", "min_outcome")
    conflicts = sorted(subset, key=lambda o: (o in builtin, owners.index(o)))
    slack = {k: slack[k] for k in conflicts}
    how = "; ".join(f"'{k}' by {v:,.2f}" for k, v in slack.items())
    detail = (f"The constraints {format_labels(conflicts)} cannot all hold (each of them is "
              f"part of the conflict); relaxing one of them is enough: {how}.")
    err = InfeasibleError(f"plan '{problem.name}' is infeasible. {detail}",
                          conflicts=conflicts, slack=slack)
    err.detail = detail
    return err


def _slack_in_units(problem: Problem, name: str, share_slack: float) -> float:
    """A slack of the relaxation (shares of the budget) in the constraint's own unit."""
    b = problem.budget
    if not np.isfinite(share_slack):
        return float("inf")
    if name == "max_risk":
        limit = problem.max_risk / b
        # sqrt(limit^2 + slack) - limit, written so that a huge limit does not overflow
        return float(share_slack / (np.hypot(limit, np.sqrt(share_slack)) + limit) * b)
    return float(share_slack * b)


# ---------------------------------------------------------------------------- verification






# ---------------------------------------------------------------------------- result










# ---------------------------------------------------------------------------- solve
def _envelope_shortfall(problem: Problem, x: np.ndarray) -> list[str]:
    """Assets funded below the spend at which their S-shaped curve starts to pay."""
    term = problem.return_term
    if getattr(term, "linear", True):
        return []
    report = term.report(x)
    if not isinstance(report, pd.DataFrame) or "below_payback" not in report.columns:
        return []
    report.index = problem.index
    return [str(a) for a in report.index[report["below_payback"].astype(bool)]]


def _explain_envelope_violation(problem: Problem, raw: RawResult, budget: float,
                                bad: dict[str, float]) -> None:
    """Raise a precise error when an outcome target fails only because of S-curve envelopes."""
    outcome_targets = {"min_outcome"} | {c.name for c in problem.constraints
                                          if c.kind == "response_floor"}
    if not set(bad) & outcome_targets:
        return
    below = _envelope_shortfall(problem, _clean(raw.w, budget))
    if below:
        raise ConstraintViolationError(
            f"plan '{problem.name}': the outcome target(s) "
            f"{format_labels(sorted(set(bad) & outcome_targets))} hold on the concave envelope "
            f"of the S-shaped curves but not on the true curves, because "
            f"{format_labels(below)} would be funded below the spend at which their curve starts "
            "to pay. Use portfolio_mkt.solve_s_curves(problem), which funds each such "
            "asset past its payback spend or not at all.",
            violations=bad,
        )


def _solver_order(program: Program, solver: str | None) -> list[str]:
    """The cvxpy solvers to try, in order (after the direct route, see :func:`_routes`)."""
    if solver is not None:
        s = solver.upper()
        if s not in installed_solvers():
            raise InputError(
                f"solver {solver!r} is not installed; installed: {installed_solvers()}."
            )
        return [s] + (["CLARABEL"] if s != "CLARABEL" else [])
    if program.is_lp:
        # a linear objective: an LP solver ends at the vertex at once (OSQP would crawl)
        return ["HIGHS", "CLARABEL"] if "HIGHS" in installed_solvers() else ["CLARABEL"]
    return ["OSQP", "CLARABEL"] if program.is_qp else ["CLARABEL", "SCS"]


def _routes(program: Program, solver: str | None, time_limit: float | None
            ) -> list[tuple[str, str, dict[str, Any]]]:
    """Every attempt of a solve: (solver, route, settings), best first.

    Routing by problem class, measured by ``benchmarks/solve_bench.py`` (docs/performance.md):
    a program with a linear return and linear constraints (no risk limit, no curves) is
    solved on the matrices the program already has, by the solver's own API (the "direct"
    route: no cvxpy canonicalisation, which is most of a small solve and seconds for a
    dense 2,000-asset covariance):

    - a linear objective (no covariance, ``risk_aversion=0``, ``max_return``): HiGHS's
      simplex, which ends exactly at the optimal vertex;
    - a dense covariance: HiGHS's active-set QP (fastest of the direct calls at every
      measured size, 100 to 2,000 assets: the many assets at a bound cost it nothing),
      then Clarabel;
    - a factor covariance: Clarabel's interior point on the sparse lifted form.

    Everything else, and every fallback, goes through cvxpy: OSQP then Clarabel for QPs,
    HiGHS then Clarabel for LPs, Clarabel then SCS for conic programs. A forced ``solver``
    skips the direct route.
    """
    out: list[tuple[str, str, dict[str, Any]]] = []
    if solver is None and program.direct_ok:
        dense = "dense" in program.problem.risk_model.arrays()
        first = ["HIGHS"] if program.is_lp else ["HIGHS", "CLARABEL"] if dense \
            else ["CLARABEL"]
        for s in first:
            out.append((s, "direct", _time_limit_settings(s, time_limit)))
    for s in _solver_order(program, solver):
        out.append((s, "cvxpy", _time_limit_settings(s, time_limit)))
    return out


def _check_solve_args(problem: Any, solver: Any, verify_result: Any, tolerance: Any,
                      time_limit: Any) -> None:
    """Strict types for :func:`solve`: the library's own errors, naming the argument."""
    if not isinstance(problem, Problem):
        raise InputError(
            f"solve needs a portfolio_mkt.Problem; got {type(problem).__name__}. Build one with "
            "pm.Problem(expected_return, covariance, budget=...)."
        )
    if solver is not None and not isinstance(solver, str):
        raise InputError(f"solver must be a solver name such as 'CLARABEL' or 'OSQP'; got "
                         f"{solver!r}.")
    if not isinstance(verify_result, (bool, np.bool_)):
        raise InputError(f"verify_result must be True or False; got {verify_result!r}.")
    tol = check_finite_number(tolerance, "tolerance", minimum=0.0, strict=True)
    if tol >= 1.0:
        raise InputError(f"tolerance is relative (1e-6 = one millionth of the budget); got {tol}.")
    if time_limit is not None:
        check_finite_number(time_limit, "time_limit", minimum=0.0, strict=True)


def solve(problem: Problem, solver: str | None = None, *, verify_result: bool = True,
          tolerance: float = DEFAULT_TOLERANCE, program: Program | None = None,
          time_limit: float | None = None, exact_curves: bool = True) -> Allocation:
    """Solve ``problem`` for the allocation that best trades expected outcome against risk.

    The solver is chosen by problem class (see ``docs/routing.md``): linear returns with
    linear constraints are solved on the program's own matrices by HiGHS (a linear objective,
    or a dense covariance) or Clarabel (a factor covariance), without cvxpy; everything else
    (response curves, a risk limit, turnover, custom constraints) goes through cvxpy to
    Clarabel (OSQP first for other QPs). When an answer fails, or does not pass the
    constraint check, the next route is tried, ending with a tighter Clarabel. Every
    constraint is checked at the returned allocation.

    Parameters
    ----------
    problem : Problem
        The problem to solve.
    solver : str, optional
        Force a solver ("OSQP", "CLARABEL", "SCS" ...), called through cvxpy; Clarabel
        remains the fallback.
    verify_result : bool, default True
        Check every constraint at the answer and raise if one is violated beyond tolerance.
    tolerance : float, default 1e-6
        Relative tolerance of the check (fraction of the budget for money constraints).
    program : Program, optional
        A compiled program to re-use for ``problem``, a variant of the compiled problem that
        differs only in values the program holds as Parameters (budget, risk aversion, risk or
        outcome target, expected returns; see :meth:`Program.can_represent`), for example
        ``base.replace(budget=...)``: its Parameters are re-valued here (no recompilation) and
        the answer is checked and explained against ``problem``.
    time_limit : float, optional
        Seconds each solver may run. An answer a solver returns at its limit is kept only if
        every constraint holds at it (status ``"time_limit"``); otherwise :class:`SolverError`
        says that the limit was reached.
    exact_curves : bool, default True
        Curves without a conic form (logistic, Hill; S-curves on their concave envelope) are
        solved piecewise linearly, then polished by Newton steps on the true curves to a proven
        relative gap of 1e-8 (``Allocation.optimality_gap``; see ``docs/curves_exact.md``).
        ``False`` keeps the piecewise answer (``optimality_gap`` None; :func:`polish_curves`
        states its gap). Re-solves through ``program`` are not polished.

    Returns
    -------
    Allocation

    Raises
    ------
    InfeasibleError
        The constraints cannot all hold; ``conflicts`` names them.
    SolverError
        No solver returned an answer.
    ConstraintViolationError
        The best answer breaks a constraint beyond tolerance.

    Examples
    --------
    >>> import pandas as pd, portfolio_mkt as pm
    >>> mu = pd.Series({"search": 3.0, "social": 2.0})
    >>> cov = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], index=mu.index, columns=mu.index)
    >>> alloc = pm.solve(pm.Problem(mu, cov, budget=1.0, risk_aversion=2.0))
    >>> alloc.shares.round(4).tolist()
    [0.75, 0.25]
    """
    _check_solve_args(problem, solver, verify_result, tolerance, time_limit)
    if not isinstance(exact_curves, bool):
        raise InputError(f"exact_curves must be True or False; got {exact_curves!r}.")
    if (exact_curves and program is None and solver is None
            and not getattr(problem.return_term, "linear", True)):
        # logistic / Hill curves with linear rows: Newton on the true curves from a chord LP,
        # no cvxpy and no piecewise program (docs/curves_exact.md); None -> the routes below
        from ._newton import newton_direct, newton_route

        if not newton_route(problem)[0]:
            alloc = newton_direct(problem, tolerance=tolerance, time_limit=time_limit)
            if alloc is not None:
                return alloc
    check_feasibility(problem)
    prog = program if program is not None else compile_problem(problem)
    if program is not None:
        if not prog.can_represent(problem):
            raise InputError(
                f"the compiled program cannot represent plan '{problem.name}': it differs in "
                f"{sorted(problem.differences(prog.problem))}, which the program holds fixed; "
                "solve without program=... (or compile_problem(problem))."
            )
        prog.update(problem)
    attempts: list[dict[str, Any]] = []
    best: tuple[RawResult, dict[str, tuple[float, float]]] | None = None
    infeasible = False

    def holds(checks: dict[str, tuple[float, float]]) -> bool:
        return all(v <= t for v, t in checks.values())

    def settled(found: tuple[RawResult, dict[str, tuple[float, float]]] | None) -> bool:
        # nothing to gain from a tighter re-solve: no answer, or a verified one that is optimal
        # (or stopped by the time limit, which a re-solve would only exceed)
        if found is None or infeasible:
            return True
        return holds(found[1]) and found[0].status in (cp.OPTIMAL, cp.USER_LIMIT)

    order = _routes(prog, solver, time_limit)
    # a last, tighter Clarabel attempt before giving up on an answer that misses by a hair, or
    # before accepting one its solver marked inaccurate
    order.append(("CLARABEL", "cvxpy", {**_time_limit_settings("CLARABEL", time_limit),
                                        **_TIGHT_CLARABEL, "_retry": True}))
    for s, route, settings in order:
        if settings.pop("_retry", False) and settled(best):
            break
        if route == "direct":
            raw = prog.solve_direct(problem, settings=settings, solver=s)
        else:
            raw = prog.solve_with(s, settings=settings)
        attempts.append({"solver": s, "status": raw.status, "time": raw.solve_time,
                         "message": raw.message, "route": route})
        if raw.status in _INFEASIBLE:
            infeasible = True
            continue
        if raw.w is None or raw.status not in _ANSWERS:
            continue
        checks = verify(problem, _clean(raw.w, prog.budget), tolerance)
        if raw.status == cp.OPTIMAL and holds(checks):
            best = (raw, checks)
            break
        if best is None or (holds(checks) and (not holds(best[1])
                                               or raw.status == cp.OPTIMAL)):
            best = (raw, checks)
    stopped = (time_limit is not None and best is not None and not holds(best[1])
               and best[0].status == cp.USER_LIMIT)
    if best is None or (infeasible and not holds(best[1])) or stopped:
        if infeasible and not stopped:
            # a solver proved infeasibility and no other answer holds: the plan is infeasible
            raise diagnose_infeasibility(problem)
        detail = "; ".join(f"{a['solver']}: {a['status']} {a['message']}".strip()
                           for a in attempts)
        if time_limit is not None and any(
                normalize_status(a["status"]) == "time_limit" for a in attempts):
            raise SolverError(
                f"no verified plan for '{problem.name}' within the time limit of "
                f"{time_limit:g} s per solver ({detail}); raise time_limit."
            )
        raise SolverError(
            f"no solver could solve plan '{problem.name}' ({detail}). Check the inputs' "
            "scale (expected returns and covariance in consistent units) or try solver='SCS'."
        )
    raw, checks = best
    bad = {k: v for k, (v, t) in checks.items() if v > t}
    if bad and verify_result:
        _explain_envelope_violation(problem, raw, prog.budget, bad)
        raise ConstraintViolationError(
            f"the solver's answer for plan '{problem.name}' breaks "
            + "; ".join(f"'{k}' by {v:.3g}" for k, v in bad.items())
            + f" (tolerance {tolerance:g} of budget/level). Tried "
            + ", ".join(f"{a['solver']} ({a['status']})" for a in attempts)
            + ". Try a different solver or rescale the inputs.",
            violations=bad,
        )
    alloc = allocation_from_raw(prog, raw, attempts, checks, problem)
    if raw.status in (cp.OPTIMAL_INACCURATE, cp.USER_LIMIT):
        why = ("stopped at the time limit" if raw.status == cp.USER_LIMIT
               else "marked the solution inaccurate")
        tried = ", ".join(f"{a['solver']} ({a['status']})" for a in attempts)
        note = (f"{raw.solver} {why} for plan '{problem.name}' (tried {tried}); every "
                "constraint was checked and holds within tolerance, but the plan may not be "
                "the best one.")
        alloc.notes.append(note)
        warnings.warn(note, InaccurateSolutionWarning, stacklevel=2)
    if exact_curves and program is None:
        alloc = polish_curves(problem, alloc, tolerance=tolerance, direct=solver is None)
    return alloc


def solve_curves_exact(problem: Problem, solver: str | None = None, *,
                       gap: float = DEFAULT_GAP, **solve_kwargs: Any) -> Allocation:
    """Solve a plan with logistic / S-shaped curves to the exact optimum (proven gap).

    When every constraint is a linear row (budget, bounds, caps, locks, group floors and caps;
    no risk limit, outcome target or custom constraint) and no ``solver`` is forced, the plan
    is solved on its own matrices without cvxpy (:func:`~._newton.newton_direct`: a chord LP,
    Newton steps by HiGHS or Clarabel, Newton's method on the KKT equations, the gap proven by
    weak duality). Otherwise, or when that route cannot prove ``gap``,
    :func:`portfolio_mkt.solve` on the piecewise-linear program, then :func:`polish_curves`.

    Parameters
    ----------
    problem : Problem
    solver : str, optional
        Solver of the piecewise-linear solve (see :func:`portfolio_mkt.solve`); forcing one
        skips the direct route.
    gap : float, default 1e-8
        Relative optimality gap to reach.
    **solve_kwargs
        Passed to :func:`portfolio_mkt.solve` (``tolerance`` and ``time_limit`` also to the
        direct route).

    Returns
    -------
    Allocation
        With ``optimality_gap`` (proven relative gap) when a curve was polished.

    Examples
    --------
    >>> import pandas as pd, portfolio_mkt as pm
    >>> from portfolio_mkt.response import Logistic
    >>> curves = {"a": Logistic(100.0, 2e-2), "b": Logistic(80.0, 3e-2)}
    >>> p = pm.Problem(pd.Series(0.0, index=list("ab")), budget=100.0, response=curves)
    >>> alloc = solve_curves_exact(p)
    >>> bool(alloc.optimality_gap < 1e-8)
    True
    """
    from ._newton import newton_direct, newton_route

    tol = solve_kwargs.get("tolerance", DEFAULT_TOLERANCE)
    if solver is None and solve_kwargs.get("program") is None:
        _check_solve_args(problem, solver, solve_kwargs.get("verify_result", True), tol,
                          solve_kwargs.get("time_limit"))
        # an infeasible plan fails the route's first LP and is diagnosed by solve below
        if not newton_route(problem)[0]:
            alloc = newton_direct(problem, gap=gap, tolerance=tol,
                                  time_limit=solve_kwargs.get("time_limit"))
            if alloc is not None:
                return alloc
    solve_kwargs["exact_curves"] = False
    alloc = solve(problem, solver=solver, **solve_kwargs)
    return polish_curves(problem, alloc, gap=gap, tolerance=tol, direct=solver is None)
