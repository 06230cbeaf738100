"""Built-in plans: all load, the demo plans with saturation curves fitted to its history;
plan-level currency and minimum meaningful spend."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import builtin_plans, load_plan


@pytest.fixture(scope="module")
def demo():
    return load_plan("demo")


@pytest.mark.parametrize("name", sorted(builtin_plans()))
def test_every_builtin_plan_loads_and_builds(name):
    plan = load_plan(name)
    problem = plan.to_problem()
    assert problem.n_assets == len(plan.expected_return)
    assert plan.currency and plan.min_spend == pytest.approx(
        plan.spec.min_spend_amount(plan.budget))
    for sc in plan.spec.scenarios:
        plan.to_problem(scenario=sc.name)


def test_demo_is_built_from_history_with_curves(demo):
    assert demo.currency == "USD"
    assert set(demo.history_curves) == set(demo.expected_return.index)
    response = demo.to_problem().response
    assert set(response) == set(demo.expected_return.index)
    for asset, curve in demo.history_curves.items():
        x0 = float(demo.current[asset])
        d0, d2 = (float(np.asarray(curve.derivative(np.array([x])))[0]) for x in (x0, 2 * x0))
        assert d2 < 0.9 * d0, asset  # saturating: doubling spend loses >10% of the margin


def test_demo_optimum_equalises_marginal_returns(demo):
    """Without risk or strategy the optimum spends where every curve's slope is equal (KKT)."""
    problem = demo.to_problem(exclude=demo.strategic_constraints(), risk_aversion=0.0)
    alloc = pm.solve(problem)
    x = alloc.spend
    slopes = {a: float(np.asarray(demo.history_curves[a].derivative(np.array([x[a]])))[0])
              for a in x.index}
    active = [a for a in x.index if x[a] > 1e-3 * demo.budget]
    lam = np.median([slopes[a] for a in active])
    for a in active:
        assert slopes[a] == pytest.approx(lam, rel=2e-3), (a, slopes)
    for a in x.index:
        if a not in active:
            assert slopes[a] <= lam * (1 + 2e-3)
    assert x.sum() == pytest.approx(demo.budget, rel=1e-6)


def test_demo_recommendation_stays_on_the_curves(demo):
    """With curves the recommendation rebalances; no asset is emptied or multiplied."""
    alloc = pm.solve(demo.to_problem())
    change = alloc.spend / demo.current - 1
    assert (change.abs() <= 0.5 + 1e-6).all()  # the plan's shift limit holds
    assert (alloc.spend >= demo.min_spend).all()


def test_cost_shock_scales_history_curves(tmp_path):
    src = builtin_plans()["demo"]
    shutil.copy(src.parent / "us_ru_history.csv", tmp_path / "us_ru_history.csv")
    text = src.read_text() + (
        "  - {name: search +25%, cost_shocks: [{where: {channel: search}, change: 0.25}]}\n"
    )
    (tmp_path / "demo.yaml").write_text(text)
    plan = load_plan(tmp_path / "demo.yaml")
    base = plan.to_problem().response
    shocked = plan.to_problem(scenario="search +25%").response
    xs = np.array([1e4, 5e4])
    for a in base:
        # the same outcome now costs 25% more: the shocked curve at x is the base curve at
        # x / 1.25 (the one scenario rule of portfolio_mkt.apply_scenario)
        factor = 1.25 if "search" in a else 1.0
        np.testing.assert_allclose(np.asarray(shocked[a].value(xs)),
                                   np.asarray(base[a].value(xs / factor)), rtol=1e-10)
        if factor > 1:
            assert (np.asarray(shocked[a].value(xs)) < np.asarray(base[a].value(xs))).all()


# ------------------------------------------------------------------------- currency, min_spend

PLAN = """\
name: m
assets:
  - {id: a, expected_return: 3.0, current: 50}
  - {id: b, expected_return: 2.0, current: 50}
budget: 1000
"""


def load_text(tmp_path, extra=""):
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN + extra)
    return load_plan(p)


@pytest.mark.parametrize(
    ("extra", "money"),
    [("", 5.0), ("min_spend: 40\n", 40.0), ("min_spend: {share: 0.02}\n", 20.0),
     ("min_spend: {amount: 7}\n", 7.0), ("min_spend: 0\n", 0.0)],
)
def test_min_spend(tmp_path, extra, money):
    plan = load_text(tmp_path, extra)
    assert plan.min_spend == pytest.approx(money)
    if "share" in extra or not extra:
        assert plan.min_spend_for(2000) == pytest.approx(2 * money)
    else:
        assert plan.min_spend_for(2000) == pytest.approx(money)


