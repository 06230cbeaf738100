"""The ``deals:`` / ``exploration:`` plan-file sections: parse, build rules, solve."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml

import portfolio_mkt as pm
from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.integer import (
    AtMostOne,
    Cardinality,
    Implies,
    MinimumSpend,
    MinimumTicket,
    RateCard,
    plan_exploration,
    solve_integer,
)
from portfolio_mkt.integer._spec import deals_options, deals_rules, exploration_inputs

EXAMPLE = textwrap.dedent("""
    deals:
      min_spend: 0.005
      tickets:
        - {name: creator_fees, fee: fee, where: {channel: creator}}
      rate_cards:
        - {name: posts, unit_price: {us_carol: 9000}, booking_fee: 1000}
      limits:
        - {name: us_creators, where: {market: US, channel: creator}, at_most: 2}
      conflicts:
        - [us_alice, us_bob]
      links:
        - {if: us_alice, then: [us_search]}
      gap: 1.0e-4
      time_limit: 30
    exploration:
      share: 0.10
      rule: ucb
      candidates:
        new_creator_1: {mean: 1.6, se: 0.6, noise_sd: 20000}
        new_creator_2: {mean: 2.4, se: 0.2, noise_sd: 20000}
""")


def _problem() -> pm.Problem:
    ids = ["us_alice", "us_bob", "us_carol", "us_search", "ru_dina"]
    rng = np.random.default_rng(0)
    mu = pd.Series([2.6, 2.5, 2.4, 1.8, 2.2], index=ids)
    g = rng.normal(size=(5, 5)) * 0.2
    cov = pd.DataFrame(g @ g.T + np.diag([0.3, 0.3, 0.3, 0.05, 0.3]), index=ids, columns=ids)
    assets = pd.DataFrame({"market": ["US", "US", "US", "US", "RU"],
                           "channel": ["creator", "creator", "creator", "search", "creator"],
                           "fee": [30_000, 25_000, 0, np.nan, 20_000]}, index=ids)
    return pm.Problem(mu, cov, budget=200_000, assets=assets, risk_aversion=4.0)


def test_example_section_builds_rules_and_solves():
    data = yaml.safe_load(EXAMPLE)
    rules = deals_rules(data["deals"])
    kinds = [type(r) for r in rules]
    assert kinds == [MinimumSpend, MinimumTicket, RateCard, Cardinality, AtMostOne, Implies]
    p = _problem()
    plan = solve_integer(p, rules, **deals_options(data["deals"]))
    assert plan.checks["ok"].all()
    x = plan.spend
    assert (x[["us_alice", "us_bob", "us_carol"]] > 0).sum() <= 2
    assert not (x["us_alice"] > 0 and x["us_bob"] > 0)
    if x["us_alice"] > 0:
        assert x["us_search"] > 0
    if x["us_carol"] > 0:
        units = (x["us_carol"] - 1000) / 9000
        assert units == pytest.approx(round(units), abs=1e-9)
    kw = exploration_inputs(data["exploration"])
    ex = plan_exploration(budget=p.budget, **kw)
    assert ex.reserved == pytest.approx(0.1 * p.budget)


@pytest.mark.parametrize("section,match", [
    ({"tickets": [{"fe": 10}]}, r"deals\.tickets\.0"),
    ({"limits": [{"where": {"market": "US"}}]}, "at_most, at_least"),
    ({"conflicts": [["only_one"]]}, "at least two"),
    ({"gap": -1}, r"deals\.gap"),
    ({"unknown_key": 1}, "unknown_key"),
])
def test_bad_deals_section_names_the_field(section, match):
    with pytest.raises(PlanFileError, match=match):
        deals_rules(section)


def test_bad_exploration_section():
    with pytest.raises(PlanFileError, match=r"exploration\.candidates\.n1\.se"):
        exploration_inputs({"candidates": {"n1": {"mean": 1.0, "se": -1, "noise_sd": 1}}})
    with pytest.raises(PlanFileError, match="min_weeks"):
        exploration_inputs({"min_weeks": 9, "max_weeks": 4})
