"""Translate a :class:`~portfolio_mkt.Problem` into the normalised arrays of the fast path.

The rows are the constraints' own :class:`~portfolio_mkt.constraints.LinearRows` -- the same
rows the cvxpy program is built from (:meth:`BuildContext.add_rows`) -- divided by the budget
to become rows on the shares ``w``. Per-asset rows and rows touching a single asset fold into
bounds. A problem with anything else -- response curves, halo effects, a constraint that is
not linear (turnover, response floors, non-affine custom constraints) -- is not eligible and
takes the generic cvxpy path.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..problem import Problem
from ..terms import LinearReturn
from ._qp import LinearQP

__all__ = ["linear_qp"]


def linear_qp(problem: Problem) -> tuple[LinearQP | None, str]:
    """The normalised QP of a problem, or ``None`` and the reason it is not one.

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
    if not problem.risk_model.present:
        return None, "no covariance"
    term = problem.return_term
    if not isinstance(term, LinearReturn):
        return None, "response curves or halo effects (not a linear return)"
    n, budget = problem.n_assets, problem.budget
    lower = np.zeros(n)  # the program is long-only
    upper = np.full(n, np.inf)
    coefs: list[np.ndarray] = [np.ones((1, n))]
    row_lo = [np.array([1.0 if problem.budget_mode == "exact" else -np.inf])]
    row_hi = [np.array([1.0])]
    names = ["budget"]
    for c in problem.constraints:
        rows = c.linear_rows(problem)
        if rows is None:
            return None, f"constraint '{c.name}' is not linear ({c.kind})"
        lo, hi = rows.lower / budget, rows.upper / budget
        if rows.assets is not None:
            np.maximum.at(lower, rows.assets, lo)
            np.minimum.at(upper, rows.assets, hi)
            continue
        a = rows.coef
        nnz = (a != 0).sum(axis=1)
        single = nnz == 1
        for i in np.flatnonzero(single):  # a x_j (>=|<=) b: a bound on asset j
            j = int(np.flatnonzero(a[i])[0])
            lo_j, hi_j = lo[i] / a[i, j], hi[i] / a[i, j]
            if a[i, j] < 0:
                lo_j, hi_j = hi_j, lo_j
            lower[j] = max(lower[j], lo_j)
            upper[j] = min(upper[j], hi_j)
        empty = nnz == 0
        if empty.any() and (np.any(hi[empty] < -1e-12) or np.any(lo[empty] > 1e-12)):
            return None, f"constraint '{c.name}' has an infeasible constant row"
        keep = ~single & ~empty
        if keep.any():
            coefs.append(a[keep])
            row_lo.append(lo[keep])
            row_hi.append(hi[keep])
            names.extend([c.name] * int(keep.sum()))
    return LinearQP(mu=term.mu.copy(), lower=lower, upper=upper,
                    A=sp.csr_matrix(np.vstack(coefs)), lo=np.concatenate(row_lo),
                    hi=np.concatenate(row_hi), row_names=names,
                    **problem.risk_model.arrays()), ""
