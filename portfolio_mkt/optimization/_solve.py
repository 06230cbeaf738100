"""solve(): cheap feasibility checks, solver choice with fallback, verification, explanation."""

from __future__ import annotations

import warnings
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

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
from ._program import Program, RawResult, compile_problem

__all__ = ["solve", "check_feasibility", "verify", "diagnose_infeasibility",
           "DEFAULT_TOLERANCE", "allocation_from_raw"]

#: Constraint tolerance after the solve, as a fraction of the budget (money constraints) or of
#: the level (outcome constraints).
DEFAULT_TOLERANCE = 1e-6

_INFEASIBLE = {cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE}


# ---------------------------------------------------------------------------- pre-checks
def check_feasibility(problem: Problem) -> None:
    """Cheap checks that find conflicting constraints before any solver runs.

    Parameters
    ----------
    problem : Problem

    Raises
    ------
    InfeasibleError
        Naming the constraints in conflict (locks over budget, floors over 100%, a floor on a
        group whose assets are capped below it, lower bounds above upper bounds ...).
    """
    n, budget = problem.n_assets, problem.budget
    tol = DEFAULT_TOLERANCE * budget
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    lo_src: list[list[str]] = [[] for _ in range(n)]
    hi_src: list[list[str]] = [[] for _ in range(n)]
    for c in problem.constraints:
        b = c.implied_bounds(problem)
        if b is None:
            continue
        clo, chi = b
        for i in np.flatnonzero(clo > tol):
            lo_src[i].append(c.name)
        for i in np.flatnonzero(np.isfinite(chi)):
            hi_src[i].append(c.name)
        lo = np.maximum(lo, clo)
        hi = np.minimum(hi, chi)
    bad = np.flatnonzero(lo > hi + tol)
    if len(bad):
        i = bad[0]
        names = sorted(set(lo_src[i]) | set(hi_src[i]))
        raise InfeasibleError(
            f"plan '{problem.name}' is infeasible: for asset {problem.index[i]!r} the "
            f"constraints {format_labels(names)} require at least {lo[i]:,.2f} and at most "
            f"{hi[i]:,.2f}. Relax one of them.",
            conflicts=names,
        )
    if lo.sum() > budget + tol:
        names = sorted({s for src in lo_src for s in src}) + ["budget"]
        raise InfeasibleError(
            f"plan '{problem.name}' is infeasible: the constraints {format_labels(names[:-1])} "
            f"commit {lo.sum():,.2f}, more than the budget of {budget:,.2f}. Raise the budget "
            "or reduce the commitments.",
            conflicts=names,
        )
    if problem.budget_mode == "exact" and hi.sum() < budget - tol:
        names = sorted({s for src in hi_src for s in src}) + ["budget"]
        raise InfeasibleError(
            f"plan '{problem.name}' is infeasible: the constraints {format_labels(names[:-1])} "
            f"allow at most {hi.sum():,.2f} in total, less than the budget of {budget:,.2f} "
            "that must be spent. Loosen the caps or use budget_mode='cap'.",
            conflicts=names,
        )
    for c in problem.constraints:
        if c.kind not in ("group_floor", "group_cap"):
            continue
        mask = c.group_mask(problem)
        amount = c._money_amount(problem)
        if c.kind == "group_floor":
            if amount > budget + tol:
                raise InfeasibleError(
                    f"plan '{problem.name}' is infeasible: floor '{c.name}' asks for "
                    f"{amount:,.2f}, more than the budget of {budget:,.2f}.",
                    conflicts=[c.name, "budget"],
                )
            room = hi[mask].sum()
            if amount > room + tol:
                names = sorted({s for i in np.flatnonzero(mask) for s in hi_src[i]})
                raise InfeasibleError(
                    f"plan '{problem.name}' is infeasible: floor '{c.name}' asks for "
                    f"{amount:,.2f} on its group, but {format_labels(names)} allow at most "
                    f"{room:,.2f} there.",
                    conflicts=[c.name, *names],
                )
        else:
            need = lo[mask].sum()
            if need > amount + tol:
                names = sorted({s for i in np.flatnonzero(mask) for s in lo_src[i]})
                raise InfeasibleError(
                    f"plan '{problem.name}' is infeasible: cap '{c.name}' allows {amount:,.2f} "
                    f"on its group, but {format_labels(names)} commit {need:,.2f} there.",
                    conflicts=[c.name, *names],
                )


