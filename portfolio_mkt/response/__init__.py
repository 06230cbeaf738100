"""Response curves: saturation, carryover, fitting, and the response term of the program.

Curves map money spent on one asset to its expected outcome, in the asset's own units:

>>> from portfolio_mkt.response import Hill
>>> curve = Hill(beta=1000.0, k=50_000.0, slope=2.0)   # S-shaped
>>> round(curve.payback_spend)                          # spend where it starts to pay
50000
"""

from ._adstock import (
    ADSTOCK_FAMILIES,
    Adstock,
    GeometricAdstock,
    WeibullAdstock,
    make_adstock,
)
from ._curves import (
    CURVE_FAMILIES,
    Curve,
    ExponentialSaturation,
    Hill,
    Linear,
    Logarithmic,
    Logistic,
    MichaelisMenten,
    Power,
    make_curve,
)
from ._fit import ResponseCurveRegressor, ResponseFit, fit_response_curves
from ._pwl import PiecewiseLinear, approximate, concave_envelope
from ._saturation import SATURATIONS, check_family, n_shape_params, planning_curve, saturate
from ._term import CurveReturn, LocalModelReturn, make_return_term

__all__ = [
    "SATURATIONS",
    "check_family",
    "n_shape_params",
    "planning_curve",
    "saturate",
    "Curve",
    "Linear",
    "Logarithmic",
    "ExponentialSaturation",
    "MichaelisMenten",
    "Power",
    "Hill",
    "Logistic",
    "CURVE_FAMILIES",
    "make_curve",
    "Adstock",
    "GeometricAdstock",
    "WeibullAdstock",
    "ADSTOCK_FAMILIES",
    "make_adstock",
    "PiecewiseLinear",
    "approximate",
    "concave_envelope",
    "ResponseCurveRegressor",
    "ResponseFit",
    "fit_response_curves",
    "CurveReturn",
    "LocalModelReturn",
    "make_return_term",
]
