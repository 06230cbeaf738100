"""``portfolio-mkt fit data.csv --kpi revenue --channels tv,search`` : the media-mix model.

One KPI per period and spend per channel in (a wide CSV or Parquet file); fit quality,
decomposition, planning curves (and an allocation with ``--budget``) out, written as CSV files
with ``--out``. Top level imports only the standard library (fast ``--help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_wide_arguments", "run_fit_wide", "register"]


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def add_wide_arguments(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """Add the wide-data (media-mix model) options to ``parser``.

    Parameters
    ----------
    parser : ArgumentParser
        The ``fit`` sub-parser (or a fresh parser).
    positional : bool, default True
        Add the ``DATA`` positional (set False when the parser already has one, e.g. the
        long-format ``fit``'s ``HISTORY``; :func:`run_fit_wide` reads either).
    """
    if positional:
        parser.add_argument("data", metavar="DATA", help="wide CSV or Parquet: one row per "
                            "period (and market), spend per channel, the KPI, controls")
    parser.add_argument("--kpi", default=None, help="KPI column (revenue, conversions...)")
    parser.add_argument("--channels", default=None, type=_csv_list,
                        help="comma-separated spend columns, e.g. tv,search,social")
    parser.add_argument("--controls", default=[], type=_csv_list,
                        help="comma-separated control columns (price, events, holidays)")
    parser.add_argument("--date", default="date", help="date column (default 'date')")
    parser.add_argument("--geo", default=None, help="market column (several markets)")
    parser.add_argument("--saturation", default="logistic",
                        help="logistic, exponential, michaelis_menten or hill")
    parser.add_argument("--adstock", default="geometric", help="geometric or weibull")
    parser.add_argument("--l-max", type=int, default=8, dest="l_max",
                        help="carryover lags (periods)")
    parser.add_argument("--draws", type=int, default=0,
                        help="parameter draws (Laplace) for intervals and risk (e.g. 200)")
    if not any(a.dest == "budget" for a in parser._actions):
        parser.add_argument("--budget", type=float, default=None,
                            help="budget per period: print the recommended allocation")
    if not any(a.dest == "out" for a in parser._actions):
        parser.add_argument("--out", metavar="DIR", default=None,
                            help="write fit_quality.csv, decomposition.csv, curves.csv")


def register(subparsers: Any) -> None:
    """Register ``fit-kpi`` (the same as ``fit --kpi ...``) on the command line."""
    p = subparsers.add_parser("fit-kpi", help="media-mix model from one KPI and spend per "
                              "channel (wide data): fit quality, decomposition, curves")
    add_wide_arguments(p)
    p.set_defaults(func=run_fit_wide)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return f"{int(v):,d}"
    if isinstance(v, float) and abs(v) < 1e-12:
        return "0"
    if isinstance(v, (int, float)):
        if v != v:  # NaN
            return ""
        a = abs(v)
        if a >= 1e4:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        return f"{v:.3g}" if a < 1 else f"{v:.3f}"
    return str(v)


def _curve_text(curve: Any) -> str:
    if curve is None:
        return ""
    inner = ", ".join(f"{k}={v:.4g}" for k, v in curve.params.items())
    return f"{curve.family}({inner})"


def _table(frame: Any) -> str:
    head = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    rows = [head] + [[str(i)] + [_fmt(v) for v in r] for i, r in zip(
        frame.index, frame.itertuples(index=False), strict=True)]
    w = [max(len(r[j]) for r in rows) for j in range(len(head))]
    lines = ["  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r))
             for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def run_fit_wide(args: argparse.Namespace, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """Fit the media-mix model on a wide file and print (and write) the results.

    Returns
    -------
    int
        0 ok, 1 solver failure, 2 bad input.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    import warnings

    import pandas as pd

    from ..exceptions import EstimationError, InputError, PortfolioMktError

    try:
        path = Path(getattr(args, "data", None) or getattr(args, "history", None) or "")
        if not path.is_file():
            raise InputError(f"data file not found: '{path}'; give a CSV or Parquet file with "
                             "one row per period, spend per channel and the KPI.")
        if not args.kpi or not args.channels:
            raise InputError("give the KPI and the spend columns: --kpi revenue "
                             "--channels tv,search,social")
        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # noqa: BLE001 - any reader error is bad input
            raise InputError(f"cannot read {path}: {exc}") from None
        from ..mmm import MediaMixModel

        model = MediaMixModel(
            kpi=args.kpi, channels=args.channels, controls=args.controls,
            date=args.date or None, geo=args.geo, saturation=args.saturation,
            adstock=args.adstock, l_max=args.l_max,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(frame)
            if args.draws:
                model.sample(int(args.draws))
        for w in caught:
            if issubclass(w.category, UserWarning):
                print(f"warning: {w.message}", file=err)
        n_m = len(model.coef_)
        print(f"Media-mix model: {len(frame)} rows, {n_m} market(s), "
              f"{len(args.channels)} channels, KPI '{args.kpi}'", file=out)
        if model.pooling_strength_ is not None:
            print(f"pooling strength across markets (validation): {model.pooling_strength_:g}",
                  file=out)
        print("\nFit quality (time-ordered split; the model of the out-of-sample rows saw only "
              "the train share)", file=out)
        print(_table(model.fit_quality_), file=out)
        dec = model.decomposition()
        parts = dec.drop(columns=["fitted", "actual"]).sum()
        summary = pd.DataFrame({"total": parts, "share": parts / dec["actual"].sum()})
        summary.index.name = "component"
        print("\nDecomposition of the KPI over the history", file=out)
        print(_table(summary), file=out)
        curves = model.roi()
        curves.insert(2, "curve", [_curve_text(model.curves_.get(a)) for a in curves.index])
        print("\nPlanning curves (steady state per period, carryover counted) and returns",
              file=out)
        print(_table(curves.drop(columns=["market"] if n_m == 1 else [])), file=out)
        alloc = None
        if args.budget is not None:
            from ..optimization import solve

            alloc = solve(model.problem(float(args.budget)))
            table = pd.DataFrame({"current": model.assets_["current_spend"],
                                  "recommended": alloc.spend})
            table["change"] = table["recommended"] - table["current"]
            table.index.name = "asset"
            print(f"\nRecommended spend per period for a budget of {args.budget:,.6g} "
                  f"(expected media outcome {alloc.expected_outcome:,.6g})", file=out)
            print(_table(table), file=out)
        if args.out:
            d = Path(args.out)
            d.mkdir(parents=True, exist_ok=True)
            model.fit_quality_.to_csv(d / "fit_quality.csv")
            dec.to_csv(d / "decomposition.csv")
            curves.to_csv(d / "curves.csv")
            model.params_.to_csv(d / "parameters.csv")
            if alloc is not None:
                table.to_csv(d / "allocation.csv")
            print(f"\nwrote {d}/fit_quality.csv, decomposition.csv, curves.csv, "
                  "parameters.csv" + (", allocation.csv" if alloc is not None else ""), file=out)
        return 0
    except (InputError, EstimationError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    except PortfolioMktError as exc:
        print(f"error: {exc}", file=err)
        return 1