def diagnose_infeasibility(problem: Problem) -> InfeasibleError:
    """Find which named constraints must be relaxed, and by how much, for a feasible plan.

    Every named constraint (and the budget and risk/outcome targets) gets a non-negative slack;
    the total slack is minimised. Constraints left with slack are the ones in conflict.

    Parameters
    ----------
    problem : Problem

    Returns
    -------
    InfeasibleError
        With ``conflicts`` (names) and ``slack`` (name -> relaxation in money, or in the
        constraint's own unit for outcome and risk targets).
    """
    prog = compile_problem(problem, relax=True)
    raw = prog.solve_with("CLARABEL", warm_start=False)
    if raw.w is None:
        return InfeasibleError(
            f"plan '{problem.name}' is infeasible and the relaxation could not be solved "
            f"({raw.status}); check the constraints "
            f"{format_labels([c.name for c in problem.constraints])}.",
            conflicts=[c.name for c in problem.constraints],
        )
    slack: dict[str, float] = {}
    for owner, vars_ in prog.ctx.slacks.items():
        total = float(sum(np.sum(np.abs(v.value)) for v in vars_ if v.value is not None))
        if total > 1e-7:
            if owner == "max_risk":
                slack[owner] = float(np.sqrt(total)) * problem.budget
            else:
                slack[owner] = total * problem.budget
    conflicts = sorted(slack, key=lambda k: -slack[k])
    detail = "; ".join(f"'{k}' by {v:,.2f}" for k, v in ((k, slack[k]) for k in conflicts))
    return InfeasibleError(
        f"plan '{problem.name}' is infeasible: the constraints {format_labels(conflicts)} "
        f"cannot all hold. The smallest relaxation that makes the plan feasible relaxes {detail}. "
        "Loosen one of them.",
        conflicts=conflicts,
        slack=slack,
    )


# ---------------------------------------------------------------------------- verification
def _tolerances(problem: Problem, tolerance: float) -> dict[str, float]:
    tol_money = tolerance * problem.budget
    tols = {c.name: tol_money for c in problem.constraints}
    for c in problem.constraints:
        if c.kind == "response_floor":
            tols[c.name] = tolerance * max(abs(c.level), 1.0)
        elif c.kind == "custom":
            tols[c.name] = tolerance * max(problem.budget, 1.0)
    tols["budget"] = tol_money
    tols["long_only"] = tol_money
    if problem.max_risk is not None:
        tols["max_risk"] = tolerance * problem.max_risk
    if problem.min_outcome is not None:
        tols["min_outcome"] = tolerance * max(abs(problem.min_outcome), 1.0)
    return tols


def verify(problem: Problem, spend: np.ndarray, tolerance: float = DEFAULT_TOLERANCE
           ) -> dict[str, tuple[float, float]]:
    """Check every constraint at ``spend`` in NumPy, independently of the solver.

    Parameters
    ----------
    problem : Problem
    spend : ndarray
        Money per asset, in the problem's asset order.
    tolerance : float, default 1e-6
        Relative tolerance (fraction of the budget for money constraints).

    Returns
    -------
    dict
        name -> (violation, tolerance) for every constraint, including ``budget``,
        ``long_only``, ``max_risk`` and ``min_outcome`` where present.
    """
    x = np.asarray(spend, dtype=float)
    tols = _tolerances(problem, tolerance)
    out: dict[str, tuple[float, float]] = {}
    total = x.sum()
    if problem.budget_mode == "exact":
        out["budget"] = (abs(total - problem.budget), tols["budget"])
    else:
        out["budget"] = (max(total - problem.budget, 0.0), tols["budget"])
    out["long_only"] = (float(max(-x.min(), 0.0)), tols["long_only"])
    for c in problem.constraints:
        out[c.name] = (c.violation(x, problem), tols[c.name])
    if problem.max_risk is not None:
        out["max_risk"] = (max(np.sqrt(max(problem.variance(x), 0.0)) - problem.max_risk, 0.0),
                           tols["max_risk"])
    if problem.min_outcome is not None:
        got = problem.return_term.outcome(x).sum()
        out["min_outcome"] = (max(problem.min_outcome - got, 0.0), tols["min_outcome"])
    return out


