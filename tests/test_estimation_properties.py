"""Invariants of the estimation layer (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf

from portfolio_mkt.estimation import (
    MeanReturn,
    View,
    black_litterman,
    fit_covariance,
    returns_matrix,
)


def _history(seed: int, n_periods: int, n_assets: int, gap: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_periods):
        for i in range(n_assets):
            if t > 2 and rng.random() < gap:
                continue
            spend = float(rng.uniform(10, 100))
            rows.append(
                (
                    t,
                    f"a{i}",
                    "US" if i % 2 else "RU",
                    "search",
                    spend,
                    spend * float(rng.uniform(1, 3)),
                )
            )
    return pd.DataFrame(rows, columns=["period", "asset", "market", "channel", "spend", "outcome"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), gap=st.floats(0.0, 0.4))
def test_returns_do_not_depend_on_row_order(seed, gap):
    h = _history(seed, 8, 4, gap)
    shuffled = h.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    a = returns_matrix(h)
    b = returns_matrix(shuffled)[a.columns]
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_currency_unit_does_not_change_returns_or_relative_covariance(seed, scale):
    h = _history(seed, 10, 3, 0.2)
    h2 = h.assign(spend=h["spend"] * scale, outcome=h["outcome"] * scale)
    r1, r2 = returns_matrix(h), returns_matrix(h2)
    np.testing.assert_allclose(r1.to_numpy(), r2.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        MeanReturn().fit(r1).expected_return_, MeanReturn().fit(r2).expected_return_, rtol=1e-9
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_covariance_permutes_with_assets(seed):
    h = _history(seed, 12, 4, 0.25)
    r = returns_matrix(h)
    perm = list(np.random.default_rng(seed).permutation(r.columns))
    for est in ("sample", LedoitWolf()):
        c1 = fit_covariance(r, est)
        c2 = fit_covariance(r[perm], est)
        pd.testing.assert_frame_equal(c1.loc[perm, perm], c2, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    conf=st.floats(0.0, 100.0),
    change=st.floats(-0.5, 0.5),
    tau=st.floats(1e-3, 1.0),
)
def test_single_view_moves_confidence_share_of_the_way(conf, change, tau):
    ids = ["a", "b", "c"]
    pi = pd.Series([1.0, 2.0, 1.5], index=ids)
    cov = pd.DataFrame(
        [[0.05, 0.01, 0.0], [0.01, 0.08, 0.02], [0.0, 0.02, 0.1]], index=ids, columns=ids
    )
    bl = black_litterman(pi, cov, [View(["a", "c"], change=change, confidence=conf)], tau=tau)
    prior = (pi["a"] + pi["c"]) / 2
    post = (bl.posterior["a"] + bl.posterior["c"]) / 2
    assert np.isclose(post - prior, conf / 100 * change * prior, rtol=1e-9, atol=1e-12)


_cell = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.text(max_size=4),
    st.sampled_from(["2024-01-01", "2024-13-45", "US", "-1", "1e3", ""]),
)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.lists(_cell, min_size=6, max_size=6), min_size=1, max_size=6),
    drop=st.sampled_from([None, "period", "spend", "market"]),
)
def test_bad_input_raises_estimation_error_or_passes(cells, drop):
    """Whatever the cells hold, the history is either accepted or refused with our error."""
    from portfolio_mkt.estimation import validate_history
    from portfolio_mkt.exceptions import EstimationError

    cols = ["period", "asset", "market", "channel", "spend", "outcome"]
    h = pd.DataFrame(cells, columns=cols)
    if drop:
        h = h.drop(columns=[drop])
    try:
        clean = validate_history(h)
    except EstimationError:
        return
    assert (clean["spend"] >= 0).all()
    assert np.isfinite(clean[["spend", "outcome"]].to_numpy()).all()
    assert not clean.duplicated(["period", "asset"]).any()
