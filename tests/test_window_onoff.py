"""On/off minimum per asset-week (PeriodMinSpend): branch and bound against exhaustive enumeration.

The oracle shares no code with portfolio_mkt.window: effective spend by explicit loops over the
adstock weights (written out here), log curves by their formula, risk as sum_t x_t' Sigma x_t,
and every on/off pattern of the selected asset-weeks solved as its own convex program in cvxpy.
The best pattern's objective is the optimum; the library must reach it to 1e-6 relative.
"""

from __future__ import annotations

import itertools
import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.exceptions import ConstraintError, InfeasibleError, InputError
from portfolio_mkt.response import GeometricAdstock, Logarithmic
from portfolio_mkt.status import OPTIMAL, TIME_LIMIT
from portfolio_mkt.window import (
    DarkWeeks,
    PeriodCap,
    PeriodFloor,
    PeriodMinSpend,
    WindowProblem,
    plan_window,
    replan,
    verify_plan,
    window_frontier,
)

REL = 1e-6
IDS = ["a", "b", "c"]
ALPHA, L = 0.4, 3


class Case:
    """Numbers of one small window, for the library and for the enumeration oracle."""

    def __init__(self, T, budget, params, carry=None, cov=None, delta=0.0, mode="exact"):
        self.T, self.budget, self.params = T, budget, params
        self.carry = carry or {}
        self.cov, self.delta, self.mode = cov, delta, mode
        w = ALPHA ** np.arange(L)
        self.w = w / w.sum()

    def problem(self, constraints):
        cov = None if self.cov is None else pd.DataFrame(self.cov, index=IDS, columns=IDS)
        p = pm.Problem(pd.Series(1.0, index=IDS), cov, budget=self.budget,
                       response={a: Logarithmic(*self.params[a]) for a in IDS},
                       risk_aversion=self.delta, budget_mode=self.mode)
        return WindowProblem(p, self.T, adstock=GeometricAdstock(ALPHA, l_max=L),
                             carry_in=self.carry or None, constraints=constraints)

    def _program(self, switch, lo, caps, fixed):
        """The window's program in cvxpy for spend ``switch * V`` with ``V >= lo``."""
        T, B = self.T, self.budget
        V = cp.Variable((3, T), nonneg=True)
        X = cp.multiply(switch, V)
        obj = 0
        for i, a in enumerate(IDS):
            beta, k = self.params[a]
            pre = self.carry.get(a, 0.0)
            for t in range(T + L - 1):
                e = 0
                for lag in range(L):
                    s = t - lag
                    if 0 <= s < T:
                        e = e + self.w[lag] * X[i, s]
                    elif s < 0:
                        e = e + self.w[lag] * pre
                obj = obj + beta * cp.log(1 + e / k)
        if self.cov is not None and self.delta > 0:
            root = np.linalg.cholesky(self.cov)
            obj = obj - self.delta / (2 * B) * sum(
                cp.sum_squares(root.T @ X[:, t]) for t in range(T))
        total = cp.sum(X)
        cons = [total == B if self.mode == "exact" else total <= B, V >= lo, V <= B]
        cons += [V[IDS.index(a), t] <= cap for a, t, cap in caps or []]
        if fixed is not None:
            cons.append(V[:, : fixed.shape[1]] == fixed)
        return cp.Problem(cp.Maximize(obj), cons), V

    def oracle(self, cells, caps=None, fixed=None, floors=None):
        """Best objective over every on/off pattern of ``cells`` = [(asset, week0, m)]."""
        T = self.T
        switch = cp.Parameter((3, T), nonneg=True)  # 0 switches an asset-week off
        lo = cp.Parameter((3, T), nonneg=True)
        prob, V = self._program(switch, lo, caps, fixed)
        best, best_x = -np.inf, None
        for pattern in itertools.product((0, 1), repeat=len(cells)):
            low = np.zeros((3, T))
            mask = np.ones((3, T))
            for (a, t, floor) in floors or []:
                low[IDS.index(a), t] = max(low[IDS.index(a), t], floor)
            for (a, t, m), on in zip(cells, pattern, strict=True):
                i = IDS.index(a)
                if on:
                    low[i, t] = max(low[i, t], m)
                else:
                    mask[i, t] = 0.0
            if (low[mask == 0] > 0).any():
                continue
            lo.value, switch.value = low, mask
            p, v = prob, V
            for attempt in range(3):  # tight; Clarabel's defaults; a fresh program
                if attempt == 2:
                    p, v = self._program(mask, low, caps, fixed)
                settings = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10,
                            "tol_feas": 1e-10} if attempt != 1 else {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p.solve(solver="CLARABEL", warm_start=False, **settings)
                if p.status in ("optimal", "infeasible"):
                    break
            assert p.status in ("optimal", "infeasible"), (pattern, p.status)
            if p.status == "optimal" and p.value > best:
                best, best_x = p.value, mask * v.value
        return best, best_x


#: a and b rich, c poor: with a minimum of 250 the optimum books b in some weeks only
CASE_A = Case(4, 2400.0, {"a": (900.0, 120.0), "b": (600.0, 150.0), "c": (500.0, 200.0)})
#: every asset on/off, carry-in, risk, a weekly cap on b
CASE_B = Case(3, 1500.0, {"a": (700.0, 150.0), "b": (650.0, 120.0), "c": (400.0, 90.0)},
              carry={"a": 80.0, "c": 40.0},
              cov=np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.03]]),
              delta=3.0)


