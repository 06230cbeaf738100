"""Regret of the per-asset path on simulated worlds with known truth.

Each seed simulates a 16-asset world (US and RU; search, social, video, events, email and
creators; exponential saturation, geometric carryover, yearly seasonality, correlated
shocks), US-heavy: RU spends 0.35x the US level and is recorded only for the last 35% of
the weeks. A plan is fitted from the history alone and valued under the TRUE curves against
the true optimum of the same weekly budget (the sum of the true base spend):

    regret           = 1 - value(plan) / value(optimum)
    uplift captured  = (value(plan) - value(historical split)) / (value(optimum) - value(hist))

Methods:

- ``documented``: ``problem_from_history(history, budget, curves=True).solve()`` as on main
  before this change (curves, sample covariance of outcome/spend ratios, risk_aversion 1);
- ``fixed``: the same problem built from the fixed per-asset path - curves fitted with the
  warm-up and cross-validated pooling (the new ``CurveImpliedReturn`` defaults), risk from the
  model (``CurveImpliedReturn.covariance_``) and the extrapolation cap at 2x the largest
  observed spend (``extrapolation_bounds``);
- ``fixed_nocap``, ``fixed_ratio_risk``: ``fixed`` without the cap / with the ratio covariance,
  to attribute the gain.

Usage::

    python benchmarks/regret.py --seeds 10              # 10 seeds, 104 weeks, all methods
    python benchmarks/regret.py --seeds 10 --methods documented fixed --periods 104 208
    python benchmarks/regret.py --seeds 20 --coverage   # coverage of the 90% intervals
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import portfolio_mkt as pm  # noqa: E402
from portfolio_mkt.simulate import Simulation, simulate_history  # noqa: E402

#: The 16-asset world of issue 10 (9 US assets with full history, 7 RU assets).
WORLD: dict = {
    "markets": ("US", "RU"),
    "creators": {"US": {"macro": 1, "micro": 2, "nano": 1}, "RU": {"micro": 1, "nano": 1}},
}


def simulate_world(seed: int, n_periods: int = 104, **kwargs) -> Simulation:
    """The benchmark world for one seed (``kwargs`` override :data:`WORLD` and defaults)."""
    opts = {**WORLD, "n_monte_carlo": 1000, **kwargs}
    return simulate_history(n_periods, random_state=seed, **opts)


def budget_of(sim: Simulation) -> float:
    """Weekly budget of the benchmark: the true historical spend level."""
    return float(sim.truth.curves["base_spend"].sum())


def plan_documented(sim: Simulation) -> pd.Series:
    """Plan of the documented path (whatever ``problem_from_history`` does on this branch)."""
    from portfolio_mkt.estimation import problem_from_history

    est = problem_from_history(sim.history, budget_of(sim), curves=True)
    return est.solve().spend


_FITS: dict = {}


def fitted_curves(sim: Simulation, **curve_options):
    """``CurveImpliedReturn`` fitted on the history (cached per simulation and options)."""
    from portfolio_mkt.estimation import CurveImpliedReturn, validate_history

    key = (id(sim), tuple(sorted(curve_options.items())))
    if key not in _FITS:
        _FITS.clear()  # one simulation at a time
        _FITS[key] = CurveImpliedReturn(**curve_options).fit(validate_history(sim.history))
    return _FITS[key]


def plan_fixed(sim: Simulation, *, extrapolation_limit: float | None = 2.0,
               risk: str = "model", **curve_options) -> pd.Series:
    """Plan of the fixed per-asset path (what ``problem_from_history`` builds once merged)."""
    from portfolio_mkt.estimation import (
        asset_table,
        current_from_history,
        extrapolation_bounds,
        fit_covariance,
        returns_matrix,
        validate_history,
    )

    frame = validate_history(sim.history)
    budget = budget_of(sim)
    cur = fitted_curves(sim, **curve_options)
    if risk == "model":
        cov = cur.covariance_
    elif risk == "ratio":
        cov = fit_covariance(returns_matrix(frame), "sample")
    else:
        cov = None
    cons = [] if extrapolation_limit is None else extrapolation_bounds(frame,
                                                                       extrapolation_limit)
    problem = pm.Problem(
        expected_return=cur.expected_return_, covariance=cov, budget=budget,
        assets=asset_table(frame), constraints=cons,
        current=current_from_history(frame, budget), risk_aversion=1.0,
        response=cur.curves_,
    )
    return pm.solve(problem).spend


METHODS = {
    "documented": plan_documented,
    "fixed": plan_fixed,
    "fixed_nocap": lambda sim: plan_fixed(sim, extrapolation_limit=None),
    "fixed_ratio_risk": lambda sim: plan_fixed(sim, risk="ratio"),
    "fixed_no_risk": lambda sim: plan_fixed(sim, risk="none"),
    "fixed_pool1": lambda sim: plan_fixed(sim, pool_strength=1.0),
    "fixed_pool10": lambda sim: plan_fixed(sim, pool_strength=10.0),
    "fixed_pool100": lambda sim: plan_fixed(sim, pool_strength=100.0),
}


def run(seeds: list[int], methods: list[str], periods: list[int]) -> pd.DataFrame:
    """One row per (periods, method, seed): regret, uplift captured, seconds."""
    rows = []
    for n in periods:
        for seed in seeds:
            sim = simulate_world(seed, n)
            for m in methods:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    spend = METHODS[m](sim)
                r = sim.truth.regret(spend)
                rows.append({"periods": n, "method": m, "seed": seed, "regret": r["regret"],
                             "uplift_captured": r["uplift_captured"],
                             "seconds": time.perf_counter() - t0})
                print(f"  {n:4d} w  seed {seed:3d}  {m:18s} regret {r['regret']:.4f}  uplift "
                      f"{r['uplift_captured']:.3f}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean (and worst) regret and mean uplift captured per method and history length."""
    g = table.groupby(["periods", "method"], sort=False)
    return pd.DataFrame({
        "seeds": g["seed"].count(),
        "mean_regret_pct": 100 * g["regret"].mean(),
        "worst_regret_pct": 100 * g["regret"].max(),
        "mean_uplift_captured_pct": 100 * g["uplift_captured"].mean(),
        "median_uplift_captured_pct": 100 * g["uplift_captured"].median(),
        "seconds_per_fit": g["seconds"].mean(),
    }).round(2)


