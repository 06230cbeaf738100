"""The convex relaxation of the whole-piece program, compiled once with bound Parameters.

Variables, in shares of the budget ``B``: spend ``w``, on/off indicators ``z`` relaxed to
``[0, 1]`` and, for assets on a rate card, units ``u``. A node of the branch and bound only
changes the bounds of ``z`` and ``u`` (cvxpy Parameters), so the problem compiles once (DPP)
and every node is one Clarabel call.

The relaxation is tightened by perspectives, which are exact at ``z in {0, 1}``:

- a funded asset's response ``r(v)`` becomes ``z r(v / z)`` (log, exponential saturation,
  Michaelis–Menten and power curves; ``<= r(v)`` for a concave ``r`` with ``r(0) = 0``), so a
  sliver of spend on a half-booked creator earns the average return of a whole ticket, not the
  steep first-dollar return;
- the variance ``w' Sigma w`` is split as ``w' (Sigma - D) w + sum_i d_i w_i^2`` with a diagonal
  ``D`` (the specific risk of a factor model, or ``lambda_min`` of the correlation matrix times
  the variances), and ``d_i w_i^2`` becomes ``d_i w_i^2 / z_i``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from ..constraints import BuildContext
from ..problem import Problem
from ..response import ExponentialSaturation, Logarithmic, MichaelisMenten, Power
from ..risk import FactorCovariance
from ._constraints import CompiledRules

__all__ = ["Relaxation", "NodeSolution", "CLARABEL_SETTINGS"]

#: Clarabel settings of the node solves (tight enough for a 1e-4 relative gap).
CLARABEL_SETTINGS: dict[str, Any] = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9,
                                     "tol_feas": 1e-9, "max_iter": 300}


#: Upper bound of an indicator fixed at 0 in the perspective relaxation.
OFF = 1e-8


@dataclass
class NodeSolution:
    """One relaxation solve: status, model objective (share units) and the variables."""

    status: str
    value: float
    w: np.ndarray | None
    z: np.ndarray | None
    u: np.ndarray | None


def _split_diagonal(problem: Problem) -> tuple[np.ndarray | None, np.ndarray]:
    """A root ``G`` with ``G' G = Sigma - D`` and the diagonal ``d`` (perspective part)."""
    cov = problem.covariance
    n = problem.n_assets
    if cov is None:
        return None, np.zeros(n)
    if isinstance(cov, FactorCovariance):
        return cov.factor_root(problem.index).T, np.asarray(cov.specific(problem.index), float)
    mat = cov.to_numpy(float)
    diag = np.clip(np.diag(mat), 0.0, None)
    s = np.sqrt(np.where(diag > 0, diag, 1.0))
    corr = mat / np.outer(s, s)
    lam = float(np.linalg.eigvalsh((corr + corr.T) / 2).min())
    lam = max(0.0, lam * (1 - 1e-9) - 1e-12)
    d = lam * diag
    rest = mat - np.diag(d)
    vals, vecs = np.linalg.eigh((rest + rest.T) / 2)
    keep = vals > max(vals.max(initial=0.0), 0.0) * 1e-13
    g = (vecs[:, keep] * np.sqrt(vals[keep])).T
    return (g if g.shape[0] else None), d


