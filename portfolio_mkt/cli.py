"""The ``portfolio-mkt`` command line.

::

    portfolio-mkt demo                      # the built-in US/RU example
    portfolio-mkt list                      # the built-in plans
    portfolio-mkt plan quarterly_2m --out out/   # recommendation, tables, plots, report.html
    portfolio-mkt frontier us_ru_creators
    portfolio-mkt scenarios monthly_100k
    portfolio-mkt fit history.csv --budget 1000000

Exit codes: 0 success, 1 infeasible plan or solver failure (the conflicting constraints are
named), 2 bad input (an invalid plan file, a missing file, a bad option). See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .exceptions import (
    ConstraintViolationError,
    InfeasibleError,
    InputError,
    PortfolioMktError,
    SolverError,
)

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class _Unavailable(Exception):
    """A command whose engine is not installed yet."""


class _ArgumentError(Exception):
    """argparse wanted to exit with a usage error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _ArgumentError(f"{self.prog}: error: {message}")


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def _formatter(fmt: Any, missing: str = "") -> Any:
    """A cell formatter: non-numbers pass through as text, NaN becomes ``missing``."""

    def format_cell(v: Any) -> str:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        return missing if x != x else fmt(x)

    return format_cell


_fmt_money = _formatter(lambda x: f"{x:,.0f}")
_fmt_signed = _formatter(lambda x: f"{x:+,.0f}" if abs(x) >= 0.5 else "0")
_fmt_pct = _formatter(lambda x: "0.0%" if abs(x) < 1e-6 else f"{x:+.1%}", missing="new")
_fmt_share = _formatter(lambda x: f"{x:.1%}")
_fmt_num = _formatter(lambda x: f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}")


_FORMATS = {
    "current": _fmt_money,
    "recommended": _fmt_money,
    "spend": _fmt_money,
    "budget": _fmt_money,
    "lower": _fmt_money,
    "upper": _fmt_money,
    "change": _fmt_signed,
    "outcome_change": _fmt_signed,
    "outcome_price": _fmt_signed,
    "risk_change": _fmt_signed,
    "change_pct": _fmt_pct,
    "outcome_change_pct": _fmt_pct,
    "outcome_price_pct": _fmt_pct,
    "share": _fmt_share,
    "confidence": _fmt_share,
    "share_of_rows": _fmt_share,
    "share_of_spend": _fmt_share,
    "share_of_outcome": _fmt_share,
    "relative_se": _fmt_share,
}


