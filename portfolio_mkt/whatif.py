"""What-if scenarios and the exact price of each strategy constraint.

:func:`scenarios` re-solves a problem under changed assumptions -- budget up or down, cost
shocks on assets or groups, assets or channels removed, another risk tolerance -- and tabulates
expected outcome, risk and spend change per asset against the base plan. A scenario that cannot
be solved (for example removing a channel that holds a committed creator) keeps its status and
message; it does not sink the table.

:func:`constraint_prices` re-solves the problem without each named strategy constraint and
reports what the constraint costs in expected outcome and in risk, next to its dual value
(the marginal price for a small change of its amount).

Scenarios that only change numbers the compiled program holds as cvxpy Parameters (budget, risk
aversion, a risk or outcome target already present, expected returns when there is no risk
term and no response curve) re-use one compiled program with warm starts; others are rebuilt
with :meth:`Problem.replace`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .constraints import Bounds, select_assets
from .exceptions import (
    AlignmentError,
    ConstraintViolationError,
    InfeasibleError,
    InputError,
    PortfolioMktError,
    format_labels,
)
from .optimization import compile_problem, solve
from .parallel import _effective_jobs, map_chunks, resolve_backend
from .risk import scale_covariance
from .status import FAILED, INFEASIBLE, normalize_status

__all__ = ["Scenario", "ScenarioResults", "scenarios", "constraint_prices", "cost_factors"]

#: Column order of :attr:`ScenarioResults.summary`.
SUMMARY_COLUMNS = [
    "status",
    "budget",
    "expected_outcome",
    "risk",
    "utility",
    "outcome_change",
    "outcome_change_pct",
    "risk_change",
    "spend_moved",
    "solve_time",
    "method",
    "message",
]

_REMOVE_NAME = "scenario_removed"


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
            name = _REMOVE_NAME
            while name in used:
                name += "_"
            base.append(Bounds(upper={a: 0.0 for a in removed}, name=name))
            args["constraints"] = base
        return args

    def apply(self, problem: Any) -> Any:
        """The scenario's problem: ``problem.replace(**self.replace_args(problem))``."""
        return problem.replace(**self.replace_args(problem))


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


# --------------------------------------------------------------------------------------------
# results


