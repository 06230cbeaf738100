"""Re-plans with refitted curves: spent weeks stay, the result is the conditional optimum of the
refitted problem (independent cvxpy oracle), moved curves are named; bad refits are errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import AlignmentError, InputError
from portfolio_mkt.response import GeometricAdstock, Logarithmic
from portfolio_mkt.window import (
    WindowProblem,
    append_actuals,
    mmm_refit,
    plan_window,
    replan,
)

IDS = ["a", "b", "c"]
PARAMS = {"a": (900.0, 120.0), "b": (600.0, 300.0), "c": (400.0, 60.0)}
DECAY = {"a": 0.3, "b": 0.6, "c": 0.5}
L = 4
T = 8
BUDGET = 3000.0


def weights(d):
    w = d ** np.arange(L)
    return w / w.sum()  # normalised kernel (a constant spend keeps its level)


def build(params, season, pre):
    p = pm.Problem(pd.Series(1.0, index=IDS), budget=BUDGET,
                   response={a: Logarithmic(*params[a]) for a in IDS})
    weeks = pd.date_range("2026-01-05", periods=T, freq="7D")
    carry = pd.DataFrame(pre.T, columns=IDS,
                         index=pd.date_range(end=weeks[0] - pd.Timedelta(days=7),
                                             periods=L - 1, freq="7D"))
    labels = weeks.append(pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=L - 1,
                                        freq="7D"))
    return WindowProblem(p, weeks, adstock={a: GeometricAdstock(DECAY[a], l_max=L) for a in IDS},
                         carry_in=carry, seasonality=pd.DataFrame(season.T, index=labels,
                                                                  columns=IDS))


def oracle(params, season, pre, k, fixed):
    """max sum sigma * beta log(1 + e / kappa), e by explicit loops; weeks < k fixed."""
    X = cp.Variable((3, T), nonneg=True)
    obj = 0
    for i, a in enumerate(IDS):
        w = weights(DECAY[a])
        beta, kap = params[a]
        for t in range(T + L - 1):
            e = 0
            for lag in range(L):
                s = t - lag
                if 0 <= s < T:
                    e = e + w[lag] * X[i, s]
                elif s < 0:
                    e = e + w[lag] * pre[i, L - 1 + s]
            obj = obj + season[i, t] * beta * cp.log(1 + e / kap)
    cons = [cp.sum(X) == BUDGET, X[:, :k] == fixed[:, :k]]
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    return prob.value


def value(params, season, pre, x):
    tot = 0.0
    for i, a in enumerate(IDS):
        w = weights(DECAY[a])
        full = np.r_[pre[i], x[i], np.zeros(L - 1)]
        e = np.convolve(full, w)[L - 1: L - 1 + T + L - 1]
        beta, kap = params[a]
        tot += float(np.sum(season[i] * beta * np.log1p(e / kap)))
    return tot


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(4)
    season = rng.uniform(0.8, 1.3, size=(3, T + L - 1))
    pre = rng.uniform(50, 150, size=(3, L - 1))
    wp = build(PARAMS, season, pre)
    plan = plan_window(wp, value_of_timing=False)
    x = plan.spend.to_numpy().T
    actual = x[:, :3] * rng.uniform(0.7, 1.3, size=(3, 3))
    long = pd.DataFrame({"week": np.repeat(wp.periods[:3], 3), "asset": IDS * 3,
                         "spend": actual.T.reshape(-1),
                         "outcome": np.repeat([1000.0, 1100.0, 900.0], 3)})
    return season, pre, wp, plan, actual, long


def test_replan_with_refit_is_conditional_optimum_of_refitted_problem(setup):
    season, pre, wp, plan, actual, long = setup
    new_params = {**PARAMS, "a": (1350.0, 120.0), "c": (400.0, 150.0)}
    seen = {}

    def refit(actuals):
        seen["actuals"] = actuals
        return {"a": Logarithmic(*new_params["a"]), "c": Logarithmic(*new_params["c"])}

    new = replan(plan, long, refit=refit)
    x = new.spend.to_numpy().T
    np.testing.assert_array_equal(x[:, :3], actual)  # spent weeks never change
    assert set(seen["actuals"].columns) >= {"week", "asset", "spend", "outcome"}
    fixed = np.zeros((3, T))
    fixed[:, :3] = actual
    v_or = oracle(new_params, season, pre, 3, fixed)
    assert abs(value(new_params, season, pre, x) - v_or) <= 1e-6 * abs(v_or)
    # the old curves' conditional optimum is a different plan: the refit mattered
    v_old_plan = value(new_params, season, pre, replan(plan, long).spend.to_numpy().T)
    assert v_old_plan < v_or - 1e-6 * abs(v_or)
    moves = new.curve_moves
    assert list(moves.index[moves["moved"]]) == ["a", "c"]
    assert moves.loc["a", "change"] > 0.4 and moves.loc["c", "change"] < 0  # beta x1.5; kappa up
    assert moves.loc["b", "change"] == 0.0
    assert new.changes.loc["a", "change"] > 0  # the better curve gets more money
    assert any("curves that moved" in n for n in new.notes)


def test_refit_returning_a_problem_and_bad_refits(setup):
    season, pre, wp, plan, actual, long = setup
    other = build({**PARAMS, "b": (900.0, 300.0)}, season, pre)
    new = replan(plan, long, refit=lambda a: other)
    assert list(new.curve_moves.index[new.curve_moves["moved"]]) == ["b"]
    with pytest.raises(AlignmentError, match="'zz'"):
        replan(plan, long, refit=lambda a: {"zz": Logarithmic(1.0, 1.0)})
    with pytest.raises(InputError, match="not a response curve"):
        replan(plan, long, refit=lambda a: {"a": 3.0})
    with pytest.raises(InputError, match="WindowProblem or a mapping"):
        replan(plan, long, refit=lambda a: [1, 2])
    with pytest.raises(InputError, match="not both"):
        replan(plan, long, refit=lambda a: {}, problem=wp)
    called = []
    bad = long.assign(asset=["a", "b", "q"] * 3)
    with pytest.raises(AlignmentError, match="'q'"):
        replan(plan, bad, refit=lambda a: called.append(1) or {})
    assert not called  # bad actuals fail before any refit


def test_append_actuals_errors_and_rows():
    hist = pd.DataFrame({"date": pd.date_range("2025-01-06", periods=3, freq="7D"),
                         "a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0], "kpi": [5.0, 6.0, 7.0]})
    acts = pd.DataFrame({"week": [pd.Timestamp("2025-01-27")] * 2, "asset": ["a", "b"],
                         "spend": [4.0, 2.0], "outcome": [9.0, 9.0]})
    out = append_actuals(hist, acts, kpi="kpi", channels=["a", "b"], date="date")
    assert out.iloc[-1].tolist() == [pd.Timestamp("2025-01-27"), 4.0, 2.0, 9.0]
    with pytest.raises(InputError, match="outcome"):
        append_actuals(hist, acts.drop(columns="outcome"), kpi="kpi", channels=["a", "b"],
                       date="date")
    with pytest.raises(InputError, match="2025-01-20"):
        append_actuals(hist, acts.assign(week=pd.Timestamp("2025-01-20")), kpi="kpi",
                       channels=["a", "b"], date="date")
    with pytest.raises(InputError, match="'z'"):
        append_actuals(hist, acts.assign(asset=["a", "z"]), kpi="kpi", channels=["a", "b"],
                       date="date")


def test_mmm_refit_equals_a_fit_on_the_appended_history():
    from portfolio_mkt.mmm import MediaMixModel

    rng = np.random.default_rng(0)
    n = 80
    dates = pd.date_range("2024-01-01", periods=n + 3, freq="7D")
    spend = rng.uniform(50, 150, size=(n + 3, 2))
    kpi = (500 + 300 * (1 - np.exp(-spend[:, 0] / 100)) + 200 * (1 - np.exp(-spend[:, 1] / 80))
           + rng.normal(0, 5, n + 3))
    frame = pd.DataFrame({"date": dates, "tv": spend[:, 0], "search": spend[:, 1], "kpi": kpi})
    hist = frame.iloc[:n].reset_index(drop=True)
    model = MediaMixModel(kpi="kpi", channels=["tv", "search"], saturation="exponential",
                          fourier_order=0, n_starts=1, l_max=3)
    acts = frame.iloc[n:].melt(id_vars=["date", "kpi"], value_vars=["tv", "search"],
                               var_name="asset", value_name="spend")
    acts = acts.rename(columns={"date": "week", "kpi": "outcome"})
    curves = mmm_refit(model, hist)(acts)
    direct = MediaMixModel(**model.get_params()).fit(frame)
    assert set(curves) == {"tv", "search"}
    for a in curves:
        for s in (50.0, 100.0, 150.0):
            assert curves[a].value(s) == pytest.approx(float(direct.curves_[a].value(s)),
                                                       rel=1e-9)
    with pytest.raises(InputError, match="one-market"):
        mmm_refit(MediaMixModel(kpi="kpi", channels=["tv"], controls=["price"]), hist)


REFIT_PLAN = """\
name: weekly_refit
outcome: kpi
budget: 2600
history:
  file: history.csv
  options: {kpi: kpi, channels: [tv, search], date: date, draws: 0, fourier_order: 0,
            n_starts: 1, l_max: 3, saturation: exponential}