def format_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A readable fixed-width table: money with thousands separators, signed changes.

    Parameters
    ----------
    frame : DataFrame
        The table.
    columns : sequence of str, optional
        Columns to show (default all).

    Returns
    -------
    str
    """
    f = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    cells = [[str(f.index.name or "")] + [str(c) for c in f.columns]]
    for idx, row in f.iterrows():
        line = [str(idx)]
        for c in f.columns:
            fn = _FORMATS.get(str(c))
            v = row[c]
            if fn is not None:
                line.append(fn(v))
            elif isinstance(v, float):
                line.append(_fmt_num(v))
            else:
                line.append("" if v is None else str(v))
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    out = []
    for k, r in enumerate(cells):
        parts = [r[0].ljust(widths[0])]
        for i in range(1, len(r)):
            numeric = any(ch.isdigit() for ch in r[i]) and k > 0
            parts.append(r[i].rjust(widths[i]) if numeric else r[i].ljust(widths[i]))
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def _load(plan_arg: str, args: argparse.Namespace) -> Any:
    from .plan import load_plan

    plan = load_plan(plan_arg)
    overrides: dict[str, Any] = {}
    if getattr(args, "risk_aversion", None) is not None:
        overrides["risk_aversion"] = args.risk_aversion
    if getattr(args, "budget", None) is not None:
        overrides["budget"] = args.budget
    if getattr(args, "scenario", None) is not None:
        overrides["scenario"] = args.scenario
    return plan, overrides


def _print_run(run: Any, out: TextIO, verbose: bool = True) -> None:
    a = run.allocation
    title = f" — {run.title}" if run.title and run.title != run.name else ""
    print(f"Plan: {run.name}{title}", file=out)
    print(
        f"Budget {_fmt_money(a.budget)}; expected {run.outcome} {_fmt_num(a.expected_outcome)}"
        f" (risk ±{_fmt_num(a.risk)}); {a.solver}, {a.status}.",
        file=out,
    )
    if run.current_point is not None:
        gain = a.expected_outcome - run.current_point[1]
        print(
            f"At current spend: {_fmt_num(run.current_point[1])} (risk "
            f"±{_fmt_num(run.current_point[0])}); the recommendation adds {gain:+,.0f}.",
            file=out,
        )
    print("", file=out)
    print(format_table(run.table, ["market", "channel", "current", "recommended", "change",
                                   "change_pct", "share", "expected_outcome", "marginal_roi",
                                   "confidence"]), file=out)
    if run.prices is not None and len(run.prices):
        print("\nPrice of each strategic constraint (re-solved without it):", file=out)
        print(format_table(run.prices, ["binding", "outcome_price", "outcome_price_pct",
                                        "risk_change", "dual"]), file=out)
    if run.equal_risk is not None:
        eq = run.equal_risk
        print(f"At the same risk the model alone would reach {_fmt_num(eq['outcome_without'])}:"
              f" the strategy costs {_fmt_num(eq['outcome_cost'])} "
              f"({eq['outcome_cost_pct']:.1%}) at equal risk.", file=out)
    if run.approvals is not None and len(run.approvals):
        msgs = list(run.approvals["message"])
        print(f"\nNeeds approval ({len(msgs)}):", file=out)
        for m in msgs[:8]:
            print(f"  - {m}", file=out)
        if len(msgs) > 8:
            print(f"  ... and {len(msgs) - 8} more (approvals.csv and the report with --out).",
                  file=out)
    if verbose:
        for key in ("frontier", "scenarios", "confidence", "audit"):
            if key in run.unavailable and key in ("confidence", "audit"):
                print(f"\n({key}: {run.unavailable[key]})", file=out)
        for n in dict.fromkeys(run.notes):
            print(f"Note: {n}", file=out)


def _write(run: Any, args: argparse.Namespace, out: TextIO) -> None:
    if not getattr(args, "out", None):
        return
    from .report import write_outputs

    files = write_outputs(run, args.out, report=not getattr(args, "no_report", False))
    print(f"\nWrote {len(files)} files to {args.out} (report: "
          f"{Path(args.out) / 'report.html'}).", file=out)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Solve the built-in US/RU example and print the recommendation."""
    from .report import run_plan

    try:
        from .examples import example_problem
    except ImportError:  # pragma: no cover - the lead's example ships with the core
        from .plan import load_plan

        source: Any = load_plan("us_ru_creators")
    else:
        source = example_problem()
    run = run_plan(source, frontier=bool(args.out), scenarios=False, progress=args.progress)
    _print_run(run, out, verbose=False)
    print("\n" + run.allocation.summary(), file=out)
    _write(run, args, out)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """List the built-in plans."""
    from .plan import builtin_plans, describe_plan

    for name, path in builtin_plans().items():
        print(f"{name:18s} {describe_plan(path)}", file=out)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    """Solve a plan: recommendation table, constraint prices, approval flags."""
    from .report import run_plan

    plan, overrides = _load(args.plan, args)
    run = run_plan(
        plan,
        overrides=overrides,
        frontier=bool(args.out) and not args.no_frontier,
        n_points=args.points,
        scenarios=bool(args.out),
        confidence=bool(args.out) and args.resamples > 0,
        n_resamples=args.resamples,
        progress=args.progress,
    )
    if "scenario" in overrides:
        run.name = f"{plan.name} (scenario: {overrides['scenario']})"
    _print_run(run, out)
    _write(run, args, out)
    return EXIT_OK


def _frontier_fn() -> Any:
    from .report._analysis import public

    fn = public("frontier")
    if fn is None:
        raise _Unavailable(
            "the 'frontier' command is not available in this installation: "
            "portfolio_mkt.frontier.frontier() is missing"
        )
    return fn


