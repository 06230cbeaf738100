"""Reading a wide frame (date, spend per channel, KPI, controls, market) into model arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels

__all__ = ["MarketData", "WideData", "read_wide", "baseline_features"]

_YEAR_DAYS = 365.25


@dataclass
class MarketData:
    """The arrays of one market, rows in time order."""

    name: str
    dates: pd.Index
    y: np.ndarray  # (T,)
    spend: np.ndarray  # (T, C)
    base: np.ndarray  # (T, B): intercept, trend, Fourier terms
    controls: np.ndarray  # (T, K)
    mean_spend: np.ndarray  # (C,)


@dataclass
class WideData:
    """All markets of a wide frame."""

    markets: list[MarketData]
    channels: list[str]
    base_names: list[str]
    control_names: list[str]
    single: bool
    period_days: float = 7.0
    extra: dict = field(default_factory=dict)


def _numeric(frame: pd.DataFrame, col: str, role: str) -> pd.Series:
    s = pd.to_numeric(frame[col], errors="coerce")
    bad = s.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise EstimationError(
            f"{role} column '{col}' has a missing or non-numeric value {frame[col].iloc[row]!r} "
            f"in row {row + 1} (first of {int(bad.sum())}); fill it (0 for no spend) or drop "
            "the row."
        )
    if not np.isfinite(s.to_numpy(float)).all():
        raise EstimationError(f"{role} column '{col}' has an infinite value; fix the data.")
    return s.astype(float)


def _control_matrix(frame: pd.DataFrame, controls: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in controls:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            cols.append(_numeric(frame, c, "control").to_numpy())
            names.append(c)
            continue
        # categorical control (events, holidays): one dummy per level except the most frequent
        levels = s.fillna("<missing>").astype(str)
        counts = levels.value_counts()
        for lev in counts.index[1:]:
            cols.append((levels == lev).to_numpy(float))
            names.append(f"{c}={lev}")
    if not cols:
        return np.zeros((len(frame), 0)), []
    return np.column_stack(cols), names


def baseline_features(
    t_days: np.ndarray, span_days: float, trend: bool, fourier_order: int
) -> tuple[np.ndarray, list[str]]:
    """Intercept, linear trend (0 to 1 over the history) and yearly Fourier terms."""
    cols = [np.ones_like(t_days)]
    names = ["intercept"]
    if trend:
        cols.append(t_days / max(span_days, 1.0))
        names.append("trend")
    for k in range(1, int(fourier_order) + 1):
        ang = 2.0 * np.pi * k * t_days / _YEAR_DAYS
        cols += [np.sin(ang), np.cos(ang)]
        names += [f"sin{k}", f"cos{k}"]
    return np.column_stack(cols), names


def read_wide(
    frame: pd.DataFrame,
    *,
    kpi: str,
    channels: Sequence[str],
    controls: Sequence[str],
    date: str | None,
    geo: str | None,
    trend: bool,
    fourier_order: int,
    origin: dict | None = None,
    require_kpi: bool = True,
) -> WideData:
    """Validate a wide frame and split it into per-market arrays.

    Raises
    ------
    EstimationError
        Missing columns, missing or negative spend, a market with too few periods.
    """
    if not isinstance(frame, pd.DataFrame):
        raise EstimationError(
            f"MediaMixModel.fit expects a pandas DataFrame (wide: one row per period), got "
            f"{type(frame).__name__}; read it with pd.read_csv."
        )
    channels = list(channels or [])
    if not channels:
        raise EstimationError("MediaMixModel: pass channels=[...] (the spend columns).")
    if len(set(channels)) != len(channels):
        raise EstimationError("MediaMixModel: a channel is listed twice in channels.")
    needed = ([kpi] if require_kpi else []) + [*channels, *controls]
    needed += ([date] if date else []) + ([geo] if geo else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise EstimationError(
            f"columns {format_labels(missing)} are not in the data; available: "
            f"{format_labels(list(frame.columns), limit=20)}. Map the names with --kpi, "
            "--channels, --controls, --date, --geo."
        )
    df = frame.reset_index(drop=True)
    if kpi in df.columns:
        y_all = _numeric(df, kpi, "KPI")
    else:
        y_all = pd.Series(np.full(len(df), np.nan))
    spend_all = pd.DataFrame({c: _numeric(df, c, "spend") for c in channels})
    neg = (spend_all < 0).to_numpy()
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise EstimationError(
            f"spend column '{channels[c]}' is negative ({spend_all.iat[r, c]!r}) in row "
            f"{r + 1}; spend must be >= 0 (record refunds as 0)."
        )
    ctrl_all, ctrl_names = _control_matrix(df, controls)
    period_days = 7.0
    if date:
        dates = pd.to_datetime(df[date], errors="coerce")
        if dates.isna().any():
            row = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise EstimationError(
                f"date column '{date}' has an unreadable value {df[date].iloc[row]!r} in row "
                f"{row + 1}; use ISO dates (2024-01-31)."
            )
        t0 = dates.min() if not origin else origin["t0"]
        t_days = ((dates - t0).dt.total_seconds() / 86400.0).to_numpy(float)
        uniq = np.unique(t_days)
        if len(uniq) > 1:
            period_days = float(np.median(np.diff(uniq)))
    else:
        dates = pd.Series(np.arange(len(df)), index=df.index)
        t_days = np.arange(len(df), dtype=float) * period_days
    groups = df[geo].astype(str) if geo else pd.Series(["all"] * len(df))
    span = float(t_days.max() - t_days.min()) if len(t_days) else 1.0
    if origin:
        span = origin["span"]
    base_all, base_names = baseline_features(t_days, span, trend, fourier_order)
    markets: list[MarketData] = []
    for name in pd.unique(groups):
        idx = np.flatnonzero((groups == name).to_numpy())
        order = idx[np.argsort(t_days[idx], kind="stable")]
        if date and pd.Index(t_days[order]).has_duplicates:
            raise EstimationError(
                f"market {name!r} has two rows for the same date; aggregate them first "
                f"(or pass --geo if the file has several markets)."
            )
        if len(order) < 12:
            raise EstimationError(
                f"market {name!r} has {len(order)} periods; the model needs at least 12 "
                "(a year of weekly data is the practical minimum)."
            )
        sp = spend_all.to_numpy(float)[order]
        markets.append(MarketData(
            name=str(name),
            dates=pd.Index(dates.to_numpy()[order]),
            y=y_all.to_numpy(float)[order],
            spend=sp,
            base=base_all[order],
            controls=ctrl_all[order],
            mean_spend=sp.mean(axis=0),
        ))
    extra = {"t0": dates.min() if date else 0, "span": span}
    return WideData(markets, channels, base_names, ctrl_names, geo is None, period_days, extra)
