"""Shared helpers of the estimation subpackage (private)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels


def as_returns_frame(X: object, name: str = "returns") -> pd.DataFrame:
    """A periods x assets float DataFrame from a DataFrame or 2-D array (NaN allowed)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise EstimationError(
                f"{name} must be a 2-D periods x assets matrix; got {arr.ndim} dimension(s). "
                "Build it with portfolio_mkt.estimation.returns_matrix(history)."
            )
        frame = pd.DataFrame(arr)
    try:
        frame = frame.astype(float)
    except (TypeError, ValueError) as exc:
        raise EstimationError(
            f"{name} must hold numbers (outcome per unit spend); a column is not numeric: {exc}."
        ) from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise EstimationError(
            f"{name} is empty ({frame.shape[0]} periods x {frame.shape[1]} "
            "assets); it needs at least one period and one asset."
        )
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()].unique()
        raise EstimationError(f"{name} has duplicate asset columns: {format_labels(dup)}.")
    vals = frame.to_numpy()
    if np.isinf(vals).any():
        cols = frame.columns[np.isinf(vals).any(axis=0)]
        raise EstimationError(
            f"{name} has infinite values for assets {format_labels(cols)}; returns are "
            "undefined at zero spend - use NaN there (returns_matrix does)."
        )
    return frame


def effective_n(values: np.ndarray) -> float:
    """Effective sample size of a (possibly gappy) series, from its lag-1 autocorrelation.

    ``n (1 - rho) / (1 + rho)`` with ``rho`` estimated on consecutive observed pairs and
    clipped to ``[0, 0.9]``; NaN entries are gaps.
    """
    x = np.asarray(values, dtype=float)
    obs = ~np.isnan(x)
    n = int(obs.sum())
    if n < 3:
        return float(n)
    xc = x - np.nanmean(x)
    pair = obs[1:] & obs[:-1]
    if pair.sum() < 2:
        return float(n)
    num = np.sum(xc[1:][pair] * xc[:-1][pair]) / pair.sum()
    den = np.nanmean(xc**2)
    rho = float(np.clip(num / den, 0.0, 0.9)) if den > 0 else 0.0
    return n * (1 - rho) / (1 + rho)


def effective_n_columns(values: np.ndarray) -> np.ndarray:
    """:func:`effective_n` of every column of a periods x assets matrix, as array operations.

    Equal to ``[effective_n(values[:, j]) for j in ...]`` up to the order of summation
    (1e-12 relative); no Python loop over assets.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise EstimationError("effective_n_columns needs a 2-D periods x assets matrix.")
    obs = ~np.isnan(x)
    n = obs.sum(axis=0)
    out = n.astype(float)
    if x.shape[0] < 2:
        return out
    safe_n = np.maximum(n, 1)
    mean = np.where(obs, x, 0.0).sum(axis=0) / safe_n
    xc = np.where(obs, x - mean, 0.0)
    pair = obs[1:] & obs[:-1]
    n_pair = pair.sum(axis=0)
    num = np.where(pair, xc[1:] * xc[:-1], 0.0).sum(axis=0) / np.maximum(n_pair, 1)
    den = (xc**2).sum(axis=0) / safe_n
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(den > 0, np.clip(num / den, 0.0, 0.9), 0.0)
    use = (n >= 3) & (n_pair >= 2)
    return np.where(use, n * (1 - rho) / (1 + rho), out)


def ewma_weights(n_periods: int, halflife: float) -> np.ndarray:
    """Weights ``0.5 ** (age / halflife)`` of periods 0..n-1 (the last is age 0)."""
    if not halflife > 0:
        raise EstimationError(f"halflife must be positive (in periods); got {halflife}.")
    age = np.arange(n_periods)[::-1]
    return 0.5 ** (age / float(halflife))
