"""Invariants of the media-mix model and a second-solver check of the fast allocator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.mmm import MediaMixModel, allocate_concave
from portfolio_mkt.response import ExponentialSaturation, MichaelisMenten
from portfolio_mkt.simulate_kpi import simulate_kpi


@settings(max_examples=15, deadline=None)
@given(
    params=st.lists(st.tuples(st.floats(1.0, 100.0), st.floats(0.1, 10.0), st.booleans()),
                    min_size=2, max_size=5),
    budget=st.floats(0.5, 20.0),
)
# found by hypothesis: curves saturated at the even split (marginal 1e-17 there) made the
# program's objective scale 1e16 and Clarabel call the plan unbounded
@example(params=[(1.0, 0.125, True), (10.01069133799125, 0.125, True)], budget=10.0)
@example(params=[(1.0, 0.125, True), (1.0, 0.125, True)], budget=10.0)
def test_allocate_concave_matches_conic_solver(params, budget):
    curves = {
        f"a{i}": (ExponentialSaturation(b, k) if exp else MichaelisMenten(b, k))
        for i, (b, k, exp) in enumerate(params)
    }
    fast = allocate_concave(curves, budget)
    assert fast.sum() == pytest.approx(budget, rel=1e-9)
    assert (fast >= 0).all()
    ref = pm.solve(pm.Problem(pd.Series(0.0, index=list(curves)), budget=budget,
                              response=curves)).spend
    val = lambda x: sum(float(curves[a].value(v)) for a, v in x.items())  # noqa: E731
    assert val(fast) == pytest.approx(val(ref), rel=1e-5, abs=1e-7)


@pytest.fixture(scope="module")
def base_fit():
    w = simulate_kpi(104, 2, seed=8)
    kw = {**w.model_kwargs(), "split": (1.0, 0.0, 0.0), "n_starts": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**kw).fit(w.data)
    return w, kw, m


def test_kpi_units_do_not_change_the_curves_shape(base_fit):
    w, kw, m = base_fit
    data = w.data.copy()
    data["kpi"] *= 1000.0  # revenue in other units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = MediaMixModel(**kw).fit(data)
    np.testing.assert_allclose(m2.params_["alpha"], m.params_["alpha"], atol=1e-3)
    np.testing.assert_allclose(m2.params_["kappa"], m.params_["kappa"], rtol=1e-3)
    np.testing.assert_allclose(m2.params_["beta"], 1000.0 * m.params_["beta"], rtol=1e-3)


def test_money_units_rescale_the_curves(base_fit):
    w, kw, m = base_fit
    data = w.data.copy()
    data[w.channels] /= 1000.0  # spend in thousands
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = MediaMixModel(**kw).fit(data)
    np.testing.assert_allclose(m2.params_["kappa"], m.params_["kappa"], rtol=1e-3)
    for a, c in m.curves_.items():
        x = float(m.assets_.loc[a, "current_spend"])
        assert float(m2.curves_[a].value(x / 1000.0)) == pytest.approx(float(c.value(x)),
                                                                       rel=1e-3)
    np.testing.assert_allclose(m2.params_["roi"], 1000.0 * m.params_["roi"], rtol=1e-3)
