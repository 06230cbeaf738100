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
translation from a :class:`portfolio_mkt.Problem` lives in ``_linear_qp.py``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..status import OPTIMAL, normalize_status
from ._program import silence_highs_banner

__all__ = ["LinearQP", "PointResult", "OSQPFrontierSolver", "DEFAULT_OSQP_SETTINGS"]

#: OSQP settings of the sweep. Polishing recovers the exact active-set solution, which is what
#: brings every point within 1e-6 relative variance of an interior-point reference; the tight
#: tolerances only matter when polishing fails (then the point is flagged ``solved_inaccurate``
#: only if OSQP itself says so).
#: Dense covariances from this many assets on are factorised with faer (supernodal) instead of
#: QDLDL inside Clarabel.
DENSE_FAER_MIN = 100
#: A dense covariance from this many assets on is swept by the active-set method by default
#: (measured: below about 30 assets a Clarabel point is as cheap as an active-set point).
ACTIVE_SET_MIN_N = 40

DEFAULT_OSQP_SETTINGS: dict[str, float | int | bool] = {
    "eps_abs": 1e-5,
    "eps_rel": 1e-5,
    "polishing": True,
    "polish_refine_iter": 5,
    "max_iter": 400,
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

    def variances(self, w: np.ndarray) -> np.ndarray:
        """``w_j' Sigma w_j`` for each row ``w_j`` of a (points x assets) matrix."""
        w = np.atleast_2d(w)
        if self.dense is not None:
            return np.einsum("ij,ij->i", w @ self.dense, w)
        out = np.zeros(w.shape[0])
        if self.factor is not None:
            out += np.sum((w @ self.factor) ** 2, axis=1)
        if self.specific is not None:
            out += (w * w) @ self.specific
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


def _assemble(qp: LinearQP, var_scale: float, mu_scale: float) -> dict:
    """Clarabel data ``min 1/2 z'Pz  s.t.  Az + s = b, s in K`` for ``z = [w; y]``.

    Built in one pass in COO form. Row blocks, in order: zero cone (factor rows ``F'w - y = 0``,
    equality rows, fixed shares), then the non-negative cone (the return row ``-mu'w <= -t``,
    row upper bounds, row lower bounds, share upper bounds, share lower bounds).
    """
    n = qp.n
    s = var_scale
    if qp.dense is not None:
        k = 0
        p_mat = sp.triu(sp.csc_matrix(qp.dense / s), format="csc")
    else:
        k = qp.n_factors
        d = qp.specific if qp.specific is not None else np.zeros(n)
        diag = np.r_[d / s, np.ones(k)]
        p_mat = sp.csc_matrix((diag, (np.arange(n + k), np.arange(n + k))),
                              shape=(n + k, n + k))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    rhs: list[np.ndarray] = []
    count = 0

    def block(r: np.ndarray, c: np.ndarray, v: np.ndarray, b: np.ndarray) -> None:
        nonlocal count
        rows.append(r + count)
        cols.append(c)
        vals.append(v)
        rhs.append(b)
        count += b.size

    # zero cone ---------------------------------------------------------------------------
    if k:
        fs = qp.factor / np.sqrt(s)  # n x k
        r = np.repeat(np.arange(k), n)
        c = np.tile(np.arange(n), k)
        block(np.r_[r, np.arange(k)], np.r_[c, n + np.arange(k)],
              np.r_[fs.T.ravel(), -np.ones(k)], np.zeros(k))
    a = qp.A.tocoo()
    lo_r, hi_r = qp.lo, qp.hi
    eq = np.isfinite(lo_r) & np.isfinite(hi_r) & (lo_r == hi_r)

    def rows_of(mask: np.ndarray, sign: float, b: np.ndarray) -> None:
        sel = np.flatnonzero(mask)
        if not sel.size:
            return
        remap = np.full(mask.size, -1)
        remap[sel] = np.arange(sel.size)
        keep = remap[a.row] >= 0
        block(remap[a.row[keep]], a.col[keep], sign * a.data[keep], b[sel])

    rows_of(eq, 1.0, hi_r)
    fixed = np.isfinite(qp.lower) & (qp.lower == qp.upper)
    fx = np.flatnonzero(fixed)
    block(np.arange(fx.size), fx, np.ones(fx.size), qp.lower[fx])
    n_zero = count
    # non-negative cone ---------------------------------------------------------------------
    ret = count
    mu_s = qp.mu / mu_scale
    nz = np.flatnonzero(mu_s)
    block(np.zeros(nz.size, dtype=int), nz, -mu_s[nz], np.zeros(1))
    rows_of(~eq & np.isfinite(hi_r), 1.0, hi_r)
    rows_of(~eq & np.isfinite(lo_r), -1.0, -lo_r)
    up = np.flatnonzero(~fixed & np.isfinite(qp.upper))
    block(np.arange(up.size), up, np.ones(up.size), qp.upper[up])
    lo = np.flatnonzero(~fixed & np.isfinite(qp.lower))
    block(np.arange(lo.size), lo, -np.ones(lo.size), -qp.lower[lo])
    a_mat = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(count, n + k))
    return {"P": p_mat, "A": a_mat, "b": np.concatenate(rhs).astype(float), "n_zero": n_zero,
            "ret": ret, "k": k}


