"""Approval rules fire on constructed cases; block resampling is exact bookkeeping."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.confidence import (
    ApprovalRules,
    approval_flags,
    approval_messages,
    block_bootstrap_indices,
    recommendation_direction,
    resample_history,
)
from portfolio_mkt.exceptions import EstimationError, InputError

IDS = ["us_search", "us_brand_video", "ru_creator_1", "ru_social", "us_email"]


def _alloc(spend, current, tags=None, market=None):
    spend = pd.Series(spend, index=IDS, dtype=float)
    current = pd.Series(current, index=IDS, dtype=float)
    assets = pd.DataFrame(
        {
            "market": market or ["US", "US", "RU", "RU", "US"],
            "channel": ["search", "video", "influencer", "social", "email"],
            "tags": tags or ["", "brand;video", "creator", "", ""],
        },
        index=IDS,
    )
    problem = SimpleNamespace(assets=assets, current=current)
    return SimpleNamespace(spend=spend, change=spend - current, problem=problem)


# current: 100 each except email 0 (new asset)
CUR = [100, 100, 100, 100, 0]


def test_default_rules_fire_on_each_constructed_case():
    # us_search +10% exactly (not more: no flag), brand video -5% (brand cut: flag),
    # ru_creator +10.5% (flag), ru_social -30% (flag), email new spend (flag)
    alloc = _alloc([110, 95, 110.5, 70, 14.5], CUR)
    flags = approval_flags(alloc)
    got = set(zip(flags["rule"], flags["asset"], strict=True))
    assert got == {
        ("protected_tags", "us_brand_video"),
        ("max_change", "ru_creator_1"),
        ("max_change", "ru_social"),
        ("max_change", "us_email"),
    }
    row = flags.set_index(["rule", "asset"]).loc[("max_change", "ru_social")]
    assert row["change"] == pytest.approx(-30.0)
    assert row["change_pct"] == pytest.approx(-0.30)
    assert "from 100 to 70 (-30.0%)" in row["message"]
    brand = flags.set_index("rule").loc["protected_tags", "message"]
    assert "tagged brand" in brand and "-5.0%" in brand


def test_no_flags_when_nothing_moves_much():
    alloc = _alloc([105, 100, 95, 100.0, 0], CUR)
    assert approval_flags(alloc).empty
    assert approval_messages(alloc) == []


def test_rules_can_be_switched_off_and_tuned():
    alloc = _alloc([110, 95, 110.5, 70, 14.5], CUR)
    rules = ApprovalRules(max_change=0.35, protected_tags=(), min_amount=20)
    # only changes above 20 money count, moves up to 35% allowed -> nothing
    assert approval_flags(alloc, rules).empty
    rules = ApprovalRules(max_change=None, protected_tags="creator")
    flags = approval_flags(alloc, rules)
    assert flags.empty  # creator increased, not cut
    flags = approval_flags(_alloc([100, 100, 80, 100, 0], CUR), rules)
    assert flags["asset"].tolist() == ["ru_creator_1"]


def test_group_rule_by_channel_aggregates():
    # two US assets swap 30 between them: each moves 30%, the market does not move
    alloc = _alloc([130, 70, 100, 100, 0], CUR)
    flags = approval_flags(alloc, ApprovalRules(group_by="market", protected_tags=()))
    assert flags.empty
    alloc = _alloc([130, 100, 100, 100, 0], CUR)
    flags = approval_flags(alloc, ApprovalRules(group_by="market", protected_tags=()))
    assert flags["asset"].tolist() == ["market=US"]
    assert flags["change_pct"].iloc[0] == pytest.approx(30 / 200)
    with pytest.raises(InputError, match="group_by"):
        approval_flags(alloc, ApprovalRules(group_by="region"))


def test_protected_region_flags_any_change():
    alloc = _alloc([100, 100, 103, 98, 0], CUR)
    flags = approval_flags(alloc, ApprovalRules(protected={"market": "RU"}))
    assert flags["asset"].tolist() == ["ru_creator_1", "ru_social"]
    assert (flags["rule"] == "protected").all()


def test_low_confidence_flags_with_series():
    alloc = _alloc([100, 100, 100, 100, 0], CUR)
    conf = pd.Series([0.9, 0.84, 0.85, 0.2, np.nan], index=IDS)
    flags = approval_flags(alloc, confidence=conf)
    assert flags["asset"].tolist() == ["us_brand_video", "ru_social"]
    assert "84%" in flags["message"].iloc[0] and "85%" in flags["message"].iloc[0]
    assert "recommendation to keep spend holds" in flags["message"].iloc[0]
    moved = approval_flags(_alloc([100, 60, 100, 100, 0], CUR), ApprovalRules(
        max_change=None, protected_tags=()), confidence=conf)
    assert "recommendation to cut spend holds in only 84%" in moved["message"].iloc[0]
    assert approval_flags(alloc, ApprovalRules(min_confidence=None), confidence=conf).empty


def test_bad_rules_and_inputs():
    with pytest.raises(InputError, match="max_change"):
        ApprovalRules(max_change=-0.1)
    with pytest.raises(InputError, match="min_confidence"):
        ApprovalRules(min_confidence=85)
    with pytest.raises(InputError, match="Allocation"):
        approval_flags(object())


def test_without_current_only_confidence_rules_apply():
    alloc = SimpleNamespace(spend=pd.Series([1.0, 2.0], index=["a", "b"]), change=None)
    assert approval_flags(alloc).empty
    flags = approval_flags(alloc, confidence={"a": 0.5, "b": 0.99})
    assert flags["asset"].tolist() == ["a"]


def test_direction_dead_band():
    d = recommendation_direction([101.0, 98.0, 0.0, 5.0], [100.0, 100.0, 0.0, 0.0],
                                 tolerance=0.015, atol=1.0)
    assert d.tolist() == ["hold", "decrease", "hold", "increase"]


# ---------------------------------------------------------------------------- resampling


def test_block_indices_are_blocks_and_seeded():
    pos = block_bootstrap_indices(20, 50, 4, random_state=1)
    again = block_bootstrap_indices(20, 50, 4, random_state=1)
    np.testing.assert_array_equal(pos, again)
    assert pos.shape == (50, 20) and pos.min() >= 0 and pos.max() <= 19
    # inside each block of 4 the positions are consecutive (mod 20)
    blocks = pos.reshape(50, 5, 4)
    np.testing.assert_array_equal(np.diff(blocks, axis=2) % 20, 1)
    moving = block_bootstrap_indices(20, 200, 4, random_state=2, method="moving")
    assert (np.diff(moving.reshape(200, 5, 4), axis=2) == 1).all()  # never wraps
    # circular: every period equally likely -> mean frequency uniform-ish
    freq = np.bincount(block_bootstrap_indices(10, 4000, 3, 0).ravel(), minlength=10)
    assert freq.min() > 0.9 * freq.mean()
    with pytest.raises(InputError):
        block_bootstrap_indices(1, 5, 1)
    with pytest.raises(InputError):
        block_bootstrap_indices(10, 5, 11)


def test_resample_history_long_and_wide():
    periods = pd.date_range("2024-01-01", periods=4, freq="W")
    long = pd.DataFrame(
        {
            "period": np.repeat(periods, 2),
            "asset": ["a", "b"] * 4,
            "spend": np.arange(8.0),
        }
    ).iloc[::-1]  # row order must not matter
    out = resample_history(long, np.array([2, 2, 0, 3]), "period")
    assert list(out["period"].unique()) == list(periods)
    assert out["period"].dtype == long["period"].dtype
    got = out.groupby(["period", "asset"])["spend"].first().unstack()
    np.testing.assert_array_equal(got["a"].to_numpy(), [4, 4, 0, 6])
    np.testing.assert_array_equal(got["b"].to_numpy(), [5, 5, 1, 7])

    wide = pd.DataFrame({"a": [1.0, 2, 3], "b": [4.0, 5, 6]}, index=pd.Index([10, 20, 30],
                                                                          name="period"))
    out = resample_history(wide, np.array([1, 1, 0]), period_col=None)
    assert list(out.index) == [10, 20, 30]
    np.testing.assert_array_equal(out["a"].to_numpy(), [2, 2, 1])
    with pytest.raises(EstimationError, match="no column 'week'"):
        resample_history(long, np.array([0, 1, 2, 3]), "week")


def _bootstrap_se_of_mean(x: np.ndarray, block: int, n: int = 2000, seed: int = 0) -> float:
    pos = block_bootstrap_indices(len(x), n, block, random_state=seed)
    return float(x[pos].mean(axis=1).std(ddof=1))


def test_iid_bootstrap_se_matches_the_textbook_standard_error():
    rng = np.random.default_rng(42)
    x = rng.normal(0.0, 2.0, size=150)
    se = _bootstrap_se_of_mean(x, block=1)
    textbook = x.std(ddof=0) / np.sqrt(len(x))
    assert se == pytest.approx(textbook, rel=0.05)


def test_blocks_keep_autocorrelation_in_the_standard_error():
    # AR(1) with rho = 0.8: the long-run standard error of the mean is sigma_e / (1 - rho)
    # / sqrt(T), three times the naive one for the marginal sd; blocks recover most of it
    rng = np.random.default_rng(5)
    rho, n_t = 0.8, 400
    e = rng.normal(0.0, 1.0, n_t + 200)
    x = np.zeros_like(e)
    for t in range(1, len(e)):
        x[t] = rho * x[t - 1] + e[t]
    x = x[200:]
    long_run = 1.0 / (1 - rho) / np.sqrt(n_t)
    iid = _bootstrap_se_of_mean(x, block=1)
    blocks = _bootstrap_se_of_mean(x, block=20)
    assert iid < 0.5 * long_run
    assert blocks == pytest.approx(long_run, rel=0.3)
