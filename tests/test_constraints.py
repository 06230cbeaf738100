"""Each strategy constraint binds in a case whose answer is known in closed form."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm

IDS = ["us_search", "us_social", "us_video", "ru_search", "ru_creator"]
MU = pd.Series([3.0, 2.5, 2.0, 1.5, 1.2], index=IDS)
ASSETS = pd.DataFrame(
    {"market": ["US", "US", "US", "RU", "RU"],
     "channel": ["search", "social", "video", "search", "influencer"],
     "tags": ["performance", "performance", "brand", "performance", "creator;brand"]},
    index=IDS,
)
CURRENT = pd.Series([300.0, 250.0, 200.0, 150.0, 100.0], index=IDS)  # sums to the budget
B = 1000.0


def lp(*constraints, **kw):
    """Linear returns, no risk: the optimum fills the best assets greedily."""
    return pm.solve(pm.Problem(MU, budget=B, assets=ASSETS, current=CURRENT,
                               constraints=list(constraints), **kw))


def outcome(spend: dict) -> float:
    return float(sum(MU[k] * v for k, v in spend.items()))


def test_unconstrained_lp_puts_everything_on_the_best_asset():
    a = lp()
    assert a.spend["us_search"] == pytest.approx(B, abs=1e-4)
    assert a.expected_outcome == pytest.approx(3.0 * B, rel=1e-7)


def test_bounds_money_and_share():
    a = lp(pm.Bounds(upper=400.0, name="cap"))
    # 400 on each of the three best assets would be 1200 > B: 400, 400, 200
    np.testing.assert_allclose(a.spend[IDS[:3]], [400, 400, 200], atol=1e-4)
    assert a.expected_outcome == pytest.approx(outcome({"us_search": 400, "us_social": 400,
                                                        "us_video": 200}), rel=1e-7)
    assert "cap" in a.binding
    # the cap's dual on us_search is mu_search - budget dual = 3.0 - 2.0
    assert a.asset_duals.loc["us_search", "cap"] == pytest.approx(1.0, rel=1e-5)
    b = lp(pm.Bounds(upper=0.4, unit="share", name="cap"))
    np.testing.assert_allclose(b.spend, a.spend, atol=1e-4)
    c = lp(pm.Bounds(lower={"ru_creator": 100.0}, name="floor1"))
    assert c.spend["ru_creator"] == pytest.approx(100.0, abs=1e-4)
    assert c.expected_outcome == pytest.approx(3.0 * 900 + 1.2 * 100, rel=1e-7)


def test_lock_exact_and_minimum():
    a = lp(pm.Lock({"ru_creator": 250.0, "us_video": 50.0}, name="committed"))
    assert a.spend["ru_creator"] == pytest.approx(250.0, abs=1e-4)
    assert a.spend["us_video"] == pytest.approx(50.0, abs=1e-4)
    assert a.expected_outcome == pytest.approx(1.2 * 250 + 2.0 * 50 + 3.0 * 700, rel=1e-7)
    # each locked unit costs mu_best - mu_locked in expected outcome
    assert a.asset_duals.loc["ru_creator", "committed"] == pytest.approx(1.2 - 3.0, rel=1e-5)
    m = lp(pm.Lock({"us_social": 100.0}, minimum=True, name="at_least"))
    assert m.spend["us_social"] == pytest.approx(100.0, abs=1e-4)


def test_roster_only_listed_assets_get_spend():
    a = lp(pm.Roster(["us_social", "ru_search"], name="roster"))
    assert a.spend["us_social"] == pytest.approx(B, abs=1e-4)
    assert a.spend.drop(["us_social", "ru_search"]).abs().max() < 1e-4
    assert a.expected_outcome == pytest.approx(2.5 * B, rel=1e-7)


def test_group_floor_share_and_money_and_tags():
    a = lp(pm.GroupFloor({"market": "RU"}, 0.3, unit="share", name="ru_floor"))
    # the floor goes to the best RU asset, the rest to the best overall
    assert a.spend["ru_search"] == pytest.approx(300.0, abs=1e-4)
    assert a.expected_outcome == pytest.approx(1.5 * 300 + 3.0 * 700, rel=1e-7)
    # each extra unit of money forced into RU costs 3.0 - 1.5
    assert a.constraints.loc["ru_floor", "dual"] == pytest.approx(-1.5, rel=1e-5)
    b = lp(pm.GroupFloor({"tags": "brand"}, 150.0, name="brand"))
    assert b.spend["us_video"] == pytest.approx(150.0, abs=1e-4)  # best brand-tagged asset
    c = lp(pm.GroupFloor({"market": "RU", "channel": "influencer"}, 100.0, name="ru_inf"))
    assert c.spend["ru_creator"] == pytest.approx(100.0, abs=1e-4)


def test_overlapping_floors_and_a_cap():
    a = lp(
        pm.GroupFloor({"market": "RU"}, 300.0, name="ru_floor"),
        pm.GroupFloor({"tags": "brand"}, 200.0, name="brand_floor"),
        pm.GroupCap({"channel": "search"}, 500.0, name="search_cap"),
    )
    # ru_creator (brand and RU) serves both floors; search capped at 500 in total
    x = a.spend
    assert x[["ru_search", "ru_creator"]].sum() >= 300.0 - 1e-4
    assert x[["us_video", "ru_creator"]].sum() >= 200.0 - 1e-4
    assert x[["us_search", "ru_search"]].sum() <= 500.0 + 1e-4
    # oracle: an independent LP in cvxpy with Clarabel
    v = cp.Variable(5, nonneg=True)
    prob = cp.Problem(cp.Maximize(MU.to_numpy() @ v), [
        cp.sum(v) == B, v[3] + v[4] >= 300, v[2] + v[4] >= 200, v[0] + v[3] <= 500])
    prob.solve(solver="CLARABEL")
    assert a.expected_outcome == pytest.approx(prob.value, rel=1e-7)


def test_group_cap_concentration():
    a = lp(pm.GroupCap({"market": "US"}, 0.6, unit="share", name="us_cap"))
    assert a.spend[["us_search", "us_social", "us_video"]].sum() == pytest.approx(600, abs=1e-4)
    assert a.expected_outcome == pytest.approx(3.0 * 600 + 1.5 * 400, rel=1e-7)
    assert a.constraints.loc["us_cap", "dual"] == pytest.approx(1.5, rel=1e-5)


def test_shift_limit_per_asset():
    a = lp(pm.ShiftLimit(0.1, name="shift"))
    # everyone within +/-10%: best assets up 10%, worst down 10% until the budget balances
    x = a.spend
    assert ((x - CURRENT).abs() <= 0.1 * CURRENT + 1e-4).all()
    # greedy LP: every asset at its lower bound (270, 225, 180, 135, 90: 900 in total),
    # the remaining 100 to the best assets up to their upper bounds: us_search to 330 (+60),
    # us_social gets the last 40
    expected = pd.Series([330, 265, 180, 135, 90], index=IDS, dtype=float)
    np.testing.assert_allclose(x, expected, atol=1e-4)
    # widening the band by one unit of money gains most on ru_creator's lower side: one more
    # unit moves from ru_creator (1.2) to the marginal asset us_social (2.5)
    assert a.constraints.loc["shift", "dual"] == pytest.approx(1.3, rel=1e-5)


def test_shift_limit_absolute_with_new_assets():
    a = lp(pm.ShiftLimit(20.0, relative=False, name="shift_abs"))
    assert ((a.spend - CURRENT).abs() <= 20.0 + 1e-4).all()


def test_turnover_limit():
    a = lp(pm.Turnover(0.1, unit="share", name="turnover"))
    # 100 of turnover moves 50 from the worst funded asset (ru_creator) to the best
    assert a.spend["us_search"] == pytest.approx(350.0, abs=1e-4)
    assert a.spend["ru_creator"] == pytest.approx(50.0, abs=1e-4)
    assert a.expected_outcome == pytest.approx(float(MU @ CURRENT) + 50 * (3.0 - 1.2), rel=1e-7)
    assert np.abs(a.spend - CURRENT).sum() == pytest.approx(100.0, abs=1e-3)


def test_response_floor_with_linear_returns():
    a = lp(pm.ResponseFloor({"market": "RU"}, 600.0, name="ru_outcome"))
    # RU's best asset returns 1.5 per unit: 400 of spend for 600 of outcome
    assert a.spend["ru_search"] == pytest.approx(400.0, abs=1e-3)
    assert a.expected_outcome == pytest.approx(600 + 3.0 * 600, rel=1e-7)


def test_custom_constraint():
    def social_at_least_half_of_search(x, problem):
        return [x[1] >= 0.5 * x[0]]

    a = lp(pm.CustomConstraint(social_at_least_half_of_search, name="mix"))
    # x_social = x_search / 2 with everything on the two: search 2/3, social 1/3
    assert a.spend["us_search"] == pytest.approx(2 * B / 3, rel=1e-6)
    assert a.spend["us_social"] == pytest.approx(B / 3, rel=1e-6)
    assert "mix" in a.binding


def test_max_risk_and_min_outcome_bind():
    ids = ["a", "b"]
    mu = pd.Series([2.0, 1.0], index=ids)
    cov = pd.DataFrame(np.diag([1.0, 0.25]), index=ids, columns=ids)
    # max return with std <= 0.5 (budget 1): w_a^2 + 0.25 w_b^2 = 0.25 with w_b = 1 - w_a
    a = pm.solve(pm.Problem(mu, cov, budget=1.0, objective="max_return", max_risk=0.5))
    wa = (0.5 + np.sqrt(0.25 - 4 * 1.25 * 0.0)) / 2.5  # root of 1.25 w^2 - 0.5 w = 0
    assert a.shares["a"] == pytest.approx(wa, rel=1e-6)
    assert a.risk == pytest.approx(0.5, rel=1e-6)
    # min risk with expected outcome >= 1.8: w_a = 0.8
    b = pm.solve(pm.Problem(mu, cov, budget=1.0, objective="min_risk", min_outcome=1.8))
    assert b.shares["a"] == pytest.approx(0.8, rel=1e-6)
    assert "min_outcome" in b.binding


def test_every_constraint_is_verified_at_the_answer():
    a = lp(pm.GroupFloor({"market": "RU"}, 0.3, unit="share", name="ru_floor"),
           pm.Lock({"ru_creator": 50.0}, name="lock"), pm.ShiftLimit(2.0, name="shift"))
    checks = pm.verify(a.problem, a.spend.to_numpy())
    assert set(checks) == {"budget", "long_only", "ru_floor", "lock", "shift"}
    assert all(v <= t for v, t in checks.values())
    # and the check is not vacuous: a wrong allocation fails it
    bad = pm.verify(a.problem, CURRENT.to_numpy() * 0 + B / 5)
    assert bad["lock"][0] == pytest.approx(150.0)
