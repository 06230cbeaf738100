"""Exact curves on the direct route (no cvxpy): against an independent optimum and the KKT
conditions, on plans with binding caps, locks, group floors and caps, saturated assets, a risk
term and a spend-at-most budget.

The oracle is scipy's SLSQP at ``ftol=1e-16`` with analytic gradients, from many starts
(uniform, random, the answer itself), on the curves' concave envelopes written out here with
their own formulas, and the plan's constraints written as scipy constraints. The KKT check
recomputes the multipliers of the tight rows by least squares from the envelopes' slopes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import portfolio_mkt as pm
from portfolio_mkt.constraints import Bounds, GroupCap, GroupFloor, Lock, ResponseFloor
from portfolio_mkt.exceptions import InfeasibleError
from portfolio_mkt.optimization import polish_curves, solve_curves_exact
from portfolio_mkt.response import Hill, Logarithmic, Logistic

B = 1_000_000.0


# ----------------------------------------------------------------------------- the plan
def _plan(seed, n, *, cap=None, lock=None, lock_min=None, floor=None, group_cap=None,
          saturate=None, risk=0.0, mode="exact", linear=None):
    """A plan and its description for the oracle (money units, curves in asset order)."""
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"a{i}" for i in range(n)])
    scale = B / n
    curves = []
    for i in range(n):
        if linear is not None and i == linear:
            curves.append(None)
        elif i % 2 == 0:
            lam = rng.uniform(0.5, 3) / scale
            if saturate is not None and i == saturate:
                lam *= 200.0  # saturated within a sliver of the budget
            curves.append(Logistic(rng.uniform(1, 3) * scale, lam))
        else:
            curves.append(Hill(rng.uniform(1, 3) * scale, rng.uniform(0.3, 1.5) * scale,
                               rng.uniform(1.2, 3.0)))
    market = np.where(np.arange(n) % 3 == 0, "A", "B")
    lo = np.zeros(n)
    hi = np.full(n, B)
    cons = []
    if cap is not None:
        cons.append(Bounds(upper=cap * B, name="caps"))
        hi = np.minimum(hi, cap * B)
    if lock is not None:
        a, amount = lock
        cons.append(Lock({idx[a]: amount}, name="locked"))
        lo[a], hi[a] = amount, amount
    if lock_min is not None:
        a, amount = lock_min
        cons.append(Lock({idx[a]: amount}, minimum=True, name="committed"))
        lo[a] = max(lo[a], amount)
    groups = []
    if floor is not None:
        cons.append(GroupFloor(where={"market": "A"}, amount=floor, unit="share",
                               name="floor_a"))
        groups.append((market == "A", floor * B, "ge"))
    if group_cap is not None:
        cons.append(GroupCap(where={"market": "B"}, amount=group_cap, unit="share",
                             name="cap_b"))
        groups.append((market == "B", group_cap * B, "le"))
    mu = np.zeros(n)
    if linear is not None:
        mu[linear] = 0.4
    cov = None
    if risk:
        a = rng.normal(0, 0.3, (n, 2))
        cov = a @ a.T + np.diag(rng.uniform(0.01, 0.05, n))
    response = {a: c for a, c in zip(idx, curves, strict=True) if c is not None}
    problem = pm.Problem(pd.Series(mu, index=idx),
                         None if cov is None else pd.DataFrame(cov, idx, idx), budget=B,
                         assets=pd.DataFrame({"market": market}, index=idx),
                         constraints=cons, response=response, risk_aversion=risk,
                         budget_mode=mode)
    spec = {"n": n, "curves": curves, "mu": mu, "lo": lo, "hi": hi, "groups": groups,
            "cov": cov, "delta": risk, "mode": mode}
    return problem, spec


# ----------------------------------------------------------------------------- oracle
def _envelope(curve, up):
    """Value and slope of a curve's concave envelope on [0, up] (own formulas)."""
    if curve is None:
        return None
    if isinstance(curve, Logistic):
        b, lam = curve.beta, curve.lam
        def slope(x):
            e = np.exp(-lam * x)  # sech^2(lam x / 2) = 4 e / (1 + e)^2, no overflow
            return 2.0 * b * lam * e / (1.0 + e) ** 2

        return (lambda x: b * np.tanh(0.5 * lam * x)), slope
    b, k, s = curve.beta, curve.k, curve.slope

    def val(x):
        u = (max(x, 0.0) / k) ** s
        return b * u / (1 + u)

    def der(x):
        z = max(x, 0.0) / k
        return b * s / k * z ** (s - 1) / (1 + z**s) ** 2

    t = k * (s - 1) ** (1 / s)  # where the ray from the origin touches the curve
    if t >= up:
        m = val(up) / up
        return (lambda x: m * x if x <= up else val(x)), (lambda x: m if x <= up else der(x))
    m = val(t) / t
    return (lambda x: m * x if x <= t else val(x)), (lambda x: m if x <= t else der(x))


