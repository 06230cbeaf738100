"""Single-solve benchmark: ``pm.solve`` against the best direct solver call, one process.

Part 1 -- routing. For each problem class, ``pm.solve(problem)`` (everything: compile, route,
solve, verification, explanation) is timed against direct calls on the same problem,
assembled here from the arrays (budget shares ``w``; maximise ``mu'w - delta/2 w'Sigma w``):

clarabel     Clarabel's own Python API on ``P, q, A, b`` (tolerances 1e-10).
osqp         OSQP's own API, eps 1e-9, polishing on (run under a time limit).
cvxpy+clar   the same model written in cvxpy, solved by Clarabel (tolerances 1e-10).
highs        highspy's QP (active set) / LP on the same matrices, passed as NumPy arrays in
             one passModel call, presolve off (faster on every case here; run under a time limit).

The classes: a dense *sample* covariance (simulated returns, ``T = 2n`` periods, not
factor-built) at n = 100, 300, 1000, 2000; a factor covariance (k = 10) at n = 1000 and 10000;
no risk term (a linear objective) at n = 1000; a dense QP with locks, group floors and a
group cap at n = 300. Every timed answer's objective is compared with the most accurate one
(``gap`` = relative objective difference; an answer that breaks a constraint by more than 1e-8
of the budget does not count); a direct call counts as "best" only if its gap is
at most 1e-7. Times are medians of interleaved repeats (at least 11 for the cases that take
milliseconds).

Part 2 -- fixed cost per re-solve (14 assets with a cap and a lock): a first solve, a
re-solve through a compiled program (``pm.solve(changed, program=prog)``), a scenario table of
20 budget/risk scenarios (``pm.scenarios``) and the constraint prices
(``pm.constraint_prices``), each against the bare solver time of one solve (Clarabel's own
API on the assembled matrices). "before" forces the cvxpy chain of earlier versions
(``solver="OSQP"``: canonicalisation on every solve); "after" is the default route.

Run ``python benchmarks/solve_bench.py`` (a few minutes on 2 cores) or ``--quick`` (under a
minute: n <= 300 dense, factor n = 1000, one repeat for big cases).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import portfolio_mkt as pm  # noqa: E402

BUDGET = 1_000_000.0
DELTA = 5.0
GAP_OK = 1e-7
SMALL_REPEATS = 11  # interleaved repeats of the cases that take milliseconds


# --------------------------------------------------------------------------- problems
def make_case(kind: str, n: int, seed: int = 0) -> dict:
    """Arrays and the pm.Problem of one case (shares; objective in outcome per budget)."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"a{i:05d}" for i in range(n)])
    mu = rng.uniform(0.8, 3.0, n)
    cap = min(1.0, 5.0 / n)
    case: dict = {"kind": kind, "n": n, "mu": mu, "cap": cap, "sigma": None, "factor": None}
    cov = None
    if kind.startswith("dense"):
        t = 2 * n
        common = rng.normal(0.0, 0.05, (t, 1))
        r = common * rng.uniform(0.5, 1.5, n) + rng.normal(0.0, 0.1, (t, n))
        sigma = np.cov(r, rowvar=False)
        case["sigma"] = sigma
        cov = pd.DataFrame(sigma, index=ids, columns=ids)
    elif kind == "factor":
        k = 10
        f = rng.normal(0.0, 0.25, (n, k))
        f[:, 0] += 0.4
        d = rng.uniform(0.002, 0.03, n)
        case["factor"], case["specific"] = f * 0.15, d
        cov = pm.FactorCovariance(
            loadings=pd.DataFrame(f * 0.15, index=ids, columns=[f"f{j}" for j in range(k)]),
            factor_covariance=pd.DataFrame(np.eye(k), index=[f"f{j}" for j in range(k)],
                                           columns=[f"f{j}" for j in range(k)]),
            specific_variance=pd.Series(d, index=ids))
    cons: list = [pm.Bounds(upper=cap, unit="share", name="cap")]
    rows_eq: list[tuple[np.ndarray, float]] = []  # (coef on w, rhs)
    rows_ge: list[tuple[np.ndarray, float]] = []
    rows_le: list[tuple[np.ndarray, float]] = []
    assets = None
    if kind == "dense+constraints":
        markets = np.array(["US", "DE", "BR", "IN", "RU"])[rng.integers(0, 5, n)]
        assets = pd.DataFrame({"market": markets}, index=ids)
        locked = rng.choice(n, size=5, replace=False)
        cons.append(pm.Lock({ids[i]: 0.5 * cap * BUDGET for i in locked}, name="committed"))
        for i in locked:
            e = np.zeros(n)
            e[i] = 1.0
            rows_eq.append((e, 0.5 * cap))
        cons.append(pm.GroupFloor(where={"market": "BR"}, amount=0.25, unit="share",
                                  name="br_floor"))
        rows_ge.append(((markets == "BR").astype(float), 0.25))
        cons.append(pm.GroupCap(where={"market": "US"}, amount=0.1, unit="share",
                                name="us_cap"))
        rows_le.append(((markets == "US").astype(float), 0.1))
    risk_aversion = 0.0 if kind == "no risk" else DELTA
    case["problem"] = pm.Problem(pd.Series(mu, index=ids), cov, budget=BUDGET, assets=assets,
                                 constraints=cons, risk_aversion=risk_aversion)
    case["delta"] = risk_aversion
    case["rows"] = (rows_eq, rows_ge, rows_le)
    return case


