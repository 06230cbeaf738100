"""Benchmark of the planning window (portfolio_mkt.window).

1. 50 assets x 13 weeks (log / Michaelis-Menten / exponential / Hill(s<1) curves, geometric and
   Weibull carryover, carry-in, seasonality, tail, factor covariance with correlated weeks,
   pacing, a month floor, phasing): the library's ``plan_window`` (build + compile + solve +
   verify + result tables) and a re-solve of the compiled program (a new risk aversion),
   against Clarabel called directly on the same conic data (the matrices cvxpy hands to
   Clarabel, same settings), solver time only. Target: within 2x.
2. 500 assets x 52 weeks, same ingredients: total time of ``plan_window``. Target: under 30 s.

Run:  PYTHONPATH=. python benchmarks/window_bench.py [--repeat 3] [--big-n 500 --big-t 52]
      [--no-big] [--quick]   (--quick: one repeat, 200 x 26 as the large case; under 60 s)
      [--anatomy N T]        (seconds per interior-point iteration by part of the risk model)
      [--profile N T]        (where the time goes: compile, Clarabel setup, KKT size and fill,
                              seconds per iteration with each factorisation; docs/window.md)
      [--before COMMIT --big-n 200 --big-t 26 --repeat 2]  (against an older window program)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import clarabel
import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp
from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import dims_to_solver_cones

import portfolio_mkt as pm
from portfolio_mkt.response import (
    ExponentialSaturation,
    GeometricAdstock,
    Hill,
    Logarithmic,
    MichaelisMenten,
    WeibullAdstock,
)
from portfolio_mkt.window import (
    Pacing,
    Phasing,
    WindowFloor,
    WindowProblem,
    WindowProgram,
    plan_window,
)
from portfolio_mkt.window._program import CLARABEL_SETTINGS, LARGE_CELLS, LARGE_TOLERANCE


def make_case(n: int, T: int, seed: int = 0) -> WindowProblem:
    rng = np.random.default_rng(seed)
    ids = [f"a{i:04d}" for i in range(n)]
    markets = rng.choice(["US", "RU", "DE"], size=n)
    attrs = pd.DataFrame({"market": markets, "channel": rng.choice(["search", "social", "video"],
                                                                  size=n)}, index=ids)
    budget = 50_000.0 * n * T / 13
    per = budget / n / T
    curves, ads = {}, {}
    for i, a in enumerate(ids):
        beta = rng.uniform(2.0, 6.0) * per
        k = rng.uniform(0.5, 2.0) * per
        curves[a] = [Logarithmic(beta, k), MichaelisMenten(2 * beta, 2 * k),
                     ExponentialSaturation(beta, k), Hill(1.5 * beta, k, 0.8)][i % 4]
        ads[a] = (GeometricAdstock(rng.uniform(0.1, 0.7), l_max=6) if i % 3
                  else WeibullAdstock(1.5, 2.0, l_max=6))
    loadings = pd.DataFrame(rng.normal(0, 0.3, size=(n, 5)), index=ids)
    cov = pm.FactorCovariance(loadings, pd.DataFrame(np.eye(5) * 0.04),
                              pd.Series(rng.uniform(0.01, 0.05, n), index=ids))
    problem = pm.Problem(pd.Series(1.0, index=ids), cov, budget=budget, assets=attrs,
                         response=curves, risk_aversion=0.5)
    weeks = pd.date_range("2026-01-05", periods=T, freq="7D")
    season = pd.DataFrame(rng.uniform(0.8, 1.3, size=(T, n)), index=weeks, columns=ids)
    carry = pd.Series(rng.uniform(0.5, 1.5, n) * per, index=ids)
    cons = [Pacing(0.3, min_step=0.2 * per, name="pacing"),
            WindowFloor({"market": "RU"}, 0.2, per="month", name="ru_month"),
            Phasing({1: 0.45}, name="phasing")]
    return WindowProblem(problem, weeks, adstock=ads, carry_in=carry, seasonality=season,
                         constraints=cons, period_correlation=0.3)


def direct_clarabel(prog: WindowProgram) -> tuple[float, float]:
    """Solver time and objective of Clarabel called directly on the program's conic data."""
    data, _, _ = prog.problem.get_problem_data(cp.CLARABEL)
    P = data.get("P")
    nvar = data["c"].shape[0]
    import scipy.sparse as sp

    P = sp.csc_matrix((nvar, nvar)) if P is None else sp.triu(P).tocsc()
    cones = dims_to_solver_cones(data["dims"])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    tol = {} if prog.wp.n * prog.wp.T <= LARGE_CELLS else dict.fromkeys(
        ("tol_gap_abs", "tol_gap_rel", "tol_feas"), LARGE_TOLERANCE)
    for k, v in {**CLARABEL_SETTINGS, **tol}.items():
        setattr(settings, k, v)
    t0 = time.perf_counter()
    solver = clarabel.DefaultSolver(P, data["c"], data["A"].tocsc(), data["b"], cones, settings)
    sol = solver.solve()
    elapsed = time.perf_counter() - t0
    offset = float(np.ravel(data["param_prob"].apply_parameters(quad_obj=True)[2])[0])
    return elapsed, -(float(sol.obj_val) + offset)  # cvxpy minimises -objective - offset


