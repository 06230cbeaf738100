"""``portfolio-mkt list | plan | frontier | scenarios``: plan files on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import (
    Unavailable,
    add_out_argument,
    add_plan_arguments,
    add_progress_argument,
    fmt_money,
    fmt_num,
    format_table,
    load,
    plan_vs_actual,
    print_run,
    write_run,
)

__all__ = ["register", "run_list", "run_plan_command", "run_frontier", "run_scenarios",
           "PLAN_FILES", "FRONTIER_FILES", "SCENARIO_FILES"]

#: What ``plan --out`` writes (``--help`` says exactly this; a test checks it).
PLAN_FILES = ("recommendation.csv", "recommendation.parquet", "constraints.csv",
              "constraints.parquet", "allocation.png", "response_curves.png",
              "marginal_roi.png", "report.html")
FRONTIER_FILES = ("frontier.csv", "frontier.parquet", "frontier.png")
SCENARIO_FILES = ("scenarios.csv", "scenarios.parquet", "scenario_spend.csv",
                  "scenario_spend.parquet")


def register(subparsers: Any) -> None:
    """Add ``list``, ``plan``, ``frontier`` and ``scenarios``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    ls = subparsers.add_parser("list", help="list the built-in plans")
    ls.set_defaults(func=run_list)

    pl = subparsers.add_parser("plan", help="solve a plan: recommendation, prices, approvals, "
                                            "report")
    add_plan_arguments(pl)
    add_out_argument(pl, "recommendation, constraints, constraint prices, frontier, scenarios, "
                         "confidence, bias audit and approvals tables (CSV and Parquet, where "
                         "the plan has them; likewise weekly_plan, weekly_outcome, deals, "
                         "exploration_tests, plan_vs_actual), PNG figures and report.html")
    add_progress_argument(pl)
    pl.add_argument("--points", type=int, default=20, help="frontier points in the report")
    pl.add_argument("--scenario", default=None, metavar="NAME",
                    help="solve one of the plan's scenarios instead of the base plan")
    pl.add_argument("--no-frontier", action="store_true", help="skip the frontier in the report")
    pl.add_argument("--resamples", type=int, default=40,
                    help="bootstrap resamples for confidence ranges (plans with a history)")
    pl.add_argument("--no-report", action="store_true",
                    help="with --out: tables and figures only, no report.html")
    pl.add_argument("--workspace", default=None, metavar="PATH",
                    help="workspace of recorded plans and actuals (default "
                         ".portfolio_mkt/workspace.db when it exists): adds plan versus actual")
    pl.set_defaults(func=run_plan_command)

    fr = subparsers.add_parser("frontier", help="efficient frontier of a plan")
    add_plan_arguments(fr)
    add_out_argument(fr, "frontier.csv, frontier.parquet, frontier.png and (with strategy "
                         "constraints) strategy_cost_at_equal_risk.csv/.parquet")
    add_progress_argument(fr)
    fr.add_argument("--points", type=int, default=20, help="number of frontier points")
    fr.set_defaults(func=run_frontier)

    sc = subparsers.add_parser("scenarios", help="re-solve a plan under each of its scenarios")
    add_plan_arguments(sc)
    add_out_argument(sc, "scenarios.csv/.parquet and scenario_spend.csv/.parquet")
    add_progress_argument(sc)
    sc.set_defaults(func=run_scenarios)


def _builtin_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data"


