"""Covariance of per-unit-spend returns from gappy histories.

Any object following scikit-learn's protocol (``fit(X)`` then ``covariance_``) works as it
is - :class:`MissingDataCovariance` feeds it a complete matrix built from gappy returns. The
built-ins handle missing periods natively: :class:`SampleCovariance` (pairwise complete +
PSD repair), :class:`EWMACovariance` and :class:`FactorModel` (market/channel dummies or
statistical factors, giving a :class:`~portfolio_mkt.risk.FactorCovariance` that the solver
uses without forming an ``n x n`` matrix).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ..exceptions import EstimationError, format_labels
from ..risk import FactorCovariance, nearest_psd
from ._common import as_returns_frame, ewma_weights

__all__ = [
    "pairwise_covariance",
    "SampleCovariance",
    "EWMACovariance",
    "FactorModel",
    "MissingDataCovariance",
    "fit_covariance",
]


def _check_counts(frame: pd.DataFrame, min_periods: int, who: str) -> np.ndarray:
    n_obs = frame.notna().sum().to_numpy()
    bad = frame.columns[n_obs < min_periods]
    if len(bad):
        raise EstimationError(
            f"{who}: assets {format_labels(bad)} have fewer than {min_periods} observed "
            "periods, too few for a variance; drop them from the history, or lower "
            "min_periods."
        )
    return n_obs


def pairwise_covariance(returns: pd.DataFrame, min_periods: int = 3) -> pd.DataFrame:
    """Pairwise-complete sample covariance (``ddof=1``), without PSD repair.

    Each entry uses the periods where both assets were observed; pairs observed together in
    fewer than ``min_periods`` periods get covariance 0 (no evidence of co-movement).

    Parameters
    ----------
    returns : DataFrame
        Periods x assets, NaN where unobserved.
    min_periods : int, default 3
        Fewest common periods for an entry.

    Returns
    -------
    DataFrame
        Asset x asset, symmetric, possibly not PSD.
    """
    frame = as_returns_frame(returns)
    _check_counts(frame, min_periods, "pairwise_covariance")
    cov = frame.cov(min_periods=min_periods)
    return cov.fillna(0.0)


class _CovarianceBase(BaseEstimator):
    def _set_labels(self, frame: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(frame.columns.astype(str), dtype=object)
        self.n_features_in_ = frame.shape[1]

    def to_frame(self) -> pd.DataFrame:
        """``covariance_`` as a DataFrame labelled by asset id."""
        names = list(self.feature_names_in_)
        return pd.DataFrame(self.covariance_, index=names, columns=names)


class SampleCovariance(_CovarianceBase):
    """Pairwise-complete sample covariance, repaired to the nearest PSD matrix.

    Parameters
    ----------
    min_periods : int, default 3
        Fewest observed periods per asset, and fewest common periods per pair (pairs below
        get covariance 0).

    Attributes
    ----------
    covariance_ : ndarray of shape (n_assets, n_assets)
    location_ : ndarray
        Mean return per asset (observed periods).
    n_common_ : ndarray of shape (n_assets, n_assets)
        Number of periods each pair was observed together.
    repair_distance_ : float
        Relative Frobenius distance moved by PSD repair (0 when none was needed).

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, np.nan, 2.5, 3.5]})
    >>> SampleCovariance().fit(X).covariance_.shape
    (2, 2)
    """

    def __init__(self, min_periods: int = 3) -> None:
        self.min_periods = min_periods

    def fit(self, X: object, y: object = None):
        """Fit on a periods x assets matrix of returns (NaN allowed).

        Parameters
        ----------
        X : DataFrame or array
            Returns.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        frame = as_returns_frame(X)
        self._set_labels(frame)
        cov = pairwise_covariance(frame, int(self.min_periods)).to_numpy()
        obs = frame.notna().to_numpy(float)
        self.n_common_ = obs.T @ obs
        self.location_ = frame.mean().to_numpy()
        repaired, dist = nearest_psd(cov)
        needs = np.linalg.eigvalsh((cov + cov.T) / 2).min() < 0
        self.covariance_ = repaired if needs else (cov + cov.T) / 2
        self.repair_distance_ = float(dist) if needs else 0.0
        return self


