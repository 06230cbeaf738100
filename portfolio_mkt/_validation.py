"""Normalise inputs in one place: scalars, dicts, Series and arrays aligned to the asset index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import AlignmentError, InputError, format_labels

__all__ = ["as_asset_series", "check_finite_number", "check_flag", "check_name",
           "check_real_values", "as_index", "split_tags"]


def _is_real(v: Any) -> bool:
    """A real number: int or float (numpy too), not a bool, a string or a complex."""
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))


def check_real_values(values: Any, field: str, labels: Any = None) -> None:
    """Raise :class:`InputError` naming ``field`` (and the labels) if a value is not a real number.

    Quoted numbers (``"100"``), booleans and complex numbers are refused rather than converted:
    a value of the wrong type is a mistake to report, not to guess.
    """
    vals = list(values)
    bad = [i for i, v in enumerate(vals) if not _is_real(v)]
    if bad:
        i = bad[0]
        where = "" if labels is None else f" for {format_labels([list(labels)[j] for j in bad])}"
        raise InputError(
            f"{field} must hold numbers{where}; got {vals[i]!r} ({type(vals[i]).__name__}). "
            "Write numbers without quotes."
        )


def check_flag(value: Any, field: str) -> bool:
    """``value`` if it is a bool (True/False), else :class:`InputError` naming ``field``."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{field} must be True or False; got {value!r}.")
    return bool(value)


def check_name(value: Any, field: str) -> str:
    """``value`` if it is a non-empty string, else :class:`InputError` naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field} must be a non-empty string (the name shown in results and "
                         f"errors); got {value!r}.")
    return value


def check_finite_number(value: Any, field: str, *, minimum: float | None = None,
                        strict: bool = False) -> float:
    """Return ``value`` as a finite float, or raise :class:`InputError` naming ``field``.

    Parameters
    ----------
    value : Any
        The number to check.
    field : str
        The field name used in the error message.
    minimum : float, optional
        Smallest allowed value.
    strict : bool, default False
        Whether ``value`` must be strictly greater than ``minimum``.

    Returns
    -------
    float
    """
    if not _is_real(value):
        raise InputError(f"{field} must be a number; got {value!r} ({type(value).__name__}).")
    out = float(value)
    if not np.isfinite(out):
        raise InputError(f"{field} must be finite; got {out}.")
    if minimum is not None:
        if strict and out <= minimum:
            raise InputError(f"{field} must be greater than {minimum:g}; got {out:g}.")
        if not strict and out < minimum:
            raise InputError(f"{field} must be at least {minimum:g}; got {out:g}.")
    return out


def as_index(ids: Any, field: str) -> pd.Index:
    """Asset ids as a unique :class:`pandas.Index`, or raise naming the duplicates."""
    index = pd.Index(ids)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()
        raise AlignmentError(
            f"{field} has duplicate asset ids: {format_labels(dup)}; each asset must appear once."
        )
    if index.hasnans:
        raise AlignmentError(f"{field} has a missing (NaN) asset id; give every asset an id.")
    return index


def as_asset_series(
    value: Any,
    index: pd.Index,
    field: str,
    *,
    default: float | None = None,
    allow_partial: bool = False,
    allow_nan: bool = False,
) -> pd.Series:
    """Align a scalar, mapping, Series or array to ``index``.

    Parameters
    ----------
    value : scalar, Mapping, Series or array-like
        The per-asset values.
    index : Index
        The problem's asset ids.
    field : str
        Name used in error messages.
    default : float, optional
        Fill for assets not mentioned when ``allow_partial`` is true.
    allow_partial : bool, default False
        Whether a mapping/Series may cover only some assets.
    allow_nan : bool, default False
        Whether NaN values are allowed (for example "no bound").

    Returns
    -------
    Series
        Float values indexed by ``index``.

    Raises
    ------
    AlignmentError
        Unknown or missing asset ids, or an array of the wrong length.
    InputError
        NaN or infinite values.
    """
    if value is None:
        if default is None:
            raise InputError(f"{field} is required.")
        return pd.Series(default, index=index, dtype=float)
    if np.isscalar(value):
        if allow_nan and _is_real(value) and np.isnan(float(value)):
            return pd.Series(np.nan, index=index, dtype=float)
        return pd.Series(check_finite_number(value, field), index=index, dtype=float)
    if isinstance(value, Mapping) and not isinstance(value, pd.Series):
        value = pd.Series(dict(value), dtype=object)
    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise InputError(f"{field} must be a Series indexed by asset id, not a DataFrame.")
        value = value.iloc[:, 0]
    if isinstance(value, pd.Series):
        if value.index.has_duplicates:
            dup = value.index[value.index.duplicated()].unique()
            raise AlignmentError(f"{field} has duplicate asset ids: {format_labels(dup)}.")
        unknown = value.index.difference(index)
        if len(unknown):
            raise AlignmentError(
                f"{field} names assets that are not in the problem: {format_labels(unknown)}; "
                "check the spelling or add them to expected_return."
            )
        missing = index.difference(value.index)
        if len(missing) and not allow_partial:
            raise AlignmentError(
                f"{field} has no value for assets {format_labels(missing)}; give a value for "
                "every asset."
            )
        if value.dtype.kind not in "iuf":
            if allow_nan:  # None means "no value" where NaN does
                value = value.map(lambda v: np.nan if v is None else v)
            check_real_values(value.to_numpy(), field, value.index)
        given = value.astype(float)
        if not allow_nan and given.isna().any():
            raise InputError(
                f"{field} has NaN for assets {format_labels(given.index[given.isna()])}; give "
                "a number, or leave the asset out of the mapping."
            )
        out = given.reindex(index)
        if len(missing):
            out = out.fillna(np.nan if default is None else default) if default is not None \
                else out
    else:
        raw = np.asarray(value)
        if raw.dtype.kind not in "iuf":
            check_real_values(raw.ravel(), field)
        arr = raw.astype(float)
        if arr.ndim != 1 or arr.shape[0] != len(index):
            raise AlignmentError(
                f"{field} has shape {arr.shape}, but the problem has {len(index)} assets; pass a "
                "Series indexed by asset id."
            )
        out = pd.Series(arr, index=index, dtype=float)
    vals = out.to_numpy()
    bad = ~np.isfinite(vals) if not allow_nan else np.isinf(vals)
    if bad.any():
        raise InputError(
            f"{field} has NaN or infinite values for assets {format_labels(index[bad])}; "
            "replace them with finite numbers."
        )
    return out


def split_tags(value: Any) -> frozenset[str]:
    """Normalise a tags cell (list, set, ``'a;b'`` or ``'a,b'`` string, NaN) to a frozenset."""
    if value is None:
        return frozenset()
    if isinstance(value, float) and np.isnan(value):
        return frozenset()
    if isinstance(value, str):
        parts = value.replace(",", ";").split(";")
        return frozenset(p.strip() for p in parts if p.strip())
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    return frozenset([str(value)])
