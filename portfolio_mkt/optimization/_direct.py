"""Clarabel called directly on the conic form of a linear-return program (no cvxpy on the way).

A program whose return is linear and whose constraints are all linear rows (budget, bounds,
locks, group floors and caps, rosters, shift limits, an outcome target) is the QP

    minimise  1/2 w' P w + q' w   subject to   A w + s = b,  s in {0}^m1 x R+^m2

on the budget shares ``w``. :class:`DirectQP` assembles ``P``, ``q``, ``A``, ``b`` from the same
:class:`~portfolio_mkt.constraints.LinearRows` the cvxpy program is built from, in the same row
order and with the same objective scaling, so its answer, objective and duals are those the
cvxpy program would have (the duals in cvxpy's sign convention, per named constraint). What
cvxpy would spend canonicalising -- seconds for a dense 2,000-asset covariance, most of a
small problem's solve -- is skipped; the covariance part of ``P`` and the row structure are
built once per compiled program and only ``q``, ``b`` and the weight of ``P`` follow a re-solve.

A factor covariance ``F F' + diag(d)`` enters with auxiliary variables ``y = F' w`` so that
``P`` stays sparse (``n + k`` variables, never ``n x n``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._raw import RawResult, silence_highs_banner

__all__ = ["DirectQP", "direct_eligible"]

#: cvxpy's status words for Clarabel's statuses (the words cvxpy's own interface uses)
_STATUS = {
    "Solved": "optimal",
    "AlmostSolved": "optimal_inaccurate",
    "PrimalInfeasible": "infeasible",
    "AlmostPrimalInfeasible": "infeasible_inaccurate",
    "DualInfeasible": "unbounded",
    "AlmostDualInfeasible": "unbounded_inaccurate",
    "MaxIterations": "user_limit",
    "MaxTime": "user_limit",
}


def direct_eligible(program: Any) -> tuple[bool, str]:
    """Whether ``program`` can be solved by :class:`DirectQP`, and why not when it cannot."""
    from ..terms import LinearReturn

    p = program.problem
    if program.relax:
        return False, "the infeasibility relaxation"
    if not isinstance(program.term, LinearReturn):
        return False, "response curves or halo effects (not a linear return)"
    if program.has_risk_target:
        return False, "a risk limit (a second-order cone)"
    kind = type(p.risk_model).__name__
    if kind not in ("DenseRisk", "FactorRisk", "NoRisk"):
        return False, f"risk model {kind}"
    missing = [c.name for c in p.constraints if c.name not in program.linear_rows]
    if missing:
        return False, f"constraint(s) {missing} are not plain linear rows"
    return True, ""


def _triangle(a: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One triangle of the dense symmetric ``a`` by columns: ``(indptr, indices, values)``.

    ``upper``: column ``j`` holds rows ``0..j`` (Clarabel's form); otherwise rows ``j..n-1``
    (HiGHS's). Indexed straight from NumPy, in 32-bit integers; exact zeros are left out.
    """
    n = a.shape[0]
    if upper:
        col, row = np.tril_indices(n)  # sorted by column, then row: (column i, row j <= i)
    else:
        col, row = np.triu_indices(n)  # (column j, row i >= j)
    data = a[row, col]
    keep = data != 0.0
    if not keep.all():
        col, row, data = col[keep], row[keep], data[keep]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(col, minlength=n), out=indptr[1:])
    return indptr, row.astype(np.int32), np.ascontiguousarray(data, dtype=float)


class _Rows:
    """Sparse rows on ``w`` as triplets (row, column, value), ``m`` rows."""

    def __init__(self, r: np.ndarray, c: np.ndarray, v: np.ndarray, m: int) -> None:
        self.r, self.c, self.v, self.m = r, c, np.asarray(v, dtype=float), int(m)

    @classmethod
    def dense(cls, a: np.ndarray) -> _Rows:
        a = np.asarray(a, dtype=float)
        r, c = np.nonzero(a)
        return cls(r, c, a[r, c], a.shape[0])

    @classmethod
    def full(cls, value: float, n: int) -> _Rows:
        """One row with ``value`` in every one of ``n`` columns."""
        return cls(np.zeros(n, dtype=np.int64), np.arange(n), np.full(n, value), 1)

    @classmethod
    def select(cls, assets: np.ndarray) -> _Rows:
        assets = np.asarray(assets, dtype=np.int64)
        return cls(np.arange(len(assets)), assets, np.ones(len(assets)), len(assets))


