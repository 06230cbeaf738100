"""``portfolio-mkt demo``: the flagship example, with saturation curves fitted from history.

The demo plans next week's budget for a US/RU campaign from the built-in year of weekly spend
and revenue (``us_ru_history.csv``): returns and covariance are estimated from the history, a
saturating response curve is fitted per asset (pooled by channel), and the budget is the median
weekly spend of that history, so the curves are used where they were observed.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_out_argument, add_progress_argument, print_run, write_run

__all__ = ["register", "run_demo", "demo_run", "demo_problem", "DEMO_RISK_AVERSION"]

#: Risk aversion of the demo (on budget shares).
DEMO_RISK_AVERSION = 1.0


def register(subparsers: Any) -> None:
    """Add ``demo``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    d = subparsers.add_parser(
        "demo", help="the built-in US/RU example: curves fitted from a year of history")
    add_out_argument(d, "the recommendation and every table (CSV and Parquet), the PNG figures "
                        "and report.html")
    add_progress_argument(d)
    d.set_defaults(func=run_demo)


def demo_problem(budget: float | None = None) -> Any:
    """The demo's problem: estimates and fitted saturation curves from the built-in history.

    Parameters
    ----------
    budget : float, optional
        Budget in money (default: the median weekly spend of the history).

    Returns
    -------
    Problem
        With ``response`` curves (exponential saturation, fitted), a covariance, today's spend
        (the last week, scaled to the budget), an RU presence floor and a 50% shift limit.
    """
    from pathlib import Path

    import pandas as pd

    import portfolio_mkt as pm
    from portfolio_mkt.response import fit_response_curves

    path = Path(__file__).resolve().parents[1] / "data" / "us_ru_history.csv"
    history = pd.read_csv(path)
    if budget is None:
        budget = float(round(history.groupby("period")["spend"].sum().median(), -3))
    est = pm.problem_from_history(history, budget, expected_return="shrinkage",
                                  covariance="sample")
    problem = getattr(est, "problem", est)
    fit = fit_response_curves(history, curve="exponential", adstock=None, group="channel")
    return problem.replace(
        response=fit.curves,
        risk_aversion=DEMO_RISK_AVERSION,
        constraints=[
            pm.GroupFloor(where={"market": "RU"}, amount=0.25, unit="share",
                          name="ru_presence"),
            pm.ShiftLimit(max_change=0.5, relative=True, name="shift_limit"),
        ],
        name="US/RU weekly demo",
    )


#: Minimum meaningful spend of the demo, as a share of its budget (the plan files' default).
DEMO_MIN_SPEND_SHARE = 0.005


def demo_run(frontier: bool = True, n_points: int = 12, progress: bool | None = None) -> Any:
    """Solve the demo and compute its report (see :func:`portfolio_mkt.report.run_plan`).

    Parameters
    ----------
    frontier : bool, default True
        Compute the efficient frontier.
    n_points : int, default 12
        Frontier points.
    progress : bool, optional
        Progress bars (default: on a terminal).

    Returns
    -------
    PlanRun
    """
    from ..report import run_plan

    problem = demo_problem()
    # the command line's minimum meaningful spend: 0.5% of the budget, as for plan files
    return run_plan(problem, frontier=frontier, n_points=n_points, scenarios=False,
                    confidence=False, progress=progress, outcome="revenue", currency="$",
                    min_spend=DEMO_MIN_SPEND_SHARE * float(problem.budget),
                    title="Next week's budget for a US/RU campaign, planned from a year of "
                          "weekly spend and revenue with saturation curves fitted per asset.")


def run_demo(args: argparse.Namespace) -> int:
    """Solve the demo and print the recommendation (with ``--out``: the full report)."""
    run = demo_run(frontier=bool(args.out), progress=args.progress)
    print_run(run, verbose=False)
    write_run(run, args)
    return 0
