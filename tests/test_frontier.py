"""Frontier: monotone, points equal independent solves, DPP, failures kept, two paths agree."""

from __future__ import annotations

import cvxpy as cp
import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.examples import example_problem
from portfolio_mkt.exceptions import InputError, SolverError
from portfolio_mkt.frontiers import Frontier, compare_frontiers, frontier
from portfolio_mkt.optimization import Program
from portfolio_mkt.optimization import _qp as qp_module

matplotlib.use("Agg")


def factor_problem(n: int = 40, k: int = 4, seed: int = 0, strategy: bool = True,
                   dense: bool = False) -> pm.Problem:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"c{i:03d}" for i in range(n)])
    factors = [f"f{j}" for j in range(k)]
    b = rng.normal(0.0, 0.3, (n, k))
    b[:, 0] += 0.5
    omega = np.diag(rng.uniform(0.01, 0.05, k))
    d = rng.uniform(0.005, 0.05, n)
    fc = pm.FactorCovariance(pd.DataFrame(b, ids, factors), pd.DataFrame(omega, factors, factors),
                             pd.Series(d, ids))
    mu = pd.Series(rng.uniform(0.8, 3.0, n), ids)
    markets = np.where(np.arange(n) % 3 == 0, "RU", "US")
    assets = pd.DataFrame({"market": markets}, index=ids)
    cons = [pm.Bounds(upper=0.1, unit="share", name="cap")]
    if strategy:
        cons += [pm.Lock({ids[1]: 20_000.0, ids[2]: 10_000.0}, name="committed"),
                 pm.GroupFloor(where={"market": "RU"}, amount=0.4, unit="share",
                               name="ru_floor")]
    cov = fc.to_dense() if dense else fc
    return pm.Problem(mu, cov, budget=1_000_000, assets=assets, constraints=cons,
                      current=pd.Series(1_000_000 / n, ids), name="factor plan")


def reference_point(problem: pm.Problem, target: float | None) -> tuple[np.ndarray, float]:
    """min w'Sigma w s.t. mu'w >= target and the problem's linear constraints, built here."""
    n = problem.n_assets
    w = cp.Variable(n)
    cov = problem.covariance
    if isinstance(cov, pm.FactorCovariance):
        f = cov.factor_root(problem.index)
        var = cp.sum_squares(f.T @ w) + cp.sum(cp.multiply(cov.specific(problem.index),
                                                           cp.square(w)))
    else:
        var = cp.quad_form(w, cp.psd_wrap(cov.to_numpy()))
    mu = problem.return_term.mu
    cons = [w >= 0, cp.sum(w) == 1]
    for c in problem.constraints:
        if isinstance(c, pm.Bounds):
            cons.append(w <= 0.1 if c.upper == 0.1 else w <= np.inf)
        elif isinstance(c, pm.Lock):
            pos = problem.index.get_indexer(list(c.spend))
            cons.append(w[pos] == np.array(list(c.spend.values())) / problem.budget)
        elif isinstance(c, pm.GroupFloor):
            mask = (problem.assets["market"] == "RU").to_numpy()
            cons.append(cp.sum(w[np.flatnonzero(mask)]) >= 0.4)
    if target is not None:
        cons.append(mu @ w >= target / problem.budget)
    cp.Problem(cp.Minimize(1e2 * var), cons).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    x = w.value * problem.budget
    return x, float(np.sqrt(problem.variance(x)))


@pytest.fixture(scope="module")
def fp() -> pm.Problem:
    return factor_problem()


@pytest.fixture(scope="module")
def front(fp: pm.Problem) -> Frontier:
    return frontier(fp, n_points=15)


def test_fast_path_taken_and_all_points_solved(front: Frontier) -> None:
    assert front.method == "fast"
    assert front.ok.all()
    assert [p.kind for p in front][0] == "min_risk"
    assert [p.kind for p in front][-1] == "max_return"


