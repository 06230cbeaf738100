"""Benchmark of the on/off minimum per asset-week (portfolio_mkt.window.PeriodMinSpend).

For windows of the window benchmark (``window_bench.make_case``: mixed curves, carryover,
carry-in, seasonality, factor covariance with correlated weeks, a month floor, phasing; its
pacing rule is left out, as it would forbid switching an asset on), the ``k`` assets that
spend least in the plain plan (of those spending at least a tenth of the average) get an
on/off minimum of twice their median weekly spend in every week, so the minimum binds.
Reported: asset-weeks decided, nodes, convex solves, status and proven gap of the branch and
bound, its time, the time of the plain plan, and the ratio.

Run:  PYTHONPATH=. python benchmarks/window_onoff_bench.py [--quick] [--time-limit 300]
      (--quick: the two small cases; under 60 s on an idle machine)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from window_bench import make_case  # noqa: E402  (the same windows as the window benchmark)

from portfolio_mkt.window import PeriodMinSpend, plan_window  # noqa: E402


def run_case(n: int, T: int, k: int, time_limit: float) -> dict:
    base = make_case(n, T)
    keep = [c for c in base.constraints if c.name != "pacing" and c.kind != "scoped"]
    wp0 = base.replace(constraints=keep)
    t0 = time.perf_counter()
    plain = plan_window(wp0, value_of_timing=False)
    t_plain = time.perf_counter() - t0
    x = plain.spend
    totals = x.sum()
    funded = totals[totals > 0.1 * totals.mean()].sort_values()
    chosen = list(funded.index[:k])
    weekly = x[chosen].to_numpy()
    m = 2.0 * float(np.median(weekly[weekly > 0.01 * weekly.max()]))
    wp1 = base.replace(constraints=[*keep, PeriodMinSpend(m, assets=chosen, name="ticket")])
    t0 = time.perf_counter()
    plan = plan_window(wp1, value_of_timing=False, time_limit=time_limit)
    t_onoff = time.perf_counter() - t0
    s = plan.search
    v = plan.spend[chosen].to_numpy()
    ok = bool(np.all((v == 0) | (v >= m * (1 - 1e-7))))
    return {"assets x weeks": f"{n} x {T}", "on/off cells": k * T, "minimum": round(m),
            "on": int(plan.on_off["on"].sum()), "nodes": s["nodes"], "solves": s["solves"],
            "status": s["status"], "gap": s["gap"],
            "root - plan (rel)": (s["root_bound"] - s["objective"]) / abs(s["objective"]),
            "plain s": t_plain, "on/off s": t_onoff, "ratio": t_onoff / t_plain,
            "s per solve": s["elapsed"] / max(s["solves"], 1), "0 or >= m": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--time-limit", type=float, default=300.0)
    args = ap.parse_args()
    cases = [(10, 8, 2), (20, 13, 3)]
    if not args.quick:
        cases += [(50, 13, 5), (100, 13, 8)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load average {load:.1f}")
    rows = [run_case(n, T, k, args.time_limit) for n, T, k in cases]
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
