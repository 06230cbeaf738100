"""What a solve no longer repeats: constraint arrays resolved once per problem, a problem made by
``replace`` taking what its origin validated, and an explanation built when first read.

Each test checks that the saved work is still *right*: a cached value must follow every change
that should change it (budget, current spend, asset table), and the lazily built explanation
must equal the one the cvxpy route computes.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.constraints import MEMO_ATTRIBUTE


def _problem(budget: float = 1_000.0, current: pd.Series | None = None,
             assets: pd.DataFrame | None = None, constraints: list | None = None) -> pm.Problem:
    ids = pd.Index(["us_search", "us_social", "ru_search", "ru_video"])
    mu = pd.Series([3.0, 2.5, 2.0, 1.5], index=ids)
    cov = pd.DataFrame(np.diag([0.4, 0.3, 0.2, 0.1]), index=ids, columns=ids)
    if assets is None:
        assets = pd.DataFrame({"market": ["US", "US", "RU", "RU"]}, index=ids)
    if constraints is None:
        constraints = [pm.Bounds(upper=0.4, unit="share", name="cap"),
                       pm.GroupFloor(where={"market": "RU"}, amount=0.3, unit="share",
                                     name="ru_floor")]
    return pm.Problem(mu, cov, budget=budget, assets=assets, constraints=constraints,
                      current=current, risk_aversion=2.0)


def test_cached_constraint_arrays_are_read_only():
    p = _problem()
    cap = p.constraint("cap")
    lo, hi = cap._money(p)
    with pytest.raises(ValueError):
        hi[0] = 0.0
    assert cap._money(p)[1] is hi  # the second call reads the cache


def test_share_amounts_follow_a_new_budget():
    p = _problem(budget=1_000.0)
    q = p.replace(budget=2_000.0)
    assert q.index is p.index and q.covariance is p.covariance  # taken from the origin
    assert np.allclose(q.constraint("cap")._money(q)[1], 800.0)
    assert q.constraint("ru_floor")._money_amount(q) == pytest.approx(600.0)
    a = pm.solve(q)
    assert a.spend.max() <= 800.0 * (1 + 1e-9)
    assert a.spend[["ru_search", "ru_video"]].sum() >= 600.0 * (1 - 1e-9)
    # the same plan as a problem built from scratch with the new budget
    b = pm.solve(_problem(budget=2_000.0))
    assert np.allclose(a.spend.to_numpy(), b.spend.to_numpy(), rtol=0, atol=1e-6)


def test_shift_limits_follow_a_new_current_spend():
    ids = ["us_search", "us_social", "ru_search", "ru_video"]
    cur1 = pd.Series([250.0] * 4, index=ids)
    cur2 = pd.Series([100.0, 100.0, 400.0, 400.0], index=ids)
    p = _problem(current=cur1, constraints=[pm.ShiftLimit(max_change=0.1, name="shift")])
    pm.solve(p)  # fills the cache for cur1
    q = p.replace(current=cur2)
    lo, hi = q.constraint("shift")._limits(q)
    assert np.allclose(lo, cur2.to_numpy() * 0.9) and np.allclose(hi, cur2.to_numpy() * 1.1)
    a = pm.solve(q)
    assert np.all(np.abs(a.spend.to_numpy() - cur2.to_numpy()) <= 0.1 * cur2.to_numpy() + 1e-6)


def test_group_masks_follow_a_new_asset_table():
    p = _problem()
    pm.solve(p)
    ids = p.index
    moved = pd.DataFrame({"market": ["RU", "US", "US", "RU"]}, index=ids)
    q = p.replace(assets=moved)
    assert q.constraint("ru_floor").group_mask(q).tolist() == [True, False, False, True]
    a = pm.solve(q)
    assert a.spend[["us_search", "ru_video"]].sum() >= 300.0 * (1 - 1e-9)


def test_a_pickled_problem_carries_no_cache_and_solves_the_same():
    p = _problem()
    a = pm.solve(p)
    assert MEMO_ATTRIBUTE in p.__dict__
    q = pickle.loads(pickle.dumps(p))
    assert MEMO_ATTRIBUTE not in q.__dict__
    assert np.allclose(pm.solve(q).spend.to_numpy(), a.spend.to_numpy(), atol=1e-9)


def test_the_explanation_is_built_on_first_read_and_equals_the_cvxpy_routes():
    p = _problem()
    a = pm.solve(p)
    assert "constraints" not in a.__dict__ and "marginal_return" not in a.__dict__
    table = a.constraints  # built now
    assert "asset_duals" in a.__dict__
    b = pm.solve(p, solver="CLARABEL")  # the cvxpy chain
    assert b.attempts[0]["route"] == "cvxpy"
    assert table.index.tolist() == b.constraints.index.tolist()
    assert np.allclose(table["dual"], b.constraints["dual"], atol=1e-6)
    assert (table["binding"] == b.constraints["binding"]).all()
    assert np.allclose(a.marginal_utility, b.marginal_utility, atol=1e-6)
    assert np.allclose(a.asset_duals.fillna(0), b.asset_duals.fillna(0), atol=1e-6)


def test_a_copied_or_pickled_allocation_keeps_its_explanation():
    a = pm.solve(_problem())
    c = dataclasses.replace(a, notes=["checked"])
    assert c.notes == ["checked"] and c.constraints.equals(a.constraints)
    d = pickle.loads(pickle.dumps(c))
    assert d.constraints.equals(a.constraints) and d.marginal_return.equals(a.marginal_return)
    assert "binds" in d.summary() or "No strategy constraint binds" in d.summary()
    with pytest.raises(AttributeError):
        _ = a.no_such_field
