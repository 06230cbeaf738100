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
        blocks.append(_Block("budget", budget_sense, _Rows.dense(np.ones((1, n))),
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
            blocks.append(_Block("min_outcome", "ge", _Rows.dense(-np.ones((1, n))),
                                 np.zeros(1), "outcome"))
        self.blocks = blocks
        self.compile_budget = p.budget
        # risk: P's covariance part, scaled per solve
        arrays = p.risk_model.arrays()
        self.k = 0
        if "dense" in arrays:
            self.sigma = sp.csc_matrix(np.triu(arrays["dense"]))
        elif "factor" in arrays:
            f, d = arrays["factor"], arrays["specific"]
            self.k = f.shape[1]
            self.sigma = sp.diags(np.concatenate([d, np.ones(self.k)]), format="csc")
        else:
            self.sigma = None
        self.nv = n + self.k
        # A (triplets): [eq blocks; factor link rows (eq); long-only; ineq blocks]
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

        for blk in blocks:
            if blk.sense == "eq":
                blk.rows = put(blk.coef, 1.0)
        if self.k:
            f = arrays["factor"]
            kk, jj = np.nonzero(f.T)
            put(_Rows(kk, jj, f.T[kk, jj], self.k), 1.0)
            ri.append(pos - self.k + np.arange(self.k))
            ci.append(n + np.arange(self.k))
            vals.append(-np.ones(self.k))
        self.n_eq = pos
        self.long_only_rows = put(_Rows.select(np.arange(n)), -1.0)
        for blk in blocks:
            if blk.sense != "eq":
                blk.rows = put(blk.coef, -1.0 if blk.sense == "ge" else 1.0)
        self.m = pos
        self.A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                               shape=(pos, self.nv))
        self.A.sum_duplicates()
        self._highs_rows: sp.csc_matrix | None = None
        self._highs_keep: np.ndarray | None = None
        if self.has_outcome:
            self._outcome_slots = self._row_slots(int(blocks[-1].rows[0]), n)

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
    def data(self, problem: Any) -> tuple[sp.csc_matrix, np.ndarray, sp.csc_matrix, np.ndarray]:
        """``P, q, A, b`` for ``problem`` (a problem the program represents)."""
        prog = self.program
        n = self.n
        mu = np.asarray(problem.return_term.mu, dtype=float)
        budget = float(problem.budget)
        q = np.zeros(self.nv)
        kind = prog.objective_kind
        weight = 0.0
        if kind == "min_risk":
            weight = 2.0 * prog.var_scale
        elif kind == "utility":
            weight = prog.obj_scale * prog._delta
            q[:n] = -prog.obj_scale * mu
        else:  # max_return
            q[:n] = -prog.ret_scale * mu
        if self.sigma is None or weight == 0.0:
            P = sp.csc_matrix((self.nv, self.nv))
        else:
            P = self.sigma * weight
        b = np.zeros(self.m)
        for blk in self.blocks:
            if blk.scale == "one":
                rhs = blk.money
            elif blk.scale == "fixed":
                rhs = blk.money / self.compile_budget
            elif blk.scale == "money":
                rhs = blk.money / budget
            else:
                rhs = np.array([float(problem.min_outcome) / budget])
            b[blk.rows] = -rhs if blk.sense == "ge" else rhs
        A = self.A
        if self.has_outcome:
            A = A.copy()
            A.data[self._outcome_slots] = -mu
        return P, q, A, b

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


def solve_highs(qp: DirectQP, problem: Any, settings: dict[str, Any] | None = None
                ) -> RawResult:
    """Solve ``qp`` for ``problem`` with highspy (simplex for an LP, active set for a QP).

    The rows are those of :class:`DirectQP` as ``lower <= a'w <= upper`` rows and ``w >= 0``
    as column bounds; HiGHS's row and column duals are turned into cvxpy's sign convention
    (a non-negative dual per inequality of a maximisation, as :class:`DirectQP` returns).
    Never raises for solver trouble (the status says it).
    """
    import highspy

    silence_highs_banner()
    t0 = time.perf_counter()
    P, q, A, b = qp.data(problem)
    n, nv, m = qp.n, qp.nv, qp.m
    # undo the cone form: row i of A w + s = b is  a'w == b (zero cone) or a'w <= b. Rows on
    # one asset (long-only, per-asset bounds, locks, shift limits) become column bounds --
    # the active set handles a bound at no cost, a row at the cost of a working-set row --
    # each bound remembering the block it came from (its dual is the column's dual)
    inf = highspy.kHighsInf
    col_lo = np.concatenate([np.zeros(n), np.full(nv - n, -inf)])
    col_hi = np.full(nv, inf)
    lo_owner = np.full(n, -1)  # -1: long-only
    hi_owner = np.full(n, -1)  # -1: none
    for bi, blk in enumerate(qp.blocks):
        if blk.assets is None:
            continue
        a, v = blk.assets, b[blk.rows]
        if blk.sense in ("ge", "eq"):
            val = -v if blk.sense == "ge" else v
            better = (val > col_lo[a]) | ((val == col_lo[a]) & (lo_owner[a] == -1))
            col_lo[a[better]], lo_owner[a[better]] = val[better], bi
        if blk.sense in ("le", "eq"):
            better = (v < col_hi[a]) | ((v == col_hi[a]) & (hi_owner[a] == -1))
            col_hi[a[better]], hi_owner[a[better]] = v[better], bi
    if qp._highs_rows is None or qp.has_outcome:  # the outcome row's values change
        keep = np.ones(m, dtype=bool)
        keep[qp.long_only_rows] = False
        for blk in qp.blocks:
            if blk.assets is not None:
                keep[blk.rows] = False
        qp._highs_keep = keep
        qp._highs_rows = sp.csc_matrix(A[keep])
    keep = qp._highs_keep
    rows = qp._highs_rows
    rb = b[keep]
    n_eq = int(keep[:qp.n_eq].sum())
    lower = np.concatenate([rb[:n_eq], np.full(len(rb) - n_eq, -inf)])
    upper = rb.copy()
    raw = RawResult(status="solver_error", solver="HIGHS", w=None, objective=None,
                    solve_time=0.0, route="direct")
    try:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        for key, value in (settings or {}).items():
            h.setOptionValue(key, value)
        lp = highspy.HighsLp()
        lp.num_col_ = nv
        lp.num_row_ = rows.shape[0]
        lp.col_cost_ = q
        lp.col_lower_ = col_lo
        lp.col_upper_ = col_hi
        lp.row_lower_ = lower
        lp.row_upper_ = upper
        csc = rows
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        lp.a_matrix_.num_col_ = nv
        lp.a_matrix_.num_row_ = rows.shape[0]
        model = highspy.HighsModel()
        model.lp_ = lp
        if P.nnz:
            # HiGHS reads the lower triangle of the Hessian column by column
            low = sp.csc_matrix(P.T)
            hess = highspy.HighsHessian()
            hess.dim_ = nv
            hess.format_ = highspy.HessianFormat.kTriangular
            hess.start_ = low.indptr
            hess.index_ = low.indices
            hess.value_ = low.data
            model.hessian_ = hess
        h.passModel(model)
        h.run()
        name = str(h.getModelStatus()).split(".")[-1]
        status = _HIGHS_STATUS.get(name, "solver_error")
        raw.message = "" if status != "solver_error" else name
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        row_dual = np.asarray(sol.row_dual, dtype=float)
        col_dual = np.asarray(sol.col_dual, dtype=float)
        has_primal = bool(sol.value_valid) and x.size == nv and np.all(np.isfinite(x))
    except Exception as exc:  # noqa: BLE001 - the solver's own errors become a status
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
    value = 0.5 * float(x @ (P @ x + P.T @ x - P.diagonal() * x)) + float(q @ x) \
        if P.nnz else float(q @ x)
    raw.objective = -value if qp.program.sense == "max" else value
    if status == "optimal" and row_dual.size == rows.shape[0] and col_dual.size == nv:
        # HiGHS: the gradient equals A' y + d over the rows and columns as passed (the cone
        # form's rows, ">=" rows already negated into "<=" rows); the cone form's (cvxpy's)
        # dual of a row is -y; a column's dual d goes to the block owning the active bound:
        # d > 0 at a lower bound (a ">=" row: +d; an equality: -d), d < 0 at an upper bound
        z = np.zeros(m)
        z[np.flatnonzero(keep)] = -row_dual
        d = col_dual[:n]
        lo_dual = np.where(d > 0, d, 0.0)
        for side, owner in ((d > 0, lo_owner), (d < 0, hi_owner)):
            for bi in np.unique(owner[side & (owner >= 0)]):
                blk = qp.blocks[int(bi)]
                js = np.flatnonzero(side & (owner == bi))
                where = np.full(n, -1)
                where[blk.assets] = np.arange(len(blk.assets))
                z[blk.rows[where[js]]] = d[js] if blk.sense == "ge" else -d[js]
                if owner is lo_owner:
                    lo_dual[js] = 0.0
        for blk in qp.blocks:
            raw.duals.setdefault(blk.owner, []).append((blk.sense, z[blk.rows].copy()))
        raw.long_only_dual = lo_dual
    return raw
