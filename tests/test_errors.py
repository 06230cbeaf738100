"""Bad input gets a clear error of the library's own type that names what is wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import (
    AlignmentError,
    ConstraintError,
    CovarianceError,
    CovarianceRepairWarning,
    InfeasibleError,
    InputError,
    PortfolioMktError,
)

IDS = ["us_search", "us_social", "ru_search"]
MU = pd.Series([2.0, 1.8, 1.5], index=IDS)
COV = pd.DataFrame(np.diag([0.3, 0.4, 0.5]), index=IDS, columns=IDS)
ASSETS = pd.DataFrame({"market": ["US", "US", "RU"]}, index=IDS)


def test_hierarchy_is_also_builtin():
    assert issubclass(InputError, ValueError) and issubclass(InputError, PortfolioMktError)
    assert issubclass(InfeasibleError, RuntimeError)


def test_nan_and_inf_in_expected_return_name_the_asset():
    mu = MU.copy()
    mu["us_social"] = np.nan
    with pytest.raises(InputError, match="us_social"):
        pm.Problem(mu, COV, budget=1.0)
    mu["us_social"] = np.inf
    with pytest.raises(InputError, match="us_social"):
        pm.Problem(mu, COV, budget=1.0)


@pytest.mark.parametrize("budget", [-5.0, 0.0, np.nan, np.inf, "lots"])
def test_bad_budget(budget):
    with pytest.raises(InputError, match="budget"):
        pm.Problem(MU, COV, budget=budget)


def test_duplicate_asset_ids():
    mu = pd.Series([1.0, 2.0], index=["a", "a"])
    with pytest.raises(AlignmentError, match="duplicate.*'a'"):
        pm.Problem(mu, budget=1.0)


def test_covariance_missing_an_asset():
    with pytest.raises(AlignmentError, match="ru_search"):
        pm.Problem(MU, COV.iloc[:2, :2], budget=1.0)


def test_non_square_and_non_symmetric_covariance():
    with pytest.raises(CovarianceError, match="square"):
        pm.Problem(MU, COV.iloc[:, :2], budget=1.0)
    bad = COV.copy()
    bad.loc["us_search", "us_social"] = 0.1
    with pytest.raises(CovarianceError, match="not symmetric.*us_s"):
        pm.Problem(MU, bad, budget=1.0)
    with pytest.raises(CovarianceError, match="DataFrame"):
        pm.Problem(MU, COV.to_numpy(), budget=1.0)


def test_covariance_nan():
    bad = COV.copy()
    bad.loc["ru_search", "ru_search"] = np.nan
    with pytest.raises(CovarianceError, match="ru_search"):
        pm.Problem(MU, bad, budget=1.0)


def test_non_psd_covariance_repaired_with_warning_or_rejected():
    slightly = COV.copy()
    slightly.loc["us_search", "us_social"] = slightly.loc["us_social", "us_search"] = 0.36
    with pytest.warns(CovarianceRepairWarning, match="moved by"):
        p = pm.Problem(MU, slightly, budget=1.0)
    assert np.linalg.eigvalsh(p.covariance.to_numpy()).min() >= -1e-12
    far = COV.copy()
    far.loc["us_search", "us_social"] = far.loc["us_social", "us_search"] = 2.0
    with pytest.raises(CovarianceError, match="positive semidefinite.*LedoitWolf"):
        pm.Problem(MU, far, budget=1.0)


def test_unknown_attribute_in_group_filter():
    with pytest.raises(ConstraintError, match="unknown attribute 'region'.*market"):
        pm.Problem(MU, COV, budget=1.0, assets=ASSETS,
                   constraints=[pm.GroupFloor({"region": "RU"}, 0.2, unit="share")])
    with pytest.raises(ConstraintError, match="selects no assets.*'RU'"):
        pm.Problem(MU, COV, budget=1.0, assets=ASSETS,
                   constraints=[pm.GroupFloor({"market": "RUS"}, 0.2, unit="share")])


def test_unknown_asset_in_lock_and_roster():
    with pytest.raises(ConstraintError, match="'committed'.*'ru_blogger'"):
        pm.Problem(MU, COV, budget=1.0, constraints=[pm.Lock({"ru_blogger": 0.1},
                                                             name="committed")])
    with pytest.raises(ConstraintError, match="roster.*'xx'"):
        pm.Problem(MU, COV, budget=1.0, constraints=[pm.Roster(["xx"])])


def test_duplicate_and_reserved_constraint_names():
    with pytest.raises(ConstraintError, match="two constraints are named 'f'"):
        pm.Problem(MU, COV, budget=1.0, assets=ASSETS, constraints=[
            pm.GroupFloor({"market": "RU"}, 0.1, unit="share", name="f"),
            pm.GroupCap({"market": "RU"}, 0.5, unit="share", name="f")])
    with pytest.raises(ConstraintError, match="reserved"):
        pm.Problem(MU, COV, budget=1.0, constraints=[pm.Bounds(upper=1.0, name="budget")])


def test_share_over_100_percent():
    with pytest.raises(ConstraintError, match="between 0 and 1.*0.3"):
        pm.Problem(MU, COV, budget=1.0, assets=ASSETS,
                   constraints=[pm.GroupFloor({"market": "RU"}, 30, unit="share", name="ru")])


def test_shift_limit_needs_current():
    with pytest.raises(ConstraintError, match="current"):
        pm.Problem(MU, COV, budget=1.0, constraints=[pm.ShiftLimit(0.1)])


def test_locks_over_budget_are_found_before_solving():
    p = pm.Problem(MU, COV, budget=100.0, constraints=[
        pm.Lock({"us_search": 70.0, "ru_search": 50.0}, name="committed")])
    with pytest.raises(InfeasibleError, match="more than the budget.*'committed'") as err:
        pm.solve(p)
    assert err.value.conflicts == ["committed", "budget"]


def test_floor_above_what_caps_allow():
    p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, constraints=[
        pm.Bounds(upper={"ru_search": 20.0}, name="ru_cap"),
        pm.GroupFloor({"market": "RU"}, 30.0, name="ru_floor")])
    with pytest.raises(InfeasibleError) as err:
        pm.solve(p)
    assert set(err.value.conflicts) == {"ru_floor", "ru_cap"}


def test_conflict_found_by_relaxation_names_the_constraints_and_the_slack():
    # two floors on disjoint groups adding to 110% of the budget: no cheap check sees it
    p = pm.Problem(MU, COV, budget=100.0, assets=ASSETS, constraints=[
        pm.GroupFloor({"market": "US"}, 0.6, unit="share", name="us_floor"),
        pm.GroupFloor({"market": "RU"}, 0.5, unit="share", name="ru_floor"),
        pm.GroupCap({"market": "RU"}, 0.9, unit="share", name="ru_cap")])
    with pytest.raises(InfeasibleError, match="cannot all hold") as err:
        pm.solve(p)
    e = err.value
    # exactly the irreducible set; relaxing any one of them by the missing 10% is enough
    assert set(e.conflicts) == {"us_floor", "ru_floor", "budget"}
    assert all(v == pytest.approx(10.0, rel=1e-4) for v in e.slack.values())


def test_unknown_solver():
    with pytest.raises(InputError, match="not installed"):
        pm.solve(pm.Problem(MU, COV, budget=1.0), solver="NOPE")


def test_min_risk_without_covariance():
    with pytest.raises(InputError, match="covariance"):
        pm.Problem(MU, budget=1.0, objective="min_risk")


def test_current_negative_and_unknown():
    with pytest.raises(InputError, match="negative.*us_search"):
        pm.Problem(MU, COV, budget=1.0, current={"us_search": -1.0})
    with pytest.raises(AlignmentError, match="'zz'"):
        pm.Problem(MU, COV, budget=1.0, current={"zz": 1.0})


def test_no_warning_on_a_clean_problem():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm.solve(pm.Problem(MU, COV, budget=1.0))
