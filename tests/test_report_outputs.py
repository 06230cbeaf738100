"""--out is written all or nothing: concurrent runs never mix files, a failure leaves the previous
set, files follow the umask, and leftovers of a killed run are cleaned up."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from portfolio_mkt.exceptions import InputError
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import MARKER, _io, output_directory, run_plan, write_outputs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_run():
    return run_plan(load_plan("monthly_100k"), frontier=False, scenarios=False,
                    confidence=False, progress=False)


def _modes(d: Path) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in d.iterdir() if p.is_file()}


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(small_run, tmp_path, mask, expected):
    old = os.umask(mask)
    try:
        files = write_outputs(small_run, tmp_path / "out")
    finally:
        os.umask(old)
    assert files and all(f.exists() for f in files)
    assert _modes(tmp_path / "out") == {expected}
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~mask


def test_a_failure_leaves_the_previous_set(small_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_outputs(small_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = _io.write_table

    def failing(frame, directory, stem, parquet=True):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(frame, directory, stem, parquet)

    import portfolio_mkt.report as report

    monkeypatch.setattr(report, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(small_run, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []


def test_a_blocked_name_changes_nothing(small_run, tmp_path):
    """A target that is a file, or a folder of someone else's files, is refused (exit 2)."""
    blocked = tmp_path / "file"
    blocked.write_text("mine")
    with pytest.raises(InputError, match="give a directory"):
        write_outputs(small_run, blocked)
    assert blocked.read_text() == "mine"
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    with pytest.raises(InputError, match="did not write"):
        write_outputs(small_run, foreign)
    assert [p.name for p in foreign.iterdir()] == ["thesis.docx"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")
                and not p.name.endswith(".lock")]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_leftovers_of_a_killed_run_are_removed(small_run, tmp_path):
    pid = _dead_pid()
    stale_dir = tmp_path / f".out.tmp-{pid}-deadbeef"
    stale_dir.mkdir()
    (stale_dir / "recommendation.csv").write_text("half")
    out = tmp_path / "out"
    write_outputs(small_run, out)
    stale_file = out / f".report.html.{pid}.abc_12.tmp"
    stale_file.write_text("half")
    live = tmp_path / f".out.tmp-{os.getpid()}-0123abcd"  # a run still going: kept
    live.mkdir()
    write_outputs(small_run, out)
    assert not stale_dir.exists()
    assert not stale_file.exists()
    assert live.exists()


def _writer(target: str, tag: str, rounds: int) -> None:
    for _ in range(rounds):
        with output_directory(target) as d:
            for i in range(30):
                (d / f"table_{i}.csv").write_text(tag)
                if i % 10 == 0:
                    time.sleep(0.001)


def _snapshot(target: Path) -> set[str] | None:
    try:
        fd = os.open(target, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        names = [n for n in os.listdir(fd) if n.startswith("table_")]
        tags = set()
        for n in names:
            f = os.open(n, os.O_RDONLY, dir_fd=fd)
            try:
                tags.add(os.read(f, 100).decode())
            finally:
                os.close(f)
        try:
            still_target = os.stat(target).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_target = False
        if not still_target:  # swapped out (and being removed) while read: not a snapshot
            return None
        assert len(names) in (0, 30), names
        return tags
    except FileNotFoundError:  # the set was replaced and removed while being read
        return None
    finally:
        os.close(fd)


def test_concurrent_writers_never_mix(tmp_path):
    target = tmp_path / "out"
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    procs = [ctx.Process(target=_writer, args=(str(target), tag, 25)) for tag in "AB"]
    for p in procs:
        p.start()
    seen = 0
    while any(p.is_alive() for p in procs):
        tags = _snapshot(target)
        if tags:
            assert len(tags) == 1, f"mixed set: {tags}"
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    final = _snapshot(target)
    assert final is not None and len(final) == 1
    assert seen > 0
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_two_cli_runs_into_one_out(tmp_path):
    """Two real `portfolio-mkt plan` processes into the same --out: one complete set."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    cmds = [[sys.executable, "-m", "portfolio_mkt.cli", "plan", plan, "--out", str(out),
             "--no-frontier", "--resamples", "0"] for plan in ("monthly_100k", "quarterly_2m")]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for c in cmds]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    rec = pd.read_csv(out / "recommendation.csv", index_col=0)
    html = (out / "report.html").read_text(encoding="utf-8")
    plan = "monthly_100k" if "<h1>monthly_100k" in html else "quarterly_2m"
    expected = set(load_plan(plan).to_problem().expected_return.index)
    assert set(rec.index) == expected
    assert (out / MARKER).exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
