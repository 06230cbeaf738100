"""History input: validation, the asset table and the periods x assets matrices.

A *history* is a long DataFrame with one row per (period, asset): the period, the asset id
(column ``asset``), its attributes (``market``, ``channel``, optionally ``tier``, ``creator``,
``tags`` and any others), the money spent and the outcome observed (revenue, pipeline, MQLs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels

__all__ = [
    "REQUIRED_COLUMNS",
    "validate_history",
    "asset_table",
    "pivot_history",
    "returns_matrix",
]

#: Columns every history must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("period", "asset", "market", "channel", "spend", "outcome")

#: Optional attribute columns copied to the asset table when present.
OPTIONAL_ATTRIBUTES: tuple[str, ...] = ("tier", "creator", "tags")

_NON_ATTRIBUTES = {"period", "asset", "spend", "outcome"}


def _rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray, limit: int = 5) -> str:
    """Describe the rows selected by ``mask`` as ``row 3 (period ..., asset ...)``."""
    sel = frame.loc[np.asarray(mask, dtype=bool)]
    parts = []
    for label, row in sel.head(limit).iterrows():
        bits = []
        if "period" in sel.columns:
            bits.append(f"period {row['period']}")
        if "asset" in sel.columns:
            bits.append(f"asset {row['asset']!r}")
        parts.append(f"row {label!r}" + (f" ({', '.join(bits)})" if bits else ""))
    more = len(sel) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _parse_periods(period: pd.Series, frame: pd.DataFrame) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(period):
        return period
    if pd.api.types.is_integer_dtype(period):
        return period.astype("int64")
    if isinstance(period.dtype, pd.PeriodDtype):
        return period.dt.to_timestamp()
    if pd.api.types.is_float_dtype(period):
        vals = period.to_numpy(float)
        bad = ~np.isclose(vals, np.round(vals))
        if bad.any():
            raise EstimationError(
                "history: column 'period' has non-integer numbers in "
                f"{_rows(frame, bad)}; use dates ('2024-01-01') or whole period numbers."
            )
        return period.round().astype("int64")
    text = period.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise EstimationError(
            f"history: column 'period' cannot be read as a date in {_rows(frame, bad)}; "
            "write periods as ISO dates like '2024-01-01' (or whole period numbers)."
        )
    return parsed


def validate_history(
    history: pd.DataFrame,
    *,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    """Check a spend history and return a clean copy.

    Parameters
    ----------
    history : DataFrame
        Long format, one row per (period, asset), with the columns ``period``, ``asset``,
        ``market``, ``channel``, ``spend``, ``outcome`` and optionally ``tier``, ``creator``,
        ``tags`` and any other attribute columns.
    required : sequence of str
        Columns that must be present.

    Returns
    -------
    DataFrame
        A copy with ``period`` parsed (datetime64 or int64), ``spend`` and ``outcome`` as
        float, list-valued attributes (tags) as ``';'``-separated strings, sorted by period
        (stable: the input order within a period), with a fresh RangeIndex.

    Raises
    ------
    EstimationError
        Not a DataFrame or empty; missing columns; NaN or infinite values in a required
        column; negative spend; non-numeric spend or outcome; unparseable periods; duplicate
        (period, asset) rows; an asset whose attributes change between rows. The message
        names the rows (index labels of the input) and suggests a fix.

    Examples
    --------
    >>> h = pd.DataFrame({"period": ["2024-01-01", "2024-01-08"], "asset": ["a", "a"],
    ...                   "market": "US", "channel": "search", "spend": [10.0, 12.0],
    ...                   "outcome": [30.0, 33.0]})
    >>> validate_history(h)["period"].dt.year.tolist()
    [2024, 2024]
    """
    if not isinstance(history, pd.DataFrame):
        raise EstimationError(
            f"history must be a pandas DataFrame (long format); got {type(history).__name__}. "
            "Read it with pd.read_csv(...) first."
        )
    if len(history) == 0:
        raise EstimationError("history is empty; it needs at least one row per asset.")
    missing = [c for c in required if c not in history.columns]
    if missing:
        raise EstimationError(
            f"history is missing the column(s) {format_labels(missing)}; it needs "
            f"{format_labels(required)} (rename yours, e.g. df.rename(columns={{'date': "
            "'period'}}))."
        )
    frame = history.copy()
    for col in required:
        bad = frame[col].isna().to_numpy()
        if bad.any():
            raise EstimationError(
                f"history: column {col!r} is missing (NaN) in {_rows(frame, bad)}; fill or "
                "drop these rows."
            )
    for col in ("spend", "outcome"):
        if col not in frame.columns:
            continue
        num = pd.to_numeric(frame[col], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            raise EstimationError(
                f"history: column {col!r} is not a number in {_rows(frame, bad)}; remove "
                "currency signs and thousands separators."
            )
        vals = num.to_numpy(float)
        bad = ~np.isfinite(vals)
        if bad.any():
            raise EstimationError(
                f"history: column {col!r} is infinite in {_rows(frame, bad)}; fix or drop "
                "these rows."
            )
        frame[col] = vals
    if "spend" in frame.columns:
        bad = frame["spend"].to_numpy() < 0
        if bad.any():
            raise EstimationError(
                f"history: negative spend in {_rows(frame, bad)}; spend must be >= 0 "
                "(record refunds as lower spend in the same period)."
            )
    if "period" in frame.columns:
        frame["period"] = _parse_periods(frame["period"], frame)
    if "asset" in frame.columns:
        frame["asset"] = frame["asset"].astype(str)
    if "period" in frame.columns and "asset" in frame.columns:
        dup = frame.duplicated(["period", "asset"], keep=False).to_numpy()
        if dup.any():
            raise EstimationError(
                f"history has duplicate (period, asset) rows: {_rows(frame, dup)}; aggregate "
                "them first, e.g. df.groupby(['period', 'asset'], as_index=False).sum()."
            )
        attrs = [c for c in frame.columns if c not in _NON_ATTRIBUTES]
        for col in attrs:
            if frame[col].dtype == object and any(
                isinstance(v, (list, tuple, set)) for v in frame[col].to_numpy()
            ):
                # list-valued attributes (tags): store as ';'-separated strings
                frame[col] = frame[col].map(
                    lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple, set)) else v
                )
            nun = frame.groupby("asset", sort=False)[col].nunique(dropna=False)
            bad_assets = nun.index[nun > 1]
            if len(bad_assets):
                raise EstimationError(
                    f"history: attribute {col!r} changes between rows of asset(s) "
                    f"{format_labels(bad_assets)}; an asset id must keep one {col} (split it "
                    "into two asset ids)."
                )
        frame = frame.sort_values("period", kind="stable")
    return frame.reset_index(drop=True)


def asset_table(history: pd.DataFrame) -> pd.DataFrame:
    """The attributes of each asset, indexed by asset id (order of first appearance).

    Parameters
    ----------
    history : DataFrame
        A history as accepted by :func:`validate_history`.

    Returns
    -------
    DataFrame
        Index ``asset``; columns ``market``, ``channel`` and every other attribute column
        (``tier``, ``creator``, ``tags`` ...).
    """
    return _asset_table(validate_history(history))


def _asset_table(frame: pd.DataFrame) -> pd.DataFrame:
    attrs = [c for c in frame.columns if c not in _NON_ATTRIBUTES]
    order = pd.unique(frame.sort_values("period", kind="stable")["asset"])
    table = frame.drop_duplicates("asset").set_index("asset")[attrs]
    table = table.loc[list(order)]
    table.index.name = "asset"
    return table


def pivot_history(history: pd.DataFrame, value: str = "spend") -> pd.DataFrame:
    """One column of the history as a periods x assets matrix (NaN where no row).

    Parameters
    ----------
    history : DataFrame
        A history as accepted by :func:`validate_history`.
    value : {"spend", "outcome"}
        Which column.

    Returns
    -------
    DataFrame
        Index: every period of the history (sorted); columns: asset ids in the order of
        :func:`asset_table`.
    """
    return _pivot(validate_history(history), value)


def _pivot(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    assets = _asset_table(frame).index
    wide = frame.pivot(index="period", columns="asset", values=value)
    wide = wide.reindex(columns=assets).sort_index()
    wide.columns.name = "asset"
    return wide.astype(float)


def returns_matrix(history: pd.DataFrame) -> pd.DataFrame:
    """Outcome per unit of spend, periods x assets, NaN where unobserved.

    A period is kept as long as one asset was observed in it: an asset with a short or
    gappy history (a new creator) simply has NaN in the periods it lacks, and zero-spend
    rows give NaN (the return per unit is undefined there).

    Parameters
    ----------
    history : DataFrame
        A history as accepted by :func:`validate_history`.

    Returns
    -------
    DataFrame
        Index: periods (sorted); columns: asset ids.

    Examples
    --------
    >>> h = pd.DataFrame({"period": [1, 1, 2], "asset": ["a", "b", "a"],
    ...                   "market": "US", "channel": "search",
    ...                   "spend": [10.0, 5.0, 20.0], "outcome": [30.0, 5.0, 50.0]})
    >>> returns_matrix(h).to_numpy().tolist()
    [[3.0, 1.0], [2.5, nan]]
    """
    frame = validate_history(history)
    spend = _pivot(frame, "spend")
    outcome = _pivot(frame, "outcome")
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = outcome / spend.where(spend > 0)
    return ret