def coverage(seeds: list[int], n_periods: int = 104, level: float = 0.9,
             **curve_options) -> pd.DataFrame:
    """Coverage of the stated intervals of the per-asset curves against the truth.

    Per seed: fit ``CurveImpliedReturn`` (parameter draws), take the ``level`` intervals of
    every asset's marginal and average return at its true base spend, and of the total
    outcome of two allocations (the historical split and the plan of the fixed path); count
    how often the truth lies inside.
    """
    rows = []
    q = [(1 - level) / 2, (1 + level) / 2]
    for seed in seeds:
        sim = simulate_world(seed, n_periods)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cur = fitted_curves(sim, **curve_options)
            plan = plan_fixed(sim, **curve_options)
        c = sim.truth.curves
        base = c["base_spend"]
        iv = cur.intervals(base, level)
        marg_true = c["beta"] / c["k"] * np.exp(-base / c["k"])
        avg_true = c["beta"] * (1 - np.exp(-base / c["k"])) / base
        hit_m = (iv["marginal_lower"] <= marg_true) & (marg_true <= iv["marginal_upper"])
        hit_a = (iv["roi_lower"] <= avg_true) & (avg_true <= iv["roi_upper"])
        out = {}
        for name, x in (("historical", base), ("plan", plan)):
            lo, hi = np.quantile(cur.draws_.outcome(x.reindex(base.index)), q)
            v = sim.truth.value(x)
            out[name] = bool(lo <= v <= hi)
        rows.append({"seed": seed, "n_assets": len(base),
                     "marginal_roi_covered": float(hit_m.mean()),
                     "average_roi_covered": float(hit_a.mean()),
                     "outcome_historical_covered": out["historical"],
                     "outcome_plan_covered": out["plan"],
                     "median_relative_width": float(
                         ((iv["marginal_upper"] - iv["marginal_lower"]) / marg_true).median())})
        print(f"  seed {seed:3d} coverage marginal {hit_m.mean():.2f} average {hit_a.mean():.2f}"
              f" outcome {out}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds (0..n-1)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--periods", type=int, nargs="+", default=[104])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--coverage", action="store_true",
                    help="coverage of the 90%% intervals instead of regret")
    args = ap.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.coverage:
        cov = coverage(seeds, args.periods[0])
        summary = cov.drop(columns=["seed"]).mean().round(3)
        print(f"Coverage of 90% intervals over {len(seeds)} seeds ({args.periods[0]} weeks):")
        print(summary.to_string())
        return 0
    table = run(seeds, args.methods, args.periods)
    print(summarize(table).to_string())
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
