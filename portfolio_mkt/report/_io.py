"""Atomic output files: a reader never sees a half-written table, figure or report."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_table", "figure_png",
           "neutralise_formulas", "csv_safe"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(value: Any) -> Any:
    """Prefix a string that a spreadsheet would run as a formula with a single quote.

    OWASP's rule for CSV injection: a text cell beginning with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return is prefixed with ``'`` so it is shown as text. Numbers (including
    negative ones) and every other value are returned unchanged.

    Parameters
    ----------
    value : object
        A cell, a column name or an index label.

    Returns
    -------
    object
        ``value``, or ``"'" + value`` for a dangerous string.

    Examples
    --------
    >>> neutralise_formulas("=HYPERLINK(1)"), neutralise_formulas(-3.5)
    ("'=HYPERLINK(1)", -3.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are neutralised.

    Parameters
    ----------
    frame : DataFrame
        The table.

    Returns
    -------
    DataFrame
        Same shape and numbers; only strings that start like a formula changed.
    """
    out = frame.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(neutralise_formulas)
    out.columns = _safe_index(out.columns)
    out.index = _safe_index(out.index)
    return out


def _safe_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(
            [tuple(neutralise_formulas(v) for v in t) for t in index],
            names=[neutralise_formulas(n) for n in index.names])
    if pd.api.types.is_numeric_dtype(index):
        return index.rename(neutralise_formulas(index.name))
    return pd.Index([neutralise_formulas(v) for v in index], name=neutralise_formulas(index.name),
                    dtype=object)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The temporary file is flushed, synced and renamed over ``path`` with :func:`os.replace`,
    which is atomic on POSIX and Windows: an interrupted run leaves either the old file or the
    new one, never a truncated one. The file's mode follows the umask (``0666 & ~umask``);
    the temporary file's name carries the process id, so a later run removes it if this one was
    killed (see :func:`portfolio_mkt.report.clean_stale`).

    Parameters
    ----------
    path : str or Path
        Destination file; its directory is created if needed.
    data : bytes
        The content.

    Returns
    -------
    Path
        The destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: follow the umask instead
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`).

    Parameters
    ----------
    path : str or Path
        Destination file.
    text : str
        The content.

    Returns
    -------
    Path
        The destination.
    """
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_table(frame: pd.DataFrame, directory: str | Path, stem: str,
                parquet: bool = True) -> list[Path]:
    """Write a table as ``<stem>.csv`` and ``<stem>.parquet``, each atomically.

    The CSV is for spreadsheets: text cells that would run as formulas are neutralised (see
    :func:`neutralise_formulas`) and numbers are cleaned of noise (``-0.0``, values within
    ``1e-9`` of a whole unit of money). The Parquet file keeps the exact values.

    Parameters
    ----------
    frame : DataFrame
        The table.
    directory : str or Path
        Output directory.
    stem : str
        File name without extension.
    parquet : bool, default True
        Also write Parquet (needs pyarrow; skipped quietly when it is missing).

    Returns
    -------
    list of Path
        The files written.
    """
    directory = Path(directory)
    out = [write_text_atomic(directory / f"{stem}.csv", csv_safe(_denoise(frame)).to_csv())]
    if parquet:
        try:
            buf = io.BytesIO()
            clean = frame.copy()
            clean.columns = [str(c) for c in clean.columns]
            for col in clean.columns:
                if clean[col].dtype == object:
                    clean[col] = clean[col].map(lambda v: None if v is None else str(v))
            clean.to_parquet(buf)
        except ImportError:  # pragma: no cover - pyarrow is a test dependency
            return out
        out.append(write_bytes_atomic(directory / f"{stem}.parquet", buf.getvalue()))
    return out


def _denoise(frame: pd.DataFrame) -> pd.DataFrame:
    """Round away solver noise for the CSV: 479999.999909 -> 480000, 2.2e-13 -> 0, -0.0 -> 0."""
    import numpy as np

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_float_dtype(s):
            v = s.to_numpy(dtype=float, copy=True)
            scale = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 0.0
            tiny = np.abs(v) <= 1e-9 * max(scale, 1.0)
            v[tiny] = 0.0
            near = np.isfinite(v) & (np.abs(v - np.round(v)) <= 1e-9 * np.maximum(np.abs(v), 1.0))
            near &= np.abs(v) >= 1.0
            v[near] = np.round(v[near])
            out[col] = v + 0.0
    return out


def figure_png(fig: Any, dpi: int = 90) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default 90
        Resolution.

    Returns
    -------
    bytes
        The PNG image.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
