"""``portfolio-mkt replan PLAN --actuals actuals.csv`` and the weekly plan printed by ``plan``.

Top level imports only the standard library; the work happens in the run functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["register", "run_replan", "print_weekly_plan", "has_window", "plan_refit"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the ``replan`` sub-command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        "replan",
        help="re-plan the rest of a plan's window from the actual spend of the first weeks",
        description="Fix the weeks already spent (from --actuals) and re-plan the rest of the "
                    "window with what is left of the budget; print the new weekly plan and "
                    "what changed against the original plan.",
    )
    p.add_argument("plan", help="plan file (YAML/TOML) with a 'window:' section")
    p.add_argument("--actuals", required=True, type=Path,
                   help="CSV of actual spend: long (week, asset, spend[, outcome]) or wide "
                        "(week, one column per asset[, outcome])")
    p.add_argument("--max-move", type=float, default=None,
                   help="share of the remaining budget allowed to move vs the original plan")
    p.add_argument("--output", type=Path, default=None,
                   help="write the re-planned weeks x assets table to this CSV")
    p.add_argument("--refit", action="store_true",
                   help="refit the curves on the plan's history with the actual weeks appended "
                        "(needs an 'outcome' column in --actuals and a one-KPI history in the "
                        "plan) and report which curves moved")
    p.set_defaults(func=run_replan)


def has_window(plan: Any) -> bool:
    """Whether a loaded plan (or its file) has a ``window:`` section."""
    return getattr(getattr(plan, "spec", None), "window", None) is not None


def _weekly_plan(path: Any) -> Any:
    return _load(path)[1]


def _load(path: Any) -> tuple[Any, Any]:
    """``(plan, weekly plan)`` of a plan file with a ``window:`` section."""
    from ..plan import load_plan
    from ..window import plan_window, window_from_spec

    plan = load_plan(path)
    window = plan.spec.window
    if window is None:
        from ..exceptions import PlanFileError

        raise PlanFileError(
            f"{path}: the plan has no 'window:' section; add one (weeks, start, ...) to plan "
            "week by week (see docs/window.md)."
        )
    wp = window_from_spec(window, plan.to_problem(), base_dir=plan.base_dir)
    spec = getattr(wp, "spec", None)
    timing = bool(getattr(spec, "value_of_timing", True))
    return plan, plan_window(wp, value_of_timing=timing)


def plan_refit(plan: Any) -> Any:
    """A ``refit`` for :func:`portfolio_mkt.window.replan` from a plan file's history.

    The actual weeks are appended to the plan's one-KPI (wide) history, the plan is estimated
    again on it (:meth:`Plan.with_history`, same options) and its ``window:`` section is built
    on the new curves.

    Parameters
    ----------
    plan : Plan
        A loaded plan with a ``history:`` whose options name a ``kpi`` (a media-mix model).

    Returns
    -------
    callable
        ``refit(actuals) -> WindowProblem``.
    """
    import pandas as pd

    from ..exceptions import InputError
    from ..window import append_actuals, window_from_spec

    model = getattr(plan, "estimate", None)
    ref = getattr(plan.spec, "history", None)
    if ref is None or model is None or not hasattr(model, "kpi"):
        raise InputError(
            "--refit needs a plan whose curves are fitted from a one-KPI history (history: "
            "with options kpi, channels); this plan's curves are given or estimated otherwise."
        )
    path = Path(plan.base_dir or ".") / (ref if isinstance(ref, str) else ref.file)
    try:
        history = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"--refit: cannot read the plan's history {path} ({exc}).") from None
    channels = [str(c) for c in model.channels]

    def refit(actuals: Any) -> Any:
        frame = append_actuals(history, actuals, kpi=model.kpi, channels=channels,
                               date=model.date)
        new = plan.with_history(frame)
        return window_from_spec(plan.spec.window, new.to_problem(), base_dir=plan.base_dir)

    return refit


def _table(frame: Any) -> str:
    from ..window import week_text

    f = frame.copy()
    f.index = [week_text(i) for i in f.index]
    return f.to_string(float_format=lambda v: f"{v:,.0f}")


def print_weekly_plan(plan: Any, out: TextIO | None = None) -> int:
    """Solve and print the weekly plan of a plan with a ``window:`` section.

    The lead's ``plan`` command calls this when the plan has a window. With on/off minimums
    (``period_min_spend``) the summary also shows the branch and bound's proven gap and the
    grid of asset-weeks that are on (their spend) or off.

    Parameters
    ----------
    plan : Plan, str or Path
        A loaded plan, or a plan file / built-in plan name.
    out : text stream, optional

    Returns
    -------
    int
        Exit code (0).
    """
    out = out or sys.stdout
    weekly = _weekly_plan(getattr(plan, "path", plan))
    print(weekly.summary(), file=out)
    print("\nSpend per week and asset:", file=out)
    print(_table(weekly.spend), file=out)
    return EXIT_OK


def _read_actuals(path: Path, periods: Any) -> Any:
    import pandas as pd

    from ..exceptions import InputError

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"--actuals {path}: cannot read the CSV ({exc}).") from None
    week_col = next((c for c in ("week", "period") if c in df.columns), None)
    if week_col is None:
        raise InputError(
            f"--actuals {path}: needs a 'week' (or 'period') column; columns are "
            f"{', '.join(map(str, df.columns))}."
        )
    if isinstance(periods, pd.DatetimeIndex):
        try:
            df[week_col] = pd.to_datetime(df[week_col])
        except (TypeError, ValueError):
            raise InputError(
                f"--actuals {path}: column '{week_col}' must hold dates like "
                f"{periods[0]:%Y-%m-%d}."
            ) from None
    if "asset" in df.columns:
        return df.rename(columns={week_col: "week"})
    return df.set_index(week_col)


def run_replan(args: argparse.Namespace, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Run ``portfolio-mkt replan``; returns the exit code (0 ok, 1 infeasible, 2 bad input)."""
    out = out or sys.stdout
    err = err or sys.stderr
    from ..exceptions import InfeasibleError, PortfolioMktError
    from ..window import replan

    try:
        plan, original = _load(args.plan)
        actuals = _read_actuals(args.actuals, original.problem.periods)
        refit = plan_refit(plan) if getattr(args, "refit", False) else None
        new = replan(original, actuals, max_move=args.max_move, refit=refit)
    except InfeasibleError as exc:
        print(f"portfolio-mkt replan: infeasible ({', '.join(exc.conflicts)}): {exc}",
              file=err)
        return EXIT_FAILED
    except PortfolioMktError as exc:
        code = EXIT_BAD_INPUT if isinstance(exc, ValueError) else EXIT_FAILED
        print(f"portfolio-mkt replan: error: {exc}", file=err)
        return code
    print(new.summary(), file=out)
    print("\nChange per asset over the re-planned weeks:", file=out)
    print(new.changes.to_string(float_format=lambda v: f"{v:,.0f}"), file=out)
    if getattr(args, "refit", False) and new.curve_moves is not None:
        print("\nCurves refitted with the actual weeks (outcome of the re-planned weeks at the "
              "original plan):", file=out)
        print(new.curve_moves.to_string(float_format=lambda v: f"{v:,.4g}"), file=out)
    print("\nRe-planned spend per week and asset:", file=out)
    print(_table(new.spend), file=out)
    if args.output is not None:
        new.spend.to_csv(args.output)
        print(f"\nwrote {args.output}", file=out)
    return EXIT_OK
