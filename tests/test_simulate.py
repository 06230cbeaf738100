"""The simulator: deterministic, the documented shape, and a truth that matches its own process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.estimation import validate_history
from portfolio_mkt.exceptions import InputError
from portfolio_mkt.simulate import Simulation, simulate_history


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate_history(random_state=0)


def test_default_shape():
    # speed is measured in benchmarks/boot_bench.py, not asserted here
    sim = simulate_history(random_state=0)
    history, assets, truth = sim
    assert len(assets) == 25
    assert history["period"].nunique() == 104
    assert set(assets["market"]) == {"US", "RU"}
    assert set(assets["channel"]) == {"search", "social", "video", "influencer", "events", "email"}
    assert set(assets["tier"].dropna()) == {"mega", "macro", "micro", "nano"}
    assert list(truth.expected_return.index) == list(assets.index)
    assert truth.covariance.shape == (25, 25)
    # the history passes the library's own validation unchanged
    clean = validate_history(history)
    assert len(clean) == len(history)


def test_deterministic(sim):
    again = simulate_history(random_state=0)
    pd.testing.assert_frame_equal(sim.history, again.history)
    pd.testing.assert_series_equal(sim.truth.expected_return, again.truth.expected_return)
    other = simulate_history(random_state=1)
    assert not np.allclose(other.history["spend"].head(50), sim.history["spend"].head(50))


def test_asset_parameters_do_not_depend_on_length(sim):
    long = simulate_history(208, random_state=0)
    pd.testing.assert_frame_equal(sim.truth.curves, long.truth.curves)
    pd.testing.assert_series_equal(sim.truth.expected_return, long.truth.expected_return)


def test_unequal_history_and_new_creators(sim):
    h, assets = sim.history, sim.assets
    periods_by_market = h.groupby("market")["period"].nunique()
    assert periods_by_market["US"] == 104
    assert periods_by_market["RU"] == round(0.35 * 104)
    share_ru = (h["market"] == "RU").mean()
    assert 0.15 < share_ru < 0.3
    new = assets.index[assets["tags"].str.contains("new")]
    assert len(new) == 3
    rows = h[h["asset"].isin(new)].groupby("asset").size()
    assert (rows <= 16).all() and (rows >= 10).all()
    # gaps: some creators miss weeks inside their history
    us_creators = assets.index[(assets["channel"] == "influencer") & (assets["market"] == "US")]
    counts = h[h["asset"].isin(us_creators)].groupby("asset").size()
    assert (counts < 104).any()


def test_truth_curves_consistent(sim):
    c = sim.truth.curves
    b, beta, k = c["base_spend"], c["beta"], c["k"]
    np.testing.assert_allclose(c["roi_at_base"], beta * (1 - np.exp(-b / k)) / b)
    np.testing.assert_allclose(c["marginal_at_base"], beta / k * np.exp(-b / k))
    assert (c["marginal_at_base"] < c["roi_at_base"]).all()  # saturating
    assert ((c["alpha"] >= 0) & (c["alpha"] < 1)).all()


def test_truth_curves_as_response_objects(sim):
    curves = sim.truth.response_curves()
    row = sim.truth.curves.iloc[0]
    curve = curves[sim.truth.curves.index[0]]
    x = float(row["base_spend"])
    assert float(curve.derivative(x)) == pytest.approx(row["marginal_at_base"], rel=1e-12)


def test_truth_reproduces_history_with_response_objects():
    """Curves x adstock x seasonality from the truth give the simulated expected outcome."""
    sim = simulate_history(
        60,
        random_state=4,
        noise=0.0,
        seasonality=0.0,
        n_new_creators=0,
        gap_probability=0.0,
        history_share={"RU": 1.0},
    )
    curves, adstocks = sim.truth.response_curves(), sim.truth.adstocks()
    h = sim.history
    for asset in ("us_search", "ru_video"):
        rows = h[h["asset"] == asset]
        spend = rows["spend"].to_numpy()
        effective = adstocks[asset].transform(spend)
        predicted = curves[asset].value(effective)
        # the first l_max weeks also carry spend from before the history starts
        np.testing.assert_allclose(predicted[8:], rows["outcome"].to_numpy()[8:], rtol=1e-4)


def test_truth_mean_matches_long_history(sim):
    """The Monte Carlo truth agrees with a long independent history of the same process."""
    long = simulate_history(
        2000, random_state=0, history_share={"RU": 1.0}, n_new_creators=0, gap_probability=0.0
    )
    h = long.history
    r = (h["outcome"] / h["spend"]).groupby(h["asset"]).mean()
    truth = long.truth.expected_return
    rel = ((r[truth.index] - truth) / truth).abs()
    assert rel.max() < 0.03
    # the mean return is near the analytic return at base spend (Jensen gap from spend noise)
    ratio = truth / long.truth.curves["roi_at_base"]
    assert ((ratio > 0.8) & (ratio < 1.3)).all()


def test_truth_covariance_has_factor_structure(sim):
    cov = sim.truth.covariance
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    # same market and channel share two factors; different market and channel share none
    assert corr.loc["us_search", "ru_search"] > 0.05  # channel factor
    assert corr.loc["us_search", "us_social"] > 0.05  # market factor
    assert abs(corr.loc["us_search", "ru_social"]) < corr.loc["us_search", "us_social"]
    assert np.linalg.eigvalsh(cov.to_numpy()).min() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_periods": 2}, "n_periods must be at least 4"),
        ({"markets": ()}, "at least one market"),
        ({"channels": ["search", "tv"]}, "unknown channel"),
        ({"creators": {"US": {"giga": 1}}}, "unknown creator tier"),
        ({"history_share": {"RU": 0.0}}, r"history_share\['RU'\] must be in \(0, 1\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate_history(**kwargs)


def test_custom_universe():
    sim = simulate_history(
        30,
        markets=("US", "DE", "RU"),
        channels={"search": 2.0, "email": 3.0},
        creators={},
        random_state=3,
    )
    assert len(sim.assets) == 6
    assert sim.history["period"].nunique() == 30
