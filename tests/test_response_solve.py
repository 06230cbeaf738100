"""End-to-end: response curves through pm.solve, checked against analytic and scipy optima."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import portfolio_mkt as pm
from portfolio_mkt.response import (
    ExponentialSaturation,
    Hill,
    Logarithmic,
    Logistic,
    MichaelisMenten,
    Power,
    make_return_term,
)

BUDGET = 2_000_000.0


def _log_curves(n, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"a{i}" for i in range(n)])
    k = rng.uniform(0.05, 0.5, n) * BUDGET / n * 4
    roi0 = rng.uniform(1.5, 4.0, n)
    return idx, {a: Logarithmic(r * kk, kk) for a, r, kk in zip(idx, roi0, k, strict=True)}


def _scipy_optimum(curves, idx, cov=None, delta=0.0, x0=None):
    """Independent oracle: SLSQP on the true curves, in shares of the budget."""
    cs = [curves[a] for a in idx]

    def neg(w):
        x = w * BUDGET
        val = sum(float(c.value(xi)) for c, xi in zip(cs, x, strict=True)) / BUDGET
        if cov is not None:
            val -= delta / 2 * w @ cov @ w
        return -val

    def grad(w):
        x = w * BUDGET
        g = np.array([float(c.derivative(xi)) for c, xi in zip(cs, x, strict=True)])
        if cov is not None:
            g = g - delta * cov @ w
        return -g

    n = len(idx)
    w0 = np.full(n, 1.0 / n) if x0 is None else x0 / BUDGET
    res = minimize(neg, w0, jac=grad, method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                 "jac": lambda w: np.ones(n)}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    assert res.success
    return res.x * BUDGET, -res.fun * BUDGET


def test_marginal_rois_equalize_without_risk():
    idx = pd.Index(["log", "exp", "mm", "pow", "hill"])
    curves = {"log": Logarithmic(6e5, 2e5), "exp": ExponentialSaturation(9e5, 4e5),
              "mm": MichaelisMenten(1.2e6, 5e5), "pow": Power(900.0, 0.5),
              "hill": Hill(1.1e6, 5e5, 0.8)}
    mu = pd.Series(0.0, index=idx)
    alloc = pm.solve(pm.Problem(mu, budget=BUDGET, response=curves))
    assert alloc.solver == "CLARABEL"
    assert (alloc.spend > 0.02 * BUDGET).all()  # interior: no bound binds
    m = alloc.marginal_return.to_numpy()
    assert np.ptp(m) / m.mean() < 1e-4
    assert (alloc.response["method"] == "exact").all()
    # the common marginal ROI is the budget constraint's dual (value of one more unit)
    budget_dual = alloc.constraints.loc["budget", "dual"]
    assert budget_dual == pytest.approx(m.mean(), rel=1e-4)
    x_sp, obj_sp = _scipy_optimum(curves, idx)
    assert alloc.expected_outcome == pytest.approx(obj_sp, rel=1e-7)
    np.testing.assert_allclose(alloc.spend.to_numpy(), x_sp, rtol=1e-3, atol=1e-4 * BUDGET)


def test_log_curves_with_variance_risk_match_scipy():
    idx, curves = _log_curves(8, seed=3)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(8, 8)) * 0.4
    cov = a @ a.T + np.eye(8) * 0.2
    delta = 2.0
    prob = pm.Problem(pd.Series(0.0, index=idx), covariance=pd.DataFrame(cov, idx, idx),
                      budget=BUDGET, response=curves, risk_aversion=delta)
    alloc = pm.solve(prob)
    x_sp, _ = _scipy_optimum(curves, idx, cov=cov, delta=delta)
    w_sp = x_sp / BUDGET
    util_sp = sum(float(curves[a].value(x)) for a, x in zip(idx, x_sp, strict=True)) / BUDGET \
        - delta / 2 * w_sp @ cov @ w_sp
    w = alloc.shares.to_numpy()
    util = alloc.expected_outcome / BUDGET - delta / 2 * w @ cov @ w
    assert util == pytest.approx(util_sp, rel=1e-7)
    assert util >= util_sp - 1e-9 * abs(util_sp)  # the convex solve is never worse


def _force(problem, **kw):
    """Replace the problem's return term (cached) by one with other approximation settings."""
    problem.__dict__["return_term"] = make_return_term(
        problem.response, problem.index, problem.expected_return.to_numpy(float),
        problem.halo, problem.response_tolerance, **kw)
    return problem


