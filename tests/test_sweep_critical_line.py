"""The critical-line sweep of a dense (sample) covariance against independent oracles.

Oracles: cvxpy + Clarabel at tolerance 1e-12 solving each point on its own; a KKT check done
here from the returned shares alone (multipliers by least squares on the active set);
active sets at the middle of every segment of the walk read off the independent solve.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.frontiers import frontier
from portfolio_mkt.optimization import LinearQP, OSQPFrontierSolver


def sample_cov(n: int, t_obs: int, seed: int) -> np.ndarray:
    """A sample covariance of simulated returns (a few factors, heavy-tailed noise)."""
    rng = np.random.default_rng(seed)
    k = 3
    b = rng.normal(0.0, 0.3, (n, k))
    b[:, 0] += 0.4
    f = rng.normal(0.0, 0.1, (t_obs, k))
    noise = rng.standard_t(5, (t_obs, n)) * rng.uniform(0.03, 0.12, n)
    return np.cov(f @ b.T + noise, rowvar=False)


def make_qp(n: int, seed: int, *, t_obs: int | None = None, cap: float = 0.15,
            floor: float | None = 0.45, group_cap: float | None = None,
            locks: int = 0) -> LinearQP:
    """Budget row, capped long-only shares, optional floor/cap on group 0, locked shares."""
    rng = np.random.default_rng(seed + 1000)
    sigma = sample_cov(n, t_obs or 3 * n, seed)
    mu = rng.uniform(0.8, 3.0, n)
    lower, upper = np.zeros(n), np.full(n, cap)
    for i in rng.choice(n, size=locks, replace=False):
        lower[i] = upper[i] = 0.5 * cap
    rows, lo, hi, names = [np.ones(n)], [1.0], [1.0], ["budget"]
    group = (np.arange(n) % 3 == 0).astype(float)
    if floor is not None:
        rows.append(group)
        lo.append(floor)
        hi.append(np.inf)
        names.append("floor")
    if group_cap is not None:
        rows.append(1.0 - group)
        lo.append(-np.inf)
        hi.append(group_cap)
        names.append("group_cap")
    return LinearQP(mu=mu, lower=lower, upper=upper, A=sp.csr_matrix(np.vstack(rows)),
                    lo=np.array(lo), hi=np.array(hi), row_names=names, dense=sigma)


def reference(qp: LinearQP, target: float) -> np.ndarray:
    """min w'Sigma w s.t. all rows and bounds and mu'w >= target, Clarabel at 1e-12."""
    w = cp.Variable(qp.n)
    a = qp.A.toarray()
    cons = [w >= qp.lower, w <= qp.upper, qp.mu @ w >= target]
    for i in range(a.shape[0]):
        if qp.lo[i] == qp.hi[i]:
            cons.append(a[i] @ w == qp.lo[i])
        else:
            if np.isfinite(qp.lo[i]):
                cons.append(a[i] @ w >= qp.lo[i])
            if np.isfinite(qp.hi[i]):
                cons.append(a[i] @ w <= qp.hi[i])
    prob = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(qp.dense))), cons)
    # 1e-12 first; a draw on which Clarabel cannot certify that (it says "inaccurate") is
    # solved again at 1e-10, still far inside the 1e-7 the tests compare at
    for tol in (1e-12, 1e-10):
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol,
                   max_iter=500)
        if prob.status == cp.OPTIMAL:
            break
    assert prob.status == cp.OPTIMAL, prob.status
    return np.asarray(w.value)


def walk(qp: LinearQP, n_points: int) -> tuple[OSQPFrontierSolver, np.ndarray, list]:
    solver = OSQPFrontierSolver(qp, active_set=True)
    lo = solver.min_risk()
    r_max, _ = solver.max_return_point()
    targets = np.linspace(float(qp.mu @ lo.w), r_max, n_points)[1:-1]
    return solver, targets, solver.sweep(targets)


def kkt_residuals(qp: LinearQP, w: np.ndarray, target: float, tol: float = 1e-9) -> dict:
    """KKT of ``w`` alone: active set read off ``w``, multipliers by least squares.

    Returns the stationarity residual (relative to the gradient), the worst primal
    violation, the worst wrong-signed multiplier (relative) and the worst complementarity
    product multiplier x slack.
    """
    n = qp.n
    a = qp.A.toarray()
    grad = 2.0 * qp.dense @ w
    at_lo = w <= qp.lower + tol
    at_hi = (w >= qp.upper - tol) & ~at_lo
    aw = a @ w
    row_lo = np.abs(aw - qp.lo) <= tol
    row_hi = (np.abs(aw - qp.hi) <= tol) & ~row_lo
    ret_on = qp.mu @ w <= target + tol * max(1.0, abs(target))
    cols = [qp.mu] if ret_on else []
    cols += [a[i] for i in np.flatnonzero(row_lo | row_hi)]
    cols += [np.eye(n)[i] for i in np.flatnonzero(at_lo | at_hi)]
    m = np.array(cols).T if cols else np.zeros((n, 0))
    mult, *_ = np.linalg.lstsq(m, grad, rcond=None)
    scale = max(float(np.max(np.abs(grad))), 1e-300)
    stat = float(np.max(np.abs(m @ mult - grad))) / scale
    k = 0
    wrong = 0.0
    if ret_on:
        wrong = max(wrong, -mult[0] / scale)
        k = 1
    eq = qp.lo == qp.hi
    for i in np.flatnonzero(row_lo | row_hi):
        if not eq[i]:  # an equality row's multiplier has either sign
            wrong = max(wrong, (-mult[k] if row_lo[i] else mult[k]) / scale)
        k += 1
    fixed = qp.lower == qp.upper
    for i in np.flatnonzero(at_lo | at_hi):
        if not fixed[i]:
            wrong = max(wrong, (-mult[k] if at_lo[i] else mult[k]) / scale)
        k += 1
    primal = max(float(np.max(qp.lower - w)), float(np.max(w - qp.upper)),
                 float(np.max(np.where(np.isfinite(qp.lo), qp.lo - aw, -np.inf))),
                 float(np.max(np.where(np.isfinite(qp.hi), aw - qp.hi, -np.inf))),
                 target - float(qp.mu @ w), 0.0)
    # complementarity: every constraint carrying a multiplier is met with equality
    slack = np.r_[qp.mu @ w - target if ret_on else 0.0,
                  np.minimum(np.abs(aw - qp.lo), np.abs(aw - qp.hi))[row_lo | row_hi],
                  np.minimum(np.abs(w - qp.lower), np.abs(w - qp.upper))[at_lo | at_hi]]
    comp = float(np.max(np.abs(mult * slack))) / scale if mult.size else 0.0
    return {"stationarity": stat, "primal": primal, "wrong_sign": wrong,
            "complementarity": comp}


CASES = [
    # n, seed, T, cap, floor, group cap, locks
    (40, 0, 60, 0.1, 0.4, None, 0),
    (60, 1, 200, 0.05, 0.45, 0.6, 3),
    (90, 2, 150, 0.04, 0.5, None, 4),
]


@pytest.mark.parametrize("n, seed, t_obs, cap, floor, gcap, locks", CASES)
def test_every_point_matches_tight_clarabel(n, seed, t_obs, cap, floor, gcap, locks) -> None:
    qp = make_qp(n, seed, t_obs=t_obs, cap=cap, floor=floor, group_cap=gcap, locks=locks)
    solver, targets, points = walk(qp, 14)
    assert all(p.message.startswith("critical line: KKT") for p in points), \
        [p.message for p in points]
    assert solver.n_critical_line == len(points)
    assert len(solver.critical_line.breakpoints) > 0
    for t, p in zip(targets, points, strict=True):
        ref = reference(qp, t)
        v, v_ref = qp.variance(p.w), qp.variance(ref)
        assert abs(v - v_ref) <= 1e-7 * v_ref
        res = kkt_residuals(qp, p.w, t)
        assert res["stationarity"] <= 1e-8
        assert res["primal"] <= 1e-10
        assert res["wrong_sign"] <= 1e-8
        assert res["complementarity"] <= 1e-9


def test_return_multiplier_is_the_slope_of_the_frontier() -> None:
    qp = make_qp(50, 7, cap=0.08)
    solver, targets, points = walk(qp, 10)
    for t, p in zip(targets, points, strict=True):
        h = 1e-6 * (targets[-1] - targets[0])
        up = qp.variance(reference(qp, t + h))
        dn = qp.variance(reference(qp, t - h))
        slope = (up - dn) / (2 * h)
        assert p.return_dual == pytest.approx(slope, rel=1e-4)  # d variance / d target


def polished_active_set(qp: LinearQP, target: float) -> tuple[np.ndarray, np.ndarray]:
    """The active set at ``target``, computed independently of the library.

    The interior-point reference is accurate in variance but can sit ~1e-6 off a bound where
    the variance is flat, so its active set is read with a loose tolerance (1e-5) and then
    confirmed: the equality-constrained KKT system of that set is solved here (dense, full
    matrix) and its solution must pass :func:`kkt_residuals`. Returns (bounds, rows) states.
    """
    w = reference(qp, target)
    n, a = qp.n, qp.A.toarray()
    tol = 1e-5
    bnd = np.zeros(n, dtype=int)
    bnd[w <= qp.lower + tol] = -1
    bnd[w >= qp.upper - tol] = 1
    row = np.zeros(a.shape[0], dtype=int)
    aw = a @ w
    row[np.abs(aw - qp.lo) <= tol] = -1
    row[np.abs(aw - qp.hi) <= tol] = 1
    row[qp.lo == qp.hi] = 2
    on = bnd != 0
    act = np.flatnonzero(row != 0)
    c = np.vstack([a[act], qp.mu[None, :], np.eye(n)[on]])
    rhs = np.r_[np.where(row[act] == 1, qp.hi[act], qp.lo[act]), target,
                np.where(bnd[on] < 0, qp.lower[on], qp.upper[on])]
    k = c.shape[0]
    kkt = np.block([[2.0 * qp.dense, c.T], [c, np.zeros((k, k))]])
    exact = np.linalg.solve(kkt, np.r_[np.zeros(n), rhs])[:n]
    res = kkt_residuals(qp, exact, target, tol=1e-11)
    assert res["stationarity"] <= 1e-8 and res["primal"] <= 1e-10
    assert res["wrong_sign"] <= 1e-8
    return bnd, row


@pytest.mark.parametrize("seed", [3, 4])
def test_breakpoints_match_independent_active_sets(seed: int) -> None:
    """Between consecutive breakpoints the walk's active set is the optimum's active set,
    and across each breakpoint the independent active set changes in the element named."""
    n = 8
    qp = make_qp(n, seed, t_obs=20, cap=0.3, floor=0.35)
    solver, targets, points = walk(qp, 6)
    cl = solver.critical_line
    scale = solver._mu_scale
    starts = [s[0] * scale for s in cl.segments]
    ends = starts[1:] + [float(targets[-1])]
    checked = 0
    for (t0, bnd, row), t1 in zip(cl.segments, ends, strict=True):
        t0 = t0 * scale
        if t1 - t0 < 1e-6 * (targets[-1] - targets[0]):
            continue
        ind_bnd, ind_row = polished_active_set(qp, 0.5 * (t0 + t1))
        np.testing.assert_array_equal(bnd, ind_bnd)
        np.testing.assert_array_equal(row, ind_row)
        checked += 1
    assert checked >= 3
    # the walk's breakpoints are where the independent active set changes
    bps = [t * scale for t, _, _ in cl.breakpoints]
    for t_bp, kind, idx in cl.breakpoints:
        t_bp = t_bp * scale
        gap = min([abs(t_bp - b) for b in bps if b != t_bp] + [1.0])
        h = 0.25 * gap
        if not (targets[0] < t_bp - h and t_bp + h < targets[-1]):
            continue
        before, _ = polished_active_set(qp, t_bp - h)
        after, _ = polished_active_set(qp, t_bp + h)
        if kind in ("upper", "lower"):
            assert before[idx] == 0 and after[idx] == (1 if kind == "upper" else -1)
        elif kind == "release":
            assert before[idx] != 0 and after[idx] == 0


def test_frontier_of_a_problem_with_locks_and_floors() -> None:
    n = 70
    rng = np.random.default_rng(11)
    ids = pd.Index([f"a{i:02d}" for i in range(n)])
    sigma = sample_cov(n, 120, 11)
    assets = pd.DataFrame({"market": np.where(np.arange(n) % 4 == 0, "RU", "US")}, index=ids)
    cons = [pm.Bounds(upper=0.06, unit="share", name="cap"),
            pm.GroupFloor(where={"market": "RU"}, amount=0.4, unit="share", name="ru"),
            pm.Lock({ids[3]: 2_000.0, ids[10]: 1_000.0}, name="committed")]
    problem = pm.Problem(pd.Series(rng.uniform(0.5, 3.0, n), ids),
                         pd.DataFrame(sigma, ids, ids), budget=1e5, assets=assets,
                         constraints=cons)
    front = frontier(problem, n_points=12)
    assert front.ok.all()
    messages = front.to_frame()["message"]
    assert sum(m.startswith("critical line: KKT") for m in messages) == 10
    generic = frontier(problem, n_points=12, method="cvxpy")
    np.testing.assert_allclose(front.risk**2, generic.risk**2, rtol=1e-6)
    spend = front.spend
    assert np.allclose(spend[ids[3]], 2_000.0) and np.allclose(spend[ids[10]], 1_000.0)
    assert (spend.loc[:, assets.market == "RU"].sum(axis=1) >= 0.4 * 1e5 - 1e-4).all()


def test_walk_that_cannot_go_on_hands_over_to_per_point_solves() -> None:
    qp = make_qp(50, 5, cap=0.06)
    solver = OSQPFrontierSolver(qp, active_set=True)
    lo = solver.min_risk()
    r_max, _ = solver.max_return_point()
    targets = np.linspace(float(qp.mu @ lo.w), r_max, 10)[1:-1]
    real = OSQPFrontierSolver._critical_line

    def limited(self, ts):
        from portfolio_mkt.optimization import _qp

        orig = _qp._CriticalLine.__init__

        def init(cl, *args, **kwargs):
            orig(cl, *args, **kwargs)
            cl.max_events = 3

        _qp._CriticalLine.__init__ = init
        try:
            return real(self, ts)
        finally:
            _qp._CriticalLine.__init__ = orig

    OSQPFrontierSolver._critical_line = limited
    try:
        points = solver.sweep(targets)
    finally:
        OSQPFrontierSolver._critical_line = real
    stopped = [p for p in points if p.message.startswith("critical line stopped")]
    assert stopped and "more than 3 breakpoints" in stopped[0].message
    for t, p in zip(targets, points, strict=True):
        v_ref = qp.variance(reference(qp, t))
        assert p.status == "optimal"
        assert abs(qp.variance(p.w) - v_ref) <= 1e-7 * v_ref


def test_walk_runs_with_one_blas_thread(monkeypatch) -> None:
    from threadpoolctl import threadpool_info

    from portfolio_mkt.optimization import _qp

    seen = []
    real = _qp._CriticalLine.walk

    def spy(self, *args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_qp._CriticalLine, "walk", spy)
    walk(make_qp(40, 9), 5)
    assert seen and set(seen) == {1}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(4, 14), seed=st.integers(0, 10_000), cap_f=st.floats(1.3, 4.0),
       floor=st.one_of(st.none(), st.floats(0.2, 0.5)), locks=st.integers(0, 2))
def test_random_small_problems(n: int, seed: int, cap_f: float, floor, locks: int) -> None:
    cap = min(1.0, cap_f / n)
    qp = make_qp(n, seed, t_obs=n + 5 + seed % 20, cap=cap, floor=floor, locks=locks)
    try:
        ref_lo = reference(qp, -1e9)
    except AssertionError:
        return  # infeasible draw (a floor above what the caps allow)
    solver, targets, points = walk(qp, 6)
    del ref_lo
    for t, p in zip(targets, points, strict=True):
        assert p.w is not None and p.status == "optimal"
        v_ref = qp.variance(reference(qp, t))
        assert abs(qp.variance(p.w) - v_ref) <= 1e-7 * max(v_ref, 1e-300)
        res = kkt_residuals(qp, p.w, t)
        assert res["primal"] <= 1e-9


def test_degenerate_vertex_is_walked_through() -> None:
    """A group cap that is the complement of the floor pins the target at a vertex (two
    changes at the same t): the walk releases a second element at the same t and goes on."""
    qp = make_qp(8, 3, t_obs=20, cap=0.3, floor=0.35, group_cap=0.7)
    solver, targets, points = walk(qp, 6)
    assert all(p.message.startswith("critical line: KKT") for p in points)
    ts = [b[0] for b in solver.critical_line.breakpoints]
    assert any(a == b for a, b in zip(ts, ts[1:], strict=False))  # two changes at one t
    for t, p in zip(targets, points, strict=True):
        v_ref = qp.variance(reference(qp, t))
        assert abs(qp.variance(p.w) - v_ref) <= 1e-7 * v_ref
