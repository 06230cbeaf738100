"""Piecewise-linear concave approximations and concave envelopes of response curves.

The approximation interpolates the (envelope of the) curve at breakpoints ``p_0 = 0 < p_1 <
... < p_K = U``: each piece is a chord, so the model is exact at the breakpoints and never above
the concave function it approximates. In the program it enters as the minimum of the pieces'
lines, ``min_k (a_k x + b_k)``, which cvxpy compiles to linear constraints (a hypograph).

Breakpoints are placed adaptively: the chord error on a piece of length ``h`` is about
``|r''| h^2 / 8``, so for a tolerance ``tol`` the pieces are laid out with density proportional
to ``sqrt(|r''|)`` (equidistribution, asymptotically the fewest pieces), then every piece is
checked exactly (the largest gap of a chord under a concave function is where the slope of the
function equals the chord's slope, found by bisection) and split until all are under ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import InputError
from ._curves import Curve

__all__ = ["PiecewiseLinear", "concave_envelope", "approximate", "chord_errors"]


@dataclass(frozen=True, eq=False)
class PiecewiseLinear:
    """A concave piecewise-linear function given by breakpoints and values.

    Attributes
    ----------
    breakpoints : ndarray of shape (K + 1,)
        Increasing money levels, starting at 0.
    values : ndarray of shape (K + 1,)
        Model value at each breakpoint.
    max_error : float
        Largest gap between the approximated concave function and the model on
        ``[0, breakpoints[-1]]`` (outcome units).
    """

    breakpoints: np.ndarray
    values: np.ndarray
    max_error: float

    @property
    def segments(self) -> int:
        """Number of linear pieces."""
        return len(self.breakpoints) - 1

    @property
    def slopes(self) -> np.ndarray:
        """Slope of each piece (outcome per money), non-increasing."""
        return np.diff(self.values) / np.diff(self.breakpoints)

    @property
    def intercepts(self) -> np.ndarray:
        """Intercept of each piece's line (outcome units)."""
        return self.values[:-1] - self.slopes * self.breakpoints[:-1]

    def value(self, x: Any) -> np.ndarray:
        """Model value: linear interpolation (the end pieces extend beyond the breakpoints)."""
        x = np.asarray(x, dtype=float)
        bp, v = self.breakpoints, self.values
        s = self.slopes
        out = np.interp(x, bp, v)
        out = np.where(x > bp[-1], v[-1] + s[-1] * (x - bp[-1]), out)
        return np.where(x < bp[0], v[0] + s[0] * (x - bp[0]), out)


