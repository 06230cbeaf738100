"""The Python code on docs/integer.md runs as shown (in one namespace, in order)."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "integer.md"


def test_integer_page_code_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), ns)  # noqa: S102
    out = capsys.readouterr().out
    assert "Whole-piece plan" in out and "Exploration" in out
    assert ns["plan"].status == "optimal"
