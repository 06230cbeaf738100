"""The window's convex program, compiled once into cvxpy (Clarabel) with Parameters.

Scaling (measured: without it Clarabel stopped with "insufficient progress" from 200 x 26 up):

- each asset's spend has its own unit ``s_a`` (``u = x / s_a``, flat ``u[a * T + t]``): the
  money scale of its curve (half-saturation of log / Michaelis-Menten / Hill / exponential),
  clipped to ``[1e-2, 1e2]`` times the average asset-week spend ``B / (n T)``, which is the unit
  of linear and piecewise-linear assets. The conic arguments are then ``K u + c / s_a`` with
  the adstock weights as coefficients, whatever the size of the window;
- the objective is divided by the outcome of an average asset-week at the flat plan, so every
  asset-week term is of order one;
- every constraint row is divided by its largest coefficient (after the column scaling).

Effective spend is ``e = K diag(s) u + c`` (``K`` the sparse adstock convolution, ``c`` the
carry-in). Curves enter in three ways:

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
#: Equilibration is off: the program is scaled when it is built (see the module docstring).
#: The KKT system is factorised with QDLDL rather than Clarabel's default (``"auto"``, which
#: picks faer): measured per interior-point iteration on this program, 0.78 s instead of 1.10 s
#: (faer, 1 thread) or 1.58 s (faer, 2 threads) at 500 x 52, 0.084 s instead of 0.128 s at
#: 200 x 26, 7 ms instead of 9 ms at 50 x 13 (docs/window.md, "Speed").
CLARABEL_SETTINGS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10,
                     "equilibrate_enable": False, "direct_solve_method": "qdldl"}

#: Windows with more asset-weeks than this are solved to ``LARGE_TOLERANCE`` (relative gap and
#: feasibility, of an objective scaled to order one per asset-week): measured on 300 x 39,
#: 29 interior-point iterations instead of 37 (each about 1 s there, most of it factorising).
#: 1e-7 since the QDLDL factorisation: on 500 x 52, 27 iterations instead of 35 (the last eight
#: crawl from a gap of 5e-8 to 1e-8 with steps of 0.1 to 0.3), objective within 1.4e-8 relative
#: of the 1e-8 solve (tests/test_window_large_path.py: oracle at 1e-6 on this path).
LARGE_CELLS = 5000
LARGE_TOLERANCE = 1e-7

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

    Uses only :meth:`Curve.transform`; families without a money scale of their own (power,
    families not listed) are rescaled to units of ``budget`` (any money unit).
    """
    f = _SCALES.get(getattr(curve, "family", ""))
    ms, os_ = f(curve, budget) if f is not None else (budget, budget)
    return curve.transform(ms, os_), float(ms), float(os_)


#: Asset units are clipped to this factor (either way) of the average asset-week spend.
UNIT_CLIP = 100.0


