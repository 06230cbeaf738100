"""Compare two frontiers: what a strategic constraint costs in outcome and in risk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError

#: What this module reads of a frontier (:class:`portfolio_mkt.frontiers.Frontier`): ``ok``,
#: ``expected_outcome``, ``risk``, ``points`` and ``problem``. It does not import the class,
#: so the frontier imports its comparison and not the other way round.
Frontier = Any

__all__ = ["compare_frontiers", "FrontierComparison"]


def _curve(front: Frontier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solved efficient points sorted by outcome: outcome, variance, d variance / d outcome."""
    ok = front.ok
    out = front.expected_outcome[ok]
    var = front.risk[ok] ** 2
    delta = np.array([p.risk_aversion for p in front.points])[ok]
    kinds = np.array([p.kind for p in front.points])[ok]
    # d(risk^2)/d(outcome) = budget * 2 / delta (delta on budget shares); 0 at minimum risk
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(kinds == "min_risk", 0.0, 2.0 * front.problem.budget / delta)
    order = np.argsort(out, kind="stable")
    out, var, slope = out[order], var[order], slope[order]
    keep = np.r_[True, np.diff(out) > 1e-12 * np.abs(out[1:])]
    out, var, slope = out[keep], var[keep], slope[keep]
    start = int(np.argmin(var))  # the efficient part starts at the minimum-risk point
    return out[start:], var[start:], slope[start:]


class _Frontier1D:
    """Variance as a function of outcome (exact where the piece is quadratic) and inverse.

    Between two points of a mean-variance frontier the variance is a quadratic of the target
    outcome while the active set does not change; a cubic Hermite spline through the points
    with their slopes (read from the return-constraint multipliers) reproduces it. Without
    slopes a monotone PCHIP is used.
    """

    def __init__(self, out: np.ndarray, var: np.ndarray, slope: np.ndarray) -> None:
        from scipy.interpolate import CubicHermiteSpline, PchipInterpolator

        self.out, self.var = out, var
        if out.size < 2:
            self.f = None
        elif np.all(np.isfinite(slope)) and np.all(slope >= 0):
            self.f = CubicHermiteSpline(out, var, slope)
        else:
            self.f = PchipInterpolator(out, var)
        grid = np.linspace(out[0], out[-1], 4001) if out.size >= 2 else out
        self.grid = grid
        self.grid_var = np.maximum.accumulate(self.variance(grid))

    def variance(self, outcome: np.ndarray) -> np.ndarray:
        outcome = np.asarray(outcome, dtype=float)
        if self.f is None:
            return np.where(np.isclose(outcome, self.out[0]), self.var[0], np.nan)
        inside = (outcome >= self.out[0] - 1e-9 * abs(self.out[0])) & (
            outcome <= self.out[-1] + 1e-9 * abs(self.out[-1]))
        return np.where(inside, self.f(np.clip(outcome, self.out[0], self.out[-1])), np.nan)

    def outcome(self, variance: np.ndarray) -> np.ndarray:
        """Largest outcome with frontier variance <= ``variance`` (NaN outside the range)."""
        variance = np.asarray(variance, dtype=float)
        if self.f is None:
            return np.full(variance.shape, np.nan)
        gv, go = self.grid_var, self.grid
        uniq, idx = np.unique(gv, return_index=True)
        res = np.interp(variance, uniq, go[idx])
        tol = 1e-9 * max(abs(gv[-1]), 1e-300)
        return np.where((variance < gv[0] - tol) | (variance > gv[-1] + tol), np.nan, res)


