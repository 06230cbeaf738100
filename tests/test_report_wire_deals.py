"""Creator deals and exploration tests in the report and on the terminal (issue 15).

The plan file does not carry ``deals`` / ``exploration`` sections yet, so the plan object is
given them here (``plan.deals``, ``plan.exploration``), the way the plan-file owner will.
"""

from __future__ import annotations

import io
import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import norm
from test_report_wire_minspend import FAST, SMALL_PLAN, value

import portfolio_mkt as pm
from portfolio_mkt.commands._common import print_run
from portfolio_mkt.exceptions import PortfolioMktError
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import make_figures, render_html, run_plan

DEALS = {
    "tickets": [{"name": "fees", "fee": 25000}],
    "limits": [{"name": "two_assets", "at_most": 2}],
}
EXPLORATION = {
    "share": 0.10, "hurdle": 2.0, "min_weeks": 4,
    "candidates": {
        "new_kim": {"mean": 1.6, "se": 0.8, "noise_sd": 2000},
        "new_lev": {"mean": 1.0, "se": 0.1, "noise_sd": 2000},
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    p = tmp_path_factory.mktemp("deals") / "four.yaml"
    p.write_text(SMALL_PLAN)
    plan = load_plan(str(p))
    plan.deals = DEALS
    plan.exploration = EXPLORATION
    return run_plan(plan, **FAST)


def best_pair(problem: pm.Problem, fee: float, budget: float) -> float:
    """Enumerate every booked set of at most two assets, each at >= fee, the rest at 0."""
    best = -np.inf
    p = problem.replace(budget=budget)
    for k in (1, 2):
        for booked in itertools.combinations(p.index, k):
            cons = [*p.constraints, pm.Bounds(
                lower={a: fee for a in booked},
                upper={a: 0.0 for a in p.index if a not in booked} or None, name="oracle")]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a = pm.solve(p.replace(constraints=cons), solver="CLARABEL")
            except PortfolioMktError:
                continue
            best = max(best, value(p, a.spend))
    return best


def test_deals_plan_is_the_best_enumerated_booking(run):
    d = run.deals
    assert d is not None and d.error is None
    g = d.integer
    # exploration takes its tests out of the plan's budget first
    budget = 100000 - d.exploration.allocated
    assert g.budget == pytest.approx(budget)
    assert g.status == "optimal"
    booked = g.spend[g.spend > 1e-6]
    assert len(booked) <= 2 and (booked >= 25000 - 1e-6).all()
    # the plan's minimum meaningful spend is one of the rules (dominated by the ticket here)
    assert any("MinimumSpend" in r for r in d.rules)
    oracle = best_pair(run.plan.to_problem(), 25000, budget)
    assert g.objective == pytest.approx(oracle, rel=2e-4)
    # the continuous plan beside it is the plain continuous optimum at that budget
    cont = pm.solve(run.plan.to_problem().replace(budget=budget))
    assert g.relaxation_objective == pytest.approx(value(cont.problem, cont.spend), rel=1e-6)
    assert g.cost_of_whole_pieces > 0


def test_exploration_tests_are_readable_and_within_the_reserve(run):
    e = run.deals.exploration
    assert e.reserved == pytest.approx(10000)
    # new_kim: 1.6 + 0.8 > hurdle 2.0 is tested; new_lev: 1.0 + 0.1 is not
    assert list(e.tests.index) == ["new_kim"]
    assert "new_lev" in e.skipped.index
    t = e.tests.loc["new_kim"]
    assert t["budget"] == pytest.approx(t["weekly_spend"] * t["weeks"])
    assert e.allocated <= e.reserved + 1e-9
    # sized to detect the hurdle: MDE = (z_.95 + z_.8) * noise / (s sqrt(T)) = hurdle
    z = norm.ppf(0.95) + norm.ppf(0.8)
    assert z * 2000 / (t["weekly_spend"] * np.sqrt(t["weeks"])) == pytest.approx(2.0)
    assert t["mde"] == pytest.approx(2.0)


def test_report_and_terminal_show_deals_and_tests(run):
    html = render_html(run, make_figures(run))
    assert 'id="creator-deals"' in html and 'id="exploration"' in html
    g = run.deals.integer
    assert f"{g.nodes} nodes" in html
    assert "new_kim" in html and "not tested because" in html
    # the optional sections sit right after the recommendation
    assert html.index('id="recommendation"') < html.index('id="creator-deals"') \
        < html.index('id="exploration"') < html.index('id="frontier"')
    buf = io.StringIO()
    print_run(run, buf)
    text = buf.getvalue()
    assert "Creator deals" in text and "proven gap" in text
    assert "Exploration:" in text and "new_kim" in text


def test_whole_piece_section_shows_the_relaxation_and_its_cost(run):
    w = run.whole
    html = render_html(run, make_figures(run))
    assert 'id="whole-pieces"' in html
    assert f"{w.continuous_objective:,.0f}" in html and f"{w.cost:,.0f}" in html
    buf = io.StringIO()
    print_run(run, buf)
    assert "Minimum meaningful spend" in buf.getvalue()


def test_plans_without_deals_have_no_such_sections():
    r = run_plan(load_plan("monthly_100k"), **FAST)
    assert r.deals is None
    html = render_html(r, make_figures(r))
    for sid in ("creator-deals", "exploration", "whole-pieces", "weekly-plan",
                "plan-vs-actual"):
        assert f'id="{sid}"' not in html
