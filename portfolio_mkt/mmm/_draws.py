"""Parameter draws of a fitted media-mix model: block bootstrap and Laplace approximation."""

from __future__ import annotations

from typing import Any

import numpy as np

#: A fitted :class:`~portfolio_mkt.mmm.MediaMixModel` (typed loosely: the model imports this
#: module, so this module does not import the model).
MediaMixModel = Any

__all__ = ["bootstrap_draws", "laplace_draws"]


def _block_resample(resid: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    n = len(resid)
    block = max(1, min(block, n))
    out = np.empty(n)
    i = 0
    while i < n:
        s = int(rng.integers(0, n - block + 1))
        take = min(block, n - i)
        out[i:i + take] = resid[s:s + take]
        i += take
    return out


def _one_refit(engine, theta0, ys):
    res = engine.refit(theta0, ys)
    return res.theta, res.coefs


def bootstrap_draws(model: MediaMixModel, n: int, block: int | None, n_jobs: int,
                    seed: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Moving-block residual bootstrap: refit on ``fitted + resampled residual blocks``.

    The blocks are drawn at the same positions for every market, so residual co-movement
    between markets is kept.
    """
    eng = model._engine_
    res = model._result
    data = model._data
    rng = np.random.default_rng(seed)
    resid = [m.y - f for m, f in zip(data.markets, res.fitted, strict=False)]
    n_t = min(len(r) for r in resid)
    b = block or max(4, int(round(n_t ** (1 / 3))))
    samples = []
    for _ in range(n):
        # the same block starts for every market (aligned by position)
        idx = _block_resample(np.arange(n_t, dtype=float), b, rng).astype(int)
        ys = []
        for _m, f, r in zip(data.markets, res.fitted, resid, strict=False):
            off = len(r) - n_t
            rr = r.copy()
            rr[off:] = r[off:][idx]
            ys.append(f + rr)
        samples.append(ys)
    if n_jobs == 1:
        return [_one_refit(eng, res.theta, ys) for ys in samples]
    from joblib import Parallel, delayed, effective_n_jobs

    # one task per worker (the engine is pickled once per chunk, not once per draw)
    k = max(1, effective_n_jobs(n_jobs))
    chunks = [samples[i::k] for i in range(k)]
    parts = Parallel(n_jobs=k)(delayed(_refit_chunk)(eng, res.theta, c) for c in chunks)
    out: list = [None] * len(samples)
    for i, part in enumerate(parts):
        out[i::k] = part
    return out


def _refit_chunk(engine, theta0, chunk):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - ships with scikit-learn
        return [_one_refit(engine, theta0, ys) for ys in chunk]
    with threadpool_limits(1):  # one BLAS thread per worker: the workers share the cores
        return [_one_refit(engine, theta0, ys) for ys in chunk]


def laplace_draws(model: MediaMixModel, n: int,
                  seed: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Gaussian draws around the optimum.

    Nonlinear parameters from ``N(theta_hat, sigma^2 (J'J)^-1)`` (clipped to the bounds),
    then the linear coefficients from their conditional least-squares Gaussian.
    """
    eng = model._engine_
    res = model._result
    data = model._data
    rng = np.random.default_rng(seed)
    cov = model._laplace_cov
    lo, hi = eng.bounds()
    p = len(res.theta)
    if cov is None:
        cov = np.zeros((p, p))
    cov = 0.5 * (cov + cov.T)
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0, None))
    out = []
    for _ in range(n):
        theta = np.clip(res.theta + root @ rng.standard_normal(p), lo, hi)
        coefs = []
        for g, _m in enumerate(data.markets):
            S = eng.media_features(g, theta)
            b = eng.solve_linear(g, S)
            D = np.column_stack([eng._fixed[g][0], S])
            k = eng.masks[g]
            Dk = D[k]
            XtX = Dk.T @ Dk
            diag = np.diag(XtX)
            scale = np.where(diag > 0, np.sqrt(np.abs(diag)), 1.0)  # zero columns: no spend
            C = np.linalg.pinv(XtX / np.outer(scale, scale), rcond=1e-10) / np.outer(scale, scale)
            C = 0.5 * (C + C.T) * res.sigma**2
            wc, vc = np.linalg.eigh(C)
            bb = b + (vc * np.sqrt(np.clip(wc, 0, None))) @ rng.standard_normal(len(b))
            nfix = D.shape[1] - S.shape[1]
            bb[nfix:] = np.maximum(bb[nfix:], 0.0)
            coefs.append(bb)
        out.append((theta, coefs))
    return out
