"""Best-first branch and bound over the convex relaxation (Clarabel at every node).

A node fixes some on/off indicators ``z`` and narrows some unit counts ``u``. Its relaxation
value bounds every plan below it (the program is convex for fixed bounds). The search always
expands the open node with the largest bound, so the largest open bound is a proven upper
bound on the optimum; it stops when the incumbent is within the relative ``gap`` of it, or at
a time / node limit (status ``"time_limit"``, the incumbent and its proven gap are kept).

Incumbents come from leaves (every indicator and unit whole) and from rounding: the relaxed
plan's funded assets are kept, repaired against counting rules, fixed, and re-solved.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from ._relaxation import NodeSolution, Relaxation

__all__ = ["SearchResult", "branch_and_bound"]

_INT_TOL = 1e-6


@dataclass
class SearchResult:
    """Raw outcome of the search (share units)."""

    status: str
    incumbent: NodeSolution | None
    z: np.ndarray | None
    u: np.ndarray | None
    bound: float
    root_bound: float
    nodes: int
    solves: int
    elapsed: float
    log: list[tuple[float, int, float, float]] = field(default_factory=list)


@dataclass(order=True)
class _Node:
    key: float
    tie: int
    z_lo: np.ndarray = field(compare=False)
    z_hi: np.ndarray = field(compare=False)
    u_lo: np.ndarray = field(compare=False)
    u_hi: np.ndarray = field(compare=False)
    sol: NodeSolution = field(compare=False)
    depth: int = field(compare=False, default=0)


def _threshold(best: float, gap: float, floor: float) -> float:
    return best + gap * max(abs(best), floor)


def _fractional(rel: Relaxation, sol: NodeSolution, z_lo: np.ndarray, z_hi: np.ndarray
                ) -> tuple[str, int] | None:
    """The branching variable: the most fractional free indicator, then units."""
    binm = rel.rules.binary
    z = sol.z
    assert z is not None
    frac = np.where(binm & (z_lo < z_hi), np.minimum(z - np.floor(z), np.ceil(z) - z), 0.0)
    frac = np.where(frac > _INT_TOL, frac, 0.0)
    if frac.any():
        # prefer indicators whose asset carries much spend relative to its ticket
        score = frac * (1.0 + sol.w / max(sol.w.max(), 1e-12))
        return "z", int(np.argmax(score))
    if rel.u is not None and sol.u is not None and len(sol.u):
        u = sol.u
        fu = np.minimum(u - np.floor(u), np.ceil(u) - u)
        fu = np.where(fu > 1e-6 * np.maximum(1.0, np.abs(u)), fu, 0.0)
        if fu.any():
            return "u", int(np.argmax(fu))
    return None


def _round_pattern(rel: Relaxation, sol: NodeSolution, z_lo: np.ndarray, z_hi: np.ndarray
                   ) -> np.ndarray:
    """A whole on/off pattern near the relaxed plan, repaired against counting rules."""
    rules = rel.rules
    b = rel.budget
    assert sol.z is not None and sol.w is not None
    lower = np.maximum(rules.lower_on / b, 1e-12)
    score = np.maximum(sol.z, sol.w / lower)
    z = np.where(rules.binary, (score >= 0.5).astype(float), 1.0)
    z = np.clip(z, z_lo, z_hi)
    for _ in range(3):
        for _name, mask, lo, hi in rules.counts:
            idx = np.flatnonzero(mask)
            on = idx[z[idx] > 0.5]
            if hi is not None and len(on) > hi:
                order = on[np.argsort(-score[on])]
                drop = [i for i in order[hi:] if z_lo[i] < 0.5]
                z[drop] = 0.0
            on = idx[z[idx] > 0.5]
            if lo is not None and len(on) < lo:
                off = idx[(z[idx] < 0.5) & (z_hi[idx] > 0.5)]
                order = off[np.argsort(-score[off])]
                z[order[: lo - len(on)]] = 1.0
        for _name, a, then in rules.links:
            if z[a] > 0.5:
                z[then] = np.maximum(z[then], z_hi[then])
        # the tickets of the booked assets must fit in the budget
        need = float((rules.lower_on / b * z).sum())
        if need > 1.0:
            for i in np.argsort(score):
                if need <= 1.0:
                    break
                if rules.binary[i] and z[i] > 0.5 and z_lo[i] < 0.5:
                    z[i] = 0.0
                    need -= rules.lower_on[i] / b
    return z


def branch_and_bound(rel: Relaxation, exact: Relaxation | None = None, *, gap: float = 1e-4,
                     time_limit: float | None = None,
                     node_limit: int | None = None, stop_at_first: bool = False,
                     heuristic_every: int = 10) -> SearchResult:
    """Search for the best whole plan of the relaxation ``rel``.

    Parameters
    ----------
    rel : Relaxation
        The compiled relaxation (bounds).
    exact : Relaxation, optional
        The same program without perspectives, used to evaluate whole patterns exactly
        (indicators fixed at exactly 0 or 1); default ``rel``.
    gap : float, default 1e-4
        Relative optimality gap at which the search stops.
    time_limit : float, optional
        Seconds; the best plan found and its gap are returned when hit.
    node_limit : int, optional
        Largest number of nodes expanded.
    stop_at_first : bool, default False
        Stop at the first whole plan (feasibility checks).
    heuristic_every : int, default 10
        Try the rounding heuristic every this many nodes (and at the root).

    Returns
    -------
    SearchResult
    """
    t0 = time.perf_counter()
    exact = rel if exact is None else exact
    n = rel.problem.n_assets
    binm = rel.rules.binary
    z_lo = np.where(binm, 0.0, 1.0)
    z_hi = np.ones(n)
    k = 0 if rel.u is None else len(rel.card_idx)
    u_lo = np.zeros(k)
    u_hi = np.maximum(rel.u_max, 0.0) if k else np.zeros(0)
    tie = itertools.count()
    floor = 1e-9
    best: NodeSolution | None = None
    best_z: np.ndarray | None = None
    best_u: np.ndarray | None = None
    best_val = -np.inf
    log: list[tuple[float, int, float, float]] = []

    def out_of_time() -> bool:
        return time_limit is not None and time.perf_counter() - t0 > time_limit

    def consider(sol: NodeSolution, zf: np.ndarray, uf: np.ndarray | None) -> None:
        nonlocal best, best_val, best_z, best_u
        if sol.w is not None and sol.value > best_val:
            best, best_val = sol, sol.value
            best_z = zf.copy()
            best_u = None if uf is None else uf.copy()

    def evaluate(zf: np.ndarray, uf: np.ndarray | None, ul: np.ndarray, uh: np.ndarray
                 ) -> None:
        """Solve the exact program at a whole on/off pattern (and whole units) and keep it."""
        zf = np.where(binm, np.round(zf), 1.0)
        if not k:
            s1 = exact.solve(zf, zf, u_lo, u_hi)
            consider(s1, zf, None)
            return
        on = zf[exact.card_idx] > 0.5
        if uf is None:
            s1 = exact.solve(zf, zf, ul, uh)
            if s1.w is None or s1.u is None:
                return
            uf = np.floor(s1.u + 1e-7)
        for cand in (uf, np.round(uf), np.ceil(uf - 1e-7)):
            ur = np.where(on, np.clip(np.maximum(cand, 1.0), ul, uh), 0.0)
            s2 = exact.solve(zf, zf, ur, ur)
            if s2.w is not None:
                consider(s2, zf, ur)
                return

    def try_rounding(sol: NodeSolution, zl: np.ndarray, zh: np.ndarray, ul: np.ndarray,
                     uh: np.ndarray) -> None:
        before = best_val
        evaluate(_round_pattern(rel, sol, zl, zh), None, ul, uh)
        if best_val == before and sol.z is not None:
            # round down: keep only the indicators the relaxation sets to one
            zd = np.where(sol.z > 1 - 1e-6, 1.0, 0.0)
            evaluate(_round_pattern(rel, NodeSolution(sol.status, sol.value, sol.w * zd, zd,
                                                      sol.u), zl, zh), None, ul, uh)

    root = rel.solve(z_lo, z_hi, u_lo, u_hi)
    if root.w is None:
        return SearchResult(status="infeasible" if "infeasible" in root.status else "failed",
                            incumbent=None, z=None, u=None, bound=-np.inf, root_bound=-np.inf,
                            nodes=1, solves=rel.n_solves, elapsed=time.perf_counter() - t0)
    root_bound = root.value
    pruned = -np.inf  # largest bound of a node pruned against the incumbent
    heap: list[_Node] = [_Node(-root.value, next(tie), z_lo, z_hi, u_lo, u_hi, root)]
    nodes = 0
    status = "optimal"
    while heap:
        bound = -heap[0].key
        if best is not None and bound <= _threshold(best_val, gap, floor):
            pruned = max(pruned, bound)
            break
        if stop_at_first and best is not None:
            break
        if out_of_time() or (node_limit is not None and nodes >= node_limit):
            status = "time_limit"
            break
        node = heapq.heappop(heap)
        nodes += 1
        sol = node.sol
        if best is not None and sol.value <= _threshold(best_val, gap, floor):
            pruned = max(pruned, sol.value)
            continue
        br = _fractional(rel, sol, node.z_lo, node.z_hi)
        if br is None:
            pruned = max(pruned, sol.value)
            evaluate(sol.z, None if sol.u is None else np.round(sol.u), node.u_lo, node.u_hi)
            continue
        if nodes == 1 or (heuristic_every and nodes % heuristic_every == 0):
            try_rounding(sol, node.z_lo, node.z_hi, node.u_lo, node.u_hi)
        kind, i = br
        children = []
        if kind == "z":
            for val in (0.0, 1.0):
                zl, zh = node.z_lo.copy(), node.z_hi.copy()
                zl[i] = zh[i] = val
                children.append((zl, zh, node.u_lo, node.u_hi))
        else:
            ui = sol.u[i]
            ul, uh = node.u_lo.copy(), node.u_hi.copy()
            uh[i] = np.floor(ui)
            children.append((node.z_lo, node.z_hi, node.u_lo, uh))
            ul[i] = np.ceil(ui)
            children.append((node.z_lo, node.z_hi, ul, node.u_hi))
        for zl, zh, ul, uh in children:
            if (ul > uh + 1e-9).any():
                continue
            child = rel.solve(zl, zh, ul, uh)
            if child.w is None:
                continue
            child_val = min(child.value, sol.value)
            child.value = child_val if np.isfinite(child_val) else child.value
            if best is not None and child.value <= _threshold(best_val, gap, floor):
                pruned = max(pruned, child.value)
                continue
            if _fractional(rel, child, zl, zh) is None:
                pruned = max(pruned, child.value)
                evaluate(child.z, None if child.u is None else np.round(child.u), ul, uh)
                continue
            heapq.heappush(heap, _Node(-child.value, next(tie), zl, zh, ul, uh, child,
                                       node.depth + 1))
        if nodes % 25 == 0:
            log.append((time.perf_counter() - t0, nodes, best_val,
                        -heap[0].key if heap else best_val))
    open_bound = max((-nd.key for nd in heap), default=-np.inf)
    bound = max(open_bound, pruned, best_val) if best is not None else open_bound
    if best is None:
        status = "time_limit" if status == "time_limit" else "infeasible"
    elif stop_at_first and heap and bound > _threshold(best_val, gap, floor):
        status = "time_limit"
    return SearchResult(status=status, incumbent=best, z=best_z, u=best_u, bound=bound,
                        root_bound=root_bound, nodes=nodes, solves=rel.n_solves,
                        elapsed=time.perf_counter() - t0, log=log)
