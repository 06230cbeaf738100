"""The fast path: a mean-variance frontier as one OSQP problem swept by vector updates.

The frontier problem in shares ``w`` is

    minimise    w' Sigma w
    subject to  mu' w >= t,   l <= A w <= u,   lower <= w <= upper

for a sequence of targets ``t``. Only ``t`` changes between points, so the problem is set up
once (one KKT factorisation) and each point is a call to OSQP's own parametric update of the
bound vector followed by a warm-started solve. When the covariance is a factor model
``Sigma = F F' + diag(d)`` the program carries ``y = F' w`` as ``k`` auxiliary variables and the
quadratic form is ``y'y + sum(d_i w_i^2)``: nothing of size ``n x n`` is ever formed.

This module works on NumPy arrays (the normalised data of a problem, :class:`LinearQP`); the
translation from a :class:`portfolio_mkt.Problem` lives in ``_extract.py``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

__all__ = ["LinearQP", "PointResult", "OSQPFrontierSolver", "DEFAULT_OSQP_SETTINGS"]

#: OSQP settings of the sweep. Polishing recovers the exact active-set solution, which is what
#: brings every point within 1e-6 relative variance of an interior-point reference; the tight
#: tolerances only matter when polishing fails (then the point is flagged ``solved_inaccurate``
#: only if OSQP itself says so).
DEFAULT_OSQP_SETTINGS: dict[str, float | int | bool] = {
    "eps_abs": 1e-9,
    "eps_rel": 1e-9,
    "polishing": True,
    "polish_refine_iter": 5,
    "max_iter": 20_000,
    "verbose": False,
    "warm_starting": True,
    "check_termination": 10,
}


@dataclass
class LinearQP:
    """Normalised data of a long-run mean-variance problem in shares ``w = x / budget``.

    Parameters
    ----------
    mu : ndarray of shape (n,)
        Expected outcome per unit of money (the problem's ``expected_return``); the expected
        outcome of shares ``w`` is ``budget * mu' w``.
    lower, upper : ndarray of shape (n,)
        Bounds on the shares (``-inf`` / ``inf`` where absent).
    A : sparse matrix of shape (m, n), optional
        Linear constraint rows (budget, groups, locks ...), ``lo <= A w <= hi``.
    lo, hi : ndarray of shape (m,)
        Row bounds (``-inf`` / ``inf`` where one-sided).
    row_names : list of str
        Name of the constraint each row belongs to (appears in results).
    factor : ndarray of shape (n, k), optional
        Factor root ``F`` of a factor covariance ``F F' + diag(specific)``.
    specific : ndarray of shape (n,), optional
        Specific variances ``d`` (factor model).
    dense : ndarray of shape (n, n), optional
        A dense covariance (used only when there is no factor model).
    """

    mu: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    A: sp.csr_matrix | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    row_names: list[str] = field(default_factory=list)
    factor: np.ndarray | None = None
    specific: np.ndarray | None = None
    dense: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.mu.shape[0]
        if self.A is None:
            self.A = sp.csr_matrix((0, n))
            self.lo = np.zeros(0)
            self.hi = np.zeros(0)
        self.A = sp.csr_matrix(self.A)
        if self.factor is None and self.dense is None and self.specific is None:
            raise ValueError("LinearQP needs a covariance: factor/specific or dense.")

    @property
    def n(self) -> int:
        """Number of assets."""
        return int(self.mu.shape[0])

    @property
    def n_factors(self) -> int:
        """Number of factors (0 for a dense or diagonal covariance)."""
        return 0 if self.factor is None else int(self.factor.shape[1])

    def variance(self, w: np.ndarray) -> float:
        """``w' Sigma w`` without forming ``Sigma`` for a factor model."""
        if self.dense is not None:
            return float(w @ self.dense @ w)
        out = 0.0
        if self.factor is not None:
            out += float(np.sum((self.factor.T @ w) ** 2))
        if self.specific is not None:
            out += float(np.sum(self.specific * w**2))
        return out

    def diag_variance(self) -> np.ndarray:
        """Diagonal of ``Sigma`` (per-asset variances)."""
        if self.dense is not None:
            return np.diag(self.dense).copy()
        out = np.zeros(self.n)
        if self.factor is not None:
            out += np.sum(self.factor**2, axis=1)
        if self.specific is not None:
            out += self.specific
        return out


@dataclass
class PointResult:
    """One solve of the sweep."""

    target: float | None
    w: np.ndarray | None
    status: str
    message: str
    iterations: int
    solve_time: float
    return_dual: float = float("nan")


class OSQPFrontierSolver:
    """Set up the frontier QP once and solve it for many return targets.

    Each target is first solved by OSQP (vector update, warm start from the previous point,
    solution polishing). A point is accepted from OSQP only when it is solved *and* polished --
    the polished active-set solution is exact to rounding. Otherwise (typically near the
    maximum-return end, where the feasible set thins out and ADMM slows down) the same point
    is re-solved by Clarabel's interior-point method on the same matrices, set up once and
    updated in place (``solver.update(b=...)``), so the symbolic factorisation is reused too.

    Parameters
    ----------
    qp : LinearQP
        The normalised problem.
    settings : dict, optional
        OSQP settings overriding :data:`DEFAULT_OSQP_SETTINGS`.
    fallback : bool, default True
        Re-solve points OSQP does not polish with Clarabel.
    clarabel_tol : float, default 1e-10
        Gap and feasibility tolerance of the Clarabel fallback.
    """

    def __init__(
        self,
        qp: LinearQP,
        settings: dict | None = None,
        fallback: bool = True,
        clarabel_tol: float = 1e-10,
    ) -> None:
        import osqp

        self.qp = qp
        self.settings = {**DEFAULT_OSQP_SETTINGS, **(settings or {})}
        self.fallback = fallback
        self.clarabel_tol = clarabel_tol
        n = qp.n
        # Scale the objective so that the typical per-asset variance is 1 and the return row
        # so that its largest coefficient is 1; the solvers' own equilibration starts there.
        diag = qp.diag_variance()
        mean_diag = float(np.mean(diag)) if diag.size else 0.0
        self._var_scale = mean_diag if mean_diag > 0 else 1.0
        self._mu_scale = float(np.max(np.abs(qp.mu))) if n else 1.0
        if self._mu_scale == 0:
            self._mu_scale = 1.0
        mu_s = qp.mu / self._mu_scale
        s = self._var_scale
        if qp.dense is not None:
            k = 0
            self.P = sp.triu(sp.csc_matrix(qp.dense / s), format="csc")
            factor_rows: list[sp.spmatrix] = []
        else:
            k = qp.n_factors
            d = qp.specific if qp.specific is not None else np.zeros(n)
            self.P = sp.block_diag([sp.diags(d / s), sp.identity(k)], format="csc")
            factor_rows = []
            if k:
                fs = qp.factor / np.sqrt(s)
                factor_rows.append(sp.hstack([sp.csr_matrix(fs.T), -sp.identity(k)]))
        self._k = k
        self._n_var = n + k

        def widen(mat: sp.spmatrix) -> sp.spmatrix:
            return sp.hstack([mat, sp.csr_matrix((mat.shape[0], k))]) if k else mat

        ret_row = widen(sp.csr_matrix(mu_s.reshape(1, -1)))
        finite = np.isfinite(qp.lower) | np.isfinite(qp.upper)
        idx = np.flatnonzero(finite)
        bound_rows = sp.csr_matrix(
            (np.ones(idx.size), (np.arange(idx.size), idx)), shape=(idx.size, n)
        )
        rows = [*factor_rows, ret_row]
        if qp.A.shape[0]:
            rows.append(widen(qp.A))
        rows.append(widen(bound_rows))
        self.A = sp.vstack(rows, format="csc")
        self._ret = k  # index of the return row
        l_parts = [np.zeros(k), [-np.inf], qp.lo, qp.lower[idx]]
        u_parts = [np.zeros(k), [np.inf], qp.hi, qp.upper[idx]]
        self._l = np.concatenate([np.asarray(p, dtype=float) for p in l_parts])
        self._u = np.concatenate([np.asarray(p, dtype=float) for p in u_parts])
        t0 = time.perf_counter()
        self.solver = osqp.OSQP()
        self.solver.setup(self.P, np.zeros(self._n_var), self.A, self._l, self._u,
                          **self.settings)
        self.setup_time = time.perf_counter() - t0
        self._clarabel = None
        self._clarabel_b: np.ndarray | None = None
        self._clarabel_ret = -1
        self._low_target: float | None = None
        self.n_fallback = 0

    # ------------------------------------------------------------------ helpers
    def _dual_to_slope(self, lam_scaled: float) -> float:
        """``d(w'Sigma w)/d(mu'w)`` from the dual of the scaled return row."""
        return 2.0 * self._var_scale * lam_scaled / self._mu_scale

    def _setup_clarabel(self) -> None:
        import clarabel

        a = self.A.tocsr()
        low, up = self._l, self._u
        ret = np.zeros(a.shape[0], dtype=bool)
        ret[self._ret] = True
        eq = np.isfinite(low) & np.isfinite(up) & (low == up) & ~ret
        has_up = ~eq & np.isfinite(up) & ~ret
        has_lo = ~eq & np.isfinite(low) & ~ret
        blocks = [a[eq], -a[ret], a[has_up], -a[has_lo]]
        b = np.concatenate([up[eq], [0.0], up[has_up], -low[has_lo]])
        mat = sp.vstack(blocks, format="csc")
        n_eq = int(eq.sum())
        cones = []
        if n_eq:
            cones.append(clarabel.ZeroConeT(n_eq))
        cones.append(clarabel.NonnegativeConeT(mat.shape[0] - n_eq))
        st = clarabel.DefaultSettings()
        st.verbose = False
        st.presolve_enable = False
        st.tol_gap_abs = self.clarabel_tol
        st.tol_gap_rel = self.clarabel_tol
        st.tol_feas = self.clarabel_tol
        st.max_iter = 200
        self._clarabel_ret = n_eq
        self._clarabel_b = b
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._clarabel = clarabel.DefaultSolver(
                self.P, np.zeros(self._n_var), mat, b, cones, st
            )

    def _low(self) -> float:
        """A return below every feasible one (makes the return row inactive in Clarabel)."""
        if self._low_target is None:
            value, _, _ = self._lp(sign=+1.0)
            span = np.sum(np.abs(self.qp.mu)) + 1.0
            self._low_target = (value if np.isfinite(value) else -1e6) - span
        return self._low_target

    def _solve_clarabel(self, target: float | None) -> PointResult:
        if self._clarabel is None:
            self._setup_clarabel()
        b = self._clarabel_b.copy()
        t = self._low() if target is None else target
        b[self._clarabel_ret] = -t / self._mu_scale
        self._clarabel.update(b=b)
        t0 = time.perf_counter()
        sol = self._clarabel.solve()
        elapsed = time.perf_counter() - t0
        status = str(sol.status)
        ok = status in ("Solved", "AlmostSolved")
        w = np.asarray(sol.x[: self.qp.n], dtype=float).copy() if ok else None
        dual = float("nan")
        if ok and target is not None:
            dual = self._dual_to_slope(float(sol.z[self._clarabel_ret]))
        self.n_fallback += 1
        return PointResult(
            target=target,
            w=w,
            status="solved" if status == "Solved" else _snake(status),
            message=f"Clarabel {status} in {sol.iterations} iterations",
            iterations=int(sol.iterations),
            solve_time=elapsed,
            return_dual=dual,
        )

    def _solve(self, target: float | None) -> PointResult:
        low = self._l.copy()
        low[self._ret] = -np.inf if target is None else target / self._mu_scale
        self.solver.update(l=low)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = self.solver.solve(raise_error=False)
        elapsed = time.perf_counter() - t0
        info = res.info
        status = str(info.status)
        polished = getattr(info, "status_polish", 0) == 1
        ok = status in ("solved", "solved inaccurate")
        if self.fallback and not (status == "solved" and polished):
            point = self._solve_clarabel(target)
            point.solve_time += elapsed
            point.iterations += int(info.iter)
            point.message = f"OSQP {status} (not polished) -> {point.message}"
            if point.w is not None:
                self.solver.warm_start(x=np.r_[point.w, self.qp.factor.T @ point.w
                                                if self._k else np.zeros(0)]
                                       / np.r_[np.ones(self.qp.n),
                                               np.full(self._k, np.sqrt(self._var_scale))])
                return point
        w = np.asarray(res.x[: self.qp.n], dtype=float).copy() if ok else None
        message = f"OSQP {status} in {info.iter} iterations" + ("" if polished else
                                                               " (not polished)")
        dual = float("nan")
        if ok and target is not None:
            dual = self._dual_to_slope(float(-res.y[self._ret]))
        return PointResult(
            target=target,
            w=w,
            status=_snake(status),
            message=message,
            iterations=int(info.iter),
            solve_time=elapsed,
            return_dual=dual,
        )

    # ------------------------------------------------------------------ public
    def min_risk(self) -> PointResult:
        """The minimum-variance point (return row inactive)."""
        return self._solve(None)

    def solve_target(self, target: float) -> PointResult:
        """Minimum variance subject to ``mu' w >= target``."""
        return self._solve(target)

    def _lp(self, sign: float) -> tuple[float, np.ndarray | None, str]:
        qp = self.qp
        a = qp.A.tocsr()
        eq = np.isfinite(qp.lo) & np.isfinite(qp.hi) & (qp.lo == qp.hi)
        le = ~eq & np.isfinite(qp.hi)
        ge = ~eq & np.isfinite(qp.lo)
        a_ub = sp.vstack([a[le], -a[ge]], format="csr")
        b_ub = np.concatenate([qp.hi[le], -qp.lo[ge]])
        bounds = np.column_stack([qp.lower, qp.upper])
        bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                  for lo, hi in bounds]
        res = linprog(
            sign * qp.mu / self._mu_scale,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=a[eq] if eq.any() else None,
            b_eq=qp.lo[eq] if eq.any() else None,
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:
            return float("nan"), None, str(res.message)
        return float(qp.mu @ res.x), np.asarray(res.x), str(res.message)

    def max_return(self) -> tuple[float, np.ndarray | None, str]:
        """The largest feasible ``mu' w`` (an LP solved exactly with HiGHS).

        Returns
        -------
        value : float
            ``max mu' w`` (``nan`` when the LP fails or is unbounded).
        w : ndarray or None
            An optimal vertex.
        status : str
            HiGHS's message.
        """
        return self._lp(sign=-1.0)


def _snake(status: str) -> str:
    out = []
    for i, ch in enumerate(status.replace(" ", "_")):
        if ch.isupper() and i and status[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
