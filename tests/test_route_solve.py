"""Solver routing (issue 13): the direct routes give the answer a second solver gives.

- every problem class the router sends to a direct call (HiGHS's simplex / active set,
  Clarabel's own API) agrees with an independent cvxpy + Clarabel model written here from the
  arrays, at a relative objective gap of 1e-8;
- the direct routes' duals satisfy the KKT conditions of the program (stationarity, dual
  feasibility, complementary slackness) and, where the duals are unique, equal cvxpy's;
- every answer is still verified, a direct answer that breaks a constraint is refused and the
  next route is tried; the time limit reaches every attempt;
- a re-solve through a reused compiled program equals a fresh solve on changed data
  (hypothesis).
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
from portfolio_mkt.exceptions import ConstraintViolationError, SolverError
from portfolio_mkt.optimization import Program, compile_problem
from portfolio_mkt.optimization import _solve as solve_module
from portfolio_mkt.optimization._direct import DirectQP

B = 1_000_000.0
N = 12
IDS = [f"a{i}" for i in range(N)]
MARKETS = np.array(["US", "DE", "BR"] * (N // 3))


def _arrays(seed: int = 1):
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.1, (60, N)) + rng.normal(0, 0.05, (60, 1))
    sigma = np.cov(r, rowvar=False)
    mu = rng.uniform(0.8, 3.0, N)
    f = rng.normal(0, 0.1, (N, 3))
    d = rng.uniform(0.001, 0.01, N)
    return mu, sigma, f, d


def _problem(kind: str, seed: int = 1, **kw) -> pm.Problem:
    mu, sigma, f, d = _arrays(seed)
    cov: object = pd.DataFrame(sigma, index=IDS, columns=IDS)
    if kind == "factor":
        fs = list("xyz")
        cov = pm.FactorCovariance(
            loadings=pd.DataFrame(f, index=IDS, columns=fs),
            factor_covariance=pd.DataFrame(np.eye(3), index=fs, columns=fs),
            specific_variance=pd.Series(d, index=IDS))
    elif kind == "none":
        cov = None
    cons = [pm.Bounds(upper=0.2, unit="share", name="cap"),
            pm.Lock({"a1": 3e4}, name="deal"),
            pm.GroupFloor(where={"market": "BR"}, amount=0.4, unit="share", name="br_floor"),
            pm.GroupCap(where={"market": "US"}, amount=2e5, name="us_cap")]
    args = dict(covariance=cov, budget=B, assets=pd.DataFrame({"market": MARKETS}, index=IDS),
                constraints=cons, risk_aversion=5.0)
    args.update(kw)
    return pm.Problem(pd.Series(mu, index=IDS), **args)


def _oracle(p: pm.Problem) -> float:
    """The optimal objective (outcome units, larger is better), cvxpy + Clarabel, from arrays."""
    mu, sigma, f, d = _arrays()
    mu = p.expected_return.to_numpy(float)
    w = cp.Variable(N)  # shares of the budget (well scaled for the solver)
    kind = type(p.risk_model).__name__
    if kind == "DenseRisk":
        var = cp.quad_form(w, cp.psd_wrap(p.covariance.to_numpy()))
    elif kind == "FactorRisk":
        var = cp.sum_squares(f.T @ w) + cp.sum(cp.multiply(d, cp.square(w)))
    else:
        var = None
    ret = mu @ w
    if p.objective == "min_risk":
        obj = cp.Maximize(-var)
    elif p.objective == "max_return" or var is None or p.risk_aversion == 0:
        obj = cp.Maximize(ret)
    else:
        obj = cp.Maximize(ret - p.risk_aversion / 2 * var)
    us, br = MARKETS == "US", MARKETS == "BR"
    b = p.budget
    cons = [w >= 0, w <= 0.2, w[1] == 3e4 / b, cp.sum(w[br]) >= 0.4, cp.sum(w[us]) <= 2e5 / b]
    cons.append(cp.sum(w) == 1 if p.budget_mode == "exact" else cp.sum(w) <= 1)
    if p.min_outcome is not None:
        cons.append(ret >= p.min_outcome / b)
    prob = cp.Problem(obj, cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == "optimal"
    # money: outcome and utility scale with the budget, the variance with its square
    return float(prob.value) * (b * b if p.objective == "min_risk" else b)



def _value(p: pm.Problem, a) -> float:
    if p.objective == "min_risk":
        return -a.risk ** 2
    if p.objective == "max_return" or p.covariance is None or p.risk_aversion == 0:
        return a.expected_outcome
    return a.utility


CLASSES = {
    "dense utility": (dict(), "HIGHS"),
    "dense min_risk": (dict(objective="min_risk"), "HIGHS"),
    "dense outcome target": (dict(min_outcome=1.9e6), "HIGHS"),
    "dense budget cap": (dict(budget_mode="cap"), "HIGHS"),
    "factor utility": (dict(kind="factor"), "CLARABEL"),
    "factor min_risk + target": (dict(kind="factor", objective="min_risk", min_outcome=1.5e6),
                                 "CLARABEL"),
    "no covariance": (dict(kind="none"), "HIGHS"),
    "risk_aversion 0": (dict(risk_aversion=0.0), "HIGHS"),
    "max_return": (dict(objective="max_return"), "HIGHS"),
}


@pytest.mark.parametrize("name", list(CLASSES))
def test_the_routed_answer_equals_a_second_solver(name):
    kw, solver = CLASSES[name]
    kw = dict(kw)
    p = _problem(kw.pop("kind", "dense"), **kw)
    a = pm.solve(p)
    assert a.solver == solver and a.attempts[0]["route"] == "direct"
    assert len(a.attempts) == 1 and a.status == "optimal"
    ref = _oracle(p)
    assert abs(_value(p, a) - ref) <= 1e-8 * abs(ref)
    # and the cvxpy chain forced on the same problem agrees
    b = pm.solve(p, solver="CLARABEL")
    assert b.attempts[0]["route"] == "cvxpy"
    assert abs(_value(p, b) - ref) <= 1e-8 * abs(ref)


def _kkt(program: Program, raw) -> tuple[float, float, float]:
    """Stationarity, dual infeasibility and complementarity residuals of the cone form."""
    qp: DirectQP = program._direct
    P, q, A, b = qp.data(program.problem)
    z = np.zeros(qp.m)
    taken: dict[str, int] = {}
    for blk in qp.blocks:  # the raw duals come per owner, in block order
        i = taken.get(blk.owner, 0)
        sense, d = raw.duals[blk.owner][i]
        assert sense == blk.sense
        taken[blk.owner] = i + 1
        z[blk.rows] = d
    z[qp.long_only_rows] = raw.long_only_dual
    x = np.concatenate([raw.w, np.zeros(qp.nv - qp.n)])
    if qp.k:  # the factor variables y = F'w
        x[qp.n:] = program.problem.risk_model.arrays()["factor"].T @ raw.w
    full = P + P.T - sp.diags(P.diagonal()) if P.nnz else P
    stat = full @ x + q + A.T @ z
    if qp.k:
        # the link rows' multipliers are not reported: eliminate them (y's own equations)
        stat = stat[:qp.n] + program.problem.risk_model.arrays()["factor"] @ stat[qp.n:]
    ineq = np.arange(qp.n_eq, qp.m)
    return (float(np.abs(stat).max()), float(max(-z[ineq].min(), 0.0)),
            float(np.abs(z[ineq] * (b - A @ x)[ineq]).max()))


@pytest.mark.parametrize("solver", ["HIGHS", "CLARABEL"])
@pytest.mark.parametrize("name", ["dense utility", "dense outcome target", "dense budget cap",
                                  "factor utility", "no covariance", "dense min_risk"])
def test_the_direct_duals_satisfy_kkt(solver, name):
    kw = dict(CLASSES[name][0])
    p = _problem(kw.pop("kind", "dense"), **kw)
    prog = compile_problem(p)
    raw = prog.solve_direct(solver=solver)
    assert raw.status == "optimal" and raw.route == "direct"
    stat, dual_inf, comp = _kkt(prog, raw)
    assert stat < 1e-6 and dual_inf < 1e-9 and comp < 1e-7


@pytest.mark.parametrize("kind", ["dense", "factor"])
def test_unique_duals_equal_cvxpys(kind):
    # no lock, a loose US cap: a non-degenerate program whose duals are unique
    mu, sigma, *_ = _arrays()
    p = _problem(kind).replace(constraints=[
        pm.Bounds(upper=0.12, unit="share", name="cap"),
        pm.GroupFloor(where={"market": "BR"}, amount=0.45, unit="share", name="br_floor")])
    a = pm.solve(p)
    b = pm.solve(p, solver="CLARABEL")
    assert a.attempts[0]["route"] == "direct"
    np.testing.assert_allclose(a.constraints["dual"], b.constraints["dual"], rtol=1e-5,
                               atol=1e-8)
    assert a.binding == b.binding and "br_floor" in a.binding
    np.testing.assert_allclose(a.asset_duals.fillna(0), b.asset_duals.fillna(0), atol=1e-6)


def test_every_routed_answer_is_verified(monkeypatch):
    p = _problem("dense")
    seen = []
    real = solve_module.verify

    def spy(problem, spend, tolerance=1e-6):
        seen.append(np.asarray(spend).copy())
        return real(problem, spend, tolerance)

    monkeypatch.setattr(solve_module, "verify", spy)
    a = pm.solve(p)
    assert len(seen) == 1 and np.allclose(seen[0], a.spend)
    assert (a.constraints["violation"] <= a.constraints["tolerance"]).all()


def test_a_direct_answer_that_breaks_a_constraint_falls_back(monkeypatch):
    p = _problem("dense")
    real = Program.solve_direct

    def bad(self, problem=None, settings=None, solver="CLARABEL"):
        raw = real(self, problem, settings=settings, solver=solver)
        if raw.w is not None:
            raw.w = raw.w * 1.01  # 1% over the budget that must be spent exactly
        return raw

    monkeypatch.setattr(Program, "solve_direct", bad)
    a = pm.solve(p)
    routes = [(t["solver"], t["route"]) for t in a.attempts]
    assert routes[:3] == [("HIGHS", "direct"), ("CLARABEL", "direct"), ("OSQP", "cvxpy")]
    assert a.attempts[-1]["route"] == "cvxpy"
    assert abs(a.spend.sum() - B) <= 1e-6 * B
    assert abs(a.utility - _oracle(p)) <= 1e-6 * abs(a.utility)
    # every route broken: refused, naming the constraint
    monkeypatch.setattr(Program, "solve_with", lambda self, s, warm_start=True, settings=None:
                        bad(self, None, settings, "CLARABEL"))
    with pytest.raises(ConstraintViolationError, match="'budget' by"):
        pm.solve(p)


@pytest.mark.parametrize("kind", ["dense", "factor", "none"])
def test_the_time_limit_reaches_every_attempt(monkeypatch, kind):
    p = _problem(kind)
    seen = []
    real_direct, real_with = Program.solve_direct, Program.solve_with

    def direct(self, problem=None, settings=None, solver="CLARABEL"):
        seen.append((solver, "direct", dict(settings or {})))
        return real_direct(self, problem, settings=settings, solver=solver)

    def with_(self, solver, warm_start=True, settings=None):
        seen.append((solver, "cvxpy", dict(settings or {})))
        return real_with(self, solver, warm_start=warm_start, settings=settings)

    monkeypatch.setattr(Program, "solve_direct", direct)
    monkeypatch.setattr(Program, "solve_with", with_)
    try:
        a = pm.solve(p, time_limit=1e-9)
    except SolverError as exc:
        assert "time limit" in str(exc)
        assert len(seen) >= 2  # every route was tried
    else:  # an answer found before the clock was read: verified and labelled
        assert a.status in ("optimal", "time_limit")
        assert (a.constraints["violation"] <= a.constraints["tolerance"]).all()
    assert seen and all(
        s.get("time_limit", s.get("time_limit_secs")) == 1e-9 for *_, s in seen)


def test_a_generous_time_limit_changes_nothing():
    p = _problem("dense")
    a, b = pm.solve(p), pm.solve(p, time_limit=60.0)
    assert b.status == "optimal" and b.solver == a.solver
    np.testing.assert_allclose(a.spend, b.spend, atol=1e-9 * B)


# ------------------------------------------------------------------ re-solves
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["dense", "factor"]),
       budget=st.floats(0.7, 2.0), delta=st.floats(0.0, 30.0),
       outcome=st.one_of(st.none(), st.floats(1.0, 1.5)))
def test_a_reused_program_equals_a_fresh_solve(kind, budget, delta, outcome):
    kw = {} if outcome is None else {"min_outcome": 1.2e6}
    base = _problem(kind, **kw)
    prog = compile_problem(base)
    pm.solve(base, program=prog)
    changed = base.replace(budget=budget * B, risk_aversion=delta,
                           **({} if outcome is None else {"min_outcome": outcome * B}))
    try:
        fresh = pm.solve(changed)
    except pm.InfeasibleError:
        with pytest.raises(pm.InfeasibleError):
            pm.solve(changed, program=prog)
        return
    again = pm.solve(changed, program=prog)
    assert again.solver == fresh.solver
    np.testing.assert_allclose(again.spend, fresh.spend, rtol=0, atol=1e-7 * changed.budget)
    assert again.utility == pytest.approx(fresh.utility, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(again.constraints["dual"], fresh.constraints["dual"],
                               atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(mu=st.lists(st.floats(0.1, 5.0), min_size=N, max_size=N), budget=st.floats(0.8, 1.6))
def test_a_reused_program_takes_new_expected_returns(mu, budget):
    base = _problem("none")
    prog = compile_problem(base)
    pm.solve(base, program=prog)
    changed = base.replace(expected_return=pd.Series(mu, index=IDS), budget=budget * B)
    fresh = pm.solve(changed)
    again = pm.solve(changed, program=prog)
    assert again.expected_outcome == pytest.approx(fresh.expected_outcome, rel=1e-12)
    assert again.expected_outcome == pytest.approx(_oracle(changed), rel=1e-8)