@pytest.mark.parametrize("tol", [1e-3, 1e-4])
def test_pwl_optimum_within_tolerance_of_exact_conic_optimum(tol):
    idx, curves = _log_curves(12, seed=1)
    mu = pd.Series(0.0, index=idx)
    exact = pm.solve(pm.Problem(mu, budget=BUDGET, response=curves))
    approx = pm.solve(_force(pm.Problem(mu, budget=BUDGET, response=curves,
                                        response_tolerance=tol), method="pwl"))
    assert (approx.response["method"] == "pwl").all()
    term = approx.problem.return_term
    bound = sum(tol * float(c.value(BUDGET)) for c in curves.values())
    # true objective at the PWL allocation: under the exact optimum, by less than the tolerance
    true_pwl = float(term.outcome(approx.spend.to_numpy()).sum())
    assert exact.expected_outcome - bound <= true_pwl <= exact.expected_outcome * (1 + 1e-9)
    gap = (exact.expected_outcome - true_pwl) / exact.expected_outcome
    assert gap < tol
    # the model's value at its optimum is a lower bound on the truth (chords under the curve)
    assert approx.model_outcome <= approx.expected_outcome + 1e-6


def test_logistic_pwl_against_scipy_on_true_curves():
    rng = np.random.default_rng(7)
    idx = pd.Index([f"c{i}" for i in range(6)])
    lam = rng.uniform(0.5, 3.0, 6) / 4e5
    beta = rng.uniform(2e5, 8e5, 6)
    curves = {a: Logistic(b, lm) for a, b, lm in zip(idx, beta, lam, strict=True)}
    # the piecewise-linear answer itself (pm.solve polishes it by default: see
    # tests/test_curves_exact_polish.py)
    alloc = pm.solve(pm.Problem(pd.Series(0.0, index=idx), budget=BUDGET, response=curves),
                     exact_curves=False)
    assert (alloc.response["method"] == "pwl").all()
    _, obj_sp = _scipy_optimum(curves, idx)
    bound = sum(1e-3 * float(c.value(BUDGET)) for c in curves.values())
    assert obj_sp - bound <= alloc.expected_outcome <= obj_sp * (1 + 1e-9)
    # the optimum sits on breakpoints: the budget's dual lies between the slopes of the pieces
    # on either side of each funded asset's spend (the PWL version of "marginal ROIs equal")
    dual = alloc.constraints.loc["budget", "dual"]
    term = alloc.problem.return_term
    for a in idx[alloc.spend.to_numpy() > 1e3]:
        pwl = term.approximations[a]
        x = alloc.spend[a]
        j = int(np.argmin(np.abs(pwl.breakpoints - x)))
        if abs(pwl.breakpoints[j] - x) > 1e-6 * BUDGET:  # inside a piece: dual == its slope
            j = int(np.searchsorted(pwl.breakpoints, x))
            left = right = pwl.slopes[j - 1]
        else:
            left = pwl.slopes[max(j - 1, 0)]
            right = pwl.slopes[min(j, pwl.segments - 1)]
        assert right * (1 - 1e-5) <= dual <= left * (1 + 1e-5)


def test_s_curve_uses_envelope_and_reports_payback():
    idx = pd.Index(["brand", "search"])
    curves = {"brand": Hill(2.5e6, 6e5, 3.0), "search": Logarithmic(8e5, 2e5)}
    alloc = pm.solve(pm.Problem(pd.Series(0.0, index=idx), budget=BUDGET, response=curves))
    rep = alloc.response
    assert rep.loc["brand", "method"] == "envelope"
    assert rep.loc["brand", "pays_from"] == pytest.approx(6e5 * 2 ** (1 / 3))
    term = alloc.problem.return_term
    assert term.envelope_assets == ["brand"]
    # brand is funded beyond the point where it pays, where the envelope is the true curve
    assert alloc.spend["brand"] > rep.loc["brand", "pays_from"]
    assert not rep.loc["brand", "below_payback"]
    # a global check: scan the one free share; the convex answer is the best on the true curves
    grid = np.linspace(0, BUDGET, 20001)
    vals = curves["brand"].value(grid) + curves["search"].value(BUDGET - grid)
    assert alloc.expected_outcome >= vals.max() - 2e-3 * vals.max()


