"""Measurements of the operating loop (docs/loop.md quotes them).

    python benchmarks/loop_measure.py alerts      # M1: alert rates over 100 noise seeds
    python benchmarks/loop_measure.py backtest    # M2: walk-forward backtest over 5 worlds
    python benchmarks/loop_measure.py speed       # M3: workspace writes and monitoring time
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import portfolio_mkt as pm  # noqa: E402
from portfolio_mkt.loop import allocation_rows, backtest, compare  # noqa: E402
from portfolio_mkt.response import ExponentialSaturation  # noqa: E402
from portfolio_mkt.simulate import simulate_history  # noqa: E402

WEEKS = 52


def alerts(n_seeds: int = 100) -> None:
    t = simulate_history(n_periods=8, random_state=0).truth
    weekly = float(t.curves["base_spend"].sum())
    curves = {a: ExponentialSaturation(beta=WEEKS * r.beta, k=WEEKS * r.k)
              for a, r in t.curves.iterrows()}
    alloc = pm.solve(pm.Problem(t.expected_return, covariance=t.covariance,
                                budget=WEEKS * weekly, response=curves, risk_aversion=0.0))
    periods = list(pd.date_range("2025-01-06", periods=WEEKS, freq="W-MON"))
    rows = allocation_rows(alloc, periods)
    rows["plan_id"] = 1
    x = alloc.spend / WEEKS
    ids = list(x.index)
    true_week = np.array([t.curves.loc[a, "beta"] * (1 - np.exp(-x[a] / t.curves.loc[a, "k"]))
                          for a in ids])
    cov = t.covariance.loc[ids, ids].to_numpy()
    target, small = "us_search", "us_social"
    shift = np.array([-0.25 if a == target else (-0.03 if a == small else 0.0) for a in ids])
    hit = small_hit = fd = dv = cw = 0
    weeks_to_find = []
    for seed in range(n_seeds):
        eps = np.random.default_rng(seed).multivariate_normal(np.zeros(len(ids)), cov, WEEKS)
        y = true_week * (1 + shift) + x.to_numpy() * eps
        act = pd.DataFrame({"period": np.repeat(periods, len(ids)), "asset": ids * WEEKS,
                            "spend": np.tile(x.to_numpy(), WEEKS), "outcome": y.ravel()})
        res = compare(rows, act)
        al = res.alerts
        d = al[(al.asset == target) & (al.kind == "drift_down")]
        hit += len(d) > 0
        if len(d):
            weeks_to_find.append(periods.index(d.period.iloc[0]) + 1)
        small_hit += bool(((al.asset == small) & al.kind.str.startswith("drift")).any())
        clean = ~al.asset.isin([target, small])
        fd += int((clean & al.kind.str.startswith("drift")).sum())
        dv += int((clean & (al.kind == "deviation")).sum())
        cw += int((~res.table.asset.isin([target, small])).sum())
    n_clean = cw // WEEKS // n_seeds
    cv = float(rows.loc[rows.asset == target, "sd_per_unit"].iloc[0]
               * x[target] / true_week[ids.index(target)])
    print(f"M1 alerts over {n_seeds} seeds x {WEEKS} weeks, {len(ids)} assets "
          f"(us_search weekly noise {cv:.0%} of its prediction):")
    print(f"  25% shortfall (us_search) found by CUSUM: {hit / n_seeds:.0%} of years, "
          f"median {np.median(weeks_to_find):.0f} weeks")
    print(f"  3% deviation (us_social) drift-alerted: {small_hit / n_seeds:.0%} of years")
    print(f"  false drift alarms: {fd / (n_clean * n_seeds):.2%} of clean asset-years")
    print(f"  false deviation alerts: {dv / cw:.2%} of clean asset-weeks")


def backtests(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> None:
    rows = []
    for seed in seeds:
        sim = simulate_history(n_periods=104, random_state=seed)
        t0 = time.perf_counter()
        res = backtest(sim.history, truth=sim.truth, start=52, step=13)
        s = res.summary()
        s["seed"] = seed
        s["seconds"] = time.perf_counter() - t0
        s["median_wmape"] = float(res.forecasts["wmape"].median())
        rows.append(s.reset_index())
    out = pd.concat(rows)
    print("M2 walk-forward backtest, 104 simulated weeks, decisions at weeks 53, 66, 79, 92 "
          "(true steady-state response); machine loaded (8 jobs on 2 cores):")
    print(out.pivot(index="seed", columns="policy", values="share_of_optimum").round(3)
          .to_string())
    lib = out[out.policy == "library"]
    print(f"  library beats historical in {lib.beats_historical.mean():.0%} of decisions; "
          f"median forecast wMAPE {lib.median_wmape.median():.1%}; "
          f"{lib.seconds.mean():.0f} s per backtest")


def speed(n_assets: int = 500, n_periods: int = 52) -> None:
    import tempfile

    from portfolio_mkt.loop import Workspace, monitor

    periods = list(pd.date_range("2025-01-06", periods=n_periods, freq="W-MON"))
    rng = np.random.default_rng(0)
    ids = [f"a{i}" for i in range(n_assets)]
    rows = [{"asset": a, "period": p, "spend": 100.0, "expected": 250.0, "low": 150.0,
             "high": 350.0, "marginal": 1.2, "sd_per_unit": 0.4, "level": 0.99}
            for p in periods for a in ids]
    act = pd.DataFrame({"period": np.repeat(periods, n_assets), "asset": ids * n_periods,
                        "spend": 100.0, "outcome": 250.0 + 40 * rng.standard_normal(
                            n_assets * n_periods)})
    with Workspace(Path(tempfile.mkdtemp()) / "ws.db") as ws:
        t0 = time.perf_counter()
        ws.add_plan(name="big", plan_text="x", plan_hash="h", allocations=rows)
        t1 = time.perf_counter()
        ws.add_actuals(act)
        t2 = time.perf_counter()
        res = monitor(ws)
        t3 = time.perf_counter()
    n = n_assets * n_periods
    print(f"M3 workspace with {n_assets} assets x {n_periods} periods ({n:,} rows), machine "
          "loaded (8 jobs on 2 cores):")
    print(f"  record plan {t1 - t0:.2f} s, store actuals {t2 - t1:.2f} s, monitor (read, "
          f"compare, CUSUM, store {len(res.alerts)} alerts) {t3 - t2:.2f} s")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "alerts"
    if which == "alerts":
        alerts()
    elif which == "speed":
        speed()
    else:
        backtests()
