"""Scenarios and constraint prices checked against independent solves and closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portfolio_mkt as pm
from portfolio_mkt.exceptions import AlignmentError, ConstraintError, InputError
from portfolio_mkt.whatif import Scenario, constraint_prices, cost_factors, scenarios

IDS = ["us_search", "us_social", "us_video", "ru_search", "ru_social"]
ASSETS = pd.DataFrame(
    {
        "market": ["US", "US", "US", "RU", "RU"],
        "channel": ["search", "social", "video", "search", "social"],
        "tags": ["performance", "performance", "brand", "performance", ""],
    },
    index=IDS,
)
MU = pd.Series([0.060, 0.055, 0.050, 0.052, 0.048], index=IDS)


def _cov(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(8, 5)) * 0.1
    sigma = a.T @ a / 8 + np.diag([0.02, 0.03, 0.04, 0.03, 0.05])
    return pd.DataFrame(sigma, index=IDS, columns=IDS)


COV = _cov()


def _closed_form_shares(mu: np.ndarray, sigma: np.ndarray, delta: float) -> np.ndarray:
    """max mu'w - delta/2 w'Sigma w s.t. 1'w = 1 (interior): KKT linear system."""
    n = len(mu)
    kkt = np.block([[delta * sigma, np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    sol = np.linalg.solve(kkt, np.concatenate([mu, [1.0]]))
    return sol[:n]


def _problem(**kw):
    args = dict(expected_return=MU, covariance=COV, budget=1_000_000.0, assets=ASSETS,
                risk_aversion=4.0)
    args.update(kw)
    return pm.Problem(**args)


def test_interior_base_matches_closed_form():
    p = _problem()
    w = _closed_form_shares(MU.to_numpy(), COV.to_numpy(), 4.0)
    assert (w > 0.05).all()  # interior: the long-only bound does not bind
    alloc = pm.solve(p)
    np.testing.assert_allclose(alloc.shares.to_numpy(), w, rtol=1e-6, atol=1e-9)


def test_budget_up_10pct_scales_spend_exactly():
    p = _problem()
    res = scenarios(p, [Scenario(budget_change=0.10), Scenario(budget_change=-0.15)],
                    backend="sequential")
    assert list(res.summary.index) == ["base", "budget +10%", "budget -15%"]
    assert (res.summary["status"] == "optimal").all()
    np.testing.assert_allclose(res.spend["budget +10%"], 1.1 * res.spend["base"], rtol=1e-6)
    np.testing.assert_allclose(res.spend["budget -15%"], 0.85 * res.spend["base"], rtol=1e-6)
    # expected outcome is linear in spend: +10% exactly; risk (std) scales by 1.1 too
    s = res.summary
    assert s.loc["budget +10%", "outcome_change_pct"] == pytest.approx(0.10, rel=1e-6)
    assert s.loc["budget +10%", "risk"] == pytest.approx(1.1 * s.loc["base", "risk"], rel=1e-6)
    assert s.loc["budget +10%", "budget"] == pytest.approx(1_100_000.0)
    # pure scaling: nothing is reallocated between assets
    assert s.loc["budget +10%", "spend_moved"] == pytest.approx(0.0, abs=1e-6 * 1.1e6)
    # one compiled program re-used (no share-unit constraints here)
    assert set(s["method"].iloc[1:]) == {"parameter"}


def test_budget_scenario_with_share_constraints_matches_independent_solve():
    cons = [pm.Bounds(upper=0.25, unit="share", name="cap25"),
            pm.GroupFloor(where={"market": "RU"}, amount=0.45, unit="share", name="ru_floor"),
            pm.Lock({"us_video": 120_000.0}, name="video_lock")]
    p = _problem(constraints=cons)
    res = scenarios(p, [Scenario(budget_change=0.2)], backend="sequential")
    indep = pm.solve(p.replace(budget=1_200_000.0), solver="CLARABEL")
    np.testing.assert_allclose(res.spend["budget +20%"], indep.spend, rtol=1e-5,
                               atol=1e-6 * 1.2e6)
    # the lock stays in money, the floor and cap scale with the budget
    assert res.spend.loc["us_video", "budget +20%"] == pytest.approx(120_000.0, rel=1e-6)
    ru = res.spend.loc[["ru_search", "ru_social"], "budget +20%"].sum()
    assert ru >= 0.45 * 1_200_000.0 * (1 - 1e-6)


def test_cost_shock_equals_solve_on_shocked_inputs():
    p = _problem()
    y = pd.Series({"us_search": 0.25, "ru_social": 0.10})
    res = scenarios(p, [Scenario("dearer", cost_shock=y.to_dict())], backend="sequential")
    f = pd.Series(1.0, index=IDS)
    f[y.index] = 1 / (1 + y)
    mu2 = MU * f
    cov2 = COV * np.outer(f, f)
    w = _closed_form_shares(mu2.to_numpy(), cov2.to_numpy(), 4.0)
    assert (w > 0).all()
    np.testing.assert_allclose(res.spend["dearer"].to_numpy(), 1e6 * w, rtol=1e-5)
    # dearer money can only lower the attainable utility
    assert res.summary.loc["dearer", "utility"] < res.summary.loc["base", "utility"]


def test_group_cost_shock_equals_per_asset_shock_and_compounds():
    p = _problem()
    f1 = cost_factors(p, [({"channel": "social"}, 0.2)])
    f2 = cost_factors(p, {"us_social": 0.2, "ru_social": 0.2})
    pd.testing.assert_series_equal(f1, f2)
    both = cost_factors(p, [({"market": "US"}, 0.1), (["us_social"], 0.1), ])
    assert both["us_social"] == pytest.approx(1 / 1.21)
    assert both["us_search"] == pytest.approx(1 / 1.1)
    assert both["ru_social"] == 1.0
    assert cost_factors(p, 0.5).eq(1 / 1.5).all()
    with pytest.raises(InputError, match="above -1"):
        cost_factors(p, {"us_social": -1.0})
    with pytest.raises(AlignmentError, match="tv_spot"):
        cost_factors(p, {"tv_spot": 0.1})


def test_cost_shock_without_risk_uses_parameters_and_moves_to_the_best_asset():
    # linear, no covariance: everything goes to the best mu/(1+y) within a 40% cap
    cap = pm.Bounds(upper=0.4, unit="share", name="cap40")
    p = pm.Problem(MU, budget=100.0, constraints=[cap])
    res = scenarios(p, [Scenario("search dearer", cost_shock={"us_search": 0.2})],
                    backend="sequential")
    assert res.summary.loc["search dearer", "method"] == "parameter"
    base = res.spend["base"]
    assert base["us_search"] == pytest.approx(40.0, abs=1e-6)
    assert base["us_social"] == pytest.approx(40.0, abs=1e-6)
    assert base["ru_search"] == pytest.approx(20.0, abs=1e-6)
    # us_search now returns 0.05: ranking social .055 > ru_search .052 > search .05 = video
    sc = res.spend["search dearer"]
    assert sc["us_social"] == pytest.approx(40.0, abs=1e-6)
    assert sc["ru_search"] == pytest.approx(40.0, abs=1e-6)
    expected = 40 * 0.055 + 40 * 0.052 + 20 * 0.05
    assert res.summary.loc["search dearer", "expected_outcome"] == pytest.approx(expected,
                                                                                 rel=1e-7)


def test_remove_channel_equals_problem_without_those_assets():
    p = _problem()
    res = scenarios(p, [Scenario(remove={"channel": "social"}), Scenario(remove="us_video")],
                    backend="sequential")
    kept = ["us_search", "us_video", "ru_search"]
    indep = pm.solve(pm.Problem(MU[kept], COV.loc[kept, kept], budget=1e6, risk_aversion=4.0),
                     solver="CLARABEL")
    col = res.spend["without channel=social"]
    assert col[["us_social", "ru_social"]].abs().max() < 1e-6 * 1e6
    np.testing.assert_allclose(col[kept], indep.spend[kept], rtol=1e-5, atol=1e-6 * 1e6)
    assert res.summary.loc["without channel=social", "expected_outcome"] == pytest.approx(
        indep.expected_outcome, rel=1e-6)
    assert res.spend.loc["us_video", "without us_video"] == pytest.approx(0.0, abs=1.0)


def test_other_risk_tolerance_matches_closed_form():
    p = _problem()
    res = scenarios(p, [Scenario(risk_aversion=8.0), {"risk_aversion": 6.0, "name": "d6"}],
                    backend="sequential")
    for name, delta in (("risk aversion 8", 8.0), ("d6", 6.0)):
        w = _closed_form_shares(MU.to_numpy(), COV.to_numpy(), delta)
        np.testing.assert_allclose(res.spend[name].to_numpy(), 1e6 * w, rtol=1e-5)
    # a min-risk base plan switches to the utility objective for a risk-aversion scenario
    res2 = scenarios(p.replace(objective="min_risk"), [Scenario(risk_aversion=8.0)],
                     backend="sequential")
    np.testing.assert_allclose(res2.spend["risk aversion 8"], res.spend["risk aversion 8"],
                               rtol=1e-6)
    # more risk averse: lower risk and lower expected outcome
    s = res.summary
    assert s.loc["risk aversion 8", "risk_change"] < 0
    assert s.loc["risk aversion 8", "outcome_change"] < 0


def test_failed_scenarios_keep_their_status_and_do_not_sink_the_table():
    lock = pm.Lock({"us_video": 100_000.0}, name="video_lock")
    p = _problem(constraints=[lock])
    res = scenarios(
        p,
        [
            Scenario("drop video", remove=["us_video"]),  # conflicts with the lock
            Scenario("typo", remove=["us_vidoe"]),
            Scenario("bad filter", remove={"channel": "tv"}),
            Scenario(budget_change=0.05),
        ],
        backend="sequential",
    )
    s = res.summary
    assert s.loc["drop video", "status"] == "infeasible"
    assert "video_lock" in s.loc["drop video", "message"]
    assert s.loc["typo", "status"] == "failed" and "us_vidoe" in s.loc["typo", "message"]
    assert s.loc["bad filter", "status"] == "failed" and "tv" in s.loc["bad filter", "message"]
    assert s.loc["budget +5%", "status"] == "optimal"
    assert res.spend["drop video"].isna().all()
    assert res.allocations["drop video"] is None
    assert np.isnan(s.loc["drop video", "outcome_change"])
    assert "drop video: not solved (infeasible)" in res.explain()


def test_scenario_definition_errors():
    with pytest.raises(InputError, match="not both"):
        Scenario(budget_change=0.1, budget=5.0)
    with pytest.raises(InputError, match="above -1"):
        Scenario(budget_change=-1.5)
    with pytest.raises(InputError, match="unique"):
        scenarios(_problem(), [Scenario(budget_change=0.1), Scenario(budget_change=0.1)],
                  backend="sequential")
    with pytest.raises(InputError, match="Scenario"):
        scenarios(_problem(), [42], backend="sequential")


def test_tables_long_and_wide():
    p = _problem()
    res = scenarios(p, [Scenario(budget_change=0.1)], backend="sequential")
    long = res.to_frame()
    assert long.shape[0] == 2 * len(IDS)
    row = long.loc[("budget +10%", "us_search")]
    assert row["change_pct"] == pytest.approx(0.1, rel=1e-6)
    wide = res.table()
    assert f"change: {IDS[0]}" in wide.columns and wide.shape[0] == 2
    assert "budget +10%" in repr(res)
    text = res.explain()
    assert "budget +10%: expected outcome" in text and "+10.0%" in text
    assert "largest increase us_search" in text


def test_cost_shock_on_response_curve_reads_the_curve_at_x_over_1_plus_y():
    from portfolio_mkt.response import Logarithmic

    curves = {"us_search": Logarithmic(beta=40_000.0, k=200_000.0)}
    p = _problem(response=curves)
    res = scenarios(p, [Scenario("search +25%", cost_shock={"us_search": 0.25})],
                    backend="sequential")
    # independent: beta*log(1 + x/(1.25 k)) is a log curve with k' = 1.25 k
    indep_p = _problem(
        response={"us_search": Logarithmic(beta=40_000.0, k=250_000.0)},
        expected_return=MU.where(MU.index != "us_search", MU["us_search"] / 1.25),
        covariance=COV * np.outer(*(2 * [np.where(MU.index == "us_search", 0.8, 1.0)])),
    )
    indep = pm.solve(indep_p)
    np.testing.assert_allclose(res.spend["search +25%"], indep.spend, rtol=1e-4, atol=1.0)
    assert res.summary.loc["search +25%", "expected_outcome"] == pytest.approx(
        indep.expected_outcome, rel=1e-6)


def test_local_processes_give_the_sequential_answer():
    p = _problem(constraints=[pm.GroupFloor(where={"market": "RU"}, amount=0.5, unit="share",
                                            name="ru_floor")])
    sc = [Scenario(budget_change=0.1), Scenario(risk_aversion=2.0),
          Scenario(cost_shock=0.1), Scenario(remove={"channel": "video"})]
    seq = scenarios(p, sc, backend="sequential")
    par = scenarios(p, sc, backend="loky", n_jobs=2)
    pd.testing.assert_frame_equal(seq.spend, par.spend, rtol=1e-9, atol=1e-6)
    cols = ["status", "expected_outcome", "risk"]
    pd.testing.assert_frame_equal(seq.summary[cols], par.summary[cols], rtol=1e-9)


# ---------------------------------------------------------------------------- prices


def test_price_of_a_floor_without_risk_is_analytic():
    # linear returns, no risk, 50% cap per asset: without the RU floor money goes to
    # us_search (.060) and us_social (.055); the RU floor of 30% must take from us_social
    cap = pm.Bounds(upper=0.5, unit="share", name="cap50")
    floor = pm.GroupFloor(where={"market": "RU"}, amount=300.0, name="ru_floor")
    p = pm.Problem(MU, budget=1000.0, assets=ASSETS, constraints=[cap, floor])
    prices = constraint_prices(p)
    assert list(prices.index) == ["cap50", "ru_floor"]
    row = prices.loc["ru_floor"]
    # floor moves 300 from us_social (.055) to ru_search (.052)
    assert row["outcome_price"] == pytest.approx(300 * (0.055 - 0.052), rel=1e-7)
    assert row["objective_gain"] == pytest.approx(300 * 0.003, rel=1e-7)
    assert row["spend_moved"] == pytest.approx(300.0, rel=1e-6)
    # dual: d outcome / d floor amount = -(0.055 - 0.052) per unit of money
    assert row["dual"] == pytest.approx(-0.003, rel=1e-5)
    assert bool(row["binding"])
    assert row["status_without"] == "optimal"
    # the cap's price: without it everything goes to us_search (0.060), vs
    # 500@.060 + 200@.055 + 300@.052 with it
    with_cap = 500 * 0.060 + 200 * 0.055 + 300 * 0.052
    without_cap = 700 * 0.060 + 300 * 0.052
    assert prices.loc["cap50", "outcome_price"] == pytest.approx(without_cap - with_cap,
                                                                rel=1e-7)


def test_price_equals_independent_solves_and_bounds_the_dual():
    floor = pm.GroupFloor(where={"market": "RU"}, amount=0.6, unit="share", name="ru_floor")
    loose = pm.GroupCap(where={"channel": "video"}, amount=0.9, unit="share", name="loose_cap")
    p = _problem(constraints=[floor, loose])
    alloc = pm.solve(p)
    prices = constraint_prices(p, allocation=alloc)
    free = pm.solve(p.without("ru_floor"), solver="CLARABEL")
    row = prices.loc["ru_floor"]
    assert row["outcome_price"] == pytest.approx(free.expected_outcome - alloc.expected_outcome,
                                                 rel=1e-5)
    assert row["risk_change"] == pytest.approx(free.risk - alloc.risk, rel=1e-5)
    gain = row["objective_gain"]
    assert gain == pytest.approx(free.utility - alloc.utility, rel=1e-5)
    assert gain > 0 and bool(row["binding"])
    # a non-binding constraint costs nothing
    assert abs(prices.loc["loose_cap", "objective_gain"]) < 1e-6 * abs(alloc.utility)
    assert abs(prices.loc["loose_cap", "spend_moved"]) < 1e-3
    # the value function is concave in the floor amount A: 0 <= gain <= |dual| * (A - A_free)
    ru = ["ru_search", "ru_social"]
    a_now, a_free = 0.6 * 1e6, free.spend[ru].sum()
    assert a_free < a_now
    dual = row["dual"]
    assert dual < 0
    assert gain <= abs(dual) * (a_now - a_free) * (1 + 1e-6)
    # and the dual is the finite-difference slope for a small change of the floor
    eps = 1_000.0
    tighter = pm.solve(p.replace(constraints=[
        pm.GroupFloor(where={"market": "RU"}, amount=(a_now + eps) / 1e6, unit="share",
                      name="ru_floor"), loose]))
    slope = (tighter.utility - alloc.utility) / eps
    assert slope == pytest.approx(dual, rel=2e-3)


def test_prices_of_risk_target_and_selection_and_errors():
    p = _problem(objective="max_return", max_risk=120_000.0,
                 constraints=[pm.Bounds(upper=0.5, unit="share", name="cap50")])
    prices = constraint_prices(p)
    assert list(prices.index) == ["cap50", "max_risk"]
    # dropping the risk cap can only raise the expected outcome and the risk
    assert prices.loc["max_risk", "objective_gain"] > 0
    assert prices.loc["max_risk", "risk_change"] > 0
    only = constraint_prices(p, names=["cap50"])
    assert list(only.index) == ["cap50"]
    with pytest.raises(ConstraintError, match="nope"):
        constraint_prices(p, names=["nope"])


def test_pm_scenarios_is_callable_whatever_was_imported_first():
    import portfolio_mkt.whatif as module

    p = _problem()
    for fn in (pm.scenarios, module.scenarios):
        res = fn(p, [Scenario(budget_change=0.1)], backend="sequential")
        assert list(res.summary.index) == ["base", "budget +10%"]
    assert pm.scenarios is module.scenarios and callable(pm.frontier)


def test_cost_shock_on_factor_covariance_equals_dense():
    rng = np.random.default_rng(3)
    loadings = pd.DataFrame(rng.normal(0, 0.1, size=(5, 2)), index=IDS, columns=["f1", "f2"])
    fcov = pd.DataFrame([[1.0, 0.3], [0.3, 0.5]], index=["f1", "f2"], columns=["f1", "f2"])
    spec = pd.Series([0.02, 0.03, 0.04, 0.03, 0.05], index=IDS)
    factor = pm.FactorCovariance(loadings, fcov, spec)
    shock = [Scenario("social dearer", cost_shock=[({"channel": "social"}, 0.3)])]
    on_factor = scenarios(_problem(covariance=factor), shock, backend="sequential")
    on_dense = scenarios(_problem(covariance=factor.to_dense()), shock, backend="sequential")
    np.testing.assert_allclose(on_factor.spend, on_dense.spend, rtol=1e-6, atol=1e-3)
    assert on_factor.summary.loc["social dearer", "risk"] == pytest.approx(
        on_dense.summary.loc["social dearer", "risk"], rel=1e-6)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), change=st.floats(-0.5, 1.0))
def test_property_budget_scales_unconstrained_utility_plan(seed, change):
    """Utility on shares: without money constraints the plan scales with the budget."""
    rng = np.random.default_rng(seed)
    n = 4
    mu = pd.Series(rng.uniform(0.02, 0.08, n), index=[f"a{i}" for i in range(n)])
    a = rng.normal(size=(6, n)) * 0.1
    cov = pd.DataFrame(a.T @ a / 6 + 0.01 * np.eye(n), index=mu.index, columns=mu.index)
    p = pm.Problem(mu, cov, budget=250_000.0, risk_aversion=float(rng.uniform(1, 10)))
    res = scenarios(p, [Scenario("s", budget_change=change)], backend="sequential")
    np.testing.assert_allclose(res.spend["s"], (1 + change) * res.spend["base"], rtol=1e-5,
                               atol=1e-6 * 250_000.0)
    assert res.summary.loc["s", "expected_outcome"] == pytest.approx(
        (1 + change) * res.summary.loc["base", "expected_outcome"], rel=1e-5)


def test_dask_local_cluster_gives_the_local_answer_exactly():
    distributed = pytest.importorskip("distributed")
    p = _problem(constraints=[pm.GroupFloor(where={"market": "RU"}, amount=0.5, unit="share",
                                            name="ru_floor"),
                              pm.Bounds(upper=0.4, unit="share", name="cap40")])
    sc = [Scenario(risk_aversion=d) for d in (2.0, 6.0, 8.0)] + [
        Scenario(cost_shock=0.1), Scenario(remove={"channel": "video"})]
    local = scenarios(p, sc, backend="sequential")
    local_prices = constraint_prices(p, backend="sequential")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = scenarios(p, sc, backend=client)
        remote_prices = constraint_prices(p, backend=client)
    pd.testing.assert_frame_equal(local.spend, remote.spend, check_exact=True)
    cols = ["status", "expected_outcome", "risk", "method"]
    pd.testing.assert_frame_equal(local.summary[cols], remote.summary[cols], check_exact=True)
    pd.testing.assert_frame_equal(local_prices, remote_prices, check_exact=True)


def test_plot_marks_each_solved_scenario_and_the_base():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lock = pm.Lock({"us_video": 100_000.0}, name="video_lock")
    res = scenarios(_problem(constraints=[lock]),
                    [Scenario(budget_change=0.1), Scenario("drop video", remove=["us_video"])],
                    backend="sequential")
    ax = res.plot()
    pts = ax.collections[0].get_offsets()
    assert pts.shape == (1, 2)  # the infeasible scenario is not drawn
    assert pts[0][1] == pytest.approx(res.summary.loc["budget +10%", "expected_outcome"])
    base_line = [ln for ln in ax.lines if ln.get_label() == "base plan"][0]
    assert base_line.get_ydata()[0] == pytest.approx(res.summary.loc["base", "expected_outcome"])
    plt.close(ax.figure)


def test_removed_asset_is_not_held_above_zero_by_its_shift_limit():
    """Removing an asset under a +-10% shift limit: it goes to 0, the others keep their limits."""
    mu = pd.Series({"a": 3.0, "b": 2.0, "c": 1.0})
    current = pd.Series({"a": 20.0, "b": 40.0, "c": 40.0})
    base = pm.Problem(mu, budget=100.0, current=current, budget_mode="cap",
                      constraints=[pm.ShiftLimit(0.1, name="shift")])
    alloc = pm.solve(pm.apply_scenario(base, pm.Scenario(remove=["a"])))
    assert alloc.spend["a"] == pytest.approx(0.0, abs=1e-6)
    # b and c may each move +-10% of today's spend; the best is both at +10%
    assert alloc.spend["b"] == pytest.approx(44.0, rel=1e-6)
    assert alloc.spend["c"] == pytest.approx(44.0, rel=1e-6)
