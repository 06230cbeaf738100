"""End to end: a plan file with ``deals``, ``exploration`` and ``window`` sections through
``portfolio-mkt plan`` (terminal) and ``--out`` (report and tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from test_report_wire_minspend import SMALL_PLAN

from portfolio_mkt.cli import main
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import run_plan

SECTIONS = """
deals:
  tickets:
    - {name: fees, fee: 25000}
  limits:
    - {name: three_assets, at_most: 3}
exploration:
  share: 0.10
  hurdle: 2.0
  candidates:
    new_kim: {mean: 1.6, se: 0.8, noise_sd: 2000}
window:
  weeks: 6
  seasonality:
    - {weeks: [2], multiplier: 1.3}
"""


@pytest.fixture()
def plan_file(tmp_path):
    p = tmp_path / "four.yaml"
    p.write_text(SMALL_PLAN + SECTIONS)
    return p


def test_plan_file_sections_reach_the_run(plan_file):
    plan = load_plan(str(plan_file))
    run = run_plan(plan, frontier=False, scenarios=False, confidence=False, prices=False)
    g = run.deals.integer
    assert g is not None and g.status == "optimal"
    booked = g.spend[g.spend > 1e-6]
    assert len(booked) <= 3 and (booked >= 25000 - 1e-6).all()
    assert g.budget == pytest.approx(100000 - run.deals.exploration.allocated)
    assert list(run.deals.exploration.tests.index) == ["new_kim"]
    w = run.window
    assert w is not None and w.spend.shape == (6, 4)
    assert w.spend.sum().sum() == pytest.approx(100000, rel=1e-6)
    assert int(np.argmax(w.spend.sum(axis=1).to_numpy())) == 1   # the boosted week 2


def test_plan_command_prints_and_writes_every_section(plan_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plan", str(plan_file), "--out", str(out), "--no-frontier",
                 "--resamples", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    for needle in ("Minimum meaningful spend", "Creator deals", "Exploration:",
                   "Weekly plan 'four_assets'", "Spend per week and asset"):
        assert needle in text, needle
    for stem in ("weekly_plan", "weekly_outcome", "deals", "exploration_tests"):
        assert (out / f"{stem}.csv").exists(), stem
    weekly = pd.read_csv(out / "weekly_plan.csv", index_col=0)
    assert weekly.to_numpy().sum() == pytest.approx(100000, rel=1e-6)
    soup = BeautifulSoup((out / "report.html").read_text(), "html.parser")
    for sid in ("whole-pieces", "creator-deals", "exploration", "weekly-plan"):
        assert soup.find("section", id=sid) is not None, sid
