"""Risk and uncertainty from fitted response curves, never from outcome / spend ratios.

Two sources, both from the model:

- **Residual co-movement**: what the curves leave unexplained, ``e_it = y_it - r_i(a_it)``,
  co-moves across assets (a market-wide week, a channel-wide shock). Divided by each asset's
  spend level ``x_i`` (its mean spend over the fit, a constant) it is a per-unit shock whose
  pairwise covariance is the residual part of the risk. Unlike ``outcome / spend`` it does not
  explode in weeks with little spend and does not count movement *along* the curve (spend
  changed, outcome followed) as risk.
- **Parameter uncertainty**: draws of each asset's parameters (Laplace approximation from the
  Jacobian, inflated for autocorrelated residuals) give draws of its planning curve; the
  spread of the average return ``c_i(x_i) / x_i`` across draws is the parameter part (each
  asset is fitted on its own data, so this part is diagonal).

The same draws give intervals for the marginal and average return of every asset at any spend
(:func:`curve_intervals`), and for the outcome of any allocation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels
from ..risk import nearest_psd

__all__ = ["CurveDraws", "curve_draws", "curve_intervals", "model_covariance"]


def _autocorrelation_inflation(resid: np.ndarray) -> float:
    """``(1 + rho) / (1 - rho)`` from the lag-1 autocorrelation of the residuals (rho >= 0)."""
    r = np.asarray(resid, dtype=float)
    pair = ~np.isnan(r[1:]) & ~np.isnan(r[:-1])
    if pair.sum() < 4:
        return 1.0
    c = r - np.nanmean(r)
    num = float(np.sum(c[1:][pair] * c[:-1][pair]) / pair.sum())
    den = float(np.nanmean(c**2))
    rho = float(np.clip(num / den, 0.0, 0.8)) if den > 0 else 0.0
    return (1 + rho) / (1 - rho)


class CurveDraws:
    """Parameter draws of fitted per-asset curves (see :func:`curve_draws`).

    Attributes
    ----------
    curves : dict
        Asset id -> list of ``n_draws`` planning curves.
    point : dict
        Asset id -> the fitted planning curve.
    inflation : Series
        Covariance multiplier used per asset (autocorrelation of its residuals).
    """

    def __init__(self, curves: dict, point: dict, inflation: pd.Series) -> None:
        self.curves = curves
        self.point = point
        self.inflation = inflation

    @property
    def n_draws(self) -> int:
        """Number of draws per asset."""
        return len(next(iter(self.curves.values()))) if self.curves else 0

    def _spend(self, spend: pd.Series) -> pd.Series:
        if not isinstance(spend, pd.Series):
            raise EstimationError(
                f"spend must be a pandas Series by asset id; got {type(spend).__name__}."
            )
        unknown = spend.index.difference(pd.Index(list(self.curves)))
        if len(unknown):
            raise EstimationError(f"no fitted curve for assets {format_labels(unknown)}.")
        return spend.astype(float)

    def outcome(self, spend: pd.Series) -> np.ndarray:
        """Total outcome of an allocation under every draw (array of ``n_draws``)."""
        s = self._spend(spend)
        tot = np.zeros(self.n_draws)
        for a, x in s.items():
            tot += np.array([float(c.value(x)) for c in self.curves[a]])
        return tot

    def values(self, spend: pd.Series, what: str = "marginal") -> pd.DataFrame:
        """Draws x assets of the marginal (``"marginal"``) or average (``"average"``) return."""
        s = self._spend(spend)
        out = {}
        for a, x in s.items():
            if what == "marginal":
                out[a] = [float(c.derivative(x)) for c in self.curves[a]]
            elif what == "average":
                out[a] = [float(c.value(x)) / x if x > 0 else float(c.derivative(0.0))
                          for c in self.curves[a]]
            else:
                raise EstimationError(f"what must be 'marginal' or 'average'; got {what!r}.")
        return pd.DataFrame(out)


def curve_draws(fit: Any, n_draws: int = 200, random_state: int | None = 0,
                autocorrelation: bool = True) -> CurveDraws:
    """Draw the parameters of every asset's curve (Laplace approximation).

    Parameters
    ----------
    fit : ResponseFit
        Result of :func:`portfolio_mkt.response.fit_response_curves`.
    n_draws : int, default 200
    random_state : int or None, default 0
    autocorrelation : bool, default True
        Deflate each asset's data information by ``(1 + rho) / (1 - rho)``, ``rho`` the
        lag-1 autocorrelation of its residuals (clipped to [0, 0.8]): the Jacobian assumes
        independent periods, and weekly residuals are not.

    Notes
    -----
    The draws combine each asset's own data (the Jacobian's information) with a prior whose
    spread is how far the well-identified assets' parameters lie from their group prior
    (``fit.prior_spread``), not with the pooling penalty: the penalty strength is chosen to
    predict well, and a strong one would make the intervals as narrow as the prior is sure.

    Returns
    -------
    CurveDraws
    """
    if int(n_draws) < 2:
        raise EstimationError(f"n_draws must be at least 2; got {n_draws!r}.")
    ss = np.random.SeedSequence(random_state)
    seeds = ss.spawn(len(fit.estimators))
    curves, infl = {}, {}
    for (a, est), sd in zip(fit.estimators.items(), seeds, strict=True):
        f = 1.0
        if autocorrelation and a in fit.residuals.columns:
            f = _autocorrelation_inflation(fit.residuals[a].to_numpy())
        infl[a] = f
        spread = getattr(fit, "prior_spread", None) or {}
        prec = {k: 1.0 / v**2 for k, v in spread.items() if k in est.params_ and v > 0}
        curves[a] = est.sample_curves(int(n_draws), fit.horizon, fit.value,
                                      np.random.default_rng(sd), inflate=f,
                                      prior_precision=prec or None)
    return CurveDraws(curves, dict(fit.curves), pd.Series(infl, name="inflation"))


def curve_intervals(fit: Any, spend: pd.Series, level: float = 0.9, n_draws: int = 200,
                    random_state: int | None = 0, draws: CurveDraws | None = None
                    ) -> pd.DataFrame:
    """Intervals for each asset's marginal and average return at a given spend.

    Parameters
    ----------
    fit : ResponseFit
    spend : Series
        Spend per plan by asset (e.g. current spend, or a recommendation).
    level : float, default 0.9
        Central probability of the intervals.
    n_draws, random_state : see :func:`curve_draws`
    draws : CurveDraws, optional
        Reuse draws already made.

    Returns
    -------
    DataFrame
        By asset: ``spend``, ``marginal_roi`` (fitted), ``marginal_lower``,
        ``marginal_upper``, ``roi`` (average return, fitted), ``roi_lower``, ``roi_upper``.
    """
    if not 0 < float(level) < 1:
        raise EstimationError(f"level must be in (0, 1); got {level!r}.")
    d = draws if draws is not None else curve_draws(fit, n_draws, random_state)
    s = d._spend(spend)
    q = [(1 - level) / 2, (1 + level) / 2]
    marg = d.values(s, "marginal").quantile(q)
    avg = d.values(s, "average").quantile(q)
    pm = pd.Series({a: float(d.point[a].derivative(x)) for a, x in s.items()})
    pa = pd.Series({a: float(d.point[a].value(x)) / x if x > 0 else pm[a] for a, x in s.items()})
    return pd.DataFrame({
        "spend": s,
        "marginal_roi": pm,
        "marginal_lower": marg.iloc[0],
        "marginal_upper": marg.iloc[1],
        "roi": pa,
        "roi_lower": avg.iloc[0],
        "roi_upper": avg.iloc[1],
    })


def model_covariance(fit: Any, spend: pd.Series | None = None, *, n_draws: int = 200,
                     random_state: int | None = 0, min_periods: int = 8,
                     parameter_risk: bool = True, draws: CurveDraws | None = None
                     ) -> pd.DataFrame:
    """Covariance of per-unit returns from the fitted curves (residual + parameter parts).

    Parameters
    ----------
    fit : ResponseFit
        Result of :func:`portfolio_mkt.response.fit_response_curves` (with ``residuals``).
    spend : Series, optional
        Spend per plan at which the parameter part is evaluated (default: each asset's mean
        spend over the fit, times the horizon).
    n_draws, random_state : see :func:`curve_draws`
    min_periods : int, default 8
        Fewest common periods for a residual covariance between two assets (pairs observed
        together less often get 0: no evidence of co-movement).
    parameter_risk : bool, default True
        Add the parameter part.
    draws : CurveDraws, optional
        Reuse draws already made.

    Returns
    -------
    DataFrame
        Asset x asset, positive semi-definite, in the units of
        :class:`~portfolio_mkt.Problem`'s ``covariance`` (per-unit returns of one plan of
        ``fit.horizon`` periods).
    """
    resid = fit.residuals
    if resid is None or resid.empty:
        raise EstimationError(
            "model_covariance needs the residuals of the fit; refit with "
            "portfolio_mkt.response.fit_response_curves."
        )
    assets = list(fit.estimators)
    level = fit.spend[assets].mean()  # per-period spend level over each asset's history
    per_unit = resid[assets] / level.where(level > 0)
    h = int(fit.horizon)
    cov = per_unit.cov(min_periods=int(min_periods)).fillna(0.0).to_numpy().copy()
    var_own = per_unit.var().fillna(0.0).to_numpy()
    np.fill_diagonal(cov, var_own)
    cov = cov / h  # independent periods: the plan's per-unit return averages h of them
    if parameter_risk:
        d = draws if draws is not None else curve_draws(fit, n_draws, random_state)
        x = level * h if spend is None else spend.reindex(assets).astype(float)
        x = x.where(x > 0, level * h)
        avg = d.values(x, "average")
        cov = cov + np.diag(avg.var(ddof=1).reindex(assets).fillna(0.0).to_numpy())
    cov = (cov + cov.T) / 2
    if np.linalg.eigvalsh(cov).min() < 0:
        cov, _ = nearest_psd(cov)
    return pd.DataFrame(cov, index=assets, columns=assets)
