"""map_solves / map_chunks: order, chunking, backends, Dask LocalCluster == local."""

from __future__ import annotations

import functools
import io
import sys

import numpy as np
import pytest

from portfolio_mkt.exceptions import InputError
from portfolio_mkt.parallel import (
    chunked,
    get_backend,
    map_chunks,
    map_solves,
    resolve_backend,
    show_progress,
    use_backend,
)


def _qp_solve(seed: int) -> np.ndarray:
    """A small seeded least-squares solve: deterministic, cheap, numerically non-trivial."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(30, 8))
    b = rng.normal(size=30)
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _chunk_tag(chunk: list[int]) -> list[tuple[int, int]]:
    # each result records the chunk's first item: proves chunks are contiguous and ordered
    return [(x, chunk[0]) for x in chunk]


def _boom(x: int) -> int:
    if x == 3:
        raise ZeroDivisionError("item 3")
    return x


def test_sequential_preserves_order_and_values():
    items = list(range(11))
    assert map_solves(lambda x: x * x, items, backend="sequential") == [x * x for x in items]
    assert map_solves(abs, [], backend="sequential") == []


def test_chunked_is_contiguous():
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(InputError):
        chunked([1], 0)


def test_map_chunks_hands_contiguous_chunks_in_order():
    out = map_chunks(_chunk_tag, list(range(10)), chunk_size=4, backend="sequential")
    assert out == [(x, (x // 4) * 4) for x in range(10)]


def test_map_chunks_rejects_wrong_length():
    with pytest.raises(InputError, match="one result per item"):
        map_chunks(lambda c: c[:-1], [1, 2, 3], chunk_size=3, backend="sequential")


def test_unknown_backend_and_zero_jobs():
    with pytest.raises(InputError, match="unknown parallel backend"):
        map_solves(abs, [1], backend="spark")
    with pytest.raises(InputError, match="n_jobs"):
        map_solves(abs, [1, 2], backend="loky", n_jobs=0)


def test_dask_without_client_is_a_clear_error():
    distributed = pytest.importorskip("distributed")
    try:
        distributed.default_client()
        pytest.skip("a default dask client is already running")
    except ValueError:
        pass
    with pytest.raises(InputError, match="no running dask.distributed client"):
        map_solves(abs, [1, 2], backend="dask")


def test_exceptions_propagate():
    with pytest.raises(ZeroDivisionError):
        map_solves(_boom, list(range(5)), backend="sequential")


def test_use_backend_context():
    assert get_backend() == ("loky", None)
    with use_backend("sequential", n_jobs=1):
        assert get_backend() == ("sequential", 1)
        assert map_solves(abs, [-2, 3]) == [2, 3]
    assert get_backend() == ("loky", None)
    with pytest.raises(InputError):
        with use_backend("nope"):
            pass


def test_progress_silent_when_not_a_terminal(monkeypatch):
    fake = io.StringIO()
    monkeypatch.setattr(sys, "stderr", fake)
    assert show_progress(None) is False
    assert show_progress(True) is True
    map_solves(abs, list(range(50)), backend="sequential", progress=None)
    assert fake.getvalue() == ""


def test_progress_bar_drawn_when_forced(monkeypatch):
    import portfolio_mkt.parallel as par

    fake = io.StringIO()
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setattr(par, "PROGRESS_DELAY", 0.0)
    map_solves(abs, list(range(5)), backend="sequential", progress=True, desc="sweep")
    assert "sweep" in fake.getvalue()


def test_loky_equals_sequential():
    items = list(range(12))
    local = map_solves(_qp_solve, items, backend="loky", n_jobs=2)
    seq = map_solves(_qp_solve, items, backend="sequential")
    for a, b in zip(local, seq, strict=True):
        np.testing.assert_array_equal(a, b)
    out = map_chunks(_chunk_tag, list(range(9)), chunk_size=2, backend="loky", n_jobs=2)
    assert out == [(x, (x // 2) * 2) for x in range(9)]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # threads, not processes: robust in CI sandboxes; the tasks still go through the
    # scheduler and are pickled, exactly as on a remote cluster
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_local_cluster_equals_local_run(dask_client):
    items = list(range(12))
    local = map_solves(_qp_solve, items, backend="sequential")
    via_default = map_solves(_qp_solve, items, backend="dask")
    via_client = map_solves(_qp_solve, items, backend=dask_client, chunk_size=5)
    for a, b, c in zip(local, via_default, via_client, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    out = map_chunks(_chunk_tag, list(range(9)), chunk_size=2, backend=dask_client)
    assert out == [(x, (x // 2) * 2) for x in range(9)]
    with use_backend(dask_client):
        assert map_solves(functools.partial(pow, 2), [1, 2, 3]) == [2, 4, 8]


def test_dask_errors_propagate(dask_client):
    with pytest.raises(ZeroDivisionError):
        map_solves(_boom, list(range(5)), backend=dask_client, chunk_size=1)


def test_resolve_backend_defaults():
    assert resolve_backend(None, None, 3) == ("sequential", None)
    assert resolve_backend(None, 2, 16) == ("loky", 2)
    assert resolve_backend("threading", None, 1) == ("threading", None)
    with use_backend("threading", n_jobs=3):
        assert resolve_backend(None, None, 1) == ("threading", 3)
        assert resolve_backend(None, 1, 1) == ("threading", 1)
    with pytest.raises(InputError):
        resolve_backend("nope", None, 1)
