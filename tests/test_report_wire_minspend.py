"""The minimum meaningful spend in every command-line plan (issue 11, issue 15).

Every plan run by ``report.run_plan`` (``portfolio-mkt plan`` and the report) has each asset
at 0 or at least the plan's minimum ``m``. The whole-piece plan is checked against oracles
written here: every booked pattern enumerated and solved as a continuous program, and the
simple repairs of the continuous answer (token amounts zeroed, or raised to ``m``).
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import PortfolioMktError
from portfolio_mkt.plan import builtin_plans, load_plan
from portfolio_mkt.report import run_plan

FAST = dict(frontier=False, scenarios=False, confidence=False, prices=False)

SMALL_PLAN = """
name: four_assets
outcome: revenue
currency: USD
budget: 100000
min_spend: 15000
assets:
  - {id: search, channel: search, expected_return: 3.0, current: 40000, volatility: 0.3}
  - {id: social, channel: social, expected_return: 2.6, current: 30000, volatility: 0.3}
  - {id: video, channel: video, expected_return: 2.2, current: 20000, volatility: 0.3}
  - {id: radio, channel: radio, expected_return: 1.6, current: 10000, volatility: 0.3}
covariance:
  volatility: relative
  correlation: 0.2
response:
  family: exponential
  calibrate: current
risk:
  risk_aversion: 1.0
"""


def value(problem: pm.Problem, spend: pd.Series) -> float:
    """The plan's utility, written out here (independent of the report's code)."""
    x = spend.reindex(problem.index).fillna(0.0).to_numpy(float)
    outcome = float(np.sum(problem.return_term.outcome(x)))
    var = float(x @ problem.covariance_matrix().to_numpy() @ x)
    return outcome - problem.risk_aversion / (2 * problem.budget) * var


def solve_pattern(problem: pm.Problem, booked: list[str], m: float) -> float | None:
    """Best utility with exactly ``booked`` funded at >= m and the rest at 0 (None: infeasible)."""
    lower = {a: m for a in booked}
    upper = {a: 0.0 for a in problem.index if a not in booked}
    cons = [*problem.constraints,
            pm.Bounds(lower=lower or None, upper=upper or None, name="oracle_pattern")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = pm.solve(problem.replace(constraints=cons), solver="CLARABEL")
    except PortfolioMktError:
        return None
    return value(problem, a.spend)


def with_min_spend(tmp_path: Path, name: str, amount: float) -> Path:
    src = builtin_plans()[name]
    for f in src.parent.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path)
    p = tmp_path / src.name
    text = p.read_text()
    if p.suffix == ".toml":
        text = text.replace("\nbudget = ", f"\nmin_spend = {amount}\nbudget = ", 1)
    else:
        text += f"\nmin_spend: {amount}\n"
    p.write_text(text)
    return p


def assert_no_token(run) -> float:
    plan = run.plan
    m = plan.spec.min_spend_amount(run.problem.budget)
    s = run.allocation.spend
    tol = 1e-6 * run.problem.budget
    token = s[(s > tol) & (s < m - tol)]
    assert token.empty, f"token amounts below {m}: {token.to_dict()}"
    assert run.whole is not None and run.whole.minimum == pytest.approx(m)
    return m


@pytest.mark.parametrize("name", sorted(builtin_plans()))
def test_builtin_plans_have_no_token_amounts(name):
    run = run_plan(load_plan(name), **FAST)
    m = assert_no_token(run)
    assert m == pytest.approx(0.005 * run.problem.budget)  # the default, 0.5% of the budget
    # nothing to repair: the continuous answer is kept as it is
    assert not run.whole.applied
    assert run.whole.cost == 0.0


@pytest.mark.parametrize(("name", "amount", "token"), [
    ("monthly_100k", 12000, "influencers"),       # shift limit keeps it >= 7,500: raised
    ("quarterly_2m", 100000, "traditional"),
    ("us_ru_creators", 30000, "ru_creator_micro"),  # the 'new' floor needs it: raised
])
def test_builtin_plans_with_a_larger_minimum_beat_the_simple_repairs(tmp_path, name, amount,
                                                                     token):
    plan = load_plan(str(with_min_spend(tmp_path, name, amount)))
    run = run_plan(plan, **FAST)
    m = assert_no_token(run)
    w = run.whole
    assert w.applied and token in w.token_assets and w.status == "optimal"
    problem = plan.to_problem()
    cont = pm.solve(problem)
    # the continuous relaxation shown beside the plan is the continuous optimum
    assert w.continuous_objective == pytest.approx(value(problem, cont.spend), rel=1e-6)
    got = value(problem, run.allocation.spend)
    assert got == pytest.approx(w.objective, rel=1e-9)
    assert got <= w.continuous_objective * (1 + 1e-6)
    # independent check: the repairs of the continuous answer (token assets zeroed, or raised
    # to m), each re-solved as a continuous program with the rest booked at >= m
    tol = 1e-9 * problem.budget
    funded = [a for a in problem.index if cont.spend[a] > tol]
    small = [a for a in funded if cont.spend[a] < m]
    repairs = [solve_pattern(problem, [a for a in funded if a not in small], m),
               solve_pattern(problem, funded, m)]
    best = max(r for r in repairs if r is not None)
    assert got >= best - 1e-6 * abs(best)
    # every strategy constraint still holds at the reported plan
    checks = pm.optimization.verify(problem, run.allocation.spend.to_numpy(float))
    assert all(v <= t for v, t in checks.values())


def test_whole_plan_is_the_best_pattern_by_enumeration(tmp_path):
    p = tmp_path / "four.yaml"
    p.write_text(SMALL_PLAN)
    plan = load_plan(str(p))
    run = run_plan(plan, **FAST)
    m = assert_no_token(run)
    assert m == 15000
    w = run.whole
    assert w.applied and w.token_assets == ["radio"]
    problem = plan.to_problem()
    best, best_set = -np.inf, None
    for k in range(1, len(problem.index) + 1):
        for booked in itertools.combinations(problem.index, k):
            v = solve_pattern(problem, list(booked), m)
            if v is not None and v > best:
                best, best_set = v, set(booked)
    got = value(problem, run.allocation.spend)
    assert got == pytest.approx(best, rel=1e-6)
    assert set(run.allocation.spend[run.allocation.spend > 1].index) == best_set
    assert w.cost == pytest.approx(w.continuous_objective - got, rel=1e-6, abs=1e-6)
    assert w.cost > 0


SCENARIOS = """scenarios:
  - {name: cut40, budget_change: -0.4}
  - {name: no_search, remove: {asset: search}}
