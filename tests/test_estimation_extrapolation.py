"""Extrapolation guard and plan audit: caps at a multiple of observed spend, named, checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.estimation import (
    EXTRAPOLATION_CAP,
    asset_table,
    bias_audit,
    extrapolating_assets,
    extrapolation_bounds,
    observed_spend_range,
    plan_audit,
)
from portfolio_mkt.exceptions import EstimationError, InputError
from portfolio_mkt.simulate import simulate_history


@pytest.fixture(scope="module")
def sim():
    return simulate_history(104, random_state=3, n_monte_carlo=200)


def test_bounds_are_the_stated_multiple_of_the_largest_observed_spend(sim):
    h = sim.history
    (cap,) = extrapolation_bounds(h, 2.0)
    assert cap.name == EXTRAPOLATION_CAP == "extrapolation_cap"
    largest = h.groupby("asset")["spend"].max()
    pd.testing.assert_series_equal(cap.upper.sort_index(), (2.0 * largest).sort_index(),
                                   check_names=False)
    (cap13,) = extrapolation_bounds(h, 1.5, horizon=13, name="cap")
    np.testing.assert_allclose(cap13.upper.sort_index(), (1.5 * 13 * largest).sort_index())
    rng = observed_spend_range(h)
    assert (rng["min_spend"] <= rng["median_spend"]).all()
    assert (rng["median_spend"] <= rng["max_spend"]).all()
    for bad in (0, -1.0, float("nan"), "two"):
        with pytest.raises(InputError, match="extrapolation_limit"):
            extrapolation_bounds(h, bad)


def test_cap_binds_on_the_true_optimum_and_is_named(sim):
    """A budget 4x the historical level: the true optimum goes far beyond observed spend."""
    h, truth = sim.history, sim.truth
    budget = 4.0 * float(truth.curves["base_spend"].sum())
    zero = pd.Series(0.0, index=truth.curves.index)
    cons = extrapolation_bounds(h, 2.0)
    prob = pm.Problem(zero, budget=budget, response=truth.response_curves(), constraints=cons,
                      assets=asset_table(h))
    alloc = pm.solve(prob)
    cap = cons[0].upper.reindex(truth.curves.index)
    assert (alloc.spend <= cap + 1e-6 * budget).all()
    assert EXTRAPOLATION_CAP in alloc.binding
    # without the cap the optimum extrapolates; the listing names exactly those assets
    free = truth.optimum(budget)
    listed = extrapolating_assets(h, free, 2.0)
    expected = free.index[free > cap + 1e-6 * budget]
    assert set(listed.index) == set(expected) and len(expected) > 0
    assert (listed["ratio"] > 2.0).all()
    assert listed["ratio"].is_monotonic_decreasing
    assert extrapolating_assets(h, alloc.spend, 2.0 + 1e-6).empty
    # KKT: assets below the cap share one marginal return, capped ones earn at least that
    c = truth.curves
    marg = c["beta"] / c["k"] * np.exp(-alloc.spend / c["k"])
    at_cap = alloc.spend >= cap - 1e-4 * budget
    inside = ~at_cap & (alloc.spend > 1e-6 * budget)
    assert inside.sum() >= 2
    nu = marg[inside].median()
    np.testing.assert_allclose(marg[inside], nu, rtol=2e-3)
    assert (marg[at_cap] >= nu * (1 - 2e-3)).all()


def test_extrapolating_assets_errors(sim):
    h = sim.history
    with pytest.raises(EstimationError, match="Series"):
        extrapolating_assets(h, {"us_search": 1.0})
    with pytest.raises(EstimationError, match="not in the history"):
        extrapolating_assets(h, pd.Series({"nowhere": 1.0}))


def test_plan_audit_flags_outside_observed_and_poorly_identified(sim):
    h, assets = sim.history, sim.assets
    audit = bias_audit(h)
    per_period = h.groupby(["period", "market"])["spend"].sum().unstack()
    us_max = float(per_period["US"].max())
    ru_max = float(per_period["RU"].max())
    ru_min = float(per_period["RU"].min())
    spend = pd.Series(0.0, index=assets.index)
    us = assets.index[assets["market"] == "US"]
    ru = assets.index[assets["market"] == "RU"]
    # US at 1.5x its most ever (spread over its assets in proportion to history); RU inside
    us_share = h[h.market == "US"].groupby("asset")["spend"].sum()
    spend[us] = (1.5 * us_max * us_share / us_share.sum()).reindex(us).to_numpy()
    ru_share = h[h.market == "RU"].groupby("asset")["spend"].sum()
    spend[ru] = (0.5 * (ru_min + ru_max) * ru_share / ru_share.sum()).reindex(ru).to_numpy()
    table = plan_audit(spend, audit, assets, history=h).set_index(["attribute", "group"])
    assert table.loc[("market", "US"), "outside_observed"] == "above"
    assert table.loc[("market", "US"), "flagged"]
    assert table.loc[("market", "US"), "recommended_per_period"] == pytest.approx(1.5 * us_max)
    assert table.loc[("market", "RU"), "outside_observed"] == ""
    # RU's return: the audit's relative SE is above 10% (36 weeks) -> poorly identified
    rel_ru = audit.table.set_index(["attribute", "group"]).loc[("market", "RU"), "relative_se"]
    assert table.loc[("market", "RU"), "poorly_identified"] == (rel_ru > 0.10)
    # below the least ever: RU at a tenth of its minimum
    spend2 = spend.copy()
    spend2[ru] = spend[ru] * 0.1 * ru_min / spend[ru].sum()
    t2 = plan_audit(spend2, audit, assets).set_index(["attribute", "group"])
    assert t2.loc[("market", "RU"), "outside_observed"] == "below"
    # model identification: a wide interval flags a group even with a tight historical SE
    iv = pd.DataFrame({"marginal_roi": 1.0, "marginal_lower": 0.2, "marginal_upper": 1.0},
                      index=assets.index)
    iv.loc[assets.index[assets["channel"] == "search"], ["marginal_lower", "marginal_upper"]] = (
        -1.0, 3.0)
    t3 = plan_audit(spend, audit, assets, intervals=iv, max_relative_se=10.0)
    t3 = t3.set_index(["attribute", "group"])
    assert t3.loc[("channel", "search"), "model_relative_width"] == pytest.approx(4.0)
    assert t3.loc[("channel", "search"), "poorly_identified"]
    assert not t3.loc[("channel", "social"), "poorly_identified"]
    with pytest.raises(EstimationError, match="Series"):
        plan_audit(spend.to_dict(), audit, assets)