def test_halo_shifts_budget_and_equalizes_total_marginal():
    idx = pd.Index(["video", "search"])
    curves = {"video": Logarithmic(5e5, 3e5), "search": Logarithmic(6e5, 3e5)}
    mu = pd.Series(0.0, index=idx)
    base = pm.solve(pm.Problem(mu, budget=BUDGET, response=curves))
    halo = pd.DataFrame({"search": [0.2]}, index=["video"])
    lifted = pm.solve(pm.Problem(mu, budget=BUDGET, response=curves, halo=halo))
    assert lifted.spend["video"] > base.spend["video"]
    m = lifted.marginal_return
    assert m["video"] == pytest.approx(m["search"], rel=1e-5)
    # closed form: 5e5/(3e5+v) + 0.2 = 6e5/(3e5+B-v)
    from scipy.optimize import brentq
    v = brentq(lambda v: 5e5 / (3e5 + v) + 0.2 - 6e5 / (3e5 + BUDGET - v), 0, BUDGET)
    assert lifted.spend["video"] == pytest.approx(v, rel=1e-5)
    out = lifted.response["true_outcome"]
    assert out["search"] == pytest.approx(
        curves["search"].value(lifted.spend["search"]) + 0.2 * lifted.spend["video"])


def test_curves_and_linear_assets_mix_and_response_floor():
    idx = pd.Index(["us_search", "ru_search", "ru_social"])
    attrs = pd.DataFrame({"market": ["US", "RU", "RU"]}, index=idx)
    curves = {"us_search": Logarithmic(1.5e6, 3e5), "ru_search": Logarithmic(2e5, 2e5)}
    mu = pd.Series([0.0, 0.0, 0.35], index=idx)
    free = pm.solve(pm.Problem(mu, budget=BUDGET, assets=attrs, response=curves))
    ru_free = float(free.response.loc[["ru_search", "ru_social"], "true_outcome"].sum())
    level = ru_free * 1.5
    floor = pm.ResponseFloor(where={"market": "RU"}, level=level, name="ru_floor")
    held = pm.solve(pm.Problem(mu, budget=BUDGET, assets=attrs, response=curves,
                               constraints=[floor]))
    ru = float(held.response.loc[["ru_search", "ru_social"], "true_outcome"].sum())
    assert ru == pytest.approx(level, rel=1e-6)
    assert "ru_floor" in held.binding
    assert held.expected_outcome < free.expected_outcome


@pytest.mark.parametrize(("k_video", "expect_zero"), [(5e5, False), (7e5, True)])
def test_solve_s_curves_reaches_the_true_optimum(k_video, expect_zero):
    from portfolio_mkt import solve_s_curves

    budget = 1e6
    curves = {"video": Hill(9e5, k_video, 2.5), "search": Logarithmic(6e5, 2e5)}
    problem = pm.Problem(pd.Series(0.0, index=["video", "search"]), budget=budget,
                         response=curves)
    relaxed = pm.solve(problem)
    assert relaxed.response.loc["video", "below_payback"]  # the envelope answer is not exact
    best = solve_s_curves(problem)
    grid = np.linspace(0, budget, 200_001)
    scan = curves["video"].value(grid) + curves["search"].value(budget - grid)
    slack = 1e-3 * sum(float(c.value(budget)) for c in curves.values())
    # the grid's best is a lower bound of the optimum (its spacing costs up to ~1e-9 relative)
    assert scan.max() - slack <= best.expected_outcome <= scan.max() * (1 + 1e-8)
    assert best.expected_outcome > relaxed.expected_outcome
    if expect_zero:  # the S-curve is not worth funding at all
        assert best.spend["video"] == pytest.approx(0.0, abs=1e-3)
        assert grid[scan.argmax()] == 0.0
    else:  # funded past the inflection point, here even below the payback spend
        assert best.spend["video"] >= curves["video"].inflection
        assert best.spend["video"] == pytest.approx(grid[scan.argmax()], rel=0.03)


