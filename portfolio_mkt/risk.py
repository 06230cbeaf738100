"""Risk models: dense covariance with PSD repair, and factor covariance.

The program never needs an ``n x n`` matrix when the covariance comes from a factor model:
``Sigma = B Omega B' + diag(d)`` enters as ``||F' w||^2 + sum(d_i w_i^2)`` with
``F = B chol(Omega)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import (
    AlignmentError,
    CovarianceError,
    CovarianceRepairWarning,
    InputError,
    PortfolioMktWarning,
    format_labels,
)

__all__ = ["FactorCovariance", "nearest_psd", "as_covariance", "DEFAULT_PSD_TOLERANCE",
           "RiskModel", "DenseRisk", "FactorRisk", "NoRisk", "risk_model", "scale_covariance",
           "DegenerateCovarianceWarning"]

class DegenerateCovarianceWarning(PortfolioMktWarning):
    """The covariance gives some assets (or a combination of them) zero or near-zero risk."""


#: An asset whose variance is below this fraction of the largest is treated as riskless.
DEGENERATE_VARIANCE = 1e-10

#: Largest relative Frobenius distance a covariance may be moved by PSD repair before the
#: library refuses it (an error instead of a warning).
DEFAULT_PSD_TOLERANCE = 0.05


def nearest_psd(matrix: np.ndarray, min_eigenvalue: float = 0.0) -> tuple[np.ndarray, float]:
    """Nearest symmetric positive semidefinite matrix in the Frobenius norm.

    Negative eigenvalues of the symmetric part are clipped to ``min_eigenvalue`` (Higham, 1988).

    Parameters
    ----------
    matrix : ndarray of shape (n, n)
        A symmetric (or nearly symmetric) matrix.
    min_eigenvalue : float, default 0.0
        Floor for the eigenvalues of the result.

    Returns
    -------
    repaired : ndarray of shape (n, n)
        The repaired matrix.
    distance : float
        ``||repaired - matrix||_F / ||matrix||_F``: how far it was moved, relatively.

    Examples
    --------
    >>> m = np.array([[1.0, 2.0], [2.0, 1.0]])
    >>> repaired, moved = nearest_psd(m)
    >>> bool(np.linalg.eigvalsh(repaired).min() >= -1e-12)
    True
    """
    sym = (matrix + matrix.T) / 2.0
    vals, vecs = np.linalg.eigh(sym)
    clipped = np.maximum(vals, min_eigenvalue)
    repaired = (vecs * clipped) @ vecs.T
    repaired = (repaired + repaired.T) / 2.0
    norm = np.linalg.norm(matrix)
    distance = float(np.linalg.norm(repaired - matrix) / norm) if norm > 0 else 0.0
    return repaired, distance


@dataclass(frozen=True)
class FactorCovariance:
    """Covariance of per-unit-spend returns as ``B Omega B' + diag(d)``.

    Parameters
    ----------
    loadings : DataFrame of shape (n_assets, n_factors)
        Exposure ``B`` of each asset (rows, indexed by asset id) to each factor.
    factor_covariance : DataFrame of shape (n_factors, n_factors)
        Covariance ``Omega`` of the factors (PSD).
    specific_variance : Series of length n_assets
        Idiosyncratic variance ``d`` of each asset (non-negative).

    Examples
    --------
    >>> ids = ["a", "b"]
    >>> fc = FactorCovariance(
    ...     loadings=pd.DataFrame([[1.0], [0.5]], index=ids, columns=["mkt"]),
    ...     factor_covariance=pd.DataFrame([[0.04]], index=["mkt"], columns=["mkt"]),
    ...     specific_variance=pd.Series([0.01, 0.02], index=ids),
    ... )
    >>> fc.to_dense().round(4).values.tolist()
    [[0.05, 0.02], [0.02, 0.03]]
    """

    loadings: pd.DataFrame
    factor_covariance: pd.DataFrame
    specific_variance: pd.Series

    def __post_init__(self) -> None:
        b = self.loadings
        omega = self.factor_covariance
        d = self.specific_variance
        if not isinstance(b, pd.DataFrame) or not isinstance(omega, pd.DataFrame):
            raise CovarianceError(
                "FactorCovariance: loadings and factor_covariance must be DataFrames "
                "(assets x factors and factors x factors)."
            )
        if not isinstance(d, pd.Series):
            raise CovarianceError("FactorCovariance: specific_variance must be a Series.")
        if b.index.has_duplicates:
            dup = b.index[b.index.duplicated()].unique()
            raise AlignmentError(
                f"FactorCovariance.loadings has duplicate asset ids: {format_labels(dup)}."
            )
        if omega.shape[0] != omega.shape[1] or list(omega.index) != list(omega.columns):
            raise CovarianceError(
                "FactorCovariance.factor_covariance must be square with the same factor "
                "labels on rows and columns."
            )
        if list(omega.index) != list(b.columns):
            raise CovarianceError(
                "FactorCovariance: the columns of loadings must be the factors of "
                f"factor_covariance; got {list(b.columns)} and {list(omega.index)}."
            )
        if set(d.index) != set(b.index):
            missing = set(b.index) ^ set(d.index)
            raise AlignmentError(
                "FactorCovariance: specific_variance and loadings must cover the same assets; "
                f"these differ: {format_labels(sorted(map(str, missing)))}."
            )
        for label, arr in (
            ("loadings", b.to_numpy(float)),
            ("factor_covariance", omega.to_numpy(float)),
            ("specific_variance", d.to_numpy(float)),
        ):
            if not np.all(np.isfinite(arr)):
                raise CovarianceError(f"FactorCovariance.{label} contains NaN or inf.")
        if (d < 0).any():
            bad = d.index[d < 0]
            raise CovarianceError(
                "FactorCovariance.specific_variance must be non-negative; negative for "
                f"{format_labels(bad)}."
            )
        om = omega.to_numpy(float)
        if not np.allclose(om, om.T, rtol=1e-8, atol=1e-12):
            raise CovarianceError("FactorCovariance.factor_covariance is not symmetric.")
        if np.linalg.eigvalsh((om + om.T) / 2).min() < -1e-10 * max(1.0, np.abs(om).max()):
            raise CovarianceError(
                "FactorCovariance.factor_covariance is not positive semidefinite; repair it "
                "with portfolio_mkt.risk.nearest_psd first."
            )

    @property
    def assets(self) -> pd.Index:
        """Asset ids, in the order of the loadings."""
        return self.loadings.index

    @property
    def n_factors(self) -> int:
        """Number of factors."""
        return self.loadings.shape[1]

    def factor_root(self, index: pd.Index | None = None) -> np.ndarray:
        """``F`` with ``F F' = B Omega B'`` (shape n_assets x n_factors).

        Parameters
        ----------
        index : Index, optional
            Asset order of the rows; defaults to the loadings' order.

        Returns
        -------
        ndarray
        """
        b = self.loadings if index is None else self.loadings.loc[index]
        om = self.factor_covariance.to_numpy(float)
        vals, vecs = np.linalg.eigh((om + om.T) / 2)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        return b.to_numpy(float) @ root

    def specific(self, index: pd.Index | None = None) -> np.ndarray:
        """Specific variances ``d`` in the given asset order."""
        d = self.specific_variance if index is None else self.specific_variance.loc[index]
        return d.to_numpy(float)

    def to_dense(self) -> pd.DataFrame:
        """The full covariance matrix as a DataFrame (for small universes and checks)."""
        b = self.loadings.to_numpy(float)
        om = self.factor_covariance.to_numpy(float)
        dense = b @ om @ b.T + np.diag(self.specific(self.assets))
        return pd.DataFrame(dense, index=self.assets, columns=self.assets)

    def variance(self, w: np.ndarray, index: pd.Index | None = None) -> float:
        """``w' Sigma w`` without forming ``Sigma``."""
        f = self.factor_root(index)
        return float(np.sum((f.T @ w) ** 2) + np.sum(self.specific(index) * w**2))

    def scaled(self, factor: float) -> FactorCovariance:
        """The covariance multiplied by ``factor`` (for changes of outcome units)."""
        return FactorCovariance(
            self.loadings,
            self.factor_covariance * factor,
            self.specific_variance * factor,
        )

    def reindex(self, index: pd.Index) -> FactorCovariance:
        """The same model restricted to, and ordered as, ``index``."""
        return FactorCovariance(
            self.loadings.loc[index],
            self.factor_covariance,
            self.specific_variance.loc[index],
        )


