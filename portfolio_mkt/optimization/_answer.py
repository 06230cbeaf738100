"""The answer of a solve: the independent constraint check and the explained Allocation."""

from __future__ import annotations

import warnings
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from ..problem import Problem
from ..status import normalize_status
from ._allocation import Allocation
from ._program import Program, RawResult

__all__ = ["DEFAULT_TOLERANCE", "verify", "allocation_from_raw"]

#: Constraint tolerance after the solve, as a fraction of the budget (money constraints) or of
#: the level (outcome constraints).
DEFAULT_TOLERANCE = 1e-6


_TIGHT_CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
                   "max_iter": 1000, "static_regularization_constant": 1e-10}


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
        gaps = c.helper_gaps(x, problem) if c.kind == "custom" else None
        viol = c.violation(x, problem) if gaps is None else _helper_violation(gaps, problem)
        out[c.name] = (viol, tols[c.name])
    if problem.max_risk is not None:
        out["max_risk"] = (max(np.sqrt(max(problem.variance(x), 0.0)) - problem.max_risk, 0.0),
                           tols["max_risk"])
    if problem.min_outcome is not None:
        got = problem.return_term.outcome(x).sum()
        out["min_outcome"] = (max(problem.min_outcome - got, 0.0), tols["min_outcome"])
    return out


def _helper_violation(gaps: list[tuple[Any, bool]], problem: Problem) -> float:
    """The smallest violation (money) that any values of a custom constraint's helpers allow.

    The spend is fixed; only the helper variables the constraint made of its own are free, so
    this checks the constraint at the plan, independently of the plan's solve.
    """
    scale = 1.0 / max(problem.budget, 1.0)
    s = cp.Variable(nonneg=True)
    rows = [cp.abs(scale * g) <= s if eq else scale * g <= s for g, eq in gaps]
    check = cp.Problem(cp.Minimize(s), rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check.solve(solver="CLARABEL", **_TIGHT_CLARABEL)
    except cp.error.SolverError:
        return float("inf")
    if check.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or s.value is None:
        return float("inf")
    return float(s.value) / scale


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
    # Duals: d(objective)/d(amount), objective in outcome units (variance for min_risk).
    if program.sense == "max":
        to_units = 1.0 / program.obj_scale if program.objective_kind == "utility" \
            else 1.0 / program.ret_scale
    else:
        to_units = -budget / program.var_scale  # minimising variance: value = -variance
    linear_rows = dict(program.linear_rows)

    def explain() -> dict[str, Any]:
        # the explanation (marginal values, the constraint table, per-asset duals) is built
        # when first read: a loop of solves that reads only the plan does not pay for it (and
        # the closure holds plain data, not the compiled program)
        return _explanation(problem, x, raw, checks, risk, delta, budget, to_units,
                            linear_rows)

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
        model_outcome=model_outcome,
        attempts=attempts,
        _explain=explain,
    )


def _explanation(problem: Problem, x: np.ndarray, raw: RawResult,
                 checks: dict[str, tuple[float, float]], risk: float, delta: float,
                 budget: float, to_units: float, linear_rows: dict[str, Any]
                 ) -> dict[str, Any]:
    """The explained fields of an :class:`Allocation` (see :data:`EXPLAINED`)."""
    idx = problem.index
    term = problem.return_term
    mret = term.marginal(x)
    if problem.covariance is not None:
        sx = problem.covariance_times(x)
        mrisk = sx / risk if risk > 0 else np.full(len(x), np.nan)
        mutil = mret - delta * sx / budget
    else:
        mrisk = np.full(len(x), np.nan)
        mutil = mret.copy()
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
            ser = _per_asset(c, parts, problem, sign, linear_rows.get(name))
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
    lo_dual = raw.long_only_dual
    if lo_dual is not None:
        asset_duals["long_only"] = pd.Series(-np.asarray(lo_dual) * to_units, index=idx)
    table = pd.DataFrame({k: [r[k] for r in records] for k in records[0] if k != "name"},
                         index=pd.Index([r["name"] for r in records], name="name"))
    duals_df = pd.DataFrame(asset_duals, index=idx)
    change = None if problem.current is None else pd.Series(x, index=idx) - problem.current
    report = None
    if not getattr(term, "linear", True):
        report = term.report(x)
        if isinstance(report, pd.DataFrame):
            report.index = idx
    return {
        "marginal_return": pd.Series(mret, index=idx, name="marginal_return"),
        "marginal_utility": pd.Series(mutil, index=idx, name="marginal_utility"),
        "marginal_risk": pd.Series(mrisk, index=idx, name="marginal_risk"),
        "constraints": table,
        "asset_duals": duals_df,
        "change": change,
        "response": report,
    }


def _per_asset(c: Any, parts: list[tuple[str, np.ndarray]], problem: Problem,
               sign: dict[str, float], rows: Any = None) -> pd.Series | None:
    """Sum a per-asset constraint's row duals back onto the assets they concern.

    The parts come in the order :meth:`BuildContext.add_rows` emits the constraint's
    :class:`~portfolio_mkt.constraints.LinearRows`: the equality, or the lower then the upper
    sides where they are finite.
    """
    if rows is None:
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
    return x + 0.0  # no negative zeros

