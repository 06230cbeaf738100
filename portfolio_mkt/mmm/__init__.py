"""Media-mix model: one KPI per period and spend per channel in; curves, decomposition and risk out.

>>> from portfolio_mkt.mmm import MediaMixModel
>>> model = MediaMixModel(kpi="revenue", channels=["tv", "search"])   # doctest: +SKIP
>>> model.fit(frame).problem(budget=100_000)                           # doctest: +SKIP
"""

from ..response import SATURATIONS, check_family, planning_curve, saturate
from ._model import FitQualityWarning, IdentificationWarning, MediaMixModel
from ._optimum import allocate_concave

__all__ = [
    "check_family",
    "saturate",
    "MediaMixModel",
    "FitQualityWarning",
    "IdentificationWarning",
    "SATURATIONS",
    "planning_curve",
    "allocate_concave",
]