def objective(case: dict, w: np.ndarray) -> float:
    """``mu'w - delta/2 w'Sigma w`` (to maximise) at shares ``w``."""
    val = float(case["mu"] @ w)
    if case["delta"] and case["sigma"] is not None:
        val -= case["delta"] / 2 * float(w @ case["sigma"] @ w)
    elif case["delta"] and case["factor"] is not None:
        y = case["factor"].T @ w
        val -= case["delta"] / 2 * float(y @ y + case["specific"] @ (w * w))
    return val


def feasible(case: dict, w: np.ndarray, tol: float = 1e-8) -> bool:
    """Whether shares ``w`` satisfy every constraint of the case within ``tol``."""
    if w is None or not np.all(np.isfinite(w)):
        return False
    # summed over assets: 10,000 entries each 1e-9 below zero free 1e-5 of the budget
    ok = (abs(w.sum() - 1.0) <= tol and np.maximum(-w, 0.0).sum() <= tol
          and np.maximum(w - case["cap"], 0.0).sum() <= tol)
    eq, ge, le = case["rows"]
    ok = ok and all(abs(a @ w - b) <= tol for a, b in eq)
    ok = ok and all(a @ w >= b - tol for a, b in ge) and all(a @ w <= b + tol for a, b in le)
    return bool(ok)


def assemble(case: dict) -> dict:
    """``min 1/2 x'Px + q'x`` with rows ``l <= A x <= u`` (x = w, plus y = F'w for factors)."""
    n, delta = case["n"], case["delta"]
    k = 0 if case["factor"] is None else case["factor"].shape[1]
    nv = n + k
    if case["sigma"] is not None and delta:
        P = sp.csc_matrix(delta * case["sigma"])
    elif case["factor"] is not None and delta:
        P = sp.diags(np.concatenate([delta * case["specific"], delta * np.ones(k)]),
                     format="csc")
    else:
        P = sp.csc_matrix((nv, nv))
    q = np.concatenate([-case["mu"], np.zeros(k)])
    rows = [np.concatenate([np.ones(n), np.zeros(k)])]
    lo, hi = [1.0], [1.0]
    eq, ge, le = case["rows"]
    for a, b in eq:
        rows.append(np.concatenate([a, np.zeros(k)]))
        lo.append(b)
        hi.append(b)
    for a, b in ge:
        rows.append(np.concatenate([a, np.zeros(k)]))
        lo.append(b)
        hi.append(np.inf)
    for a, b in le:
        rows.append(np.concatenate([a, np.zeros(k)]))
        lo.append(-np.inf)
        hi.append(b)
    A_rows = sp.csr_matrix(np.vstack(rows))
    if k:
        link = sp.hstack([sp.csr_matrix(case["factor"].T), -sp.eye(k)])
        A_rows = sp.vstack([A_rows, link]).tocsr()
        lo += [0.0] * k
        hi += [0.0] * k
    bounds_lo = np.concatenate([np.zeros(n), np.full(k, -np.inf)])
    bounds_hi = np.concatenate([np.full(n, case["cap"]), np.full(k, np.inf)])
    return {"P": P, "q": q, "A": A_rows, "lo": np.array(lo), "hi": np.array(hi),
            "blo": bounds_lo, "bhi": bounds_hi, "n": n, "nv": nv}


