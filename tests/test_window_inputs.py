"""Bad input gives library errors naming the week and asset; every constraint holds (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.exceptions import (
    AlignmentError,
    ConstraintError,
    ConstraintViolationError,
    InfeasibleError,
    InputError,
)
from portfolio_mkt.response import GeometricAdstock, Logarithmic, MichaelisMenten
from portfolio_mkt.window import (
    ContractLock,
    DarkWeeks,
    Pacing,
    PeriodCap,
    PeriodFloor,
    Phasing,
    Scoped,
    WindowCap,
    WindowFloor,
    WindowProblem,
    plan_window,
    replan,
    verify_plan,
)

IDS = ["us_search", "us_social", "ru_search"]
ATTRS = pd.DataFrame({"market": ["US", "US", "RU"], "channel": ["search", "social", "search"]},
                     index=IDS)


def problem(budget=3000.0, **kw):
    return pm.Problem(pd.Series(1.0, index=IDS), budget=budget, assets=ATTRS,
                      response={"us_search": Logarithmic(900.0, 100.0),
                                "us_social": MichaelisMenten(1200.0, 300.0),
                                "ru_search": Logarithmic(500.0, 80.0)}, **kw)


WEEKS = pd.date_range("2026-01-05", periods=6, freq="7D")


@pytest.fixture(scope="module")
def base_plan():
    wp = WindowProblem(problem(), WEEKS, adstock=GeometricAdstock(0.4, l_max=3))
    return plan_window(wp, value_of_timing=False)


# ---------------------------------------------------------------------------- periods
def test_periods_out_of_order_name_the_week():
    with pytest.raises(InputError, match=r"out of order: 2026-01-05 comes after 2026-01-12"):
        WindowProblem(problem(), ["2026-01-12", "2026-01-05", "2026-01-19"])


def test_periods_with_a_gap_name_the_missing_week():
    with pytest.raises(InputError, match=r"gap after 2026-01-12: expected 2026-01-19"):
        WindowProblem(problem(), ["2026-01-05", "2026-01-12", "2026-01-26", "2026-02-02"])
    with pytest.raises(InputError, match=r"gap after week 2: expected week 3"):
        WindowProblem(problem(), [1, 2, 4])


def test_duplicate_period_is_named():
    with pytest.raises(InputError, match="appears twice"):
        WindowProblem(problem(), [1, 2, 2, 3])


def test_seasonality_errors_name_week_and_asset():
    s = pd.DataFrame(1.0, index=WEEKS, columns=IDS)
    s.loc[WEEKS[2], "ru_search"] = -1.0
    with pytest.raises(InputError, match=r"2026-01-19, asset 'ru_search'"):
        WindowProblem(problem(), WEEKS, seasonality=s)
    with pytest.raises(InputError, match=r"no row for 2026-02-09"):
        WindowProblem(problem(), WEEKS, seasonality=pd.DataFrame(1.0, index=WEEKS[:5],
                                                                   columns=IDS))
    with pytest.raises(AlignmentError, match="tiktok"):
        WindowProblem(problem(), WEEKS, seasonality=pd.DataFrame(1.0, index=WEEKS,
                                                                   columns=["tiktok"]))


def test_carry_in_must_end_right_before_the_window():
    pre = pd.DataFrame({"us_search": [100.0, 100.0]},
                       index=pd.to_datetime(["2025-12-15", "2025-12-22"]))
    with pytest.raises(InputError, match=r"expected 2025-12-29"):
        WindowProblem(problem(), WEEKS, adstock=GeometricAdstock(0.5, l_max=3), carry_in=pre)
    with pytest.raises(AlignmentError, match="'tv'"):
        WindowProblem(problem(), WEEKS, adstock=GeometricAdstock(0.5, l_max=3),
                      carry_in={"tv": 10.0})


# ---------------------------------------------------------------------------- constraints
def test_constraint_errors():
    with pytest.raises(InputError, match=r"2026-03-02 is not a period of the window"):
        WindowProblem(problem(), WEEKS, constraints=[DarkWeeks(["2026-03-02"])])
    with pytest.raises(InputError, match=r"week 9 is outside the window"):
        WindowProblem(problem(), WEEKS, constraints=[DarkWeeks([9])])
    with pytest.raises(ConstraintError, match="did you mean 0.4"):
        WindowProblem(problem(), WEEKS, constraints=[Phasing({1: 40})])
    with pytest.raises(ConstraintError, match="'nobody' is not in the problem"):
        WindowProblem(problem(), WEEKS, constraints=[ContractLock("nobody", [1], 10.0)])
    with pytest.raises(ConstraintError, match="no meaning over a window"):
        WindowProblem(problem(), WEEKS, constraints=[pm.ShiftLimit(0.1)])
    with pytest.raises(ConstraintError, match="unknown attribute 'region'"):
        WindowProblem(problem(), WEEKS, constraints=[WindowFloor({"region": "EU"}, 0.1)])


def test_locked_spend_above_budget_names_week_and_asset():
    locks = [ContractLock("us_social", weeks=[1, 2, 3, 4], spend=1000.0, name="social_deal")]
    wp = WindowProblem(problem(), WEEKS, constraints=locks)
    with pytest.raises(InfeasibleError, match=r"2026-01-26, asset 'us_social'") as exc:
        plan_window(wp)
    assert "social_deal" in exc.value.conflicts and "budget" in exc.value.conflicts


def test_infeasible_plan_names_the_constraints_in_conflict():
    cons = [WindowFloor({"market": "RU"}, 0.6, name="ru_floor"),
            WindowCap({"market": "RU"}, 0.4, per="month", name="ru_cap")]
    wp = WindowProblem(problem(), WEEKS, constraints=cons)
    with pytest.raises(InfeasibleError) as exc:
        plan_window(wp)
    assert set(exc.value.conflicts) & {"ru_floor", "ru_cap"}
    assert "ru_" in str(exc.value)


def test_verification_names_constraint_week_and_asset():
    wp = WindowProblem(problem(), WEEKS, constraints=[PeriodCap(400.0, name="weekly_cap")])
    x = np.full((3, 6), 3000.0 / 18)
    x[1, 2] += 450.0 - 3000.0 / 18
    x[:, 4] -= (450.0 - 3000.0 / 18) / 3
    with pytest.raises(ConstraintViolationError,
                       match=r"weekly_cap.*2026-01-19, asset 'us_social'"):
        verify_plan(wp, x)


# ---------------------------------------------------------------------------- actuals
def test_actuals_for_unknown_asset(base_plan):
    bad = pd.DataFrame({"week": [WEEKS[0]], "asset": ["tv"], "spend": [10.0]})
    with pytest.raises(AlignmentError, match=r"'tv'.*2026-01-05"):
        replan(base_plan, bad)


def test_actuals_outside_the_window(base_plan):
    bad = pd.DataFrame({"week": [pd.Timestamp("2026-03-30")], "asset": ["us_search"],
                        "spend": [10.0]})
    with pytest.raises(InputError, match=r"2026-03-30 \(asset 'us_search'\) is outside"):
        replan(base_plan, bad)


def test_actuals_with_a_gap(base_plan):
    bad = pd.DataFrame({"week": [WEEKS[0], WEEKS[2]], "asset": ["us_search"] * 2,
                        "spend": [10.0, 10.0]})
    with pytest.raises(InputError, match=r"skip 2026-01-12"):
        replan(base_plan, bad)


def test_actual_spend_above_budget_names_week_and_asset(base_plan):
    bad = pd.DataFrame({"week": [WEEKS[0], WEEKS[1], WEEKS[1]],
                        "asset": ["us_search", "us_search", "ru_search"],
                        "spend": [1500.0, 1000.0, 900.0]})
    with pytest.raises(InputError, match=r"2026-01-12, asset 'ru_search'"):
        replan(base_plan, bad)


def test_negative_actual_spend(base_plan):
    bad = pd.DataFrame({"week": [WEEKS[0]], "asset": ["us_search"], "spend": [-5.0]})
    with pytest.raises(InputError, match=r"2026-01-05, asset 'us_search'"):
        replan(base_plan, bad)


def test_replan_with_outcomes_and_refit(base_plan):
    spent = base_plan.spend.iloc[:2].copy()
    spent["outcome"] = [500.0, 520.0]
    new_p = problem().replace(response={"us_search": Logarithmic(600.0, 100.0),
                                        "us_social": MichaelisMenten(1200.0, 300.0),
                                        "ru_search": Logarithmic(500.0, 80.0)})
    wp2 = base_plan.problem.replace(problem=new_p)
    new = replan(base_plan, spent, problem=wp2)
    assert new.changes.loc["us_search", "curve_changed"]
    assert not new.changes.loc["ru_search", "curve_changed"]
    assert new.changes.loc["us_search", "change"] < 0  # a weaker curve gets less
    assert new.weekly["actual"].iloc[:2].tolist() == [500.0, 520.0]
    pd.testing.assert_frame_equal(new.spend.iloc[:2], base_plan.spend.iloc[:2])


# ---------------------------------------------------------------------------- hypothesis
def independent_checks(wp, x, cons):
    """Every constraint re-checked here from its definition (not through its rows)."""
    tol = 1e-6 * wp.budget
    months = np.array(wp.months)
    assert x.min() >= -tol
    assert abs(x.sum() - wp.budget) <= tol
    for c in cons:
        if isinstance(c, Pacing):
            for t in range(1, wp.T):
                assert np.all(np.abs(x[:, t] - x[:, t - 1])
                              <= c.max_change * x[:, t - 1] + c.min_step + tol)
        elif isinstance(c, DarkWeeks):
            mask = ATTRS["channel"].eq(c.where["channel"]).to_numpy()
            for w in c.weeks:
                assert np.all(np.abs(x[mask, w - 1]) <= tol)
        elif isinstance(c, ContractLock):
            i = IDS.index(c.asset)
            for w in c.weeks:
                assert abs(x[i, w - 1] - c.spend) <= tol
        elif isinstance(c, WindowFloor):
            mask = ATTRS["market"].eq(c.where["market"]).to_numpy()
            for m in np.unique(months):
                sel = months == m
                assert x[mask][:, sel].sum() >= c.amount * x[:, sel].sum() - tol
        elif isinstance(c, Phasing):
            first = months == months[0]
            assert x[:, first].sum() <= c.limits[1] * wp.budget + tol
        elif isinstance(c, PeriodCap):
            assert np.all(x <= c.amount + tol)
        elif isinstance(c, PeriodFloor):
            i = IDS.index(c.assets[0])
            assert np.all(x[i] >= c.amount - tol)
        elif isinstance(c, Scoped):
            i = IDS.index(next(iter(c.constraint.upper)))
            for m in np.unique(months):
                assert x[i, months == m].sum() <= c.constraint.upper[IDS[i]] + tol


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    T=st.integers(3, 9),
    alpha=st.floats(0.0, 0.8),
    pick=st.lists(st.booleans(), min_size=8, max_size=8),
    pace=st.floats(0.1, 0.6),
    floor=st.floats(0.05, 0.4),
    seed=st.integers(0, 1000),
)
def test_every_constraint_holds_at_the_answer(T, alpha, pick, pace, floor, seed):
    rng = np.random.default_rng(seed)
    season = pd.DataFrame(rng.uniform(0.5, 1.5, size=(T, 3)), index=range(1, T + 1),
                          columns=IDS)
    options = [
        Pacing(pace, min_step=50.0, name="pace"),
        DarkWeeks([2], where={"channel": "social"}, name="dark"),
        ContractLock("ru_search", weeks=[1, 3], spend=60.0, name="contract"),
        WindowFloor({"market": "RU"}, floor, per="month", name="ru_floor"),
        Phasing({1: 0.6}, name="phase"),
        PeriodCap(3000.0 / T * 1.5, name="cap"),
        PeriodFloor(10.0, assets=["us_search"], name="always_on"),
        Scoped(pm.Bounds(upper={"us_social": 900.0}), per="month", name="social_month"),
    ]
    cons = [c for c, keep in zip(options, pick, strict=True) if keep]
    wp = WindowProblem(problem(), T, adstock=GeometricAdstock(alpha, l_max=4),
                       seasonality=season, constraints=cons)
    try:
        plan = plan_window(wp, value_of_timing=False)
    except InfeasibleError as exc:
        assert exc.conflicts  # infeasible combinations are named, never silent
        return
    independent_checks(wp, plan.spend.to_numpy().T, cons)
