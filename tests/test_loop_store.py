"""The workspace database: atomic writes under SIGKILL, concurrent writers, migrations."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.loop import MIGRATIONS, SCHEMA_VERSION, Workspace, WorkspaceError

CTX = multiprocessing.get_context("fork")  # children start instantly (no re-import)


def _writer(path: str, ready) -> None:
    ws = Workspace(path)
    ready.set()
    i = 0
    while True:
        i += 1
        n = 50 + (i % 7) * 40
        if i % 2:
            # through the public method: a plan and n allocation rows in one transaction
            ws.add_plan(name=f"p{i}_n{n}", plan_text="x" * 2000, plan_hash="h",
                        allocations=[{"asset": f"a{j}", "period": "2024-01-01",
                                      "spend": 1.0, "expected": 2.0} for j in range(n)])
        else:
            # a slow transaction, so that kills land inside it
            with ws.transaction() as con:
                cur = con.execute(
                    "INSERT INTO plans (name, plan_text, plan_hash, created) VALUES (?, ?, ?, ?)",
                    (f"slow{i}_n{n}", "y", "h", "now"))
                pid = cur.lastrowid
                for j in range(n):
                    con.execute(
                        "INSERT INTO allocations (plan_id, asset, period, spend, expected) "
                        "VALUES (?, ?, ?, ?, ?)", (pid, f"a{j}", "2024-01-01", 1.0, 2.0))
                    if j % 25 == 0:
                        time.sleep(0.002)


def _check_complete(path: Path) -> int:
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute(
        "SELECT p.name, COUNT(a.asset) FROM plans p LEFT JOIN allocations a ON a.plan_id = p.id "
        "GROUP BY p.id"
    ).fetchall()
    orphans = con.execute(
        "SELECT COUNT(*) FROM allocations WHERE plan_id NOT IN (SELECT id FROM plans)"
    ).fetchone()[0]
    con.close()
    assert orphans == 0
    for name, count in rows:
        assert count == int(name.rsplit("_n", 1)[1]), f"partial record {name}: {count} rows"
    return len(rows)


def test_sigkill_mid_transaction_leaves_no_partial_record(tmp_path):
    path = tmp_path / "ws.db"
    Workspace(path).close()
    rng = np.random.default_rng(0)
    total = 0
    for _ in range(40):
        ready = CTX.Event()
        proc = CTX.Process(target=_writer, args=(str(path), ready))
        proc.start()
        assert ready.wait(60)
        time.sleep(float(rng.uniform(0.01, 0.15)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        total = _check_complete(path)
    # the writer made progress between kills (so kills did land during writes)
    assert total >= 40
    with Workspace(path) as ws:  # the file still opens and takes writes
        ws.add_override(asset="a0", spend_to=1.0, who="me", reason="after kills")
        assert len(ws.overrides()) == 1


def _concurrent(path: str, tag: str, n: int, go) -> None:
    go.wait(60)
    ws = Workspace(path)
    for i in range(n):
        ws.add_actuals(pd.DataFrame({"period": ["2024-01-01"], "asset": [f"{tag}_{i}"],
                                    "spend": [1.0], "outcome": [float(i)]}), source=tag)
        ws.add_override(asset=f"{tag}_{i}", spend_to=float(i), who=tag, reason="load")


def test_two_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "ws.db"  # created by the writers themselves, at the same moment
    n = 150
    go = CTX.Event()
    procs = [CTX.Process(target=_concurrent, args=(str(path), t, n, go)) for t in ("w1", "w2")]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    with Workspace(path) as ws:
        act = ws.actuals()
        ov = ws.overrides()
        assert ws.schema_version == SCHEMA_VERSION
    assert len(act) == 2 * n and len(ov) == 2 * n
    assert act.groupby("source").size().to_dict() == {"w1": n, "w2": n}
    assert sorted(act.loc[act.source == "w2", "outcome"]) == [float(i) for i in range(n)]
    # the two writers really interleaved
    order = list(ov["who"])
    assert order.index("w2") < len(order) - 1 - order[::-1].index("w1")


def _make_v1(path: Path) -> None:
    con = sqlite3.connect(path)
    for sql in MIGRATIONS[1]:
        con.execute(sql)
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO plans (name, plan_text, plan_hash, created, approved_by) "
        "VALUES ('old', 'budget: 1', 'abc', '2024-01-01', 'ann')"
    )
    con.execute(
        "INSERT INTO allocations VALUES (1, 'us_search', '2024-01-01', 100.0, 300.0, 250.0, 350.0)"
    )
    con.execute(
        "INSERT INTO actuals VALUES ('us_search', '2024-01-01', 100.0, 200.0, 'f.csv', 'now')"
    )
    for _ in range(2):  # v1 allowed the same alert twice
        con.execute(
            "INSERT INTO alerts (plan_id, asset, period, kind, created) "
            "VALUES (1, 'us_search', '2024-01-01', 'deviation', 'now')"
        )
    con.commit()
    con.close()


def test_v1_database_migrates(tmp_path):
    path = tmp_path / "v1.db"
    _make_v1(path)
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION == 2
        alloc = ws.allocations()
        assert alloc.loc[0, "spend"] == 100.0 and alloc.loc[0, "high"] == 350.0
        assert {"marginal", "sd_per_unit", "level"} <= set(alloc.columns)
        assert alloc[["marginal", "sd_per_unit", "level"]].isna().all().all()
        assert len(ws.alerts()) == 1  # the duplicate was dropped, then forbidden
        assert ws.add_alerts([{"plan_id": 1, "asset": "us_search", "period": "2024-01-01",
                               "kind": "deviation"}]) == 0
        assert ws.plan()["approved_by"] == "ann"
        assert ws.actuals().loc[0, "period"] == pd.Timestamp("2024-01-01")
    with Workspace(path) as ws:  # opening again is a no-op
        assert ws.schema_version == 2 and len(ws.plans()) == 1


def test_newer_file_and_non_database_are_refused(tmp_path):
    path = tmp_path / "new.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(WorkspaceError, match="newer"):
        Workspace(path)
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="not a portfolio_mkt workspace"):
        Workspace(junk)


def test_failed_write_rolls_back(tmp_path):
    with Workspace(tmp_path / "ws.db") as ws:
        with pytest.raises(sqlite3.IntegrityError):
            ws.add_plan(name="bad", plan_text="t", plan_hash="h",
                        allocations=[{"asset": "a", "period": "2024-01-01", "spend": 1.0,
                                      "expected": 1.0},
                                     {"asset": "a", "period": "2024-01-01", "spend": 1.0,
                                      "expected": 1.0}])  # duplicate key: second row fails
        assert ws.plans().empty and ws.allocations().empty
        assert ws.query("PRAGMA journal_mode").iloc[0, 0] == "wal"


def test_sql_is_parameterised(tmp_path):
    evil = "x'); DROP TABLE plans; --"
    with Workspace(tmp_path / "ws.db") as ws:
        ws.add_override(asset=evil, spend_to=1.0, who=evil, reason=evil)
        assert ws.overrides().loc[0, "asset"] == evil
        assert ws.plans().empty  # the table still exists


def test_monitor_on_a_migrated_v1_plan(tmp_path):
    from portfolio_mkt.loop import monitor

    path = tmp_path / "v1.db"
    _make_v1(path)  # v1 row: spend 100, expected 300, interval [250, 350], no local model
    with Workspace(path) as ws:
        ws.add_actuals(pd.DataFrame({"period": ["2024-01-01"], "asset": ["us_search"],
                                     "spend": [50.0], "outcome": [100.0]}))
        t = monitor(ws).table.iloc[0]
    # no marginal recorded: the prediction and the interval scale with spend / planned spend
    assert t["predicted"] == pytest.approx(150.0)
    assert (t["low"], t["high"]) == (pytest.approx(125.0), pytest.approx(175.0))
    assert t["deviation"] == pytest.approx(-1 / 3)
    assert t["alert"]
