"""Infeasible plans name exactly the constraints in conflict: 22 patterns, two innocents each.

Every pattern adds two innocent constraints (a loose cap on video and a loose bound on one
asset) next to the conflict; ``InfeasibleError.conflicts`` must be the irreducible set: every
member (removing any one makes the rest feasible) and nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import InfeasibleError

IDS = ["us_search", "us_social", "us_video", "ru_search", "ru_social", "ru_video"]
MU = pd.Series([3.0, 2.0, 1.5, 2.5, 1.5, 1.0], IDS)
COV = pd.DataFrame(np.diag([1.0, 1.0, 2.0, 1.0, 1.0, 2.0]), IDS, IDS)
ASSETS = pd.DataFrame({"market": ["US", "US", "US", "RU", "RU", "RU"],
                       "channel": ["search", "social", "video"] * 2}, index=IDS)
EVEN = pd.Series(100.0 / 6, IDS)
US_ONLY = pd.Series([40.0, 30.0, 30.0, 0.0, 0.0, 0.0], IDS)
INNOCENT = [pm.GroupCap({"channel": "video"}, 0.99, unit="share", name="innocent_cap"),
            pm.Bounds(upper={"us_social": 95.0}, name="innocent_bound")]
US = ["us_search", "us_social", "us_video"]

PATTERNS = {
    "lock over budget": (
        [pm.Lock({"us_search": 70.0, "ru_search": 50.0}, name="lock")], {}, {"lock", "budget"}),
    "two locks over budget": (
        [pm.Lock({"us_search": 70.0}, name="lock_a"), pm.Lock({"ru_search": 50.0}, name="lock_b")],
        {}, {"lock_a", "lock_b", "budget"}),
    "floor over budget": (
        [pm.GroupFloor({"market": "US"}, 120.0, name="floor")], {}, {"floor", "budget"}),
    "floor vs cap": (
        [pm.GroupFloor({"market": "RU"}, 0.5, unit="share", name="floor"),
         pm.GroupCap({"market": "RU"}, 0.3, unit="share", name="cap")], {}, {"floor", "cap"}),
    "floor vs bounds": (
        [pm.GroupFloor({"market": "RU"}, 60.0, name="floor"),
         pm.Bounds(upper={"ru_search": 15.0, "ru_social": 15.0, "ru_video": 15.0}, name="bounds")],
        {}, {"floor", "bounds"}),
    "floor vs roster": (
        [pm.GroupFloor({"market": "RU"}, 10.0, name="floor"), pm.Roster(US, name="roster")],
        {}, {"floor", "roster"}),
    "lock vs roster": (
        [pm.Lock({"ru_search": 10.0}, name="lock"), pm.Roster(US, name="roster")],
        {}, {"lock", "roster"}),
    "lock vs bounds": (
        [pm.Lock({"us_search": 30.0}, name="lock"), pm.Bounds(upper={"us_search": 20.0}, name="b")],
        {}, {"lock", "b"}),
    "two floors over 100%": (
        [pm.GroupFloor({"market": "US"}, 0.6, unit="share", name="us_floor"),
         pm.GroupFloor({"market": "RU"}, 0.5, unit="share", name="ru_floor")],
        {}, {"us_floor", "ru_floor", "budget"}),
    "caps below the budget": (
        [pm.Bounds(upper=10.0, name="caps")], {}, {"caps", "budget"}),
    "lock vs group cap": (
        [pm.Lock({"ru_search": 40.0}, name="lock"),
         pm.GroupCap({"market": "RU"}, 30.0, name="cap")], {}, {"lock", "cap"}),
    "shift limit vs floor": (
        [pm.ShiftLimit(0.1, name="shift"),
         pm.GroupFloor({"market": "RU"}, 0.8, unit="share", name="floor")],
        {"current": EVEN}, {"shift", "floor"}),
    "turnover vs floor": (
        [pm.Turnover(0.1, name="turnover"),
         pm.GroupFloor({"market": "RU"}, 0.3, unit="share", name="floor")],
        {"current": US_ONLY}, {"turnover", "floor"}),
    "unreachable min_outcome": (
        [], {"min_outcome": 400.0}, {"min_outcome", "budget"}),
    "max_risk below the minimum risk": (
        [], {"max_risk": 40.0}, {"max_risk", "budget"}),
    "max_risk vs lock": (
        [pm.Lock({"us_video": 50.0}, minimum=True, name="lock")], {"max_risk": 60.0},
        {"max_risk", "lock"}),
    "min_outcome vs cap": (
        [pm.Bounds(upper={"us_search": 20.0}, name="cap")], {"min_outcome": 280.0},
        {"min_outcome", "cap", "budget"}),
    "response floor unreachable": (
        [pm.ResponseFloor({"market": "RU"}, 300.0, name="ru_outcome")], {},
        {"ru_outcome", "budget"}),
    "custom vs lock": (
        [pm.CustomConstraint(lambda x, p: [x[0] + x[1] <= 20.0], name="custom"),
         pm.Lock({"us_search": 30.0}, name="lock")], {}, {"custom", "lock"}),
    "exact lock vs minimum lock": (
        [pm.Lock({"us_search": 10.0}, name="exact"),
         pm.Lock({"us_search": 20.0}, minimum=True, name="at_least")], {}, {"exact", "at_least"}),
    "lower bound above upper bound": (
        [pm.Bounds(lower={"us_search": 30.0}, name="b_lo"),
         pm.Bounds(upper={"us_search": 20.0}, name="b_hi")], {}, {"b_lo", "b_hi"}),
    "lock plus floor over budget, roster innocent": (
        [pm.Roster(["us_search", "ru_search", "us_social", "us_video"], name="roster"),
         pm.Lock({"us_search": 60.0}, name="lock"),
         pm.GroupFloor({"market": "RU"}, 50.0, name="floor")], {}, {"lock", "floor", "budget"}),
}


@pytest.mark.parametrize("name", list(PATTERNS))
def test_conflicts_are_exactly_the_irreducible_set(name):
    cons, extra, expected = PATTERNS[name]
    p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, constraints=[*cons, *INNOCENT],
                   risk_aversion=0.01, **extra)
    with pytest.raises(InfeasibleError) as err:
        pm.solve(p)
    e = err.value
    assert set(e.conflicts) == expected, str(e)
    assert len(e.conflicts) == len(expected)
    assert set(e.slack) == expected
    assert all(v > 0 for v in e.slack.values())


def test_the_set_is_irreducible_and_each_relaxation_is_enough():
    cons, extra, expected = PATTERNS["two floors over 100%"]
    p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, constraints=[*cons, *INNOCENT], **extra)
    with pytest.raises(InfeasibleError) as err:
        pm.solve(p)
    # the floors ask for 110 of a budget of 100: relaxing any one member by 10 is enough
    for k, v in err.value.slack.items():
        assert v == pytest.approx(10.0, rel=1e-5), k
    # removing any one member makes the rest feasible
    assert pm.solve(p.without("us_floor")).status == "optimal"
    assert pm.solve(p.without("ru_floor")).status == "optimal"
    assert pm.solve(p.replace(budget=110.0, constraints=[
        pm.GroupFloor({"market": "US"}, 60.0, name="us_floor"),
        pm.GroupFloor({"market": "RU"}, 50.0, name="ru_floor"), *INNOCENT])).status == "optimal"


def test_max_risk_relaxation_is_in_standard_deviation():
    p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, max_risk=40.0)
    with pytest.raises(InfeasibleError) as err:
        pm.solve(p)
    # minimum risk with the budget spent: x ~ 1/var -> (20, 20, 10, 20, 20, 10), std sqrt(2000)
    assert err.value.slack["max_risk"] == pytest.approx(np.sqrt(2000.0) - 40.0, rel=1e-4)