def test_model_expression_is_defined_when_the_objective_ignores_it():
    """Under min_risk the curves are not maximised; the expression must still equal the model
    (the frontier reads it to set its outcome range)."""
    idx = pd.Index(["a", "b", "c"])
    curves = {"a": Logarithmic(3e5, 1e5), "b": Logistic(5e5, 1 / 1.5e5),
              "c": Hill(4e5, 2e5, 2.0)}
    cov = pd.DataFrame(np.diag([0.2, 0.3, 0.1]), idx, idx)
    problem = pm.Problem(pd.Series(0.0, index=idx), covariance=cov, budget=1e6,
                         response=curves, objective="min_risk")
    program = pm.compile_problem(problem)
    raw = program.solve_with("CLARABEL")
    x = raw.w * 1e6
    model = problem.return_term.model_outcome(x)
    np.testing.assert_allclose(program.outcome_expr.value * 1e6, model, rtol=1e-9)
    # inverse-variance weights: the min-risk answer ignores the curves
    np.testing.assert_allclose(raw.w, [3 / 11, 2 / 11, 6 / 11], rtol=1e-6)
    front = pm.frontier(problem.replace(objective="utility"), n_points=4)
    assert np.all(np.diff(front.expected_outcome) > 0)


@pytest.mark.parametrize("unit", [1e-6, 1.0, 1e3])
def test_currency_unit_does_not_change_the_answer(unit):
    """Money in units, thousands or millions: same shares, same outcome."""
    idx = pd.Index(["log", "logi", "mm"])
    curves = {"log": Logarithmic(6e5, 2e5), "logi": Logistic(9e5, 1 / 3e5),
              "mm": MichaelisMenten(1.2e6, 5e5)}
    cov = pd.DataFrame(np.diag([0.3, 0.2, 0.4]) + 0.05, idx, idx)
    base = pm.solve(pm.Problem(pd.Series(0.0, index=idx), covariance=cov, budget=BUDGET,
                               response=curves, risk_aversion=1.0))
    # money scaled by `unit`: x' = unit * x, so r'(x') = r(x' / unit); per-unit returns / unit
    scaled = {a: c.transform(1.0 / unit, 1.0) for a, c in curves.items()}
    alloc = pm.solve(pm.Problem(pd.Series(0.0, index=idx), covariance=cov / unit**2,
                                budget=BUDGET * unit, response=scaled,
                                risk_aversion=1.0 * unit))
    np.testing.assert_allclose(alloc.shares.to_numpy(), base.shares.to_numpy(), atol=1e-6)
    assert alloc.expected_outcome == pytest.approx(base.expected_outcome, rel=1e-7)


def test_solve_s_curves_keeps_outcome_targets_true():
    """The envelope can promise outcome an S-curve does not deliver; pm.solve then refuses
    (the target fails on the true curves) and solve_s_curves finds a plan that meets it."""
    from portfolio_mkt import solve_s_curves
    from portfolio_mkt.exceptions import ConstraintViolationError

    idx = pd.Index(["video", "search"])
    curves = {"video": Hill(9e5, 7e5, 2.5), "search": Logarithmic(6e5, 2e5)}
    relaxed = pm.solve(pm.Problem(pd.Series(0.0, index=idx), budget=1e6, response=curves))
    target = relaxed.model_outcome  # what the envelope promises at its optimum
    problem = pm.Problem(pd.Series(0.0, index=idx), budget=1e6, response=curves,
                         min_outcome=target * 0.97)
    with pytest.raises(ConstraintViolationError, match="min_outcome"):
        pm.solve(problem)
    best = solve_s_curves(problem)
    assert best.expected_outcome >= target * 0.97
    grid = np.linspace(0, 1e6, 100_001)
    scan = curves["video"].value(grid) + curves["search"].value(1e6 - grid)
    assert best.expected_outcome == pytest.approx(scan.max(), rel=1e-3)
