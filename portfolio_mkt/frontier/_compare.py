"""Compare two frontiers: what a strategic constraint costs in outcome and in risk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..exceptions import InputError

if TYPE_CHECKING:  # pragma: no cover
    from ._frontier import Frontier

__all__ = ["compare_frontiers", "FrontierComparison"]


def _curve(front: Frontier) -> tuple[np.ndarray, np.ndarray]:
    """Solved points sorted by risk, keeping the efficient (increasing) part."""
    ok = front.ok
    risk = front.risk[ok]
    out = front.expected_outcome[ok]
    order = np.argsort(out, kind="stable")
    risk, out = risk[order], out[order]
    keep = np.r_[True, np.diff(out) > 0]
    risk, out = risk[keep], out[keep]
    # efficient part: risk non-decreasing in outcome (the minimum-risk point starts it)
    start = int(np.argmin(risk))
    return np.maximum.accumulate(risk[start:]), out[start:]


def _interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Linear interpolation that returns NaN outside ``[xp.min(), xp.max()]``."""
    if xp.size == 0:
        return np.full(np.shape(x), np.nan)
    if xp.size == 1:
        return np.where(np.isclose(x, xp[0]), fp[0], np.nan)
    uniq, idx = np.unique(xp, return_index=True)
    val = np.interp(x, uniq, fp[idx])
    return np.where((x < uniq[0] - 1e-12 * abs(uniq[0])) | (x > uniq[-1] * (1 + 1e-12)),
                    np.nan, val)


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

    Both frontiers are interpolated linearly between their solved points (the outcome as a
    function of risk, and the risk as a function of outcome, on the efficient part).

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
    r1, o1 = _curve(with_constraint)
    r2, o2 = _curve(without)
    if r1.size == 0 or r2.size == 0:
        raise InputError("compare_frontiers: a frontier has no solved point.")
    lo, hi = max(r1.min(), r2.min()), min(r1.max(), r2.max())
    risks = np.linspace(lo, hi, n_levels) if hi >= lo else np.array([])
    ow = _interp(risks, r1, o1)
    owo = _interp(risks, r2, o2)
    er = pd.DataFrame({"risk": risks, "outcome_with": ow, "outcome_without": owo})
    er["outcome_cost"] = er["outcome_without"] - er["outcome_with"]
    er["outcome_cost_pct"] = 100.0 * er["outcome_cost"] / er["outcome_without"].abs()
    lo, hi = max(o1.min(), o2.min()), min(o1.max(), o2.max())
    outs = np.linspace(lo, hi, n_levels) if hi >= lo else np.array([])
    rw = _interp(outs, o1, r1)
    rwo = _interp(outs, o2, r2)
    eo = pd.DataFrame({"expected_outcome": outs, "risk_with": rw, "risk_without": rwo})
    eo["risk_cost"] = eo["risk_with"] - eo["risk_without"]
    with np.errstate(divide="ignore", invalid="ignore"):
        eo["risk_cost_pct"] = 100.0 * eo["risk_cost"] / eo["risk_without"].abs()
    return FrontierComparison(er, eo, with_constraint.problem.name, without.problem.name)
