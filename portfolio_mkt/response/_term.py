"""The response term of the program: per-asset expected outcome from response curves.

The program works in shares of the budget, ``w = x / B``. For each asset it needs the outcome
divided by the budget, ``r_i(B w_i) / B``, as a concave cvxpy expression. Every curve family is
closed under that rescaling (:meth:`Curve.rescale`), so the expression has the same family with
parameters in budget units, which keeps the numbers near one whatever the currency.

- curves with a conic form (log, exponential, Michaelis–Menten, power, Hill with slope <= 1)
  enter exactly (exponential / power cones: Clarabel);
- curves without one (logistic, S-shaped Hill) enter as a piecewise-linear concave
  approximation (the minimum of chord lines; a hypograph for the solver) with adaptive
  breakpoints;
- S-shaped curves are replaced by their concave envelope, and the assets concerned and the
  spend where each curve starts to pay are reported;
- assets without a curve use their expected return ``mu`` linearly;
- halo: ``H[s, t]`` extra outcome of asset ``t`` per unit of money on asset ``s`` (linear,
  non-negative, so the program stays convex).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import AlignmentError, InputError, format_labels
from ._curves import Curve, Hill, Linear, Logistic
from ._pwl import PiecewiseLinear, approximate, concave_envelope

__all__ = ["CurveReturn", "LocalModelReturn", "make_return_term"]

_METHODS = ("auto", "pwl")


def _align_halo(halo: pd.DataFrame | None, index: pd.Index) -> np.ndarray | None:
    if halo is None:
        return None
    if not isinstance(halo, pd.DataFrame):
        raise InputError(
            f"halo must be a pandas DataFrame (source assets x target assets), got "
            f"{type(halo).__name__}; build it with pd.DataFrame(..., index=ids, columns=ids)."
        )
    for axis, labels in (("rows (sources)", halo.index), ("columns (targets)", halo.columns)):
        if labels.has_duplicates:
            raise AlignmentError(
                f"halo {axis} have duplicated asset ids "
                f"{format_labels(labels[labels.duplicated()].unique())}; keep one of each."
            )
        unknown = labels.difference(index)
        if len(unknown):
            raise AlignmentError(
                f"halo {axis} name assets not in the problem: {format_labels(unknown)}; "
                "drop them or add the assets."
            )
    try:
        values = halo.astype(float)
    except (TypeError, ValueError):
        raise InputError("halo must contain numbers (outcome per unit of money).") from None
    bad = ~np.isfinite(values.to_numpy()) | (values.to_numpy() < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"halo[{values.index[r]!r}, {values.columns[c]!r}] = {values.iat[r, c]!r}: halo "
            "lifts must be finite and >= 0 (a negative lift would break convexity); set it to 0."
        )
    full = values.reindex(index=index, columns=index, fill_value=0.0).fillna(0.0)
    mat = full.to_numpy(dtype=float)
    return mat if mat.any() else None


class CurveReturn:
    """Return term built from response curves (implements the core's ``ReturnTerm``).

    Build it with :func:`make_return_term`.

    Attributes
    ----------
    index : pd.Index
        Asset ids in the problem's order.
    curves : list of Curve or None
        Curve per asset (``None``: linear in ``mu``).
    methods : pd.Series
        ``"linear"``, ``"exact"``, ``"pwl"`` or ``"envelope"`` per asset.
    linear : bool
        True when every asset is linear (the program stays a QP).
    envelope_assets : list
        Assets whose S-shaped curve was replaced by its concave envelope.
    pays_from : pd.Series
        Spend at which each asset's curve starts to pay (0 for concave curves).
    approximations : dict
        Asset id -> :class:`PiecewiseLinear` (money units), filled by :meth:`build`.
    """

    def __init__(
        self,
        curves: list[Curve | None],
        index: pd.Index,
        mu: np.ndarray,
        halo: np.ndarray | None,
        tolerance: float,
        upper: np.ndarray | None,
        method: str,
        breakpoints: str,
        segments: int,
    ) -> None:
        self.index = index
        self.curves = curves
        self.mu = mu
        self.halo = halo
        self.tolerance = tolerance
        self.upper = upper
        self.method = method
        self.breakpoints = breakpoints
        self.n_segments = segments
        meth = []
        for c in curves:
            if c is None or isinstance(c, Linear):
                meth.append("linear")
            elif not c.is_concave:
                meth.append("envelope")
            elif method == "pwl" or not c.has_conic_form:
                meth.append("pwl")
            else:
                meth.append("exact")
        self.methods = pd.Series(meth, index=index, name="method", dtype=object)
        self.linear = all(m == "linear" for m in meth)
        self.envelope_assets = [a for a, m in zip(index, meth, strict=True) if m == "envelope"]
        self.pays_from = pd.Series(
            [0.0 if c is None else float(c.payback_spend) for c in curves],
            index=index,
            name="pays_from",
        )
        self.approximations: dict[Any, PiecewiseLinear] = {}
        self._budget: float | None = None
        coef = np.array(mu, dtype=float).copy()
        for i, c in enumerate(curves):
            if isinstance(c, Linear):
                coef[i] = c.beta
            elif c is not None:
                coef[i] = 0.0
        self._linear_coef = coef

    def __repr__(self) -> str:
        counts = self.methods.value_counts().to_dict()
        return f"CurveReturn(n={len(self.index)}, methods={counts}, tolerance={self.tolerance})"

    # -- program ----------------------------------------------------------------------------
    def _upper(self, budget: float) -> np.ndarray:
        if self.upper is None:
            return np.full(len(self.index), budget)
        return np.where(np.isfinite(self.upper), np.minimum(self.upper, budget), budget)

    def _approx(self, i: int, budget: float) -> PiecewiseLinear:
        c = self.curves[i]
        assert c is not None
        up = float(self._upper(budget)[i])
        if up <= 0:
            up = budget
        return _cached_approximation(c, up, self.tolerance, self.breakpoints, self.n_segments)

    def _build_exact(self, w: cp.Variable, budget: float) -> tuple[cp.Expression, list[int]]:
        """Linear, halo and exact (conic) parts of the expression; the other curves' positions."""
        b = float(budget)
        if not np.isfinite(b) or b <= 0:
            raise InputError(f"response term: budget must be positive, got {budget!r}.")
        self._budget = b
        n = len(self.index)
        expr: cp.Expression = cp.multiply(self._linear_coef, w)
        if self.halo is not None:
            expr = expr + sp.csr_matrix(self.halo.T) @ w
        groups: dict[tuple, list[int]] = {}
        pwl_idx: list[int] = []
        for i, (c, m) in enumerate(zip(self.curves, self.methods, strict=True)):
            if m == "exact":
                groups.setdefault(c._group_key(), []).append(i)  # type: ignore[union-attr]
            elif m in ("pwl", "envelope"):
                pwl_idx.append(i)
        for idx in groups.values():
            scaled = [self.curves[i].rescale(b) for i in idx]  # type: ignore[union-attr]
            cls = type(scaled[0])
            params = {k: np.array([s.params[k] for s in scaled]) for k in scaled[0].params}
            sub = cls._cvx(w[idx], **params)
            expr = expr + _scatter(idx, n) @ sub
        return expr, pwl_idx

    def build(self, w: cp.Variable, budget: float) -> tuple[cp.Expression, list[cp.Constraint]]:
        """Per-asset expected outcome / budget as an (n,) concave expression of the shares.

        Parameters
        ----------
        w : cp.Variable of shape (n,)
            Shares of the budget, in the asset order of ``index``.
        budget : float
            Budget ``B`` in money (``x = B * w``).

        Returns
        -------
        expression : cp.Expression of shape (n,)
            ``r_i(B w_i) / B`` plus the halo lifts received, per asset.
        constraints : list of cp.Constraint
            Always empty: piecewise-linear pieces enter as ``cp.min`` of their chord lines,
            which keeps the expression's value meaningful under any objective.
        """
        expr, pwl_idx = self._build_exact(w, budget)
        b = float(budget)
        n = len(self.index)
        constraints: list[cp.Constraint] = []
        if pwl_idx:
            # min over each asset's chord lines: a concave expression whose value is the model
            # (cvxpy turns it into a hypograph), defined even when the objective ignores it
            self.approximations = {}
            lines = []
            for i in pwl_idx:
                pwl = self._approx(i, b)
                self.approximations[self.index[i]] = pwl
                lines.append((pwl.slopes, pwl.intercepts / b))
            k = max(len(sl) for sl, _ in lines)
            slopes = np.array([np.pad(sl, (0, k - len(sl)), mode="edge") for sl, _ in lines])
            inters = np.array([np.pad(ic, (0, k - len(ic)), mode="edge") for _, ic in lines])
            m = len(pwl_idx)
            col = cp.reshape(w[pwl_idx], (m, 1), order="F") @ np.ones((1, k))
            model = cp.min(cp.multiply(slopes, col) + inters, axis=1)
            expr = expr + _scatter(pwl_idx, n) @ model
        return expr, constraints

    def local_model(self) -> LocalModelReturn:
        """The term with its piecewise-linear curves as local quadratic models (Parameters).

        Used to polish a piecewise-linear optimum to the exact one (Newton steps on the true
        curves) and to bound the gap left (tangent lines). See :class:`LocalModelReturn`.
        """
        return LocalModelReturn(self)

    def _envelope(self, i: int) -> Any:
        budget = self._budget if self._budget is not None else None
        up = self._upper(budget if budget is not None else np.inf)[i]
        if not np.isfinite(up) or up <= 0:
            up = float(self.pays_from.iloc[i]) * 2 + 1.0
        return _cached_envelope(self.curves[i], float(up))

    def envelope_derivatives(self, x: Any, positions: list[int] | None = None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, slope and curvature of the modelled curves (envelopes) at money spend ``x``.

        Parameters
        ----------
        x : array-like of shape (n,)
            Money per asset.
        positions : list of int, optional
            Asset positions to evaluate; default those with a ``pwl`` or ``envelope`` method.

        Returns
        -------
        value, slope, curvature : ndarray of shape (len(positions),)
            Outcome units, outcome per money, outcome per money squared; an S-curve's concave
            envelope is used (linear up to its payback spend).
        """
        x = self._check_x(x)
        if positions is None:
            positions = [i for i, m in enumerate(self.methods) if m in ("pwl", "envelope")]
        f = np.empty(len(positions))
        d = np.empty(len(positions))
        h = np.empty(len(positions))
        vectorised, rest = self._envelope_groups(tuple(positions))
        for sel, curve, tangent, slope0, idx in vectorised:
            xs = x[idx]
            ray = (tangent > 0) & (xs <= tangent)
            with np.errstate(all="ignore"):
                f[sel] = np.where(ray, slope0 * xs, curve.value(xs))
                d[sel] = np.where(ray, slope0, curve.derivative(xs))
                h[sel] = np.where(ray, 0.0, curve.second_derivative(xs))
        for j in rest:
            env = self._envelope(positions[j])
            xi = np.asarray(x[positions[j]])
            f[j] = float(env.value(xi))
            d[j] = float(env.derivative(xi))
            h[j] = float(env.second_derivative(xi))
        return f, d, h

    def envelope_values(self, points: Any, positions: list[int]) -> np.ndarray:
        """Values of the modelled curves (envelopes) at many spends at once.

        Parameters
        ----------
        points : array-like of shape (k, len(positions))
            Money; column ``j`` holds spends of the asset at ``positions[j]``.
        positions : list of int
            Asset positions (with a ``pwl`` or ``envelope`` method).

        Returns
        -------
        ndarray of shape (k, len(positions))
            Outcome units (no halo): each curve's concave envelope at each spend.
        """
        pts = np.asarray(points, dtype=float)
        out = np.empty_like(pts)
        vectorised, rest = self._envelope_groups(tuple(positions))
        for sel, curve, tangent, slope0, _ in vectorised:
            xs = pts[:, sel]
            ray = (tangent > 0) & (xs <= tangent)
            with np.errstate(all="ignore"):
                out[:, sel] = np.where(ray, slope0 * xs, curve.value(xs))
        for j in rest:
            out[:, j] = self._envelope(positions[j]).value(pts[:, j])
        return out

    def envelope_tangents(self, positions: list[int]) -> np.ndarray:
        """Money at which each curve's concave envelope leaves its ray (0: concave curve).

        Parameters
        ----------
        positions : list of int
            Asset positions (with a ``pwl`` or ``envelope`` method).

        Returns
        -------
        ndarray of shape (len(positions),)
            The payback spend of an S-shaped curve, capped at the asset's upper bound (the
            envelope is the chord to it then); 0 for a concave curve.
        """
        out = np.zeros(len(positions))
        vectorised, rest = self._envelope_groups(tuple(positions))
        for sel, _, tangent, _, _ in vectorised:
            out[sel] = np.maximum(tangent, 0.0)
        for j in rest:
            out[j] = max(float(self._envelope(positions[j]).tangent), 0.0)
        return out

    def _envelope_groups(self, positions: tuple[int, ...]) -> tuple[list, list[int]]:
        """Logistic and Hill curves grouped into one array-valued curve per family (cached)."""
        key = (positions, self._budget)
        cache = self.__dict__.setdefault("_groups_cache", {})
        if key in cache:
            return cache[key]
        groups: dict[type, list[int]] = {}
        rest: list[int] = []
        for j, i in enumerate(positions):
            c = self.curves[i]
            if type(c) in _VECTOR_FAMILIES:
                groups.setdefault(type(c), []).append(j)
            else:
                rest.append(j)
        vectorised = []
        for cls, sel in groups.items():
            curve = _array_curve(cls, [self.curves[positions[j]] for j in sel])
            envs = [self._envelope(positions[j]) for j in sel]
            tangent = np.array([e.tangent for e in envs])
            slope0 = np.nan_to_num(np.array([e.slope0 for e in envs]))
            idx = np.array([positions[j] for j in sel], dtype=np.int64)
            vectorised.append((np.array(sel), curve, tangent, slope0, idx))
        cache[key] = (vectorised, rest)
        return cache[key]

    def envelope_outcome(self, x: Any) -> np.ndarray:
        """Outcome per asset with each S-curve replaced by its concave envelope (plus halo)."""
        x = self._check_x(x)
        out = self.outcome(x)
        pos = [i for i, m in enumerate(self.methods) if m == "envelope"]
        if pos:
            f, _, _ = self.envelope_derivatives(x, pos)
            out[pos] += f - np.array([float(self.curves[i].value(x[i]))  # type: ignore[union-attr]
                                      for i in pos])
        return out

    def envelope_marginal(self, x: Any) -> np.ndarray:
        """Marginal return per asset on the concave envelopes (see :meth:`marginal`)."""
        x = self._check_x(x)
        out = self.marginal(x)
        pos = [i for i, m in enumerate(self.methods) if m == "envelope"]
        if pos:
            _, d, _ = self.envelope_derivatives(x, pos)
            out[pos] += d - np.array([float(self.curves[i].derivative(x[i]))  # type: ignore[union-attr]
                                      for i in pos])
        return out

    # -- numbers ----------------------------------------------------------------------------
    def _check_x(self, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=float).reshape(-1)
        if arr.shape[0] != len(self.index):
            raise InputError(
                f"response term: spend has {arr.shape[0]} entries, expected {len(self.index)} "
                "(one per asset in the problem's order)."
            )
        return arr

    def _halo_received(self, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x) if self.halo is None else self.halo.T @ x

    def own_outcome(self, x: Any) -> np.ndarray:
        """Outcome of each asset's own spend on the true curves (no halo)."""
        x = self._check_x(x)
        out = self._linear_coef * x
        for idx, curve in self._families()[0]:
            out[idx] = curve.value(x[idx])
        for i in self._families()[1]:
            out[i] = float(self.curves[i].value(x[i]))  # type: ignore[union-attr]
        return out

    def _families(self) -> tuple[list, list[int]]:
        """Curves of one family as one curve with array parameters, and the others (cached)."""
        cached = self.__dict__.get("_families_cache")
        if cached is not None:
            return cached
        groups: dict[type, list[int]] = {}
        rest: list[int] = []
        for i, c in enumerate(self.curves):
            if c is None or isinstance(c, Linear):
                continue
            if type(c) in _VECTOR_FAMILIES:
                groups.setdefault(type(c), []).append(i)
            else:
                rest.append(i)
        vectorised = [(np.array(idx), _array_curve(cls, [self.curves[i] for i in idx]))
                      for cls, idx in groups.items()]
        self.__dict__["_families_cache"] = (vectorised, rest)
        return vectorised, rest

    def outcome(self, x: Any) -> np.ndarray:
        """True expected outcome per asset at money spend ``x`` (own curve + halo received)."""
        x = self._check_x(x)
        return self.own_outcome(x) + self._halo_received(x)

    def model_outcome(self, x: Any) -> np.ndarray:
        """The program's model of the outcome per asset at ``x`` (PWL / envelope where used).

        A curve without a conic form is modelled by its piecewise-linear approximation once a
        program was built with it (:meth:`build`); until then (the exact-curve route, which
        never builds one) by its concave envelope, the function that route optimises.
        """
        x = self._check_x(x)
        own = self.own_outcome(x)
        return self._model_own(x, own) + self._halo_received(x)

    def _model_own(self, x: np.ndarray, own: np.ndarray) -> np.ndarray:
        """The model of each asset's own outcome, given the true one ``own``."""
        out = own.copy()
        modelled = self.__dict__.get("_modelled_positions")
        if modelled is None:
            meth = self.methods.to_numpy()
            modelled = ([int(i) for i in np.flatnonzero(meth == "pwl")],
                        [int(i) for i in np.flatnonzero(meth == "envelope")])
            self.__dict__["_modelled_positions"] = modelled
        pwl, env = modelled
        if self.approximations:
            budget = self._budget if self._budget is not None else max(float(x.sum()), 1e-300)
            built = [i for i in pwl + env if self.index[i] in self.approximations]
            for i in built:
                out[i] = float(self._approx(i, budget).value(x[i]))
            env = [i for i in env if self.index[i] not in self.approximations]
        if env:
            out[env] = self.envelope_derivatives(x, env)[0]
        return out

    def marginal(self, x: Any) -> np.ndarray:
        """Marginal ROI per asset: d (total outcome) / d x_i on the true curves.

        It is the asset's own marginal return plus the halo lifts it gives to other assets.
        """
        x = self._check_x(x)
        out = self._linear_coef.copy()
        for idx, curve in self._families()[0]:
            out[idx] = curve.derivative(x[idx])
        for i in self._families()[1]:
            out[i] = float(self.curves[i].derivative(x[i]))  # type: ignore[union-attr]
        if self.halo is not None:
            out = out + self.halo.sum(axis=1)
        return out

    def report(self, x: Any) -> pd.DataFrame:
        """Per-asset notes at spend ``x``.

        Columns: ``curve`` (family), ``method`` (linear / exact / pwl / envelope),
        ``segments``, ``spend``, ``true_outcome``, ``model_outcome``, ``gap`` (model - true),
        ``marginal_roi``, ``average_roi``, ``pays_from`` (spend where an S-curve starts to pay)
        and ``below_payback`` (spend is positive but under ``pays_from``: the envelope overstates
        the return there).
        """
        x = self._check_x(x)
        own = self.own_outcome(x)
        halo = self._halo_received(x)
        true = own + halo
        model = self._model_own(x, own) + halo
        segs = [
            self.approximations[a].segments if a in self.approximations else 0
            for a in self.index
        ] if self.approximations else [0] * len(self.index)
        with np.errstate(divide="ignore", invalid="ignore"):
            avg = np.where(x > 0, own / np.where(x > 0, x, 1.0), np.nan)
        pays = self.pays_from.to_numpy()
        return pd.DataFrame(
            {
                "curve": [("linear" if c is None else c.family) for c in self.curves],
                "method": self.methods.to_numpy(),
                "segments": segs,
                "spend": x,
                "true_outcome": true,
                "model_outcome": model,
                "gap": model - true,
                "marginal_roi": self.marginal(x),
                "average_roi": avg,
                "pays_from": pays,
                "below_payback": (x > 1e-9 * max(float(x.sum()), 1.0)) & (x < pays),
            },
            index=self.index,
        )


class LocalModelReturn:
    """A response term whose curves without a conic form enter as local quadratic models.

    Around a spend ``x0`` each such curve ``r`` (its concave envelope for an S-curve) enters the
    program as its second-order Taylor model ``r(x0) + r'(x0) (x - x0) - c (x - x0)^2 / 2`` with
    ``c = max(-r''(x0), 0)``; with ``curvature=False`` as its tangent line at ``x0``, which lies
    above the concave curve everywhere (the program's optimum is then an upper bound of the true
    one). The models' coefficients are cvxpy Parameters: :meth:`set_point` moves them without
    recompiling. Linear assets, halo lifts and curves with an exact conic form enter as in
    :class:`CurveReturn`; every number (outcome, marginal, report) is the base term's.

    Build it with :meth:`CurveReturn.local_model`.
    """

    linear = False

    def __init__(self, base: CurveReturn) -> None:
        self.base = base
        self.index = base.index
        self.positions = [i for i, m in enumerate(base.methods) if m in ("pwl", "envelope")]
        self._const: cp.Parameter | None = None
        self._lin: cp.Parameter | None = None
        self._quad: cp.Parameter | None = None
        self._budget: float | None = None
        self._point: tuple[Any, bool] | None = None  # the centre, kept for a later build

    def __getattr__(self, name: str) -> Any:
        if name == "base":  # not yet set (copy / pickle)
            raise AttributeError(name)
        return getattr(self.base, name)

    def build(self, w: cp.Variable, budget: float) -> tuple[cp.Expression, list[cp.Constraint]]:
        """Per-asset outcome / budget with the local models (see :meth:`CurveReturn.build`)."""
        expr, pos = self.base._build_exact(w, budget)
        self._budget = float(budget)
        m = len(pos)
        if m:
            self._const = cp.Parameter(m, name="model_constant")
            self._lin = cp.Parameter(m, name="model_slope")
            self._quad = cp.Parameter(m, nonneg=True, name="model_curvature")
            wp = w[pos]
            model = self._const + cp.multiply(self._lin, wp) - cp.multiply(self._quad,
                                                                           cp.square(wp))
            expr = expr + _scatter(pos, len(self.index)) @ model
            # a program may build its cvxpy form lazily, after the centre was set
            x0, curv = self._point or (np.zeros(len(self.index)), True)
            self.set_point(x0, curvature=curv)
        return expr, []

    def set_point(self, x: Any, curvature: bool = True) -> None:
        """Centre the models at money spend ``x`` (tangent lines only if ``curvature=False``)."""
        self._point = (np.array(x, dtype=float, copy=True), bool(curvature))
        if self._lin is None or self._budget is None:
            return
        b = self._budget
        x = self.base._check_x(x)
        pos = self.positions
        f, d, h = self.base.envelope_derivatives(x, pos)
        w0 = x[pos] / b
        c = np.maximum(-h * b, 0.0) if curvature else np.zeros(len(pos))  # in shares
        self._quad.value = 0.5 * c
        self._lin.value = d + c * w0
        self._const.value = f / b - d * w0 - 0.5 * c * w0 * w0

    def model_value(self, x: Any) -> np.ndarray:
        """The models' outcome per asset at ``x`` (money), as the program sees it."""
        x = self.base._check_x(x)
        out = self.base.envelope_outcome(x)
        if self._lin is None or self._budget is None:
            return out
        b, pos = self._budget, self.positions
        w = x[pos] / b
        out[pos] = b * (self._const.value + self._lin.value * w - self._quad.value * w * w)
        return out + 0.0


@lru_cache(maxsize=4096)
def _cached_approximation(
    curve: Curve, upper: float, tolerance: float, breakpoints: str, segments: int
) -> PiecewiseLinear:
    """Approximations are pure functions of a (hashable, frozen) curve: re-solves reuse them."""
    return approximate(curve, upper, tolerance, breakpoints, segments)


#: families whose formulas are plain NumPy in their parameters: one instance with array
#: parameters evaluates many curves at once
_VECTOR_FAMILIES = (Logistic, Hill)


def _array_curve(cls: type, members: list[Any]) -> Any:
    """One ``cls`` instance whose parameters are arrays over ``members`` (no validation)."""
    curve = object.__new__(cls)
    for name in members[0].params:
        object.__setattr__(curve, name, np.array([getattr(m, name) for m in members]))
    return curve


@lru_cache(maxsize=4096)
def _cached_envelope(curve: Curve, upper: float) -> Any:
    return concave_envelope(curve, upper)[0]


def _scatter(idx: list[int], n: int) -> sp.csr_matrix:
    m = len(idx)
    return sp.csr_matrix((np.ones(m), (np.asarray(idx), np.arange(m))), shape=(n, m))


def make_return_term(
    curves: Mapping[Any, Curve | None] | None,
    index: pd.Index,
    mu: Any,
    halo: pd.DataFrame | None = None,
    tolerance: float = 1e-3,
    *,
    upper: Any = None,
    method: str = "auto",
    breakpoints: str = "adaptive",
    segments: int = 32,
) -> CurveReturn:
    """Build the program's return term from response curves, ``mu`` and halo lifts.

    Parameters
    ----------
    curves : mapping of asset id -> Curve or None
        Response curve per asset in money units; assets not in the mapping (or mapped to
        ``None``) use ``mu`` linearly.
    index : pd.Index
        Asset ids in the problem's order.
    mu : array-like of shape (n,)
        Expected outcome per unit of money, used for assets without a curve.
    halo : DataFrame, optional
        Source x target non-negative lifts: the outcome of ``target`` grows by
        ``halo.loc[source, target] * x_source``. Missing entries are 0.
    tolerance : float, default 1e-3
        Piecewise-linear approximation error relative to the asset's response at its upper
        bound (0.1% by default).
    upper : scalar, dict, Series or array, optional
        Largest spend per asset (money) the approximation must cover; default the budget.
    method : {"auto", "pwl"}, default "auto"
        ``"auto"``: exact conic forms where they exist, PWL otherwise; ``"pwl"``: PWL for
        every non-linear curve (for benchmarks and LP/QP-only solvers).
    breakpoints : {"adaptive", "uniform"}, default "adaptive"
        Breakpoint placement of the PWL pieces.
    segments : int, default 32
        Number of pieces when ``breakpoints="uniform"``.

    Returns
    -------
    CurveReturn

    Examples
    --------
    >>> import pandas as pd
    >>> from portfolio_mkt.response import Logarithmic
    >>> term = make_return_term({"a": Logarithmic(100.0, 50.0)}, pd.Index(["a", "b"]), [0, 1.5])
    >>> term.methods.tolist()
    ['exact', 'linear']
    """
    index = pd.Index(index)
    if index.has_duplicates:
        raise AlignmentError(
            f"duplicated asset ids {format_labels(index[index.duplicated()].unique())}; "
            "give each asset one id."
        )
    n = len(index)
    mu_arr = np.asarray(mu, dtype=float).reshape(-1)
    if mu_arr.shape[0] != n:
        raise InputError(f"mu has {mu_arr.shape[0]} entries, expected {n} (one per asset).")
    curves = dict(curves or {})
    unknown = [a for a in curves if a not in index]
    if unknown:
        raise AlignmentError(
            f"response curves given for assets not in the problem: {format_labels(unknown)}; "
            "drop them or add the assets."
        )
    ordered: list[Curve | None] = []
    for a in index:
        c = curves.get(a)
        if c is not None and not isinstance(c, Curve):
            raise InputError(
                f"response curve of asset {a!r} is a {type(c).__name__}, not a Curve; build it "
                "with portfolio_mkt.response (e.g. Hill(beta, k, slope)) or pass None."
            )
        ordered.append(c)
    bad_mu = [a for a, c, m in zip(index, ordered, mu_arr, strict=True)
              if c is None and not np.isfinite(m)]
    if bad_mu:
        raise InputError(
            f"expected return is not finite for assets without a curve: {format_labels(bad_mu)};"
            " give them a finite mu or a curve."
        )
    tol = float(tolerance)
    if not np.isfinite(tol) or not 0 < tol < 1:
        raise InputError(
            f"response tolerance must be in (0, 1) (relative error), got {tolerance!r}; "
            "use e.g. 1e-3 for 0.1%."
        )
    if method not in _METHODS:
        raise InputError(f"method must be 'auto' or 'pwl', got {method!r}.")
    if breakpoints not in ("adaptive", "uniform"):
        raise InputError(
            f"breakpoints must be 'adaptive' or 'uniform', got {breakpoints!r}."
        )
    up: np.ndarray | None = None
    if upper is not None:
        if np.isscalar(upper):
            up = np.full(n, float(upper))  # type: ignore[arg-type]
        elif isinstance(upper, Mapping | pd.Series):
            s = pd.Series(upper, dtype=float)
            extra = s.index.difference(index)
            if len(extra):
                raise AlignmentError(
                    f"upper names assets not in the problem: {format_labels(extra)}."
                )
            up = s.reindex(index).fillna(np.inf).to_numpy()
        else:
            up = np.asarray(upper, dtype=float).reshape(-1)
            if up.shape[0] != n:
                raise InputError(f"upper has {up.shape[0]} entries, expected {n}.")
        if np.any(up < 0) or np.any(np.isnan(up)):
            raise InputError("upper must be non-negative money per asset (inf for no bound).")
    return CurveReturn(
        ordered,
        index,
        mu_arr,
        _align_halo(halo, index),
        tol,
        up,
        method,
        breakpoints,
        int(segments),
    )