def _funcs(spec):
    return [_envelope(c, spec["hi"][i]) for i, c in enumerate(spec["curves"])]


def _value(spec, x):
    v = 0.0
    for i, fd in enumerate(_funcs(spec)):
        v += spec["mu"][i] * x[i] if fd is None else fd[0](x[i])
    if spec["cov"] is not None:
        v -= spec["delta"] / (2 * B) * x @ spec["cov"] @ x
    return v


def _grad(spec, x):
    g = np.array([spec["mu"][i] if fd is None else fd[1](x[i])
                  for i, fd in enumerate(_funcs(spec))])
    if spec["cov"] is not None:
        g = g - spec["delta"] / B * spec["cov"] @ x
    return g


def _oracle(spec, starts):
    """Best SLSQP value over the starts (money)."""
    n = spec["n"]
    cons = [{"type": "eq" if spec["mode"] == "exact" else "ineq",
             "fun": (lambda w: w.sum() - 1.0) if spec["mode"] == "exact"
             else (lambda w: 1.0 - w.sum()),
             "jac": (lambda w: np.ones(n)) if spec["mode"] == "exact"
             else (lambda w: -np.ones(n))}]
    for mask, amount, sense in spec["groups"]:
        sign = 1.0 if sense == "ge" else -1.0
        cons.append({"type": "ineq",
                     "fun": lambda w, m=mask, a=amount, s=sign: s * (w[m].sum() - a / B),
                     "jac": lambda w, m=mask, s=sign: s * m.astype(float)})
    bounds = list(zip(spec["lo"] / B, spec["hi"] / B, strict=True))
    best = -np.inf
    for w0 in starts:
        res = minimize(lambda w: -_value(spec, w * B) / B, np.clip(w0, spec["lo"] / B,
                                                                  spec["hi"] / B),
                       jac=lambda w: -_grad(spec, w * B), method="SLSQP", bounds=bounds,
                       constraints=cons, options={"ftol": 1e-16, "maxiter": 3000})
        w = np.clip(res.x, spec["lo"] / B, spec["hi"] / B)
        ok = all(c["fun"](w) >= -1e-10 if c["type"] == "ineq" else abs(c["fun"](w)) <= 1e-10
                 for c in cons)
        if ok:
            best = max(best, _value(spec, w * B))
    return best


def _starts(spec, answer, seed, k=5):
    rng = np.random.default_rng(seed)
    return [answer / B, np.full(spec["n"], 1.0 / spec["n"])] + [
        rng.dirichlet(np.ones(spec["n"])) for _ in range(k)]


