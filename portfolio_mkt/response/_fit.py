"""Fitting response curves with carryover from history, with standard errors and pooling.

Model for one asset with spend ``x_t`` and outcome ``y_t`` per period (oldest first)::

    y_t = c + r(a_t) + e_t,      a = adstock(x)

where ``r`` is a curve family, ``a`` the adstocked spend and ``c`` an optional intercept. The
parameters (adstock and curve) are estimated by bounded non-linear least squares
(``scipy.optimize.least_squares``, trust-region reflective), in the asset's own units, with
``x_scale`` set from the data so the problem is well conditioned whatever the currency.

Pooling: with ``prior_params`` (for example the group's typical parameters) and
``pool_strength = lambda > 0``, the fit minimises::

    sum_t ((y_t - yhat_t) / s)^2 + lambda * sum_p d_p^2

where ``s`` is the residual scale (``noise_scale``; :func:`fit_response_curves` uses each
asset's own residual standard deviation, so ``lambda`` is a prior precision on the log scale)
and ``d_p`` the distance of parameter ``p`` from its prior: ``log(theta_p / prior_p)`` for
positive parameters, ``theta_p - prior_p`` for adstock retention ``alpha``. The penalty
dominates for an asset with a few periods and fades as data accumulate or as noise vanishes.

Standard errors come from the Jacobian at the optimum: ``cov = s^2 (J'J)^-1`` with ``s^2`` the
residual variance (Gauss–Newton / delta method); with pooling the penalty rows act as a prior.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.optimize import least_squares
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..exceptions import EstimationError, InputError, format_labels
from ._adstock import Adstock, GeometricAdstock, WeibullAdstock
from ._curves import CURVE_FAMILIES, Curve

__all__ = ["ResponseCurveRegressor", "ResponseFit", "fit_response_curves"]

# unit-space starting point and bounds per parameter name (spend / mean spend, outcome / mean)
_UNIT_INIT = {"k": 1.0, "lam": 1.0, "slope": 1.5, "alpha": 0.5}
_UNIT_BOUNDS = {
    "beta": (1e-8, 1e4),
    "k": (1e-3, 1e3),
    "lam": (1e-3, 1e3),
    "slope": (0.1, 10.0),
    "alpha": (0.01, 1.0),
}
_ADSTOCK_SPECS = {
    "geometric": (("alpha",), {"alpha": 0.3}, {"alpha": (0.0, 0.95)}),
    "weibull_cdf": (("shape", "scale"), {"shape": 1.0, "scale": 2.0}, {"shape": (0.1, 10.0)}),
    "weibull_pdf": (("shape", "scale"), {"shape": 2.0, "scale": 2.0}, {"shape": (0.1, 10.0)}),
}


def _make_adstock(kind: str, values: Mapping[str, float], l_max: int, normalize: bool) -> Adstock:
    if kind == "geometric":
        return GeometricAdstock(min(values["alpha"], 0.999999), l_max, normalize)
    return WeibullAdstock(
        values["shape"], values["scale"], l_max, kind.split("_")[1], normalize
    )


class ResponseCurveRegressor(RegressorMixin, BaseEstimator):
    """Fit a response curve with carryover to one asset's history (scikit-learn estimator).

    Parameters
    ----------
    curve : str, default "hill"
        Curve family: ``"linear"``, ``"log"``, ``"exponential"``, ``"michaelis_menten"``,
        ``"power"``, ``"hill"`` or ``"logistic"``.
    adstock : str, Adstock or None, default "geometric"
        ``"geometric"``, ``"weibull_cdf"`` or ``"weibull_pdf"`` (parameters fitted), an
        :class:`Adstock` instance (kept fixed), or ``None`` (no carryover).
    l_max : int, default 8
        Lags of a fitted adstock.
    normalize : bool, default True
        Whether a fitted adstock's weights sum to one.
    fit_intercept : bool, default False
        Add a constant baseline ``c`` (outcome units) to the model.
    bounds : dict, optional
        Parameter name -> ``(low, high)`` in the asset's units, overriding the defaults
        (for example ``{"slope": (1.0, 3.0), "alpha": (0.0, 0.5)}``).
    prior_params : dict, optional
        Parameter name -> value to pool toward (asset units), e.g. the group's parameters.
    pool_strength : float, default 0.0
        Weight ``lambda`` of the pooling penalty (see the module docstring).
    n_starts : int, default 3
        Number of starting points (different saturation scales); the best fit is kept.
    warmup : int, default 0
        Leading periods whose outcome is left out of the fit (their spend still carries
        over). A history that starts mid-stream has carryover from spend before its first
        period that the model cannot see; fitting those periods as if that spend were zero
        biases the saturation scale down (by 10-30% on the simulator with no noise at all, more
        for short histories). :func:`fit_response_curves` uses ``l_max - 1``.

    Attributes
    ----------
    curve_ : Curve
        Fitted curve of the adstocked spend (asset units).
    adstock_ : Adstock or None
        Fitted (or given) adstock.
    params_ : dict
        Parameter name -> estimate (adstock, curve, and ``intercept`` if fitted).
    standard_errors_ : dict
        Parameter name -> standard error.
    param_covariance_ : pd.DataFrame
        Covariance of the estimates.
    information_ : pd.DataFrame
        Fisher information of the data alone (``J'J / s^2`` over the data rows, no prior);
        :meth:`sample_curves` combines it with a prior precision of its own.
    n_periods_ : int
        Periods used.
    warmup_ : int
        Leading periods left out (``warmup``, or 0 when too few periods would remain).
    rmse_ : float
        Root mean squared residual (outcome units).
    spend_scale_, outcome_scale_ : float
        Mean positive spend and mean absolute outcome (the internal units).

    Examples
    --------
    >>> import numpy as np
    >>> from portfolio_mkt.response import Logistic, GeometricAdstock
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 2, 100)
    >>> y = Logistic(5.0, 1.2).value(GeometricAdstock(0.4, 6).transform(x))
    >>> est = ResponseCurveRegressor(curve="logistic", l_max=6).fit(x, y)
    >>> round(est.params_["lam"], 3), round(est.params_["alpha"], 3)
    (1.2, 0.4)
    """

    def __init__(
        self,
        curve: str = "hill",
        adstock: str | Adstock | None = "geometric",
        l_max: int = 8,
        normalize: bool = True,
        fit_intercept: bool = False,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        prior_params: Mapping[str, float] | None = None,
        pool_strength: float = 0.0,
        n_starts: int = 3,
        warmup: int = 0,
        noise_scale: float | None = None,
    ) -> None:
        self.curve = curve
        self.adstock = adstock
        self.l_max = l_max
        self.normalize = normalize
        self.fit_intercept = fit_intercept
        self.bounds = bounds
        self.prior_params = prior_params
        self.pool_strength = pool_strength
        self.n_starts = n_starts
        self.warmup = warmup
        self.noise_scale = noise_scale

    # -- validation ---------------------------------------------------------------------------
    @staticmethod
    def _spend(X: Any) -> np.ndarray:
        x = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=float)
        if x.ndim == 2:
            if x.shape[1] != 1:
                raise InputError(
                    f"ResponseCurveRegressor fits one asset: X must have one column (spend), "
                    f"got {x.shape[1]}; use fit_response_curves for many assets."
                )
            x = x[:, 0]
        if x.ndim != 1:
            raise InputError(f"X must be 1-D or (n_periods, 1), got shape {x.shape}.")
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
            raise InputError(
                f"spend must be finite and >= 0; bad values in rows {bad[:8].tolist()}; "
                "fill missing periods with 0 spend or drop them."
            )
        return x

    def _layout(self) -> tuple[type[Curve], list[str], str | None, list[str]]:
        cls = CURVE_FAMILIES.get(str(self.curve).lower())
        if cls is None:
            raise InputError(
                f"unknown curve {self.curve!r}; use one of {', '.join(sorted(CURVE_FAMILIES))}."
            )
        cnames = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        if self.adstock is None or isinstance(self.adstock, Adstock):
            kind, anames = None, []
        elif self.adstock in _ADSTOCK_SPECS:
            kind = str(self.adstock)
            anames = list(_ADSTOCK_SPECS[kind][0])
        else:
            raise InputError(
                f"unknown adstock {self.adstock!r}; use 'geometric', 'weibull_cdf', "
                "'weibull_pdf', an Adstock instance or None."
            )
        if kind is not None and "alpha" in cnames:
            raise InputError(
                "curve 'power' and a fitted 'geometric' adstock both have a parameter 'alpha'; "
                "pass a fixed GeometricAdstock instance or another curve."
            )
        return cls, cnames, kind, anames

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> ResponseCurveRegressor:
        """Fit the curve and carryover to spend ``X`` and outcome ``y`` (periods in order).

        Parameters
        ----------
        X : array-like of shape (n_periods,) or (n_periods, 1)
            Spend per period, oldest first.
        y : array-like of shape (n_periods,)
            Outcome per period. ``NaN`` marks a period whose outcome is unknown: it is left out
            of the fit, but its spend still carries over into later periods.

        Returns
        -------
        self
        """
        cls, cnames, kind, anames = self._layout()
        x = self._spend(X)
        yv = np.asarray(y, dtype=float).reshape(-1)
        if yv.shape[0] != x.shape[0]:
            raise InputError(
                f"X has {x.shape[0]} periods but y has {yv.shape[0]}; pass one outcome per period."
            )
        if np.any(np.isinf(yv)):
            raise InputError(
                f"outcome has infinite values in rows {np.flatnonzero(np.isinf(yv))[:8].tolist()}"
                "; fix or drop those periods."
            )
        seen = ~np.isnan(yv)  # periods with unknown outcome still carry spend into the adstock
        warm = int(self.warmup)
        if warm < 0:
            raise InputError(f"warmup must be >= 0 periods, got {self.warmup!r}.")
        applied = 0
        if warm and seen[warm:].sum() >= 8:  # too short a history keeps every period
            seen[:warm] = False  # carryover from before the data is unknown
            applied = warm
        if not np.any(x > 0):
            raise EstimationError(
                "spend is zero in every period: a response curve cannot be fitted; "
                "give the asset a prior curve instead."
            )
        lam = float(self.pool_strength)
        if not np.isfinite(lam) or lam < 0:
            raise InputError(f"pool_strength must be >= 0, got {self.pool_strength!r}.")
        sx = float(x[x > 0].mean())
        if seen.sum() < 2:
            raise EstimationError(
                f"only {int(seen.sum())} periods have a known outcome; a response curve needs "
                "more history (or pool the asset toward its group with a prior curve)."
            )
        sy = float(np.abs(yv[seen]).mean()) or 1.0
        if self.noise_scale is None:
            sr = sy
        else:
            sr = float(self.noise_scale)
            if not np.isfinite(sr) or sr <= 0:
                raise InputError(f"noise_scale must be > 0 (outcome units); got "
                                 f"{self.noise_scale!r}.")
        names = anames + cnames + (["intercept"] if self.fit_intercept else [])
        prior = dict(self.prior_params or {})
        unknown = sorted(set(prior) - set(names)) + sorted(set(self.bounds or {}) - set(names))
        if unknown:
            raise InputError(
                f"unknown parameter names {format_labels(unknown)}; this model has {names}."
            )
        lo, hi, starts = self._bounds_and_starts(cls, cnames, kind, anames, x, yv[seen], sx,
                                                 sy)
        fixed_adstock = self.adstock if isinstance(self.adstock, Adstock) else None
        l_max, normalize = int(self.l_max), bool(self.normalize)
        prior_idx = [names.index(p) for p in prior]
        prior_val = np.array([float(prior[p]) for p in prior])
        logp = np.array([names[i] not in ("alpha", "intercept") for i in prior_idx], dtype=bool)
        if np.any(prior_val[logp] <= 0):
            raise InputError("prior_params for positive parameters must be > 0.")

        def unpack(theta: np.ndarray) -> tuple[Adstock | None, Curve, float]:
            vals = dict(zip(names, theta, strict=True))
            if kind is not None:
                ad = _make_adstock(kind, vals, l_max, normalize)
            else:
                ad = fixed_adstock
            cv = cls(**{n: vals[n] for n in cnames})
            return ad, cv, float(vals.get("intercept", 0.0))

        def predict(theta: np.ndarray) -> np.ndarray:
            ad, cv, c = unpack(theta)
            a = x if ad is None else ad.transform(x)
            return c + cv.value(a)

        sq = np.sqrt(lam)

        def residuals(theta: np.ndarray) -> np.ndarray:
            r = (yv[seen] - predict(theta)[seen]) / sr
            if prior_idx and lam > 0:
                t = theta[prior_idx]
                d = np.where(logp, np.log(np.maximum(t, 1e-300) / np.where(logp, prior_val, 1)),
                             t - prior_val)
                r = np.concatenate([r, sq * d])
            return r

        best = None
        scale = np.maximum(np.abs(starts[0]), 1e-8)
        for theta0 in starts:
            try:
                res = least_squares(
                    residuals, np.clip(theta0, lo, hi), bounds=(lo, hi), x_scale=scale,
                    method="trf", xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=400,
                )
            except (ValueError, FloatingPointError):  # pragma: no cover - defensive
                continue
            if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
                best = res
        if best is None:
            raise EstimationError(
                f"the {self.curve!r} curve could not be fitted (every start failed); try "
                "another family, wider bounds or pooling toward a group prior."
            )
        theta = best.x
        n = int(seen.sum())
        p = len(theta)
        data_res = best.fun[:n]
        dof = max(n - p, 1)
        s2 = float(data_res @ data_res) / dof
        jac = np.asarray(best.jac)
        cov = s2 * np.linalg.pinv(jac.T @ jac)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        jd = jac[:n]
        self.information_ = pd.DataFrame(jd.T @ jd / max(s2, 1e-300), index=names,
                                         columns=names)
        ad, cv, _ = unpack(theta)
        self.adstock_ = ad
        self.curve_ = cv
        self.params_ = {k: float(v) for k, v in zip(names, theta, strict=True)}
        self.standard_errors_ = {k: float(v) for k, v in zip(names, se, strict=True)}
        self.param_covariance_ = pd.DataFrame(cov, index=names, columns=names)
        span = hi - lo
        self.at_bound_ = {
            k: bool(min(t - a, b - t) <= 1e-6 * (s if np.isfinite(s) else max(abs(t), 1.0)))
            for k, t, a, b, s in zip(names, theta, lo, hi, span, strict=True)
        }
        self.n_periods_ = n
        self.warmup_ = applied
        self.rmse_ = float(np.sqrt(np.mean((data_res * sr) ** 2)))
        self.spend_scale_ = sx
        self.outcome_scale_ = sy
        self.n_features_in_ = 1
        self.converged_ = bool(best.success)
        return self

    def _bounds_and_starts(
        self,
        cls: type[Curve],
        cnames: list[str],
        kind: str | None,
        anames: list[str],
        x: np.ndarray,
        y: np.ndarray,
        sx: float,
        sy: float,
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        user = dict(self.bounds or {})
        lo: list[float] = []
        hi: list[float] = []
        base: list[float] = []
        if kind is not None:
            _, init, bnd = _ADSTOCK_SPECS[kind]
            for a in anames:
                b = bnd.get(a, (0.1, float(self.l_max)))
                lo.append(b[0])
                hi.append(b[1])
                base.append(init[a])
        ymax = float(np.max(np.abs(y))) / sy or 1.0
        # unit-space curve start, mapped to the asset's units through Curve.transform
        unit = {}
        for c in cnames:
            if c == "beta":
                unit[c] = 2.0 * ymax if cls.family not in ("linear", "log", "power") else ymax
            else:
                unit[c] = _UNIT_INIT[c]
        unit_curve = cls(**unit)
        start_curve = unit_curve.transform(1.0 / sx, 1.0 / sy)
        cvals = start_curve.params
        for c in cnames:
            b = _UNIT_BOUNDS[c]
            # transform unit bounds to asset units by the same factor as the start
            fac = cvals[c] / unit[c]
            if c in ("slope", "alpha"):
                lo.append(b[0])
                hi.append(b[1])
            else:
                lo.append(b[0] * fac)
                hi.append(b[1] * fac)
            base.append(cvals[c])
        if self.fit_intercept:
            lo.append(-np.inf)
            hi.append(np.inf)
            base.append(float(np.min(y)))
        names = anames + cnames + (["intercept"] if self.fit_intercept else [])
        for k, (a, b) in user.items():
            i = names.index(k)
            if not a < b:
                raise InputError(f"bounds for {k!r} must satisfy low < high, got ({a}, {b}).")
            lo[i], hi[i] = float(a), float(b)
        lo_a, hi_a = np.array(lo), np.array(hi)
        base_a = np.clip(np.array(base), lo_a, hi_a)
        # starting points: spread the saturation scale (k or lam) over a decade each way
        starts = [base_a]
        sat = [i for i, nme in enumerate(names) if nme in ("k", "lam")]
        for f in (0.3, 3.0, 0.1, 10.0)[: max(int(self.n_starts) - 1, 0)]:
            t = base_a.copy()
            for i in sat:
                t[i] = t[i] * (f if names[i] == "k" else 1.0 / f)
            starts.append(np.clip(t, lo_a, hi_a))
        prior = dict(self.prior_params or {})
        if prior:
            t = base_a.copy()
            for k, v in prior.items():
                t[names.index(k)] = float(v)
            starts.append(np.clip(t, lo_a, hi_a))
        return lo_a, hi_a, starts

    # -- use ----------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Predicted outcome per period for spend ``X`` (history before ``X`` counts as 0)."""
        check_is_fitted(self, "curve_")
        x = self._spend(X)
        a = x if self.adstock_ is None else self.adstock_.transform(x)
        return self.params_.get("intercept", 0.0) + self.curve_.value(a)

    def summary(self) -> pd.DataFrame:
        """Table of estimates with standard errors, 95% intervals and bound flags."""
        check_is_fitted(self, "curve_")
        est = pd.Series(self.params_)
        se = pd.Series(self.standard_errors_)
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                "lower_95": est - 1.96 * se,
                "upper_95": est + 1.96 * se,
                "at_bound": pd.Series(self.at_bound_),
            }
        )

    def to_curve(self, horizon: int = 1, value: str = "total") -> Curve:
        """The curve to plan with: outcome of a budget spent evenly over ``horizon`` periods.

        Parameters
        ----------
        horizon : int, default 1
            Periods in the planning window (e.g. 13 weeks for a quarter of weekly data).
        value : {"total", "in_window"}, default "total"
            ``"total"`` values spend at its whole effect, including what lands after the window
            (so delayed channels are not undervalued); ``"in_window"`` keeps only the share
            ``f(H)`` landing inside the window (``adstock_.in_window_share(horizon)``).

        Returns
        -------
        Curve
            ``c(X) = H * r(S * X / H)`` where ``S`` is the adstock's total effect per unit of
            spend (1 when normalised) — the steady-state response — times ``f(H)`` for
            ``"in_window"``. The family is preserved, so exact conic forms stay exact.
        """
        check_is_fitted(self, "curve_")
        return _planning_curve(self.adstock_, self.curve_, horizon, value)

    def sample_curves(self, n_draws: int = 200, horizon: int = 1, value: str = "total",
                      random_state: int | np.random.Generator | None = 0,
                      inflate: float = 1.0,
                      prior_precision: Mapping[str, float] | None = None) -> list[Curve]:
        """Planning curves for draws of the parameters (Laplace approximation).

        The estimates are approximately normal with covariance ``param_covariance_`` (from
        the Jacobian); positive parameters are drawn on the log scale (delta method) so every
        draw is a valid curve, the adstock retention on its own scale, clipped to its bounds.

        Parameters
        ----------
        n_draws : int, default 200
        horizon, value : see :meth:`to_curve`
        random_state : int, Generator or None, default 0
        inflate : float, default 1.0
            Multiplier of the covariance (e.g. ``(1 + rho) / (1 - rho)`` for residuals with
            lag-1 autocorrelation ``rho``, which the Jacobian ignores).
        prior_precision : mapping, optional
            Parameter name -> prior precision on the draw scale (log scale for positive
            parameters). When given, the draws use the data's information
            (``information_ / inflate``) plus this prior instead of ``param_covariance_``
            (whose prior is the pooling penalty): an honest prior spread (e.g. the spread of
            the parameters across a group) rather than the pooling strength chosen for the
            point estimate.

        Returns
        -------
        list of Curve
        """
        check_is_fitted(self, "curve_")
        rng = np.random.default_rng(random_state)
        _, cnames, kind, anames = self._layout()
        names = list(self.params_)
        theta = np.array([self.params_[k] for k in names])
        cov = self.param_covariance_.loc[names, names].to_numpy() * float(inflate)
        logp = np.array([k not in ("alpha", "intercept") or (k == "alpha" and kind is None)
                         for k in names]) & (theta > 0)
        jac = np.where(logp, 1.0 / np.where(logp, theta, 1.0), 1.0)
        cov_t = cov * jac[:, None] * jac[None, :]
        if prior_precision is not None:
            info = self.information_.loc[names, names].to_numpy() / float(inflate)
            d = np.where(logp, theta, 1.0)  # d theta / d (draw scale)
            info_t = info * d[:, None] * d[None, :]
            prec = np.array([float(prior_precision.get(k, 0.0)) for k in names])
            cov_t = np.linalg.pinv(info_t + np.diag(prec))
        cov_t = (cov_t + cov_t.T) / 2
        w, v = np.linalg.eigh(cov_t)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        center = np.where(logp, np.log(np.where(logp, theta, 1.0)), theta)
        z = rng.standard_normal((int(n_draws), len(names))) @ root.T + center
        draws = np.where(logp, np.exp(np.clip(z, -700, 700)), z)
        out = []
        cls = type(self.curve_)
        for row in draws:
            vals = dict(zip(names, row, strict=True))
            if kind is not None:
                for a in anames:
                    lo, hi = _ADSTOCK_SPECS[kind][2].get(a, (0.1, float(self.l_max)))
                    vals[a] = float(np.clip(vals[a], lo, hi))
                ad = _make_adstock(kind, vals, int(self.l_max), bool(self.normalize))
            else:
                ad = self.adstock_
            cv = cls(**{c: vals[c] for c in cnames})
            out.append(_planning_curve(ad, cv, horizon, value))
        return out


