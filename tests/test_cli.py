"""The portfolio-mkt command line, end to end and in-process."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.cli import main
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import write_bytes_atomic


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def us_ru_out(tmp_path_factory) -> tuple[int, str, str, Path]:
    d = tmp_path_factory.mktemp("us_ru")
    code, out, err = run("plan", "us_ru_creators", "--out", str(d), "--points", "6")
    return code, out, err, d


def test_plan_writes_tables_matching_direct_solve(us_ru_out):
    code, out, err, d = us_ru_out
    assert code == 0, err
    direct = pm.solve(load_plan("us_ru_creators").to_problem())
    rec = pd.read_csv(d / "recommendation.csv", index_col="asset")
    np.testing.assert_allclose(rec.loc[direct.spend.index, "recommended"], direct.spend,
                               rtol=1e-6, atol=1e-3)
    assert rec["expected_outcome"].sum() == pytest.approx(direct.expected_outcome, rel=1e-6)
    parquet = pd.read_parquet(d / "recommendation.parquet")
    np.testing.assert_allclose(parquet["recommended"].to_numpy(), rec["recommended"].to_numpy())
    for name in ("allocation", "frontier", "response_curves", "marginal_roi"):
        assert (d / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (d / "report.html").stat().st_size > 10_000
    assert not [p for p in os.listdir(d) if p.endswith(".tmp")]
    assert "ru_creator_anya" in out and "ru_penetration" in out


def test_plan_prices_match_resolve_without_constraint(us_ru_out):
    _, _, _, d = us_ru_out
    prices = pd.read_csv(d / "constraint_prices.csv", index_col="constraint")
    problem = load_plan("us_ru_creators").to_problem()
    base = pm.solve(problem)
    free = pm.solve(problem.without("ru_penetration"))
    assert prices.loc["ru_penetration", "outcome_price"] == pytest.approx(
        free.expected_outcome - base.expected_outcome, rel=1e-4)
    # the RU floor costs revenue and buys lower risk
    assert prices.loc["ru_penetration", "outcome_price"] > 0
    assert prices.loc["ru_penetration", "risk_change"] > 0
    # the whole strategy at once: the model-only plan
    strategic = ["committed_anya", "committed_dmitri", "ru_penetration", "creator_exploration",
                 "us_creator_concentration"]
    model_only = pm.solve(problem.without(*strategic))
    together = prices.loc["all strategic constraints together"]
    assert together["outcome_price"] == pytest.approx(
        model_only.expected_outcome - base.expected_outcome, rel=1e-4)
    assert together["risk_change"] == pytest.approx(model_only.risk - base.risk, rel=1e-3)


def test_plan_scenarios_table(us_ru_out):
    _, _, _, d = us_ru_out
    spend = pd.read_csv(d / "scenario_spend.csv", index_col=0)
    plan = load_plan("us_ru_creators")
    market = plan.assets["market"]
    model_only = spend["model only (no strategy)"]
    us = model_only.groupby(market.reindex(model_only.index)).sum()["US"] / model_only.sum()
    assert 0.65 <= us <= 0.75
    summary = pd.read_csv(d / "scenarios.csv", index_col=0)
    assert summary.loc["budget +20%", "budget"] == pytest.approx(960_000)


def test_plan_quarterly_terminal_table():
    code, out, err = run("plan", "quarterly_2m")
    assert code == 0, err
    assert err == ""  # no progress bars or warnings off a terminal
    direct = pm.solve(load_plan("quarterly_2m").to_problem())
    assert f"{direct.spend['paid_search']:,.0f}" in out
    assert "paid_search" in out and "traditional" in out and "brand_floor" in out


def test_plan_overrides_risk_aversion(tmp_path):
    code, _, err = run("plan", "monthly_100k", "--risk-aversion", "0", "--out", str(tmp_path),
                       "--no-frontier", "--no-report")
    assert code == 0, err
    direct = pm.solve(load_plan("monthly_100k").to_problem(risk_aversion=0.0))
    rec = pd.read_csv(tmp_path / "recommendation.csv", index_col="asset")
    np.testing.assert_allclose(rec["recommended"], direct.spend.loc[rec.index], rtol=1e-6,
                               atol=1e-3)
    assert not (tmp_path / "report.html").exists()
    # scenarios are re-solved on top of the override
    scen = pd.read_csv(tmp_path / "scenarios.csv", index_col=0)
    assert scen.loc["base", "expected_outcome"] == pytest.approx(direct.expected_outcome,
                                                                 rel=1e-6)


def test_plan_one_scenario():
    code, out, err = run("plan", "monthly_100k", "--scenario", "budget +20%")
    assert code == 0, err
    direct = pm.solve(load_plan("monthly_100k").to_problem(scenario="budget +20%"))
    assert "Budget $120,000" in out
    assert f"{direct.spend['search']:,.0f}" in out
    code, _, err = run("plan", "monthly_100k", "--scenario", "nope")
    assert code == 2 and "no scenario named 'nope'" in err


def test_demo():
    code, out, err = run("demo")
    assert code == 0, err
    from portfolio_mkt.commands.demo import demo_problem

    problem = demo_problem()
    direct = pm.solve(problem)
    assert f"{direct.expected_outcome:,.0f}" in out
    # the flagship demo has diminishing returns: a fitted saturating curve for every asset
    assert problem.response and set(problem.response) == set(problem.expected_return.index)
    for curve in problem.response.values():
        x = np.array([1e3, 2e4, 4e4, 8e4])
        slope = np.diff(np.asarray(curve.value(x), dtype=float)) / np.diff(x)
        assert (np.diff(slope) < 0).all()  # concave: each extra dollar earns less
    # its budget is inside what the history spent, and no asset is moved to a corner
    assert "far outside" not in out
    assert direct.spend.min() > 0.01 * direct.budget


def test_list():
    code, out, _ = run("list")
    assert code == 0
    assert "quarterly_2m" in out and "us_ru_creators" in out and "monthly_100k" in out


def test_frontier(tmp_path):
    code, out, err = run("frontier", "quarterly_2m", "--points", "6", "--out", str(tmp_path))
    assert code == 0, err
    f = pd.read_csv(tmp_path / "frontier.csv")
    assert len(f) == 6
    ok = f[f["status"].str.startswith("optimal")]
    assert ok["expected_outcome"].is_monotonic_increasing
    # the recommended point lies on or under the frontier: no frontier point with less risk
    # has more expected outcome than the recommendation (up to tolerance)
    chosen = pm.solve(load_plan("quarterly_2m").to_problem())
    better = ok[(ok["risk"] <= chosen.risk * (1 - 1e-4))
                & (ok["expected_outcome"] > chosen.expected_outcome * (1 + 1e-4))]
    assert better.empty
    assert (tmp_path / "frontier.png").exists()


def test_scenarios_command(tmp_path):
    code, out, err = run("scenarios", "monthly_100k", "--out", str(tmp_path))
    assert code == 0, err
    s = pd.read_csv(tmp_path / "scenarios.csv", index_col=0)
    assert list(s.index[:2]) == ["base", "budget +20%"]
    direct = pm.solve(load_plan("monthly_100k").to_problem(scenario="budget +20%"))
    assert s.loc["budget +20%", "expected_outcome"] == pytest.approx(
        direct.expected_outcome, rel=1e-5)
    assert "social CPMs +20%" in out


def test_scenarios_without_scenarios_is_bad_input(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("name: x\nassets: [{id: a, expected_return: 1}]\nbudget: 10\n")
    code, _, err = run("scenarios", str(p))
    assert code == 2 and "defines no scenarios" in err


def _history(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for t in range(24):
        for asset, market, mu in (("us_search", "US", 3.0), ("ru_search", "RU", 2.0)):
            if market == "RU" and t < 16:
                continue
            spend = 1000 + 100 * rng.random()
            rows.append({"period": f"2024-{t // 4 + 1:02d}-{(t % 4) * 7 + 1:02d}",
                         "asset": asset, "market": market, "channel": "search",
                         "spend": spend, "outcome": spend * mu * (1 + 0.1 * rng.normal())})
    path = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fit(tmp_path):
    from portfolio_mkt.report._analysis import public

    path = _history(tmp_path)
    code, out, err = run("fit", str(path), "--budget", "10000", "--out", str(tmp_path / "o"))
    if public("problem_from_history") is None:
        assert code == 2 and "not available" in err
        return
    assert code == 0, err
    est = pd.read_csv(tmp_path / "o" / "estimates.csv", index_col="asset")
    assert est.loc["us_search", "expected_return"] == pytest.approx(3.0, rel=0.1)
    assert est.loc["ru_search", "expected_return"] == pytest.approx(2.0, rel=0.15)


def test_fit_builtin_history_audit_and_cv(tmp_path):
    from portfolio_mkt.plan import builtin_plans

    hist = Path(builtin_plans()["us_ru_weekly"]).parent / "us_ru_history.csv"
    code, out, err = run("fit", str(hist), "--cv", "3", "--out", str(tmp_path))
    assert code == 0, err
    assert "Market RU is under-represented" in out
    est = pd.read_csv(tmp_path / "estimates.csv", index_col="asset")
    assert est["out_of_sample_mape"].between(0, 5).all()
    audit = pd.read_csv(tmp_path / "bias_audit.csv")
    ru = audit[(audit["attribute"] == "market") & (audit["group"] == "RU")].iloc[0]
    assert ru["periods_observed"] == 18 and bool(ru["flagged"])


def test_fit_missing_file():
    code, _, err = run("fit", "/nonexistent/history.csv")
    assert code == 2
    assert "history" in err


# -------------------------------------------------------------------------- errors and codes


def test_invalid_plan_exit_2_names_file_field_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\nassets: [{id: a, expected_return: 1}]\nbudget: -5\n")
    code, out, err = run("plan", str(p))
    assert code == 2
    assert str(p) in err and "line 3" in err and "'budget'" in err
    assert out == ""


def test_unknown_field_exit_2(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\nbudget = 10\nbudgte_mode = "cap"\n'
                 '[[assets]]\nid = "a"\nexpected_return = 1.0\n')
    code, _, err = run("plan", str(p))
    assert code == 2 and "line 3" in err and "budgte_mode" in err


def test_locks_over_budget_exit_2(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(textwrap.dedent("""\
        name: bad
        assets:
          - {id: a, expected_return: 1}
          - {id: b, expected_return: 2}
        budget: 100
        locks:
          - {asset: a, amount: 80}
          - {asset: b, amount: 80}
    """))
    code, _, err = run("plan", str(p))
    assert code == 2 and "line 8" in err and "locks[1].amount" in err


def test_infeasible_plan_exit_1_names_constraints(tmp_path):
    p = tmp_path / "infeasible.yaml"
    p.write_text(textwrap.dedent("""\
        name: infeasible
        assets:
          - {id: us, market: US, expected_return: 3}
          - {id: ru, market: RU, expected_return: 2}
        budget: 100
        floors:
          - {name: ru_floor, where: {market: RU}, amount: 0.7, unit: share}
        caps:
          - {name: ru_cap, where: {market: RU}, amount: 0.5, unit: share}
    """))
    code, out, err = run("plan", str(p))
    assert code == 1
    assert "infeasible" in err and "ru_floor" in err and "ru_cap" in err


def test_unknown_plan_name_exit_2():
    code, _, err = run("plan", "quartely_2m")
    assert code == 2 and "quarterly_2m" in err


def test_bad_arguments_exit_2():
    assert run("plan")[0] == 2
    assert run("nonsense")[0] == 2
    assert run("frontier", "monthly_100k", "--points", "1")[0] == 2


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"new content")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_real_process_exit_codes(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbudget: 10\nassets: [{id: a, expected_return: one}]\n")
    res = subprocess.run([sys.executable, "-m", "portfolio_mkt.cli", "plan", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "line 3" in res.stderr and "assets[0].expected_return" in res.stderr
    assert "Traceback" not in res.stderr
