"""Fast equal-marginal-return allocation over concave curves (an oracle for many draws)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["allocate_concave"]


def allocate_concave(curves: Mapping[str, Any], budget: float, *,
                     grid_size: int = 4001) -> pd.Series:
    """Spend the whole budget where the next unit earns the most (concave curves only).

    Bisection on the common marginal return ``lambda``: each asset spends until its marginal
    return falls to ``lambda``; ``lambda`` is set so the spends add up to the budget. This is
    the optimum of ``max sum_i r_i(x_i)`` s.t. ``sum x_i = budget, x >= 0`` (KKT), without a
    conic solver, so it is cheap enough to re-solve for every parameter draw. Each curve's
    marginal return is tabulated once on a grid of ``grid_size`` spends (denser near zero)
    and inverted by interpolation.

    Parameters
    ----------
    curves : mapping
        Asset id -> concave curve with a vectorised ``derivative``.
    budget : float
        Money to allocate.
    grid_size : int, default 4001
        Grid points per curve.

    Returns
    -------
    Series
        Spend per asset.
    """
    ids = list(curves)
    grid = float(budget) * np.linspace(0.0, 1.0, grid_size) ** 2
    # decreasing marginal returns; np.maximum.accumulate on the reversed array enforces it
    D = np.array([np.asarray(curves[a].derivative(grid), dtype=float) for a in ids])
    D = np.maximum.accumulate(D[:, ::-1], axis=1)  # increasing in reversed grid order
    rev = grid[::-1]

    def spend(lam: float) -> np.ndarray:
        return np.array([np.interp(lam, D[i], rev) for i in range(len(ids))])

    lo, hi = 0.0, float(D[:, -1].max())
    for _ in range(100):
        lam = 0.5 * (lo + hi)
        if spend(lam).sum() > budget:
            lo = lam
        else:
            hi = lam
    x = spend(hi)
    gap = budget - x.sum()
    if gap > 0:
        d = np.array([float(curves[a].derivative(x[i])) for i, a in enumerate(ids)])
        x[int(np.argmax(d))] += gap
    return pd.Series(x, index=ids)
