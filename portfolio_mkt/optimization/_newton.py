"""Exact curves without cvxpy: Newton (SQP) steps on the program's own matrices.

A plan whose curves have no conic form (logistic, S-shaped Hill on its concave envelope) and
whose constraints are all linear rows (budget, bounds, caps, locks, group floors and caps ...)
maximises a smooth concave function over a polytope:

    f(w) = sum_i g_i(w_i) + c' w - delta/2 w' Sigma w     subject to   A w (<=, =) b,  w >= 0

on the budget shares ``w`` (``g_i(w) = r_i(B w) / B``, ``c`` the linear returns and halo
lifts). :func:`newton_direct` solves it on the rows :class:`~._direct.DirectQP` assembles (no
cvxpy canonicalisation):

1. a start: each curve replaced by a few chords, an LP in incremental form whose only rows are
   the general ones (HiGHS's bounded simplex, a few pivots);
2. Newton's method on the KKT equations of the start's active set (assets at a bound, tight
   rows), exact to round-off in three to five steps when the active set is the optimum's;
3. otherwise a step of sequential quadratic programming with the exact Hessian (each curve
   replaced by its second-order Taylor model, curvature ``max(-g_i'', 0)``, the covariance as
   is), by HiGHS's active-set QP for a few assets or Clarabel's interior point for many, with a
   backtracking line search on ``f`` (the feasible set does not depend on the curves, so every
   point between two iterates is feasible), and Newton's method again from its active set.

The gap is proven by weak duality on the tangent-line relaxation. ``f`` lies under its
tangent plane at the answer ``w*`` (each curve under its tangent, the risk term under its
linearisation), so the optimum of the linear program ``max f(w*) + g'(w - w*)`` over the same
polytope bounds the exact optimum from above, and for *any* multipliers ``z`` of the rows
(non-negative on the inequalities) and the box ``0 <= w <= 1`` (implied by the budget row)

    max_w g'w  <=  z'b + sum_i max(0, (g - A'z)_i),

so ``U - f(w*) = z'(b - A w*) + sum_i [max(0, r_i) - r_i w*_i]`` with ``r = g - A'z`` is a
proven bound on the gap, whatever the accuracy of the solver that produced ``z``: a sum of
non-negative terms (no cancellation). The multipliers of the last Newton system are used
first; when they do not prove the target (a degenerate optimum), the tangent LP is solved by
HiGHS and its duals are used.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..problem import Problem
from ._allocation import Allocation
from ._answer import DEFAULT_TOLERANCE, allocation_from_raw, verify
from ._direct import DirectQP, highs_instance
from ._raw import RawResult, silence_highs_banner

__all__ = ["newton_direct", "newton_reason", "newton_route"]

#: methods of the return term's assets the route handles (linear returns, curves without a
#: conic form); exact conic curves (log, power ...) keep the cvxpy route
_METHODS = frozenset({"linear", "pwl", "envelope"})
_RISK_KINDS = ("DenseRisk", "FactorRisk", "NoRisk")
_USABLE = ("optimal",)


def newton_reason(program: Any) -> str:
    """Why :func:`newton_direct` does not apply to ``program`` ("" when it does)."""
    p = program.problem
    if program.relax:
        return "the infeasibility relaxation"
    if p.objective not in ("utility", "max_return"):
        return f"objective {p.objective!r} (the curves do not enter it)"
    term = program.term
    if getattr(term, "linear", True) or not hasattr(term, "envelope_derivatives"):
        return "no response curves"
    methods = set(term.methods)
    if not methods & {"pwl", "envelope"}:
        return "no curve without a conic form"
    if methods - _METHODS:
        return "curves with an exact conic form (solved by cvxpy)"
    if program.has_risk_target:
        return "a risk limit (a second-order cone)"
    if program.has_outcome_target:
        return "an outcome target on the curves"
    kind = type(p.risk_model).__name__
    if kind not in _RISK_KINDS:
        return f"risk model {kind}"
    missing = [c.name for c in p.constraints if c.name not in program.linear_rows]
    if missing:
        return f"constraint(s) {missing} are not plain linear rows"
    return ""


def newton_route(problem: Problem) -> tuple[str, Any, Any, Any]:
    """``(reason, program, qp, polytope)`` of ``problem`` for :func:`newton_direct`, built once.

    ``reason`` is "" when the route applies (then ``qp`` and ``polytope`` are the program's
    rows, see :class:`_Polytope`). Kept on the problem (whose return term it was built for),
    so a re-solve of the same plan reuses its compiled rows.
    """
    cached = problem.__dict__.get("_newton_route")
    if cached is not None and cached[0] is problem.return_term:
        return cached[1:]
    from ._program import compile_problem

    program = compile_problem(problem)
    reason = newton_reason(program)
    qp = poly = None
    if not reason:
        qp = DirectQP(program)
        poly = _Polytope(qp, problem)
    problem.__dict__["_newton_route"] = (problem.return_term, reason, program, qp, poly)
    return reason, program, qp, poly


class _Objective:
    """``f``, its gradient and the curves' curvature in shares (per unit of budget)."""

    def __init__(self, problem: Problem, term: Any, delta: float) -> None:
        self.problem = problem
        self.term = term
        self.budget = float(problem.budget)
        self.n = problem.n_assets
        self.pos = [i for i, m in enumerate(term.methods) if m in ("pwl", "envelope")]
        self.ipos = np.asarray(self.pos, dtype=np.int64)
        lin = np.asarray(term._linear_coef, dtype=float).copy()
        halo = getattr(term, "halo", None)
        if halo is not None:
            lin = lin + np.asarray(halo, dtype=float).sum(axis=1)
        self.lin = lin
        self.delta = float(delta)

    def parts(self, w: np.ndarray, value: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
        """Value (nan if not ``value``), gradient and the curves' second derivatives."""
        b = self.budget
        f, d, h = self.term.envelope_derivatives(w * b, self.pos)
        val = float(f.sum()) / b + float(self.lin @ w) if value else np.nan
        grad = self.lin.copy()
        grad[self.ipos] += d
        if self.delta:
            sw = self.problem.risk_model.times(w)
            if value:
                val -= 0.5 * self.delta * float(w @ sw)
            grad -= self.delta * sw
        return val, grad, h * b

    def tangents(self) -> np.ndarray:
        """Share at which each curve's envelope leaves its ray (0 for concave curves)."""
        return self.term.envelope_tangents(self.pos) / self.budget

    def value(self, w: np.ndarray) -> float:
        """``f(w)``."""
        b = self.budget
        f, _, _ = self.term.envelope_derivatives(w * b, self.pos)
        value = float(f.sum()) / b + float(self.lin @ w)
        if self.delta:
            value -= 0.5 * self.delta * float(w @ self.problem.risk_model.times(w))
        return value


class _Polytope:
    """The program's rows (from :class:`~._direct.DirectQP`) split for the Newton route.

    Rows on one asset become column bounds ``lo <= w <= hi`` (long-only, caps, locks ...);
    the other rows (budget, group floors and caps, the factor link rows) stay rows. Row
    indices are those of the cone form ``A w + s = b`` (equalities first), so multipliers
    ``z`` over them are what :class:`~._direct.DirectQP` and the explanation use.
    """

    #: largest ``rows x columns`` held as a dense array (small plans: NumPy's products are
    #: cheaper than scipy's sparse ones there)
    DENSE_MAX = 40_000

    def __init__(self, qp: DirectQP, problem: Problem) -> None:
        self.qp = qp
        P0, _, A, b = qp.data(problem)
        self.P0 = sp.csc_matrix(P0)
        self.n, self.nv, self.m, self.n_eq = qp.n, qp.nv, qp.m, qp.n_eq
        n = self.n
        self.b = np.asarray(b, dtype=float)
        self.eq = np.arange(self.m) < self.n_eq
        if self.m * self.nv <= self.DENSE_MAX:
            A = A.toarray()
            Aw = A[:, :n]
            self.link = (A[:, n:] != 0).any(axis=1)
            nnz = (Aw != 0).sum(axis=1)
            rows = np.flatnonzero((nnz == 1) & ~self.link)
            s_col = np.argmax(Aw[rows] != 0, axis=1)
            s_coef = Aw[rows, s_col]
        else:
            A = sp.csr_matrix(A)
            Aw = sp.csr_matrix(A[:, :n])
            self.link = np.zeros(self.m, dtype=bool)
            if qp.k:
                self.link[np.unique(sp.coo_matrix(A[:, n:]).row)] = True
            nnz = np.diff(Aw.indptr)
            rows = np.flatnonzero((nnz == 1) & ~self.link)
            s_col = Aw.indices[Aw.indptr[rows]]
            s_coef = Aw.data[Aw.indptr[rows]]
        self.A_full = A
        self.Aw = Aw
        self.single = (nnz == 1) & ~self.link
        self.general = ~self.single & ~self.link
        self.s_rows, self.s_col, self.s_coef = rows, s_col, s_coef
        lo = np.full(n, -np.inf)
        hi = np.full(n, np.inf)
        val = self.b[rows] / s_coef
        eq = self.eq[rows]
        below = eq | (s_coef < 0)  # a'w <= b with a < 0: a lower bound
        above = eq | (s_coef > 0)
        np.maximum.at(lo, s_col[below], val[below])
        np.minimum.at(hi, s_col[above], val[above])
        self.lo, self.hi = lo, hi
        self.g_rows = np.flatnonzero(self.general)
        G = Aw[self.g_rows]
        # few rows (budget, groups): dense products are cheaper than sparse ones
        if sp.issparse(G) and G.shape[0] * n <= 2_000_000:
            G = G.toarray()
        self.G = G
        #: the rows HiGHS holds as rows (the others are column bounds)
        self.keep = np.flatnonzero(~self.single)
        self._R: sp.coo_matrix | None = None

    @property
    def R(self) -> sp.coo_matrix:
        """The rows HiGHS holds as rows, as triplets (built on first use)."""
        if self._R is None:
            self._R = sp.coo_matrix(self.A_full[self.keep])
        return self._R

    # ------------------------------------------------------------------ HiGHS
    def highs(self, time_limit: float | None) -> Any:
        """A HiGHS instance holding the rows (the objective is set per solve)."""
        import highspy

        silence_highs_banner()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        # (no "threads" option: HiGHS refuses to run with one once its global scheduler was
        # started with another thread count, e.g. by an earlier solve in the process)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        inf = highspy.kHighsInf
        keep = self.keep
        rb = self.b[keep]
        R = sp.csc_matrix(self.R)
        ncol = self.nv
        lp = highspy.HighsLp()
        lp.num_col_ = ncol
        lp.num_row_ = R.shape[0]
        lp.col_cost_ = np.zeros(ncol)
        lp.col_lower_ = np.concatenate([np.maximum(self.lo, -inf),
                                        np.full(self.nv - self.n, -inf)])
        lp.col_upper_ = np.concatenate([np.minimum(self.hi, inf),
                                        np.full(self.nv - self.n, inf)])
        lp.row_lower_ = np.where(self.eq[keep], rb, -inf)
        lp.row_upper_ = rb
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = R.indptr
        lp.a_matrix_.index_ = R.indices
        lp.a_matrix_.value_ = R.data
        lp.a_matrix_.num_col_ = ncol
        lp.a_matrix_.num_row_ = R.shape[0]
        h.passModel(lp)
        return h

    # ------------------------------------------------------------------ active set
    def tight(self, w: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """Columns held at a bound, and the general rows that hold with equality, at ``w``."""
        at_bound = (np.abs(w - self.lo) <= tol) | (np.abs(w - self.hi) <= tol)
        slack = self.b[self.g_rows] - self.G @ w
        rows = self.eq[self.g_rows] | (np.abs(slack) <= tol)
        return at_bound, rows

    def feasible(self, w: np.ndarray, tol: float = 1e-12) -> bool:
        """Whether ``w`` meets every row and bound (to ``tol`` in shares)."""
        if np.any(w < self.lo - tol) or np.any(w > self.hi + tol):
            return False
        slack = self.b[self.g_rows] - self.G @ w
        eq = self.eq[self.g_rows]
        return bool(np.all(slack[~eq] >= -tol) and np.all(np.abs(slack[eq]) <= tol))

    def multipliers(self, w: np.ndarray, grad: np.ndarray, lam: np.ndarray | None,
                    rows: np.ndarray) -> np.ndarray:
        """Cone-form multipliers from the general rows' ``lam`` and the columns' bounds.

        ``lam`` goes on the tight general rows ``rows``; on each column at a bound, its
        bound row carries the column's reduced cost (when of the right sign).
        """
        z = np.zeros(self.m)
        if lam is not None and len(lam):
            z[self.g_rows[rows]] = lam
        z[~self.eq] = np.maximum(z[~self.eq], 0.0)
        r = grad - self.Aw.T @ z
        slack = self.b[self.s_rows] - self.s_coef * w[self.s_col]
        v = r[self.s_col] / self.s_coef
        eligible = np.flatnonzero((np.abs(slack) <= 1e-9) & (self.eq[self.s_rows] | (v >= 0)))
        if len(eligible):
            # one bound row per column carries its reduced cost: the first that can
            _, first = np.unique(self.s_col[eligible], return_index=True)
            pick = eligible[first]
            z[self.s_rows[pick]] = v[pick]
        return z

    def tangent_lp(self, grad: np.ndarray, time_limit: float | None) -> np.ndarray | None:
        """Multipliers of the general rows from the tangent LP ``max grad' w`` (HiGHS).

        Its optimal duals are the tightest multipliers; at a degenerate optimum (a group
        floor met exactly by assets at their caps ...) the rows' multipliers are not
        determined by the free assets alone and the Newton system's least-squares choice
        may not prove the gap, while these do. Returns the multipliers over all general
        rows (cone-form sign), or None when the LP failed.
        """
        import highspy

        h = self.highs(time_limit)
        cost = np.zeros(self.nv)
        cost[:self.n] = -grad
        h.changeColsCost(self.nv, np.arange(self.nv, dtype=np.int32), cost)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        y = np.asarray(h.getSolution().row_dual, dtype=float)
        if y.size != len(self.keep) or not np.all(np.isfinite(y)):
            return None
        z = np.zeros(self.m)
        z[self.keep] = -y  # HiGHS: cost = A'y + column duals; the cone form's dual is -y
        return z[self.g_rows]

    def gap(self, z: np.ndarray, w: np.ndarray, grad: np.ndarray) -> float:
        """``U - f(w)`` for multipliers ``z`` by weak duality (``inf`` if not finite)."""
        if not np.all(np.isfinite(z)):
            return np.inf
        z = np.where(self.link, 0.0, z)
        z[~self.eq] = np.maximum(z[~self.eq], 0.0)  # inequalities: non-negative multipliers
        slack = self.b - self.Aw @ w
        r = grad - self.Aw.T @ z
        return float((z * slack).sum() + (np.maximum(r, 0.0) - r * w).sum())


def _newton_system(h: np.ndarray, sig: np.ndarray | None, G: np.ndarray, grad: np.ndarray,
                   res: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``H d - G' lam = -grad``, ``G d = res`` with ``H = diag(h) - sig`` (``h <= 0``).

    Without a risk term ``H`` is diagonal: curved assets are eliminated (``d = (G' lam -
    grad) / h``) and a system in the flat assets' steps (a linear asset, an S-curve on its
    ray: ``h = 0``) and the multipliers remains, as small as their number. With a covariance
    ``-H`` is positive definite: a Cholesky factor and the rows' Schur complement. Singular
    systems (a degenerate optimum: several flat assets with the same return) take the
    least-squares solution.
    """
    nf, k = len(h), G.shape[0]
    if sig is not None:
        C = sig - np.diag(h)
        try:
            L = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            L = None
        if L is not None:
            def csolve(rhs: np.ndarray) -> np.ndarray:
                return np.linalg.solve(L.T, np.linalg.solve(L, rhs))

            y = csolve(grad)
            if not k:
                return y, np.zeros(0)
            Y = csolve(G.T)
            lam = _solve(G @ Y, G @ y - res)
            return y - Y @ lam, lam
        K = np.zeros((nf + k, nf + k))
        K[:nf, :nf] = -C
        K[:nf, nf:] = -G.T
        K[nf:, :nf] = G
        sol = _solve(K, np.concatenate([-grad, res]))
        return sol[:nf], sol[nf:]
    scale = float(np.max(-h, initial=0.0))
    curved = -h > 1e-10 * scale if scale > 0 else np.zeros(nf, dtype=bool)
    if curved.all():  # the usual case: every free asset is curved
        inv = 1.0 / h
        Gi = G * inv
        lam = _solve(Gi @ G.T, res + Gi @ grad) if k else np.zeros(0)
        return (G.T @ lam - grad) * inv, lam
    flat = np.flatnonzero(~curved)
    cur = np.flatnonzero(curved)
    Gc, Gf = G[:, cur], G[:, flat]
    inv = 1.0 / h[cur]
    S = (Gc * inv) @ Gc.T
    m = len(flat)
    M = np.zeros((m + k, m + k))
    M[:m, m:] = Gf.T
    M[m:, :m] = Gf
    M[m:, m:] = S
    rhs = np.concatenate([grad[flat], res + Gc @ (grad[cur] * inv)])
    sol = _solve(M, rhs) if m + k else np.zeros(0)
    lam = sol[m:]
    d = np.empty(nf)
    d[flat] = sol[:m]
    d[cur] = (Gc.T @ lam - grad[cur]) * inv
    return d, lam


def _solve(M: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``M^-1 rhs``, or the least-squares solution when ``M`` is singular."""
    if not M.size:
        return np.zeros(M.shape[1])
    try:
        sol = np.linalg.solve(M, rhs)
        if np.all(np.isfinite(sol)):
            return sol
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(M, rhs, rcond=None)[0]


def _kkt_newton(poly: _Polytope, obj: _Objective, w: np.ndarray, sigma: Any,
                iters: int = 8) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
    """Newton's method on the KKT equations of the active set at ``w`` (exact to round-off).

    Columns at a bound stay there; the tight general rows are equalities. Returns the point,
    the rows' multipliers and which general rows were tight, or None when the point reached
    is not feasible (the active set was not the optimum's).
    """
    at_bound, rows = poly.tight(w)
    free = np.flatnonzero(~at_bound)
    w = w.copy()
    w[at_bound] = np.clip(w[at_bound], poly.lo[at_bound], poly.hi[at_bound])
    G = poly.G[np.flatnonzero(rows)]
    GF = G[:, free]
    GF = GF.toarray() if sp.issparse(GF) else GF
    rhs_rows = poly.b[poly.g_rows[rows]]
    lam = np.zeros(GF.shape[0])
    where = np.full(obj.n, -1)
    where[free] = np.arange(len(free))
    cf = where[obj.ipos]
    on = cf >= 0
    sig = obj.delta * sigma(free) if sigma is not None and obj.delta else None
    for _ in range(iters):
        _, grad, h = obj.parts(w, value=False)
        hf = np.zeros(len(free))
        hf[cf[on]] = h[on]
        step, lam = _newton_system(hf, sig, GF, grad[free], rhs_rows - G @ w)
        if not np.all(np.isfinite(step)):
            return None
        w[free] += step
        if np.max(np.abs(step), initial=0.0) <= 1e-9:
            # quadratic convergence: the error left is about the step squared
            break
    if not poly.feasible(w, 1e-9):
        return None
    return w, lam, rows


def newton_direct(problem: Problem, start: np.ndarray | None = None, *,
                  gap: float = 1e-8, max_iter: int = 30,
                  tolerance: float = DEFAULT_TOLERANCE, time_limit: float | None = None,
                  notes: list[str] | None = None,
                  attempts: list[dict[str, Any]] | None = None) -> Allocation | None:
    """Solve a curve plan with linear constraints to the exact optimum, without cvxpy.

    Parameters
    ----------
    problem : Problem
        The plan; the route must apply (``newton_route(problem)[0] == ""``). Its compiled
        rows and objective scaling are used; no cvxpy program is built.
    start : ndarray, optional
        Money spend to start from (e.g. a piecewise-linear answer); default: the first
        Newton model is centred at an even split within the per-asset bounds.
    gap : float, default 1e-8
        Relative optimality gap to prove.
    max_iter : int, default 30
        Largest number of Newton steps.
    tolerance : float, default 1e-6
        Constraint tolerance of the post-solve check (:func:`portfolio_mkt.verify`).
    time_limit : float, optional
        Seconds each HiGHS call may run.
    notes : list of str, optional
        Notes carried over to the result (e.g. the piecewise answer's).
    attempts : list of dict, optional
        Earlier solver attempts to list before this route's (e.g. the piecewise solve's).

    Returns
    -------
    Allocation or None
        The allocation with ``optimality_gap`` (proven relative gap on the concave envelopes)
        and every constraint verified; ``None`` when the route could not prove ``gap`` or
        its answer failed the check (the caller then takes the cvxpy route).
    """
    t0 = time.perf_counter()
    reason, program, qp, poly = newton_route(problem)
    if reason:
        return None
    term = problem.return_term
    kind = program.objective_kind
    delta = program._delta if kind == "utility" else 0.0
    scale = program.obj_scale if kind == "utility" else program.ret_scale
    obj = _Objective(problem, term, delta)
    sigma = _sigma(problem) if delta else None
    budget = obj.budget
    stepper = _Stepper(poly, obj, qp, scale, time_limit)
    if start is None:
        w = None
        if obj.n <= _CHORD_LP_MAX:
            origin = "from a chord LP"
            w = _chord_start(poly, obj, scale, time_limit, stepper)
        if w is None:  # very many assets, or the LP failed
            origin = "from greedy chords"
            w = _greedy_start(poly, obj)
        if w is None:
            return None
    else:
        origin = "from the given start"
        w = np.clip(np.asarray(start, dtype=float) / budget, poly.lo, poly.hi)
    # a start that breaks a row (the greedy one) is replaced by the first QP step's answer
    f = obj.value(w) if poly.feasible(w, 1e-9) else -np.inf
    upper = np.inf  # the best proven upper bound of the optimum (per unit of budget)
    proven = np.inf
    z_best: np.ndarray | None = None
    steps = 0
    for _ in range(int(max_iter)):
        # Newton's method on the KKT equations of the active set at w: exact when the
        # active set is the optimum's
        res = _kkt_newton(poly, obj, w, sigma)
        if res is not None:
            wn, lam, rows = res
            fn, grad, _ = obj.parts(wn)
            if fn >= f - 1e-14 * max(abs(f), 1e-300):
                w, f = wn, fn
                z = poly.multipliers(w, grad, lam, rows)
                bound = f + max(poly.gap(z, w, grad), 0.0)
                if bound - f > gap * abs(f):
                    # not proven by the Newton system's multipliers (a degenerate optimum):
                    # the tangent LP's duals
                    lam_lp = poly.tangent_lp(grad, time_limit)
                    if lam_lp is not None:
                        z_lp = poly.multipliers(w, grad, lam_lp, np.ones(len(lam_lp), bool))
                        b_lp = f + max(poly.gap(z_lp, w, grad), 0.0)
                        if b_lp < bound:
                            bound, z = b_lp, z_lp
                if bound < upper:
                    upper, z_best = bound, z
        proven = (upper - f) / max(abs(f), 1e-300)
        if proven <= gap:
            break
        # otherwise a QP step (SQP with the exact Hessian) finds the next active set
        wq = stepper.step(w)
        if wq is None:
            break
        step = wq - w
        fq = obj.value(wq)
        t = 1.0
        floor = f - 1e-14 * max(abs(f), 1e-300)
        while fq < floor and t > 1e-10:
            t *= 0.5
            wq = w + t * step
            fq = obj.value(wq)
        if fq < floor:
            break
        w, f = wq, fq
        steps += 1
        if float(np.max(np.abs(t * step), initial=0.0)) <= 1e-15:
            break
    if not proven <= gap or z_best is None:
        return None
    x = w * budget
    x[x < 1e-15 * budget] = 0.0
    checks = verify(problem, x, tolerance)
    if not all(v <= tol for v, tol in checks.values()):
        return None
    elapsed = time.perf_counter() - t0
    raw = RawResult(status="optimal", solver=stepper.solver, w=x / budget, objective=None,
                    solve_time=stepper.time, route="direct")
    zs = z_best * scale  # the program's objective scaling, as the explanation expects
    for blk in qp.blocks:
        raw.duals.setdefault(blk.owner, []).append((blk.sense, zs[blk.rows].copy()))
    raw.long_only_dual = zs[qp.long_only_rows].copy()
    attempts = list(attempts or []) + [{
        "solver": stepper.solver, "status": "optimal", "time": stepper.time,
        "route": "direct",
        "message": f"Newton steps on the true curves, direct route: {origin}, {steps} QP "
                   f"step(s) ({stepper.solver}) and Newton on the KKT equations; proven "
                   f"relative gap {proven:.2g} in {elapsed:.3f} s",
    }]
    alloc = allocation_from_raw(program, raw, attempts, checks, problem)
    lower = float(term.envelope_outcome(x).sum())
    alloc.model_outcome = lower
    alloc.optimality_gap = proven  # type: ignore[attr-defined]
    alloc.notes.extend(n for n in (notes or []) if n not in alloc.notes)
    alloc.notes.append(
        f"exact curves: solved on the true curves by Newton steps on the plan's own rows "
        f"({steps} QP step(s)); proven relative optimality gap {proven:.2g}.")
    note = envelope_note(lower, alloc.expected_outcome)
    if note:
        alloc.notes.append(note)
    return alloc


def envelope_note(envelope: float, true: float) -> str:
    """The note when the envelope's value overstates the true curves' ("" when it does not).

    S-shaped curves funded below their payback spend deliver less than their envelope.
    """
    overstated = envelope - true
    if overstated <= 1e-9 * max(abs(envelope), 1.0):
        return ""
    return (f"exact curves: the gap is the envelope problem's; S-shaped curves funded below "
            f"their payback spend deliver {overstated:,.4g} less than their envelope there "
            "(portfolio_mkt.solve_s_curves funds them past it or not at all).")


class _Stepper:
    """QP steps of SQP: HiGHS's active set for a few assets, Clarabel's interior point for many.

    HiGHS's active-set QP pivots once per free asset, which is fast for tens of assets and
    slow for hundreds (0.6 s a step at 500 assets); Clarabel's cost grows about linearly.
    """

    #: assets up to which HiGHS takes the steps
    HIGHS_MAX = 60

    def __init__(self, poly: _Polytope, obj: _Objective, qp: DirectQP, scale: float,
                 time_limit: float | None) -> None:
        self.poly, self.obj, self.qp, self.scale = poly, obj, qp, scale
        self.time_limit = time_limit
        self.solver = "HIGHS" if obj.n <= self.HIGHS_MAX else "CLARABEL"
        self.time = 0.0
        self.solves = 0
        self._highs: Any = None

    def model(self, w0: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
        """``P`` (upper triangle) and ``q`` of the Newton model at ``w0`` (scaled, min form)."""
        obj, poly = self.obj, self.poly
        _, grad, hh = obj.parts(w0)
        c = np.maximum(-hh, 0.0)
        linear = grad.copy()
        if obj.delta:  # the model keeps the risk term whole: undo its linearisation
            linear += obj.delta * obj.problem.risk_model.times(w0)
        linear[obj.ipos] += c * w0[obj.ipos]
        q = np.zeros(poly.nv)
        q[:obj.n] = -self.scale * linear
        diag = np.zeros(poly.nv)
        diag[obj.ipos] = self.scale * c
        P = poly.P0
        if diag.any():
            P = sp.csc_matrix(P + sp.diags(diag, format="csc"))
        P.eliminate_zeros()
        return P, q

    def step(self, w0: np.ndarray) -> np.ndarray | None:
        """The answer of the Newton model's QP at ``w0`` (None if the solver failed)."""
        P, q = self.model(w0)
        tic = time.perf_counter()
        x = self._highs_qp(P, q) if self.solver == "HIGHS" else self._clarabel_qp(P, q)
        self.time += time.perf_counter() - tic
        self.solves += 1
        if x is None or x.size != self.obj.n or not np.all(np.isfinite(x)):
            return None
        return np.clip(x, self.poly.lo, self.poly.hi)

    def _highs_qp(self, P: sp.csc_matrix, q: np.ndarray) -> np.ndarray | None:
        import highspy

        if self._highs is None:
            self._highs = self.poly.highs(self.time_limit)
        h = self._highs
        low = sp.csc_matrix(P.T)  # HiGHS reads the lower triangle
        hess = highspy.HighsHessian()
        if low.nnz:
            hess.dim_ = self.poly.nv
            hess.format_ = highspy.HessianFormat.kTriangular
            hess.start_ = low.indptr
            hess.index_ = low.indices
            hess.value_ = low.data
        h.passHessian(hess)
        h.changeColsCost(self.poly.nv, np.arange(self.poly.nv, dtype=np.int32), q)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return np.asarray(h.getSolution().col_value, dtype=float)[:self.obj.n]

    def _clarabel_qp(self, P: sp.csc_matrix, q: np.ndarray) -> np.ndarray | None:
        import clarabel

        opts = clarabel.DefaultSettings()
        opts.verbose = False
        for key, value in _CLARABEL.items():
            setattr(opts, key, value)
        if self.time_limit is not None:
            opts.time_limit = float(self.time_limit)
        poly = self.poly
        try:
            sol = clarabel.DefaultSolver(P, q, sp.csc_matrix(poly.A_full), poly.b,
                                         self.qp.cones(), opts).solve()
        except Exception:  # noqa: BLE001 - the solver's own errors: no step
            return None
        if str(sol.status).split(".")[-1] not in ("Solved", "AlmostSolved"):
            return None
        return np.asarray(sol.x, dtype=float)[:self.obj.n]


#: Clarabel's settings for a Newton step (the KKT Newton polishes the answer to round-off)
_CLARABEL = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10,
             "tol_ktratio": 1e-8, "max_iter": 200}

#: assets up to which the start is the chord LP (beyond, the greedy chords); the LP was the
#: faster start at every size measured (100, 500, 2,000 assets: 14 ms against 34 ms, 0.11 s
#: against 0.15 s, 0.72 s against 2.1 s for the whole solve)
_CHORD_LP_MAX = 100_000

#: pieces per curve of the start's chord approximation
_CHORDS = 12


def _chords(poly: _Polytope, obj: _Objective
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each curve's chords on its bounds: ``(lo, hi, length, ok, slope)`` in shares.

    ``lo``, ``hi``: every asset's bounds clipped to ``[0, 1]``; for the curved assets, the
    pieces between ``_CHORDS + 1`` even breakpoints and the S-curve's payback spend: their
    ``length`` and ``slope`` (shape ``(K, m)``), ``ok`` where a piece has length.
    """
    pos = obj.ipos
    lo = np.clip(np.where(np.isfinite(poly.lo), poly.lo, 0.0), 0.0, 1.0)
    hi = np.clip(np.where(np.isfinite(poly.hi), poly.hi, 1.0), 0.0, 1.0)
    hi = np.maximum(hi, lo)
    lo_c, hi_c = lo[pos], hi[pos]
    grid = lo_c[None, :] + np.linspace(0.0, 1.0, _CHORDS + 1)[:, None] * (hi_c - lo_c)[None, :]
    grid = np.sort(np.vstack([grid, np.clip(obj.tangents(), lo_c, hi_c)[None, :]]), axis=0)
    vals = obj.term.envelope_values(grid * obj.budget, obj.pos) / obj.budget
    length = np.diff(grid, axis=0)
    ok = length > 1e-12
    slope = np.where(ok, np.diff(vals, axis=0) / np.where(ok, length, 1.0), 0.0)
    return lo, hi, length, ok, slope


def _chord_start(poly: _Polytope, obj: _Objective, scale: float, time_limit: float | None,
                 stepper: _Stepper) -> np.ndarray | None:
    """A start near the optimum: the plan with each curve replaced by a few chords (an LP).

    Each curve (its concave envelope) is interpolated at ``_CHORDS + 1`` even breakpoints
    on its bounds ``[lo, hi]`` (and at an S-curve's payback spend, where the envelope's ray
    ends). In the incremental form ``w_i = lo_i + sum_k d_ik`` with ``0 <= d_ik <= length_k``
    and objective ``sum_k slope_ik d_ik`` (slopes fall, so the pieces fill in order) the
    per-asset bounds are column bounds and only the general rows (budget, groups) remain:
    HiGHS's bounded simplex solves it in a few pivots. The risk term is left out (a start
    only). The answer is within a few percent of the optimum and mostly has its active set.
    """
    import highspy

    silence_highs_banner()
    n, pos = obj.n, obj.ipos
    lo, hi, length, ok, slope = _chords(poly, obj)
    lo_c = lo[pos]
    kk, ii = np.nonzero(ok)
    other = np.setdiff1d(np.arange(n), pos)
    # columns: the other assets' w, then the pieces d (asset pos[ii], piece kk)
    ncol = len(other) + len(ii)
    owner = np.concatenate([other, pos[ii]])  # asset of each column
    cost = np.concatenate([-scale * obj.lin[other], -scale * slope[kk, ii]])
    col_lo = np.concatenate([lo[other], np.zeros(len(ii))])
    col_hi = np.concatenate([hi[other], length[kk, ii]])
    G = poly.G.toarray() if sp.issparse(poly.G) else poly.G
    rows = G[:, owner]  # a row's coefficient on w_i, repeated on each of i's pieces
    rhs = poly.b[poly.g_rows] - G[:, pos] @ lo_c
    inf = highspy.kHighsInf
    eq = poly.eq[poly.g_rows]
    nz = rows.T != 0  # column-wise sparsity, without scipy's overhead on a tiny matrix
    start = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int32)
    index = np.nonzero(nz)[1].astype(np.int32)
    value = rows.T[nz]
    h = highs_instance(highspy)
    # presolve costs more than the few pivots this LP takes (43 ms against 11 ms at 100
    # assets)
    h.setOptionValue("presolve", "off")
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    n_rows = rows.shape[0]
    no_i = np.zeros(0, np.int32)
    tic = time.perf_counter()
    h.passModel(
        int(ncol), int(n_rows), len(value), 0, int(highspy.MatrixFormat.kColwise),
        int(highspy.HessianFormat.kTriangular), int(highspy.ObjSense.kMinimize), 0.0,
        np.ascontiguousarray(cost, float), np.ascontiguousarray(col_lo, float),
        np.ascontiguousarray(col_hi, float), np.where(eq, rhs, -inf).astype(float),
        np.ascontiguousarray(rhs, float), start, index, np.ascontiguousarray(value, float),
        no_i, no_i, np.zeros(0), np.zeros(ncol, dtype=np.int32))
    h.run()
    stepper.time += time.perf_counter() - tic
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    col = np.asarray(h.getSolution().col_value, dtype=float)
    if col.size != ncol or not np.all(np.isfinite(col)):
        return None
    w = lo.copy()
    w[other] = col[:len(other)]
    np.add.at(w, pos[ii], col[len(other):])
    return np.clip(w, poly.lo, poly.hi)


def _greedy_start(poly: _Polytope, obj: _Objective) -> np.ndarray:
    """A start for many assets: the chords filled greedily, best slope first (no LP).

    The same chords as :func:`_chord_start`; the budget is handed out piece by piece in order
    of slope, within each asset's bounds. That is the chord LP's answer when the budget is
    the only row; other rows (group floors and caps) and the risk term are ignored, so the
    start may break them (the first QP step returns a feasible point).
    """
    n, pos = obj.n, obj.ipos
    lo, hi, length, ok, slope = _chords(poly, obj)
    kk, ii = np.nonzero(ok)
    other = np.setdiff1d(np.arange(n), pos)
    owner = np.concatenate([other, pos[ii]])
    slopes = np.concatenate([obj.lin[other], slope[kk, ii]])
    sizes = np.concatenate([hi[other] - lo[other], length[kk, ii]])
    w = lo.copy()
    left = 1.0 - float(lo.sum())
    if left <= 0:
        return w
    order = np.argsort(-slopes, kind="stable")
    if obj.problem.budget_mode != "exact":
        order = order[slopes[order] > 0]
    filled = np.minimum(np.cumsum(sizes[order]), left)
    take = np.diff(np.concatenate([[0.0], filled]))
    np.add.at(w, owner[order], take)
    return np.minimum(w, hi)


def _sigma(problem: Problem) -> Any:
    """``idx -> Sigma[idx, idx]`` as a dense array, or None without covariance."""
    arrays = problem.risk_model.arrays()
    if "dense" in arrays:
        mat = np.asarray(arrays["dense"], dtype=float)
        return lambda idx: mat[np.ix_(idx, idx)]
    if "factor" in arrays:
        fac = np.asarray(arrays["factor"], dtype=float)
        spec = np.asarray(arrays["specific"], dtype=float)
        return lambda idx: fac[idx] @ fac[idx].T + np.diag(spec[idx])
    return None
