"""Careless and hostile input to the engine: the library's own errors, naming the field.

Each kind of junk of issue 12 has a test here; a hypothesis test feeds junk of every kind to
every argument of the engine's public entry points and accepts only the library's errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.exceptions import (
    ConstraintError,
    InputError,
    PortfolioMktError,
)
from portfolio_mkt.risk import DegenerateCovarianceWarning

IDS = ["a", "b", "c"]
MU = pd.Series([3.0, 2.0, 1.0], IDS)
COV = pd.DataFrame(np.diag([1.0, 0.5, 0.25]), IDS, IDS)
ASSETS = pd.DataFrame({"market": ["US", "RU", "RU"]}, index=IDS)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: pm.Lock({"a": 1.0}, minimum="no"), "minimum must be True or False"),
    (lambda: pm.ShiftLimit(relative="no"), "relative must be True or False"),
    (lambda: pm.Bounds(upper=1.0, name=None), "needs a name"),
    (lambda: pm.Lock({"a": 1.0}, name=""), "needs a name"),
    (lambda: pm.GroupFloor("market", 0.1), "where must be a non-empty mapping"),
    (lambda: pm.GroupFloor({"market": "RU"}, "0.1"), "amount must be a number"),
    (lambda: pm.GroupCap({"market": "RU"}, True), "amount must be a number"),
    (lambda: pm.Lock({"a": "100"}), r"spend\['a'\] must be a number"),
    (lambda: pm.Turnover("0.1"), "limit must be a number"),
    (lambda: pm.ResponseFloor({"market": "RU"}, "5"), "level must be a number"),
    (lambda: pm.CustomConstraint("x <= 1", name="c"), "func must be a callable"),
    (lambda: pm.Bounds(upper=1.0, unit="euros"), "unit must be"),
])
def test_constraint_constructors_are_strict(make, match):
    with pytest.raises(ConstraintError, match=match):
        make()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"constraints": [pm.Bounds(upper="100")]}, "bounds.upper must be a number"),
    ({"constraints": [pm.Bounds(upper={"a": "100"})]}, "bounds.upper must hold numbers for 'a'"),
    ({"constraints": [pm.Bounds(lower={"a": -5.0})]}, "negative for 'a'.*cannot be negative"),
    ({"constraints": [pm.Bounds(lower=-1.0, unit="share")]}, "negative"),
    ({"constraints": pm.Bounds(upper=1.0)}, "must be a list"),
    ({"psd_tolerance": float("nan")}, "psd_tolerance"),
    ({"psd_tolerance": "0.1"}, "psd_tolerance"),
    ({"budget": True}, "budget must be a number"),
    ({"budget": "100"}, "budget must be a number"),
    ({"risk_aversion": complex(1, 1)}, "risk_aversion must be a number"),
    ({"current": {"a": float("nan")}}, "current has NaN for assets 'a'"),
    ({"current": {"a": "10"}}, "current must hold numbers"),
    ({"name": None}, "name must be a non-empty string"),
    ({"response_tolerance": float("nan")}, "response_tolerance"),
])
def test_problem_arguments_are_strict(kwargs, match):
    args = {"covariance": COV, "budget": 100.0, "assets": ASSETS, **kwargs}
    with pytest.raises(InputError, match=match):
        pm.Problem(MU, **args)


@pytest.mark.parametrize("returns", [
    pd.Series([True, False, True], IDS),
    pd.Series([1 + 1j, 2.0, 1.0], IDS),
    {"a": "3", "b": 2.0, "c": 1.0},
    pd.Series(["3", "2", "1"], IDS),
])
def test_bool_complex_and_quoted_returns_are_refused(returns):
    with pytest.raises(InputError, match="expected_return must hold numbers"):
        pm.Problem(returns, COV, budget=100.0)


def test_constraints_none_means_none():
    assert pm.Problem(MU, COV, budget=100.0, constraints=None).constraints == ()


@pytest.mark.parametrize(("call", "match"), [
    (lambda p: pm.solve({"expected_return": MU}), "solve needs a portfolio_mkt.Problem"),
    (lambda p: pm.solve(p, solver=123), "solver must be a solver name"),
    (lambda p: pm.solve(p, tolerance=float("nan")), "tolerance must be finite"),
    (lambda p: pm.solve(p, tolerance=-1.0), "tolerance must be greater than 0"),
    (lambda p: pm.solve(p, tolerance=2.0), "tolerance is relative"),
    (lambda p: pm.solve(p, verify_result="yes"), "verify_result must be True or False"),
    (lambda p: pm.solve(p, time_limit=0.0), "time_limit must be greater than 0"),
])
def test_solve_arguments_are_strict(call, match):
    with pytest.raises(InputError, match=match):
        call(pm.Problem(MU, COV, budget=100.0))


def test_nan_in_a_partial_current_mapping_is_not_zero():
    """A full mapping with NaN was refused, a partial one silently became 0: both refused now,
    and an asset left out of a partial mapping still means 0."""
    p = pm.Problem(MU, COV, budget=100.0, current={"a": 50.0})
    assert p.current.tolist() == [50.0, 0.0, 0.0]
    with pytest.raises(InputError, match="'b'"):
        pm.Problem(MU, COV, budget=100.0, current={"a": 50.0, "b": float("nan")})


@pytest.mark.parametrize("scale", [(1e50, 1.0), (1.0, 1e50), (1e12, 1e12)])
def test_extreme_scales_give_the_minimum_risk_plan(scale):
    delta, cov_scale = scale
    p = pm.Problem(MU, COV * cov_scale, budget=1.0, risk_aversion=delta)
    alloc = pm.solve(p)
    # minimum variance of a diagonal covariance: shares proportional to 1 / variance
    inv = 1.0 / np.diag(COV.to_numpy())
    np.testing.assert_allclose(alloc.shares.to_numpy(), inv / inv.sum(), atol=1e-6)


def test_zero_variance_from_a_plugged_in_estimate_is_named():
    cov = COV.copy()
    cov.loc["b", "b"] = 0.0
    with pytest.warns(DegenerateCovarianceWarning, match="'b' zero or near-zero variance"):
        pm.Problem(MU, cov, budget=100.0)


def test_rank_collapse_of_a_fitted_estimator_is_named():
    from sklearn.covariance import EmpiricalCovariance

    x = np.random.default_rng(0).normal(size=(30, 2))
    returns = pd.DataFrame(np.column_stack([x, x[:, 0] + x[:, 1]]), columns=IDS)
    est = EmpiricalCovariance().fit(returns)
    with pytest.warns(DegenerateCovarianceWarning, match="rank 2 of 3.*'a', 'b', 'c'"):
        pm.Problem(MU, est, budget=100.0)


def test_a_healthy_covariance_raises_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm.Problem(MU, COV, budget=100.0)


def test_custom_floor_dual_has_the_sign_of_the_same_group_floor():
    def ru_floor(x, p):
        return [x[1] + x[2] >= 60.0]

    group = pm.solve(pm.Problem(MU, COV, budget=100.0, assets=ASSETS, risk_aversion=0.01,
                                constraints=[pm.GroupFloor({"market": "RU"}, 60.0, name="f")]))
    custom = pm.solve(pm.Problem(MU, COV, budget=100.0, assets=ASSETS, risk_aversion=0.01,
                                 constraints=[pm.CustomConstraint(ru_floor, name="f")]))
    d_group = group.constraints.loc["f", "dual"]
    d_custom = custom.constraints.loc["f", "dual"]
    assert d_group < 0
    assert d_custom == pytest.approx(d_group, rel=1e-4)


def test_time_limit_returns_a_verified_plan_or_says_so():
    p = pm.Problem(MU, COV, budget=100.0)
    alloc = pm.solve(p, time_limit=30.0)
    assert alloc.status == "optimal"


def test_scenario_explain_separates_the_budget_change_from_the_reallocation():
    p = pm.Problem(MU, COV, budget=100.0, risk_aversion=0.05)
    res = pm.scenarios(p, [pm.Scenario("cut", budget_change=-0.12)], backend="sequential")
    line = res.explain().splitlines()[1]
    net = float(res.change["cut"].sum())
    assert net == pytest.approx(-12.0, rel=1e-6)
    assert "total spend -12" in line
    moved = res.summary.loc["cut", "spend_moved"]
    assert f"{moved:,.0f} moved between assets" in line


JUNK = st.one_of(st.none(), st.text(max_size=5), st.booleans(),
                 st.complex_numbers(allow_nan=True), st.floats(allow_nan=True),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                      st.text(max_size=3)))


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["budget", "risk_aversion", "max_risk", "min_outcome",
                              "psd_tolerance", "response_tolerance", "current", "name",
                              "objective", "budget_mode", "constraints", "assets",
                              "covariance"]),
       junk=JUNK)
def test_junk_in_any_problem_field_gives_a_library_error(field, junk):
    args = {"covariance": COV, "budget": 100.0, field: junk}
    try:
        p = pm.Problem(MU, **args)
    except PortfolioMktError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pm.solve(p)
        except PortfolioMktError:
            pass


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["Bounds", "Lock", "Roster", "GroupFloor", "GroupCap",
                             "ShiftLimit", "Turnover", "ResponseFloor"]),
       a=JUNK, b=JUNK)
def test_junk_in_any_constraint_gives_a_library_error(kind, a, b):
    cls = getattr(pm, kind)
    try:
        c = cls(a, b)
        p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, current=MU * 10, constraints=[c])
        pm.solve(p)
    except PortfolioMktError:
        pass


def test_power_curve_with_an_awkward_exponent_solves():
    """Power(5, 0.99997) made cvxpy raise a raw ValueError; it is approximated instead."""
    p = pm.Problem(MU, COV * 1e-4, budget=1e6, response={"c": pm.Power(5.0, 0.99997)},
                   risk_aversion=1e-9)
    alloc = pm.solve(p)
    # c earns ~5 per unit at any spend here (x**-0.00003 > 0.9995), far above a, b: all on c
    assert alloc.spend["c"] == pytest.approx(1e6, rel=1e-6)
    assert alloc.response.loc["c", "method"] == "pwl"


def test_a_risk_limit_too_large_to_square_cannot_bind():
    """max_risk = 1.34e156 overflowed squaring it (a raw OverflowError, found by hypothesis):
    a limit above any plan's risk leaves the plan of no limit, on the cvxpy route as well."""
    free = pm.solve(pm.Problem(MU, COV, budget=100.0))  # the exact vertex: all on "a"
    for solver in (None, "CLARABEL"):
        a = pm.solve(pm.Problem(MU, COV, budget=100.0, max_risk=1.34e156), solver=solver)
        assert a.status == "optimal"
        assert a.utility == pytest.approx(free.utility, rel=1e-9)
        np.testing.assert_allclose(a.spend.to_numpy(), free.spend.to_numpy(), atol=1e-2)
        assert a.constraints.loc["max_risk", "binding"] == False  # noqa: E712
