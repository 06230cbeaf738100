"""Bootstrap at scale and the simulator's memory (issue 13): before and after, side by side.

Every case runs in its own subprocess (a fresh interpreter) and reports its wall time, the
peak of Python allocations (tracemalloc) and the process's peak RSS (imports included).
"before" runs the previous code path in the same checkout:

* simulator before: the one-shot Monte Carlo run (the previous ``_run``, kept below verbatim)
  and ``numpy.cov`` of the whole run, via the same ``simulate_history``;
* bootstrap before: every resample re-reads its resampled history with
  ``problem_from_history`` (the panel switched off), BLAS threads left at the library default.

The universe: 2 markets, 5 channels each plus creators, 2,000 assets in all
(``--assets``), 104 weeks with RU recorded for the last 80% of them (about 184,000 rows, the
size the issue measured). Bootstrap resamples: ``--resamples`` (the issue's target: 200);
"before" runs ``--before-resamples`` of them and is extrapolated linearly (labelled).

Usage::

    python benchmarks/boot_bench.py --quick        # 300 assets, < 60 s on a quiet machine
    python benchmarks/boot_bench.py                # 2,000 assets, 200 resamples (long)

The machine may be shared: say so with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASE = r'''
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {root!r})
import numpy as np
from scipy.signal import lfilter
args = json.loads({args!r})
import portfolio_mkt  # imports counted in the RSS, not in the time
from portfolio_mkt import simulate as sim_mod

def reference_run(n, rng, p, *, spend_variation, spend_persistence, l_max, t0=0):
    n_assets = len(p["base"]); burn = l_max + 20; total = n + burn; rho = spend_persistence
    innov = rng.standard_normal((total, n_assets)) * spend_variation * np.sqrt(1 - rho**2)
    innov[0] = rng.standard_normal(n_assets) * spend_variation
    z = lfilter([1.0], [1.0, -rho], innov, axis=0)
    spend = p["base"] * np.exp(z - spend_variation**2 / 2)
    w = p["adstock_w"]; ad = np.zeros_like(spend)
    for lag in range(l_max):
        ad[lag:] += w[:, lag] * spend[: total - lag]
    t_idx = np.arange(total) - burn + t0
    season = 1.0 + p["season_amp"][None, :] * np.sin(
        2 * np.pi * t_idx[:, None] / 52.0 + p["season_phase"][None, :])
    expected = season * p["beta"] * (1.0 - np.exp(-ad / p["k"]))
    fm = rng.standard_normal((total, p["market_vol"].shape[0])) * p["market_vol"]
    fc = rng.standard_normal((total, p["channel_vol"].shape[0])) * p["channel_vol"]
    idio = rng.standard_normal((total, n_assets)) * p["idio"]
    eps = p["roi"] * (fm[:, p["market_code"]] + fc[:, p["channel_code"]] + idio)
    outcome = np.maximum(expected + spend * eps, 0.0)
    return spend[burn:], outcome[burn:]

def ref_chunks(n, rng, p, **kw):
    kw.pop("chunk_rows", None)
    yield reference_run(n, rng, p, **kw)

def ref_moments(chunks, n_assets):
    s, y = next(iter(chunks)); r = y / s
    return r.mean(axis=0), np.cov(r, rowvar=False), len(r)

def creators(n_assets):
    n_creators = n_assets - 10
    us = n_creators // 2; ru = n_creators - us
    return {{"US": {{"mega": us // 20, "macro": us // 5, "micro": us // 2,
                   "nano": us - us // 20 - us // 5 - us // 2}},
            "RU": {{"macro": ru // 5, "micro": ru // 2, "nano": ru - ru // 5 - ru // 2}}}}

def world(n_mc):
    return sim_mod.simulate_history(
        104, creators=creators(args["assets"]), history_share={{"RU": 0.8}},
        n_monte_carlo=n_mc, random_state=0)

out = {{}}
if args["case"].startswith("simulate"):
    if args["case"] == "simulate_before":
        sim_mod._chunks = ref_chunks
        sim_mod._return_moments = ref_moments
    tracemalloc.start()
    t = time.perf_counter()
    sim = world(args["n_mc"])
    out["seconds"] = time.perf_counter() - t
    out["rows"] = len(sim.history); out["assets"] = len(sim.assets)
    out["mu_sum"] = float(sim.truth.expected_return.sum())
elif args["case"] == "per_resample":
    # one process, interleaved: the estimate of one resample before (re-read the resampled
    # history) and after (rows of the panel), then its solve by the default route and by
    # Clarabel; one BLAS thread as in a worker
    from threadpoolctl import threadpool_limits
    from portfolio_mkt.confidence import _bootstrap as boot_mod
    from portfolio_mkt.confidence import block_bootstrap_indices, resample_history
    from portfolio_mkt.estimation import problem_from_history
    from portfolio_mkt.optimization import solve
    sim = world(200)
    history = sim.history
    rows = {{"estimate_before": [], "estimate_after": [], "solve_default": [],
            "solve_clarabel": []}}
    with threadpool_limits(1):
        point = problem_from_history(history, 1e7, covariance=args["covariance"]).problem
        builder = boot_mod._HistoryProblem(1e7, {{"covariance": args["covariance"],
                                                 "current": point.current}})
        t = time.perf_counter()
        panel = boot_mod._Panel.build(history, "period", builder)
        out["panel_seconds"] = time.perf_counter() - t
        n_periods = history["period"].nunique()
        for pos in block_bootstrap_indices(n_periods, args["resamples"], 5, random_state=1):
            t = time.perf_counter(); builder(resample_history(history, pos, "period"))
            rows["estimate_before"].append(time.perf_counter() - t)
            t = time.perf_counter(); problem = panel.problem(pos)
            rows["estimate_after"].append(time.perf_counter() - t)
            t = time.perf_counter(); solve(problem)
            rows["solve_default"].append(time.perf_counter() - t)
            t = time.perf_counter(); solve(problem, solver="CLARABEL")
            rows["solve_clarabel"].append(time.perf_counter() - t)
    out.update({{k: float(np.median(v)) for k, v in rows.items()}})
    out["rows"] = len(history); out["seconds"] = sum(map(sum, rows.values()))
    tracemalloc.start()
else:
    from portfolio_mkt.confidence import _bootstrap as boot_mod
    from portfolio_mkt.confidence import bootstrap
    sim = world(200)
    history = sim.history
    kw = dict(budget=1e7, covariance=args["covariance"], n_resamples=args["resamples"],
              random_state=1, backend="loky" if args["jobs"] > 1 else "sequential",
              n_jobs=args["jobs"], progress=False,
              solver=args["solver"])
    if args["case"] == "bootstrap_before":
        boot_mod._Panel.build = classmethod(lambda cls, *a, **k: None)
        kw["blas_threads"] = None
    tracemalloc.start()
    t = time.perf_counter()
    conf = bootstrap(history, **kw)
    out["seconds"] = time.perf_counter() - t
    out["failed"] = conf.n_failed
    out["outcome_lower"] = float(conf.outcome["lower"])
    out["rows"] = len(history); out["assets"] = history["asset"].nunique()
out["tracemalloc_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT" + json.dumps(out))
'''


def run_case(args: dict) -> dict:
    code = CASE.format(root=str(ROOT), args=json.dumps(args))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=args.get("timeout", 3600))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    raise RuntimeError(f"case {args['case']} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 assets, few resamples (< 60 s)")
    ap.add_argument("--assets", type=int, default=2000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--before-resamples", type=int, default=4)
    ap.add_argument("--covariance", default="factor",
                    help="covariance of the default estimator ('factor', 'sample', 'none')")
    ap.add_argument("--n-mc", type=int, default=20_000, help="Monte Carlo periods of the truth")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--solver", default=None, help="solver passed to bootstrap (default: "
                    "the engine's choice)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats (medians)")
    ap.add_argument("--skip", default="", help="comma list of cases to skip")
    a = ap.parse_args()
    if a.quick:
        a.assets, a.resamples, a.before_resamples, a.n_mc = 300, 6, 6, 10_000
        a.jobs = 1  # in-process: worker start-up would dominate a few small resamples
    cov = None if a.covariance == "none" else a.covariance
    k = a.before_resamples
    cases = [
        ("simulate_before", {"n_mc": a.n_mc}, 1),
        ("simulate_after", {"n_mc": a.n_mc}, 1),
        # the same k resamples before and after: a measured ratio, no extrapolation
        (f"bootstrap_before_{k}", {"resamples": k}, 1),
        (f"bootstrap_after_{k}", {"resamples": k}, 1),
        # the target size, after; before extrapolated linearly from k (labelled)
    ]
    if a.resamples != k:
        cases.append((f"bootstrap_after_{a.resamples}", {"resamples": a.resamples}, 1))
    cases.insert(2, ("per_resample", {"resamples": k}, 1))
    skip = set(filter(None, a.skip.split(",")))
    results: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for _ in range(a.repeats):
        for name, extra, _scale in cases:
            if name in skip:
                continue
            args = {"case": name.rsplit("_", 1)[0] if name.startswith("boot") else name,
                    "assets": a.assets, "covariance": cov,
                    "jobs": a.jobs, "solver": a.solver, **extra}
            results.setdefault(name, []).append(run_case(args))
    load = os.getloadavg()
    print(f"# boot_bench: {a.assets} assets, bootstrap {a.resamples} resamples "
          f"(covariance={a.covariance}, {a.jobs} workers), Monte Carlo {a.n_mc} periods; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores "
          f"(shared machine); {a.repeats} repeat(s), medians; "
          f"total {time.perf_counter() - t0:.0f} s; solver {a.solver or 'default'}")
    print(f"{'case':<22} {'rows':>8} {'seconds':>9} {'tracemalloc MB':>15} "
          f"{'peak RSS MB':>12}")

    def med(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[len(xs) // 2]

    summary = {}
    for name, _extra, scale in cases:
        if name not in results:
            continue
        rs = results[name]
        sec = med([r["seconds"] for r in rs])
        summary[name] = (sec * scale, med([r["rss_mb"] for r in rs]))
        print(f"{name:<22} {rs[0]['rows']:>8} {sec:>9.1f} "
              f"{med([r['tracemalloc_mb'] for r in rs]):>15.0f} "
              f"{med([r['rss_mb'] for r in rs]):>12.0f}")
    if "per_resample" in results:
        r = results["per_resample"][0]
        print(f"one resample (median of {k}, one BLAS thread): estimate before "
              f"{r['estimate_before']:.2f} s, after {r['estimate_after']:.3f} s "
              f"({r['estimate_before'] / r['estimate_after']:.0f}x; panel built once in "
              f"{r['panel_seconds']:.2f} s); solve {r['solve_default']:.2f} s by the default "
              f"route, {r['solve_clarabel']:.2f} s by Clarabel")
    sb, sa = summary.get("simulate_before"), summary.get("simulate_after")
    if sb and sa:
        print(f"simulate: time before/after {sb[0] / sa[0]:.1f}x, peak RSS before/after "
              f"{sb[1] / sa[1]:.1f}x")
    bb, ba = summary.get(f"bootstrap_before_{k}"), summary.get(f"bootstrap_after_{k}")
    if bb and ba:
        print(f"bootstrap, {k} resamples each: time before/after {bb[0] / ba[0]:.1f}x, "
              f"peak RSS before/after {bb[1] / ba[1]:.1f}x")
    big = summary.get(f"bootstrap_after_{a.resamples}")
    if bb and big and a.resamples != k:
        print(f"bootstrap, {a.resamples} resamples: after {big[0]:.0f} s; before "
              f"extrapolated from {k}: {bb[0] * a.resamples / k:.0f} s "
              f"({bb[0] * a.resamples / k / big[0]:.1f}x)")

if __name__ == "__main__":
    main()
