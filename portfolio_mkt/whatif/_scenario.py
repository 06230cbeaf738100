"""A what-if as a value object, and the one way a scenario applies to a Problem.

:class:`Scenario` states the changes (budget, cost shocks, removed assets, risk tolerance ...);
:func:`apply_scenario` turns it into the scenario's :class:`~portfolio_mkt.Problem`. Every
caller (the scenario table, the plan files, the report) applies scenarios through it, so a
removed asset is always *held at 0* by a bound named ``scenario_removed`` -- never dropped from
the problem -- and tables of scenarios keep one row per asset of the base plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..constraints import Bounds, select_assets
from ..exceptions import AlignmentError, InputError, PortfolioMktError, format_labels
from ..risk import scale_covariance

__all__ = ["Scenario", "apply_scenario", "cost_factors", "REMOVE_NAME"]

REMOVE_NAME = "scenario_removed"


def _pct(x: float) -> str:
    return f"{x:+.0%}" if abs(x * 100 - round(x * 100)) < 1e-9 else f"{x:+.1%}"


@dataclass(frozen=True)
class Scenario:
    """One what-if: changes applied to the base problem before re-solving.

    Parameters
    ----------
    name : str, optional
        Label in the results; by default a description of the changes ("budget +10%").
    budget_change : float, optional
        Relative change of the budget: ``0.1`` is +10%, ``-0.15`` is -15%.
    budget : float, optional
        New budget in money (instead of ``budget_change``).
    cost_shock : float, Mapping or sequence of (selector, float), optional
        The same outcome now costs ``y`` more (``0.2`` = 20% dearer): the expected return per
        unit of money of the affected assets is divided by ``1 + y``, their per-unit-money
        covariance by ``(1 + y_i)(1 + y_j)``, their response curves are read at
        ``x / (1 + y)`` and their halo lifts are divided by ``1 + y``. Give one number for all
        assets, ``{asset_id: y}``, or a list of ``(selector, y)`` pairs where a selector is a
        where-filter such as ``{"channel": "social"}`` or a list of asset ids. Shocks on the same
        asset compound.
    remove : str, sequence of asset ids, or Mapping, optional
        Assets that may no longer receive spend: ids, or a where-filter such as
        ``{"channel": "video"}`` to remove a channel.
    risk_aversion : float, optional
        Another risk tolerance (``delta`` of the utility objective; a base plan with another
        objective is switched to ``"utility"`` unless ``changes`` says otherwise).
    max_risk, min_outcome : float, optional
        Another risk cap or outcome target.
    changes : Mapping, optional
        Any other :class:`~portfolio_mkt.Problem` argument to override (``objective``,
        ``current``, ``constraints`` ...).

    Examples
    --------
    >>> Scenario(budget_change=0.1).name
    'budget +10%'
    >>> Scenario(cost_shock=[({"channel": "social"}, 0.15)]).name
    'cost channel=social +15%'
    >>> Scenario("no video", remove={"channel": "video"}).name
    'no video'
    """

    name: str | None = None
    budget_change: float | None = None
    budget: float | None = None
    cost_shock: Any = None
    remove: Any = None
    risk_aversion: float | None = None
    max_risk: float | None = None
    min_outcome: float | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.budget_change is not None and self.budget is not None:
            raise InputError(
                f"scenario {self.name or ''!s}: give budget_change (relative) or budget "
                "(money), not both."
            )
        if self.budget_change is not None and not self.budget_change > -1:
            raise InputError(
                f"scenario {self.name or ''!s}: budget_change must be above -1 (-100%); got "
                f"{self.budget_change}."
            )
        clash = {"budget", "risk_aversion", "max_risk", "min_outcome"} & set(self.changes)
        if clash:
            raise InputError(
                f"scenario {self.name or ''!s}: pass {sorted(clash)} as Scenario arguments, "
                "not inside changes."
            )
        if self.name is None:
            object.__setattr__(self, "name", self._describe())

    def _describe(self) -> str:
        parts = []
        if self.budget_change is not None:
            parts.append(f"budget {_pct(self.budget_change)}")
        if self.budget is not None:
            parts.append(f"budget {self.budget:,.0f}")
        if self.cost_shock is not None:
            shock = self.cost_shock
            if isinstance(shock, (int, float)):
                parts.append(f"cost {_pct(float(shock))}")
            elif isinstance(shock, Mapping):
                parts.append(
                    "cost " + ", ".join(f"{k} {_pct(float(v))}" for k, v in shock.items())
                )
            else:
                items = []
                for sel, y in shock:
                    if isinstance(sel, Mapping):
                        label = ",".join(f"{k}={v}" for k, v in sel.items())
                    elif isinstance(sel, str):
                        label = sel
                    else:
                        label = "+".join(map(str, sel))
                    items.append(f"{label} {_pct(float(y))}")
                parts.append("cost " + ", ".join(items))
        if self.remove is not None:
            rem = self.remove
            if isinstance(rem, Mapping):
                label = ",".join(f"{k}={v}" for k, v in rem.items())
            elif isinstance(rem, str):
                label = rem
            else:
                label = ", ".join(map(str, rem))
            parts.append(f"without {label}")
        if self.risk_aversion is not None:
            parts.append(f"risk aversion {self.risk_aversion:g}")
        if self.max_risk is not None:
            parts.append(f"max risk {self.max_risk:,.6g}")
        if self.min_outcome is not None:
            parts.append(f"min outcome {self.min_outcome:,.6g}")
        for k, v in self.changes.items():
            parts.append(f"{k}={v!r}" if not hasattr(v, "__len__") or isinstance(v, str)
                         else f"{k} changed")
        return "; ".join(parts) or "unchanged"

    # ------------------------------------------------------------------ applying
    def replace_args(self, problem: Any) -> dict[str, Any]:
        """The :meth:`Problem.replace` arguments that realise this scenario on ``problem``.

        Parameters
        ----------
        problem : Problem
            The base problem.

        Returns
        -------
        dict
        """
        args: dict[str, Any] = dict(self.changes)
        if self.budget_change is not None:
            args["budget"] = problem.budget * (1.0 + float(self.budget_change))
        if self.budget is not None:
            args["budget"] = float(self.budget)
        if self.risk_aversion is not None:
            args["risk_aversion"] = float(self.risk_aversion)
            if problem.objective != "utility" and "objective" not in self.changes:
                # a risk aversion only means something for the utility objective
                args["objective"] = "utility"
        if self.max_risk is not None:
            args["max_risk"] = float(self.max_risk)
        if self.min_outcome is not None:
            args["min_outcome"] = float(self.min_outcome)
        if self.cost_shock is not None:
            factors = cost_factors(problem, self.cost_shock, owner=f"scenario: {self.name}")
            args.update(_shocked_inputs(problem, factors))
        if self.remove is not None:
            removed = _select(problem, self.remove, f"scenario: {self.name}")
            base = list(args.get("constraints", problem.constraints))
            used = {c.name for c in base}
            name = REMOVE_NAME
            while name in used:
                name += "_"
            base.append(Bounds(upper={a: 0.0 for a in removed}, name=name))
            args["constraints"] = base
            current = args.get("current", problem.current)
            if current is not None:
                # a removed asset's spend today counts as 0: shift limits relative to today do
                # not hold it above 0 (its money has to move, which is the scenario's point)
                current = pd.Series(current, dtype=float).copy()
                current.loc[current.index.intersection(removed)] = 0.0
                args["current"] = current
        return args

    def apply(self, problem: Any) -> Any:
        """The scenario's problem (see :func:`apply_scenario`)."""
        return apply_scenario(problem, self)


