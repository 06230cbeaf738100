"""Solve a planning window, re-plan it mid-flight, sweep its frontier: the WeeklyPlan result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import (
    AlignmentError,
    ConstraintViolationError,
    InfeasibleError,
    InputError,
    SolverError,
    format_labels,
)
from ..status import INFEASIBLE, OPTIMAL, SKIPPED, TIME_LIMIT, is_usable
from ._constraints import PeriodMinSpend
from ._onoff import (
    DEFAULT_GAP,
    DEFAULT_NODE_LIMIT,
    DEFAULT_TIME_LIMIT,
    check_forced_spend,
    forced_bounds,
    has_on_off,
    on_off_cells,
    on_off_table,
    on_off_violations,
    search_on_off,
)
from ._periods import resolve_weeks, week_text
from ._problem import WindowProblem
from ._program import WindowProgram

__all__ = ["WeeklyPlan", "plan_window", "replan", "window_frontier", "verify_plan"]

#: Relative tolerance (of the budget) of the verification after each solve.
VERIFY_TOLERANCE = 1e-6


def verify_plan(
    wp: WindowProblem, spend: np.ndarray, start: int = 0, raise_on_violation: bool = True
) -> dict[str, float]:
    """Check every constraint of the window at a plan, independently of the solver.

    Parameters
    ----------
    wp : WindowProblem
    spend : ndarray of shape (assets, weeks)
        The plan in money.
    start : int, default 0
        Weeks before ``start`` are fixed (actuals); rows only about them are not checked.
    raise_on_violation : bool, default True

    Returns
    -------
    dict
        Constraint name -> largest violation in money (0 when it holds); ``"budget"`` and
        ``"nonnegative"`` included.

    Raises
    ------
    ConstraintViolationError
        Naming the constraint, the week and the asset of the largest violation.
    """
    x = np.asarray(spend, dtype=float)
    flat = x.reshape(-1)
    tol = VERIFY_TOLERANCE * wp.budget
    out: dict[str, float] = {}
    worst: dict[str, str] = {}
    neg = float(max(-flat.min(initial=0.0), 0.0))
    out["nonnegative"] = neg
    if neg > tol:
        a, t = np.unravel_index(int(np.argmin(x)), x.shape)
        worst["nonnegative"] = f"{week_text(wp.periods[t])}, asset {wp.index[a]!r}"
    total = float(flat.sum())
    over = total - wp.budget
    out["budget"] = float(max(over, 0.0) if wp.budget_mode == "cap" else abs(over))
    worst["budget"] = f"total spend {total:,.2f} vs budget {wp.budget:,.2f}"
    bad: dict[str, float] = {}
    if out["nonnegative"] > tol:
        bad["nonnegative"] = out["nonnegative"]
    if out["budget"] > tol:
        bad["budget"] = out["budget"]
    by_name: dict[str, list[Any]] = {}
    for name, b in wp.constraint_rows(start):
        by_name.setdefault(name, []).append(b)
    for c in wp.constraints:
        v = 0.0
        for b in by_name.get(c.name, []):
            viol = b.violations(flat)
            if not viol.size:
                continue
            excess = viol - (tol + VERIFY_TOLERANCE * np.abs(b.rhs))
            k = int(np.argmax(excess))
            if viol.max() > v:
                v = float(viol.max())
                worst.setdefault(c.name, b.label(int(np.argmax(viol))))
            if excess[k] > 0:
                bad[c.name] = max(bad.get(c.name, 0.0), float(viol[k]))
                worst[c.name] = b.label(k)
        if isinstance(c, PeriodMinSpend):  # 0 or at least m: not a row
            viol, aa, tt, m = on_off_violations(wp, c, x, start)
            if viol.size:
                k = int(np.argmax(viol))
                v = max(v, float(viol[k]))
                if viol[k] > tol + VERIFY_TOLERANCE * m:
                    bad[c.name] = max(bad.get(c.name, 0.0), float(viol[k]))
                    worst[c.name] = (f"{week_text(wp.periods[tt[k]])}, asset "
                                     f"{wp.index[aa[k]]!r} (spends {x[aa[k], tt[k]]:,.2f}: "
                                     f"neither 0 nor at least {m:,.2f})")
        out[c.name] = max(out.get(c.name, 0.0), v)
    if bad and raise_on_violation:
        name = max(bad, key=bad.get)
        raise ConstraintViolationError(
            f"the weekly plan breaks constraint '{name}' by {bad[name]:,.4g} at "
            f"{worst.get(name, '?')}; the solver's answer is not trusted. Try another solver "
            "(solver='SCS') or loosen the constraint.",
            violations=bad,
        )
    return out


def _precheck(wp: WindowProblem, start: int, fixed: np.ndarray | None) -> None:
    """Spend that is forced (actuals, exact locks, minimums) must fit in the budget."""
    lo, owner, _, _ = forced_bounds(wp, start, fixed)
    check_forced_spend(wp, lo, owner)


def _diagnose(wp: WindowProblem, **kwargs: Any) -> InfeasibleError:
    prog = WindowProgram(wp, relax=True, **kwargs)
    status, _, _ = prog.solve()
    if not is_usable(status):
        return InfeasibleError(
            f"no weekly plan of '{wp.name}' meets every constraint, and the relaxation could not "
            "say which conflict (the actual spend itself may break the fixed weeks).",
            conflicts=[],
        )
    slack = {k: v for k, v in prog.slack_by_owner().items() if v > 1e-7 * wp.budget}
    names = sorted(slack, key=lambda k: -slack[k])
    detail = "; ".join(f"'{k}' by {slack[k]:,.2f}" for k in names)
    return InfeasibleError(
        f"no weekly plan of '{wp.name}' meets every constraint. The smallest relaxation that "
        f"works loosens {detail or 'nothing measurable'}; relax one of "
        f"{format_labels(names)} (or raise the budget).",
        conflicts=names,
        slack=slack,
    )


class WeeklyPlan:
    """A plan over a window: spend per week and asset, outcome per week, timing, checks.

    Attributes
    ----------
    problem : WindowProblem
    spend : DataFrame
        Weeks x assets, money.
    weekly : DataFrame
        Per week: ``spend``, ``outcome`` (landing that week, seasonality applied),
        ``outcome_sd`` (standard deviation of the week's shock), ``outcome_low`` /
        ``outcome_high`` (+/- 1.96 sd), ``actual`` (re-plans given outcomes).
    marginal_roi : DataFrame
        Weeks x assets: extra outcome (window and tail) per extra unit of money in that week.
    expected_outcome : float
        Outcome over the window plus the tail after it.
    window_outcome, tail_outcome, carry_in_outcome : float
        Inside the window; after it (over the horizon); from the spend before the window alone.
    risk : float
        Standard deviation of the window's outcome.
    objective : float
        ``expected_outcome - delta / (2 B) * risk**2``.
    status : str
        A word of :mod:`portfolio_mkt.status`.
    timing : dict or None
        ``best``, ``flat``, ``value`` (best - flat objective), ``share`` (value / flat) and
        ``status`` of the best plan that spends the same every week.
    flat_spend : DataFrame or None
    verification : dict
        Constraint -> largest violation (money) at the plan.
    methods : Series
        ``linear`` / ``exact`` / ``pwl`` / ``envelope`` per asset.
    approximation_gap, approximation_bound : float
        Piecewise-linear model minus truth at the plan, and the stated bound on it.
    start : int
        Weeks fixed by actuals (re-plans); 0 for a plan.
    original : WeeklyPlan or None
        The plan a re-plan revises.
    diff : DataFrame or None
        Re-plan minus original, weeks x assets.
    changes : DataFrame or None
        Per asset: original and new spend over the re-planned weeks, change, and whether its
        curve changed.
    moved : float or None
        Money moved against the original over the re-planned weeks (``0.5 * sum |diff|``).
    curve_moves : DataFrame or None
        Re-plans: per asset, outcome and marginal ROI of the re-planned weeks at the original
        plan under the old and the new curves, their relative change and ``moved``.
    search : dict or None
        Windows with an on/off minimum (:class:`PeriodMinSpend`): the branch and bound's
        ``status``, ``objective``, proven ``bound`` and relative ``gap``, ``requested_gap``,
        ``root_bound`` (the window without the minimums), ``nodes``, ``solves``, ``elapsed``.
    on_off : DataFrame or None
        One row per on/off asset-week (re-plans: the re-planned weeks): ``week``, ``asset``,
        ``minimum``, ``spend``, ``on``, ``constraint``.
    notes : list of str
    """

    def __init__(self, wp: WindowProblem, spend: np.ndarray, status: str, solver: str,
                 start: int = 0) -> None:
        self.problem = wp
        self.start = start
        self.status = status
        self.solver = solver
        x = np.asarray(spend, dtype=float)
        self._x = x
        self.spend = pd.DataFrame(x.T, index=wp.periods.copy(), columns=wp.index.copy())
        self.spend.index.name = "week"
        out = wp.outcome_matrix(x)
        week_sd = np.sqrt(np.maximum(wp.week_variance(x), 0.0))
        win = out[:, : wp.T].sum(0)
        self.weekly = pd.DataFrame(
            {
                "spend": x.sum(0),
                "outcome": win,
                "outcome_sd": week_sd,
                "outcome_low": win - 1.96 * week_sd,
                "outcome_high": win + 1.96 * week_sd,
            },
            index=self.spend.index,
        )
        self.window_outcome = float(win.sum())
        self.tail_outcome = float(out[:, wp.T:].sum())
        self.expected_outcome = self.window_outcome + self.tail_outcome
        self.carry_in_outcome = float(wp.outcome_matrix(np.zeros_like(x)).sum())
        self.risk = float(np.sqrt(max(wp.variance(x), 0.0)))
        self.objective = wp.objective_value(x)
        self.marginal_roi = pd.DataFrame(wp.marginal_matrix(x).T, index=self.spend.index,
                                         columns=wp.index.copy())
        self.timing: dict[str, Any] | None = None
        self.flat_spend: pd.DataFrame | None = None
        self.verification: dict[str, float] = {}
        self.methods = pd.Series(dtype=object)
        self.approximation_gap = 0.0
        self.approximation_bound = 0.0
        self.solve_time = 0.0
        self.compile_time = 0.0
        self.original: WeeklyPlan | None = None
        self.diff: pd.DataFrame | None = None
        self.changes: pd.DataFrame | None = None
        self.moved: float | None = None
        self.curve_moves: pd.DataFrame | None = None
        self.search: dict[str, Any] | None = None
        self.on_off: pd.DataFrame | None = None
        self.notes: list[str] = list(getattr(wp, "notes", []))

    # ------------------------------------------------------------------ views
    @property
    def value_of_timing(self) -> float:
        """Objective gained by choosing when to spend (best minus flat plan); NaN if unknown."""
        if not self.timing or self.timing.get("value") is None:
            return float("nan")
        return float(self.timing["value"])

    def on_off_grid(self) -> pd.DataFrame:
        """Weeks x on/off assets: the spend of each asset-week that is on, ``"off"`` otherwise.

        Empty without an on/off minimum (:class:`PeriodMinSpend`).
        """
        if self.on_off is None or not len(self.on_off):
            return pd.DataFrame()
        t = self.on_off.drop_duplicates(["week", "asset"])
        text = np.where(t["on"], t["spend"].map(lambda v: f"{v:,.0f}"), "off")
        grid = pd.DataFrame({"week": [week_text(w) for w in t["week"]], "asset": t["asset"],
                             "cell": text})
        order = list(dict.fromkeys(grid["week"]))
        out = grid.pivot(index="week", columns="asset", values="cell").reindex(order)
        out.columns.name = None
        return out.fillna("")

    def to_frame(self) -> pd.DataFrame:
        """Long table: week, asset, spend, marginal ROI."""
        s = self.spend.stack().rename("spend")
        m = self.marginal_roi.stack().rename("marginal_roi")
        return pd.concat([s, m], axis=1).reset_index()

    def summary(self) -> str:
        """Plain-text summary: the weekly table, totals, timing and checks."""
        wp = self.problem
        lines = [
            f"Weekly plan '{wp.name}': {wp.n} assets x {wp.T} weeks, budget "
            f"{wp.budget:,.0f} ({self.status})",
            f"expected outcome {self.expected_outcome:,.1f} = window {self.window_outcome:,.1f} + "
            f"tail {self.tail_outcome:,.1f} (over {wp.horizon} weeks after); carry-in alone "
            f"gives {self.carry_in_outcome:,.1f}; risk (sd) {self.risk:,.1f}",
        ]
        if self.timing and self.timing.get("value") is not None:
            lines.append(
                f"value of timing: {self.timing['value']:,.1f} "
                f"({100 * self.timing['share']:.2f}% over the best flat plan)"
            )
        elif self.timing:
            lines.append(f"value of timing: not measured ({self.timing.get('note', '')})")
        if self.moved is not None:
            first = week_text(wp.periods[self.start]) if self.start < wp.T else "the end"
            lines.append(f"re-plan from {first}: moved {self.moved:,.0f} against the original")
        if self.search is not None and self.on_off is not None:
            s = self.search
            on = int(self.on_off["on"].sum())
            lines.append(
                f"on/off minimum per week: {on} of {len(self.on_off)} asset-weeks on; branch and "
                f"bound {s['status']}, proven gap {s['gap']:.2g} ({s['nodes']} nodes, "
                f"{s['solves']} solves, {s['elapsed']:.1f} s)"
            )
        table = self.weekly[["spend", "outcome", "outcome_sd"]].copy()
        table.index = [week_text(i) for i in table.index]
        lines.append(table.to_string(float_format=lambda v: f"{v:,.1f}"))
        if self.on_off is not None and len(self.on_off):
            lines.append("on/off asset-weeks (spend when on, 'off' = 0):")
            lines.append(self.on_off_grid().to_string())
        lines.extend(self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"WeeklyPlan(name={self.problem.name!r}, weeks={self.problem.T}, "
                f"status={self.status!r}, expected_outcome={self.expected_outcome:,.6g})")

    def plot(self, ax: Any = None, top: int = 8) -> Any:
        """Stacked spend per week (largest assets, the rest as 'other') with the outcome on top.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        top : int, default 8
            Assets shown individually.

        Returns
        -------
        matplotlib Axes
            The spend axes; the outcome is drawn on a twin axis (``ax.outcome_axis``).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 4.5))
        spend = self.spend
        order = spend.sum().sort_values(ascending=False).index
        shown = list(order[:top])
        data = spend[shown].copy()
        if len(order) > top:
            data["other"] = spend[order[top:]].sum(axis=1)
        labels = [week_text(i) for i in spend.index]
        pos = np.arange(len(labels))
        bottom = np.zeros(len(labels))
        for col in data.columns:
            ax.bar(pos, data[col].to_numpy(), bottom=bottom, label=str(col), width=0.8)
            bottom += data[col].to_numpy()
        ax.set_xticks(pos)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("spend")
        ax.set_title(f"Weekly plan '{self.problem.name}'")
        ax2 = ax.twinx()
        w = self.weekly
        ax2.plot(pos, w["outcome"], color="black", marker="o", label="expected outcome")
        if (w["outcome_sd"] > 0).any():
            ax2.fill_between(pos, w["outcome_low"], w["outcome_high"], color="grey", alpha=0.2)
        if "actual" in w:
            ax2.plot(pos, w["actual"], color="red", marker="x", linestyle="none",
                     label="actual outcome")
        ax2.set_ylabel("outcome")
        ax2.set_ylim(bottom=0)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left", ncol=2)
        ax.outcome_axis = ax2
        return ax


