"""Calibration of a media-mix model's uncertainty on simulated worlds with known truth.

For each seed: simulate a single-KPI world (:func:`portfolio_mkt.simulate_kpi.simulate_kpi`),
fit :class:`MediaMixModel`, draw parameters, then check

- **coverage**: how often the stated 90% interval holds the true value, for each channel's ROI
  over the history, marginal ROI at the current spend and contribution, and for the media
  outcome of the recommended and of the historical allocation;
- **directions**: for each channel, the recommendation "spend more / less than history"; its
  confidence is the share of draws whose own optimum moves the same way; it is right when the
  true optimum moves the same way;
- **regret**: ``1 - true outcome(recommended) / true outcome(true optimum)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._optimum import allocate_concave

__all__ = ["calibrate_seed", "calibrate", "summarize_calibration"]


class _MeanCurve:
    """Average of the draws' curves (concave if every curve is)."""

    def __init__(self, curves: Sequence[Any]) -> None:
        self.curves = list(curves)

    def value(self, x: Any) -> np.ndarray:
        return np.mean([c.value(x) for c in self.curves], axis=0)

    def derivative(self, x: Any) -> np.ndarray:
        return np.mean([c.derivative(x) for c in self.curves], axis=0)


def calibrate_seed(seed: int, *, n_periods: int = 104, n_channels: int = 3,
                   n_draws: int = 100, method: str = "bootstrap", level: float = 0.9,
                   min_change: float = 0.05, world_kwargs: dict | None = None,
                   model_kwargs: dict | None = None) -> dict[str, Any]:
    """Coverage, direction and regret records of one simulated world (see module docstring).

    Returns
    -------
    dict
        ``coverage``: list of (quantity, asset, covered); ``directions``: list of
        (asset, confidence, right); ``regret`` and ``regret_mean_curve`` (floats).
    """
    from ..simulate_kpi import simulate_kpi
    from ._model import MediaMixModel

    world = simulate_kpi(n_periods, n_channels, seed=seed, **(world_kwargs or {}))
    kw = world.model_kwargs()
    kw.update(model_kwargs or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MediaMixModel(**kw).fit(world.data)
    model.sample(n_draws, method=method, random_state=seed)
    truth = world.truth
    ids = list(truth.curves)
    hist = truth.historical_spend.reindex(ids)
    budget = float(hist.sum())
    x_true, best = truth.optimum(budget)
    q = (1 - level) / 2
    cover: list[tuple[str, str, bool]] = []
    # channel quantities
    s = model.draw_summary(level=level)
    comp = truth.components
    for a in ids:
        p = truth.params.loc[a]
        rows = comp["market"] == p["market"]
        contrib = float(comp.loc[rows, p["channel"]].sum())
        spend = float(world.data.loc[
            (world.data["market"] == p["market"]) if world.geo else slice(None), p["channel"]
        ].sum())
        true_vals = {"contribution": contrib, "roi": contrib / spend,
                     "marginal_roi": float(truth.curves[a].derivative(p["mean_spend"]))}
        for k, v in true_vals.items():
            cover.append((k, a, bool(s.loc[a, f"{k}_lo"] <= v <= s.loc[a, f"{k}_hi"])))
    # allocations
    x_rec = allocate_concave(model.curves_, budget).reindex(ids)
    draws = model.draw_curves()
    for name, x in (("outcome_recommended", x_rec), ("outcome_historical", hist)):
        vals = np.array([sum(float(d[a].value(x[a])) for a in ids) for d in draws])
        lo, hi = np.quantile(vals, [q, 1 - q])
        cover.append((name, "plan", bool(lo <= truth.outcome(x) <= hi)))
    # directions
    dirs = []
    draw_opt = [allocate_concave(d, budget).reindex(ids) for d in draws]
    for a in ids:
        change = x_rec[a] - hist[a]
        if abs(change) < min_change * hist[a]:
            continue
        sign = np.sign(change)
        conf = float(np.mean([np.sign(x[a] - hist[a]) == sign for x in draw_opt]))
        dirs.append((a, conf, bool(np.sign(x_true[a] - hist[a]) == sign)))
    mean_curves = {a: _MeanCurve([d[a] for d in draws]) for a in ids}
    x_mean = allocate_concave(mean_curves, budget)
    return {
        "seed": seed,
        "coverage": cover,
        "directions": dirs,
        "regret": 1.0 - truth.outcome(x_rec) / best,
        "regret_mean_curve": 1.0 - truth.outcome(x_mean) / best,
        "regret_historical": 1.0 - truth.outcome(hist) / best,
    }


def calibrate(seeds: Sequence[int], *, n_jobs: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`calibrate_seed` over ``seeds`` (joblib processes when ``n_jobs > 1``)."""
    if n_jobs == 1:
        return [calibrate_seed(s, **kwargs) for s in seeds]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=n_jobs)(delayed(calibrate_seed)(s, **kwargs) for s in seeds))


def summarize_calibration(records: Sequence[dict[str, Any]],
                          threshold: float = 0.85) -> pd.DataFrame:
    """One table: coverage per quantity, directions at ``>= threshold`` confidence, regret."""
    cov = pd.DataFrame([c for r in records for c in r["coverage"]],
                       columns=["quantity", "asset", "covered"])
    rows = []
    for qn, g in cov.groupby("quantity", sort=False):
        rows.append({"measure": f"coverage of 90% interval: {qn}", "value": g["covered"].mean(),
                     "n": len(g)})
    rows.append({"measure": "coverage of 90% interval: all", "value": cov["covered"].mean(),
                 "n": len(cov)})
    d = pd.DataFrame([x for r in records for x in r["directions"]],
                     columns=["asset", "confidence", "right"])
    sure = d[d["confidence"] >= threshold] if len(d) else d
    rows.append({"measure": f"directions stated at >= {threshold:.0%}: share right",
                 "value": sure["right"].mean() if len(sure) else np.nan, "n": len(sure)})
    rows.append({"measure": "directions, all: share right",
                 "value": d["right"].mean() if len(d) else np.nan, "n": len(d)})
    for k in ("regret", "regret_mean_curve", "regret_historical"):
        v = np.array([r[k] for r in records])
        rows.append({"measure": f"mean {k.replace('_', ' ')}", "value": v.mean(), "n": len(v)})
    return pd.DataFrame(rows).set_index("measure")
