"""The weekly plan in the report and on the terminal (issue 14).

The plan file does not carry a ``window:`` section yet, so the plan object is given one here
(``plan.window``), the way the plan-file owner will (``plan.spec.window``).
"""

from __future__ import annotations

import argparse
import io

import numpy as np
import pytest
from bs4 import BeautifulSoup
from test_report_wire_minspend import FAST, SMALL_PLAN

import portfolio_mkt as pm
from portfolio_mkt.commands._common import print_run
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import make_figures, render_html, run_plan

PLAN = SMALL_PLAN.replace("min_spend: 15000", "min_spend: 0")


def window_run(tmp_path, window):
    p = tmp_path / "four.yaml"
    p.write_text(PLAN)
    plan = load_plan(str(p))
    plan.window = window
    return plan, run_plan(plan, **FAST)


def test_flat_weeks_split_the_plan_evenly(tmp_path):
    """No carryover and flat seasonality: each week spends a quarter of the one-shot plan."""
    plan, run = window_run(tmp_path, {"weeks": 4})
    w = run.window
    assert w is not None and w.status == "optimal"
    one_shot = pm.solve(plan.to_problem(), solver="CLARABEL").spend
    for week in w.spend.index:
        np.testing.assert_allclose(w.spend.loc[week], one_shot / 4, rtol=2e-3,
                                   atol=1e-4 * 100000)
    assert abs(w.value_of_timing) <= 1e-4 * abs(w.objective)
    # per window curves: the flat plan's expected outcome is the one-shot plan's
    assert w.expected_outcome == pytest.approx(run.allocation.expected_outcome, rel=1e-3)


def test_weekly_plan_section_tables_and_timing(tmp_path):
    _, run = window_run(tmp_path, {
        "weeks": 4, "seasonality": [{"weeks": [3], "multiplier": 1.5}]})
    w = run.window
    totals = w.spend.sum(axis=1)
    assert totals.idxmax() == totals.index[2]          # the boosted week gets the most
    assert totals.sum() == pytest.approx(100000, rel=1e-6)
    assert w.value_of_timing > 0
    html = render_html(run, make_figures(run))
    soup = BeautifulSoup(html, "html.parser")
    sec = soup.find("section", id="weekly-plan")
    assert sec is not None
    text = " ".join(sec.get_text(" ").split())
    assert f"{w.timing['value']:,.0f}" in text
    tables = sec.find_all("table")
    head = [th.get_text() for th in tables[0].thead.find_all("th")]
    assert head[0] == "week" and head[-1] == "total" and "radio" in head
    rows = tables[0].tbody.find_all("tr")
    assert len(rows) == 4
    week3 = [td.get_text() for td in rows[2].find_all("td")]
    assert week3[-1].replace("USD", "").replace(",", "").strip() == f"{totals.iloc[2]:.0f}"
    assert sec.find("img") is not None                  # the stacked-spend figure
    buf = io.StringIO()
    print_run(run, buf)
    out = buf.getvalue()
    assert "Weekly plan 'four_assets'" in out and "value of timing" in out


def test_a_broken_window_is_named_not_raised(tmp_path):
    _, run = window_run(tmp_path, {"weeks": 4, "dark_weeks": [{"weeks": [9]}]})
    assert run.window is None
    assert "weekly plan could not be made" in run.unavailable["weekly-plan"]


def test_replan_and_loop_commands_are_registered():
    from portfolio_mkt.cli import COMMAND_MODULES, build_parser

    assert {"window", "loop"} <= set(COMMAND_MODULES)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"replan", "record", "actuals", "monitor"} <= set(sub.choices)


def test_a_broken_window_says_so_in_the_report(tmp_path):
    _, run = window_run(tmp_path, {"weeks": 4, "dark_weeks": [{"weeks": [9]}]})
    html = render_html(run, make_figures(run))
    sec = BeautifulSoup(html, "html.parser").find("section", id="weekly-plan")
    assert sec is not None and "could not be made" in sec.get_text()


def test_on_off_weeks_are_shown_as_booked_spend_or_off(tmp_path):
    """A minimum per week (0 or at least m): the section says how many asset-weeks are booked
    and shows each booked week's spend, 'off' elsewhere, matching the plan's own numbers."""
    _, run = window_run(tmp_path, {
        "weeks": 4, "seasonality": [{"weeks": [3], "multiplier": 1.5}],
        "period_min_spend": [{"name": "radio_piece", "assets": ["radio", "video"],
                              "amount": 9000}]})
    w = run.window
    assert w is not None and w.search is not None and w.search["gap"] <= 1e-6
    cells = w.on_off.drop_duplicates(["week", "asset"])
    booked = cells[cells["on"]]
    assert (booked["spend"] >= 9000 * (1 - 1e-6)).all()
    assert np.allclose(cells.loc[~cells["on"], "spend"], 0.0, atol=1e-6 * 100000)
    html = render_html(run, make_figures(run))
    sec = BeautifulSoup(html, "html.parser").find("section", id="weekly-plan")
    text = " ".join(sec.get_text(" ").split())
    assert f"{len(booked)} of {len(cells)} asset-weeks are booked" in text
    grid = sec.find_all("table")[-1]
    head = [th.get_text() for th in grid.thead.find_all("th")]
    assert head == ["week", "radio", "video"] or head == ["week", "video", "radio"]
    body = [[td.get_text() for td in tr.find_all("td")] for tr in grid.tbody.find_all("tr")]
    assert len(body) == 4
    shown = {(r, head[j]): v for r, row in enumerate(body) for j, v in enumerate(row) if j}
    weeks = list(dict.fromkeys(cells["week"]))
    for _, c in cells.iterrows():
        v = shown[(weeks.index(c["week"]), str(c["asset"]))]
        if c["on"]:
            assert v.replace("USD", "").replace(",", "").strip() == f"{c['spend']:.0f}"
        else:
            assert v == "off"
