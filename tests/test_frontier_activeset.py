"""The active-set sweep of a dense covariance: equal to tight Clarabel solves, safe fallback."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import portfolio_mkt as pm
from portfolio_mkt.frontiers import frontier
from portfolio_mkt.optimization import LinearQP, OSQPFrontierSolver


def dense_qp(n: int, seed: int, cap: float, floor: float) -> LinearQP:
    """Long-only, capped shares summing to 1, a floor on the even-indexed group; dense Sigma."""
    rng = np.random.default_rng(seed)
    k = 5
    b = rng.normal(0.0, 0.3, (n, k))
    b[:, 0] += 0.4
    sigma = b @ np.diag(rng.uniform(0.01, 0.05, k)) @ b.T + np.diag(rng.uniform(0.002, 0.03, n))
    group = (np.arange(n) % 2 == 0).astype(float)
    a = sp.csr_matrix(np.vstack([np.ones(n), group]))
    return LinearQP(mu=rng.uniform(0.8, 3.0, n), lower=np.zeros(n), upper=np.full(n, cap),
                    A=a, lo=np.array([1.0, floor]), hi=np.array([1.0, np.inf]),
                    row_names=["budget", "floor"], dense=sigma)


def reference_variance(qp: LinearQP, target: float) -> float:
    """An independent tight interior-point solve (cvxpy + Clarabel, tolerances 1e-12)."""
    w = cp.Variable(qp.n)
    a = qp.A.toarray()
    cons = [w >= qp.lower, w <= qp.upper, a[0] @ w == 1.0, a[1] @ w >= qp.lo[1],
            qp.mu @ w >= target]
    cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(qp.dense))), cons).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return qp.variance(w.value)


def sweep(solver: OSQPFrontierSolver, n_points: int) -> list:
    lo = solver.min_risk()
    r_max, _ = solver.max_return_point()
    r_min = float(solver.qp.mu @ lo.w)
    targets = np.linspace(r_min, r_max, n_points)[1:-1]
    return [solver.solve_target(float(t)) for t in targets]


@pytest.mark.parametrize("seed, n, cap, floor", [(0, 30, 0.1, 0.6), (1, 60, 0.05, 0.7),
                                                 (2, 120, 0.04, 0.55)])
def test_active_set_points_equal_clarabel(seed: int, n: int, cap: float, floor: float) -> None:
    qp = dense_qp(n, seed, cap, floor)
    fast = OSQPFrontierSolver(qp, active_set=True)
    assert fast.active_set
    ref = OSQPFrontierSolver(qp, active_set=False)
    points = sweep(fast, 12)
    ref_points = sweep(ref, 12)
    assert fast.n_active_set == len(points)  # every interior point from the active set
    assert ref.n_active_set == 0
    for p, r in zip(points, ref_points, strict=True):
        assert p.status == "optimal" and p.message.startswith("active set")
        v = qp.variance(p.w)
        exact = reference_variance(qp, p.target)
        assert abs(v - exact) <= 1e-8 * exact
        # the Clarabel sweep agrees to its own tolerance
        assert abs(v - qp.variance(r.w)) <= 1e-6 * exact
        # feasible, and the return multiplier is the slope of the frontier
        assert np.all(p.w >= -1e-10) and np.all(p.w <= qp.upper + 1e-10)
        assert abs(p.w.sum() - 1.0) < 1e-10 and p.w[::2].sum() >= qp.lo[1] - 1e-10
        assert qp.mu @ p.w >= p.target - 1e-10 * abs(p.target)
        assert p.return_dual == pytest.approx(r.return_dual, rel=1e-4, abs=1e-9)


def test_failed_guess_falls_back_to_clarabel() -> None:
    qp = dense_qp(60, 3, 0.05, 0.6)
    solver = OSQPFrontierSolver(qp)
    solver.active_set_max_iter = 1  # the guess must be right at once
    lo = solver.min_risk()
    r_max, _ = solver.max_return_point()
    # far from the minimum-risk point the active set is a different one: the guess fails
    target = float(qp.mu @ lo.w) + 0.9 * (r_max - float(qp.mu @ lo.w))
    point = solver.solve_target(target)
    assert solver.n_active_set == 0 and solver.n_active_set_fallback == 1
    assert point.status == "optimal" and "-> Clarabel" in point.message
    exact = reference_variance(qp, target)
    assert abs(qp.variance(point.w) - exact) <= 1e-6 * exact
    # a target below the minimum-risk return: negative return multiplier -> Clarabel
    below = solver.solve_target(float(qp.mu @ lo.w) - 0.1)
    assert solver.n_active_set_fallback == 2 and "negative return multiplier" in below.message
    # the next nearby point is warm-started from the Clarabel solution and accepted
    solver.active_set_max_iter = OSQPFrontierSolver.ACTIVE_SET_MAX_ITER
    solver.solve_target(target)
    near = solver.solve_target(target + 1e-3 * (r_max - target))
    assert near.message.startswith("active set")
    exact = reference_variance(qp, near.target)
    assert abs(qp.variance(near.w) - exact) <= 1e-8 * exact


def test_active_set_only_for_dense() -> None:
    qp = dense_qp(20, 4, 0.2, 0.5)
    assert not OSQPFrontierSolver(qp).active_set  # small: Clarabel is as fast
    assert OSQPFrontierSolver(qp, active_set=True).active_set
    assert not OSQPFrontierSolver(qp, engine="osqp", active_set=True).active_set
    factor = LinearQP(mu=qp.mu, lower=qp.lower, upper=qp.upper, A=qp.A, lo=qp.lo, hi=qp.hi,
                      factor=np.linalg.cholesky(qp.dense), specific=np.zeros(qp.n))
    assert not OSQPFrontierSolver(factor, active_set=True).active_set
    assert OSQPFrontierSolver(dense_qp(40, 4, 0.2, 0.5)).active_set


def test_dense_frontier_uses_active_set_and_matches_factor_form() -> None:
    rng = np.random.default_rng(5)
    n, k = 80, 4
    ids = pd.Index([f"a{i}" for i in range(n)])
    fc = pm.FactorCovariance(pd.DataFrame(rng.normal(0, 0.3, (n, k)), ids, list("wxyz")),
                             pd.DataFrame(np.diag(rng.uniform(0.01, 0.05, k)), list("wxyz"),
                                          list("wxyz")),
                             pd.Series(rng.uniform(0.01, 0.05, n), ids))
    assets = pd.DataFrame({"market": np.where(np.arange(n) % 3 == 0, "RU", "US")}, index=ids)
    cons = [pm.Bounds(upper=0.05, unit="share", name="cap"),
            pm.GroupFloor(where={"market": "RU"}, amount=0.45, unit="share", name="ru")]
    mu = pd.Series(rng.uniform(0.5, 3.0, n), ids)
    dense = frontier(pm.Problem(mu, fc.to_dense(), budget=1e5, assets=assets, constraints=cons),
                     n_points=20)
    fact = frontier(pm.Problem(mu, fc, budget=1e5, assets=assets, constraints=cons), n_points=20)
    assert dense.ok.all()
    messages = dense.to_frame()["message"]
    # the interior points are read off the critical line (a parametric active-set walk)
    assert sum(m.startswith("critical line: KKT") for m in messages) == 18
    np.testing.assert_allclose(dense.risk**2, fact.risk**2, rtol=1e-6)
