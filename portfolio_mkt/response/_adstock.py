"""Carryover (adstock): spend in one period keeps working in the following periods.

An adstock is a kernel of lag weights ``w_0, ..., w_{L-1}``; the adstocked spend is the causal
convolution ``a_t = sum_l w_l x_{t-l}`` (spend before the first period counts as zero).

Valuing spend whose effect lands after the planning period
------------------------------------------------------------
A curve fitted on adstocked spend describes the steady-state (total) effect of a unit of spend.
If spend is spread evenly over a planning window of ``H`` periods, the share of its total effect
that lands inside the window is

    f(H) = sum_l v_l * max(H - l, 0) / H,      v_l = w_l / sum(w),

and the rest lands after the window. A channel with long carryover (content, brand) measured
only inside the window is undervalued by the factor ``carryover_multiplier(H) = 1 / f(H)``.
The planner values spend at its total effect: either use the fitted curve (which already is the
total effect), or multiply an in-window return by :meth:`Adstock.carryover_multiplier`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
from scipy.signal import lfilter

from ..exceptions import InputError

__all__ = ["Adstock", "GeometricAdstock", "WeibullAdstock", "ADSTOCK_FAMILIES", "make_adstock"]


def _check_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise InputError(
            f"{owner}: parameter '{name}' must be a positive integer (periods), got {value!r}; "
            "pass for example 8."
        )
    return int(value)


class Adstock(ABC):
    """Base class of the carryover kernels (immutable value objects)."""

    family: ClassVar[str] = "adstock"
    l_max: int
    normalize: bool

    @abstractmethod
    def raw_weights(self) -> np.ndarray:
        """Lag weights before normalisation (``w_0`` first)."""

    def weights(self) -> np.ndarray:
        """Lag weights ``w_0 .. w_{l_max-1}``; they sum to one when ``normalize`` is set."""
        w = self.raw_weights()
        if self.normalize:
            total = w.sum()
            w = w / total if total > 0 else w
        return w

    @property
    def params(self) -> dict[str, Any]:
        """Parameters as a dict (name -> value)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def transform(self, spend: Any) -> np.ndarray:
        """Adstocked spend: causal convolution of ``spend`` with :meth:`weights` along axis 0.

        Parameters
        ----------
        spend : array-like of shape (n_periods,) or (n_periods, n_assets)
            Spend per period, oldest first.

        Returns
        -------
        ndarray of the same shape
        """
        x = np.asarray(spend, dtype=float)
        if x.ndim not in (1, 2):
            raise InputError(
                f"{type(self).__name__}.transform: spend must be 1-D (periods) or 2-D "
                f"(periods x assets), got shape {x.shape}; reshape the array."
            )
        return lfilter(self.weights(), [1.0], x, axis=0)

    def total_effect(self) -> float:
        """Adstocked exposure produced by one unit of spend over all lags (``sum(weights)``)."""
        return float(self.weights().sum())

    def in_window_share(self, horizon: int = 1) -> float:
        """Share ``f(H)`` of the total effect of spend that lands inside an ``H``-period window.

        Spend is assumed spread evenly over the window (see the module docstring).
        """
        h = _check_int(type(self).__name__, "horizon", horizon)
        w = self.raw_weights()
        v = w / w.sum()
        lags = np.arange(len(v))
        return float(np.sum(v * np.maximum(h - lags, 0)) / h)

    def carryover_multiplier(self, horizon: int = 1) -> float:
        """Total effect over in-window effect, ``1 / f(H)`` (``>= 1``).

        Multiply a return measured only inside an ``H``-period window by this factor to value
        the spend at its total effect, including what lands after the planning period.

        Examples
        --------
        >>> round(GeometricAdstock(0.5, l_max=50).carryover_multiplier(1), 6)
        2.0
        """
        return 1.0 / self.in_window_share(horizon)

    def mean_lag(self) -> float:
        """Average delay of the effect, in periods."""
        w = self.raw_weights()
        return float(np.sum(np.arange(len(w)) * w) / w.sum())


