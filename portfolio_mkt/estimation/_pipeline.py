"""One call from a spend history to a ready :class:`~portfolio_mkt.Problem`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels
from ..problem import Problem
from ..risk import FactorCovariance
from ._audit import BiasAudit, audit_flags_for, bias_audit
from ._common import as_returns_frame
from ._covariance import fit_covariance
from ._curve_return import CurveImpliedReturn
from ._extrapolation import extrapolation_bounds
from ._history import asset_table, pivot_history, returns_matrix, validate_history
from ._returns import make_return_estimator
from ._validation import CrossValidation, cross_validate_returns
from ._views import View, black_litterman

__all__ = ["Estimates", "problem_from_history", "problem_from_returns", "current_from_history"]


@dataclass
class Estimates:
    """A problem built from history, with everything that says how far to trust it.

    Attributes
    ----------
    problem : Problem
        Ready for :func:`portfolio_mkt.solve` (estimation never solves it; attach the audit
        flags, views and validation to the allocation with
        :func:`portfolio_mkt.with_caveats`).
    expected_return : Series
        Expected return per unit used by the problem (after views).
    prior_return : Series
        The estimator's expected return (before views).
    covariance : DataFrame, FactorCovariance or None
        Covariance of per-period, per-unit returns.
    assets : DataFrame
        Asset attributes.
    returns : DataFrame
        Periods x assets returns the estimates came from.
    audit : BiasAudit
        Per market / channel representation in the history.
    flags : list of str
        The audit's plain-language flags.
    views : DataFrame or None
        The views table (see :class:`BlackLitterman`), None without views.
    cv : CrossValidation or None
        Out-of-sample error of the return estimator, when asked for.
    curves : dict or None
        Fitted planning curves by asset when ``curves=True``.
    estimator : object
        The fitted expected-return estimator.
    """

    problem: Any
    expected_return: pd.Series
    prior_return: pd.Series
    covariance: pd.DataFrame | FactorCovariance | None
    assets: pd.DataFrame
    returns: pd.DataFrame
    audit: BiasAudit
    flags: list[str] = field(default_factory=list)
    views: pd.DataFrame | None = None
    cv: CrossValidation | None = None
    curves: dict | None = None
    estimator: Any = None

    def __repr__(self) -> str:
        n_periods, n_assets = self.returns.shape
        cov = type(self.covariance).__name__ if self.covariance is not None else None
        return (
            f"Estimates(assets={n_assets}, periods={n_periods}, "
            f"estimator={type(self.estimator).__name__}, covariance={cov}, "
            f"flags={len(self.flags)}, views={0 if self.views is None else len(self.views)}, "
            f"cv={'yes' if self.cv is not None else 'no'}, "
            f"curves={'yes' if self.curves is not None else 'no'})"
        )

    def flags_for(self, allocation: Any) -> list[str]:
        """Audit flags concerning an allocation (an ``Allocation`` or a spend Series)."""
        spend = allocation if isinstance(allocation, pd.Series) else allocation.spend
        return audit_flags_for(spend, self.audit, self.assets)

    def notes(self) -> list[str]:
        """Plain-language lines on the views applied and the out-of-sample check (if run)."""
        out: list[str] = []
        if self.views is not None and len(self.views):
            for _, v in self.views.iterrows():
                out.append(
                    f"View '{v['view']}': {v['description']} moved its return from "
                    f"{v['prior']:.3g} to {v['posterior']:.3g} (target {v['target']:.3g})."
                )
        if self.cv is not None:
            out.append(
                f"Out-of-sample check of the expected returns ({self.cv.estimator}): the "
                f"predicted outcome per asset and period misses by {self.cv.overall:.0%} "
                f"on average (MAPE; {self.cv.weighted:.0%} weighted by outcome) over "
                f"{len(self.cv.folds)} time-series folds."
            )
        return out

    def summary(self) -> str:
        """Plain-language account of the estimates: data, flags, views, validation."""
        lines = [
            f"Estimated from {self.returns.shape[0]} periods of history for "
            f"{self.returns.shape[1]} assets ({type(self.estimator).__name__}).",
        ]
        lines += [f"- {f}" for f in self.flags] or ["- No market or channel is flagged."]
        if self.views is not None:
            for _, v in self.views.iterrows():
                lines.append(
                    f"View '{v['view']}': {v['description']}: {v['prior']:.3g} -> "
                    f"{v['posterior']:.3g}."
                )
        if self.cv is not None:
            lines.append(str(self.cv))
        return "\n".join(lines)


def current_from_history(
    history: pd.DataFrame, budget: float, how: str = "last", window: int = 13
) -> pd.Series:
    """The current allocation implied by the history, scaled to the budget.

    Parameters
    ----------
    history : DataFrame
        Long history.
    budget : float
        Money of the plan.
    how : {"last", "recent"}, default "last"
        ``"last"``: the spend mix of the history's last period (assets without a row there
        get 0); ``"recent"``: the mean spend mix over the last ``window`` periods.
    window : int, default 13
        Periods for ``"recent"``.

    Returns
    -------
    Series
        Spend by asset summing to ``budget``.
    """
    spend = pivot_history(history, "spend").fillna(0.0)
    if how == "last":
        mix = spend.iloc[-1]
    elif how == "recent":
        mix = spend.tail(int(window)).mean()
    else:
        raise EstimationError(
            f"current must be 'last', 'recent', a Series of spend, or None; got {how!r}."
        )
    total = float(mix.sum())
    if total <= 0:
        raise EstimationError(
            f"current='{how}': the history has no spend in its last period(s); pass "
            "current=None or a Series."
        )
    return (mix / total * float(budget)).rename("current")


def problem_from_history(
    history: pd.DataFrame,
    budget: float,
    *,
    expected_return: Any = "shrinkage",
    covariance: Any = "sample",
    constraints: Sequence[Any] = (),
    current: str | pd.Series | None = "last",
    risk_aversion: float = 1.0,
    curves: bool = False,
    extrapolation_limit: float | None = 2.0,
    horizon: int = 1,
    views: Sequence[View] | None = None,
    tau: float | None = None,
    audit_by: Sequence[str] = ("market", "channel"),
    audit_options: Mapping[str, Any] | None = None,
    cv: bool | int = False,
    missing: str = "rescale",
    min_periods: int = 3,
    name: str = "plan",
    **problem_options: Any,
) -> Estimates:
    """Estimate returns, risk, curves and a bias audit from history; build the Problem.

    Parameters
    ----------
    history : DataFrame
        Long history: ``period``, ``asset``, ``market``, ``channel`` (optionally ``tier``,
        ``creator``, ``tags``), ``spend``, ``outcome``.
    budget : float
        Money to allocate over the plan (``horizon`` periods of the history).
    expected_return : str or estimator, default "shrinkage"
        ``"shrinkage"`` (:class:`ShrinkageReturn`), ``"mean"``, ``"ewma"``, ``"curve"``
        (:class:`CurveImpliedReturn`: marginal return at current spend) or a fitted-on-returns
        estimator with ``expected_return_``.
    covariance : str, estimator, DataFrame, FactorCovariance or None, default "sample"
        ``"sample"``, ``"ewma"``, ``"factor"``, ``"pca"``, any scikit-learn covariance
        estimator (``LedoitWolf()`` ...; fitted on the returns, see :func:`fit_covariance`),
        an already estimated matrix or factor model (used as is), or None for no risk term.
    constraints : sequence
        Strategy constraints passed to the Problem.
    current : {"last", "recent"}, Series or None, default "last"
        Current allocation (see :func:`current_from_history`), a spend Series, or None.
    risk_aversion : float, default 1.0
        ``delta`` of the utility.
    curves : bool, default False
        Fit response curves with carryover (exponential saturation, geometric adstock,
        pooled by channel) and plan with them; ``expected_return`` then also defaults to the
        curves' marginal return when it is ``"curve"``. With curves, ``covariance="sample"``
        (or ``"model"``) is the model's risk: residual co-movement around the fitted curves plus
        the co-movement of parameter draws.
    extrapolation_limit : float or None, default 2.0
        With curves, cap each asset at this multiple of its largest observed spend per period
        (a Bounds constraint named ``"extrapolation_cap"``): recommendations far beyond what
        was observed rest on extrapolated curves. None switches the cap off.
    horizon : int, default 1
        Periods of the history in the plan (13 for a quarter of weekly data); used to turn
        per-period curves into plan curves.
    views : sequence of View, optional
        Strategists' views with confidences (Black-Litterman); recorded in ``views``.
    tau : float, optional
        Black-Litterman ``tau`` (default ``1 / n_periods``).
    audit_by : sequence of str, default ("market", "channel")
        Attributes of the bias audit.
    audit_options : mapping, optional
        Thresholds passed to :func:`bias_audit`.
    cv : bool or int, default False
        Run time-series cross-validation of the return estimator (an int gives the folds;
        with ``expected_return="curve"`` the curves are refitted on each training window).
    missing : str, default "rescale"
        Missing-data strategy for third-party covariance estimators.
    min_periods : int, default 3
        Fewest observed periods per asset for the covariance.
    name : str, default "plan"
        The problem's name.
    **problem_options
        Passed to :class:`~portfolio_mkt.Problem` (``objective``, ``max_risk``,
        ``budget_mode`` ...).

    Returns
    -------
    Estimates
        ``.problem`` plus the audit, flags, views table, cross-validation and curves.

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> est = problem_from_history(simulate_history(random_state=0).history, 1_000_000)
    >>> est.problem.n_assets
    25
    """
    frame = validate_history(history)
    assets = asset_table(frame)
    returns = returns_matrix(frame)

    fitted_curves = None
    curve_est = None
    if expected_return == "curve" or curves:
        curve_est = CurveImpliedReturn(horizon=int(horizon)) if curves else CurveImpliedReturn()
        curve_est.fit(frame)
        fitted_curves = curve_est.curves_ if curves else None
    if curves and extrapolation_limit is not None:
        constraints = [*constraints,
                       *extrapolation_bounds(frame, extrapolation_limit, horizon=int(horizon))]

    found: dict[str, Any] = {}

    def current_now() -> pd.Series | None:
        # after the estimates, as before: their errors are reported first
        found["audit"] = bias_audit(frame, by=audit_by, **dict(audit_options or {}))
        if isinstance(current, str):
            return current_from_history(frame, budget, current)
        return current

    core = _estimate_core(
        returns, assets, budget, expected_return=expected_return, covariance=covariance,
        constraints=constraints, current=current_now, risk_aversion=risk_aversion,
        views=views, tau=tau, missing=missing, min_periods=min_periods, name=name,
        problem_options=problem_options, curve_est=curve_est, curves=curves,
        fitted_curves=fitted_curves,
    )
    problem, mu, prior, cov, views_table, fitted_curves, estimator = core
    audit = found["audit"]

    cv_result = None
    if cv:
        folds = 5 if cv is True else int(cv)
        cv_result = cross_validate_returns(frame, estimator, n_splits=folds)

    return Estimates(
        problem=problem,
        expected_return=mu,
        prior_return=prior,
        covariance=cov,
        assets=assets,
        returns=returns,
        audit=audit,
        flags=list(audit.flags),
        views=views_table,
        cv=cv_result,
        curves=fitted_curves,
        estimator=estimator,
    )


def problem_from_returns(
    returns: pd.DataFrame,
    assets: pd.DataFrame,
    budget: float,
    *,
    expected_return: Any = "shrinkage",
    covariance: Any = "sample",
    constraints: Sequence[Any] = (),
    current: pd.Series | None = None,
    risk_aversion: float = 1.0,
    views: Sequence[View] | None = None,
    tau: float | None = None,
    missing: str = "rescale",
    min_periods: int = 3,
    name: str = "plan",
    **problem_options: Any,
) -> Problem:
    """The Problem :func:`problem_from_history` builds, from a ready returns matrix.

    The same estimators, covariance, views and Problem as :func:`problem_from_history`
    without response curves (the curves need the history itself), without reading the history
    again and without the bias audit (which does not enter the Problem). Resampling loops use
    it: they read the history once (:func:`returns_matrix`, :func:`asset_table`) and pass the
    rows of each resample; the Problem equals the one built from the resampled history.

    Parameters
    ----------
    returns : DataFrame
        Periods x assets outcome per unit spend (NaN where unobserved), as
        :func:`returns_matrix` gives.
    assets : DataFrame
        Asset attributes indexed by asset id (:func:`asset_table`), a row for each column.
    budget : float
        Money to allocate.
    expected_return, covariance, constraints, risk_aversion, views, tau
        As in :func:`problem_from_history`.
    missing, min_periods, name, **problem_options
        As in :func:`problem_from_history` (``expected_return="curve"`` is not available).
    current : Series, optional
        Current spend by asset (see :func:`current_from_history`).

    Returns
    -------
    Problem

    Raises
    ------
    EstimationError
        As :func:`problem_from_history`; ``expected_return="curve"``.

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> h = simulate_history(random_state=0).history
    >>> problem_from_returns(returns_matrix(h), asset_table(h), 1_000_000).n_assets
    25
    """
    if isinstance(expected_return, str) and expected_return == "curve":
        raise EstimationError(
            "problem_from_returns cannot fit response curves (they need the history); use "
            "problem_from_history(history, budget, expected_return='curve')."
        )
    return _estimate_core(
        as_returns_frame(returns), assets, budget, expected_return=expected_return,
        covariance=covariance, constraints=constraints, current=current,
        risk_aversion=risk_aversion, views=views, tau=tau, missing=missing,
        min_periods=min_periods, name=name, problem_options=problem_options,
    )[0]


def _estimate_core(
    returns: pd.DataFrame,
    assets: pd.DataFrame,
    budget: float,
    *,
    expected_return: Any,
    covariance: Any,
    constraints: Sequence[Any],
    current: pd.Series | Callable[[], pd.Series | None] | None,
    risk_aversion: float,
    views: Sequence[View] | None,
    tau: float | None,
    missing: str,
    min_periods: int,
    name: str,
    problem_options: Mapping[str, Any],
    curve_est: Any = None,
    curves: bool = False,
    fitted_curves: dict | None = None,
) -> tuple[Any, pd.Series, pd.Series, Any, pd.DataFrame | None, dict | None, Any]:
    """Returns and risk from a returns matrix, views, and the Problem (shared by both entries)."""
    n_periods = len(returns)
    if expected_return == "curve":
        estimator = curve_est
        prior = curve_est.expected_return_.copy()
    else:
        estimator = make_return_estimator(expected_return)
        if getattr(estimator, "needs_assets", False):
            estimator.fit(returns, assets=assets)
        else:
            estimator.fit(returns)
        if not hasattr(estimator, "expected_return_"):
            raise EstimationError(
                f"expected_return estimator {type(estimator).__name__} has no "
                "expected_return_ after fit."
            )
        prior = pd.Series(estimator.expected_return_, index=returns.columns, dtype=float)
    bad = prior.index[~np.isfinite(prior.to_numpy(float))]
    if len(bad):
        raise EstimationError(
            f"no expected return could be estimated for {format_labels(bad)}; use "
            "expected_return='shrinkage' (it pools assets with little data)."
        )

    cov = None
    if isinstance(covariance, (pd.DataFrame, FactorCovariance)):
        cov = covariance  # already estimated: the Problem checks and aligns it
    elif curves and isinstance(covariance, str) and covariance in ("sample", "model"):
        # risk from the model: residual co-movement around the curves plus parameter draws
        # (never outcome / spend, which explodes where spend is near zero)
        cov = curve_est.covariance_
    elif covariance is not None:
        cov = fit_covariance(
            returns, covariance, assets=assets, missing=missing, min_periods=min_periods
        )

    mu = prior
    views_table = None
    if views:
        if cov is None:
            raise EstimationError(
                "views need a covariance (Black-Litterman spreads a view through it); pass "
                "covariance='sample' or another estimator."
            )
        bl = black_litterman(
            prior, cov, list(views), assets=assets, tau=tau if tau else 1.0 / n_periods
        )
        mu = bl.posterior
        views_table = bl.views
        if fitted_curves is not None:
            ratio = (mu / prior).where(prior != 0, 1.0)
            fitted_curves = {
                a: (c.scale_output(float(ratio[a])) if ratio[a] > 0 else c)
                for a, c in fitted_curves.items()
            }

    if callable(current):
        current = current()
    problem = Problem(
        expected_return=mu,
        covariance=cov,
        budget=budget,
        assets=assets,
        constraints=constraints,
        current=current,
        risk_aversion=risk_aversion,
        response=fitted_curves,
        name=name,
        **dict(problem_options),
    )
    return problem, mu, prior, cov, views_table, fitted_curves, estimator
