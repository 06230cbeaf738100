"""Helpers shared by the command modules: tables for the terminal, plan loading, --out.

Standard library only at the top: pandas, the engine and the report load inside functions.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "format_table",
    "fmt_money",
    "fmt_num",
    "add_plan_arguments",
    "add_out_argument",
    "add_progress_argument",
    "load",
    "print_run",
    "Unavailable",
]


class Unavailable(Exception):
    """A command whose engine is not installed yet."""


def _formatter(fmt: Any, missing: str = "") -> Any:
    """A cell formatter: non-numbers pass through as text, NaN becomes ``missing``."""

    def format_cell(v: Any) -> str:
        if isinstance(v, bool):
            return str(v)
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        return missing if x != x else fmt(x)

    return format_cell


def _money(x: float) -> str:
    from ..report import money

    return money(x)


def _signed(x: float) -> str:
    from ..report import signed_money

    return signed_money(x)


def _pct(x: float) -> str:
    from ..report import percent

    return percent(x, signed=True)


def _share(x: float) -> str:
    from ..report import percent

    return percent(x)


def _num(x: float) -> str:
    from ..report import number

    return number(x, 4)


fmt_money = _formatter(_money)
fmt_signed = _formatter(_signed)
fmt_pct = _formatter(_pct, missing="new")
fmt_share = _formatter(_share)
fmt_num = _formatter(_num)

_FORMATS = {
    "current": fmt_money,
    "recommended": fmt_money,
    "spend": fmt_money,
    "budget": fmt_money,
    "lower": fmt_money,
    "upper": fmt_money,
    "expected_outcome": fmt_money,
    "risk": fmt_money,
    "change": fmt_signed,
    "outcome_change": fmt_signed,
    "outcome_price": fmt_signed,
    "risk_change": fmt_signed,
    "change_pct": fmt_pct,
    "outcome_change_pct": fmt_pct,
    "outcome_price_pct": fmt_pct,
    "share": fmt_share,
    "confidence": fmt_share,
    "share_of_rows": fmt_share,
    "share_of_spend": fmt_share,
    "share_of_outcome": fmt_share,
    "relative_se": fmt_share,
}


def format_table(frame: Any, columns: Sequence[str] | None = None) -> str:
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
                line.append(fmt_num(v))
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


# ---- arguments --------------------------------------------------------------------------------


def add_plan_arguments(sp: argparse.ArgumentParser) -> None:
    """PLAN, --risk-aversion, --budget and --allow-outside-paths.

    Parameters
    ----------
    sp : argparse.ArgumentParser
        A sub-command's parser.
    """
    sp.add_argument("plan", metavar="PLAN", help="plan file (.yaml/.toml) or built-in plan name")
    sp.add_argument("--risk-aversion", type=float, default=None,
                    help="override the plan's risk aversion")
    sp.add_argument("--budget", type=float, default=None,
                    help="override the plan's budget (money)")
    sp.add_argument("--allow-outside-paths", action="store_true",
                    help="let the plan read data files outside its own folder")


def add_out_argument(sp: argparse.ArgumentParser, files: str) -> None:
    """``--out DIR`` whose help says exactly which files are written.

    Parameters
    ----------
    sp : argparse.ArgumentParser
        A sub-command's parser.
    files : str
        The files written, in words (shown in ``--help``).
    """
    sp.add_argument("--out", metavar="DIR", default=None,
                    help=f"write {files} into DIR, all or nothing (DIR is replaced as a whole)")


def add_progress_argument(sp: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (default: bars on a terminal for work over ~2 s).

    Parameters
    ----------
    sp : argparse.ArgumentParser
        A sub-command's parser.
    """
    sp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress bars (default: on a terminal, for work over ~2 s)")


# ---- running ------------------------------------------------------------------------------------


