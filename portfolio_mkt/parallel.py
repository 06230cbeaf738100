"""Independent solves in parallel: local processes (joblib) or a Dask cluster.

Frontier chunks, scenarios and bootstrap resamples are independent solves of similar problems.
:func:`map_solves` runs a function over items and returns the results in the order of the
items, whatever ran where:

* ``backend="sequential"`` -- a plain loop in this process;
* ``backend="loky"`` (the default, alias ``"processes"``) -- joblib's local worker processes;
* ``backend="threading"`` -- joblib threads (solvers release the GIL only partly);
* ``backend="dask"`` -- the current ``dask.distributed`` client (``Client(...)`` created
  before the call), or pass the ``Client`` itself as ``backend``.

Items are grouped into contiguous *chunks*; a chunk is the unit shipped to a worker, so large
arguments bound into ``fn`` travel once per chunk and a worker can compile a problem once per
chunk (:func:`map_chunks`). Chunking depends only on the items and ``chunk_size``, never on the
backend, so a Dask run returns exactly what the local run returns.

A progress bar (tqdm) appears on ``sys.stderr`` when the sweep takes more than a second and
stderr is a terminal; it is silent in CI, notebooks piped to files and logs.

Examples
--------
>>> from portfolio_mkt.parallel import map_solves
>>> map_solves(abs, [-1, 2, -3], backend="sequential")
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from .exceptions import InputError

__all__ = [
    "map_solves",
    "map_chunks",
    "use_backend",
    "get_backend",
    "resolve_backend",
    "chunked",
    "show_progress",
    "BACKENDS",
]

T = TypeVar("T")
R = TypeVar("R")

#: Names accepted as ``backend`` (a ``dask.distributed.Client`` instance is accepted too).
BACKENDS = ("sequential", "loky", "processes", "threading", "dask")

_DEFAULT: contextvars.ContextVar[tuple[Any, int | None] | None] = contextvars.ContextVar(
    "portfolio_mkt_parallel_backend", default=None
)

#: Sweeps with fewer solves than this run in this process unless a backend is chosen: starting
#: worker processes (each imports numpy, pandas and cvxpy) costs more than a few solves.
MIN_PARALLEL_ITEMS = 16

#: Seconds a sweep must run before its progress bar appears.
PROGRESS_DELAY = 1.0


@contextlib.contextmanager
def use_backend(backend: Any = "loky", n_jobs: int | None = None) -> Iterator[None]:
    """Set the default backend of every sweep inside a ``with`` block.

    Parameters
    ----------
    backend : str or dask.distributed.Client, default "loky"
        One of :data:`BACKENDS`, or a Dask client.
    n_jobs : int, optional
        Default number of workers for joblib backends (``None``: all cores).

    Examples
    --------
    >>> from portfolio_mkt.parallel import use_backend, get_backend
    >>> with use_backend("sequential"):
    ...     get_backend()
    ('sequential', None)
    """
    _check_backend(backend)
    token = _DEFAULT.set((backend, n_jobs))
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def get_backend() -> tuple[Any, int | None]:
    """The default ``(backend, n_jobs)`` in effect (see :func:`use_backend`)."""
    return _DEFAULT.get() or ("loky", None)


def resolve_backend(
    backend: Any, n_jobs: int | None, n_items: int, min_items: int | None = None
) -> tuple[Any, int | None]:
    """The backend a sweep of ``n_items`` solves uses.

    An explicit ``backend`` wins; then the one set with :func:`use_backend`; otherwise local
    processes (``"loky"``) when there are at least ``min_items`` solves
    (:data:`MIN_PARALLEL_ITEMS` by default), else ``"sequential"``.

    Parameters
    ----------
    backend : str, Client or None
        The caller's choice.
    n_jobs : int or None
        The caller's number of workers.
    n_items : int
        Number of solves in the sweep.
    min_items : int, optional
        Threshold for going parallel by default.

    Returns
    -------
    tuple
        ``(backend, n_jobs)``.

    Examples
    --------
    >>> resolve_backend(None, None, 3)
    ('sequential', None)
    >>> resolve_backend(None, None, 200)
    ('loky', None)
    """
    if backend is not None:
        _check_backend(backend)
        return backend, n_jobs
    ctx = _DEFAULT.get()
    if ctx is not None:
        return ctx[0], n_jobs if n_jobs is not None else ctx[1]
    threshold = MIN_PARALLEL_ITEMS if min_items is None else min_items
    return ("loky" if n_items >= threshold else "sequential"), n_jobs


def show_progress(progress: bool | None) -> bool:
    """Whether a progress bar should be drawn.

    Parameters
    ----------
    progress : bool or None
        ``True`` forces a bar, ``False`` suppresses it, ``None`` draws one only when
        ``sys.stderr`` is a terminal.

    Returns
    -------
    bool
    """
    if progress is None:
        try:
            return bool(sys.stderr.isatty())
        except (AttributeError, ValueError):
            return False
    return bool(progress)


def chunked(items: Sequence[T], chunk_size: int) -> list[list[T]]:
    """Split ``items`` into contiguous lists of at most ``chunk_size`` items.

    Parameters
    ----------
    items : sequence
        The items, in order.
    chunk_size : int
        Positive maximum length of a chunk.

    Returns
    -------
    list of list

    Examples
    --------
    >>> chunked([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer; got {chunk_size}.")
    return [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]


def map_solves(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    backend: Any = None,
    n_jobs: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> list[R]:
    """Apply ``fn`` to every item, in parallel, and return the results in item order.

    Parameters
    ----------
    fn : callable
        ``fn(item) -> result``. Must be picklable for process and Dask backends (module-level
        functions and ``functools.partial`` of them are; lambdas work through cloudpickle).
        Exceptions raised by ``fn`` propagate; catch them inside ``fn`` to keep a failed item
        as a result (the sweeps of this package do, and record a status).
    items : sequence
        The inputs, one solve each.
    backend : str or dask.distributed.Client, optional
        ``"sequential"``, ``"loky"``/``"processes"`` (local processes), ``"threading"``,
        ``"dask"`` (the current distributed client), or a ``Client``. Default: the backend of
        :func:`use_backend`, else ``"loky"``.
    n_jobs : int, optional
        Workers for joblib backends (``-1`` or ``None``: all cores). Ignored by Dask.
    chunk_size : int, optional
        Items per task. Default: the items split evenly into about four tasks per worker
        (``n_jobs`` workers locally, at least 2), which keeps results independent of the
        backend for a given ``n_jobs``.
    progress : bool, optional
        Progress bar on stderr; by default shown only on a terminal, and only once the sweep
        has run for a second.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    list
        ``[fn(item) for item in items]``.

    Raises
    ------
    InputError
        Unknown backend, or ``"dask"`` without a running ``dask.distributed`` client.
    """
    return map_chunks(
        _Each(fn),
        items,
        backend=backend,
        n_jobs=n_jobs,
        chunk_size=chunk_size,
        progress=progress,
        desc=desc,
    )


class _Each:
    """Picklable adapter: apply a per-item function to a chunk."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, chunk: list[Any]) -> list[Any]:
        return [self.fn(item) for item in chunk]


def map_chunks(
    fn: Callable[[list[T]], list[R]],
    items: Sequence[T],
    *,
    backend: Any = None,
    n_jobs: int | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> list[R]:
    """Apply ``fn`` to contiguous chunks of ``items`` in parallel and concatenate the results.

    Use this when a worker should do set-up once per chunk -- for example compile a problem
    once and re-solve it for every item of the chunk with warm starts.

    Parameters
    ----------
    fn : callable
        ``fn(chunk: list) -> list`` with one result per item of the chunk, in order.
    items : sequence
        The inputs.
    backend, n_jobs, chunk_size, progress, desc
        As in :func:`map_solves`.

    Returns
    -------
    list
        The concatenated results, in item order.

    Raises
    ------
    InputError
        Unknown backend, missing Dask client, or ``fn`` returning the wrong number of results.

    Examples
    --------
    >>> map_chunks(lambda c: [sum(c)] * len(c), [1, 2, 3, 4], chunk_size=2,
    ...            backend="sequential")
    [3, 3, 7, 7]
    """
    items = list(items)
    if not items:
        return []
    default_backend, default_jobs = get_backend()
    if backend is None:
        backend = default_backend
        if n_jobs is None:
            n_jobs = default_jobs
    _check_backend(backend)
    workers = _effective_jobs(n_jobs)
    if chunk_size is None:
        chunk_size = max(1, math.ceil(len(items) / (4 * max(workers, 2))))
    chunks = chunked(items, int(chunk_size))
    show = show_progress(progress)

    if isinstance(backend, str) and backend == "dask" or _is_client(backend):
        nested = _run_dask(fn, chunks, backend, show, desc)
    elif backend == "sequential" or workers == 1 or len(chunks) == 1:
        nested = _run_sequential(fn, chunks, show, desc)
    else:
        name = "loky" if backend == "processes" else backend
        nested = _run_joblib(fn, chunks, name, min(workers, len(chunks)), show, desc)

    out: list[R] = []
    for chunk, res in zip(chunks, nested, strict=True):
        res = list(res)
        if len(res) != len(chunk):
            raise InputError(
                f"map_chunks: fn returned {len(res)} results for a chunk of {len(chunk)} items; "
                "return exactly one result per item, in order."
            )
        out.extend(res)
    return out


# --------------------------------------------------------------------------------------------
# backends


def _check_backend(backend: Any) -> None:
    if backend is None or _is_client(backend):
        return
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InputError(
            f"unknown parallel backend {backend!r}; use one of {', '.join(BACKENDS)} or pass a "
            "dask.distributed.Client."
        )


def _is_client(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Client" and cls.__module__.startswith("distributed")


def _effective_jobs(n_jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    if n_jobs == 0:
        raise InputError("n_jobs must not be 0; use None or -1 for all cores, 1 for none.")
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return int(n_jobs)


def _bar(total: int, show: bool, desc: str | None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        disable=not show,
        delay=PROGRESS_DELAY,
        file=sys.stderr,
        leave=False,
    )


def _run_sequential(
    fn: Callable[[list[Any]], list[Any]], chunks: list[list[Any]], show: bool, desc: str | None
) -> list[list[Any]]:
    out = []
    with _bar(sum(map(len, chunks)), show, desc) as bar:
        for chunk in chunks:
            out.append(fn(chunk))
            bar.update(len(chunk))
    return out


def _run_joblib(
    fn: Callable[[list[Any]], list[Any]],
    chunks: list[list[Any]],
    backend: str,
    n_jobs: int,
    show: bool,
    desc: str | None,
) -> list[list[Any]]:
    from joblib import Parallel, delayed

    out = []
    parallel = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator", batch_size=1)
    with _bar(sum(map(len, chunks)), show, desc) as bar:
        for chunk, res in zip(chunks, parallel(delayed(fn)(c) for c in chunks), strict=True):
            out.append(res)
            bar.update(len(chunk))
    return out


def _run_dask(
    fn: Callable[[list[Any]], list[Any]],
    chunks: list[list[Any]],
    backend: Any,
    show: bool,
    desc: str | None,
) -> list[list[Any]]:
    try:
        from distributed import as_completed, default_client
    except ImportError as exc:  # pragma: no cover - dask is a test dependency
        raise InputError(
            "backend='dask' needs dask.distributed; install it with pip install "
            "'dask[distributed]' or use backend='loky'."
        ) from exc
    if _is_client(backend):
        client = backend
    else:
        try:
            client = default_client()
        except ValueError as exc:
            raise InputError(
                "backend='dask' found no running dask.distributed client; start one first, "
                "e.g. `from dask.distributed import Client; client = Client()` (or pass the "
                "Client itself as backend)."
            ) from exc
    futures = client.map(fn, chunks, pure=False)
    position = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(chunks)
    try:
        with _bar(sum(map(len, chunks)), show, desc) as bar:
            for fut in as_completed(futures):
                i = position[fut.key]
                out[i] = fut.result()
                bar.update(len(chunks[i]))
    except BaseException:
        client.cancel(futures)  # do not leave the rest of the sweep running on the cluster
        raise
    finally:
        for fut in futures:
            fut.release()
    return out