def test_monotone_risk_rises_with_outcome(front: Frontier) -> None:
    out, risk = front.expected_outcome, front.risk
    assert np.all(np.diff(out) > 0)
    assert np.all(np.diff(risk) >= -1e-9 * risk.max())
    # evenly spaced in expected outcome between the end points
    np.testing.assert_allclose(np.diff(out), np.diff(out).mean(), rtol=1e-6)


def test_each_point_matches_an_independent_clarabel_solve(fp: pm.Problem,
                                                          front: Frontier) -> None:
    for i in (0, 4, 9, 14):
        p = front[i]
        target = None if p.kind == "min_risk" else p.target_outcome
        x, risk = reference_point(fp, target)
        assert p.risk == pytest.approx(risk, rel=1e-6)
        # variance to 1e-6 relative, spend to a tight absolute tolerance of the budget
        assert p.risk**2 == pytest.approx(risk**2, rel=1e-6)
        np.testing.assert_allclose(p.spend.to_numpy(), x, atol=1e-4 * fp.budget)


def test_each_point_matches_pm_solve_at_its_target(fp: pm.Problem, front: Frontier) -> None:
    p = front[7]
    alloc = pm.solve(fp.replace(objective="min_risk", min_outcome=p.target_outcome))
    assert alloc.risk == pytest.approx(p.risk, rel=1e-6)
    assert alloc.expected_outcome == pytest.approx(p.expected_outcome, rel=1e-6)


def test_risk_aversion_reproduces_the_point(fp: pm.Problem, front: Frontier) -> None:
    p = front[6]
    assert np.isfinite(p.risk_aversion) and p.risk_aversion > 0
    alloc = pm.solve(fp.replace(objective="utility", risk_aversion=p.risk_aversion),
                     solver="CLARABEL")
    np.testing.assert_allclose(alloc.spend.to_numpy(), p.spend.to_numpy(),
                               atol=1e-4 * fp.budget)
    assert np.isnan(front[0].risk_aversion)


def test_fast_path_agrees_with_cvxpy_path(fp: pm.Problem, front: Frontier) -> None:
    slow = frontier(fp, n_points=15, method="cvxpy")
    assert slow.method == "cvxpy"
    np.testing.assert_allclose(front.expected_outcome, slow.expected_outcome, rtol=1e-6)
    np.testing.assert_allclose(front.risk**2, slow.risk**2, rtol=1e-6)


def test_osqp_engine_agrees_with_clarabel_engine(fp: pm.Problem, front: Frontier) -> None:
    other = frontier(fp, n_points=15, engine="osqp")
    np.testing.assert_allclose(other.risk**2, front.risk**2, rtol=1e-6)
    np.testing.assert_allclose(other.expected_outcome, front.expected_outcome, rtol=1e-7)
    ra1 = np.array([p.risk_aversion for p in front][1:-1])
    ra2 = np.array([p.risk_aversion for p in other][1:-1])
    np.testing.assert_allclose(ra1, ra2, rtol=1e-4)


def test_dense_covariance_agrees_with_factor_form() -> None:
    f1 = frontier(factor_problem(n=25, seed=3), n_points=8)
    f2 = frontier(factor_problem(n=25, seed=3, dense=True), n_points=8)
    np.testing.assert_allclose(f1.risk**2, f2.risk**2, rtol=1e-6)


def test_cvxpy_path_is_one_dpp_program(fp: pm.Problem) -> None:
    slow = frontier(fp, n_points=5, method="cvxpy")
    prog = slow.program
    assert isinstance(prog, Program)
    assert prog.problem_cvx.is_dcp(dpp=True)
    assert prog.target_outcome is not None  # the swept Parameter
    # the same program re-valued for another target stays compiled (no new canonicalisation)
    prog.target_outcome.value = float(prog.target_outcome.value) * 0.999
    assert prog.problem_cvx.is_dcp(dpp=True)


def test_example_problem_fast_equals_cvxpy() -> None:
    p = example_problem()
    a, b = frontier(p, n_points=12), frontier(p, n_points=12, method="cvxpy")
    assert a.method == "fast" and b.method == "cvxpy"
    np.testing.assert_allclose(a.risk**2, b.risk**2, rtol=1e-6)
    np.testing.assert_allclose(a.expected_outcome, b.expected_outcome, rtol=1e-6)
    assert a.current is not None