def _finish(plan: WeeklyPlan, prog: WindowProgram) -> None:
    wp = plan.problem
    res = getattr(prog, "search", None)
    if res is not None:
        plan.search = res.as_dict()
        plan.on_off = on_off_table(wp, plan._x, plan.start)
        plan.notes.extend(getattr(prog, "on_off_notes", []))
        if res.status == TIME_LIMIT:
            plan.notes.append(
                f"on/off search stopped at its limit ({res.nodes} nodes, {res.elapsed:,.1f} s): "
                f"the plan is within {100 * res.gap:.3g}% of the best possible (proven)."
            )
    plan.methods = pd.Series(prog.methods, name="method")
    plan.solve_time = getattr(prog, "solve_time", 0.0)
    plan.compile_time = prog.compile_time
    if prog.approximations:
        e = wp.effective_spend(plan._x)
        gap, bound = 0.0, 0.0
        for a, pw in prog.approximations.items():
            i = int(wp.index.get_loc(a))
            c = wp._curve(i)
            sig = wp.seasonality[i]
            gap += float(np.sum(sig * (pw.value(e[i]) - c.value(e[i]))))
            bound += float(np.sum(sig)) * pw.max_error
        plan.approximation_gap, plan.approximation_bound = gap, bound
        env = [a for a, m in prog.methods.items() if m == "envelope"]
        plan.notes.append(
            f"piecewise-linear curves for {format_labels(list(prog.approximations))}: model - "
            f"truth at the plan {gap:,.4g} (bound {bound:,.4g})."
        )
        if env:
            plan.notes.append(
                f"S-shaped curves entered through their concave envelope: {format_labels(env)}; "
                "weekly effective spend below their payback spend is overstated."
            )