def apply_scenario(problem: Any, scenario: Scenario | Mapping[str, Any]) -> Any:
    """The problem of a scenario: the one way a scenario applies to a base problem.

    Removed assets stay in the problem, held at 0 by a :class:`~portfolio_mkt.Bounds` named
    :data:`REMOVE_NAME`, so every scenario of a table has the base plan's assets; their current
    spend counts as 0, so shift limits relative to today do not hold them above 0.

    Parameters
    ----------
    problem : Problem
        The base problem.
    scenario : Scenario or Mapping
        The what-if (or a dict of :class:`Scenario` arguments).

    Returns
    -------
    Problem

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> p = pm.Problem(pd.Series({"a": 2.0, "b": 1.0}), budget=10.0)
    >>> q = apply_scenario(p, Scenario(remove=["a"], budget_change=-0.5))
    >>> (q.budget, list(q.index), q.constraints[-1].name)
    (5.0, ['a', 'b'], 'scenario_removed')
    """
    if isinstance(scenario, Mapping):
        scenario = Scenario(**dict(scenario))
    if not isinstance(scenario, Scenario):
        raise InputError(f"a scenario must be a Scenario (or a dict of its arguments); got "
                         f"{type(scenario).__name__}.")
    return problem.replace(**scenario.replace_args(problem))


