"""The result of the bootstrap: :class:`Confidence`, and the direction of a recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..status import is_usable

__all__ = ["Confidence", "recommendation_direction", "Direction"]

Direction = Literal["increase", "decrease", "hold"]


def recommendation_direction(
    spend: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    tolerance: float = 0.01,
    atol: float = 0.0,
) -> np.ndarray:
    """Direction of change of each asset: ``"increase"``, ``"decrease"`` or ``"hold"``.

    A change counts when it exceeds ``max(tolerance * current, atol)`` in money.

    Parameters
    ----------
    spend, current : Series or ndarray
        Recommended and current spend (same order).
    tolerance : float, default 0.01
        Relative dead band around the current spend.
    atol : float, default 0.0
        Absolute dead band in money (for assets with no current spend).

    Returns
    -------
    ndarray of str

    Examples
    --------
    >>> recommendation_direction(np.array([110.0, 95.0, 100.5]), np.array([100.0] * 3)).tolist()
    ['increase', 'decrease', 'hold']
    """
    x = np.asarray(spend, dtype=float)
    c = np.asarray(current, dtype=float)
    band = np.maximum(tolerance * np.abs(c), atol)
    out = np.full(x.shape, "hold", dtype=object)
    out[x - c > band] = "increase"
    out[c - x > band] = "decrease"
    return out


# --------------------------------------------------------------------------------------------
# the bootstrap


@dataclass
class Confidence:
    """Result of :func:`bootstrap`: point allocation, resamples, intervals and confidence.

    Attributes
    ----------
    point : Allocation
        The allocation solved on the full history.
    level : float
        Coverage of the percentile intervals (0.9 gives the 5% and 95% quantiles).
    samples : DataFrame
        One row per resample: ``status``, ``message``, ``expected_outcome`` and ``risk`` (of
        the plan re-optimised on the resample), ``plan_outcome`` and ``plan_risk`` (the
        recommended point plan valued by the resample's re-estimated model).
    spend_samples : DataFrame
        Spend per resample (rows) and asset (columns, the point allocation's assets; an asset
        the estimator dropped in a resample counts as 0). Failed resamples are NaN.
    current : Series or None
        Current spend the directions are measured against.
    table : DataFrame
        Per asset: ``current``, ``spend``, ``change``, ``lower``, ``upper``, ``direction``,
        ``confidence`` (share of successful resamples with the same direction).
    outcome : Series
        ``point``, ``lower``, ``upper``, ``mean``, ``std`` of the expected outcome.
    risk : Series
        The same for the risk (standard deviation of the outcome).
    plan_outcome : Series
        The same for the recommended plan's expected outcome under the re-estimated models:
        how far the estimate of *this* plan's outcome can be trusted (no re-optimisation,
        so no winner's curse).
    random_state : int or None
        The seed.
    block_length : int
        Periods per block.
    """

    point: Any
    level: float
    samples: pd.DataFrame
    spend_samples: pd.DataFrame
    current: pd.Series | None
    table: pd.DataFrame
    outcome: pd.Series
    risk: pd.Series
    plan_outcome: pd.Series | None = None
    random_state: Any = None
    block_length: int = 1
    tolerance: float = 0.01
    notes: list[str] = field(default_factory=list)

    @property
    def n_resamples(self) -> int:
        """Number of resamples drawn."""
        return len(self.samples)

    @property
    def n_failed(self) -> int:
        """Resamples whose estimation or solve failed (kept in :attr:`samples`)."""
        return int((~self.samples["status"].map(is_usable)).sum())

    @property
    def recommendation_confidence(self) -> pd.Series:
        """Share of resamples in which each asset's recommended direction holds."""
        return self.table["confidence"]

    def to_frame(self) -> pd.DataFrame:
        """The per-asset table (a copy)."""
        return self.table.copy()

    def plot(self, ax: Any = None, top: int | None = 20) -> Any:
        """Recommended spend per asset with its interval, and today's spend.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when omitted.
        top : int or None, default 20
            Show the assets with the largest recommended or current spend (None: all).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        t = self.table
        if top is not None and len(t) > top:
            size = np.maximum(t["spend"].to_numpy(), np.nan_to_num(t["current"].to_numpy()))
            t = t.iloc[np.argsort(-size, kind="stable")[:top]]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * len(t) + 1.2))
        y = np.arange(len(t))
        lower = np.clip(t["spend"] - t["lower"], 0, None)
        upper = np.clip(t["upper"] - t["spend"], 0, None)
        ax.errorbar(t["spend"], y, xerr=[lower, upper], fmt="o", color="C0", capsize=3,
                    label=f"recommended ({self.level:.0%} interval)")
        if self.current is not None:
            ax.plot(t["current"], y, "|", markersize=12, color="black", label="current")
        ax.set_yticks(y, [str(a) for a in t.index])
        ax.invert_yaxis()
        ax.set_xlabel("spend")
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())
        ax.legend(loc="best")
        return ax

    def summary(self) -> str:
        """Plain-language summary of the intervals and of the least certain recommendations."""
        pct = f"{self.level:.0%}"
        ok = self.n_resamples - self.n_failed
        lines = [
            f"Bootstrap over {self.n_resamples} block resamples (block of {self.block_length} "
            f"periods, seed {self.random_state}); {ok} solved.",
            f"Expected outcome {self.outcome['point']:,.0f}, {pct} interval "
            f"{self.outcome['lower']:,.0f} to {self.outcome['upper']:,.0f}.",
            f"Risk {self.risk['point']:,.0f}, {pct} interval {self.risk['lower']:,.0f} to "
            f"{self.risk['upper']:,.0f}.",
        ]
        if self.plan_outcome is not None and np.isfinite(self.plan_outcome["lower"]):
            lines.append(
                f"The recommended plan itself, valued by the re-estimated models: {pct} "
                f"interval {self.plan_outcome['lower']:,.0f} to "
                f"{self.plan_outcome['upper']:,.0f}."
            )
        if self.current is not None:
            moved = self.table[self.table["direction"] != "hold"]
            if len(moved):
                worst = moved.sort_values("confidence").head(5)
                parts = [
                    f"{a} ({r.direction}, {r.confidence:.0%})" for a, r in worst.iterrows()
                ]
                lines.append("Least certain recommendations: " + "; ".join(parts) + ".")
        lines.extend(self.notes)
        return "\n".join(lines)