def _planning_curve(adstock: Adstock | None, curve: Curve, horizon: int, value: str) -> Curve:
    h = int(horizon)
    if h < 1:
        raise InputError(f"horizon must be a positive number of periods, got {horizon!r}.")
    total = 1.0 if adstock is None else adstock.total_effect()
    c = curve.transform(total, 1.0).transform(1.0 / h, 1.0 / h)
    if value == "total":
        return c
    if value == "in_window":
        share = 1.0 if adstock is None else adstock.in_window_share(h)
        return c.scale_output(share)
    raise InputError(f"value must be 'total' or 'in_window', got {value!r}.")


@dataclass
class ResponseFit:
    """Curves fitted to many assets (result of :func:`fit_response_curves`).

    Attributes
    ----------
    curves : dict
        Asset id -> planning curve (``estimator.to_curve(horizon, value)``), ready for
        ``Problem(response=...)``.
    estimators : dict
        Asset id -> fitted :class:`ResponseCurveRegressor` (pooled where pooling applied).
    params : pd.DataFrame
        One row per asset and parameter: ``asset, group, param, estimate, std_error,
        unpooled, n_periods``.
    group_priors : pd.DataFrame
        Group-level parameters in unit space (spend / mean spend, outcome / mean outcome).
    unpooled : dict
        Asset id -> the asset's own fit before pooling.
    pool_strength : float
        The pooling strength used (chosen by cross-validation with ``pool_strength="cv"``).
    cv : pd.DataFrame or None
        Hold-out error per strength tried (``pool_strength="cv"`` only).
    residuals : pd.DataFrame
        Periods x assets: observed outcome minus the fitted curve (NaN where the outcome is
        unknown or in the warm-up) - the co-movement the model leaves unexplained.
    spend : pd.DataFrame
        Periods x assets spend the curves were fitted on (0 in unrecorded periods inside an
        asset's history, NaN outside it).
    horizon : int
        Periods per plan of the planning curves.
    value : str
        ``"total"`` or ``"in_window"`` (see :meth:`ResponseCurveRegressor.to_curve`).
    prior_spread : dict
        Parameter -> spread of the well-identified assets' own estimates around the
        all-assets level (log scale for positive parameters; robust: 1.4826 x weighted
        median absolute deviation, at least 0.1, 0.05 for ``alpha``) - the prior
        uncertainty the parameter draws use (:func:`portfolio_mkt.estimation.curve_draws`).
    """

    curves: dict[Any, Curve]
    estimators: dict[Any, ResponseCurveRegressor]
    params: pd.DataFrame
    group_priors: pd.DataFrame = field(default_factory=pd.DataFrame)
    unpooled: dict[Any, ResponseCurveRegressor] = field(default_factory=dict)
    pool_strength: float = 1.0
    cv: pd.DataFrame | None = None
    residuals: pd.DataFrame = field(default_factory=pd.DataFrame)
    spend: pd.DataFrame = field(default_factory=pd.DataFrame)
    horizon: int = 1
    value: str = "total"
    prior_spread: dict = field(default_factory=dict)


