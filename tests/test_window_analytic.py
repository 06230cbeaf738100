"""Weekly plans with closed-form answers, KKT conditions, timing, PWL error, frontier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.response import (
    GeometricAdstock,
    Hill,
    Logarithmic,
    Logistic,
    MichaelisMenten,
)
from portfolio_mkt.window import WindowProblem, plan_window, window_frontier


def two_asset_problem(budget=1000.0, **kw):
    ids = ["a", "b"]
    return pm.Problem(pd.Series(1.0, index=ids), budget=budget,
                      response={"a": Logarithmic(500.0, 50.0), "b": MichaelisMenten(800.0, 300.0)},
                      **kw)


def test_no_carryover_flat_seasonality_gives_flat_plan_equal_to_static_optimum():
    T, B = 6, 1200.0
    plan = plan_window(WindowProblem(two_asset_problem(B), T), value_of_timing=True)
    x = plan.spend.to_numpy()
    np.testing.assert_allclose(x, np.tile(x[0], (T, 1)), atol=1e-6 * B)
    static = pm.solve(two_asset_problem(B / T, risk_aversion=0.0))
    np.testing.assert_allclose(x[0], static.spend.to_numpy(), atol=1e-5 * B)
    # with nothing to time, the flat plan is the best plan
    assert plan.value_of_timing == pytest.approx(0.0, abs=1e-6 * plan.objective)


@pytest.mark.parametrize("alpha,k,B", [(0.25, 100.0, 1000.0), (0.2, 50.0, 400.0)])
def test_pure_carryover_shifts_spend_earlier_by_closed_form(alpha, k, B):
    # one asset, two weeks, kernel w = (w0, w1), no tail: maximise r(e0) + r(e1), r = log curve.
    # FOC w0 r'(e0) + w1 r'(e1) = w0 r'(e1) gives x0 = (w1 k + w0^2 B) / (2 w0 (w0 - w1)).
    ad = GeometricAdstock(alpha, l_max=2)
    w0, w1 = ad.weights()
    p = pm.Problem(pd.Series({"a": 1.0}), budget=B, response={"a": Logarithmic(300.0, k)})
    plan = plan_window(WindowProblem(p, 2, adstock=ad, horizon=0), value_of_timing=True)
    x0 = (w1 * k + w0**2 * B) / (2 * w0 * (w0 - w1))
    # spend to 1e-4: the objective is flat at the optimum (it is right to 1e-9)
    assert plan.spend.iloc[0, 0] == pytest.approx(x0, rel=1e-4)
    assert plan.spend.iloc[0, 0] - B / 2 == pytest.approx(x0 - B / 2, rel=1e-3)
    assert plan.value_of_timing > 0


def test_carry_in_reduces_early_spend_by_closed_form():
    # with p spent in the week before: x0 drops by w1 p / (2 w0)
    ad = GeometricAdstock(0.25, l_max=2)
    w0, w1 = ad.weights()
    p = pm.Problem(pd.Series({"a": 1.0}), budget=1000.0, response={"a": Logarithmic(300.0, 100.0)})
    base = plan_window(WindowProblem(p, 2, adstock=ad, horizon=0), value_of_timing=False)
    pre = pd.DataFrame({"a": [200.0]}, index=[0])
    carried = plan_window(WindowProblem(p, 2, adstock=ad, horizon=0, carry_in=pre),
                          value_of_timing=False)
    drop = base.spend.iloc[0, 0] - carried.spend.iloc[0, 0]
    assert drop == pytest.approx(w1 * 200.0 / (2 * w0), rel=2e-3)
    assert carried.carry_in_outcome > 0


def test_kkt_marginal_roi_equal_where_funded():
    ad = {"a": GeometricAdstock(0.5, l_max=6), "b": GeometricAdstock(0.2, l_max=3)}
    season = pd.Series([1.0, 1.2, 0.8, 1.5, 1.0, 0.9, 1.1, 1.0], index=range(1, 9))
    wp = WindowProblem(two_asset_problem(2000.0), 8, adstock=ad, seasonality=season,
                       horizon=0)
    plan = plan_window(wp, value_of_timing=False)
    m = plan.marginal_roi.to_numpy()
    x = plan.spend.to_numpy()
    funded = x > 1e-4 * 2000.0
    lam = m[funded].mean()
    np.testing.assert_allclose(m[funded], lam, rtol=1e-5)
    assert (m[~funded] <= lam * (1 + 1e-5)).all()


def test_tail_values_late_spend():
    # with the tail off, late-window spend loses its carryover: the plan moves spend earlier
    ad = GeometricAdstock(0.7, l_max=8)
    p = two_asset_problem(1000.0)
    with_tail = plan_window(WindowProblem(p, 6, adstock=ad), value_of_timing=False)
    no_tail = plan_window(WindowProblem(p, 6, adstock=ad, horizon=0), value_of_timing=False)
    assert no_tail.spend.iloc[-1].sum() < with_tail.spend.iloc[-1].sum()
    assert with_tail.tail_outcome > 0 and no_tail.tail_outcome == 0


def test_seasonality_by_attribute_moves_spend_to_the_peak():
    ids = ["us", "ru"]
    p = pm.Problem(pd.Series(1.0, index=ids), budget=1000.0,
                   assets=pd.DataFrame({"market": ["US", "RU"]}, index=ids),
                   response={a: Logarithmic(400.0, 80.0) for a in ids})
    season = {"market": pd.DataFrame({"US": [1, 1, 2.0, 1], "RU": [1, 1, 1, 1.0]},
                                      index=range(1, 5))}
    plan = plan_window(WindowProblem(p, 4, seasonality=season), value_of_timing=True)
    assert plan.spend["us"].idxmax() == 3
    assert plan.spend["ru"].std() < 1e-6 * 1000
    assert plan.value_of_timing > 0


def test_pwl_path_states_its_error_and_stays_within_it():
    ids = ["a", "b"]
    p = pm.Problem(pd.Series(1.0, index=ids), budget=1000.0,
                   response={"a": Logistic(400.0, 0.01), "b": Logarithmic(300.0, 60.0)})
    ad = GeometricAdstock(0.4, l_max=4)
    plan = plan_window(WindowProblem(p, 5, adstock=ad), value_of_timing=False)
    assert plan.methods["a"] == "pwl" and plan.methods["b"] == "exact"
    assert abs(plan.approximation_gap) <= plan.approximation_bound + 1e-9
    # the exact answer differs by at most the stated bound (twice: model vs truth both ways)
    exact = plan_window(WindowProblem(p, 5, adstock=ad, method="pwl", tolerance=1e-6),
                        value_of_timing=False)
    assert abs(plan.objective - exact.objective) <= 2 * plan.approximation_bound + 1e-6


def test_pwl_method_on_conic_curves_matches_exact_within_bound():
    ad = GeometricAdstock(0.5, l_max=5)
    p = two_asset_problem(1500.0)
    exact = plan_window(WindowProblem(p, 6, adstock=ad), value_of_timing=False)
    pwl = plan_window(WindowProblem(p, 6, adstock=ad, method="pwl"), value_of_timing=False)
    assert set(pwl.methods.index) == {"a", "b"} and (pwl.methods == "pwl").all()
    assert exact.objective >= pwl.objective - 1e-9
    assert exact.objective - pwl.objective <= 2 * pwl.approximation_bound


def test_s_curve_enters_through_envelope_with_a_note():
    ids = ["a", "b"]
    p = pm.Problem(pd.Series(1.0, index=ids), budget=1000.0,
                   response={"a": Hill(500.0, 150.0, 2.5), "b": Logarithmic(300.0, 60.0)})
    plan = plan_window(WindowProblem(p, 4), value_of_timing=False)
    assert plan.methods["a"] == "envelope"
    assert any("envelope" in n for n in plan.notes)


def test_frontier_over_the_window_trades_outcome_for_risk():
    ids = ["a", "b"]
    cov = pd.DataFrame([[0.04, 0.01], [0.01, 0.09]], index=ids, columns=ids)
    p = pm.Problem(pd.Series(1.0, index=ids), cov, budget=1000.0,
                   response={"a": Logarithmic(900.0, 300.0), "b": Logarithmic(900.0, 200.0)})
    wp = WindowProblem(p, 4, adstock=GeometricAdstock(0.3, l_max=3), period_correlation=0.3)
    front = window_frontier(wp, [0.0, 1.0, 10.0, 100.0])
    assert (front["status"] == "optimal").all()
    assert front["risk"].is_monotonic_decreasing
    assert front["expected_outcome"].is_monotonic_decreasing
    # each point equals a fresh solve at that risk aversion
    for _, row in front.iterrows():
        fresh = plan_window(wp.replace(risk_aversion=row["risk_aversion"]),
                            value_of_timing=False)
        assert fresh.objective == pytest.approx(row["objective"], rel=1e-6)


def test_results_tables_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    cov = pd.DataFrame(np.diag([0.05, 0.05]), index=["a", "b"], columns=["a", "b"])
    p = two_asset_problem(1000.0).replace(covariance=cov, risk_aversion=0.5)
    plan = plan_window(WindowProblem(p, 5, adstock=GeometricAdstock(0.4, l_max=3)))
    assert list(plan.weekly.columns[:5]) == ["spend", "outcome", "outcome_sd", "outcome_low",
                                             "outcome_high"]
    assert plan.weekly["spend"].sum() == pytest.approx(1000.0, rel=1e-8)
    assert plan.window_outcome + plan.tail_outcome == pytest.approx(plan.expected_outcome)
    assert plan.risk > 0 and (plan.weekly["outcome_sd"] > 0).all()
    assert plan.timing["status"] == "optimal" and plan.flat_spend is not None
    assert "value of timing" in plan.summary()
    assert len(plan.to_frame()) == 10
    ax = plan.plot()
    assert len(ax.patches) == 10 and ax.outcome_axis.get_lines()
