"""The result of a solve: :class:`Allocation`, pandas out, and an explanation in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..problem import Problem

__all__ = ["Allocation", "EXPLAINED"]

#: The fields of an :class:`Allocation` that explain the plan (marginal values, the constraint
#: table, per-asset duals, the change and the curve report): built on first read.
EXPLAINED = ("marginal_return", "marginal_utility", "marginal_risk", "constraints",
             "asset_duals", "change", "response")


class _Lazy:
    """Marks an explained field not given to the constructor (built on first read)."""

    def __repr__(self) -> str:
        return "<built on first read>"


_LAZY: Any = _Lazy()


def _money(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:,.1f}K"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


@dataclass
class Allocation:
    """A recommended allocation and everything needed to explain and check it.

    Attributes
    ----------
    problem : Problem
        The problem solved.
    spend : Series
        Recommended spend per asset (money).
    shares : Series
        Spend as a share of the budget.
    expected_outcome : float
        Expected outcome at ``spend``, evaluated on the true response (outcome units).
    risk : float
        Standard deviation of the outcome, ``sqrt(x' Sigma x)`` (outcome units).
    utility : float
        ``expected_outcome - risk_aversion / (2 * budget) * risk**2`` (outcome units).
    status : str
        Solver status (``"optimal"``).
    solver : str
        The solver that produced the answer.
    solve_time : float
        Seconds spent in solver calls (all attempts).
    marginal_return : Series
        d expected outcome / d spend per asset (marginal ROI).
    marginal_utility : Series
        ``marginal_return - risk_aversion * (Sigma w)_i``: risk-adjusted marginal value.
    marginal_risk : Series
        d risk / d spend per asset (NaN without a covariance).
    constraints : DataFrame
        One row per named constraint: kind, description, dual (d objective / d amount, outcome
        units per unit of money for the utility objective: negative for a binding floor or
        lock, positive for a binding cap; for a shift limit the amount is the band's width, so
        its dual is the gain of widening it by one unit of money on the tightest asset),
        active, binding, violation, tolerance.
    asset_duals : DataFrame
        Per-asset duals of per-asset constraints (locks, bounds, shift limits, long-only).
    change : Series or None
        ``spend - current`` when the problem has a current allocation.
    response : DataFrame or None
        Per-asset response report (true vs model value, gap, method) when curves are used.
    attempts : list of dict
        Every solver attempt: solver, status, time, message.
    notes : list of str
        Plain-language lines the layers above attach (data caveats, approval flags, views,
        validation; see :func:`portfolio_mkt.with_caveats`); :meth:`summary` ends with them.
    optimality_gap : float or None
        Proven relative gap to the exact optimum when curves without a conic form were solved
        (piecewise linear, then polished on the true curves); ``None`` when the program is
        exact.

    Notes
    -----
    The explaining fields (:data:`EXPLAINED`: marginal values, ``constraints``,
    ``asset_duals``, ``change``, ``response``) are built together the first time one of them
    is read, so loops of solves that read only the plan do not pay for the explanation. A
    pickled or copied allocation carries them built.
    """

    problem: Problem
    spend: pd.Series
    shares: pd.Series
    expected_outcome: float
    risk: float
    utility: float
    status: str
    solver: str
    solve_time: float
    marginal_return: pd.Series = field(default=_LAZY, repr=False, compare=False)
    marginal_utility: pd.Series = field(default=_LAZY, repr=False, compare=False)
    marginal_risk: pd.Series = field(default=_LAZY, repr=False, compare=False)
    constraints: pd.DataFrame = field(default=_LAZY, repr=False, compare=False)
    asset_duals: pd.DataFrame = field(default=_LAZY, repr=False, compare=False)
    change: pd.Series | None = field(default=_LAZY, repr=False, compare=False)
    response: pd.DataFrame | None = field(default=_LAZY, repr=False, compare=False)
    model_outcome: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    optimality_gap: float | None = None
    _explain: Callable[[], dict[str, Any]] | None = field(default=None, repr=False,
                                                          compare=False)

    def __post_init__(self) -> None:
        # the explained fields not given are built together on first read (__getattr__)
        for name in EXPLAINED:
            if self.__dict__.get(name) is _LAZY:
                if self._explain is None:
                    raise TypeError(f"Allocation needs {name}= (or an explanation builder)")
                del self.__dict__[name]

    def __getattr__(self, name: str) -> Any:
        # called only for attributes not set: the explained fields before their first read
        if name in EXPLAINED:
            explain = self.__dict__.get("_explain")
            if explain is not None:
                built = explain()
                for key, value in built.items():
                    self.__dict__.setdefault(key, value)
                return self.__dict__[name]
        raise AttributeError(f"'Allocation' object has no attribute '{name}'")

    def __getstate__(self) -> dict[str, Any]:
        # pickled whole: the explanation is built first and the builder (a closure) left out
        for name in EXPLAINED:
            getattr(self, name)
        state = dict(self.__dict__)
        state["_explain"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def binding(self) -> list[str]:
        """Names of the constraints that bind (active with a non-zero dual)."""
        return list(self.constraints.index[self.constraints["binding"]])

    @property
    def budget(self) -> float:
        """The problem's budget."""
        return self.problem.budget

    @property
    def gap(self) -> float:
        """True expected outcome minus the program's model value (0 for exact models)."""
        if self.model_outcome is None:
            return 0.0
        return self.expected_outcome - self.model_outcome

    def to_frame(self) -> pd.DataFrame:
        """One row per asset: attributes, current, spend, share, change, marginal values.

        Returns
        -------
        DataFrame
        """
        df = self.problem.assets.copy()
        if "tags" in df.columns:
            df["tags"] = [";".join(sorted(t)) for t in df["tags"]]
        if self.problem.current is not None:
            df["current"] = self.problem.current
        df["spend"] = self.spend
        df["share"] = self.shares
        if self.change is not None:
            df["change"] = self.change
            cur = self.problem.current
            with np.errstate(divide="ignore", invalid="ignore"):
                df["change_pct"] = np.where(cur > 0, self.change / cur, np.nan)
        df["expected_outcome"] = self.problem.return_term.outcome(self.spend.to_numpy())
        df["marginal_return"] = self.marginal_return
        df["marginal_utility"] = self.marginal_utility
        df.index.name = "asset"
        return df

    def summary(self, top: int = 8) -> str:
        """A plain-language explanation of the recommendation.

        Lists the largest allocations with their change and marginal ROI, the binding strategy
        constraints with what each costs, then the :attr:`notes` attached by the layers above
        (data caveats of the bias audit and what needs a human's approval:
        :func:`portfolio_mkt.with_caveats`).

        Parameters
        ----------
        top : int, default 8
            How many assets to list.

        Returns
        -------
        str
        """
        p = self.problem
        lines = [
            f"Plan '{p.name}': {_money(self.spend.sum())} of a {_money(p.budget)} budget "
            f"across {int((self.spend > 1e-6 * p.budget).sum())} of {p.n_assets} assets.",
            f"Expected outcome {self.expected_outcome:,.1f} (risk: standard deviation "
            f"{self.risk:,.1f}); solved by {self.solver} ({self.status}) in "
            f"{self.solve_time * 1e3:.0f} ms; every constraint was checked at the answer.",
        ]
        if self.response is not None and abs(self.gap) > 0:
            lines.append(f"The program's curve model differs from the true curves by "
                         f"{self.gap:,.2f} in expected outcome at this allocation.")
        if self.response is not None and "below_payback" in self.response.columns:
            below = self.response[self.response["below_payback"].astype(bool)]
            for a, row in below.iterrows():
                lines.append(
                    f"{a} has an S-shaped curve and is funded at {_money(self.spend[a])}, below "
                    f"the {_money(float(row.get('pays_from', np.nan)))} where it starts to pay; "
                    "fund it past that or not at all (portfolio_mkt.solve_s_curves)."
                )
        order = self.spend.sort_values(ascending=False).index[:top]
        lines.append("Largest allocations:")
        for a in order:
            s = f"  - {a}: {_money(self.spend[a])} ({self.shares[a]:.1%})"
            if self.change is not None:
                cur = p.current[a]
                ch = self.change[a]
                if cur > 0:
                    s += f", {'+' if ch >= 0 else ''}{ch / cur:.0%} vs current {_money(cur)}"
                elif ch > 0:
                    s += ", new"
            s += f"; marginal ROI {self.marginal_return[a]:.3g}"
            lines.append(s)
        funded = self.spend > 1e-6 * p.budget
        if funded.sum() > 1:
            mr = self.marginal_utility[funded]
            lines.append(
                f"Risk-adjusted marginal value of the funded assets ranges {mr.min():.3g} to "
                f"{mr.max():.3g} per unit of money (equal at an unconstrained optimum; the "
                "spread is what the constraints hold in place)."
            )
        cons = self.constraints
        strategic = cons[cons["binding"] & cons["strategic"]]
        if len(strategic):
            lines.append("Binding strategy constraints:")
            step = p.budget / 100
            what = "risk-adjusted outcome" if p.objective == "utility" else "objective"
            for _, row in strategic.iterrows():
                dual = float(row["dual"])
                value = abs(dual) * step
                if dual < 0:
                    effect = (f"each extra {_money(step)} (1% of budget) it forces costs about "
                              f"{_money(value)} of {what}")
                else:
                    effect = (f"loosening it by {_money(step)} (1% of budget) would add about "
                              f"{_money(value)} of {what}")
                lines.append(f"  - {row['description']} binds: {effect} "
                             f"(shadow price {dual:.4g} per unit of money).")
        else:
            lines.append("No strategy constraint binds: the recommendation is what the returns "
                         "and risk alone favour.")
        if "budget" in cons.index and self.problem.objective == "utility":
            lines.append(f"One more unit of budget is worth {float(cons.loc['budget', 'dual']):.4g}"
                         " in risk-adjusted outcome.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Allocation(problem={self.problem.name!r}, status={self.status!r}, "
                f"expected_outcome={self.expected_outcome:.6g}, risk={self.risk:.6g}, "
                f"solver={self.solver!r})")


# the explained fields' defaults must not sit on the class, or an instance without them would
# read the marker instead of reaching __getattr__ (the constructor keeps its defaults)
for _name in EXPLAINED:
    delattr(Allocation, _name)
del _name
