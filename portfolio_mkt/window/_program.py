"""The window's convex program, compiled once into cvxpy (Clarabel) with Parameters.

Variables are spend in units of the window's budget ``B`` (``u = x / B``), flat ``u[a * T + t]``;
effective spend ``e = K u + c / B`` (``K`` the sparse adstock convolution, ``c`` the carry-in).
Curves enter in three ways:

- linear (no curve, or :class:`~portfolio_mkt.response.Linear`): a linear term in ``e``;
- exact conic forms, grouped by family: a curve ``r`` is written ``os * g(e / ms)`` with a
  canonical curve ``g`` (``Logarithmic(1, 1)``, ``Hill(1, 1, s)`` ...) obtained through the
  public :meth:`Curve.transform`, so one cvxpy atom covers every asset and week of a family;
- piecewise linear (no conic form, S-curves through their concave envelope): the public
  :func:`~portfolio_mkt.response.approximate` gives chords; a hypograph variable ``h`` sits
  under every chord line.

Seasonality weights and the risk aversion are Parameters: a frontier over the window re-solves
without compiling again.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ..exceptions import InaccurateSolutionWarning, SolverError
from ..status import FAILED, INFEASIBLE, OPTIMAL_INACCURATE, is_usable, normalize_status
from ._constraints import RowBlock

__all__ = ["WindowProgram", "canonical_form", "conic_expression", "CLARABEL_SETTINGS"]

#: Clarabel tolerances of the window (tighter than the defaults: marginal ROIs per week agree to
#: about 1e-7 at an interior optimum; costs one or two interior-point iterations).
CLARABEL_SETTINGS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}

# family -> how to read (money scale, outcome scale) from a curve's parameters
_SCALES = {
    "log": lambda c, b: (c.k, c.beta),
    "exponential": lambda c, b: (c.k, c.beta),
    "michaelis_menten": lambda c, b: (c.k, c.beta),
    "hill": lambda c, b: (c.k, c.beta),
    "power": lambda c, b: (b, c.beta * b ** c.alpha),
}


def conic_expression(g: Any, z: cp.Expression) -> cp.Expression:
    """``g(z)`` elementwise for a canonical curve ``g``.

    Non-integer powers (Hill with slope < 1, Power) use cvxpy's exact power cones
    (``approx=False``; Clarabel supports them) rather than the default second-order-cone
    approximation, which measured here made Clarabel stop with insufficient progress on a
    50 x 13 window. Everything else is the curve's own :meth:`Curve.cvxpy`.
    """
    fam = getattr(g, "family", "")
    if fam == "hill" and g.slope != 1.0:  # canonical Hill(1, 1, s): 1 - 1 / (1 + z^s)
        return 1.0 - cp.inv_pos(1.0 + cp.power(z, g.slope, approx=False))
    if fam == "power" and g.alpha != 1.0:  # canonical Power(1, alpha)
        return cp.power(z, g.alpha, approx=False)
    return g.cvxpy(z)


def canonical_form(curve: Any, budget: float) -> tuple[Any, float, float]:
    """``(g, ms, os)`` with ``curve(x) == os * g(x / ms)`` and ``g`` shared by a family.

    Uses only :meth:`Curve.transform`; families not listed are rescaled to budget units.
    """
    f = _SCALES.get(getattr(curve, "family", ""))
    ms, os_ = f(curve, budget) if f is not None else (budget, budget)
    return curve.transform(ms, os_), float(ms), float(os_)


class WindowProgram:
    """The compiled program of a window problem.

    Parameters
    ----------
    wp : WindowProblem
    start : int, default 0
        First week that is planned; weeks before it are fixed at ``fixed``.
    fixed : ndarray (n, T), optional
        Money spent in the fixed weeks (only columns ``< start`` are read).
    flat : bool, default False
        Add ``x[a, t] == x[a, t + 1]``: the best plan that spends the same every week.
    reference : ndarray (n, T), optional
        Plan the re-plan is compared with, for ``max_move``.
    max_move : float, optional
        Money that may move against ``reference`` over the planned weeks:
        ``0.5 * sum |x - reference| <= max_move``.
    relax : bool, default False
        Diagnosis mode: each named constraint gets slack; the slack is minimised.
    """

    def __init__(
        self,
        wp: Any,
        *,
        start: int = 0,
        fixed: np.ndarray | None = None,
        flat: bool = False,
        reference: np.ndarray | None = None,
        max_move: float | None = None,
        relax: bool = False,
    ) -> None:
        t0 = time.perf_counter()
        self.wp = wp
        self.start = int(start)
        self.flat = flat
        self.relax = relax
        n, T = wp.n, wp.T
        B = wp.budget
        self.unit = B
        self.x = cp.Variable(n * T, nonneg=True, name="spend")
        x = self.x
        self.blocks: list[tuple[str, RowBlock]] = []
        self.blocks = list(wp.constraint_rows(self.start))
        self.slacks: dict[str, list[cp.Variable]] = {}
        cons: list[cp.Constraint] = []

        def add(owner: str, lhs: cp.Expression, sense: str, rhs: Any) -> None:
            if relax and owner not in ("actuals",):
                s = cp.Variable(lhs.shape, nonneg=True)
                self.slacks.setdefault(owner, []).append(s)
                if sense in ("le", "eq"):
                    cons.append(lhs <= rhs + s)
                if sense in ("ge", "eq"):
                    s2 = s if sense == "ge" else cp.Variable(lhs.shape, nonneg=True)
                    if sense == "eq":
                        self.slacks[owner].append(s2)
                    cons.append(lhs >= rhs - s2)
                return
            cons.append(lhs <= rhs if sense == "le" else lhs >= rhs if sense == "ge"
                        else lhs == rhs)

        self.budget_param = cp.Parameter(nonneg=True, name="budget", value=1.0)
        add("budget", cp.sum(x), "eq" if wp.budget_mode == "exact" else "le", self.budget_param)
        self.fixed_index = np.array([], dtype=int)
        if self.start > 0:
            if fixed is None:
                raise ValueError("fixed spend is needed when start > 0")
            idx = (np.arange(n)[:, None] * T + np.arange(self.start)[None, :]).reshape(-1)
            self.fixed_index = idx
            self.fixed_values = np.asarray(fixed, dtype=float)[:, : self.start].reshape(-1)
            self.fixed_param = cp.Parameter(len(idx), value=self.fixed_values / B)
            add("actuals", x[idx], "eq", self.fixed_param)
        for owner, b in self.blocks:
            add(owner, b.matrix @ x, b.sense, b.rhs / B)
        if flat:
            rows, cols, vals = [], [], []
            k = 0
            for a in range(n):
                for t in range(max(self.start, 0), T - 1):
                    rows += [k, k]
                    cols += [a * T + t, a * T + t + 1]
                    vals += [1.0, -1.0]
                    k += 1
            if k:
                d = sp.csr_matrix((vals, (rows, cols)), shape=(k, n * T))
                add("flat", d @ x, "eq", np.zeros(k))
        self.reference = None if reference is None else np.asarray(reference, dtype=float)
        self.max_move = max_move
        if max_move is not None and self.reference is not None:
            free = (np.arange(n)[:, None] * T + np.arange(self.start, T)[None, :]).reshape(-1)
            ref = self.reference.reshape(-1)[free] / B
            add("max_move", 0.5 * cp.sum(cp.abs(x[free] - ref)), "le", float(max_move) / B)
        self.constraints = cons
        if relax:
            total = sum(cp.sum(s) for ss in self.slacks.values() for s in ss)
            self.problem = cp.Problem(cp.Minimize(total), cons)
        else:
            self._objective()
            self.problem = cp.Problem(cp.Maximize(self.objective), cons)
        self.build_time = time.perf_counter() - t0
        self.compile_time = 0.0

    # ------------------------------------------------------------------ objective
    def _objective(self) -> None:
        wp = self.wp
        n, T, P = wp.n, wp.T, wp.P
        B = self.unit
        x = self.x
        K = wp.kernel_matrix()
        c = wp.carry_effect().reshape(-1) / B
        sig = wp.seasonality.reshape(-1)
        mu = wp.problem.expected_return.to_numpy(float)
        lin = np.repeat(wp.halo_coef, P)  # halo lifts: linear in effective spend
        groups: dict[Any, list[tuple[int, float, float]]] = {}
        pwl: list[int] = []
        self.methods: dict[Any, str] = {}
        self.approximations: dict[Any, Any] = {}
        for i in range(n):
            cv = wp._curve(i)
            a = wp.index[i]
            if cv is None or getattr(cv, "family", "") == "linear":
                beta = mu[i] if cv is None else float(cv.beta)
                lin[i * P:(i + 1) * P] += beta
                self.methods[a] = "linear"
            elif (not cv.is_concave) or (not cv.has_conic_form) or wp.method == "pwl":
                pwl.append(i)
                self.methods[a] = "envelope" if not cv.is_concave else "pwl"
            else:
                g, ms, os_ = canonical_form(cv, B)
                groups.setdefault(g, []).append((i, ms, os_))
                self.methods[a] = "exact"
        self.sig_params: list[tuple[cp.Parameter, np.ndarray, np.ndarray]] = []
        terms: list[cp.Expression] = []

        def rows_of(idx: list[int]) -> np.ndarray:
            return (np.asarray(idx)[:, None] * P + np.arange(P)[None, :]).reshape(-1)

        if lin.any():
            w = cp.Parameter(n * P, nonneg=True, name="w_linear")
            base = lin
            w.value = base * sig
            self.sig_params.append((w, base, np.arange(n * P)))
            terms.append(w @ (K @ x) + float((base * sig) @ c))
        for g, members in groups.items():
            idx = [m[0] for m in members]
            rows = rows_of(idx)
            scale = np.repeat([B / m[1] for m in members], P)
            outs = np.repeat([m[2] / B for m in members], P)
            z = sp.diags(scale) @ K[rows] @ x + scale * c[rows]
            w = cp.Parameter(len(rows), nonneg=True)
            w.value = outs * sig[rows]
            self.sig_params.append((w, outs, rows))
            terms.append(w @ conic_expression(g, z))
        self.hypograph = None
        if pwl:
            from ..response import approximate

            rows = rows_of(pwl)
            lines = []
            for i in pwl:
                cv = wp._curve(i)
                upper = float(wp.kernels[i].sum()) * B + float(wp.carry_effect()[i].max())
                pw = approximate(cv, max(upper, 1e-9 * B), wp.tolerance)
                self.approximations[wp.index[i]] = pw
                lines.append((pw.slopes, pw.intercepts / B))
            kmax = max(len(s) for s, _ in lines)
            slopes = np.array([np.pad(s, (0, kmax - len(s)), mode="edge") for s, _ in lines])
            inter = np.array([np.pad(b, (0, kmax - len(b)), mode="edge") for _, b in lines])
            h = cp.Variable(len(rows), name="hypograph")
            e = K[rows] @ x + c[rows]
            for k in range(kmax):
                s_k = np.repeat(slopes[:, k], P)
                b_k = np.repeat(inter[:, k], P)
                self.constraints.append(h <= cp.multiply(s_k, e) + b_k)
            w = cp.Parameter(len(rows), nonneg=True)
            w.value = sig[rows].copy()
            self.sig_params.append((w, np.ones(len(rows)), rows))
            terms.append(w @ h)
            self.hypograph = h
        outcome = cp.sum(cp.hstack(terms)) if terms else cp.Constant(0.0)
        self.delta = cp.Parameter(nonneg=True, name="risk_aversion", value=wp.risk_aversion)
        self.risk_sq: cp.Expression | None = None
        fd = wp.covariance_factors()
        if fd is not None:
            f, d = fd
            parts = []
            if f.shape[1]:
                parts.append(self._correlated(sp.kron(sp.csr_matrix(f.T), sp.identity(T)) @ x,
                                              f.shape[1]))
            if np.any(d > 0):
                sd = np.sqrt(np.maximum(d, 0.0))
                parts.append(self._correlated(cp.multiply(np.repeat(sd, T), x), n))
            if parts:
                self.risk_sq = cp.sum(cp.hstack(parts)) if len(parts) > 1 else parts[0]
        self.outcome_expr = outcome
        if self.risk_sq is not None:
            self.objective = outcome - 0.5 * self.delta * self.risk_sq
        else:
            self.objective = outcome

    def _correlated(self, v: cp.Expression, m: int) -> cp.Expression:
        """``sum_k v_k' R v_k`` for ``m`` series of ``T`` weeks, ``R[t, s] = rho^|t - s|``.

        AR(1) shocks ``y_t = rho y_{t-1} + sqrt(1 - rho^2) e_t`` have ``R = A^-1 D D A^-T``
        (``A = I - rho * shift``, ``D = diag(1, s, .., s)``), so ``v' R v = ||D w||^2`` with
        ``A' w = v``: a sparse (bidiagonal) equality instead of a dense T x T factor.
        """
        T = self.wp.T
        rho = self.wp.period_correlation
        if rho == 0.0:
            return cp.sum_squares(v)
        a_t = sp.identity(T) - rho * sp.eye(T, k=1)  # A' (upper bidiagonal)
        w = cp.Variable(m * T, name="whitened_exposure")
        self.constraints.append(sp.kron(sp.identity(m), a_t) @ w == v)
        dvec = np.full(T, np.sqrt(1.0 - rho * rho))
        dvec[0] = 1.0
        return cp.sum_squares(cp.multiply(np.tile(dvec, m), w))

    def set_seasonality(self, sigma: np.ndarray) -> None:
        """Update the seasonality multipliers (n x P) without compiling again."""
        flat = np.asarray(sigma, dtype=float).reshape(-1)
        for p, base, rows in self.sig_params:
            p.value = base * flat[rows]

    # ------------------------------------------------------------------ solve
    def solve(
        self, solver: str | None = None, reuse: bool = False
    ) -> tuple[str, np.ndarray | None, str]:
        """Solve; returns ``(status, spend n x T in money or None, solver name)``.

        ``reuse=True`` compiles the Parameters into a reusable form (DPP) so that later solves
        with new Parameter values skip compilation (frontiers); a one-off solve skips that work
        (``ignore_dpp``), measured about 4x faster to compile on a 50 x 13 window.
        """
        # Clarabel's equilibration stalls on some large exponential-cone windows (measured:
        # "insufficient progress" on 200 x 26); the same solve without it succeeds, so it is the
        # second attempt, before SCS.
        attempts: list[tuple[str, dict[str, Any]]] = (
            [(solver, {})] if solver else
            [("CLARABEL", {}), ("CLARABEL", {"equilibrate_enable": False}), ("SCS", {})]
        )
        status, used = FAILED, attempts[0][0]
        for s, extra in attempts:
            used = s
            t0 = time.perf_counter()
            try:
                kwargs: dict[str, Any] = {"solver": s, "verbose": False, **extra}
                if not reuse:
                    kwargs["ignore_dpp"] = True
                if s == "CLARABEL":
                    kwargs.update(CLARABEL_SETTINGS)
                if s == "SCS":
                    kwargs.update(eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
                self.problem.solve(**kwargs)
            except cp.error.SolverError:
                status = FAILED
                continue
            finally:
                self.compile_time = (self.problem.compilation_time or 0.0)
                self.solve_time = time.perf_counter() - t0
            status = normalize_status(self.problem.status)
            if status == OPTIMAL_INACCURATE:
                warnings.warn(
                    f"{s} marks the weekly plan as inaccurate; it is verified before use.",
                    InaccurateSolutionWarning,
                    stacklevel=3,
                )
            if is_usable(status) or status == INFEASIBLE:
                break
        if not is_usable(status):
            return status, None, used
        if self.x.value is None:
            raise SolverError(f"{used} returned status {status} without a plan.")
        xm = np.maximum(self.x.value, 0.0) * self.unit
        if self.start > 0:
            xm[self.fixed_index] = self.fixed_values
        return status, xm.reshape(self.wp.n, self.wp.T), used

    def slack_by_owner(self) -> dict[str, float]:
        """Money each constraint had to be relaxed by (relax mode, after solving)."""
        out = {}
        for owner, ss in self.slacks.items():
            total = sum(float(np.sum(np.maximum(s.value, 0.0))) for s in ss if s.value is not None)
            out[owner] = total * self.unit
        return out
