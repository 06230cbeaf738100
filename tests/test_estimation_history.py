"""History input: every validation error names the rows; the returns matrix keeps gappy assets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portfolio_mkt.estimation import (
    asset_table,
    pivot_history,
    returns_matrix,
    validate_history,
)
from portfolio_mkt.exceptions import EstimationError


def small_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-15", "2024-01-15"],
            "asset": ["us_search", "ru_nano_1", "us_search", "us_search", "ru_nano_1"],
            "market": ["US", "RU", "US", "US", "RU"],
            "channel": ["search", "influencer", "search", "search", "influencer"],
            "tier": [None, "nano", None, None, "nano"],
            "spend": [100.0, 10.0, 200.0, 100.0, 0.0],
            "outcome": [300.0, 40.0, 500.0, 280.0, 5.0],
        }
    )


def test_returns_matrix_keeps_periods_and_gaps():
    r = returns_matrix(small_history())
    assert list(r.columns) == ["us_search", "ru_nano_1"]
    assert len(r) == 3  # no period dropped although ru_nano_1 misses one
    np.testing.assert_allclose(r["us_search"], [3.0, 2.5, 2.8])
    assert r["ru_nano_1"].iloc[0] == 4.0
    assert np.isnan(r["ru_nano_1"].iloc[1])  # no row
    assert np.isnan(r["ru_nano_1"].iloc[2])  # zero spend: undefined


def test_asset_table_and_pivot():
    h = small_history()
    at = asset_table(h)
    assert list(at.index) == ["us_search", "ru_nano_1"]
    assert at.loc["ru_nano_1", "tier"] == "nano"
    assert {"market", "channel", "tier"} <= set(at.columns)
    sp = pivot_history(h, "spend")
    assert sp.loc[pd.Timestamp("2024-01-08"), "us_search"] == 200.0


def test_period_formats():
    h = small_history()
    h["period"] = [1, 1, 2, 3, 3]
    assert validate_history(h)["period"].dtype == np.int64
    h["period"] = pd.PeriodIndex(["2024-01", "2024-01", "2024-02", "2024-03", "2024-03"], freq="M")
    assert pd.api.types.is_datetime64_any_dtype(validate_history(h)["period"])


def bad(**changes):
    h = small_history()
    for col, (row, value) in changes.items():
        h.loc[row, col] = value
    return h


@pytest.mark.parametrize(
    ("history", "match"),
    [
        (small_history().drop(columns=["spend"]), "missing the column.*'spend'"),
        (small_history().drop(columns=["market", "period"]), "'period', 'market'"),
        (bad(spend=(2, -5.0)), r"negative spend in row 2 \(period 2024-01-08.*'us_search'\)"),
        (bad(outcome=(3, np.nan)), r"'outcome' is missing \(NaN\) in row 3"),
        (bad(spend=(1, np.inf)), "'spend' is infinite in row 1"),
        (bad(period=(4, "next tuesday")), r"'period' cannot be read as a date in row 4"),
        (bad(period=(2, "2024-01-01")), r"duplicate \(period, asset\) rows: row 0.*row 2"),
        (bad(market=(2, "RU")), "attribute 'market' changes between rows of asset.*'us_search'"),
        (small_history().iloc[:0], "history is empty"),
    ],
)
def test_validation_errors(history, match):
    with pytest.raises(EstimationError, match=match):
        validate_history(history)


def test_non_numeric_spend_and_non_frame():
    h = small_history()
    h["spend"] = h["spend"].astype(object)
    h.loc[1, "spend"] = "$10"
    with pytest.raises(EstimationError, match=r"'spend' is not a number in row 1.*currency"):
        validate_history(h)
    with pytest.raises(EstimationError, match="must be a pandas DataFrame"):
        validate_history([1, 2, 3])


def test_error_is_also_value_error():
    with pytest.raises(ValueError):
        validate_history(small_history().drop(columns=["asset"]))


def test_many_bad_rows_are_elided():
    h = pd.concat([small_history()] * 4, ignore_index=True)
    h["period"] = np.repeat(pd.date_range("2024-01-01", periods=4, freq="W-MON"), 5)
    h["asset"] = [f"a{i}" for i in range(20)]
    h["market"], h["channel"] = "US", "search"
    h["spend"] = -1.0
    with pytest.raises(EstimationError, match="and 15 more"):
        validate_history(h)


def test_list_valued_tags_become_strings():
    h = small_history()
    h["tags"] = [["brand", "new"], [], ["brand", "new"], ["brand", "new"], []]
    at = asset_table(h)
    assert at.loc["us_search", "tags"] == "brand;new"
    assert at.loc["ru_nano_1", "tags"] == ""