def test_nonlinear_constraint_takes_the_cvxpy_path() -> None:
    p = factor_problem(n=12, strategy=False)
    p = p.replace(constraints=[*p.constraints, pm.Turnover(limit=0.5, name="turnover")])
    f = frontier(p, n_points=6)
    assert f.method == "cvxpy"
    assert "turnover" in f.notes[0]
    with pytest.raises(InputError, match="fast path does not apply"):
        frontier(p, n_points=6, method="fast")


def test_failed_point_is_kept_with_its_status(fp: pm.Problem, monkeypatch) -> None:
    real = qp_module.OSQPFrontierSolver._solve
    calls = {"n": 0}

    def flaky(self, target):
        calls["n"] += 1
        if calls["n"] == 4:
            return qp_module.PointResult(target, None, "max_iter_reached", "forced failure",
                                         0, 0.0)
        return real(self, target)

    monkeypatch.setattr(qp_module.OSQPFrontierSolver, "_solve", flaky)
    f = frontier(fp, n_points=8)
    assert f.ok.sum() == 7
    bad = f[3]
    assert not bad.ok and bad.status == "max_iter_reached" and bad.message == "forced failure"
    assert np.isnan(bad.expected_outcome) and bad.spend is None
    frame = f.to_frame()
    assert frame.loc[3, "status"] == "max_iter_reached"
    assert frame.loc[3, fp.index].isna().all()
    assert np.isfinite(bad.target_outcome)


def test_failed_point_cvxpy_path_and_all_failed_raises(fp: pm.Problem, monkeypatch) -> None:
    real = Program.solve_with
    calls = {"n": 0}

    def flaky(self, solver, warm_start=True, settings=None):
        calls["n"] += 1
        raw = real(self, solver, warm_start, settings)
        if calls["n"] == 4:
            raw.status, raw.w = "solver_error", None
        return raw

    monkeypatch.setattr(Program, "solve_with", flaky)
    f = frontier(fp, n_points=6, method="cvxpy")
    assert f.ok.sum() == 5 and f[2].status == "failed"

    def broken(self, solver, warm_start=True, settings=None):
        raw = real(self, solver, warm_start, settings)
        raw.status, raw.w = "solver_error", None
        return raw

    monkeypatch.setattr(Program, "solve_with", broken)
    with pytest.raises(SolverError, match="all 6 points failed"):
        frontier(fp, n_points=6, method="cvxpy")


def test_to_frame_plot_and_choose(fp: pm.Problem, front: Frontier) -> None:
    frame = front.to_frame()
    assert len(frame) == 15
    for col in ("expected_outcome", "risk", "risk_aversion", "status", "message"):
        assert col in frame.columns
    np.testing.assert_allclose(frame[fp.index].sum(axis=1), fp.budget, rtol=1e-8)
    chosen = front.choose(risk=front[8].risk * 1.0000001)
    assert chosen is front[8]
    ax = front.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "current" in labels and "chosen" in labels
    with pytest.raises(InputError):
        front.choose(risk=1.0)


def test_compare_frontiers_costs_are_non_negative_and_interpolated(fp: pm.Problem,
                                                                   front: Frontier) -> None:
    free = frontier(fp.without("ru_floor"), n_points=15)
    cmp = compare_frontiers(front, free)
    er = cmp.at_equal_risk.dropna()
    eo = cmp.at_equal_outcome.dropna()
    assert len(er) and len(eo)
    # a constraint can only cost: less outcome at equal risk, more risk at equal outcome
    assert (er["outcome_cost"] >= -1e-6 * er["outcome_without"].abs()).all()
    assert (eo["risk_cost"] >= -1e-6 * eo["risk_without"].abs()).all()
    # the interpolation passes through the frontier's own points
    r = front[5].risk
    hit = compare_frontiers(front, free, n_levels=2).at_equal_risk
    assert np.interp(r, front.risk, front.expected_outcome) == pytest.approx(
        front[5].expected_outcome)
    assert len(hit) == 2
    assert "at equal risk" in cmp.summary()
    same = front.compare(front).at_equal_risk.dropna()
    np.testing.assert_allclose(same["outcome_cost"], 0.0, atol=1e-6 * fp.budget)


