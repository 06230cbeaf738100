"""docs/scenarios.md promises its code runs as shown: run its Python blocks in order."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"
FENCE = re.compile(r"^```python\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def test_scenarios_page_code_runs(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    blocks = [m.group("body") for m in FENCE.finditer(DOC.read_text(encoding="utf-8"))]
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "__main__"}
    out = io.StringIO()
    for i, block in enumerate(blocks, start=1):
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"<scenarios.md block {i}>", "exec"), namespace)  # noqa: S102
    res = namespace["res"]
    assert res.summary.loc["drop Anna", "status"] == "infeasible"
    assert (res.summary.drop(index="drop Anna")["status"] == "optimal").all()
    prices = namespace["prices"]
    assert {"committed_ru", "ru_floor", "brand_floor"} <= set(prices.index)
    assert (prices["objective_gain"] > -1e-6 * abs(namespace["problem"].budget)).all()
    assert namespace["conf"].n_failed == 0
    assert len(namespace["flags"]) > 0
