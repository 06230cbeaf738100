"""The solver path of large windows (looser interior-point gap, QDLDL) against an oracle.

Windows above ``LARGE_CELLS`` asset-weeks are solved with ``LARGE_TOLERANCE`` and the QDLDL
factorisation (see ``portfolio_mkt/window/_program.py`` and docs/window.md, "Speed"). A large
window is too slow for a test, so ``LARGE_CELLS`` is lowered to send a small window down that
path; the plan must still reach the objective of an independent cvxpy program (no code shared
with ``portfolio_mkt.window``: effective spend by loops, curves by their formulas, risk as a
quadratic form on ``kron(R, F F' + diag(d))``) to 1e-6 relative, with every constraint verified.
The case has every part that makes large windows slow: factor covariance with specific risk,
weeks correlated, carryover (geometric and Weibull) with carry-in, four curve families.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
import portfolio_mkt.window._program as window_program
from portfolio_mkt.response import (
    ExponentialSaturation,
    GeometricAdstock,
    Hill,
    Logarithmic,
    MichaelisMenten,
    WeibullAdstock,
)
from portfolio_mkt.window import Pacing, Phasing, WindowFloor, WindowProblem, plan_window

REL = 1e-6
N, T, BUDGET, DELTA, RHO = 8, 10, 20_000.0, 2.0, 0.3
IDS = [f"a{i}" for i in range(N)]
FAMILIES = ["log", "mm", "exp", "hill"]
HILL_SLOPE = 0.8


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    beta = rng.uniform(800.0, 2000.0, N)
    k = rng.uniform(100.0, 400.0, N)
    fam = [FAMILIES[i % 4] for i in range(N)]
    kernels = [GeometricAdstock(float(rng.uniform(0.2, 0.6)), l_max=4) if i % 3
               else WeibullAdstock(1.5, 2.0, l_max=4) for i in range(N)]
    w = [kern.weights() for kern in kernels]
    lmax = max(len(x) for x in w)
    H = lmax - 1
    pre = rng.uniform(50.0, 150.0, size=(N, lmax - 1))
    sigma = rng.uniform(0.8, 1.3, size=(N, T + H))
    loadings = rng.normal(0.0, 0.3, size=(N, 2))
    phi = np.diag([0.04, 0.02])
    spec = rng.uniform(0.01, 0.05, N)
    return dict(beta=beta, k=k, fam=fam, kernels=kernels, w=w, H=H, pre=pre, sigma=sigma,
                loadings=loadings, phi=phi, spec=spec,
                markets=np.where(np.arange(N) % 2 == 0, "US", "RU"))


def _curve(c, i):
    b, k = c["beta"][i], c["k"][i]
    return {"log": Logarithmic(b, k), "mm": MichaelisMenten(b, k),
            "exp": ExponentialSaturation(b, k), "hill": Hill(b, k, HILL_SLOPE)}[c["fam"][i]]


def _window(c) -> WindowProblem:
    cov = pm.FactorCovariance(pd.DataFrame(c["loadings"], index=IDS),
                              pd.DataFrame(c["phi"]), pd.Series(c["spec"], index=IDS))
    attrs = pd.DataFrame({"market": c["markets"]}, index=IDS)
    problem = pm.Problem(pd.Series(1.0, index=IDS), cov, budget=BUDGET, assets=attrs,
                         response={a: _curve(c, i) for i, a in enumerate(IDS)},
                         risk_aversion=DELTA)
    periods = pd.date_range("2026-01-05", periods=T, freq="7D")
    pre = pd.DataFrame(c["pre"].T, columns=IDS,
                       index=pd.date_range(end=periods[0] - pd.Timedelta(days=7),
                                           periods=c["pre"].shape[1], freq="7D"))
    labels = periods.append(pd.date_range(periods[-1] + pd.Timedelta(days=7),
                                          periods=c["H"], freq="7D"))
    season = pd.DataFrame(c["sigma"].T, index=labels, columns=IDS)
    cons = [Pacing(0.4, min_step=100.0, name="pace"),
            WindowFloor({"market": "RU"}, 0.3, per="month", name="ru_month"),
            Phasing({1: 0.5}, name="phase")]
    return WindowProblem(problem, periods, adstock=dict(zip(IDS, c["kernels"], strict=True)),
                         carry_in=pre, horizon=c["H"], seasonality=season, period_correlation=RHO,
                         constraints=cons)


def _effective(c, X):
    """e[a][t] as scalar expressions or numbers, by explicit loops over lags."""
    P = T + c["H"]
    npre = c["pre"].shape[1]
    out = []
    for a in range(N):
        row = []
        for t in range(P):
            terms = []
            for lag, wl in enumerate(c["w"][a]):
                s = t - lag
                if 0 <= s < T:
                    terms.append(wl * X[a, s])
                elif s < 0 and -s <= npre:
                    terms.append(wl * c["pre"][a, npre + s])
            row.append(sum(terms) if terms else 0.0)
        out.append(row)
    return out


def _sigma_full(c):
    f = c["loadings"]
    return f @ c["phi"] @ f.T + np.diag(c["spec"])


def _value(c, X):
    X = np.asarray(X, dtype=float)
    e = np.array(_effective(c, X), dtype=float)
    tot = 0.0
    for a in range(N):
        b, z = c["beta"][a], e[a] / c["k"][a]
        r = {"log": b * np.log1p(z), "mm": b * z / (1 + z), "exp": b * (1 - np.exp(-z)),
             "hill": b * z**HILL_SLOPE / (1 + z**HILL_SLOPE)}[c["fam"][a]]
        tot += float(c["sigma"][a] @ r)
    R = RHO ** np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    v = X.T.reshape(-1)
    return tot - DELTA / (2 * BUDGET) * float(v @ np.kron(R, _sigma_full(c)) @ v)


def _oracle(c, months):
    X = cp.Variable((N, T), nonneg=True)
    e = _effective(c, X)
    obj = 0
    for a in range(N):
        ea = cp.hstack([cp.reshape(v, (1,), order="F") if isinstance(v, cp.Expression)
                        else cp.Constant(np.array([v])) for v in e[a]])
        b, k = c["beta"][a], c["k"][a]
        fam = c["fam"][a]
        if fam == "log":
            r = b * cp.log(1 + ea / k)
        elif fam == "mm":
            r = b - b * k * cp.inv_pos(k + ea)
        elif fam == "exp":
            r = b - b * cp.exp(-ea / k)
        else:
            r = b - b * cp.inv_pos(1 + cp.power(ea / k, HILL_SLOPE, approx=False))
        obj = obj + c["sigma"][a] @ r
    R = RHO ** np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    obj = obj - DELTA / (2 * BUDGET) * cp.quad_form(
        cp.vec(X, order="F"), cp.psd_wrap(np.kron(R, _sigma_full(c))))
    ru = np.flatnonzero(c["markets"] == "RU")
    cons = [cp.sum(X) == BUDGET]
    for t in range(1, T):
        cons += [X[:, t] - 1.4 * X[:, t - 1] <= 100.0, 0.6 * X[:, t - 1] - X[:, t] <= 100.0]
    for m in np.unique(months):
        sel = np.flatnonzero(months == m)
        cons.append(cp.sum(X[ru][:, sel]) >= 0.3 * cp.sum(X[:, sel]))
    first = np.flatnonzero(months == months[0])
    cons.append(cp.sum(X[:, first]) <= 0.5 * BUDGET)
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    assert prob.status == "optimal", prob.status
    return X.value


@pytest.mark.parametrize("seed", [0, 1])
def test_large_window_path_reaches_the_oracle(monkeypatch, seed):
    monkeypatch.setattr(window_program, "LARGE_CELLS", 0)  # this small window takes that path
    c = _case(seed)
    wp = _window(c)
    prog = window_program.WindowProgram(wp)
    status, x, used = prog.solve()
    assert (status, used) == ("optimal", "CLARABEL")
    assert prog.problem.solver_stats.num_iters > 0
    plan = plan_window(wp, value_of_timing=False)  # verifies every constraint or raises
    assert set(plan.verification) >= {"pace", "ru_month", "phase", "budget"}
    months = np.array([d.strftime("%Y-%m") for d in wp.periods])
    v_or = _value(c, _oracle(c, months))
    for spend in (x, plan.spend.to_numpy().T):
        v_lib = _value(c, spend)
        assert abs(v_lib - v_or) <= REL * abs(v_or)
    assert plan.objective == pytest.approx(_value(c, plan.spend.to_numpy().T), rel=1e-9)


def test_the_window_factorises_with_qdldl():
    assert window_program.CLARABEL_SETTINGS["direct_solve_method"] == "qdldl"
