"""Time-series cross-validation of expected-return estimators.

Each fold fits the estimator on the periods before a cut and predicts the outcome of the
periods after it as ``expected_return * spend``; the error is the mean absolute percentage
error (MAPE) of those predictions, per asset and overall. Folds come from scikit-learn's
``TimeSeriesSplit`` over the periods, so the future never leaks into the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import TimeSeriesSplit

from ..exceptions import EstimationError
from ._curve_return import CurveImpliedReturn
from ._history import asset_table, pivot_history, validate_history
from ._returns import make_return_estimator

__all__ = ["CrossValidation", "cross_validate_returns"]


@dataclass(frozen=True)
class CrossValidation:
    """Result of :func:`cross_validate_returns`.

    Attributes
    ----------
    per_asset : DataFrame
        Index asset; columns ``mape`` (mean absolute percentage error of the predicted
        outcome over the asset's test rows), ``n_test`` (rows scored) and
        ``n_unpredicted`` (test rows of an asset with no estimate yet) and ``n_skipped``
        (test rows with an outcome at or below ``min_outcome``, not scored).
    overall : float
        MAPE over every scored row.
    weighted : float
        ``sum |error| / sum outcome`` over every scored row (robust to small outcomes).
    folds : DataFrame
        One row per fold: ``fold``, ``train_end`` (last training period), ``n_train``
        periods, ``n_test`` rows scored, ``mape``.
    estimator : str
        Name of the estimator validated.
    """

    per_asset: pd.DataFrame
    overall: float
    weighted: float
    folds: pd.DataFrame
    estimator: str

    def __str__(self) -> str:
        return (
            f"{self.estimator}: out-of-sample MAPE {self.overall:.1%} overall "
            f"(weighted {self.weighted:.1%}) over {len(self.folds)} time-series folds"
        )


def cross_validate_returns(
    history: pd.DataFrame,
    estimator: Any = "shrinkage",
    *,
    n_splits: int = 5,
    test_size: int | None = None,
    gap: int = 0,
    min_outcome: float | None = None,
) -> CrossValidation:
    """Out-of-sample MAPE of the outcome predicted by an expected-return estimator.

    Parameters
    ----------
    history : DataFrame
        Long history (see :func:`validate_history`).
    estimator : str or estimator, default "shrinkage"
        ``"mean"``, ``"ewma"``, ``"shrinkage"`` or an estimator with ``fit(X)`` and
        ``expected_return_`` (cloned for each fold): the prediction is
        ``expected_return * spend``. ``"curve"`` (or a :class:`CurveImpliedReturn`) fits
        response curves with carryover on each training window and predicts the test
        outcome from the curve at the adstocked spend - the fair comparison of a constant
        return with saturation.
    n_splits : int, default 5
        Number of folds of ``TimeSeriesSplit``.
    test_size : int, optional
        Periods per test fold (``TimeSeriesSplit`` default when None).
    gap : int, default 0
        Periods left out between training and test (e.g. the adstock length).
    min_outcome : float, optional
        Test rows with outcome at or below this are not scored (MAPE is undefined at 0 and
        explodes near it). Default: 10% of the asset's median outcome over the history.

    Returns
    -------
    CrossValidation

    Raises
    ------
    EstimationError
        Too few periods for the folds asked.

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> cv = cross_validate_returns(simulate_history(random_state=0).history, "mean")
    >>> 0 < cv.overall < 1
    True
    """
    frame = validate_history(history)
    assets = asset_table(frame)
    spend = pivot_history(frame, "spend")
    outcome = pivot_history(frame, "outcome")
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = outcome / spend.where(spend > 0)
    n_periods = len(returns)
    if n_periods < n_splits + 1:
        raise EstimationError(
            f"cross_validate_returns: {n_periods} periods are too few for {n_splits} folds; "
            "lower n_splits."
        )
    curve = isinstance(estimator, CurveImpliedReturn) or estimator == "curve"
    base = (
        (clone(estimator) if isinstance(estimator, CurveImpliedReturn) else CurveImpliedReturn())
        if curve
        else make_return_estimator(estimator)
    )
    name = estimator if isinstance(estimator, str) else type(estimator).__name__
    pooled = bool(getattr(base, "needs_assets", False))
    splitter = TimeSeriesSplit(n_splits=n_splits, test_size=test_size, gap=gap)
    abs_err = pd.DataFrame(np.nan, index=returns.index, columns=returns.columns)
    unpredicted = pd.Series(0, index=returns.columns)
    skipped = pd.Series(0, index=returns.columns)
    if min_outcome is None:
        floor = 0.1 * outcome.median()
    else:
        floor = pd.Series(float(min_outcome), index=returns.columns)
    fold_rows = []
    for k, (train, test) in enumerate(splitter.split(np.arange(n_periods))):
        tr = returns.iloc[train]
        seen = tr.columns[tr.notna().any()]
        est = clone(base) if hasattr(base, "get_params") else base
        if curve:
            pred = _curve_predictions(est, frame, returns.index, train, test, seen)
        elif pooled:
            est.fit(tr, assets=assets)
            mu = est.expected_return_
        else:
            est.fit(tr[seen])
            mu = est.expected_return_.reindex(returns.columns)
        y = outcome.iloc[test]
        if not curve:
            pred = spend.iloc[test] * mu
        above = y.gt(floor, axis=1)
        scored = y.notna() & above & pred.notna()
        missing_pred = y.notna() & above & pred.isna()
        unpredicted += missing_pred.sum()
        skipped += (y.notna() & ~above).sum()
        err = ((pred - y).abs() / y).where(scored)
        abs_err.iloc[test] = err.to_numpy()
        n_sc = int(scored.to_numpy().sum())
        fold_rows.append(
            (
                k + 1,
                returns.index[train[-1]],
                len(train),
                n_sc,
                float(np.nanmean(err.to_numpy())) if n_sc else np.nan,
            )
        )
    ape = abs_err.to_numpy()
    per_asset = pd.DataFrame(
        {
            "mape": abs_err.mean(),
            "n_test": abs_err.notna().sum(),
            "n_unpredicted": unpredicted,
            "n_skipped": skipped,
        }
    )
    per_asset.index.name = "asset"
    scored_all = ~np.isnan(ape)
    if not scored_all.any():
        raise EstimationError(
            "cross_validate_returns: no test row could be scored (all outcomes zero or no "
            "asset estimated before its test periods)."
        )
    y_all = outcome.to_numpy()[scored_all]
    weighted = float(np.sum(ape[scored_all] * y_all) / np.sum(y_all))
    folds = pd.DataFrame(fold_rows, columns=["fold", "train_end", "n_train", "n_test", "mape"])
    return CrossValidation(
        per_asset=per_asset,
        overall=float(np.mean(ape[scored_all])),
        weighted=weighted,
        folds=folds,
        estimator=str(name),
    )


def _curve_predictions(
    est: CurveImpliedReturn,
    frame: pd.DataFrame,
    periods: pd.Index,
    train: np.ndarray,
    test: np.ndarray,
    seen: pd.Index,
) -> pd.DataFrame:
    """Outcome of the test periods predicted by curves fitted on the training periods.

    Each asset's curve is evaluated on its own sequence of rows (training then test, as the
    fit orders them), so carryover from training spend reaches the test periods.
    """
    train_periods = periods[train]
    test_periods = periods[test]
    fit_rows = frame[frame["period"].isin(train_periods) & frame["asset"].isin(seen)]
    est.fit(fit_rows)
    rows = frame[frame["period"].isin(train_periods.append(test_periods))]
    out = {}
    for a, reg in est.fit_.estimators.items():
        sub = rows[rows["asset"] == a].sort_values("period")
        yhat = pd.Series(np.asarray(reg.predict(sub["spend"].to_numpy())), index=sub["period"])
        out[a] = yhat.reindex(test_periods)
    pred = pd.DataFrame(out, index=test_periods)
    return pred.reindex(columns=frame["asset"].unique())
