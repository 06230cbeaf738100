"""Atomic output files: a reader never sees a half-written table, figure or report."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_table", "figure_png"]


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The temporary file is flushed, synced and renamed over ``path`` with :func:`os.replace`,
    which is atomic on POSIX and Windows: an interrupted run leaves either the old file or the
    new one, never a truncated one.

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    out = [write_text_atomic(directory / f"{stem}.csv", frame.to_csv())]
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