def cells_of(assets, weeks, m):
    return [(a, t, m) for a in assets for t in weeks]


def assert_on_off(x, cells):
    for a, t, m in cells:
        v = x[IDS.index(a), t]
        assert v == 0.0 or v >= m * (1 - 1e-7), (a, t, v, m)


def test_branch_and_bound_equals_enumeration_two_assets_four_weeks():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp, value_of_timing=False)
    cells = cells_of(["b", "c"], range(4), m)
    best, best_x = CASE_A.oracle(cells)
    assert plan.status == OPTIMAL
    assert plan.objective == pytest.approx(best, rel=REL)
    x = plan.spend.to_numpy().T
    assert_on_off(x, cells)
    np.testing.assert_allclose(x, best_x, atol=1e-3 * CASE_A.budget / 12)
    # the minimum binds: without it b spends below 250 in some week, and the search needed
    # more than the root
    free = plan_window(CASE_A.problem([]), value_of_timing=False).spend.to_numpy().T
    assert ((free[1:] > 1.0) & (free[1:] < m)).any()
    assert plan.search["root_bound"] > plan.objective * (1 + 1e-4)
    assert plan.search["nodes"] >= 1 and plan.search["gap"] <= plan.search["requested_gap"] == 1e-6
    # the reported bound is a true bound and the plan reaches it
    assert plan.search["bound"] >= best * (1 - 1e-9)
    on = plan.on_off.set_index(["asset", "week"])["on"]
    assert on.sum() == int((x[1:] > 0).sum())


def test_branch_and_bound_equals_enumeration_with_risk_carry_in_and_cap():
    m = 180.0
    cons = [PeriodMinSpend(m, name="ticket"), PeriodCap(400.0, assets=["b"], name="b_cap")]
    wp = CASE_B.problem(cons)
    plan = plan_window(wp, value_of_timing=False)
    cells = cells_of(IDS, range(3), m)
    best, best_x = CASE_B.oracle(cells, caps=[("b", t, 400.0) for t in range(3)])
    assert plan.objective == pytest.approx(best, rel=REL)
    x = plan.spend.to_numpy().T
    assert_on_off(x, cells)
    assert x[1].max() <= 400.0 * (1 + 1e-7)
    assert plan.verification["ticket"] == 0.0
    assert plan.verification["b_cap"] <= 1e-6 * CASE_B.budget


def test_minimum_with_its_own_cap_and_a_week_subset():
    m = 200.0
    c = PeriodMinSpend(m, assets=["b"], weeks=[2, 3], cap=300.0, name="b_ticket")
    wp = CASE_A.problem([c, PeriodMinSpend(m, assets=["c"], weeks=[1], name="c_ticket")])
    plan = plan_window(wp, value_of_timing=False)
    cells = [("b", 1, m), ("b", 2, m), ("c", 0, m)]
    best, _ = CASE_A.oracle(cells, caps=[("b", 1, 300.0), ("b", 2, 300.0)])
    assert plan.objective == pytest.approx(best, rel=REL)
    x = plan.spend.to_numpy().T
    assert_on_off(x, cells)
    assert x[1, 1:3].max() <= 300.0 * (1 + 1e-7)
    assert set(plan.on_off["constraint"]) == {"b_ticket", "c_ticket"}
    assert len(plan.on_off) == 3


def test_replan_keeps_spent_weeks_and_equals_the_conditional_enumeration():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp, value_of_timing=False)
    actual = plan.spend.iloc[:2].copy()
    actual["b"] = [120.0, 0.0]  # history may break the minimum: it is not re-checked
    actual["a"] = [500.0, 300.0]
    new = replan(plan, actual)
    x = new.spend.to_numpy().T
    np.testing.assert_array_equal(x[:, :2], actual.to_numpy().T)
    cells = cells_of(["b", "c"], [2, 3], m)
    best, _ = CASE_A.oracle(cells, fixed=actual.to_numpy().T)
    assert new.objective == pytest.approx(best, rel=REL)
    assert_on_off(x, cells)
    assert len(new.on_off) == 4 and set(new.on_off["week"]) == {3, 4}
    assert new.search["status"] == OPTIMAL
    # the spent weeks are history: a below-minimum actual is kept, not flagged
    assert new.verification["ticket"] == 0.0