window:
  weeks: 13
  start: 2025-07-07
  curves: per_week
  adstock: {family: geometric, alpha: 0.3, l_max: 3}
  value_of_timing: false
"""


def test_cli_replan_refit_appends_actuals_and_matches_the_library(tmp_path):
    import argparse
    import io

    from portfolio_mkt.commands import window as cmd
    from portfolio_mkt.plan import load_plan
    from portfolio_mkt.window import window_from_spec

    rng = np.random.default_rng(2)
    n = 78
    dates = pd.date_range("2024-01-08", periods=n, freq="7D")
    spend = rng.uniform(50, 150, size=(n, 2))
    kpi = (500 + 300 * (1 - np.exp(-spend[:, 0] / 100)) + 200 * (1 - np.exp(-spend[:, 1] / 80))
           + rng.normal(0, 5, n))
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "tv": spend[:, 0], "search": spend[:, 1],
                  "kpi": kpi}).to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "plan.yaml").write_text(REFIT_PLAN)
    # two actual weeks in which search did far better than the history says
    acts = pd.DataFrame({"week": ["2025-07-07"] * 2 + ["2025-07-14"] * 2,
                         "asset": ["tv", "search"] * 2, "spend": [120.0, 80.0, 110.0, 90.0],
                         "outcome": [1400.0, 1400.0, 1450.0, 1450.0]})
    acts.to_csv(tmp_path / "actuals.csv", index=False)
    sub = argparse.ArgumentParser().add_subparsers()
    cmd.register(sub)
    parser = sub.choices["replan"]
    args = parser.parse_args([str(tmp_path / "plan.yaml"), "--actuals",
                              str(tmp_path / "actuals.csv"), "--refit",
                              "--output", str(tmp_path / "out.csv")])
    out, err = io.StringIO(), io.StringIO()
    assert cmd.run_replan(args, out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "Curves refitted with the actual weeks" in text
    got = pd.read_csv(tmp_path / "out.csv", index_col=0)
    np.testing.assert_allclose(got.iloc[:2][["tv", "search"]].to_numpy(),
                               [[120.0, 80.0], [110.0, 90.0]])
    # the library on the refitted plan (history with the two weeks appended) gives the same
    plan = load_plan(tmp_path / "plan.yaml")
    hist = pd.read_csv(tmp_path / "history.csv")
    extra = pd.DataFrame({"date": ["2025-07-07", "2025-07-14"], "tv": [120.0, 110.0],
                          "search": [80.0, 90.0], "kpi": [1400.0, 1450.0]})
    refitted = plan.with_history(pd.concat([hist, extra], ignore_index=True).assign(
        date=lambda d: pd.to_datetime(d["date"])))
    wp_new = window_from_spec(plan.spec.window, refitted.to_problem(), base_dir=tmp_path)
    wp_old = window_from_spec(plan.spec.window, plan.to_problem(), base_dir=tmp_path)
    original = plan_window(wp_old, value_of_timing=False)
    wide = pd.DataFrame({"tv": [120.0, 110.0], "search": [80.0, 90.0]},
                        index=wp_old.periods[:2])
    lib = replan(original, wide, problem=wp_new)
    stale = replan(original, wide)
    assert np.abs(lib.spend.to_numpy() - stale.spend.to_numpy()).max() > 1.0  # refit matters
    np.testing.assert_allclose(got[["tv", "search"]].to_numpy(),
                               lib.spend[["tv", "search"]].to_numpy(), rtol=1e-6,
                               atol=1e-6 * 2600)
    # without a fitted history, --refit is a clear bad-input error
    from portfolio_mkt.plan import resolve_plan_path

    (tmp_path / "given.yaml").write_text(resolve_plan_path("quarterly_2m").read_text()
                                         + "window: {weeks: 13, start: 2026-01-05}\n")
    first = load_plan(tmp_path / "given.yaml").to_problem().index[0]
    pd.DataFrame({"week": ["2026-01-05"], "asset": [first], "spend": [1000.0],
                  "outcome": [5.0]}).to_csv(tmp_path / "a2.csv", index=False)
    args = parser.parse_args([str(tmp_path / "given.yaml"), "--actuals",
                              str(tmp_path / "a2.csv"), "--refit"])
    err = io.StringIO()
    assert cmd.run_replan(args, io.StringIO(), err) == 2
    assert "--refit needs a plan whose curves are fitted" in err.getvalue()
