"""Response-curve families: value, marginal return, and an exact cvxpy form where one exists.

Every curve maps money spent on one asset, ``x >= 0`` (in the asset's money units), to the
expected outcome of that spend (in outcome units), with ``r(0) = 0``. Parameters are in the same
units: ``beta`` in outcome units (or outcome per money for :class:`Linear` and :class:`Power`),
``k`` in money, ``lam`` per money.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from ..exceptions import InputError

__all__ = [
    "Curve",
    "Linear",
    "Logarithmic",
    "ExponentialSaturation",
    "MichaelisMenten",
    "Power",
    "Hill",
    "Logistic",
    "CURVE_FAMILIES",
    "make_curve",
]


def _check_positive(owner: str, name: str, value: float, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{owner}: parameter '{name}' must be a number, got {value!r}; pass a float."
        ) from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(
            f"{owner}: parameter '{name}' must be finite and {bound}, got {value!r}; "
            f"pass a {'non-negative' if allow_zero else 'positive'} value in the asset's units."
        )
    return v


class Curve(ABC):
    """Base class of the response curves.

    A curve is an immutable value object. Subclasses are frozen dataclasses whose fields are the
    parameters, in the asset's money and outcome units.
    """

    #: Short family name used in reports and in :func:`make_curve`.
    family: ClassVar[str] = "curve"

    # -- numbers ----------------------------------------------------------------------------
    @abstractmethod
    def value(self, x: Any) -> np.ndarray:
        """Expected outcome at spend ``x`` (vectorised over a NumPy array of money)."""

    @abstractmethod
    def derivative(self, x: Any) -> np.ndarray:
        """Marginal return ``r'(x)``: extra outcome per extra unit of money at spend ``x``."""

    def second_derivative(self, x: Any) -> np.ndarray:
        """Curvature ``r''(x)`` (central finite differences unless a family overrides it)."""
        x = np.asarray(x, dtype=float)
        h = 1e-5 * np.maximum(np.abs(x), self._money_scale())
        lo = np.maximum(x - h, 0.0)
        hi = x + h
        return (self.derivative(hi) - self.derivative(lo)) / (hi - lo)

    def inverse_derivative(self, slope: Any) -> np.ndarray | None:
        """Spend at which the marginal return equals ``slope`` (``None``: no closed form).

        Used to place piecewise-linear breakpoints fast; concave families override it.
        """
        return None

    # -- convexity ----------------------------------------------------------------------------
    @property
    def is_concave(self) -> bool:
        """Whether the curve is concave on ``x >= 0`` (diminishing returns from the first unit)."""
        return True

    @property
    def has_conic_form(self) -> bool:
        """Whether :meth:`cvxpy` returns an exact (DCP) expression."""
        return True

    @property
    def payback_spend(self) -> float:
        """Spend at which an S-shaped curve starts to pay (tangency with a ray from 0).

        Below this spend the average return ``r(x)/x`` is lower than at this spend, so a
        small amount is not worth it. ``0.0`` for concave curves.
        """
        return 0.0

    # -- cvxpy ------------------------------------------------------------------------------
    def cvxpy(self, x: cp.Expression) -> cp.Expression | None:
        """Exact concave cvxpy expression of a money-valued expression ``x``, or ``None``.

        ``x`` may be a vector; the curve is applied elementwise. ``None`` means the curve has
        no conic (DCP) form; the program then uses a piecewise-linear approximation.
        """
        if not self.has_conic_form:
            return None
        return type(self)._cvx(x, **self.params)

    @classmethod
    def _cvx(cls, x: cp.Expression, **params: Any) -> cp.Expression:
        raise NotImplementedError  # pragma: no cover

    def _group_key(self) -> tuple:
        """Curves with the same key can share one vectorised cvxpy expression."""
        return (type(self),)

    # -- units --------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, float]:
        """Parameters as a dict (name -> value)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @abstractmethod
    def transform(self, money_scale: float, outcome_scale: float) -> Curve:
        """The same curve in scaled units: ``g(u) = r(money_scale * u) / outcome_scale``.

        The result belongs to the same family, so exactness is preserved. The program uses
        ``rescale(budget)`` to work in shares of the budget; fitting uses it to normalise.
        """

    def rescale(self, scale: float) -> Curve:
        """The curve in units of ``scale`` money: ``g(w) = r(scale * w) / scale``."""
        return self.transform(scale, scale)

    def scale_output(self, factor: float) -> Curve:
        """The curve multiplied by ``factor`` (e.g. a carryover multiplier)."""
        return self.transform(1.0, 1.0 / float(factor))

    def _money_scale(self) -> float:
        return 1.0

    def __call__(self, x: Any) -> np.ndarray:
        """Alias of :meth:`value`."""
        return self.value(x)


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


@dataclass(frozen=True)
class Linear(Curve):
    """Constant return: ``r(x) = beta * x`` (``beta``: outcome per unit of money).

    Parameters
    ----------
    beta : float
        Return per unit of money, ``>= 0``.

    Examples
    --------
    >>> float(Linear(2.0).value(3.0))
    6.0
    """

    beta: float
    family: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("Linear", "beta", self.beta, True))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta * _arr(x)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return np.full_like(_arr(x), self.beta)

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return np.zeros_like(_arr(x))

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any) -> cp.Expression:
        return cp.multiply(beta, x)

    def transform(self, money_scale: float, outcome_scale: float) -> Linear:  # noqa: D102
        return Linear(self.beta * money_scale / outcome_scale)


@dataclass(frozen=True)
class Logarithmic(Curve):
    """Logarithmic response: ``r(x) = beta * log(1 + x / k)``.

    Parameters
    ----------
    beta : float
        Outcome units; ``r(x) ~ beta * log(x)`` for large spend.
    k : float
        Money; the marginal return at zero is ``beta / k`` and halves at ``x = k``.

    Examples
    --------
    >>> float(Logarithmic(10.0, 100.0).derivative(0.0))
    0.1
    """

    beta: float
    k: float
    family: ClassVar[str] = "log"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("Logarithmic", "beta", self.beta))
        object.__setattr__(self, "k", _check_positive("Logarithmic", "k", self.k))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta * np.log1p(_arr(x) / self.k)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta / (self.k + _arr(x))

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return -self.beta / (self.k + _arr(x)) ** 2

    def inverse_derivative(self, slope: Any) -> np.ndarray:  # noqa: D102
        with np.errstate(divide="ignore"):
            return self.beta / _arr(slope) - self.k

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any, k: Any) -> cp.Expression:
        return cp.multiply(beta, cp.log1p(cp.multiply(1.0 / np.asarray(k), x)))

    def transform(self, money_scale: float, outcome_scale: float) -> Logarithmic:  # noqa: D102
        return Logarithmic(self.beta / outcome_scale, self.k / money_scale)

    def _money_scale(self) -> float:
        return self.k


@dataclass(frozen=True)
class ExponentialSaturation(Curve):
    """Exponential saturation: ``r(x) = beta * (1 - exp(-x / k))``.

    Parameters
    ----------
    beta : float
        Outcome units; the ceiling approached as spend grows.
    k : float
        Money; spend at which ``1 - 1/e`` (63%) of the ceiling is reached.
    """

    beta: float
    k: float
    family: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "beta", _check_positive("ExponentialSaturation", "beta", self.beta)
        )
        object.__setattr__(self, "k", _check_positive("ExponentialSaturation", "k", self.k))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        return -self.beta * np.expm1(-_arr(x) / self.k)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta / self.k * np.exp(-_arr(x) / self.k)

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return -self.beta / self.k**2 * np.exp(-_arr(x) / self.k)

    def inverse_derivative(self, slope: Any) -> np.ndarray:  # noqa: D102
        with np.errstate(divide="ignore"):
            return -self.k * np.log(_arr(slope) * self.k / self.beta)

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any, k: Any) -> cp.Expression:
        beta = np.asarray(beta)
        return beta - cp.multiply(beta, cp.exp(cp.multiply(-1.0 / np.asarray(k), x)))

    def transform(  # noqa: D102
        self, money_scale: float, outcome_scale: float
    ) -> ExponentialSaturation:
        return ExponentialSaturation(self.beta / outcome_scale, self.k / money_scale)

    def _money_scale(self) -> float:
        return self.k


@dataclass(frozen=True)
class MichaelisMenten(Curve):
    """Michaelis–Menten saturation: ``r(x) = beta * x / (k + x)``.

    Parameters
    ----------
    beta : float
        Outcome units; the ceiling.
    k : float
        Money; half-saturation spend (``r(k) = beta / 2``).
    """

    beta: float
    k: float
    family: ClassVar[str] = "michaelis_menten"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("MichaelisMenten", "beta", self.beta))
        object.__setattr__(self, "k", _check_positive("MichaelisMenten", "k", self.k))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        x = _arr(x)
        return self.beta * x / (self.k + x)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta * self.k / (self.k + _arr(x)) ** 2

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        return -2.0 * self.beta * self.k / (self.k + _arr(x)) ** 3

    def inverse_derivative(self, slope: Any) -> np.ndarray:  # noqa: D102
        with np.errstate(divide="ignore"):
            return np.sqrt(self.beta * self.k / _arr(slope)) - self.k

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any, k: Any) -> cp.Expression:
        # beta * x / (k + x) = beta - beta * k / (k + x); inv_pos is convex and decreasing.
        beta, k = np.asarray(beta), np.asarray(k)
        return beta - cp.multiply(beta * k, cp.inv_pos(k + x))

    def transform(self, money_scale: float, outcome_scale: float) -> MichaelisMenten:  # noqa: D102
        return MichaelisMenten(self.beta / outcome_scale, self.k / money_scale)

    def _money_scale(self) -> float:
        return self.k


@dataclass(frozen=True)
class Power(Curve):
    """Power response: ``r(x) = beta * x ** alpha`` with ``0 < alpha <= 1``.

    Parameters
    ----------
    beta : float
        Outcome per money**alpha.
    alpha : float
        Elasticity of outcome to spend, in ``(0, 1]``; ``alpha = 1`` is linear.
    """

    beta: float
    alpha: float
    family: ClassVar[str] = "power"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("Power", "beta", self.beta))
        a = _check_positive("Power", "alpha", self.alpha)
        if a > 1:
            raise InputError(
                f"Power: parameter 'alpha' must be in (0, 1] for a concave curve, got {a}; "
                "use alpha <= 1 (or Hill for an S-shaped curve)."
            )
        object.__setattr__(self, "alpha", a)

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta * np.power(np.maximum(_arr(x), 0.0), self.alpha)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        x = np.maximum(_arr(x), 0.0)
        with np.errstate(divide="ignore"):
            return self.beta * self.alpha * np.power(x, self.alpha - 1.0)

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        x = np.maximum(_arr(x), 0.0)
        with np.errstate(divide="ignore"):
            return self.beta * self.alpha * (self.alpha - 1.0) * np.power(x, self.alpha - 2.0)

    def _group_key(self) -> tuple:
        return (type(self), self.alpha)

    @property
    def has_conic_form(self) -> bool:  # noqa: D102
        # cvxpy writes x**alpha with second-order cones through a rational approximation of
        # alpha; an exponent that is no small fraction (0.99997) needs thousands of cones or
        # fails, so such a curve is approximated piecewise-linearly instead
        from fractions import Fraction

        a = float(self.alpha)
        return a == 1.0 or abs(float(Fraction(a).limit_denominator(64)) - a) <= 1e-12

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any, alpha: Any) -> cp.Expression:
        a = float(np.ravel(alpha)[0])
        if a == 1.0:
            return cp.multiply(beta, x)
        return cp.multiply(beta, cp.power(x, a))

    def transform(self, money_scale: float, outcome_scale: float) -> Power:  # noqa: D102
        return Power(self.beta * money_scale**self.alpha / outcome_scale, self.alpha)


@dataclass(frozen=True)
class Hill(Curve):
    """Hill curve: ``r(x) = beta * x**s / (k**s + x**s)`` for any slope ``s > 0``.

    Concave for ``s <= 1`` (with an exact conic form); S-shaped for ``s > 1`` (no conic form:
    the program uses its concave envelope, see :attr:`payback_spend`).

    Parameters
    ----------
    beta : float
        Outcome units; the ceiling.
    k : float
        Money; half-saturation spend (``r(k) = beta / 2``).
    slope : float
        Shape; ``slope > 1`` gives an S-curve with inflection below ``k``.
    """

    beta: float
    k: float
    slope: float
    family: ClassVar[str] = "hill"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("Hill", "beta", self.beta))
        object.__setattr__(self, "k", _check_positive("Hill", "k", self.k))
        object.__setattr__(self, "slope", _check_positive("Hill", "slope", self.slope))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        u = np.power(np.maximum(_arr(x), 0.0) / self.k, self.slope)
        return self.beta * u / (1.0 + u)

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        z = np.maximum(_arr(x), 0.0) / self.k
        s = self.slope
        with np.errstate(divide="ignore"):
            return self.beta * s / self.k * np.power(z, s - 1.0) / (1.0 + np.power(z, s)) ** 2

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        z = np.maximum(_arr(x), 0.0) / self.k
        s = self.slope
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.power(z, s)
            return (
                self.beta * s / self.k**2 * np.power(z, s - 2.0)
                * ((s - 1.0) - (s + 1.0) * u) / (1.0 + u) ** 3
            )

    @property
    def is_concave(self) -> bool:  # noqa: D102
        return self.slope <= 1.0

    @property
    def has_conic_form(self) -> bool:  # noqa: D102
        return self.slope <= 1.0

    @property
    def inflection(self) -> float:
        """Spend at the inflection point (``0.0`` when ``slope <= 1``)."""
        s = self.slope
        return 0.0 if s <= 1 else self.k * ((s - 1.0) / (s + 1.0)) ** (1.0 / s)

    @property
    def payback_spend(self) -> float:
        """Tangency point of the ray from 0: ``k * (slope - 1) ** (1 / slope)`` (0 if concave)."""
        s = self.slope
        return 0.0 if s <= 1 else self.k * (s - 1.0) ** (1.0 / s)

    def _group_key(self) -> tuple:
        return (type(self), self.slope)

    @classmethod
    def _cvx(cls, x: cp.Expression, beta: Any, k: Any, slope: Any) -> cp.Expression:
        # beta * (1 - k^s / (k^s + x^s)); x^s concave for s <= 1, inv_pos convex decreasing.
        s = float(np.ravel(slope)[0])
        beta, k = np.asarray(beta), np.asarray(k)
        ks = k**s
        xs = x if s == 1.0 else cp.power(x, s)
        return beta - cp.multiply(beta * ks, cp.inv_pos(ks + xs))

    def transform(self, money_scale: float, outcome_scale: float) -> Hill:  # noqa: D102
        return Hill(self.beta / outcome_scale, self.k / money_scale, self.slope)

    def _money_scale(self) -> float:
        return self.k


@dataclass(frozen=True)
class Logistic(Curve):
    """Logistic saturation: ``r(x) = beta * (1 - exp(-lam x)) / (1 + exp(-lam x))``.

    This is pymc-marketing's ``logistic_saturation`` times ``beta`` (equal to
    ``beta * tanh(lam x / 2)``): concave on ``x >= 0``, without a conic form, so the program uses
    a piecewise-linear approximation.

    Parameters
    ----------
    beta : float
        Outcome units; the ceiling.
    lam : float
        Per unit of money; the marginal return at zero is ``beta * lam / 2``.
    """

    beta: float
    lam: float
    family: ClassVar[str] = "logistic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _check_positive("Logistic", "beta", self.beta))
        object.__setattr__(self, "lam", _check_positive("Logistic", "lam", self.lam))

    def value(self, x: Any) -> np.ndarray:  # noqa: D102
        return self.beta * np.tanh(0.5 * self.lam * _arr(x))

    def derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        with np.errstate(over="ignore"):
            c = np.cosh(0.5 * self.lam * _arr(x))
        return 0.5 * self.beta * self.lam / (c * c)

    def second_derivative(self, x: Any) -> np.ndarray:  # noqa: D102
        t = np.tanh(0.5 * self.lam * _arr(x))
        return -0.5 * self.beta * self.lam**2 * t * (1.0 - t * t)

    @property
    def has_conic_form(self) -> bool:  # noqa: D102
        return False

    def inverse_derivative(self, slope: Any) -> np.ndarray:  # noqa: D102
        # r'(x) = (beta lam / 2) / cosh(lam x / 2)^2
        with np.errstate(divide="ignore"):
            ratio = 0.5 * self.beta * self.lam / _arr(slope)
        return 2.0 / self.lam * np.arccosh(np.sqrt(np.maximum(ratio, 1.0)))

    def transform(self, money_scale: float, outcome_scale: float) -> Logistic:  # noqa: D102
        return Logistic(self.beta / outcome_scale, self.lam * money_scale)

    def _money_scale(self) -> float:
        return 1.0 / self.lam


#: Family name -> curve class (names accepted by :func:`make_curve` and the fitting code).
CURVE_FAMILIES: dict[str, type[Curve]] = {
    c.family: c
    for c in (Linear, Logarithmic, ExponentialSaturation, MichaelisMenten, Power, Hill, Logistic)
}


def make_curve(family: str, **params: float) -> Curve:
    """Build a curve from its family name and parameters.

    Parameters
    ----------
    family : str
        One of ``"linear"``, ``"log"``, ``"exponential"``, ``"michaelis_menten"``, ``"power"``,
        ``"hill"``, ``"logistic"``.
    **params : float
        The family's parameters (see each class).

    Returns
    -------
    Curve

    Examples
    --------
    >>> make_curve("hill", beta=10.0, k=5.0, slope=2.0)
    Hill(beta=10.0, k=5.0, slope=2.0)
    """
    cls = CURVE_FAMILIES.get(str(family).lower())
    if cls is None:
        raise InputError(
            f"unknown response curve family {family!r}; use one of "
            f"{', '.join(sorted(CURVE_FAMILIES))}."
        )
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(params) - set(names))
    missing = [n for n in names if n not in params]
    if unknown or missing:
        raise InputError(
            f"curve family {family!r} takes parameters {names}; "
            f"unknown: {unknown}, missing: {missing}. Pass exactly those keywords."
        )
    return cls(**params)

