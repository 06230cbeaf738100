"""Solve a problem with whole-piece rules: :func:`solve_integer` and its result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import status as st
from ..exceptions import (
    ConstraintViolationError,
    InfeasibleError,
    InputError,
    SolverError,
    format_labels,
)
from ..optimization import Allocation
from ..optimization import solve as continuous_solve
from ..optimization import verify as continuous_verify
from ..problem import Problem
from ._bnb import SearchResult, branch_and_bound
from ._constraints import CompiledRules, RateCard, WholePiece, compile_rules, zero_tolerance
from ._relaxation import Relaxation

__all__ = ["IntegerAllocation", "solve_integer", "verify_integer"]

DEFAULT_GAP = 1e-4
_VERIFY_TOL = 1e-6


def _money(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:,.1f}K"
    return f"{v:,.2f}"


@dataclass
class IntegerAllocation:
    """A plan in whole pieces, with its proof of optimality and the continuous plan beside it.

    Attributes
    ----------
    problem : Problem
        The continuous problem (budget, curves, risk, strategy constraints).
    rules : tuple of WholePiece
        The whole-piece rules (tickets, rate cards, counts, conflicts, links).
    spend : Series
        Spend per asset in money: every ticket, card and count holds (see ``checks``).
    shares : Series
        ``spend / budget``.
    funded : Series of bool
        Whether each asset is booked.
    units : Series
        Units bought per asset on a rate card (NaN elsewhere).
    expected_outcome, risk, utility : float
        Evaluated on the true curves at ``spend`` (outcome units), as for an Allocation.
    objective : float
        The objective at ``spend``: utility, expected outcome (``max_return``) or risk
        (``min_risk``, minimised).
    bound : float
        Proven best possible objective (the largest open relaxation bound when the search
        ended; a lower bound on risk for ``min_risk``).
    gap : float
        Proven relative optimality gap ``|bound - objective| / |objective|``.
    status : str
        ``"optimal"`` (gap within tolerance) or ``"time_limit"`` (a limit was hit; the plan
        is the best found and ``gap`` says how far from optimal it may be).
    nodes, solves : int
        Branch-and-bound nodes expanded and relaxations solved.
    solve_time : float
        Seconds of the search (compiling the relaxation and solving the continuous plan
        beside it come before and do not count against ``time_limit``).
    root_bound : float
        Value of the tightened relaxation at the root.
    relaxation : Allocation
        The continuous plan (no whole pieces), solved by :func:`portfolio_mkt.solve`.
    relaxation_objective : float
        Its objective; ``cost_of_whole_pieces = relaxation_objective - objective``.
    relaxation_prices : DataFrame
        The strategy constraints' prices **in the continuous relaxation** (column
        ``relaxation_dual``): integer programs have no duals of their own.
    checks : DataFrame
        Every constraint checked at ``spend``: violation, tolerance, ok.
    log : list of tuple
        (seconds, nodes, incumbent, bound) every 25 nodes, in share units.
    """

    problem: Problem
    rules: tuple[WholePiece, ...]
    spend: pd.Series
    shares: pd.Series
    funded: pd.Series
    units: pd.Series
    expected_outcome: float
    risk: float
    utility: float
    objective: float
    bound: float
    gap: float
    status: str
    nodes: int
    solves: int
    solve_time: float
    root_bound: float
    relaxation: Allocation | None
    relaxation_objective: float
    relaxation_prices: pd.DataFrame
    checks: pd.DataFrame
    solver: str = "branch-and-bound (Clarabel relaxations)"
    log: list[tuple[float, int, float, float]] = field(default_factory=list)

    @property
    def cost_of_whole_pieces(self) -> float:
        """Objective given up for whole pieces (for ``min_risk``: extra risk)."""
        if self.problem.objective == "min_risk":
            return self.objective - self.relaxation_objective
        return self.relaxation_objective - self.objective

    @property
    def budget(self) -> float:
        """The problem's budget."""
        return self.problem.budget

    def to_frame(self) -> pd.DataFrame:
        """One row per asset: attributes, spend, share, funded, units, continuous spend.

        Returns
        -------
        DataFrame
        """
        df = self.problem.assets.copy()
        if "tags" in df.columns:
            df["tags"] = [";".join(sorted(t)) for t in df["tags"]]
        df["spend"] = self.spend
        df["share"] = self.shares
        df["funded"] = self.funded
        df["units"] = self.units
        if self.relaxation is not None:
            df["continuous_spend"] = self.relaxation.spend
        return df

    def summary(self, top: int = 10) -> str:
        """The plan in plain language: optimality, cost of whole pieces, largest bookings."""
        lines = [
            f"Whole-piece plan '{self.problem.name}': {self.status}, gap {self.gap:.2e} "
            f"after {self.nodes} nodes ({self.solve_time:.2f} s).",
            f"Expected outcome {_money(self.expected_outcome)}, risk {_money(self.risk)}, "
            f"utility {_money(self.utility)}; {int(self.funded.sum())} of "
            f"{len(self.funded)} assets booked.",
            f"The continuous plan (no whole pieces) reaches {_money(self.relaxation_objective)}: "
            f"whole pieces cost {_money(self.cost_of_whole_pieces)}.",
        ]
        s = self.spend[self.spend > 0].sort_values(ascending=False).head(top)
        for a, v in s.items():
            u = self.units.get(a, np.nan)
            extra = f" ({int(u)} units)" if np.isfinite(u) else ""
            lines.append(f"  {a}: {_money(v)}{extra}")
        bad = self.checks[~self.checks["ok"]]
        if len(bad):
            lines.append("Constraints broken: " + ", ".join(bad.index))
        lines.append("Constraint prices are those of the continuous relaxation.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"IntegerAllocation(status={self.status!r}, objective={self.objective:,.6g}, "
                f"gap={self.gap:.2e}, booked={int(self.funded.sum())}, nodes={self.nodes})")


def verify_integer(problem: Problem, rules: Sequence[WholePiece], spend: Any,
                   tolerance: float = _VERIFY_TOL) -> pd.DataFrame:
    """Check every strategy constraint and whole-piece rule at ``spend``.

    Parameters
    ----------
    problem : Problem
    rules : sequence of WholePiece
    spend : array or Series
        Money per asset (a Series is aligned to the problem's index).
    tolerance : float, default 1e-6
        Relative tolerance (fraction of the budget for money); counts must hold exactly.

    Returns
    -------
    DataFrame
        Index: constraint names; columns ``kind``, ``violation``, ``tolerance``, ``ok``.
    """
    if isinstance(spend, pd.Series):
        spend = spend.reindex(problem.index).fillna(0.0).to_numpy(float)
    x = np.asarray(spend, dtype=float)
    rows = []
    kinds = {c.name: c.kind for c in problem.constraints}
    for name, (v, t) in continuous_verify(problem, x, tolerance).items():
        rows.append((name, kinds.get(name, name), float(v), float(t)))
    for r in rules:
        counting = r.kind in ("cardinality", "at_most_one", "implies")
        tol = 0.0 if counting else tolerance * problem.budget
        rows.append((r.name, r.kind, float(r.violation(x, problem)), tol))
    df = pd.DataFrame(rows, columns=["name", "kind", "violation", "tolerance"]).set_index("name")
    df["ok"] = df["violation"] <= df["tolerance"]
    return df


def _objective(problem: Problem, x: np.ndarray, fees: np.ndarray | None = None
               ) -> tuple[float, float, float, float]:
    """Outcome, risk, utility and objective at money spend ``x``.

    Booking fees (``fees`` per booked asset) earn nothing: curves and risk see the working
    spend ``x - fee``.
    """
    if fees is not None:
        x = np.where(x > 0, np.clip(x - fees, 0.0, None), 0.0)
    outcome = float(problem.return_term.outcome(x).sum())
    var = max(problem.variance(x), 0.0) if problem.covariance is not None else 0.0
    risk = float(np.sqrt(var))
    utility = outcome - problem.risk_aversion / (2 * problem.budget) * var
    if problem.objective == "min_risk":
        obj = risk
    elif problem.objective == "max_return" or problem.covariance is None:
        obj = outcome
    else:
        obj = utility
    return outcome, risk, utility, obj


def _polish(rel: Relaxation, res: SearchResult) -> tuple[np.ndarray, np.ndarray]:
    """Money spend from the incumbent: exact zeros for unbooked assets, exact card amounts."""
    rules = rel.rules
    b = rel.budget
    sol = res.incumbent
    assert sol is not None and sol.w is not None and res.z is not None
    x = np.clip(sol.w, 0.0, None) * b
    on = res.z > 0.5
    x = np.where(rules.binary & ~on, 0.0, x)
    units = np.full(len(x), np.nan)
    if len(rel.card_idx) and res.u is not None:
        ci = rel.card_idx
        u = np.where(on[ci], np.round(res.u), 0.0)
        units[ci] = u
        x[ci] = np.where(on[ci], rules.price[ci] * u + rules.booking_fee[ci], 0.0)
    # the solver's last digits: put the budget residual on the largest booked asset that is
    # not on a rate card (its spend is free), so the budget holds to rounding
    total = x.sum()
    resid = b - total if rel.problem.budget_mode == "exact" else min(b - total, 0.0)
    free = (x > 0) & ~rules.card
    if resid != 0.0 and free.any():
        j = int(np.argmax(np.where(free, x, -np.inf)))
        x[j] = max(x[j] + resid, rules.lower_on[j])
    return x, units


def _feasible(problem: Problem, rules: Sequence[WholePiece], time_limit: float) -> bool | None:
    try:
        compiled = compile_rules(problem, rules)
        rel = Relaxation(problem, compiled)
        exact = Relaxation(problem, compiled, perspective=False)
    except InputError:
        return None
    res = branch_and_bound(rel, exact, stop_at_first=True, time_limit=time_limit)
    if res.incumbent is not None:
        return True
    if res.status == "infeasible":
        return False
    return None


def diagnose_whole_pieces(problem: Problem, rules: Sequence[WholePiece],
                          time_limit: float = 20.0) -> InfeasibleError:
    """Name a set of constraints in conflict (a deletion filter over rules and strategy).

    Each named constraint (and the budget) is removed in turn; if the rest is still
    infeasible it stays removed. What is left cannot all hold together, and removing any one
    of them (as far as the checks could tell within ``time_limit``) makes the plan feasible.

    Parameters
    ----------
    problem : Problem
    rules : sequence of WholePiece
    time_limit : float, default 20
        Seconds allowed for each feasibility check.

    Returns
    -------
    InfeasibleError
        With ``conflicts`` naming the constraints (``"budget"`` when a ten times larger
        budget, as a cap, would remove the conflict).
    """
    rules_left = list(rules)
    cons_left = list(problem.constraints)

    def build(cl: list[Any], b_in: bool = True) -> Problem:
        p = problem.replace(constraints=cl)
        if not b_in:
            # the budget relaxed: ten times larger and a cap (money amounts stay the same)
            p = p.replace(budget=10 * problem.budget, budget_mode="cap")
        return p

    for r in list(rules_left):
        trial = [q for q in rules_left if q is not r]
        if _feasible(build(cons_left), trial, time_limit) is False:
            rules_left = trial
    for c in list(cons_left):
        trial_c = [q for q in cons_left if q is not c]
        if _feasible(build(trial_c), rules_left, time_limit) is False:
            cons_left = trial_c
    budget_in = _feasible(build(cons_left, False), rules_left, time_limit) is not False
    conflicts = [r.name for r in rules_left] + [c.name for c in cons_left]
    if budget_in:
        conflicts.append("budget")
    descr = "; ".join(
        [r.describe(problem) for r in rules_left]
        + [c.describe(problem) for c in cons_left]
        + (["the budget " + _money(problem.budget)] if "budget" in conflicts else [])
    )
    return InfeasibleError(
        f"no whole-piece plan for '{problem.name}' meets every constraint: "
        f"{format_labels(conflicts)} cannot all hold ({descr}). Loosen one of them: lower a "
        "ticket, raise a count limit, drop a link or raise the budget.",
        conflicts=conflicts,
    )


def solve_integer(problem: Problem, rules: Sequence[WholePiece] = (), *,
                  gap: float = DEFAULT_GAP, time_limit: float | None = None,
                  node_limit: int | None = None, perspective: bool = True,
                  verify_result: bool = True) -> IntegerAllocation:
    """Solve ``problem`` with whole-piece ``rules`` to a proven optimality gap.

    A best-first branch and bound over the convex relaxation (Clarabel at every node,
    compiled once), tightened by perspectives of the response curves and of the diagonal
    risk; see ``docs/integer.md`` for the choice and the measurements.

    Parameters
    ----------
    problem : Problem
        The continuous problem: budget, curves, covariance, strategy constraints, objective.
    rules : sequence of WholePiece
        :class:`MinimumTicket`, :class:`RateCard`, :class:`Cardinality`, :class:`AtMostOne`,
        :class:`Implies`, :class:`MinimumSpend`.
    gap : float, default 1e-4
        Relative optimality gap proven before stopping.
    time_limit : float, optional
        Seconds; when hit the best plan found is returned with status ``"time_limit"``.
    node_limit : int, optional
        Largest number of nodes; like ``time_limit``.
    perspective : bool, default True
        Tighten the relaxation with perspectives (exact at whole plans; off only to measure).
    verify_result : bool, default True
        Raise :class:`ConstraintViolationError` if the plan breaks a constraint.

    Returns
    -------
    IntegerAllocation

    Raises
    ------
    InfeasibleError
        No whole plan meets every constraint; ``conflicts`` names the ones in conflict.
    SolverError
        A limit was hit before any whole plan was found.

    Examples
    --------
    >>> import numpy as np, pandas as pd, portfolio_mkt as pm
    >>> from portfolio_mkt.integer import MinimumTicket, solve_integer
    >>> mu = pd.Series({"a": 3.0, "b": 2.9, "c": 2.8})
    >>> cov = pd.DataFrame(np.eye(3), index=mu.index, columns=mu.index)
    >>> p = pm.Problem(mu, cov, budget=1.0, risk_aversion=10.0)
    >>> plan = solve_integer(p, [MinimumTicket(fee=0.4)])
    >>> int(plan.funded.sum())
    2
    """
    if not (np.isfinite(gap) and gap >= 0):
        raise InputError(f"gap must be a number >= 0 (relative); got {gap!r}.")
    for label, v in (("time_limit", time_limit), ("node_limit", node_limit)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise InputError(f"{label} must be positive; got {v!r}.")
    rules = tuple(rules)
    compiled: CompiledRules = compile_rules(problem, rules)
    relaxed = continuous_solve(problem)  # raises InfeasibleError naming strategy conflicts
    relax_obj = _objective(problem, relaxed.spend.to_numpy(float))[3]
    rel = Relaxation(problem, compiled, perspective=perspective)
    exact = Relaxation(problem, compiled, perspective=False) if perspective else rel
    res = branch_and_bound(rel, exact, gap=gap, time_limit=time_limit, node_limit=node_limit)
    if res.incumbent is None:
        if res.status == "infeasible":
            raise diagnose_whole_pieces(problem, rules)
        raise SolverError(
            f"no whole-piece plan for '{problem.name}' was found within the limits "
            f"({res.nodes} nodes, {res.elapsed:.1f} s); raise time_limit / node_limit."
        )
    x, units = _polish(rel, res)
    checks = verify_integer(problem, rules, x)
    if verify_result and not checks["ok"].all():
        bad = checks[~checks["ok"]]
        raise ConstraintViolationError(
            f"the whole-piece plan for '{problem.name}' breaks "
            + "; ".join(f"'{k}' by {v:.3g}" for k, v in bad["violation"].items())
            + ". Rescale the inputs or report a bug.",
            violations=bad["violation"].to_dict(),
        )
    outcome, risk, utility, obj = _objective(problem, x, compiled.booking_fee)
    b = problem.budget
    if problem.objective == "min_risk":
        bound = float(np.sqrt(max(-res.bound, 0.0))) * b
        root = float(np.sqrt(max(-res.root_bound, 0.0))) * b
    else:
        bound, root = res.bound * b, res.root_bound * b
    raw_gap = abs(res.bound - res.incumbent.value) / max(abs(res.incumbent.value), 1e-9)
    status = st.OPTIMAL if res.status == "optimal" and raw_gap <= gap * (1 + 1e-9) + 1e-12 \
        else st.normalize_status(res.status)
    if status == st.OPTIMAL and raw_gap > gap:
        status = st.TIME_LIMIT
    index = problem.index
    prices = relaxed.constraints.copy()
    if "dual" in prices.columns:
        prices = prices.rename(columns={"dual": "relaxation_dual"})
    card = compiled.card
    tol0 = zero_tolerance(problem)
    return IntegerAllocation(
        problem=problem,
        rules=rules,
        spend=pd.Series(x, index=index, name="spend"),
        shares=pd.Series(x / b, index=index, name="share"),
        funded=pd.Series(x > tol0, index=index, name="funded"),
        units=pd.Series(np.where(card, units, np.nan), index=index, name="units"),
        expected_outcome=outcome,
        risk=risk,
        utility=utility,
        objective=obj,
        bound=bound,
        gap=float(raw_gap),
        status=status,
        nodes=res.nodes,
        solves=res.solves,
        solve_time=res.elapsed,
        root_bound=root,
        relaxation=relaxed,
        relaxation_objective=relax_obj,
        relaxation_prices=prices,
        checks=checks,
        log=res.log,
    )


def rate_cards(rules: Sequence[WholePiece]) -> list[RateCard]:
    """The rate cards among ``rules``."""
    return [r for r in rules if isinstance(r, RateCard)]
