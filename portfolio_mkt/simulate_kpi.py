"""Simulated single-KPI worlds with known truth, for judging media-mix models.

A world is what a marketing team actually has: one KPI per period (and market), spend per
channel, a control (price) — generated from known carryover, saturation, baseline, seasonality
and noise. The truth it returns gives the steady-state planning curve of every asset and the
true optimum of any budget (solved with :func:`portfolio_mkt.solve` on the true curves), so an
estimator's allocation can be scored by regret.

>>> from portfolio_mkt.simulate_kpi import simulate_kpi
>>> world = simulate_kpi(n_periods=104, n_channels=3, seed=1)
>>> sorted(world.data.columns)
['date', 'kpi', 'price', 'search', 'social', 'tv']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .exceptions import InputError
from .response import GeometricAdstock, check_family, planning_curve, saturate

__all__ = ["KPITruth", "KPIWorld", "simulate_kpi", "CHANNEL_NAMES"]

#: Channel names used in order by :func:`simulate_kpi`.
CHANNEL_NAMES = ("tv", "search", "social", "video", "display", "radio", "ooh", "affiliate")


@dataclass
class KPITruth:
    """The truth behind a simulated world.

    Attributes
    ----------
    curves : dict
        Asset id -> true steady-state planning curve (money per period -> KPI per period).
    params : DataFrame
        Per asset: market, channel, alpha, kappa, half_saturation, beta, mean_spend.
    components : DataFrame
        Per row of the data: baseline, control effect, each channel's contribution, noise.
    saturation : str
        Saturation family of the truth.
    """

    curves: dict[str, Any]
    params: pd.DataFrame
    components: pd.DataFrame
    saturation: str
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def historical_spend(self) -> pd.Series:
        """Mean spend per period of every asset over the history."""
        return self.params["mean_spend"].astype(float)

    def outcome(self, spend: Mapping[str, float] | pd.Series) -> float:
        """True media outcome per period of a steady allocation (KPI units)."""
        s = pd.Series(spend, dtype=float)
        unknown = s.index.difference(pd.Index(list(self.curves)))
        if len(unknown):
            raise InputError(f"unknown assets {list(unknown)}; use {list(self.curves)}.")
        return float(sum(float(self.curves[a].value(max(x, 0.0))) for a, x in s.items()))

    def optimum(self, budget: float | None = None) -> tuple[pd.Series, float]:
        """True optimal spend per period and its outcome, solved with :func:`pm.solve`.

        Parameters
        ----------
        budget : float, optional
            Budget per period (default: the historical total mean spend).
        """
        from .optimization import solve
        from .problem import Problem

        b = float(self.historical_spend.sum()) if budget is None else float(budget)
        key = round(b, 9)
        if key not in self._cache:
            ids = list(self.curves)
            problem = Problem(pd.Series(0.0, index=ids), budget=b, response=self.curves,
                              response_tolerance=1e-5)
            alloc = solve(problem)
            spend = alloc.spend.reindex(ids)
            self._cache[key] = (spend, self.outcome(spend))
        return self._cache[key]


@dataclass
class KPIWorld:
    """A simulated wide frame and its truth.

    Attributes
    ----------
    data : DataFrame
        Wide frame: ``date``, spend per channel, ``kpi``, ``price`` (and ``market``).
    truth : KPITruth
    channels : list of str
    geo : str or None
        ``"market"`` with several markets.
    """

    data: pd.DataFrame
    truth: KPITruth
    channels: list[str]
    geo: str | None

    def model_kwargs(self) -> dict[str, Any]:
        """Column mapping for :class:`portfolio_mkt.mmm.MediaMixModel`."""
        return dict(kpi="kpi", channels=list(self.channels), controls=["price"], date="date",
                    geo=self.geo, saturation=self.truth.saturation)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], e)


def simulate_kpi(
    n_periods: int = 104,
    n_channels: int = 3,
    *,
    markets: int | Sequence[str] | None = None,
    market_scale: Sequence[float] | None = None,
    saturation: str = "logistic",
    noise: float = 0.05,
    l_max: int = 8,
    spend_variation: float = 0.45,
    media_share: float = 0.3,
    seed: int = 0,
    start: str = "2022-01-03",
) -> KPIWorld:
    """Simulate a single-KPI world with known curves.

    Parameters
    ----------
    n_periods : int, default 104
        Weeks of history.
    n_channels : int, default 3
        Channels (names from :data:`CHANNEL_NAMES`).
    markets : int or sequence of str, optional
        Several markets (``"m1", "m2", ...`` for an int). ``None``: one national market.
    market_scale : sequence of float, optional
        Size of each market (spend and baseline), default ``1, 0.3, 0.6, ...``: small
        markets spend less and saturate at the same multiple of their own spend.
    saturation : str, default "logistic"
        True saturation family (logistic, exponential, michaelis_menten, hill).
    noise : float, default 0.05
        Noise sd as a share of the mean KPI.
    l_max : int, default 8
        Carryover lags of the true geometric adstock (normalised kernel).
    spend_variation : float, default 0.45
        Log-sd of spend around each channel's mean (AR(1) with flights).
    media_share : float, default 0.3
        Approximate share of the KPI driven by media.
    seed : int, default 0
    start : str, default "2022-01-03"
        First date (weekly periods).

    Returns
    -------
    KPIWorld
    """
    fam = check_family(saturation)
    if n_channels < 1 or n_channels > len(CHANNEL_NAMES):
        raise InputError(f"n_channels must be 1..{len(CHANNEL_NAMES)}, got {n_channels}.")
    if n_periods < 26:
        raise InputError(f"n_periods must be at least 26 weeks, got {n_periods}.")
    rng = np.random.default_rng(seed)
    channels = list(CHANNEL_NAMES[:n_channels])
    if markets is None:
        names = ["all"]
    elif isinstance(markets, int):
        names = [f"m{i + 1}" for i in range(markets)]
    else:
        names = [str(m) for m in markets]
    scales = list(market_scale) if market_scale is not None else \
        [1.0, 0.3, 0.6, 0.15, 0.8, 0.45][: len(names)] + [0.5] * max(0, len(names) - 6)
    dates = pd.date_range(start, periods=n_periods, freq="7D")
    t = np.arange(n_periods) / n_periods
    doy = 2 * np.pi * dates.day_of_year.to_numpy() / 365.25
    # channel-level truth
    base_spend = rng.uniform(10_000, 60_000, n_channels)
    alpha_c = rng.uniform(0.1, 0.6, n_channels)
    kappa_c = rng.uniform(0.7, 2.2, n_channels)
    roi_c = rng.uniform(0.8, 4.0, n_channels)
    slope_c = rng.uniform(1.2, 2.2, n_channels)
    season = rng.uniform(0.05, 0.12) * np.sin(doy + rng.uniform(0, 2 * np.pi)) + \
        rng.uniform(0.0, 0.05) * np.cos(2 * doy + rng.uniform(0, 2 * np.pi))
    rows, comps, prm, curves = [], [], {}, {}
    for g, name in enumerate(names):
        sc = scales[g]
        X = np.zeros((n_periods, n_channels))
        contrib = np.zeros((n_periods, n_channels))
        for c, ch in enumerate(channels):
            jitter = rng.normal(0, 0.05, 3) if len(names) > 1 else np.zeros(3)
            alpha = float(np.clip(alpha_c[c] + jitter[0], 0.0, 0.85))
            kappa = float(kappa_c[c] * np.exp(jitter[1]))
            roi = float(roi_c[c] * np.exp(jitter[2]))
            x = base_spend[c] * sc * np.exp(spend_variation * _ar1(rng, n_periods, 0.6))
            flights = rng.random(n_periods) < 0.08  # occasional dark weeks
            x[flights] = 0.0
            X[:, c] = x
            m = float(x.mean())
            ad = GeometricAdstock(alpha, l_max=l_max)
            a = ad.transform(x)
            slope = float(slope_c[c]) if fam == "hill" else 1.0
            s_mean = float(saturate(fam, np.array([1.0]), kappa, slope)[0])
            beta = roi * m / s_mean  # average ROI ``roi`` at the mean spend, steady state
            contrib[:, c] = beta * saturate(fam, a / m, kappa, slope)
            aid = ch if len(names) == 1 else f"{name}_{ch}"
            curves[aid] = planning_curve(fam, beta, kappa, m, slope, ad.total_effect())
            prm[aid] = dict(market=name, channel=ch, alpha=alpha, kappa=kappa,
                            half_saturation=kappa * m, slope=slope, beta=beta, mean_spend=m)
        media_mean = float(contrib.sum(axis=1).mean())
        b0 = media_mean * (1 - media_share) / media_share
        price = 10.0 * np.exp(0.05 * _ar1(rng, n_periods, 0.8))
        ctrl = -0.8 * b0 * (price / 10.0 - 1.0)
        baseline = b0 * (1.0 + 0.1 * t + season * (1 + 0.1 * rng.standard_normal()))
        mean_kpi = float(baseline.mean() + media_mean)
        eps = noise * mean_kpi * rng.standard_normal(n_periods)
        kpi = baseline + ctrl + contrib.sum(axis=1) + eps
        frame = pd.DataFrame({"date": dates})
        if len(names) > 1:
            frame["market"] = name
        for c, ch in enumerate(channels):
            frame[ch] = X[:, c]
        frame["price"] = price
        frame["kpi"] = kpi
        rows.append(frame)
        comp = pd.DataFrame({"date": dates, "market": name, "baseline": baseline,
                             "price": ctrl, "noise": eps})
        for c, ch in enumerate(channels):
            comp[ch] = contrib[:, c]
        comps.append(comp)
    data = pd.concat(rows, ignore_index=True)
    truth = KPITruth(curves=curves, params=pd.DataFrame(prm).T.infer_objects(),
                     components=pd.concat(comps, ignore_index=True), saturation=fam)
    for col in ("alpha", "kappa", "half_saturation", "slope", "beta", "mean_spend"):
        truth.params[col] = truth.params[col].astype(float)
    return KPIWorld(data=data, truth=truth, channels=channels,
                    geo="market" if len(names) > 1 else None)
