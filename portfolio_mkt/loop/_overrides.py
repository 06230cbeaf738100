"""How overrides performed against what the model recommended, grouped by reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._store import Workspace, period_key

__all__ = ["override_report", "OVERRIDE_COLUMNS"]

OVERRIDE_COLUMNS = [
    "override_id", "plan_id", "asset", "period", "reason", "who", "confidence", "spend_from",
    "spend_to", "spend", "actual", "counterfactual", "cf_low", "cf_high", "net_gain",
    "gain_low", "gain_high",
]


def override_report(workspace: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare each override, once actuals exist, with the model's recommendation.

    For an override of asset ``a`` in period ``t`` from the recommended spend ``x`` to ``y``:

    - the *counterfactual* is the model's predicted outcome had the recommendation been
      followed (the fitted curve at ``x``, as recorded), with its predictive interval;
    - the *net gain* is ``actual - counterfactual - lambda * (spend - x)``: the outcome the
      override delivered minus what the model promised, with the money moved in or out of the
      asset valued at the plan's marginal return of money ``lambda`` (median marginal return
      of the funded assets), so that spending more is not counted as a win by itself;
    - its interval is the counterfactual's predictive interval carried through.

    Parameters
    ----------
    workspace : Workspace

    Returns
    -------
    (DataFrame, DataFrame)
        Per override and period (:data:`OVERRIDE_COLUMNS`), and per reason: ``overrides``
        (count), ``periods``, ``net_gain`` (total), ``gain_low``/``gain_high`` (interval of
        the total, independent periods), ``won`` (share of periods with a positive gain),
        ``mean_confidence`` and a ``verdict``.
    """
    ov = workspace.overrides()
    empty = (pd.DataFrame(columns=OVERRIDE_COLUMNS), pd.DataFrame(
        columns=["overrides", "periods", "net_gain", "gain_low", "gain_high", "won",
                 "mean_confidence", "verdict"]))
    if ov.empty:
        return empty
    alloc = workspace.allocations()
    act = workspace.actuals()
    if alloc.empty or act.empty:
        return empty
    alloc["pkey"] = [period_key(p) for p in alloc["period"]]
    act["pkey"] = [period_key(p) for p in act["period"]]
    act = act.set_index(["asset", "pkey"])
    lam = {
        pid: float(np.nanmedian(g.loc[g["spend"] > 0, "marginal"].to_numpy(float)))
        if g["marginal"].notna().any() else np.nan
        for pid, g in alloc.groupby("plan_id")
    }
    rows = []
    for o in ov.itertuples(index=False):
        rec = alloc[(alloc["plan_id"] == o.plan_id) & (alloc["asset"] == o.asset)]
        if o.period is not None and not pd.isna(o.period):
            rec = rec[rec["pkey"] == period_key(o.period)]
        for r in rec.itertuples(index=False):
            if (o.asset, r.pkey) not in act.index:
                continue
            a = act.loc[(o.asset, r.pkey)]
            level = r.level if pd.notna(r.level) else 0.99
            z = float(norm.ppf(0.5 + level / 2))
            sd = (r.high - r.low) / (2 * z) if pd.notna(r.high) else np.nan
            lm = lam.get(o.plan_id, np.nan)
            moved = float(a["spend"]) - float(r.spend)
            value_moved = (lm if np.isfinite(lm) else 0.0) * moved
            gain = float(a["outcome"]) - float(r.expected) - value_moved
            rows.append({
                "override_id": int(o.id), "plan_id": o.plan_id, "asset": o.asset,
                "period": r.period, "reason": o.reason, "who": o.who,
                "confidence": o.confidence, "spend_from": float(r.spend),
                "spend_to": float(o.spend_to), "spend": float(a["spend"]),
                "actual": float(a["outcome"]), "counterfactual": float(r.expected),
                "cf_low": r.low, "cf_high": r.high, "net_gain": gain,
                "gain_low": gain - z * sd, "gain_high": gain + z * sd, "_sd": sd, "_z": z,
            })
    if not rows:
        return empty
    per = pd.DataFrame(rows)
    groups = []
    for reason, g in per.groupby("reason", sort=True):
        total = float(g["net_gain"].sum())
        half = float(g["_z"].iloc[0] * np.sqrt(np.nansum(g["_sd"] ** 2)))
        lo, hi = total - half, total + half
        if lo > 0:
            verdict = "overrides beat the model: it may miss context here"
        elif hi < 0:
            verdict = "overrides lost to the model: habit rather than information?"
        else:
            verdict = "no clear difference yet"
        groups.append({
            "reason": reason, "overrides": g["override_id"].nunique(), "periods": len(g),
            "net_gain": total, "gain_low": lo, "gain_high": hi,
            "won": float((g["net_gain"] > 0).mean()),
            "mean_confidence": float(pd.to_numeric(g["confidence"]).mean()),
            "verdict": verdict,
        })
    return per[OVERRIDE_COLUMNS], pd.DataFrame(groups).set_index("reason")