@dataclass
class ScenarioResults:
    """Scenario table: one summary row per scenario, spend per asset and scenario.

    Attributes
    ----------
    summary : DataFrame
        Index: scenario name (``"base"`` first). Columns: ``status``, ``budget``,
        ``expected_outcome``, ``risk``, ``utility``, ``outcome_change`` (vs base),
        ``outcome_change_pct``, ``risk_change``, ``spend_moved`` (money reallocated between
        assets beyond the net budget change, ``(sum|change| - |sum change|) / 2``: 0 when the
        plan only scales), ``solve_time``, ``method`` (``"parameter"`` when
        the compiled program was re-used, ``"rebuild"`` otherwise), ``message``.
    spend : DataFrame
        Assets (rows) x scenarios (columns): recommended spend; NaN for failed scenarios.
    change : DataFrame
        ``spend`` minus the base column.
    allocations : dict
        Scenario name -> :class:`~portfolio_mkt.Allocation` (``None`` when it failed).
    scenarios : list of Scenario
        The scenarios, in order.
    """

    summary: pd.DataFrame
    spend: pd.DataFrame
    change: pd.DataFrame
    allocations: dict[str, Any]
    scenarios: list[Scenario]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per scenario and asset (spend, base spend, change, change %).

        Returns
        -------
        DataFrame
        """
        long = self.spend.stack(future_stack=True).rename("spend").to_frame()
        long.index.names = ["asset", "scenario"]
        long = long.swaplevel().sort_index(level=0, sort_remaining=False)
        base = self.spend["base"]
        long["base_spend"] = base.reindex(long.index.get_level_values("asset")).to_numpy()
        long["change"] = long["spend"] - long["base_spend"]
        with np.errstate(divide="ignore", invalid="ignore"):
            long["change_pct"] = np.where(
                long["base_spend"] > 0, long["change"] / long["base_spend"], np.nan
            )
        order = list(self.summary.index)
        return long.reindex(order, level="scenario")

    def table(self) -> pd.DataFrame:
        """Wide table: the summary plus one ``change: <asset>`` column per asset."""
        changes = self.change.T.add_prefix("change: ")
        return pd.concat([self.summary, changes], axis=1)

    def explain(self) -> str:
        """Each scenario against the base plan, in plain language.

        Returns
        -------
        str
            One line per scenario: outcome and risk change, the money reallocated and where
            it goes most, or why the scenario could not be solved.
        """
        lines = []
        base = self.summary.loc["base"]
        lines.append(
            f"Base plan: expected outcome {base['expected_outcome']:,.0f}, risk "
            f"{base['risk']:,.0f}, budget {base['budget']:,.0f}."
        )
        for name, row in self.summary.iloc[1:].iterrows():
            if self.allocations.get(name) is None:
                lines.append(f"{name}: not solved ({row['status']}) - {row['message']}")
                continue
            text = (
                f"{name}: expected outcome {row['expected_outcome']:,.0f} "
                f"({row['outcome_change']:+,.0f}, {row['outcome_change_pct']:+.1%}), risk "
                f"{row['risk']:,.0f} ({row['risk_change']:+,.0f})"
            )
            ch = self.change[name].dropna()
            tol = 1e-6 * max(abs(row["budget"]), 1.0)
            if len(ch) and ch.abs().max() > tol:
                net = float(ch.sum())
                up, down = ch.idxmax(), ch.idxmin()
                parts = []
                if ch[up] > 0:
                    parts.append(f"largest increase {up} ({ch[up]:+,.0f})")
                if ch[down] < 0:
                    parts.append(f"largest decrease {down} ({ch[down]:+,.0f})")
                # the change of each asset = its share of the net (budget) change + what moves
                # between assets; spend_moved counts only the second part
                if abs(net) > tol:
                    text += (f"; total spend {net:+,.0f}, and besides that "
                             f"{row['spend_moved']:,.0f} moved between assets")
                else:
                    text += f"; {row['spend_moved']:,.0f} reallocated between assets"
                if parts:
                    text += " (" + ", ".join(parts) + ")"
            lines.append(text + ".")
        return "\n".join(lines)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Each scenario as a point of expected outcome against risk, with the base marked.

        Failed scenarios are left out (their status is in :attr:`summary`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when omitted.
        **kwargs
            Passed to ``ax.scatter`` for the scenarios.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        s = self.summary
        ok = s["expected_outcome"].notna() & (s.index != "base")
        kwargs.setdefault("color", "C0")
        ax.scatter(s.loc[ok, "risk"], s.loc[ok, "expected_outcome"], label="scenarios", **kwargs)
        for name, row in s[ok].iterrows():
            ax.annotate(str(name), (row["risk"], row["expected_outcome"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        base = s.loc["base"]
        ax.plot(base["risk"], base["expected_outcome"], "*", markersize=14, color="C3",
                label="base plan")
        ax.set_xlabel("risk (std of outcome)")
        ax.set_ylabel("expected outcome")
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())
        ax.yaxis.set_major_formatter(EngFormatter())
        ax.legend(loc="best")
        return ax

    def __repr__(self) -> str:
        cols = ["status", "expected_outcome", "risk", "outcome_change", "risk_change"]
        return "ScenarioResults\n" + self.summary[cols].to_string()


# --------------------------------------------------------------------------------------------
# solving


def _solve_fn() -> Any:
    return solve


def _record(name: str, alloc: Any, method: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": normalize_status(alloc.status),
        "budget": float(alloc.problem.budget),
        "expected_outcome": float(alloc.expected_outcome),
        "risk": float(alloc.risk),
        "utility": float(alloc.utility),
        "solve_time": float(alloc.solve_time),
        "method": method,
        "message": "",
        "spend": alloc.spend.astype(float),
        "allocation": alloc,
    }


def _failure(name: str, exc: Exception, budget: float = np.nan) -> dict[str, Any]:
    status = INFEASIBLE if isinstance(exc, InfeasibleError) else FAILED
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {
        "name": name,
        "status": status,
        "budget": budget,
        "expected_outcome": np.nan,
        "risk": np.nan,
        "utility": np.nan,
        "solve_time": np.nan,
        "method": "",
        "message": f"{type(exc).__name__}: {msg}",
        "spend": None,
        "allocation": None,
    }


class _ScenarioTask:
    """Picklable worker: solve a chunk of scenarios against one base problem."""

    def __init__(self, base: Any, solver: str | None) -> None:
        self.base = base
        self.solver = solver

    def __call__(self, chunk: list[Scenario]) -> list[dict[str, Any]]:
        solve = _solve_fn()
        kwargs = {} if self.solver is None else {"solver": self.solver}
        reuse = _ProgramReuse(self.base, self.solver)
        out = []
        for sc in chunk:
            budget = np.nan
            try:
                args = sc.replace_args(self.base)
                budget = float(args.get("budget", self.base.budget))
                problem = self.base.replace(**args)
                alloc = reuse.solve(problem, args)
                method = "parameter"
                if alloc is None:
                    alloc = solve(problem, **kwargs)
                    method = "rebuild"
                out.append(_record(sc.name, alloc, method))
            except PortfolioMktError as exc:
                out.append(_failure(sc.name, exc, budget))
        return out


class _ProgramReuse:
    """Re-solve one compiled program for scenarios that only change Parameter values.

    Uses ``solve(problem, program=...)`` with the base program's Parameters re-set; a scenario
    the compiled program cannot represent is rebuilt.
    """

    PARAMETRIC = {"budget", "risk_aversion", "max_risk", "min_outcome", "expected_return"}

    def __init__(self, base: Any, solver: str | None) -> None:
        self.base = base
        self.solver = solver
        self.program: Any = None
        self.enabled = True

    def solve(self, problem: Any, args: Mapping[str, Any]) -> Any | None:
        if not self.enabled or not set(args) <= self.PARAMETRIC:
            return None
        base = self.base
        if not base.return_term.linear or any(c.kind == "custom" for c in base.constraints):
            return None
        if "max_risk" in args and base.max_risk is None:
            return None
        if "min_outcome" in args and base.min_outcome is None:
            return None
        if "expected_return" in args and (base.covariance is not None or base.halo is not None):
            return None
        if self.program is None:
            self.program = compile_problem(base)
        prog = self.program
        prog.set_budget(problem.budget)
        prog.risk_aversion.value = problem.risk_aversion
        if prog.target_variance is not None:
            prog.target_variance.value = (problem.max_risk / problem.budget) ** 2
        if prog.target_outcome is not None:
            prog.target_outcome.value = problem.min_outcome / problem.budget
        prog.term.parameter.value = problem.expected_return.to_numpy(float)
        kwargs = {} if self.solver is None else {"solver": self.solver}
        try:
            return solve(problem, program=prog, **kwargs)
        except ConstraintViolationError:
            # the compiled program does not represent this scenario after all: rebuild
            self.enabled = False
            return None


def _as_scenarios(items: Sequence[Scenario | Mapping[str, Any]]) -> list[Scenario]:
    out = []
    for i, s in enumerate(items):
        if isinstance(s, Scenario):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(Scenario(**dict(s)))
        else:
            raise InputError(
                f"scenario #{i} must be a Scenario (or a dict of its arguments); got "
                f"{type(s).__name__}."
            )
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(
            f"scenario names must be unique; repeated: {format_labels(dup)}. Give each a name."
        )
    if "base" in names:
        raise InputError("'base' is the name of the base plan; name the scenario differently.")
    return out


def scenarios(
    problem: Any,
    scenario_list: Sequence[Scenario | Mapping[str, Any]],
    *,
    solver: str | None = None,
    backend: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> ScenarioResults:
    """Solve the base problem and each scenario; tabulate the differences.

    Parameters
    ----------
    problem : Problem
        The base plan.
    scenario_list : sequence of Scenario (or dicts of Scenario arguments)
        The what-ifs, each applied to the base independently.
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    backend, n_jobs, progress
        Parallel execution (see :func:`portfolio_mkt.parallel.map_solves`); each worker gets one
        contiguous chunk of scenarios and compiles the base program once. Default: the backend
        set with :func:`portfolio_mkt.parallel.use_backend`, else local processes for 16
        scenarios or more and this process for fewer (see
        :func:`portfolio_mkt.parallel.resolve_backend`).

    Returns
    -------
    ScenarioResults

    Raises
    ------
    InputError
        Bad scenario definitions (unknown assets or attributes are reported as the scenario's
        status, not raised, so that one bad scenario does not sink the table).
    PortfolioMktError
        When the *base* problem cannot be solved.

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> mu = pd.Series({"search": 0.03, "social": 0.025})
    >>> cov = pd.DataFrame([[0.04, 0.01], [0.01, 0.09]], index=mu.index, columns=mu.index)
    >>> p = pm.Problem(mu, cov, budget=1_000.0, risk_aversion=0.5)
    >>> res = scenarios(p, [Scenario(budget_change=0.1)], backend="sequential")
    >>> ratio = res.spend["budget +10%"] / res.spend["base"]
    >>> bool(np.allclose(ratio, 1.1))
    True
    """
    items = _as_scenarios(scenario_list)
    solve = _solve_fn()
    base_alloc = solve(problem) if solver is None else solve(problem, solver=solver)
    base_rec = _record("base", base_alloc, "rebuild")

    records: list[dict[str, Any]] = []
    if items:
        backend_, jobs = resolve_backend(backend, n_jobs, len(items))
        # one chunk per worker, each compiling the base program once; the chunking depends on
        # n_jobs only (not on the backend), so every backend returns the same numbers
        chunk = max(1, math.ceil(len(items) / _effective_jobs(jobs)))
        records = map_chunks(
            _ScenarioTask(problem, solver),
            items,
            backend=backend_,
            n_jobs=jobs,
            chunk_size=chunk,
            progress=progress,
            desc="scenarios",
        )
    return _tabulate(base_rec, records, items, problem.index)


def _reallocated(change: pd.DataFrame) -> pd.Series:
    """Money moved between assets beyond the net change, per column (NaN if all NaN)."""
    gross = change.abs().sum(axis=0, min_count=1)
    net = change.sum(axis=0, min_count=1).abs()
    return (gross - net) / 2.0


def _tabulate(
    base: dict[str, Any], records: list[dict[str, Any]], items: list[Scenario], index: pd.Index
) -> ScenarioResults:
    rows = [base, *records]
    names = [r["name"] for r in rows]
    summary = pd.DataFrame(
        {k: [r[k] for r in rows] for k in SUMMARY_COLUMNS if k in base}, index=names
    )
    summary.index.name = "scenario"
    spend = pd.DataFrame(
        {
            r["name"]: (r["spend"].reindex(index) if r["spend"] is not None
                        else pd.Series(np.nan, index=index))
            for r in rows
        },
        index=index,
    )
    spend.columns = pd.Index(names, name="scenario")
    change = spend.sub(spend["base"], axis=0)
    summary["outcome_change"] = summary["expected_outcome"] - base["expected_outcome"]
    summary["outcome_change_pct"] = (
        summary["outcome_change"] / abs(base["expected_outcome"])
        if base["expected_outcome"] != 0 else np.nan
    )
    summary["risk_change"] = summary["risk"] - base["risk"]
    summary["spend_moved"] = _reallocated(change)
    summary = summary[SUMMARY_COLUMNS]
    summary["status"] = summary["status"].astype(object)
    summary["message"] = summary["message"].astype(object)
    summary["method"] = summary["method"].astype(object)
    allocations = {r["name"]: r["allocation"] for r in rows}
    return ScenarioResults(summary, spend, change, allocations, items)


# --------------------------------------------------------------------------------------------
# constraint prices

PRICE_COLUMNS = [
    "kind",
    "binding",
    "dual",
    "unit_amount",
    "outcome_with",
    "outcome_without",
    "outcome_price",
    "outcome_price_pct",
    "risk_with",
    "risk_without",
    "risk_change",
    "objective_gain",
    "spend_moved",
    "status_without",
    "message",
]


def _objective_value(alloc: Any) -> float:
    """The problem's objective at the allocation, in outcome units (larger is better)."""
    obj = alloc.problem.objective
    if obj == "min_risk":
        return -float(alloc.risk)
    if obj == "max_return" or alloc.problem.covariance is None:
        return float(alloc.expected_outcome)
    return float(alloc.utility)


