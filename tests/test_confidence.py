"""Bootstrap of estimate-and-solve: reproducible, sensible intervals, direction confidence,
failures kept, and the same answer on local processes and on a Dask LocalCluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.confidence import (
    ApprovalRules,
    Confidence,
    approval_flags,
    bootstrap,
    recommendation_direction,
)
from portfolio_mkt.exceptions import EstimationError, InputError, SolverError

IDS = ["search", "social", "video", "email"]
TRUE_MU = np.array([0.30, 0.12, 0.10, 0.11])
CURRENT = pd.Series([250_000.0, 250_000.0, 250_000.0, 250_000.0], index=IDS)
ASSETS = pd.DataFrame({"channel": IDS, "tags": ["", "", "brand", ""]}, index=IDS)
BUDGET = 1_000_000.0


def make_history(n_periods: int = 36, seed: int = 7) -> pd.DataFrame:
    """Long history: weekly ROI per asset with AR(1) noise and a common shock."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-01-07", periods=n_periods, freq="W")
    common = np.zeros(n_periods)
    own = np.zeros((n_periods, len(IDS)))
    for t in range(n_periods):
        common[t] = (0.5 * common[t - 1] if t else 0.0) + rng.normal(0, 0.05)
        own[t] = (0.3 * own[t - 1] if t else 0.0) + rng.normal(0, 0.12, len(IDS))
    roi = TRUE_MU + common[:, None] + own
    spend = rng.uniform(20_000, 60_000, size=roi.shape)
    return pd.DataFrame(
        {
            "period": np.repeat(periods, len(IDS)),
            "asset": np.tile(IDS, n_periods),
            "spend": spend.ravel(),
            "outcome": (roi * spend).ravel(),
        }
    )


def build(history: pd.DataFrame) -> pm.Problem:
    """A plain estimator: mean and covariance of per-period ROI."""
    roi = (history["outcome"] / history["spend"]).to_numpy()
    wide = pd.DataFrame({"period": history["period"], "asset": history["asset"], "roi": roi})
    wide = wide.pivot(index="period", columns="asset", values="roi")[IDS]
    return pm.Problem(
        wide.mean(),
        wide.cov(),
        budget=BUDGET,
        assets=ASSETS,
        current=CURRENT,
        risk_aversion=8.0,
        constraints=[pm.Bounds(upper=0.6, unit="share", name="cap60")],
    )


