"""Walk-forward backtests of allocation policies, and refreshing a plan with actuals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, format_labels

__all__ = [
    "CurvePolicy",
    "HistoricalSplit",
    "EqualSplit",
    "OverridePolicy",
    "BacktestResult",
    "backtest",
    "refresh",
    "RefreshResult",
    "MAPE_THRESHOLD",
]

#: Forecast error (weighted MAPE) above which forecasts are not trusted for planning.
MAPE_THRESHOLD = 0.15


def _recent_mix(past: pd.DataFrame, assets: pd.Index, window: int) -> pd.Series:
    periods = np.sort(past["period"].unique())[-int(window):]
    recent = past[past["period"].isin(periods)]
    mean = recent.groupby("asset")["spend"].sum() / len(periods)
    return mean.reindex(assets).fillna(0.0)


class HistoricalSplit:
    """Spend the budget in the mix of the last ``window`` periods (what the team did).

    Parameters
    ----------
    window : int, default 13
        Periods averaged.
    name : str, default "historical"
    """

    def __init__(self, window: int = 13, name: str = "historical") -> None:
        self.window = window
        self.name = name

    def allocate(self, past: pd.DataFrame, budget: float, assets: pd.Index) -> pd.Series:
        """Spend by asset summing to ``budget``, from ``past`` only."""
        mix = _recent_mix(past, assets, self.window)
        total = float(mix.sum())
        if total <= 0:
            return pd.Series(budget / len(assets), index=assets)
        return mix / total * float(budget)


class EqualSplit:
    """The same spend on every asset.

    Parameters
    ----------
    name : str, default "equal"
    """

    def __init__(self, name: str = "equal") -> None:
        self.name = name

    def allocate(self, past: pd.DataFrame, budget: float, assets: pd.Index) -> pd.Series:
        """``budget / n`` on each asset."""
        return pd.Series(float(budget) / len(assets), index=assets)


class CurvePolicy:
    """The library's policy: fit response curves on the past, solve, move at most ``max_change``.

    Curves are fitted per asset with :func:`portfolio_mkt.response.fit_response_curves`
    (pooled within ``group``), the budget is allocated by :func:`portfolio_mkt.solve` on them,
    and each asset's spend may move at most ``max_change`` (relative) from the recent mix
    (:class:`portfolio_mkt.constraints.ShiftLimit`): a trust region, since fitted curves are
    least reliable far from the spend they were fitted on.

    Parameters
    ----------
    curve : str, default "exponential"
        Curve family.
    adstock : str or None, default None
        Carryover model of the fit (None: none; measured as the better decision rule on the
        simulator, where weekly adstock is hard to separate from spend persistence).
    group : str or None, default "channel"
        Pooling groups.
    max_change : float or None, default 0.5
        Relative shift limit against the recent mix (None: no limit).
    window : int, default 13
        Periods defining the recent mix.
    risk_aversion : float, default 0.0
    fit_window : int or None, default None
        Fit the curves on the last ``fit_window`` periods only (None: all of the past); a
        shorter window follows a changing response faster, with noisier curves.
    name : str, default "library"

    Attributes
    ----------
    last_curves_ : dict
        The curves of the last call (used by :func:`backtest` for forecast errors).
    """

    def __init__(
        self,
        curve: str = "exponential",
        adstock: str | None = None,
        group: str | None = "channel",
        max_change: float | None = 0.5,
        window: int = 13,
        risk_aversion: float = 0.0,
        fit_window: int | None = None,
        name: str = "library",
    ) -> None:
        self.curve = curve
        self.adstock = adstock
        self.group = group
        self.max_change = max_change
        self.window = window
        self.risk_aversion = risk_aversion
        self.fit_window = fit_window
        self.name = name

    def fit_curves(self, past: pd.DataFrame, assets: pd.Index) -> dict[str, Any]:
        """Fitted per-period curves of ``assets`` from ``past``."""
        from ..response import fit_response_curves  # noqa: PLC0415

        data = past[past["asset"].isin(assets)]
        if self.fit_window is not None:
            keep = np.sort(data["period"].unique())[-int(self.fit_window):]
            data = data[data["period"].isin(keep)]
        group = self.group if self.group in data.columns else None
        fit = fit_response_curves(data, curve=self.curve, adstock=self.adstock, group=group)
        return {a: fit.curves[a] for a in assets}

    def allocate(self, past: pd.DataFrame, budget: float, assets: pd.Index) -> pd.Series:
        """Spend by asset summing to ``budget``, from ``past`` only."""
        from ..constraints import ShiftLimit  # noqa: PLC0415
        from ..optimization import solve  # noqa: PLC0415
        from ..problem import Problem  # noqa: PLC0415

        curves = self.fit_curves(past, assets)
        self.last_curves_ = curves
        current = HistoricalSplit(self.window).allocate(past, budget, assets)
        cons = []
        if self.max_change is not None:
            cons.append(ShiftLimit(float(self.max_change), relative=True, name="trust_region"))
        problem = Problem(
            pd.Series(1.0, index=assets), budget=float(budget), response=curves,
            current=current, constraints=cons, risk_aversion=float(self.risk_aversion),
            name=self.name,
        )
        return solve(problem).spend.reindex(assets).fillna(0.0)


class OverridePolicy:
    """Another policy's allocation with the recorded overrides applied, budget kept.

    Each overridden asset's spend is multiplied by ``ratios[asset]`` (decided / recommended,
    as planners did); the other assets are rescaled so the total stays the budget.

    Parameters
    ----------
    ratios : mapping
        Asset -> multiplier.
    base : str, default "library"
        Name of the policy overridden (it must run in the same backtest).
    name : str, default "overrides"
    """

    def __init__(self, ratios: Mapping[str, float], base: str = "library",
                 name: str = "overrides") -> None:
        self.ratios = ratios
        self.base = base
        self.name = name

    @classmethod
    def from_workspace(cls, workspace: Any, base: str = "library") -> OverridePolicy:
        """Ratios ``spend_to / spend_from`` of a workspace's overrides (mean per asset)."""
        ov = workspace.overrides()
        ov = ov[ov["spend_from"].fillna(0) > 0]
        ratios = (ov["spend_to"] / ov["spend_from"]).groupby(ov["asset"]).mean().to_dict()
        return cls(ratios, base=base)

    def apply(self, spend: pd.Series, budget: float) -> pd.Series:
        """Apply the ratios to ``spend`` and rescale the rest to keep ``budget``."""
        out = spend.astype(float).copy()
        hit = [a for a in out.index if a in self.ratios]
        for a in hit:
            out[a] = out[a] * float(self.ratios[a])
        fixed = float(out[hit].sum()) if hit else 0.0
        rest = [a for a in out.index if a not in self.ratios]
        free = float(spend[rest].sum())
        if rest and free > 0:
            out[rest] = spend[rest] * max(float(budget) - fixed, 0.0) / free
        total = float(out.sum())
        return out * (float(budget) / total) if total > 0 else out