# ---------------------------------------------------------------------------- result
def allocation_from_raw(program: Program, raw: RawResult, attempts: list[dict[str, Any]],
                        checks: dict[str, tuple[float, float]],
                        problem: Problem | None = None) -> Allocation:
    """Turn a verified solver result into an :class:`Allocation`.

    ``problem`` defaults to the program's; pass the scenario problem when the program's
    Parameters were changed to represent it.
    """
    problem = program.problem if problem is None else problem
    budget = program.budget
    idx = problem.index
    x = _clean(raw.w, budget)
    term = problem.return_term
    outcome = float(term.outcome(x).sum())
    model_outcome = float(term.model_outcome(x).sum())
    var = max(problem.variance(x), 0.0)
    risk = float(np.sqrt(var))
    delta = problem.risk_aversion if problem.objective == "utility" else 0.0
    utility = outcome - delta / (2 * budget) * var
    mret = term.marginal(x)
    if problem.covariance is not None:
        sx = problem.covariance_times(x)
        mrisk = sx / risk if risk > 0 else np.full(len(x), np.nan)
        mutil = mret - delta * sx / budget
    else:
        mrisk = np.full(len(x), np.nan)
        mutil = mret.copy()
    # Duals: d(objective)/d(amount), objective in outcome units (variance for min_risk).
    if program.sense == "max":
        to_units = 1.0 / program.ret_scale
    else:
        to_units = -budget / program.var_scale  # minimising variance: value = -variance
    sign = {"ge": -1.0, "le": 1.0, "eq": 1.0}
    owners = ["budget"] + [c.name for c in problem.constraints]
    if problem.max_risk is not None:
        owners.append("max_risk")
    if problem.min_outcome is not None:
        owners.append("min_outcome")
    kinds = {c.name: c for c in problem.constraints}
    records = []
    asset_duals: dict[str, pd.Series] = {}
    for name in owners:
        parts = raw.duals.get(name, [])
        vec = np.concatenate([sign[s] * d for s, d in parts]) if parts else np.zeros(1)
        if name in kinds and kinds[name].kind == "custom":
            vec = vec * budget
        if name == "max_risk":
            # d objective / d max_risk = dual on the variance target * d(target)/d(max_risk)
            vec = vec * 2 * problem.max_risk / budget ** 2 * budget
        vec = vec * to_units
        if name in kinds and kinds[name].kind == "shift_limit":
            # the amount of a shift limit is the width of the band: widening it moves the lower
            # bound down and the upper bound up, so both sides' values count as gains
            vec = np.abs(vec)
        dual = float(vec[np.argmax(np.abs(vec))]) if vec.size else 0.0
        c = kinds.get(name)
        if c is not None and c.kind in ("bounds", "lock", "shift_limit", "roster"):
            # per-asset duals, aligned to the assets they concern
            ser = _per_asset(c, parts, problem, sign)
            if ser is not None:
                asset_duals[name] = ser * to_units
        viol, tol = checks.get(name, (0.0, 0.0))
        active = _is_active(name, c, x, problem, budget)
        scale_ref = 1e-7 * (np.abs(mret).max() if np.abs(mret).max() > 0 else 1.0)
        records.append({
            "name": name,
            "kind": c.kind if c is not None else name,
            "strategic": bool(c.strategic) if c is not None else False,
            "description": c.describe(problem) if c is not None else _builtin_text(name, problem),
            "dual": dual,
            "active": active,
            "binding": bool(active and abs(dual) > scale_ref),
            "violation": viol,
            "tolerance": tol,
            "unit_amount": c.unit_amount(problem) if c is not None else 1.0,
        })
    lo_dual = program.long_only.dual_value
    if lo_dual is not None:
        asset_duals["long_only"] = pd.Series(-np.asarray(lo_dual) * to_units, index=idx)
    table = pd.DataFrame.from_records(records).set_index("name")
    duals_df = pd.DataFrame(asset_duals, index=idx)
    change = None if problem.current is None else pd.Series(x, index=idx) - problem.current
    report = None
    if not getattr(term, "linear", True):
        report = term.report(x)
        if isinstance(report, pd.DataFrame):
            report.index = idx
    return Allocation(
        problem=problem,
        spend=pd.Series(x, index=idx, name="spend"),
        shares=pd.Series(x / budget, index=idx, name="share"),
        expected_outcome=outcome,
        risk=risk,
        utility=float(utility),
        status=normalize_status(raw.status),
        solver=raw.solver,
        solve_time=float(sum(a["time"] for a in attempts)),
        marginal_return=pd.Series(mret, index=idx, name="marginal_return"),
        marginal_utility=pd.Series(mutil, index=idx, name="marginal_utility"),
        marginal_risk=pd.Series(mrisk, index=idx, name="marginal_risk"),
        constraints=table,
        asset_duals=duals_df,
        change=change,
        response=report,
        model_outcome=model_outcome,
        attempts=attempts,
    )


