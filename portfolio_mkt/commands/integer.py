"""``portfolio-mkt deals``: a plan in whole pieces (tickets, rate cards, counts) and tests.

Usage::

    portfolio-mkt deals PLAN [--deals DEALS.yaml] [--min-spend SHARE | --no-min-spend]
                             [--gap 1e-4] [--time-limit SECONDS]

``PLAN`` is a plan file or a built-in plan name; ``DEALS.yaml`` holds a ``deals:`` section
and optionally an ``exploration:`` section (see docs/integer.md). A minimum meaningful spend
of 0.5% of the budget is on by default here. Exit codes: 0 ok, 1 infeasible or solver
failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``deals`` sub-command."""
    p = subparsers.add_parser(
        "deals", help="a plan in whole pieces: tickets, rate cards, creator counts, tests",
        description=__doc__.splitlines()[0])
    p.add_argument("plan", help="plan file (.yaml/.toml) or built-in plan name")
    p.add_argument("--deals", type=Path, default=None,
                   help="YAML/TOML file with a 'deals:' (and optional 'exploration:') section")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--min-spend", type=float, default=0.005, metavar="SHARE",
                   help="minimum meaningful spend per asset, share of budget (default 0.005)")
    g.add_argument("--no-min-spend", action="store_true",
                   help="allow any spend between 0 and the minimum")
    p.add_argument("--gap", type=float, default=None, help="relative optimality gap (1e-4)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    p.set_defaults(func=run)


def _say(text: str = "", err: bool = False) -> None:
    """Write a line of the command's output (stdout) or an error (stderr)."""
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _read(path: Path) -> dict:
    import tomllib
    import yaml

    from ..exceptions import PlanFileError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the deals file ({exc}).") from None
    try:
        data = (tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)) or {}
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise PlanFileError(f"{path}: not valid YAML/TOML ({exc}).") from None
    if not isinstance(data, dict) or not set(data) <= {"deals", "exploration"}:
        raise PlanFileError(
            f"{path}: expected a mapping with 'deals:' and optionally 'exploration:'; got "
            f"{sorted(data) if isinstance(data, dict) else type(data).__name__}.")
    return data


def run(args: argparse.Namespace) -> int:
    """Solve the plan in whole pieces and print the plan, its gap and the tests."""
    from ..exceptions import InfeasibleError, PortfolioMktError, SolverError

    try:
        import pandas as pd

        from ..integer import (
            MinimumSpend,
            deals_options,
            deals_rules,
            exploration_inputs,
            plan_exploration,
            solve_integer,
        )
        from ..plan import load_plan

        plan = load_plan(args.plan)
        problem = plan.to_problem()
        data = _read(args.deals) if args.deals is not None else {}
        rules = deals_rules(data.get("deals") or {})
        options = deals_options(data.get("deals") or {})
        if not args.no_min_spend and not any(isinstance(r, MinimumSpend) for r in rules):
            rules.insert(0, MinimumSpend(share=args.min_spend))
        if args.gap is not None:
            options["gap"] = args.gap
        if args.time_limit is not None:
            options["time_limit"] = args.time_limit
        share = 0.0
        if data.get("exploration"):
            share = float(exploration_inputs(data["exploration"])["share"])
            # the exploration reserve comes out of the budget of the whole-piece plan
            problem = problem.replace(budget=problem.budget * (1 - share))
        result = solve_integer(problem, rules, **options)
        _say(result.summary())
        table = result.to_frame()[["spend", "funded", "units", "continuous_spend"]]
        with pd.option_context("display.width", 120, "display.float_format", "{:,.2f}".format):
            _say(table[(table["spend"] > 0) | (table["continuous_spend"] > 0)].to_string())
        if data.get("exploration"):
            kw = exploration_inputs(data["exploration"])
            if kw.get("hurdle") is None and result.relaxation is not None:
                mr = result.relaxation.marginal_return
                kw["hurdle"] = float(mr[result.funded].median())
            ex = plan_exploration(budget=problem.budget / (1 - share), **kw)
            _say()
            _say(ex.summary())
        return 0
    except (InfeasibleError, SolverError) as exc:
        _say(f"error: {exc}", err=True)
        return 1
    except PortfolioMktError as exc:
        _say(f"error: {exc}", err=True)
        return 2
