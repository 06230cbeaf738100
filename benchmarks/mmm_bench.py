"""Speed of the media-mix model: one fit and 200 parameter draws.

Run:  python benchmarks/mmm_bench.py [--weeks 208] [--channels 5] [--draws 200] [--jobs 2]

Targets (issue 10): a 5-channel, 208-week fit in under 10 s on 2 cores; 200 parameter draws in
under 60 s using both cores. The fit time includes the time-ordered 70/15/15 quality fit (two
fits in all); ``--no-quality`` times the final fit alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from portfolio_mkt.mmm import MediaMixModel  # noqa: E402
from portfolio_mkt.simulate_kpi import simulate_kpi  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print fit and draw timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=208)
    ap.add_argument("--channels", type=int, default=5)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    world = simulate_kpi(args.weeks, args.channels, seed=0)
    rows = []
    for quality in (True, False):
        kw = world.model_kwargs()
        if not quality:
            kw["split"] = (1.0, 0.0, 0.0)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MediaMixModel(**kw).fit(world.data)
            times.append(time.perf_counter() - t)
        label = "fit incl. 70/15/15 quality fit" if quality else "fit (final only)"
        rows.append((label, min(times), "< 10 s"))
    for method, jobs in (("bootstrap", 1), ("bootstrap", args.jobs), ("laplace", 1)):
        t = time.perf_counter()
        model.sample(args.draws, method=method, n_jobs=jobs)
        rows.append((f"{args.draws} draws, {method}, n_jobs={jobs}",
                     time.perf_counter() - t, "< 60 s"))
    t = time.perf_counter()
    model.return_covariance()
    rows.append((f"return covariance from {args.draws} draws", time.perf_counter() - t, ""))
    print(f"{args.channels} channels, {args.weeks} weeks, cpu count {os.cpu_count()}")
    print(f"{'step':48s} {'seconds':>8s}  target")
    for label, sec, target in rows:
        print(f"{label:48s} {sec:8.2f}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