"""


@pytest.mark.parametrize("scenario", [
    pm.Scenario(name="cut40", budget_change=-0.4),
    pm.Scenario(name="no_search", remove={"asset": "search"}),
])
def test_scenario_rows_book_their_own_whole_pieces(tmp_path, scenario):
    """A budget cut or a removed asset books its own best funded set, not the base plan's."""
    p = tmp_path / "four.yaml"
    p.write_text(SMALL_PLAN + SCENARIOS)
    plan = load_plan(str(p))
    run = run_plan(plan, frontier=False, confidence=False, prices=False, scenarios=True)
    m = assert_no_token(run)
    problem = pm.apply_scenario(plan.to_problem(), scenario)
    best = -np.inf
    for k in range(1, len(problem.index) + 1):
        for booked in itertools.combinations(problem.index, k):
            v = solve_pattern(problem, list(booked), m)
            if v is not None and v > best:
                best = v
    row = run.scenarios.loc[scenario.name]
    assert row["status"] == "optimal"
    spend = run.scenario_spend[scenario.name]
    tol = 1e-6 * problem.budget
    assert spend[(spend > tol) & (spend < m - tol)].empty
    assert spend.sum() == pytest.approx(problem.budget, rel=1e-6)
    assert value(problem, spend) == pytest.approx(best, rel=1e-6)
    base = run.scenarios.loc["base"]
    assert base["expected_outcome"] == pytest.approx(run.allocation.expected_outcome, rel=1e-9)
    assert row["outcome_change"] == pytest.approx(
        row["expected_outcome"] - run.allocation.expected_outcome, rel=1e-9)


def test_min_spend_zero_switches_it_off(tmp_path):
    p = tmp_path / "four.yaml"
    p.write_text(SMALL_PLAN.replace("min_spend: 15000", "min_spend: 0"))
    plan = load_plan(str(p))
    run = run_plan(plan, **FAST)
    assert run.whole.minimum == 0 and not run.whole.applied
    cont = pm.solve(plan.to_problem())
    np.testing.assert_allclose(run.allocation.spend, cont.spend, atol=1e-6 * 100000)
    assert 0 < cont.spend["radio"] < 15000  # the token amount the default would remove


def test_demo_command_has_no_token_amounts():
    from portfolio_mkt.commands.demo import demo_run

    run = demo_run(frontier=False, progress=False)
    b = run.problem.budget
    assert run.whole is not None and run.whole.minimum == pytest.approx(0.005 * b)
    s = run.allocation.spend
    assert s[(s > 1e-6 * b) & (s < 0.005 * b - 1e-6 * b)].empty


def test_bare_problem_takes_the_minimum_as_an_argument(tmp_path):
    p = tmp_path / "four.yaml"
    p.write_text(SMALL_PLAN)
    plan = load_plan(str(p))
    from_plan = run_plan(plan, **FAST)
    bare = run_plan(plan.to_problem(), min_spend=15000, **FAST)
    np.testing.assert_allclose(bare.allocation.spend, from_plan.allocation.spend, atol=1.0)
    assert bare.whole.token_assets == ["radio"]
    # no minimum given: a bare problem keeps its continuous answer
    assert run_plan(plan.to_problem(), **FAST).whole is None
