"""Calibration harness: the table's arithmetic, and a small run (the full table is
``python benchmarks/calibration.py``)."""

from __future__ import annotations

import pytest

from portfolio_mkt.mmm._calibration import calibrate, summarize_calibration


def test_summary_arithmetic():
    recs = [
        {"coverage": [("roi", "a", True), ("roi", "b", False), ("outcome_recommended",
                                                                 "plan", True)],
         "directions": [("a", 0.9, True), ("b", 0.5, False)],
         "regret": 0.02, "regret_mean_curve": 0.03, "regret_historical": 0.1},
        {"coverage": [("roi", "a", True), ("roi", "b", True), ("outcome_recommended",
                                                                "plan", False)],
         "directions": [("a", 0.95, False), ("b", 0.99, True)],
         "regret": 0.04, "regret_mean_curve": 0.01, "regret_historical": 0.2},
    ]
    t = summarize_calibration(recs)
    assert t.loc["coverage of 90% interval: roi", "value"] == pytest.approx(0.75)
    assert t.loc["coverage of 90% interval: all", "value"] == pytest.approx(4 / 6)
    sure = t.loc["directions stated at >= 85%: share right"]
    assert sure["value"] == pytest.approx(2 / 3) and sure["n"] == 3
    assert t.loc["directions, all: share right", "value"] == pytest.approx(0.5)
    assert t.loc["mean regret", "value"] == pytest.approx(0.03)


def test_small_calibration_run_is_sane():
    recs = calibrate([100, 101, 102], n_draws=40, method="laplace")
    t = summarize_calibration(recs)
    # three worlds only: loose bounds; the 20-seed table is in docs/mmm.md
    assert t.loc["coverage of 90% interval: all", "value"] >= 0.6
    assert t.loc["mean regret", "value"] < t.loc["mean regret historical", "value"]
    assert t.loc["mean regret", "value"] < 0.10  # 8.2% on these three hard worlds
