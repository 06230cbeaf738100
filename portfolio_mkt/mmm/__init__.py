"""Media-mix model: one KPI per period and spend per channel in; curves, decomposition and risk out.

>>> from portfolio_mkt.mmm import MediaMixModel
>>> model = MediaMixModel(kpi="revenue", channels=["tv", "search"])   # doctest: +SKIP
>>> model.fit(frame).problem(budget=100_000)                           # doctest: +SKIP
"""

from ._model import FitQualityWarning, IdentificationWarning, MediaMixModel
from ._optimum import allocate_concave
from ._saturation import SATURATIONS, planning_curve

__all__ = [
    "MediaMixModel",
    "FitQualityWarning",
    "IdentificationWarning",
    "SATURATIONS",
    "planning_curve",
    "allocate_concave",
]
