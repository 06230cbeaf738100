"""Bias audit: how much of the history each market and channel contributes.

A model trained mostly on US data must say so. The audit tabulates, per group of assets
(each market, each channel, ...), how many periods and rows it has, its share of spend and of
outcome, the effective sample size of its return series and the standard error of its
return, and flags groups that are under-represented. :func:`audit_flags_for` repeats the flags
next to an allocation that puts money on those groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels
from ._common import effective_n
from ._history import validate_history

__all__ = ["BiasAudit", "bias_audit", "audit_flags_for", "plan_audit"]

_COLUMNS = [
    "attribute",
    "group",
    "n_assets",
    "periods_observed",
    "rows",
    "share_of_rows",
    "share_of_spend",
    "share_of_outcome",
    "return",
    "effective_n",
    "std_error",
    "relative_se",
    "flagged",
    "reason",
    "spend_per_period_min",
    "spend_per_period_max",
]


@dataclass(frozen=True)
class BiasAudit:
    """Result of :func:`bias_audit`.

    Attributes
    ----------
    table : DataFrame
        One row per (attribute, group) with the columns ``attribute``, ``group``,
        ``n_assets``, ``periods_observed`` (periods with at least one row of the group),
        ``rows``, ``share_of_rows`` (share of the history's rows), ``share_of_spend``,
        ``share_of_outcome``, ``return`` (total outcome / total spend), ``effective_n``
        (periods of the group's return series corrected for autocorrelation),
        ``std_error`` and ``relative_se`` of that return, ``flagged`` and ``reason``, and the
        range of the group's total spend per period over the periods it was observed
        (``spend_per_period_min``, ``spend_per_period_max``).
    flags : list of str
        Plain-language warnings, one per flagged group.
    thresholds : dict
        The thresholds used.
    n_periods : int
        Periods in the whole history.
    """

    table: pd.DataFrame
    flags: list[str]
    thresholds: dict = field(default_factory=dict)
    n_periods: int = 0

    def flagged(self) -> pd.DataFrame:
        """The rows of ``table`` that are flagged."""
        return self.table[self.table["flagged"]]

    def flags_for(self, spend: pd.Series, assets: pd.DataFrame) -> list[str]:
        """Flags relevant to an allocation (see :func:`audit_flags_for`)."""
        return audit_flags_for(spend, self, assets)

    def __str__(self) -> str:
        head = f"Bias audit ({self.n_periods} periods): "
        if not self.flags:
            return head + "no group under-represented."
        return head + f"{len(self.flags)} flag(s)\n- " + "\n- ".join(self.flags)


def _threshold(value: float | Mapping[str, float] | None, attribute: str, n_groups: int) -> float:
    if value is None:
        return 0.5 / max(n_groups, 1)
    if isinstance(value, Mapping):
        if attribute in value:
            return float(value[attribute])
        return 0.5 / max(n_groups, 1)
    return float(value)


def bias_audit(
    history: pd.DataFrame,
    by: Sequence[str] = ("market", "channel"),
    *,
    min_share: float | Mapping[str, float] | None = None,
    min_periods: int = 26,
    min_period_share: float = 0.5,
    max_relative_se: float = 0.10,
) -> BiasAudit:
    """Audit how much each market and channel contributes to the history.

    A group is flagged when any of these holds:

    - its share of the history's rows is below ``min_share`` (default: half of an even
      split, ``0.5 / n_groups`` - with two markets, below 25%);
    - it was observed in fewer than ``min_periods`` periods, or in less than
      ``min_period_share`` of the history's periods;
    - the standard error of its return exceeds ``max_relative_se`` of the return.

    Parameters
    ----------
    history : DataFrame
        Long history (see :func:`validate_history`).
    by : sequence of str, default ("market", "channel")
        Attributes to audit, each on its own.
    min_share : float or mapping, optional
        Threshold on the share of rows; a mapping gives one per attribute.
    min_periods : int, default 26
        Fewest periods observed.
    min_period_share : float, default 0.5
        Smallest share of the history's periods a group must be observed in.
    max_relative_se : float, default 0.10
        Largest standard error of the group's return, relative to the return.

    Returns
    -------
    BiasAudit

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> audit = bias_audit(simulate_history(random_state=0).history)
    >>> audit.table.set_index("group").loc["RU", "flagged"]
    np.True_
    """
    frame = validate_history(history)
    unknown = [b for b in by if b not in frame.columns]
    if unknown:
        raise EstimationError(
            f"bias_audit: unknown attribute(s) {format_labels(unknown)}; the history has "
            f"{format_labels(frame.columns)}."
        )
    periods = np.sort(frame["period"].unique())
    n_periods = len(periods)
    total_rows = len(frame)
    total_spend = float(frame["spend"].sum())
    total_outcome = float(frame["outcome"].sum())
    rows = []
    flags = []
    for attr in by:
        key = frame[attr].astype(object).where(frame[attr].notna(), "(none)").astype(str)
        groups = list(pd.unique(key))
        thr = _threshold(min_share, attr, len(groups))
        for g in groups:
            sub = frame[(key == g).to_numpy()]
            per = sub.groupby("period")[["spend", "outcome"]].sum().reindex(periods)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (per["outcome"] / per["spend"].where(per["spend"] > 0)).to_numpy()
            spend = float(sub["spend"].sum())
            outcome = float(sub["outcome"].sum())
            ret = outcome / spend if spend > 0 else np.nan
            n_obs = int(np.sum(~np.isnan(r)))
            ess = effective_n(r)
            sd = float(np.nanstd(r, ddof=1)) if n_obs > 1 else np.nan
            se = sd / np.sqrt(ess) if ess > 0 and n_obs > 1 else np.nan
            rel = se / abs(ret) if ret and np.isfinite(se) else np.nan
            share_rows = len(sub) / total_rows
            reasons = []
            if share_rows < thr:
                reasons.append(f"only {share_rows:.0%} of the history (threshold {thr:.0%})")
            if n_obs < min_periods or n_obs < min_period_share * n_periods:
                reasons.append(f"observed in {n_obs} of {n_periods} periods")
            if not np.isfinite(rel) or rel > max_relative_se:
                rel_txt = "unknown" if not np.isfinite(rel) else f"{rel:.0%}"
                reasons.append(f"standard error of its return {rel_txt} of the return")
            flagged = bool(reasons)
            share_spend = spend / total_spend if total_spend > 0 else np.nan
            share_out = outcome / total_outcome if total_outcome > 0 else np.nan
            rows.append(
                (
                    attr,
                    g,
                    int(sub["asset"].nunique()),
                    n_obs,
                    len(sub),
                    share_rows,
                    share_spend,
                    share_out,
                    ret,
                    ess,
                    se,
                    rel,
                    flagged,
                    "; ".join(reasons),
                    float(per["spend"].min()) if n_obs else np.nan,
                    float(per["spend"].max()) if n_obs else np.nan,
                )
            )
            if flagged:
                flags.append(
                    f"{attr.capitalize()} {g} is under-represented in the history: "
                    f"{'; '.join(reasons)}; {share_spend:.0%} of spend and {share_out:.0%} of "
                    f"outcome. Its estimated return ({ret:.3g} per unit"
                    + (f", +/- {se:.2g}" if np.isfinite(se) else "")
                    + ") is less reliable than the others' - treat recommendations that move "
                    f"money into or out of {g} with caution, or state a view."
                )
    table = pd.DataFrame(rows, columns=_COLUMNS)
    thresholds = {
        "min_share": min_share,
        "min_periods": min_periods,
        "min_period_share": min_period_share,
        "max_relative_se": max_relative_se,
    }
    return BiasAudit(table=table, flags=flags, thresholds=thresholds, n_periods=n_periods)


def audit_flags_for(
    allocation_spend: pd.Series,
    audit: BiasAudit,
    assets: pd.DataFrame,
    *,
    min_share: float = 0.0,
) -> list[str]:
    """The audit flags that concern an allocation, in plain language.

    A flagged group is reported when the allocation gives it more than ``min_share`` of the
    spend; the message compares its share of the recommendation with its share of the
    history, so a planner sees which recommendations rest on thin data.

    Parameters
    ----------
    allocation_spend : Series
        Spend per asset (for example ``Allocation.spend``).
    audit : BiasAudit
        From :func:`bias_audit` (or ``Estimates.audit``).
    assets : DataFrame
        Asset attributes indexed by asset id (with the audited attributes).
    min_share : float, default 0.0
        Report a group only when its share of the allocation exceeds this.

    Returns
    -------
    list of str
        One sentence per flagged group the allocation depends on.

    Examples
    --------
    >>> from portfolio_mkt.simulate import simulate_history
    >>> sim = simulate_history(random_state=0)
    >>> audit = bias_audit(sim.history)
    >>> spend = pd.Series(1.0, index=sim.assets.index)
    >>> any(s.startswith("Market RU") for s in audit_flags_for(spend, audit, sim.assets))
    True
    """
    if not isinstance(allocation_spend, pd.Series):
        raise EstimationError(
            "audit_flags_for: allocation_spend must be a Series of spend by asset id "
            "(e.g. Allocation.spend)."
        )
    missing = allocation_spend.index.difference(assets.index)
    if len(missing):
        raise EstimationError(
            f"audit_flags_for: no attributes for assets {format_labels(missing)}; pass the "
            "problem's asset table."
        )
    total = float(allocation_spend.sum())
    if total <= 0:
        return []
    out = []
    for _, row in audit.flagged().iterrows():
        attr, g = row["attribute"], row["group"]
        if attr not in assets.columns:
            continue
        vals = assets.loc[allocation_spend.index, attr]
        key = vals.astype(object).where(vals.notna(), "(none)").astype(str)
        share = float(allocation_spend[(key == g).to_numpy()].sum()) / total
        if share <= min_share:
            continue
        out.append(
            f"{attr.capitalize()} {g} gets {share:.0%} of the recommended spend, but the "
            f"history behind it is thin: {row['reason']}. Its return is "
            f"{row['return']:.3g} per unit"
            + (f" +/- {row['std_error']:.2g}" if np.isfinite(row["std_error"]) else "")
            + ", less certain than the rest: review this recommendation or state a view."
        )
    return out


_PLAN_COLUMNS = [
    "attribute",
    "group",
    "recommended_per_period",
    "observed_min",
    "observed_max",
    "outside_observed",
    "extrapolating_assets",
    "relative_se",
    "model_relative_width",
    "poorly_identified",
    "flagged",
    "reason",
]


def plan_audit(
    spend: pd.Series,
    audit: BiasAudit,
    assets: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
    horizon: int = 1,
    max_relative_se: float = 0.10,
    intervals: pd.DataFrame | None = None,
    max_relative_width: float = 1.0,
    tolerance: float = 0.01,
) -> pd.DataFrame:
    """What makes a recommended plan fragile, group by group (not only thin history).

    For every audited group (each market, each channel, ...) that the plan funds or that was
    funded in the history, the table says whether

    - the group's recommended spend per period lies **outside what was observed** (above the
      largest or below the smallest total spend per period the group ever had), and which of
      its assets are recommended beyond their own largest observed spend (with ``history``);
    - its return is **poorly identified**: the standard error of the group's historical return
      exceeds ``max_relative_se`` of the return, or (with ``intervals`` from
      :func:`curve_intervals`) the spend-weighted width of its assets' marginal-return
      intervals exceeds ``max_relative_width`` of the marginal return - the model cannot say
      what the next unit earns there.

    Parameters
    ----------
    spend : Series
        Recommended spend per plan by asset id (e.g. ``allocation.spend``; not the Allocation).
    audit : BiasAudit
        From :func:`bias_audit` on the same history.
    assets : DataFrame
        Asset attributes indexed by asset id.
    history : DataFrame, optional
        The long history; adds the per-asset extrapolation check.
    horizon : int, default 1
        Periods per plan (the plan is compared per period: ``spend / horizon``).
    max_relative_se : float, default 0.10
        Threshold on the historical return's relative standard error.
    intervals : DataFrame, optional
        Output of :func:`curve_intervals` (``marginal_roi``, ``marginal_lower``,
        ``marginal_upper`` by asset).
    max_relative_width : float, default 1.0
        Threshold on ``(upper - lower) / marginal_roi`` of the group.
    tolerance : float, default 0.01
        Relative slack before a spend counts as outside the observed range.

    Returns
    -------
    DataFrame
        One row per (attribute, group) with the columns ``attribute``, ``group``,
        ``recommended_per_period``, ``observed_min``, ``observed_max``,
        ``outside_observed`` ("above", "below" or ""), ``extrapolating_assets`` (list),
        ``relative_se``, ``model_relative_width``, ``poorly_identified``, ``flagged``,
        ``reason``.

    Raises
    ------
    EstimationError
        If ``spend`` is not a Series or names assets without attributes.
    """
    from ._extrapolation import extrapolating_assets  # noqa: PLC0415

    if not isinstance(spend, pd.Series):
        raise EstimationError(
            "plan_audit: spend must be a pandas Series of spend by asset id (e.g. "
            f"allocation.spend), not {type(spend).__name__}."
        )
    missing = spend.index.difference(assets.index)
    if len(missing):
        raise EstimationError(
            f"plan_audit: no attributes for assets {format_labels(missing)}; pass the "
            "problem's asset table."
        )
    h = int(horizon)
    if h < 1:
        raise EstimationError(f"plan_audit: horizon must be >= 1 period; got {horizon!r}.")
    per = spend.astype(float) / h
    extra = pd.DataFrame(columns=["ratio"])
    if history is not None:
        extra = extrapolating_assets(history, spend.astype(float), 1.0 + tolerance,
                                     horizon=h)
    rows = []
    for _, row in audit.table.iterrows():
        attr, g = row["attribute"], row["group"]
        if attr not in assets.columns:
            continue
        vals = assets.loc[per.index, attr]
        key = vals.astype(object).where(vals.notna(), "(none)").astype(str)
        members = per.index[(key == g).to_numpy()]
        rec = float(per[members].sum())
        lo = float(row.get("spend_per_period_min", np.nan))
        hi = float(row.get("spend_per_period_max", np.nan))
        outside = ""
        if np.isfinite(hi) and rec > hi * (1 + tolerance):
            outside = "above"
        elif np.isfinite(lo) and rec < lo * (1 - tolerance):
            outside = "below"
        ex = [a for a in extra.index if a in set(members)]
        rel = float(row["relative_se"])
        width = np.nan
        if intervals is not None and len(members):
            iv = intervals.reindex(members).dropna(subset=["marginal_roi"])
            if len(iv):
                w = per[iv.index].to_numpy()
                w = w / w.sum() if w.sum() > 0 else np.full(len(iv), 1 / len(iv))
                span = float(np.sum(w * (iv["marginal_upper"] - iv["marginal_lower"])))
                level = float(np.sum(w * iv["marginal_roi"]))
                width = span / abs(level) if level else np.inf
        poor_hist = not np.isfinite(rel) or rel > max_relative_se
        poor_model = np.isfinite(width) and width > max_relative_width
        reasons = []
        if outside == "above":
            reasons.append(f"recommended {rec:,.0f} per period, above the most it ever had "
                           f"({hi:,.0f})")
        elif outside == "below":
            reasons.append(f"recommended {rec:,.0f} per period, below the least it ever had "
                           f"({lo:,.0f})")
        if ex:
            reasons.append(f"assets beyond their largest observed spend: {format_labels(ex)}")
        if poor_hist:
            txt = "unknown" if not np.isfinite(rel) else f"{rel:.0%}"
            reasons.append(f"standard error of its historical return {txt} of the return")
        if poor_model:
            reasons.append(f"its marginal return interval is {width:.0%} of the estimate wide")
        funded = rec > 0 or (np.isfinite(hi) and hi > 0)
        if not funded:
            continue
        rows.append((attr, g, rec, lo, hi, outside, ex, rel, width,
                     bool(poor_hist or poor_model), bool(reasons), "; ".join(reasons)))
    return pd.DataFrame(rows, columns=_PLAN_COLUMNS)
