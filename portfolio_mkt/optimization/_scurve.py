"""S-shaped curves solved to the true optimum by branch and bound on the concave envelope.

The program replaces an S-shaped curve by its concave envelope, which is exact at zero spend
and beyond the payback spend ``t`` (where the curve starts to pay) and overstates the curve in
between. When the optimum funds an S-curve asset strictly between 0 and ``t``, the answer may
not be the true optimum. :func:`solve_s_curves` then branches on that asset: in one branch it
gets nothing (``x = 0``); in the other at least the curve's inflection point (``x >= s``),
where the curve is concave and enters the program as itself (piecewise linear), not as the
envelope. The relaxed (envelope) value of a branch bounds every allocation in it, so branches
that cannot beat the best true value found are pruned. With a handful of S-curves this takes
a few solves and ends at the global optimum, up to the piecewise-linear tolerance; the best
branch's answer is then polished to that branch's exact optimum (:mod:`._polish`). (The
optimum can lie between ``s`` and ``t`` when budget is scarce elsewhere: the next unit there
still earns more than anywhere else, even though the asset's average return is not at its
best.)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..constraints import Bounds
from ..exceptions import InfeasibleError, InputError
from ..response import Curve
from ._polish import polish_curves
from ._solve import DEFAULT_TOLERANCE, solve, verify


@dataclass(frozen=True)
class _Floored(Curve):
    """A curve used only at spend ``x >= lower`` (``lower`` at or past the inflection point).

    Below ``lower`` it continues as the tangent line at ``lower``, so the whole function is
    concave and the program approximates the true curve on ``[lower, U]``.
    """

    base: Curve
    lower: float
    family: ClassVar[str] = "floored"

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        x = np.asarray(x, dtype=float)
        lo = self.lower
        line = float(self.base.value(lo)) + float(self.base.derivative(lo)) * (x - lo)
        return np.where(x >= lo, self.base.value(np.maximum(x, lo)), line)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        x = np.asarray(x, dtype=float)
        return self.base.derivative(np.maximum(x, self.lower))

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        x = np.asarray(x, dtype=float)
        return np.where(x >= self.lower, self.base.second_derivative(np.maximum(x, self.lower)),
                        0.0)

    @property
    def has_conic_form(self) -> bool:  # noqa: D102
        return False

    def transform(self, money_scale: float, outcome_scale: float) -> _Floored:  # noqa: D102
        return _Floored(self.base.transform(money_scale, outcome_scale), self.lower / money_scale)

    def _money_scale(self) -> float:
        return self.base._money_scale()

__all__ = ["solve_s_curves"]

#: branches compare piecewise-linear answers; only the best is polished (once solve polishes
#: by default, it says so with an ``exact_curves`` switch)
_NO_POLISH = ({"exact_curves": False}
              if "exact_curves" in inspect.signature(solve).parameters else {})


def _values(alloc: Any, problem: Any) -> tuple[float, float]:
    """True and relaxed (model) objective of an allocation, in outcome units."""
    if problem.objective == "max_return":
        penalty = 0.0
    else:
        var = alloc.risk**2
        penalty = problem.risk_aversion / (2 * problem.budget) * var
    return alloc.expected_outcome - penalty, alloc.model_outcome - penalty


def solve_s_curves(
    problem: Any, solver: str | None = None, max_solves: int = 64, *, exact: bool = True,
    **solve_kwargs: Any
) -> Any:
    """Solve a plan whose S-shaped curves must be funded past their payback spend or not at all.

    Parameters
    ----------
    problem : portfolio_mkt.Problem
        The plan (objective ``"utility"`` or ``"max_return"``).
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    max_solves : int, default 64
        Largest number of solves; the best allocation found so far is returned when reached.
    exact : bool, default True
        Polish the best branch's piecewise-linear answer to the exact optimum of that branch
        (:func:`~portfolio_mkt.optimization.polish_curves`; ``optimality_gap`` states the proven
        gap). ``False`` keeps the piecewise-linear answer.
    **solve_kwargs
        Passed to :func:`portfolio_mkt.solve`.

    Returns
    -------
    Allocation
        The best allocation on the true curves. When branching was needed, its problem carries
        the decisions as constraints ``s_curve_off`` (assets held at 0) and ``s_curve_on``
        (assets funded at least to their inflection point, where their curve is used as is).

    Raises
    ------
    InfeasibleError
        When no branch is feasible.
    """
    if problem.objective == "min_risk":
        raise InputError(
            "solve_s_curves needs objective 'utility' or 'max_return' (with 'min_risk' the "
            "curves do not enter the objective); use pm.solve instead."
        )
    base = list(problem.constraints)
    curves = dict(problem.response or {})
    stack: list[dict[Any, str]] = [{}]
    best: Any = None
    best_val = -np.inf
    solves = 0
    first_error: InfeasibleError | None = None
    while stack and solves < int(max_solves):
        decisions = stack.pop()
        extra = []
        off = {a: 0.0 for a, d in decisions.items() if d == "off"}
        on = {a: float(curves[a].inflection) for a, d in decisions.items() if d == "on"}
        if off:
            extra.append(Bounds(upper=off, unit="money", name="s_curve_off"))
        if on:
            extra.append(Bounds(lower=on, unit="money", name="s_curve_on"))
        branch_curves = {**curves, **{a: _Floored(curves[a], lo) for a, lo in on.items()}}
        prob = (problem.replace(constraints=base + extra, response=branch_curves)
                if extra else problem)
        solves += 1
        try:
            # the envelope may promise outcome the true curves do not deliver (an outcome
            # target or response floor): check on the true curves here, not in solve
            alloc = solve(prob, solver=solver, **{**solve_kwargs, **_NO_POLISH,
                                                  "verify_result": False})
        except InfeasibleError as exc:
            first_error = first_error or exc
            continue
        true_val, relaxed = _values(alloc, prob)
        holds = all(v <= t for v, t in verify(prob, alloc.spend.to_numpy()).values())
        if holds and true_val > best_val:
            best, best_val = alloc, true_val
        if relaxed <= best_val + 1e-9 * max(abs(best_val), 1.0):
            continue  # nothing in this branch beats the best found
        rep = alloc.response
        if rep is None or "below_payback" not in rep:
            continue
        below = rep[rep["below_payback"].astype(bool)]
        below = below[[a not in decisions for a in below.index]]
        if below.empty:
            continue
        a = below["gap"].idxmax()  # the asset the envelope overstates most
        if not hasattr(curves.get(a), "inflection"):
            continue
        # depth first; try "on" first when the asset got more than half its payback spend
        x, t = float(rep.loc[a, "spend"]), float(rep.loc[a, "pays_from"])
        order = ["off", "on"] if x >= 0.5 * t else ["on", "off"]
        for d in order:
            stack.append({**decisions, a: d})
    if best is None:
        if first_error is not None:
            raise first_error
        raise InfeasibleError(
            f"no allocation of plan '{problem.name}' meets every constraint on the true curves "
            f"within {max_solves} solves of the S-curve branches; raise max_solves or relax the "
            "outcome targets."
        )
    if exact:
        tol = solve_kwargs.get("tolerance", DEFAULT_TOLERANCE)
        best = polish_curves(best.problem, best, tolerance=tol)
    return best