class FailsOnHighSpend:
    """An estimator that refuses some resamples (kept as failures, not raised)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def __call__(self, history: pd.DataFrame) -> pm.Problem:
        if history["spend"].iloc[0] > self.threshold:
            raise EstimationError("first row spend too high in this resample")
        return build(history)


HISTORY = make_history()


@pytest.fixture(scope="module")
def conf() -> Confidence:
    return bootstrap(HISTORY, build, n_resamples=30, block_length=4, random_state=11,
                     backend="sequential")


def test_point_is_the_full_history_solve(conf):
    direct = pm.solve(build(HISTORY))
    pd.testing.assert_series_equal(conf.point.spend, direct.spend)
    assert conf.outcome["point"] == pytest.approx(direct.expected_outcome)
    assert conf.n_resamples == 30 and conf.n_failed == 0
    assert conf.block_length == 4


def test_reproducible_with_a_seed(conf):
    again = bootstrap(HISTORY, build, n_resamples=30, block_length=4, random_state=11,
                      backend="sequential")
    pd.testing.assert_frame_equal(conf.samples, again.samples)
    pd.testing.assert_frame_equal(conf.spend_samples, again.spend_samples)
    pd.testing.assert_frame_equal(conf.table, again.table)
    other = bootstrap(HISTORY, build, n_resamples=5, block_length=4, random_state=12,
                      backend="sequential")
    first = conf.samples["expected_outcome"].iloc[:5].to_numpy()
    assert not np.allclose(other.samples["expected_outcome"].to_numpy(), first)
    # the draws of a seed do not depend on how many resamples are asked for
    fewer = bootstrap(HISTORY, build, n_resamples=5, block_length=4, random_state=11,
                      backend="sequential")
    pd.testing.assert_frame_equal(fewer.samples, conf.samples.iloc[:5])


def test_intervals_contain_the_point_estimate(conf):
    o = conf.outcome
    assert o["lower"] < o["point"] < o["upper"]
    r = conf.risk
    assert r["lower"] < r["point"] < r["upper"]
    t = conf.table
    tol = 1e-6 * BUDGET
    assert (t["lower"] <= t["spend"] + tol).all() and (t["spend"] <= t["upper"] + tol).all()
    # the percentile interval is the stated quantile of the resampled spend
    q = conf.spend_samples.quantile([0.05, 0.95])
    np.testing.assert_allclose(t["lower"], q.loc[0.05], rtol=1e-12)
    np.testing.assert_allclose(t["upper"], q.loc[0.95], rtol=1e-12)
    # every resample spends the budget (bookkeeping of the resampled allocations)
    np.testing.assert_allclose(conf.spend_samples.sum(axis=1), BUDGET, rtol=1e-6)


def test_direction_confidence(conf):
    t = conf.table
    # search has by far the highest return: the increase holds in every resample
    assert t.loc["search", "direction"] == "increase"
    assert t.loc["search", "confidence"] == 1.0
    # recompute by hand from the resampled spend
    for a in IDS:
        dirs = recommendation_direction(conf.spend_samples[a].to_numpy(),
                                        np.full(30, CURRENT[a]), 0.01, 1e-6 * BUDGET)
        assert t.loc[a, "confidence"] == pytest.approx(np.mean(dirs == t.loc[a, "direction"]))
    # a confidence is a count of resamples out of the solved ones, not any number in [0, 1]
    n_ok = int((conf.samples["status"] == "optimal").sum())
    counts = t["confidence"].to_numpy() * n_ok
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    # the point direction is the one most resamples agree with for a clear case, and an
    # uncertain asset is less than certain
    assert t["confidence"].max() == 1.0 and t["confidence"].min() < 1.0
    # the three similar assets are uncertain; at least one is below 85%
    assert t.loc[["social", "video", "email"], "confidence"].min() < 0.85
    assert "Least certain" in conf.summary()


def test_approval_flags_take_the_confidence(conf):
    flags = approval_flags(conf.point, ApprovalRules(max_change=None, protected_tags=()),
                           confidence=conf)
    low = conf.table.index[conf.table["confidence"] < 0.85]
    assert list(flags["asset"]) == list(low)
    assert (flags["rule"] == "min_confidence").all()
    assert all("resamples" in m for m in flags["message"])


def test_failed_resamples_are_kept_and_left_out():
    threshold = float(np.quantile(HISTORY["spend"], 0.6))
    res = bootstrap(HISTORY, FailsOnHighSpend(threshold), n_resamples=30, block_length=3,
                    random_state=3, backend="sequential")
    failed = res.samples["status"] != "optimal"
    assert 0 < failed.sum() < 30
    assert (res.samples.loc[failed, "status"] == "failed").all()
    assert res.samples.loc[failed, "message"].str.startswith("EstimationError: ").all()
    assert res.samples.loc[failed, "expected_outcome"].isna().all()
    assert res.spend_samples[failed.to_numpy()].isna().all().all()
    assert np.isfinite(res.outcome[["lower", "upper"]]).all()
    assert any("failed" in n for n in res.notes)
    with pytest.raises(SolverError, match="all 5 bootstrap resamples failed"):
        bootstrap(HISTORY, _FailsAlways(), n_resamples=5, random_state=0, backend="sequential")


def test_any_estimator_exception_is_kept_as_a_failed_resample():
    calls = {"n": 0}

    def flaky(history: pd.DataFrame) -> pm.Problem:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise KeyError("asset without data in this resample")
        return build(history)

    res = bootstrap(HISTORY, flaky, n_resamples=6, random_state=0, backend="sequential")
    assert (res.samples["message"].str.startswith("KeyError")).sum() == 2
    assert (res.samples["status"] == "failed").sum() == 2
    assert res.n_failed == 2


class _FailsAlways:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, history: pd.DataFrame) -> pm.Problem:
        self.calls += 1
        if self.calls > 1:  # the full-history point solve works, every resample fails
            raise EstimationError("nope")
        return build(history)


def test_wide_history_and_bad_arguments():
    wide = HISTORY.assign(roi=HISTORY["outcome"] / HISTORY["spend"]).pivot(
        index="period", columns="asset", values="roi")[IDS]

    def build_wide(h: pd.DataFrame) -> pm.Problem:
        return pm.Problem(h.mean(), h.cov(), budget=BUDGET, current=CURRENT, risk_aversion=8.0)

    res = bootstrap(wide, build_wide, n_resamples=10, period_col=None, random_state=1,
                    backend="sequential")
    assert res.n_failed == 0 and res.block_length == round(36 ** (1 / 3))
    with pytest.raises(InputError, match="level"):
        bootstrap(HISTORY, build, level=90)
    with pytest.raises(InputError, match="default estimator"):
        bootstrap(HISTORY, build, n_resamples=2, shrink=True)
    with pytest.raises(EstimationError, match="no column 'week'"):
        bootstrap(HISTORY, build, period_col="week")


def test_default_estimator_is_problem_from_history():
    estimation = pytest.importorskip("portfolio_mkt.estimation")
    simulate = pytest.importorskip("portfolio_mkt.simulate")
    with pytest.raises(InputError, match="budget"):
        bootstrap(HISTORY, n_resamples=2)
    hist = simulate.simulate_history(n_periods=60, random_state=1).history
    res = bootstrap(hist, budget=500_000.0, n_resamples=3, random_state=0,
                    backend="sequential", covariance="sample")
    direct = pm.solve(estimation.problem_from_history(hist, 500_000.0,
                                                      covariance="sample").problem)
    pd.testing.assert_series_equal(res.point.spend, direct.spend)
    # every resample plans against today's spend (the full history's), not its own last week
    pd.testing.assert_series_equal(res.current, direct.problem.current, check_names=False)
    assert res.n_failed == 0
    np.testing.assert_allclose(res.spend_samples.sum(axis=1), 500_000.0, rtol=1e-6)


@pytest.fixture(scope="module")
def small() -> Confidence:
    return bootstrap(HISTORY, build, n_resamples=8, block_length=4, random_state=5,
                     backend="sequential")


def test_local_processes_equal_sequential(small):
    par = bootstrap(HISTORY, build, n_resamples=8, block_length=4, random_state=5,
                    backend="loky", n_jobs=2)
    pd.testing.assert_frame_equal(small.samples, par.samples)
    pd.testing.assert_frame_equal(small.spend_samples, par.spend_samples)


def test_dask_local_cluster_equals_local_run(small):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = bootstrap(HISTORY, build, n_resamples=8, block_length=4, random_state=5,
                            backend=client)
    pd.testing.assert_frame_equal(small.samples, on_dask.samples)
    pd.testing.assert_frame_equal(small.spend_samples, on_dask.spend_samples)
    pd.testing.assert_frame_equal(small.table, on_dask.table)


def test_point_plan_valued_by_each_resampled_model(conf):
    from portfolio_mkt.confidence import block_bootstrap_indices, resample_history

    positions = block_bootstrap_indices(36, 30, 4, random_state=11)
    x0 = conf.point.spend
    for i in range(3):
        p_i = build(resample_history(HISTORY, positions[i]))
        mu_i = p_i.expected_return
        assert conf.samples.loc[i, "plan_outcome"] == pytest.approx(float(mu_i @ x0), rel=1e-9)
        var = float(x0 @ p_i.covariance @ x0)
        assert conf.samples.loc[i, "plan_risk"] == pytest.approx(np.sqrt(var), rel=1e-9)
    po = conf.plan_outcome
    assert po["lower"] < po["point"] < po["upper"]
    # re-optimising on each resample can only raise that resample's own utility (the point
    # plan is feasible there too): U = outcome - delta / (2 B) * risk^2 with delta = 8
    s = conf.samples
    u_reopt = s["expected_outcome"] - 8.0 / (2 * BUDGET) * s["risk"] ** 2
    u_point = s["plan_outcome"] - 8.0 / (2 * BUDGET) * s["plan_risk"] ** 2
    assert (u_reopt >= u_point - 1e-6 * u_point.abs()).all()
    assert (u_reopt > u_point + 1.0).any()
    assert "recommended plan itself" in conf.summary()


def test_plot_shows_intervals_and_current(conf):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = conf.plot(top=3)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3 and labels[0] == "search"  # largest spend first
    current = [ln for ln in ax.lines if ln.get_label() == "current"][0]
    np.testing.assert_allclose(current.get_xdata(), CURRENT[labels].to_numpy())
    plt.close(ax.figure)