def test_value_of_timing_with_minimums_compares_with_the_best_flat_pattern():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp)
    flat = plan.flat_spend.to_numpy().T
    # the flat plan spends the same every week and meets the minimums
    np.testing.assert_allclose(flat, flat[:, :1].repeat(4, axis=1), atol=1e-6 * 2400)
    assert_on_off(flat, cells_of(["b", "c"], range(4), m))
    assert plan.timing["value"] >= -1e-6 * abs(plan.objective)


def test_every_asset_week_is_zero_or_above_the_minimum_and_is_verified():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp, value_of_timing=False)
    x = plan.spend.to_numpy().T
    assert_on_off(x, cells_of(["b", "c"], range(4), m))
    bad = x.copy()
    j = int(np.argmax(bad[1]))
    bad[0, j] += bad[1, j] - 100.0
    bad[1, j] = 100.0  # neither 0 nor 250: the verification names the week and asset
    with pytest.raises(pm.exceptions.ConstraintViolationError,
                       match=rf"'ticket'.*week {j + 1}, asset 'b'.*neither 0 nor at least 250"):
        verify_plan(wp, bad)


def test_forced_on_weeks_spend_at_least_the_minimum():
    m = 250.0
    cons = [PeriodMinSpend(m, assets=["c"], name="ticket"),
            PeriodFloor(50.0, assets=["c"], weeks=[2], name="c_on")]
    plan = plan_window(CASE_A.problem(cons), value_of_timing=False)
    x = plan.spend.to_numpy().T
    assert x[2, 1] >= m * (1 - 1e-7)
    cells = cells_of(["c"], range(4), m)
    best, _ = CASE_A.oracle(cells, floors=[("c", 1, 50.0)])
    assert plan.objective == pytest.approx(best, rel=REL)
    assert_on_off(x, cells)


def test_dark_weeks_are_off_without_error():
    cons = [PeriodMinSpend(250.0, assets=["b"], name="ticket"),
            DarkWeeks([1, 2], assets=["b"], name="b_dark")]
    plan = plan_window(CASE_A.problem(cons), value_of_timing=False)
    assert (plan.spend["b"].iloc[:2] == 0).all()
    assert_on_off(plan.spend.to_numpy().T, cells_of(["b"], range(4), 250.0))


def test_node_limit_returns_the_best_plan_with_its_proven_gap():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    best, _ = CASE_A.oracle(cells_of(["b", "c"], range(4), m))
    plan = plan_window(wp, value_of_timing=False, node_limit=1)
    s = plan.search
    assert plan.status == TIME_LIMIT == s["status"]
    assert s["bound"] >= best * (1 - 1e-9)          # a true bound
    assert plan.objective <= best * (1 + 1e-9)      # a true plan
    assert s["gap"] == pytest.approx((s["bound"] - s["objective"]) / abs(s["objective"]))
    assert any("limit" in n for n in plan.notes)
    assert_on_off(plan.spend.to_numpy().T, cells_of(["b", "c"], range(4), m))


# ------------------------------------------------------------------ infeasible and bad input
def test_minimum_above_the_budget_names_asset_and_week():
    wp = CASE_A.problem([PeriodMinSpend(3000.0, assets=["b"], weeks=[3], name="too_big")])
    with pytest.raises(InfeasibleError, match=r"'too_big'.*week 3, asset 'b'.*budget") as e:
        plan_window(wp, value_of_timing=False)
    assert "too_big" in e.value.conflicts


def test_minimum_above_a_weekly_cap_names_asset_week_and_cap():
    cons = [PeriodMinSpend(300.0, assets=["b"], name="ticket"),
            PeriodCap(200.0, assets=["b"], weeks=[2], name="b_cap")]
    with pytest.raises(InfeasibleError, match=r"'ticket'.*week 2, asset 'b'.*'b_cap'") as e:
        plan_window(CASE_A.problem(cons), value_of_timing=False)
    assert set(e.value.conflicts) == {"ticket", "b_cap"}
    with pytest.raises(ConstraintError, match=r"'own'.*cap 100.*below the minimum.*asset 'b'"):
        CASE_A.problem([PeriodMinSpend(300.0, assets=["b"], cap=100.0, name="own")])