class _CriticalLine:
    """Parametric active-set homotopy in the return target (the critical line).

    Works on the scaled data of :class:`OSQPFrontierSolver` (``S = Sigma / s``, ``mu / m``).
    For a fixed active set -- the shares held at a bound, the inequality rows held at a limit,
    the equality rows and the return row ``mu'w = t`` -- the KKT system

        2 S_FF w_F - C_F' nu = -2 S_FB w_B,    C_F w_F = r(t) - C_B w_B

    is linear in ``t``: ``w`` and the multipliers move on a line until a free share reaches a
    bound, an inactive row reaches a limit, a bound multiplier or a row multiplier reaches
    zero (a breakpoint). There the active set changes by one element and the walk goes on.
    The inverse ``H = S_FF^{-1}`` is kept up to date by bordering (a share released: a
    Schur-complement update) and by a rank-one downdate (a share bound), ``O(|F|^2)`` per
    breakpoint, and recomputed from a Cholesky factor every :attr:`refresh` breakpoints; the
    multipliers come from the small ``C_F H C_F'`` system. Each requested target is read off
    its segment, refined by one step of iterative refinement against the exact ``S`` and
    accepted only when its KKT conditions hold (see :meth:`check`).
    """

    def __init__(self, S: np.ndarray, A: np.ndarray, mu: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, lo_r: np.ndarray, hi_r: np.ndarray, eq: np.ndarray,
                 fixed: np.ndarray, refresh: int = 64, max_events: int | None = None) -> None:
        self.S, self.A, self.mu = S, A, mu
        self.lower, self.upper, self.lo_r, self.hi_r = lower, upper, lo_r, hi_r
        self.eq, self.fixed = eq, fixed
        n, m = S.shape[0], A.shape[0]
        self.n, self.m = n, m
        self.refresh = refresh
        self.max_events = max_events if max_events is not None else 20 * n + 200
        self.bnd = np.zeros(n, dtype=np.int8)
        self.row = np.zeros(m, dtype=np.int8)
        self.F = np.zeros(0, dtype=np.intp)
        self.H = np.zeros((0, 0))
        self.with_ret = False
        self.t = 0.0
        self.n_events = 0
        self.n_refresh = 0
        self._since_refresh = 0
        #: (target in scaled units, kind, index) of every breakpoint walked
        self.breakpoints: list[tuple[float, str, int]] = []
        #: (start target in scaled units, bound states, row states) of every segment walked
        self.segments: list[tuple[float, np.ndarray, np.ndarray]] = []
        self.reason = ""
        self._c_cache: tuple | None = None
        self._pb_lo = 1e-10 * (1.0 + np.abs(lower))
        self._pb_hi = 1e-10 * (1.0 + np.abs(upper))
        self._pr_lo = 1e-10 * (1.0 + np.abs(lo_r))
        self._pr_hi = 1e-10 * (1.0 + np.abs(hi_r))

    # --------------------------------------------------------------- linear algebra
    def factor(self) -> bool:
        """``H = S_FF^{-1}`` from a Cholesky factor (``False`` when ``S_FF`` is singular)."""
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        F = self.F
        self.n_refresh += 1
        self._since_refresh = 0
        if not F.size:
            self.H = np.zeros((0, 0))
            return True
        try:
            c = cho_factor(self.S[np.ix_(F, F)], lower=False, check_finite=False)
        except LinAlgError:
            self.reason = "singular covariance block of the free shares"
            return False
        self.H = cho_solve(c, np.eye(F.size), check_finite=False)
        return bool(np.all(np.isfinite(self.H)))

    def _release(self, j: int) -> bool:
        """Share ``j`` becomes free: border ``H`` (Schur complement of ``S_jj``)."""
        F, H, S = self.F, self.H, self.S
        s = S[F, j]
        u = H @ s
        c = float(S[j, j] - s @ u)
        if not c > 1e-12 * S[j, j]:
            self.reason = "singular covariance block of the free shares"
            return False
        k = F.size
        out = np.empty((k + 1, k + 1))
        out[:k, :k] = H + np.outer(u, u) / c
        out[:k, k] = out[k, :k] = -u / c
        out[k, k] = 1.0 / c
        self.H = out
        self.F = np.r_[F, j]
        return True

    def _bind(self, j: int) -> None:
        """Share ``j`` goes to a bound: rank-one downdate of ``H`` and delete its row/column."""
        p = int(np.flatnonzero(self.F == j)[0])
        H = self.H
        h = H[:, p].copy()
        H = H - np.outer(h, h) / h[p]
        keep = np.r_[0:p, p + 1:self.F.size]
        self.H = H[np.ix_(keep, keep)]
        self.F = self.F[keep]

    def _sx(self, x: np.ndarray) -> np.ndarray:
        """``S x`` over the support of ``x`` only (most shares sit at a zero bound)."""
        nz = np.flatnonzero(x)
        if nz.size > self.n // 2:
            return self.S @ x
        return x[nz] @ self.S[nz]  # rows of the symmetric S: contiguous

    # --------------------------------------------------------------- one segment
    def _constraints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (self.row.tobytes(), self.with_ret)
        if self._c_cache is None or self._c_cache[0] != key:
            act = np.flatnonzero(self.row != 0)
            c = self.A[act]
            lim = np.where(self.row[act] < 0, self.lo_r[act], self.hi_r[act])
            if self.with_ret:
                c = np.vstack([c, self.mu[None, :]])
            self._c_cache = (key, act, c, lim)
        _, act, c, lim = self._c_cache
        if self.with_ret:
            lim = np.r_[lim, self.t]
        return act, c, lim

    def segment(self) -> dict | None:
        """Solution and direction (``d/dt``) at the current target, for the current set."""
        n = self.n
        F = self.F
        act, c, lim = self._constraints()
        wb = np.where(self.bnd < 0, self.lower, np.where(self.bnd > 0, self.upper, 0.0))
        wb[F] = 0.0
        cf = c[:, F]
        g_mat = self.H @ cf.T
        k0 = cf @ g_mat
        nzb = np.flatnonzero(wb)
        sbf = self.S[np.ix_(F, nzb)] @ wb[nzb] if nzb.size < self.n // 2 else (self.S @ wb)[F]
        q = self.H @ sbf
        rhs = lim - c @ wb + cf @ q
        ma = c.shape[0]
        if ma:
            if ma > F.size:
                self.reason = "more active constraints than free shares"
                return None
            e = np.zeros(ma)
            if self.with_ret:
                e[-1] = 1.0
            try:
                # K0 = C_F H C_F' is symmetric positive definite when C_F has full row rank
                chol = np.linalg.cholesky(k0)
            except np.linalg.LinAlgError:
                self.reason = "singular active-constraint system"
                return None
            dg = np.abs(np.diag(chol))
            if not np.min(dg) > 1e-7 * np.max(dg):
                self.reason = "ill-conditioned active-constraint system"
                return None
            sol = np.linalg.solve(k0, np.column_stack([rhs, e]))
            nu, dnu = 2.0 * sol[:, 0], 2.0 * sol[:, 1]
        else:
            nu = dnu = np.zeros(0)
        w = wb
        w[F] = g_mat @ nu / 2.0 - q
        dw = np.zeros(n)
        dw[F] = g_mat @ dnu / 2.0
        seg = {"act": act, "c": c, "cf": cf, "G": g_mat, "K0": k0, "w": w, "dw": dw,
               "nu": nu, "dnu": dnu, "t": self.t}
        return seg

    def refine(self, seg: dict, w: np.ndarray, nu: np.ndarray, t: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of iterative refinement of the KKT system at ``t``; returns w, nu, S w."""
        F, c, cf = self.F, seg["c"], seg["cf"]
        sw = self._sx(w)
        if not F.size:
            return w, nu, sw
        lim = np.where(self.row[seg["act"]] < 0, self.lo_r[seg["act"]],
                       self.hi_r[seg["act"]])
        if self.with_ret:
            lim = np.r_[lim, t]
        r1 = 2.0 * sw[F] - (cf.T @ nu if nu.size else 0.0)
        r2 = lim - c @ w
        hr = self.H @ r1
        if nu.size:
            dnu = 2.0 * np.linalg.solve(seg["K0"], r2 + cf @ hr / 2.0)
            dwf = seg["G"] @ dnu / 2.0 - hr / 2.0
            nu = nu + dnu
        else:
            dwf = -hr / 2.0
        w = w.copy()
        w[F] += dwf
        sw = sw + dwf @ self.S[F]
        return w, nu, sw

    def check(self, seg: dict, w: np.ndarray, nu: np.ndarray, sw: np.ndarray) -> str:
        """The KKT conditions of ``w`` (empty string when they hold, else what fails).

        Primal feasibility to ``1e-10`` of each bound and limit, stationarity on the free
        shares and the signs of the bound, row and return multipliers to ``1e-9`` of the
        gradient's size, the active rows met to ``1e-10``. Complementary slackness holds by
        construction (active constraints are equalities, inactive ones carry no multiplier).
        """
        act, c = seg["act"], seg["c"]
        g = 2.0 * sw
        z = g - (c.T @ nu if nu.size else 0.0)
        nu_ret = float(nu[-1]) if self.with_ret else 0.0
        nu_row = np.zeros(self.m)
        nu_row[act] = nu[: act.size]
        dscale = max(float(np.max(np.abs(g))) if self.n else 0.0,
                     abs(nu_ret) * float(np.max(np.abs(self.mu))), 1e-300)
        dtol = 1e-9 * dscale
        free = self.bnd == 0
        if free.any() and np.max(np.abs(z[free])) > dtol:
            return "stationarity not met"
        lim = np.where(self.row[act] < 0, self.lo_r[act], self.hi_r[act])
        if self.with_ret:
            lim = np.r_[lim, seg.get("t_out", self.t)]
        if lim.size and np.any(np.abs(c @ w - lim) > 1e-10 * (1.0 + np.abs(lim))):
            return "active rows not met"
        if nu_ret < -dtol:
            return "negative return multiplier"
        if np.any(free & ((w < self.lower - self._pb_lo) | (w > self.upper + self._pb_hi))):
            return "a free share outside its bounds"
        aw = self.A @ w
        inactive = self.row == 0
        if np.any(inactive & ((aw < self.lo_r - self._pr_lo) | (aw > self.hi_r + self._pr_hi))):
            return "an inactive row outside its limits"
        bad_b = ~self.fixed & (((self.bnd < 0) & (z < -dtol)) | ((self.bnd > 0) & (z > dtol)))
        bad_r = ((self.row == -1) & (nu_row < -dtol)) | ((self.row == 1) & (nu_row > dtol))
        if bad_b.any() or bad_r.any():
            return "a multiplier of the wrong sign"
        return ""

    # --------------------------------------------------------------- start
    def start(self, w0: np.ndarray, max_iter: int = 20) -> np.ndarray | None:
        """The exact minimum-risk point from a close guess ``w0``; ``None`` when not found.

        The active set is read off ``w0`` (within ``1e-9`` of a bound or limit) and corrected
        by a primal-dual active-set iteration until the KKT conditions hold.
        """
        lower, upper, lo_r, hi_r = self.lower, self.upper, self.lo_r, self.hi_r
        guess = 1e-9
        bnd = np.zeros(self.n, dtype=np.int8)
        bnd[w0 <= lower + guess * (1.0 + np.abs(lower))] = -1
        bnd[w0 >= upper - guess * (1.0 + np.abs(upper))] = 1
        bnd[self.fixed] = -1
        aw = self.A @ w0
        row = np.zeros(self.m, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            row[aw <= lo_r + guess * (1.0 + np.abs(lo_r))] = -1
            row[aw >= hi_r - guess * (1.0 + np.abs(hi_r))] = 1
        row[self.eq] = 2
        self.with_ret = False
        for _ in range(max_iter):
            self.bnd, self.row = bnd, row
            self.F = np.flatnonzero(bnd == 0)
            if not self.factor():
                return None
            seg = self.segment()
            if seg is None:
                return None
            w, nu, sw = self.refine(seg, seg["w"], seg["nu"], 0.0)
            why = self.check(seg, w, nu, sw)
            if not why:
                self.t = float(self.mu @ w)
                self.with_ret = True
                return w
            # correct the guess: violated bounds/rows enter, wrong-sign multipliers leave
            z = 2.0 * sw - (seg["c"].T @ nu if nu.size else 0.0)
            nu_row = np.zeros(self.m)
            nu_row[seg["act"]] = nu
            free = bnd == 0
            bnd = bnd.copy()
            row = row.copy()
            aw = self.A @ w
            changed = False
            for mask, val, arr in (
                (free & (w < lower - self._pb_lo), -1, bnd),
                (free & (w > upper + self._pb_hi), 1, bnd),
                ((row == 0) & (aw < lo_r - self._pr_lo), -1, row),
                ((row == 0) & (aw > hi_r + self._pr_hi), 1, row),
            ):
                if mask.any():
                    arr[mask] = val
                    changed = True
            if not changed:
                dtol = 1e-9 * max(float(np.max(np.abs(2.0 * sw))), 1e-300)
                rel_b = ~self.fixed & (((bnd < 0) & (z < -dtol)) | ((bnd > 0) & (z > dtol)))
                rel_r = ((row == -1) & (nu_row < -dtol)) | ((row == 1) & (nu_row > dtol))
                if not (rel_b.any() or rel_r.any()):
                    self.reason = f"minimum-risk point: {why}"
                    return None
                bnd[rel_b] = 0
                row[rel_r] = 0
        self.reason = "minimum-risk active set not found"
        return None

    # --------------------------------------------------------------- the walk
    def walk(self, targets: np.ndarray, w_min: np.ndarray
             ) -> list[tuple[np.ndarray, float, int] | None]:
        """Solutions at increasing ``targets`` (scaled): ``(w, nu_ret, breakpoints so far)``.

        Entries are ``None`` from the first target whose point fails its KKT check (the walk
        stops there; the caller solves those points another way).
        """
        out: list[tuple[np.ndarray, float, int] | None] = [None] * len(targets)
        i = 0
        while i < len(targets) and targets[i] <= self.t:
            out[i] = (w_min.copy(), 0.0, 0)
            i += 1
        if i == len(targets):
            return out
        blocked: set[tuple[str, int]] = set()
        span = float(targets[-1] - self.t) if len(targets) else 1.0
        tiny = 1e-13 * max(span, 1e-300)
        seg = None
        z_next = nu_rows_next = None
        while i < len(targets):
            if seg is None:
                if self._since_refresh >= self.refresh and not self.factor():
                    return out
                fresh = self._since_refresh == 0
                seg = self.segment()
                if seg is None and z_next is not None:
                    seg = self._degenerate(z_next, nu_rows_next, blocked)
                if seg is None:
                    return out
                self.segments.append((self.t, self.bnd.copy(), self.row.copy()))
                if z_next is not None and not fresh and "z" not in seg:
                    seg["z"] = z_next  # continuous in t (not at a degenerate vertex)
            w, dw, nu, dnu = seg["w"], seg["dw"], seg["nu"], seg["dnu"]
            step, kind, idx = self._ratio_test(seg, blocked)
            t_next = self.t + step
            while i < len(targets) and targets[i] <= t_next:
                tt = float(targets[i])
                h = tt - self.t
                wt, nut, sw = self.refine(seg, w + h * dw, nu + h * dnu, tt)
                seg["t_out"] = tt
                why = self.check(seg, wt, nut, sw)
                if why and self._since_refresh:
                    # a fresh factor and the segment again, once
                    if not self.factor():
                        return out
                    seg = self.segment()
                    if seg is None:
                        return out
                    w, dw, nu, dnu = seg["w"], seg["dw"], seg["nu"], seg["dnu"]
                    wt, nut, sw = self.refine(seg, w + h * dw, nu + h * dnu, tt)
                    seg["t_out"] = tt
                    why = self.check(seg, wt, nut, sw)
                if why:
                    self.reason = f"KKT check at a target: {why}"
                    return out
                out[i] = (wt, float(nut[-1]), len(self.breakpoints))
                i += 1
            if i == len(targets) or not np.isfinite(step):
                break
            # the breakpoint: change the active set by one element
            self.n_events += 1
            if self.n_events > self.max_events:
                self.reason = f"more than {self.max_events} breakpoints"
                return out
            if step > tiny:
                blocked = set()
            blocked.add((kind, idx))
            self.t = t_next
            self.breakpoints.append((t_next, kind, idx))
            z_next = seg["z"] + step * seg["dz"]
            if kind in ("upper", "lower", "release"):
                z_next[idx] = 0.0
            nu_rows_next = np.zeros(self.m)
            nu_rows_next[seg["act"]] = (nu + step * dnu)[: seg["act"].size]
            ok = self._apply(kind, idx)
            self._since_refresh += 1
            if not ok:
                return out
            seg = None
        return out

    def _degenerate(self, z: np.ndarray, nu_rows: np.ndarray, blocked: set) -> dict | None:
        """A breakpoint where two changes fall on the same ``t`` (a degenerate vertex).

        Binding a share can leave more active constraints than free shares (the target is
        pinned: e.g. a floor row and the budget fix the sums of both groups): the path goes
        on only if, at the same ``t``, a bound share or an active row is released too, and
        the multipliers jump. Each candidate is tried (smallest ``|z|`` first, at most 64):
        it is kept when the system is regular again, the released element moves to its
        feasible side, and the new multipliers have the right signs just after ``t``.
        """
        dscale = max(float(np.max(np.abs(z))), 1e-300)
        order = np.argsort(np.abs(z))
        cand = [("release", int(j)) for j in order if self.bnd[j] != 0 and not self.fixed[j]]
        cand = [("row_release", int(j)) for j in np.flatnonzero(np.abs(self.row) == 1)] + cand
        why = self.reason
        for kind, j in cand[:64]:
            if (kind, j) in blocked:
                continue
            saved = (self.bnd.copy(), self.row.copy(), self.F.copy(), self.H.copy())
            side = self.bnd[j] if kind == "release" else self.row[j]
            if self._apply(kind, j):
                seg = self.segment()
                if seg is not None and self._valid_after(seg, kind, j, side, dscale):
                    self.breakpoints.append((self.t, kind, j))
                    blocked.add((kind, j))
                    return seg
            self.bnd, self.row, self.F, self.H = saved
            self._c_cache = None
        self.reason = f"degenerate breakpoint not resolved ({why})"
        return None

    def _valid_after(self, seg: dict, kind: str, j: int, side: int, dscale: float) -> bool:
        """Whether a segment is the path just after its start: signs at ``t + epsilon``."""
        w, dw, nu, dnu, c = seg["w"], seg["dw"], seg["nu"], seg["dnu"], seg["c"]
        move = dw[j] if kind == "release" else float(self.A[j] @ dw)
        if move * side > 0.0:
            return False
        if self.with_ret and (dnu[-1] < 0.0 or nu[-1] < -1e-9 * dscale):
            return False
        z = 2.0 * self._sx(w) - (c.T @ nu if nu.size else 0.0)
        dz = 2.0 * (dw[self.F] @ self.S[self.F]) - (c.T @ dnu if dnu.size else 0.0)
        tol = 1e-9 * dscale
        eps = 1e-9 * max(float(np.max(np.abs(z))), 1e-300) / max(
            float(np.max(np.abs(dz))), 1e-300)
        ze = z + eps * dz
        lo = (self.bnd < 0) & ~self.fixed
        hi = self.bnd > 0
        if np.any(lo & (ze < -tol)) or np.any(hi & (ze > tol)):
            return False
        act = seg["act"]
        if act.size:
            ne = (nu + eps * dnu)[: act.size]
            r = self.row[act]
            if np.any(((r == -1) & (ne < -tol)) | ((r == 1) & (ne > tol))):
                return False
        seg["z"] = z
        return True

    def _ratio_test(self, seg: dict, blocked: set) -> tuple[float, str, int]:
        """Distance in ``t`` to the next breakpoint and its kind and index.

        One vector of candidate steps (``n`` shares reaching a bound, ``n`` bound multipliers
        reaching zero, ``m`` rows reaching a limit, ``m`` row multipliers reaching zero) and
        one ``argmin``. Derivatives below ``1e-12`` of the largest one count as zero. An
        element changed at this very ``t`` (``blocked``) cannot change back at a zero step.
        """
        n, m = self.n, self.m
        w, dw, nu, dnu = seg["w"], seg["dw"], seg["nu"], seg["dnu"]
        act, c = seg["act"], seg["c"]
        bnd = self.bnd
        inf = np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            eps_w = 1e-12 * float(np.max(np.abs(dw)))
            free = bnd == 0
            up = free & (dw > eps_w)
            dn = free & (dw < -eps_w)
            s_w = np.where(up, (self.upper - w) / dw, np.where(dn, (self.lower - w) / dw, inf))
            # bound multipliers z = 2 S w - C' nu, linear in t; kept along the walk
            z = seg.get("z")
            if z is None:
                z = 2.0 * self._sx(w) - (c.T @ nu if nu.size else 0.0)
            dz = 2.0 * (dw[self.F] @ self.S[self.F]) - (c.T @ dnu if dnu.size else 0.0)
            seg["z"], seg["dz"] = z, dz
            eps_z = 1e-12 * float(np.max(np.abs(dz)))
            rel = (((bnd < 0) & ~self.fixed & (dz < -eps_z)) | ((bnd > 0) & (dz > eps_z)))
            s_z = np.where(rel, -z / dz, inf)
            parts = [s_w, s_z]
            if m:
                aw, daw = self.A @ w, self.A @ dw
                inact = self.row == 0
                eps_r = 1e-12 * float(np.max(np.abs(daw)))
                rup = inact & (daw > eps_r)
                rdn = inact & (daw < -eps_r)
                s_r = np.where(rup, (self.hi_r - aw) / daw,
                               np.where(rdn, (self.lo_r - aw) / daw, inf))
                s_n = np.full(m, inf)
                if act.size:
                    nr, dnr = nu[: act.size], dnu[: act.size]
                    eps_n = 1e-12 * max(float(np.max(np.abs(dnr))), 1e-300)
                    r = self.row[act]
                    s_n[act] = np.where(((r == -1) & (dnr < -eps_n)) | ((r == 1) & (dnr > eps_n)),
                                        -nr / dnr, inf)
                parts += [s_r, s_n]
            steps = np.concatenate(parts)
        steps[np.isnan(steps)] = inf
        np.maximum(steps, 0.0, out=steps)
        for _ in range(8):
            j = int(np.argmin(steps))
            step = float(steps[j])
            if not np.isfinite(step):
                return inf, "", -1
            if j < n:
                kind, idx = ("upper" if dw[j] > 0 else "lower"), j
            elif j < 2 * n:
                kind, idx = "release", j - n
            elif j < 2 * n + m:
                idx = j - 2 * n
                kind = "row_hi" if daw[idx] > 0 else "row_lo"
            else:
                kind, idx = "row_release", j - 2 * n - m
            if step <= 0.0 and (kind, idx) in blocked:
                steps[j] = inf
                continue
            return step, kind, idx
        return inf, "", -1

    def _apply(self, kind: str, j: int) -> bool:
        if kind in ("upper", "lower"):
            self.bnd[j] = 1 if kind == "upper" else -1
            self._bind(j)
            return True
        if kind == "release":
            self.bnd[j] = 0
            return self._release(j)
        if kind in ("row_hi", "row_lo"):
            self.row[j] = 1 if kind == "row_hi" else -1
            return True
        self.row[j] = 0
        return True


class OSQPFrontierSolver:
    """Set up the frontier QP once and solve it for many return targets.

    Two engines share the normalised data. ``engine="clarabel"`` (default): Clarabel's
    interior-point method, set up once; each target only changes the right-hand side of the
    return row (``solver.update(b=...)``), so the symbolic factorisation and the equilibration
    are reused; every point converges to the tight tolerance in about ten iterations whatever
    its position on the frontier. ``engine="osqp"``: each target is first solved by OSQP
    (vector update of the return row's bound, warm start from the previous point, solution
    polishing). A point is accepted from OSQP only when it is solved *and* polished -- the
    polished active-set solution is exact to rounding. Otherwise (typically near the
    maximum-return end, where the feasible set thins out and ADMM slows down) the same point
    is re-solved by Clarabel on the same data.

    Parameters
    ----------
    qp : LinearQP
        The normalised problem.
    settings : dict, optional
        OSQP settings overriding :data:`DEFAULT_OSQP_SETTINGS` (``engine="osqp"``).
    fallback : bool, default True
        Re-solve points OSQP does not polish with Clarabel (``engine="osqp"``).
    clarabel_tol : float, default 1e-9
        Gap and feasibility tolerance of Clarabel.
    engine : {"clarabel", "osqp"}, default "clarabel"
        Which solver sweeps the targets.
    active_set : bool, optional
        Solve each target point by a warm-started active-set method first (see
        :meth:`_solve_active_set`), falling back to Clarabel for that point whenever the
        KKT conditions are not met exactly. Only with a dense covariance and
        ``engine="clarabel"`` (where each interior-point iteration factorises a dense KKT
        matrix); default: on from :data:`ACTIVE_SET_MIN_N` assets. With it, :meth:`sweep`
        walks the critical line (:class:`_CriticalLine`) through all targets at once.
    """

    #: Most active-set changes tried per point before falling back to Clarabel.
    ACTIVE_SET_MAX_ITER = 30
    #: BLAS threads during the dense sweep (``None``: the library's default). Its work is
    #: many small dependent factorisations and products: one thread is as fast on a quiet
    #: machine and does not collapse on a busy one (measured in benchmarks/frontier_bench.py).
    BLAS_THREADS: int | None = 1

    def __init__(
        self,
        qp: LinearQP,
        settings: dict | None = None,
        fallback: bool = True,
        clarabel_tol: float = 1e-9,
        engine: str = "clarabel",
        active_set: bool | None = None,
    ) -> None:
        if engine not in ("clarabel", "osqp"):
            raise ValueError(f"engine must be 'clarabel' or 'osqp'; got {engine!r}")
        self.qp = qp
        self.engine = engine
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
        t0 = time.perf_counter()
        self.data = _assemble(qp, self._var_scale, self._mu_scale)
        self._k = self.data["k"]
        self._n_var = n + self._k
        self._clarabel = None
        self._clarabel_refined = None
        self._low_target: float | None = None
        self.n_fallback = 0
        self.solver = None
        if active_set is None:
            active_set = qp.n >= ACTIVE_SET_MIN_N
        self.active_set = bool(active_set) and engine == "clarabel" and qp.dense is not None
        self.active_set_max_iter = self.ACTIVE_SET_MAX_ITER
        self.n_active_set = 0
        self.n_active_set_fallback = 0
        self._as_data: dict | None = None
        self._as_prev: np.ndarray | None = None
        self._as_state: tuple[np.ndarray, np.ndarray] | None = None
        self._as_reason = ""
        self._min_w: np.ndarray | None = None
        self.n_critical_line = 0
        self.critical_line: _CriticalLine | None = None
        self.blas_threads = self.BLAS_THREADS
        if engine == "osqp":
            self._setup_osqp()
        else:
            self._setup_clarabel()
        self.setup_time = time.perf_counter() - t0

    # ------------------------------------------------------------------ set-up
    def _setup_osqp(self) -> None:
        import osqp

        d = self.data
        a = d["A"]
        nz, ret = d["n_zero"], d["ret"]
        b = d["b"]
        # OSQP form l <= A z <= u from the cone form: zero rows l = u = b, non-negative rows
        # -inf <= A z <= b. The return row is the first non-negative row.
        self._l = np.r_[b[:nz], np.full(b.size - nz, -np.inf)]
        self._u = b.copy()
        self._u[ret] = np.inf
        self._osqp_ret = ret
        self.solver = osqp.OSQP()
        self.solver.setup(d["P"], np.zeros(self._n_var), a, self._l, self._u, **self.settings)

    def _setup_clarabel(self, refine: bool = False) -> None:
        import clarabel

        d = self.data
        cones = []
        if d["n_zero"]:
            cones.append(clarabel.ZeroConeT(d["n_zero"]))
        cones.append(clarabel.NonnegativeConeT(d["b"].size - d["n_zero"]))
        st = clarabel.DefaultSettings()
        st.verbose = False
        st.presolve_enable = False
        st.tol_gap_abs = self.clarabel_tol
        st.tol_gap_rel = self.clarabel_tol
        st.tol_feas = self.clarabel_tol
        st.max_iter = 200
        # Iterative refinement of each KKT solve halves the time per point and, measured on
        # these problems, changes the variances by ~1e-8 relative; a point that does not reach
        # "Solved" without it is re-solved with it (see _solve_clarabel).
        st.iterative_refinement_enable = refine
        if self._n_var >= 5000 or (self.qp.dense is not None and self.qp.n >= DENSE_FAER_MIN):
            # supernodal factorisation (dense blocks): measured ~1.6x faster than QDLDL at
            # 10,000 assets in factor form, and much faster on a dense covariance
            st.direct_solve_method = "faer"
        self._cones = cones
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solver = clarabel.DefaultSolver(
                d["P"], np.zeros(self._n_var), d["A"], d["b"].copy(), cones, st
            )
        if refine:
            self._clarabel_refined = solver
        else:
            self._clarabel_settings = st
            self._b = d["b"].copy()
            self._clarabel = solver

    # ------------------------------------------------------------------ helpers
    def _dual_to_slope(self, lam_scaled: float) -> float:
        """``d(w'Sigma w)/d(mu'w)`` from the dual of the scaled return row."""
        return 2.0 * self._var_scale * lam_scaled / self._mu_scale

    def _low(self) -> float:
        """A return below every feasible one (makes the return row inactive)."""
        if self._low_target is None:
            qp = self.qp
            floor = np.fmin(qp.mu * qp.lower, qp.mu * qp.upper)
            if np.all(np.isfinite(floor)):
                value = float(np.sum(floor))
            else:
                value, _, _ = self._lp(sign=+1.0)
                value = value if np.isfinite(value) else -1e6 * self._mu_scale
            self._low_target = value - (np.sum(np.abs(qp.mu)) + self._mu_scale)
        return self._low_target

    def _solve_clarabel(self, target: float | None) -> PointResult:
        if self._clarabel is None:
            self._setup_clarabel()
        ret = self.data["ret"]
        t = self._low() if target is None else target
        self._b[ret] = -t / self._mu_scale
        self._clarabel.update(b=self._b)
        t0 = time.perf_counter()
        sol = self._clarabel.solve()
        status = str(sol.status)
        if status != "Solved":
            # again with iterative refinement (a second solver, set up on first need)
            if self._clarabel_refined is None:
                self._setup_clarabel(refine=True)
            self._clarabel_refined.update(b=self._b)
            first = status
            sol = self._clarabel_refined.solve()
            status = str(sol.status)
            if status != "Solved":
                status = f"{status} (first {first})"
        elapsed = time.perf_counter() - t0
        ok = status.split(" ")[0] in ("Solved", "AlmostSolved")
        w = np.array(sol.x[: self.qp.n], dtype=float) if ok else None
        dual = float("nan")
        if ok and target is not None:
            dual = self._dual_to_slope(float(sol.z[ret]))
        if self.engine == "osqp":
            self.n_fallback += 1
        return PointResult(
            target=target,
            w=w,
            status=normalize_status(status.split(" ")[0]),
            message=f"Clarabel {status} in {sol.iterations} iterations",
            iterations=int(sol.iterations),
            solve_time=elapsed,
            return_dual=dual,
        )

    def _solve_osqp(self, target: float | None) -> PointResult:
        ret = self._osqp_ret
        low = self._l.copy()
        low[ret] = -np.inf
        up = self._u.copy()
        # the cone row is -mu'w <= -t: in OSQP form -inf <= -mu'w <= -t
        up[ret] = np.inf if target is None else -target / self._mu_scale
        self.solver.update(l=low, u=up)
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
            return point
        w = np.array(res.x[: self.qp.n], dtype=float) if ok else None
        message = f"OSQP {status} in {info.iter} iterations" + (
            "" if polished else " (not polished)")
        dual = float("nan")
        if ok and target is not None:
            dual = self._dual_to_slope(float(res.y[ret]))
        return PointResult(
            target=target,
            w=w,
            status=normalize_status(status),
            message=message,
            iterations=int(info.iter),
            solve_time=elapsed,
            return_dual=dual,
        )

    def _solve(self, target: float | None) -> PointResult:
        if self.engine == "clarabel":
            if self.active_set and target is not None and self._as_prev is not None:
                point = self._solve_active_set(target)
                if point is not None:
                    self.n_active_set += 1
                    return point
                self.n_active_set_fallback += 1
                point = self._solve_clarabel(target)
                point.message = f"active set: {self._as_reason} -> {point.message}"
            else:
                point = self._solve_clarabel(target)
            if self.active_set:
                self._as_prev = point.w
                self._as_state = None
            return point
        return self._solve_osqp(target)

    def _solve_active_set(self, target: float) -> PointResult | None:
        """One target by a primal-dual active-set method, or ``None`` (then Clarabel solves it).

        The starting guess is the previous point's active set: the shares at a bound and the
        inequality rows at a limit (taken from the previous active-set solution, or from the
        previous Clarabel solution within ``1e-9``), with the return row ``mu'w = t`` active.
        Each iteration solves the equality-constrained KKT system of that guess densely
        (``[2 S_FF, C_F'; C_F, 0]`` over the free shares ``F``), then fixes at its bound every
        free share outside its bounds, activates every violated row, and releases every bound or
        row whose multiplier has the wrong sign. The point is accepted only when the KKT
        conditions hold to tight tolerance, checked explicitly: primal feasibility (``1e-10``
        of the bound), stationarity on the free shares and dual signs of the bound, row and
        return multipliers (``1e-9`` of the gradient's size), the active rows met to
        ``1e-10``. Complementarity holds by construction (the active constraints are met as
        equalities, the inactive ones carry no multiplier). A singular KKT matrix, a repeated
        active set, a negative return multiplier (the target is below the minimum-risk
        return) or more than :attr:`active_set_max_iter` iterations give ``None``.
        """
        qp = self.qp
        t0 = time.perf_counter()
        d = self._as_arrays()
        S, a, mu = d["S"], d["A"], d["mu"]
        eq, fixed = d["eq"], d["fixed"]
        lower, upper, lo_r, hi_r = qp.lower, qp.upper, qp.lo, qp.hi
        n = qp.n
        if self._as_state is not None:
            bnd, row = (x.copy() for x in self._as_state)
        else:
            w0 = self._as_prev
            guess = 1e-9
            bnd = np.zeros(n, dtype=np.int8)
            bnd[w0 <= lower + guess * (1.0 + np.abs(lower))] = -1
            bnd[w0 >= upper - guess * (1.0 + np.abs(upper))] = 1
            bnd[fixed] = -1
            aw = a @ w0
            row = np.zeros(a.shape[0], dtype=np.int8)
            with np.errstate(invalid="ignore"):
                row[aw <= lo_r + guess * (1.0 + np.abs(lo_r))] = -1
                row[aw >= hi_r - guess * (1.0 + np.abs(hi_r))] = 1
            row[eq] = 2
        tt = target / self._mu_scale
        ptol_b_lo = 1e-10 * (1.0 + np.abs(lower))
        ptol_b_hi = 1e-10 * (1.0 + np.abs(upper))
        ptol_r_lo = 1e-10 * (1.0 + np.abs(lo_r))
        ptol_r_hi = 1e-10 * (1.0 + np.abs(hi_r))
        seen: set[bytes] = set()
        single = False
        for it in range(1, self.active_set_max_iter + 1):
            key = bnd.tobytes() + row.tobytes()
            if key in seen:
                if single:
                    return self._as_fail("the active set repeats")
                # the simultaneous updates cycle: from here on one change per iteration
                single = True
                seen = set()
            seen.add(key)
            on = bnd != 0
            free = np.flatnonzero(~on)
            bound = np.flatnonzero(on)
            wb = np.where(bnd[bound] < 0, lower[bound], upper[bound])
            act = np.flatnonzero(row != 0)
            c = np.vstack([a[act], mu[None, :]])
            rhs_c = np.r_[np.where(row[act] < 0, lo_r[act], hi_r[act]), tt]
            nf, nc = free.size, c.shape[0]
            kkt = np.zeros((nf + nc, nf + nc))
            kkt[:nf, :nf] = 2.0 * S[np.ix_(free, free)]
            cf = c[:, free]
            kkt[:nf, nf:] = cf.T
            kkt[nf:, :nf] = cf
            rhs = np.r_[-2.0 * (S[np.ix_(free, bound)] @ wb), rhs_c - c[:, bound] @ wb]
            try:
                sol = np.linalg.solve(kkt, rhs)
            except np.linalg.LinAlgError:
                return self._as_fail("singular KKT matrix")
            if not np.all(np.isfinite(sol)):
                return self._as_fail("singular KKT matrix")
            w = np.empty(n)
            w[free] = sol[:nf]
            w[bound] = wb
            nu = -sol[nf:]
            g = 2.0 * (S @ w)
            z = g - c.T @ nu  # bound multipliers: >= 0 at a lower bound, <= 0 at an upper
            nu_ret = nu[-1]
            nu_row = np.zeros(a.shape[0])
            nu_row[act] = nu[:-1]
            dscale = max(float(np.max(np.abs(g))) if n else 0.0,
                         abs(nu_ret) * float(np.max(np.abs(mu))), 1e-300)
            dtol = 1e-9 * dscale
            # stationarity on the free shares and the active rows met (solve accuracy)
            if nf and np.max(np.abs(z[free])) > dtol:
                return self._as_fail("stationarity not met (ill-conditioned KKT matrix)")
            cw = c @ w
            if np.any(np.abs(cw - rhs_c) > 1e-10 * (1.0 + np.abs(rhs_c))):
                return self._as_fail("active rows not met (ill-conditioned KKT matrix)")
            if nu_ret < -dtol:
                return self._as_fail("negative return multiplier")
            aw = a @ w
            inactive = row == 0
            p_lo = ~on & (w < lower - ptol_b_lo)
            p_hi = ~on & (w > upper + ptol_b_hi)
            r_lo = inactive & (aw < lo_r - ptol_r_lo)
            r_hi = inactive & (aw > hi_r + ptol_r_hi)
            d_b = ~fixed & (((bnd < 0) & (z < -dtol)) | ((bnd > 0) & (z > dtol)))
            d_r = ((row == -1) & (nu_row < -dtol)) | ((row == 1) & (nu_row > dtol))
            if not (p_lo.any() or p_hi.any() or r_lo.any() or r_hi.any() or d_b.any()
                    or d_r.any()):
                self._as_prev = w
                self._as_state = (bnd, row)
                return PointResult(
                    target=target,
                    w=w,
                    status=OPTIMAL,
                    message=f"active set: KKT conditions met in {it} iteration(s), warm "
                            "start from the previous point",
                    iterations=it,
                    solve_time=time.perf_counter() - t0,
                    return_dual=self._var_scale * float(nu_ret) / self._mu_scale,
                )
            if single:
                # the largest primal violation enters; if there is none, the largest wrong-sign
                # multiplier leaves
                with np.errstate(invalid="ignore"):
                    primal = np.r_[
                        np.where(p_lo, (lower - w) / (1.0 + np.abs(lower)), 0.0),
                        np.where(p_hi, (w - upper) / (1.0 + np.abs(upper)), 0.0),
                        np.where(r_lo, (lo_r - aw) / (1.0 + np.abs(lo_r)), 0.0),
                        np.where(r_hi, (aw - hi_r) / (1.0 + np.abs(hi_r)), 0.0)]
                keep = np.zeros(primal.size, dtype=bool)
                if primal.size and primal.max() > 0:
                    keep[int(np.argmax(primal))] = True
                else:
                    dual = np.r_[np.where(d_b, np.abs(z), 0.0), np.where(d_r, np.abs(nu_row), 0.0)]
                    drop = int(np.argmax(dual))
                    d_b = np.zeros(n, dtype=bool)
                    d_r = np.zeros(a.shape[0], dtype=bool)
                    (d_b if drop < n else d_r)[drop if drop < n else drop - n] = True
                m_r = a.shape[0]
                p_lo = p_lo & keep[:n]
                p_hi = p_hi & keep[n:2 * n]
                r_lo = r_lo & keep[2 * n:2 * n + m_r]
                r_hi = r_hi & keep[2 * n + m_r:]
            bnd[p_lo] = -1
            bnd[p_hi] = 1
            bnd[d_b] = 0
            row[r_lo] = -1
            row[r_hi] = 1
            row[d_r] = 0
        return self._as_fail(f"no KKT point in {self.active_set_max_iter} iterations")

    def _as_fail(self, reason: str) -> None:
        self._as_reason = reason
        return None

    # ------------------------------------------------------------------ public
    def min_risk(self) -> PointResult:
        """The minimum-variance point (return row inactive)."""
        point = self._solve(None)
        self._min_w = point.w
        return point

    def sweep(self, targets) -> list[PointResult]:
        """Minimum variance at each target, in one pass when the covariance is dense.

        With the active-set method on (a dense covariance), the points are read off the
        critical line (:class:`_CriticalLine`): a parametric active-set walk in the return
        target from the exact minimum-risk point, one breakpoint per change of the active set,
        each point refined and accepted only when its KKT conditions hold. From the first
        point that fails (or when the walk cannot start), the remaining points are solved one
        by one (:meth:`solve_target`: the warm-started active-set method, then Clarabel).
        Otherwise each target is :meth:`solve_target`. Call :meth:`min_risk` first.

        Parameters
        ----------
        targets : sequence of float
            Return targets ``mu'w >= t`` (any order).

        Returns
        -------
        list of PointResult
            In the order of ``targets``.
        """
        targets = [float(t) for t in targets]
        if not (targets and self.engine == "clarabel" and self.active_set
                and getattr(self, "_min_w", None) is not None):
            return [self.solve_target(t) for t in targets]
        from threadpoolctl import threadpool_limits

        # many small, dependent matrix-vector products and updates: one BLAS thread is
        # faster, and does not collapse when the machine is busy
        with threadpool_limits(limits=self.blas_threads, user_api="blas"):
            results = self._critical_line(targets)
        return results

    def _as_arrays(self) -> dict:
        """Scaled dense data of the active-set methods (built once)."""
        if self._as_data is None:
            qp = self.qp
            lo_r, hi_r = qp.lo, qp.hi
            self._as_data = {
                "S": np.ascontiguousarray(qp.dense / self._var_scale),
                "A": qp.A.toarray(),
                "mu": qp.mu / self._mu_scale,
                "eq": np.isfinite(lo_r) & np.isfinite(hi_r) & (lo_r == hi_r),
                "fixed": np.isfinite(qp.lower) & (qp.lower == qp.upper),
            }
        return self._as_data

    def _critical_line(self, targets: list[float]) -> list[PointResult]:
        qp = self.qp
        t0 = time.perf_counter()
        d = self._as_arrays()
        cl = _CriticalLine(d["S"], d["A"], d["mu"], qp.lower, qp.upper, qp.lo, qp.hi,
                           d["eq"], d["fixed"])
        self.critical_line = cl
        order = np.argsort(targets, kind="stable")
        scaled = np.asarray(targets)[order] / self._mu_scale
        w_min = cl.start(np.asarray(self._min_w, dtype=float))
        found = cl.walk(scaled, w_min) if w_min is not None else [None] * len(targets)
        elapsed = time.perf_counter() - t0
        n_ok = sum(f is not None for f in found)
        per_point = elapsed / max(n_ok, 1)
        out: list[PointResult | None] = [None] * len(targets)
        last_w = self._min_w
        for rank, j in enumerate(order):
            f = found[rank]
            if f is None:
                continue
            w, nu_ret, n_bp = f
            last_w = w
            self.n_active_set += 1
            self.n_critical_line += 1
            out[j] = PointResult(
                target=targets[j], w=w, status=OPTIMAL,
                message=f"critical line: KKT conditions met ({n_bp} breakpoints walked from "
                        "the minimum-risk point)",
                iterations=n_bp, solve_time=per_point,
                return_dual=self._var_scale * float(nu_ret) / self._mu_scale)
        # the rest one by one, warm-started from the last point of the walk
        self._as_prev, self._as_state = last_w, None
        for j in order:
            if out[j] is None:
                point = self._solve(targets[j])
                point.message = f"critical line stopped ({cl.reason}) -> {point.message}"
                out[j] = point
        return out  # type: ignore[return-value]

    def solve_target(self, target: float) -> PointResult:
        """Minimum variance subject to ``mu' w >= target``."""
        return self._solve(target)

    def _lp(self, sign: float) -> tuple[float, np.ndarray | None, str]:
        """``min sign * mu'w`` with HiGHS (exact vertex)."""
        qp = self.qp
        a = qp.A.tocsr()
        eq = np.isfinite(qp.lo) & np.isfinite(qp.hi) & (qp.lo == qp.hi)
        le = ~eq & np.isfinite(qp.hi)
        ge = ~eq & np.isfinite(qp.lo)
        a_ub = sp.vstack([a[le], -a[ge]], format="csr")
        b_ub = np.concatenate([qp.hi[le], -qp.lo[ge]])
        bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                  for lo, hi in zip(qp.lower, qp.upper, strict=True)]
        res = linprog(
            sign * qp.mu / self._mu_scale,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=a[eq] if eq.any() else None,
            b_eq=qp.lo[eq] if eq.any() else None,
            bounds=bounds,
            method="highs",
        )
        self._lp_result = res
        if res.status != 0:
            return float("nan"), None, str(res.message)
        return float(qp.mu @ res.x), np.asarray(res.x), str(res.message)

    def _lp_vertex(self) -> tuple[float, np.ndarray | None, str, np.ndarray, np.ndarray]:
        """``max mu'w`` by HiGHS: value, vertex, message, reduced costs, row duals.

        Uses ``highspy`` (a cvxpy dependency) directly when importable -- two-sided rows, no
        conversion overhead -- and :func:`scipy.optimize.linprog` otherwise.
        """
        qp = self.qp
        n, m = qp.n, qp.A.shape[0]
        try:
            import highspy
        except ImportError:  # pragma: no cover - cvxpy ships highspy
            highspy = None
        if highspy is not None:
            silence_highs_banner()
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            inf = h.getInfinity()
            lp = highspy.HighsLp()
            lp.num_col_ = n
            lp.num_row_ = m
            lp.col_cost_ = -qp.mu / self._mu_scale
            lp.col_lower_ = np.where(np.isfinite(qp.lower), qp.lower, -inf)
            lp.col_upper_ = np.where(np.isfinite(qp.upper), qp.upper, inf)
            lp.row_lower_ = np.where(np.isfinite(qp.lo), qp.lo, -inf)
            lp.row_upper_ = np.where(np.isfinite(qp.hi), qp.hi, inf)
            a = sp.csc_matrix(qp.A)
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_ = a.indptr
            lp.a_matrix_.index_ = a.indices
            lp.a_matrix_.value_ = a.data
            h.passModel(lp)
            h.run()
            status = h.getModelStatus()
            msg = f"HiGHS {h.modelStatusToString(status)}"
            if status != highspy.HighsModelStatus.kOptimal:
                return float("nan"), None, msg, np.zeros(n), np.zeros(m)
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=float)
            return (float(qp.mu @ x), x, msg, np.asarray(sol.col_dual, dtype=float),
                    np.asarray(sol.row_dual, dtype=float))
        value, x, msg = self._lp(sign=-1.0)
        if not np.isfinite(value):
            return value, None, msg, np.zeros(n), np.zeros(m)
        res = self._lp_result
        col = np.asarray(res.lower.marginals) + np.asarray(res.upper.marginals)
        eq = np.isfinite(qp.lo) & np.isfinite(qp.hi) & (qp.lo == qp.hi)
        le = ~eq & np.isfinite(qp.hi)
        ge = ~eq & np.isfinite(qp.lo)
        row = np.zeros(m)
        if le.any() or ge.any():
            ineq = np.abs(np.asarray(res.ineqlin.marginals))
            row[np.flatnonzero(le)] = ineq[: le.sum()]
            row[np.flatnonzero(ge)] = np.maximum(row[np.flatnonzero(ge)], ineq[le.sum():])
        if eq.any():
            row[np.flatnonzero(eq)] = np.abs(np.asarray(res.eqlin.marginals))
        return value, x, msg, col, row

    def max_return_point(self) -> tuple[float, PointResult]:
        """The maximum-return end point, exactly: the least-risk allocation among the optima.

        The LP ``max mu'w`` is solved by HiGHS (an exact vertex with reduced costs and row
        duals). Every allocation that keeps the variables with a non-zero reduced cost at their
        bound and the rows with a non-zero dual active is optimal (complementary slackness):
        that is the optimal face. When the face is a single point -- the usual case -- the
        vertex is the answer; otherwise the least-variance point of the face is found by a QP
        with those rows as equalities (no degenerate inequality is left for the solver). An
        interior-point solve at a target just below the maximum, by contrast, converges slowly
        and inaccurately because the feasible set has almost no interior there.

        Returns
        -------
        value : float
            ``max mu' w`` (``nan`` when the LP fails).
        point : PointResult
        """
        t0 = time.perf_counter()
        value, x, msg, col_dual, row_dual = self._lp_vertex()
        if not np.isfinite(value):
            value, x, msg = self._lp_clarabel()
            if not np.isfinite(value):
                return value, PointResult(None, None, "failed", f"maximum return: {msg}", 0,
                                          time.perf_counter() - t0)
            return value, self.solve_target(value - 1e-9 * max(abs(value), 1e-12))
        qp = self.qp
        tol = 1e-9
        fix = np.abs(col_dual) > tol
        fix |= np.isfinite(qp.lower) & (qp.lower == qp.upper)
        lo, hi = qp.lower.copy(), qp.upper.copy()
        lo[fix] = hi[fix] = x[fix]
        a = qp.A.tocsr()
        eq = np.isfinite(qp.lo) & np.isfinite(qp.hi) & (qp.lo == qp.hi)
        duals = np.abs(row_dual)
        active = eq | (duals > tol)
        row_lo, row_hi = qp.lo.copy(), qp.hi.copy()
        val = a @ x
        row_lo[active] = row_hi[active] = val[active]
        free = np.flatnonzero(~fix)
        sub = a[active][:, free].toarray() if free.size <= 2000 else None
        unique = free.size == 0 or (sub is not None and sub.shape[0] >= free.size
                                    and np.linalg.matrix_rank(sub) == free.size)
        if unique:
            return value, PointResult(value, np.asarray(x, dtype=float), OPTIMAL,
                                      f"HiGHS vertex (unique optimum): {msg}", 0,
                                      time.perf_counter() - t0, float("nan"))
        face = LinearQP(mu=qp.mu, lower=lo, upper=hi, A=qp.A, lo=row_lo, hi=row_hi,
                        row_names=qp.row_names, factor=qp.factor, specific=qp.specific,
                        dense=qp.dense)
        point = OSQPFrontierSolver(face, clarabel_tol=self.clarabel_tol).min_risk()
        point.target = value
        point.message = f"least-risk point of the optimal face (HiGHS + {point.message})"
        point.solve_time = time.perf_counter() - t0
        return value, point

    def _lp_clarabel(self) -> tuple[float, np.ndarray | None, str]:
        """``max mu'w`` by Clarabel on the same constraint matrix (no quadratic term)."""
        import clarabel

        if self._clarabel is None:
            self._setup_clarabel()
        b = self._b.copy()
        b[self.data["ret"]] = -self._low() / self._mu_scale
        q = np.zeros(self._n_var)
        q[: self.qp.n] = -self.qp.mu / self._mu_scale
        p0 = sp.csc_matrix((self._n_var, self._n_var))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lp = clarabel.DefaultSolver(p0, q, self.data["A"], b, self._cones,
                                        self._clarabel_settings)
            sol = lp.solve()
        status = str(sol.status)
        if status != "Solved":
            return float("nan"), None, f"Clarabel {status}"
        x = np.array(sol.x[: self.qp.n], dtype=float)
        return float(self.qp.mu @ x), x, "Clarabel Solved"

    def max_return(self) -> tuple[float, np.ndarray | None, str]:
        """The largest feasible ``mu' w`` (an LP: Clarabel, or HiGHS if that fails).

        Returns
        -------
        value : float
            ``max mu' w`` (``nan`` when the LP fails or is unbounded).
        w : ndarray or None
            An optimal solution.
        status : str
            The LP solver's message.
        """
        value, x, msg = self._lp_clarabel()
        if np.isfinite(value):
            return value, x, msg
        return self._lp(sign=-1.0)
