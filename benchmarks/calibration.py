"""Calibration of the media-mix model's uncertainty on simulated worlds with known truth.

Run:  python benchmarks/calibration.py [--seeds 20] [--first-seed 100] [--draws 100]
      [--method bootstrap|laplace|both] [--weeks 104] [--channels 3] [--jobs 2]

For each seed a single-KPI world is simulated (portfolio_mkt.simulate_kpi), the model is fitted,
parameters are drawn, and the script prints: coverage of the stated 90% intervals (ROI,
marginal ROI, contribution per channel; media outcome of the recommended and historical
allocations), how often recommendation directions stated at >= 85% confidence were right, and
the regret of the recommended allocation against the true optimum.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from portfolio_mkt.mmm._calibration import calibrate, summarize_calibration  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print the calibration table (one column per draw method)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=100,
                    help="first seed (100: worlds not used to choose the model's defaults)")
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--method", default="both", choices=["bootstrap", "laplace", "both"])
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    methods = ["bootstrap", "laplace"] if args.method == "both" else [args.method]
    cols = {}
    for method in methods:
        t0 = time.perf_counter()
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        recs = calibrate(seeds, n_jobs=args.jobs, n_draws=args.draws, method=method,
                         n_periods=args.weeks, n_channels=args.channels)
        table = summarize_calibration(recs)
        cols[f"{method}"] = table["value"]
        cols[f"n ({method})"] = table["n"]
        print(f"# {method}: {args.seeds} seeds x {args.draws} draws in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    import pandas as pd

    out = pd.DataFrame(cols)
    last = args.first_seed + args.seeds - 1
    print(f"\n{args.seeds} seeds ({args.first_seed}..{last}), {args.weeks} weeks, "
          f"{args.channels} channels, "
          f"{args.draws} draws per seed\n")
    print(out.to_markdown(floatfmt=".3f") if _has_tabulate() else out.round(3).to_string())
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
