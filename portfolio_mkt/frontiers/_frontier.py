"""The efficient frontier of a problem: end points, a sweep in expected outcome, a result object."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..exceptions import InputError, SolverError
from ..optimization import OSQPFrontierSolver, compile_problem, installed_solvers, linear_qp
from ..problem import Problem
from ..status import is_usable, normalize_status
from ._compare import FrontierComparison, compare_frontiers

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["frontier", "Frontier", "FrontierPoint"]

Method = Literal["auto", "fast", "cvxpy"]


@dataclass
class FrontierPoint:
    """One point of a frontier.

    Attributes
    ----------
    kind : {"min_risk", "max_return", "target"}
        End point or an interior target.
    target_outcome : float
        The expected outcome asked for (outcome units; ``nan`` for the minimum-risk point).
    expected_outcome, risk : float
        Achieved expected outcome and its standard deviation (outcome units); ``nan`` when the
        point failed.
    risk_aversion : float
        The risk aversion ``delta`` for which this portfolio maximises
        ``mu'w - delta/2 w'Sigma w`` under the same constraints (``nan`` where not defined,
        e.g. at the minimum-risk point).
    status, message : str
        Solver status and a plain-language note (which solver, iterations, fallbacks).
    solve_time : float
        Seconds spent in the solver for this point.
    shares : ndarray or None
        Shares of the budget per asset (problem order), ``None`` when the point failed.
    index : Index
        Asset ids.
    budget : float
        The budget (money).
    """

    kind: str
    target_outcome: float
    expected_outcome: float
    risk: float
    risk_aversion: float
    status: str
    message: str
    solve_time: float = 0.0
    shares: np.ndarray | None = field(default=None, repr=False)
    index: pd.Index | None = field(default=None, repr=False)
    budget: float = 1.0

    @property
    def spend(self) -> pd.Series | None:
        """Spend per asset (money), ``None`` when the point failed."""
        if self.shares is None:
            return None
        return pd.Series(self.shares * self.budget, index=self.index, name="spend")

    @property
    def ok(self) -> bool:
        """Whether the point was solved."""
        return self.shares is not None and is_usable(self.status)


@dataclass
class Frontier:
    """A risk-return frontier of one problem: points from minimum risk to maximum return.

    Attributes
    ----------
    problem : Problem
        The problem (its objective, ``max_risk`` and ``min_outcome`` are ignored: the frontier
        sweeps them).
    points : list of FrontierPoint
        In increasing target outcome; failed points are kept with their status.
    method : str
        ``"fast"`` (one OSQP/Clarabel problem updated in place) or ``"cvxpy"`` (one compiled
        DPP program re-solved with warm starts).
    solve_time : float
        Wall time of :func:`frontier`, seconds.
    current : tuple of float or None
        ``(expected_outcome, risk)`` of the problem's current spend, when it has one.
    chosen : int or None
        Index of the point marked by :meth:`plot` (set with :meth:`choose`).
    program : Program or None
        The compiled DPP cvxpy program swept on the cvxpy path (``target_outcome`` is its
        Parameter); ``None`` on the fast path, which never builds the objective in cvxpy.
    notes : list of str
        Why a path was taken, fallbacks.
    """

    problem: Problem
    points: list[FrontierPoint]
    method: str
    solve_time: float
    current: tuple[float, float] | None = None
    chosen: int | None = None
    program: Any = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[FrontierPoint]:
        return iter(self.points)

    def __getitem__(self, i: int) -> FrontierPoint:
        return self.points[i]

    def __repr__(self) -> str:
        ok = sum(p.ok for p in self.points)
        return (f"Frontier(problem={self.problem.name!r}, n_points={len(self.points)}, "
                f"solved={ok}, method={self.method!r}, solve_time={self.solve_time:.3g}s)")

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the solved points."""
        return np.array([p.ok for p in self.points], dtype=bool)

    @property
    def expected_outcome(self) -> np.ndarray:
        """Expected outcome of each point (``nan`` where failed)."""
        return np.array([p.expected_outcome for p in self.points])

    @property
    def risk(self) -> np.ndarray:
        """Risk (standard deviation of the outcome) of each point (``nan`` where failed)."""
        return np.array([p.risk for p in self.points])

    @property
    def spend(self) -> pd.DataFrame:
        """Spend per asset: one row per point, one column per asset (NaN where failed)."""
        index = self.problem.index
        rows = [p.shares * p.budget if p.shares is not None else np.full(len(index), np.nan)
                for p in self.points]
        return pd.DataFrame(np.array(rows).reshape(len(rows), len(index)), columns=index,
                            index=pd.RangeIndex(len(rows), name="point"))

    def to_frame(self) -> pd.DataFrame:
        """One row per point: outcome, risk, risk aversion, status, then spend per asset.

        Returns
        -------
        DataFrame
            Columns ``kind, status, message, target_outcome, expected_outcome, risk,
            risk_aversion`` followed by one column per asset id (spend in money).
        """
        head = pd.DataFrame(
            {
                "kind": [p.kind for p in self.points],
                "status": [p.status for p in self.points],
                "message": [p.message for p in self.points],
                "target_outcome": [p.target_outcome for p in self.points],
                "expected_outcome": self.expected_outcome,
                "risk": self.risk,
                "risk_aversion": [p.risk_aversion for p in self.points],
            },
            index=pd.RangeIndex(len(self.points), name="point"),
        )
        return pd.concat([head, self.spend], axis=1)

    def choose(self, *, risk: float | None = None, outcome: float | None = None,
               risk_aversion: float | None = None) -> FrontierPoint:
        """Pick (and mark for :meth:`plot`) the point best matching one criterion.

        Parameters
        ----------
        risk : float, optional
            The highest-outcome solved point with risk at most ``risk``.
        outcome : float, optional
            The lowest-risk solved point with expected outcome at least ``outcome``.
        risk_aversion : float, optional
            The solved point whose implied risk aversion is closest (in log scale).

        Returns
        -------
        FrontierPoint
        """
        given = [v is not None for v in (risk, outcome, risk_aversion)]
        if sum(given) != 1:
            raise InputError("Frontier.choose: give exactly one of risk, outcome, risk_aversion.")
        ok = np.flatnonzero(self.ok)
        if not ok.size:
            raise SolverError("Frontier.choose: the frontier has no solved point.")
        if risk is not None:
            cand = [i for i in ok if self.points[i].risk <= risk * (1 + 1e-12)]
            if not cand:
                raise InputError(
                    f"Frontier.choose: no point has risk <= {risk:,.6g}; the lowest is "
                    f"{np.nanmin(self.risk):,.6g}. Accept more risk."
                )
            best = max(cand, key=lambda i: self.points[i].expected_outcome)
        elif outcome is not None:
            cand = [i for i in ok if self.points[i].expected_outcome >= outcome * (1 - 1e-12)]
            if not cand:
                raise InputError(
                    f"Frontier.choose: no point reaches an expected outcome of {outcome:,.6g};"
                    f" the highest is {np.nanmax(self.expected_outcome):,.6g}."
                )
            best = min(cand, key=lambda i: self.points[i].risk)
        else:
            ra = np.array([self.points[i].risk_aversion for i in ok])
            finite = np.isfinite(ra) & (ra > 0)
            if not finite.any():
                raise InputError("Frontier.choose: no point has a defined risk aversion.")
            gap = np.abs(np.log(ra[finite]) - np.log(float(risk_aversion)))
            best = int(ok[finite][np.argmin(gap)])
        self.chosen = int(best)
        return self.points[best]

    def plot(self, ax: Axes | None = None, *, show_current: bool = True,
             show_chosen: bool = True, label: str | None = None, **kwargs: Any) -> Axes:
        """Plot expected outcome against risk, marking the current allocation and chosen point.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when omitted.
        show_current : bool, default True
            Mark the current allocation (when the problem has one).
        show_chosen : bool, default True
            Mark the point picked with :meth:`choose`.
        label : str, optional
            Legend label of the curve (defaults to the problem's name).
        **kwargs
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ok = self.ok
        kwargs.setdefault("marker", ".")
        ax.plot(self.risk[ok], self.expected_outcome[ok], label=label or self.problem.name,
                **kwargs)
        failed = ~ok & np.isfinite(np.array([p.target_outcome for p in self.points]))
        if failed.any():
            ax.plot(np.full(failed.sum(), np.nanmin(self.risk) if ok.any() else 0.0),
                    [p.target_outcome for p, f in zip(self.points, failed, strict=True) if f],
                    "x", color="grey", label="failed points")
        if show_current and self.current is not None:
            ax.plot(self.current[1], self.current[0], "s", color="black", label="current")
        if show_chosen and self.chosen is not None and self.points[self.chosen].ok:
            p = self.points[self.chosen]
            ax.plot(p.risk, p.expected_outcome, "*", markersize=14, color="C3", label="chosen")
        ax.set_xlabel("risk (std of outcome)")
        ax.set_ylabel("expected outcome")
        ax.legend(loc="lower right")
        return ax

    def compare(self, other: Frontier, n_levels: int = 25) -> FrontierComparison:
        """Compare with another frontier (``self`` is the one *with* the constraint).

        See :func:`compare_frontiers`.
        """
        return compare_frontiers(self, other, n_levels=n_levels)


# ---------------------------------------------------------------------------- building
def _targets(r_min: float, r_max: float, n_points: int) -> np.ndarray:
    return np.linspace(r_min, r_max, n_points)


def _risk_aversion_from_slope(slope: float) -> float:
    """Delta = 2 / (d var / d mu'w) in shares; nan where not defined."""
    if not np.isfinite(slope) or slope <= 0:
        return float("nan")
    return 2.0 / slope


def _make_point(problem: Problem, kind: str, target_share: float | None,
                w: np.ndarray | None, status: str, message: str, slope: float,
                solve_time: float, variance) -> FrontierPoint:
    b = problem.budget
    status = normalize_status(status)
    target = float("nan") if target_share is None else target_share * b
    if w is None:
        return FrontierPoint(kind, target, float("nan"), float("nan"), float("nan"), status,
                             message, solve_time, None, problem.index, b)
    w = np.clip(w, 0.0, None)
    outcome = float(problem.return_term.outcome(w * b).sum())
    risk = float(b * np.sqrt(max(variance(w), 0.0)))
    ra = float("nan") if kind == "min_risk" else _risk_aversion_from_slope(slope)
    return FrontierPoint(kind, target, outcome, risk, ra, status, message, solve_time, w,
                         problem.index, b)


def _fast(problem: Problem, qp, n_points: int, settings: dict | None,
          engine: str) -> list[FrontierPoint]:
    solver = OSQPFrontierSolver(qp, settings=settings, engine=engine)
    lo = solver.min_risk()
    r_max, hi_point = solver.max_return_point()
    if lo.w is None and hi_point.w is None:
        raise SolverError(
            f"frontier: neither end point could be solved ({lo.message}; max return: "
            f"{hi_point.message}). Check that the constraints are feasible with "
            "pm.solve(problem)."
        )
    results = [("min_risk", None, lo)]
    if np.isfinite(r_max):
        r_min = float(qp.mu @ lo.w) if lo.w is not None else r_max
        targets = _targets(r_min, r_max, n_points)
        inner = [float(t) for t in targets[1:-1]]
        for t, point in zip(inner, solver.sweep(inner), strict=True):
            results.append(("target", t, point))
        results.append(("max_return", float(r_max), hi_point))
        # the multiplier at the end: the one-sided slope of the last interior piece
        if np.isnan(hi_point.return_dual) and hi_point.w is not None and len(results) > 2:
            prev = results[-2][2]
            if prev.w is not None:
                dv = qp.variance(hi_point.w) - qp.variance(prev.w)
                dr = float(qp.mu @ hi_point.w - qp.mu @ prev.w)
                hi_point.return_dual = float("nan") if dr <= 0 else 2 * dv / dr - (
                    prev.return_dual if np.isfinite(prev.return_dual) else 0.0)
    else:
        results += [("target", None, hi_point)] * (n_points - 1)
    # outcomes and risks of all points at once
    b = problem.budget
    ok = [i for i, (_, _, r) in enumerate(results) if r.w is not None]
    w_ok = np.clip(np.array([results[i][2].w for i in ok]).reshape(len(ok), qp.n), 0.0, None)
    outcome = np.full(len(results), np.nan)
    risk = np.full(len(results), np.nan)
    outcome[ok] = b * (w_ok @ qp.mu)
    risk[ok] = b * np.sqrt(np.maximum(qp.variances(w_ok), 0.0))
    shares: list[np.ndarray | None] = [None] * len(results)
    for row, i in enumerate(ok):
        shares[i] = w_ok[row]
    points = []
    for i, (kind, target, r) in enumerate(results):
        ra = float("nan") if kind == "min_risk" or r.w is None else \
            _risk_aversion_from_slope(r.return_dual)
        points.append(FrontierPoint(
            kind, float("nan") if target is None else target * b, float(outcome[i]),
            float(risk[i]), ra, r.status, r.message, r.solve_time, shares[i], problem.index, b))
    return points


def _generic(problem: Problem, n_points: int, solver: str | None,
             holder: dict) -> list[FrontierPoint]:
    """One compiled DPP program: min variance s.t. outcome >= target (a Parameter)."""
    names = solver or "CLARABEL"
    base = problem.replace(objective="min_risk", max_risk=None, min_outcome=None)
    prog_min = compile_problem(base)
    raw = prog_min.solve_with(names)
    var = problem.variance
    points: list[FrontierPoint] = []

    def variance_share(w: np.ndarray) -> float:
        return var(w * problem.budget) / problem.budget**2

    ok_min = raw.w is not None and is_usable(normalize_status(raw.status))
    points.append(_make_point(problem, "min_risk", None, raw.w if ok_min else None,
                              raw.status, raw.message or f"{names} {raw.status}", float("nan"),
                              raw.solve_time, variance_share))
    prog_max = compile_problem(problem.replace(objective="max_return", max_risk=None,
                                               min_outcome=None))
    # the maximum return is an LP: an LP solver lands on the vertex exactly (an interior-point
    # answer can sit ~1e-6 short of it and shift every target of the sweep)
    raw_max = prog_max.solve_with("HIGHS" if solver is None and prog_max.is_lp
                                  and "HIGHS" in installed_solvers() else names)
    if raw_max.w is None or not is_usable(normalize_status(raw_max.status)):
        for _ in range(n_points - 1):
            points.append(_make_point(problem, "target", None, None, "failed",
                                      f"maximum return not found ({raw_max.status})",
                                      float("nan"), 0.0, variance_share))
        return points
    outcome_share = float(prog_max.outcome_expr.value.sum())
    r_max = outcome_share
    r_min = (float(prog_min.outcome_expr.value.sum()) if ok_min else r_max)
    # the sweep program: min variance s.t. (model) outcome >= target, target a Parameter
    sweep = compile_problem(problem.replace(objective="min_risk", max_risk=None,
                                            min_outcome=r_min * problem.budget))
    targets = _targets(r_min, r_max, n_points)
    holder["program"] = sweep
    row = next(r for r in sweep.rows if r.owner == "min_outcome")
    for j, t in enumerate(targets[1:], start=1):
        kind = "max_return" if j == n_points - 1 else "target"
        # a hair below the maximum keeps the last point strictly feasible for interior points
        tt = t - 1e-9 * max(abs(r_max - r_min), 1e-12) if j == n_points - 1 else t
        sweep.set_min_outcome(float(tt) * problem.budget)
        raw = sweep.solve_with(names)
        ok = raw.w is not None and is_usable(normalize_status(raw.status))
        slope = float("nan")
        if ok and row.constraint.dual_value is not None:
            # objective is var_scale * var; dual per unit of share outcome
            slope = float(np.atleast_1d(row.constraint.dual_value)[0]) / sweep.var_scale
        points.append(_make_point(problem, kind, float(t), raw.w if ok else None, raw.status,
                                  raw.message or f"{names} {raw.status}", slope,
                                  raw.solve_time, variance_share))
    return points


def frontier(
    problem: Problem,
    n_points: int = 50,
    *,
    method: Method = "auto",
    solver: str | None = None,
    settings: dict | None = None,
    engine: Literal["clarabel", "osqp"] = "clarabel",
) -> Frontier:
    """The efficient frontier of ``problem``: from minimum risk to maximum expected outcome.

    The minimum-risk and maximum-return end points are solved first, then ``n_points - 2``
    points evenly spaced in expected outcome between them, each the minimum-risk allocation
    reaching its target under all of the problem's constraints. The problem's own objective,
    ``max_risk`` and ``min_outcome`` are ignored (the frontier sweeps them).

    Parameters
    ----------
    problem : Problem
        A problem with a covariance.
    n_points : int, default 50
        Number of points, end points included (at least 2).
    method : {"auto", "fast", "cvxpy"}, default "auto"
        ``"fast"``: the problem's normalised QP assembled once and re-solved by the solver's
        own in-place data update (see ``engine``); a factor covariance stays in factor form
        (``y = F'w`` auxiliary variables, nothing ``n x n``). ``"cvxpy"``: one compiled
        DPP cvxpy program re-solved per point (any problem: response curves, custom
        constraints). ``"auto"`` takes the fast path when the problem allows it.
    solver : str, optional
        Solver of the cvxpy path (default Clarabel).
    settings : dict, optional
        OSQP settings of the fast path (``engine="osqp"``).
    engine : {"clarabel", "osqp"}, default "clarabel"
        Solver of the fast path. Both are set up once and updated in place per point.
        Clarabel (interior point) needs about ten iterations per point anywhere on the
        frontier; OSQP (ADMM, warm-started, polished) is fast in the interior but slows down
        near the maximum-return end, where its unpolished points are re-solved by Clarabel.
        With a dense covariance (from 40 assets) the interior points are read off the
        critical line instead: a parametric active-set walk in the target from the exact
        minimum-risk point (the frontier is piecewise linear in the shares between
        breakpoints), each point's KKT conditions checked; a point failing the check, and
        the points after it, are solved one by one (active set, then Clarabel).
        Measured in ``benchmarks/frontier_bench.py``.

    Returns
    -------
    Frontier

    Raises
    ------
    InputError
        No covariance, or ``n_points < 2``.
    SolverError
        Every point failed.

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> from portfolio_mkt.examples import example_problem
    >>> front = pm.frontier(example_problem(), n_points=10)
    >>> bool(front.ok.all())
    True
    """
    if not isinstance(problem, Problem):
        raise InputError(f"frontier needs a portfolio_mkt.Problem; got {type(problem).__name__}.")
    if problem.covariance is None:
        raise InputError(
            f"frontier: problem '{problem.name}' has no covariance, so risk is undefined; pass "
            "covariance= (a DataFrame, a FactorCovariance or a fitted estimator)."
        )
    n_points = int(n_points)
    if n_points < 2:
        raise InputError(f"frontier: n_points must be at least 2; got {n_points}.")
    if method not in ("auto", "fast", "cvxpy"):
        raise InputError(f"frontier: method must be 'auto', 'fast' or 'cvxpy'; got {method!r}.")
    t0 = time.perf_counter()
    notes: list[str] = []
    qp = None
    holder: dict[str, Any] = {}
    if method in ("auto", "fast"):
        qp, reason = linear_qp(problem)
        if qp is None:
            if method == "fast":
                raise InputError(f"frontier: the fast path does not apply: {reason}; use "
                                 "method='cvxpy' (or 'auto').")
            notes.append(f"cvxpy path: {reason}")
    if qp is not None:
        points = _fast(problem, qp, n_points, settings, engine)
        used = "fast"
    else:
        points = _generic(problem, n_points, solver, holder)
        used = "cvxpy"
    if not any(p.ok for p in points):
        raise SolverError(
            f"frontier: all {n_points} points failed for problem '{problem.name}' (first: "
            f"{points[0].message}); check feasibility with pm.solve(problem)."
        )
    current = None
    if problem.current is not None and float(problem.current.sum()) > 0:
        x0 = problem.current.to_numpy(float)
        current = (float(problem.return_term.outcome(x0).sum()),
                   float(np.sqrt(max(problem.variance(x0), 0.0))))
    return Frontier(problem=problem, points=points, method=used,
                    solve_time=time.perf_counter() - t0, current=current,
                    program=holder.get("program"), notes=notes)
