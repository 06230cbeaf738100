"""Exploration budget: test sizes (power by Monte Carlo) and the simulator with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from portfolio_mkt.exceptions import InputError
from portfolio_mkt.integer import plan_exploration, readable_test_spend, simulate_exploration


def test_test_size_gives_the_stated_power():
    """A test of the computed size detects the hurdle with power 0.8 at level 0.05."""
    noise, hurdle, weeks = 12_000.0, 2.0, 6
    s = readable_test_spend(noise, hurdle, weeks)
    rng = np.random.default_rng(0)
    draws = 20_000
    # weekly outcomes at true ROI = hurdle, measured ROI = mean outcome / weekly spend
    outcomes = hurdle * s + rng.normal(0, noise, size=(draws, weeks))
    roi = outcomes.mean(axis=1) / s
    se = noise / (s * np.sqrt(weeks))
    reject = roi / se > norm.ppf(0.95)
    assert reject.mean() == pytest.approx(0.80, abs=0.015)
    # and at ROI 0 it rejects at the level
    null = rng.normal(0, noise, size=(draws, weeks)).mean(axis=1) / s / se > norm.ppf(0.95)
    assert null.mean() == pytest.approx(0.05, abs=0.01)


def _candidates():
    idx = ["n1", "n2", "n3", "n4", "n5"]
    mean = pd.Series([1.5, 1.9, 1.0, 2.4, 1.7], index=idx)
    se = pd.Series([0.8, 0.2, 0.3, 0.05, 0.6], index=idx)
    return mean, se


def test_ucb_ranks_and_sizes_tests_within_the_reserve():
    mean, se = _candidates()
    plan = plan_exploration(mean, se, noise_sd=15_000.0, budget=1_000_000.0, share=0.1,
                            hurdle=2.0)
    assert plan.allocated <= plan.reserved + 1e-6
    assert plan.reserved == pytest.approx(100_000.0)
    # n1 (1.5 + 0.8) , n4 (2.45) , n5 (2.3) beat the hurdle; n2 (2.1) too; n3 (1.3) does not
    assert "n3" in plan.skipped.index
    assert plan.skipped.loc["n3", "why"].startswith("score below")
    t = plan.tests
    assert list(t["score"]) == sorted(t["score"], reverse=True)
    # every test is readable: it detects the hurdle
    assert (t["mde"] <= 2.0 * (1 + 1e-9)).all()
    assert (t["weeks"] >= 4).all()
    assert np.allclose(t["budget"], t["weekly_spend"] * t["weeks"])
    assert (t["scale_if"] > 2.0).all()
    assert "hurdle" in plan.summary()


def test_absorption_limit_lengthens_the_test():
    mean = pd.Series({"a": 2.5})
    short = plan_exploration(mean, 0.5, 20_000.0, 1e6, 0.2, hurdle=2.0)
    cap = float(short.tests["weekly_spend"].iloc[0]) * 0.7
    longer = plan_exploration(mean, 0.5, 20_000.0, 1e6, 0.2, hurdle=2.0, max_weekly_spend=cap)
    assert longer.tests["weeks"].iloc[0] > short.tests["weeks"].iloc[0]
    assert longer.tests["weekly_spend"].iloc[0] <= cap


def test_thompson_is_seeded():
    mean, se = _candidates()
    a = plan_exploration(mean, se, 15_000.0, 1e6, 0.1, hurdle=2.0, rule="thompson",
                         random_state=3)
    b = plan_exploration(mean, se, 15_000.0, 1e6, 0.1, hurdle=2.0, rule="thompson",
                         random_state=3)
    pd.testing.assert_frame_equal(a.tests, b.tests)


@pytest.mark.parametrize("kw,match", [
    ({"share": 1.5}, "share"), ({"rule": "greedy"}, "rule"), ({"hurdle": -1.0}, "hurdle"),
    ({"noise_sd": pd.Series({"n1": 1.0})}, "noise_sd"),
])
def test_bad_exploration_input(kw, match):
    mean, se = _candidates()
    args = {"noise_sd": 1000.0, "budget": 1e6, **kw}
    with pytest.raises(InputError, match=match):
        plan_exploration(mean, se, **args)


def test_exploring_finds_the_strong_newcomer_exploiting_never_does():
    """Simulator with known truth: new_0 returns 3.5, every known creator 1.6-2.6, and the
    newcomers' prior mean is 1.6. Stated: exploring funds new_0 within 4 quarters."""
    found_explore, regret = [], []
    for seed in range(4):
        exploit = simulate_exploration("exploit", quarters=6, seed=seed)
        explore = simulate_exploration("explore", quarters=6, seed=seed)
        assert not exploit["found"].any()                    # never funded, never learnt
        assert (exploit["strong_estimate"] == 1.6).all()
        q = explore.index[explore["found"]]
        found_explore.append(q.min() if len(q) else np.inf)
        regret.append((explore["regret"].sum(), exploit["regret"].sum()))
    assert max(found_explore) <= 4
    # over six quarters exploring pays for its tests
    assert all(e < x for e, x in regret)


def test_exploring_costs_little_when_there_is_nothing_to_find():
    """No strong newcomer (its return is the prior mean): the regret of exploring."""
    extra = []
    for seed in range(3):
        exploit = simulate_exploration("exploit", quarters=4, seed=seed, strong_return=1.6)
        explore = simulate_exploration("explore", quarters=4, seed=seed, strong_return=1.6)
        extra.append((explore["regret"].sum() - exploit["regret"].sum())
                     / exploit["oracle"].sum())
    # the cost is positive but bounded by the reserve's share of the outcome
    assert max(extra) < 0.05
