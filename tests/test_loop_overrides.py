"""Overrides: what is recorded, and how they performed against the model, by reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import portfolio_mkt as pm
from portfolio_mkt.loop import (
    Workspace,
    WorkspaceError,
    override_report,
    record_actuals,
    record_allocation,
    record_override,
)
from portfolio_mkt.response import ExponentialSaturation

PERIODS = list(pd.date_range("2025-01-06", periods=8, freq="W-MON"))
CURVES = {"a": ExponentialSaturation(beta=8 * 300.0, k=8 * 100.0),
          "b": ExponentialSaturation(beta=8 * 200.0, k=8 * 150.0),
          "c": ExponentialSaturation(beta=8 * 10.0, k=8 * 100.0)}  # not worth funding
SD = pd.Series({"a": 0.3, "b": 0.4, "c": 0.2})


@pytest.fixture()
def ws(tmp_path):
    problem = pm.Problem(pd.Series(1.0, index=list(CURVES)), budget=8 * 150.0,
                         response=CURVES, risk_aversion=0.0)
    alloc = pm.solve(problem)
    with Workspace(tmp_path / "ws.db") as w:
        record_allocation(w, alloc, PERIODS, sd_per_unit=SD)
        yield w


def _weekly(a, x):
    c = CURVES[a]
    return float(c.beta / 8 * (1 - np.exp(-x / (c.k / 8))))


def test_override_records_who_why_and_confidence(ws):
    rows = ws.allocations(1)
    x = rows[rows.period == PERIODS[0]].set_index("asset")
    lam = float(np.median(x.loc[x.spend > 0, "marginal"]))
    oid = record_override(ws, "a", 2 * x.loc["a", "spend"], reason="launch", by="ann")
    o = ws.overrides().set_index("id").loc[oid]
    assert (o["who"], o["reason"], o["spend_from"]) == ("ann", "launch", x.loc["a", "spend"])
    # an interior asset: the model is indifferent at the margin
    assert o["confidence"] == pytest.approx(0.5, abs=1e-3)
    # asset c is unfunded because its marginal return is below the value of money: the model
    # is confident adding money there is worse
    oid = record_override(ws, "c", 20.0, reason="habit", by="bob")
    conf = ws.overrides().set_index("id").loc[oid, "confidence"]
    m_c = x.loc["c", "marginal"]
    assert conf == pytest.approx(norm.cdf((lam - m_c) / SD["c"]), rel=1e-9)
    assert conf > 0.5
    with pytest.raises(WorkspaceError, match="not in plan"):
        record_override(ws, "zz", 1.0, reason="r", by="me")
    with pytest.raises(pm.exceptions.InputError, match="reason"):
        record_override(ws, "a", 1.0, reason=" ", by="me")


def test_override_report_against_counterfactual(ws):
    rows = ws.allocations(1)
    x = rows[rows.period == PERIODS[0]].set_index("asset")
    lam = float(np.median(x.loc[x.spend > 0, "marginal"]))
    ya = 2 * x.loc["a", "spend"]
    record_override(ws, "a", ya, reason="launch", by="ann")
    record_override(ws, "c", 20.0, reason="habit", by="bob", period=PERIODS[0])
    # actuals: exactly the true weekly response at the spend made (noise-free)
    act = []
    for p in PERIODS:
        for a in CURVES:
            s = ya if a == "a" else (20.0 if (a == "c" and p == PERIODS[0]) else x.loc[a, "spend"])
            act.append((p, a, s, _weekly(a, s)))
    record_actuals(ws, pd.DataFrame(act, columns=["period", "asset", "spend", "outcome"]))
    per, by_reason = override_report(ws)
    assert len(per) == len(PERIODS) + 1
    ra = per[per.asset == "a"].iloc[0]
    expect = _weekly("a", ya) - _weekly("a", x.loc["a", "spend"]) - lam * (ya - x.loc["a", "spend"])
    assert ra["net_gain"] == pytest.approx(expect, rel=1e-6)
    assert ra["counterfactual"] == pytest.approx(_weekly("a", x.loc["a", "spend"]), rel=1e-6)
    z = norm.ppf(0.995)
    assert ra["gain_high"] - ra["net_gain"] == pytest.approx(z * SD["a"] * x.loc["a", "spend"])
    # doubling a saturating asset past the optimum loses, net of the money it took
    assert expect < 0
    g = by_reason.loc["launch"]
    assert g["periods"] == len(PERIODS) and g["net_gain"] == pytest.approx(len(PERIODS) * expect)
    half = z * np.sqrt(len(PERIODS)) * SD["a"] * x.loc["a", "spend"]
    assert g["gain_high"] == pytest.approx(len(PERIODS) * expect + half)
    assert g["won"] == 0.0
    verdict = "lost" if len(PERIODS) * expect + half < 0 else "no clear"
    assert verdict in g["verdict"]
    assert by_reason.loc["habit", "periods"] == 1
