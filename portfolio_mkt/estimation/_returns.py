"""Expected return estimators (scikit-learn style).

Each estimator is fitted on a periods x assets matrix of returns (outcome per unit spend,
NaN where unobserved; see :func:`returns_matrix`) and sets ``expected_return_`` (Series by
asset), ``standard_error_`` and ``n_observations_``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..exceptions import EstimationError, format_labels
from ._common import as_returns_frame, effective_n_columns, ewma_weights

__all__ = [
    "ReturnEstimator",
    "MeanReturn",
    "EWMAReturn",
    "ShrinkageReturn",
    "make_return_estimator",
]


class ReturnEstimator(BaseEstimator):
    """Base class: ``fit(X)`` on returns sets ``expected_return_`` and its standard error.

    Subclasses implement ``_estimate(frame) -> (mean, standard_error, n_obs)``.
    """

    #: Whether ``fit`` uses the asset attribute table (``assets=``).
    needs_assets = False

    def fit(self, X: object, y: object = None, *, assets: pd.DataFrame | None = None):
        """Fit on a periods x assets matrix of returns.

        Parameters
        ----------
        X : DataFrame or array of shape (n_periods, n_assets)
            Outcome per unit spend; NaN where an asset was not observed.
        y : None
            Ignored (scikit-learn convention).
        assets : DataFrame, optional
            Asset attributes indexed by asset id (used by pooling estimators).

        Returns
        -------
        self
        """
        frame = as_returns_frame(X)
        self.feature_names_in_ = np.asarray(frame.columns.astype(str), dtype=object)
        self.n_features_in_ = frame.shape[1]
        mean, se, n_obs = self._estimate(frame, assets)
        self.expected_return_ = pd.Series(mean, index=frame.columns, name="expected_return")
        self.standard_error_ = pd.Series(se, index=frame.columns, name="standard_error")
        self.n_observations_ = pd.Series(n_obs, index=frame.columns, name="n_observations")
        return self

    def _estimate(self, frame: pd.DataFrame, assets: pd.DataFrame | None):
        raise NotImplementedError

    def score(self, X: object, y: object = None) -> float:
        """Negative mean squared error of the returns in ``X`` around ``expected_return_``.

        Higher is better, so ``GridSearchCV(..., cv=TimeSeriesSplit())`` can tune an
        estimator (an EWMA half-life, say) on held-out periods.

        Parameters
        ----------
        X : DataFrame or array of shape (n_periods, n_assets)
            Returns of held-out periods (same assets as in ``fit``; NaN ignored).
        y : None
            Ignored.

        Returns
        -------
        float
        """
        frame = as_returns_frame(X)
        mu = self.expected_return_.reindex(frame.columns).to_numpy(float)
        err = frame.to_numpy() - mu
        ok = ~np.isnan(err)
        if not ok.any():
            return float("nan")
        return -float(np.mean(err[ok] ** 2))

    def predict(self, spend: pd.DataFrame) -> pd.DataFrame:
        """Predicted outcome for a periods x assets matrix of spend (``mu * spend``).

        Parameters
        ----------
        spend : DataFrame
            Spend per period and asset (columns: asset ids seen in ``fit``).

        Returns
        -------
        DataFrame
        """
        mu = self.expected_return_.reindex(spend.columns)
        return spend * mu


def _require_observed(frame: pd.DataFrame, min_periods: int, who: str) -> np.ndarray:
    n_obs = frame.notna().sum().to_numpy()
    bad = frame.columns[n_obs < min_periods]
    if len(bad):
        raise EstimationError(
            f"{who}: assets {format_labels(bad)} have fewer than {min_periods} observed "
            "period(s); drop them, or use ShrinkageReturn, which pools them with their group."
        )
    return n_obs


class MeanReturn(ReturnEstimator):
    """Historical mean of the per-period returns, over the periods each asset was observed.

    Parameters
    ----------
    min_periods : int, default 1
        Fewest observed periods an asset may have.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 3.0, np.nan], "b": [2.0, 2.0, 2.0]})
    >>> MeanReturn().fit(X).expected_return_.tolist()
    [2.0, 2.0]
    """

    def __init__(self, min_periods: int = 1) -> None:
        self.min_periods = min_periods

    def _estimate(self, frame, assets):
        n_obs = _require_observed(frame, max(1, int(self.min_periods)), "MeanReturn")
        mean = frame.mean().to_numpy()
        sd = frame.std(ddof=1).to_numpy()
        ess = effective_n_columns(frame.to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            se = sd / np.sqrt(ess)
        return mean, se, n_obs


class EWMAReturn(ReturnEstimator):
    """Exponentially weighted mean of the returns (recent periods count more).

    Parameters
    ----------
    halflife : float, default 26
        Age (in periods, counted from the last period of the matrix) at which a period's
        weight halves.
    min_periods : int, default 1
        Fewest observed periods an asset may have.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 3.0]})
    >>> round(float(EWMAReturn(halflife=1).fit(X).expected_return_["a"]), 4)
    2.3333
    """

    def __init__(self, halflife: float = 26.0, min_periods: int = 1) -> None:
        self.halflife = halflife
        self.min_periods = min_periods

    def _estimate(self, frame, assets):
        n_obs = _require_observed(frame, max(1, int(self.min_periods)), "EWMAReturn")
        w = ewma_weights(len(frame), self.halflife)[:, None]
        vals = frame.to_numpy()
        obs = ~np.isnan(vals)
        ww = np.where(obs, w, 0.0)
        x = np.where(obs, vals, 0.0)
        sw = ww.sum(axis=0)
        mean = (ww * x).sum(axis=0) / sw
        var = (ww * (x - mean) ** 2).sum(axis=0) / sw
        ess_w = sw**2 / (ww**2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = var * ess_w / np.maximum(ess_w - 1, 1e-12)
            se = np.sqrt(var / ess_w)
        return mean, se, n_obs


def _design(assets: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    cols = [np.ones(len(assets))]
    names = ["intercept"]
    for attr in by:
        values = assets[attr].astype(object).where(assets[attr].notna(), "(none)").astype(str)
        levels = sorted(values.unique())
        for lev in levels[1:]:
            cols.append((values == lev).to_numpy(float))
            names.append(f"{attr}={lev}")
    return np.column_stack(cols), names


class ShrinkageReturn(ReturnEstimator):
    """Empirical-Bayes shrinkage of each asset's mean return toward its group's.

    Each asset's historical mean ``m_i`` (standard error ``s_i``, from its observed periods
    and their autocorrelation) is treated as ``m_i ~ N(theta_i, s_i^2)`` with
    ``theta_i ~ N(g_i, tau^2)``; the group level ``g_i`` is an additive model of the asset's
    attributes (intercept + market + channel + tier effects) fitted by weighted least squares
    across *all* assets, and ``tau^2`` by the method of moments. The estimate is the posterior
    mean ``g_i + (1 - B_i)(m_i - g_i)`` with ``B_i = s_i^2 / (s_i^2 + tau^2)``: an asset (or a
    whole market) with little data borrows strength from the others instead of being
    trusted or ignored; an asset with no observation at all gets its group level.

    Parameters
    ----------
    by : sequence of str, optional
        Attributes of the group model. Default: those of ``("market", "channel", "tier")``
        present in ``assets``.
    scale : {"log", "linear"}, default "log"
        Fit the group model on log returns (multiplicative market and channel effects) or
        on returns. Falls back to "linear" when a mean return is not positive.
    min_periods : int, default 0
        Fewest observed periods an asset may have (0: none needed).

    Attributes
    ----------
    expected_return_ : Series
        Posterior mean return per asset.
    raw_mean_ : Series
        Historical mean per asset (NaN when unobserved).
    prior_mean_ : Series
        Group level ``g_i``.
    shrinkage_ : Series
        Weight ``B_i`` on the group level (0 = own history, 1 = group).
    tau_ : float
        Estimated spread of true returns around the group model (in the fitted scale).
    group_effects_ : Series
        Coefficients of the group model.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [2.0, 2.2, 1.8], "b": [3.0, np.nan, np.nan]})
    >>> attrs = pd.DataFrame({"market": ["US", "US"], "channel": ["search", "search"]},
    ...                      index=["a", "b"])
    >>> est = ShrinkageReturn().fit(X, assets=attrs)
    >>> bool(est.expected_return_["b"] < 3.0)
    True
    """

    needs_assets = True

    def __init__(
        self,
        by: Sequence[str] | None = None,
        scale: str = "log",
        min_periods: int = 0,
    ) -> None:
        self.by = by
        self.scale = scale
        self.min_periods = min_periods

    def _estimate(self, frame, assets):
        if self.scale not in ("log", "linear"):
            raise EstimationError(
                f"ShrinkageReturn: scale must be 'log' or 'linear'; got {self.scale!r}."
            )
        if assets is None:
            raise EstimationError(
                "ShrinkageReturn needs the asset attributes to pool across groups: "
                "fit(returns, assets=asset_table(history))."
            )
        missing = frame.columns.difference(assets.index)
        if len(missing):
            raise EstimationError(
                f"ShrinkageReturn: no attributes for assets {format_labels(missing)}; the "
                "assets table must have a row for every column of the returns."
            )
        attrs = assets.loc[frame.columns]
        by = (
            [b for b in ("market", "channel", "tier") if b in attrs.columns]
            if self.by is None
            else list(self.by)
        )
        unknown = [b for b in by if b not in attrs.columns]
        if unknown:
            raise EstimationError(
                f"ShrinkageReturn: by names unknown attribute(s) {format_labels(unknown)}; "
                f"the assets table has {format_labels(attrs.columns)}."
            )
        n_obs = _require_observed(frame, int(self.min_periods), "ShrinkageReturn")
        mean = frame.mean().to_numpy()
        sd = frame.std(ddof=1).to_numpy()
        ess = effective_n_columns(frame.to_numpy())
        # variance of assets with < 3 observations: the median coefficient of variation
        cv = sd / np.abs(mean)
        ok = (n_obs >= 3) & np.isfinite(cv)
        cv_med = float(np.nanmedian(cv[ok])) if ok.any() else 0.3
        sd = np.where(ok, sd, cv_med * np.abs(mean))
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.where(n_obs > 0, sd / np.sqrt(np.maximum(ess, 1.0)), np.inf)
        observed = n_obs > 0
        if not observed.any():
            raise EstimationError(
                "ShrinkageReturn: no asset has any observed return; check the history."
            )
        use_log = self.scale == "log" and bool(np.all(mean[observed] > 0))
        if use_log:
            y = np.where(observed, np.log(np.where(observed, mean, 1.0)), 0.0)
            v = np.where(observed, (se / np.where(observed, mean, 1.0)) ** 2, np.inf)
        else:
            y = np.where(observed, mean, 0.0)
            v = np.where(observed, se**2, np.inf)
        D, names = _design(attrs, by)
        tau2 = float(np.var(y[observed]))
        beta = np.zeros(D.shape[1])
        p_eff = np.linalg.matrix_rank(D[observed]) if observed.sum() else 1
        n_eff = int(observed.sum())
        for _ in range(50):
            wgt = np.where(observed, 1.0 / (v + tau2 + 1e-300), 0.0)
            sw = np.sqrt(wgt)
            beta, *_ = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)
            resid = y - D @ beta
            dof = max(n_eff - p_eff, 1)
            term = np.where(observed, resid**2 * (n_eff / dof) - np.where(observed, v, 0.0), 0.0)
            num = np.sum(wgt * term)
            new = max(0.0, float(num / np.sum(wgt, where=observed)))
            if abs(new - tau2) <= 1e-10 * max(tau2, 1e-12):
                tau2 = new
                break
            tau2 = new
        prior = D @ beta
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(observed, v / (v + tau2), 1.0)
        b = np.where(np.isfinite(b), b, 1.0)
        post = prior + (1.0 - b) * (y - prior)
        post_var = np.where(
            observed, 1.0 / (1.0 / np.maximum(v, 1e-300) + 1.0 / max(tau2, 1e-300)), tau2
        )
        if use_log:
            est = np.exp(post)
            se_post = est * np.sqrt(post_var)
            prior_level = np.exp(prior)
        else:
            est = post
            se_post = np.sqrt(post_var)
            prior_level = prior
        idx = frame.columns
        self.raw_mean_ = pd.Series(mean, index=idx, name="raw_mean")
        self.prior_mean_ = pd.Series(prior_level, index=idx, name="prior_mean")
        self.shrinkage_ = pd.Series(b, index=idx, name="shrinkage")
        self.tau_ = float(np.sqrt(tau2))
        self.group_effects_ = pd.Series(beta, index=names, name="effect")
        self.scale_used_ = "log" if use_log else "linear"
        return est, se_post, n_obs


_BUILTIN = {
    "mean": MeanReturn,
    "historical": MeanReturn,
    "ewma": EWMAReturn,
    "shrinkage": ShrinkageReturn,
}


def make_return_estimator(spec: object) -> ReturnEstimator:
    """An expected-return estimator from a name or an estimator object.

    Parameters
    ----------
    spec : str or estimator
        ``"mean"`` (or ``"historical"``), ``"ewma"``, ``"shrinkage"``, or any object with
        ``fit(X)`` setting ``expected_return_`` (returned as is).

    Returns
    -------
    estimator
    """
    if isinstance(spec, str):
        try:
            return _BUILTIN[spec]()
        except KeyError:
            raise EstimationError(
                f"unknown expected_return {spec!r}; use one of {format_labels(_BUILTIN)} or "
                "an estimator with fit(X) and expected_return_."
            ) from None
    if hasattr(spec, "fit"):
        return spec
    raise EstimationError(
        f"expected_return must be a name ({format_labels(_BUILTIN)}) or an estimator with "
        f"fit(X) and expected_return_; got {type(spec).__name__}."
    )
