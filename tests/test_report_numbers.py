"""Every number on the page is one a planner can act on: explained losses, no impossible costs,
no noise, currency everywhere, headers in words, sign-off lines once, readable figures."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from hypothesis import given
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import make_figures, render_html, run_plan, write_table
from portfolio_mkt.report._figures import curves_figure, frontier_figure
from portfolio_mkt.report._format import money, number, percent, signed_money


@pytest.fixture(scope="module")
def creators():
    run = run_plan(load_plan("us_ru_creators"), n_points=8, progress=False, confidence=False)
    soup = BeautifulSoup(render_html(run, make_figures(run)), "html.parser")
    return run, soup


@pytest.fixture(scope="module")
def weekly():
    run = run_plan(load_plan("us_ru_weekly"), n_points=8, progress=False, confidence=False,
                   scenarios=False)
    soup = BeautifulSoup(render_html(run, make_figures(run)), "html.parser")
    return run, soup


# ---- formatting ---------------------------------------------------------------------------------

@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_money_never_prints_minus_zero_or_dust(x):
    text = money(x, "$")
    assert text not in ("-$0", "$-0", "-0")
    if abs(x) < 0.5:
        assert text == "$0"
    assert "e" not in text and "." not in text
    assert signed_money(x) not in ("-0", "+0")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10))
def test_percent_never_prints_minus_zero(x):
    assert percent(x, signed=True) not in ("-0.0%", "+0.0%")
    assert "e" not in percent(x)


def test_noise_values():
    assert number(2.2e-13) == "0" and number(-0.0) == "0" and number(-1e-17) == "0"
    assert money(479999.999909) == "480,000"
    assert money(3.9e-17, "EUR") == "EUR 0"
    assert percent(-0.00001, signed=True) == "0.0%"


def test_csv_numbers_are_clean(tmp_path):
    f = pd.DataFrame({"spend": [479999.999909, 2.2e-13 * 1e6, -0.0, 1.5]},
                     index=pd.Index(["a", "b", "c", "d"], name="asset"))
    f.loc["b", "spend"] = 1e5
    f["dual"] = [2.2e-13, 0.4525, -0.0, -1.004]
    write_table(f, tmp_path, "t")
    text = (tmp_path / "t.csv").read_text()
    assert "479999.999909" not in text and "480000.0" in text
    assert "2.2e-13" not in text and "-0.0" not in text
    exact = pd.read_parquet(tmp_path / "t.parquet")
    assert exact.loc["a", "spend"] == 479999.999909  # Parquet keeps the exact value


def test_page_has_no_numeric_noise(creators, weekly):
    for run, soup in (creators, weekly):
        text = soup.get_text(" ")
        assert not re.search(r"(?<![\w.])[-−]0(?:\.0+)?%?(?![\d.,])", text), run.name
        assert not re.search(r"\d\.?\d*e[-+]\d", text), run.name
        assert not re.search(r"\d\.\d{5,}", text), run.name


# ---- explained outcomes -------------------------------------------------------------------------

def test_losing_recommendation_is_explained_in_words(creators):
    run, soup = creators
    a = run.allocation
    assert a.expected_outcome < run.current_point[1]  # the -53,395 case of the issue
    text = " ".join(soup.find("section", id="summary").get_text(" ").split())
    assert "Why less than today" in text and "does not meet ru_penetration" in text
    assert "trades expected revenue for lower risk" in text
    assert "risk aversion δ = 1" in text
    # the outcome-maximising plan under the same constraints is shown beside it, exactly
    direct = pm.solve(load_plan("us_ru_creators").to_problem().replace(risk_aversion=0.0))
    assert run.outcome_max.expected_outcome == pytest.approx(direct.expected_outcome, rel=1e-6)
    assert f"{direct.expected_outcome:,.0f}" in text
    table = soup.find("section", id="summary").find("table")
    head = [th.get_text() for th in table.thead.find_all("th")]
    assert head[1:] == ["today's spend", "recommended", "outcome-maximising"]


def test_the_risk_trade_is_worth_what_it_costs(creators):
    """At the optimum of outcome - delta/(2B) risk^2, the risk saved is worth the outcome lost."""
    run, _ = creators
    a, om = run.allocation, run.outcome_max
    delta, budget = float(run.problem.risk_aversion), float(a.budget)
    gap = om.expected_outcome - a.expected_outcome
    worth = delta / (2 * budget) * (om.risk ** 2 - a.risk ** 2)
    assert gap > 0 and worth >= gap * (1 - 1e-6)


def test_current_from_history_is_explained(weekly):
    run, soup = weekly
    history = load_plan("us_ru_weekly").history
    last = history[history["period"] == history["period"].max()]
    total = last["spend"].sum()
    text = " ".join(soup.get_text(" ").split())
    assert f"last period of the history ({history['period'].max()}), {total:,.0f} in total" \
        in text
    per_period = history.groupby("period")["spend"].sum()
    budget = float(run.allocation.budget)
    far = budget > 1.5 * per_period.max() or budget < 0.5 * per_period.min()
    assert ("far outside what the history ever spent" in text) == far
    table = soup.find("section", id="recommendation").table
    head = [th.get_text() for th in table.thead.find_all("th")]
    col = head.index("spent last period")
    for tr in table.tbody.find_all("tr"):
        cells = [td.get_text() for td in tr.find_all("td")]
        spent = last.set_index("asset").loc[cells[0], "spend"]
        assert cells[col] == f"${spent:,.0f}"


def test_headers_in_words_and_currency_everywhere(creators):
    run, soup = creators
    for table in soup.find_all("table"):
        for th in table.thead.find_all("th"):
            assert "_" not in th.get_text(), th.get_text()
    rec = soup.find("section", id="recommendation").table
    head = [th.get_text() for th in rec.thead.find_all("th")]
    for col in ("current spend", "recommended spend", "change"):
        i = head.index(col)
        cells = [tr.find_all("td")[i].get_text() for tr in rec.tbody.find_all("tr")]
        assert all("$" in c or c == "0" for c in cells), (col, cells)


def test_other_currency_is_shown(tmp_path):
    p = tmp_path / "eur.yaml"
    p.write_text("name: eur\ncurrency: EUR\noutcome: sales\nassets:\n"
                 "  - {id: a, market: DE, expected_return: 3.0, volatility: 0.4, current: 60}\n"
                 "  - {id: b, market: FR, expected_return: 2.0, volatility: 0.5, current: 40}\n"
                 "budget: 100\nrisk: {risk_aversion: 1}\n")
    run = run_plan(load_plan(p), frontier=False, scenarios=False, confidence=False,
                   progress=False)
    soup = BeautifulSoup(render_html(run, {}), "html.parser")
    text = soup.get_text(" ")
    assert "EUR 100" in text and "$" not in text


def test_approval_lines_not_repeated(creators):
    run, soup = creators
    table = soup.find("section", id="approvals").table
    assets = [tr.find_all("td")[0].get_text() for tr in table.tbody.find_all("tr")]
    assert len(assets) == len(set(assets)) == run.approvals["asset"].nunique()


def test_strategy_cost_never_negative_and_frontiers_ordered(creators, weekly):
    for run, _ in (creators, weekly):
        cost = run.frontier_cost
        tol = 1e-6 * abs(run.allocation.expected_outcome)
        ok = cost[cost["status"] == "optimal"]
        assert len(ok) and (ok["outcome_cost"] >= -tol).all(), run.name
        # the drawn unconstrained line is never below a constrained point at the same risk
        free = run.frontier_free.dropna(subset=["risk", "expected_outcome"])
        free = free[free["status"].map(lambda s: pm.status.is_usable(
            pm.status.normalize_status(s)))].sort_values("risk")
        for _, pt in ok.iterrows():
            drawn = np.interp(pt["risk"], free["risk"], free["expected_outcome"])
            assert drawn >= pt["outcome_with"] - tol, (run.name, pt["risk"])


def test_strategy_cost_is_an_exact_resolve(creators):
    run, _ = creators
    plan = load_plan("us_ru_creators")
    free = plan.to_problem().without(*plan.strategic_constraints())
    row = run.frontier_cost.iloc[len(run.frontier_cost) // 2]
    direct = pm.solve(free.replace(objective="max_return", max_risk=float(row["risk"])))
    assert row["outcome_without"] == pytest.approx(direct.expected_outcome, rel=1e-6)


# ---- figures ------------------------------------------------------------------------------------

def _points(fig, label=None):
    ax = fig.axes[0]
    return [ln for ln in ax.get_lines() if label is None or ln.get_label() == label]


def test_frontier_drawn_whatever_the_status_spelling():
    f = pd.DataFrame({"status": ["solved", "Solved", "optimal", "optimal_inaccurate", "failed"],
                      "risk": [1.0, 2.0, 3.0, 4.0, 5.0],
                      "expected_outcome": [1.0, 1.8, 2.4, 2.7, 9.0]})
    fig = frontier_figure(f, (3.0, 2.4))
    main = _points(fig, "efficient frontier")[0]
    assert list(main.get_xdata()) == [1.0, 2.0, 3.0, 4.0]  # 'solved' kept, 'failed' dropped
    rough = _points(fig, "solved only approximately")
    assert len(rough) == 1 and list(rough[0].get_xdata()) == [4.0]
    import matplotlib.pyplot as plt

    plt.close(fig)


def _texts(fig):
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


@pytest.mark.parametrize("plan", ["us_ru_creators", "quarterly_2m"])
def test_figure_text_is_at_least_9pt_and_curve_panels_do_not_overlap(plan):
    import matplotlib.pyplot as plt

    from portfolio_mkt.report import _figures

    run = run_plan(load_plan(plan), frontier=False, scenarios=False, prices=False,
                   confidence=False, progress=False)
    figs = [
        _figures.allocation_figure(run.table),
        _figures.marginal_roi_figure(run.table, run.outcome),
        curves_figure(run.curves, run.table, run.problem.expected_return, run.outcome),
    ]
    for fig in figs:
        sizes = [t.get_fontsize() for t in _texts(fig)]
        assert sizes and min(sizes) >= 9, min(sizes)
    fig = figs[-1]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            overlap_w = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_h = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_w <= 0 or overlap_h <= 0, f"panels {i} and {j} overlap"
    for fig in figs:
        plt.close(fig)


def test_legends_are_off_the_data():
    import matplotlib.pyplot as plt

    run = run_plan(load_plan("us_ru_creators"), n_points=5, scenarios=False, prices=True,
                   confidence=False, progress=False)
    fig = frontier_figure(run.frontier, run.chosen_point, run.current_point, run.outcome,
                          free=run.frontier_free)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend.y1 <= axes_box.y0 + 1  # below the plotting area
    plt.close(fig)
    assert math.isfinite(run.allocation.expected_outcome)


def test_constraint_costs_to_the_objective_never_negative(creators):
    """Removing a constraint cannot lower the optimum of the objective: the price shown is
    never negative; a noisy re-solve that says otherwise is repeated (Clarabel) or marked."""
    from portfolio_mkt.report import _analysis

    run, soup = creators
    p = run.prices
    assert (p["objective_cost"] >= 0).all()
    core = p["objective_gain"].dropna()
    tol = 1e-6 * run.allocation.expected_outcome
    big = core[core.abs() > tol]
    assert np.allclose(p.loc[big.index, "objective_cost"], big, rtol=1e-9)
    # a re-solve that came back 100,000 short is repeated and corrected
    noisy = run.prices.copy()
    true_cost = noisy.loc["ru_penetration", "objective_cost"]
    noisy.loc["ru_penetration", "outcome_without"] -= 100_000
    run2 = _analysis.PlanRun(**{**run.__dict__, "prices": noisy.drop(
        columns=["objective_cost", "price_status"])})
    _analysis._objective_costs(run2, load_plan("us_ru_creators"), pm.solve)
    assert run2.prices.loc["ru_penetration", "objective_cost"] == pytest.approx(true_cost,
                                                                                  rel=1e-4)
    assert run2.prices.loc["ru_penetration", "price_status"] == "optimal"
    head = [th.get_text() for th in soup.find("section", id="constraint-prices").table.thead
            .find_all("th")]
    assert "cost to the plan's objective" in head
