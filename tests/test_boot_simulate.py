"""The streamed simulator draws exactly what the one-shot simulator drew (issue 13).

The Monte Carlo run behind the truth used to be simulated as one (n_monte_carlo x assets)
block; it is now generated and reduced in row chunks. The oracle below is the one-shot code
of the previous release, verbatim: same seed, same spend, same outcome, same generator state
afterwards; the truth's moments equal ``mean`` and ``numpy.cov`` of the stacked run.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter

from portfolio_mkt import simulate as sim_mod
from portfolio_mkt.simulate import simulate_history


def _reference_run(n, rng, p, *, spend_variation, spend_persistence, l_max, t0=0):
    """The previous release's one-shot ``_run`` (the oracle)."""
    n_assets = len(p["base"])
    burn = l_max + 20
    total = n + burn
    rho = spend_persistence
    innov = rng.standard_normal((total, n_assets)) * spend_variation * np.sqrt(1 - rho**2)
    innov[0] = rng.standard_normal(n_assets) * spend_variation
    z = lfilter([1.0], [1.0, -rho], innov, axis=0)
    spend = p["base"] * np.exp(z - spend_variation**2 / 2)
    w = p["adstock_w"]
    ad = np.zeros_like(spend)
    for lag in range(l_max):
        ad[lag:] += w[:, lag] * spend[: total - lag]
    t_idx = np.arange(total) - burn + t0
    season = 1.0 + p["season_amp"][None, :] * np.sin(
        2 * np.pi * t_idx[:, None] / 52.0 + p["season_phase"][None, :]
    )
    expected = season * p["beta"] * (1.0 - np.exp(-ad / p["k"]))
    fm = rng.standard_normal((total, p["market_vol"].shape[0])) * p["market_vol"]
    fc = rng.standard_normal((total, p["channel_vol"].shape[0])) * p["channel_vol"]
    idio = rng.standard_normal((total, n_assets)) * p["idio"]
    eps = p["roi"] * (fm[:, p["market_code"]] + fc[:, p["channel_code"]] + idio)
    outcome = np.maximum(expected + spend * eps, 0.0)
    return spend[burn:], outcome[burn:]


def _params(n_assets: int, l_max: int, seed: int = 1) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    alpha = r.uniform(0.0, 0.8, n_assets)
    return {
        "base": r.uniform(1e3, 4e4, n_assets),
        "beta": r.uniform(1e3, 1e5, n_assets),
        "k": r.uniform(1e3, 5e4, n_assets),
        "roi": r.uniform(1.0, 4.0, n_assets),
        "idio": r.uniform(0.1, 0.5, n_assets),
        "adstock_w": sim_mod._adstock_weights(alpha, l_max),
        "season_amp": np.full(n_assets, 0.15),
        "season_phase": r.choice([0.0, 1.3], n_assets),
        "market_vol": np.array([0.1, 0.1]),
        "channel_vol": np.full(3, 0.08),
        "market_code": r.integers(0, 2, n_assets),
        "channel_code": r.integers(0, 3, n_assets),
    }


@pytest.mark.parametrize("chunk_rows", [1, 7, 33, 1000])
@pytest.mark.parametrize("l_max", [1, 3, 8])
def test_chunked_run_draws_exactly_the_one_shot_run(chunk_rows, l_max):
    p = _params(11, l_max)
    kw = {"spend_variation": 0.3, "spend_persistence": 0.6, "l_max": l_max, "t0": 5}
    rng_a = np.random.default_rng(42)
    rng_b = copy.deepcopy(rng_a)
    s_ref, y_ref = _reference_run(150, rng_a, p, **kw)
    parts = list(sim_mod._chunks(150, rng_b, p, chunk_rows=chunk_rows, **kw))
    s_new = np.concatenate([s for s, _ in parts])
    y_new = np.concatenate([y for _, y in parts])
    assert np.array_equal(s_ref, s_new)
    assert np.array_equal(y_ref, y_new)
    # the generator continues where the one-shot draw left it (the gaps are drawn next)
    assert rng_a.random() == rng_b.random()


def test_streamed_moments_equal_numpy_mean_and_cov():
    p = _params(9, 4, seed=3)
    kw = {"spend_variation": 0.3, "spend_persistence": 0.6, "l_max": 4}
    s, y = _reference_run(2000, np.random.default_rng(7), p, **kw)
    r = y / s
    mean, cov, count = sim_mod._return_moments(
        sim_mod._chunks(2000, np.random.default_rng(7), p, chunk_rows=128, **kw), 9
    )
    assert count == 2000
    assert np.array_equal(mean, r.mean(axis=0))
    ref = np.cov(r, rowvar=False)
    assert np.max(np.abs(cov - ref)) <= 1e-12 * np.max(np.abs(np.diag(ref)))


def _reference_chunks(n, rng, p, **kw):
    kw.pop("chunk_rows", None)
    yield _reference_run(n, rng, p, **kw)


def _reference_moments(chunks, n_assets):
    s, y = next(iter(chunks))
    r = y / s
    return r.mean(axis=0), np.cov(r, rowvar=False), len(r)


@pytest.mark.parametrize("seed", [0, 3])
def test_simulate_history_same_seed_same_history_and_truth(seed, monkeypatch):
    new = simulate_history(60, random_state=seed, n_monte_carlo=4000)
    monkeypatch.setattr(sim_mod, "_chunks", _reference_chunks)
    monkeypatch.setattr(sim_mod, "_return_moments", _reference_moments)
    ref = simulate_history(60, random_state=seed, n_monte_carlo=4000)
    pd.testing.assert_frame_equal(new.history, ref.history, check_exact=True)
    pd.testing.assert_frame_equal(new.truth.curves, ref.truth.curves, check_exact=True)
    pd.testing.assert_series_equal(new.truth.expected_return, ref.truth.expected_return,
                                   check_exact=True)
    c_new, c_ref = new.truth.covariance.to_numpy(), ref.truth.covariance.to_numpy()
    assert np.max(np.abs(c_new - c_ref)) <= 1e-12 * np.max(np.diag(c_ref))


def test_simulate_history_pinned_values_of_the_previous_release():
    # computed with the one-shot simulator before the change (same seed, same numbers)
    s = simulate_history(random_state=0)
    assert len(s.history) == 1619
    assert s.truth.expected_return.sum() == pytest.approx(56.94403059439446, rel=1e-13)
    assert s.truth.covariance.to_numpy().sum() == pytest.approx(66.41351902599858, rel=1e-12)
    assert s.history["spend"].sum() == pytest.approx(17750745.779999997, rel=1e-14)
    assert s.history["outcome"].sum() == pytest.approx(35943481.019999996, rel=1e-14)
    s = simulate_history(52, random_state=3, n_monte_carlo=3000)
    assert s.truth.expected_return.iloc[0] == pytest.approx(2.0960861041569343, rel=1e-13)
    assert s.truth.covariance.iloc[0, 1] == pytest.approx(0.09344290162535619, rel=1e-12)
    assert s.history["outcome"].sum() == pytest.approx(18433086.25, rel=1e-14)