def _solve(wp: WindowProblem, solver: str | None, search: Mapping[str, Any] | None = None,
           **kwargs: Any) -> tuple[WindowProgram, Any]:
    if has_on_off(wp):
        cells = on_off_cells(wp, kwargs.get("start", 0), kwargs.get("fixed"))
        if len(cells):
            return _solve_on_off(wp, cells, solver, search or {}, **kwargs)
    prog = WindowProgram(wp, **kwargs)
    status, x, used = prog.solve(solver)
    if status == INFEASIBLE:
        raise _diagnose(wp, **kwargs)
    if x is None:
        raise SolverError(
            f"the weekly plan of '{wp.name}' could not be solved ({status} with {used}); try "
            "solver='SCS' or method='pwl'."
        )
    return prog, (status, x, used)


def _solve_on_off(wp: WindowProblem, cells: Any, solver: str | None,
                  search: Mapping[str, Any], **kwargs: Any) -> tuple[WindowProgram, Any]:
    """Branch and bound over the on/off asset-weeks (see :mod:`._onoff`)."""
    prog, res = search_on_off(wp, cells, solver=solver, **dict(search), **kwargs)
    prog.search = res  # type: ignore[attr-defined]
    prog.on_off_notes = cells.notes  # type: ignore[attr-defined]
    if res.spend is not None:
        return prog, (res.status, res.spend, res.solver)
    if res.status == INFEASIBLE and res.root_spend is None:
        raise _diagnose(wp, **kwargs)  # infeasible even without the minimums
    names = sorted(set(cells.owner))
    hint = ""
    if res.root_spend is not None:
        v = res.root_spend[cells.a, cells.t]
        frac = np.flatnonzero((v > 1e-6 * cells.m) & (v < cells.m) & ~cells.off)
        if frac.size:
            k = int(frac[0])
            hint = (f" Without the minimums the best plan spends {v[k]:,.2f} at "
                    f"{week_text(wp.periods[cells.t[k]])}, asset {wp.index[cells.a[k]]!r}, "
                    f"below its minimum {cells.m[k]:,.2f}.")
    if res.status == INFEASIBLE:
        raise InfeasibleError(
            f"no weekly plan of '{wp.name}' meets the on/off minimums {format_labels(names)} "
            f"together with the other constraints: every on/off pattern of the "
            f"{len(cells)} asset-weeks was ruled out ({res.solves} solves).{hint} Lower the "
            "minimums, select fewer weeks, or loosen the budget (budget_mode='cap') or caps.",
            conflicts=names,
        )
    raise SolverError(
        f"the on/off search of '{wp.name}' hit its limit ({res.nodes} nodes, "
        f"{res.elapsed:,.1f} s) before finding a plan that meets {format_labels(names)}; raise "
        "node_limit / time_limit."
    )


