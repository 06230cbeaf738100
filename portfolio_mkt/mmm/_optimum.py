"""Fast equal-marginal-return allocation over concave curves (an oracle for many draws)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["allocate_concave"]


def _spend_at_slope(curve: Any, slope: float, cap: float) -> float:
    if float(curve.derivative(0.0)) <= slope:
        return 0.0
    if float(curve.derivative(cap)) >= slope:
        return cap
    lo, hi = 0.0, cap
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(curve.derivative(mid)) > slope:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def allocate_concave(curves: Mapping[str, Any], budget: float) -> pd.Series:
    """Spend the whole budget where the next unit earns the most (concave curves only).

    Bisection on the common marginal return ``lambda``: each asset spends until its marginal
    return falls to ``lambda``; ``lambda`` is set so the spends add up to the budget. This is
    the optimum of ``max sum_i r_i(x_i)`` s.t. ``sum x_i = budget, x >= 0`` (KKT), without a
    conic solver, so it is cheap enough to re-solve for every parameter draw.

    Parameters
    ----------
    curves : mapping
        Asset id -> concave curve with ``derivative``.
    budget : float
        Money to allocate.

    Returns
    -------
    Series
        Spend per asset.
    """
    ids = list(curves)
    top = max(float(curves[a].derivative(0.0)) for a in ids)
    lo, hi = 0.0, top
    for _ in range(80):
        lam = 0.5 * (lo + hi)
        total = sum(_spend_at_slope(curves[a], lam, budget) for a in ids)
        if total > budget:
            lo = lam
        else:
            hi = lam
    x = pd.Series({a: _spend_at_slope(curves[a], hi, budget) for a in ids})
    gap = budget - x.sum()
    if gap > 0:  # share what is left (flat curves) by marginal return
        d = pd.Series({a: float(curves[a].derivative(x[a])) for a in ids})
        x[d.idxmax()] += gap
    return x