class EWMACovariance(_CovarianceBase):
    """Exponentially weighted covariance with missing periods, PSD repaired.

    Each asset is centred on its own weighted mean; entry ``(i, j)`` is
    ``sum_t w_t d_it d_jt / sum_t w_t`` over the periods both were observed, with
    ``w_t = 0.5 ** (age_t / halflife)``.

    Parameters
    ----------
    halflife : float, default 26
        In periods, counted back from the last period.
    min_periods : int, default 3
        Fewest observed periods per asset.

    Attributes
    ----------
    covariance_ : ndarray
    location_ : ndarray
        Weighted mean per asset.
    repair_distance_ : float
    """

    def __init__(self, halflife: float = 26.0, min_periods: int = 3) -> None:
        self.halflife = halflife
        self.min_periods = min_periods

    def fit(self, X: object, y: object = None):
        """Fit on a periods x assets matrix of returns (NaN allowed).

        Parameters
        ----------
        X : DataFrame or array
            Returns.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        frame = as_returns_frame(X)
        self._set_labels(frame)
        _check_counts(frame, int(self.min_periods), "EWMACovariance")
        vals = frame.to_numpy()
        obs = ~np.isnan(vals)
        w = ewma_weights(len(frame), self.halflife)[:, None]
        ww = np.where(obs, w, 0.0)
        mean = (np.where(obs, vals, 0.0) * ww).sum(0) / ww.sum(0)
        d = np.where(obs, vals - mean, 0.0) * np.sqrt(w)
        m = obs * np.sqrt(w)
        num = d.T @ d
        den = m.T @ m
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = np.where(den > 0, num / den, 0.0)
        # small-sample correction with the effective number of periods per pair
        ess = np.where(den > 0, den**2 / np.maximum((m**2).T @ (m**2), 1e-300), 1.0)
        cov = cov * np.where(ess > 1, ess / (ess - 1), 1.0)
        repaired, dist = nearest_psd(cov)
        needs = np.linalg.eigvalsh((cov + cov.T) / 2).min() < 0
        self.covariance_ = repaired if needs else (cov + cov.T) / 2
        self.repair_distance_ = float(dist) if needs else 0.0
        self.location_ = mean
        return self


def _standardize(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale each column on its observed periods; NaN -> 0. Returns z, mean, sd."""
    vals = frame.to_numpy()
    mean = np.nanmean(vals, axis=0)
    sd = np.nanstd(vals, axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    z = np.where(np.isnan(vals), 0.0, (vals - mean) / sd)
    return z, mean, sd


class FactorModel(_CovarianceBase):
    """Factor covariance ``diag(s) (B Omega B' + diag(psi)) diag(s)`` of the returns.

    Returns are standardised per asset (``s``: standard deviation on observed periods).
    With ``method="attributes"`` the loadings ``B`` are 0/1 dummies of the asset attributes
    (default market and channel) and the factor returns come from a cross-sectional ridge
    regression each period on the assets observed in it; with ``method="pca"`` they are the
    ``n_factors`` leading eigenvectors of the pairwise-complete correlation matrix. The
    specific variance ``psi`` is what the factors leave unexplained. The result
    (``factor_model_``) is a :class:`~portfolio_mkt.risk.FactorCovariance` that the solver
    uses as ``||F' w||^2 + sum d_i w_i^2``; ``covariance_`` builds the dense matrix only when
    asked.

    Parameters
    ----------
    method : {"attributes", "pca"}, default "attributes"
        Where the factors come from.
    attributes : sequence of str, default ("market", "channel")
        Attribute columns giving the dummies (``method="attributes"``).
    n_factors : int, default 2
        Number of statistical factors (``method="pca"``).
    ridge : float, default 0.01
        Ridge penalty of the cross-sectional regressions (relative to the number of assets).
    min_periods : int, default 3
        Fewest observed periods per asset.

    Attributes
    ----------
    factor_model_ : FactorCovariance
    factor_returns_ : DataFrame
        Periods x factors (``method="attributes"``).
    """

    def __init__(
        self,
        method: str = "attributes",
        attributes: Sequence[str] = ("market", "channel"),
        n_factors: int = 2,
        ridge: float = 0.01,
        min_periods: int = 3,
    ) -> None:
        self.method = method
        self.attributes = attributes
        self.n_factors = n_factors
        self.ridge = ridge
        self.min_periods = min_periods

    @property
    def covariance_(self) -> np.ndarray:
        """Dense covariance (built on request from ``factor_model_``)."""
        if not hasattr(self, "factor_model_"):
            raise AttributeError("covariance_ (FactorModel is not fitted yet)")
        return self.factor_model_.to_dense().to_numpy()

    def fit(self, X: object, y: object = None, *, assets: pd.DataFrame | None = None):
        """Fit on a periods x assets matrix of returns (NaN allowed).

        Parameters
        ----------
        X : DataFrame or array
            Returns.
        y : None
            Ignored.
        assets : DataFrame, optional
            Asset attributes indexed by asset id (needed for ``method="attributes"``).

        Returns
        -------
        self
        """
        frame = as_returns_frame(X)
        self._set_labels(frame)
        _check_counts(frame, max(2, int(self.min_periods)), "FactorModel")
        z, mean, sd = _standardize(frame)
        obs = frame.notna().to_numpy()
        ids = frame.columns
        if self.method == "attributes":
            b, names = self._dummies(frame, assets)
            k = b.shape[1]
            lam = float(self.ridge) * max(1, len(ids)) / max(k, 1)
            f = np.full((len(frame), k), np.nan)
            resid = np.full(z.shape, np.nan)
            for t in range(len(frame)):
                o = obs[t]
                if not o.any():
                    continue
                bt = b[o]
                f[t] = np.linalg.solve(bt.T @ bt + lam * np.eye(k), bt.T @ z[t, o])
                resid[t, o] = z[t, o] - bt @ f[t]
            keep = ~np.isnan(f).any(axis=1)
            if keep.sum() < 2:
                raise EstimationError("FactorModel: fewer than 2 periods with observations.")
            omega = np.cov(f[keep], rowvar=False).reshape(k, k)
            n_i = obs.sum(axis=0)
            psi = np.nansum(resid**2, axis=0) / np.maximum(n_i - 1, 1)
            self.factor_returns_ = pd.DataFrame(f, index=frame.index, columns=names)
        elif self.method == "pca":
            corr = pd.DataFrame(z).where(obs).corr(min_periods=int(self.min_periods))
            corr = corr.fillna(0.0).to_numpy().copy()
            np.fill_diagonal(corr, 1.0)
            corr, _ = nearest_psd(corr)
            k = int(self.n_factors)
            if not 1 <= k < len(ids):
                raise EstimationError(
                    f"FactorModel: n_factors must be between 1 and n_assets - 1 = "
                    f"{len(ids) - 1}; got {self.n_factors}."
                )
            vals, vecs = np.linalg.eigh(corr)
            order = np.argsort(vals)[::-1][:k]
            b = vecs[:, order] * np.sqrt(np.clip(vals[order], 0.0, None))
            names = [f"pc{j + 1}" for j in range(k)]
            omega = np.eye(k)
            psi = 1.0 - np.sum(b**2, axis=1)
        else:
            raise EstimationError(
                f"FactorModel: method must be 'attributes' or 'pca'; got {self.method!r}."
            )
        psi = np.clip(psi, 1e-3, None)
        omega, _ = nearest_psd((omega + omega.T) / 2)
        self.factor_model_ = FactorCovariance(
            loadings=pd.DataFrame(b * sd[:, None], index=ids, columns=names),
            factor_covariance=pd.DataFrame(omega, index=names, columns=names),
            specific_variance=pd.Series(psi * sd**2, index=ids),
        )
        self.location_ = mean
        return self

    def _dummies(self, frame: pd.DataFrame, assets: pd.DataFrame | None):
        if assets is None:
            raise EstimationError(
                "FactorModel(method='attributes') needs the asset attributes: "
                "fit(returns, assets=asset_table(history)), or use method='pca'."
            )
        missing = frame.columns.difference(assets.index)
        if len(missing):
            raise EstimationError(
                f"FactorModel: no attributes for assets {format_labels(missing)}."
            )
        unknown = [a for a in self.attributes if a not in assets.columns]
        if unknown:
            raise EstimationError(
                f"FactorModel: unknown attribute(s) {format_labels(unknown)}; the assets "
                f"table has {format_labels(assets.columns)}."
            )
        cols, names = [], []
        attrs = assets.loc[frame.columns]
        for a in self.attributes:
            vals = attrs[a].astype(object).where(attrs[a].notna(), "(none)").astype(str)
            for lev in sorted(vals.unique()):
                cols.append((vals == lev).to_numpy(float))
                names.append(f"{a}:{lev}")
        return np.column_stack(cols), names


class MissingDataCovariance(_CovarianceBase):
    """Fit any scikit-learn covariance estimator on returns with missing periods.

    With no NaN the wrapped estimator sees the returns unchanged (the result equals the
    estimator's own). Otherwise, by ``missing``:

    - ``"rescale"`` (default): standardise each asset on its observed periods, set missing
      entries to 0, fit the estimator, turn its matrix into a correlation, and rescale by
      the observed standard deviations. Variances stay those of the observed data (a new
      creator does not look safe because it is new); correlations of sparse pairs shrink
      toward 0.
    - ``"mean"``: fill missing entries with the asset's mean (variances shrink with the
      share missing).
    - ``"complete"``: keep only the periods where every asset was observed.

    Parameters
    ----------
    estimator : object
        Anything with ``fit(X)`` and ``covariance_`` (cloned, never modified).
    missing : {"rescale", "mean", "complete"}, default "rescale"
    min_periods : int, default 3
        Fewest observed periods per asset.

    Attributes
    ----------
    covariance_ : ndarray
    estimator_ : object
        The fitted clone.
    """

    def __init__(self, estimator: Any = None, missing: str = "rescale", min_periods: int = 3):
        self.estimator = estimator
        self.missing = missing
        self.min_periods = min_periods

    def fit(self, X: object, y: object = None):
        """Fit on a periods x assets matrix of returns (NaN allowed).

        Parameters
        ----------
        X : DataFrame or array
            Returns.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        if self.estimator is None or not hasattr(self.estimator, "fit"):
            raise EstimationError(
                "MissingDataCovariance: estimator must have fit(X) and covariance_, e.g. "
                "sklearn.covariance.LedoitWolf()."
            )
        if self.missing not in ("rescale", "mean", "complete"):
            raise EstimationError(
                f"MissingDataCovariance: missing must be 'rescale', 'mean' or 'complete'; "
                f"got {self.missing!r}."
            )
        frame = as_returns_frame(X)
        self._set_labels(frame)
        _check_counts(frame, max(2, int(self.min_periods)), "MissingDataCovariance")
        try:
            est = clone(self.estimator)
        except (TypeError, RuntimeError):
            est = copy.deepcopy(self.estimator)
        vals = frame.to_numpy()
        nan = np.isnan(vals)
        if not nan.any():
            cov = self._fit_one(est, vals)
        elif self.missing == "complete":
            rows = ~nan.any(axis=1)
            if rows.sum() < 2:
                raise EstimationError(
                    f"MissingDataCovariance: only {int(rows.sum())} period(s) have every asset "
                    "observed; use missing='rescale' (the default) instead of 'complete'."
                )
            cov = self._fit_one(est, vals[rows])
        elif self.missing == "mean":
            cov = self._fit_one(est, np.where(nan, np.nanmean(vals, axis=0), vals))
        else:
            z, _, sd = _standardize(frame)
            c = self._fit_one(est, z)
            dg = np.sqrt(np.clip(np.diag(c), 1e-300, None))
            corr = c / np.outer(dg, dg)
            sd_obs = np.nanstd(vals, axis=0, ddof=0)
            cov = corr * np.outer(sd_obs, sd_obs)
        self.estimator_ = est
        self.covariance_ = (cov + cov.T) / 2
        return self

    @staticmethod
    def _fit_one(est: Any, x: np.ndarray) -> np.ndarray:
        try:
            est.fit(x)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            raise EstimationError(
                f"covariance estimator {type(est).__name__} failed on the returns matrix "
                f"({x.shape[0]} periods x {x.shape[1]} assets): {exc}. Try a shrinkage "
                "estimator such as sklearn.covariance.LedoitWolf()."
            ) from None
        if not hasattr(est, "covariance_"):
            raise EstimationError(
                f"covariance estimator {type(est).__name__} has no covariance_ after fit; it "
                "must follow scikit-learn's protocol (fit(X) then covariance_)."
            )
        cov = np.asarray(est.covariance_, dtype=float)
        if cov.shape != (x.shape[1], x.shape[1]):
            raise EstimationError(
                f"covariance estimator {type(est).__name__} returned covariance_ of shape "
                f"{cov.shape}; expected {(x.shape[1], x.shape[1])}."
            )
        return cov


_BUILTIN = {
    "sample": SampleCovariance,
    "ewma": EWMACovariance,
    "factor": FactorModel,
    "pca": lambda: FactorModel(method="pca"),
}


def fit_covariance(
    returns: pd.DataFrame,
    estimator: Any = "sample",
    *,
    assets: pd.DataFrame | None = None,
    missing: str = "rescale",
    min_periods: int = 3,
) -> pd.DataFrame | FactorCovariance:
    """Fit a covariance estimator on gappy returns; the result is labelled by asset.

    Parameters
    ----------
    returns : DataFrame
        Periods x assets, NaN where unobserved (:func:`returns_matrix`).
    estimator : str or object, default "sample"
        ``"sample"`` (:class:`SampleCovariance`), ``"ewma"`` (:class:`EWMACovariance`),
        ``"factor"`` (:class:`FactorModel` by market and channel), ``"pca"`` (two
        statistical factors), or any object with ``fit(X)`` and ``covariance_`` (e.g.
        ``sklearn.covariance.LedoitWolf()``), fitted through :class:`MissingDataCovariance`
        unless it is one of the built-ins (which handle NaN themselves).
    assets : DataFrame, optional
        Asset attributes (for ``"factor"``).
    missing : {"rescale", "mean", "complete"}, default "rescale"
        How a third-party estimator sees missing entries (see
        :class:`MissingDataCovariance`).
    min_periods : int, default 3
        Fewest observed periods per asset.

    Returns
    -------
    DataFrame or FactorCovariance
        Asset x asset covariance of per-unit returns (a ``FactorCovariance`` for factor
        models).

    Examples
    --------
    >>> from sklearn.covariance import LedoitWolf
    >>> X = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=list("abc"))
    >>> fit_covariance(X, LedoitWolf()).shape
    (3, 3)
    """
    frame = as_returns_frame(returns)
    if isinstance(estimator, str):
        if estimator not in _BUILTIN:
            raise EstimationError(
                f"unknown covariance {estimator!r}; use one of {format_labels(_BUILTIN)} or "
                "an estimator with fit(X) and covariance_ (e.g. LedoitWolf())."
            )
        est = _BUILTIN[estimator]()
        est.set_params(min_periods=min_periods)
    else:
        est = estimator
    if isinstance(est, (SampleCovariance, EWMACovariance, FactorModel)):
        est = clone(est)
        if isinstance(est, FactorModel):
            est.fit(frame, assets=assets)
            return est.factor_model_
        est.fit(frame)
    else:
        est = MissingDataCovariance(est, missing=missing, min_periods=min_periods).fit(frame)
    return pd.DataFrame(est.covariance_, index=frame.columns, columns=frame.columns)
