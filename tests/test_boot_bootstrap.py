"""The bootstrap at scale (issue 13): the history read once, resamples as row selections,
the compiled program re-used, one BLAS thread per worker -- and the same answers.

Oracles: the estimate of each resample equals ``problem_from_history`` on the resampled
history itself (the previous code path); the whole bootstrap equals the one that re-reads
every resampled history; the effective sample sizes equal the per-column loop; and the
interval of the recommended plan's outcome covers the true value at its stated rate on a
simulated world with known returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import portfolio_mkt as pm
from portfolio_mkt.confidence import _bootstrap as boot_mod
from portfolio_mkt.confidence import block_bootstrap_indices, bootstrap, resample_history
from portfolio_mkt.estimation import problem_from_history
from portfolio_mkt.estimation._common import effective_n, effective_n_columns
from portfolio_mkt.exceptions import PortfolioMktError
from portfolio_mkt.simulate import simulate_history

SIM = simulate_history(40, random_state=4, n_monte_carlo=500)
HISTORY = SIM.history
BUDGET = 1_000_000.0


def _variances(problem: pm.Problem, index: pd.Index) -> np.ndarray:
    """The problem's variance of a few fixed spend vectors (given in ``index`` order)."""
    x = np.random.default_rng(0).uniform(0.0, 1.0, (5, len(index)))
    out = []
    for row in x:
        v = pd.Series(row, index=index).reindex(problem.index).to_numpy(float)
        out.append(problem.variance(v))
    return np.array(out)


@pytest.mark.parametrize("kwargs", [
    {},
    {"expected_return": "mean", "covariance": "factor"},
    {"expected_return": "ewma", "covariance": None},
    {"covariance": "ewma", "risk_aversion": 3.0},
])
def test_panel_problem_equals_problem_from_the_resampled_history(kwargs):
    point = problem_from_history(HISTORY, BUDGET, **kwargs).problem
    builder = boot_mod._HistoryProblem(BUDGET, {**kwargs, "current": point.current})
    panel = boot_mod._Panel.build(HISTORY, "period", builder)
    assert panel is not None
    n = HISTORY["period"].nunique()
    positions = list(block_bootstrap_indices(n, 4, 3, random_state=1))
    positions.append(np.arange(n) % 8)  # early weeks only: RU and the new creators vanish
    for pos in positions:
        sample = resample_history(HISTORY, pos, "period")
        try:
            ref = builder(sample)
        except PortfolioMktError as exc:  # the same failure on both paths
            with pytest.raises(type(exc)):
                panel.problem(pos)
            continue
        got = panel.problem(pos)
        assert set(got.index) == set(ref.index)
        idx = ref.index
        mu_ref = ref.expected_return.reindex(idx).to_numpy(float)
        mu_got = got.expected_return.reindex(idx).to_numpy(float)
        np.testing.assert_allclose(mu_got, mu_ref, rtol=1e-10, atol=0)
        np.testing.assert_allclose(_variances(got, idx), _variances(ref, idx), rtol=1e-10)
        diag_ref = pd.Series(ref.covariance_diagonal(), index=ref.index).reindex(idx)
        diag_got = pd.Series(got.covariance_diagonal(), index=got.index).reindex(idx)
        np.testing.assert_allclose(diag_got, diag_ref, rtol=1e-10)
        pd.testing.assert_series_equal(got.current.reindex(idx), ref.current.reindex(idx))
        assert got.budget == ref.budget and got.risk_aversion == ref.risk_aversion
        assert [c.name for c in got.constraints] == [c.name for c in ref.constraints]


def _no_panel(monkeypatch):
    monkeypatch.setattr(boot_mod._Panel, "build", classmethod(lambda cls, *a, **k: None))


@pytest.mark.parametrize("kwargs", [{"covariance": "factor"}, {"covariance": None}])
def test_bootstrap_equals_the_one_that_rereads_every_resampled_history(kwargs, monkeypatch):
    opts = {"budget": BUDGET, "n_resamples": 12, "random_state": 5, "backend": "sequential",
            "constraints": [pm.Bounds(upper=0.2, unit="share", name="cap")], **kwargs}
    fast = bootstrap(HISTORY, **opts)
    _no_panel(monkeypatch)
    slow = bootstrap(HISTORY, **opts)
    assert list(fast.samples["status"]) == list(slow.samples["status"])
    tol = 1e-5 * BUDGET
    np.testing.assert_allclose(fast.spend_samples.to_numpy(), slow.spend_samples.to_numpy(),
                               atol=tol, rtol=0)
    for col in ("expected_outcome", "plan_outcome"):
        np.testing.assert_allclose(fast.samples[col], slow.samples[col], rtol=1e-6)
    pd.testing.assert_series_equal(fast.table["confidence"], slow.table["confidence"])


