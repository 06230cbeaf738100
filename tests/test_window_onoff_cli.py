"""On/off minimum per asset-week from a plan file's window section and on the command line."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_window_cli import run  # the replan command on a fresh parser

from portfolio_mkt.commands import window as cmd
from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import load_plan, resolve_plan_path
from portfolio_mkt.window import PeriodMinSpend, plan_window, window_from_spec

WINDOW = """
window:
  weeks: 8
  start: 2026-01-05
  adstock: {family: geometric, alpha: 0.4, l_max: 4}
  period_min_spend:
    - {name: events_ticket, assets: [events], amount: 60000}
    - {name: email_batch, where: {channel: email}, amount: 25000, weeks: [1, 2, 3, 4], cap: 60000}
  search: {gap: 1.0e-6, node_limit: 500, time_limit: 120}
"""


def write_plan(tmp_path, window=WINDOW):
    text = resolve_plan_path("quarterly_2m").read_text() + window
    path = tmp_path / "weekly_onoff.yaml"
    path.write_text(text)
    return path


def test_plan_file_entry_builds_the_constraint_and_the_plan_meets_it(tmp_path):
    plan = load_plan(write_plan(tmp_path))
    wp = window_from_spec(plan.spec.window, plan.to_problem(), base_dir=plan.base_dir)
    mins = {c.name: c for c in wp.constraints if isinstance(c, PeriodMinSpend)}
    assert set(mins) == {"events_ticket", "email_batch"}
    assert mins["email_batch"].cap == 60000 and mins["events_ticket"].amount == 60000
    weekly = plan_window(wp, value_of_timing=False)
    assert weekly.search["requested_gap"] == 1e-6      # the plan file's search options
    x = weekly.spend
    ev = x["events"].to_numpy()
    em = x["email"].to_numpy()[:4]
    assert np.all((ev == 0) | (ev >= 60000 * (1 - 1e-7)))
    assert np.all((em == 0) | ((em >= 25000 * (1 - 1e-7)) & (em <= 60000 * (1 + 1e-7))))
    assert len(weekly.on_off) == 8 + 4
    grid = weekly.on_off_grid()
    assert list(grid.columns) == ["email", "events"] and len(grid) == 8
    on = weekly.on_off.set_index(["asset", "week"])["on"]
    for (asset, week), is_on in on.items():
        cell = grid.loc[week.strftime("%Y-%m-%d"), asset]
        assert (cell != "off") == is_on


def test_plan_file_errors_name_the_field_and_asset(tmp_path):
    prob = load_plan("quarterly_2m").to_problem()
    with pytest.raises(PlanFileError, match=r"field 'period_min_spend.0.amount'"):
        window_from_spec({"weeks": 4, "period_min_spend": [{"amount": -1.0}]}, prob)
    with pytest.raises(PlanFileError, match=r"period_min_spend_1.*'tiktok'"):
        window_from_spec({"weeks": 4, "period_min_spend": [{"amount": 10.0,
                                                             "assets": ["tiktok"]}]}, prob)
    with pytest.raises(PlanFileError, match=r"period_min_spend_1.*week 9 is outside"):
        window_from_spec({"weeks": 4, "start": "2026-01-05",
                          "period_min_spend": [{"amount": 10.0, "weeks": [9]}]}, prob)
    with pytest.raises(PlanFileError, match=r"field 'search.node_limit'"):
        window_from_spec({"weeks": 4, "search": {"node_limit": 0}}, prob)


def test_print_weekly_plan_shows_the_on_off_decision(tmp_path):
    out = io.StringIO()
    assert cmd.print_weekly_plan(write_plan(tmp_path), out) == 0
    text = out.getvalue()
    assert "on/off minimum per week:" in text and "proven gap" in text
    assert "on/off asset-weeks (spend when on, 'off' = 0):" in text
    block = text.split("on/off asset-weeks")[1].split("\n\n")[0]
    assert "events" in block and "email" in block


def test_plan_command_prints_the_on_off_decision(tmp_path):
    path = write_plan(tmp_path)
    res = subprocess.run([sys.executable, "-m", "portfolio_mkt.cli", "plan", str(path)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "on/off minimum per week:" in res.stdout
    assert "on/off asset-weeks" in res.stdout


def test_replan_command_keeps_the_minimums_in_the_remaining_weeks(tmp_path):
    path = write_plan(tmp_path)
    original = cmd._weekly_plan(path)
    actual = original.spend.iloc[:3].copy()
    actual["paid_search"] *= 1.2
    actual["content"] *= 0.8
    csv = tmp_path / "actuals.csv"
    actual.index = actual.index.strftime("%Y-%m-%d")
    actual.index.name = "week"
    actual.to_csv(csv)
    target = tmp_path / "replan.csv"
    code, out, err = run(["replan", str(path), "--actuals", str(csv), "--output", str(target)])
    assert code == 0, err
    assert "on/off minimum per week:" in out
    new = pd.read_csv(target, index_col=0, parse_dates=True)
    np.testing.assert_allclose(new.iloc[:3].to_numpy(), actual.to_numpy(), rtol=1e-12)
    ev = new["events"].to_numpy()[3:]
    em = new["email"].to_numpy()[3:4]
    assert np.all((ev == 0) | (ev >= 60000 * (1 - 1e-7)))
    assert np.all((em == 0) | (em >= 25000 * (1 - 1e-7)))


def test_infeasible_minimum_on_the_command_line_exits_1_naming_week_and_asset(tmp_path):
    window = WINDOW.replace("amount: 60000}", "amount: 60000}\n"
                            "    - {name: huge, assets: [content], weeks: [2], amount: 3000000}")
    path = write_plan(tmp_path, window)
    csv = tmp_path / "actuals.csv"
    csv.write_text("week,asset,spend\n2026-01-05,paid_search,1000\n")
    code, out, err = run(["replan", str(path), "--actuals", str(csv)])
    assert code == 1
    assert "'huge'" in err and "2026-01-12, asset 'content'" in err