@pytest.mark.parametrize(
    ("extra", "words"),
    [("min_spend: 5000\n", "more than the budget"),
     ("min_spend: {share: 0.1, amount: 5}\n", "exactly one of 'amount'"),
     ("min_spend: {share: 2}\n", "less than or equal to 1"),
     ("min_spend: '40'\n", "write numbers without quotes"),
     ("min_spend: -1\n", "greater than or equal to 0")],
)
def test_min_spend_errors(tmp_path, extra, words):
    with pytest.raises(PlanFileError) as info:
        load_text(tmp_path, extra)
    assert words in str(info.value) and info.value.line == 6
    assert info.value.field.startswith("min_spend")


def test_currency_default_and_exposed(tmp_path):
    assert load_text(tmp_path).currency == "$"
    assert load_text(tmp_path, "currency: EUR\n").currency == "EUR"
    with pytest.raises(PlanFileError):
        load_text(tmp_path, "currency: ''\n")


# ------------------------------------------------------------------------- current from history


def test_current_from_history_says_what_it_is_and_keeps_the_real_numbers():
    plan = load_plan("us_ru_weekly")
    hist = plan.history.pivot_table(index="period", columns="asset", values="spend",
                                    aggfunc="sum").fillna(0.0).sort_index()
    recent = hist.tail(13).mean()
    for a in plan.current.index:
        assert plan.history_current[a] == pytest.approx(recent[a], rel=1e-9)
        assert plan.current[a] == pytest.approx(recent[a] / recent.sum() * plan.budget,
                                                rel=1e-9)
    assert "mean of the history's last 13 periods" in plan.current_basis
    assert f"{recent.sum():,.0f} in total" in plan.current_basis
    assert not any("far outside" in n for n in plan.notes)  # the budget fits the history


def test_budget_far_outside_the_history_is_noted(tmp_path):
    src = builtin_plans()["us_ru_weekly"]
    shutil.copy(src.parent / "us_ru_history.csv", tmp_path / "us_ru_history.csv")
    text = src.read_text().replace("budget: 150000", "budget: 500000").replace(
        "current: recent", "current: last")
    (tmp_path / "w.yaml").write_text(text)
    plan = load_plan(tmp_path / "w.yaml")
    assert "the history's last period (114,320 in total)" in plan.current_basis
    assert plan.history_current["us_search"] == pytest.approx(40480, abs=1)
    assert plan.current["us_search"] == pytest.approx(177045, abs=1)
    assert any("far outside what the history ever spent" in n for n in plan.notes)


def test_history_current_option_checked(tmp_path):
    src = builtin_plans()["us_ru_weekly"]
    shutil.copy(src.parent / "us_ru_history.csv", tmp_path / "us_ru_history.csv")
    (tmp_path / "w.yaml").write_text(src.read_text().replace("current: recent", "current: first"))
    with pytest.raises(PlanFileError) as info:
        load_plan(tmp_path / "w.yaml")
    assert "'last' or 'recent'" in str(info.value) and info.value.field == "history.options"


def test_scenario_remove_with_a_factor_covariance(tmp_path):
    """A scenario that removes assets holds them at 0 (the one scenario rule), factor model kept."""
    src = builtin_plans()["us_ru_weekly"]
    shutil.copy(src.parent / "us_ru_history.csv", tmp_path / "us_ru_history.csv")
    text = src.read_text().replace("covariance: sample", "covariance: factor") + (
        "  - {name: no video, remove: {channel: video}}\n")
    (tmp_path / "w.yaml").write_text(text)
    plan = load_plan(tmp_path / "w.yaml")
    assert isinstance(plan.estimated_covariance, pm.FactorCovariance)
    # video money must move: with +-10% shift limits the RU floor cannot hold (named by the
    # infeasibility diagnosis), so this test prices the scenario without the shift limit
    problem = plan.to_problem(scenario="no video", exclude=["brand_video", "shift_limit"])
    assert problem.n_assets == 6  # removed assets stay, held at 0
    removed = [a for a in plan.expected_return.index if a.endswith("video")]
    kept = [a for a in plan.expected_return.index if not a.endswith("video")]
    assert isinstance(problem.covariance, pm.FactorCovariance)
    sub = problem.covariance.to_dense()
    full = plan.estimated_covariance.to_dense()
    np.testing.assert_allclose(sub.loc[kept, kept].to_numpy(),
                               full.loc[kept, kept].to_numpy(), rtol=1e-12)
    alloc = pm.solve(problem)
    assert (alloc.spend[removed].abs() <= 1e-6 * problem.budget).all()
    assert alloc.spend[kept].sum() == pytest.approx(problem.budget, rel=1e-6)
