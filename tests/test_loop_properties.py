"""Invariants of the loop's building blocks (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_mkt.loop import OverridePolicy, cusum
from portfolio_mkt.loop._store import period_key, period_value

finite = st.floats(-50, 50, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=60), st.floats(0, 2), st.floats(0.5, 20))
def test_cusum_is_nonnegative_and_alarms_only_past_h(z, k, h):
    c = cusum(np.array(z), k=k, h=h)
    assert (c["cusum_low"] >= 0).all() and (c["cusum_high"] >= 0).all()
    fired = c["drift"] != ""
    assert ((c["cusum_low"] > h) | (c["cusum_high"] > h))[fired].all()
    assert not ((c["cusum_low"] > h) | (c["cusum_high"] > h))[~fired].any()


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=40))
def test_cusum_silent_within_allowance(z):
    # residuals never beyond the allowance never accumulate
    assert (cusum(np.array(z), k=1.0, h=0.5)["drift"] == "").all()


@given(st.dictionaries(st.sampled_from(list("abcde")), st.floats(0, 3), max_size=5),
       st.lists(st.floats(0.1, 100), min_size=5, max_size=5), st.floats(1, 1e6))
@settings(max_examples=60)
def test_override_policy_spends_the_budget(ratios, spend, budget):
    base = pd.Series(spend, index=list("abcde"))
    base = base / base.sum() * budget
    out = OverridePolicy(ratios).apply(base, budget)
    assert (out >= 0).all()
    if out.sum() > 0:
        assert np.isclose(out.sum(), budget, rtol=1e-9)


@given(st.one_of(st.integers(-10_000, 10_000),
                 st.dates().map(lambda d: pd.Timestamp(d))))
def test_period_key_round_trips(p):
    back = period_value(period_key(p))
    assert back == p