def as_covariance(
    covariance: Any,
    index: pd.Index,
    psd_tolerance: float = DEFAULT_PSD_TOLERANCE,
) -> pd.DataFrame | FactorCovariance:
    """Normalise a covariance input, align it to ``index`` and check it is not degenerate.

    See :func:`_aligned_covariance` for the accepted forms. Assets with zero or near-zero
    variance (below ``1e-10`` of the largest), and for a fitted estimator a singular matrix,
    are reported with :class:`DegenerateCovarianceWarning` naming the assets: the optimizer
    would treat them as riskless and may put the whole budget on them.
    """
    if isinstance(psd_tolerance, bool) or not isinstance(
            psd_tolerance, (int, float, np.integer, np.floating)) or not (
            np.isfinite(psd_tolerance) and psd_tolerance >= 0):
        raise InputError(f"psd_tolerance must be a finite number >= 0; got {psd_tolerance!r}.")
    fitted = hasattr(covariance, "covariance_") and not isinstance(covariance, pd.DataFrame)
    out = _aligned_covariance(covariance, index, psd_tolerance)
    diag = (out.specific(index) + (out.factor_root(index) ** 2).sum(1)
            if isinstance(out, FactorCovariance) else np.diag(out.to_numpy(float)))
    top = float(diag.max(initial=0.0))
    tiny = diag <= DEGENERATE_VARIANCE * top if top > 0 else np.ones(len(diag), dtype=bool)
    if tiny.any():
        warnings.warn(
            f"the covariance gives {format_labels(index[tiny])} zero or near-zero variance: the "
            "optimizer treats them as riskless and may put the whole budget there. Check the "
            "estimate (a robust estimator on a gappy history can do this) or remove them.",
            DegenerateCovarianceWarning, stacklevel=3,
        )
    elif fitted and isinstance(out, pd.DataFrame) and len(index) > 1:
        vals, vecs = np.linalg.eigh(out.to_numpy(float))
        null = vals <= DEGENERATE_VARIANCE * vals.max(initial=0.0)
        if null.any():
            weight = np.abs(vecs[:, null]).max(axis=1)
            names = index[weight > 0.1]
            warnings.warn(
                f"the fitted covariance estimator {type(covariance).__name__} returned a "
                f"singular matrix (rank {int((~null).sum())} of {len(index)}): a combination of "
                f"{format_labels(names)} has zero risk, and the optimizer may exploit it. Use "
                "a shrinkage estimator (LedoitWolf) or more history.",
                DegenerateCovarianceWarning, stacklevel=3,
            )
    return out