@dataclass
class BacktestResult:
    """A walk-forward backtest.

    Attributes
    ----------
    decisions : DataFrame
        One row per decision period and policy: ``period, policy, budget, outcome``
        (true or estimated outcome of the allocation), ``optimum`` (best outcome available
        with the same budget and assets), ``regret``, ``n_assets``, ``last_seen`` (the last
        period of data the decision used).
    forecasts : DataFrame
        Per decision period: ``mape`` and ``wmape`` (outcome-weighted) of the library policy's
        forecast of the next period at the spend actually made, ``ok`` (wmape within
        :data:`MAPE_THRESHOLD`).
    allocations : dict
        Period -> DataFrame (assets x policies) of spend.
    scoring : str
        How outcomes were scored (``"truth"`` or the out-of-sample estimate used).
    """

    decisions: pd.DataFrame
    forecasts: pd.DataFrame
    allocations: dict[Any, pd.DataFrame] = field(default_factory=dict)
    scoring: str = "truth"

    def summary(self) -> pd.DataFrame:
        """Per policy: mean and spread of the outcome, mean regret, share of the optimum.

        Returns
        -------
        DataFrame
            ``decisions, outcome_mean, outcome_sd, regret_mean, regret_sd, share_of_optimum,
            beats_historical`` (share of decisions better than the historical split).
        """
        d = self.decisions
        g = d.groupby("policy", sort=False)
        out = pd.DataFrame({
            "decisions": g.size(),
            "outcome_mean": g["outcome"].mean(),
            "outcome_sd": g["outcome"].std(ddof=1),
            "regret_mean": g["regret"].mean(),
            "regret_sd": g["regret"].std(ddof=1),
            "share_of_optimum": g["outcome"].sum() / g["optimum"].sum(),
        })
        if "historical" in set(d["policy"]):
            base = d[d["policy"] == "historical"].set_index("period")["outcome"]
            out["beats_historical"] = [
                float((sub.set_index("period")["outcome"] > base.reindex(sub["period"]).to_numpy()
                       ).mean())
                for _, sub in g
            ]
        return out

    def plot(self, ax: Any = None) -> Any:
        """Regret per decision by policy, and the forecast error with the 15% line.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt  # noqa: PLC0415

        if ax is None:
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
        else:
            fig, ax1, ax2 = ax.figure, ax, None
        for name, sub in self.decisions.groupby("policy", sort=False):
            ax1.plot(sub["period"], sub["regret"], marker="o", ms=3, label=name)
        ax1.set_title(f"regret per decision ({self.scoring})")
        ax1.legend(fontsize=7)
        if ax2 is not None and len(self.forecasts):
            ax2.plot(self.forecasts["period"], self.forecasts["wmape"], marker="o", ms=3)
            ax2.axhline(MAPE_THRESHOLD, color="C3", ls="--", label="15% threshold")
            ax2.set_title("forecast error of the next period (wMAPE)")
            ax2.legend(fontsize=7)
        fig.autofmt_xdate()
        return fig


def _value(curves: Mapping[str, Any], spend: pd.Series) -> float:
    return float(sum(float(np.asarray(curves[a].value(np.array([float(spend[a])])))[0])
                     for a in spend.index))


def _optimum(curves: Mapping[str, Any], budget: float, assets: pd.Index) -> float:
    from ..optimization import solve  # noqa: PLC0415
    from ..problem import Problem  # noqa: PLC0415

    problem = Problem(pd.Series(1.0, index=assets), budget=float(budget),
                      response={a: curves[a] for a in assets}, risk_aversion=0.0)
    return _value(curves, solve(problem).spend)


def backtest(
    history: pd.DataFrame,
    policies: Sequence[Any] | None = None,
    *,
    truth: Any = None,
    start: int | None = None,
    step: int = 4,
    n_decisions: int | None = None,
    min_periods: int = 13,
    min_eval_periods: int = 13,
) -> BacktestResult:
    """Walk forward through a history: fit on the past, plan the next period, score it.

    At each decision period ``t`` every policy sees only the rows with ``period < t``; the
    budget is the total spent in the last period before ``t`` and the assets are those with
    at least ``min_periods`` rows before ``t``. The allocation for period ``t`` is scored:

    - with ``truth`` (a simulator's :class:`~portfolio_mkt.simulate.SimulationTruth`): by the
      TRUE weekly response at steady state, ``sum_i beta_i (1 - exp(-x_i / k_i))``
      (seasonality left out), against the true optimum for the same budget and assets;
    - without: by an out-of-sample estimate, curves fitted (as the library policy does, with
      no trust region) on the rows from ``t`` on only, which no decision at ``t`` has seen; the
      optimum is taken under those curves too. At least ``min_eval_periods`` periods must
      follow each decision.

    Along the way the library policy's curves forecast period ``t`` at the spend actually
    made; the forecast error (MAPE) is recorded with the 15% threshold.

    Parameters
    ----------
    history : DataFrame
        Long history (``period, asset, market, channel, spend, outcome``).
    policies : sequence, optional
        Objects with ``name`` and ``allocate(past, budget, assets)`` (an
        :class:`OverridePolicy` adjusts the policy named by its ``base``). Default: the
        library's :class:`CurvePolicy`, :class:`HistoricalSplit`, :class:`EqualSplit`.
    truth : SimulationTruth, optional
        Score by the true response.
    start : int, optional
        Index of the first decision period (default: half the periods).
    step : int, default 4
        Periods between decisions.
    n_decisions : int, optional
        Cap on the number of decisions (the last ones are kept).
    min_periods : int, default 13
        Rows an asset needs before a decision to be planned.
    min_eval_periods : int, default 13
        Periods after a decision the out-of-sample scoring needs (without ``truth``).

    Returns
    -------
    BacktestResult
    """
    from ..estimation import validate_history  # noqa: PLC0415

    frame = validate_history(history)
    policies = list(policies) if policies is not None else [
        CurvePolicy(), HistoricalSplit(), EqualSplit()
    ]
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise InputError(f"backtest: policy names must differ; got {names}.")
    periods = np.sort(frame["period"].unique())
    n = len(periods)
    first = n // 2 if start is None else int(start)
    last = n - 1 if truth is not None else n - int(min_eval_periods)
    idx = list(range(max(first, 1), last + 1, max(int(step), 1)))
    if n_decisions is not None:
        idx = idx[-int(n_decisions):]
    if not idx:
        raise InputError(
            f"backtest: no decision period fits: the history has {n} periods, decisions start "
            f"at {first} and {'need ' + str(min_eval_periods) + ' periods after them' if truth is None else ''}; "  # noqa: E501
            "give a longer history, an earlier start, or truth=."
        )
    true_curves = truth.response_curves() if truth is not None else None
    library = next((p for p in policies if isinstance(p, CurvePolicy)), None)
    rows, frows, allocs = [], [], {}
    for i in idx:
        t = periods[i]
        past = frame[frame["period"] < t]
        seen = past["period"].max()
        if not seen < t:  # the guard of the guarantee tested in tests/test_loop_backtest.py
            raise AssertionError("backtest leaked data from after the decision point")
        counts = past.groupby("asset").size()
        assets = pd.Index(sorted(counts.index[counts >= int(min_periods)]))
        if len(assets) == 0:
            continue
        budget = float(past[past["period"] == seen]["spend"].sum())
        spend: dict[str, pd.Series] = {}
        for p in policies:
            if isinstance(p, OverridePolicy):
                continue
            spend[p.name] = p.allocate(past, budget, assets).reindex(assets).fillna(0.0)
        for p in policies:
            if isinstance(p, OverridePolicy):
                if p.base not in spend:
                    raise InputError(
                        f"backtest: OverridePolicy {p.name!r} overrides {p.base!r}, which is "
                        f"not among the policies {format_labels(names)}."
                    )
                spend[p.name] = p.apply(spend[p.base], budget)
        if true_curves is not None:
            evaluator = {a: true_curves[a] for a in assets}
        else:
            evaluator = CurvePolicy(max_change=None).fit_curves(
                frame[frame["period"] >= t], assets
            )
        best = _optimum(evaluator, budget, assets)
        for name, x in spend.items():
            val = _value(evaluator, x)
            rows.append({"period": t, "policy": name, "budget": budget, "outcome": val,
                         "optimum": best, "regret": best - val, "n_assets": len(assets),
                         "last_seen": seen})
        allocs[t] = pd.DataFrame(spend)
        if library is not None and getattr(library, "last_curves_", None) is not None:
            nxt = frame[(frame["period"] == t) & frame["asset"].isin(assets)]
            if len(nxt):
                f = np.array([float(np.asarray(library.last_curves_[a].value(
                    np.array([s])))[0]) for a, s in zip(nxt["asset"], nxt["spend"], strict=True)])
                y = nxt["outcome"].to_numpy(float)
                ok = np.abs(y) > 0
                mape = float(np.mean(np.abs(f[ok] - y[ok]) / np.abs(y[ok]))) if ok.any() else np.nan
                wmape = float(np.sum(np.abs(f - y)) / np.sum(np.abs(y))) if ok.any() else np.nan
                frows.append({"period": t, "mape": mape, "wmape": wmape,
                              "ok": bool(wmape <= MAPE_THRESHOLD), "n_assets": len(nxt)})
    scoring = ("truth (steady-state true curves)" if truth is not None else
               "out-of-sample estimate (curves fitted on the periods from the decision on)")
    return BacktestResult(pd.DataFrame(rows), pd.DataFrame(frows), allocs, scoring)


@dataclass
class RefreshResult:
    """What moved when the curves were refitted with new actuals.

    Attributes
    ----------
    table : DataFrame
        Per asset: ``recorded`` (spend in the recorded plan, if given), ``before`` and
        ``after`` (recommended spend), ``change`` (after - before spend), and the curves
        before and after the refit evaluated at the same spend (the recorded plan's, else the
        previous recommendation): ``return_before``/``return_after`` (average return per
        unit) and ``marginal_before``/``marginal_after`` (marginal return).
    curves_before, curves_after : dict
        The fitted curves.
    """

    table: pd.DataFrame
    curves_before: dict
    curves_after: dict


def refresh(
    history: pd.DataFrame,
    actuals: pd.DataFrame,
    budget: float,
    *,
    recorded: pd.Series | None = None,
    policy: CurvePolicy | None = None,
) -> RefreshResult:
    """Refit with new actuals and show what moved against the previous fit and the plan.

    Parameters
    ----------
    history : DataFrame
        The history the plan was made from.
    actuals : DataFrame
        ``period, asset, spend, outcome`` (attributes are taken from ``history``); an actual
        replaces a history row of the same asset and period.
    budget : float
        Budget per period.
    recorded : Series, optional
        The recorded plan's spend per period by asset.
    policy : CurvePolicy, optional
        How to fit and allocate (default :class:`CurvePolicy`).

    Returns
    -------
    RefreshResult
    """
    from ..estimation import asset_table, validate_history  # noqa: PLC0415

    policy = policy or CurvePolicy()
    hist = validate_history(history)
    attrs = asset_table(hist)
    act = actuals[["period", "asset", "spend", "outcome"]].copy()
    unknown = sorted(set(act["asset"]) - set(attrs.index))
    if unknown:
        raise InputError(
            f"refresh: actuals for asset(s) {format_labels(unknown)} that the history does not "
            "know; add them to the history with their market and channel."
        )
    act = act.join(attrs.drop(columns=[c for c in attrs.columns if c in act.columns]),
                   on="asset")
    act = validate_history(act)
    key = ["period", "asset"]
    merged = pd.concat([hist.merge(act[key], on=key, how="left", indicator=True)
                        .query("_merge == 'left_only'").drop(columns="_merge"), act],
                       ignore_index=True)
    assets = pd.Index(sorted(hist["asset"].unique()))
    before = policy.allocate(hist, budget, assets)
    cb = policy.last_curves_
    after = policy.allocate(merged, budget, assets)
    ca = policy.last_curves_
    at = recorded.reindex(assets).fillna(0.0) if recorded is not None else before

    def _avg(curves: dict, x: pd.Series) -> list[float]:
        return [float(np.asarray(curves[a].value(np.array([x[a]])))[0]) / x[a] if x[a] > 0
                else np.nan for a in assets]

    def _marg(curves: dict, x: pd.Series) -> list[float]:
        return [float(np.asarray(curves[a].derivative(np.array([x[a]])))[0])
                if hasattr(curves[a], "derivative") else np.nan for a in assets]

    table = pd.DataFrame({
        "recorded": recorded.reindex(assets) if recorded is not None else np.nan,
        "before": before, "after": after, "change": after - before,
        "return_before": _avg(cb, at), "return_after": _avg(ca, at),
        "marginal_before": _marg(cb, at), "marginal_after": _marg(ca, at),
    }, index=assets)
    return RefreshResult(table, cb, ca)