def test_bad_inputs() -> None:
    p = factor_problem(n=6, strategy=False)
    with pytest.raises(InputError, match="n_points"):
        frontier(p, n_points=1)
    with pytest.raises(InputError, match="no covariance"):
        frontier(p.replace(covariance=None), n_points=5)
    with pytest.raises(InputError, match="method"):
        frontier(p, method="magic")


def test_every_point_passes_the_independent_constraint_check(fp: pm.Problem,
                                                            front: Frontier) -> None:
    for p in front:
        report = pm.verify(fp, p.spend.to_numpy())
        bad = {k: v for k, v in report.items() if v[0] > v[1]}
        assert not bad, (p.kind, bad)
        if p.kind != "min_risk":
            assert p.expected_outcome >= p.target_outcome * (1 - 1e-7)


def test_max_return_end_point_is_the_lp_optimum(fp: pm.Problem, front: Frontier) -> None:
    # an independent LP: maximise mu'w under the same constraints (cvxpy + Clarabel)
    best = pm.solve(fp.replace(objective="max_return"), solver="CLARABEL")
    assert front[-1].expected_outcome == pytest.approx(best.expected_outcome, rel=1e-8)
    assert front[-1].kind == "max_return"


def test_interpolated_cost_matches_an_exact_resolve(fp: pm.Problem, front: Frontier) -> None:
    free = frontier(fp.without("ru_floor"), n_points=15)
    cmp = compare_frontiers(front, free, n_levels=7).at_equal_risk.dropna()
    row = cmp.iloc[3]
    exact = pm.solve(fp.without("ru_floor").replace(objective="max_return",
                                                     max_risk=float(row["risk"])))
    with_ = pm.solve(fp.replace(objective="max_return", max_risk=float(row["risk"])))
    # Hermite interpolation through the points and their slopes: within 0.1% of the outcome
    assert row["outcome_without"] == pytest.approx(exact.expected_outcome, rel=1e-3)
    assert row["outcome_with"] == pytest.approx(with_.expected_outcome, rel=1e-3)


@given(seed=st.integers(0, 10_000), n=st.integers(5, 30), floor=st.floats(0.0, 0.6))
@settings(max_examples=6, deadline=None)
def test_random_problems_fast_equals_cvxpy_and_monotone(seed: int, n: int, floor: float) -> None:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"a{i}" for i in range(n)])
    k = 3
    fc = pm.FactorCovariance(pd.DataFrame(rng.normal(0, 0.3, (n, k)), ids, list("xyz")),
                             pd.DataFrame(np.diag(rng.uniform(0.01, 0.05, k)), list("xyz"),
                                          list("xyz")),
                             pd.Series(rng.uniform(0.01, 0.05, n), ids))
    assets = pd.DataFrame({"market": np.where(np.arange(n) % 2 == 0, "RU", "US")}, index=ids)
    cons = [pm.Bounds(upper=max(0.3, 2.0 / n), unit="share", name="cap"),
            pm.GroupFloor(where={"market": "RU"}, amount=floor, unit="share", name="ru")]
    p = pm.Problem(pd.Series(rng.uniform(0.5, 3.0, n), ids), fc, budget=1e5, assets=assets,
                   constraints=cons)
    fast = frontier(p, n_points=6)
    slow = frontier(p, n_points=6, method="cvxpy")
    assert fast.ok.all() and slow.ok.all()
    assert np.all(np.diff(fast.risk) >= -1e-9 * fast.risk.max())
    # each path sweeps targets between its own minimum-risk and maximum-return points; the
    # outcome of the minimum-risk point is fixed only to ~1e-6 (the variance is flat there), so
    # the targets, and the variances along them, agree to ~1e-6 relative (seed 9098: 3.2e-6)
    np.testing.assert_allclose(fast.risk**2, slow.risk**2, rtol=1e-5)
