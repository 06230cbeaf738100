"""The planner-facing report: analysis of a solved plan, figures, one self-contained HTML page.

>>> from portfolio_mkt.plan import load_plan
>>> from portfolio_mkt.report import run_plan, write_report
>>> run = run_plan(load_plan("monthly_100k"), frontier=False)  # doctest: +SKIP
>>> write_report(run, "out/")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._analysis import PlanRun, public, recommendation_table, run_plan
from ._figures import frontier_figure, make_figures
from ._format import money, number, percent, signed_money, week_label
from ._html import OPTIONAL_SECTIONS, SECTIONS, approval_lines, render_html
from ._io import csv_safe, figure_png, write_bytes_atomic, write_table, write_text_atomic
from ._outdir import MARKER, clean_stale, output_directory
from ._whole import (
    ActualsRun,
    Deals,
    WholePieces,
    apply_min_spend,
    as_actuals,
    plan_value,
    whole_lines,
)

__all__ = [
    "PlanRun",
    "run_plan",
    "recommendation_table",
    "make_figures",
    "frontier_figure",
    "public",
    "money",
    "signed_money",
    "number",
    "percent",
    "week_label",
    "approval_lines",
    "render_html",
    "write_report",
    "write_outputs",
    "SECTIONS",
    "OPTIONAL_SECTIONS",
    "WholePieces",
    "Deals",
    "apply_min_spend",
    "plan_value",
    "whole_lines",
    "ActualsRun",
    "as_actuals",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_table",
    "figure_png",
    "csv_safe",
    "output_directory",
    "clean_stale",
    "MARKER",
]


def write_report(run: PlanRun, path: str | Path, figures: dict[str, bytes] | None = None) -> Path:
    """Write the HTML report of a solved plan, atomically.

    Parameters
    ----------
    run : PlanRun
        The solved plan.
    path : str or Path
        An ``.html`` file, or a directory (the file is then ``report.html``).
    figures : dict, optional
        Pre-rendered figures (default: rendered here).

    Returns
    -------
    Path
        The report file.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        path = path / "report.html"
    figures = make_figures(run) if figures is None else figures
    clean_stale(path.parent)
    return write_text_atomic(path, render_html(run, figures))


def write_outputs(run: PlanRun, directory: str | Path, report: bool = True) -> list[Path]:
    """Write every table (CSV and Parquet), every figure (PNG) and the report, all or nothing.

    The set is written to a fresh temporary directory and swapped in for ``directory`` in one
    step (see :func:`output_directory`): concurrent runs never mix files, a failure leaves the
    previous set, and files follow the umask.

    Parameters
    ----------
    run : PlanRun
        The solved plan.
    directory : str or Path
        Output directory (created if needed).
    report : bool, default True
        Also write ``report.html``.

    Returns
    -------
    list of Path
        The files written (their final paths).
    """
    target = Path(directory)
    with output_directory(target) as d:
        written = _write_all(run, d, report)
    return [target / p.name for p in written]


def _write_all(run: PlanRun, d: Path, report: bool) -> list[Path]:
    out: list[Path] = []
    out += write_table(run.table, d, "recommendation")
    out += write_table(_constraints_table(run.allocation), d, "constraints")
    tables: dict[str, Any] = {
        "constraint_prices": run.prices,
        "frontier": run.frontier,
        "frontier_without_strategy": run.frontier_free,
        "strategy_cost_at_equal_risk": run.frontier_cost,
        "scenarios": run.scenarios,
        "scenario_spend": run.scenario_spend,
        "confidence": run.confidence,
        "bias_audit": run.audit,
        "approvals": run.approvals,
    }
    weekly = getattr(run, "window", None)
    if weekly is not None:
        tables["weekly_plan"] = weekly.spend
        tables["weekly_outcome"] = weekly.weekly
    deals = getattr(run, "deals", None)
    if deals is not None and deals.integer is not None:
        tables["deals"] = deals.integer.to_frame()
    if deals is not None and deals.exploration is not None:
        tables["exploration_tests"] = deals.exploration.tests
    actuals = getattr(run, "actuals", None)
    if actuals is not None and getattr(actuals, "table", None) is not None:
        tables["plan_vs_actual"] = actuals.table
    for stem, frame in tables.items():
        if frame is not None:
            out += write_table(frame, d, stem)
    figures = make_figures(run)
    for name, png in figures.items():
        out.append(write_bytes_atomic(d / f"{name}.png", png))
    if report:
        out.append(write_report(run, d / "report.html", figures))
    return out


def _constraints_table(allocation: Any) -> Any:
    cons = allocation.constraints.copy()
    cons.index.name = "constraint"
    return cons
