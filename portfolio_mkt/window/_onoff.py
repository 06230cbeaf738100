"""On/off minimum per asset-week: branch and bound over the window's convex program.

:class:`~portfolio_mkt.window.PeriodMinSpend` asks ``x[a, t] == 0 or x[a, t] >= m`` for some
asset-weeks. The convex hull of ``{0} U [m, cap]`` is ``[0, cap]``, so the window's own convex
program (without the minimum) is the root relaxation: no perspective can tighten it, because
no term of the objective depends on the on/off decision itself (no fixed cost), only on the
spend.

A node of the search bounds some asset-weeks below by ``m`` (on) and others above by 0 (off);
its problem is the window's program with these bounds, compiled once with the bounds as cvxpy
Parameters (so a node is one Clarabel call). The search expands the open node with the largest
bound (best first), so the largest open bound is a proven upper bound on the optimum; it stops
when the best plan found is within the relative ``gap`` of it, or at a node / time limit (status
``"time_limit"``; the best plan and its proven gap are kept). Plans come from nodes whose
relaxed plan already has every asset-week at 0 or at least ``m``, and from rounding the relaxed
plan (at the root and every few nodes).
"""

from __future__ import annotations

import heapq
import itertools
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from ..exceptions import InaccurateSolutionWarning, InfeasibleError, SolverError, format_labels
from ..status import INFEASIBLE, OPTIMAL, OPTIMAL_INACCURATE, TIME_LIMIT
from ._constraints import PeriodMinSpend
from ._periods import week_text
from ._program import WindowProgram

__all__ = ["OnOffCells", "OnOffSearch", "forced_bounds", "on_off_cells", "search_on_off",
           "on_off_violations", "on_off_table", "check_forced_spend", "has_on_off",
           "DEFAULT_GAP", "DEFAULT_NODE_LIMIT", "DEFAULT_TIME_LIMIT"]

#: Relative gap at which the search stops (proven: the best plan is within it of the optimum);
#: the library's oracle tests ask for 1e-6 relative.
DEFAULT_GAP = 1e-6
#: Nodes expanded at most, and seconds at most, before the best plan is returned with its gap.
DEFAULT_NODE_LIMIT = 10_000
DEFAULT_TIME_LIMIT = 120.0
#: An asset-week counts as off below ``OFF_TOL * m`` and as on above ``(1 - ON_TOL) * m``.
OFF_TOL = 1e-6
ON_TOL = 1e-7


def has_on_off(wp: Any) -> bool:
    """Whether a window problem has an on/off minimum (:class:`PeriodMinSpend`)."""
    return any(isinstance(c, PeriodMinSpend) for c in wp.constraints)


def _tighten(bound: np.ndarray, owner: np.ndarray, a: np.ndarray, t: np.ndarray,
             values: np.ndarray, name: str, pick: Any) -> None:
    """``bound[a, t] = pick(bound[a, t], value)`` per row; ``owner`` names where it moved."""
    before = bound.copy()
    pick.at(bound, (a, t), values)
    owner[bound != before] = name


