"""Return terms: what the program maximises besides risk, and what every check evaluates.

A return term answers, for money spend ``x`` per asset, the expected outcome per asset
(``outcome``), the program's model of it (``model_outcome``), the marginal outcome per unit
of money (``marginal``) and its cvxpy form on the budget shares (``build``). The linear term
lives here, on the ground floor; curve terms (:class:`portfolio_mkt.response.CurveReturn`)
answer the same questions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LinearReturn"]


class LinearReturn:
    """Expected outcome ``mu_i * x_i`` per asset; keeps the program a QP.

    ``mu`` enters the program as a cvxpy Parameter (:attr:`parameter`) so scenarios (cost
    shocks) re-solve without recompiling.

    Parameters
    ----------
    mu : ndarray
        Expected outcome per unit of money, in the problem's asset order.
    """

    linear = True

    def __init__(self, mu: np.ndarray) -> None:
        self.mu = np.asarray(mu, dtype=float)
        self._parameter: Any = None

    @property
    def parameter(self) -> Any:
        """The cvxpy Parameter holding ``mu`` (created on first use)."""
        if self._parameter is None:
            import cvxpy as cp

            self._parameter = cp.Parameter(self.mu.shape, name="expected_return")
            self._parameter.value = self.mu
        return self._parameter

    def build(self, w: Any, budget: float) -> tuple[Any, list[Any]]:
        """Per-asset outcome / budget: ``mu * w`` (a cvxpy expression) and no extra rows."""
        import cvxpy as cp

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