def run_small(n: int, T: int, repeat: int) -> dict:
    wp = make_case(n, T)
    lib, resolve, direct = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan = plan_window(wp, value_of_timing=False)
        lib.append(time.perf_counter() - t0)
    prog = WindowProgram(wp)
    prog.solve()
    for r in range(repeat):
        prog.delta.value = 0.5 + 0.1 * (r + 1)
        t0 = time.perf_counter()
        prog.solve()
        resolve.append(time.perf_counter() - t0)
    prog.delta.value = 0.5
    for _ in range(repeat):
        t, obj = direct_clarabel(prog)
        direct.append(t)
    prog.solve()
    return {
        "case": f"{n} x {T}",
        "library plan_window (s)": min(lib),
        "library re-solve (s)": min(resolve),
        "direct Clarabel (s)": min(direct),
        "ratio plan/direct": min(lib) / min(direct),
        "ratio re-solve/direct": min(resolve) / min(direct),
        "objective rel. difference": abs(prog.problem.value - obj) / max(abs(obj), 1e-12),
        "status": plan.status,
    }


def run_big(n: int, T: int) -> dict:
    t0 = time.perf_counter()
    wp = make_case(n, T, seed=1)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = plan_window(wp, value_of_timing=False)
    total = time.perf_counter() - t0
    return {"case": f"{n} x {T}", "problem (s)": t_build, "plan_window (s)": total,
            "compile (s)": plan.compile_time, "solve+compile (s)": plan.solve_time,
            "status": plan.status, "solver": plan.solver, "under 30 s": total + t_build < 30.0}


def anatomy(n: int, T: int, max_iter: int = 8) -> pd.DataFrame:
    """Seconds per Clarabel iteration of the large case by part of the risk model.

    Same window with no covariance, the specific (diagonal) risk only, the factor risk only,
    and both; Clarabel called directly on the program's conic data for ``max_iter`` iterations.
    """
    import scipy.sparse as sp

    wp = make_case(n, T, seed=1)
    p = wp.problem
    cov = p.covariance
    f = np.asarray(cov.factor_root(p.index))
    d = np.asarray(cov.specific(p.index))
    ids = p.index
    variants = {
        "no covariance": None,
        "specific only": pm.FactorCovariance(pd.DataFrame(np.zeros((n, 1)), index=ids),
                                             pd.DataFrame(np.eye(1)), pd.Series(d, index=ids)),
        "factors only": pm.FactorCovariance(pd.DataFrame(f, index=ids),
                                            pd.DataFrame(np.eye(f.shape[1])),
                                            pd.Series(0.0, index=ids)),
        "both (the case)": cov,
    }
    rows = []
    for name, c in variants.items():
        q = pm.Problem(p.expected_return, c, budget=p.budget, assets=p.assets,
                       response=p.response, risk_aversion=0.5)
        prog = WindowProgram(wp.replace(problem=q))
        data, _, _ = prog.problem.get_problem_data(cp.CLARABEL, ignore_dpp=True)
        nvar = data["c"].shape[0]
        P = data.get("P")
        P = sp.csc_matrix((nvar, nvar)) if P is None else sp.triu(P).tocsc()
        st = clarabel.DefaultSettings()
        st.verbose = False
        for k, v in CLARABEL_SETTINGS.items():
            setattr(st, k, v)
        st.max_iter = max_iter
        t0 = time.perf_counter()
        sol = clarabel.DefaultSolver(P, data["c"], data["A"].tocsc(), data["b"],
                                     dims_to_solver_cones(data["dims"]), st).solve()
        el = time.perf_counter() - t0
        rows.append({"risk model": name, "variables": nvar, "rows": data["A"].shape[0],
                     "nnz(A)": data["A"].nnz, "iterations": sol.iterations,
                     "s per iteration": el / max(sol.iterations, 1)})
    return pd.DataFrame(rows).set_index("risk model")


