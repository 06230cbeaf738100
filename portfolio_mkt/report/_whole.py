"""Whole pieces in every command-line plan: the minimum meaningful spend, deals, exploration.

A plan run keeps the continuous answer when no asset gets a token amount (strictly between 0
and the plan's minimum meaningful spend ``m``). Otherwise the plan is re-solved in whole
pieces with :func:`portfolio_mkt.integer.solve_integer` and a :class:`MinimumSpend` rule; the
booked pattern it proves best is then solved once more as a continuous program (unbooked
assets at 0, booked ones at least ``m``), so the report keeps a full allocation (marginal
returns, constraint table, prices) whose every asset is 0 or at least ``m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import PortfolioMktError

__all__ = ["WholePieces", "Deals", "plan_value", "apply_min_spend", "token_assets",
           "run_deals", "run_window", "as_actuals", "ActualsRun", "PATTERN"]

#: Name of the bounds that hold the booked pattern in the re-solved continuous program.
PATTERN = "whole_pieces"


def plan_value(problem: Any, spend: Any) -> float:
    """The plan's objective at ``spend`` (money), computed from the curves and the covariance.

    Utility ``outcome - delta / (2 B) * variance`` for ``utility``, expected outcome for
    ``max_return`` (or without a covariance), minus the risk for ``min_risk`` (so larger is
    always better).

    Parameters
    ----------
    problem : Problem
    spend : array or Series
        Money per asset (a Series is aligned to the problem's index).

    Returns
    -------
    float
    """
    if isinstance(spend, pd.Series):
        spend = spend.reindex(problem.index).fillna(0.0)
    x = np.asarray(spend, dtype=float)
    outcome = float(np.sum(problem.return_term.outcome(x)))
    var = max(float(problem.variance(x)), 0.0) if problem.covariance is not None else 0.0
    if problem.objective == "min_risk":
        return -math.sqrt(var)
    if problem.objective == "max_return" or problem.covariance is None:
        return outcome
    return outcome - float(problem.risk_aversion) / (2.0 * float(problem.budget)) * var


def token_assets(spend: pd.Series, minimum: float, budget: float) -> list[str]:
    """Assets whose spend lies strictly between 0 and ``minimum`` (solver dust counts as 0).

    Parameters
    ----------
    spend : Series
        Money per asset.
    minimum : float
        The minimum meaningful spend (money).
    budget : float
        The budget (sets the dust and the tolerance: 1e-9 of it).

    Returns
    -------
    list of str
    """
    if not minimum > 0:
        return []
    tol = 1e-9 * float(budget)
    small = spend[(spend > tol) & (spend < minimum - max(tol, 1e-9 * minimum))]
    return [str(a) for a in small.index]


@dataclass
class WholePieces:
    """The minimum meaningful spend applied to a plan.

    Attributes
    ----------
    minimum : float
        The minimum meaningful spend ``m`` (money); every asset is 0 or at least ``m``.
    token_assets : list of str
        Assets the continuous answer gave a token amount (strictly between 0 and ``m``).
    applied : bool
        Whether the plan was re-solved in whole pieces (False: the continuous answer already
        had no token amount and is kept).
    continuous_spend : Series
        The continuous answer (the relaxation).
    continuous_objective, objective : float
        The plan's objective for the continuous answer and for the reported plan.
    cost : float
        ``continuous_objective - objective`` (never negative beyond solver tolerance): what
        whole pieces cost.
    gap : float or None
        Proven relative optimality gap of the whole-piece search (None when not applied, or
        when the search failed and the fallback was used).
    status : str
        ``"continuous"`` (nothing to do), the integer status (``"optimal"``,
        ``"time_limit"``), or ``"heuristic"`` (the integer search failed; token assets were
        zeroed and the plan re-solved).
    dropped, raised : list of str
        Token assets set to 0, and token assets raised to at least ``m``.
    notes : list of str
    """

    minimum: float
    token_assets: list[str]
    applied: bool
    continuous_spend: pd.Series
    continuous_objective: float
    objective: float
    gap: float | None = None
    status: str = "continuous"
    dropped: list[str] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def cost(self) -> float:
        """Objective given up for whole pieces (0 when the continuous answer is kept)."""
        return max(self.continuous_objective - self.objective, 0.0) if self.applied else 0.0


def _pattern_problem(problem: Any, booked: list[str], unbooked: list[str],
                     minimum: float) -> Any:
    from ..constraints import Bounds

    lower = {a: minimum for a in booked}
    upper = {a: 0.0 for a in unbooked}
    bounds = Bounds(lower=lower or None, upper=upper or None, name=PATTERN)
    return problem.replace(constraints=[*problem.constraints, bounds])


def apply_min_spend(problem: Any, allocation: Any, minimum: float, solve: Any,
                    time_limit: float | None = 60.0) -> tuple[Any, Any, WholePieces]:
    """Make every asset of a solved plan 0 or at least ``minimum``.

    Parameters
    ----------
    problem : Problem
        The plan's problem.
    allocation : Allocation
        Its continuous answer.
    minimum : float
        The minimum meaningful spend in money (0 switches it off).
    solve : callable
        The continuous solver (:func:`portfolio_mkt.solve`).
    time_limit : float, optional
        Seconds for the whole-piece search (the best plan found and its gap are kept).

    Returns
    -------
    problem, allocation, WholePieces
        The problem actually solved (the original, or with the booked pattern as bounds named
        ``whole_pieces``), its allocation, and what was done.
    """
    spend = allocation.spend.astype(float)
    cont = plan_value(problem, spend)
    small = token_assets(spend, minimum, problem.budget)
    info = WholePieces(minimum=float(minimum), token_assets=small, applied=False,
                       continuous_spend=spend.copy(), continuous_objective=cont, objective=cont)
    if not small:
        return problem, allocation, info
    from ..integer import MinimumSpend, solve_integer

    info.applied = True
    booked: list[str] | None = None
    try:
        whole = solve_integer(problem, [MinimumSpend(amount=float(minimum))],
                              time_limit=time_limit)
        booked = [str(a) for a in whole.funded.index[whole.funded.to_numpy()]]
        info.gap = float(whole.gap)
        info.status = str(whole.status)
    except PortfolioMktError as exc:
        info.notes.append(f"the whole-piece search failed ({exc}); token amounts were set to 0 "
                          "and the plan re-solved instead (not proven optimal)")
        info.status = "heuristic"
    if booked is None:
        tol = 1e-9 * problem.budget
        booked = [str(a) for a in spend.index if spend[a] > tol and str(a) not in small]
    unbooked = [str(a) for a in problem.index if str(a) not in booked]
    fixed = _pattern_problem(problem, booked, unbooked, minimum)
    alloc = solve(fixed)
    info.objective = plan_value(problem, alloc.spend)
    info.dropped = [a for a in small if a in unbooked]
    info.raised = [a for a in small if a in booked]
    return fixed, alloc, info


@dataclass
class Deals:
    """Creator deals (whole-piece rules from the plan's ``deals`` section) and exploration.

    Attributes
    ----------
    integer : IntegerAllocation or None
        The whole-piece plan under the deal rules.
    exploration : ExplorationPlan or None
        The tests of little-known assets, apart from the plan.
    rules : list of str
        The rules applied, in words.
    error : str or None
        Why the deals could not be solved (the section then says so).
    """

    integer: Any = None
    exploration: Any = None
    rules: list[str] = field(default_factory=list)
    error: str | None = None


def _section(plan: Any, name: str) -> Any:
    v = getattr(plan, name, None)
    if v is None:
        v = getattr(getattr(plan, "spec", None), name, None)
    return v


def run_deals(plan: Any, problem: Any, minimum: float = 0.0) -> Deals | None:
    """Solve the plan's ``deals`` and ``exploration`` sections, if it has them.

    Parameters
    ----------
    plan : Plan
        The plan (``plan.deals`` / ``plan.spec.deals`` and ``exploration``).
    problem : Problem
        Its continuous problem.
    minimum : float, default 0
        The plan's minimum meaningful spend (money), added as a :class:`MinimumSpend` rule
        when the ``deals`` section does not set its own ``min_spend``.

    Returns
    -------
    Deals or None
        None when the plan has neither section.
    """
    deals = _section(plan, "deals")
    explore = _section(plan, "exploration")
    if deals is None and explore is None:
        return None
    from ..integer import (
        MinimumSpend,
        deals_options,
        deals_rules,
        exploration_inputs,
        plan_exploration,
        solve_integer,
    )

    out = Deals()
    solve_problem = problem
    if explore is not None:
        try:
            kw = exploration_inputs(explore)
            out.exploration = plan_exploration(budget=float(problem.budget), **kw)
            # the reserve comes out of the budget of the whole-piece plan
            left = float(problem.budget) - float(out.exploration.allocated)
            if out.exploration.allocated > 0 and deals is not None:
                solve_problem = problem.replace(budget=left)
        except PortfolioMktError as exc:
            out.error = f"the exploration tests could not be planned: {exc}"
    if deals is not None:
        try:
            rules = deals_rules(deals)
            if minimum > 0 and not any(isinstance(r, MinimumSpend) for r in rules):
                rules.append(MinimumSpend(amount=float(minimum)))
            out.rules = [f"{type(r).__name__} '{r.name}'" for r in rules]
            out.integer = solve_integer(solve_problem, rules, **deals_options(deals))
        except PortfolioMktError as exc:
            out.error = f"the creator deals could not be solved: {exc}"
    return out


def whole_lines(whole: WholePieces | None, money: Any, outcome: str = "outcome",
                objective: str = "utility") -> list[str]:
    """The minimum meaningful spend in plain sentences (terminal and report).

    Parameters
    ----------
    whole : WholePieces or None
    money : callable
        Formats an amount of money (the report's ``money`` with the plan's currency).
    outcome : str
        The outcome's name.
    objective : str, default "utility"
        The problem's objective (names what the values measure).

    Returns
    -------
    list of str
    """
    if whole is None:
        return []
    m = whole.minimum
    if not m > 0:
        return ["The minimum meaningful spend is switched off (min_spend: 0): any amount may "
                "appear."]
    if not whole.applied:
        return [f"Minimum meaningful spend {money(m)}: every asset gets 0 or at least that; "
                "the continuous answer already does, so it is kept as it is."]
    lines = [f"Minimum meaningful spend {money(m)}: the continuous answer gave "
             f"{', '.join(whole.token_assets)} a token amount, so the plan was re-solved in "
             "whole pieces (every asset 0 or at least the minimum)."]
    moves = []
    for a in whole.dropped:
        moves.append(f"{a} set to 0 (was {money(whole.continuous_spend[a])})")
    for a in whole.raised:
        moves.append(f"{a} raised to at least {money(m)} (was "
                     f"{money(whole.continuous_spend[a])})")
    if moves:
        lines.append("; ".join(moves) + ".")
    what = {"max_return": f"expected {outcome}",
            "min_risk": "objective (minus the risk)"}.get(
        objective, f"objective (expected {outcome} minus the charge for risk)")
    lines.append(
        f"Continuous plan (no minimum): {what} {whole.continuous_objective:,.0f}; whole-piece "
        f"plan: {whole.objective:,.0f}. Whole pieces cost {whole.cost:,.0f} {outcome}"
        + (f" (search {whole.status}, proven gap {whole.gap:.1e})." if whole.gap is not None
           else f" ({whole.status}).")
    )
    return lines


def run_window(plan: Any, problem: Any) -> tuple[Any, str | None]:
    """Solve the plan's ``window`` section week by week, if it has one.

    Parameters
    ----------
    plan : Plan
        The plan (``plan.spec.window``, or ``plan.window`` for a plan built in code).
    problem : Problem
        Its continuous problem (curves, covariance, budget of the window, constraints).

    Returns
    -------
    weekly : WeeklyPlan or None
    error : str or None
        Why the weekly plan could not be made (None when it was, or when there is no window).
    """
    section = _section(plan, "window")
    if section is None:
        return None, None
    from ..window import plan_window, window_from_spec

    if hasattr(section, "model_dump"):
        section = section.model_dump(exclude_unset=True, by_alias=True)
    try:
        wp = window_from_spec(section, problem, base_dir=getattr(plan, "base_dir", None))
        spec = getattr(wp, "spec", None)
        return plan_window(wp, value_of_timing=bool(getattr(spec, "value_of_timing", True))), \
            None
    except PortfolioMktError as exc:
        return None, f"the weekly plan could not be made: {exc}"


@dataclass
class ActualsRun:
    """Plan versus actual for one plan, from the operating loop's records (issue 16).

    Attributes
    ----------
    workspace : str
        The workspace file read.
    plan_ids : list of int
        The recorded plans of this name whose predictions are compared.
    table : DataFrame
        One row per asset and period: planned and actual spend, predicted outcome at the
        actual spend with its interval (``low``, ``high``), actual, deviation, alert, drift.
    alerts : DataFrame
        Deviation and drift alerts.
    summary : DataFrame
        Per asset: periods, predicted, actual, deviation, alerts, drift.
    threshold : float
        Relative deviation needed (with the actual outside the interval) for an alert.
    """

    workspace: str
    plan_ids: list[int]
    table: pd.DataFrame
    alerts: pd.DataFrame
    summary: pd.DataFrame
    threshold: float


def as_actuals(result: Any, workspace: str = "", plan_ids: Any = ()) -> ActualsRun | None:
    """Plan versus actual for the report from a monitoring result of the operating loop.

    Parameters
    ----------
    result : MonitorResult or ActualsRun or None
        :func:`portfolio_mkt.loop.monitor` / :func:`portfolio_mkt.loop.compare` (``table``,
        ``alerts``, ``threshold``, ``summary()``), already limited to the plan's records.
    workspace : str
        Where the records came from (shown on the page).
    plan_ids : sequence of int
        The recorded plans compared.

    Returns
    -------
    ActualsRun or None
        None when there is nothing to compare.
    """
    if result is None or isinstance(result, ActualsRun):
        return result
    table = getattr(result, "table", None)
    if table is None or len(table) == 0:
        return None
    alerts = getattr(result, "alerts", None)
    if alerts is None or len(alerts) == 0:
        alerts = pd.DataFrame(columns=["asset", "period", "kind", "message"])
    summary = result.summary() if callable(getattr(result, "summary", None)) else \
        pd.DataFrame()
    return ActualsRun(workspace=str(workspace), plan_ids=[int(i) for i in plan_ids],
                      table=table, alerts=alerts, summary=summary,
                      threshold=float(getattr(result, "threshold", 0.10)))