def test_no_on_off_pattern_fits_the_budget():
    # every asset-week is 0 or in [300, 400]; 1 or 2 booked weeks give 300..800: no pattern
    # spends exactly 850, although the window without minimums can
    case = Case(2, 850.0, CASE_A.params)
    cons = [PeriodMinSpend(300.0, name="ticket", cap=400.0),
            DarkWeeks([1, 2], assets=["c"], name="c_dark"),
            DarkWeeks([2], assets=["b"], name="b_dark")]
    with pytest.raises(InfeasibleError, match=r"'ticket'.*on/off pattern.*week \d, asset") as e:
        plan_window(case.problem(cons), value_of_timing=False)
    assert e.value.conflicts == ["ticket"]


def test_forced_minimums_above_the_budget_are_named():
    cons = [PeriodMinSpend(900.0, assets=["c"], name="ticket"),
            PeriodFloor(10.0, assets=["c"], name="c_always")]
    with pytest.raises(InfeasibleError, match=r"adds up to 3,600.*passes the budget at week 3"):
        plan_window(CASE_A.problem(cons), value_of_timing=False)


def test_bad_input_is_named():
    with pytest.raises(ConstraintError, match=r"names assets that are not in the problem: 'zz'"):
        CASE_A.problem([PeriodMinSpend(100.0, assets=["zz"])])
    with pytest.raises(ConstraintError, match=r"'neg'.*amount must be finite and >= 0"):
        CASE_A.problem([PeriodMinSpend(-5.0, assets=["b"], name="neg")])
    with pytest.raises(ConstraintError, match=r"'zero'.*must be > 0"):
        CASE_A.problem([PeriodMinSpend(0.0, assets=["b"], name="zero")])
    with pytest.raises(InputError, match=r"late: week 9 is not a period of the window"):
        CASE_A.problem([PeriodMinSpend(100.0, assets=["b"], weeks=[9], name="late")])
    with pytest.raises(ConstraintError, match=r"'nan'.*must be a number"):
        CASE_A.problem([PeriodMinSpend("lots", assets=["b"], name="nan")])
    wp = CASE_A.problem([PeriodMinSpend(100.0, assets=["b"])])
    with pytest.raises(InputError, match="gap must be"):
        plan_window(wp, gap=-1.0)
    with pytest.raises(InputError, match="node_limit must be > 0"):
        plan_window(wp, node_limit=0)


def test_frontier_with_minimums_solves_each_point_exactly():
    m = 180.0
    cons = [PeriodMinSpend(m, assets=["b", "c"], name="ticket")]
    front = window_frontier(CASE_B.problem(cons), [0.0, 10.0])
    cells = cells_of(["b", "c"], range(3), m)
    for d, row in zip([0.0, 10.0], front.itertuples(), strict=True):
        case = Case(CASE_B.T, CASE_B.budget, CASE_B.params, carry=CASE_B.carry,
                    cov=CASE_B.cov, delta=d)
        best, _ = case.oracle(cells)
        assert row.status == OPTIMAL
        assert row.objective == pytest.approx(best, rel=REL)
    assert front["risk"].iloc[1] < front["risk"].iloc[0]


def test_replan_with_a_move_limit_keeps_the_minimums():
    m = 250.0
    wp = CASE_A.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp, value_of_timing=False)
    actual = plan.spend.iloc[:1] * 1.1
    actual["a"] = actual["a"] - (actual.to_numpy().sum() - plan.spend.iloc[:1].to_numpy().sum())
    new = replan(plan, actual, max_move=0.2)
    remaining = CASE_A.budget - actual.to_numpy().sum()
    assert new.moved <= 0.2 * remaining * (1 + 1e-6)
    assert_on_off(new.spend.to_numpy().T, cells_of(["b", "c"], [1, 2, 3], m))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.floats(50.0, 900.0), beta_c=st.floats(200.0, 900.0), k_c=st.floats(50.0, 400.0),
       exact=st.booleans())
def test_property_random_minimums_match_enumeration(m, beta_c, k_c, exact):
    """For any minimum and curve of c: the plan meets 0-or-m, its objective is the best
    pattern's, and root bound >= bound >= objective."""
    params = {**CASE_A.params, "c": (beta_c, k_c)}
    case = Case(3, 1800.0, params, mode="exact" if exact else "cap")
    wp = case.problem([PeriodMinSpend(m, assets=["b", "c"], name="ticket")])
    plan = plan_window(wp, value_of_timing=False)
    cells = cells_of(["b", "c"], range(3), m)
    best, _ = case.oracle(cells)
    assert_on_off(plan.spend.to_numpy().T, cells)
    assert plan.objective == pytest.approx(best, rel=REL)
    s = plan.search
    assert s["root_bound"] * (1 + 1e-9) >= s["bound"] >= s["objective"] * (1 - 1e-12)
