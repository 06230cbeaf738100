"""benchmarks/frontier_bench.py: every documented flag does what its --help says.

The measuring functions are replaced by recorders (the flags are what is tested here, not
the timings); ``--scale-n 0`` must not start the scale case.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "frontier_bench.py"


@pytest.fixture()
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("frontier_bench_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    calls: dict = {"sizes": [], "scale": [], "budget": []}

    def fake_size(n, budget_s, reference):
        calls["sizes"].append(n)
        calls["budget"].append(budget_s)
        calls["repeats"] = module.REPEATS
        calls["ref_every"] = module.REF_EVERY
        return {"n": n, "sample_t": 2 * n, "ours": 1.0, "limit": 0.8, "limit_done": 50,
                "limit_err": 1e-8, "ours_err": 1e-9, "skfolio_factor": 9.0,
                "ours_dense": 1.0, "ours_dense_blas": 2.0, "single_dense": 0.5,
                "direct_dense": 3.0, "dense_cond": 1e3, "skfolio_dense": 20.0,
                "ours_dense_err": 1e-9, "direct_dense_err": 1e-8, "cla": 0.3}

    def fake_scale(n, k, budget_s):
        calls["scale"].append(n)
        return {"n": n, "k": k, "ours": 1.0, "limit": 1.0, "limit_done": 50, "rss_mb": 100.0,
                "traced_mb": 10.0, "ours_err": 1e-9, "limit_err": 1e-9, "status": "optimal"}

    monkeypatch.setattr(module, "bench_size", fake_size)
    monkeypatch.setattr(module, "scale_in_subprocess", fake_scale)
    monkeypatch.setattr(module, "machine", lambda: "test machine")
    written = []
    monkeypatch.setattr(module.Path, "write_text", lambda self, text: written.append(self))
    return module, calls, written


def test_scale_n_zero_skips_the_scale_case(bench, capsys) -> None:
    module, calls, written = bench
    assert module.main(["--sizes", "20", "--scale-n", "0", "--no-write"]) == 0
    assert calls["sizes"] == [20] and calls["scale"] == []
    assert not written
    out = capsys.readouterr().out
    assert "Scale:" not in out


def test_defaults_quick_and_explicit_flags(bench, capsys) -> None:
    module, calls, written = bench
    module.main(["--no-write"])
    assert calls["sizes"] == [20, 300, 1000, 2000] and calls["scale"] == [10_000]
    assert calls["repeats"] == 5 and calls["ref_every"] == 1 and calls["budget"][0] == 60.0
    for key in ("sizes", "scale", "budget"):
        calls[key].clear()
    module.main(["--quick", "--no-write"])
    assert calls["sizes"] == [20, 300] and calls["scale"] == [2_000]
    assert calls["repeats"] == 3 and calls["ref_every"] == 7 and calls["budget"][0] == 10.0
    for key in ("sizes", "scale", "budget"):
        calls[key].clear()
    module.main(["--sizes", "50", "--scale-n", "500", "--budget", "7", "--repeats", "2"])
    assert calls["sizes"] == [50] and calls["scale"] == [500] and calls["budget"] == [7.0]
    assert calls["repeats"] == 2
    assert written and written[-1].name == "performance.md"  # without --no-write


def test_target_lines_are_checked_mechanically(bench, capsys) -> None:
    module, calls, written = bench
    module.main(["--sizes", "300", "--scale-n", "0", "--no-write"])
    out = capsys.readouterr().out
    # fake row: skfolio dense 20 s against ours 1 s; 1 s against one solve of 0.5 s
    assert "n = 300: dense frontier >= 10x skfolio: yes (20.0x)" in out
    assert "n = 300: 50 points within 5 single solves: yes (2.0 single solves)" in out
    assert "n = 300: dense, every point within 1e-6 relative variance: yes" in out


def test_load_flag_starts_and_stops_busy_processes(bench, monkeypatch) -> None:
    module, calls, written = bench
    started, stopped = [], []

    class FakeProcess:
        def __init__(self, target, daemon):
            self.target = target

        def start(self):
            started.append(self)

        def terminate(self):
            stopped.append(self)

    import multiprocessing

    monkeypatch.setattr(multiprocessing, "Process", FakeProcess)
    module.main(["--sizes", "20", "--scale-n", "0", "--no-write", "--load", "3"])
    assert len(started) == 3 and stopped == started
    assert all(p.target is module._busy for p in started)


def test_writing_keeps_the_other_benchmarks_sections(tmp_path, monkeypatch) -> None:
    """frontier_bench rewrites its own part of docs/performance.md, not the whole page."""
    spec = importlib.util.spec_from_file_location("frontier_bench_w", BENCH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "performance.md"
    page.write_text("old frontier part\n\n" + module.KEEP_MARKER + "\n\n## Single solves\nkept\n")
    monkeypatch.setattr(module, "REPO", tmp_path)
    module.write_performance("new frontier part\n")
    text = page.read_text()
    assert text.startswith("new frontier part\n") and "old frontier part" not in text
    assert text.endswith(module.KEEP_MARKER + "\n\n## Single solves\nkept\n")
    page.write_text("no marker\n")
    module.write_performance("whole\n")
    assert page.read_text() == "whole\n"
