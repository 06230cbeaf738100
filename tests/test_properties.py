"""Hypothesis properties: budget met, constraints hold, permutation and unit invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm


@st.composite
def problems(draw):
    n = draw(st.integers(3, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    ids = [f"asset_{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(0.5, 3.0, n), index=ids)
    a = rng.normal(size=(n, 2)) * 0.4
    cov = pd.DataFrame(a @ a.T + np.diag(rng.uniform(0.05, 0.5, n)), index=ids, columns=ids)
    markets = np.where(np.arange(n) % 2 == 0, "US", "RU")
    assets = pd.DataFrame({"market": markets}, index=ids)
    budget = float(10 ** draw(st.floats(0, 7)))
    delta = draw(st.floats(0.5, 20))
    cap = draw(st.floats(max(0.45, 1.0 / n + 0.05), 1.0))
    floor = draw(st.floats(0.0, 0.4))
    current = pd.Series(rng.dirichlet(np.ones(n)) * budget, index=ids)
    lock_amt = draw(st.floats(0.0, 0.1)) * budget
    constraints = [
        pm.Bounds(upper=cap, unit="share", name="cap"),
        pm.GroupFloor({"market": "RU"}, floor, unit="share", name="ru_floor"),
        pm.Lock({ids[1]: lock_amt}, minimum=True, name="min_lock"),
    ]
    return pm.Problem(mu, cov, budget=budget, assets=assets, current=current,
                      risk_aversion=delta, constraints=constraints)


FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(problems())
def test_budget_met_and_every_constraint_holds(p):
    a = pm.solve(p)
    assert abs(a.spend.sum() - p.budget) <= 1e-6 * p.budget
    checks = pm.verify(p, a.spend.to_numpy())
    assert all(v <= t for v, t in checks.values()), checks
    assert (a.spend >= -1e-7 * p.budget).all()


@FAST
@given(problems(), st.randoms(use_true_random=False))
def test_permuting_assets_permutes_the_answer(p, rnd):
    order = list(p.index)
    rnd.shuffle(order)
    q = p.replace(expected_return=p.expected_return[order],
                  covariance=p.covariance.loc[order, order],
                  assets=p.assets.loc[order], current=p.current[order])
    a, b = pm.solve(p), pm.solve(q)
    np.testing.assert_allclose(b.spend[p.index].to_numpy(), a.spend.to_numpy(),
                               atol=1e-6 * p.budget)


@FAST
@given(problems(), st.sampled_from([1e-6, 1e-3, 1e3]))
def test_money_units_do_not_matter(p, unit):
    lock = p.constraint("min_lock")
    cons = [c if c.name != "min_lock" else pm.Lock(
        {k: v * unit for k, v in lock.spend.items()}, minimum=True, name="min_lock")
        for c in p.constraints]
    q = p.replace(budget=p.budget * unit, current=p.current * unit, constraints=cons)
    a, b = pm.solve(p), pm.solve(q)
    np.testing.assert_allclose(b.shares.to_numpy(), a.shares.to_numpy(), rtol=1e-6, atol=1e-7)