class Relaxation:
    """The relaxed whole-piece program for ``problem`` and compiled ``rules``.

    Parameters
    ----------
    problem : Problem
        Continuous problem (budget, curves, covariance, strategy constraints, objective).
    rules : CompiledRules
        The whole-piece rules as arrays.
    perspective : bool, default True
        Use the perspective tightening (exact at integer points, a tighter bound).
    """

    def __init__(self, problem: Problem, rules: CompiledRules, perspective: bool = True
                 ) -> None:
        self.problem = problem
        self.rules = rules
        self.perspective = bool(perspective)
        n = problem.n_assets
        b = problem.budget
        self.budget = b
        self._extra: list[cp.Constraint] = []
        self.card_idx = np.flatnonzero(rules.card)
        k = len(self.card_idx)
        self.w = cp.Variable(n, name="w", nonneg=True)
        self.z = cp.Variable(n, name="z")
        self.z_lo = cp.Parameter(n, name="z_lo")
        self.z_hi = cp.Parameter(n, name="z_hi")
        cons: list[cp.Constraint] = [self.z >= self.z_lo, self.z <= self.z_hi]
        upper = np.minimum(rules.upper, b) / b
        lower = rules.lower_on / b
        cons += [self.w <= cp.multiply(upper, self.z), self.w >= cp.multiply(lower, self.z)]
        fee = rules.booking_fee / b
        self.u: cp.Variable | None = None
        self.u_max = np.zeros(0)
        if k:
            price = rules.price[self.card_idx] / b
            self.u = cp.Variable(k, name="units", nonneg=True)
            self.u_lo = cp.Parameter(k, name="u_lo")
            self.u_hi = cp.Parameter(k, name="u_hi")
            self.u_max = np.floor((rules.upper[self.card_idx] - rules.booking_fee[self.card_idx])
                                  / rules.price[self.card_idx] + 1e-9)
            zc = self.z[self.card_idx]
            cons += [self.w[self.card_idx] == cp.multiply(price, self.u)
                     + cp.multiply(fee[self.card_idx], zc),
                     self.u >= self.u_lo, self.u <= self.u_hi,
                     self.u <= cp.multiply(np.maximum(self.u_max, 0.0), zc), self.u >= zc]
        self.v = self.w - cp.multiply(fee, self.z) if fee.any() else self.w
        for _name, mask, lo, hi in rules.counts:
            total = cp.sum(self.z[np.flatnonzero(mask)])
            if lo is not None:
                cons.append(total >= lo)
            if hi is not None:
                cons.append(total <= hi)
        for _name, a, then in rules.links:
            cons.append(self.z[then] >= self.z[a])
        # response
        term = problem.return_term
        expr, aux = term.build(self.v, b)
        cons += list(aux)
        self.outcome_expr = expr
        persp = self._perspective_outcome(term, perspective) if perspective else None
        if persp is None:
            ret = cp.sum(expr)
        else:
            mask_p, ret_p = persp
            others = np.flatnonzero(~mask_p)
            ret = (cp.sum(expr[others]) if len(others) else 0.0) + ret_p
        # strategy constraints and the budget
        ctx = BuildContext(problem=problem, w=self.w, budget=b, outcome=expr)
        ctx.add("budget", cp.sum(self.w), "eq" if problem.budget_mode == "exact" else "le", 1.0)
        for c in problem.constraints:
            c.build(ctx)
        cons += [r.constraint for r in ctx.rows]
        # risk
        var = self._variance(perspective, cons)
        cons += self._extra
        if problem.max_risk is not None and var is not None:
            cons.append(var <= (problem.max_risk / b) ** 2)
        if problem.min_outcome is not None:
            cons.append(ret >= problem.min_outcome / b)
        delta = problem.risk_aversion
        if problem.objective == "min_risk":
            obj = -var
        elif problem.objective == "max_return" or var is None:
            obj = ret
        else:
            obj = ret - delta / 2 * var
        self.obj_scale = self._scale()
        self.objective = obj
        self.cvx = cp.Problem(cp.Maximize(self.obj_scale * obj), cons)
        self.n_solves = 0

    # ------------------------------------------------------------------ pieces
    def _scale(self) -> float:
        p = self.problem
        x_ref = np.full(p.n_assets, p.budget / p.n_assets)
        m = float(np.abs(p.return_term.marginal(x_ref)).max())
        if p.objective == "min_risk":
            dmax = float(np.max(p.covariance_diagonal()))
            return 1.0 / dmax if dmax > 0 else 1.0
        return 1.0 / m if m > 0 else 1.0

    def _perspective_outcome(self, term: Any, enabled: bool
                             ) -> tuple[np.ndarray, cp.Expression] | None:
        """Perspective of the response on the binary assets with a conic curve family."""
        p = self.problem
        curves = getattr(term, "curves", None)
        methods = getattr(term, "methods", None)
        if not enabled or curves is None or methods is None or p.halo is not None:
            return None
        b = self.budget
        mask = np.zeros(p.n_assets, dtype=bool)
        parts: list[cp.Expression] = []
        families = (Logarithmic, ExponentialSaturation, MichaelisMenten, Power)
        groups: dict[type, list[int]] = {}
        for i, (c, m) in enumerate(zip(curves, methods, strict=True)):
            if self.rules.binary[i] and m == "exact" and isinstance(c, families):
                if isinstance(c, Power) and c.alpha >= 1.0:
                    continue
                groups.setdefault(type(c), []).append(i)
        for cls, idx in groups.items():
            sc = [curves[i].rescale(b) for i in idx]
            v = self.v[idx]
            z = self.z[idx]
            beta = np.array([s.beta for s in sc])
            if cls is Logarithmic:
                k = np.array([s.k for s in sc])
                # z * beta * log(1 + v / (k z)) = -(beta / k) * rel_entr(k z, k z + v)
                kz = cp.multiply(k, z)
                parts.append(-cp.sum(cp.multiply(beta / k, cp.rel_entr(kz, kz + v))))
            elif cls is ExponentialSaturation:
                k = np.array([s.k for s in sc])
                s_aux = cp.Variable(len(idx), nonneg=True)
                self._extra.append(cp.constraints.ExpCone(cp.multiply(-1.0 / k, v), z, s_aux))
                parts.append(cp.sum(cp.multiply(beta, z - s_aux)))
            elif cls is MichaelisMenten:
                k = np.array([s.k for s in sc])
                # z * beta * v / (k z + v) = beta z - beta k z^2 / (k z + v)
                a = cp.multiply(k, z) + v
                s_aux = cp.Variable(len(idx), nonneg=True)
                self._extra.append(cp.SOC(a + s_aux, cp.vstack([2 * z, a - s_aux]), axis=0))
                parts.append(cp.sum(cp.multiply(beta, z) - cp.multiply(beta * k, s_aux)))
            elif cls is Power:
                alpha = np.array([s.alpha for s in sc])
                t = cp.Variable(len(idx), nonneg=True)
                self._extra.append(cp.constraints.PowCone3D(v, z, t, alpha))
                parts.append(cp.sum(cp.multiply(beta, t)))
            mask[idx] = True
        if not parts:
            return None
        return mask, cp.sum(cp.hstack(parts))

    def _variance(self, perspective: bool, cons: list[cp.Constraint]) -> cp.Expression | None:
        p = self.problem
        if p.covariance is None:
            return None
        g, d = _split_diagonal(p)
        w = self.v  # the risk is that of the working spend (a booking fee earns nothing)
        parts: list[cp.Expression] = []
        if g is not None:
            # a few factor rows stay sparse; a full-rank root is cheaper as a quadratic
            # objective than as n dense cone rows (measured: 2.8 s -> 1.6 s per node, n=200)
            if g.shape[0] <= p.n_assets // 4:
                parts.append(cp.sum_squares(g @ w))
            else:
                parts.append(cp.quad_form(w, cp.psd_wrap(g.T @ g)))
        binm = self.rules.binary & (d > 0) if perspective else np.zeros(p.n_assets, bool)
        plain = np.flatnonzero(~binm & (d > 0))
        if len(plain):
            parts.append(cp.sum(cp.multiply(d[plain], cp.square(w[plain]))))
        idx = np.flatnonzero(binm)
        if len(idx):
            s = cp.Variable(len(idx), nonneg=True)
            zi = self.z[idx]
            cons.append(cp.SOC(zi + s, cp.vstack([2 * w[idx], zi - s]), axis=0))
            parts.append(cp.sum(cp.multiply(d[idx], s)))
        return cp.sum(cp.hstack(parts)) if parts else cp.Constant(0.0)

    # ------------------------------------------------------------------ solve
    def solve(self, z_lo: np.ndarray, z_hi: np.ndarray, u_lo: np.ndarray | None = None,
              u_hi: np.ndarray | None = None) -> NodeSolution:
        """Solve the relaxation with the given bounds (share-unit objective, maximised).

        With perspectives, an indicator fixed at 0 is given the upper bound ``OFF`` instead
        (a superset of the node, so still a valid bound): cones at ``z = v = 0`` exactly have no
        interior and stall the interior-point solver.
        """
        zh = np.asarray(z_hi, float)
        if self.perspective:
            zh = np.maximum(zh, OFF)
        self.z_lo.value = np.asarray(z_lo, float)
        self.z_hi.value = zh
        if self.u is not None:
            self.u_lo.value = np.asarray(u_lo, float)
            self.u_hi.value = np.asarray(u_hi, float)
        self.n_solves += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.cvx.solve(solver="CLARABEL", **CLARABEL_SETTINGS)
            status = self.cvx.status
        except cp.error.SolverError:
            status = "solver_error"
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and self.w.value is not None:
            u = None if self.u is None else np.asarray(self.u.value, float).copy()
            return NodeSolution(status, float(self.cvx.value) / self.obj_scale,
                                np.asarray(self.w.value, float).copy(),
                                np.asarray(self.z.value, float).copy(), u)
        return NodeSolution(str(status), -np.inf, None, None, None)
