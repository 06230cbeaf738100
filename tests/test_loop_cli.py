"""The loop's command line: record, actuals, monitor, override, backtest; exit codes 0/1/2."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from portfolio_mkt.commands import loop as loop_cmd
from portfolio_mkt.loop import Workspace
from portfolio_mkt.simulate import simulate_history


def run(argv):
    parser = argparse.ArgumentParser(prog="portfolio-mkt")
    sub = parser.add_subparsers(dest="command", required=True)
    loop_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_record_actuals_override_monitor(tmp_path, capsys):
    ws = str(tmp_path / "ws.db")
    assert run(["record", "us_ru_weekly", "--approved-by", "cfo", "--workspace", ws]) == 0
    out = capsys.readouterr().out
    assert "recorded plan 1 (us_ru_weekly)" in out
    with Workspace(ws) as w:
        rows = w.allocations(1)
        plan = w.plan()
    assert plan["approved_by"] == "cfo" and plan["estimates_hash"]
    assert "budget" in plan["plan_text"]
    from portfolio_mkt.plan import load_plan

    budget = load_plan("us_ru_weekly").spec.budget_amount
    assert rows["spend"].sum() == pytest.approx(budget, rel=1e-6)
    assert (rows["low"] <= rows["expected"]).all() and (rows["expected"] <= rows["high"]).all()
    # actuals: on plan everywhere except one asset that delivered nothing
    act = rows[["period", "asset", "spend", "expected"]].rename(columns={"expected": "outcome"})
    worst = act.sort_values("spend").iloc[-1]["asset"]
    act.loc[act["asset"] == worst, "outcome"] = 0.0
    f = tmp_path / "actuals.csv"
    act.to_csv(f, index=False)
    assert run(["actuals", str(f), "--workspace", ws]) == 0
    assert f"stored {len(act)} actual rows" in capsys.readouterr().out
    assert run(["override", worst, "1000", "--reason", "brand safety", "--by", "ann",
                "--workspace", ws]) == 0
    out = capsys.readouterr().out
    assert f"override 1: {worst}" in out and "confidence" in out
    assert run(["monitor", "--workspace", ws, "--plot", str(tmp_path / "charts")]) == 0
    out = capsys.readouterr().out
    assert f"- {worst}" in out and "-100.0%" in out
    assert "brand safety" in out
    assert (tmp_path / "charts" / f"{worst}.png").is_file()
    with Workspace(ws) as w:
        assert list(w.alerts()["asset"]) == [worst]


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    ws = str(tmp_path / "ws.db")
    bad = tmp_path / "bad.csv"
    bad.write_text("period,asset,spend,outcome\n2025-01-06,a,ten,1\n")
    assert run(["actuals", str(bad), "--workspace", ws]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'spend'" in err and "row 2" in err
    assert run(["override", "a", "5", "--reason", "x", "--by", "me", "--workspace", ws]) == 2
    assert "no plan is recorded" in capsys.readouterr().err
    assert run(["record", "no_such_plan.yaml", "--workspace", ws]) == 2
    assert run(["backtest", str(tmp_path / "missing.csv"), "--workspace", ws]) == 2
    junk = tmp_path / "junk.db"
    junk.write_text("not a database" * 200)
    assert run(["monitor", "--workspace", str(junk)]) == 2


def test_backtest_command(tmp_path, capsys):
    sim = simulate_history(n_periods=40, random_state=4, markets=("US",), n_new_creators=0)
    f = tmp_path / "h.csv"
    sim.history.to_csv(f, index=False)
    assert run(["backtest", str(f), "--start", "26", "--decisions", "1",
                "--workspace", str(tmp_path / "ws.db")]) == 0
    out = capsys.readouterr().out
    assert "out-of-sample" in out and "library" in out and "historical" in out
    assert "forecast error" in out


def test_plan_file_locks_are_recorded_as_overrides(tmp_path, capsys):
    ws = str(tmp_path / "ws.db")
    assert run(["record", "us_ru_creators", "--approved-by", "cfo", "--workspace", ws,
                "--start", "2025-01-06", "--periods", "2"]) == 0
    with Workspace(ws) as w:
        ov = w.overrides().set_index("asset")
        rows = w.allocations()
    assert {"ru_creator_anya", "ru_creator_dmitri"} <= set(ov.index)
    assert ov.loc["ru_creator_anya", "spend_to"] == pytest.approx(30_000, rel=1e-6)
    assert ov.loc["ru_creator_anya", "reason"] == "plan file lock 'committed_anya'"
    assert ov.loc["ru_creator_anya", "who"] == "cfo"
    assert ov.loc["ru_creator_anya", "spend_from"] != pytest.approx(30_000, rel=1e-3)
    assert sorted(rows["period"].unique()) == [pd.Timestamp("2025-01-06"),
                                                pd.Timestamp("2025-01-13")]
