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
from ..problem import Problem
from ..risk import FactorCovariance
from ..terms import LinearReturn
from ._qp import LinearQP

__all__ = ["linear_qp"]


def _side(expr: cp.Expression, w: cp.Variable) -> tuple[str, np.ndarray | None, np.ndarray] | None:
    """Read one side of a row for the shapes the core builds (``None`` otherwise).

    ``("const", None, c)``, ``("index", pos, 0)`` for ``w[pos]``, ``("sum", pos, 0)`` for
    ``sum(w[pos])``.
    """
    if isinstance(expr, (cp.Constant, cp.Parameter)):
        return "const", None, np.atleast_1d(np.asarray(expr.value, dtype=float)).ravel()
    summed = False
    if type(expr).__name__ == "Sum" and expr.axis is None and len(expr.args) == 1:
        summed = True
        expr = expr.args[0]
    n = w.size
    if isinstance(expr, cp.Variable) and expr.id == w.id:
        pos = np.arange(n)
    elif (type(expr).__name__ in ("index", "special_index") and len(expr.args) == 1
          and isinstance(expr.args[0], cp.Variable) and expr.args[0].id == w.id):
        pos = np.arange(n)[expr.key].ravel()
    else:
        return None
    return ("sum" if summed else "index"), pos, np.zeros(1 if summed else pos.size)


def _pattern(con: cp.Constraint, w: cp.Variable
             ) -> tuple[str, np.ndarray, float, np.ndarray, str] | None:
    """``(kind, pos, coef, rhs, sense)`` for ``coef * (w[pos] or sum w[pos]) (<=|==) rhs``.

    Recognises ``lhs (<=|>=|==) rhs`` with one side ``w``, ``w[idx]``, ``sum(w)`` or
    ``sum(w[idx])`` and the other a constant or Parameter; ``None`` for anything else.
    """
    if isinstance(con, cp.constraints.Inequality):
        sense = "le"
    elif isinstance(con, cp.constraints.Equality):
        sense = "eq"
    else:
        return None
    lhs, rhs = con.args
    a, b = _side(lhs, w), _side(rhs, w)
    if a is None or b is None or (a[0] == "const") == (b[0] == "const"):
        return None
    if a[0] == "const":  # const (<=|==) variable part:  -var <= -const
        kind, pos, _ = b
        coef, value = -1.0, -a[2]
    else:
        kind, pos, _ = a
        coef, value = 1.0, b[2]
    m = 1 if kind == "sum" else pos.size
    if value.size not in (1, m):
        return None
    return kind, pos, coef, np.broadcast_to(value, (m,)).astype(float), sense


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
            fast = _pattern(con, w)
            if fast is not None:
                kind, pos, coef, value, sense = fast
                hi_v = value / coef
                lo_v = hi_v if sense == "eq" else np.full(hi_v.size, -np.inf)
                if coef < 0:
                    lo_v, hi_v = hi_v, (hi_v if sense == "eq" else np.full(hi_v.size, np.inf))
                if kind == "index":
                    np.maximum.at(lower, pos, lo_v)
                    np.minimum.at(upper, pos, hi_v)
                else:
                    rows_g.append(sp.csr_matrix(
                        (np.ones(pos.size), pos, np.array([0, pos.size])), shape=(1, n)))
                    rows_l.append(lo_v)
                    rows_u.append(hi_v)
                    names.append(row.owner)
                continue
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