def _aligned_covariance(
    covariance: Any,
    index: pd.Index,
    psd_tolerance: float = DEFAULT_PSD_TOLERANCE,
) -> pd.DataFrame | FactorCovariance:
    """Normalise a covariance input and align it to ``index``.

    Accepts a DataFrame, a :class:`FactorCovariance`, or a fitted estimator following
    scikit-learn's protocol (an object with ``covariance_``; its matrix is then taken in the
    order of ``index`` and, when it carries a ``feature_names_in_`` attribute, aligned by it).
    A fitted estimator with a ``factor_model_`` (a :class:`FactorCovariance`) keeps the factor
    form, so the solver never forms the ``n x n`` matrix.

    Parameters
    ----------
    covariance : DataFrame, FactorCovariance or fitted estimator
        The covariance of per-unit-spend returns.
    index : Index
        Asset ids in the problem's order.
    psd_tolerance : float, default 0.05
        Largest relative Frobenius distance of PSD repair before raising.

    Returns
    -------
    DataFrame or FactorCovariance
        Aligned to ``index``; a dense matrix is symmetric and PSD.

    Raises
    ------
    CovarianceError
        Not square, not symmetric, NaN/inf, or further from PSD than ``psd_tolerance``.
    AlignmentError
        Asset ids missing or duplicated.
    """
    factor_model = getattr(covariance, "factor_model_", None)
    if isinstance(factor_model, FactorCovariance):
        covariance = factor_model  # a fitted factor estimator: keep the factor form
    if isinstance(covariance, FactorCovariance):
        missing = index.difference(covariance.assets)
        if len(missing):
            raise AlignmentError(
                f"covariance (factor model) has no row for assets {format_labels(missing)}; "
                "add them to the loadings and specific_variance."
            )
        return covariance.reindex(index)
    if hasattr(covariance, "covariance_") and not isinstance(covariance, pd.DataFrame):
        mat = np.asarray(covariance.covariance_, dtype=float)
        names = getattr(covariance, "feature_names_in_", None)
        labels = list(names) if names is not None else list(index)
        if mat.shape != (len(labels), len(labels)):
            raise CovarianceError(
                f"covariance estimator {type(covariance).__name__} has covariance_ of shape "
                f"{mat.shape}, but the problem has {len(index)} assets; fit it on a periods x "
                "assets matrix with one column per asset."
            )
        covariance = pd.DataFrame(mat, index=labels, columns=labels)
    if isinstance(covariance, np.ndarray):
        raise CovarianceError(
            "covariance must be a DataFrame indexed by asset id on both axes (got a bare "
            "ndarray); wrap it: pd.DataFrame(cov, index=ids, columns=ids)."
        )
    if not isinstance(covariance, pd.DataFrame):
        raise CovarianceError(
            f"covariance must be a DataFrame, a FactorCovariance or a fitted estimator with "
            f"covariance_; got {type(covariance).__name__}."
        )
    cov = covariance
    if cov.shape[0] != cov.shape[1]:
        raise CovarianceError(
            f"covariance must be square; got shape {cov.shape}. Pass the asset x asset matrix."
        )
    for axis_name, ax in (("rows", cov.index), ("columns", cov.columns)):
        if ax.has_duplicates:
            raise AlignmentError(
                f"covariance {axis_name} have duplicate asset ids: "
                f"{format_labels(ax[ax.duplicated()].unique())}."
            )
    if set(cov.index) != set(cov.columns):
        raise CovarianceError(
            "covariance rows and columns name different assets: "
            f"{format_labels(sorted(map(str, set(cov.index) ^ set(cov.columns))))}."
        )
    missing = index.difference(cov.index)
    if len(missing):
        raise AlignmentError(
            f"covariance has no row/column for assets {format_labels(missing)}; add them or "
            "remove the assets from expected_return."
        )
    cov = cov.loc[index, index]
    mat = cov.to_numpy(dtype=float)
    if not np.all(np.isfinite(mat)):
        bad = [index[i] for i in np.unique(np.argwhere(~np.isfinite(mat))[:, 0])]
        raise CovarianceError(
            f"covariance contains NaN or inf for assets {format_labels(bad)}; estimate it "
            "with pairwise-complete data or drop those assets."
        )
    scale = max(np.abs(mat).max(), 1e-300)
    asym = np.abs(mat - mat.T).max() / scale
    if asym > 1e-8:
        i, j = np.unravel_index(np.argmax(np.abs(mat - mat.T)), mat.shape)
        raise CovarianceError(
            f"covariance is not symmetric: entry ({index[i]!r}, {index[j]!r}) differs from "
            f"({index[j]!r}, {index[i]!r}) by {abs(mat[i, j] - mat[j, i]):.3g}; "
            "use (cov + cov.T) / 2 if this is rounding."
        )
    mat = (mat + mat.T) / 2.0
    min_eig = np.linalg.eigvalsh(mat).min()
    if min_eig < -1e-12 * scale:
        repaired, distance = nearest_psd(mat)
        if distance > psd_tolerance:
            raise CovarianceError(
                f"covariance is not positive semidefinite (smallest eigenvalue {min_eig:.3g}); "
                f"the nearest PSD matrix is {distance:.1%} away (Frobenius), beyond the "
                f"tolerance {psd_tolerance:.1%}. Use a shrinkage estimator such as "
                "sklearn.covariance.LedoitWolf, or raise psd_tolerance."
            )
        warnings.warn(
            f"covariance was not positive semidefinite (smallest eigenvalue {min_eig:.3g}); "
            f"repaired to the nearest PSD matrix, moved by {distance:.2e} (relative Frobenius).",
            CovarianceRepairWarning,
            stacklevel=3,
        )
        mat = repaired
    return pd.DataFrame(mat, index=index, columns=index)


