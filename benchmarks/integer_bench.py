"""Benchmark of whole-piece plans: proven optimality at 40 creators, a time limit at 200.

Run::

    python benchmarks/integer_bench.py              # full (a few minutes)
    python benchmarks/integer_bench.py --quick      # one seed each

Measures, for creators with minimum tickets, concave response curves (log, exponential,
Michaelis-Menten), a covariance and a per-market count limit:

1. 40 creators, dense covariance: time and nodes to a proven 1e-4 gap, with and without the
   perspective tightening;
2. the same 40-creator models given directly to SCIP (PySCIPOpt: nonlinear curves, quadratic
   risk, binaries), same gap and a time limit, when PySCIPOpt is installed;
3. 200 creators, factor and dense covariance, a 30 s limit: status and proven gap.

The machine may be shared: times are wall-clock and say so.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import portfolio_mkt as pm
from portfolio_mkt.integer import Cardinality, MinimumTicket, solve_integer
from portfolio_mkt.response import ExponentialSaturation, Logarithmic, MichaelisMenten
from portfolio_mkt.risk import FactorCovariance


def world(n: int, seed: int, budget: float = 1_000_000.0, factor: bool = False,
          delta: float = 2.0) -> tuple[pm.Problem, list]:
    """Creators with tickets, concave curves, covariance and a per-market limit."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:03d}" for i in range(n)]
    fams = (Logarithmic, ExponentialSaturation, MichaelisMenten)
    curves = {}
    for i, a in enumerate(ids):
        m = 1 + i % 3
        beta = rng.uniform(0.5, 2.0) * budget / n * m
        k = rng.uniform(0.3, 1.5) * budget / n * m
        curves[a] = fams[i % 3](beta, k)
    vol = rng.uniform(0.2, 0.6, n)
    f = rng.normal(size=(n, 2)) * 0.3
    if factor:
        cov = FactorCovariance(
            pd.DataFrame(f * vol[:, None], index=ids, columns=["f1", "f2"]),
            pd.DataFrame(np.eye(2), index=["f1", "f2"], columns=["f1", "f2"]),
            pd.Series(vol**2, index=ids))
    else:
        corr = f @ f.T + np.eye(n)
        d = np.sqrt(np.diag(corr))
        corr = corr / np.outer(d, d)
        cov = pd.DataFrame(corr * np.outer(vol, vol), index=ids, columns=ids)
    fees = rng.uniform(0.2, 1.0, n) * budget / (n / 10)
    assets = pd.DataFrame({"market": rng.choice(["US", "RU"], n), "fee": fees}, index=ids)
    p = pm.Problem(pd.Series(1.0, index=ids), cov, budget=budget, assets=assets,
                   response=curves, risk_aversion=delta)
    rules = [MinimumTicket(fee="fee"), Cardinality(where={"market": "US"}, at_most=n // 8)]
    return p, rules


def scip_direct(p: pm.Problem, rules: list, gap: float, time_limit: float) -> dict:
    """The same model handed to SCIP directly (shares of the budget, epigraph objective)."""
    import pyscipopt as ps

    b = p.budget
    n = p.n_assets
    fees = p.assets["fee"].to_numpy() / b
    us = (p.assets["market"] == "US").to_numpy()
    cov = p.covariance_matrix().to_numpy()
    m = ps.Model()
    m.hideOutput()
    m.setParam("limits/gap", gap)
    m.setParam("limits/time", time_limit)
    w = [m.addVar(lb=0, ub=1) for _ in range(n)]
    z = [m.addVar(vtype="B") for _ in range(n)]
    t = [m.addVar(lb=None) for _ in range(n)]
    risk = m.addVar(lb=0)
    for i, a in enumerate(p.index):
        m.addCons(w[i] >= fees[i] * z[i])
        m.addCons(w[i] <= z[i])
        c = p.response[a].rescale(b)
        if isinstance(c, Logarithmic):
            m.addCons(t[i] <= c.beta * ps.log(1 + w[i] / c.k))
        elif isinstance(c, ExponentialSaturation):
            m.addCons(t[i] <= c.beta * (1 - ps.exp(-w[i] / c.k)))
        else:
            m.addCons(t[i] * (c.k + w[i]) <= c.beta * w[i])
    m.addCons(ps.quicksum(w) == 1)
    m.addCons(ps.quicksum(z[i] for i in range(n) if us[i]) <= rules[1].at_most)
    m.addCons(ps.quicksum(cov[i, j] * w[i] * w[j] for i in range(n) for j in range(n))
              <= risk)
    m.setObjective(ps.quicksum(t) - p.risk_aversion / 2 * risk, "maximize")
    t0 = time.perf_counter()
    m.optimize()
    elapsed = time.perf_counter() - t0
    status = m.getStatus()
    obj = m.getObjVal() * b if m.getNSols() else np.nan
    return {"status": status, "time": elapsed, "objective": obj, "gap": m.getGap(),
            "nodes": m.getNNodes()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed per measurement")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# integer benchmark (wall clock; machine load average {load:.1f} on "
          f"{os.cpu_count()} CPUs: shared, times are upper bounds)")
    rows = []
    for seed in seeds:
        p, rules = world(40, seed)
        for persp in (True, False):
            t0 = time.perf_counter()
            plan = solve_integer(p, rules, gap=1e-4, time_limit=None if persp else 20.0,
                                 perspective=persp)
            rows.append({"case": "40 dense", "seed": seed,
                         "method": "B&B perspective" if persp else "B&B big-M (20 s limit)",
                         "status": plan.status, "gap": plan.gap, "nodes": plan.nodes,
                         "search_s": plan.solve_time, "total_s": time.perf_counter() - t0,
                         "objective": plan.objective})
        try:
            res = scip_direct(p, rules, 1e-4, 60.0)
            rows.append({"case": "40 dense", "seed": seed, "method": "SCIP direct (60 s)",
                         "status": res["status"], "gap": res["gap"], "nodes": res["nodes"],
                         "search_s": res["time"], "total_s": res["time"],
                         "objective": res["objective"]})
        except ImportError:
            print("# PySCIPOpt not installed: SCIP comparison skipped")
    for seed, factor in [(0, True), (0, False)]:
        p, rules = world(200, seed, factor=factor)
        t0 = time.perf_counter()
        plan = solve_integer(p, rules, gap=1e-4, time_limit=30.0)
        rows.append({"case": "200 factor" if factor else "200 dense", "seed": seed,
                     "method": "B&B perspective (30 s)",
                     "status": plan.status, "gap": plan.gap, "nodes": plan.nodes,
                     "search_s": plan.solve_time, "total_s": time.perf_counter() - t0,
                     "objective": plan.objective})
    df = pd.DataFrame(rows)
    df["gap"] = df["gap"].map("{:.1e}".format)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.4g}".format):
        print(df.to_string(index=False))


if __name__ == "__main__":
    main()
