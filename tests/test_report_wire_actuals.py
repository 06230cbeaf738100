"""Plan versus actual in the report and on the terminal (issue 16).

A workspace is made here with the loop's own API: the plan is recorded for six weeks, then
actuals are written with a planted 50% shortfall on one asset and 3% over on the others.
"""

from __future__ import annotations

import argparse
import io

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from portfolio_mkt.commands._common import plan_vs_actual, print_run
from portfolio_mkt.commands.plan import register
from portfolio_mkt.loop import Workspace, record_actuals, record_plan
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import make_figures, render_html, run_plan

FAST = dict(frontier=False, scenarios=False, confidence=False, prices=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    path = tmp_path_factory.mktemp("loop") / "ws.db"
    with Workspace(path) as ws:
        record_plan(ws, "monthly_100k", start="2026-01-05", n_periods=6, freq="7D")
        al = ws.allocations()
        factor = al["asset"].map(lambda a: 0.5 if a == "search" else 1.03)
        actuals = pd.DataFrame({"period": al["period"], "asset": al["asset"],
                                "spend": al["spend"], "outcome": al["expected"] * factor})
        record_actuals(ws, actuals)
    return path, al


def with_actuals(path):
    plan = load_plan("monthly_100k")
    actuals, why = plan_vs_actual(plan, path)
    assert why is None
    return run_plan(plan, actuals=actuals, **FAST)


def test_plan_versus_actual_flags_the_planted_shortfall_only(workspace):
    path, al = workspace
    run = with_actuals(path)
    act = run.actuals
    assert act is not None and act.plan_ids == [1]
    s = act.summary
    # spend as planned, so the prediction is the recorded expectation: deviation -50% / +3%
    assert s.loc["search", "deviation"] == pytest.approx(-0.5, abs=1e-9)
    for a in ("paid_social", "video", "influencers"):
        assert s.loc[a, "deviation"] == pytest.approx(0.03, abs=1e-9)
        assert s.loc[a, "alerts"] == 0
    assert s.loc["search", "alerts"] == 6
    dev = act.alerts[act.alerts["kind"] == "deviation"]
    assert set(dev["asset"]) == {"search"} and len(dev) == 6
    expected = al.loc[al["asset"] == "search", "expected"].sum()
    assert s.loc["search", "predicted"] == pytest.approx(expected, rel=1e-9)


def test_section_table_alerts_and_chart(workspace):
    path, _ = workspace
    run = with_actuals(path)
    figs = make_figures(run)
    assert "plan_vs_actual" in figs
    soup = BeautifulSoup(render_html(run, figs), "html.parser")
    sec = soup.find("section", id="plan-vs-actual")
    assert sec is not None
    flags = sec.find_all("p", class_="flag")
    assert len(flags) >= 6 and all("search" in f.get_text() for f in flags)
    rows = {tr.find("td").get_text(): [td.get_text() for td in tr.find_all("td")]
            for tr in sec.find("table").tbody.find_all("tr")}
    assert set(rows) == {"search", "paid_social", "video", "influencers"}
    assert any("50" in c for c in rows["search"])   # −50.0%
    assert sec.find("img") is not None
    buf = io.StringIO()
    print_run(run, buf)
    assert "Plan versus actual" in buf.getvalue() and "ALERT search" in buf.getvalue()


def test_no_workspace_no_section_and_nothing_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = load_plan("monthly_100k")
    assert plan_vs_actual(plan) == (None, None)
    assert not (tmp_path / ".portfolio_mkt").exists()
    missing = tmp_path / "none.db"
    actuals, why = plan_vs_actual(plan, missing)
    assert actuals is None and "no workspace" in why and not missing.exists()
    run = run_plan(plan, **FAST)
    assert run.actuals is None
    html = render_html(run, make_figures(run))
    assert 'id="plan-vs-actual"' not in html


def test_other_plans_in_the_workspace_are_not_compared(workspace):
    path, _ = workspace
    assert plan_vs_actual(load_plan("quarterly_2m"), path) == (None, None)


def test_plan_command_takes_a_workspace(workspace, capsys):
    path, _ = workspace
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["plan", "monthly_100k", "--workspace", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Plan versus actual (6 period(s)" in out and "ALERT search" in out