def plan_window(
    wp: WindowProblem, *, solver: str | None = None, value_of_timing: bool = True,
    gap: float | None = None, node_limit: int | None = None, time_limit: float | None = None,
) -> WeeklyPlan:
    """Solve a planning window.

    Windows with an on/off minimum (:class:`PeriodMinSpend`) are solved exactly by branch
    and bound over the window's convex program; ``plan.search`` holds the proven gap and
    ``plan.on_off`` the decision per asset-week.

    Parameters
    ----------
    wp : WindowProblem
    solver : str, optional
        cvxpy solver name; default Clarabel, then SCS.
    value_of_timing : bool, default True
        Also solve the best plan that spends the same every week and report the difference.
    gap : float, optional
        On/off minimums: relative gap at which the search stops (default ``1e-6``, or the plan
        file's ``search:``).
    node_limit : int, optional
        On/off minimums: nodes expanded at most (default 10,000); when hit, the best plan is
        returned with status ``"time_limit"`` and its proven gap.
    time_limit : float, optional
        On/off minimums: seconds at most (default 120), as ``node_limit``.

    Returns
    -------
    WeeklyPlan

    Raises
    ------
    InfeasibleError
        Naming the constraints in conflict (by a relaxation that loosens as little as
        possible), or the week and asset where forced spend passes the budget.
    ConstraintViolationError
        When the solver's answer breaks a constraint (naming constraint, week, asset).

    Examples
    --------
    >>> import pandas as pd, portfolio_mkt as pm
    >>> from portfolio_mkt.response import Logarithmic
    >>> p = pm.Problem(pd.Series({"a": 1.0, "b": 1.0}), budget=1000.0,
    ...                response={"a": Logarithmic(500.0, 50.0), "b": Logarithmic(300.0, 20.0)})
    >>> plan = plan_window(WindowProblem(p, 4))
    >>> plan.spend.shape
    (4, 2)
    """
    _precheck(wp, 0, None)
    search = _search_options(wp, gap, node_limit, time_limit)
    prog, (status, x, used) = _solve(wp, solver, search)
    verification = verify_plan(wp, x)
    plan = WeeklyPlan(wp, x, status, used)
    plan.verification = verification
    _finish(plan, prog)
    if value_of_timing:
        _timing(plan, solver, search=search)
    return plan


