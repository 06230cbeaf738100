"""Whole-piece plans against exhaustive enumeration (independent cvxpy / NumPy oracles)."""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.integer import (
    AtMostOne,
    Cardinality,
    Implies,
    MinimumTicket,
    RateCard,
    solve_integer,
)
from portfolio_mkt.response import ExponentialSaturation, Logarithmic, MichaelisMenten

GAP = 1e-4


def _world(n: int, seed: int, budget: float = 1_000_000.0, fee=(0.05, 0.3), delta=2.0,
           curves: bool = True) -> tuple[pm.Problem, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"c{i:02d}" for i in range(n)]
    resp = {}
    fams = (Logarithmic, ExponentialSaturation, MichaelisMenten)
    for i, a in enumerate(ids):
        beta = rng.uniform(0.5, 2.0) * budget / n
        k = rng.uniform(0.3, 1.5) * budget / n
        cls = fams[i % 3]
        resp[a] = cls(beta * (1 + i % 3), k * (1 + i % 3))
    vol = rng.uniform(0.2, 0.6, n)
    f = rng.normal(size=(n, 2)) * 0.3
    corr = f @ f.T + np.eye(n)
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    cov = pd.DataFrame(corr * np.outer(vol, vol), index=ids, columns=ids)
    fees = pd.Series(rng.uniform(*fee, n) * budget, index=ids)
    assets = pd.DataFrame({"market": ["US", "RU"] * (n // 2) + ["US"] * (n % 2),
                           "fee": fees}, index=ids)
    mu = pd.Series(rng.uniform(1.0, 3.0, n), index=ids)
    p = pm.Problem(mu, cov, budget=budget, assets=assets,
                   response=resp if curves else None, risk_aversion=delta)
    return p, fees


def _subset_oracle(p: pm.Problem, lower_on: np.ndarray, allowed) -> tuple[float, np.ndarray]:
    """Best objective over every on/off pattern ``allowed`` accepts, each solved by cvxpy."""
    n, b = p.n_assets, p.budget
    w = cp.Variable(n, nonneg=True)
    lo = cp.Parameter(n, nonneg=True)
    hi = cp.Parameter(n, nonneg=True)
    if p.response is not None:
        ret = cp.sum(cp.hstack([p.response[a].rescale(b).cvxpy(w[i])
                                for i, a in enumerate(p.index)]))
    else:
        ret = p.expected_return.to_numpy() @ w
    cov = p.covariance.to_numpy()
    prob = cp.Problem(cp.Maximize(ret - p.risk_aversion / 2 * cp.quad_form(w, cov)),
                      [cp.sum(w) == 1, w >= lo, w <= hi])
    best, best_s = -np.inf, None
    for bits in itertools.product([0, 1], repeat=n):
        s = np.array(bits, dtype=bool)
        if not s.any() or not allowed(s) or lower_on[s].sum() > b:
            continue
        lo.value = np.where(s, lower_on / b, 0.0)
        hi.value = s.astype(float)
        prob.solve(solver="CLARABEL")
        if prob.status == "optimal" and prob.value > best:
            best, best_s = prob.value, s
    return best * b, best_s


@pytest.mark.parametrize("seed,curves,perspective", [
    (0, True, True), (1, True, False), (2, False, True),
])
def test_tickets_match_enumeration_of_all_subsets(seed, curves, perspective):
    p, fees = _world(10, seed, curves=curves)
    plan = solve_integer(p, [MinimumTicket(fee="fee")], perspective=perspective)
    best, best_s = _subset_oracle(p, fees.to_numpy(), lambda s: True)
    assert plan.status == "optimal"
    assert plan.gap <= GAP
    assert abs(plan.objective - best) <= GAP * abs(best)
    x = plan.spend.to_numpy()
    on = x > 0
    assert np.all(x[on] >= fees.to_numpy()[on] * (1 - 1e-6))
    assert abs(x.sum() - p.budget) <= 1e-6 * p.budget
    # whole pieces cost something, never gain: the continuous plan bounds the whole one
    assert plan.relaxation_objective >= plan.objective - 1e-6 * abs(plan.objective)
    assert plan.bound >= plan.objective - 1e-9 * abs(plan.objective)


def test_counting_rules_match_enumeration():
    p, fees = _world(8, 3, fee=(0.02, 0.08))
    us = (p.assets["market"] == "US").to_numpy()
    ids = list(p.index)
    rules = [
        MinimumTicket(fee="fee"),
        Cardinality(where={"market": "US"}, at_most=2),
        Cardinality(where={"market": "RU"}, at_least=3, min_funded=1.0),
        AtMostOne([ids[1], ids[3]]),
        Implies(ids[5], ids[0], min_funded=1.0),
    ]

    def allowed(s):
        k = s.astype(int)  # (numpy bools add as logical or)
        return (k[us].sum() <= 2 and k[~us].sum() >= 3 and k[1] + k[3] <= 1
                and (not k[5] or k[0]))

    lower = np.maximum(fees.to_numpy(), 1.0)
    best, best_s = _subset_oracle(p, lower, allowed)
    plan = solve_integer(p, rules)
    assert plan.status == "optimal"
    assert abs(plan.objective - best) <= GAP * abs(best)
    assert plan.checks["ok"].all()
    on = plan.funded.to_numpy()
    assert allowed(on)


def _card_oracle(p: pm.Problem, price: np.ndarray, fee: np.ndarray, max_units: int
                 ) -> float:
    """Brute force over unit counts: the card assets' spend is fixed by their units and the
    one free asset takes the rest of the budget, so each pattern is evaluated in NumPy.
    Curves and risk see the working spend (booking fees earn nothing)."""
    b = p.budget
    card = np.isfinite(price)
    free = np.flatnonzero(~card)
    assert len(free) == 1
    ci = np.flatnonzero(card)
    cov = p.covariance.to_numpy()
    best = -np.inf
    for units in itertools.product(range(max_units + 1), repeat=len(ci)):
        u = np.array(units, dtype=float)
        cost = np.where(u > 0, price[ci] * u + fee[ci], 0.0)
        if cost.sum() > b:
            continue
        x = np.zeros(p.n_assets)
        x[ci] = cost
        x[free] = b - cost.sum()
        working = x.copy()
        working[ci] = price[ci] * u
        ret = sum(float(p.response[a].value(working[i])) for i, a in enumerate(p.index))
        val = ret - p.risk_aversion / (2 * b) * working @ cov @ working
        best = max(best, val)
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_rate_card_matches_brute_force(seed):
    p, _ = _world(4, seed)
    price = np.array([90_000.0, 130_000.0, 70_000.0, np.nan])
    fee = np.array([15_000.0, 0.0, 25_000.0, 0.0])
    prices = pd.Series(price, index=p.index)
    fees = pd.Series(fee, index=p.index)
    plan = solve_integer(p, [RateCard(unit_price=prices.dropna(), booking_fee=fees)])
    best = _card_oracle(p, price, fee, max_units=8)
    assert plan.status == "optimal"
    assert abs(plan.objective - best) <= GAP * abs(best)
    units = plan.units.to_numpy()
    x = plan.spend.to_numpy()
    for i in range(3):
        if x[i] > 0:
            assert units[i] == round(units[i]) and units[i] >= 1
            assert x[i] == pytest.approx(price[i] * units[i] + fee[i], rel=1e-12)
        else:
            assert units[i] == 0


def test_node_limit_returns_best_plan_with_its_gap():
    p, _ = _world(10, 4, fee=(0.05, 0.2))
    plan = solve_integer(p, [MinimumTicket(fee="fee"),
                             Cardinality(where={"market": "US"}, at_most=2)],
                         perspective=False, node_limit=2)
    assert plan.status == "time_limit"
    assert plan.checks["ok"].all()
    assert plan.gap > 0
    assert plan.bound >= plan.objective
    full = solve_integer(p, [MinimumTicket(fee="fee"),
                             Cardinality(where={"market": "US"}, at_most=2)])
    # the proven bound of the truncated search bounds the true optimum
    assert plan.bound >= full.objective * (1 - 1e-6)
    assert full.objective >= plan.objective * (1 - 1e-6)


@pytest.mark.parametrize("objective,mode", [("utility", "exact"), ("max_return", "cap"),
                                            ("min_risk", "exact")])
def test_strategy_constraints_and_objectives_match_pm_solve_per_subset(objective, mode):
    """Second oracle: the library's own continuous solver on every subset (Bounds pin the
    subset), with a group floor and a lock in the problem."""
    p, fees = _world(6, 11, fee=(0.08, 0.2))
    p = p.replace(objective=objective, budget_mode=mode,
                  max_risk=None if objective != "max_return" else 0.6 * p.budget,
                  constraints=[pm.GroupFloor({"market": "RU"}, 0.3, unit="share",
                                             name="ru_floor"),
                               pm.Lock({"c00": 150_000.0}, minimum=True, name="c00_min")])
    plan = solve_integer(p, [MinimumTicket(fee="fee")])
    f = fees.to_numpy()
    best = None
    for bits in itertools.product([0, 1], repeat=p.n_assets):
        s = np.array(bits, dtype=bool)
        if not s[0] or f[s].sum() > p.budget:
            continue
        lo = pd.Series(np.where(s, f, 0.0), index=p.index)
        hi = pd.Series(np.where(s, p.budget, 0.0), index=p.index)
        q = p.replace(constraints=[*p.constraints, pm.Bounds(lo, hi, name="subset")])
        try:
            a = pm.solve(q)
        except pm.exceptions.PortfolioMktError:
            continue
        val = {"utility": a.utility, "max_return": a.expected_outcome, "min_risk": -a.risk}
        v = val[objective]
        best = v if best is None else max(best, v)
    got = -plan.objective if objective == "min_risk" else plan.objective
    assert plan.status == "optimal"
    assert abs(got - best) <= 2 * GAP * abs(best)
    assert plan.checks["ok"].all()