# --------------------------------------------------------------------------- direct calls
def run_clarabel(m: dict) -> np.ndarray:
    return clarabel_solve(*clarabel_data(m))


def clarabel_solve(P: sp.csc_matrix, q: np.ndarray, Ac: sp.csc_matrix, b: np.ndarray,
                   cones: list, n: int) -> np.ndarray:
    """Clarabel's setup and solve on prebuilt matrices (the bare solver)."""
    import clarabel

    s = clarabel.DefaultSettings()
    s.verbose = False
    s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = 1e-10
    sol = clarabel.DefaultSolver(P, q, Ac, b, cones, s).solve()
    return np.asarray(sol.x)[:n]


def clarabel_data(m: dict) -> tuple:
    import clarabel

    n, nv = m["n"], m["nv"]
    A, lo, hi = m["A"], m["lo"], m["hi"]
    eq = lo == hi
    ge = np.isfinite(lo) & ~eq
    le = np.isfinite(hi) & ~eq
    sel = sp.eye(nv, format="csr")[:n]
    Ac = sp.vstack([A[eq], -A[ge], A[le], -sel, sel], format="csc")
    b = np.concatenate([hi[eq], -lo[ge], hi[le], np.zeros(n), m["bhi"][:n]])
    cones = [clarabel.ZeroConeT(int(eq.sum())),
             clarabel.NonnegativeConeT(int(ge.sum() + le.sum()) + 2 * n)]
    return sp.triu(m["P"], format="csc"), m["q"], Ac, b, cones, n


def run_osqp(m: dict, time_limit: float) -> np.ndarray:
    import osqp

    n, nv = m["n"], m["nv"]
    A = sp.vstack([m["A"], sp.eye(nv)], format="csc")
    lo = np.concatenate([m["lo"], m["blo"]])
    hi = np.concatenate([m["hi"], m["bhi"]])
    solver = osqp.OSQP()
    solver.setup(sp.triu(m["P"], format="csc"), m["q"], A, np.maximum(lo, -1e30),
                 np.minimum(hi, 1e30), verbose=False, eps_abs=1e-9, eps_rel=1e-9,
                 polishing=True, max_iter=200_000, time_limit=time_limit)
    res = solver.solve()
    if res.x is None or res.x[0] is None or not np.all(np.isfinite(res.x)):
        return np.full(n, np.nan)
    return np.asarray(res.x)[:n]


def run_cvxpy(m: dict) -> np.ndarray:
    import cvxpy as cp

    n, nv = m["n"], m["nv"]
    x = cp.Variable(nv)
    P = m["P"]
    obj = m["q"] @ x
    if P.nnz:
        obj = obj + 0.5 * cp.quad_form(x, cp.psd_wrap(P))
    A, lo, hi = m["A"], m["lo"], m["hi"]
    cons = [x[:n] >= 0, x[:n] <= m["bhi"][:n]]
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    cons += [A[fin_lo] @ x >= lo[fin_lo], A[fin_hi] @ x <= hi[fin_hi]]
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return np.asarray(x.value)[:n]


def highs_arrays(m: dict) -> tuple:
    """The arguments of HiGHS's NumPy passModel, built once per case (not timed)."""
    if "_highs" not in m:
        import highspy

        nv = m["nv"]
        inf = highspy.kHighsInf
        A = m["A"].tocsc()
        P = sp.tril(m["P"], format="csc")
        i32 = np.int32
        m["_highs"] = (
            int(nv), int(A.shape[0]), int(A.nnz), int(P.nnz),
            int(highspy.MatrixFormat.kColwise), int(highspy.HessianFormat.kTriangular),
            int(highspy.ObjSense.kMinimize), 0.0, np.asarray(m["q"], float),
            np.where(np.isfinite(m["blo"]), m["blo"], -inf),
            np.where(np.isfinite(m["bhi"]), m["bhi"], inf),
            np.where(np.isfinite(m["lo"]), m["lo"], -inf),
            np.where(np.isfinite(m["hi"]), m["hi"], inf),
            A.indptr.astype(i32), A.indices.astype(i32), A.data.astype(float),
            P.indptr.astype(i32), P.indices.astype(i32), P.data.astype(float),
            np.zeros(nv, dtype=i32))
    return m["_highs"]


