"""Black-Litterman views with Idzorek confidence: both ends exact, the middle by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.estimation import View, black_litterman
from portfolio_mkt.exceptions import EstimationError
from portfolio_mkt.risk import FactorCovariance

IDS = ["us_a", "ru_a", "ru_b"]
PI = pd.Series([1.0, 2.0, 3.0], index=IDS)
SIGMA = pd.DataFrame(
    [[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]], index=IDS, columns=IDS
)
ATTRS = pd.DataFrame(
    {
        "market": ["US", "RU", "RU"],
        "channel": ["search", "influencer", "search"],
        "tags": ["", "creator;new", ""],
    },
    index=IDS,
)


def test_zero_confidence_gives_prior():
    bl = black_litterman(PI, SIGMA, [View(["us_a", "ru_a"], change=0.2, confidence=0)], tau=0.1)
    pd.testing.assert_series_equal(bl.posterior, PI, check_names=False)
    assert bl.views.loc[0, "tilt"] == 0.0
    assert np.isinf(bl.views.loc[0, "omega"])


def test_full_confidence_gives_view_exactly():
    v = View(["us_a", "ru_a"], change=0.2, confidence=100)
    bl = black_litterman(PI, SIGMA, [v], tau=0.1)
    # the view's portfolio (average of us_a, ru_a) is 1.2 * 1.5 = 1.8 exactly
    assert 0.5 * (bl.posterior["us_a"] + bl.posterior["ru_a"]) == pytest.approx(1.8, abs=1e-12)
    assert bl.views.loc[0, "posterior"] == pytest.approx(1.8, abs=1e-12)
    assert bl.views.loc[0, "target"] == pytest.approx(1.8)


def test_middle_confidence_by_hand():
    """p = (1/2, 1/2, 0): Sigma p = (0.025, 0.05, 0.01), p Sigma p = 0.0375, Q - p pi = 0.3.

    Full tilt = Sigma p (Q - p pi) / (p Sigma p) = (0.2, 0.4, 0.08); at 60% confidence the
    posterior is pi + 0.6 * tilt = (1.12, 2.24, 3.048), whatever tau is.
    """
    for tau in (0.01, 0.1, 1.0):
        bl = black_litterman(
            PI, SIGMA, [View(["us_a", "ru_a"], change=0.2, confidence=60)], tau=tau
        )
        np.testing.assert_allclose(bl.posterior.to_numpy(), [1.12, 2.24, 3.048], rtol=1e-12)
        assert bl.views.loc[0, "posterior"] == pytest.approx(1.5 + 0.6 * 0.3)


def test_two_views_match_textbook_formula():
    """Against mu = [(tau S)^-1 + P' O^-1 P]^-1 [(tau S)^-1 pi + P' O^-1 Q]."""
    tau = 0.05
    views = [
        View({"market": "RU"}, change=0.2, confidence=60, name="RU up"),
        View(["us_a"], value=1.3, confidence=30, name="US level"),
    ]
    bl = black_litterman(PI, SIGMA, views, assets=ATTRS, tau=tau)
    S = SIGMA.to_numpy()
    P = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    Q = np.array([1.2 * 2.5, 1.3])
    c = np.array([0.6, 0.3])
    omega = np.diag(tau * (1 - c) / c * np.diag(P @ S @ P.T))
    ts_inv = np.linalg.inv(tau * S)
    o_inv = np.linalg.inv(omega)
    expected = np.linalg.solve(ts_inv + P.T @ o_inv @ P, ts_inv @ PI.to_numpy() + P.T @ o_inv @ Q)
    np.testing.assert_allclose(bl.posterior.to_numpy(), expected, rtol=1e-10)
    assert list(bl.views["view"]) == ["RU up", "US level"]
    np.testing.assert_allclose(bl.views["omega"], np.diag(omega))


def test_relative_view_versus_other_group_and_tags():
    # "RU creators return 10% more than RU search", fully confident
    v = View({"market": "RU", "tags": "creator"}, change=0.1, versus=["ru_b"], confidence=100)
    bl = black_litterman(PI, SIGMA, [v], assets=ATTRS, tau=0.1)
    assert bl.posterior["ru_a"] == pytest.approx(1.1 * bl.posterior["ru_b"], rel=1e-12)
    v2 = View(["ru_b"], value=0.5, versus=["us_a"], confidence=100)
    bl2 = black_litterman(PI, SIGMA, [v2], tau=0.1)
    assert bl2.posterior["ru_b"] - bl2.posterior["us_a"] == pytest.approx(0.5, abs=1e-12)


def test_factor_covariance_gives_same_posterior():
    b = pd.DataFrame([[0.1], [0.2], [0.3]], index=IDS, columns=["f"])
    fc = FactorCovariance(
        b,
        pd.DataFrame([[1.0]], index=["f"], columns=["f"]),
        pd.Series([0.01, 0.02, 0.03], index=IDS),
    )
    v = [View({"market": "RU"}, change=-0.1, confidence=40)]
    a = black_litterman(PI, fc, v, assets=ATTRS).posterior
    d = black_litterman(PI, fc.to_dense(), v, assets=ATTRS).posterior
    np.testing.assert_allclose(a, d, rtol=1e-12)


def test_describe():
    v = View({"market": "RU", "channel": ["influencer", "video"]}, change=-0.1, confidence=25)
    assert v.describe() == (
        "market=RU, channel=influencer|video returns 10% less than the model says (25% confident)"
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: View(["a"], confidence=50), "exactly one of change="),
        (lambda: View(["a"], change=0.1, value=1.0), "exactly one of change="),
        (lambda: View(["a"], change=0.1, confidence=120), "between 0 and 100.*write 60"),
        (lambda: View(["a"], change=np.nan), "must be finite"),
    ],
)
def test_view_errors(make, match):
    with pytest.raises(EstimationError, match=match):
        make()


def test_black_litterman_errors():
    with pytest.raises(EstimationError, match=r"unknown asset\(s\) 'xx'"):
        black_litterman(PI, SIGMA, [View(["xx"], change=0.1)])
    with pytest.raises(EstimationError, match="selects no asset"):
        black_litterman(PI, SIGMA, [View({"market": "DE"}, change=0.1)], assets=ATTRS)
    with pytest.raises(EstimationError, match="unknown attribute 'region'"):
        black_litterman(PI, SIGMA, [View({"region": "EU"}, change=0.1)], assets=ATTRS)
    with pytest.raises(EstimationError, match="needs the asset table"):
        black_litterman(PI, SIGMA, [View({"market": "RU"}, change=0.1)])
    with pytest.raises(EstimationError, match="must be a View"):
        black_litterman(PI, SIGMA, [("ru", 0.1)])
    with pytest.raises(EstimationError, match="redundant"):
        black_litterman(
            PI,
            SIGMA,
            [View(["us_a"], value=1.0, confidence=100), View(["us_a"], value=1.1, confidence=100)],
        )
