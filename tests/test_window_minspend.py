"""Per-week minimum spend from the plan file's window section (assets that must be on in some
weeks): the weekly plan meets it and reaches an independent cvxpy oracle's optimum."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import InfeasibleError, PlanFileError
from portfolio_mkt.response import Logarithmic
from portfolio_mkt.window import plan_window, window_from_spec

IDS = ["a", "b", "c"]
PARAMS = {"a": (900.0, 120.0), "b": (600.0, 300.0), "c": (50.0, 400.0)}  # c is poor
T, L, ALPHA, BUDGET = 6, 3, 0.4, 2400.0


def problem():
    return pm.Problem(pd.Series(1.0, index=IDS), budget=BUDGET,
                      response={a: Logarithmic(*PARAMS[a]) for a in IDS})


def section(**extra):
    return {"weeks": T, "curves": "per_week",
            "adstock": {"family": "geometric", "alpha": ALPHA, "l_max": L}, **extra}


def oracle(floors):
    w = ALPHA ** np.arange(L)
    w = w / w.sum()
    X = cp.Variable((3, T), nonneg=True)
    obj = 0
    for i, a in enumerate(IDS):
        beta, k = PARAMS[a]
        for t in range(T + L - 1):
            e = sum(w[lag] * X[i, t - lag] for lag in range(L) if 0 <= t - lag < T)
            obj = obj + beta * cp.log(1 + e / k)
    cons = [cp.sum(X) == BUDGET] + [X[IDS.index(a), t - 1] >= m for a, t, m in floors]
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return X.value, prob.value


def test_period_floor_from_the_plan_file_is_met_and_optimal():
    spec = section(period_floors=[{"name": "c_on", "assets": ["c"], "weeks": [2, 3],
                                   "amount": 150.0}])
    wp = window_from_spec(spec, problem())
    plan = plan_window(wp, value_of_timing=False)
    x = plan.spend.to_numpy().T
    assert x[2, 1] >= 150.0 * (1 - 1e-7) and x[2, 2] >= 150.0 * (1 - 1e-7)
    x_or, v_or = oracle([("c", 2, 150.0), ("c", 3, 150.0)])
    assert abs(plan.objective - v_or) <= 1e-6 * abs(v_or)
    # without the floor the poor asset is off in those weeks: the floor binds
    free = plan_window(window_from_spec(section(), problem()), value_of_timing=False)
    assert free.spend["c"].iloc[1:3].max() < 150.0
    assert plan.verification["c_on"] <= 1e-6 * BUDGET


def test_period_floor_above_the_budget_and_bad_fields_are_named():
    spec = section(period_floors=[{"name": "too_much", "assets": ["a"], "amount": 500.0}])
    with pytest.raises(InfeasibleError, match="too_much"):
        plan_window(window_from_spec(spec, problem()), value_of_timing=False)
    with pytest.raises(PlanFileError, match="period_floors"):
        window_from_spec(section(period_floors=[{"amount": -1.0}]), problem())