@dataclass
class FrontierComparison:
    """The cost of a constraint read off two frontiers (with and without it).

    Attributes
    ----------
    at_equal_risk : DataFrame
        For risk levels both frontiers reach: ``risk, outcome_with, outcome_without,
        outcome_cost`` (without - with, outcome units) and ``outcome_cost_pct``.
    at_equal_outcome : DataFrame
        For outcome levels both reach: ``expected_outcome, risk_with, risk_without,
        risk_cost`` (with - without) and ``risk_cost_pct``.
    """

    at_equal_risk: pd.DataFrame
    at_equal_outcome: pd.DataFrame
    name_with: str = "with"
    name_without: str = "without"

    def summary(self) -> str:
        """Plain-language summary: typical and largest cost in outcome and in risk."""
        lines = [f"Frontier '{self.name_with}' against '{self.name_without}':"]
        er = self.at_equal_risk.dropna()
        if len(er):
            med = er["outcome_cost"].median()
            mx = er.loc[er["outcome_cost"].idxmax()]
            lines.append(
                f"- at equal risk the constraint costs {med:,.0f} of expected outcome "
                f"(median over {len(er)} risk levels); at most {mx['outcome_cost']:,.0f} "
                f"({mx['outcome_cost_pct']:.1f}%) at risk {mx['risk']:,.0f}."
            )
        else:
            lines.append("- the two frontiers share no risk level.")
        eo = self.at_equal_outcome.dropna()
        if len(eo):
            med = eo["risk_cost"].median()
            mx = eo.loc[eo["risk_cost"].idxmax()]
            lines.append(
                f"- at equal expected outcome it adds {med:,.0f} of risk (median over "
                f"{len(eo)} outcome levels); at most {mx['risk_cost']:,.0f} "
                f"({mx['risk_cost_pct']:.1f}%) at outcome {mx['expected_outcome']:,.0f}."
            )
        else:
            lines.append("- the two frontiers share no outcome level.")
        return "\n".join(lines)


def compare_frontiers(with_constraint: Frontier, without: Frontier,
                      n_levels: int = 25) -> FrontierComparison:
    """What a strategic constraint costs: two frontiers compared at equal risk and outcome.

    Both frontiers are interpolated between their solved points on the efficient part: the
    variance as a function of the expected outcome by a cubic Hermite spline through the points
    and their slopes (the return-constraint multipliers, i.e. ``2 budget / risk_aversion``), which
    is exact while the set of binding constraints does not change between two points; the
    outcome at a given risk by inverting it.

    Parameters
    ----------
    with_constraint : Frontier
        Frontier of the problem with the constraint (e.g. the RU floor).
    without : Frontier
        Frontier of the same problem without it (``problem.without("ru_floor")``).
    n_levels : int, default 25
        Number of risk levels and of outcome levels, evenly spaced over the common range.

    Returns
    -------
    FrontierComparison

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> from portfolio_mkt.examples import example_problem
    >>> p = example_problem()
    >>> cmp = pm.compare_frontiers(pm.frontier(p, 12), pm.frontier(p.without("ru_floor"), 12))
    >>> bool((cmp.at_equal_risk["outcome_cost"].dropna() >= -1e-6).all())
    True
    """
    if n_levels < 2:
        raise InputError(f"compare_frontiers: n_levels must be at least 2; got {n_levels}.")
    c1 = _curve(with_constraint)
    c2 = _curve(without)
    if c1[0].size == 0 or c2[0].size == 0:
        raise InputError("compare_frontiers: a frontier has no solved point.")
    f1, f2 = _Frontier1D(*c1), _Frontier1D(*c2)
    lo = max(c1[1].min(), c2[1].min())
    hi = min(c1[1].max(), c2[1].max())
    variances = np.linspace(lo, hi, n_levels) if hi >= lo else np.array([])
    er = pd.DataFrame({"risk": np.sqrt(variances), "outcome_with": f1.outcome(variances),
                       "outcome_without": f2.outcome(variances)})
    er["outcome_cost"] = er["outcome_without"] - er["outcome_with"]
    er["outcome_cost_pct"] = 100.0 * er["outcome_cost"] / er["outcome_without"].abs()
    lo, hi = max(c1[0].min(), c2[0].min()), min(c1[0].max(), c2[0].max())
    outs = np.linspace(lo, hi, n_levels) if hi >= lo else np.array([])
    eo = pd.DataFrame({"expected_outcome": outs, "risk_with": np.sqrt(f1.variance(outs)),
                       "risk_without": np.sqrt(f2.variance(outs))})
    eo["risk_cost"] = eo["risk_with"] - eo["risk_without"]
    with np.errstate(divide="ignore", invalid="ignore"):
        eo["risk_cost_pct"] = 100.0 * eo["risk_cost"] / eo["risk_without"].abs()
    name_with, name_without = with_constraint.problem.name, without.problem.name
    if name_with == name_without:
        dropped = sorted({c.name for c in with_constraint.problem.constraints}
                         - {c.name for c in without.problem.constraints})
        name_without = (f"{name_without} without {', '.join(dropped)}" if dropped
                        else f"{name_without} (other)")
    return FrontierComparison(er, eo, name_with, name_without)
