"""Everything a plan's report shows, computed once: the CLI prints it, the HTML renders it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import PortfolioMktError

__all__ = ["PlanRun", "run_plan", "recommendation_table", "public"]


def public(attr: str) -> Any:
    """A public name of the top-level ``portfolio_mkt`` namespace, or ``None`` if absent.

    The report only uses the library through its public functions (``frontier``,
    ``constraint_prices``, ``scenarios``, ``bootstrap``, ``bias_audit``, ``approval_flags``).

    Parameters
    ----------
    attr : str
        The name, such as ``"constraint_prices"``.

    Returns
    -------
    object or None
    """
    from ..confidence import ApprovalRules, approval_flags, bootstrap
    from ..estimation import bias_audit, problem_from_history
    from ..frontiers import frontier
    from ..whatif import Scenario, constraint_prices, scenarios

    names = {
        "ApprovalRules": ApprovalRules, "approval_flags": approval_flags, "bootstrap": bootstrap,
        "bias_audit": bias_audit, "problem_from_history": problem_from_history,
        "frontier": frontier, "Scenario": Scenario, "constraint_prices": constraint_prices,
        "scenarios": scenarios,
    }
    return names.get(attr)


@dataclass
class PlanRun:
    """A solved plan and everything around it.

    Attributes
    ----------
    name, title, outcome, currency : str
        Labels.
    problem : Problem
        The problem solved.
    allocation : Allocation
        The recommendation.
    table : DataFrame
        Per asset: current, recommended, change, share, expected outcome, marginal ROI.
    prices : DataFrame or None
        Price of each strategic constraint (re-solve without it).
    frontier : DataFrame or None
        Expected outcome and risk along the efficient frontier.
    scenarios : DataFrame or None
        One row per scenario.
    scenario_spend : DataFrame or None
        Spend per asset (rows) and scenario (columns).
    confidence : DataFrame or None
        Per asset intervals and direction confidence.
    audit : DataFrame or None
        Bias audit of the history.
    approvals : DataFrame
        Changes that need a human.
    unavailable : dict
        Section -> plain reason it could not be computed.
    notes : list of str
        Assumptions and caveats.
    whole : WholePieces or None
        The minimum meaningful spend applied to the plan (the continuous answer beside it).
    deals : Deals or None
        Creator deals and exploration tests (plans with ``deals`` / ``exploration``).
    window : WindowRun or None
        The weekly plan (plans with a ``window`` section).
    actuals : ActualsRun or None
        Plan versus actual (when a workspace holds actuals for the plan).
    """

    name: str
    title: str
    outcome: str
    currency: str
    problem: Any
    allocation: Any
    table: pd.DataFrame
    plan: Any = None
    prices: pd.DataFrame | None = None
    frontier: pd.DataFrame | None = None
    frontier_free: pd.DataFrame | None = None
    frontier_cost: pd.DataFrame | None = None
    chosen_point: tuple[float, float] | None = None
    current_point: tuple[float, float] | None = None
    scenarios: pd.DataFrame | None = None
    scenario_spend: pd.DataFrame | None = None
    confidence: pd.DataFrame | None = None
    outcome_interval: tuple[float, float] | None = None
    confidence_level: float | None = None
    audit: pd.DataFrame | None = None
    audit_flags: list[str] = field(default_factory=list)
    approvals: pd.DataFrame | None = None
    curves: dict[str, Any] | None = None
    model_only: Any = None
    equal_risk: dict[str, float] | None = None
    outcome_max: Any = None
    current_breaks: list[str] = field(default_factory=list)
    current_note: str | None = None
    budget_warning: str | None = None
    current_actual: pd.Series | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    whole: Any = None
    deals: Any = None
    window: Any = None
    actuals: Any = None
    base_problem: Any = None


def recommendation_table(allocation: Any) -> pd.DataFrame:
    """Per-asset recommendation: current, recommended, change, share, outcome, marginal ROI.

    Parameters
    ----------
    allocation : Allocation
        A solved allocation.

    Returns
    -------
    DataFrame
        Indexed by asset id.
    """
    frame = allocation.to_frame()
    out = pd.DataFrame(index=frame.index)
    for col in ("market", "channel", "tier", "tags"):
        if col in frame.columns and frame[col].notna().any():
            out[col] = frame[col].astype(object).where(frame[col].notna(), "")
    if "current" in frame.columns:
        out["current"] = frame["current"].astype(float)
    out["recommended"] = frame["spend"].astype(float)
    if "change" in frame.columns:
        out["change"] = frame["change"].astype(float)
        out["change_pct"] = frame["change_pct"].astype(float)
    out["share"] = frame["share"].astype(float)
    out["expected_outcome"] = frame["expected_outcome"].astype(float)
    out["marginal_roi"] = frame["marginal_return"].astype(float)
    out.index.name = "asset"
    return out


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    import sys

    from tqdm.auto import tqdm

    disable = not sys.stderr.isatty() if enabled is None else not enabled
    return tqdm(total=total, desc=desc, disable=disable, leave=False, file=sys.stderr, delay=2.0)


def run_plan(
    source: Any,
    *,
    solve: Callable[..., Any] | None = None,
    frontier: bool = True,
    n_points: int = 20,
    scenarios: bool = True,
    prices: bool = True,
    confidence: bool = True,
    n_resamples: int = 40,
    progress: bool | None = None,
    overrides: dict[str, Any] | None = None,
    outcome: str | None = None,
    currency: str | None = None,
    title: str | None = None,
    actuals: Any = None,
    min_spend: float | None = None,
) -> PlanRun:
    """Solve a plan (or a bare problem) and compute the report's sections.

    Parameters
    ----------
    source : Plan or Problem
        A loaded plan file, or a :class:`~portfolio_mkt.Problem`.
    solve : callable, optional
        The solver function (default :func:`portfolio_mkt.solve`).
    frontier, scenarios, prices, confidence : bool
        Which optional sections to compute.
    n_points : int, default 20
        Frontier points.
    n_resamples : int, default 40
        Bootstrap resamples for confidence ranges (plans with a history only).
    progress : bool, optional
        Progress bars (default: only on a terminal).
    overrides : dict, optional
        Keyword arguments of :meth:`Plan.to_problem` (``risk_aversion``, ``budget``,
        ``scenario``) applied to the plan before solving.
    outcome, currency, title : str, optional
        Labels for a bare problem (a plan file gives its own).
    actuals : MonitorResult, optional
        Plan versus actual from the operating loop (:func:`portfolio_mkt.loop.monitor`,
        limited to this plan's records): the report adds a "plan versus actual" section.
    min_spend : float, optional
        Minimum meaningful spend per asset in money (every asset 0 or at least this; 0 switches
        it off). Default: the plan file's ``min_spend`` (0.5% of the budget when absent); a bare
        problem has none unless given.

    Returns
    -------
    PlanRun

    Raises
    ------
    InfeasibleError, SolverError
        When the plan itself cannot be solved.
    """
    from .. import optimization as pm
    from ..plan import Plan

    solve = solve or pm.solve
    plan = source if isinstance(source, Plan) else None
    overrides = dict(overrides or {})
    problem = plan.to_problem(**overrides) if plan is not None else source
    alloc = solve(problem)
    base_problem = problem
    whole = None
    minimum = min_spend
    if minimum is None and plan is not None:
        minimum = float(plan.spec.min_spend_amount(float(problem.budget)))
    if minimum is not None:
        from ._whole import apply_min_spend

        problem, alloc, whole = apply_min_spend(problem, alloc, float(minimum), solve)
    run = PlanRun(
        name=plan.name if plan else str(problem.name),
        title=(plan.spec.description or plan.name) if plan else (title or str(problem.name)),
        outcome=plan.spec.outcome if plan else (outcome or "outcome"),
        currency=str(getattr(plan.spec, "currency", "") or "") if plan else (currency or ""),
        problem=problem,
        allocation=alloc,
        table=recommendation_table(alloc),
        plan=plan,
    )
    run.curves = getattr(problem, "response", None) or None
    run.whole = whole
    run.base_problem = base_problem
    if actuals is not None:
        from ._whole import as_actuals

        run.actuals = as_actuals(actuals, getattr(actuals, "workspace", ""),
                                 getattr(actuals, "plan_ids", ()))
    if whole is not None:
        run.notes.extend(whole.notes)
    if plan is not None:
        from ._whole import run_deals

        run.deals = run_deals(plan, base_problem, whole.minimum if whole is not None else 0.0)
        from ._whole import run_window

        run.window, why = run_window(plan, base_problem)
        if why:
            run.unavailable["weekly-plan"] = why
            run.notes.append(why)
    if plan is not None:
        run.notes.extend(plan.notes)
        vt = getattr(plan, "views_table", None)
        if isinstance(vt, pd.DataFrame):
            for _, v in vt.iterrows():
                run.notes.append(
                    f"View '{v['view']}': {v['description']}; the blended return moved from "
                    f"{float(v['prior']):.4g} to {float(v['posterior']):.4g} (Black-Litterman)."
                )
    run.notes.extend(getattr(alloc, "notes", []) or [])
    run.chosen_point = (float(alloc.risk), float(alloc.expected_outcome))
    cur = getattr(problem, "current", None)
    if cur is not None and float(cur.sum()) > 0:
        run.current_point = _evaluate(problem, cur.to_numpy(dtype=float))
        _current_breaks(run)
    _current_source(run, plan)
    _outcome_max(run, solve)

    if prices:
        _prices(run, plan, solve, progress)
        _all_strategy(run, plan, solve)
        _objective_costs(run, plan, solve)
    else:
        run.unavailable["prices"] = "not computed in this run"
    if frontier:
        _frontier(run, n_points, progress)
    else:
        run.unavailable["frontier"] = "not computed in this run (use --frontier)"
    if scenarios:
        _scenarios(run, plan, solve, progress, overrides)
    else:
        run.unavailable["scenarios"] = "not computed in this run"
    if confidence:
        _confidence(run, plan, n_resamples, progress)
    else:
        run.unavailable["confidence"] = "not computed in this run"
    _audit(run, plan)
    _approvals(run, plan)
    return run


def _evaluate(problem: Any, spend: np.ndarray) -> tuple[float, float] | None:
    try:
        outcome = float(np.sum(problem.return_term.outcome(spend)))
        risk = float(math.sqrt(max(problem.variance(spend), 0.0)))
    except Exception:  # noqa: BLE001 - optional decoration of the frontier plot
        return None
    return risk, outcome


def _strategic_names(run: PlanRun, plan: Any) -> list[str]:
    problem = run.problem
    names = [c.name for c in problem.constraints
             if getattr(c, "strategic", True) and c.name != "whole_pieces"]
    if plan is not None:
        wanted = set(plan.strategic_constraints())
        names = [n for n in names if n in wanted] or names
    return names


def _prices(run: PlanRun, plan: Any, solve: Callable[..., Any], progress: bool | None) -> None:
    names = _strategic_names(run, plan)
    if not names:
        run.unavailable["prices"] = "this plan has no strategic constraints to price"
        return
    fn = public("constraint_prices")
    if fn is not None:
        try:
            table = fn(run.problem, names, allocation=run.allocation, progress=progress)
            run.prices = _price_columns(table)
            return
        except PortfolioMktError as exc:
            run.notes.append(f"constraint prices from portfolio_mkt.scenarios failed: {exc}")
    rows = []
    base = run.allocation
    bar = _progress(len(names), "pricing constraints", progress)
    for name in names:
        row: dict[str, Any] = {"constraint": name}
        cons = base.constraints
        if name in cons.index:
            row["kind"] = cons.loc[name, "kind"]
            row["binding"] = bool(cons.loc[name, "binding"])
            row["dual"] = float(cons.loc[name, "dual"])
        try:
            other = solve(run.problem.without(name))
            row["outcome_without"] = float(other.expected_outcome)
            row["risk_without"] = float(other.risk)
            row["outcome_price"] = float(other.expected_outcome - base.expected_outcome)
            row["outcome_price_pct"] = row["outcome_price"] / float(other.expected_outcome)
            row["risk_change"] = float(other.risk - base.risk)
            row["status_without"] = other.status
        except PortfolioMktError as exc:
            row["status_without"] = "failed"
            row["message"] = str(exc)
        rows.append(row)
        bar.update()
    bar.close()
    run.prices = pd.DataFrame(rows).set_index("constraint")


def _all_strategy(run: PlanRun, plan: Any, solve: Callable[..., Any]) -> None:
    """Re-solve without every strategic constraint at once: the model-only plan."""
    names = _strategic_names(run, plan)
    if run.prices is None or len(names) < 2:
        return
    try:
        free = solve(run.problem.without(*names))
    except PortfolioMktError as exc:
        run.notes.append(f"the plan without its strategy could not be solved: {exc}")
        return
    run.model_only = free
    base = run.allocation
    if base.risk > 0 and getattr(run.problem, "covariance", None) is not None:
        # exact: the best the model alone can do at the recommendation's risk
        try:
            same_risk = solve(run.problem.without(*names).replace(
                objective="max_return", max_risk=float(base.risk)))
            gain = float(same_risk.expected_outcome - base.expected_outcome)
            run.equal_risk = {
                "risk": float(base.risk),
                "outcome_with": float(base.expected_outcome),
                "outcome_without": float(same_risk.expected_outcome),
                "outcome_cost": gain,
                "outcome_cost_pct": gain / float(same_risk.expected_outcome),
            }
        except (PortfolioMktError, TypeError) as exc:
            run.notes.append(f"the strategy's cost at equal risk could not be computed: {exc}")
    row = {
        "kind": "all strategy",
        "binding": bool(any(run.prices.get("binding", pd.Series(dtype=bool)).fillna(False))),
        "outcome_without": float(free.expected_outcome),
        "outcome_price": float(free.expected_outcome - base.expected_outcome),
        "outcome_price_pct": float((free.expected_outcome - base.expected_outcome)
                                   / free.expected_outcome) if free.expected_outcome else np.nan,
        "risk_without": float(free.risk),
        "risk_change": float(free.risk - base.risk),
    }
    extra = pd.DataFrame([row], index=pd.Index(["all strategic constraints together"],
                                               name=run.prices.index.name))
    run.prices = pd.concat([run.prices, extra.reindex(columns=run.prices.columns.union(
        extra.columns, sort=False))])


def _objective_costs(run: PlanRun, plan: Any, solve: Callable[..., Any]) -> None:
    """The cost of each strategic constraint in the plan's own objective: never negative.

    Removing a constraint can only improve the optimum of the objective the plan maximises
    (expected outcome minus the risk charge); expected outcome alone may fall when the plan
    uses the freedom to lower risk. A re-solve that says the objective fell beyond the
    tolerance is repeated with Clarabel; if it still does, the row is marked
    ``optimal_inaccurate`` instead of showing a negative cost.
    """
    p = run.prices
    if p is None or not len(p):
        return
    problem = run.problem
    objective = str(getattr(problem, "objective", "utility"))
    delta = float(getattr(problem, "risk_aversion", 0.0) or 0.0)
    budget = float(run.allocation.budget)
    if objective == "utility":
        def value(out: float, risk: float) -> float:
            return out - delta / (2.0 * budget) * risk ** 2
    elif objective == "max_return":
        def value(out: float, risk: float) -> float:
            return out
    else:
        return
    a = run.allocation
    base = value(float(a.expected_outcome), float(a.risk))
    tol = 1e-6 * max(abs(base), 1.0)
    names = _strategic_names(run, plan)
    costs, status = [], []
    for name, r in p.iterrows():
        out_w, risk_w = r.get("outcome_without"), r.get("risk_without")
        if out_w is None or risk_w is None or pd.isna(out_w) or pd.isna(risk_w):
            costs.append(np.nan)
            status.append("failed")
            continue
        gain = value(float(out_w), float(risk_w)) - base
        st = "optimal"
        if gain < -tol:  # impossible at exact optima: re-solve tighter
            dropped = names if name == "all strategic constraints together" else [name]
            try:
                other = pm_solve_clarabel(problem.without(*dropped))
                gain = max(gain, value(float(other.expected_outcome), float(other.risk)) - base)
            except (PortfolioMktError, TypeError, ValueError):
                pass
            if gain < -tol:
                st = "optimal_inaccurate"
        costs.append(0.0 if abs(gain) <= tol else gain)
        status.append(st)
    run.prices = p.assign(objective_cost=costs, price_status=status)


def pm_solve_clarabel(problem: Any) -> Any:
    """Solve with Clarabel at the library's default accuracy (a second, conic opinion)."""
    import warnings

    from .. import optimization as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm.solve(problem, solver="CLARABEL")


def _price_columns(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table.index.name = "constraint"
    return table


def _frontier(run: PlanRun, n_points: int, progress: bool | None) -> None:

    fn = public("frontier")
    if fn is None:
        run.unavailable["frontier"] = (
            "the efficient-frontier module (portfolio_mkt.frontier) is not available in this "
            "installation"
        )
        return
    import inspect

    kwargs: dict[str, Any] = {"n_points": n_points}
    try:
        if "progress" in inspect.signature(fn).parameters:
            kwargs["progress"] = progress
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        pass
    try:
        front = fn(run.problem, **kwargs)
        frame = front.to_frame()
    except PortfolioMktError as exc:
        run.unavailable["frontier"] = f"the frontier could not be computed: {exc}"
        return
    run.frontier = frame
    # the same frontier without the strategy: what the strategy costs at equal risk
    names = _strategic_names(run, run.plan)
    if not names:
        return
    try:
        free = fn(run.problem.without(*names), **kwargs)
        run.frontier_free = free.to_frame()
    except (PortfolioMktError, ValueError) as exc:
        run.notes.append(f"the frontier without the strategy could not be computed: {exc}")
        return
    _equal_risk_costs(run, names, progress)


def _usable(status: Any) -> bool:
    from ..status import is_usable, normalize_status

    return is_usable(normalize_status(status))


def _equal_risk_costs(run: PlanRun, names: list[str], progress: bool | None) -> None:
    """Exact cost of the strategy at each frontier point's risk: re-solve without it.

    The model alone may use every plan the strategy allows, so at equal risk it never reaches
    less; a re-solve that says otherwise beyond the tolerance is repeated with the other conic
    solver and, if it still disagrees, marked ``inaccurate`` instead of printed as a negative
    cost. The exact points are added to the frontier without the strategy, so the constrained
    curve is never drawn above it.
    """
    from .. import optimization as pm
    from ..status import normalize_status

    f = run.frontier
    if f is None or getattr(run.problem, "covariance", None) is None:
        return
    free_problem = run.problem.without(*names)
    rows = []
    usable = f[f["status"].map(_usable)] if "status" in f.columns else f
    bar = _progress(len(usable), "strategy cost at equal risk", progress)
    scale = max(abs(float(run.allocation.expected_outcome)), 1.0)
    tol = 1e-6 * scale
    import warnings

    for _, pt in usable.iterrows():
        risk, with_ = float(pt["risk"]), float(pt["expected_outcome"])
        row: dict[str, Any] = {"risk": risk, "outcome_with": with_}
        if risk <= 0:
            bar.update()
            continue
        status = "optimal"
        try:
            with warnings.catch_warnings():  # an inaccurate re-solve is marked in the table
                warnings.simplefilter("ignore")
                alloc = pm.solve(free_problem.replace(objective="max_return", max_risk=risk))
            without = float(alloc.expected_outcome)
            status = normalize_status(alloc.status)
            if without < with_ - tol:  # impossible in exact arithmetic: re-solve tighter
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    alloc = pm.solve(free_problem.replace(objective="max_return",
                                                          max_risk=risk), solver="CLARABEL")
                without = max(without, float(alloc.expected_outcome))
                status = normalize_status(alloc.status)
            if without < with_ - tol:
                status = "optimal_inaccurate"
        except (PortfolioMktError, TypeError, ValueError) as exc:
            row.update(outcome_without=float("nan"), outcome_cost=float("nan"),
                       status="failed", message=str(exc))
            rows.append(row)
            bar.update()
            continue
        cost = without - with_
        row.update(outcome_without=without,
                   outcome_cost=0.0 if abs(cost) <= tol else cost,
                   status=status)
        rows.append(row)
        bar.update()
    bar.close()
    if not rows:
        return
    table = pd.DataFrame(rows)
    run.frontier_cost = table
    exact = table.dropna(subset=["outcome_without"])
    exact = exact[exact["status"] == "optimal"]
    if len(exact):
        extra = pd.DataFrame({"kind": "at equal risk", "status": "optimal",
                              "expected_outcome": exact["outcome_without"].to_numpy(),
                              "risk": exact["risk"].to_numpy()})
        ff = run.frontier_free
        keep = [c for c in ("kind", "status", "expected_outcome", "risk") if c in ff.columns]
        run.frontier_free = (pd.concat([ff[keep], extra[keep]], ignore_index=True)
                             .sort_values("risk").reset_index(drop=True))


def _current_breaks(run: PlanRun) -> None:
    """Constraints of the plan that today's spend does not meet (named in the summary)."""
    from .. import optimization as pm

    try:
        checks = pm.verify(run.problem, run.problem.current.to_numpy(dtype=float))
    except Exception:  # noqa: BLE001 - an explanation must never sink the report
        return
    run.current_breaks = [n for n, (viol, tol) in checks.items()
                          if n not in ("budget", "long_only", "whole_pieces") and viol > tol]


def _current_source(run: PlanRun, plan: Any) -> None:
    """Say what "current" is and warn when the budget is far from what history spent."""
    history = getattr(plan, "history", None) if plan is not None else None
    cur = getattr(run.problem, "current", None)
    if history is None or cur is None or not {"period", "spend"} <= set(history.columns):
        if cur is not None and plan is not None:
            run.current_note = (f"'Current' is the spend per asset given in the plan file "
                                f"({float(cur.sum()):,.0f} in total).")
        return
    per_period = history.groupby("period")["spend"].sum().sort_index()
    last_period = per_period.index[-1]
    last_total = float(per_period.iloc[-1])
    shown = float(cur.sum())
    budget = float(run.allocation.budget)
    if last_total > 0 and abs(shown - last_total) > 0.005 * last_total:
        run.current_note = (
            f"'Current' is the spend of the last period of the history ({last_period}), "
            f"{last_total:,.0f} in total, scaled to the budget of {budget:,.0f} "
            f"(x{shown / last_total:.2f}) so the two plans are compared at the same total."
        )
        if "asset" in history.columns:
            last = history[history["period"] == last_period].groupby("asset")["spend"].sum()
            run.current_actual = last.reindex(run.table.index).fillna(0.0).astype(float)
    else:
        run.current_note = (f"'Current' is the spend of the last period of the history "
                            f"({last_period}): {last_total:,.0f} in total.")
    lo, hi = float(per_period.min()), float(per_period.max())
    if hi > 0 and (budget > 1.5 * hi or budget < 0.5 * lo):
        run.budget_warning = (
            f"The budget ({budget:,.0f}) is far outside what the history ever spent per period "
            f"({lo:,.0f} to {hi:,.0f}): the estimated returns and curves are extrapolated "
            "there, so treat the recommendation with care."
        )


def _outcome_max(run: PlanRun, solve: Callable[..., Any]) -> None:
    """The plan that maximises expected outcome under the same constraints (risk ignored)."""
    delta = float(getattr(run.problem, "risk_aversion", 0.0) or 0.0)
    if delta <= 0 or getattr(run.problem, "covariance", None) is None:
        return
    try:
        run.outcome_max = solve(run.problem.replace(risk_aversion=0.0))
    except (PortfolioMktError, TypeError, ValueError) as exc:
        run.notes.append(f"the outcome-maximising plan could not be solved: {exc}")


def _scenario_objects(plan: Any, base: Any) -> list[Any]:
    Scenario = public("Scenario")
    out = []
    for sc in plan.spec.scenarios:
        kwargs: dict[str, Any] = {"name": sc.name}
        if sc.budget_change is not None:
            kwargs["budget_change"] = sc.budget_change
        if sc.risk_aversion is not None:
            kwargs["risk_aversion"] = sc.risk_aversion
        if sc.cost_shocks:
            kwargs["cost_shock"] = [(dict(s.where), s.change) for s in sc.cost_shocks]
        if sc.remove:
            kwargs["remove"] = dict(sc.remove)
        if sc.drop_constraints:
            kwargs["changes"] = {
                "constraints": [
                    c for c in base.constraints if c.name not in sc.drop_constraints
                ]
            }
        out.append(Scenario(**kwargs))
    return out


def _scenarios(run: PlanRun, plan: Any, solve: Callable[..., Any], progress: bool | None,
               overrides: dict[str, Any] | None = None) -> None:
    if plan is None or not plan.spec.scenarios:
        run.unavailable["scenarios"] = "the plan defines no scenarios (add a 'scenarios' list)"
        return
    fn = public("scenarios")
    # scenarios start from the plan before whole pieces: each scenario books its own assets
    base_problem = run.base_problem if run.base_problem is not None else run.problem
    if fn is not None:
        try:
            objects = _scenario_objects(plan, base_problem)
            res = fn(base_problem, objects, backend="sequential", progress=progress)
            summary, spend = res.summary.copy(), res.spend.copy()
            if run.whole is not None and run.whole.minimum > 0:
                summary, spend = _scenarios_in_whole_pieces(run, base_problem, objects, res,
                                                            solve)
            run.scenarios = summary
            run.scenario_spend = spend
            return
        except PortfolioMktError as exc:
            run.notes.append(f"portfolio_mkt.scenarios failed ({exc}); re-solved one by one")
    rows = []
    spend = {"base": run.allocation.spend}
    base = run.allocation
    rows.append({"scenario": "base", "status": base.status, "budget": base.budget,
                 "expected_outcome": base.expected_outcome, "risk": base.risk})
    bar = _progress(len(plan.spec.scenarios), "scenarios", progress)
    for sc in plan.spec.scenarios:
        row: dict[str, Any] = {"scenario": sc.name}
        try:
            kw = {k: v for k, v in (overrides or {}).items() if k != "scenario"}
            sc_problem = plan.to_problem(scenario=sc, **kw)
            alloc = solve(sc_problem)
            if run.whole is not None and run.whole.minimum > 0:
                from ._whole import apply_min_spend

                _, alloc, _ = apply_min_spend(sc_problem, alloc, run.whole.minimum, solve)
            row.update(status=alloc.status, budget=alloc.budget,
                       expected_outcome=alloc.expected_outcome, risk=alloc.risk)
            spend[sc.name] = alloc.spend
        except PortfolioMktError as exc:
            row.update(status="failed", message=str(exc))
        rows.append(row)
        bar.update()
    bar.close()
    table = pd.DataFrame(rows).set_index("scenario")
    table["outcome_change"] = table["expected_outcome"] - base.expected_outcome
    table["outcome_change_pct"] = table["outcome_change"] / base.expected_outcome
    table["risk_change"] = table["risk"] - base.risk
    run.scenarios = table
    run.scenario_spend = pd.DataFrame(spend)


def _scenarios_in_whole_pieces(run: PlanRun, base_problem: Any, objects: list[Any], res: Any,
                               solve: Callable[..., Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenario rows with every asset at 0 or at least the plan's minimum meaningful spend.

    The base row is the plan as recommended (its whole pieces); a scenario whose continuous
    answer has token amounts books its own best funded set (``apply_min_spend`` on the scenario's
    problem), so a budget cut may drop an asset the base plan funds.
    """
    from ..whatif import apply_scenario, reallocated
    from ._whole import apply_min_spend, token_assets

    minimum = float(run.whole.minimum)
    summary, spend = res.summary.copy(), res.spend.copy()
    base_alloc = run.allocation
    spend["base"] = base_alloc.spend.reindex(spend.index).astype(float)
    summary.loc["base", ["status", "budget", "expected_outcome", "risk"]] = [
        str(base_alloc.status), float(base_alloc.budget), float(base_alloc.expected_outcome),
        float(base_alloc.risk)]
    if "utility" in summary.columns and hasattr(base_alloc, "utility"):
        summary.loc["base", "utility"] = float(base_alloc.utility)
    changed = []
    for sc in objects:
        name = sc.name
        alloc = res.allocations.get(name)
        if alloc is None or name not in spend.columns:
            continue
        col = spend[name].astype(float)
        if not token_assets(col, minimum, float(alloc.budget)):
            continue
        try:
            _, whole_alloc, info = apply_min_spend(apply_scenario(base_problem, sc), alloc,
                                                   minimum, solve)
        except PortfolioMktError as exc:
            summary.loc[name, "status"] = "failed"
            if "message" in summary.columns:
                summary.loc[name, "message"] = f"whole pieces: {exc}"
            spend[name] = np.nan
            continue
        spend[name] = whole_alloc.spend.reindex(spend.index).astype(float)
        summary.loc[name, ["status", "budget", "expected_outcome", "risk"]] = [
            str(whole_alloc.status), float(whole_alloc.budget),
            float(whole_alloc.expected_outcome), float(whole_alloc.risk)]
        if "utility" in summary.columns and hasattr(whole_alloc, "utility"):
            summary.loc[name, "utility"] = float(whole_alloc.utility)
        moved = [*info.dropped, *info.raised]
        changed.append(f"{name} ({', '.join(moved)})" if moved else name)
    base = summary.loc["base"]
    summary["outcome_change"] = summary["expected_outcome"] - float(base["expected_outcome"])
    summary["outcome_change_pct"] = summary["outcome_change"] / float(base["expected_outcome"])
    summary["risk_change"] = summary["risk"] - float(base["risk"])
    if "spend_moved" in summary.columns:
        summary["spend_moved"] = reallocated(spend.sub(spend["base"], axis=0))
    if changed:
        run.notes.append(
            f"Scenarios re-solved in whole pieces (every asset 0 or at least the minimum of "
            f"{minimum:,.0f}): {'; '.join(changed)}."
        )
    return summary, spend


def _confidence(run: PlanRun, plan: Any, n_resamples: int, progress: bool | None) -> None:
    history = getattr(plan, "history", None) if plan is not None else None
    if history is None:
        run.unavailable["confidence"] = (
            "confidence ranges need a spend history to resample; this plan gives expected "
            "returns directly (add 'history:' to the plan file)"
        )
        return
    fn = public("bootstrap")
    if fn is None:
        run.unavailable["confidence"] = "the bootstrap (portfolio_mkt.confidence) is not available"
        return
    try:
        conf = fn(
            history,
            plan.problem_builder(),
            n_resamples=n_resamples,
            current=run.problem.current,
            random_state=0,
            backend="sequential",
            progress=progress,
        )
    except (PortfolioMktError, TypeError, AttributeError, ValueError) as exc:
        run.unavailable["confidence"] = f"the bootstrap failed: {exc}"
        return
    run.confidence = conf.table.copy()
    run.confidence_level = float(getattr(conf, "level", 0.9))
    run.outcome_interval = (float(conf.outcome["lower"]), float(conf.outcome["upper"]))
    run.notes.extend(getattr(conf, "notes", []) or [])
    if "confidence" in run.confidence.columns:
        run.table["confidence"] = run.confidence["confidence"].reindex(run.table.index)


def _audit(run: PlanRun, plan: Any) -> None:
    history = getattr(plan, "history", None) if plan is not None else None
    if history is None:
        run.unavailable["audit"] = (
            "a bias audit needs the spend history the returns were estimated from; this plan "
            "gives expected returns directly, so check where they came from (add 'history:')"
        )
        return
    result = getattr(getattr(plan, "estimate", None), "audit", None)
    if result is None:
        fn = public("bias_audit")
        if fn is None:
            run.unavailable["audit"] = "the bias audit (portfolio_mkt.estimation) is not available"
            return
        try:
            result = fn(history)
        except PortfolioMktError as exc:
            run.unavailable["audit"] = f"the bias audit failed: {exc}"
            return
    table = getattr(result, "table", result)
    run.audit = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    flags = getattr(result, "flags", None)
    if isinstance(flags, pd.DataFrame):
        run.audit_flags = [str(m) for m in flags.get("message", flags.iloc[:, -1])]
    elif isinstance(flags, (list, tuple)):
        run.audit_flags = [str(f) for f in flags]


def _approvals(run: PlanRun, plan: Any) -> None:
    spec = plan.spec.approval if plan is not None else None
    conf = run.table["confidence"] if "confidence" in run.table.columns else None
    flags_fn, rules_cls = public("approval_flags"), public("ApprovalRules")
    if flags_fn is not None and rules_cls is not None:
        kwargs: dict[str, Any] = {}
        if spec is not None:
            kwargs = dict(
                max_change=spec.max_shift,
                protected_tags=tuple(spec.protect_tags),
                min_confidence=spec.min_confidence,
            )
        rules = rules_cls(**kwargs)
        try:
            run.approvals = flags_fn(run.allocation, rules,
                                               conf.dropna() if conf is not None else None)
            return
        except PortfolioMktError as exc:  # pragma: no cover - defensive
            run.notes.append(f"approval rules could not be checked: {exc}")
    run.approvals = _own_flags(run, spec)


def _own_flags(run: PlanRun, spec: Any) -> pd.DataFrame:
    rows = []
    t = run.table
    max_shift = spec.max_shift if spec is not None else 0.10
    protect = set(spec.protect_tags if spec is not None else ["brand"])
    if "change" not in t.columns:
        return pd.DataFrame(columns=["rule", "asset", "message"])
    for a, r in t.iterrows():
        cur, ch = float(r["current"]), float(r["change"])
        if max_shift is not None and abs(ch) > 1e-6 * max(cur, 1.0):
            if cur <= 0 or abs(ch) / cur > max_shift:
                rows.append({"rule": "max_change", "asset": a,
                             "message": f"{a}: spend moves from {cur:,.0f} to "
                                        f"{r['recommended']:,.0f}, more than {max_shift:.0%}."})
        tags = set(str(r.get("tags", "")).split(";"))
        if ch < -1e-6 * max(cur, 1.0) and tags & protect:
            rows.append({"rule": "protected_tags", "asset": a,
                         "message": f"{a}: a cut to a {', '.join(sorted(tags & protect))} "
                                    "asset needs approval."})
    return pd.DataFrame(rows, columns=["rule", "asset", "message"])
