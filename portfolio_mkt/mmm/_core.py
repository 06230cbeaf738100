"""The fitting engine: variable projection with bounded nonlinear least squares.

Given the nonlinear parameters ``theta`` (carryover and saturation of every market x channel),
the KPI is linear in the baseline, control and media coefficients. The linear part is solved
exactly (baseline and controls free, media coefficients ``>= 0``) and only ``theta`` is left to
``scipy.optimize.least_squares``. Gaussian priors on ``theta`` (and, with several markets, a
hierarchy pulling each market's parameters toward the channel's) enter as extra residuals, so
the objective is a posterior mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import least_squares, nnls

from ..response import GeometricAdstock, WeibullAdstock, n_shape_params, saturate
from ._data import MarketData, WideData

__all__ = ["Layout", "Engine", "FitResult"]

_RIDGE = 1e-8


@dataclass(frozen=True)
class Layout:
    """Where each parameter sits in ``theta``."""

    adstock: str
    saturation: str
    n_markets: int
    n_channels: int
    pooled: bool

    @property
    def n_ad(self) -> int:
        return 1 if self.adstock == "geometric" else 2

    @property
    def n_per(self) -> int:
        return self.n_ad + 1 + n_shape_params(self.saturation)

    @property
    def n_local(self) -> int:
        return self.n_markets * self.n_channels * self.n_per

    @property
    def size(self) -> int:
        return self.n_local + (self.n_channels * self.n_per if self.pooled else 0)

    def block(self, g: int, c: int) -> slice:
        i = (g * self.n_channels + c) * self.n_per
        return slice(i, i + self.n_per)

    def hyper(self, c: int) -> slice:
        i = self.n_local + c * self.n_per
        return slice(i, i + self.n_per)

    def names(self) -> list[str]:
        ad = ["alpha"] if self.adstock == "geometric" else ["log_shape", "log_scale"]
        return ad + ["log_kappa"] + (["log_slope"] if self.saturation == "hill" else [])

    def prior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Prior mean, prior sd, lower and upper bounds of one channel block."""
        if self.adstock == "geometric":
            mu, sd, lo, hi = [0.3], [0.3], [0.0], [0.9]
        else:
            mu, sd = [math.log(1.5), math.log(2.0)], [0.7, 0.7]
            lo, hi = [math.log(0.3), math.log(0.3)], [math.log(6.0), math.log(8.0)]
        mu += [0.0]
        sd += [1.0]
        lo += [math.log(0.05)]
        hi += [math.log(20.0)]
        if self.saturation == "hill":
            mu += [math.log(1.5)]
            sd += [0.5]
            lo += [math.log(0.5)]
            hi += [math.log(4.0)]
        return (np.array(mu), np.array(sd), np.array(lo), np.array(hi))


@dataclass
class FitResult:
    """The optimum of one fit."""

    theta: np.ndarray
    coefs: list[np.ndarray]  # per market: [base..., controls..., media...] in KPI units
    fitted: list[np.ndarray]  # per market, all rows
    sigma: float  # residual sd on the training rows, KPI units
    cost: float
    jac: np.ndarray | None
    n_train: int