def _search_options(wp: WindowProblem, gap: float | None, node_limit: int | None,
                    time_limit: float | None) -> dict[str, Any]:
    """Options of the on/off search: the arguments, else the plan file's ``search:``."""
    spec = getattr(getattr(wp, "spec", None), "search", None)
    given = {"gap": gap, "node_limit": node_limit, "time_limit": time_limit}
    defaults = {"gap": DEFAULT_GAP, "node_limit": DEFAULT_NODE_LIMIT,
                "time_limit": DEFAULT_TIME_LIMIT}
    out = {}
    for key, value in given.items():
        if value is None and spec is not None:
            value = getattr(spec, key, None)
        out[key] = defaults[key] if value is None else value
    g = float(out["gap"])
    if not np.isfinite(g) or g < 0:
        raise InputError(f"gap must be a relative gap >= 0 (e.g. 1e-6), got {gap!r}.")
    for key in ("node_limit", "time_limit"):
        v = float(out[key])
        if not v > 0:
            raise InputError(f"{key} must be > 0, got {out[key]!r}.")
    return out


def _timing(plan: WeeklyPlan, solver: str | None, search: Mapping[str, Any] | None = None,
            **kwargs: Any) -> None:
    wp = plan.problem
    try:
        prog, (status, x, _) = _solve(wp, solver, search, flat=True, **kwargs)
        verify_plan(wp, x, kwargs.get("start", 0))
    except InfeasibleError as exc:
        plan.timing = {"best": plan.objective, "flat": None, "value": None, "share": None,
                       "status": INFEASIBLE,
                       "note": "no flat plan meets the constraints "
                               f"({format_labels(exc.conflicts)})"}
        return
    flat_obj = wp.objective_value(x)
    value = plan.objective - flat_obj
    plan.timing = {"best": plan.objective, "flat": flat_obj, "value": value,
                   "share": value / abs(flat_obj) if flat_obj else float("nan"),
                   "status": status}
    plan.flat_spend = pd.DataFrame(x.T, index=plan.spend.index, columns=plan.spend.columns)