@dataclass(frozen=True)
class GeometricAdstock(Adstock):
    """Geometric decay: ``w_l = alpha ** l`` for ``l < l_max``.

    Parameters
    ----------
    alpha : float
        Retention per period, in ``[0, 1)``.
    l_max : int, default 12
        Number of lags kept (including lag 0).
    normalize : bool, default True
        Divide the weights by their sum (then a constant spend keeps its level).

    Examples
    --------
    >>> GeometricAdstock(0.5, l_max=3, normalize=False).transform([1.0, 0.0, 0.0]).tolist()
    [1.0, 0.5, 0.25]
    """

    alpha: float
    l_max: int = 12
    normalize: bool = True
    family: ClassVar[str] = "geometric"

    def __post_init__(self) -> None:
        a = float(self.alpha)
        if not math.isfinite(a) or not 0.0 <= a < 1.0:
            raise InputError(
                f"GeometricAdstock: parameter 'alpha' must be in [0, 1), got {self.alpha!r}; "
                "pass the share of the effect retained from one period to the next."
            )
        object.__setattr__(self, "alpha", a)
        object.__setattr__(self, "l_max", _check_int("GeometricAdstock", "l_max", self.l_max))
        object.__setattr__(self, "normalize", bool(self.normalize))

    def raw_weights(self) -> np.ndarray:  # noqa: D102
        return self.alpha ** np.arange(self.l_max, dtype=float)


@dataclass(frozen=True)
class WeibullAdstock(Adstock):
    """Weibull carryover: a flexible decay that may peak after a delay.

    With ``F`` the Weibull CDF of shape ``shape`` and scale ``scale`` (periods):

    - ``kind="cdf"``: ``w_l = 1 - F(l)``, the share of the effect still alive after ``l``
      periods (monotone decay, ``w_0 = 1``; ``shape < 1`` decays fast then lingers);
    - ``kind="pdf"``: ``w_l = F(l + 1) - F(l)``, the share of the effect that lands in period
      ``l`` (can peak after a delay: content and brand spend), scaled so the largest is 1.

    Parameters
    ----------
    shape : float
        Weibull shape, ``> 0``.
    scale : float
        Weibull scale in periods, ``> 0``.
    l_max : int, default 12
        Number of lags kept.
    kind : {"cdf", "pdf"}, default "pdf"
        Variant, see above.
    normalize : bool, default True
        Divide the weights by their sum.
    """

    shape: float
    scale: float
    l_max: int = 12
    kind: str = "pdf"
    normalize: bool = True
    family: ClassVar[str] = "weibull"

    def __post_init__(self) -> None:
        for name in ("shape", "scale"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v <= 0:
                raise InputError(
                    f"WeibullAdstock: parameter '{name}' must be finite and > 0, got "
                    f"{getattr(self, name)!r}; pass a positive number (scale in periods)."
                )
            object.__setattr__(self, name, v)
        object.__setattr__(self, "l_max", _check_int("WeibullAdstock", "l_max", self.l_max))
        if self.kind not in ("cdf", "pdf"):
            raise InputError(
                f"WeibullAdstock: parameter 'kind' must be 'cdf' or 'pdf', got {self.kind!r}."
            )
        object.__setattr__(self, "normalize", bool(self.normalize))

    def _cdf(self, t: np.ndarray) -> np.ndarray:
        return -np.expm1(-np.power(t / self.scale, self.shape))

    def raw_weights(self) -> np.ndarray:  # noqa: D102
        lags = np.arange(self.l_max, dtype=float)
        if self.kind == "cdf":
            return 1.0 - self._cdf(lags)
        w = self._cdf(lags + 1.0) - self._cdf(lags)
        top = w.max()
        if top <= 0:  # all mass beyond l_max: keep lag 0 so the kernel is usable
            w = np.zeros_like(w)
            w[-1] = 1.0
            return w
        return w / top


#: Family name -> adstock class.
ADSTOCK_FAMILIES: dict[str, type[Adstock]] = {
    "geometric": GeometricAdstock,
    "weibull": WeibullAdstock,
}


def make_adstock(family: str, **params: Any) -> Adstock:
    """Build an adstock from its family name (``"geometric"`` or ``"weibull"``) and parameters.

    Returns
    -------
    Adstock
    """
    cls = ADSTOCK_FAMILIES.get(str(family).lower())
    if cls is None:
        raise InputError(
            f"unknown adstock family {family!r}; use 'geometric' or 'weibull' (or None)."
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(f"adstock {family!r}: {exc}; check the parameter names.") from None