def _kkt_residual(spec, x):
    """Largest violation of the KKT conditions at ``x`` (relative to the curves' slopes).

    Multipliers of the tight rows (sign by sense) and of the bounds at which assets sit are
    fitted by a linear program (scipy) minimising the stationarity residual, so degenerate
    optima (a floor met by assets at their caps) are judged right.
    """
    from scipy.optimize import linprog

    g = _grad(spec, x)
    n = spec["n"]
    tol = 1e-7 * B
    rows, senses = [], []
    if spec["mode"] == "exact":
        rows.append(np.ones(n))
        senses.append("eq")
    elif abs(x.sum() - B) <= tol:
        rows.append(np.ones(n))
        senses.append("le")
    for mask, amount, sense in spec["groups"]:
        if abs(x[mask].sum() - amount) <= tol:
            rows.append(mask.astype(float))
            senses.append(sense)
    at_lo = np.flatnonzero(x <= spec["lo"] + tol)
    at_hi = np.flatnonzero(x >= spec["hi"] - tol)
    k = len(rows)
    # variables: nu (k), mu_hi, mu_lo, e+ (n), e- (n);  g = A' nu + mu_hi - mu_lo + e+ - e-
    cols = []
    bounds = []
    for r, s in zip(rows, senses, strict=True):
        cols.append(r)
        bounds.append((None, None) if s == "eq" else (0, None) if s == "le" else (None, 0))
    for i in at_hi:
        cols.append(np.eye(n)[i])
        bounds.append((0, None))
    for i in at_lo:
        cols.append(-np.eye(n)[i])
        bounds.append((0, None))
    cols += [np.eye(n)[i] for i in range(n)] + [-np.eye(n)[i] for i in range(n)]
    bounds += [(0, None)] * (2 * n)
    A_eq = np.array(cols).T
    c = np.concatenate([np.zeros(A_eq.shape[1] - 2 * n), np.ones(2 * n)])
    res = linprog(c, A_eq=A_eq, b_eq=g, bounds=bounds, method="highs")
    assert res.status == 0
    e = res.x[-2 * n:]
    resid = e[:n] + e[n:]
    assert k >= 0
    return float(resid.max() / np.abs(_grad(dict(spec, cov=None), x)).max())


def _check(problem, spec, alloc, seed):
    assert "direct route" in alloc.attempts[-1]["message"]
    assert len(alloc.attempts) == 1  # solved by the route itself, not by a polish after cvxpy
    assert alloc.status == "optimal"
    assert alloc.optimality_gap is not None and alloc.optimality_gap <= 1e-8
    x = alloc.spend.to_numpy()
    ours = _value(spec, x)
    oracle = _oracle(spec, _starts(spec, x, seed))
    # the oracle finds nothing better, and the stated gap is a proof: nothing beats ours by
    # more than it (up to the oracle's own tolerances)
    assert ours >= oracle - 1e-8 * abs(oracle)
    assert oracle <= ours + alloc.optimality_gap * abs(ours) + 1e-11 * abs(ours)
    assert _kkt_residual(spec, x) <= 1e-7
    checks = pm.verify(problem, x)
    assert all(v <= t for v, t in checks.values())
    return ours, oracle