def _per_asset(c: Any, parts: list[tuple[str, np.ndarray]], problem: Problem,
               sign: dict[str, float]) -> pd.Series | None:
    """Sum a per-asset constraint's row duals back onto the assets they concern.

    The parts come in the order :meth:`BuildContext.add_rows` emits the constraint's
    :class:`~portfolio_mkt.constraints.LinearRows`: the equality, or the lower then the upper
    sides where they are finite.
    """
    rows = c.linear_rows(problem)
    if rows is None or rows.assets is None:
        return None
    if rows.equal:
        sels = [rows.assets]
    else:
        sels = [rows.assets[np.isfinite(rows.lower)], rows.assets[np.isfinite(rows.upper)]]
    sels = [sel for sel in sels if len(sel)]
    out = np.zeros(problem.n_assets)
    for (s, d), sel in zip(parts, sels, strict=False):
        if d.size == len(sel):
            out[sel] += sign[s] * d
    return pd.Series(out, index=problem.index)


def _is_active(name: str, c: Any, x: np.ndarray, problem: Problem, budget: float) -> bool:
    tol = 1e-6 * budget
    if c is None:
        if name == "budget":
            return bool(problem.budget_mode == "exact" or abs(x.sum() - budget) <= tol)
        if name == "max_risk":
            return bool(np.sqrt(problem.variance(x)) >= problem.max_risk * (1 - 1e-6))
        if name == "min_outcome":
            got = problem.return_term.outcome(x).sum()
            return bool(got <= problem.min_outcome + 1e-6 * max(abs(problem.min_outcome), 1))
        return False
    if c.kind == "lock" and not c.minimum:
        return True
    if c.kind == "custom":
        return True
    if c.kind in ("group_floor", "group_cap"):
        total = x[c.group_mask(problem)].sum()
        return bool(abs(total - c._money_amount(problem)) <= tol)
    if c.kind == "lock":
        pos, vals = c._amounts(problem)
        return bool((np.abs(x[pos] - vals) <= tol).any())
    if c.kind == "turnover":
        moved = np.abs(x - problem.current.to_numpy()).sum()
        return bool(moved >= c._money_limit(problem) - tol)
    if c.kind == "response_floor":
        from ..constraints import select_assets

        got = problem.return_term.outcome(x)[select_assets(problem, c.where, c.name)].sum()
        return bool(got <= c.level + 1e-6 * max(abs(c.level), 1.0))
    b = c.implied_bounds(problem)
    if b is not None:
        lo, hi = b
        return bool(((np.abs(x - lo) <= tol) & (lo > 0)).any() or (np.abs(x - hi) <= tol).any())
    return False


