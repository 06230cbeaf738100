"""A small world with known truth to measure exploration (is a strong newcomer found?).

Known creators have well-estimated returns; new creators start from a prior (the mean of
their peers, a wide standard error). One new creator is strong: its true return beats every
known one. Each quarter a policy plans on its current estimates, the world returns noisy
measurements of what was funded, and the estimates are updated (Gaussian, known noise).

- ``"exploit"``: the optimal plan on the estimates (full budget). A newcomer whose prior mean
  is below the plan's marginal return gets nothing, so nothing is learnt about it.
- ``"explore"``: the same plan on ``1 - share`` of the budget plus the tests of
  :func:`plan_exploration` on the reserved share.

Every outcome is evaluated on the true curves, next to the plan of an oracle that knows the
truth; the difference is the regret.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..optimization import solve
from ..problem import Problem
from ..response import Logarithmic
from ._explore import plan_exploration

__all__ = ["simulate_exploration"]


def _plan(theta: pd.Series, k: float, budget: float) -> tuple[pd.Series, float]:
    curves = {a: Logarithmic(max(t, 1e-6) * k, k) for a, t in theta.items()}
    alloc = solve(Problem(theta.clip(lower=1e-6), None, budget=budget, response=curves))
    funded = alloc.spend > 1e-6 * budget
    margin = float(alloc.marginal_return[funded].median()) if funded.any() else 0.0
    return alloc.spend, margin


def _value(spend: pd.Series, theta: pd.Series, k: float) -> float:
    x = spend.reindex(theta.index).fillna(0.0).to_numpy()
    return float((theta.to_numpy() * k * np.log1p(x / k)).sum())


def simulate_exploration(policy: Literal["explore", "exploit"] = "explore", *,
                         quarters: int = 8, n_known: int = 12, n_new: int = 8,
                         budget: float = 1_000_000.0, share: float = 0.10,
                         strong_return: float = 3.5, weekly_noise: float = 20_000.0,
                         rule: Literal["ucb", "thompson"] = "ucb",
                         saturation: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Run one policy for some quarters in a world with one strong new creator.

    Parameters
    ----------
    policy : {"explore", "exploit"}
    quarters : int, default 8
    n_known, n_new : int
        Creators with a long history and without one (``new_0`` is the strong one).
    budget : float
        Budget per quarter (13 weeks).
    share : float, default 0.10
        Exploration reserve (policy ``"explore"``).
    strong_return : float, default 3.5
        True return (outcome per money at zero spend) of ``new_0``; known creators have
        returns around 2 and the other newcomers are drawn from the prior ``N(1.6, 0.6)``.
    weekly_noise : float
        Standard deviation of a creator's weekly outcome.
    rule : {"ucb", "thompson"}
    saturation : float, default 0.5
        Every creator's curve is ``theta * k * log(1 + x / k)`` with ``k = saturation *
        budget`` (marginal return ``theta`` at zero spend).
    seed : int

    Returns
    -------
    DataFrame
        One row per quarter: ``outcome`` (true), ``oracle`` (true outcome of the plan that
        knows the truth), ``regret``, ``strong_spend`` (money on ``new_0`` in the
        exploitation plan), ``strong_tested``, ``strong_estimate``, ``found`` (``new_0``
        funded by the exploitation plan).
    """
    rng = np.random.default_rng(seed)
    known = [f"known_{i}" for i in range(n_known)]
    new = [f"new_{i}" for i in range(n_new)]
    k = saturation * budget
    theta = pd.Series(np.r_[rng.uniform(1.6, 2.6, n_known),
                            strong_return, rng.normal(1.6, 0.6, n_new - 1).clip(0.2)],
                      index=known + new)
    mean = pd.Series(np.r_[theta[known] + rng.normal(0, 0.05, n_known), np.full(n_new, 1.6)],
                     index=theta.index)
    se = pd.Series(np.r_[np.full(n_known, 0.05), np.full(n_new, 0.6)], index=theta.index)
    oracle_spend, _ = _plan(theta, k, budget)
    oracle = _value(oracle_spend, theta, k)
    rows = []
    for q in range(quarters):
        exploit_budget = budget * (1 - share) if policy == "explore" else budget
        spend, margin = _plan(mean, k, exploit_budget)
        tests = pd.DataFrame()
        if policy == "explore":
            cand = [a for a in new if se[a] > 0.15]
            if cand:
                ex = plan_exploration(mean[cand], se[cand], weekly_noise, budget, share,
                                      hurdle=margin, rule=rule, random_state=rng)
                tests = ex.tests
                if ex.leftover > 1e-9 * budget:  # unused reserve returns to the plan
                    spend, _ = _plan(mean, k, budget - ex.allocated)
            else:
                spend, _ = _plan(mean, k, budget)
        total = spend.copy()
        for a, r in tests.iterrows():
            total[a] = total.get(a, 0.0) + r["budget"]
        outcome = _value(total, theta, k)
        # measurements of everything funded this quarter (13 weeks), Gaussian updates
        for a in theta.index:
            x = float(total.get(a, 0.0))
            if x <= 1e-6 * budget:
                continue
            weekly = x / 13.0
            # average return measured on the true curve at this spend, with noise
            avg = theta[a] * k * np.log1p(x / k) / x
            m_se = weekly_noise / (weekly * np.sqrt(13.0))
            obs = avg + rng.normal(0.0, m_se)
            # the curve's shape is known: scale the average back to the return at zero
            factor = k * np.log1p(x / k) / x
            obs_theta, obs_se = obs / factor, m_se / factor
            prec = 1 / se[a] ** 2 + 1 / obs_se**2
            mean[a] = (mean[a] / se[a] ** 2 + obs_theta / obs_se**2) / prec
            se[a] = float(np.sqrt(1 / prec))
        rows.append({"quarter": q + 1, "outcome": outcome, "oracle": oracle,
                     "regret": oracle - outcome, "strong_spend": float(spend.get("new_0", 0.0)),
                     "strong_tested": "new_0" in tests.index,
                     "strong_estimate": float(mean["new_0"]),
                     "found": bool(spend.get("new_0", 0.0) > 0.01 * budget)})
    return pd.DataFrame(rows).set_index("quarter")
