"""The allocation problem: assets, returns, risk, budget, strategy and risk tolerance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._validation import as_asset_series, as_index, check_finite_number, check_name, split_tags
from .constraints import MEMO_ATTRIBUTE, Constraint
from .exceptions import AlignmentError, ConstraintError, InputError, format_labels
from .risk import DEFAULT_PSD_TOLERANCE, FactorCovariance, RiskModel, as_covariance, risk_model
from .terms import LinearReturn

__all__ = ["Problem", "RESERVED_NAMES"]

#: Names the program gives its own constraints; strategy constraints may not use them.
RESERVED_NAMES = frozenset({"budget", "long_only", "max_risk", "min_outcome"})

Objective = Literal["utility", "min_risk", "max_return"]


class Problem:
    """A budget allocation problem, validated and aligned on construction.

    The program solved is, on shares ``w = x / budget`` (``x`` = spend in money)::

        maximize   sum_i r_i(budget * w_i) / budget - (delta / 2) * w' Sigma w
        subject to sum_i w_i == 1  (or <= 1 with budget_mode="cap"), w >= 0, constraints

    with ``r_i(x) = mu_i * x`` unless a response curve is given. This is PyPortfolioOpt's
    ``max_quadratic_utility`` convention, so with ``budget=1`` results cross-check.

    Parameters
    ----------
    expected_return : Series
        Expected outcome per unit of money spent, indexed by asset id (for revenue outcomes
        this is ROI). Must be finite.
    covariance : DataFrame, FactorCovariance, fitted estimator or None, optional
        Covariance of the per-unit-spend returns. A fitted scikit-learn style estimator
        (anything with ``covariance_``) is accepted. ``None`` means no risk term.
        A non-PSD matrix is repaired to the nearest PSD matrix with a warning, or rejected when
        further than ``psd_tolerance`` away.
    budget : float
        Budget in money (> 0).
    assets : DataFrame, optional
        Attributes indexed by asset id (market, channel, tier, creator, tags, ...). ``tags``
        may hold lists or ``;``-separated strings. Attributes are used by group constraints.
    constraints : list of Constraint, optional
        Strategy constraints (:class:`~portfolio_mkt.Lock`, :class:`~portfolio_mkt.GroupFloor`
        ...). Names must be unique. ``None`` means none.
    current : Series, optional
        Current spend in money, by asset; enables shift limits and change reporting.
    risk_aversion : float, default 1.0
        ``delta`` of the utility objective (>= 0).
    objective : {"utility", "min_risk", "max_return"}, default "utility"
        Maximise utility, minimise risk, or maximise expected outcome.
    max_risk : float, optional
        Upper bound on the risk (standard deviation of the outcome, outcome units).
    min_outcome : float, optional
        Lower bound on the expected outcome (outcome units).
    budget_mode : {"exact", "cap"}, default "exact"
        Spend exactly the budget, or at most the budget.
    response : Mapping, optional
        Asset id -> response curve (see :mod:`portfolio_mkt.response`); assets without a curve
        use ``expected_return`` linearly.
    halo : DataFrame, optional
        Non-negative source x target matrix of linear cross-asset lifts.
    response_tolerance : float, default 1e-3
        Relative error allowed for piecewise-linear approximations of curves.
    psd_tolerance : float, default 0.05
        Largest relative distance of covariance PSD repair before raising.
    name : str, default "plan"

    Notes
    -----
    A problem is plain data: it knows nothing of solvers, bias audits or approval policy.
    Data caveats and approval lines are attached to an allocation by
    :func:`portfolio_mkt.with_caveats`.

    Raises
    ------
    InputError, AlignmentError, CovarianceError, ConstraintError
        With a message naming the field, the assets or the constraint.

    Examples
    --------
    >>> mu = pd.Series({"search": 3.0, "social": 2.5})
    >>> cov = pd.DataFrame([[0.5, 0.1], [0.1, 0.8]], index=mu.index, columns=mu.index)
    >>> p = Problem(mu, cov, budget=100_000, risk_aversion=2.0)
    >>> p.n_assets
    2
    """

    def __init__(
        self,
        expected_return: pd.Series | Mapping[Any, float],
        covariance: Any = None,
        budget: float = 1.0,
        assets: pd.DataFrame | None = None,
        constraints: Sequence[Constraint] = (),
        current: pd.Series | Mapping[Any, float] | None = None,
        risk_aversion: float = 1.0,
        objective: Objective = "utility",
        max_risk: float | None = None,
        min_outcome: float | None = None,
        budget_mode: Literal["exact", "cap"] = "exact",
        response: Mapping[Any, Any] | None = None,
        halo: pd.DataFrame | None = None,
        response_tolerance: float = 1e-3,
        psd_tolerance: float = DEFAULT_PSD_TOLERANCE,
        name: str = "plan",
        *,
        _origin: Problem | None = None,
    ) -> None:
        self._args = dict(
            expected_return=expected_return, covariance=covariance, budget=budget,
            assets=assets, constraints=constraints, current=current,
            risk_aversion=risk_aversion, objective=objective, max_risk=max_risk,
            min_outcome=min_outcome, budget_mode=budget_mode, response=response, halo=halo,
            response_tolerance=response_tolerance, psd_tolerance=psd_tolerance, name=name,
        )
        if isinstance(expected_return, Mapping) and not isinstance(expected_return, pd.Series):
            expected_return = pd.Series(dict(expected_return), dtype=object)
        if not isinstance(expected_return, pd.Series):
            raise InputError(
                "expected_return must be a pandas Series indexed by asset id (outcome per unit "
                f"of money); got {type(expected_return).__name__}."
            )
        if expected_return.empty:
            raise InputError("expected_return is empty; the problem needs at least one asset.")
        # a problem made by replace() takes what its origin validated from the same objects
        # (the index, the aligned covariance and asset table, the current spend, what the
        # constraints resolved): a scenario that changes the budget does not re-align a
        # covariance or resolve asset ids again
        def same(key: str) -> bool:
            return _origin is not None and _origin._args[key] is self._args[key]

        if same("expected_return"):
            self.index: pd.Index = _origin.index
            self.expected_return: pd.Series = _origin.expected_return
        else:
            self.index = as_index(expected_return.index, "expected_return")
            self.expected_return = as_asset_series(
                expected_return, self.index, "expected_return"
            )
        reuse = same("expected_return")
        psd_tolerance = check_finite_number(psd_tolerance, "psd_tolerance", minimum=0.0)
        self.budget: float = check_finite_number(budget, "budget", minimum=0.0, strict=True)
        if budget_mode not in ("exact", "cap"):
            raise InputError(f"budget_mode must be 'exact' or 'cap'; got {budget_mode!r}.")
        self.budget_mode = budget_mode
        if reuse and same("covariance") and same("psd_tolerance"):
            self.covariance: pd.DataFrame | FactorCovariance | None = _origin.covariance
            self.risk_model: RiskModel = _origin.risk_model
        else:
            self.covariance = (
                None if covariance is None
                else as_covariance(covariance, self.index, psd_tolerance=psd_tolerance)
            )
            self.risk_model = risk_model(self.covariance, self.index)
        self.assets: pd.DataFrame = (_origin.assets if reuse and same("assets")
                                     else self._normalise_assets(assets))
        self.current: pd.Series | None = None
        if reuse and same("current"):
            self.current = _origin.current
        elif current is not None:
            cur = as_asset_series(current, self.index, "current", default=0.0,
                                  allow_partial=True)
            if (cur < 0).any():
                raise InputError(
                    f"current spend is negative for {format_labels(cur.index[cur < 0])}; "
                    "spend must be >= 0."
                )
            self.current = cur
        self.risk_aversion = check_finite_number(risk_aversion, "risk_aversion", minimum=0.0)
        if objective not in ("utility", "min_risk", "max_return"):
            raise InputError(
                f"objective must be 'utility', 'min_risk' or 'max_return'; got {objective!r}."
            )
        self.objective = objective
        self.max_risk = (None if max_risk is None
                         else check_finite_number(max_risk, "max_risk", minimum=0.0, strict=True))
        self.min_outcome = (None if min_outcome is None
                            else check_finite_number(min_outcome, "min_outcome"))
        if self.covariance is None and (objective == "min_risk" or max_risk is not None):
            raise InputError(
                f"objective={objective!r} / max_risk need a covariance; pass covariance=..."
            )
        self.response = dict(response) if response is not None else None
        if self.response is not None:
            unknown = pd.Index(list(self.response)).difference(self.index)
            if len(unknown):
                raise AlignmentError(
                    f"response names assets that are not in the problem: "
                    f"{format_labels(unknown)}."
                )
        self.halo = halo
        self.response_tolerance = check_finite_number(
            response_tolerance, "response_tolerance", minimum=0.0, strict=True
        )
        self.name = check_name(name, "name")
        if constraints is None:
            constraints = ()
        if isinstance(constraints, (Constraint, str, Mapping)) or not isinstance(
                constraints, (list, tuple)):
            raise ConstraintError(
                "constraints must be a list of constraint objects, e.g. "
                f"[pm.Lock(...), pm.GroupFloor(...)]; got {type(constraints).__name__}."
            )
        self.constraints: tuple[Constraint, ...] = tuple(constraints)
        if (reuse and self.assets is _origin.assets and self.current is _origin.current
                and MEMO_ATTRIBUTE in _origin.__dict__):
            # entries are keyed by constraint object (and budget where amounts are shares)
            self.__dict__[MEMO_ATTRIBUTE] = dict(_origin.__dict__[MEMO_ATTRIBUTE])
        self._validate_constraints()

    # ------------------------------------------------------------------ helpers
    def _normalise_assets(self, assets: pd.DataFrame | None) -> pd.DataFrame:
        if assets is None:
            return pd.DataFrame(index=self.index)
        if not isinstance(assets, pd.DataFrame):
            raise InputError(
                f"assets must be a DataFrame of attributes indexed by asset id; got "
                f"{type(assets).__name__}."
            )
        if "asset" in assets.columns and not assets.index.isin(self.index).all():
            assets = assets.set_index("asset")
        as_index(assets.index, "assets")
        missing = self.index.difference(assets.index)
        if len(missing):
            raise AlignmentError(
                f"assets has no row for {format_labels(missing)}; add their attributes "
                "(market, channel, ...)."
            )
        out = assets.loc[self.index].copy()
        if "tags" in out.columns:
            out["tags"] = [split_tags(v) for v in out["tags"]]
        return out

    def _validate_constraints(self) -> None:
        seen: set[str] = set()
        for c in self.constraints:
            if not isinstance(c, Constraint):
                raise ConstraintError(
                    f"constraints must be portfolio_mkt constraint objects (Lock, GroupFloor, "
                    f"...); got {type(c).__name__}. Wrap raw cvxpy constraints in "
                    "CustomConstraint."
                )
            if c.name in RESERVED_NAMES:
                raise ConstraintError(
                    f"constraint name '{c.name}' is reserved; choose another name."
                )
            if c.name in seen:
                raise ConstraintError(
                    f"two constraints are named '{c.name}'; names must be unique because they "
                    "identify constraints in results and errors."
                )
            seen.add(c.name)
            c.validate(self)

    # ------------------------------------------------------------------ public
    @property
    def n_assets(self) -> int:
        """Number of assets."""
        return len(self.index)

    @cached_property
    def return_term(self) -> Any:
        """The objective's return term (linear in ``mu``, or built from response curves)."""
        mu = self.expected_return.to_numpy(float)
        if self.response is None and self.halo is None:
            return LinearReturn(mu)
        from .response import make_return_term

        return make_return_term(
            self.response or {}, self.index, mu, self.halo, self.response_tolerance,
            upper=self.spend_upper_bounds(),
        )

    def spend_upper_bounds(self) -> np.ndarray:
        """Largest spend per asset (money) that the constraints allow, at most the budget.

        Combines per-asset bounds, exact locks, the roster and shift limits; used to tighten
        piecewise-linear approximations of response curves and by feasibility checks.
        """
        hi = np.full(self.n_assets, self.budget)
        for c in self.constraints:
            b = c.implied_bounds(self)
            if b is not None:
                hi = np.minimum(hi, b[1])
        return hi

    def covariance_matrix(self) -> pd.DataFrame | None:
        """The dense covariance (formed from a factor model if needed), or None."""
        if self.covariance is None:
            return None
        if isinstance(self.covariance, FactorCovariance):
            return self.covariance.to_dense()
        return self.covariance

    def covariance_times(self, spend: np.ndarray) -> np.ndarray:
        """``Sigma x`` without forming ``Sigma`` for a factor model (zeros without covariance)."""
        return self.risk_model.times(spend)

    def covariance_diagonal(self) -> np.ndarray:
        """Variances of the per-unit returns (zeros without covariance)."""
        return self.risk_model.diagonal()

    def variance(self, spend: np.ndarray) -> float:
        """Variance of the outcome at money spend ``spend`` (``x' Sigma x``)."""
        return self.risk_model.variance(spend)

    def shares(self, spend: np.ndarray) -> np.ndarray:
        """Money per asset -> shares of the budget (the one place this conversion is made)."""
        return np.asarray(spend, dtype=float) / self.budget

    def money(self, shares: np.ndarray) -> np.ndarray:
        """Shares of the budget -> money per asset, solver round-off below zero set to zero."""
        x = np.asarray(shares, dtype=float) * self.budget
        x[(x < 0) & (x > -1e-7 * self.budget)] = 0.0
        return x

    def constraint(self, name: str) -> Constraint:
        """The strategy constraint called ``name``."""
        for c in self.constraints:
            if c.name == name:
                return c
        raise ConstraintError(
            f"no constraint named '{name}'; the problem has: "
            f"{format_labels([c.name for c in self.constraints]) or 'none'}."
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without what solves cached on this problem (rebuilt when needed).

        The constraints' cache is keyed by object ids and the exact-curve route holds a
        compiled program.
        """
        state = dict(self.__dict__)
        for key in (MEMO_ATTRIBUTE, "_newton_route"):
            state.pop(key, None)
        return state

    def replace(self, **changes: Any) -> Problem:
        """A new problem with some constructor arguments changed (the original is untouched).

        Parameters
        ----------
        **changes
            Constructor arguments to override, e.g. ``budget=1.1 * p.budget``.

        Returns
        -------
        Problem
        """
        unknown = set(changes) - set(self._args)
        if unknown:
            raise InputError(f"Problem.replace got unknown arguments {sorted(unknown)}.")
        args = {**self._args, **changes}
        return Problem(**args, _origin=self)

    def differences(self, other: Problem) -> set[str]:
        """Names of the constructor arguments in which this problem differs from ``other``.

        Arguments are compared by identity, then by value for numbers and strings (a problem
        made by :meth:`replace` shares every unchanged argument with its origin).
        """
        out = set()
        for k, v in self._args.items():
            w = other._args.get(k)
            if v is w:
                continue
            if isinstance(v, (int, float, str)) and isinstance(w, (int, float, str)) and v == w:
                continue
            out.add(k)
        return out

    def without(self, *names: str) -> Problem:
        """The same problem without the named strategy constraints."""
        for n in names:
            self.constraint(n)
        return self.replace(constraints=[c for c in self.constraints if c.name not in names])

    def __repr__(self) -> str:
        return (f"Problem(name={self.name!r}, n_assets={self.n_assets}, budget={self.budget:,.6g}, "
                f"objective={self.objective!r}, constraints={[c.name for c in self.constraints]})")