@dataclass
class _Block:
    """One compiled row block: ``owner``'s rows ``coef @ w (sense) rhs``."""

    owner: str
    sense: str  # "eq", "le", "ge"
    coef: _Rows  # rows on w (n columns)
    money: np.ndarray  # right-hand side in money (or shares, see ``scale``)
    scale: str  # "money": rhs = money / budget; "fixed": rhs = money / compile budget;
    #             "one": rhs = money (already shares); "outcome": rhs = min_outcome / budget
    rows: np.ndarray | None = None  # filled in: the block's row positions in A
    assets: np.ndarray | None = None  # per-asset rows (one asset each): their assets


class DirectQP:
    """The conic QP of a compiled :class:`Program`, solved by Clarabel's own Python API.

    Parameters
    ----------
    program : Program
        A compiled program for which :func:`direct_eligible` holds.
    """

    def __init__(self, program: Any) -> None:
        self.program = program
        p = program.problem
        n = p.n_assets
        self.n = n
        blocks: list[_Block] = []
        budget_sense = "eq" if p.budget_mode == "exact" else "le"
        blocks.append(_Block("budget", budget_sense, _Rows.full(1.0, n),
                             np.array([1.0]), "one"))
        for c in p.constraints:
            rows = program.linear_rows[c.name]
            scale = "fixed" if rows.unit == "share" else "money"
            if rows.assets is not None:
                sides = ([(np.ones(len(rows.assets), dtype=bool), "eq", rows.lower)]
                         if rows.equal else
                         [(np.isfinite(rows.lower), "ge", rows.lower),
                          (np.isfinite(rows.upper), "le", rows.upper)])
                for keep, sense, bound in sides:
                    if keep.any():
                        blocks.append(_Block(c.name, sense, _Rows.select(rows.assets[keep]),
                                             np.asarray(bound[keep], float), scale,
                                             assets=np.asarray(rows.assets[keep], np.int64)))
                continue
            for i in range(rows.coef.shape[0]):
                a = _Rows.dense(rows.coef[i:i + 1])
                if rows.equal:
                    blocks.append(_Block(c.name, "eq", a, rows.lower[i:i + 1].astype(float),
                                         scale))
                    continue
                if np.isfinite(rows.lower[i]):
                    blocks.append(_Block(c.name, "ge", a, rows.lower[i:i + 1].astype(float),
                                         scale))
                if np.isfinite(rows.upper[i]):
                    blocks.append(_Block(c.name, "le", a, rows.upper[i:i + 1].astype(float),
                                         scale))
        self.has_outcome = program.has_outcome_target
        if self.has_outcome:
            # the row's coefficients are the expected returns: written in at each solve
            blocks.append(_Block("min_outcome", "ge", _Rows.full(-1.0, n),
                                 np.zeros(1), "outcome"))
        self.blocks = blocks
        self.compile_budget = p.budget
        # risk: P's covariance part, scaled per solve (its sparse forms built when first used)
        arrays = p.risk_model.arrays()
        self._dense_cov = arrays.get("dense")
        self._factor = arrays.get("factor")
        self._specific = arrays.get("specific")
        self.k = 0 if self._factor is None else int(self._factor.shape[1])
        self.nv = n + self.k
        self._sigma: sp.csc_matrix | None = None
        self._lower: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._cone_built = False
        self._highs: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the two forms
    @property
    def sigma(self) -> sp.csc_matrix | None:
        """The covariance part of ``P``: upper triangle by columns (Clarabel's form)."""
        if self._sigma is None:
            if self._dense_cov is not None:
                indptr, indices, values = _triangle(self._dense_cov, upper=True)
                self._sigma = sp.csc_matrix((values, indices, indptr),
                                            shape=self._dense_cov.shape)
            elif self._factor is not None:
                self._sigma = sp.diags(np.concatenate([self._specific, np.ones(self.k)]),
                                       format="csc")
        return self._sigma

    @property
    def A(self) -> sp.csc_matrix:  # noqa: N802 - the cone form's matrix
        """The cone form's row matrix (built on first use)."""
        self._cone()
        return self._A

    @property
    def m(self) -> int:
        """Rows of the cone form."""
        self._cone()
        return self._m

    @property
    def n_eq(self) -> int:
        """Equality rows of the cone form (they come first)."""
        self._cone()
        return self._n_eq

    @property
    def long_only_rows(self) -> np.ndarray:
        """The cone form's rows of ``w >= 0``."""
        self._cone()
        return self._long_only_rows

    def _cone(self) -> None:
        """Assemble ``A`` of the cone form: [eq blocks; factor links; long-only; ineq blocks]."""
        if self._cone_built:
            return
        n = self.n
        ri: list[np.ndarray] = []
        ci: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        pos = 0

        def put(rows: _Rows, sign: float) -> np.ndarray:
            nonlocal pos
            ri.append(rows.r + pos)
            ci.append(rows.c)
            vals.append(sign * rows.v)
            out = np.arange(pos, pos + rows.m)
            pos += rows.m
            return out

        for blk in self.blocks:
            if blk.sense == "eq":
                blk.rows = put(blk.coef, 1.0)
        if self.k:
            put(self._link_rows(), 1.0)
            ri.append(pos - self.k + np.arange(self.k))
            ci.append(n + np.arange(self.k))
            vals.append(-np.ones(self.k))
        self._n_eq = pos
        self._long_only_rows = put(_Rows.select(np.arange(n)), -1.0)
        for blk in self.blocks:
            if blk.sense != "eq":
                blk.rows = put(blk.coef, -1.0 if blk.sense == "ge" else 1.0)
        self._m = pos
        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                          shape=(pos, self.nv))
        A.sum_duplicates()
        self._A = A
        self._cone_built = True
        if self.has_outcome:
            self._outcome_slots = self._row_slots(int(self.blocks[-1].rows[0]), n)

    def _link_rows(self) -> _Rows:
        """``F' w`` (the factor exposures) as ``k`` rows on ``w``."""
        ft = self._factor.T
        kk, jj = np.nonzero(ft)
        return _Rows(kk, jj, ft[kk, jj], self.k)

    def _row_slots(self, row: int, n: int) -> np.ndarray:
        """Positions in ``A.data`` of row ``row``'s first ``n`` columns (CSC order)."""
        A = self.A
        slots = np.empty(n, dtype=np.int64)
        for j in range(n):
            lo, hi = A.indptr[j], A.indptr[j + 1]
            k = lo + int(np.searchsorted(A.indices[lo:hi], row))
            slots[j] = k
        return slots

    # ------------------------------------------------------------------ data of one solve
    def risk_weight(self) -> float:
        """The weight of the covariance block of ``P`` at the program's current values."""
        prog = self.program
        kind = prog.objective_kind
        if kind == "min_risk":
            return 2.0 * prog.var_scale
        if kind == "utility":
            return prog.obj_scale * prog._delta
        return 0.0

    def hessian_lower(self, weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The lower triangle of ``P`` by columns (HiGHS's form): ``(indptr, indices, values)``.

        The pattern is built once (in HiGHS's integer type), the values scaled per solve.
        """
        if weight == 0.0 or (self._dense_cov is None and self._factor is None):
            return None
        if self._lower is None:
            if self._dense_cov is not None:
                self._lower = _triangle(self._dense_cov, upper=False)
            else:
                low = self.sigma
                self._lower = (low.indptr.astype(np.int32), low.indices.astype(np.int32),
                               np.asarray(low.data, dtype=float))
        indptr, indices, values = self._lower
        return indptr, indices, values * weight

    def data(self, problem: Any) -> tuple[sp.csc_matrix, np.ndarray, sp.csc_matrix, np.ndarray]:
        """``P, q, A, b`` for ``problem`` (a problem the program represents)."""
        self._cone()
        mu = np.asarray(problem.return_term.mu, dtype=float)
        q = self.linear_cost(problem)
        weight = self.risk_weight()
        if self.sigma is None or weight == 0.0:
            P = sp.csc_matrix((self.nv, self.nv))
        else:
            P = self.sigma * weight
        b = np.zeros(self.m)
        for blk, rhs in zip(self.blocks, self.right_sides(problem), strict=True):
            b[blk.rows] = -rhs if blk.sense == "ge" else rhs
        A = self.A
        if self.has_outcome:
            A = A.copy()
            A.data[self._outcome_slots] = -mu
        return P, q, A, b

    def linear_cost(self, problem: Any) -> np.ndarray:
        """``q`` for ``problem``: minus the scaled expected returns (zero for minimum risk)."""
        prog = self.program
        q = np.zeros(self.nv)
        kind = prog.objective_kind
        if kind == "utility":
            q[:self.n] = -prog.obj_scale * np.asarray(problem.return_term.mu, dtype=float)
        elif kind != "min_risk":  # max_return
            q[:self.n] = -prog.ret_scale * np.asarray(problem.return_term.mu, dtype=float)
        return q

    def right_sides(self, problem: Any) -> list[np.ndarray]:
        """Each block's right-hand side in shares, in its own sense (``coef @ w (sense) rhs``)."""
        budget = float(problem.budget)
        out = []
        for blk in self.blocks:
            if blk.scale == "one":
                rhs = blk.money
            elif blk.scale == "fixed":
                rhs = blk.money / self.compile_budget
            elif blk.scale == "money":
                rhs = blk.money / budget
            else:
                rhs = np.array([float(problem.min_outcome) / budget])
            out.append(np.asarray(rhs, dtype=float))
        return out

    def cones(self) -> list[Any]:
        """Clarabel's cones: the equalities, then the inequalities."""
        import clarabel

        out = []
        if self.n_eq:
            out.append(clarabel.ZeroConeT(self.n_eq))
        out.append(clarabel.NonnegativeConeT(self.m - self.n_eq))
        return out

    def solve(self, problem: Any, settings: dict[str, Any] | None = None) -> RawResult:
        """Solve for ``problem``; never raises for solver trouble (the status says it)."""
        import clarabel

        opts = clarabel.DefaultSettings()
        opts.verbose = False
        for key, value in (settings or {}).items():
            if hasattr(opts, key):
                setattr(opts, key, value)
        t0 = time.perf_counter()
        P, q, A, b = self.data(problem)
        try:
            sol = clarabel.DefaultSolver(P, q, A, b, self.cones(), opts).solve()
            status = _STATUS.get(str(sol.status).split(".")[-1], "solver_error")
            message = "" if status != "solver_error" else str(sol.status)
        except Exception as exc:  # noqa: BLE001 - the solver's own errors become a status
            sol = None
            status = "solver_error"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        elapsed = time.perf_counter() - t0
        w = None
        objective = None
        raw = RawResult(status=status, solver="CLARABEL", w=None, objective=None,
                        solve_time=elapsed, message=message, route="direct")
        if sol is None or status not in ("optimal", "optimal_inaccurate", "user_limit"):
            return raw
        x = np.asarray(sol.x, dtype=float)
        if not np.all(np.isfinite(x)):
            raw.status = "solver_error"
            raw.message = "non-finite solution"
            return raw
        w = x[:self.n].copy()
        value = 0.5 * float(x @ (P @ x + P.T @ x - P.diagonal() * x)) + float(q @ x) \
            if P.nnz else float(q @ x)
        objective = -value if self.program.sense == "max" else value
        raw.w = w
        raw.objective = objective
        if status in ("optimal", "optimal_inaccurate"):
            z = np.asarray(sol.z, dtype=float)
            for blk in self.blocks:
                raw.duals.setdefault(blk.owner, []).append((blk.sense, z[blk.rows].copy()))
            raw.long_only_dual = z[self.long_only_rows].copy()
        return raw


_HIGHS_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded",
    "kTimeLimit": "user_limit",
    "kIterationLimit": "user_limit",
    "kSolutionLimit": "user_limit",
    "kObjectiveBound": "user_limit",
    "kObjectiveTarget": "user_limit",
}


def _highs_rows(qp: DirectQP) -> dict[str, Any]:
    """The HiGHS model's fixed structure, built once per :class:`DirectQP`.

    Per-asset blocks (long-only, bounds, locks, shift limits, rosters) become column bounds --
    the active set handles a bound at no cost, a row at the cost of a working-set row; the
    other blocks are rows in their own sense (``>=`` rows are not negated as in the cone form),
    followed by the factor links ``F'w - y = 0``.
    """
    if qp._highs is not None:
        return qp._highs
    n, nv, k = qp.n, qp.nv, qp.k
    ri: list[np.ndarray] = []
    ci: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    spans: dict[int, np.ndarray] = {}
    pos = 0
    for bi, blk in enumerate(qp.blocks):
        if blk.assets is not None:
            continue
        coef = blk.coef
        ri.append(coef.r + pos)
        ci.append(coef.c)
        vals.append(coef.v)
        spans[bi] = np.arange(pos, pos + coef.m)
        pos += coef.m
    n_block_rows = pos
    if k:
        link = qp._link_rows()
        ri.extend([link.r + pos, pos + np.arange(k)])
        ci.extend([link.c, n + np.arange(k)])
        vals.extend([link.v, -np.ones(k)])
        pos += k
    r = np.concatenate(ri) if ri else np.zeros(0, dtype=np.int64)
    c = np.concatenate(ci) if ci else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    # by columns, straight from NumPy (each (row, column) pair occurs once: a block's rows are
    # its own and the blocks are stacked)
    order = np.lexsort((r, c))
    indptr = np.zeros(nv + 1, dtype=np.int32)
    np.cumsum(np.bincount(c, minlength=nv), out=indptr[1:])
    out: dict[str, Any] = {"n_rows": pos, "indptr": indptr,
                           "indices": r[order].astype(np.int32), "values": v[order],
                           "spans": spans, "n_block_rows": n_block_rows}
    if qp.has_outcome:
        # the outcome row's coefficients are the expected returns, written in at each solve
        # (its coefficients placeholder -1 in every column: all n positions are stored)
        row = int(spans[len(qp.blocks) - 1][0])
        out["outcome_slots"] = np.flatnonzero(out["indices"] == row)
    qp._highs = out
    return out


#: one HiGHS instance per thread, cleared and reset before each use (creating one costs more
#: than a small LP's solve)
_HIGHS = threading.local()


def highs_instance(highspy: Any) -> Any:
    """The HiGHS instance of the calling thread, its model cleared, its options at defaults."""
    h = getattr(_HIGHS, "instance", None)
    if h is None:
        h = _HIGHS.instance = highspy.Highs()
    else:
        h.clearModel()
        h.resetOptions()
    h.setOptionValue("output_flag", False)
    return h


def solve_highs(qp: DirectQP, problem: Any, settings: dict[str, Any] | None = None
                ) -> RawResult:
    """Solve ``qp`` for ``problem`` with highspy (simplex for an LP, active set for a QP).

    The model is passed in one call as NumPy arrays (setting HiGHS's model attributes converts
    every entry through Python: 13 ms for a 300-asset covariance). HiGHS's row and column
    duals are turned into cvxpy's sign convention (a non-negative dual per inequality of a
    maximisation, as :class:`DirectQP` returns). Never raises for solver trouble (the status
    says it).
    """
    import highspy

    silence_highs_banner()
    t0 = time.perf_counter()
    n, nv = qp.n, qp.nv
    blocks = qp.blocks
    q = qp.linear_cost(problem)
    rhs = qp.right_sides(problem)
    st = _highs_rows(qp)
    inf = highspy.kHighsInf
    col_lo = np.zeros(nv)
    col_lo[n:] = -inf
    col_hi = np.full(nv, inf)
    lo_owner = np.full(n, -1)  # -1: long-only
    hi_owner = np.full(n, -1)  # -1: none
    for bi, blk in enumerate(blocks):
        if blk.assets is None:
            continue
        a, v = blk.assets, rhs[bi]
        if blk.sense in ("ge", "eq"):
            better = (v > col_lo[a]) | ((v == col_lo[a]) & (lo_owner[a] == -1))
            col_lo[a[better]], lo_owner[a[better]] = v[better], bi
        if blk.sense in ("le", "eq"):
            better = (v < col_hi[a]) | ((v == col_hi[a]) & (hi_owner[a] == -1))
            col_hi[a[better]], hi_owner[a[better]] = v[better], bi
    n_rows = st["n_rows"]
    lower = np.full(n_rows, -inf)
    upper = np.full(n_rows, inf)
    for bi, span in st["spans"].items():
        sense = blocks[bi].sense
        if sense in ("ge", "eq"):
            lower[span] = rhs[bi]
        if sense in ("le", "eq"):
            upper[span] = rhs[bi]
    lower[st["n_block_rows"]:] = 0.0  # factor links
    upper[st["n_block_rows"]:] = 0.0
    values = st["values"]
    if qp.has_outcome:
        values = values.copy()
        values[st["outcome_slots"]] = np.asarray(problem.return_term.mu, dtype=float)
    low = qp.hessian_lower(qp.risk_weight())  # (indptr, indices, values) or None
    i32 = np.int32
    raw = RawResult(status="solver_error", solver="HIGHS", w=None, objective=None,
                    solve_time=0.0, route="direct")
    try:
        h = highs_instance(highspy)
        for key, value in (settings or {}).items():
            h.setOptionValue(key, value)
        no_i, no_v = np.zeros(0, i32), np.zeros(0)
        passed = h.passModel(
            int(nv), int(n_rows), len(values), 0 if low is None else len(low[2]),
            int(highspy.MatrixFormat.kColwise), int(highspy.HessianFormat.kTriangular),
            int(highspy.ObjSense.kMinimize), 0.0, q, col_lo, col_hi, lower, upper,
            st["indptr"], st["indices"], values,
            no_i if low is None else low[0], no_i if low is None else low[1],
            no_v if low is None else low[2],
            np.zeros(nv, dtype=i32))  # every column continuous
        if passed == highspy.HighsStatus.kError:
            raise ValueError("HiGHS rejected the model")
        h.run()
        name = str(h.getModelStatus()).split(".")[-1]
        status = _HIGHS_STATUS.get(name, "solver_error")
        raw.message = "" if status != "solver_error" else name
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        row_dual = np.asarray(sol.row_dual, dtype=float)
        col_dual = np.asarray(sol.col_dual, dtype=float)
        has_primal = bool(sol.value_valid) and x.size == nv and np.all(np.isfinite(x))
        value = float(h.getInfo().objective_function_value)
    except Exception as exc:  # noqa: BLE001 - the solver's own errors become a status
        _HIGHS.__dict__.pop("instance", None)  # a fresh instance next time
        raw.message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raw.solve_time = time.perf_counter() - t0
        return raw
    raw.status = status
    raw.solve_time = time.perf_counter() - t0
    if status not in ("optimal", "user_limit") or not has_primal:
        if status in ("optimal", "user_limit"):
            raw.status, raw.message = "solver_error", "no primal solution"
        return raw
    raw.w = x[:n].copy()
    raw.objective = -value if qp.program.sense == "max" else value
    if status == "optimal" and row_dual.size == n_rows and col_dual.size == nv:
        # HiGHS: the gradient equals A' y + d over the rows and columns as passed; the cone
        # form (cvxpy's) writes ">=" rows negated, and its dual of a row is -y of the row as
        # written there: -y for "<=" and "=" rows, +y for ">=" rows (passed un-negated here).
        # A column's dual d goes to the block owning the active bound: d > 0 at a lower bound
        # (a ">=" block: +d; an equality: -d), d < 0 at an upper bound
        duals = [np.zeros(len(rhs[bi])) for bi in range(len(blocks))]
        for bi, span in st["spans"].items():
            y = row_dual[span]
            duals[bi] = y.copy() if blocks[bi].sense == "ge" else -y
        d = col_dual[:n]
        lo_dual = np.where(d > 0, d, 0.0)
        for side, owner in ((d > 0, lo_owner), (d < 0, hi_owner)):
            for bi in np.unique(owner[side & (owner >= 0)]):
                blk = blocks[int(bi)]
                js = np.flatnonzero(side & (owner == bi))
                where = np.full(n, -1)
                where[blk.assets] = np.arange(len(blk.assets))
                duals[int(bi)][where[js]] = d[js] if blk.sense == "ge" else -d[js]
                if owner is lo_owner:
                    lo_dual[js] = 0.0
        for blk, dv in zip(blocks, duals, strict=True):
            raw.duals.setdefault(blk.owner, []).append((blk.sense, dv))
        raw.long_only_dual = lo_dual
    return raw