def cmd_frontier(args: argparse.Namespace, out: TextIO) -> int:
    """Efficient frontier of a plan, with the recommended point."""
    _frontier_fn()
    from .report import run_plan, write_table

    plan, overrides = _load(args.plan, args)
    run = run_plan(plan, overrides=overrides, frontier=True,
                   n_points=args.points, scenarios=False, prices=True, confidence=False,
                   progress=args.progress)
    if run.frontier is None:
        raise SolverError(run.unavailable.get("frontier", "the frontier failed"))
    f = run.frontier
    cols = [c for c in ("status", "expected_outcome", "risk", "risk_aversion") if c in f.columns]
    a = run.allocation
    print(f"Efficient frontier of {run.name} ({len(f)} points); expected {run.outcome} "
          f"against risk. Recommended point: {_fmt_num(a.expected_outcome)} at risk "
          f"±{_fmt_num(a.risk)}.", file=out)
    print(format_table(f, cols), file=out)
    cost = run.frontier_cost
    if run.equal_risk is not None:
        eq = run.equal_risk
        print(f"\nAt the recommendation's risk (±{_fmt_num(eq['risk'])}) the model alone, "
              f"without the strategy constraints, reaches {_fmt_num(eq['outcome_without'])}: "
              f"the strategy costs {_fmt_num(eq['outcome_cost'])} "
              f"({eq['outcome_cost_pct']:.1%}).", file=out)
    if cost is not None and len(cost):
        print("\nWhat the strategy constraints cost at equal risk, interpolated along the two "
              "frontiers:", file=out)
        shown = cost[["risk", "outcome_with", "outcome_without", "outcome_cost"]]
        shown = shown.iloc[:: max(1, len(shown) // 10)].map(_fmt_num)
        print(format_table(shown.set_index("risk")), file=out)
    if args.out:
        from .report import write_bytes_atomic
        from .report._figures import frontier_figure
        from .report._io import figure_png

        write_table(f, args.out, "frontier")
        if cost is not None:
            write_table(cost, args.out, "strategy_cost_at_equal_risk")
        write_bytes_atomic(Path(args.out) / "frontier.png", figure_png(
            frontier_figure(f, run.chosen_point, run.current_point, run.outcome,
                            free=run.frontier_free)))
        print(f"\nWrote frontier.csv, frontier.parquet and frontier.png to {args.out}.",
              file=out)
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace, out: TextIO) -> int:
    """Re-solve a plan under each of its scenarios."""
    from .report import run_plan, write_table

    plan, overrides = _load(args.plan, args)
    if not plan.spec.scenarios:
        raise InputError(
            f"plan '{plan.name}' defines no scenarios; add a 'scenarios' list to "
            f"{plan.path} (see docs/plan_files.md)"
        )
    run = run_plan(plan, overrides=overrides, frontier=False,
                   scenarios=True, prices=False, confidence=False, progress=args.progress)
    s = run.scenarios
    if s is None:
        raise _Unavailable(run.unavailable.get("scenarios", "scenarios are not available"))
    print(f"Scenarios of {run.name}: expected {run.outcome} and risk, changes against the base.",
          file=out)
    print(format_table(s, ["status", "budget", "expected_outcome", "outcome_change",
                           "outcome_change_pct", "risk", "risk_change", "message"]), file=out)
    if run.scenario_spend is not None:
        print("\nRecommended spend per scenario:", file=out)
        spend = run.scenario_spend.copy()
        spend.index.name = "asset"
        print(format_table(spend.map(_fmt_money)), file=out)
    if args.out:
        write_table(s, args.out, "scenarios")
        if run.scenario_spend is not None:
            write_table(run.scenario_spend, args.out, "scenario_spend")
        print(f"\nWrote scenarios tables to {args.out}.", file=out)
    return EXIT_OK


def cmd_fit(args: argparse.Namespace, out: TextIO) -> int:
    """Estimate returns and covariance from a history file and audit it for bias."""
    from .report import write_table
    from .report._analysis import public

    fn = public("problem_from_history")
    if fn is None:
        raise _Unavailable(
            "the 'fit' command is not available in this installation: "
            "portfolio_mkt.estimation.problem_from_history() is missing"
        )
    path = Path(args.history)
    if not path.is_file():
        raise InputError(f"history file not found: {path}; give the path of a CSV or Parquet "
                         "file with period, asset, spend and outcome columns")
    try:
        history = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is bad input
        raise InputError(f"cannot read {path}: {exc}") from None
    budget = args.budget
    if budget is None:
        budget = float(history["spend"].sum()) / max(history["period"].nunique(), 1) \
            if {"spend", "period"} <= set(history.columns) else 1.0
    kwargs: dict[str, Any] = {}
    if args.cv:
        kwargs["cv"] = args.cv
    try:
        result = fn(history, budget, **kwargs)
    except TypeError as exc:  # an estimation module without cross-validation
        raise InputError(f"cannot estimate from {path}: {exc}") from None
    problem = getattr(result, "problem", result)
    mu = pd.Series(getattr(result, "expected_return", None)
                   if getattr(result, "expected_return", None) is not None
                   else problem.expected_return, name="expected_return")
    table = mu.to_frame()
    prior = getattr(result, "prior_return", None)
    if isinstance(prior, pd.Series) and not prior.equals(mu):
        table["historical_mean"] = prior.reindex(mu.index)
    cov = getattr(result, "covariance", None)
    if cov is not None and not isinstance(cov, pd.DataFrame) and hasattr(cov, "to_dense"):
        cov = cov.to_dense()
    if isinstance(cov, pd.DataFrame):
        import numpy as np

        table["volatility"] = np.sqrt(np.diag(cov.loc[mu.index, mu.index].to_numpy()))
    cur = getattr(problem, "current", None)
    if isinstance(cur, pd.Series):
        table["current"] = cur.reindex(mu.index)
    assets = getattr(result, "assets", None)
    if assets is None:
        assets = getattr(problem, "assets", None)
    if assets is not None:
        attrs = assets.drop(columns=["tags"], errors="ignore")
        table = attrs.join(table, how="right")
    table = table.dropna(axis=1, how="all")
    table.index.name = "asset"
    print(f"Estimates from {path} ({len(history)} rows, {len(mu)} assets; budget "
          f"{_fmt_money(budget)}):", file=out)
    print(format_table(table), file=out)
    audit_res = getattr(result, "audit", None)
    if audit_res is None and public("bias_audit") is not None:
        audit_res = public("bias_audit")(history)
    audit = None
    if audit_res is None:
        print("\n(bias audit: not available in this installation)", file=out)
    else:
        audit = getattr(audit_res, "table", audit_res)
        flags = getattr(result, "flags", None) or getattr(audit_res, "flags", None) or []
        print("\nBias audit (share of the history per market and channel):", file=out)
        shown = audit.set_index(["attribute", "group"]) if {"attribute", "group"} <= set(
            audit.columns) else audit
        cols = [c for c in ("periods_observed", "share_of_rows", "share_of_spend",
                            "share_of_outcome", "return", "effective_n", "relative_se",
                            "flagged") if c in shown.columns]
        shown = shown[cols] if cols else shown
        shown.index = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i)
                       for i in shown.index]
        shown.index.name = "group"
        print(format_table(shown), file=out)
        if flags:
            print("\nFlags:", file=out)
            for m in flags:
                print(f"  - {m}", file=out)
        else:
            print("\nNo group is under-represented.", file=out)
    cv = getattr(result, "cv", None)
    if cv is not None:
        print(f"\nOut-of-sample check: {cv}", file=out)
        per_asset = getattr(cv, "per_asset", None)
        if isinstance(per_asset, pd.DataFrame) and "mape" in per_asset.columns:
            shown = per_asset[["mape"]].rename(columns={"mape": "out_of_sample_mape"})
            table = table.join(shown, how="left")
            print(format_table(shown.map(lambda v: f"{v:.1%}" if v == v else "")
                               .rename_axis("asset")), file=out)
    if args.out:
        write_table(table, args.out, "estimates")
        if isinstance(cov, pd.DataFrame):
            write_table(cov, args.out, "covariance")
        if isinstance(audit, pd.DataFrame):
            write_table(audit, args.out, "bias_audit")
        print(f"\nWrote estimates to {args.out}.", file=out)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# parser and main
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``portfolio-mkt``.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = _Parser(
        prog="portfolio-mkt",
        description="Plan marketing budgets as a convex portfolio problem.",
        epilog="Exit codes: 0 ok, 1 infeasible plan or solver failure, 2 bad input.",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"portfolio-mkt {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def common(sp: argparse.ArgumentParser, plan: bool = True) -> None:
        if plan:
            sp.add_argument("plan", metavar="PLAN",
                            help="plan file (.yaml/.toml) or built-in plan name")
            sp.add_argument("--risk-aversion", type=float, default=None,
                            help="override the plan's risk aversion")
            sp.add_argument("--budget", type=float, default=None,
                            help="override the plan's budget (money)")
        sp.add_argument("--out", metavar="DIR", default=None,
                        help="write CSV/Parquet tables, PNG plots and report.html here")
        sp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars (default: only on a terminal)")

    d = sub.add_parser("demo", help="the built-in US/RU example (recommended allocation)")
    common(d, plan=False)
    d.set_defaults(func=cmd_demo)

    ls = sub.add_parser("list", help="list the built-in plans")
    ls.set_defaults(func=cmd_list, out=None, progress=None)

    pl = sub.add_parser("plan", help="solve a plan: recommendation, prices, approvals, report")
    common(pl)
    pl.add_argument("--points", type=int, default=20, help="frontier points in the report")
    pl.add_argument("--scenario", default=None, metavar="NAME",
                    help="solve one of the plan's scenarios instead of the base plan")
    pl.add_argument("--no-frontier", action="store_true", help="skip the frontier in the report")
    pl.add_argument("--resamples", type=int, default=40,
                    help="bootstrap resamples for confidence ranges (plans with a history)")
    pl.add_argument("--no-report", action="store_true", help="with --out: tables and plots only")
    pl.set_defaults(func=cmd_plan)

    fr = sub.add_parser("frontier", help="efficient frontier of a plan")
    common(fr)
    fr.add_argument("--points", type=int, default=20, help="number of frontier points")
    fr.set_defaults(func=cmd_frontier)

    sc = sub.add_parser("scenarios", help="re-solve a plan under each of its scenarios")
    common(sc)
    sc.set_defaults(func=cmd_scenarios)

    ft = sub.add_parser("fit", help="estimate returns and covariance from history; bias audit")
    ft.add_argument("history", metavar="HISTORY", help="history CSV or Parquet (long format)")
    ft.add_argument("--budget", type=float, default=None,
                    help="budget for the estimated problem (default: mean spend per period)")
    ft.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                    help="time-series cross-validation of the returns with FOLDS folds")
    common(ft, plan=False)
    ft.set_defaults(func=cmd_fit)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).
    out, err : text streams, optional
        Where to print results and errors (default stdout and stderr).

    Returns
    -------
    int
        Exit code: 0 ok, 1 infeasible or solver failure, 2 bad input.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except _ArgumentError as exc:
        print(str(exc), file=err)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if getattr(args, "points", 2) is not None and getattr(args, "points", 2) < 2:
        print("portfolio-mkt: error: --points must be at least 2", file=err)
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args, out))
    except InfeasibleError as exc:
        names = ", ".join(exc.conflicts) if exc.conflicts else "(not identified)"
        print(f"portfolio-mkt: the plan is infeasible. Conflicting constraints: {names}.\n"
              f"{exc}", file=err)
        if exc.slack:
            for k, v in exc.slack.items():
                print(f"  - {k}: would need relaxing by {v:,.0f}", file=err)
        return EXIT_FAILED
    except (SolverError, ConstraintViolationError) as exc:
        print(f"portfolio-mkt: the solver failed: {exc}", file=err)
        return EXIT_FAILED
    except _Unavailable as exc:
        print(f"portfolio-mkt: {exc}", file=err)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. `portfolio-mkt plan x | head`: stop quietly
        try:
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
            pass
        return EXIT_OK
    except (InputError, PortfolioMktError, OSError) as exc:
        print(f"portfolio-mkt: error: {exc}", file=err)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
