"""Strategists' views with a confidence: Black-Litterman with Idzorek's percentages.

A view says what a group of assets returns - relative to the model ("RU creators return 20%
more than the model says"), as a level ("RU search returns 2.5 per unit") or against another
group ("video returns 10% more than social") - and how confident the strategist is, in
percent. The posterior expected return is

    mu = pi + tau Sigma P' (tau P Sigma P' + Omega)^-1 (Q - P pi)

with ``omega_k = tau * (1 - c_k) / c_k * p_k Sigma p_k'`` (Idzorek's confidence ``c_k``
mapped to the view's uncertainty in closed form): for one view the posterior moves exactly
``c`` of the way from the model (``c = 0%``) to the view (``c = 100%``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import EstimationError, format_labels
from ..risk import FactorCovariance

__all__ = ["View", "BlackLitterman", "black_litterman"]


@dataclass(frozen=True)
class View:
    """One view on the expected return of a group of assets.

    Parameters
    ----------
    where : mapping, sequence of str or str
        The assets: an attribute filter (``{"market": "RU", "channel": "influencer"}``;
        a list value matches any of its items; ``"tags"`` matches by membership), a list of
        asset ids, or one asset id.
    change : float, optional
        Relative view: the group's (equal-weighted) mean return is ``1 + change`` times the
        model's (``0.2`` = 20% more). With ``versus``: ``1 + change`` times the other group's.
    value : float, optional
        Absolute view: the group's mean return equals ``value`` (outcome per unit). With
        ``versus``: it exceeds the other group's by ``value``.
    confidence : float, default 50
        Confidence in percent, from 0 (ignore the view) to 100 (impose it exactly).
    versus : mapping, sequence of str or str, optional
        The other group of a relative view.
    name : str, optional
        Label in the views table (default: generated from the view).

    Examples
    --------
    >>> View({"market": "RU", "channel": "influencer"}, change=0.2, confidence=60).describe()
    'market=RU, channel=influencer returns 20% more than the model says (60% confident)'
    """

    where: Mapping[str, Any] | Sequence[str] | str
    change: float | None = None
    value: float | None = None
    confidence: float = 50.0
    versus: Mapping[str, Any] | Sequence[str] | str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.change is None) == (self.value is None):
            raise EstimationError(
                f"View {self._label()}: give exactly one of change= (relative, 0.2 = +20%) "
                "or value= (outcome per unit)."
            )
        c = self.confidence
        if not isinstance(c, (int, float)) or not np.isfinite(c) or not 0 <= c <= 100:
            raise EstimationError(
                f"View {self._label()}: confidence must be a percentage between 0 and 100; "
                f"got {c!r} (write 60 for 60%)."
            )
        num = self.change if self.change is not None else self.value
        if not np.isfinite(float(num)):
            raise EstimationError(f"View {self._label()}: change/value must be finite.")

    def _label(self) -> str:
        return repr(self.name) if self.name else _describe_where(self.where)

    def describe(self) -> str:
        """A plain-language sentence for the view."""
        who = _describe_where(self.where)
        if self.versus is None:
            if self.change is not None:
                word = "more" if self.change >= 0 else "less"
                what = f"returns {abs(self.change):.0%} {word} than the model says"
            else:
                what = f"returns {self.value:.4g} per unit"
        else:
            other = _describe_where(self.versus)
            if self.change is not None:
                word = "more" if self.change >= 0 else "less"
                what = f"returns {abs(self.change):.0%} {word} than {other}"
            else:
                what = f"returns {self.value:.4g} per unit more than {other}"
        return f"{who} {what} ({self.confidence:g}% confident)"


def _describe_where(where: Any) -> str:
    if isinstance(where, Mapping):
        return ", ".join(
            f"{k}={'|'.join(map(str, v)) if isinstance(v, (list, tuple, set)) else v}"
            for k, v in where.items()
        )
    if isinstance(where, str):
        return where
    return "[" + ", ".join(map(str, where)) + "]"


def _select(where: Any, index: pd.Index, assets: pd.DataFrame | None, label: str) -> np.ndarray:
    if isinstance(where, str):
        where = [where]
    if isinstance(where, Mapping):
        if assets is None:
            raise EstimationError(
                f"View {label}: an attribute filter needs the asset table (assets=...)."
            )
        mask = np.ones(len(index), dtype=bool)
        attrs = assets.reindex(index)
        for attr, val in where.items():
            if attr not in attrs.columns:
                raise EstimationError(
                    f"View {label}: unknown attribute {attr!r}; the assets have "
                    f"{format_labels(attrs.columns)}."
                )
            vals = val if isinstance(val, (list, tuple, set)) else [val]
            col = attrs[attr]
            if attr == "tags":
                tags = col.map(
                    lambda t: (
                        set(t)
                        if isinstance(t, (list, tuple, set))
                        else set(str(t).split(";"))
                        if isinstance(t, str)
                        else set()
                    )
                )
                m = tags.map(lambda s, v=vals: bool(s & set(map(str, v)))).to_numpy(bool)
            else:
                m = col.isin(vals).to_numpy(bool)
            mask &= m
    else:
        ids = list(where)
        unknown = [a for a in ids if a not in index]
        if unknown:
            raise EstimationError(
                f"View {label}: unknown asset(s) {format_labels(unknown)}; check the ids."
            )
        mask = index.isin(ids)
    if not mask.any():
        raise EstimationError(
            f"View {label}: selects no asset; check the filter {_describe_where(where)}."
        )
    return mask


def _sigma_times(cov: pd.DataFrame | FactorCovariance, m: np.ndarray, index: pd.Index):
    """``Sigma @ m`` without forming Sigma for a factor model."""
    if isinstance(cov, FactorCovariance):
        f = cov.factor_root(index)
        return f @ (f.T @ m) + cov.specific(index)[:, None] * m
    return cov.loc[index, index].to_numpy(float) @ m


@dataclass(frozen=True)
class BlackLitterman:
    """Result of :func:`black_litterman`.

    Attributes
    ----------
    posterior : Series
        Posterior expected return by asset.
    prior : Series
        The model's expected return.
    views : DataFrame
        One row per view: ``view`` (name), ``description``, ``n_assets``, ``prior`` (the
        model's value of the view's portfolio), ``target`` (Q), ``confidence`` (percent),
        ``posterior`` (value after blending), ``omega``, ``tilt`` (posterior - prior).
    P : DataFrame
        Views x assets pick matrix.
    tau : float
    """

    posterior: pd.Series
    prior: pd.Series
    views: pd.DataFrame
    P: pd.DataFrame
    tau: float


def black_litterman(
    prior: pd.Series,
    covariance: pd.DataFrame | FactorCovariance,
    views: Sequence[View],
    *,
    assets: pd.DataFrame | None = None,
    tau: float = 0.05,
) -> BlackLitterman:
    """Blend the model's expected returns with views held at a confidence (Idzorek).

    Parameters
    ----------
    prior : Series
        Model expected return per asset (the equilibrium of Black-Litterman).
    covariance : DataFrame or FactorCovariance
        Covariance of per-period returns.
    views : sequence of View
        The views; a view at 0% confidence is recorded but has no effect.
    assets : DataFrame, optional
        Asset attributes (needed by views with attribute filters).
    tau : float, default 0.05
        Uncertainty of the prior relative to the return covariance (``tau Sigma`` is the
        covariance of the prior mean; ``1 / n_periods`` is a natural choice for a historical
        mean).

    Returns
    -------
    BlackLitterman

    Examples
    --------
    >>> mu = pd.Series([1.0, 2.0], index=["a", "b"])
    >>> cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=mu.index, columns=mu.index)
    >>> bl = black_litterman(mu, cov, [View(["a"], change=0.5, confidence=100)])
    >>> bl.posterior.round(6).tolist()
    [1.5, 2.0]
    """
    if not isinstance(prior, pd.Series):
        raise EstimationError("black_litterman: prior must be a Series by asset id.")
    index = prior.index
    if not tau > 0:
        raise EstimationError(f"black_litterman: tau must be positive; got {tau}.")
    if isinstance(covariance, pd.DataFrame):
        missing = index.difference(covariance.index)
        if len(missing):
            raise EstimationError(
                f"black_litterman: the covariance has no row for {format_labels(missing)}."
            )
    pi = prior.to_numpy(float)
    rows, qs, confs, names, descs, counts = [], [], [], [], [], []
    for k, v in enumerate(views):
        if not isinstance(v, View):
            raise EstimationError(
                f"views[{k}] must be a View(where, change=..., confidence=...); got "
                f"{type(v).__name__}."
            )
        label = v._label()
        sel = _select(v.where, index, assets, label)
        p = sel / sel.sum()
        if v.versus is not None:
            other = _select(v.versus, index, assets, label)
            p_b = other / other.sum()
            if v.change is not None:
                row, q = p - (1.0 + v.change) * p_b, 0.0
            else:
                row, q = p - p_b, float(v.value)
        elif v.change is not None:
            row, q = p, (1.0 + v.change) * float(p @ pi)
        else:
            row, q = p, float(v.value)
        rows.append(row)
        qs.append(q)
        confs.append(float(v.confidence))
        names.append(v.name or f"view {k + 1}")
        descs.append(v.describe())
        counts.append(int(sel.sum()) + (0 if v.versus is None else int(other.sum())))
    P = np.array(rows, dtype=float).reshape(len(rows), len(index))
    Q = np.array(qs, dtype=float)
    conf = np.array(confs) / 100.0
    post = pi.copy()
    omega = np.full(len(Q), np.inf)
    active = conf > 0
    if active.any():
        # confidences below 1e-12 are 0 for all purposes; the floor keeps omega finite
        Pa, Qa, ca = P[active], Q[active], np.maximum(conf[active], 1e-12)
        sp = _sigma_times(covariance, Pa.T, index)  # Sigma P'
        psp = Pa @ sp
        om = tau * (1.0 - ca) / ca * np.diag(psp)
        omega[active] = om
        m = tau * psp + np.diag(om)
        try:
            sol = np.linalg.solve(m, Qa - Pa @ pi)
        except np.linalg.LinAlgError:
            raise EstimationError(
                "black_litterman: the views are redundant (two views on the same portfolio "
                "at 100% confidence, or a view on a riskless combination); merge them or "
                "lower a confidence."
            ) from None
        post = pi + tau * sp @ sol
    table = pd.DataFrame(
        {
            "view": names,
            "description": descs,
            "n_assets": counts,
            "prior": P @ pi,
            "target": Q,
            "confidence": confs,
            "posterior": P @ post,
            "omega": omega,
        }
    )
    table["tilt"] = table["posterior"] - table["prior"]
    return BlackLitterman(
        posterior=pd.Series(post, index=index, name="expected_return"),
        prior=prior.copy(),
        views=table,
        P=pd.DataFrame(P, index=names, columns=index),
        tau=float(tau),
    )