class Engine:
    """Residuals, variable projection and the optimiser for one data set and one row mask."""

    def __init__(
        self, data: WideData, layout: Layout, *, l_max: int, normalize: bool,
        prior_strength: float, pool_strength: float, masks: list[np.ndarray] | None = None,
    ) -> None:
        self.data = data
        self.lay = layout
        self.l_max = int(l_max)
        self.normalize = bool(normalize)
        self.prior_strength = float(prior_strength)
        self.pool_strength = float(pool_strength)
        self.masks = masks or [np.ones(len(m.y), bool) for m in data.markets]
        ys = np.concatenate([m.y[k] for m, k in zip(data.markets, self.masks, strict=False)])
        self.y_scale = float(np.std(ys)) or float(np.mean(np.abs(ys))) or 1.0
        self.n_train = int(sum(k.sum() for k in self.masks))
        # fixed columns (baseline + controls) per market: projector on the training rows
        self._fixed = []
        for m, k in zip(data.markets, self.masks, strict=False):
            P = np.column_stack([m.base, m.controls])
            u, s, _ = np.linalg.svd(P[k], full_matrices=False)
            keep = s > s[0] * 1e-10
            self._fixed.append((P, u[:, keep]))
        self.sigma_hat = 1.0  # scaled units; set by fit()
        self._lags = np.arange(self.l_max, dtype=float)

    # -- features ------------------------------------------------------------------------
    def adstock(self, params: np.ndarray):
        if self.lay.adstock == "geometric":
            return GeometricAdstock(float(params[0]), l_max=self.l_max, normalize=self.normalize)
        return WeibullAdstock(
            math.exp(params[0]), math.exp(params[1]), l_max=self.l_max, normalize=self.normalize
        )

    def weights(self, params: np.ndarray) -> np.ndarray:
        """Carryover weights of one channel block (geometric computed inline: hot path)."""
        if self.lay.adstock == "geometric":
            w = float(params[0]) ** self._lags
            return w / w.sum() if self.normalize else w
        return self.adstock(params).weights()

    def media_features(self, g: int, theta: np.ndarray) -> np.ndarray:
        m: MarketData = self.data.markets[g]
        lay = self.lay
        n = len(m.y)
        cols = np.zeros_like(m.spend)
        for c in range(lay.n_channels):
            if m.mean_spend[c] <= 0:
                continue
            p = theta[lay.block(g, c)]
            a = np.convolve(m.spend[:, c], self.weights(p))[:n]  # causal FIR = adstock
            kappa = math.exp(p[lay.n_ad])
            slope = math.exp(p[lay.n_ad + 1]) if lay.saturation == "hill" else 1.0
            cols[:, c] = saturate(lay.saturation, a / m.mean_spend[c], kappa, slope)
        return cols

    def project(self, g: int, y: np.ndarray) -> np.ndarray:
        """Training rows of ``y`` with the baseline and controls projected out."""
        U = self._fixed[g][1]
        yk = y[self.masks[g]]
        return yk - U @ (U.T @ yk)

    def _media_coefs(self, S_res: np.ndarray, y_res: np.ndarray) -> np.ndarray:
        norms = np.sqrt((S_res**2).sum(axis=0))
        active = norms > 1e-12 * max(1.0, float(np.abs(y_res).max()))
        b = np.zeros(S_res.shape[1])
        if active.any():
            A = S_res[:, active] / norms[active]
            A = np.vstack([A, math.sqrt(_RIDGE) * np.eye(A.shape[1])])
            rhs = np.concatenate([y_res, np.zeros(A.shape[1])])
            sol, _ = nnls(A, rhs, maxiter=50 * A.shape[1])
            b[active] = sol / norms[active]
        return b

    def solve_linear(self, g: int, S: np.ndarray, y: np.ndarray | None = None):
        """Coefficients (fixed part free, media >= 0) of market ``g`` on its training rows."""
        m = self.data.markets[g]
        k = self.masks[g]
        P, U = self._fixed[g]
        y = m.y if y is None else y
        Sk = S[k]
        b = self._media_coefs(Sk - U @ (U.T @ Sk), self.project(g, y))
        a, *_ = np.linalg.lstsq(P[k], y[k] - Sk @ b, rcond=None)
        return np.concatenate([a, b])

    # -- residuals -----------------------------------------------------------------------
    def _penalties(self, theta: np.ndarray) -> np.ndarray:
        lay = self.lay
        mu, sd, _, _ = lay.prior()
        w = self.sigma_hat * math.sqrt(self.prior_strength)
        out = []
        if lay.pooled:
            wp = self.sigma_hat * math.sqrt(self.pool_strength)
            for c in range(lay.n_channels):
                out.append(w * (theta[lay.hyper(c)] - mu) / sd)
            for g in range(lay.n_markets):
                for c in range(lay.n_channels):
                    out.append(wp * (theta[lay.block(g, c)] - theta[lay.hyper(c)]))
        else:
            for c in range(lay.n_channels):
                out.append(w * (theta[lay.block(0, c)] - mu) / sd)
        return np.concatenate(out) if out else np.zeros(0)

    def residuals(self, theta: np.ndarray, yres: list[np.ndarray]) -> np.ndarray:
        """Scaled residuals on the training rows (``yres``: projected KPI) and the penalties.

        With the baseline and controls projected out, the residual of the full linear fit
        equals the residual of the media-only fit on the projected data.
        """
        parts = []
        for g in range(len(self.data.markets)):
            S = self.media_features(g, theta)
            U = self._fixed[g][1]
            Sk = S[self.masks[g]]
            S_res = Sk - U @ (U.T @ Sk)
            b = self._media_coefs(S_res, yres[g])
            parts.append((yres[g] - S_res @ b) / self.y_scale)
        parts.append(self._penalties(theta))
        return np.concatenate(parts)

    def projected(self, ys: list[np.ndarray] | None) -> list[np.ndarray]:
        """Projected training KPI of every market (``ys`` replaces the data's KPI)."""
        return [self.project(g, m.y if ys is None else ys[g])
                for g, m in enumerate(self.data.markets)]

    def sparsity(self) -> sp.csr_matrix | None:
        lay = self.lay
        if not lay.pooled:
            return None
        rows = sum(int(k.sum()) for k in self.masks)
        n_pen = lay.n_channels * lay.n_per * (1 + lay.n_markets)
        J = sp.lil_matrix((rows + n_pen, lay.size), dtype=np.int8)
        r0 = 0
        for g, k in enumerate(self.masks):
            n = int(k.sum())
            for c in range(lay.n_channels):
                J[r0:r0 + n, lay.block(g, c)] = 1
            r0 += n
        # hyper prior rows
        for c in range(lay.n_channels):
            s = lay.hyper(c)
            for j in range(lay.n_per):
                J[r0 + c * lay.n_per + j, s.start + j] = 1
        r0 += lay.n_channels * lay.n_per
        for g in range(lay.n_markets):
            for c in range(lay.n_channels):
                b, h = lay.block(g, c), lay.hyper(c)
                for j in range(lay.n_per):
                    J[r0, b.start + j] = 1
                    J[r0, h.start + j] = 1
                    r0 += 1
        return J.tocsr()

    # -- optimisation --------------------------------------------------------------------
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        _, _, lo, hi = self.lay.prior()
        reps = self.lay.size // self.lay.n_per
        return np.tile(lo, reps), np.tile(hi, reps)

    def prior_start(self) -> np.ndarray:
        mu = self.lay.prior()[0]
        return np.tile(mu, self.lay.size // self.lay.n_per)

    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        lay = self.lay
        mu, sd, lo, hi = lay.prior()
        per_channel = []
        for _ in range(lay.n_channels):
            v = mu + sd * rng.uniform(-1.2, 1.2, size=len(mu))
            per_channel.append(np.clip(v, lo + 1e-6, hi - 1e-6))
        theta = np.zeros(lay.size)
        for g in range(lay.n_markets):
            for c in range(lay.n_channels):
                theta[lay.block(g, c)] = per_channel[c]
        if lay.pooled:
            for c in range(lay.n_channels):
                theta[lay.hyper(c)] = per_channel[c]
        return theta

    def _run(self, x0: np.ndarray, ys=None, max_nfev: int | None = None, tol: float = 1e-8):
        lo, hi = self.bounds()
        x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
        return least_squares(
            self.residuals, x0, bounds=(lo, hi), method="trf", args=(self.projected(ys),),
            jac_sparsity=self.sparsity(), x_scale=1.0, diff_step=1e-4,
            max_nfev=max_nfev or 60 * (1 + self.lay.size // 4), xtol=tol, ftol=tol / 10,
        )

    def _n_data(self) -> int:
        return self.n_train

    def fit(self, n_starts: int, rng: np.random.Generator,
            x0: np.ndarray | None = None, ys=None) -> FitResult:
        """Multi-start posterior mode; the prior weight uses a residual sd estimated twice."""
        starts = [self.prior_start() if x0 is None else x0]
        starts += [self.random_start(rng) for _ in range(max(0, n_starts - 1))]
        # first pass: residual sd at the prior mean
        self.sigma_hat = 1.0
        r0 = self.residuals(starts[0], self.projected(ys))[: self.n_train]
        self.sigma_hat = max(float(np.sqrt(np.mean(r0**2))), 1e-6)
        best = None
        for s in starts:
            res = self._run(s, ys)
            if best is None or res.cost < best.cost:
                best = res
        # second pass with the residual sd of the best fit
        r = self.residuals(best.x, self.projected(ys))[: self.n_train]
        dof = max(self.n_train - self.n_params_effective(), 1)
        self.sigma_hat = max(float(np.sqrt(np.sum(r**2) / dof)), 1e-6)
        best = self._run(best.x, ys)
        return self.result(best.x, ys, jac=best.jac)

    def refit(self, x0: np.ndarray, ys) -> FitResult:
        """One warm-started fit (bootstrap draws), prior weight kept."""
        res = self._run(x0, ys, max_nfev=20 * (1 + self.lay.size // 4), tol=1e-5)
        return self.result(res.x, ys, jac=None)

    def n_params_effective(self) -> int:
        fixed = sum(U.shape[1] for _, U in self._fixed)
        return fixed + self.lay.n_markets * self.lay.n_channels * (1 + self.lay.n_per)

    def result(self, theta: np.ndarray, ys=None, jac=None) -> FitResult:
        coefs, fitted, sse = [], [], 0.0
        for g, m in enumerate(self.data.markets):
            S = self.media_features(g, theta)
            y = m.y if ys is None else ys[g]
            b = self.solve_linear(g, S, y)
            f = np.column_stack([self._fixed[g][0], S]) @ b
            coefs.append(b)
            fitted.append(f)
            k = self.masks[g]
            sse += float(np.sum((y[k] - f[k]) ** 2))
        dof = max(self.n_train - self.n_params_effective(), 1)
        jac_arr = None
        if jac is not None:
            jac_arr = jac.toarray() if sp.issparse(jac) else np.asarray(jac)
        return FitResult(theta=np.array(theta), coefs=coefs, fitted=fitted,
                         sigma=math.sqrt(sse / dof), cost=sse, jac=jac_arr,
                         n_train=self.n_train)
