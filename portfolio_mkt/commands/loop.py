"""Sub-commands of the operating loop: record, actuals, monitor, override, backtest.

Each works on a workspace database (``--workspace PATH``, default
``./.portfolio_mkt/workspace.db``), created on first use. Exit codes: 0 ok, 1 solver or
database failure, 2 bad input.
"""

# ruff: noqa: T201  (a command module: printing its output is its job)
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def _add_workspace(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", metavar="PATH", default=None,
                   help="workspace database (default ./.portfolio_mkt/workspace.db)")


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import sqlite3  # noqa: PLC0415

        from ..exceptions import PortfolioMktError  # noqa: PLC0415

        try:
            return fn(args)
        except PortfolioMktError as exc:
            # bad input errors are also ValueErrors; solver trouble is a RuntimeError
            print(f"error: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ValueError) else 1
        except sqlite3.Error as exc:
            print(f"error: workspace database: {exc}", file=sys.stderr)
            return 1

    run.__name__ = fn.__name__
    return run


def _table(frame: Any, floatfmt: str = "{:,.2f}") -> str:
    if len(frame) == 0:
        return "(none)"
    return frame.to_string(float_format=lambda v: floatfmt.format(v))


def _record(args: argparse.Namespace) -> int:
    from ..loop import Workspace, record_plan  # noqa: PLC0415

    with Workspace(args.workspace) as ws:
        plan_id, alloc = record_plan(
            ws, args.plan, start=args.start, n_periods=args.periods, freq=args.freq,
            approved_by=args.approved_by, level=args.level,
        )
        rows = ws.allocations(plan_id)
    print(f"recorded plan {plan_id} ({alloc.problem.name}) in {ws.path}: "
          f"{rows['asset'].nunique()} assets x {rows['period'].nunique()} period(s), "
          f"status {alloc.status}")
    first = rows[rows["period"] == rows["period"].min()].set_index("asset")
    print(_table(first[["spend", "expected", "low", "high"]]))
    return 0


def _actuals(args: argparse.Namespace) -> int:
    from ..loop import Workspace, record_actuals  # noqa: PLC0415

    with Workspace(args.workspace) as ws:
        n = record_actuals(ws, args.file)
        act = ws.actuals()
    print(f"stored {n} actual rows from {args.file}; the workspace has {len(act)} rows for "
          f"{act['asset'].nunique()} assets and {act['period'].nunique()} periods")
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from ..loop import Workspace, monitor, override_report  # noqa: PLC0415

    with Workspace(args.workspace) as ws:
        res = monitor(ws, threshold=args.threshold, k=args.k, h=args.h)
        per, by_reason = override_report(ws)
    if res.table.empty:
        print("no actuals match a recorded plan yet: record a plan, then load actuals.")
        return 0
    print(f"plan versus actual (alert: outside the interval and more than "
          f"{args.threshold:.0%} off; drift: CUSUM k={args.k:g}, h={args.h:g} sd)")
    summary = res.summary()
    summary["deviation"] = summary["deviation"].map(lambda v: f"{v:+.1%}")
    print(_table(summary))
    print(f"\nalerts ({len(res.alerts)}):")
    if len(res.alerts):
        for m in res.alerts["message"]:
            print(f"- {m}")
    else:
        print("(none)")
    if res.unplanned:
        print(f"\nactuals without a recorded plan: {', '.join(res.unplanned[:8])}")
    if len(by_reason):
        print("\noverrides against the model, by reason (net gain, money moved valued at the "
              "plan's marginal return):")
        print(_table(by_reason))
    if args.plot:
        from pathlib import Path  # noqa: PLC0415

        from ..loop import plot_plan_vs_actual  # noqa: PLC0415

        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        for asset in sorted(res.table["asset"].unique()):
            fig = plot_plan_vs_actual(res, asset)
            fig.savefig(out / f"{asset}.png", dpi=90)
        print(f"\ncharts written to {out}/")
    return 0


def _override(args: argparse.Namespace) -> int:
    from ..loop import Workspace, record_override  # noqa: PLC0415

    with Workspace(args.workspace) as ws:
        oid = record_override(ws, args.asset, args.amount, reason=args.reason, by=args.by,
                              period=args.period, plan_id=args.plan_id)
        row = ws.overrides().set_index("id").loc[oid]
    conf = "n/a" if row["confidence"] is None or row["confidence"] != row["confidence"] else (
        f"{row['confidence']:.0%}")
    print(f"override {oid}: {row['asset']} {row['spend_from']:,.2f} -> {row['spend_to']:,.2f} "
          f"by {row['who']} ({row['reason']}); the model's confidence in its recommendation: "
          f"{conf}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from ..exceptions import InputError  # noqa: PLC0415
    from ..loop import (  # noqa: PLC0415
        MAPE_THRESHOLD,
        CurvePolicy,
        EqualSplit,
        HistoricalSplit,
        OverridePolicy,
        Workspace,
        backtest,
    )

    path = Path(args.history)
    if not path.is_file():
        raise InputError(f"history file {str(path)!r} does not exist.")
    hist = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else (
        pd.read_csv(path))
    policies: list[Any] = [CurvePolicy(max_change=args.max_change), HistoricalSplit(),
                           EqualSplit()]
    if args.overrides:
        with Workspace(args.workspace) as ws:
            pol = OverridePolicy.from_workspace(ws)
        if pol.ratios:
            policies.append(pol)
    res = backtest(hist, policies, start=args.start, step=args.step,
                   n_decisions=args.decisions)
    print(f"walk-forward backtest: {res.decisions['period'].nunique()} decisions; scored by "
          f"{res.scoring}")
    print(_table(res.summary()))
    if len(res.forecasts):
        f = res.forecasts.copy()
        f["ok"] = ["yes" if o else f"no (> {MAPE_THRESHOLD:.0%})" for o in f["ok"]]
        print("\nforecast error of the next period (library curves at the spend made):")
        print(_table(f.set_index("period"), "{:.1%}"))
    return 0


def register(subparsers: Any) -> None:
    """Add ``record``, ``actuals``, ``monitor``, ``override`` and ``backtest``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    p = subparsers.add_parser("record", help="solve a plan file and record it in the workspace")
    p.add_argument("plan", help="plan file (YAML/TOML) or built-in plan name")
    p.add_argument("--start", default=None, help="first period (default: after the history)")
    p.add_argument("--periods", type=int, default=1, help="periods the plan covers (default 1)")
    p.add_argument("--freq", default=None, help="period frequency (default: the history's)")
    p.add_argument("--approved-by", default=None, help="who approved the plan")
    p.add_argument("--level", type=float, default=0.99, help="interval coverage (default 0.99)")
    _add_workspace(p)
    p.set_defaults(func=_guard(_record))

    p = subparsers.add_parser("actuals", help="load actual spend and outcome (CSV/Parquet)")
    p.add_argument("file", help="columns period, asset, spend, outcome")
    _add_workspace(p)
    p.set_defaults(func=_guard(_actuals))

    p = subparsers.add_parser("monitor", help="plan versus actual, alerts, drift, overrides")
    p.add_argument("--threshold", type=float, default=0.10,
                   help="relative deviation needed for an alert (default 0.10)")
    p.add_argument("--k", type=float, default=0.25, help="CUSUM reference value (sd)")
    p.add_argument("--h", type=float, default=12.0, help="CUSUM decision limit (sd)")
    p.add_argument("--plot", metavar="DIR", default=None, help="write a chart per asset")
    _add_workspace(p)
    p.set_defaults(func=_guard(_monitor))

    p = subparsers.add_parser("override", help="record a change to a recommendation")
    p.add_argument("asset")
    p.add_argument("amount", type=float, help="spend decided per period")
    p.add_argument("--reason", required=True, help="why (reuse reasons: they are grouped)")
    p.add_argument("--by", required=True, help="who decided")
    p.add_argument("--period", default=None, help="the period (default: all of the plan's)")
    p.add_argument("--plan-id", type=int, default=None, help="plan (default: the latest)")
    _add_workspace(p)
    p.set_defaults(func=_guard(_override))

    p = subparsers.add_parser("backtest", help="walk-forward backtest of allocation policies")
    p.add_argument("history", help="history file (CSV/Parquet)")
    p.add_argument("--start", type=int, default=None, help="index of the first decision")
    p.add_argument("--step", type=int, default=4, help="periods between decisions")
    p.add_argument("--decisions", type=int, default=None, help="at most this many decisions")
    p.add_argument("--max-change", type=float, default=0.5,
                   help="the library policy's trust region (relative shift, default 0.5)")
    p.add_argument("--overrides", action="store_true",
                   help="also score the workspace's recorded overrides as a policy")
    _add_workspace(p)
    p.set_defaults(func=_guard(_backtest))