def _select(problem: Any, selector: Any, owner: str) -> pd.Index:
    """Asset ids chosen by a where-filter (Mapping) or by ids (str or sequence)."""
    if isinstance(selector, Mapping):
        mask = select_assets(problem, selector, owner)
        return problem.index[mask]
    ids = [selector] if isinstance(selector, str) else list(selector)
    if not ids:
        raise InputError(f"{owner}: the asset list is empty.")
    unknown = pd.Index(ids).difference(problem.index)
    if len(unknown):
        raise AlignmentError(
            f"{owner}: unknown asset ids {format_labels(unknown)}; use ids of the problem's "
            "expected_return, or a filter such as {'channel': 'video'}."
        )
    return pd.Index(ids)


def cost_factors(problem: Any, shock: Any, owner: str = "cost_shock") -> pd.Series:
    """Per-asset factor ``1 / (1 + y)`` of a cost shock (1 for unaffected assets).

    Parameters
    ----------
    problem : Problem
        The problem whose assets are shocked.
    shock : float, Mapping or sequence of (selector, float)
        See :class:`Scenario`.
    owner : str
        Name for error messages.

    Returns
    -------
    Series
        Indexed by the problem's assets.

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> p = pm.Problem(pd.Series({"a": 2.0, "b": 1.0}), budget=10.0)
    >>> cost_factors(p, {"a": 0.25}).tolist()
    [0.8, 1.0]
    """
    factors = pd.Series(1.0, index=problem.index)

    def apply(ids: pd.Index, y: Any) -> None:
        try:
            yv = float(y)
        except (TypeError, ValueError):
            raise InputError(f"{owner}: a cost shock must be a number (0.2 = 20%); got {y!r}.")\
                from None
        if not np.isfinite(yv) or yv <= -1:
            raise InputError(
                f"{owner}: a cost shock must be finite and above -1 (-100%); got {yv}."
            )
        factors.loc[ids] = factors.loc[ids] / (1.0 + yv)

    if isinstance(shock, (int, float, np.floating)):
        apply(problem.index, shock)
    elif isinstance(shock, Mapping):
        ser = pd.Series(dict(shock))
        for a, y in ser.items():
            apply(_select(problem, [a], owner), y)
    elif isinstance(shock, pd.Series):
        for a, y in shock.items():
            apply(_select(problem, [a], owner), y)
    else:
        try:
            pairs = list(shock)
            for pair in pairs:
                sel, y = pair
                apply(_select(problem, sel, owner), y)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, PortfolioMktError):
                raise
            raise InputError(
                f"{owner}: cost_shock must be a number, {{asset: y}}, or a list of "
                "(selector, y) pairs such as [({'channel': 'social'}, 0.15)]."
            ) from None
    return factors


def _shocked_inputs(problem: Any, factors: pd.Series) -> dict[str, Any]:
    """Replace arguments with returns, covariance, curves and halo under cost factors."""
    out: dict[str, Any] = {"expected_return": problem.expected_return * factors}
    if problem.covariance is not None:
        out["covariance"] = scale_covariance(problem.covariance, factors)
    if problem.response:
        curves = {}
        for a, curve in problem.response.items():
            k = float(factors[a])
            if curve is None or k == 1.0:
                curves[a] = curve
            elif hasattr(curve, "transform"):
                curves[a] = curve.transform(k, 1.0)
            else:
                raise InputError(
                    f"cost shock on '{a}': its response curve ({type(curve).__name__}) has no "
                    "transform(money_scale, outcome_scale); use a portfolio_mkt.response curve."
                )
        out["response"] = curves
    if problem.halo is not None:
        halo = problem.halo.astype(float)
        row_f = factors.reindex(halo.index).fillna(1.0)
        out["halo"] = halo.mul(row_f, axis=0)
    return out