class _PriceTask:
    def __init__(self, problem: Any, solver: str | None) -> None:
        self.problem = problem
        self.solver = solver

    def __call__(self, name: str) -> dict[str, Any]:
        solve = _solve_fn()
        kwargs = {} if self.solver is None else {"solver": self.solver}
        try:
            if name == "max_risk":
                relaxed = self.problem.replace(max_risk=None)
            elif name == "min_outcome":
                relaxed = self.problem.replace(min_outcome=None)
            else:
                relaxed = self.problem.without(name)
            alloc = solve(relaxed, **kwargs)
        except PortfolioMktError as exc:
            return _failure(name, exc)
        return _record(name, alloc, "rebuild")


def constraint_prices(
    problem: Any,
    names: Sequence[str] | None = None,
    *,
    allocation: Any = None,
    solver: str | None = None,
    backend: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Exact price of each named strategy constraint: re-solve without it and compare.

    Parameters
    ----------
    problem : Problem
        The plan.
    names : sequence of str, optional
        Constraints to price. Default: every strategy constraint of the problem, plus the
        ``max_risk`` / ``min_outcome`` targets when set.
    allocation : Allocation, optional
        The solved plan (solved here when not given).
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    backend, n_jobs, progress
        Parallel execution of the re-solves (see :func:`portfolio_mkt.parallel.map_solves`).
        Default as in :func:`scenarios`: processes for 16 constraints or more, else this
        process.

    Returns
    -------
    DataFrame
        Index: constraint name. Columns: ``kind``, ``binding``, ``dual`` and ``unit_amount``
        (from the allocation's constraints table: the marginal price per unit of money and
        the money of one unit of the constraint's amount), ``outcome_with``/``outcome_without``
        and ``outcome_price`` = without - with (expected outcome the constraint costs),
        ``outcome_price_pct`` (of the outcome without it), ``risk_with``/``risk_without`` and
        ``risk_change`` = without - with, ``objective_gain`` (how much the objective -- utility,
        outcome, or minus the risk -- improves without the constraint; >= 0 up to solver
        tolerance), ``spend_moved`` (money reallocated between assets when it is dropped),
        ``status_without`` and ``message`` (a failed re-solve keeps its status).

    Raises
    ------
    ConstraintError
        A name that is not a constraint of the problem.

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> mu = pd.Series({"search": 0.03, "social": 0.02})
    >>> p = pm.Problem(mu, budget=100.0, constraints=[
    ...     pm.Bounds(lower={"social": 40.0}, name="social_min")])
    >>> prices = constraint_prices(p)
    >>> round(float(prices.loc["social_min", "outcome_price"]), 6)
    0.4
    """
    solve = _solve_fn()
    kwargs = {} if solver is None else {"solver": solver}
    if allocation is None:
        allocation = solve(problem, **kwargs)
    if names is None:
        names = [c.name for c in problem.constraints if getattr(c, "strategic", True)]
        if problem.max_risk is not None:
            names.append("max_risk")
        if problem.min_outcome is not None:
            names.append("min_outcome")
    else:
        names = list(names)
        for n in names:
            if n == "max_risk" and problem.max_risk is not None:
                continue
            if n == "min_outcome" and problem.min_outcome is not None:
                continue
            problem.constraint(n)  # raises ConstraintError naming the known constraints
    backend, n_jobs = resolve_backend(backend, n_jobs, len(names))
    records = map_chunks(
        _Each(_PriceTask(problem, solver)),
        names,
        backend=backend,
        n_jobs=n_jobs,
        progress=progress,
        desc="constraint prices",
    ) if names else []
    table = allocation.constraints
    with_obj = _objective_value(allocation)
    rows = {}
    for n, rec in zip(names, records, strict=True):
        row: dict[str, Any] = {}
        if n in table.index:
            for col in ("kind", "binding", "dual", "unit_amount"):
                row[col] = table.loc[n, col] if col in table.columns else np.nan
        else:
            row.update(kind=np.nan, binding=np.nan, dual=np.nan, unit_amount=np.nan)
        row["outcome_with"] = float(allocation.expected_outcome)
        row["risk_with"] = float(allocation.risk)
        row["outcome_without"] = rec["expected_outcome"]
        row["risk_without"] = rec["risk"]
        row["outcome_price"] = rec["expected_outcome"] - row["outcome_with"]
        denom = abs(rec["expected_outcome"])
        row["outcome_price_pct"] = row["outcome_price"] / denom if denom > 0 else np.nan
        row["risk_change"] = rec["risk"] - row["risk_with"]
        if rec["allocation"] is not None:
            row["objective_gain"] = _objective_value(rec["allocation"]) - with_obj
            moved = rec["spend"].reindex(allocation.spend.index) - allocation.spend
            row["spend_moved"] = float(_reallocated(moved.to_frame()).iloc[0])
        else:
            row["objective_gain"] = np.nan
            row["spend_moved"] = np.nan
        row["status_without"] = rec["status"]
        row["message"] = rec["message"]
        rows[n] = row
    out = pd.DataFrame.from_dict(rows, orient="index", columns=PRICE_COLUMNS)
    out.index.name = "constraint"
    for col in ("kind", "status_without", "message"):
        out[col] = out[col].astype(object)
    return out


class _Each:
    """Picklable adapter: apply a per-item function to a chunk."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, chunk: list[Any]) -> list[Any]:
        return [self.fn(item) for item in chunk]


# Backwards-compatible module path "portfolio_mkt.scenarios" for callers that still import it
# (report/_analysis.py): an alias registered once this module is loaded, never a module of its
# own (which would rebind pm.scenarios). To be removed when they import portfolio_mkt.whatif.
sys.modules.setdefault("portfolio_mkt.scenarios", sys.modules[__name__])