def _scale_rows(matrix: sp.spmatrix, rhs: np.ndarray, cols: np.ndarray
                ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """``diag(1/r) A diag(cols)``, ``rhs / r`` with ``r`` the largest coefficient of each row."""
    m = sp.csr_matrix(matrix @ sp.diags(cols))
    r = np.ones(m.shape[0])
    if m.nnz:
        big = np.abs(m).max(axis=1).toarray().ravel()
        r = np.where(big > 0, big, 1.0)
    return sp.csr_matrix(sp.diags(1.0 / r) @ m), np.asarray(rhs, dtype=float) / r, r


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
        Diagnosis mode: each named constraint gets slack; the slack (in money) is minimised.

    Attributes
    ----------
    col_scale : ndarray (n * T,)
        Money per unit of each variable (the asset's unit ``s_a``, repeated over weeks).
    obj_scale : float
        Outcome per unit of the program's objective.
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
        self.avg = B / (n * T)
        self._classify()
        self.col_scale = np.repeat(self.asset_unit, T)
        s = self.col_scale
        self.x = cp.Variable(n * T, nonneg=True, name="spend")
        x = self.x
        self.blocks: list[tuple[str, RowBlock]] = list(wp.constraint_rows(self.start))
        self.slacks: dict[str, list[tuple[cp.Variable, np.ndarray]]] = {}
        cons: list[cp.Constraint] = []

        def add(owner: str, lhs: cp.Expression, sense: str, rhs: Any, money: Any) -> None:
            """``lhs (sense) rhs``; ``money`` converts a unit of the row into money."""
            if relax and owner not in ("actuals",):
                m = np.broadcast_to(np.asarray(money, dtype=float), lhs.shape)
                sl = cp.Variable(lhs.shape, nonneg=True)
                self.slacks.setdefault(owner, []).append((sl, m))
                if sense in ("le", "eq"):
                    cons.append(lhs <= rhs + sl)
                if sense in ("ge", "eq"):
                    s2 = sl if sense == "ge" else cp.Variable(lhs.shape, nonneg=True)
                    if sense == "eq":
                        self.slacks[owner].append((s2, m))
                    cons.append(lhs >= rhs - s2)
                return
            cons.append(lhs <= rhs if sense == "le" else lhs >= rhs if sense == "ge"
                        else lhs == rhs)

        bscale = float(s.max())
        self.budget_param = cp.Parameter(nonneg=True, name="budget", value=B / bscale)
        add("budget", (s / bscale) @ x, "eq" if wp.budget_mode == "exact" else "le",
            self.budget_param, bscale)
        self.fixed_index = np.array([], dtype=int)
        if self.start > 0:
            if fixed is None:
                raise ValueError("fixed spend is needed when start > 0")
            idx = (np.arange(n)[:, None] * T + np.arange(self.start)[None, :]).reshape(-1)
            self.fixed_index = idx
            self.fixed_values = np.asarray(fixed, dtype=float)[:, : self.start].reshape(-1)
            self.fixed_param = cp.Parameter(len(idx), value=self.fixed_values / s[idx])
            add("actuals", x[idx], "eq", self.fixed_param, s[idx])
        stacked: dict[str, list[tuple[sp.csr_matrix, np.ndarray]]] = {}
        for owner, b in self.blocks:
            m, rhs, r = _scale_rows(b.matrix, b.rhs, s)
            if relax:
                add(owner, m @ x, b.sense, rhs, r)
            else:  # one cvxpy constraint per sense: less to canonicalise
                stacked.setdefault(b.sense, []).append((m, rhs))
        for sense, parts in stacked.items():
            m = sp.vstack([p[0] for p in parts], format="csr")
            add("rows", m @ x, sense, np.concatenate([p[1] for p in parts]), 1.0)
        if flat:
            a_idx = np.repeat(np.arange(n), max(T - 1 - self.start, 0))
            t_idx = np.tile(np.arange(self.start, T - 1), n)
            k = len(a_idx)
            if k:
                d = sp.csr_matrix(
                    (np.r_[np.ones(k), -np.ones(k)],
                     (np.r_[np.arange(k), np.arange(k)],
                      np.r_[a_idx * T + t_idx, a_idx * T + t_idx + 1])),
                    shape=(k, n * T))
                add("flat", d @ x, "eq", np.zeros(k), s[a_idx * T + t_idx])
        self.reference = None if reference is None else np.asarray(reference, dtype=float)
        self.max_move = max_move
        if max_move is not None and self.reference is not None:
            free = (np.arange(n)[:, None] * T + np.arange(self.start, T)[None, :]).reshape(-1)
            ref = self.reference.reshape(-1)[free] / s[free]
            w = s[free] / bscale
            add("max_move", 0.5 * cp.sum(cp.multiply(w, cp.abs(x[free] - ref))), "le",
                float(max_move) / bscale, bscale)
        self.constraints = cons
        if relax:
            total = sum(cp.sum(cp.multiply(m / self.avg, sl))
                        for ss in self.slacks.values() for sl, m in ss)
            self.problem = cp.Problem(cp.Minimize(total), cons)
        else:
            self._objective()
            self.problem = cp.Problem(cp.Maximize(self.objective), cons)
        self.build_time = time.perf_counter() - t0
        self.compile_time = 0.0

    # ------------------------------------------------------------------ scaling
    def _classify(self) -> None:
        """How each curve enters, its canonical form, and the unit of each asset's spend."""
        wp = self.wp
        avg = self.avg
        self.methods: dict[Any, str] = {}
        self.kinds: list[str] = []
        self.forms: list[tuple[Any, float, float] | None] = []
        unit = np.full(wp.n, avg)
        for i in range(wp.n):
            cv = wp._curve(i)
            a = wp.index[i]
            form = None
            if cv is None or getattr(cv, "family", "") == "linear":
                kind = "linear"
            elif (not cv.is_concave) or (not cv.has_conic_form) or wp.method == "pwl":
                kind = "envelope" if not cv.is_concave else "pwl"
            else:
                kind = "exact"
                form = canonical_form(cv, avg)
                unit[i] = min(max(form[1], avg / UNIT_CLIP), avg * UNIT_CLIP)
            self.methods[a] = kind
            self.kinds.append(kind)
            self.forms.append(form)
        self.asset_unit = unit

    def _outcome_scale(self) -> float:
        """Outcome of an average asset-week at the flat plan (1 if that is not positive)."""
        wp = self.wp
        flat = np.full((wp.n, wp.T), self.avg)
        try:
            v = float(wp.total_outcome(flat)) / (wp.n * wp.P)
        except Exception:  # noqa: BLE001 - a scale only; the solve reports real problems
            v = float("nan")
        return v if np.isfinite(v) and v > 0 else 1.0

    # ------------------------------------------------------------------ objective
    def _objective(self) -> None:
        wp = self.wp
        n, T, P = wp.n, wp.T, wp.P
        B = wp.budget
        S = self._outcome_scale()
        self.obj_scale = S
        s = self.col_scale
        x = self.x
        K = wp.kernel_matrix() @ sp.diags(s)  # effective money per unit of x
        c = wp.carry_effect().reshape(-1)  # money
        sig = wp.seasonality.reshape(-1)
        mu = wp.problem.expected_return.to_numpy(float)
        lin = np.repeat(wp.halo_coef, P)  # halo lifts: linear in effective spend
        groups: dict[Any, list[tuple[int, float, float]]] = {}
        pwl: list[int] = []
        self.approximations: dict[Any, Any] = {}
        for i in range(n):
            kind = self.kinds[i]
            if kind == "linear":
                cv = wp._curve(i)
                beta = mu[i] if cv is None else float(cv.beta)
                lin[i * P:(i + 1) * P] += beta
            elif kind == "exact":
                g, ms, os_ = self.forms[i]
                groups.setdefault(g, []).append((i, ms, os_))
            else:
                pwl.append(i)
        self.sig_params: list[tuple[cp.Parameter, np.ndarray, np.ndarray]] = []
        terms: list[cp.Expression] = []

        def rows_of(idx: list[int]) -> np.ndarray:
            return (np.asarray(idx)[:, None] * P + np.arange(P)[None, :]).reshape(-1)

        if lin.any():
            w = cp.Parameter(n * P, nonneg=True, name="w_linear")
            base = lin / S
            w.value = base * sig
            self.sig_params.append((w, base, np.arange(n * P)))
            terms.append(w @ (K @ x) + float((base * sig) @ c))
        for g, members in groups.items():
            idx = [m[0] for m in members]
            rows = rows_of(idx)
            inv_ms = np.repeat([1.0 / m[1] for m in members], P)
            outs = np.repeat([m[2] / S for m in members], P)
            z = sp.diags(inv_ms) @ K[rows] @ x + inv_ms * c[rows]
            w = cp.Parameter(len(rows), nonneg=True)
            w.value = outs * sig[rows]
            self.sig_params.append((w, outs, rows))
            terms.append(w @ conic_expression(g, z))
        self.hypograph = None
        if pwl:
            from ..response import approximate

            rows = rows_of(pwl)
            lines = []
            carry = wp.carry_effect()
            for i in pwl:
                cv = wp._curve(i)
                upper = float(wp.kernels[i].sum()) * B + float(carry[i].max())
                pw = approximate(cv, max(upper, 1e-9 * B), wp.tolerance)
                self.approximations[wp.index[i]] = pw
                lines.append((pw.slopes / S, pw.intercepts / S))
            kmax = max(len(sl) for sl, _ in lines)
            slopes = np.array([np.pad(sl, (0, kmax - len(sl)), mode="edge") for sl, _ in lines])
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
            # Var(money) / (B S): the penalty delta / (2 B) Var in objective units
            root = np.sqrt(1.0 / (B * S))
            xs = cp.multiply(s * root, x)
            parts = []
            if f.shape[1]:
                parts.append(self._correlated(self._exposure(f, xs), f.shape[1]))
            if np.any(d > 0):
                sd = np.sqrt(np.maximum(d, 0.0))
                parts.append(self._correlated(cp.multiply(np.repeat(sd, T), xs), n))
            if parts:
                self.risk_sq = cp.sum(cp.hstack(parts)) if len(parts) > 1 else parts[0]
        self.outcome_expr = outcome
        if self.risk_sq is not None:
            self.objective = outcome - 0.5 * self.delta * self.risk_sq
        else:
            self.objective = outcome

    def _exposure(self, f: np.ndarray, xs: cp.Expression) -> cp.Expression:
        """Factor exposure per week, ``y[j * T + t] = sum_a f[a, j] xs[a * T + t]``.

        One row per factor and week. Measured alternatives that chain partial sums over blocks
        of assets (to avoid rows touching every asset) made the KKT factor denser, not sparser
        (qdldl on 300 x 39: 0.3 s per factorization here, 0.7 s to 13 s with partial sums).
        """
        T = self.wp.T
        return sp.kron(sp.csr_matrix(f.T), sp.identity(T)) @ xs

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
        dvec = np.full(T, 1.0 - rho * rho)
        dvec[0] = 1.0
        # A diagonal quadratic form on w goes straight into Clarabel's P; sum_squares of a
        # scaled copy made cvxpy add m T variables and m T equality rows to the KKT system.
        return cp.quad_form(w, sp.diags(np.tile(dvec, m)), assume_PSD=True)

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
        # The program scales itself (asset units, objective, rows); Clarabel's own equilibration
        # on top of that stalled ("insufficient progress") on mixed log / exponential / Hill /
        # Michaelis-Menten windows from 200 x 26 up, while the same solve without it succeeds.
        # Equilibration is the second attempt, SCS the last.
        clarabel = [("CLARABEL", {}), ("CLARABEL", {"equilibrate_enable": True})]
        attempts: list[tuple[str, dict[str, Any]]] = (
            clarabel + [("SCS", {})] if not solver else
            clarabel if solver.upper() == "CLARABEL" else [(solver, {})]
        )
        status, used = FAILED, attempts[0][0]
        for s, extra in attempts:
            used = s
            t0 = time.perf_counter()
            try:
                kwargs: dict[str, Any] = {"solver": s, "verbose": False}
                if not reuse:
                    kwargs["ignore_dpp"] = True
                if s == "CLARABEL":
                    kwargs.update(CLARABEL_SETTINGS)
                    if self.wp.n * self.wp.T > LARGE_CELLS:
                        kwargs.update(tol_gap_abs=LARGE_TOLERANCE, tol_gap_rel=LARGE_TOLERANCE,
                                      tol_feas=LARGE_TOLERANCE)
                kwargs.update(extra)
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
        xm = np.maximum(self.x.value, 0.0) * self.col_scale
        if self.start > 0:
            xm[self.fixed_index] = self.fixed_values
        return status, xm.reshape(self.wp.n, self.wp.T), used

    def slack_by_owner(self) -> dict[str, float]:
        """Money each constraint had to be relaxed by (relax mode, after solving)."""
        out = {}
        for owner, ss in self.slacks.items():
            out[owner] = sum(float(np.sum(m * np.maximum(sl.value, 0.0)))
                             for sl, m in ss if sl.value is not None)
        return out
