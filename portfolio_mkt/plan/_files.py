"""Data files named by a plan: inside the plan's folder, regular files, never echoed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._schema import Loc


class _DataFiles:
    """Reading the data files a plan names (a mixin of :class:`Plan`)."""

    def _file(self, rel: str, loc: Loc) -> Path:
        """The data file ``rel`` names, relative to the plan's folder and inside it.

        A path that resolves outside the plan's folder (``../``, absolute, or through a
        symbolic link) is refused unless the plan was loaded with ``allow_outside=True``.
        Only regular files are read (no devices, pipes or directories).
        """
        p = Path(rel).expanduser()
        if not p.is_absolute():
            p = self.base_dir / p
        try:
            real = p.resolve()
            folder = self.base_dir.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise self.source.error(loc, f"cannot resolve the path {rel}") from None
        if not self.allow_outside and not real.is_relative_to(folder):
            raise self.source.error(
                loc,
                f"the data file {rel} is outside the plan's folder ({folder}); plans may only "
                "read files next to them. Move the file into that folder, or allow it "
                "explicitly: load_plan(..., allow_outside=True), or on the command line "
                "--allow-outside-paths.",
            )
        if not real.exists():
            raise self.source.error(
                loc,
                f"file not found: {rel} (looked in {p.parent}). Paths are relative to the "
                "plan file.",
            )
        if not real.is_file():
            raise self.source.error(loc, f"{rel} is not a regular file (a folder or device)")
        return real

    def _read_csv(self, rel: str, loc: Loc, **kwargs: Any) -> pd.DataFrame:
        p = self._file(rel, loc)
        try:
            if p.suffix.lower() == ".parquet":
                return pd.read_parquet(p)
            return pd.read_csv(p, **kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            # pandas' parser messages name lines and field counts, never the file's contents
            raise self.source.error(loc, f"cannot read {rel} as CSV: {exc}") from None
        except UnicodeDecodeError:
            raise self.source.error(
                loc, f"cannot read {rel}: not UTF-8 text (is it a binary file?)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the message might quote the file: not shown
            raise self.source.error(
                loc, f"cannot read {rel} ({type(exc).__name__}); is it a CSV file?"
            ) from None


def _header_words(columns: Sequence[Any]) -> str:
    """The columns of a CSV file, named only when they look like column names.

    A file that is not a CSV table (a password file, a log) would otherwise have its first
    line echoed in the error message.
    """
    names = [str(c) for c in columns]
    if names and len(names) <= 50 and all(_COLUMN.fullmatch(c) for c in names):
        return f"it has: {', '.join(names)}"
    return "its first line is not a row of column names (is it a CSV file with a header?)"


_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,40}")
