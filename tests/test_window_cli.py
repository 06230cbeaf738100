"""The window: section of plan files, window_from_spec, and `portfolio-mkt replan`."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.commands import window as cmd
from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import load_plan, resolve_plan_path
from portfolio_mkt.window import plan_window, window_from_spec

WINDOW_YAML = """
window:
  weeks: 13
  start: 2026-01-05
  adstock: {family: geometric, alpha: 0.4, l_max: 6}
  adstock_rules:
    - {where: {channel: content}, family: weibull, shape: 1.5, scale: 3.0, l_max: 8}
  carry_in: {paid_search: 30000, content: 25000}
  seasonality:
    - {weeks: [11, 12], multiplier: 1.3}
    - {weeks: [1], multiplier: 0.8, where: {channel: events}}
  pacing: {max_change: 0.5, min_step: 5000}
  phasing:
    - {month: 1, max_share: 0.4}
  dark_weeks:
    - {weeks: [1, 2], where: {channel: traditional}}
  floors:
    - {name: brand_each_month, where: {tags: brand}, share: 0.08, per: month}
  period_caps:
    - {name: email_weekly, where: {channel: email}, amount: 30000}
  period_correlation: 0.2
"""


def write_plan(tmp_path, window=WINDOW_YAML):
    text = resolve_plan_path("quarterly_2m").read_text() + window
    path = tmp_path / "quarter_weekly.yaml"
    path.write_text(text)
    return path


def test_flat_window_reproduces_the_static_plan():
    # curves and covariance of a plan describe the whole window: divided into 13 weeks without
    # carryover, the best weekly plan spends, per asset, what the one-shot plan spends
    prob = load_plan("quarterly_2m").to_problem()
    wp = window_from_spec({"weeks": 13, "start": "2026-01-05"}, prob)
    assert any("shift_limit" in n for n in wp.notes)
    weekly = plan_window(wp)
    static = pm.solve(prob.without("shift_limit"))
    np.testing.assert_allclose(weekly.spend.sum().to_numpy(), static.spend.to_numpy(),
                               rtol=1e-4, atol=1e-5 * prob.budget)
    assert weekly.expected_outcome == pytest.approx(static.expected_outcome, rel=1e-6)
    assert weekly.risk == pytest.approx(static.risk, rel=1e-5)
    assert weekly.value_of_timing == pytest.approx(0.0, abs=1e-6 * weekly.objective)


def test_spec_errors_name_the_field():
    prob = load_plan("quarterly_2m").to_problem()
    with pytest.raises(PlanFileError, match=r"window: field 'pacing.max_change'"):
        window_from_spec({"weeks": 13, "pacing": {"max_change": -1}}, prob)
    with pytest.raises(PlanFileError, match=r"field 'weekz'"):
        window_from_spec({"weekz": 13}, prob)
    with pytest.raises(PlanFileError, match="exactly one of share"):
        window_from_spec({"weeks": 4, "floors": [{"where": {"tags": "brand"}}]}, prob)
    with pytest.raises(PlanFileError, match="week 20 is outside the window"):
        window_from_spec({"weeks": 13, "start": "2026-01-05",
                          "dark_weeks": [{"weeks": [20]}]}, prob)


def test_plan_file_with_window_section(tmp_path):
    path = write_plan(tmp_path)
    plan = load_plan(path)
    window = plan.spec.window
    assert window["weeks"] == 13
    wp = window_from_spec(window, plan.to_problem(), base_dir=plan.base_dir)
    weekly = plan_window(wp)
    x = weekly.spend
    assert (x.loc[x.index[:2], "traditional"].abs() < 1e-6 * wp.budget).all()
    assert x.iloc[:4].to_numpy().sum() <= 0.4 * wp.budget * (1 + 1e-6)
    assert (x["email"] <= 30000 * (1 + 1e-6)).all()
    out = io.StringIO()
    assert cmd.print_weekly_plan(path, out) == 0
    text = out.getvalue()
    assert "Weekly plan 'quarterly_2m'" in text and "2026-03-30" in text
    assert "value of timing" in text


def run(argv):
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, out, err), out.getvalue(), err.getvalue()


def test_replan_command(tmp_path):
    path = write_plan(tmp_path)
    original = cmd._weekly_plan(path)
    actual = original.spend.iloc[:4] * 1.1
    long = actual.stack().rename("spend").reset_index()
    long.columns = ["week", "asset", "spend"]
    long["week"] = long["week"].dt.strftime("%Y-%m-%d")
    csv = tmp_path / "actuals.csv"
    long.to_csv(csv, index=False)
    target = tmp_path / "replan.csv"
    code, out, err = run(["replan", str(path), "--actuals", str(csv), "--max-move", "0.3",
                          "--output", str(target)])
    assert code == 0, err
    assert "Change per asset" in out and "moved" in out
    new = pd.read_csv(target, index_col=0, parse_dates=True)
    np.testing.assert_allclose(new.iloc[:4].to_numpy(), actual.to_numpy(), rtol=1e-12)
    assert new.to_numpy().sum() == pytest.approx(original.problem.budget, rel=1e-8)


def test_replan_command_bad_actuals(tmp_path):
    path = write_plan(tmp_path)
    csv = tmp_path / "actuals.csv"
    csv.write_text("week,asset,spend\n2026-01-05,tiktok,1000\n")
    code, out, err = run(["replan", str(path), "--actuals", str(csv)])
    assert code == 2 and "'tiktok'" in err and "2026-01-05" in err
    csv.write_text("week,asset,spend\n2026-01-05,paid_search,3000000\n")
    code, out, err = run(["replan", str(path), "--actuals", str(csv)])
    assert code == 2 and "2026-01-05, asset 'paid_search'" in err


def test_replan_command_without_window_section():
    code, out, err = run(["replan", "quarterly_2m", "--actuals", "nothing.csv"])
    assert code == 2 and "no 'window:' section" in err


def test_command_module_imports_only_the_standard_library():
    code = ("import sys; import portfolio_mkt.commands.window; "
            "print('pandas' in sys.modules, 'cvxpy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    # portfolio_mkt/__init__ may import the core; the command module itself adds nothing heavy
    import portfolio_mkt.commands.window as mod

    src = open(mod.__file__).read().split('"""', 2)[2]
    top = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert all(m.split()[1] in ("__future__", "argparse", "sys", "pathlib", "typing")
               for m in top), top
    assert res.returncode == 0
