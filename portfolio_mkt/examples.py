"""The built-in example: a US/RU campaign across channels and creator tiers.

Numbers are illustrative but internally consistent: returns are revenue per unit of spend,
risk comes from a market factor, a channel factor and asset-specific noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .constraints import Bounds, GroupFloor, Lock
from .problem import Problem

__all__ = ["example_assets", "example_problem", "EXAMPLE_BUDGET"]

#: Budget of the built-in example (money).
EXAMPLE_BUDGET = 2_000_000.0

_ROWS = [
    # asset, market, channel, tier, tags, expected return, volatility, current spend
    ("us_search", "US", "search", "", "performance", 2.9, 0.55, 330_000),
    ("us_social", "US", "social", "", "performance", 2.6, 0.80, 300_000),
    ("us_video", "US", "video", "", "brand", 2.2, 0.95, 180_000),
    ("us_email", "US", "email", "", "performance", 3.1, 0.45, 90_000),
    ("us_events", "US", "events", "", "brand", 1.7, 1.10, 110_000),
    ("us_creator_mega", "US", "influencer", "mega", "creator", 2.4, 1.30, 160_000),
    ("us_creator_macro", "US", "influencer", "macro", "creator", 2.8, 1.05, 140_000),
    ("us_creator_micro", "US", "influencer", "micro", "creator", 3.0, 1.20, 80_000),
    ("ru_search", "RU", "search", "", "performance", 2.3, 0.70, 150_000),
    ("ru_social", "RU", "social", "", "performance", 2.2, 0.95, 140_000),
    ("ru_video", "RU", "video", "", "brand", 1.9, 1.10, 70_000),
    ("ru_creator_anna", "RU", "influencer", "macro", "creator;committed", 2.1, 1.25, 110_000),
    ("ru_creator_ivan", "RU", "influencer", "micro", "creator;committed", 2.3, 1.35, 60_000),
    ("ru_creator_new", "RU", "influencer", "nano", "creator;new", 2.5, 1.60, 0),
]


def example_assets() -> pd.DataFrame:
    """The example's asset table: attributes, expected return, volatility and current spend.

    Returns
    -------
    DataFrame
        Indexed by asset id with columns market, channel, tier, tags, expected_return,
        volatility, current.
    """
    cols = ["asset", "market", "channel", "tier", "tags", "expected_return", "volatility",
            "current"]
    return pd.DataFrame(_ROWS, columns=cols).set_index("asset")


def _correlation(assets: pd.DataFrame) -> np.ndarray:
    """Market factor 0.35, channel factor 0.25 (shared across markets), 0.15 for creators."""
    m = assets["market"].to_numpy()
    c = assets["channel"].to_numpy()
    same_m = (m[:, None] == m[None, :]).astype(float)
    same_c = (c[:, None] == c[None, :]).astype(float)
    corr = 0.10 + 0.30 * same_m + 0.25 * same_c
    np.fill_diagonal(corr, 1.0)
    return corr


def example_problem(risk_aversion: float = 6.0, strategy: bool = True) -> Problem:
    """The built-in US/RU plan: 2M budget, channels and creator tiers, committed RU creators.

    Parameters
    ----------
    risk_aversion : float, default 6.0
        ``delta`` of the utility objective (on budget shares).
    strategy : bool, default True
        Include the strategy constraints: committed RU creators locked at their contracts,
        an RU penetration floor of 35% of budget, at least 150,000 on brand-tagged assets and
        no asset above 25% of the budget. ``False`` gives the model-only plan.

    Returns
    -------
    Problem

    Examples
    --------
    >>> p = example_problem()
    >>> p.n_assets, p.budget
    (14, 2000000.0)
    """
    a = example_assets()
    vol = a["volatility"].to_numpy()
    cov = pd.DataFrame(_correlation(a) * np.outer(vol, vol), index=a.index, columns=a.index)
    constraints = [Bounds(upper=0.25, unit="share", name="max_25pct_per_asset")]
    if strategy:
        constraints += [
            Lock({"ru_creator_anna": 120_000, "ru_creator_ivan": 60_000}, name="committed_ru"),
            GroupFloor(where={"market": "RU"}, amount=0.35, unit="share", name="ru_floor"),
            GroupFloor(where={"tags": "brand"}, amount=150_000, name="brand_floor"),
        ]
    return Problem(
        expected_return=a["expected_return"],
        covariance=cov,
        budget=EXAMPLE_BUDGET,
        assets=a[["market", "channel", "tier", "tags"]],
        constraints=constraints,
        current=a["current"],
        risk_aversion=risk_aversion,
        name="US/RU creator campaign" if strategy else "US/RU model only",
    )
