"""The Python code of docs/window.md runs as shown, and its plan-file example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")

PAGE = Path(__file__).resolve().parents[1] / "docs" / "window.md"


def fences(lang):
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_python_code_runs():
    ns: dict = {}
    for block in fences("python"):
        exec(compile(block, str(PAGE), "exec"), ns)  # noqa: S102
    plan, new = ns["plan"], ns["new"]
    assert plan.status == "optimal"
    assert (new.spend.iloc[:6] == plan.spend.iloc[:6] * 1.05).all().all()
    assert new.moved <= 0.3 * (400_000 - float(plan.spend.iloc[:6].sum().sum() * 1.05)) + 1e-3


def test_plan_file_example_is_a_valid_window_section():
    from portfolio_mkt.plan import load_plan
    from portfolio_mkt.window import plan_window, window_from_spec

    section = yaml.safe_load(fences("yaml")[0])["window"]
    wp = window_from_spec(section, load_plan("quarterly_2m").to_problem())
    assert plan_window(wp, value_of_timing=False).status == "optimal"
