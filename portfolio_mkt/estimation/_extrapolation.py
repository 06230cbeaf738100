"""Keep recommendations where the fitted curves were observed.

A response curve fitted to spend between 10k and 40k a week says little about 150k: beyond the
observed range the plan rests on the curve family, not on data. The guard caps each asset at a
stated multiple of the largest spend it was ever observed at (a named
:class:`~portfolio_mkt.Bounds` constraint, so the result says which assets sit at the cap and
what the cap costs), and lists the assets whose recommendation extrapolates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, InputError, format_labels
from ._history import pivot_history, validate_history

__all__ = [
    "EXTRAPOLATION_CAP",
    "observed_spend_range",
    "extrapolation_bounds",
    "extrapolating_assets",
]

#: Name of the constraint made by :func:`extrapolation_bounds`.
EXTRAPOLATION_CAP = "extrapolation_cap"


def _check_multiple(multiple: float) -> float:
    try:
        m = float(multiple)
    except (TypeError, ValueError):
        m = float("nan")
    if not np.isfinite(m) or m <= 0:
        raise InputError(
            f"extrapolation_limit must be a positive multiple of the largest observed spend "
            f"(e.g. 2.0), or None to disable the cap; got {multiple!r}."
        )
    return m


def observed_spend_range(history: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Smallest positive, typical and largest spend per asset observed in the history.

    Parameters
    ----------
    history : DataFrame
        Long history (``period``, ``asset``, ``spend``, ...).
    horizon : int, default 1
        Periods per plan: amounts are per-period spend times ``horizon`` (the plan's units).

    Returns
    -------
    DataFrame
        Indexed by asset: ``min_spend`` (smallest positive), ``median_spend``, ``max_spend``
        and ``n_periods`` (periods with a row).
    """
    h = int(horizon)
    if h < 1:
        raise InputError(f"horizon must be a positive number of periods; got {horizon!r}.")
    spend = pivot_history(validate_history(history), "spend")
    pos = spend.where(spend > 0)
    return pd.DataFrame({
        "min_spend": pos.min() * h,
        "median_spend": spend.median() * h,
        "max_spend": spend.max() * h,
        "n_periods": spend.notna().sum(),
    })


def extrapolation_bounds(
    history: pd.DataFrame,
    multiple: float = 2.0,
    *,
    horizon: int = 1,
    name: str = EXTRAPOLATION_CAP,
) -> list[Any]:
    """Upper bounds at ``multiple`` x each asset's largest observed spend.

    Parameters
    ----------
    history : DataFrame
        Long history.
    multiple : float, default 2.0
        Cap as a multiple of the largest per-period spend observed for the asset (> 0).
    horizon : int, default 1
        Periods per plan (the cap is ``multiple * max spend * horizon``).
    name : str, default "extrapolation_cap"
        Name of the constraint (it appears in the allocation's constraint report).

    Returns
    -------
    list of Constraint
        One :class:`~portfolio_mkt.Bounds` (empty list for an empty history); add it to the
        problem's constraints.

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> h = simulate_history(random_state=0, n_monte_carlo=100).history
    >>> [c.name for c in extrapolation_bounds(h, 2.0)]
    ['extrapolation_cap']
    """
    from ..constraints import Bounds  # noqa: PLC0415

    m = _check_multiple(multiple)
    rng = observed_spend_range(history, horizon)
    if rng.empty:
        return []
    return [Bounds(upper=(m * rng["max_spend"]).rename(name), name=name)]


def extrapolating_assets(
    history: pd.DataFrame,
    spend: pd.Series,
    multiple: float = 1.0,
    *,
    horizon: int = 1,
) -> pd.DataFrame:
    """Assets whose recommended spend lies beyond what the history observed.

    Parameters
    ----------
    history : DataFrame
        Long history.
    spend : Series
        Recommended spend per plan by asset id (e.g. ``allocation.spend``).
    multiple : float, default 1.0
        An asset extrapolates when its spend exceeds ``multiple`` x its largest observed spend
        (1.0: anything beyond the observed range; 2.0: beyond the default cap).
    horizon : int, default 1
        Periods per plan.

    Returns
    -------
    DataFrame
        One row per extrapolating asset (sorted by ``ratio``, largest first): ``spend``,
        ``max_spend`` (observed, in plan units), ``ratio`` (spend / max_spend; inf for an
        asset never observed with spend) - empty when nothing extrapolates.

    Raises
    ------
    EstimationError
        If ``spend`` is not a Series or names assets absent from the history.
    """
    m = _check_multiple(multiple)
    if not isinstance(spend, pd.Series):
        raise EstimationError(
            "extrapolating_assets: spend must be a pandas Series of spend by asset id (e.g. "
            f"allocation.spend); got {type(spend).__name__}."
        )
    rng = observed_spend_range(history, horizon)
    unknown = spend.index.difference(rng.index)
    if len(unknown):
        raise EstimationError(
            f"extrapolating_assets: assets {format_labels(unknown)} are not in the history; "
            "every recommended asset must have been observed."
        )
    mx = rng["max_spend"].reindex(spend.index).fillna(0.0)
    s = spend.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mx > 0, s / mx, np.where(s > 0, np.inf, 0.0))
    out = pd.DataFrame({"spend": s, "max_spend": mx, "ratio": ratio}, index=spend.index)
    tol = 1e-6 * max(float(s.abs().max()), 1.0)
    out = out[s > m * mx + tol]
    return out.sort_values("ratio", ascending=False)