# ----------------------------------------------------------------------------- cases
CASES = {
    "binding_caps": {"cap": 0.15},
    "lock_and_commitment": {"cap": 0.35, "lock": (2, 150_000.0), "lock_min": (5, 90_000.0)},
    "group_floor": {"floor": 0.6},
    "group_cap": {"group_cap": 0.4},
    "saturated_asset": {"saturate": 0, "cap": 0.4},
    "risk_term": {"risk": 1.0, "floor": 0.4},
    "spend_at_most": {"mode": "cap", "cap": 0.25, "risk": 200.0},
    "linear_asset": {"linear": 3, "cap": 0.3},
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_direct_route_matches_independent_optimum(name, seed):
    problem, spec = _plan(seed, 8, **CASES[name])
    alloc = solve_curves_exact(problem)
    _check(problem, spec, alloc, seed)


def test_cases_bind_what_they_say():
    """The cases above really exercise caps, locks, floors, saturation and a spare budget."""
    p, spec = _plan(0, 8, **CASES["binding_caps"])
    x = solve_curves_exact(p).spend.to_numpy()
    assert (x >= 0.15 * B - 1).sum() >= 2
    p, spec = _plan(0, 8, **CASES["lock_and_commitment"])
    a = solve_curves_exact(p)
    assert a.spend.iloc[2] == pytest.approx(150_000.0, abs=1e-6)
    assert a.spend.iloc[5] >= 90_000.0 - 1e-6
    p, spec = _plan(0, 8, **CASES["group_floor"])
    a = solve_curves_exact(p)
    assert a.constraints.loc["floor_a", "binding"]
    p, spec = _plan(0, 8, **CASES["saturated_asset"])
    a = solve_curves_exact(p)
    curve = spec["curves"][0]
    # near its ceiling on a sliver of the budget, where its slope has fallen a hundredfold
    assert curve.value(a.spend.iloc[0]) >= 0.99 * curve.beta
    assert a.spend.iloc[0] < 0.01 * B
    assert curve.derivative(a.spend.iloc[0]) < 1e-2 * curve.derivative(0.0)
    p, spec = _plan(0, 8, **CASES["spend_at_most"])
    a = solve_curves_exact(p)
    assert a.spend.sum() < 0.9 * B  # the risk term leaves budget unspent
    p, spec = _plan(0, 8, **CASES["group_cap"])
    assert solve_curves_exact(p).constraints.loc["cap_b", "binding"]


def test_duals_are_the_kkt_multipliers():
    """The explanation's duals come from the route's multipliers: the budget's is the common
    marginal return of the free assets outside the floor group."""
    problem, spec = _plan(3, 9, floor=0.5)
    alloc = solve_curves_exact(problem)
    x = alloc.spend.to_numpy()
    g = _grad(spec, x)
    free = (x > 1e-6 * B) & (x < spec["hi"] - 1e-6 * B)
    outside = free & ~spec["groups"][0][0]
    assert outside.sum() >= 2
    assert np.ptp(g[outside]) <= 1e-9 * abs(g[outside]).max()
    assert alloc.constraints.loc["budget", "dual"] == pytest.approx(g[outside].mean(),
                                                                     rel=1e-7)
    inside = free & spec["groups"][0][0]
    assert alloc.constraints.loc["floor_a", "dual"] == pytest.approx(
        g[inside].mean() - g[outside].mean(), rel=1e-6)


def test_factor_covariance_takes_the_route():
    problem, spec = _plan(4, 8, risk=1.0, cap=0.3)
    cov = spec["cov"]
    vals, vecs = np.linalg.eigh(cov)
    fac = vecs[:, -2:] * np.sqrt(vals[-2:])
    spec_resid = np.diag(cov - fac @ fac.T)
    spec_f = dict(spec, cov=fac @ fac.T + np.diag(spec_resid))
    fc = pm.FactorCovariance(pd.DataFrame(fac, index=problem.index),
                             pd.DataFrame(np.eye(2)),
                             pd.Series(spec_resid, index=problem.index))
    factor_problem = problem.replace(covariance=fc)
    alloc = solve_curves_exact(factor_problem)
    _check(factor_problem, spec_f, alloc, 4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(2, 12), risk=st.booleans(),
       cap=st.sampled_from([None, 0.3, 0.6]), floor=st.sampled_from([None, 0.2, 0.6]),
       mode=st.sampled_from(["exact", "cap"]))
def test_property_gap_is_proven_and_met(seed, n, risk, cap, floor, mode):
    """Random plans: the route proves 1e-8 and no start of the oracle beats the proof."""
    if cap is not None and cap * n < 1.0:
        cap = 1.0 / n + 0.05  # caps that leave the budget spendable
    if floor is not None and not (np.arange(n) % 3 == 0).any():
        floor = None
    problem, spec = _plan(seed, n, cap=cap, floor=floor, risk=1.0 if risk else 0.0,
                          mode=mode)
    if floor is not None and cap is not None:
        room = (np.arange(n) % 3 == 0).sum() * cap
        if room < floor:
            return
    alloc = solve_curves_exact(problem)
    _check(problem, spec, alloc, seed)


def test_pm_solve_polish_takes_the_route_from_the_piecewise_answer():
    problem, spec = _plan(5, 10, floor=0.4, cap=0.3)
    alloc = pm.solve(problem)
    assert "direct route" in alloc.attempts[-1]["message"]
    assert alloc.attempts[0]["solver"] in ("CLARABEL", "HIGHS", "OSQP")  # the PWL solve
    assert alloc.optimality_gap <= 1e-8
    direct = solve_curves_exact(problem)
    assert _value(spec, alloc.spend.to_numpy()) == pytest.approx(
        _value(spec, direct.spend.to_numpy()), rel=1e-12)


def test_the_bound_is_a_bound_at_a_poor_point():
    """Weak duality at a deliberately poor feasible point: the bound covers the true gap."""
    from portfolio_mkt.optimization._newton import _Objective, newton_route

    problem, spec = _plan(6, 8, floor=0.5, cap=0.3)
    best = _value(spec, solve_curves_exact(problem).spend.to_numpy())
    reason, program, qp, poly = newton_route(problem)
    assert reason == ""
    obj = _Objective(problem, problem.return_term, 0.0)
    group = np.arange(8) % 3 == 0
    w = np.where(group, 0.5 / group.sum(), 0.5 / (~group).sum())  # feasible, far from best
    assert poly.feasible(w)
    f, grad, _ = obj.parts(w)
    for z in (np.zeros(poly.m), np.abs(np.random.default_rng(0).normal(size=poly.m))):
        bound = poly.gap(z, w, grad) * B
        assert bound >= best - _value(spec, w * B) - 1e-9 * abs(best)


@pytest.mark.parametrize("kind", ["response_floor", "conic_curve", "forced_solver"])
def test_other_plans_keep_the_cvxpy_route(kind):
    problem, spec = _plan(7, 6, floor=0.3)
    kwargs = {}
    if kind == "response_floor":
        problem = problem.replace(constraints=list(problem.constraints) + [
            ResponseFloor(where={"market": "B"}, level=1.0, name="some_b")])
    elif kind == "conic_curve":
        curves = dict(problem.response)
        curves["a1"] = Logarithmic(2e5, 1e5)
        problem = problem.replace(response=curves)
    else:
        kwargs["solver"] = "CLARABEL"
    alloc = solve_curves_exact(problem, **kwargs)
    assert "direct route" not in alloc.attempts[-1]["message"]
    assert alloc.optimality_gap is not None and alloc.optimality_gap <= 1e-6


def test_infeasible_plan_is_diagnosed():
    problem, _ = _plan(8, 6, cap=0.1)  # six caps of 10% cannot spend the budget
    with pytest.raises(InfeasibleError) as err:
        solve_curves_exact(problem)
    assert "caps" in str(err.value) or "budget" in str(err.value)


def test_resolve_reuses_the_compiled_rows():
    problem, _ = _plan(9, 6, floor=0.3)
    first = solve_curves_exact(problem)
    cached = problem.__dict__["_newton_route"]
    again = solve_curves_exact(problem)
    assert problem.__dict__["_newton_route"] is cached
    np.testing.assert_allclose(again.spend, first.spend, rtol=0, atol=1e-9 * B)
    # a new plan built from it gets its own rows
    other = problem.replace(budget=2 * B)
    solve_curves_exact(other)
    assert other.__dict__["_newton_route"][2] is not cached[2]


def test_polish_max_iter_zero_keeps_the_input():
    problem, _ = _plan(10, 6, floor=0.3)
    pwl = pm.solve(problem, exact_curves=False)
    assert polish_curves(problem, pwl, max_iter=0) is pwl


def test_halo_and_risk_agree_with_the_cvxpy_route():
    """A second method: the cvxpy polish (forced solver) reaches the same optimum on a plan
    with halo lifts, a linear asset and a covariance; both state proven gaps."""
    problem, _ = _plan(11, 7, floor=0.3, cap=0.35, risk=1.0, linear=4)
    idx = problem.index
    halo = pd.DataFrame(0.0, index=idx, columns=idx)
    halo.loc["a1", "a2"] = 0.05
    halo.loc["a3", "a0"] = 0.02
    problem = problem.replace(halo=halo)
    direct = solve_curves_exact(problem)
    assert "direct route" in direct.attempts[-1]["message"]
    other = solve_curves_exact(problem, solver="CLARABEL")
    assert "direct route" not in other.attempts[-1]["message"]
    assert direct.optimality_gap <= 1e-8 and other.optimality_gap <= 1e-7

    def utility(a):
        return a.model_outcome - problem.risk_aversion / (2 * B) * a.risk**2

    u_direct, u_other = utility(direct), utility(other)
    assert u_direct >= u_other - 1e-8 * abs(u_other)
    assert u_other <= u_direct * (1 + direct.optimality_gap) + 1e-11 * abs(u_direct)
    np.testing.assert_allclose(direct.spend, other.spend, rtol=0, atol=1e-4 * B)


def test_route_runs_after_other_highs_solves():
    """HiGHS's global scheduler, started by any earlier solve in the process with its
    default thread count, must not stop the route (it refuses a different 'threads')."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 2, 1
    lp.col_cost_ = np.array([-1.0, -2.0])
    lp.col_lower_ = np.zeros(2)
    lp.col_upper_ = np.ones(2)
    lp.row_lower_ = np.array([-highspy.kHighsInf])
    lp.row_upper_ = np.array([1.5])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array([0, 1, 2], dtype=np.int32)
    lp.a_matrix_.index_ = np.array([0, 0], dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(2)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = 2, 1
    h.passModel(lp)
    assert h.run() == highspy.HighsStatus.kOk
    problem, _ = _plan(12, 6, cap=0.3)
    alloc = solve_curves_exact(problem)
    assert len(alloc.attempts) == 1  # no piecewise solve before it
    assert "direct route: from a chord LP" in alloc.attempts[-1]["message"]


@pytest.mark.parametrize("name", ["group_floor", "risk_term", "lock_and_commitment"])
def test_greedy_start_reaches_the_same_optimum(monkeypatch, name):
    """The start without an LP (greedy chords, which may break a group row) still ends at the
    proven optimum: the first QP step restores feasibility."""
    from portfolio_mkt.optimization import _newton

    problem, spec = _plan(13, 8, **CASES[name])
    monkeypatch.setattr(_newton, "_CHORD_LP_MAX", 0)
    alloc = solve_curves_exact(problem)
    assert "from greedy chords" in alloc.attempts[-1]["message"]
    _check(problem, spec, alloc, 13)


def test_assets_held_at_zero_and_per_asset_floors():
    """A curve asset locked at 0, another held at a floor above its optimum, a Hill asset
    locked below its payback spend: still the proven optimum."""
    problem, spec = _plan(14, 8, cap=0.3, lock=(3, 40_000.0))
    idx = problem.index
    cons = list(problem.constraints) + [
        Lock({idx[0]: 0.0}, name="paused"),
        Bounds(lower={idx[5]: 200_000.0}, name="floor_a5"),
    ]
    problem = problem.replace(constraints=cons)
    spec = dict(spec)
    spec["lo"] = spec["lo"].copy()
    spec["hi"] = spec["hi"].copy()
    spec["hi"][0] = 0.0
    spec["lo"][5] = 200_000.0
    alloc = solve_curves_exact(problem)
    assert alloc.spend.iloc[0] == 0.0
    assert alloc.spend.iloc[3] == pytest.approx(40_000.0, abs=1e-6)
    assert alloc.spend.iloc[5] >= 200_000.0 - 1e-6
    _check(problem, spec, alloc, 14)
