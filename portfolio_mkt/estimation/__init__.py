"""Estimation from spend history: returns, covariance, pooling, bias audit, views.

Turn a long history (period, asset attributes, spend, outcome) into the inputs of a
:class:`~portfolio_mkt.Problem`, and say how far they can be trusted. Every estimator follows
scikit-learn's conventions; any covariance estimator with ``fit(X)`` and ``covariance_``
plugs in.
"""

from ._audit import BiasAudit, audit_flags_for, bias_audit, plan_audit
from ._covariance import (
    EWMACovariance,
    FactorModel,
    MissingDataCovariance,
    SampleCovariance,
    fit_covariance,
    pairwise_covariance,
)
from ._curve_return import CurveImpliedReturn
from ._extrapolation import (
    EXTRAPOLATION_CAP,
    extrapolating_assets,
    extrapolation_bounds,
    observed_spend_range,
)
from ._history import (
    REQUIRED_COLUMNS,
    asset_table,
    pivot_history,
    returns_matrix,
    validate_history,
)
from ._model_risk import CurveDraws, curve_draws, curve_intervals, model_covariance
from ._pipeline import (
    Estimates,
    current_from_history,
    problem_from_history,
    problem_from_returns,
)
from ._returns import (
    EWMAReturn,
    MeanReturn,
    ReturnEstimator,
    ShrinkageReturn,
    make_return_estimator,
)
from ._validation import CrossValidation, cross_validate_returns
from ._views import BlackLitterman, View, black_litterman

__all__ = [
    "REQUIRED_COLUMNS",
    "validate_history",
    "asset_table",
    "pivot_history",
    "returns_matrix",
    "ReturnEstimator",
    "MeanReturn",
    "EWMAReturn",
    "ShrinkageReturn",
    "make_return_estimator",
    "pairwise_covariance",
    "SampleCovariance",
    "EWMACovariance",
    "FactorModel",
    "MissingDataCovariance",
    "fit_covariance",
    "BiasAudit",
    "bias_audit",
    "audit_flags_for",
    "plan_audit",
    "CurveImpliedReturn",
    "CurveDraws",
    "curve_draws",
    "curve_intervals",
    "model_covariance",
    "EXTRAPOLATION_CAP",
    "observed_spend_range",
    "extrapolation_bounds",
    "extrapolating_assets",
    "View",
    "BlackLitterman",
    "black_litterman",
    "CrossValidation",
    "cross_validate_returns",
    "Estimates",
    "problem_from_history",
    "problem_from_returns",
    "current_from_history",
]
