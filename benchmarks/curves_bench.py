"""Logistic and Hill curves to the exact optimum: ours against the piecewise path, an independent
optimum and PyMC-Marketing's budget optimizer, in one process.

Problem: n assets, half logistic ``beta tanh(lam x / 2)`` and half S-shaped Hill
``beta x^s / (k^s + x^s)`` (slope 1.2 to 3, on its concave envelope, as the library plans them),
the budget spent exactly, a cap of 3/n of the budget per asset and a floor of 50% on the assets of
one market (every third asset).

Columns (time: median of interleaved repeats, wall clock of the whole call):
  ours      solve_curves_exact on the same plan object each repeat: the direct route (no cvxpy:
            a chord LP, Newton steps, Newton on the KKT equations, the gap proven by weak
            duality on the tangent-line relaxation), its compiled rows kept on the plan
  cold      the same on a new plan object each repeat (rows compiled again; the plans are built
            before the clock starts)
  pwl       pm.solve(exact_curves=False): the piecewise-linear program through cvxpy alone
  oracle    scipy SLSQP (ftol 1e-16, analytic gradients) from several starts (uniform, random,
            and the piecewise answer) on the same curves, written out independently here
  pymc      PyMC-Marketing's BudgetOptimizer.allocate_budget (SLSQP, its defaults) on a PyMC
            model of the same curves (the Hill envelopes written as pytensor switches); the
            one-off model build/compile time is reported separately
gap = (best known optimum - value at the method's answer) / |best known optimum|, where the best
known optimum is the largest value any method reached (negative values cannot occur).
``bound`` is our proven relative gap.

    python benchmarks/curves_bench.py --quick      # n = 5, 20 (under a minute)
    python benchmarks/curves_bench.py              # n = 5, 20, 100, 500
    python benchmarks/curves_bench.py --no-pymc    # without PyMC-Marketing
    python benchmarks/curves_bench.py --sizes 500 --no-pymc --no-oracle   # ours alone at scale
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import portfolio_mkt as pm  # noqa: E402
from portfolio_mkt.constraints import Bounds, GroupFloor  # noqa: E402
from portfolio_mkt.optimization import solve_curves_exact  # noqa: E402
from portfolio_mkt.response import Hill, Logistic  # noqa: E402

BUDGET = 1_000_000.0


def make_case(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"a{i}" for i in range(n)])
    scale = BUDGET / n
    logistic = np.arange(n) % 2 == 0
    beta = rng.uniform(1, 3, n) * scale
    lam = rng.uniform(0.5, 3, n) / scale
    k = rng.uniform(0.3, 1.5, n) * scale
    s = rng.uniform(1.2, 3.0, n)
    curves = {a: (Logistic(beta[i], lam[i]) if logistic[i] else Hill(beta[i], k[i], s[i]))
              for i, a in enumerate(idx)}
    group = np.arange(n) % 3 == 0
    cap = min(3.0 / n, 1.0) * BUDGET
    floor = 0.5 * min(1.0, group.sum() * cap / BUDGET)
    assets = pd.DataFrame({"market": np.where(group, "A", "B")}, index=idx)
    cons = [Bounds(upper=cap, name="caps"),
            GroupFloor(where={"market": "A"}, amount=floor, unit="share", name="floor_a")]
    problem = pm.Problem(pd.Series(0.0, index=idx), budget=BUDGET, assets=assets,
                         constraints=cons, response=curves)
    # envelope of each Hill curve on [0, cap]: the ray to the tangency t, then the curve
    t = np.where(logistic, 0.0, k * np.maximum(s - 1, 1e-12) ** (1 / s))
    t = np.minimum(t, cap)
    hill_t = beta * (t / k) ** s / (1 + (t / k) ** s)
    slope = np.where(logistic, 0.0, hill_t / np.where(t > 0, t, 1.0))
    return {"n": n, "problem": problem, "logistic": logistic, "beta": beta, "lam": lam,
            "k": k, "s": s, "t": t, "m": slope, "group": group, "cap": cap, "floor": floor}


# ----------------------------------------------------------------------------- oracle
def value_grad(case: dict, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Total envelope outcome and its gradient at money spend ``x`` (vectorised)."""
    lg, beta, lam, k, s, t, m = (case[c] for c in ("logistic", "beta", "lam", "k", "s", "t", "m"))
    x = np.maximum(x, 0.0)
    v_l = beta * np.tanh(0.5 * lam * x)
    d_l = 0.5 * beta * lam / np.cosh(0.5 * lam * x) ** 2
    z = np.maximum(x, t) / k
    u = z**s
    v_h = np.where(x <= t, m * x, beta * u / (1 + u))
    d_h = np.where(x <= t, m, beta * s / k * z ** (s - 1) / (1 + u) ** 2)
    v = np.where(lg, v_l, v_h)
    d = np.where(lg, d_l, d_h)
    return float(v.sum()), d


