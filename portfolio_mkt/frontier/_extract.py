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

from ..optimization import LinearReturn, Program
from ..risk import FactorCovariance
from ._qp import LinearQP

__all__ = ["linear_qp"]


def _row_data(con: cp.Constraint, w: cp.Variable) -> tuple[sp.csr_matrix, np.ndarray, str]:
    """``(G, c, sense)`` with the constraint equal to ``G w + c (<=|==) 0`` row-wise."""
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


def linear_qp(program: Program) -> tuple[LinearQP | None, str]:
    """The normalised QP of a compiled program, or ``None`` and the reason it is not one.

    Parameters
    ----------
    program : Program
        A program compiled by :func:`portfolio_mkt.compile_problem` (without relaxation).

    Returns
    -------
    qp : LinearQP or None
    reason : str
        Empty when ``qp`` is returned; otherwise why the fast path does not apply.
    """
    problem = program.problem
    if problem.covariance is None:
        return None, "no covariance"
    term = program.term
    if not isinstance(term, LinearReturn):
        return None, "response curves or halo effects (not a linear return)"
    w = program.w
    n = problem.n_assets
    lower = np.zeros(n)  # the program is long-only
    upper = np.full(n, np.inf)
    rows_g: list[sp.csr_matrix] = []
    rows_l: list[np.ndarray] = []
    rows_u: list[np.ndarray] = []
    names: list[str] = []
    old = w.value
    w.value = np.zeros(n)
    try:
        for row in program.rows:
            con = row.constraint
            if row.owner in ("min_outcome", "max_risk"):
                continue  # the frontier sweeps these itself
            if [v.id for v in con.variables()] != [w.id]:
                return None, f"constraint '{row.owner}' uses auxiliary variables"
            if not con.expr.is_affine():
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
        qp = LinearQP(mu=term.mu.copy(), lower=lower, upper=upper, A=a, lo=row_lo, hi=row_hi,
                      row_names=names, factor=cov.factor_root(problem.index),
                      specific=cov.specific(problem.index))
    else:
        qp = LinearQP(mu=term.mu.copy(), lower=lower, upper=upper, A=a, lo=row_lo, hi=row_hi,
                      row_names=names, dense=cov.to_numpy(float))
    return qp, ""