def run_highs(m: dict, time_limit: float) -> np.ndarray:
    import highspy

    n = m["n"]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("presolve", "off")  # faster on every case here (same answers)
    h.passModel(*highs_arrays(m))
    h.run()
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    return x[:n] if x.size >= n else np.full(n, np.nan)


def run_ours(case: dict) -> np.ndarray:
    alloc = pm.solve(case["problem"])
    case["solver_used"] = f"{alloc.solver}/{alloc.attempts[-1].get('route', '')}"
    return alloc.shares.to_numpy()


# --------------------------------------------------------------------------- timing
def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            w = fn()
        except Exception:  # noqa: BLE001 - a failed peer is reported, not fatal
            w = None
    return time.perf_counter() - t0, w


def bench_case(kind: str, n: int, repeats: int, limit: float) -> dict:
    case = make_case(kind, n)
    m = assemble(case)
    cands: dict[str, Callable[[], np.ndarray]] = {
        "ours": lambda: run_ours(case),
        "clarabel": lambda: run_clarabel(m),
        "cvxpy+clar": lambda: run_cvxpy(m),
        "osqp": lambda: run_osqp(m, limit),
        "highs": lambda: run_highs(m, limit),
    }
    times: dict[str, list[float]] = {k: [] for k in cands}
    answers: dict[str, np.ndarray | None] = {}
    skip: set[str] = set()
    for _ in range(repeats):
        for name, fn in cands.items():  # interleaved
            if name in skip:
                continue
            t, w = timed(fn)
            times[name].append(t)
            answers[name] = w
            if t > limit:
                skip.add(name)  # too slow to repeat: one timing (at the limit) is enough
    # an answer counts only if it is feasible (a solver stopped at its limit may return a
    # point with a better objective that breaks the budget)
    objs = {k: (objective(case, w) if feasible(case, w) else np.nan)
            for k, w in answers.items()}
    ref = np.nanmax(list(objs.values()))
    gaps = {k: abs(ref - v) / max(abs(ref), 1e-12) if np.isfinite(v) else np.inf
            for k, v in objs.items()}
    med = {k: statistics.median(v) for k, v in times.items() if v}
    direct = {k: med[k] for k in med if k != "ours" and gaps[k] <= GAP_OK}
    best = min(direct, key=direct.get) if direct else None
    return {"case": f"{kind} n={n}", "ours": med["ours"], "gap_ours": gaps["ours"],
            "route": case.get("solver_used", ""), "best": best,
            "best_t": direct.get(best, np.nan), "med": med, "gaps": gaps}


# --------------------------------------------------------------------------- fixed cost
def small_problem() -> pm.Problem:
    rng = np.random.default_rng(3)
    n = 14
    ids = [f"a{i}" for i in range(n)]
    r = rng.normal(0, 0.1, (60, n)) + rng.normal(0, 0.05, (60, 1))
    cov = pd.DataFrame(np.cov(r, rowvar=False), index=ids, columns=ids)
    mu = pd.Series(rng.uniform(0.8, 3.0, n), index=ids)
    return pm.Problem(mu, cov, budget=BUDGET, risk_aversion=DELTA, constraints=[
        pm.Bounds(upper=0.3, unit="share", name="cap"), pm.Lock({"a1": 2e4}, name="deal")])