def _unit_params(est: ResponseCurveRegressor) -> dict[str, float]:
    """Parameters with the curve in unit space (comparable across assets of a group)."""
    out = {k: v for k, v in est.params_.items() if k not in est.curve_.params}
    unit = est.curve_.transform(est.spend_scale_, est.outcome_scale_).params
    out.update(unit)
    out.pop("intercept", None)
    return out


def fit_response_curves(
    data: pd.DataFrame,
    curve: str = "hill",
    adstock: str | Adstock | None = "geometric",
    group: str | Sequence[str] | None = None,
    pool_strength: float | str = 1.0,
    min_periods: int = 26,
    horizon: int = 1,
    value: str = "total",
    n_jobs: int | None = None,
    warmup: int | str = "auto",
    pool_grid: Sequence[float] = (1.0, 3.0, 10.0),
    cv_fraction: float = 0.2,
    global_weight: float = 1.0,
    period: str = "period",
    asset: str = "asset",
    spend: str = "spend",
    outcome: str = "outcome",
    **estimator_params: Any,
) -> ResponseFit:
    """Fit a response curve per asset from a long history, pooling toward each asset's group.

    Steps: (1) fit every asset on its own (leaving out the warm-up periods); (2) per group,
    the group prior is the precision-weighted median of the unit-space parameters (spend as a
    multiple of the asset's own mean spend, outcome of its own mean outcome) of its assets with
    at least ``min_periods`` periods (all assets if none qualify), blended with the same median
    over all assets (``global_weight``); (3) refit every asset with a penalty
    of weight ``pool_strength`` toward that prior, converted to the asset's own units (see
    :class:`ResponseCurveRegressor`). Assets with little data end near the group's shape scaled
    to their own spend and outcome level; assets with much data barely move.

    Parameters
    ----------
    data : pd.DataFrame
        Long table with one row per period and asset.
    curve, adstock : see :class:`ResponseCurveRegressor`
    group : str or list of str, optional
        Column(s) defining the groups (e.g. ``"channel"`` or ``["market", "channel"]``), constant
        within an asset. ``None``: one group of all assets.
    pool_strength : float or "cv", default 1.0
        Penalty weight; 0 disables pooling. ``"cv"`` picks it from ``pool_grid`` by
        time-ordered cross-validation: each asset's last ``cv_fraction`` of observed outcomes
        is held out, the curves are fitted on the earlier ones at every strength, and the
        strongest pooling whose hold-out error is within one standard error of the best wins
        (the table is kept in ``ResponseFit.cv``).
    min_periods : int, default 26
        Assets with fewer periods do not shape the group prior.
    horizon, value : see :meth:`ResponseCurveRegressor.to_curve`
    n_jobs : int, optional
        Fit assets in parallel with joblib (``-1``: all cores); results do not depend on it.
    warmup : int or "auto", default "auto"
        Leading periods of each asset whose outcome is not fitted because carryover from
        spend before the history is unknown (see :class:`ResponseCurveRegressor`);
        ``"auto"``: ``l_max - 1`` with carryover, 0 without.
    pool_grid : sequence of float, default (1, 3, 10)
        Strengths tried by ``pool_strength="cv"``. 0 is not in the default grid: the hold-out
        error barely sees a saturation scale the data do not identify, and without any
        pooling such a scale runs to its bound (a straight line that takes the whole budget);
        any positive strength pins it to the prior.
    global_weight : float, default 1.0
        Weight of the all-assets level in each group's prior, in members (0: the group alone,
        as before).
    cv_fraction : float, default 0.2
        Share of each asset's observed periods held out (the last ones; at least 4, at most
        half).
    period, asset, spend, outcome : str
        Column names.
    **estimator_params
        Passed to :class:`ResponseCurveRegressor` (``l_max``, ``bounds``, ...).

    Returns
    -------
    ResponseFit
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError("data must be a pandas DataFrame in long format (period, asset, ...).")
    groups = [] if group is None else ([group] if isinstance(group, str) else list(group))
    need = [period, asset, spend, outcome, *groups]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise EstimationError(
            f"history is missing columns {format_labels(missing)}; it has "
            f"{format_labels(list(data.columns))}. Rename them or pass the column names."
        )
    df = data[need].sort_values([asset, period])
    if df.duplicated([asset, period]).any():
        dup = df.loc[df.duplicated([asset, period]), [asset, period]].iloc[0].tolist()
        raise EstimationError(
            f"history has several rows for asset {dup[0]!r} in period {dup[1]!r}; aggregate "
            "them (sum spend and outcome) first."
        )
    keys: dict[Any, tuple] = {}
    for a, sub in df.groupby(asset, sort=False):
        if groups:
            uniq = sub[groups].drop_duplicates()
            if len(uniq) > 1:
                raise EstimationError(
                    f"asset {a!r} changes group ({', '.join(groups)}) over time; group columns "
                    "must be constant per asset."
                )
            keys[a] = tuple(uniq.iloc[0].tolist())
        else:
            keys[a] = ("all",)
    # each asset on consecutive periods from its first to its last row: a missing row is a
    # period without spend (it still receives carryover) and with unknown outcome
    all_periods = pd.Index(pd.unique(df[period])).sort_values()
    series = {}
    spans = {}
    for a, sub in df.groupby(asset, sort=False):
        span = all_periods[(all_periods >= sub[period].min()) & (all_periods <= sub[period].max())]
        bad = sub[spend].isna()
        if bad.any():
            raise EstimationError(
                f"asset {a!r} has no spend recorded in period {sub.loc[bad, period].iloc[0]!r}; "
                "fill it (0 if nothing was spent) or drop the row."
            )
        full = sub.set_index(period).reindex(span)
        series[a] = (full[spend].fillna(0.0).to_numpy(float), full[outcome].to_numpy(float))
        spans[a] = span
    params = dict(estimator_params)
    if "warmup" not in params:
        if warmup == "auto":
            lags = int(params.get("l_max", 8)) if adstock is not None else 1
            params["warmup"] = max(lags - 1, 0)
        else:
            params["warmup"] = int(warmup)
    base = ResponseCurveRegressor(curve=curve, adstock=adstock, **params)
    cv_table = None
    strength = pool_strength
    if isinstance(pool_strength, str):
        if pool_strength != "cv":
            raise InputError(
                f"pool_strength must be a number >= 0 or 'cv'; got {pool_strength!r}."
            )
        strength, cv_table = _cv_pool_strength(series, keys, base, min_periods, n_jobs,
                                                pool_grid, cv_fraction, global_weight)
    strength = float(strength)
    if not np.isfinite(strength) or strength < 0:
        raise InputError(f"pool_strength must be >= 0 or 'cv'; got {pool_strength!r}.")
    estimators, unpooled, prior_rows = _fit_pooled(series, keys, base, strength,
                                                   min_periods, n_jobs, global_weight)
    rows = []
    for a, est in estimators.items():
        for p, v in est.params_.items():
            rows.append({
                "asset": a,
                "group": "/".join(map(str, keys[a])),
                "param": p,
                "estimate": v,
                "std_error": est.standard_errors_[p],
                "unpooled": unpooled[a].params_[p],
                "n_periods": est.n_periods_,
            })
    gp = pd.DataFrame(prior_rows).T
    gp.index = ["/".join(map(str, k)) for k in gp.index]
    spread = _prior_spread(unpooled, keys, prior_rows, min_periods)
    resid = {}
    for a, (xs, ys) in series.items():
        est = estimators[a]
        r = ys - est.predict(xs)
        r[: est.warmup_] = np.nan
        resid[a] = pd.Series(r, index=spans[a])
    residuals = pd.DataFrame(resid).reindex(all_periods)
    return ResponseFit(
        curves={a: est.to_curve(horizon, value) for a, est in estimators.items()},
        estimators=estimators,
        params=pd.DataFrame(rows),
        group_priors=gp,
        unpooled=unpooled,
        pool_strength=strength,
        cv=cv_table,
        residuals=residuals,
        spend=pd.DataFrame({a: pd.Series(xs, index=spans[a]) for a, (xs, _) in series.items()}
                           ).reindex(all_periods),
        horizon=int(horizon),
        value=value,
        prior_spread=spread,
    )


def _precision(est: ResponseCurveRegressor) -> dict[str, float]:
    """Weight of each parameter of an asset in the group prior: periods / (1 + rel. SE^2)."""
    out = {}
    for k, v in est.params_.items():
        se = est.standard_errors_.get(k, np.nan)
        ref = 0.25 if k == "alpha" else max(abs(v), 1e-300)
        rel = se / ref if np.isfinite(se) else np.inf
        w = est.n_periods_ / (1.0 + rel**2)
        if est.at_bound_.get(k, False) and k != "alpha":
            w *= 1e-3  # a scale pinned at its bound (curve straight or a step) says little
        out[k] = w
    # the curve's parameters move together (a straight line fixes beta / k, not beta): the
    # curve counts only as much as its least identified parameter
    shape = [k for k in est.curve_.params if k in out and k != "slope"]
    if shape:
        low = min(out[k] for k in shape)
        out.update({k: low for k in shape})
    return out


def _prior_spread(unpooled: dict, keys: dict, prior_rows: dict, min_periods: int) -> dict:
    """Robust spread of the assets' unit-space parameters around the all-assets level.

    Deviations from the all-assets (precision-weighted) median, not from the group prior: a
    group of two assets has a median equal to one of them, which would make the spread look
    like zero.
    """
    out: dict = {}
    assets = [a for a in unpooled if unpooled[a].n_periods_ >= min_periods] or list(unpooled)
    units = {a: _unit_params(unpooled[a]) for a in assets}
    precs = {a: _precision(unpooled[a]) for a in assets}
    for c in prior_rows[keys[assets[0]]]:
        vals = np.array([units[a].get(c, np.nan) for a in assets])
        w = np.array([precs[a].get(c, 0.0) for a in assets])
        ok = np.isfinite(vals) & (w > 0.01 * max(w.max(), 1e-300))
        if ok.sum() < 2:
            continue
        v, wt = vals[ok], w[ok]
        logs = c != "alpha" and bool(np.all(v > 0))
        v = np.log(v) if logs else v
        center = _weighted_median(v, wt)
        mad = _weighted_median(np.abs(v - center), wt)
        out[c] = max(1.4826 * mad, 0.05 if c == "alpha" else 0.1)
    return out


def _noise_scales(unpooled: dict) -> dict:
    """Residual scale per asset for the pooled objective.

    The own fit's residual standard deviation (degrees-of-freedom corrected), floored at a
    quarter of the median relative noise of all assets times the asset's mean outcome (a
    short history fitted almost exactly must not escape its prior), and at ``1e-6`` of its
    mean outcome.
    """
    rel = {}
    for a, est in unpooled.items():
        n, p = est.n_periods_, len(est.params_)
        s = est.rmse_ * np.sqrt(n / max(n - p, 1))
        rel[a] = s / est.outcome_scale_
    floor = 0.25 * float(np.median(list(rel.values())))
    return {a: max(rel[a], floor, 1e-6) * unpooled[a].outcome_scale_ for a in unpooled}


def _group_priors(series: dict, keys: dict, unpooled: dict, min_periods: int,
                  global_weight: float) -> dict:
    """Group priors in unit space, each blended with the all-assets level.

    Unit space: spend as a multiple of the asset's own mean spend and outcome as a multiple of
    its own mean outcome, so a market spending a third as much is compared on the same
    footing (its saturation scale is not pulled toward the big market's money amounts). Within
    a group, the prior is the precision-weighted median (weights: periods / (1 + relative
    SE^2); an asset whose curve is not identified barely counts); it is then blended with the
    same median over all assets, which counts as ``global_weight`` extra members of typical
    precision (geometric blend for positive parameters, weights by total precision), so a
    group whose members are all poorly identified borrows the shape of the whole portfolio.
    """
    unit = {a: _unit_params(unpooled[a]) for a in series}
    prec = {a: _precision(unpooled[a]) for a in series}

    def level(members: list) -> tuple[dict, dict]:
        good = [a for a in members if unpooled[a].n_periods_ >= min_periods] or members
        names = list(unit[good[0]])
        out, weight = {}, {}
        for c in names:
            vals = np.array([unit[a][c] for a in good])
            w = np.array([prec[a].get(c, 1.0) for a in good])
            weight[c] = float(w.sum())
            if not np.any(w > 0):
                w = np.ones(len(good))
            out[c] = _weighted_median(vals, w)
        return out, weight

    everyone = list(series)
    overall, _ = level(everyone)
    typical = {c: float(np.median([prec[a].get(c, 0.0) for a in everyone])) for c in overall}
    prior_rows = {}
    for g in sorted(set(keys.values()), key=str):
        own, weight = level([a for a in series if keys[a] == g])
        row = {}
        for c, v in own.items():
            # the all-assets level counts as `global_weight` members of typical precision
            w0 = float(global_weight) * typical.get(c, 0.0)
            f = weight[c] / (weight[c] + w0) if weight[c] + w0 > 0 else 1.0
            v0 = overall[c]
            if c != "alpha" and v > 0 and v0 > 0:
                row[c] = float(np.exp(f * np.log(v) + (1 - f) * np.log(v0)))
            else:
                row[c] = float(f * v + (1 - f) * v0)
        prior_rows[g] = row
    return prior_rows


def _fit_pooled(series: dict, keys: dict, base: ResponseCurveRegressor, strength: float,
                min_periods: int, n_jobs: int | None, global_weight: float = 1.0,
                unpooled: dict | None = None) -> tuple[dict, dict, dict]:
    """Own fits, group priors in unit space, and the refits pulled toward them."""
    if unpooled is None:
        fitted = Parallel(n_jobs=n_jobs)(
            delayed(_fit_one)(a, clone(base), xs, ys) for a, (xs, ys) in series.items()
        )
        unpooled = dict(zip(series, fitted, strict=True))
    prior_rows = _group_priors(series, keys, unpooled, min_periods, global_weight)
    noise = _noise_scales(unpooled)
    if strength <= 0:
        return dict(unpooled), unpooled, prior_rows
    jobs = []
    for a in series:
        est0 = unpooled[a]
        unit = prior_rows[keys[a]]
        cnames = list(est0.curve_.params)
        ucurve = type(est0.curve_)(**{c: unit[c] for c in cnames})
        own = ucurve.transform(1.0 / est0.spend_scale_, 1.0 / est0.outcome_scale_).params
        prior = {k: v for k, v in unit.items() if k not in cnames}
        prior.update(own)
        # two starts: the default one and the prior (the own fit is usually near one of them)
        jobs.append(clone(base).set_params(prior_params=prior, pool_strength=strength,
                                           noise_scale=noise[a], n_starts=1))
    refits = Parallel(n_jobs=n_jobs)(
        delayed(_fit_one)(a, est, *series[a]) for a, est in zip(series, jobs, strict=True)
    )
    return dict(zip(series, refits, strict=True)), unpooled, prior_rows


def _cv_pool_strength(series: dict, keys: dict, base: ResponseCurveRegressor,
                      min_periods: int, n_jobs: int | None, grid: Sequence[float],
                      fraction: float, global_weight: float) -> tuple[float, pd.DataFrame]:
    """Pool strength with the smallest time-ordered hold-out error.

    Every asset's last ``fraction`` of observed outcomes (at least 4, and never more than
    half) is held out; curves are fitted (own fit, group priors, pooled refit) on the earlier
    outcomes for each strength of ``grid`` and predict the held-out periods from the whole
    spend series (carryover included). The error is the mean squared hold-out error in units
    of each asset's mean outcome; the strongest pooling within one standard error of the best
    wins (the one-standard-error rule).
    """
    grid = sorted({float(g) for g in grid})
    if not grid or any(g < 0 or not np.isfinite(g) for g in grid):
        raise InputError(f"pool_grid must be non-negative numbers; got {list(grid)!r}.")
    train, tests = {}, {}
    for a, (xs, ys) in series.items():
        obs = np.flatnonzero(~np.isnan(ys))
        n_test = min(max(int(round(fraction * len(obs))), 4), len(obs) // 2)
        y_train = ys.copy()
        test_idx = obs[len(obs) - n_test:] if n_test > 0 else obs[:0]
        y_train[test_idx] = np.nan
        train[a] = (xs, y_train)
        tests[a] = test_idx
    unpooled = None
    rows = []
    for g in grid:
        est, unpooled, _ = _fit_pooled(train, keys, base, g, min_periods, n_jobs,
                                       global_weight, unpooled)
        errs = []
        for a, (xs, ys) in series.items():
            idx = tests[a]
            if not len(idx):
                continue
            pred = est[a].predict(xs)[idx]
            errs.append(((ys[idx] - pred) / est[a].outcome_scale_) ** 2)
        e = np.concatenate(errs) if errs else np.zeros(1)
        rows.append({"pool_strength": g, "holdout_error": float(e.mean()),
                     "std_error": float(e.std(ddof=1) / np.sqrt(len(e))) if len(e) > 1 else 0.0})
    table = pd.DataFrame(rows)
    i_best = int(table["holdout_error"].idxmin())
    limit = table.loc[i_best, "holdout_error"] + table.loc[i_best, "std_error"]
    # one-standard-error rule: the strongest pooling whose error is within one standard
    # error of the best (the hold-out error barely sees curvature; ties go to the prior)
    chosen = float(table.loc[table["holdout_error"] <= limit, "pool_strength"].max())
    table["chosen"] = table["pool_strength"] == chosen
    return chosen, table


def _fit_one(asset: Any, est: ResponseCurveRegressor, x: np.ndarray,
             y: np.ndarray) -> ResponseCurveRegressor:
    try:
        return est.fit(x, y)
    except EstimationError as exc:
        raise EstimationError(f"asset {asset!r}: {exc}") from None
    except InputError as exc:
        raise InputError(f"asset {asset!r}: {exc}") from None


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])
