"""Curve-implied expected return: a fitted response curve's marginal return at current spend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..exceptions import EstimationError
from ._history import asset_table, pivot_history, validate_history
from ._model_risk import curve_draws, curve_intervals, model_covariance

__all__ = ["CurveImpliedReturn"]


class CurveImpliedReturn(BaseEstimator):
    """Expected return per unit as the slope of each asset's fitted response curve.

    Unlike the other return estimators, it is fitted on the *long history* (it needs spend
    and outcome, not only their ratio): a response curve with carryover is fitted per asset
    (:func:`portfolio_mkt.response.fit_response_curves`, pooled toward the asset's group) and
    the expected return is the marginal return ``r'(x)`` at the asset's current spend ``x``
    (mean spend over its last ``window`` observed periods) - what the *next* unit of money
    earns, which is below the average return ``r(x) / x`` when the asset saturates.

    Parameters
    ----------
    curve : str, default "exponential"
        Curve family (see :class:`portfolio_mkt.response.ResponseCurveRegressor`).
    adstock : str or None, default "geometric"
        Carryover family fitted with the curve.
    group : str or sequence of str, default "channel"
        Pooling groups for assets with little data.
    pool_strength : float or "cv", default "cv"
        Pooling penalty weight, or ``"cv"``: chosen by time-ordered cross-validation (see
        :func:`portfolio_mkt.response.fit_response_curves`).
    window : int, default 13
        Recent observed periods averaged for the current spend.
    l_max : int, default 8
        Adstock length.
    horizon : int, default 1
        Periods of the plan: curves map money spent evenly over ``horizon`` periods to the
        outcome (``c(X) = H r(X / H)``), and current spend is ``horizon`` times the recent
        per-period spend. The marginal return does not depend on it.
    n_draws : int, default 200
        Parameter draws (Laplace approximation) for ``covariance_`` and :meth:`intervals`.
    random_state : int or None, default 0
        Seed of the draws.

    Attributes
    ----------
    expected_return_ : Series
        Marginal return at current spend.
    average_return_ : Series
        ``r(x) / x`` at current spend.
    current_spend_ : Series
    curves_ : dict
        Asset id -> fitted planning curve (per period, steady state).
    fit_ : ResponseFit
        The full fit (parameters with standard errors, estimators, residuals).
    covariance_ : DataFrame
        Covariance of per-unit returns from the model (residual co-movement around the fitted
        curves plus parameter uncertainty at current spend; see :func:`model_covariance`) -
        what the optimizer should use as risk, never the ratio outcome / spend.
    draws_ : CurveDraws
        The parameter draws.
    """

    needs_history = True

    def __init__(
        self,
        curve: str = "exponential",
        adstock: str | None = "geometric",
        group: str | Sequence[str] | None = "channel",
        pool_strength: float | str = "cv",
        window: int = 13,
        l_max: int = 8,
        horizon: int = 1,
        n_draws: int = 200,
        random_state: int | None = 0,
    ) -> None:
        self.curve = curve
        self.adstock = adstock
        self.group = group
        self.pool_strength = pool_strength
        self.window = window
        self.l_max = l_max
        self.horizon = horizon
        self.n_draws = n_draws
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None):
        """Fit curves on a long history.

        Parameters
        ----------
        X : DataFrame
            Long history (``period``, ``asset``, ``market``, ``channel``, ``spend``,
            ``outcome``).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        from ..response import fit_response_curves  # noqa: PLC0415

        frame = validate_history(X)
        assets = asset_table(frame)
        fit = fit_response_curves(
            frame,
            curve=self.curve,
            adstock=self.adstock,
            group=self.group,
            pool_strength=self.pool_strength,
            l_max=self.l_max,
            horizon=int(self.horizon),
        )
        spend = pivot_history(frame, "spend")
        current = pd.Series(
            {
                a: float(spend[a].dropna().tail(int(self.window)).mean()) * int(self.horizon)
                for a in assets.index
            }
        )
        missing = [a for a in assets.index if a not in fit.curves]
        if missing:
            raise EstimationError(
                f"CurveImpliedReturn: no curve could be fitted for {missing}; drop them or "
                "use expected_return='shrinkage'."
            )
        marg = np.array([float(fit.curves[a].derivative(current[a])) for a in assets.index])
        avg = np.array(
            [
                float(fit.curves[a].value(current[a])) / current[a] if current[a] > 0 else marg[i]
                for i, a in enumerate(assets.index)
            ]
        )
        self.current_spend_ = current.rename("current_spend")
        self.expected_return_ = pd.Series(marg, index=assets.index, name="expected_return")
        self.average_return_ = pd.Series(avg, index=assets.index, name="average_return")
        self.curves_ = {a: fit.curves[a] for a in assets.index}
        self.fit_ = fit
        self.draws_ = curve_draws(fit, int(self.n_draws), self.random_state)
        self.covariance_ = model_covariance(fit, current, draws=self.draws_).loc[
            list(assets.index), list(assets.index)]
        self.feature_names_in_ = np.asarray(assets.index, dtype=object)
        return self

    def intervals(self, spend: pd.Series | None = None, level: float = 0.9) -> pd.DataFrame:
        """Intervals for marginal and average return per asset (default: at current spend).

        Parameters
        ----------
        spend : Series, optional
            Spend per plan by asset; default ``current_spend_``.
        level : float, default 0.9

        Returns
        -------
        DataFrame
            See :func:`curve_intervals`.
        """
        check_is_fitted(self, "draws_")
        s = self.current_spend_ if spend is None else spend
        return curve_intervals(self.fit_, s, level, draws=self.draws_)