def bench_fixed(repeats: int) -> list[dict]:
    from portfolio_mkt.optimization import compile_problem

    p = small_problem()
    sigma = p.covariance.to_numpy()
    case = {"n": p.n_assets, "mu": p.expected_return.to_numpy(float), "sigma": sigma,
            "factor": None, "delta": DELTA, "cap": 0.3,
            "rows": ([(np.eye(p.n_assets)[1], 2e4 / BUDGET)], [], [])}
    data = clarabel_data(assemble(case))
    scen = [pm.Scenario(f"s{i}", budget_change=0.01 * (i - 10)) for i in range(20)]
    progs = {"before": compile_problem(p), "after": compile_problem(p)}
    kw = {"before": {"solver": "OSQP"}, "after": {}}
    rows = {}
    names = ["first solve", "re-solve (program)", "20 scenarios", "prices (2)"]
    for label in ("before", "after"):
        for nm in names:
            rows[(label, nm)] = []
    bare = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(repeats):
            bare.append(timed(lambda: clarabel_solve(*data))[0])
            for label in ("before", "after"):
                k = kw[label]
                rows[(label, names[0])].append(timed(lambda k=k: pm.solve(p, **k))[0])
                q = p.replace(budget=BUDGET * (1.0 + 0.001 * (r + 1)))
                rows[(label, names[1])].append(
                    timed(lambda k=k, q=q, label=label: pm.solve(q, program=progs[label],
                                                                 **k))[0])
                rows[(label, names[2])].append(
                    timed(lambda k=k: pm.scenarios(p, scen, backend="sequential", **k))[0])
                rows[(label, names[3])].append(
                    timed(lambda k=k: pm.constraint_prices(p, backend="sequential", **k))[0])
    b = statistics.median(bare)
    solves = {names[0]: 1, names[1]: 1, names[2]: 21, names[3]: 3}
    out = []
    for nm in names:
        before = statistics.median(rows[("before", nm)])
        after = statistics.median(rows[("after", nm)])
        out.append({"what": nm, "before": before, "after": after,
                    "per_solve": after / solves[nm], "bare": b,
                    "ratio": after / solves[nm] / b})
    return out


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    import clarabel
    import cvxpy
    import osqp

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
            f"{load[0]:.2f} (shared with other jobs); cvxpy {cvxpy.__version__}, clarabel "
            f"{clarabel.__version__}, osqp {osqp.__version__}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases only (< 60 s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=float, default=20.0,
                    help="seconds a slow direct call may run (OSQP, HiGHS)")
    ap.add_argument("--only", choices=["routing", "fixed"], default=None)
    ap.add_argument("--cases", default=None,
                    help="comma-separated kind:n, e.g. 'dense:2000,factor:10000'")
    args = ap.parse_args(argv)
    if args.quick:
        cases = [("dense", 100), ("dense", 300), ("factor", 1000), ("no risk", 1000),
                 ("dense+constraints", 300)]
    else:
        cases = [("dense", 100), ("dense", 300), ("dense", 1000), ("dense", 2000),
                 ("factor", 1000), ("factor", 10000), ("no risk", 1000),
                 ("dense+constraints", 300)]
    from portfolio_mkt.optimization import silence_highs_banner

    silence_highs_banner()
    if args.cases:
        cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]
    print(f"# solve_bench ({'quick' if args.quick else 'full'}); {machine()}")
    if args.only != "fixed":
        print("\n## Single solves: pm.solve vs the best direct call (medians, seconds)\n")
        print("| case | ours | route | best direct | its time | ours/best | gap ours | "
              "clarabel | cvxpy+clar | osqp | highs |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for kind, n in cases:
            big = n >= 1000 and kind != "no risk"
            reps = 1 if (args.quick and big) or n >= 2000 else args.repeats
            if not big and n < 2000:
                # a few milliseconds each: more repeats, so that one busy moment of the
                # machine does not decide the median
                reps = max(reps, SMALL_REPEATS)
            r = bench_case(kind, n, reps, args.limit)
            cell = {k: (f"{r['med'][k]:.3g}" + (
                "" if r["gaps"][k] <= GAP_OK else " (infeasible)" if not np.isfinite(
                    r["gaps"][k]) else f" (gap {r['gaps'][k]:.0e})")) for k in r["med"]}
            ratio = r["ours"] / r["best_t"] if r["best"] else float("nan")
            print(f"| {r['case']} | {r['ours']:.3g} | {r['route']} | {r['best']} | "
                  f"{r['best_t']:.3g} | {ratio:.2f} | {r['gap_ours']:.1e} | "
                  f"{cell.get('clarabel')} | {cell.get('cvxpy+clar')} | {cell.get('osqp')} | "
                  f"{cell.get('highs')} |", flush=True)
    if args.only != "routing":
        print("\n## Fixed cost per (re-)solve, 14 assets (medians, seconds)\n")
        print("| what | before (cvxpy chain) | after | after per solve | bare solver | "
              "per solve / bare |")
        print("|---|---|---|---|---|---|")
        for r in bench_fixed(max(args.repeats, 5)):
            print(f"| {r['what']} | {r['before']:.4f} | {r['after']:.4f} | "
                  f"{r['per_solve']:.4f} | {r['bare']:.5f} | {r['ratio']:.0f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
