"""Saturation in scaled units for the media-mix model, and the matching planning curves.

The model works on spend divided by the market's own mean spend of the channel, ``u = a / m``
(``a`` the adstocked spend, ``m`` the mean spend). Every family is parametrised by ``kappa``,
the half-saturation point in those units (spend where half of the ceiling is reached, as a
multiple of the mean spend), so one prior and one pooling scale fit every market whatever its
size. :func:`planning_curve` converts back to a curve of :mod:`portfolio_mkt.response` in money.
"""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import InputError
from ._curves import Curve, ExponentialSaturation, Hill, Logistic, MichaelisMenten

__all__ = ["SATURATIONS", "saturate", "planning_curve", "n_shape_params", "check_family"]

_LN3 = math.log(3.0)
_LN2 = math.log(2.0)

#: Saturation families the media-mix model fits (names of :mod:`portfolio_mkt.response`).
SATURATIONS = ("logistic", "exponential", "michaelis_menten", "hill")


def n_shape_params(family: str) -> int:
    """Number of saturation parameters besides ``kappa`` (the Hill slope)."""
    return 1 if family == "hill" else 0


def check_family(family: str) -> str:
    """Validate a saturation family name and return it lower-cased."""
    fam = str(family).lower()
    if fam not in SATURATIONS:
        raise InputError(
            f"MediaMixModel: unknown saturation {family!r}; use one of {', '.join(SATURATIONS)}."
        )
    return fam


def saturate(family: str, u: np.ndarray, kappa: float, slope: float = 1.0) -> np.ndarray:
    """Unit-ceiling saturation of scaled exposure ``u`` with half-saturation ``kappa``."""
    if family == "logistic":
        return np.tanh(0.5 * (_LN3 / kappa) * u)
    if family == "exponential":
        return -np.expm1(-u * (_LN2 / kappa))
    if family == "michaelis_menten":
        return u / (kappa + u)
    # hill
    up = np.power(np.maximum(u, 0.0), slope)
    return up / (kappa**slope + up)


def planning_curve(
    family: str, beta: float, kappa: float, mean_spend: float, slope: float = 1.0,
    exposure_per_spend: float = 1.0,
) -> Curve:
    """Steady-state response curve in money per period.

    Parameters
    ----------
    family : str
        Saturation family.
    beta : float
        Ceiling in KPI units per period.
    kappa : float
        Half-saturation point as a multiple of ``mean_spend``.
    mean_spend : float
        The market's mean spend of the channel per period (money).
    slope : float, default 1.0
        Hill slope (Hill only).
    exposure_per_spend : float, default 1.0
        Steady-state adstocked exposure per unit of constant spend (``sum`` of the adstock
        weights; 1 for normalised kernels): carryover is counted in full.

    Returns
    -------
    Curve
    """
    beta = max(float(beta), 1e-300)
    k = kappa * mean_spend / exposure_per_spend  # half-saturation in money of constant spend
    if family == "logistic":
        return Logistic(beta=beta, lam=_LN3 / k)
    if family == "exponential":
        return ExponentialSaturation(beta=beta, k=k / _LN2)
    if family == "michaelis_menten":
        return MichaelisMenten(beta=beta, k=k)
    return Hill(beta=beta, k=k, slope=slope)
