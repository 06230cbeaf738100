"""PyPortfolioOpt's published results on its own test prices, reproduced to 1e-6.

Estimators as the data set's README describes (geometric annualised mean, pairwise-complete
sample covariance x 252); long only, weights summing to 1 (budget = 1).
"""

from __future__ import annotations

import pandas as pd
import pytest

import portfolio_mkt as pm


@pytest.fixture(scope="module")
def mu_sigma(public_data):
    prices = pd.read_csv(public_data / "pyportfolioopt" / "stock_prices.csv",
                         parse_dates=True, index_col="date")
    rets = prices.pct_change(fill_method=None).dropna(how="all")
    mu = (1 + rets).prod() ** (252 / rets.count()) - 1
    sigma = rets.cov() * 252
    return mu, sigma


CASES = [
    ("min_volatility", dict(objective="min_risk"), 0.15056821399482578, 0.15915084514118694),
    ("max_quadratic_utility_delta2", dict(risk_aversion=2.0), 0.3677732711751504,
     0.2921342197778279),
    ("efficient_risk_0.19", dict(objective="max_return", max_risk=0.19), 0.2552422849133517,
     0.19),
    ("efficient_return_0.25", dict(objective="min_risk", min_outcome=0.25), 0.25,
     0.18723269942026335),
]


@pytest.mark.parametrize("label,kwargs,ret,vol", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("solver", [None, "CLARABEL"])
def test_published_results(mu_sigma, label, kwargs, ret, vol, solver):
    mu, sigma = mu_sigma
    alloc = pm.solve(pm.Problem(mu, sigma, budget=1.0, **kwargs), solver=solver)
    assert alloc.spend.sum() == pytest.approx(1.0, abs=1e-8)
    assert (alloc.spend >= -1e-9).all()
    assert alloc.expected_outcome == pytest.approx(ret, rel=1e-6)
    assert alloc.risk == pytest.approx(vol, rel=1e-6)


def test_default_solver_choice(mu_sigma):
    mu, sigma = mu_sigma
    # a dense QP: HiGHS on the program's own matrices (the direct route, docs/routing.md)
    alloc = pm.solve(pm.Problem(mu, sigma, budget=1.0))
    assert alloc.solver == "HIGHS" and alloc.attempts[0]["route"] == "direct"
    # a risk limit is a second-order cone: Clarabel
    p = pm.Problem(mu, sigma, budget=1.0, objective="max_return", max_risk=0.19)
    assert pm.solve(p).solver == "CLARABEL"


def test_pypfopt_library_agrees_when_installed(mu_sigma):
    """The peer library itself, on the same inputs (skips where it is not installed)."""
    pypfopt = pytest.importorskip("pypfopt")
    mu, sigma = mu_sigma
    ef = pypfopt.EfficientFrontier(mu, sigma)
    w = pd.Series(ef.max_quadratic_utility(risk_aversion=2.0))
    ours = pm.solve(pm.Problem(mu, sigma, budget=1.0, risk_aversion=2.0)).shares
    assert (ours - w.reindex(ours.index)).abs().max() < 1e-5
