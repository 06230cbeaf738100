"""An output directory written all or nothing.

Every set of output files (tables, figures, report) is written to a fresh hidden sibling
directory and then swapped in for the target in one step, under a lock, so that

* a reader never sees a mix of two runs: concurrent runs into the same ``--out`` each swap in
  a complete set, the last one wins;
* a failed or killed run leaves the previous set untouched (all or nothing);
* files follow the user's umask, like any other tool's output;
* the leftovers of a killed run (its hidden temporary directory) are removed by the next run.

The swap uses Linux's ``renameat2(RENAME_EXCHANGE)`` when available (atomic even when the
target exists) and two renames under the lock elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ..exceptions import InputError

__all__ = ["output_directory", "MARKER", "clean_stale"]

#: File written into every output directory, so a later run knows it may replace it.
MARKER = ".portfolio-mkt-output"

_STALE = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+$")
_STALE_FILE = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-z_]+\.tmp$")
_MAX_AGE = 24 * 3600.0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(directory: Path, name: str | None = None) -> list[Path]:
    """Remove temporary directories and files left in ``directory`` by killed runs.

    A leftover is recognised by its name (it carries the writer's process id); it is removed
    when that process no longer runs or the leftover is more than a day old.

    Parameters
    ----------
    directory : Path
        The directory to clean (the parent of an output directory, or an output directory).
    name : str, optional
        Only leftovers of this output directory name.

    Returns
    -------
    list of Path
        What was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = _STALE.match(entry.name)
        is_dir = m is not None and (name is None or m.group("name") == name)
        if not is_dir:
            m = _STALE_FILE.match(entry.name)
            if m is None:
                continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > _MAX_AGE
        except OSError:
            continue
        if _alive(int(m.group("pid"))) and not old:
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    res = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if res == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: not supported here
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the swap is two renames
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {target}: a file with this name exists; give a directory")
    if target.is_dir():
        entries = [e for e in os.listdir(target) if e != MARKER]
        if entries and not (target / MARKER).exists():
            raise InputError(
                f"--out {target}: the directory holds files portfolio-mkt did not write "
                f"({', '.join(sorted(entries)[:3])}{', ...' if len(entries) > 3 else ''}); "
                "the whole directory is replaced by each run, so give a new or empty directory"
            )


@contextlib.contextmanager
def output_directory(target: str | Path) -> Iterator[Path]:
    """Write a set of output files all or nothing.

    Yields a fresh temporary directory next to ``target``; write every file there. When the
    ``with`` block ends without an error, the temporary directory replaces ``target`` in one
    step; on an error (or a kill) ``target`` is left as it was and the temporary directory is
    removed (or cleaned up by the next run).

    Parameters
    ----------
    target : str or Path
        The output directory. It must be new, empty, or written by portfolio-mkt before
        (it then holds the marker file ``.portfolio-mkt-output``).

    Yields
    ------
    Path
        The directory to write into.

    Raises
    ------
    InputError
        ``target`` is a file, or a directory holding other files.
    """
    target = Path(target).absolute()
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _check_target(target)
    clean_stale(parent, target.name)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = parent / f".{target.name}.tmp-{token}"
    os.mkdir(tmp)  # mode 0o777 & ~umask, like any other directory the user creates
    try:
        (tmp / MARKER).write_text("written by portfolio-mkt; replaced as a whole by each run\n",
                                  encoding="utf-8")
        yield tmp
        for f in tmp.iterdir():  # data reaches the disk before the swap makes it visible
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        with _lock(parent / f".{target.name}.lock"):
            _check_target(target)
            if not target.exists():
                os.rename(tmp, target)
            elif _exchange(tmp, target):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous set
            else:
                old = parent / f".{target.name}.old-{token}"
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