def _actuals_frame(wp: WindowProblem, actuals: Any) -> tuple[np.ndarray, int, pd.Series | None]:
    """Actual spend (n x T, first k weeks) and outcomes per week from a long or wide table."""
    if isinstance(actuals, pd.DataFrame) and "asset" in actuals.columns:
        week_col = next((c for c in ("week", "period") if c in actuals.columns), None)
        if week_col is None or "spend" not in actuals.columns:
            raise InputError(
                "actuals: a long table needs columns 'week' (or 'period'), 'asset' and 'spend' "
                "(and optionally 'outcome')."
            )
        df = actuals
    elif isinstance(actuals, pd.DataFrame):
        wide = actuals.copy()
        outcome_col = wide.pop("outcome") if "outcome" in wide.columns else None
        df = wide.stack().rename("spend").reset_index()
        df.columns = ["week", "asset", "spend"]
        week_col = "week"
        if outcome_col is not None:
            o = outcome_col.rename("outcome")
            df = df.merge(o, left_on="week", right_index=True, how="left")
    else:
        raise InputError(
            "actuals must be a DataFrame: long (week, asset, spend[, outcome]) or wide (weeks "
            f"x assets); got {type(actuals).__name__}."
        )
    if df.empty:
        raise InputError("actuals are empty; give the spend of at least one week.")
    unknown = pd.Index(df["asset"].unique()).difference(wp.index)
    if len(unknown):
        bad = df[df["asset"].isin(unknown)].iloc[0]
        raise AlignmentError(
            f"actuals name assets that are not in the plan: {format_labels(unknown)} (first at "
            f"{week_text(bad[week_col])}); fix the asset ids or add the assets to the plan."
        )
    pos_of: dict[Any, int] = {}
    for w in df[week_col].unique():
        try:
            pos_of[w] = int(resolve_weeks(wp.periods, [w], "actuals")[0])
        except InputError:
            row = df[df[week_col] == w].iloc[0]
            raise InputError(
                f"actuals: {week_text(w)} (asset {row['asset']!r}) is outside the window "
                f"{week_text(wp.periods[0])} to {week_text(wp.periods[-1])}; drop the row or "
                "fix the week."
            ) from None
    k = max(pos_of.values()) + 1
    missing = sorted(set(range(k)) - set(pos_of.values()))
    if missing:
        raise InputError(
            f"actuals skip {week_text(wp.periods[missing[0]])}: actual spend must cover the "
            f"first weeks of the window without gaps (weeks 1 to {k}); add the missing week "
            "(zero spend if nothing was spent)."
        )
    spend = pd.to_numeric(df["spend"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(spend) | (spend < 0)
    if bad.any():
        row = df.iloc[int(np.argmax(bad))]
        raise InputError(
            f"actuals: spend {row['spend']!r} at {week_text(row[week_col])}, asset "
            f"{row['asset']!r} must be a finite number >= 0."
        )
    x = np.zeros((wp.n, wp.T))
    dup = df.duplicated([week_col, "asset"])
    if dup.any():
        row = df[dup].iloc[0]
        raise InputError(
            f"actuals give {week_text(row[week_col])}, asset {row['asset']!r} twice; keep one row."
        )
    for (w, a), s in zip(zip(df[week_col], df["asset"], strict=True), spend, strict=True):
        x[int(wp.index.get_loc(a)), pos_of[w]] = s
    outcomes = None
    if "outcome" in df.columns:
        o = df.groupby(df[week_col].map(pos_of))["outcome"].first()
        outcomes = pd.Series(o.to_numpy(float), index=wp.periods[o.index.to_numpy()])
    return x, k, outcomes


def _long_actuals(wp: WindowProblem, actuals: Any) -> pd.DataFrame:
    """The actuals as a long table (week label, asset, spend[, outcome]) for a refit."""
    x, k, outcomes = _actuals_frame(wp, actuals)
    weeks = wp.periods[:k]
    df = pd.DataFrame({"week": np.repeat(weeks, wp.n), "asset": np.tile(wp.index, k),
                       "spend": x[:, :k].T.reshape(-1)})
    if outcomes is not None:
        df["outcome"] = df["week"].map(outcomes)
    return df


def _refitted(wp: WindowProblem, refit: Callable[[pd.DataFrame], Any],
              actuals: pd.DataFrame) -> WindowProblem:
    """The window problem with the curves ``refit`` returns."""
    if not callable(refit):
        raise InputError(
            f"replan: refit must be a callable (actuals -> curves or WindowProblem), got "
            f"{type(refit).__name__}."
        )
    out = refit(actuals)
    if isinstance(out, WindowProblem):
        if out.budget != wp.budget:
            raise InputError(
                f"replan: the refitted problem has budget {out.budget:,.2f}, the plan "
                f"{wp.budget:,.2f}; keep the window's budget."
            )
        return out
    if not isinstance(out, Mapping):
        raise InputError(
            "replan: refit must return a WindowProblem or a mapping asset -> curve, got "
            f"{type(out).__name__}."
        )
    unknown = pd.Index(list(out)).difference(wp.index)
    if len(unknown):
        raise AlignmentError(
            f"replan: the refit returned curves for assets that are not in the plan: "
            f"{format_labels(unknown)}."
        )
    for a, c in out.items():
        if not (hasattr(c, "value") and hasattr(c, "derivative")):
            raise InputError(
                f"replan: the refit's curve for asset {a!r} is a {type(c).__name__}, not a "
                "response curve."
            )
    response = {**wp.response, **dict(out)}
    new = wp.replace(problem=wp.problem.replace(response=response))
    new.notes = list(wp.notes)
    return new


def _curve_moves(old: WindowProblem, new: WindowProblem, x: np.ndarray, start: int,
                 threshold: float) -> pd.DataFrame:
    """Per asset: outcome and marginal ROI of weeks ``start..`` at plan ``x``, old vs new curves."""
    cols = slice(start, old.T)
    o_old, o_new = old.outcome_matrix(x), new.outcome_matrix(x)
    m_old, m_new = old.marginal_matrix(x), new.marginal_matrix(x)
    before = o_old[:, start:].sum(1)
    after = o_new[:, start:].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(before) > 0, (after - before) / np.abs(before),
                       np.where(after == before, 0.0, np.inf))
    w = np.maximum(x[:, cols], 0.0)
    tot = w.sum(1)
    safe = np.where(tot > 0, tot, 1.0)
    mroi_old = np.where(tot > 0, (m_old[:, cols] * w).sum(1) / safe, m_old[:, cols].mean(1))
    mroi_new = np.where(tot > 0, (m_new[:, cols] * w).sum(1) / safe, m_new[:, cols].mean(1))
    return pd.DataFrame({"outcome_before": before, "outcome_after": after, "change": rel,
                         "marginal_roi_before": mroi_old, "marginal_roi_after": mroi_new,
                         "moved": np.abs(rel) > threshold}, index=old.index.copy())


def replan(
    plan: WeeklyPlan,
    actuals: Any,
    *,
    problem: WindowProblem | None = None,
    refit: Callable[[pd.DataFrame], Any] | None = None,
    max_move: float | None = None,
    solver: str | None = None,
    value_of_timing: bool = False,
    move_threshold: float = 0.01,
    gap: float | None = None,
    node_limit: int | None = None,
    time_limit: float | None = None,
) -> WeeklyPlan:
    """Re-plan the rest of a window once the first weeks are spent.

    The weeks in ``actuals`` are fixed at what was spent (their effect carries into the rest
    of the window); the rest is planned with what is left of the budget, under the same
    constraints (rows about spent weeks only are dropped; window and month totals count the
    actual spend).

    Parameters
    ----------
    plan : WeeklyPlan
        The original plan.
    actuals : DataFrame
        Long (``week``, ``asset``, ``spend`` [, ``outcome``]) or wide (weeks x assets, an
        optional ``outcome`` column); the first ``k`` weeks of the window without gaps. Assets
        not listed in a week spent nothing.
    problem : WindowProblem, optional
        An updated problem (refitted curves, new seasonality); default the plan's. Same assets
        and weeks.
    refit : callable, optional
        Refits the curves with the actuals appended: called with the actuals as a long table
        (``week``, ``asset``, ``spend`` and ``outcome`` when given) and returns either a new
        :class:`WindowProblem` (same assets and weeks) or a mapping asset -> curve (per week;
        assets left out keep their curve). :func:`mmm_refit` builds one from a
        :class:`~portfolio_mkt.mmm.MediaMixModel` and its history; ``portfolio-mkt replan
        --refit`` uses the plan file's history. Not together with ``problem``.
    max_move : float, optional
        Share of the remaining budget that may move against the original plan
        (``0.5 * sum |new - original|`` over the remaining weeks), e.g. ``0.3``.
    solver : str, optional
    value_of_timing : bool, default False
    move_threshold : float, default 0.01
        A curve has moved when its outcome at the original plan's spend in the re-planned
        weeks changes by more than this share.
    gap, node_limit, time_limit : optional
        On/off minimums (:class:`PeriodMinSpend`) of the re-planned weeks: options of the
        branch and bound, as in :func:`plan_window`. Spent weeks are history: their on/off
        minimums are not re-checked.

    Returns
    -------
    WeeklyPlan
        With ``original``, ``diff``, ``changes`` (per asset: spend before and after, change,
        ``curve_changed``, ``curve_move``) and ``moved`` filled; ``curve_moves`` (per asset:
        outcome and marginal ROI of the re-planned weeks at the original plan under the old
        and the new curves, relative change, ``moved``); ``weekly['actual']`` holds the actual
        outcomes when given.

    Raises
    ------
    InputError, AlignmentError
        Actuals for unknown assets, weeks outside the window, gaps, negative spend, or actual
        spend above the budget (naming the week and asset).
    InfeasibleError
        Naming the constraints in conflict.
    """
    orig_wp = plan.problem
    if refit is not None and problem is not None:
        raise InputError("replan: give either problem (already refitted) or refit, not both.")
    wp = problem if problem is not None else orig_wp
    if refit is not None:
        _actuals_frame(orig_wp, actuals)  # bad actuals fail before any refit
        wp = _refitted(orig_wp, refit, _long_actuals(orig_wp, actuals))
    if not wp.index.equals(orig_wp.index) or not wp.periods.equals(orig_wp.periods):
        raise InputError(
            "replan: the updated problem must have the same assets and weeks as the plan."
        )
    fixed, k, outcomes = _actuals_frame(wp, actuals)
    cum = np.cumsum(fixed[:, :k].T.reshape(-1))
    if cum.size and cum[-1] > wp.budget * (1 + 1e-9):
        j = int(np.argmax(cum > wp.budget * (1 + 1e-9)))
        t, a = divmod(j, wp.n)
        raise InputError(
            f"actual spend {cum[-1]:,.2f} is above the window's budget {wp.budget:,.2f}; it "
            f"passes the budget at {week_text(wp.periods[t])}, asset {wp.index[a]!r}. Check the "
            "actuals or raise the budget."
        )
    remaining = wp.budget - float(fixed.sum())
    move_money = None
    if max_move is not None:
        mm = float(max_move)
        if not np.isfinite(mm) or mm < 0:
            raise InputError(
                f"max_move must be a share >= 0 of the remaining budget, got {max_move!r}."
            )
        move_money = mm * max(remaining, 0.0)
    kwargs: dict[str, Any] = {"start": k, "fixed": fixed}
    if move_money is not None:
        kwargs.update(reference=plan._x, max_move=move_money)
    if k >= wp.T:
        x = fixed
        status, used = OPTIMAL, "none"
        prog = None
    else:
        _precheck(wp, k, fixed)
        search = _search_options(wp, gap, node_limit, time_limit)
        prog, (status, x, used) = _solve(wp, solver, search, **kwargs)
    verify_plan(wp, x, k)
    new = WeeklyPlan(wp, x, status, used, start=k)
    new.verification = verify_plan(wp, x, k, raise_on_violation=False)
    if prog is not None:
        _finish(new, prog)
    new.original = plan
    diff = new.spend - plan.spend
    new.diff = diff
    future = slice(k, wp.T)
    before = plan.spend.iloc[future].sum()
    after = new.spend.iloc[future].sum()
    changed = pd.Series(
        [wp.response.get(a) != orig_wp.response.get(a) for a in wp.index], index=wp.index
    )
    moves = _curve_moves(orig_wp, wp, plan._x, k, float(move_threshold))
    new.curve_moves = moves
    new.changes = pd.DataFrame({"original": before, "replan": after, "change": after - before,
                                "curve_changed": changed,
                                "curve_move": moves["change"]})
    new.moved = float(0.5 * np.abs(diff.iloc[future].to_numpy()).sum())
    if outcomes is not None:
        new.weekly["actual"] = outcomes.reindex(new.weekly.index)
        exp = plan.weekly["outcome"].reindex(outcomes.index)
        new.notes.append(
            "actual outcome in the spent weeks: "
            f"{outcomes.sum():,.1f} against {exp.sum():,.1f} expected by the original plan."
        )
    if changed.any():
        new.notes.append(
            f"curves changed since the original plan: {format_labels(wp.index[changed])}."
        )
    if moves["moved"].any():
        parts = [f"{a!r} {100 * moves.loc[a, 'change']:+.1f}% (spend "
                 f"{new.changes.loc[a, 'change']:+,.0f})"
                 for a in moves.index[moves["moved"]]]
        new.notes.append(
            "curves that moved (outcome at the original plan's spend in the re-planned weeks): "
            + "; ".join(parts) + "."
        )
    spent_text = f"{fixed.sum():,.0f} spent in {k} weeks; {remaining:,.0f} left"
    new.notes.append(f"re-plan: {spent_text}; moved {new.moved:,.0f} against the original.")
    if value_of_timing and prog is not None:
        _timing(new, solver, search=_search_options(wp, gap, node_limit, time_limit),
                start=k, fixed=fixed)
    return new


def window_frontier(
    wp: WindowProblem, risk_aversions: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0),
    *, solver: str | None = None,
) -> pd.DataFrame:
    """Expected outcome against risk over the window for a few risk aversions (compiled once).

    Parameters
    ----------
    wp : WindowProblem
        Needs a covariance in its problem.
    risk_aversions : sequence of float
    solver : str, optional

    Returns
    -------
    DataFrame
        Per risk aversion: ``expected_outcome``, ``risk``, ``objective``, ``status``; failed
        points are kept with their status. With on/off minimums (:class:`PeriodMinSpend`)
        each point is its own branch and bound (default search options, or the plan file's).
    """
    if wp.covariance_factors() is None:
        raise InputError("window_frontier needs a covariance in the problem (risk per week).")
    _precheck(wp, 0, None)
    on_off = has_on_off(wp)
    prog = None if on_off else WindowProgram(wp)
    search = _search_options(wp, None, None, None)
    rows = []
    for d in risk_aversions:
        d = float(d)
        if not np.isfinite(d) or d < 0:
            rows.append({"risk_aversion": d, "expected_outcome": np.nan, "risk": np.nan,
                         "objective": np.nan, "status": SKIPPED})
            continue
        if prog is None:  # on/off minimums: one branch and bound per point
            try:
                _, (status, x, _) = _solve(wp.replace(risk_aversion=d), solver, search)
            except InfeasibleError:
                status, x = INFEASIBLE, None
        else:
            prog.delta.value = d
            status, x, _ = prog.solve(solver, reuse=True)
        if x is None:
            rows.append({"risk_aversion": d, "expected_outcome": np.nan, "risk": np.nan,
                         "objective": np.nan, "status": status})
            continue
        verify_plan(wp, x)
        rows.append({
            "risk_aversion": d,
            "expected_outcome": wp.total_outcome(x),
            "risk": float(np.sqrt(max(wp.variance(x), 0.0))),
            "objective": wp.total_outcome(x) - d / (2 * wp.budget) * wp.variance(x),
            "status": status,
        })
    if all(r["status"] not in (OPTIMAL, "optimal_inaccurate", TIME_LIMIT) for r in rows):
        raise SolverError("every point of the window frontier failed; see the statuses.")
    return pd.DataFrame(rows)
