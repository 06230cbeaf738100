"""simulate_kpi: seeded single-KPI worlds whose truth is internally consistent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.exceptions import InputError
from portfolio_mkt.mmm import allocate_concave
from portfolio_mkt.response import GeometricAdstock
from portfolio_mkt.simulate_kpi import simulate_kpi


def test_seeded_and_reproducible():
    a = simulate_kpi(60, 3, seed=11)
    b = simulate_kpi(60, 3, seed=11)
    c = simulate_kpi(60, 3, seed=12)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not np.allclose(a.data["kpi"], c.data["kpi"])
    assert list(a.data.columns) == ["date", "tv", "search", "social", "price", "kpi"]


def test_components_add_up_to_the_kpi():
    w = simulate_kpi(80, 3, markets=2, seed=3)
    comp = w.truth.components
    total = comp[["baseline", "price", "noise", *w.channels]].sum(axis=1)
    np.testing.assert_allclose(total.to_numpy(), w.data["kpi"].to_numpy(), rtol=1e-12)
    assert set(w.data["market"]) == {"m1", "m2"}
    assert w.geo == "market"


@pytest.mark.parametrize("family", ["logistic", "exponential", "michaelis_menten", "hill"])
def test_planning_curve_is_the_steady_state_of_the_generating_process(family):
    w = simulate_kpi(60, 2, seed=1, saturation=family)
    p = w.truth.params.loc["tv"]
    x = 0.7 * p["mean_spend"]
    # constant spend for long enough: the adstocked level reaches x (normalised kernel)
    level = GeometricAdstock(p["alpha"], l_max=8).transform(np.full(40, x))[-1]
    assert level == pytest.approx(x, rel=1e-12)
    curve = w.truth.curves["tv"]
    # the contribution series was generated with the same parameters: compare the curve at
    # each period's adstocked spend
    a = GeometricAdstock(p["alpha"], l_max=8).transform(w.data["tv"].to_numpy())
    np.testing.assert_allclose(curve.value(a), w.truth.components["tv"], rtol=1e-9)


def test_true_optimum_satisfies_kkt_and_matches_second_solver():
    w = simulate_kpi(104, 4, seed=2)
    spend, best = w.truth.optimum()
    budget = w.truth.historical_spend.sum()
    assert spend.sum() == pytest.approx(budget, rel=1e-6)
    funded = spend[spend > 1e-3 * budget].index
    d = pd.Series({a: float(w.truth.curves[a].derivative(spend[a])) for a in spend.index})
    # equal marginal returns on funded assets, lower on unfunded ones
    assert d[funded].max() / d[funded].min() < 1.02
    unfunded = spend.index.difference(funded)
    if len(unfunded):
        assert d[unfunded].max() <= d[funded].max() * 1.02
    other = allocate_concave(w.truth.curves, budget)
    assert w.truth.outcome(other) == pytest.approx(best, rel=1e-4)
    assert best >= w.truth.outcome(w.truth.historical_spend)


def test_bad_arguments():
    with pytest.raises(InputError, match="n_channels"):
        simulate_kpi(60, 0)
    with pytest.raises(InputError, match="n_periods"):
        simulate_kpi(10, 2)
    with pytest.raises(InputError, match="saturation"):
        simulate_kpi(60, 2, saturation="sigmoid")
    with pytest.raises(InputError, match="unknown assets"):
        simulate_kpi(60, 2).truth.outcome({"nope": 1.0})
