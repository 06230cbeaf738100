"""Translate a :class:`~portfolio_mkt.Problem` into the normalised arrays of the fast path.

The constraints are compiled by the core exactly as for :func:`portfolio_mkt.solve` (one
:class:`~portfolio_mkt.optimization.Program`); every named row that is affine in the shares
``w`` is read back as ``a' w (<=|>=|==) b`` from cvxpy's own gradient of the row (exact for
affine expressions). Rows touching a single asset with a unit coefficient fold into per-asset
bounds. A problem with anything else -- response curves, halo effects, a row that is not affine
in ``w`` alone (turnover, custom cones) -- is not eligible and takes the generic cvxpy path.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ..constraints import BuildContext
from ..optimization import LinearReturn
from ..problem import Problem
from ..risk import FactorCovariance
from ._qp import LinearQP

__all__ = ["linear_qp"]


def _side(expr: cp.Expression, w: cp.Variable) -> tuple[sp.csr_matrix | None, np.ndarray] | None:
    """``(G, c)`` with ``expr = G w + c`` for the shapes the core builds, else ``None``.

    Recognised: constants and Parameters, ``w``, ``w[idx]``, ``sum(w)``, ``sum(w[idx])``.
    """
    n = w.size
    if isinstance(expr, (cp.Constant, cp.Parameter)):
        return None, np.atleast_1d(np.asarray(expr.value, dtype=float)).ravel()
    summed = False
    if type(expr).__name__ == "Sum" and expr.axis is None and len(expr.args) == 1:
        summed = True
        expr = expr.args[0]
    if expr is w or (isinstance(expr, cp.Variable) and expr.id == w.id):
        pos = np.arange(n)
    elif (type(expr).__name__ in ("index", "special_index") and len(expr.args) == 1
          and isinstance(expr.args[0], cp.Variable) and expr.args[0].id == w.id):
        pos = np.arange(n)[expr.key].ravel()
    else:
        return None
    if summed:
        g = sp.csr_matrix((np.ones(pos.size), (np.zeros(pos.size, dtype=int), pos)),
                          shape=(1, n))
        return g, np.zeros(1)
    g = sp.csr_matrix((np.ones(pos.size), (np.arange(pos.size), pos)), shape=(pos.size, n))
    return g, np.zeros(pos.size)


def _pattern(con: cp.Constraint, w: cp.Variable) -> tuple[sp.csr_matrix, np.ndarray, str] | None:
    """Fast reading of ``lhs (<=|==) rhs`` when both sides are simple (see :func:`_side`)."""
    if isinstance(con, cp.constraints.Inequality):
        sense = "le"
    elif isinstance(con, cp.constraints.Equality):
        sense = "eq"
    else:
        return None
    lhs, rhs = con.args
    a, b = _side(lhs, w), _side(rhs, w)
    if a is None or b is None:
        return None
    ga, ca = a
    gb, cb = b
    m = max(ca.size, cb.size)
    if ga is None and gb is None:
        return None
    if ga is None:
        g = -gb
    elif gb is None:
        g = ga
    else:
        g = ga - gb
    if g.shape[0] != m:
        if g.shape[0] != 1:
            return None
        g = sp.vstack([g] * m, format="csr")
    return sp.csr_matrix(g), np.broadcast_to(ca - cb, (m,)).astype(float), sense


def _row_data(con: cp.Constraint, w: cp.Variable) -> tuple[sp.csr_matrix, np.ndarray, str]:
    """``(G, c, sense)`` with the constraint equal to ``G w + c (<=|==) 0`` row-wise."""
    fast = _pattern(con, w)
    if fast is not None:
        return fast
    if isinstance(con, (cp.constraints.Inequality, cp.constraints.NonPos)):
        expr, sense = con.expr, "le"
    elif isinstance(con, cp.constraints.NonNeg):
        expr, sense = -con.expr, "le"
    elif isinstance(con, (cp.constraints.Equality, cp.constraints.Zero)):
        expr, sense = con.expr, "eq"
    else:
        raise TypeError(type(con).__name__)
    grad = expr.grad[w]
    const = np.atleast_1d(np.asarray(expr.value, dtype=float)).ravel()
    m = const.size
    g = sp.csr_matrix((m, w.size)) if grad is None else sp.csr_matrix(grad).T.tocsr()
    if g.shape != (m, w.size):  # pragma: no cover - defensive
        raise TypeError("unexpected gradient shape")
    return g, const, sense


def linear_qp(problem: Problem) -> tuple[LinearQP | None, str]:
    """The normalised QP of a problem, or ``None`` and the reason it is not one.

    The named rows are built exactly as :class:`~portfolio_mkt.optimization.Program` builds
    them (the budget row, then each constraint's ``build``), without the objective.

    Parameters
    ----------
    problem : Problem
        The problem.

    Returns
    -------
    qp : LinearQP or None
    reason : str
        Empty when ``qp`` is returned; otherwise why the fast path does not apply.
    """
    if problem.covariance is None:
        return None, "no covariance"
    term = problem.return_term
    if not isinstance(term, LinearReturn):
        return None, "response curves or halo effects (not a linear return)"
    n = problem.n_assets
    w = cp.Variable(n, name="w")
    outcome, _ = term.build(w, problem.budget)
    ctx = BuildContext(problem=problem, w=w, budget=problem.budget, outcome=outcome)
    ctx.add("budget", cp.sum(w), "eq" if problem.budget_mode == "exact" else "le", 1.0)
    for c in problem.constraints:
        c.build(ctx)
    lower = np.zeros(n)  # the program is long-only
    upper = np.full(n, np.inf)
    rows_g: list[sp.csr_matrix] = []
    rows_l: list[np.ndarray] = []
    rows_u: list[np.ndarray] = []
    names: list[str] = []
    old = w.value
    w.value = np.zeros(n)
    try:
        for row in ctx.rows:
            con = row.constraint
            if row.owner in ("min_outcome", "max_risk"):
                continue  # the frontier sweeps these itself
            if [v.id for v in con.variables()] != [w.id]:
                return None, f"constraint '{row.owner}' uses auxiliary variables"
            if not con.expr.is_affine() or not con.is_dcp():
                return None, f"constraint '{row.owner}' is not linear"
            try:
                g, c, sense = _row_data(con, w)
            except TypeError:
                return None, f"constraint '{row.owner}' is not a linear row"
            rhs = -c
            lo = rhs if sense == "eq" else np.full(rhs.size, -np.inf)
            hi = rhs
            # single-asset rows with a non-zero coefficient fold into bounds
            nnz = np.diff(g.indptr)
            single = nnz == 1
            if single.any():
                gs = g[single]
                cols = gs.indices
                coef = gs.data
                lo_s, hi_s = lo[single] / coef, hi[single] / coef
                neg = coef < 0
                lo_s[neg], hi_s[neg] = hi_s[neg] * 1.0, lo_s[neg] * 1.0
                lo_s = np.where(np.isnan(lo_s), -np.inf, lo_s)
                np.maximum.at(lower, cols, lo_s)
                np.minimum.at(upper, cols, hi_s)
            empty = nnz == 0
            if empty.any() and (np.any(hi[empty] < -1e-12) or np.any(lo[empty] > 1e-12)):
                return None, f"constraint '{row.owner}' has an infeasible constant row"
            keep = ~single & ~empty
            if keep.any():
                rows_g.append(g[keep])
                rows_l.append(lo[keep])
                rows_u.append(hi[keep])
                names.extend([row.owner] * int(keep.sum()))
    finally:
        w.value = old
    a = sp.vstack(rows_g, format="csr") if rows_g else sp.csr_matrix((0, n))
    row_lo = np.concatenate(rows_l) if rows_l else np.zeros(0)
    row_hi = np.concatenate(rows_u) if rows_u else np.zeros(0)
    cov = problem.covariance
    if isinstance(cov, FactorCovariance):
        same = cov.assets.equals(problem.index)  # as_covariance aligned it already
        qp = LinearQP(mu=term.mu.copy(), lower=lower, upper=upper, A=a, lo=row_lo, hi=row_hi,
                      row_names=names, factor=cov.factor_root(None if same else problem.index),
                      specific=cov.specific(None if same else problem.index))
    else:
        qp = LinearQP(mu=term.mu.copy(), lower=lower, upper=upper, A=a, lo=row_lo, hi=row_hi,
                      row_names=names, dense=cov.to_numpy(float))
    return qp, ""
