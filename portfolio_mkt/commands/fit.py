"""``portfolio-mkt fit``: estimate returns and covariance from a history file; bias audit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import mmm as _mmm
from ._common import Unavailable, add_out_argument, add_progress_argument, fmt_money, format_table

__all__ = ["register", "run_fit"]


def register(subparsers: Any) -> None:
    """Add ``fit``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    ft = subparsers.add_parser("fit", help="estimate returns and covariance from history; "
                                           "bias audit")
    ft.add_argument("history", metavar="HISTORY",
                    help="history CSV or Parquet: long format (period, asset, spend, outcome), "
                         "or wide format with --kpi (one KPI, spend per channel)")
    ft.add_argument("--budget", type=float, default=None,
                    help="budget for the estimated problem (default: mean spend per period)")
    ft.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                    help="time-series cross-validation of the returns with FOLDS folds")
    add_out_argument(ft, "estimates.csv/.parquet, covariance.csv/.parquet and (with an audit) "
                         "bias_audit.csv/.parquet")
    add_progress_argument(ft)
    _mmm.add_wide_arguments(ft, positional=False)
    ft.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    """Estimate returns and covariance from a history file and audit it for bias.

    With ``--kpi`` the file is wide (one KPI per period, spend per channel) and a media-mix model
    is fitted instead (:func:`portfolio_mkt.commands.mmm.run_fit_wide`).
    """
    if getattr(args, "kpi", None):
        return _mmm.run_fit_wide(args)
    import pandas as pd

    from ..exceptions import InputError
    from ..report import output_directory, public, write_table

    out = sys.stdout

    fn = public("problem_from_history")
    if fn is None:
        raise Unavailable(
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
          f"{fmt_money(budget)}):", file=out)
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
        written = ["estimates"]
        with output_directory(args.out) as d:
            write_table(table, d, "estimates")
            if isinstance(cov, pd.DataFrame):
                write_table(cov, d, "covariance")
                written.append("covariance")
            if isinstance(audit, pd.DataFrame):
                write_table(audit, d, "bias_audit")
                written.append("bias_audit")
        print(f"\nWrote {', '.join(w + '.csv/.parquet' for w in written)} to {args.out}.",
              file=out)
    return 0
