"""The small US/RU plan the how-to guides start from (shown on each page)."""

import numpy as np
import pandas as pd

import portfolio_mkt as pm

ids = ["us_search", "us_social", "us_creators", "ru_search", "ru_social", "ru_creators"]
assets = pd.DataFrame(
    {
        "market": ["US", "US", "US", "RU", "RU", "RU"],
        "channel": ["search", "social", "influencer", "search", "social", "influencer"],
        "tags": ["", "", "brand", "", "", "brand;new"],
    },
    index=ids,
)
mu = pd.Series([3.0, 2.7, 3.2, 2.4, 2.2, 2.8], index=ids)  # revenue per unit of spend
vol = np.array([0.9, 1.0, 1.6, 0.9, 1.1, 1.8])  # std of the return per unit of spend
same_market = assets["market"].to_numpy()[:, None] == assets["market"].to_numpy()[None, :]
corr = np.where(same_market, 0.5, 0.1)  # same market: correlated
np.fill_diagonal(corr, 1.0)
cov = pd.DataFrame(np.outer(vol, vol) * corr, index=ids, columns=ids)
current = pd.Series(  # last quarter's spend
    [300_000, 200_000, 150_000, 150_000, 100_000, 100_000], index=ids, dtype=float
)

base = dict(covariance=cov, budget=1_000_000, assets=assets, current=current, risk_aversion=2.0)
problem = pm.Problem(mu, **base)
baseline = pm.solve(problem)  # the model's plan without strategy constraints
