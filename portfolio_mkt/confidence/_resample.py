"""Block resampling of a history: period positions and the resampled history."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, InputError

__all__ = ["block_bootstrap_indices", "resample_history", "periods_of"]


def block_bootstrap_indices(
    n_periods: int,
    n_resamples: int,
    block_length: int,
    random_state: int | np.random.Generator | None = None,
    method: Literal["circular", "moving"] = "circular",
) -> np.ndarray:
    """Period positions of block-bootstrap resamples.

    Each resample concatenates blocks of ``block_length`` consecutive periods starting at
    uniformly drawn positions, truncated to ``n_periods``. ``"moving"`` draws starts among the
    ``n_periods - block_length + 1`` full blocks (Kuensch, 1989); ``"circular"`` wraps around the
    end so every period is equally likely to be drawn (Politis and Romano, 1992).

    Parameters
    ----------
    n_periods : int
        Number of periods in the history (at least 2).
    n_resamples : int
        Number of resamples (at least 1).
    block_length : int
        Periods per block, between 1 and ``n_periods``.
    random_state : int or Generator, optional
        Seed for :func:`numpy.random.default_rng`.
    method : {"circular", "moving"}, default "circular"

    Returns
    -------
    ndarray of shape (n_resamples, n_periods)
        Integer positions ``0 .. n_periods - 1``.

    Examples
    --------
    >>> block_bootstrap_indices(6, 2, 3, random_state=0).shape
    (2, 6)
    """
    if n_periods < 2:
        raise InputError(f"the bootstrap needs at least 2 periods of history; got {n_periods}.")
    if n_resamples < 1:
        raise InputError(f"n_resamples must be at least 1; got {n_resamples}.")
    if not 1 <= block_length <= n_periods:
        raise InputError(
            f"block_length must be between 1 and the number of periods ({n_periods}); got "
            f"{block_length}."
        )
    if method not in ("circular", "moving"):
        raise InputError(f"method must be 'circular' or 'moving'; got {method!r}.")
    rng = np.random.default_rng(random_state)
    n_blocks = math.ceil(n_periods / block_length)
    n_starts = n_periods if method == "circular" else n_periods - block_length + 1
    starts = rng.integers(0, n_starts, size=(n_resamples, n_blocks))
    offsets = np.arange(block_length)
    pos = (starts[:, :, None] + offsets[None, None, :]).reshape(n_resamples, -1)[:, :n_periods]
    return pos % n_periods


def periods_of(history: pd.DataFrame, period_col: str | None) -> tuple[pd.Index, np.ndarray]:
    """Sorted unique periods and each row's period position."""
    if not isinstance(history, pd.DataFrame):
        raise InputError(
            f"history must be a DataFrame (long: one row per period and asset, or wide: one row "
            f"per period); got {type(history).__name__}."
        )
    if period_col is not None and period_col in history.columns:
        values = history[period_col]
    elif period_col is None or history.index.name == period_col:
        values = pd.Series(history.index, index=history.index)
    else:
        raise EstimationError(
            f"history has no column {period_col!r}; name the period column with "
            "period_col=..., or pass period_col=None to resample the rows' index."
        )
    if values.isna().any():
        rows = list(np.flatnonzero(values.isna().to_numpy())[:8])
        raise EstimationError(
            f"history has missing periods in rows {rows}; fill or drop those rows first."
        )
    codes, uniques = pd.factorize(values, sort=True)
    return pd.Index(uniques), codes


def resample_history(
    history: pd.DataFrame, positions: np.ndarray, period_col: str | None = "period"
) -> pd.DataFrame:
    """Build one resampled history from period positions.

    The ``j``-th period of the result carries the rows of original period ``positions[j]``
    but keeps the label of the original ``j``-th period, so dates stay increasing and unique
    and any estimator (EWMA, adstock, time-series splits) sees an ordinary history.

    Parameters
    ----------
    history : DataFrame
        Long history with a ``period_col`` column, or a wide history with one row per period
        (the period in the index; ``period_col`` None or the index name).
    positions : array of int
        Positions into the sorted unique periods, one per period of the result.
    period_col : str or None, default "period"

    Returns
    -------
    DataFrame
        The resampled history (fresh RangeIndex for a long history; the period labels as the
        index for a wide one).
    """
    periods, codes = periods_of(history, period_col)
    positions = np.asarray(positions, dtype=int)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(periods))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = np.concatenate([order[starts[p] : starts[p] + counts[p]] for p in positions])
    labels = np.repeat(np.arange(len(positions)), counts[positions])
    out = history.iloc[take]
    new_labels = periods[labels]
    if period_col is not None and period_col in history.columns:
        out = out.reset_index(drop=True)
        out[period_col] = pd.Series(new_labels, index=out.index).astype(history[period_col].dtype)
    else:
        out = out.copy()
        out.index = pd.Index(new_labels, name=history.index.name)
    return out