def scale_covariance(covariance: pd.DataFrame | FactorCovariance, factors: pd.Series
                     ) -> pd.DataFrame | FactorCovariance:
    """The covariance of returns per unit scaled by ``factors``: ``diag(f) Sigma diag(f)``.

    Keeps the form: a factor model stays a factor model (cost shocks, unit changes).

    Parameters
    ----------
    covariance : DataFrame or FactorCovariance
        Aligned covariance.
    factors : Series
        Factor per asset id.

    Returns
    -------
    DataFrame or FactorCovariance
    """
    if isinstance(covariance, FactorCovariance):
        f = factors.reindex(covariance.assets).astype(float)
        return FactorCovariance(covariance.loadings.mul(f, axis=0),
                                covariance.factor_covariance,
                                covariance.specific_variance * f**2)
    f = factors.reindex(covariance.index).to_numpy(float)
    return pd.DataFrame(covariance.to_numpy(float) * np.outer(f, f), index=covariance.index,
                        columns=covariance.columns)


# ---------------------------------------------------------------------------- risk models
class RiskModel:
    """The risk of an allocation, whatever form the covariance takes.

    Every caller asks the same questions -- the variance ``x' Sigma x``, the vector
    ``Sigma x``, the diagonal, a root ``G`` with ``G' G = Sigma``, and the variance as a convex
    cvxpy expression -- and never branches on the covariance's form. Built by
    :func:`risk_model`; arrays are in the problem's asset order.
    """

    #: Whether the model has a risk term at all (``False`` only for :class:`NoRisk`).
    present: bool = True

    def times(self, x: np.ndarray) -> np.ndarray:
        """``Sigma x``."""
        raise NotImplementedError

    def diagonal(self) -> np.ndarray:
        """The variances ``diag(Sigma)``."""
        raise NotImplementedError

    def root(self) -> np.ndarray:
        """A matrix ``G`` with ``G' G = Sigma`` (rows are risk sources)."""
        raise NotImplementedError

    def expression(self, w: Any) -> Any:
        """``w' Sigma w`` as a convex cvxpy expression (``w`` a cvxpy vector)."""
        raise NotImplementedError

    def variance(self, x: np.ndarray) -> float:
        """``x' Sigma x``."""
        x = np.asarray(x, dtype=float)
        return float(x @ self.times(x))

    def scaled_by(self, factors: np.ndarray) -> RiskModel:
        """The model of ``diag(f) Sigma diag(f)`` (returns per unit scaled by ``f``)."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name: ``dense``, or ``factor`` and ``specific`` (the fast frontier)."""
        raise NotImplementedError