def _builtin_text(name: str, problem: Problem) -> str:
    return {
        "budget": ("budget: spend exactly " if problem.budget_mode == "exact"
                   else "budget: spend at most ") + f"{problem.budget:,.0f}",
        "max_risk": f"risk limit: standard deviation at most {problem.max_risk or 0:,.4g}",
        "min_outcome": f"outcome target: expected outcome at least {problem.min_outcome or 0:,.4g}",
    }.get(name, name)


def _clean(w: np.ndarray, budget: float) -> np.ndarray:
    """Money spend from shares, with solver round-off below zero set to zero."""
    x = np.asarray(w, dtype=float) * budget
    tiny = (x < 0) & (x > -1e-7 * budget)
    x[tiny] = 0.0
    return x


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
    if solver is not None:
        s = solver.upper()
        if s not in cp.installed_solvers():
            raise InputError(
                f"solver {solver!r} is not installed; installed: {cp.installed_solvers()}."
            )
        return [s] + (["CLARABEL"] if s != "CLARABEL" else [])
    if program.is_lp:
        # a linear objective: an LP solver ends at the vertex at once (OSQP would crawl)
        return ["HIGHS", "CLARABEL"] if "HIGHS" in cp.installed_solvers() else ["CLARABEL"]
    return ["OSQP", "CLARABEL"] if program.is_qp else ["CLARABEL", "SCS"]


def solve(problem: Problem, solver: str | None = None, *, verify_result: bool = True,
          tolerance: float = DEFAULT_TOLERANCE, program: Program | None = None) -> Allocation:
    """Solve ``problem`` for the allocation that best trades expected outcome against risk.

    OSQP solves the quadratic program (linear returns) by default; Clarabel solves programs
    with cones (response curves, a risk limit) and is the fallback when OSQP fails or returns
    an answer that does not pass the constraint check. Every constraint is checked at the
    returned allocation.

    Parameters
    ----------
    problem : Problem
        The problem to solve.
    solver : str, optional
        Force a solver ("OSQP", "CLARABEL", "SCS" ...); Clarabel remains the fallback.
    verify_result : bool, default True
        Check every constraint at the answer and raise if one is violated beyond tolerance.
    tolerance : float, default 1e-6
        Relative tolerance of the check (fraction of the budget for money constraints).
    program : Program, optional
        A compiled program to re-use: the caller has set its Parameters (``risk_aversion``,
        ``set_budget``, ``term.parameter`` for expected returns ...) so that it represents
        ``problem`` (for example ``base.replace(budget=...)``); the answer is checked and
        explained against ``problem``.

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
    check_feasibility(problem)
    prog = program if program is not None else compile_problem(problem)
    if abs(prog.budget - problem.budget) > 1e-12 * problem.budget:
        raise InputError(
            f"the compiled program is set for a budget of {prog.budget:,.2f} but the problem "
            f"has {problem.budget:,.2f}; call program.set_budget(problem.budget) first."
        )
    attempts: list[dict[str, Any]] = []
    best: tuple[RawResult, dict[str, tuple[float, float]]] | None = None
    infeasible = False
    for s in _solver_order(prog, solver):
        raw = prog.solve_with(s)
        attempts.append({"solver": s, "status": raw.status, "time": raw.solve_time,
                         "message": raw.message})
        if raw.status in _INFEASIBLE:
            infeasible = True
            continue
        if raw.w is None or raw.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            continue
        checks = verify(problem, _clean(raw.w, prog.budget), tolerance)
        ok = all(v <= t for v, t in checks.values())
        if raw.status == cp.OPTIMAL and ok:
            best = (raw, checks)
            break
        if best is None or (ok and not all(v <= t for v, t in best[1].values())):
            best = (raw, checks)
    if best is None:
        if infeasible:
            raise diagnose_infeasibility(problem)
        detail = "; ".join(f"{a['solver']}: {a['status']} {a['message']}".strip()
                           for a in attempts)
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
    if raw.status == cp.OPTIMAL_INACCURATE:
        warnings.warn(
            f"{raw.solver} marked the solution of plan '{problem.name}' inaccurate; every "
            "constraint was checked and holds within tolerance.",
            InaccurateSolutionWarning,
            stacklevel=2,
        )
    return allocation_from_raw(prog, raw, attempts, checks, problem)
