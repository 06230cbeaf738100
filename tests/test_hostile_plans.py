"""Every hostile plan file in ``tests/hostile/`` loads or fails cleanly, fast, in a subprocess.

A file whose name starts with ``ok_`` must load and build its Problem (hostile strings are
valid text: escaping them is the report's job). Every other file must fail with the library's
own :class:`~portfolio_mkt.exceptions.PlanFileError` or
:class:`~portfolio_mkt.exceptions.InputError`, naming the file, without echoing data files.
Each file runs in a forked child watched for time and resident memory, so an alias bomb or a
runaway recursion fails the test instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
import traceback
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from portfolio_mkt.exceptions import InputError, PlanFileError
from portfolio_mkt.plan import load_plan

HOSTILE = Path(__file__).resolve().parent / "hostile"
FILES = sorted(p for p in HOSTILE.iterdir() if p.suffix in (".yaml", ".yml", ".toml"))
TIME_LIMIT = 8.0  # seconds per file, on a loaded machine (they take well under 1 s)
EXTRA_MEMORY = 1 << 30  # bytes of resident memory a child may add to the parent's


def _rss(pid: int) -> int:
    """Resident memory of a process, in bytes (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


def _child(path: str, conn) -> None:
    # one BLAS thread: eight helpers share two cores, and spinning BLAS threads would turn a
    # 0.02 s eigenvalue check into seconds
    threadpool_limits(1)
    try:
        plan = load_plan(path)
        plan.to_problem()
        for sc in plan.spec.scenarios:
            plan.to_problem(scenario=sc.name)
        conn.send(("ok", ""))
    except (PlanFileError, InputError) as exc:
        conn.send((type(exc).__name__, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - any other error fails the test
        conn.send(("escaped", f"{type(exc).__name__}: {traceback.format_exc()[-2000:]}"))
    finally:
        conn.close()


def run_isolated(path: Path) -> tuple[str, str]:
    """(outcome, message) of loading ``path`` in a forked child, killed after TIME_LIMIT."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(str(path), child))
    proc.start()
    child.close()
    start_rss = _rss(proc.pid)
    deadline = time.monotonic() + TIME_LIMIT
    while not parent.poll(0.05):
        if time.monotonic() > deadline:
            proc.kill()
            proc.join()
            return "timeout", f"no answer within {TIME_LIMIT} s"
        if _rss(proc.pid) > start_rss + EXTRA_MEMORY:
            proc.kill()
            proc.join()
            return "memory", f"used more than {EXTRA_MEMORY >> 20} MB beyond the parent's"
    try:
        outcome = parent.recv()
    except EOFError:
        outcome = ("crashed", f"exit code {proc.exitcode}")
    proc.join(TIME_LIMIT)
    return outcome


def test_corpus_is_large_and_varied():
    names = [p.name for p in FILES]
    assert len(names) >= 40
    for kind in ("alias", "deep", "dup_", "path_", "wrongtype_", "budget_", "ok_", "binary"):
        assert any(kind in n for n in names), kind


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_hostile_plan(path):
    outcome, message = run_isolated(path)
    if path.name.startswith("ok_"):
        assert outcome == "ok", f"{path.name}: {outcome}: {message}"
        return
    assert outcome in ("PlanFileError", "InputError"), f"{path.name}: {outcome}: {message}"
    assert str(path) in message or path.name in message, message
    for leak in ("SECRET", "root:x", "Traceback", "NoneType", "RecursionError"):
        assert leak not in message, f"{path.name}: {message}"
