"""The core program: analytic optima, KKT conditions, two solvers, duals, result contents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.examples import example_problem
from portfolio_mkt.optimization import compile_problem


def _random_problem(n=6, seed=0, budget=1_000_000.0, delta=3.0, **kw):
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(1.8, 2.2, n), index=ids)
    a = rng.normal(size=(n, n)) * 0.3
    cov = pd.DataFrame(a @ a.T + np.eye(n) * 0.5, index=ids, columns=ids)
    return pm.Problem(mu, cov, budget=budget, risk_aversion=delta, **kw)


def test_closed_form_mean_variance_under_budget_equality():
    """Interior optimum: w = Sigma^-1 (mu - lambda 1) / delta with lambda from sum(w) = 1."""
    p = _random_problem(n=6, seed=1, delta=3.0)
    s = p.covariance.to_numpy()
    mu = p.expected_return.to_numpy()
    si = np.linalg.inv(s)
    one = np.ones(len(mu))
    lam = (one @ si @ mu - p.risk_aversion) / (one @ si @ one)
    w = si @ (mu - lam * one) / p.risk_aversion
    assert (w > 0.01).all()  # interior: the long-only bound does not bind
    alloc = pm.solve(p)
    np.testing.assert_allclose(alloc.shares.to_numpy(), w, rtol=1e-6, atol=1e-9)
    # the budget's dual is lambda, in outcome per unit of money
    assert alloc.constraints.loc["budget", "dual"] == pytest.approx(lam, rel=1e-6)
    # at an interior optimum the risk-adjusted marginal values are all equal to lambda
    np.testing.assert_allclose(alloc.marginal_utility.to_numpy(), lam, rtol=1e-6)


def test_kkt_conditions_with_long_only_binding():
    """Stationarity and complementary slackness with some assets at zero."""
    ids = list("abcde")
    mu = pd.Series([3.0, 2.9, 1.0, 0.8, 2.5], index=ids)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5)) * 0.2
    cov = pd.DataFrame(a @ a.T + np.eye(5) * 0.4, index=ids, columns=ids)
    alloc = pm.solve(pm.Problem(mu, cov, budget=1.0, risk_aversion=2.0))
    w = alloc.shares.to_numpy()
    grad = alloc.marginal_utility.to_numpy()  # mu - delta * Sigma w
    nu = alloc.constraints.loc["budget", "dual"]
    zero = w < 1e-8
    assert zero.any() and (~zero).sum() >= 2
    np.testing.assert_allclose(grad[~zero], nu, rtol=1e-6)  # stationarity where funded
    assert (grad[zero] <= nu + 1e-8).all()  # no unfunded asset would improve the objective
    # the long-only multipliers are nu - grad >= 0 on the zero assets; reported as
    # d objective / d lower bound, i.e. their negative
    lo = alloc.asset_duals["long_only"].to_numpy()
    np.testing.assert_allclose(-lo[zero], nu - grad[zero], rtol=1e-5, atol=1e-8)


def test_osqp_agrees_with_clarabel_on_the_example():
    p = example_problem()
    a = pm.solve(p, solver="OSQP")
    b = pm.solve(p, solver="CLARABEL")
    assert a.solver == "OSQP" and b.solver == "CLARABEL"
    assert a.utility == pytest.approx(b.utility, rel=1e-6)
    assert (a.spend - b.spend).abs().max() < 1e-4 * p.budget


def test_units_do_not_matter_on_the_example():
    p = example_problem()
    a = pm.solve(p)
    # the same plan with money in millions
    from portfolio_mkt.examples import example_assets

    assets = example_assets()
    q = pm.Problem(
        p.expected_return, p.covariance, budget=p.budget / 1e6, assets=p.assets,
        current=assets["current"] / 1e6, risk_aversion=p.risk_aversion,
        constraints=[
            pm.Bounds(upper=0.25, unit="share", name="max_25pct_per_asset"),
            pm.Lock({"ru_creator_anna": 0.12, "ru_creator_ivan": 0.06}, name="committed_ru"),
            pm.GroupFloor(where={"market": "RU"}, amount=0.35, unit="share", name="ru_floor"),
            pm.GroupFloor(where={"tags": "brand"}, amount=0.15, name="brand_floor"),
        ],
    )
    b = pm.solve(q)
    np.testing.assert_allclose(b.shares.to_numpy(), a.shares.to_numpy(), rtol=1e-6, atol=1e-9)
    assert b.expected_outcome * 1e6 == pytest.approx(a.expected_outcome, rel=1e-6)


def test_dual_of_a_floor_matches_a_resolve():
    """d utility / d floor amount from the dual equals a finite difference of re-solves."""
    p = example_problem()
    a = pm.solve(p)
    dual = a.constraints.loc["brand_floor", "dual"]
    assert a.constraints.loc["brand_floor", "binding"]
    eps = 500.0

    def utility_at(amount):
        cons = [c if c.name != "brand_floor" else pm.GroupFloor(
            where={"tags": "brand"}, amount=amount, name="brand_floor") for c in p.constraints]
        return pm.solve(p.replace(constraints=cons)).utility

    fd = (utility_at(150_000 + eps) - utility_at(150_000 - eps)) / (2 * eps)
    assert fd == pytest.approx(dual, rel=1e-4)
    assert dual < 0  # a floor costs


def test_dual_of_the_budget_matches_a_resolve():
    p = _random_problem(n=5, seed=2, budget=1000.0, delta=3.0)
    a = pm.solve(p)
    b = pm.solve(p.replace(budget=1000.0 + 1e-2))
    # utility in outcome units is B*(mu'w - delta/2 w'Sigma w); its derivative in B is the dual
    # of the share-budget constraint only when shares stay fixed, so compare with the formula
    w = a.shares.to_numpy()
    mu = p.expected_return.to_numpy()
    s = p.covariance.to_numpy()
    f = mu @ w - p.risk_aversion / 2 * w @ s @ w
    assert (b.utility - a.utility) / 1e-2 == pytest.approx(f, rel=1e-4)


def test_allocation_contents_and_frame():
    p = example_problem()
    a = pm.solve(p)
    df = a.to_frame()
    assert list(df.index) == list(p.index)
    for col in ("market", "current", "spend", "share", "change", "marginal_return"):
        assert col in df.columns
    np.testing.assert_allclose(df["change"], df["spend"] - df["current"])
    assert a.change is not None
    assert a.expected_outcome == pytest.approx(float(p.expected_return @ a.spend), rel=1e-12)
    x = a.spend.to_numpy()
    assert a.risk == pytest.approx(np.sqrt(x @ p.covariance.to_numpy() @ x), rel=1e-12)
    assert set(a.binding) >= {"committed_ru", "ru_floor", "brand_floor"}
    text = a.summary()
    assert "ru_floor" in text and "binds" in text
    assert (a.constraints["violation"] <= a.constraints["tolerance"]).all()


def test_program_is_dpp_and_resolves_with_parameters():
    p = _random_problem(n=5, seed=4)
    prog = compile_problem(p)
    assert prog.is_dpp()
    a = pm.solve(p, program=prog)
    prog.risk_aversion.value = 10.0
    b = pm.solve(p.replace(risk_aversion=10.0), program=prog)
    c = pm.solve(p.replace(risk_aversion=10.0))
    np.testing.assert_allclose(b.spend, c.spend, rtol=1e-6, atol=1e-6 * p.budget)
    assert b.risk < a.risk


def test_set_budget_reuses_the_program():
    p = example_problem()
    prog = compile_problem(p)
    prog.set_budget(2.2e6)
    a = pm.solve(p.replace(budget=2.2e6), program=prog)
    b = pm.solve(p.replace(budget=2.2e6))
    np.testing.assert_allclose(a.spend, b.spend, rtol=1e-6, atol=1e-6 * 2.2e6)


def test_fitted_sklearn_estimator_as_covariance():
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 4)) * 0.5 + 2.0, columns=list("wxyz"))
    est = LedoitWolf().fit(x)
    p = pm.Problem(x.mean(), est, budget=1.0, risk_aversion=2.0)
    np.testing.assert_allclose(p.covariance.to_numpy(), est.covariance_)
    assert pm.solve(p).spend.sum() == pytest.approx(1.0, abs=1e-8)


def test_factor_covariance_matches_dense():
    rng = np.random.default_rng(5)
    ids = [f"c{i}" for i in range(30)]
    b = pd.DataFrame(rng.normal(size=(30, 3)) * 0.3, index=ids, columns=["f1", "f2", "f3"])
    om = pd.DataFrame(np.diag([0.5, 0.3, 0.2]), index=b.columns, columns=b.columns)
    d = pd.Series(rng.uniform(0.1, 0.4, 30), index=ids)
    fc = pm.FactorCovariance(b, om, d)
    mu = pd.Series(rng.uniform(1.5, 2.5, 30), index=ids)
    a = pm.solve(pm.Problem(mu, fc, budget=1.0, risk_aversion=4.0))
    c = pm.solve(pm.Problem(mu, fc.to_dense(), budget=1.0, risk_aversion=4.0))
    np.testing.assert_allclose(a.shares, c.shares, atol=1e-7)
    assert a.risk == pytest.approx(c.risk, rel=1e-7)


def test_budget_cap_leaves_money_unspent_when_returns_are_negative():
    mu = pd.Series({"a": 0.5, "b": -0.2})
    p = pm.Problem(mu, budget=100.0, budget_mode="cap",
                   constraints=[pm.Bounds(upper=40.0, name="cap40")])
    a = pm.solve(p)
    assert a.spend["a"] == pytest.approx(40.0, abs=1e-5)
    assert a.spend["b"] == pytest.approx(0.0, abs=1e-5)


def test_fitted_factor_estimator_keeps_the_factor_form():
    from portfolio_mkt.estimation import FactorModel, returns_matrix
    from portfolio_mkt.simulate import simulate_history

    sim = simulate_history(random_state=0)
    r = returns_matrix(sim.history)
    est = FactorModel(method="pca", n_factors=2).fit(r.fillna(r.mean()))
    mu = r.mean()
    p = pm.Problem(mu, est, budget=1.0, risk_aversion=4.0)
    assert isinstance(p.covariance, pm.FactorCovariance)
    dense = pm.solve(pm.Problem(mu, p.covariance.to_dense(), budget=1.0, risk_aversion=4.0))
    np.testing.assert_allclose(pm.solve(p).shares, dense.shares, atol=1e-6)


def test_s_curve_target_failure_names_the_asset_and_the_remedy():
    """An outcome target met only on an S-curve's envelope gets a precise error."""
    from portfolio_mkt.exceptions import ConstraintViolationError
    from portfolio_mkt.response import Hill

    mu = pd.Series({"lin": 5.0, "s_curve": 0.0})
    assets = pd.DataFrame({"kind": ["linear", "s"]}, index=mu.index)
    curves = {"s_curve": Hill(beta=1000.0, k=100.0, slope=3.0)}
    cap = pm.GroupCap({"kind": "s"}, 80.0, name="s_cap")
    # the envelope's tangent from the origin touches at k * 2**(1/3) ~ 126 with slope ~5.29 > 5,
    # so s_curve is filled to its cap of 80, below the 126 where the true curve starts to pay:
    # true outcome 120 * 5 + 1000 * 80**3 / (100**3 + 80**3) = 938.6, the envelope says ~1023
    p = pm.Problem(mu, budget=200.0, assets=assets, response=curves, constraints=[cap])
    ok = pm.solve(p)
    assert ok.spend["s_curve"] == pytest.approx(80.0, abs=1e-4)
    assert ok.expected_outcome == pytest.approx(600 + 1000 * 512_000 / 1_512_000, rel=1e-6)
    assert ok.model_outcome > ok.expected_outcome + 80
    assert "starts to pay" in ok.summary()
    with pytest.raises(ConstraintViolationError, match="s_curve.*solve_s_curves"):
        pm.solve(p.replace(min_outcome=1000.0))
