"""Response curves in the program: exact exponential cone vs piecewise-linear approximations.

Problem: n assets with logarithmic response curves r_i(x) = beta_i log(1 + x / k_i), a factor
covariance (variance risk, risk aversion delta), the budget spent exactly, long only:

    maximise  sum_i r_i(B w_i) / B - delta/2 * w' Sigma w   s.t.  sum w = 1,  w >= 0

Methods (all through portfolio_mkt.response.make_return_term):
  exact      exponential cone (cp.log1p), Clarabel
  uni32      uniform 32-segment PWL, OSQP and Clarabel
  adaptive   adaptive PWL at 0.1% tolerance, OSQP and Clarabel

Reported: wall time of the solve call (cvxpy canonicalisation + solver), the solver's own
time, the number of PWL pieces, and the optimality gap of the TRUE utility at each method's
allocation against the exact optimum, relative to the exact optimum. Run:

    python benchmarks/response_bench.py            # n = 20, 200, 1000 (about a minute)
    python benchmarks/response_bench.py --sizes 20 200
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from portfolio_mkt.response import Logarithmic, make_return_term  # noqa: E402
from portfolio_mkt.response._term import _cached_approximation  # noqa: E402

BUDGET = 2_000_000.0
DELTA = 2.0
SETTINGS = {
    "CLARABEL": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9},
    "OSQP": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iter": 20_000, "polish": True},
}


def make_case(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"a{i}" for i in range(n)])
    k = rng.uniform(0.2, 2.0, n) * BUDGET / n
    roi0 = rng.uniform(1.5, 5.0, n)  # marginal ROI at zero spend
    curves = {a: Logarithmic(r * kk, kk) for a, r, kk in zip(idx, roi0, k, strict=True)}
    m = 5
    loadings = rng.normal(0.0, 0.3, (n, m))
    specific = rng.uniform(0.05, 0.3, n) ** 2
    return idx, curves, loadings, specific


def true_utility(term, x, loadings, specific):
    w = x / BUDGET
    ret = float(term.own_outcome(x).sum()) / BUDGET
    var = float(np.sum((loadings.T @ w) ** 2) + np.sum(specific * w**2))
    return ret - DELTA / 2 * var


def run(n: int, method: str, breakpoints: str, solver: str, case) -> dict:
    idx, curves, loadings, specific = case
    _cached_approximation.cache_clear()  # time the breakpoint placement every run
    term = make_return_term(curves, idx, np.zeros(n), None, 1e-3, method=method,
                            breakpoints=breakpoints, segments=32)
    w = cp.Variable(n, nonneg=True)
    tb = time.perf_counter()
    expr, cons = term.build(w, BUDGET)
    build = time.perf_counter() - tb
    var = cp.sum_squares(loadings.T @ w) + cp.sum(cp.multiply(specific, cp.square(w)))
    prob = cp.Problem(cp.Maximize(cp.sum(expr) - DELTA / 2 * var), [cp.sum(w) == 1, *cons])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prob.solve(solver=solver, **SETTINGS[solver])
        except cp.error.SolverError:
            pass
    wall = time.perf_counter() - t0
    stats = prob.solver_stats
    x = None if w.value is None else np.clip(w.value, 0, None) * BUDGET
    pieces = sum(p.segments for p in term.approximations.values())
    return {
        "n": n,
        "method": "exact" if method == "auto" else f"{breakpoints}",
        "solver": solver,
        "status": prob.status,
        "iters": getattr(stats, "num_iters", None),
        "build_s": build,
        "wall_s": wall,
        "solver_s": getattr(stats, "solve_time", None),
        "pieces": pieces,
        "bound": sum(1e-3 * float(c.value(BUDGET)) for c in curves.values()) / BUDGET
        if breakpoints == "adaptive" and method == "pwl" else np.nan,
        "utility": None if x is None else true_utility(term, x, loadings, specific),
        "x": x,
    }


def main(sizes: list[int]) -> pd.DataFrame:
    rows = []
    for n in sizes:
        case = make_case(n)
        exact = run(n, "auto", "adaptive", "CLARABEL", case)
        rows.append(exact)
        for bp in ("uniform", "adaptive"):
            for solver in ("OSQP", "CLARABEL"):
                rows.append(run(n, "pwl", bp, solver, case))
        for r in rows[-5:]:
            u = r["utility"]
            r["gap"] = np.nan if u is None else (exact["utility"] - u) / abs(exact["utility"])
            r["bound"] = r["bound"] / abs(exact["utility"])
            r["budget_err"] = np.nan if r["x"] is None else abs(r["x"].sum() - BUDGET) / BUDGET
    table = pd.DataFrame(rows).drop(columns=["x", "utility"])
    table["method"] = table["method"].replace({"uniform": "uniform-32 PWL",
                                               "adaptive": "adaptive PWL"})
    return table


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 1000])
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = main(args.sizes)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s. gap = (exact utility - true utility at the "
          "method's allocation) / |exact utility|;\nbound = guaranteed gap of the adaptive PWL "
          "(sum of 0.1% of each curve at the budget) / |exact utility|; pieces = PWL segments;\n"
          "build_s = breakpoints + cvxpy expression; wall_s = cvxpy solve call; solver_s = "
          "solver's own time.")
