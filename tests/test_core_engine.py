"""The engine's ground: one risk interface, constraints as rows, one status vocabulary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.constraints import LinearRows
from portfolio_mkt.frontiers import frontier
from portfolio_mkt.risk import DenseRisk, FactorRisk, risk_model
from portfolio_mkt.status import STATUSES

IDS = pd.Index(["a", "b", "c", "d"])


def _factor() -> pm.FactorCovariance:
    rng = np.random.default_rng(0)
    return pm.FactorCovariance(
        pd.DataFrame(rng.normal(0, 0.3, (4, 2)), IDS, ["f", "g"]),
        pd.DataFrame([[0.04, 0.01], [0.01, 0.02]], ["f", "g"], ["f", "g"]),
        pd.Series([0.01, 0.02, 0.015, 0.03], IDS),
    )


def test_dense_and_factor_risk_answer_the_same_questions():
    fc = _factor()
    dense, factor = risk_model(fc.to_dense(), IDS), risk_model(fc, IDS)
    assert isinstance(dense, DenseRisk) and isinstance(factor, FactorRisk)
    sigma = fc.to_dense().to_numpy()
    x = np.array([1.0, -2.0, 0.5, 3.0])
    for m in (dense, factor):
        np.testing.assert_allclose(m.times(x), sigma @ x, rtol=1e-12)
        np.testing.assert_allclose(m.diagonal(), np.diag(sigma), rtol=1e-12)
        assert m.variance(x) == pytest.approx(x @ sigma @ x, rel=1e-12)
        g = m.root()
        np.testing.assert_allclose(g.T @ g, sigma, rtol=1e-10, atol=1e-14)
        f = np.array([1.0, 2.0, 0.5, 1.5])
        np.testing.assert_allclose(m.scaled_by(f).times(x), np.diag(f) @ sigma @ np.diag(f) @ x,
                                   rtol=1e-12)
    no = risk_model(None, IDS)
    assert not no.present and no.variance(x) == 0.0


def test_problem_variance_uses_the_risk_model_and_money_share_round_trip():
    fc = _factor()
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), fc, budget=200.0)
    x = np.array([50.0, 50.0, 60.0, 40.0])
    assert p.variance(x) == pytest.approx(x @ fc.to_dense().to_numpy() @ x, rel=1e-12)
    np.testing.assert_allclose(p.money(p.shares(x)), x)
    assert p.money(np.array([-1e-9, 0.5, 0.5, 0.0]))[0] == 0.0  # round-off below zero


def _constraints() -> list:
    return [
        pm.Bounds(lower={"a": 10.0}, upper={"b": 40.0, "c": 0.5}, name="bounds"),
        pm.Lock({"d": 20.0}, minimum=True, name="lock_min"),
        pm.Lock({"c": 15.0}, name="lock"),
        pm.Roster(["a", "b", "c", "d"], name="roster"),
        pm.GroupFloor({"market": "RU"}, 0.3, unit="share", name="ru_floor"),
        pm.GroupCap({"market": "US"}, 70.0, name="us_cap"),
        pm.ShiftLimit(0.5, name="shift"),
        pm.CustomConstraint(lambda x, p: [x[0] <= 2 * x[1], x[2] + x[3] >= 5.0], name="custom"),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_rows_and_the_independent_check_agree_at_any_allocation(seed):
    """Each constraint's rows (what the program is built from) and its violation (the check
    after the solve) are two codes; at random allocations they must find the same violation."""
    assets = pd.DataFrame({"market": ["RU", "RU", "US", "US"]}, index=IDS)
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), budget=100.0, assets=assets,
                   current=pd.Series([25.0, 25.0, 25.0, 25.0], IDS), constraints=_constraints())
    x = np.random.default_rng(seed).uniform(0, 60, 4)
    for c in p.constraints:
        rows = c.linear_rows(p)
        assert isinstance(rows, LinearRows), c.name
        assert rows.violation(x) == pytest.approx(c.violation(x, p), rel=1e-9, abs=1e-9), c.name


def test_nonlinear_constraints_have_no_rows_and_leave_the_fast_path():
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), _factor(), budget=100.0,
                   current=pd.Series(25.0, IDS), constraints=[pm.Turnover(0.2, name="turn")])
    assert p.constraints[0].linear_rows(p) is None
    f = frontier(p, n_points=4)
    assert f.notes and "turn" in f.notes[0]


def test_fast_frontier_reads_a_custom_linear_constraint_like_the_program():
    custom = pm.CustomConstraint(lambda x, p: [x[3] <= 0.5 * x[0] + 10.0], name="d_vs_a")
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), _factor(), budget=100.0,
                   constraints=[custom])
    fast = frontier(p, n_points=6)
    slow = frontier(p, n_points=6, method="cvxpy")
    assert not fast.notes  # the fast path took it
    np.testing.assert_allclose(fast.expected_outcome, slow.expected_outcome, rtol=1e-5)
    spend = fast.spend
    assert (spend["d"] <= 0.5 * spend["a"] + 10.0 + 1e-6).all()


def test_every_result_speaks_the_status_vocabulary():
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), _factor(), budget=100.0)
    assert pm.solve(p).status in STATUSES
    assert {pt.status for pt in frontier(p, n_points=4)} <= set(STATUSES)
    res = pm.scenarios(p, [pm.Scenario("bad", remove=["zz"])], backend="sequential")
    assert set(res.summary["status"]) <= set(STATUSES)
    assert res.summary.loc["bad", "status"] == "failed"


@pytest.mark.parametrize("kind", ["no covariance", "risk_aversion 0", "max_return"])
def test_linear_objectives_go_to_an_lp_solver(kind):
    mu = pd.Series([1.0, 2.0, 3.0, 4.0], IDS)
    cap = [pm.Bounds(upper=40.0, name="cap")]
    if kind == "no covariance":
        p = pm.Problem(mu, budget=100.0, constraints=cap)
    elif kind == "risk_aversion 0":
        p = pm.Problem(mu, _factor(), budget=100.0, risk_aversion=0.0, constraints=cap)
    else:
        p = pm.Problem(mu, _factor(), budget=100.0, objective="max_return", constraints=cap)
    alloc = pm.solve(p)
    assert alloc.solver == "HIGHS"
    # the LP optimum by hand: fill the best assets up to the cap
    np.testing.assert_allclose(alloc.spend.to_numpy(), [0.0, 20.0, 40.0, 40.0], atol=1e-7)
    assert alloc.expected_outcome == pytest.approx(2 * 20 + 3 * 40 + 4 * 40, rel=1e-12)


def test_no_solver_output_reaches_the_terminal(capfd):
    p = pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), budget=100.0)
    pm.solve(p)
    frontier(pm.Problem(pd.Series([1.0, 2.0, 3.0, 4.0], IDS), _factor(), budget=100.0),
             n_points=3)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
