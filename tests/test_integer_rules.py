"""Whole-piece rules: properties at the answer, infeasibility diagnosis, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import portfolio_mkt as pm
from portfolio_mkt.exceptions import ConstraintError, InfeasibleError, InputError
from portfolio_mkt.integer import (
    AtMostOne,
    Cardinality,
    Implies,
    MinimumSpend,
    MinimumTicket,
    RateCard,
    solve_integer,
    verify_integer,
)
from portfolio_mkt.response import Logarithmic


def _problem(n: int, seed: int, budget: float = 100_000.0, curves: bool = False,
             **kw) -> pm.Problem:
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(1.0, 3.0, n), index=ids)
    g = rng.normal(size=(n, n)) * 0.3
    cov = pd.DataFrame(g @ g.T / n + np.diag(rng.uniform(0.05, 0.3, n)), index=ids,
                       columns=ids)
    assets = pd.DataFrame({"market": rng.choice(["US", "RU"], n), "channel": "creator"},
                          index=ids)
    resp = ({a: Logarithmic(rng.uniform(0.5, 2) * budget / n, rng.uniform(0.3, 1) * budget / n)
             for a in ids} if curves else None)
    return pm.Problem(mu, cov, budget=budget, assets=assets, response=resp,
                      risk_aversion=kw.pop("risk_aversion", 3.0), **kw)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=hst.integers(3, 6), seed=hst.integers(0, 10_000),
       fee_share=hst.floats(0.02, 0.45), card=hst.booleans(), at_most=hst.integers(1, 4),
       curves=hst.booleans())
def test_every_ticket_card_and_limit_holds(n, seed, fee_share, card, at_most, curves):
    p = _problem(n, seed, curves=curves)
    rng = np.random.default_rng(seed + 1)
    fees = pd.Series(rng.uniform(0.5, 1.0, n) * fee_share * p.budget, index=p.index)
    rules = [MinimumTicket(fee=fees), Cardinality(at_most=at_most, name="at_most")]
    price = None
    if card:
        price = pd.Series({p.index[0]: 0.07 * p.budget})
        rules.append(RateCard(unit_price=price, booking_fee=0.01 * p.budget))
    try:
        plan = solve_integer(p, rules)
    except InfeasibleError as exc:
        assert exc.conflicts
        return
    x = plan.spend.to_numpy()
    tol = 1e-6 * p.budget
    on = x > tol
    assert np.all(x[on] >= fees.to_numpy()[on] - tol)          # every ticket
    assert on.sum() <= at_most                                   # the count limit
    assert abs(x.sum() - p.budget) <= tol                        # the budget
    assert np.all(x >= 0)
    if card and on[0]:
        units = (x[0] - 0.01 * p.budget) / price.iloc[0]
        assert units == pytest.approx(round(units), abs=1e-9) and round(units) >= 1
    assert plan.checks["ok"].all()
    assert plan.gap <= 1e-4
    assert plan.objective <= plan.relaxation_objective + 1e-6 * abs(plan.relaxation_objective)


def test_minimum_spend_default_half_percent_of_budget():
    p = _problem(12, 2, curves=True, risk_aversion=1.0)
    cont = pm.solve(p)
    small = (cont.spend > 1.0) & (cont.spend < 0.005 * p.budget)
    plan = solve_integer(p, [MinimumSpend()])
    x = plan.spend
    assert not ((x > 1e-7 * p.budget) & (x < 0.005 * p.budget * (1 - 1e-6))).any()
    assert plan.checks.loc["min_spend", "ok"]
    # the rule matters on this case: the continuous plan has slivers
    assert small.any()


def test_infeasible_plan_names_the_conflict():
    p = _problem(5, 1)
    rules = [MinimumTicket(fee=0.4 * p.budget, name="big_tickets"),
             Cardinality(at_least=3, name="three_creators"),
             MinimumSpend(amount=10.0, name="harmless")]
    with pytest.raises(InfeasibleError) as info:
        solve_integer(p, rules)
    conflicts = set(info.value.conflicts)
    assert {"big_tickets", "three_creators", "budget"} <= conflicts
    assert "harmless" not in conflicts
    assert "three_creators" in str(info.value)


def test_conflicting_link_and_exclusion_are_named():
    p = _problem(4, 2, constraints=[pm.Lock({"a0": 10_000.0}, name="keep_a0")])
    rules = [Implies("a0", "a1", name="a0_needs_a1"), AtMostOne(["a0", "a1"], name="rivals")]
    with pytest.raises(InfeasibleError) as info:
        solve_integer(p, rules)
    assert {"a0_needs_a1", "rivals", "keep_a0"} <= set(info.value.conflicts)
    assert "budget" not in info.value.conflicts  # more money would not help


def test_relaxation_prices_are_labelled_and_whole_cost_is_reported():
    p = _problem(6, 3, constraints=[pm.GroupFloor({"market": "US"}, 0.3, unit="share",
                                                  name="us_floor")])
    plan = solve_integer(p, [MinimumTicket(fee=0.2 * p.budget)])
    assert "relaxation_dual" in plan.relaxation_prices.columns
    assert "us_floor" in plan.relaxation_prices.index
    assert plan.cost_of_whole_pieces >= -1e-6 * abs(plan.objective)
    assert "continuous relaxation" in plan.summary()
    frame = plan.to_frame()
    assert {"spend", "funded", "continuous_spend"} <= set(frame.columns)


def test_verify_integer_catches_a_broken_ticket():
    p = _problem(4, 0)
    rules = [MinimumTicket(fee=30_000.0)]
    x = np.array([50_000.0, 20_000.0, 30_000.0, 0.0])
    checks = verify_integer(p, rules, x)
    assert not checks.loc["ticket", "ok"]
    assert checks.loc["ticket", "violation"] == pytest.approx(10_000.0)


@pytest.mark.parametrize("rule,match", [
    (MinimumTicket(fee="no_such_column"), "no_such_column"),
    (MinimumTicket(fee=pd.Series({"zz": 1.0})), "zz"),
    (MinimumTicket(fee=-5.0), "negative"),
    (RateCard(unit_price=pd.Series({"a0": 0.0})), "unit_price is 0"),
    (AtMostOne(["a0", "nope"]), "nope"),
    (Cardinality(where={"market": "US"}), "at_most, at_least"),
    (Cardinality(at_least=9), "only 4"),
    (Implies("a0", "a0"), "itself"),
    (MinimumSpend(share=5.0), "between 0 and 1"),
])
def test_bad_rules_raise_the_librarys_error(rule, match):
    p = _problem(4, 0)
    p = p.replace(assets=p.assets.assign(market=["US", "US", "RU", "RU"]))
    with pytest.raises(ConstraintError, match=match):
        solve_integer(p, [rule])


def test_bad_arguments():
    p = _problem(3, 0)
    with pytest.raises(InputError, match="gap"):
        solve_integer(p, [], gap=-1)
    with pytest.raises(InputError, match="MinimumTicket"):
        solve_integer(p, [pm.GroupFloor({"market": "US"}, 1.0)])
    with pytest.raises(ConstraintError, match="unique"):
        solve_integer(p, [MinimumTicket(fee=1.0), MinimumSpend(name="ticket")])