def _describe(path: Path) -> str:
    """The description of a built-in plan, read without the plan machinery (fast)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - a listing never fails on one file
        return ""
    if not isinstance(data, dict):
        return ""
    return " ".join(str(data.get("description") or data.get("name") or "").split())


def run_list(args: argparse.Namespace) -> int:
    """List the built-in plans (no solver is loaded)."""
    out = sys.stdout
    files = sorted(p for p in _builtin_dir().iterdir() if p.suffix in (".yaml", ".yml", ".toml"))
    for p in files:
        print(f"{p.stem:18s} {_describe(p)}", file=out)
    return 0


def run_plan_command(args: argparse.Namespace) -> int:
    """Solve a plan: recommendation table, constraint prices, approval flags."""
    from ..report import run_plan

    plan, overrides = load(args.plan, args)
    actuals, why = plan_vs_actual(plan, getattr(args, "workspace", None))
    run = run_plan(
        plan,
        overrides=overrides,
        frontier=bool(args.out) and not args.no_frontier,
        n_points=args.points,
        scenarios=bool(args.out),
        confidence=bool(args.out) and args.resamples > 0,
        n_resamples=args.resamples,
        progress=args.progress,
        actuals=actuals,
    )
    if why:
        run.unavailable["plan-vs-actual"] = why
    if "scenario" in overrides:
        run.name = f"{plan.name} (scenario: {overrides['scenario']})"
    print_run(run)
    write_run(run, args)
    return 0


def run_frontier(args: argparse.Namespace) -> int:
    """Efficient frontier of a plan, with the recommended point."""
    from ..exceptions import SolverError
    from ..report import (
        figure_png,
        frontier_figure,
        output_directory,
        public,
        run_plan,
        write_bytes_atomic,
        write_table,
    )

    out = sys.stdout
    if public("frontier") is None:
        raise Unavailable("the 'frontier' command is not available in this installation: "
                          "portfolio_mkt.frontier() is missing")
    plan, overrides = load(args.plan, args)
    run = run_plan(plan, overrides=overrides, frontier=True, n_points=args.points,
                   scenarios=False, prices=True, confidence=False, progress=args.progress)
    if run.frontier is None:
        raise SolverError(run.unavailable.get("frontier", "the frontier failed"))
    f = run.frontier
    cols = [c for c in ("status", "expected_outcome", "risk", "risk_aversion") if c in f.columns]
    a = run.allocation
    print(f"Efficient frontier of {run.name} ({len(f)} points); expected {run.outcome} "
          f"against risk. Recommended point: {fmt_money(a.expected_outcome)} at risk "
          f"±{fmt_money(a.risk)}.", file=out)
    print(format_table(f, cols), file=out)
    if run.equal_risk is not None:
        eq = run.equal_risk
        cost = max(float(eq["outcome_cost"]), 0.0)
        print(f"\nAt the recommendation's risk (±{fmt_money(eq['risk'])}) the model alone, "
              f"without the strategy constraints, reaches {fmt_money(eq['outcome_without'])}: "
              f"the strategy costs {fmt_money(cost)} "
              f"({cost / float(eq['outcome_without']):.1%}).", file=out)
    cost = run.frontier_cost
    if cost is not None and len(cost):
        print("\nWhat the strategy constraints cost at equal risk (exact re-solves without "
              "them):", file=out)
        shown = cost[[c for c in ("risk", "outcome_with", "outcome_without", "outcome_cost",
                                  "status") if c in cost.columns]]
        shown = shown.iloc[:: max(1, len(shown) // 10)].copy()
        for c in ("outcome_with", "outcome_without", "outcome_cost"):
            if c in shown.columns:
                shown[c] = shown[c].map(fmt_money)
        shown["risk"] = shown["risk"].map(fmt_num)
        print(format_table(shown.set_index("risk")), file=out)
    if args.out:
        with output_directory(args.out) as d:
            write_table(f, d, "frontier")
            if cost is not None:
                write_table(cost, d, "strategy_cost_at_equal_risk")
            write_bytes_atomic(d / "frontier.png", figure_png(
                frontier_figure(f, run.chosen_point, run.current_point, run.outcome,
                                free=run.frontier_free)))
        extra = " and strategy_cost_at_equal_risk.csv/.parquet" if cost is not None else ""
        print(f"\nWrote frontier.csv, frontier.parquet, frontier.png{extra} to {args.out}.",
              file=out)
    return 0


def run_scenarios(args: argparse.Namespace) -> int:
    """Re-solve a plan under each of its scenarios."""
    from ..exceptions import InputError
    from ..report import output_directory, run_plan, write_table

    out = sys.stdout
    plan, overrides = load(args.plan, args)
    if not plan.spec.scenarios:
        raise InputError(
            f"plan '{plan.name}' defines no scenarios; add a 'scenarios' list to "
            f"{plan.path} (see docs/plan_files.md)"
        )
    run = run_plan(plan, overrides=overrides, frontier=False, scenarios=True, prices=False,
                   confidence=False, progress=args.progress)
    s = run.scenarios
    if s is None:
        raise Unavailable(run.unavailable.get("scenarios", "scenarios are not available"))
    print(f"Scenarios of {run.name}: expected {run.outcome} and risk, changes against the base.",
          file=out)
    print(format_table(s, ["status", "budget", "expected_outcome", "outcome_change",
                           "outcome_change_pct", "risk", "risk_change", "message"]), file=out)
    if run.scenario_spend is not None:
        print("\nRecommended spend per scenario:", file=out)
        spend = run.scenario_spend.copy()
        spend.index.name = "asset"
        print(format_table(spend.map(fmt_money)), file=out)
    if args.out:
        with output_directory(args.out) as d:
            write_table(s, d, "scenarios")
            if run.scenario_spend is not None:
                write_table(run.scenario_spend, d, "scenario_spend")
        print(f"\nWrote scenarios.csv/.parquet and scenario_spend.csv/.parquet to {args.out}.",
              file=out)
    return 0
