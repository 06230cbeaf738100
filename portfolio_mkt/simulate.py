"""A seeded simulator of marketing spend histories with known ground truth.

It provides the library's built-in example data and the truth the estimation tests recover.

The generating process, per asset ``i`` and week ``t``:

- spend ``s_it = b_i * exp(z_it)`` around a base level ``b_i``, with ``z`` an AR(1) process
  (planners move budgets slowly) of stationary standard deviation ``spend_variation``;
- carryover: geometric adstock ``a_it = sum_l w_l s_i,t-l`` with ``w_l`` proportional to
  ``alpha_i^l`` for ``l < l_max``, normalised to sum to one (constant spend gives ``a = s``);
- saturation: expected outcome ``season_mt * beta_i * (1 - exp(-a_it / k_i))`` (exponential
  saturation; ``beta_i`` is the outcome ceiling per period, ``k_i`` the spend scale, both in
  money units of the history);
- seasonality ``season_mt = 1 + A sin(2 pi t / 52 + phase_m)`` per market;
- correlated shocks: ``outcome_it = max(0, expected_it + s_it * eps_it)`` where
  ``eps_it = roi_i * (market_m(i),t + channel_c(i),t + idio_it)`` - a factor structure by
  market and channel on the per-unit return;
- unequal history: markets listed in ``history_share`` are only recorded for the last share
  of the weeks (RU short by default); a few *new creators* only for their last weeks; and
  creator rows go missing at random (``gap_probability``).

The truth is computed by Monte Carlo over a long run of the same stationary process
(always-on spend): ``truth.expected_return`` is the mean per-unit return
``outcome / spend`` and ``truth.covariance`` its covariance, at the simulated spend level.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .exceptions import InputError

__all__ = ["simulate_history", "Simulation", "SimulationTruth", "DEFAULT_CHANNELS"]

#: Return per unit spend at the base spend level, by channel (before the market multiplier).
DEFAULT_CHANNELS: dict[str, float] = {
    "search": 3.0,
    "social": 2.0,
    "video": 1.6,
    "influencer": 2.2,
    "events": 1.3,
    "email": 4.0,
}

#: Weekly base spend by channel (US); other markets are scaled by ``spend_scale``.
_BASE_SPEND = {
    "search": 40_000.0,
    "social": 30_000.0,
    "video": 25_000.0,
    "events": 15_000.0,
    "email": 5_000.0,
    "content": 10_000.0,
}
_DEFAULT_ROI_EXTRA = {"content": 1.5}
_ADSTOCK = {
    "search": 0.1,
    "social": 0.3,
    "video": 0.5,
    "influencer": 0.3,
    "events": 0.4,
    "email": 0.1,
    "content": 0.6,
}
#: Creator tiers: (weekly base spend, ROI multiplier of the influencer channel, idio noise).
_TIERS = {
    "mega": (20_000.0, 0.65, 0.2),
    "macro": (8_000.0, 0.85, 0.3),
    "micro": (3_000.0, 1.1, 0.4),
    "nano": (1_000.0, 1.35, 0.5),
}


@dataclass(frozen=True)
class SimulationTruth:
    """The ground truth behind a simulated history.

    Attributes
    ----------
    expected_return : Series
        True mean outcome per unit of spend by asset (at the simulated spend level).
    covariance : DataFrame
        True covariance of the per-period, per-unit returns (asset x asset).
    curves : DataFrame
        Per asset: ``family`` ("exponential"), ``beta`` (outcome ceiling per period),
        ``k`` (spend scale), ``alpha`` (geometric adstock decay), ``l_max`` (adstock length),
        ``base_spend`` (weekly spend level), ``roi_at_base`` (``beta (1 - exp(-b/k)) / b``,
        before seasonality) and ``marginal_at_base`` (``beta/k exp(-b/k)``).
    loadings : DataFrame
        The factor structure of the shocks: asset x factor loadings (market and channel
        dummies scaled by the asset's return level).
    factor_volatility : Series
        Standard deviation of each shock factor.
    n_monte_carlo : int
        Number of periods of the Monte Carlo run that computed the moments.
    """

    expected_return: pd.Series
    covariance: pd.DataFrame
    curves: pd.DataFrame
    loadings: pd.DataFrame
    factor_volatility: pd.Series
    n_monte_carlo: int

    def response_curves(self) -> dict[str, object]:
        """The true curves as ``portfolio_mkt.response`` objects, keyed by asset id.

        Returns
        -------
        dict
            Asset id -> ``ExponentialSaturation`` built from ``beta`` and ``k`` (spend on the
            adstocked scale). Requires :mod:`portfolio_mkt.response`.
        """
        from .response import ExponentialSaturation  # noqa: PLC0415

        return {
            a: ExponentialSaturation(beta=float(r.beta), k=float(r.k))
            for a, r in self.curves.iterrows()
        }

    def value(self, spend: pd.Series | Mapping[str, float]) -> float:
        """Expected outcome per period of a steady spend plan under the true curves.

        Parameters
        ----------
        spend : Series or mapping
            Spend per period by asset id (assets not named spend 0). With normalised carryover,
            steady spend ``x`` adstocks to ``x``, so the outcome is ``sum_i r_i(x_i)`` (before
            seasonality, whose yearly mean is 1).

        Returns
        -------
        float
        """
        s = pd.Series(dict(spend) if isinstance(spend, Mapping) else spend, dtype=float)
        unknown = s.index.difference(self.curves.index)
        if len(unknown):
            raise InputError(f"value: unknown asset(s) {list(unknown)[:5]} for this truth.")
        s = s.reindex(self.curves.index).fillna(0.0).clip(lower=0.0)
        c = self.curves
        return float((c["beta"] * (1.0 - np.exp(-s / c["k"]))).sum())

    def optimum(self, budget: float) -> pd.Series:
        """The true optimal steady spend of a per-period budget (no risk term).

        The exponential curves are strictly concave, so the optimum equalises the marginal
        returns ``beta_i / k_i exp(-x_i / k_i) = nu`` over funded assets; ``nu`` is found by
        bisection on the budget (exact to 1e-10 relative, no solver involved).

        Parameters
        ----------
        budget : float
            Money per period (> 0).

        Returns
        -------
        Series
            Spend by asset summing to ``budget``.
        """
        b = float(budget)
        if not b > 0:
            raise InputError(f"optimum: budget must be positive; got {budget}.")
        beta = self.curves["beta"].to_numpy(float)
        k = self.curves["k"].to_numpy(float)
        m0 = beta / k  # marginal return at zero spend

        def spend_at(nu: float) -> np.ndarray:
            return np.where(m0 > nu, k * np.log(m0 / nu), 0.0)

        hi = float(m0.max())  # spends nothing
        lo = hi
        while spend_at(lo).sum() < b:
            lo /= 2.0
        for _ in range(200):
            mid = np.sqrt(lo * hi)
            if spend_at(mid).sum() > b:
                lo = mid
            else:
                hi = mid
            if hi / lo - 1 < 1e-14:
                break
        x = spend_at(np.sqrt(lo * hi))
        x *= b / x.sum()
        return pd.Series(x, index=self.curves.index, name="optimum")

    def regret(self, spend: pd.Series | Mapping[str, float],
               baseline: pd.Series | Mapping[str, float] | None = None) -> dict[str, float]:
        """How much of the true optimum a plan earns, valued under the true curves.

        Parameters
        ----------
        spend : Series or mapping
            The plan (spend per period by asset); its total is the budget compared.
        baseline : Series or mapping, optional
            The plan to measure the uplift from (default: the historical split, the true
            ``base_spend`` scaled to the same budget).

        Returns
        -------
        dict
            ``value``, ``optimum_value``, ``baseline_value``, ``regret`` (``1 - value /
            optimum_value``) and ``uplift_captured`` (``(value - baseline) / (optimum -
            baseline)``).
        """
        s = pd.Series(dict(spend) if isinstance(spend, Mapping) else spend, dtype=float)
        budget = float(s.clip(lower=0.0).sum())
        base = self.curves["base_spend"] if baseline is None else pd.Series(
            dict(baseline) if isinstance(baseline, Mapping) else baseline, dtype=float)
        base = base / float(base.sum()) * budget
        v, vo, vb = self.value(s), self.value(self.optimum(budget)), self.value(base)
        return {
            "value": v,
            "optimum_value": vo,
            "baseline_value": vb,
            "regret": 1.0 - v / vo,
            "uplift_captured": (v - vb) / (vo - vb) if vo > vb else float("nan"),
        }

    def adstocks(self) -> dict[str, object]:
        """The true carryover as ``portfolio_mkt.response.GeometricAdstock``, by asset id.

        Returns
        -------
        dict
            Asset id -> ``GeometricAdstock(alpha, l_max, normalize=True)``.
        """
        from .response import GeometricAdstock  # noqa: PLC0415

        return {
            a: GeometricAdstock(float(r.alpha), int(r.l_max), True)
            for a, r in self.curves.iterrows()
        }


@dataclass(frozen=True)
class Simulation:
    """A simulated history with its asset table and ground truth.

    Unpacks as ``history, assets, truth = simulate_history()``.

    Attributes
    ----------
    history : DataFrame
        Long format: ``period``, ``asset``, ``market``, ``channel``, ``tier``, ``creator``,
        ``tags``, ``spend``, ``outcome``.
    assets : DataFrame
        Attributes indexed by asset id.
    truth : SimulationTruth
        Known expected returns, covariance and curves.
    params : dict
        The arguments of the simulation.
    """

    history: pd.DataFrame
    assets: pd.DataFrame
    truth: SimulationTruth
    params: dict = field(default_factory=dict)

    def __iter__(self) -> Iterator[object]:
        return iter((self.history, self.assets, self.truth))


def _default_creators(markets: Sequence[str]) -> dict[str, dict[str, int]]:
    out = {}
    for i, m in enumerate(markets):
        if i == 0:
            out[m] = {"mega": 1, "macro": 2, "micro": 3, "nano": 3}
        else:
            out[m] = {"macro": 1, "micro": 2, "nano": 3}
    return out


def _asset_frame(
    markets: Sequence[str],
    channels: Sequence[str],
    creators: Mapping[str, Mapping[str, int]],
    n_new_creators: int,
) -> pd.DataFrame:
    rows = []
    for m in markets:
        for c in channels:
            if c == "influencer":
                for tier in ("mega", "macro", "micro", "nano"):
                    for j in range(int(creators.get(m, {}).get(tier, 0))):
                        name = f"{m.lower()}_{tier}_{j + 1}"
                        rows.append((name, m, c, tier, name, "creator"))
            else:
                tags = "brand" if c in ("events", "content", "video") else ""
                rows.append((f"{m.lower()}_{c}", m, c, None, None, tags))
    frame = pd.DataFrame(rows, columns=["asset", "market", "channel", "tier", "creator", "tags"])
    frame = frame.set_index("asset")
    # new creators: the smallest tiers, spread over markets, last one per market first
    is_creator = frame["channel"].eq("influencer").to_numpy()
    cand = list(frame.index[is_creator])[::-1]
    picked: list[str] = []
    by_market: dict[str, list[str]] = {}
    for a in cand:
        by_market.setdefault(frame.loc[a, "market"], []).append(a)
    while len(picked) < n_new_creators and any(by_market.values()):
        for m in markets:
            if by_market.get(m) and len(picked) < n_new_creators:
                picked.append(by_market[m].pop(0))
    frame["tags"] = [
        (t + ";new" if a in picked else t) for a, t in zip(frame.index, frame["tags"], strict=True)
    ]
    return frame


def _adstock_weights(alpha: np.ndarray, l_max: int) -> np.ndarray:
    lags = np.arange(l_max)
    w = alpha[:, None] ** lags[None, :]
    return w / w.sum(axis=1, keepdims=True)


#: Target size in bytes of one chunk of a (periods x assets) float64 array in :func:`_chunks`.
_CHUNK_BYTES = 2_000_000


def _chunk_rows(n_assets: int) -> int:
    return max(16, _CHUNK_BYTES // (8 * max(n_assets, 1)))


def _chunks(
    n: int,
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    *,
    spend_variation: float,
    spend_persistence: float,
    l_max: int,
    t0: int = 0,
    chunk_rows: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Simulate ``n`` periods (after a burn-in) in chunks of rows: ``(spend, outcome)`` blocks.

    The draws are the ones of one big draw per stream -- all spend innovations first, then
    the first row's innovation, the market and channel factors, then the idiosyncratic shocks
    -- so the result does not depend on the chunk size, and ``rng`` ends where it would after
    one big draw. A second generator (a copy of ``rng``) walks the innovations while ``rng``
    itself is advanced past them to the idiosyncratic shocks; the AR(1) filter and the adstock
    carry their state from chunk to chunk. Peak memory is a few chunks, not ``n`` rows.
    """
    n_assets = len(p["base"])
    burn = l_max + 20
    total = n + burn
    rho = spend_persistence
    rows = _chunk_rows(n_assets) if chunk_rows is None else max(1, int(chunk_rows))
    rng_innov = copy.deepcopy(rng)
    for a in range(0, total, rows):  # advance rng past the innovations (values not kept)
        rng.standard_normal((min(rows, total - a), n_assets))
    innov0 = rng.standard_normal(n_assets) * spend_variation
    fm = rng.standard_normal((total, p["market_vol"].shape[0])) * p["market_vol"]
    fc = rng.standard_normal((total, p["channel_vol"].shape[0])) * p["channel_vol"]
    w = p["adstock_w"]
    zi = np.zeros((1, n_assets))
    tail = np.zeros((l_max - 1, n_assets))  # spend of the previous l_max - 1 periods (0 before)
    for a in range(0, total, rows):
        m = min(rows, total - a)
        innov = rng_innov.standard_normal((m, n_assets)) * spend_variation * np.sqrt(1 - rho**2)
        if a == 0:
            innov[0] = innov0
        z, zi = lfilter([1.0], [1.0, -rho], innov, axis=0, zi=zi)
        spend = p["base"] * np.exp(z - spend_variation**2 / 2)
        del innov, z
        ext = np.concatenate([tail, spend]) if l_max > 1 else spend
        ad = np.zeros_like(spend)
        for lag in range(l_max):
            ad += w[:, lag] * ext[l_max - 1 - lag : l_max - 1 - lag + m]
        if l_max > 1:
            tail = ext[-(l_max - 1):].copy()
        del ext
        t_idx = np.arange(a, a + m) - burn + t0
        season = 1.0 + p["season_amp"][None, :] * np.sin(
            2 * np.pi * t_idx[:, None] / 52.0 + p["season_phase"][None, :]
        )
        expected = season * p["beta"] * (1.0 - np.exp(-ad / p["k"]))
        del season, ad
        idio = rng.standard_normal((m, n_assets)) * p["idio"]
        eps = p["roi"] * (fm[a : a + m, p["market_code"]] + fc[a : a + m, p["channel_code"]]
                          + idio)
        del idio
        outcome = np.maximum(expected + spend * eps, 0.0)
        del expected, eps
        keep = max(0, burn - a)
        if keep < m:
            yield spend[keep:], outcome[keep:]


def _run(
    n: int,
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    *,
    spend_variation: float,
    spend_persistence: float,
    l_max: int,
    t0: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``n`` periods (after a burn-in); returns spend and outcome (n x assets)."""
    parts = list(_chunks(n, rng, p, spend_variation=spend_variation,
                         spend_persistence=spend_persistence, l_max=l_max, t0=t0))
    return (np.concatenate([s for s, _ in parts]), np.concatenate([y for _, y in parts]))


def _return_moments(
    chunks: Iterator[tuple[np.ndarray, np.ndarray]], n_assets: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and covariance (``ddof=1``) of ``outcome / spend`` streamed over row chunks.

    The mean adds the rows in order (as ``mean(axis=0)`` of the stacked rows does); the
    covariance accumulates cross products around a shift (the first chunk's mean), which
    keeps the cancellation of ``E[xx'] - E[x]E[x]'`` away; it equals ``numpy.cov`` of the
    stacked rows to rounding (about 1e-13 relative). The cross products are rank-k updates
    of one triangle in place (BLAS ``syrk``): one ``n x n`` matrix in memory, no temporaries.
    """
    from scipy.linalg.blas import dsyr, dsyrk

    total = np.zeros(n_assets)
    cross = np.zeros((n_assets, n_assets), order="F")  # upper triangle used
    shift_sum = np.zeros(n_assets)
    shift: np.ndarray | None = None
    count = 0
    for s, y in chunks:
        r = y / s
        if shift is None:
            shift = r.mean(axis=0)
            total = r.sum(axis=0)
        else:
            total = np.add.reduce(np.concatenate([total[None, :], r]), axis=0)
        r -= shift
        shift_sum += r.sum(axis=0)
        cross = dsyrk(1.0, r, beta=1.0, c=cross, trans=1, lower=0, overwrite_c=1)
        count += len(r)
    if shift is None or count < 2:
        raise InputError("simulate_history: n_monte_carlo must be at least 2.")
    mean = total / count
    d = shift_sum / count
    cross = dsyr(-float(count), d, a=cross, lower=0, overwrite_a=1)
    cross /= count - 1
    step = 256
    for a in range(0, n_assets, step):  # mirror the upper triangle, a block at a time
        b = min(a + step, n_assets)
        cross[a:b, :a] = cross[:a, a:b].T
        blk = cross[a:b, a:b]
        cross[a:b, a:b] = np.triu(blk) + np.triu(blk, 1).T
    return mean, cross, count


def simulate_history(
    n_periods: int = 104,
    *,
    markets: Sequence[str] = ("US", "RU"),
    channels: Mapping[str, float] | Sequence[str] | None = None,
    creators: Mapping[str, Mapping[str, int]] | None = None,
    market_multiplier: Mapping[str, float] | None = None,
    spend_scale: Mapping[str, float] | None = None,
    history_share: Mapping[str, float] | None = None,
    n_new_creators: int = 3,
    new_creator_periods: int = 16,
    gap_probability: float = 0.05,
    seasonality: float = 0.15,
    spend_variation: float = 0.3,
    spend_persistence: float = 0.6,
    noise: float = 1.0,
    l_max: int = 8,
    start: str = "2023-01-02",
    freq: str = "W-MON",
    n_monte_carlo: int = 20_000,
    random_state: int | None = 0,
) -> Simulation:
    """Simulate a weekly spend-and-outcome history with known truth.

    The default (``simulate_history(random_state=0)``) has 2 markets (US, RU), 6 channels,
    creators in four tiers (25 assets), 104 weeks, RU recorded only for the last 35% of the
    weeks, 3 new creators with 16 weeks each; it runs in well under a second. Asset-level
    parameters depend only on ``random_state`` (not on ``n_periods``), so histories of
    different lengths share one truth.

    Parameters
    ----------
    n_periods : int, default 104
        Number of weeks.
    markets : sequence of str, default ("US", "RU")
        Market codes; the first one gets the most creators and the full history.
    channels : mapping or sequence, optional
        Channel -> return per unit at base spend (before the market multiplier); a sequence
        of names uses the defaults (``DEFAULT_CHANNELS``; ``"content"`` is also known).
        ``"influencer"`` is split into creators.
    creators : mapping, optional
        Market -> tier -> number of creators (tiers: mega, macro, micro, nano).
    market_multiplier : mapping, optional
        Market -> multiplier of the return level (default: 1.0 for the first market,
        0.85 for the others).
    spend_scale : mapping, optional
        Market -> multiplier of base spend (default 1.0 for the first market, 0.35 else).
    history_share : mapping, optional
        Market -> share of the weeks recorded (the last ones); default ``{"RU": 0.35}``
        when RU is a market, else every market is fully recorded.
    n_new_creators : int, default 3
        Creators recorded only for their last ``new_creator_periods`` weeks (tagged "new").
    new_creator_periods : int, default 16
        Length of the new creators' histories.
    gap_probability : float, default 0.05
        Probability that a creator's row is missing in a week.
    seasonality : float, default 0.15
        Amplitude ``A`` of the yearly seasonality of outcomes.
    spend_variation : float, default 0.3
        Stationary standard deviation of log spend around its base level.
    spend_persistence : float, default 0.6
        AR(1) coefficient of log spend.
    noise : float, default 1.0
        Multiplier of every shock volatility.
    l_max : int, default 8
        Adstock length in weeks.
    start : str, default "2023-01-02"
        First period.
    freq : str, default "W-MON"
        Period frequency (pandas offset alias).
    n_monte_carlo : int, default 20000
        Length of the Monte Carlo run that computes the true moments.
    random_state : int or None, default 0
        Seed.

    Returns
    -------
    Simulation
        ``history``, ``assets`` and ``truth``.

    Raises
    ------
    InputError
        Bad sizes, unknown channels or tiers, shares outside (0, 1].

    Examples
    --------
    >>> history, assets, truth = simulate_history(random_state=0)
    >>> len(assets), history["period"].nunique()
    (25, 104)
    """
    if int(n_periods) < 4:
        raise InputError(f"simulate_history: n_periods must be at least 4; got {n_periods}.")
    n_periods = int(n_periods)
    markets = list(markets)
    if not markets:
        raise InputError("simulate_history: give at least one market, e.g. markets=('US',).")
    if channels is None:
        roi_channel = dict(DEFAULT_CHANNELS)
    elif isinstance(channels, Mapping):
        roi_channel = {str(k): float(v) for k, v in channels.items()}
    else:
        known = {**DEFAULT_CHANNELS, **_DEFAULT_ROI_EXTRA}
        unknown = [c for c in channels if c not in known]
        if unknown:
            raise InputError(
                f"simulate_history: unknown channel(s) {unknown}; known: {sorted(known)}, or "
                "pass a mapping channel -> return per unit."
            )
        roi_channel = {c: known[c] for c in channels}
    creators = dict(creators) if creators is not None else _default_creators(markets)
    for m, tiers in creators.items():
        bad = [t for t in tiers if t not in _TIERS]
        if bad:
            raise InputError(
                f"simulate_history: unknown creator tier(s) {bad} for {m}; use {sorted(_TIERS)}."
            )
    mult = {m: (1.0 if i == 0 else 0.85) for i, m in enumerate(markets)}
    mult.update(market_multiplier or {})
    scale = {m: (1.0 if i == 0 else 0.35) for i, m in enumerate(markets)}
    scale.update(spend_scale or {})
    share = {m: 1.0 for m in markets}
    if history_share is None:
        if "RU" in markets and markets[0] != "RU":
            share["RU"] = 0.35
    else:
        share.update(history_share)
    for m, s in share.items():
        if not 0 < float(s) <= 1:
            raise InputError(f"simulate_history: history_share[{m!r}] must be in (0, 1]; got {s}.")

    assets = _asset_frame(markets, list(roi_channel), creators, n_new_creators)
    n = len(assets)
    if n == 0:
        raise InputError("simulate_history: no assets; give channels and creators.")
    rng_par = np.random.default_rng(None if random_state is None else [random_state, 0])
    seed_path = rng_par.integers(2**32)
    seed_mc = rng_par.integers(2**32)

    mkt = assets["market"].to_numpy(object)
    chn = assets["channel"].to_numpy(object)
    tier = assets["tier"].to_numpy(object)
    base = np.empty(n)
    roi = np.empty(n)
    idio = np.empty(n)
    for i in range(n):
        c = chn[i]
        if c == "influencer":
            b, tm, sd = _TIERS[str(tier[i])]
            roi_i = roi_channel[c] * tm
        else:
            b = _BASE_SPEND.get(c, 10_000.0)
            roi_i = roi_channel[c]
            sd = 0.2
        base[i] = b * scale[mkt[i]]
        roi[i] = roi_i * mult[mkt[i]]
        idio[i] = sd
    roi = roi * np.exp(0.15 * rng_par.standard_normal(n))  # asset-level heterogeneity
    base = base * np.exp(0.2 * rng_par.standard_normal(n))
    u = rng_par.uniform(0.3, 1.5, n)  # saturation degree b / k at base spend
    k = base / u
    beta = roi * base / (1.0 - np.exp(-u))
    alpha = np.array([_ADSTOCK.get(c, 0.3) for c in chn]) * np.exp(0.1 * rng_par.standard_normal(n))
    alpha = np.clip(alpha, 0.0, 0.9)
    market_codes = {m: j for j, m in enumerate(markets)}
    channel_list = list(roi_channel)
    channel_codes = {c: j for j, c in enumerate(channel_list)}
    p = {
        "base": base,
        "beta": beta,
        "k": k,
        "roi": roi,
        "idio": idio * noise,
        "adstock_w": _adstock_weights(alpha, l_max),
        "season_amp": np.full(n, float(seasonality)),
        "season_phase": np.array([0.0 if market_codes[m] == 0 else 1.3 for m in mkt]),
        "market_vol": np.full(len(markets), 0.10 * noise),
        "channel_vol": np.full(len(channel_list), 0.08 * noise),
        "market_code": np.array([market_codes[m] for m in mkt]),
        "channel_code": np.array([channel_codes[c] for c in chn]),
    }
    kw = {
        "spend_variation": spend_variation,
        "spend_persistence": spend_persistence,
        "l_max": l_max,
    }

    rng_path = np.random.default_rng(seed_path)
    spend, outcome = _run(n_periods, rng_path, p, **kw)
    periods = pd.date_range(start=start, periods=n_periods, freq=freq)
    observed = np.ones((n_periods, n), dtype=bool)
    for j, a in enumerate(assets.index):
        first = n_periods - max(1, round(share[mkt[j]] * n_periods))
        if "new" in str(assets.loc[a, "tags"]).split(";"):
            first = max(first, n_periods - new_creator_periods)
        observed[:first, j] = False
        if chn[j] == "influencer":
            gaps = rng_path.random(n_periods) < gap_probability
            gaps[-1] = False
            observed[:, j] &= ~gaps
    tt, jj = np.nonzero(observed)
    history = pd.DataFrame(
        {
            "period": periods[tt],
            "asset": assets.index.to_numpy()[jj],
            "market": mkt[jj],
            "channel": chn[jj],
            "tier": tier[jj],
            "creator": assets["creator"].to_numpy(object)[jj],
            "tags": assets["tags"].to_numpy(object)[jj],
            "spend": np.round(spend[tt, jj], 2),
            "outcome": np.round(outcome[tt, jj], 2),
        }
    )

    rng_mc = np.random.default_rng(seed_mc)
    # streamed: the Monte Carlo run never exists as a whole (n_monte_carlo x assets)
    mean_mc, cov_mc, _ = _return_moments(_chunks(int(n_monte_carlo), rng_mc, p, **kw), n)
    ids = assets.index
    mu = pd.Series(mean_mc, index=ids, name="expected_return")
    cov = pd.DataFrame(cov_mc, index=ids, columns=ids, copy=False)
    curves = pd.DataFrame(
        {
            "family": "exponential",
            "beta": beta,
            "k": k,
            "alpha": alpha,
            "l_max": l_max,
            "base_spend": base,
            "roi_at_base": beta * (1 - np.exp(-u)) / base,
            "marginal_at_base": beta / k * np.exp(-u),
        },
        index=ids,
    )
    factors = [f"market:{m}" for m in markets] + [f"channel:{c}" for c in channel_list]
    load = np.zeros((n, len(factors)))
    load[np.arange(n), p["market_code"]] = roi
    load[np.arange(n), len(markets) + p["channel_code"]] = roi
    loadings = pd.DataFrame(load, index=ids, columns=factors)
    fvol = pd.Series(np.concatenate([p["market_vol"], p["channel_vol"]]), index=factors)
    truth = SimulationTruth(mu, cov, curves, loadings, fvol, int(n_monte_carlo))
    params = {
        "n_periods": n_periods,
        "markets": markets,
        "channels": roi_channel,
        "history_share": share,
        "random_state": random_state,
    }
    return Simulation(history=history, assets=assets, truth=truth, params=params)