def forced_bounds(wp: Any, start: int, fixed: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds on single asset-weeks set by the constraints (and actuals), with their owners.

    Returns
    -------
    lo, lo_owner, hi, hi_owner : ndarray (n, T)
        Lower and upper bounds in money (``inf`` where none) and the name of the constraint
        that sets each (``""`` where none).
    """
    lo = np.zeros((wp.n, wp.T))
    hi = np.full((wp.n, wp.T), np.inf)
    lo_owner = np.full((wp.n, wp.T), "", dtype=object)
    hi_owner = np.full((wp.n, wp.T), "", dtype=object)
    if start > 0 and fixed is not None:
        lo[:, :start] = hi[:, :start] = fixed[:, :start]
        lo_owner[:, :start] = hi_owner[:, :start] = "actuals"
    for name, b in wp.constraint_rows(start):
        m = b.matrix.tocsr()
        single = np.flatnonzero(np.diff(m.indptr) == 1)
        if single.size == 0:
            continue
        first = m.indptr[single]
        coef = m.data[first]
        keep = coef > 0
        cols, bound = m.indices[first[keep]], b.rhs[single[keep]] / coef[keep]
        a_idx, t_idx = np.divmod(cols, wp.T)
        if b.sense in ("ge", "eq"):
            _tighten(lo, lo_owner, a_idx, t_idx, bound, name, np.maximum)
        if b.sense in ("le", "eq"):
            _tighten(hi, hi_owner, a_idx, t_idx, bound, name, np.minimum)
    return lo, lo_owner, hi, hi_owner


def check_forced_spend(wp: Any, need: np.ndarray, owner: np.ndarray, why: str = "") -> None:
    """Raise when spend forced per asset-week (``need``, money, n x T) passes the budget.

    Raises
    ------
    InfeasibleError
        Naming the constraints that force spend and the week and asset where the running
        total (week by week, assets within a week) passes the budget.
    """
    total = float(need.sum())
    if total <= wp.budget * (1 + 1e-9):
        return
    cum = np.cumsum(need.T.reshape(-1))
    j = int(np.argmax(cum > wp.budget * (1 + 1e-9)))
    tj, aj = divmod(j, wp.n)
    names = sorted({o for o in owner.reshape(-1) if o})
    raise InfeasibleError(
        f"spend fixed by {format_labels(names)}{why} adds up to {total:,.2f}, above the "
        f"window's budget {wp.budget:,.2f}; it passes the budget at {_cell_text(wp, aj, tj)} "
        f"({owner[aj, tj] or 'no constraint'}). Raise the budget or lower the locked amounts.",
        conflicts=[*names, "budget"],
    )


@dataclass
class OnOffCells:
    """The asset-weeks with an on/off minimum that the search decides.

    Attributes
    ----------
    a, t : ndarray
        Asset and week positions (one entry per asset-week, weeks from ``start`` on).
    m : ndarray
        The minimum of each (the largest when several constraints select it).
    owner : list of str
        The constraint that sets each minimum.
    on, off : ndarray of bool
        Asset-weeks forced on (another constraint bounds them below) or off (dark weeks, a
        zero cap, or a minimum above what is left of the budget in a re-plan).
    notes : list of str
    """

    a: np.ndarray
    t: np.ndarray
    m: np.ndarray
    owner: list[str]
    on: np.ndarray
    off: np.ndarray
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.a)


def _selected(wp: Any, start: int = 0) -> Iterator[tuple[PeriodMinSpend, float, int, int]]:
    """``(constraint, minimum, asset, week)`` of every on/off asset-week from ``start`` on."""
    for c in wp.constraints:
        if isinstance(c, PeriodMinSpend):
            m = c.minimum()
            aa, tt = c.cells(wp, start)
            for a, t in zip(aa.tolist(), tt.tolist(), strict=True):
                yield c, m, a, t


def _cell_text(wp: Any, a: int, t: int) -> str:
    return f"{week_text(wp.periods[t])}, asset {wp.index[a]!r}"


def on_off_cells(wp: Any, start: int = 0, fixed: np.ndarray | None = None) -> OnOffCells:
    """The on/off asset-weeks of ``wp`` from week ``start`` on, checked against the other rules.

    Raises
    ------
    InfeasibleError
        A minimum above the window's budget, above a positive weekly cap of the asset-week, or
        forced spend (actuals, locks, floors and the minimums of asset-weeks forced on) above
        the budget; each naming the week and the asset.
    """
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for c, m, a, t in _selected(wp, start):
        if (a, t) not in best or m > best[(a, t)][0]:
            best[(a, t)] = (m, c.name)
    keys = sorted(best, key=lambda k: (k[1], k[0]))
    a = np.array([k[0] for k in keys], dtype=int)
    t = np.array([k[1] for k in keys], dtype=int)
    m = np.array([best[k][0] for k in keys], dtype=float)
    owner = [best[k][1] for k in keys]
    lo, lo_owner, hi, hi_owner = forced_bounds(wp, start, fixed)
    tiny = 1e-12 * wp.budget
    off = hi[a, t] <= tiny
    on = (lo[a, t] > tiny) & ~off
    notes: list[str] = []
    remaining = wp.budget - (0.0 if fixed is None or start == 0 else float(fixed[:, :start].sum()))
    for k in range(len(a)):
        if off[k]:
            continue
        where = _cell_text(wp, a[k], t[k])
        if hi[a[k], t[k]] < m[k] * (1 - ON_TOL):
            raise InfeasibleError(
                f"on/off minimum '{owner[k]}': {where} must spend 0 or at least {m[k]:,.2f}, "
                f"but '{hi_owner[a[k], t[k]]}' caps it at {hi[a[k], t[k]]:,.2f}; lower the "
                "minimum, raise the cap, or make the week dark (DarkWeeks).",
                conflicts=[owner[k], str(hi_owner[a[k], t[k]])],
            )
        if m[k] > wp.budget * (1 + 1e-9):
            raise InfeasibleError(
                f"on/off minimum '{owner[k]}': {where} must spend 0 or at least {m[k]:,.2f}, "
                f"above the window's budget {wp.budget:,.2f}; lower the minimum or raise the "
                "budget.",
                conflicts=[owner[k], "budget"],
            )
        if m[k] > remaining * (1 + 1e-9) and not on[k]:
            off[k] = True
            notes.append(f"{where}: the minimum {m[k]:,.2f} of '{owner[k]}' is above what is "
                         f"left of the budget ({remaining:,.2f}), so it stays off.")
    # spend that is forced: actuals, single-week floors and locks, minimums of forced-on weeks
    need = lo.copy()
    need_owner = lo_owner.copy()
    for k in np.flatnonzero(on):
        if m[k] > need[a[k], t[k]]:
            need[a[k], t[k]] = m[k]
            need_owner[a[k], t[k]] = owner[k]
    check_forced_spend(wp, need, need_owner,
                       " (asset-weeks that must be on spend at least their minimum)")
    return OnOffCells(a, t, m, owner, on, off, notes)


class OnOffProgram(WindowProgram):
    """The window's program with a lower and an upper bound per on/off asset-week.

    The bounds are cvxpy Parameters: the program compiles once (DPP) and each node of the
    search is one solve. Same arguments as :class:`WindowProgram`, plus the cells.
    """

    def __init__(self, wp: Any, cells: OnOffCells, **kwargs: Any) -> None:
        super().__init__(wp, **kwargs)
        self.cells = cells
        idx = cells.a * wp.T + cells.t
        self.cell_index = idx
        self.cell_scale = self.col_scale[idx]
        self.cell_lo = cp.Parameter(len(idx), nonneg=True, name="on_off_lower")
        self.cell_hi = cp.Parameter(len(idx), nonneg=True, name="on_off_upper")
        # no upper bound: the whole budget (x >= 0 and the budget row already imply it)
        self.no_cap = wp.budget / self.cell_scale
        self.set_bounds(np.zeros(len(idx)), self.no_cap * self.cell_scale)
        self.constraints.append(self.x[idx] >= self.cell_lo)
        self.constraints.append(self.x[idx] <= self.cell_hi)
        self.problem = cp.Problem(cp.Maximize(self.objective), self.constraints)

    def set_bounds(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Bounds of the on/off asset-weeks in money (``hi`` at most the budget)."""
        self.cell_lo.value = np.asarray(lo, dtype=float) / self.cell_scale
        self.cell_hi.value = np.minimum(np.asarray(hi, dtype=float) / self.cell_scale,
                                        self.no_cap)

    def model_value(self) -> float:
        """The program's objective at the last solve, in outcome units."""
        return float(self.problem.value) * float(self.obj_scale)


@dataclass
class OnOffSearch:
    """Outcome of the branch and bound over the on/off asset-weeks.

    Attributes
    ----------
    status : str
        ``"optimal"`` (the plan is within ``gap`` of the optimum, proven), ``"time_limit"`` (a
        node or time limit was hit; ``gap`` is the proven gap of the plan kept) or
        ``"infeasible"``.
    objective : float
        The program's objective (outcome units) at the best plan.
    bound : float
        Proven upper bound on the objective of any plan meeting the minimums.
    gap : float
        ``(bound - objective) / |objective|`` (0 when proven optimal to the tolerance).
    root_bound : float
        Objective of the relaxation (the window without the minimums).
    nodes, solves : int
        Nodes expanded and convex programs solved.
    elapsed : float
        Seconds.
    spend : ndarray (n, T) or None
        The best plan (money), every on/off asset-week exactly 0 or at least its minimum.
    solver : str
    requested_gap : float
    root_spend : ndarray (n, T) or None
        The relaxed plan (the window without the minimums).
    inaccurate : int
        Node solves the solver marked inaccurate (their bounds are used as they are).
    """

    status: str
    objective: float
    bound: float
    gap: float
    root_bound: float
    nodes: int
    solves: int
    elapsed: float
    spend: np.ndarray | None
    solver: str
    requested_gap: float = DEFAULT_GAP
    root_spend: np.ndarray | None = None
    inaccurate: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The numbers as a plain dict (for tables and reports)."""
        return {"status": self.status, "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "requested_gap": self.requested_gap,
                "root_bound": self.root_bound, "nodes": self.nodes, "solves": self.solves,
                "inaccurate_solves": self.inaccurate, "elapsed": self.elapsed}


def _rel_gap(bound: float, value: float) -> float:
    return max(bound - value, 0.0) / max(abs(value), 1e-12)


def search_on_off(
    wp: Any, cells: OnOffCells, *, solver: str | None = None, gap: float = DEFAULT_GAP,
    node_limit: int | None = DEFAULT_NODE_LIMIT, time_limit: float | None = DEFAULT_TIME_LIMIT,
    heuristic_every: int = 10, **program: Any,
) -> tuple[OnOffProgram, OnOffSearch]:
    """Best-first branch and bound over the on/off asset-weeks of a window.

    Parameters
    ----------
    wp : WindowProblem
    cells : OnOffCells
        From :func:`on_off_cells`.
    solver : str, optional
    gap : float, default DEFAULT_GAP
        Relative gap at which the search stops.
    node_limit : int, optional
        Nodes expanded at most.
    time_limit : float, optional
        Seconds at most.
    heuristic_every : int, default 10
        Round the relaxed plan into a whole on/off pattern at the root and every this many
        nodes.
    **program
        Arguments of :class:`WindowProgram` (``start``, ``fixed``, ``flat``, ``reference``,
        ``max_move``).

    Returns
    -------
    (OnOffProgram, OnOffSearch)
        The program (its root solve tells the caller why nothing is feasible) and the search.
    """
    t0 = time.perf_counter()
    prog = OnOffProgram(wp, cells, **program)
    k = len(cells)
    m = cells.m
    big = np.full(k, wp.budget)
    lo0 = np.where(cells.on, m, 0.0)
    hi0 = np.where(cells.off, 0.0, big)
    solves = 0
    used = solver or "CLARABEL"
    inaccurate = 0

    def node(lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray] | None:
        nonlocal solves, used, inaccurate
        prog.set_bounds(lo, hi)
        with warnings.catch_warnings():
            # a node marked inaccurate still bounds its subtree; the final plan is verified
            warnings.simplefilter("ignore", InaccurateSolutionWarning)
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            status, x, used = prog.solve(solver, reuse=True)
        solves += 1
        inaccurate += status == OPTIMAL_INACCURATE
        if x is None:
            if status != INFEASIBLE:
                raise SolverError(
                    f"a node of the on/off search of '{wp.name}' could not be solved ({status} "
                    f"with {used}); try solver='SCS'."
                )
            return None
        return prog.model_value(), x

    def cell_values(x: np.ndarray) -> np.ndarray:
        return x[cells.a, cells.t]

    def fractional(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """How far each undecided asset-week is from {0} U [m, inf) (0 where it is fine)."""
        v = cell_values(x)
        free = (lo < m) & (hi > 0)
        bad = free & (v > OFF_TOL * m) & (v < (1 - ON_TOL) * m)
        return np.where(bad, np.minimum(v, m - v) / m, 0.0)

    def snap(x: np.ndarray) -> np.ndarray:
        """Asset-weeks at solver noise above 0 set to exactly 0."""
        x = x.copy()
        v = cell_values(x)
        x[cells.a, cells.t] = np.where(v <= OFF_TOL * m, 0.0, v)
        return x

    best_val, best_x = -np.inf, None

    def consider(val: float, x: np.ndarray) -> None:
        nonlocal best_val, best_x
        if val > best_val:
            best_val, best_x = val, snap(x)

    def rounded(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        v = cell_values(x)
        for cut in (0.5, OFF_TOL):
            on = ((v >= cut * m) | (lo >= m)) & (hi > 0)
            res = node(np.where(on, m, 0.0), np.where(on, hi, 0.0))
            if res is not None:
                consider(*res)
                return

    def threshold() -> float:
        return best_val + gap * max(abs(best_val), 1e-12)

    root = node(lo0, hi0)
    if root is None:
        return prog, OnOffSearch(INFEASIBLE, -np.inf, -np.inf, np.inf, -np.inf, 0, solves,
                                 time.perf_counter() - t0, None, used, gap)
    root_bound = root[0]
    tie = itertools.count()
    heap: list[tuple[float, int, np.ndarray, np.ndarray, np.ndarray]] = []
    if fractional(root[1], lo0, hi0).any():
        heapq.heappush(heap, (-root_bound, next(tie), lo0, hi0, root[1]))
    else:
        consider(*root)
    nodes = 0
    pruned = -np.inf
    status = OPTIMAL
    while heap:
        bound = -heap[0][0]
        if best_x is not None and bound <= threshold():
            break
        if (node_limit is not None and nodes >= node_limit) or (
                time_limit is not None and time.perf_counter() - t0 > time_limit):
            status = TIME_LIMIT
            break
        negval, _, lo, hi, x = heapq.heappop(heap)
        val = -negval
        nodes += 1
        if nodes == 1 or (heuristic_every and nodes % heuristic_every == 0):
            rounded(x, lo, hi)
        frac = fractional(x, lo, hi)
        j = int(np.argmax(frac))  # the asset-week farthest from {0} U [m, inf)
        for child in ("off", "on"):
            lo_c, hi_c = lo.copy(), hi.copy()
            if child == "off":
                hi_c[j] = 0.0
            else:
                lo_c[j] = m[j]
            res = node(lo_c, hi_c)
            if res is None:
                continue
            cval = min(res[0], val)
            if best_x is not None and cval <= threshold():
                pruned = max(pruned, cval)
                continue
            if fractional(res[1], lo_c, hi_c).any():
                heapq.heappush(heap, (-cval, next(tie), lo_c, hi_c, res[1]))
            else:
                consider(res[0], res[1])
    open_bound = max((-h[0] for h in heap), default=-np.inf)
    if best_x is None:
        final = TIME_LIMIT if status == TIME_LIMIT else INFEASIBLE
        return prog, OnOffSearch(final, -np.inf, open_bound if heap else -np.inf, np.inf,
                                 root_bound, nodes, solves, time.perf_counter() - t0, None, used,
                                 gap, root[1], inaccurate)
    bound = max(open_bound, pruned, best_val)
    bound = min(bound, root_bound) if np.isfinite(root_bound) else bound
    bound = max(bound, best_val)
    return prog, OnOffSearch(status, best_val, bound, _rel_gap(bound, best_val), root_bound,
                             nodes, solves, time.perf_counter() - t0, best_x, used, gap, root[1],
                             inaccurate)


def on_off_violations(wp: Any, c: PeriodMinSpend, x: np.ndarray, start: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """How far each selected asset-week of ``c`` is from ``{0} U [m, inf)`` at plan ``x``.

    Returns
    -------
    violation, a, t, m
        Money per selected asset-week (0 where it holds), their positions and the minimum.
    """
    m = c.minimum()
    aa, tt = c.cells(wp, start)
    v = np.asarray(x, dtype=float)[aa, tt]
    viol = np.where((v > 0) & (v < m), np.minimum(v, m - v), 0.0)
    return viol, aa, tt, m


def on_off_table(wp: Any, x: np.ndarray, start: int = 0) -> pd.DataFrame:
    """One row per on/off asset-week: week, asset, minimum, spend, on, constraint."""
    rows = []
    for c, m, a, t in _selected(wp, start):
        v = float(x[a, t])
        rows.append({"week": wp.periods[t], "asset": wp.index[a], "minimum": m, "spend": v,
                     "on": bool(v > 0), "constraint": c.name})
    cols = ["week", "asset", "minimum", "spend", "on", "constraint"]
    return pd.DataFrame(rows, columns=cols)