def oracle(case: dict, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    n, g = case["n"], case["group"].astype(float)

    def fun(w):
        v, d = value_grad(case, w * BUDGET)
        return -v / BUDGET, -d

    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)},
            {"type": "ineq", "fun": lambda w: g @ w - case["floor"], "jac": lambda w: g}]
    best_x, best = None, -np.inf
    for w0 in starts:
        res = minimize(fun, w0, jac=True, method="SLSQP",
                       bounds=[(0.0, case["cap"] / BUDGET)] * n, constraints=cons,
                       options={"ftol": 1e-16, "maxiter": 3000})
        w = np.clip(res.x, 0.0, case["cap"] / BUDGET)
        if abs(w.sum() - 1) > 1e-9 or g @ w < case["floor"] - 1e-9:
            continue
        v = value_grad(case, w * BUDGET)[0]
        if v > best:
            best_x, best = w * BUDGET, v
    return best_x, best


# ----------------------------------------------------------------------------- pymc
def pymc_optimizer(case: dict):
    """PyMC-Marketing's BudgetOptimizer on a PyMC model of the same (envelope) curves."""
    import arviz as az
    import pymc
    import pymc.dims as pmd
    import pytensor.tensor as pt
    import pytensor.xtensor as ptx
    import xarray as xr
    from pymc_marketing.mmm.budget_optimizer import BudgetOptimizer, CustomModelWrapper
    from pymc_marketing.mmm.constraints import Constraint

    n = case["n"]
    chans = [f"a{i}" for i in range(n)]
    lg = case["logistic"]

    def vec(a):
        return ptx.as_xtensor(pt.constant(np.asarray(a, dtype=float)), dims=("channel",))

    hill_beta = np.where(lg, 0.0, case["beta"])
    k = np.where(lg, 1.0, case["k"])
    s = np.where(lg, 2.0, case["s"])
    t = np.where(lg, 1.0, case["t"])
    with pymc.Model(coords={"date": [0], "channel": chans}) as model:
        x = pmd.Data("channel_data", xr.DataArray(np.zeros((1, n)), dims=("date", "channel")))
        scale = pmd.Normal("scale", 1.0, 0.1)  # posterior fixed at 1: one exact curve set
        logistic = vec(np.where(lg, case["beta"], 0.0)) * pmd.math.tanh(vec(0.5 * case["lam"]) * x)
        z = pmd.math.maximum(x, vec(t)) / vec(k)
        u = pmd.math.exp(vec(s) * pmd.math.log(z))
        hill = pmd.math.switch(x <= vec(t), vec(case["m"]) * x, vec(hill_beta) * u / (1 + u))
        pmd.Deterministic("total_contribution", scale * (logistic + hill).sum())
    idata = az.from_dict(posterior={"scale": np.ones((1, 1))})
    wrapper = CustomModelWrapper(base_model=model, idata=idata, channels=chans)
    mask = case["group"].astype(float)
    floor = case["floor"]

    def floor_fun(b, total, _opt):
        return (b * vec(mask)).sum() - floor * total

    opt = BudgetOptimizer(model=wrapper, num_periods=1,
                          custom_constraints=[Constraint("floor_a", "ineq", floor_fun)])
    bounds = {c: (0.0, case["cap"]) for c in chans}

    def run():
        alloc, res = opt.allocate_budget(BUDGET, budget_bounds=bounds)
        return np.asarray(alloc.values, dtype=float)

    return run


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 5, 20; 3 repeats, 2 oracle starts")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-pymc", action="store_true", help="skip PyMC-Marketing")
    ap.add_argument("--no-oracle", action="store_true",
                    help="skip the SLSQP oracle (for large n, where it takes hours)")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([5, 20] if args.quick else [5, 20, 100, 500])
    repeats = args.repeats or (3 if args.quick else 5)
    use_pymc = not args.no_pymc
    if use_pymc:
        try:
            import pymc_marketing  # noqa: F401
        except ImportError:
            print("pymc-marketing is not installed: its column is skipped (pip install "
                  "pymc-marketing)")
            use_pymc = False
    warnings.filterwarnings("ignore")
    rows = []
    t_all = time.perf_counter()
    for n in sizes:
        case = make_case(n)
        problem = case["problem"]
        fresh = [make_case(n)["problem"] for _ in range(repeats)]
        runs = {"ours": lambda p=problem: solve_curves_exact(p).spend.to_numpy(),
                "cold": lambda f=fresh: solve_curves_exact(f.pop()).spend.to_numpy(),
                "pwl": lambda p=problem: pm.solve(p, exact_curves=False).spend.to_numpy()}
        build = np.nan
        if use_pymc:
            t0 = time.perf_counter()
            runs["pymc"] = pymc_optimizer(case)
            build = time.perf_counter() - t0
        times: dict[str, list[float]] = {k: [] for k in runs}
        answers: dict[str, np.ndarray] = {}
        order_rng = np.random.default_rng(n)
        for _ in range(repeats):  # interleaved, in a new order each round (whoever ran
            # first after PyMC-Marketing paid for its busy BLAS threads in a fixed order)
            for name in order_rng.permutation(list(runs)):
                fn = runs[name]
                t0 = time.perf_counter()
                answers[name] = fn()
                times[name].append(time.perf_counter() - t0)
        rng = np.random.default_rng(1)
        starts = [np.full(n, 1.0 / n), answers["pwl"] / BUDGET]
        starts += [rng.dirichlet(np.ones(n)) for _ in range(0 if args.quick else 1 if n >= 500
                                                             else 2)]
        t0 = time.perf_counter()
        x_or, v_or = oracle(case, starts) if not args.no_oracle else (None, -np.inf)
        t_or = time.perf_counter() - t0 if not args.no_oracle else np.nan
        values = {k: value_grad(case, np.clip(x, 0, None))[0] for k, x in answers.items()}
        values["oracle"] = v_or
        best = max(values.values())
        bound = solve_curves_exact(problem).optimality_gap
        row = {"n": n, "ours_s": statistics.median(times["ours"]),
               "cold_s": statistics.median(times["cold"]),
               "ours_gap": (best - values["ours"]) / abs(best), "ours_bound": bound,
               "pwl_s": statistics.median(times["pwl"]),
               "pwl_gap": (best - values["pwl"]) / abs(best),
               "oracle_s": t_or,
               "oracle_gap": (best - v_or) / abs(best) if np.isfinite(v_or) else np.nan}
        if "pymc" in runs:
            row.update({"pymc_s": statistics.median(times["pymc"]),
                        "pymc_gap": (best - values["pymc"]) / abs(best), "pymc_build_s": build,
                        "pymc/ours": statistics.median(times["pymc"])
                        / statistics.median(times["ours"]),
                        "pymc/cold": statistics.median(times["pymc"])
                        / statistics.median(times["cold"])})
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, float_format=lambda v: f"{v:.3g}"),
              flush=True)
        msg = solve_curves_exact(problem).attempts[-1]["message"]
        print(f"  ours: {msg}", flush=True)
    table = pd.DataFrame(rows).set_index("n")
    print("\n" + table.to_string(float_format=lambda v: f"{v:.3g}"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s; medians of {repeats} interleaved "
          f"repeats; load average at the end {load:.1f} on {os.cpu_count()} cores (machine "
          "shared with other jobs: times are indicative).")


if __name__ == "__main__":
    main()