def test_the_compiled_program_is_reused_when_only_returns_change(monkeypatch):
    compiled, solves = [], []
    real_compile, real_solve = boot_mod.compile_problem, boot_mod.solve

    def counting_compile(problem, *a, **k):
        compiled.append(problem.name)
        return real_compile(problem, *a, **k)

    def counting_solve(problem, *a, **k):
        solves.append(k.get("program") is not None)
        return real_solve(problem, *a, **k)

    monkeypatch.setattr(boot_mod, "compile_problem", counting_compile)
    monkeypatch.setattr(boot_mod, "solve", counting_solve)
    conf = bootstrap(HISTORY, budget=BUDGET, covariance=None, n_resamples=10, random_state=2,
                     backend="sequential",
                     constraints=[pm.Bounds(upper=0.15, unit="share", name="cap")])
    assert conf.n_failed == 0
    assert solves[0] is False and len(solves) == 11  # the point solve, then 10 resamples
    assert all(solves[1:])  # every resample solved a program compiled in its worker
    assert 1 <= len(compiled) < 10  # once per chunk, not once per resample


def test_one_blas_thread_inside_the_resamples():
    seen = []

    def build(history):
        seen.append(max(i["num_threads"] for i in threadpool_info()
                        if i["user_api"] == "blas"))
        return problem_from_history(history, BUDGET, covariance=None).problem

    bootstrap(HISTORY, build, n_resamples=2, random_state=0, backend="sequential")
    assert seen and all(n == 1 for n in seen)


def test_effective_n_of_all_columns_equals_the_loop():
    rng = np.random.default_rng(0)
    for n_periods in (1, 2, 3, 4, 30):
        x = rng.standard_normal((n_periods, 60)).cumsum(axis=0)
        x[rng.random(x.shape) < 0.3] = np.nan
        x[:, 0] = np.nan
        x[:, 1] = 2.0
        loop = np.array([effective_n(x[:, j]) for j in range(x.shape[1])])
        np.testing.assert_allclose(effective_n_columns(x), loop, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------
# coverage on a world with known returns

IDS = ["us_search", "us_social", "us_video", "ru_search", "ru_social"]
TRUE_MU = np.array([0.30, 0.18, 0.12, 0.25, 0.15])


def _world(seed: int, n_periods: int = 52) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-01-01", periods=n_periods, freq="W-MON")
    common = np.zeros(n_periods)
    own = np.zeros((n_periods, len(IDS)))
    for t in range(n_periods):
        common[t] = (0.4 * common[t - 1] if t else 0.0) + rng.normal(0, 0.03)
        own[t] = (0.3 * own[t - 1] if t else 0.0) + rng.normal(0, 0.10, len(IDS))
    spend = rng.uniform(20_000, 60_000, size=own.shape)
    roi = TRUE_MU + common[:, None] + own
    return pd.DataFrame({
        "period": np.repeat(periods, len(IDS)),
        "asset": np.tile(IDS, n_periods),
        "market": np.tile([a[:2].upper() for a in IDS], n_periods),
        "channel": np.tile([a[3:] for a in IDS], n_periods),
        "spend": spend.ravel(),
        "outcome": (roi * spend).ravel(),
    })


def test_plan_outcome_interval_covers_the_truth_at_its_rate():
    level, hits, n_worlds = 0.8, 0, 16
    for seed in range(n_worlds):
        conf = bootstrap(_world(seed), budget=BUDGET, expected_return="mean", covariance=None,
                         n_resamples=30, level=level, random_state=seed, backend="sequential",
                         constraints=[pm.Bounds(upper=0.4, unit="share", name="cap")])
        x = conf.point.spend.reindex(IDS).to_numpy(float)
        truth = float(TRUE_MU @ x)
        hits += conf.plan_outcome["lower"] <= truth <= conf.plan_outcome["upper"]
    # 80% nominal; a block bootstrap of 52 weeks under-covers a little. Binomial sd over 16
    # worlds is 10 points: [0.5, 0.95] fails a broken interval (degenerate: ~0, or
    # far too wide: 1.0) but not an honest one (deterministic: fixed seeds).
    assert 0.5 <= hits / n_worlds <= 0.95, hits