class _Envelope:
    """Concave envelope of a curve on ``[0, upper]``: tangent ray from 0, then the curve."""

    def __init__(self, curve: Curve, upper: float) -> None:
        self.curve = curve
        self.upper = float(upper)
        t = float(curve.payback_spend)
        self.tangent = min(t, self.upper)
        if t <= 0:
            self.slope0 = np.nan
        elif t >= self.upper:  # the chord from 0 to upper
            self.slope0 = float(curve.value(self.upper)) / self.upper
        else:
            self.slope0 = float(curve.derivative(t))

    def value(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.tangent <= 0:
            return self.curve.value(x)
        return np.where(x <= self.tangent, self.slope0 * x, self.curve.value(x))

    def derivative(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.tangent <= 0:
            return self.curve.derivative(x)
        return np.where(x <= self.tangent, self.slope0, self.curve.derivative(x))

    def inverse_derivative(self, slope: np.ndarray) -> np.ndarray | None:
        if self.tangent > 0:
            return None
        return self.curve.inverse_derivative(slope)

    def second_derivative(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.tangent <= 0:
            return self.curve.second_derivative(x)
        return np.where(x <= self.tangent, 0.0, self.curve.second_derivative(x))


def concave_envelope(curve: Curve, upper: float) -> tuple[Any, float]:
    """Concave envelope of a curve on ``[0, upper]`` and the spend where the curve starts to pay.

    For a concave curve the envelope is the curve itself and the spend is 0. For an S-shaped
    curve it is the ray from the origin tangent to the curve at ``t = curve.payback_spend``
    (where the average return ``r(x)/x`` peaks), then the curve; if ``t >= upper`` it is the
    chord from 0 to ``(upper, r(upper))``.

    Returns
    -------
    envelope : object
        With ``value(x)``, ``derivative(x)`` and ``second_derivative(x)``.
    payback : float
        ``curve.payback_spend`` (money; may exceed ``upper``).
    """
    return _Envelope(curve, upper), float(curve.payback_spend)


def chord_errors(func: Any, a: np.ndarray, b: np.ndarray, iterations: int = 28) -> np.ndarray:
    """Largest gap between a concave function and its chord on each piece ``[a_j, b_j]``.

    The gap peaks where the function's slope equals the chord's slope; that point comes from
    the curve's ``inverse_derivative`` when it has a closed form, else by bisection on the
    (non-increasing) derivative, for all pieces at once.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    fa, fb = func.value(a), func.value(b)
    s = (fb - fa) / (b - a)
    inverse = getattr(func, "inverse_derivative", None)
    xs = inverse(s) if inverse is not None else None
    if xs is not None:
        xs = np.clip(np.nan_to_num(xs, nan=0.0), a, b)
    else:
        lo, hi = a.copy(), b.copy()
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = func.derivative(mid) > s
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        xs = 0.5 * (lo + hi)
    gap = func.value(xs) - (fa + s * (xs - a))
    return np.maximum(gap, 0.0)


def _adaptive_breakpoints(func: Any, a: float, b: float, tol: float) -> np.ndarray:
    """Breakpoints on ``[a, b]`` for a concave smooth ``func`` with chord error ``<= tol``."""
    span = b - a
    unit = np.unique(np.concatenate([np.linspace(0.0, 1.0, 801), np.geomspace(1e-7, 1.0, 400)]))
    grid = a + span * unit
    dens = np.sqrt(np.abs(func.second_derivative(grid[1:-1])))
    dens = np.concatenate([[dens[0]], dens, [dens[-1]]])
    dens = np.where(np.isfinite(dens), dens, 0.0)
    # cumulative integral of sqrt|f''| (trapezoid); a small uniform floor keeps it invertible
    dens = dens + 1e-12 * (dens.max() + 1.0)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    total = cum[-1]
    n = max(1, int(np.ceil(total / np.sqrt(8.0 * tol))))
    pts = np.interp(np.linspace(0.0, total, n + 1), cum, grid)
    pts[0], pts[-1] = a, b
    pts = np.unique(pts)
    for _ in range(60):
        err = chord_errors(func, pts[:-1], pts[1:])
        bad = err > tol
        if not bad.any():
            break
        mids = 0.5 * (pts[:-1][bad] + pts[1:][bad])
        pts = np.unique(np.concatenate([pts, mids]))
    # merge passes: drop interior breakpoints whose two pieces merge within the tolerance
    for _ in range(8):
        if len(pts) <= 2:
            break
        merged = chord_errors(func, pts[:-2], pts[2:]) <= tol  # candidate i+1 removable
        drop = np.zeros(len(pts), dtype=bool)
        last = -2
        for i in np.flatnonzero(merged):
            if i + 1 - last >= 2:  # never drop two neighbours in one pass
                drop[i + 1] = True
                last = i + 1
        if not drop.any():
            break
        pts = pts[~drop]
    return pts


def approximate(
    curve: Curve,
    upper: float,
    tolerance: float = 1e-3,
    breakpoints: str = "adaptive",
    segments: int = 32,
) -> PiecewiseLinear:
    """Piecewise-linear concave approximation of a curve (or its concave envelope).

    Parameters
    ----------
    curve : Curve
        Any response curve; S-shaped curves are replaced by their concave envelope.
    upper : float
        Largest spend to cover (money), typically the budget or the asset's upper bound.
    tolerance : float, default 1e-3
        Relative tolerance: the approximation error stays under ``tolerance * r(upper)``
        (0.1% of the asset's response at its upper bound by default). Used with
        ``breakpoints="adaptive"``.
    breakpoints : {"adaptive", "uniform"}, default "adaptive"
        Adaptive placement (dense where the curvature is high, as few pieces as possible), or
        ``segments`` equal pieces.
    segments : int, default 32
        Number of pieces for ``breakpoints="uniform"``.

    Returns
    -------
    PiecewiseLinear
        Approximation of the envelope; ``max_error`` is measured against the envelope.

    Examples
    --------
    >>> from portfolio_mkt.response import Logistic
    >>> pwl = approximate(Logistic(1.0, 2.0), upper=5.0, tolerance=1e-3)
    >>> bool(pwl.max_error <= 1e-3 * float(Logistic(1.0, 2.0).value(5.0)))
    True
    """
    upper = float(upper)
    if not np.isfinite(upper) or upper <= 0:
        raise InputError(
            f"approximate: 'upper' must be a positive spend, got {upper!r}; pass the budget "
            "or the asset's upper bound."
        )
    env, _ = concave_envelope(curve, upper)
    if breakpoints == "uniform":
        if int(segments) < 1:
            raise InputError(f"approximate: 'segments' must be >= 1, got {segments!r}.")
        pts = np.linspace(0.0, upper, int(segments) + 1)
    elif breakpoints == "adaptive":
        tol_abs = float(tolerance) * float(curve.value(upper))
        if not float(tolerance) > 0:
            raise InputError(
                f"approximate: 'tolerance' must be > 0, got {tolerance!r}; pass e.g. 1e-3."
            )
        if tol_abs <= 0:  # zero response up to upper: a flat line is exact
            pts = np.array([0.0, upper])
        elif env.tangent > 0:
            if env.tangent >= upper:
                pts = np.array([0.0, upper])
            else:
                tail = _adaptive_breakpoints(env, env.tangent, upper, tol_abs)
                pts = np.concatenate([[0.0], tail])
        else:
            pts = _adaptive_breakpoints(env, 0.0, upper, tol_abs)
    else:
        raise InputError(
            f"approximate: 'breakpoints' must be 'adaptive' or 'uniform', got {breakpoints!r}."
        )
    vals = env.value(pts)
    err = float(chord_errors(env, pts[:-1], pts[1:]).max())
    return PiecewiseLinear(breakpoints=pts, values=vals, max_error=err)
