"""Objective terms: the linear return term and the risk (variance) expression."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd

from ..risk import FactorCovariance

__all__ = ["LinearReturn", "variance_expression", "risk_root"]


class LinearReturn:
    """Expected outcome ``mu_i * x_i`` per asset; keeps the program a QP.

    ``mu`` enters as a cvxpy Parameter so scenarios (cost shocks) re-solve without recompiling.

    Parameters
    ----------
    mu : ndarray
        Expected outcome per unit of money, in the problem's asset order.
    """

    linear = True

    def __init__(self, mu: np.ndarray) -> None:
        self.mu = np.asarray(mu, dtype=float)
        self.parameter = cp.Parameter(self.mu.shape, name="expected_return")
        self.parameter.value = self.mu

    def build(self, w: cp.Variable, budget: float) -> tuple[cp.Expression, list[cp.Constraint]]:
        """Per-asset outcome / budget: ``mu * w``."""
        return cp.multiply(self.parameter, w), []

    def outcome(self, x: np.ndarray) -> np.ndarray:
        """Expected outcome per asset at money spend ``x``."""
        return self.mu * np.asarray(x, dtype=float)

    model_outcome = outcome

    def marginal(self, x: np.ndarray) -> np.ndarray:
        """Marginal outcome per unit money: ``mu``."""
        return self.mu.copy()

    def report(self, x: np.ndarray) -> pd.DataFrame:
        """Per-asset notes (linear returns: the model is exact)."""
        out = self.outcome(x)
        return pd.DataFrame({"curve": "linear", "method": "exact", "true_outcome": out,
                             "model_outcome": out, "gap": 0.0, "marginal_roi": self.mu})


def risk_root(covariance: pd.DataFrame | FactorCovariance, index: pd.Index) -> np.ndarray:
    """A matrix ``G`` with ``G' G = Sigma`` (rows are risk sources): for norms and checks."""
    if isinstance(covariance, FactorCovariance):
        f = covariance.factor_root(index)
        d = covariance.specific(index)
        return np.vstack([f.T, np.diag(np.sqrt(d))])
    mat = covariance.to_numpy(float)
    vals, vecs = np.linalg.eigh(mat)
    keep = vals > vals.max(initial=0.0) * 1e-14
    return (vecs[:, keep] * np.sqrt(vals[keep])).T


def variance_expression(
    covariance: pd.DataFrame | FactorCovariance, index: pd.Index, w: cp.Expression
) -> cp.Expression:
    """``w' Sigma w`` as a convex cvxpy expression; a factor model never forms ``n x n``."""
    if isinstance(covariance, FactorCovariance):
        f = covariance.factor_root(index)
        d = covariance.specific(index)
        return cp.sum_squares(f.T @ w) + cp.sum(cp.multiply(d, cp.square(w)))
    return cp.quad_form(w, cp.psd_wrap(covariance.to_numpy(float)))
