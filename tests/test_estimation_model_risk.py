"""Risk and intervals from the fitted curves, against the truth of their own simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.estimation import (
    curve_draws,
    curve_intervals,
    fit_covariance,
    model_covariance,
    returns_matrix,
)
from portfolio_mkt.exceptions import EstimationError
from portfolio_mkt.response import ExponentialSaturation, GeometricAdstock, fit_response_curves


def _two_assets(seed: int = 0, n: int = 156):
    """Two assets with additive, correlated noise (sd 60 and 40, correlation 0.6) and a few
    weeks of near-zero spend - where outcome / spend explodes."""
    rng = np.random.default_rng(seed)
    truth = {"a": ExponentialSaturation(3000.0, 1500.0), "b": ExponentialSaturation(2000.0, 800.0)}
    level = {"a": 1000.0, "b": 600.0}
    sd = np.array([60.0, 40.0])
    corr = np.array([[1.0, 0.6], [0.6, 1.0]])
    shocks = rng.multivariate_normal([0.0, 0.0], corr * np.outer(sd, sd), n)
    rows = []
    for j, a in enumerate(("a", "b")):
        x = level[a] * np.exp(rng.normal(0.0, 0.35, n))
        low = rng.random(n) < 0.08
        x[low] = level[a] * 1e-3  # paused weeks
        y = truth[a].value(GeometricAdstock(0.3, 6).transform(x)) + shocks[:, j]
        rows += [{"period": t, "asset": a, "market": "US", "channel": a, "spend": x[t],
                  "outcome": y[t]} for t in range(n)]
    return pd.DataFrame(rows), truth, level, sd, corr


def test_model_covariance_recovers_the_shocks_and_does_not_explode():
    h, _, level, sd, corr = _two_assets()
    fit = fit_response_curves(h, curve="exponential", group=None, pool_strength=10.0, l_max=6)
    cov = model_covariance(fit, parameter_risk=False)
    mean_spend = h.groupby("asset")["spend"].mean()
    expected = np.outer(sd, sd) * corr / np.outer(mean_spend[["a", "b"]],
                                                    mean_spend[["a", "b"]])
    np.testing.assert_allclose(cov.loc[["a", "b"], ["a", "b"]].to_numpy(), expected, rtol=0.3)
    # outcome / spend: weeks at 0.1% of the usual spend blow the variance up
    ratio = fit_covariance(returns_matrix(h), "sample")
    assert ratio.loc["a", "a"] > 100 * cov.loc["a", "a"]
    # the parameter part is positive and small next to the residual part with 156 weeks
    full = model_covariance(fit)
    extra = np.diag(full) - np.diag(cov)
    assert (extra > 0).all() and (extra < np.diag(cov)).all()
    with pytest.raises(EstimationError, match="n_draws"):
        curve_draws(fit, n_draws=1)


def test_intervals_cover_the_true_marginal_return_over_replications():
    """90% intervals of the marginal return at the usual spend, 30 replications x 2 assets."""
    hits = []
    for seed in range(30):
        h, truth, level, _, _ = _two_assets(seed, n=104)
        fit = fit_response_curves(h, curve="exponential", group=None, pool_strength=0.0,
                                  l_max=6, n_starts=1)
        x = pd.Series(level)
        iv = curve_intervals(fit, x, 0.9, n_draws=200, random_state=seed)
        for a in ("a", "b"):
            m = float(truth[a].derivative(x[a]))
            hits.append(iv.loc[a, "marginal_lower"] <= m <= iv.loc[a, "marginal_upper"])
        assert (iv["marginal_lower"] <= iv["marginal_roi"]).all()
        assert (iv["marginal_roi"] <= iv["marginal_upper"]).all()
    cover = float(np.mean(hits))
    assert 0.8 <= cover <= 0.98, cover