def _kkt(data: dict) -> sp.csc_matrix:
    """The KKT matrix Clarabel factorises, up to values: ``[P + I, A'; A, -H]``.

    ``H`` is block diagonal like Clarabel's scaling: identity on the zero and nonnegative
    rows, a dense block per second-order / exponential / power cone (all 3 x 3 here).
    """
    A = data["A"].tocsc()
    nvar = data["c"].shape[0]
    P = data.get("P")
    P = sp.csc_matrix((nvar, nvar)) if P is None else sp.csc_matrix(P)
    d = data["dims"]
    blocks = [sp.identity(d.zero + d.nonneg)]
    blocks += [np.ones((q, q)) + np.eye(q) for q in d.soc]
    blocks += [np.ones((3, 3)) + np.eye(3)] * (d.exp + len(d.p3d))
    return sp.bmat([[P + sp.identity(nvar), A.T], [A, -sp.block_diag(blocks)]]).tocsc()


def profile(n: int, T: int, iters: int = 6) -> None:
    """Where the time of one large window goes, printed as tables.

    Build and compile (cvxpy), the conic data's size, the KKT system's size and the fill of
    its LDL factor under AMD (the ``qdldl`` Python package, if installed: nonzeros of L and
    ``sum_j |L_j|^2``, the operations of one factorisation), then Clarabel's setup and seconds
    per interior-point iteration over ``iters`` iterations with each linear solver.
    """
    rows = {}
    t0 = time.perf_counter()
    wp = make_case(n, T, seed=1)
    rows["problem (s)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prog = WindowProgram(wp)
    rows["build (s)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data, _, _ = prog.problem.get_problem_data(cp.CLARABEL, ignore_dpp=True)
    rows["compile (s)"] = time.perf_counter() - t0
    d = data["dims"]
    rows.update({"variables": data["c"].shape[0], "rows": data["A"].shape[0],
                 "nnz(A)": data["A"].nnz, "equality rows": d.zero, "nonneg rows": d.nonneg,
                 "second-order cones": len(d.soc), "exponential cones": d.exp,
                 "power cones": len(d.p3d)})
    K = _kkt(data)
    rows["KKT dimension"] = K.shape[0]
    rows["nnz(KKT upper)"] = sp.triu(K).nnz
    try:
        import qdldl

        t0 = time.perf_counter()
        fac = qdldl.Solver(K)
        rows["qdldl AMD + factor (s)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fac.update(K)
        rows["qdldl numeric factor (s)"] = time.perf_counter() - t0
        counts = np.diff(sp.csc_matrix(fac.factors()[0]).indptr).astype(float)
        rows["nnz(L)"] = int(counts.sum())
        rows["factor operations (M)"] = float((counts ** 2).sum()) / 1e6
        rows["largest column of L"] = int(counts.max())
    except ImportError:
        pass
    print(pd.Series({k: f"{v:.3f}" if isinstance(v, float) else f"{v:,}"
                     for k, v in rows.items()}).to_string())
    nvar = data["c"].shape[0]
    P = data.get("P")
    P = sp.csc_matrix((nvar, nvar)) if P is None else sp.triu(P).tocsc()
    A = data["A"].tocsc()
    cones = dims_to_solver_cones(data["dims"])
    out = []
    for method, threads in (("qdldl", 1), ("faer", 1), ("faer", 2)):
        st = clarabel.DefaultSettings()
        st.verbose = False
        for k, v in {**CLARABEL_SETTINGS, "tol_gap_abs": LARGE_TOLERANCE,
                     "tol_gap_rel": LARGE_TOLERANCE, "tol_feas": LARGE_TOLERANCE}.items():
            setattr(st, k, v)
        st.direct_solve_method, st.max_threads, st.max_iter = method, threads, iters
        t0 = time.perf_counter()
        solver = clarabel.DefaultSolver(P, data["c"], A, data["b"], cones, st)
        t1 = time.perf_counter()
        sol = solver.solve()
        t2 = time.perf_counter()
        out.append({"linear solver": f"{method}, {threads} thread(s)", "setup (s)": t1 - t0,
                    "iterations": sol.iterations,
                    "s per iteration": (t2 - t1) / max(sol.iterations, 1)})
    print()
    print(pd.DataFrame(out).set_index("linear solver").to_string(
        float_format=lambda v: f"{v:.3f}"))


def before_after(n: int, T: int, commit: str, repeat: int) -> pd.DataFrame:
    """This program against the window program of an older ``commit``, interleaved.

    The older ``portfolio_mkt/window/_program.py`` is read with ``git show`` and loaded beside
    the current one (same problem objects, same process); medians of ``repeat`` solves.
    """
    import importlib.util
    import subprocess
    import tempfile
    import warnings

    src = subprocess.run(["git", "show", f"{commit}:portfolio_mkt/window/_program.py"],
                         capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(src)
    spec = importlib.util.spec_from_file_location("portfolio_mkt.window._before", fh.name)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "portfolio_mkt.window"
    spec.loader.exec_module(mod)
    wp = make_case(n, T, seed=1)
    rows = []
    for r in range(repeat):
        for name, cls in ((f"before ({commit[:7]})", mod.WindowProgram), ("now", WindowProgram)):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                status, x, used = cls(wp).solve()
            rows.append({"program": name, "repeat": r, "seconds": time.perf_counter() - t0,
                         "status": status,
                         "objective": wp.objective_value(x) if x is not None else np.nan})
    df = pd.DataFrame(rows)
    out = df.groupby("program").agg(seconds=("seconds", "median"), status=("status", "last"),
                                    objective=("objective", "last"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small-n", type=int, default=50)
    ap.add_argument("--small-t", type=int, default=13)
    ap.add_argument("--big-n", type=int, default=500)
    ap.add_argument("--big-t", type=int, default=52)
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--anatomy", nargs=2, type=int, metavar=("N", "T"), default=None,
                    help="only: seconds per Clarabel iteration by part of the risk model")
    ap.add_argument("--profile", nargs=2, type=int, metavar=("N", "T"), default=None,
                    help="only: where the time of one window goes (compile, setup, KKT fill, "
                         "seconds per iteration with each linear solver)")
    ap.add_argument("--before", default=None, metavar="COMMIT",
                    help="only: build+compile+solve of the large case against the window "
                         "program of an older commit (e.g. a9d7e76), interleaved")
    args = ap.parse_args()
    if args.before:
        print(before_after(args.big_n, args.big_t, args.before, args.repeat).to_string())
        return
    if args.profile:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        profile(*args.profile)
        return
    if args.anatomy:
        print(anatomy(*args.anatomy).to_string(float_format=lambda v: f"{v:.3f}"))
        return
    if args.quick:
        args.repeat, args.big_n, args.big_t = 1, 200, 26
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs: the machine was loaded), python {platform.python_version()},"
          f" cvxpy {cp.__version__}, clarabel {clarabel.__version__}")
    small = run_small(args.small_n, args.small_t, args.repeat)
    print(pd.Series(small).to_string())
    if not args.no_big:
        print()
        print(pd.Series(run_big(args.big_n, args.big_t)).to_string())


if __name__ == "__main__":
    main()