class NoRisk(RiskModel):
    """No covariance: every variance is zero and the program has no risk term."""

    present = False

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def times(self, x: np.ndarray) -> np.ndarray:  # noqa: D102
        return np.zeros_like(np.asarray(x, dtype=float))

    def diagonal(self) -> np.ndarray:  # noqa: D102
        return np.zeros(self.n)

    def root(self) -> np.ndarray:  # noqa: D102
        return np.zeros((0, self.n))

    def expression(self, w: Any) -> Any:  # noqa: D102
        return None

    def arrays(self) -> dict[str, np.ndarray]:  # noqa: D102
        return {}

    def scaled_by(self, factors: np.ndarray) -> RiskModel:  # noqa: D102
        return self


class DenseRisk(RiskModel):
    """A dense ``n x n`` covariance (symmetric, PSD)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.asarray(matrix, dtype=float)

    def times(self, x: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.matrix @ np.asarray(x, dtype=float)

    def diagonal(self) -> np.ndarray:  # noqa: D102
        return np.diag(self.matrix).copy()

    def root(self) -> np.ndarray:  # noqa: D102
        vals, vecs = np.linalg.eigh(self.matrix)
        keep = vals > vals.max(initial=0.0) * 1e-14
        return (vecs[:, keep] * np.sqrt(vals[keep])).T

    def expression(self, w: Any) -> Any:  # noqa: D102
        import cvxpy as cp

        return cp.quad_form(w, cp.psd_wrap(self.matrix))

    def scaled_by(self, factors: np.ndarray) -> RiskModel:  # noqa: D102
        f = np.asarray(factors, dtype=float)
        return DenseRisk(self.matrix * np.outer(f, f))

    def arrays(self) -> dict[str, np.ndarray]:  # noqa: D102
        return {"dense": self.matrix}


class FactorRisk(RiskModel):
    """``Sigma = F F' + diag(d)``: never forms ``n x n``.

    Parameters
    ----------
    factor : ndarray of shape (n, k)
        Factor root ``F``.
    specific : ndarray of shape (n,)
        Specific variances ``d``.
    """

    def __init__(self, factor: np.ndarray, specific: np.ndarray) -> None:
        self.factor = np.asarray(factor, dtype=float)
        self.specific = np.asarray(specific, dtype=float)

    def times(self, x: np.ndarray) -> np.ndarray:  # noqa: D102
        x = np.asarray(x, dtype=float)
        return self.factor @ (self.factor.T @ x) + self.specific * x

    def diagonal(self) -> np.ndarray:  # noqa: D102
        return (self.factor**2).sum(1) + self.specific

    def root(self) -> np.ndarray:  # noqa: D102
        return np.vstack([self.factor.T, np.diag(np.sqrt(self.specific))])

    def expression(self, w: Any) -> Any:  # noqa: D102
        import cvxpy as cp

        return cp.sum_squares(self.factor.T @ w) + cp.sum(cp.multiply(self.specific, cp.square(w)))

    def scaled_by(self, factors: np.ndarray) -> RiskModel:  # noqa: D102
        f = np.asarray(factors, dtype=float)
        return FactorRisk(self.factor * f[:, None], self.specific * f**2)

    def arrays(self) -> dict[str, np.ndarray]:  # noqa: D102
        return {"factor": self.factor, "specific": self.specific}


def risk_model(covariance: pd.DataFrame | FactorCovariance | None, index: pd.Index
               ) -> RiskModel:
    """The :class:`RiskModel` of an aligned covariance (from :func:`as_covariance`) or None.

    Parameters
    ----------
    covariance : DataFrame, FactorCovariance or None
        Aligned to ``index``.
    index : Index
        Asset ids in the problem's order.

    Returns
    -------
    RiskModel
    """
    if covariance is None:
        return NoRisk(len(index))
    if isinstance(covariance, FactorCovariance):
        same = covariance.assets.equals(index)
        return FactorRisk(covariance.factor_root(None if same else index),
                          covariance.specific(None if same else index))
    return DenseRisk(covariance.loc[index, index].to_numpy(float))
