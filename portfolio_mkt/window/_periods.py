"""Periods of a planning window: validation, labels after the window, months, week references."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, format_labels

__all__ = ["as_periods", "tail_labels", "month_blocks", "resolve_weeks", "week_text"]


def week_text(label: Any) -> str:
    """A period label as people read it (``'2026-01-05'`` or ``'week 3'``)."""
    if isinstance(label, pd.Timestamp):
        return label.strftime("%Y-%m-%d")
    if isinstance(label, (int, np.integer)):
        return f"week {int(label)}"
    return str(label)


def as_periods(periods: Any, field: str = "periods") -> pd.Index:
    """Validate the periods of a window: regular, increasing, without gaps.

    Parameters
    ----------
    periods : int, sequence of int, or sequence of dates
        An int ``n`` gives weeks ``1 .. n``. Integers must be consecutive and increasing; dates
        (``Timestamp`` or parseable strings) must be increasing with one constant step.
    field : str
        Name used in error messages.

    Returns
    -------
    pd.Index
        An integer index or a ``DatetimeIndex``.

    Raises
    ------
    InputError
        Naming the first period out of order or the first missing period.
    """
    if isinstance(periods, (int, np.integer)) and not isinstance(periods, bool):
        if int(periods) < 1:
            raise InputError(f"{field}: the window needs at least one period, got {periods}.")
        return pd.RangeIndex(1, int(periods) + 1, name="week")
    if isinstance(periods, (str, bytes)) or not isinstance(periods, Iterable):
        raise InputError(
            f"{field} must be a number of weeks or a sequence of period labels (dates or "
            f"consecutive integers); got {periods!r}."
        )
    values = list(periods)
    if not values:
        raise InputError(f"{field} is empty; give at least one period.")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        idx = pd.Index([int(v) for v in values], name="week")
        step = 1
        diffs = np.diff(idx.to_numpy())
    else:
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(values), name="week")
        except (TypeError, ValueError):
            raise InputError(
                f"{field}: period labels must be dates or consecutive integers; could not read "
                f"{format_labels(values[:3])} as dates."
            ) from None
        if len(idx) == 1:
            return idx
        diffs = np.diff(idx.values)  # timedelta64
        step = diffs[0] if diffs[0] > np.timedelta64(0) else np.median(np.abs(diffs))
    if idx.has_duplicates:
        dup = idx[idx.duplicated()].unique()
        raise InputError(
            f"{field}: period {week_text(dup[0])} appears twice; each period must appear once."
        )
    for i, dv in enumerate(diffs):
        if dv <= dv * 0:
            raise InputError(
                f"{field}: periods out of order: {week_text(idx[i + 1])} comes after "
                f"{week_text(idx[i])}; sort the periods (oldest first)."
            )
        if dv != step:
            expected = (idx[i] + pd.Timedelta(step) if isinstance(idx, pd.DatetimeIndex)
                        else idx[i] + step)
            raise InputError(
                f"{field}: gap after {week_text(idx[i])}: expected {week_text(expected)} next, "
                f"got {week_text(idx[i + 1])}; periods must be regular without gaps (add the "
                "missing period with zero spend)."
            )
    return idx


def period_step(periods: pd.Index) -> Any:
    """One step between consecutive periods (1 for integers, a Timedelta for dates)."""
    if isinstance(periods, pd.DatetimeIndex):
        if len(periods) > 1:
            return periods[1] - periods[0]
        return pd.Timedelta(days=7)
    return 1


def tail_labels(periods: pd.Index, horizon: int) -> pd.Index:
    """Labels of the ``horizon`` periods after the window."""
    step = period_step(periods)
    last = periods[-1]
    labels = [last + step * (k + 1) for k in range(horizon)]
    if isinstance(periods, pd.DatetimeIndex):
        return pd.DatetimeIndex(labels, name=periods.name)
    return pd.Index(labels, dtype=int, name=periods.name)


def month_blocks(periods: pd.Index, months: Sequence[Any] | None = None) -> np.ndarray:
    """Month label of each period.

    Dates fall in the calendar month of the period's start (``'2026-01'``). Integer weeks
    follow the 4-4-5 retail calendar (weeks 1-4 month 1, 5-8 month 2, 9-13 month 3, repeating
    every 13 weeks) unless ``months`` gives one label per period.
    """
    n = len(periods)
    if months is not None:
        labels = list(months)
        if len(labels) != n:
            raise InputError(
                f"months: give one month label per period ({n}), got {len(labels)}."
            )
        return np.array(labels, dtype=object)
    if isinstance(periods, pd.DatetimeIndex):
        return np.array([p.strftime("%Y-%m") for p in periods], dtype=object)
    pattern = [1] * 4 + [2] * 4 + [3] * 5
    out = []
    for k, _ in enumerate(periods):
        cycle, pos = divmod(k, 13)
        out.append(3 * cycle + pattern[pos])
    return np.array(out, dtype=object)


def resolve_weeks(periods: pd.Index, weeks: Any, owner: str) -> np.ndarray:
    """Positions of the named weeks in the window.

    A week is named by its label (a date or an integer week); with date periods an integer
    ``k`` means the ``k``-th week of the window (1-based). ``None`` means every week.

    Raises
    ------
    InputError
        Naming the week that is not in the window.
    """
    if weeks is None:
        return np.arange(len(periods))
    if isinstance(weeks, (str, int, np.integer, pd.Timestamp)):
        weeks = [weeks]
    pos: list[int] = []
    dated = isinstance(periods, pd.DatetimeIndex)
    for w in weeks:
        if dated and isinstance(w, (int, np.integer)) and not isinstance(w, bool):
            k = int(w)
            if not 1 <= k <= len(periods):
                raise InputError(
                    f"{owner}: week {k} is outside the window (weeks 1 to {len(periods)}, "
                    f"{week_text(periods[0])} to {week_text(periods[-1])})."
                )
            pos.append(k - 1)
            continue
        label: Any = w
        if dated:
            try:
                label = pd.Timestamp(w)
            except (TypeError, ValueError):
                raise InputError(f"{owner}: cannot read week {w!r} as a date.") from None
        try:
            p = periods.get_loc(label)
        except KeyError:
            raise InputError(
                f"{owner}: {week_text(label)} is not a period of the window "
                f"({week_text(periods[0])} to {week_text(periods[-1])}); check the week."
            ) from None
        if not isinstance(p, (int, np.integer)):
            raise InputError(f"{owner}: week {w!r} is ambiguous.")
        pos.append(int(p))
    return np.array(sorted(set(pos)), dtype=int)