def load(plan_arg: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Load a plan (honouring ``--allow-outside-paths``) and collect the overrides.

    Parameters
    ----------
    plan_arg : str
        Plan file or built-in name.
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    (Plan, dict)
        The plan and the keyword overrides for :meth:`Plan.to_problem`.
    """
    from ..plan import load_plan

    kwargs: dict[str, Any] = {}
    allow = bool(getattr(args, "allow_outside_paths", False))
    try:
        if "allow_outside" in inspect.signature(load_plan).parameters:
            kwargs["allow_outside"] = allow
    except (TypeError, ValueError):  # pragma: no cover - no signature
        pass
    plan = load_plan(plan_arg, **kwargs)
    overrides: dict[str, Any] = {}
    if getattr(args, "risk_aversion", None) is not None:
        overrides["risk_aversion"] = args.risk_aversion
    if getattr(args, "budget", None) is not None:
        overrides["budget"] = args.budget
    if getattr(args, "scenario", None) is not None:
        overrides["scenario"] = args.scenario
    return plan, overrides


def print_run(run: Any, out: TextIO | None = None, verbose: bool = True) -> None:
    """Print a solved plan: headline, recommendation table, prices, approvals, notes.

    Parameters
    ----------
    run : PlanRun
        The solved plan.
    out : text stream, optional
        Default standard output.
    verbose : bool, default True
        Also print unavailable sections and notes.
    """
    from ..report import money, number, signed_money

    out = out or sys.stdout
    a = run.allocation
    cur = run.currency or ""
    title = f" — {run.title}" if run.title and run.title != run.name else ""
    print(f"Plan: {run.name}{title}", file=out)
    print(f"Budget {money(a.budget, cur)}; expected {run.outcome} {money(a.expected_outcome)}"
          f" (risk ±{money(a.risk)}); {a.solver}, {a.status}.", file=out)
    if run.current_point is not None:
        gain = a.expected_outcome - run.current_point[1]
        print(f"At current spend: {money(run.current_point[1])} (risk "
              f"±{money(run.current_point[0])}); the recommendation adds "
              f"{signed_money(gain)}.", file=out)
    if getattr(run, "current_note", None):
        print(run.current_note, file=out)
    if getattr(run, "budget_warning", None):
        print(f"Warning: {run.budget_warning}", file=out)
    om = getattr(run, "outcome_max", None)
    if om is not None and float(om.expected_outcome) - float(a.expected_outcome) >= 0.5:
        delta = float(run.problem.risk_aversion)
        print(f"Risk trade: the outcome-maximising plan (same constraints) expects "
              f"{money(om.expected_outcome)} at risk ±{money(om.risk)}; at risk aversion "
              f"{number(delta)} the recommendation gives up "
              f"{money(float(om.expected_outcome) - float(a.expected_outcome))} for "
              f"{money(float(om.risk) - float(a.risk))} less risk.", file=out)
    if getattr(run, "current_breaks", None):
        print("Today's spend does not meet: " + ", ".join(run.current_breaks) + ".", file=out)
    from ..report import whole_lines

    for line in whole_lines(getattr(run, "whole", None), lambda v: money(v, cur), run.outcome,
                            str(getattr(run.problem, "objective", "utility"))):
        print(line, file=out)
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
        cost = max(float(eq["outcome_cost"]), 0.0)
        print(f"At the same risk the model alone would reach {money(eq['outcome_without'])}:"
              f" the strategy costs {money(cost)} "
              f"({cost / float(eq['outcome_without']):.1%}) at equal risk.", file=out)
    _print_deals(run, out, cur)
    _print_weekly(run, out)
    _print_actuals(run, out)
    from ..report import approval_lines as _approval_lines

    lines = _approval_lines(run)
    if lines:
        print(f"\nNeeds approval ({len(lines)}):", file=out)
        for _, m in lines[:8]:
            print(f"  - {m}", file=out)
        if len(lines) > 8:
            print(f"  ... and {len(lines) - 8} more (approvals.csv and the report with --out).",
                  file=out)
    if verbose:
        for key in ("confidence", "audit"):
            if key in run.unavailable:
                print(f"\n({key}: {run.unavailable[key]})", file=out)
        for n in dict.fromkeys(run.notes):
            print(f"Note: {n}", file=out)


def _print_deals(run: Any, out: TextIO, cur: str) -> None:
    """Creator deals (whole-piece plan beside the continuous one) and exploration tests."""
    from ..report import money

    d = getattr(run, "deals", None)
    if d is None:
        return
    g = d.integer
    if g is not None:
        print(f"\nCreator deals ({', '.join(d.rules) or 'no rules'}): {g.status}, proven gap "
              f"{g.gap:.1e} after {g.nodes} nodes; {int(g.funded.sum())} of {len(g.funded)} "
              "booked.", file=out)
        print(f"Continuous plan {money(g.relaxation_objective)}, whole-piece plan "
              f"{money(g.objective)}: whole pieces cost {money(max(g.cost_of_whole_pieces, 0))}."
              , file=out)
        t = pd_frame({"whole_piece_spend": g.spend.map(lambda v: money(v, cur)),
                      "continuous_spend": (g.relaxation.spend.reindex(g.spend.index)
                                           .map(lambda v: money(v, cur))
                                           if g.relaxation is not None else "")})
        t.index.name = "asset"
        print(format_table(t), file=out)
    e = d.exploration
    if e is not None:
        print(f"\nExploration: {money(e.allocated, cur)} of {money(e.reserved, cur)} reserved, "
              f"{len(e.tests)} test(s); hurdle return {e.hurdle:.3g}.", file=out)
        if len(e.tests):
            t = e.tests[["budget", "weeks", "weekly_spend", "mde", "scale_if"]].copy()
            for c in ("budget", "weekly_spend"):
                t[c] = t[c].map(lambda v: money(v, cur))
            t.index.name = "asset"
            print(format_table(t), file=out)
    if d.error:
        print(f"({d.error})", file=out)


def _print_weekly(run: Any, out: TextIO) -> None:
    """The weekly plan (plans with a ``window`` section)."""
    weekly = getattr(run, "window", None)
    if weekly is None:
        why = getattr(run, "unavailable", {}).get("weekly-plan")
        if why:
            print(f"\n({why})", file=out)
        return
    from ..report import week_label

    print("", file=out)
    print(weekly.summary(), file=out)
    spend = weekly.spend.copy()
    spend.index = [week_label(i) for i in spend.index]
    print("\nSpend per week and asset:", file=out)
    print(spend.to_string(float_format=lambda v: f"{v:,.0f}"), file=out)


def _print_actuals(run: Any, out: TextIO) -> None:
    """Plan versus actual (when a workspace holds actuals for the plan)."""
    act = getattr(run, "actuals", None)
    if act is None:
        why = getattr(run, "unavailable", {}).get("plan-vs-actual")
        if why:
            print(f"\n({why})", file=out)
        return
    print(f"\nPlan versus actual ({act.table['period'].nunique()} period(s), workspace "
          f"{act.workspace}; alert: outside the interval and more than {act.threshold:.0%} "
          "off):", file=out)
    cols = [c for c in ("periods", "predicted", "actual", "deviation", "alerts", "drift")
            if c in act.summary.columns]
    s = act.summary[cols].copy()
    s.index.name = "asset"
    print(format_table(s), file=out)
    for m in act.alerts["message"].head(12) if len(act.alerts) else []:
        print(f"  ALERT {m}", file=out)


def plan_vs_actual(plan: Any, workspace: Any = None, threshold: float | None = None
                   ) -> tuple[Any, str | None]:
    """Plan versus actual for ``plan`` when a workspace holds actuals for its recorded plans.

    The workspace is never created here: without the file (``workspace``, or the default
    ``.portfolio_mkt/workspace.db`` of the current directory) there is nothing to show.

    Parameters
    ----------
    plan : Plan
        The plan (its ``name`` selects the recorded plans).
    workspace : str or Path, optional
        The workspace file.
    threshold : float, optional
        Alert threshold (default the loop's, 10%).

    Returns
    -------
    ActualsRun or None
        For :func:`portfolio_mkt.report.run_plan` (``actuals=``).
    str or None
        Why a workspace that was asked for could not be used.
    """
    from ..exceptions import PortfolioMktError
    from ..loop import DEFAULT_THRESHOLD, DEFAULT_WORKSPACE, Workspace, compare
    from ..report import as_actuals

    path = Path(workspace) if workspace is not None else DEFAULT_WORKSPACE
    if not path.is_file():
        return None, (f"no workspace at {str(path)!r}: record the plan and its actuals with "
                      "`portfolio-mkt record` and `portfolio-mkt actuals`"
                      if workspace is not None else None)
    thr = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    try:
        with Workspace(path) as ws:
            plans = ws.plans()
            ids = [int(i) for i in plans.loc[plans["name"] == str(plan.name), "id"]]
            if not ids:
                return None, None
            allocs = ws.allocations()
            allocs = allocs[allocs["plan_id"].isin(ids)]
            actuals = ws.actuals()
            if actuals.empty or allocs.empty:
                return None, None
            result = compare(allocs, actuals, threshold=thr)
    except PortfolioMktError as exc:
        return None, f"plan versus actual could not be read from {str(path)!r}: {exc}"
    return as_actuals(result, str(path), ids), None


def pd_frame(data: dict[str, Any]) -> Any:
    """A DataFrame (pandas imported only when needed)."""
    import pandas as pd

    return pd.DataFrame(data)


def write_run(run: Any, args: argparse.Namespace, out: TextIO | None = None) -> None:
    """With ``--out``: every table, figure and the report, all or nothing.

    Parameters
    ----------
    run : PlanRun
        The solved plan.
    args : argparse.Namespace
        Parsed arguments (``out``, ``no_report``).
    out : text stream, optional
        Default standard output.
    """
    if not getattr(args, "out", None):
        return
    from ..report import write_outputs

    out = out or sys.stdout
    report = not getattr(args, "no_report", False)
    files = write_outputs(run, args.out, report=report)
    tail = f" (report: {Path(args.out) / 'report.html'})" if report else ""
    print(f"\nWrote {len(files)} files to {args.out}{tail}.", file=out)
