"""The weekly plan against an independent oracle: the same program written directly in cvxpy.

The oracle below shares no code with portfolio_mkt.window: effective spend by explicit loops,
curves by their formulas, risk as a quadratic form on kron(R, Sigma), constraints spelled out.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.response import (
    ExponentialSaturation,
    GeometricAdstock,
    Logarithmic,
    MichaelisMenten,
    WeibullAdstock,
)
from portfolio_mkt.window import (
    ContractLock,
    DarkWeeks,
    Pacing,
    PeriodCap,
    Phasing,
    WindowFloor,
    WindowProblem,
    plan_window,
    replan,
)

REL = 1e-6

IDS = ["us_search", "us_social", "ru_search", "ru_creator"]
ATTRS = pd.DataFrame({"market": ["US", "US", "RU", "RU"],
                      "channel": ["search", "social", "search", "creator"]}, index=IDS)
CURVES = {
    "us_search": ("log", 900.0, 120.0),
    "us_social": ("mm", 1500.0, 400.0),
    "ru_search": ("exp", 700.0, 250.0),
    "ru_creator": ("log", 400.0, 60.0),
}


def curve_obj(spec):
    fam, beta, k = spec
    return {"log": Logarithmic, "mm": MichaelisMenten, "exp": ExponentialSaturation}[fam](beta, k)


def r_cvx(spec, e):
    fam, beta, k = spec
    if fam == "log":
        return beta * cp.log(1 + e / k)
    if fam == "mm":
        return beta - beta * k * cp.inv_pos(k + e)
    return beta - beta * cp.exp(-e / k)


def r_np(spec, e):
    fam, beta, k = spec
    if fam == "log":
        return beta * np.log1p(e / k)
    if fam == "mm":
        return beta * e / (k + e)
    return beta * (1 - np.exp(-e / k))


KERNELS = {
    "us_search": GeometricAdstock(0.3, l_max=4),
    "us_social": GeometricAdstock(0.6, l_max=6),
    "ru_search": WeibullAdstock(1.5, 2.0, l_max=5),
    "ru_creator": GeometricAdstock(0.5, l_max=5),
}


class Case:
    """All numbers of one test problem, for the library and for the oracle."""

    def __init__(self, T=8, budget=4000.0, seed=0, carry=True, season=True, cov=False,
                 rho=0.0, delta=0.0, horizon="auto", mode="exact"):
        rng = np.random.default_rng(seed)
        self.T, self.budget, self.rho, self.delta, self.mode = T, budget, rho, delta, mode
        self.n = len(IDS)
        self.w = [KERNELS[a].weights() for a in IDS]
        lmax = max(len(w) for w in self.w)
        self.H = lmax - 1 if horizon == "auto" else horizon
        self.P = T + self.H
        self.pre = rng.uniform(50, 150, size=(self.n, lmax - 1)) if carry else np.zeros(
            (self.n, lmax - 1))
        self.sigma = rng.uniform(0.7, 1.4, size=(self.n, self.P)) if season else np.ones(
            (self.n, self.P))
        self.cov = None
        if cov:
            a = rng.normal(size=(self.n, self.n)) * 0.05
            self.cov = a @ a.T + np.diag(rng.uniform(0.01, 0.03, self.n))

    def problem(self, **kw):
        cov = None if self.cov is None else pd.DataFrame(self.cov, index=IDS, columns=IDS)
        p = pm.Problem(pd.Series(1.0, index=IDS), cov, budget=self.budget, assets=ATTRS,
                       response={a: curve_obj(CURVES[a]) for a in IDS},
                       risk_aversion=self.delta, budget_mode=self.mode)
        periods = pd.date_range("2026-01-05", periods=self.T, freq="7D")
        pre = pd.DataFrame(self.pre.T, columns=IDS,
                           index=pd.date_range(end=periods[0] - pd.Timedelta(days=7),
                                               periods=self.pre.shape[1], freq="7D"))
        labels = periods.append(pd.date_range(periods[-1] + pd.Timedelta(days=7),
                                              periods=self.H, freq="7D"))
        season = pd.DataFrame(self.sigma.T, index=labels, columns=IDS)
        return WindowProblem(p, periods, adstock=KERNELS, carry_in=pre, horizon=self.H,
                             seasonality=season, period_correlation=self.rho, **kw)

    # ---- oracle ---------------------------------------------------------------------------
    def effective(self, X):
        """List of lists of scalar cvxpy expressions (or numbers) e[a][t]."""
        out = []
        for a in range(self.n):
            w = self.w[a]
            row = []
            for t in range(self.P):
                terms = []
                for lag, wl in enumerate(w):
                    s = t - lag
                    if 0 <= s < self.T:
                        terms.append(wl * X[a, s])
                    elif s < 0 and -s <= self.pre.shape[1]:
                        terms.append(wl * self.pre[a, self.pre.shape[1] + s])
                row.append(sum(terms) if terms else 0.0)
            out.append(row)
        return out

    def value(self, X):
        X = np.asarray(X, dtype=float)
        e = np.array(self.effective(X), dtype=float)
        tot = sum(float(np.sum(self.sigma[a] * r_np(CURVES[IDS[a]], e[a]))) for a in
                  range(self.n))
        if self.cov is not None and self.delta:
            R = self.rho ** np.abs(np.subtract.outer(np.arange(self.T), np.arange(self.T)))
            v = X.T.reshape(-1)  # x_1, x_2, ... stacked by week
            var = float(v @ np.kron(R, self.cov) @ v)
            tot -= self.delta / (2 * self.budget) * var
        return tot

    def oracle(self, extra=None, fixed=None):
        X = cp.Variable((self.n, self.T), nonneg=True)
        e = self.effective(X)
        obj = 0
        for a in range(self.n):
            ea = cp.hstack([cp.reshape(v, (1,), order="F") if isinstance(v, cp.Expression)
                            else cp.Constant(np.array([v])) for v in e[a]])
            obj = obj + self.sigma[a] @ r_cvx(CURVES[IDS[a]], ea)
        if self.cov is not None and self.delta:
            R = self.rho ** np.abs(np.subtract.outer(np.arange(self.T), np.arange(self.T)))
            v = cp.vec(X, order="F")
            obj = obj - self.delta / (2 * self.budget) * cp.quad_form(
                v, cp.psd_wrap(np.kron(R, self.cov)))
        cons = [cp.sum(X) == self.budget if self.mode == "exact" else cp.sum(X) <= self.budget]
        if extra is not None:
            cons += extra(X)
        if fixed is not None:
            k, vals = fixed
            cons.append(X[:, :k] == vals[:, :k])
        prob = cp.Problem(cp.Maximize(obj), cons)
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
        assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
        return X.value, self.value(X.value)


def lib_x(plan):
    return plan.spend.to_numpy().T


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(carry=False, season=False),
        dict(horizon=0),
        dict(cov=True, delta=3.0),
        dict(cov=True, delta=3.0, rho=0.4),
        dict(mode="cap", budget=40000.0),
    ],
    ids=["carry+season+tail", "plain", "no-tail", "risk", "risk+rho", "cap"],
)
def test_plan_reaches_oracle_objective(kw):
    case = Case(**kw)
    wp = case.problem()
    plan = plan_window(wp, value_of_timing=False)
    x_or, v_or = case.oracle()
    v_lib = case.value(lib_x(plan))
    assert abs(v_lib - v_or) <= REL * abs(v_or)
    # the library reports the same number as the oracle's own evaluation
    assert plan.objective == pytest.approx(v_lib, rel=1e-9)
    np.testing.assert_allclose(lib_x(plan), x_or, atol=2e-3 * case.budget)


def test_constraints_against_oracle():
    case = Case(T=9, seed=3)
    cons = [
        Pacing(0.3, min_step=20.0, name="pace"),
        DarkWeeks([3], where={"channel": "social"}, name="dark"),
        ContractLock("ru_creator", weeks=[5, 6], spend=150.0, name="creator"),
        WindowFloor({"market": "RU"}, 0.35, per="month", name="ru_month"),
        Phasing({1: 0.4}, name="phase"),
        PeriodCap(400.0, assets=["us_search"], name="cap"),
    ]
    wp = case.problem(constraints=cons)
    plan = plan_window(wp, value_of_timing=False)
    months = np.array([d.strftime("%Y-%m") for d in wp.periods])

    def extra(X):
        out = []
        for t in range(1, case.T):
            out += [X[:, t] - 1.3 * X[:, t - 1] <= 20.0, 0.7 * X[:, t - 1] - X[:, t] <= 20.0]
        out.append(X[1, 2] == 0)
        out += [X[3, 4] == 150.0, X[3, 5] == 150.0]
        for m in np.unique(months):
            sel = np.flatnonzero(months == m)
            out.append(cp.sum(X[2:, sel]) >= 0.35 * cp.sum(X[:, sel]))
        first = np.flatnonzero(months == months[0])
        out.append(cp.sum(X[:, first]) <= 0.4 * case.budget)
        out.append(X[0, :] <= 400.0)
        return out

    _, v_or = case.oracle(extra)
    v_lib = case.value(lib_x(plan))
    assert abs(v_lib - v_or) <= REL * abs(v_or)
    assert set(plan.verification) >= {c.name for c in cons}


def test_replan_is_conditional_optimum_and_keeps_spent_weeks():
    case = Case(T=8, seed=5, cov=True, delta=1.0, rho=0.2)
    wp = case.problem()
    plan = plan_window(wp, value_of_timing=False)
    rng = np.random.default_rng(1)
    actual = lib_x(plan)[:, :3] * rng.uniform(0.6, 1.3, size=(case.n, 3))
    wide = pd.DataFrame(actual.T, index=wp.periods[:3], columns=IDS)
    new = replan(plan, wide)
    x = lib_x(new)
    np.testing.assert_array_equal(x[:, :3], actual)  # spent weeks never change
    fixed = np.zeros((case.n, case.T))
    fixed[:, :3] = actual
    _, v_or = case.oracle(fixed=(3, fixed))
    assert abs(case.value(x) - v_or) <= REL * abs(v_or)
    assert x.sum() == pytest.approx(case.budget, rel=1e-8)
    assert new.moved == pytest.approx(0.5 * np.abs(x[:, 3:] - lib_x(plan)[:, 3:]).sum())


def test_replan_move_limit_against_oracle():
    case = Case(T=8, seed=6)
    wp = case.problem()
    plan = plan_window(wp, value_of_timing=False)
    # actuals far off the plan: all of weeks 1-2 on us_search
    actual = np.zeros((case.n, 2))
    actual[0] = lib_x(plan)[:, :2].sum(0)
    wide = pd.DataFrame(actual.T, index=wp.periods[:2], columns=IDS)
    free = replan(plan, wide)
    limited = replan(plan, wide, max_move=0.01)
    remaining = case.budget - actual.sum()
    assert limited.moved <= 0.01 * remaining * (1 + 1e-6)
    assert free.moved > limited.moved
    fixed = np.zeros((case.n, case.T))
    fixed[:, :2] = actual
    ref = lib_x(plan)

    def extra(X):
        return [0.5 * cp.sum(cp.abs(X[:, 2:] - ref[:, 2:])) <= 0.01 * remaining]

    _, v_or = case.oracle(extra, fixed=(2, fixed))
    assert abs(case.value(lib_x(limited)) - v_or) <= REL * abs(v_or)
