"""MediaMixModel: published truth (PyMC-Marketing), simulator truth, conventions, risk."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import portfolio_mkt as pm
from portfolio_mkt.exceptions import EstimationError, InputError
from portfolio_mkt.mmm import (
    FitQualityWarning,
    IdentificationWarning,
    MediaMixModel,
    allocate_concave,
)
from portfolio_mkt.response import Logistic
from portfolio_mkt.simulate_kpi import simulate_kpi

REPO = Path(__file__).resolve().parents[1]


def _public() -> Path:
    for p in (os.environ.get("PORTFOLIO_MKT_PUBLIC_DATA"), REPO.parent / "shared/data/public",
              REPO.parent.parent / "shared/data/public"):
        if p and Path(p).is_dir():
            return Path(p)
    pytest.skip("public data sets (../shared/data/public) not found")


@pytest.fixture(scope="module")
def roas():
    path = _public() / "pymc_marketing" / "mmm_roas_data.csv"
    data = pd.read_csv(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitQualityWarning)
        model = MediaMixModel(kpi="y", channels=["x1", "x2"], controls=["z"], l_max=4,
                              saturation="logistic").fit(data)
    return data, model


# -- PyMC-Marketing mmm_roas_data.csv: the README gives the exact truth --------------------
TRUE = {"x1": Logistic(beta=200.0, lam=1.0), "x2": Logistic(beta=150.0, lam=2.5)}


def test_roas_recovers_published_parameters(roas):
    _, model = roas
    p = model.params_
    # stated tolerances: alpha +-0.15 absolute, lam and beta +-20% relative
    assert abs(p.loc["x1", "alpha"] - 0.3) < 0.15
    assert abs(p.loc["x2", "alpha"] - 0.5) < 0.15
    lam = {a: c.lam for a, c in model.curves_.items()}
    assert lam["x1"] == pytest.approx(1.0, rel=0.2)
    assert lam["x2"] == pytest.approx(2.5, rel=0.2)
    # y = 100 * (... + beta * saturation): beta in y units is 100 x the README's
    assert p.loc["x1", "beta"] / 100 == pytest.approx(2.0, rel=0.2)
    assert p.loc["x2", "beta"] / 100 == pytest.approx(1.5, rel=0.2)
    assert p["identified"].all()


def test_roas_allocation_reaches_99_percent_of_true_optimum(roas):
    _, model = roas
    budget = 1.13416
    problem = model.problem(budget)
    alloc = pm.solve(problem)
    got = sum(float(TRUE[a].value(x)) for a, x in alloc.spend.items())
    # true optimum from the true curves (pm.solve) and from the KKT bisection: both ~148.33
    truth = pm.solve(pm.Problem(pd.Series(0.0, index=list(TRUE)), budget=budget,
                                response=TRUE, response_tolerance=1e-6))
    best = sum(float(TRUE[a].value(x)) for a, x in truth.spend.items())
    assert best == pytest.approx(148.334, abs=0.01)
    hist = sum(float(TRUE[a].value(x)) for a, x in {"x1": 109.4406 / 131,
                                                     "x2": 39.1338 / 131}.items())
    assert hist == pytest.approx(132.55, abs=0.01)
    assert got >= 0.99 * 148.334
    x2 = allocate_concave(TRUE, budget)
    assert x2["x1"] == pytest.approx(truth.spend["x1"], abs=0.01)


def test_roas_fit_quality_and_roi(roas):
    _, model = roas
    q = model.fit_quality_
    assert list(q.index) == ["train", "validation", "test", "out_of_sample", "in_sample"]
    assert q.loc["test", "n"] + q.loc["validation", "n"] + q.loc["train", "n"] == 131
    assert q.loc["out_of_sample", "mape"] < 0.15
    assert q.loc["in_sample", "r2"] > 0.95
    roi = model.roi()
    # true ROAS 93.39 and 171.41 (README): within 15%
    assert roi.loc["x1", "roi"] == pytest.approx(93.39, rel=0.15)
    assert roi.loc["x2", "roi"] == pytest.approx(171.41, rel=0.15)
    # marginal ROI is the derivative of the planning curve at the mean spend
    c = model.curves_["x1"]
    x = model.assets_.loc["x1", "current_spend"]
    assert roi.loc["x1", "marginal_roi"] == pytest.approx(
        (c.value(x + 1e-6) - c.value(x - 1e-6)) / 2e-6, rel=1e-4)


def test_decomposition_adds_up_and_plots(roas):
    data, model = roas
    dec = model.decomposition()
    parts = dec.drop(columns=["fitted", "actual"]).sum(axis=1)
    np.testing.assert_allclose(parts, dec["fitted"], rtol=1e-10)
    np.testing.assert_allclose(dec["actual"], data["y"])
    # controls are shown relative to their average level (their mean is in the baseline)
    assert abs(dec["z"].sum()) < 1e-8 * dec["fitted"].abs().sum()
    # channel contributions: the true ones are 10220 and 6708 (README), within 15%
    assert dec["x1"].sum() == pytest.approx(10220.455, rel=0.15)
    assert dec["x2"].sum() == pytest.approx(6707.879, rel=0.15)
    import matplotlib

    matplotlib.use("Agg")
    ax = model.plot_decomposition()
    assert ax.get_title() == "KPI decomposition"
    np.testing.assert_allclose(model.predict(data), model.predict(), rtol=1e-9, atol=1e-9)


def test_sklearn_conventions():
    m = MediaMixModel(kpi="revenue", channels=["tv"], l_max=6)
    c = clone(m)
    assert c.get_params() == m.get_params()
    assert not hasattr(m, "params_")
    m.set_params(saturation="hill")
    assert m.saturation == "hill"


def test_bad_input_names_the_column():
    w = simulate_kpi(52, 2, seed=0)
    with pytest.raises(EstimationError, match="'radio'"):
        MediaMixModel(kpi="kpi", channels=["tv", "radio"]).fit(w.data)
    bad = w.data.copy()
    bad.loc[3, "tv"] = -5.0
    with pytest.raises(EstimationError, match="'tv' is negative .* row 4"):
        MediaMixModel(kpi="kpi", channels=["tv", "search"]).fit(bad)
    bad = w.data.copy()
    bad.loc[7, "kpi"] = np.nan
    with pytest.raises(EstimationError, match="KPI column 'kpi'.*row 8"):
        MediaMixModel(kpi="kpi", channels=["tv", "search"]).fit(bad)
    with pytest.raises(InputError, match="split"):
        MediaMixModel(kpi="kpi", channels=["tv"], split=(0.5, 0.2, 0.2)).fit(w.data)
    with pytest.raises(InputError, match="saturation"):
        MediaMixModel(kpi="kpi", channels=["tv"], saturation="sigmoid").fit(w.data)


def test_unvaried_spend_is_flagged_not_trusted():
    w = simulate_kpi(104, 3, seed=4)
    data = w.data.copy()
    data["social"] = data["social"].mean()  # spend never varied
    with pytest.warns(IdentificationWarning, match="social"):
        m = MediaMixModel(**w.model_kwargs()).fit(data)
    assert not m.params_.loc["social", "identified"]
    assert m.params_.loc["social", "note"] == "spend never varied"
    assert m.params_.loc["tv", "identified"]


def test_noisy_kpi_warns_on_out_of_sample_mape():
    w = simulate_kpi(104, 2, seed=2, noise=0.4)
    with pytest.warns(FitQualityWarning, match="MAPE"):
        MediaMixModel(**w.model_kwargs(), n_starts=1).fit(w.data)


@pytest.mark.parametrize("seed", [1, 2])
def test_simulator_allocation_close_to_true_optimum(seed):
    w = simulate_kpi(104, 3, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**w.model_kwargs()).fit(w.data)
    spend, best = w.truth.optimum()
    alloc = pm.solve(m.problem(float(spend.sum())))
    regret = 1 - w.truth.outcome(alloc.spend) / best
    hist_regret = 1 - w.truth.outcome(w.truth.historical_spend) / best
    assert regret < 0.03
    assert regret < hist_regret


def test_weibull_and_hill_fit_and_plug_into_problem():
    w = simulate_kpi(104, 2, seed=3, saturation="hill")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**{**w.model_kwargs(), "adstock": "weibull"}, n_starts=2).fit(w.data)
    assert {c.family for c in m.curves_.values()} == {"hill"}
    assert "shape" in m.params_.columns
    alloc = pm.solve(m.problem(float(w.truth.historical_spend.sum())))
    assert alloc.spend.sum() == pytest.approx(w.truth.historical_spend.sum(), rel=1e-6)


# -- uncertainty and risk from the model -------------------------------------------------
@pytest.fixture(scope="module")
def sampled():
    w = simulate_kpi(104, 3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**w.model_kwargs()).fit(w.data)
    m.sample(40, method="bootstrap", n_jobs=1)
    return w, m


def test_draw_intervals_bracket_the_point_estimate(sampled):
    w, m = sampled
    s = m.draw_summary()
    roi = m.roi()
    assert (s["roi_lo"] <= s["roi_hi"]).all()
    assert {"roi_lo", "roi_hi", "marginal_roi_lo"} <= set(roi.columns)
    x = w.truth.historical_spend
    point, lo, hi = m.outcome_interval(x)
    assert lo < hi
    assert lo <= point * 1.05 and point <= hi * 1.05


def test_covariance_from_draws_is_psd_and_plugs_into_problem(sampled):
    w, m = sampled
    cov = m.return_covariance()
    R = m.return_draws()
    # parameter part is exactly the covariance of the draws' returns
    np.testing.assert_allclose(m.return_covariance(residual=False), R.cov(), rtol=1e-12)
    assert np.linalg.eigvalsh(cov.to_numpy()).min() >= -1e-12
    # a channel at zero spend uses its marginal return at 0: finite, no division by zero
    zero = m.assets_["current_spend"].copy()
    zero.iloc[0] = 0.0
    cz = m.return_covariance(zero)
    assert np.isfinite(cz.to_numpy()).all()
    p = m.problem(float(w.truth.historical_spend.sum()), risk_aversion=2.0, covariance=True)
    alloc = pm.solve(p)
    assert alloc.risk > 0
    assert alloc.spend.sum() == pytest.approx(p.budget, rel=1e-6)


def test_laplace_draws_are_cheap_and_centered(sampled):
    w, m = sampled
    m2 = m
    m2.sample(200, method="laplace")
    d = m2.return_draws()
    point = pd.Series({a: float(c.value(x)) / x for a, c in m2.curves_.items()
                       for x in [m2.assets_.loc[a, "current_spend"]]})
    assert ((d.median() - point).abs() / point < 0.2).all()
    with pytest.raises(InputError):
        m2.sample(5, method="mcmc")


# -- several markets ---------------------------------------------------------------------
def test_markets_pooled_without_pulling_small_market_to_early_saturation():
    w = simulate_kpi(104, 2, markets=["big", "small"], market_scale=[1.0, 0.2], seed=7,
                     noise=0.03)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**w.model_kwargs(), n_starts=2, pooling_grid=(1.0, 30.0)).fit(w.data)
    assert m.pooling_strength_ in (1.0, 30.0)
    assert set(m.curves_) == {"big_tv", "big_search", "small_tv", "small_search"}
    ratio = m.params_["half_saturation"] / w.truth.params["half_saturation"]
    # half-saturation of the small market is not shrunk toward the big market's scale
    assert ratio.loc["small_tv"] == pytest.approx(1.0, abs=0.5)
    assert ratio.loc["small_search"] == pytest.approx(1.0, abs=0.5)
    assert m.decomposition().index.names == ["market", "date"]
    rc = m.residual_covariance()
    assert rc.shape == (2, 2)


def test_channel_without_spend_is_flagged_and_left_out_of_the_plan():
    w = simulate_kpi(80, 3, seed=1)
    data = w.data.copy()
    data["social"] = 0.0
    with pytest.warns(IdentificationWarning, match="social \\(no spend\\)"):
        m = MediaMixModel(**w.model_kwargs(), n_starts=1).fit(data)
    assert set(m.curves_) == {"tv", "search"}
    assert np.isnan(m.params_.loc["social", "roi"])
    m.sample(20)  # zero column in the linear part: no NaN, no crash
    cov = m.return_covariance()
    assert cov.shape == (2, 2) and np.isfinite(cov.to_numpy()).all()
    alloc = pm.solve(m.problem(covariance=True, risk_aversion=1.0))
    assert set(alloc.spend.index) == {"tv", "search"}


def test_parallel_bootstrap_gives_the_same_draws_as_serial():
    w = simulate_kpi(80, 2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(**w.model_kwargs(), split=(1.0, 0.0, 0.0), n_starts=1).fit(w.data)
    serial = np.array([t for t, _ in m.sample(5, method="bootstrap", n_jobs=1).draws_])
    para = np.array([t for t, _ in m.sample(5, method="bootstrap", n_jobs=2).draws_])
    np.testing.assert_allclose(serial, para, rtol=1e-12)
