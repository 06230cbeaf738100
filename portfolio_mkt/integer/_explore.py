"""An exploration budget: tests of assets with little or no history, sized to be readable.

Optimizing on past performance alone never funds a newcomer whose estimated return is below
the plan's marginal return, so its estimate never improves. A reserved share of the budget
pays for tests instead, chosen by the value of what each test would teach:

- ``rule="ucb"``: rank candidates by the upper confidence bound ``mean + kappa * se`` and test
  those whose bound beats the *hurdle* (the return an asset needs to be worth scaling: the
  exploitation plan's marginal return);
- ``rule="thompson"``: draw a return from each candidate's ``N(mean, se^2)`` and test those
  whose draw beats the hurdle, largest first.

Each test is at least the size and length needed to read its result. With weekly outcome
noise ``sigma`` (outcome units) and a weekly test spend ``s`` over ``T`` weeks, the measured
return has standard error ``sigma / (s sqrt(T))``; the minimum detectable effect at one-sided
level ``alpha`` and power ``power`` is ``MDE = (z_{1-alpha} + z_{power}) sigma / (s sqrt(T))``.
A test must detect the hurdle (``MDE <= hurdle``: it can tell "as good as the plan's margin"
from "nothing"), which fixes its weekly spend for a given length; the shortest length whose
weekly spend the asset can absorb is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..exceptions import InputError, format_labels

__all__ = ["ExplorationPlan", "plan_exploration", "readable_test_spend"]


def _series(value: Any, index: pd.Index, field: str) -> pd.Series:
    if isinstance(value, pd.Series):
        missing = index.difference(value.index)
        if len(missing):
            raise InputError(
                f"{field} has no value for {format_labels(missing)}; give one per candidate."
            )
        out = pd.to_numeric(value.reindex(index), errors="coerce")
    else:
        try:
            out = pd.Series(float(value), index=index)
        except (TypeError, ValueError):
            raise InputError(f"{field} must be a number or a Series by asset.") from None
    bad = ~np.isfinite(out.to_numpy(float))
    if bad.any():
        raise InputError(
            f"{field} is missing or not finite for {format_labels(index[bad])}; give a finite "
            "number per candidate."
        )
    return out.astype(float)


def readable_test_spend(noise_sd: float, effect: float, weeks: int, alpha: float = 0.05,
              power: float = 0.8) -> float:
    """Weekly spend a test needs so that an ROI of ``effect`` is detectable in ``weeks`` weeks.

    Parameters
    ----------
    noise_sd : float
        Standard deviation of the asset's weekly outcome (outcome units).
    effect : float
        Return per unit of money to detect (the hurdle).
    weeks : int
        Test length.
    alpha, power : float
        One-sided level and power.

    Returns
    -------
    float
        ``(z_{1-alpha} + z_{power}) * noise_sd / (effect * sqrt(weeks))``.

    Examples
    --------
    >>> round(readable_test_spend(noise_sd=10_000, effect=2.0, weeks=4), 1)
    6216.2
    """
    if effect <= 0:
        raise InputError(f"effect must be positive (a return to detect); got {effect!r}.")
    z = norm.ppf(1 - alpha) + norm.ppf(power)
    return float(z * noise_sd / (effect * np.sqrt(weeks)))


@dataclass
class ExplorationPlan:
    """Tests of little-known assets, listed apart from the exploitation plan.

    Attributes
    ----------
    tests : DataFrame
        One row per funded test: ``mean``, ``se``, ``score``, ``weekly_spend``, ``weeks``,
        ``budget``, ``noise_sd``, ``mde`` (minimum detectable ROI of the test),
        ``test_se`` (standard error of the measured ROI), ``scale_if`` (measured ROI above
        which the asset is worth scaling: the hurdle plus one test standard error times
        ``z_{1-alpha}``), ``reason``.
    skipped : DataFrame
        Candidates not tested and why (score below the hurdle, test too expensive ...).
    reserved, allocated : float
        Money reserved for exploration and money given to tests.
    hurdle : float
        Return an asset needs to be worth scaling (outcome per unit of money).
    rule : str
        ``"ucb"`` or ``"thompson"``.
    """

    tests: pd.DataFrame
    skipped: pd.DataFrame
    reserved: float
    allocated: float
    hurdle: float
    rule: str

    @property
    def leftover(self) -> float:
        """Reserved money no readable test could use (give it back to the plan)."""
        return self.reserved - self.allocated

    def summary(self) -> str:
        """The tests in plain language."""
        lines = [f"Exploration: {self.allocated:,.0f} of {self.reserved:,.0f} reserved, "
                 f"{len(self.tests)} tests ({self.rule}); hurdle ROI {self.hurdle:.3g}."]
        for a, r in self.tests.iterrows():
            lines.append(
                f"  {a}: {r['budget']:,.0f} over {int(r['weeks'])} weeks "
                f"({r['weekly_spend']:,.0f}/week); detects ROI {r['mde']:.3g}; scale it if "
                f"the measured ROI exceeds {r['scale_if']:.3g}."
            )
        if self.leftover > 0:
            lines.append(f"  {self.leftover:,.0f} of the reserve fits no readable test: give it "
                         "back to the plan.")
        return "\n".join(lines)


def plan_exploration(mean: pd.Series, se: pd.Series | float, noise_sd: pd.Series | float,
                     budget: float, share: float = 0.10, hurdle: float | None = None, *,
                     rule: Literal["ucb", "thompson"] = "ucb", kappa: float = 1.0,
                     min_weeks: int = 4, max_weeks: int = 13,
                     max_weekly_spend: pd.Series | float | None = None,
                     alpha: float = 0.05, power: float = 0.8,
                     random_state: int | np.random.Generator | None = None
                     ) -> ExplorationPlan:
    """Choose and size tests of little-known assets within a reserved share of budget.

    Parameters
    ----------
    mean, se : Series
        Fitted return (outcome per unit of money) of each candidate and its standard error;
        a new asset with no history gets a prior (the mean of its peers, a wide ``se``).
    noise_sd : Series or float
        Standard deviation of each candidate's weekly outcome (outcome units).
    budget : float
        The period's budget (money).
    share : float, default 0.10
        Share of the budget reserved for exploration.
    hurdle : float, optional
        Return needed to be worth scaling; default: the largest candidate mean (pass the
        exploitation plan's marginal return, see :func:`explore_and_exploit`).
    rule : {"ucb", "thompson"}, default "ucb"
    kappa : float, default 1.0
        Width of the upper confidence bound, in standard errors.
    min_weeks, max_weeks : int
        Shortest and longest test.
    max_weekly_spend : Series or float, optional
        Largest weekly spend each candidate can absorb (default: unlimited).
    alpha, power : float
        One-sided level and power of each test.
    random_state : int or Generator, optional
        Seed of the Thompson draws.

    Returns
    -------
    ExplorationPlan
    """
    if not isinstance(mean, pd.Series) or mean.empty:
        raise InputError("mean must be a non-empty Series of returns by candidate asset.")
    idx = mean.index
    mean = _series(mean, idx, "mean")
    se = _series(se, idx, "se")
    noise = _series(noise_sd, idx, "noise_sd")
    if (se < 0).any() or (noise <= 0).any():
        raise InputError("se must be >= 0 and noise_sd > 0 for every candidate.")
    if not (np.isfinite(budget) and budget > 0):
        raise InputError(f"budget must be positive; got {budget!r}.")
    if not 0 <= share < 1:
        raise InputError(f"share must be in [0, 1) (0.10 reserves 10%); got {share!r}.")
    if rule not in ("ucb", "thompson"):
        raise InputError(f"rule must be 'ucb' or 'thompson'; got {rule!r}.")
    if not (1 <= min_weeks <= max_weeks):
        raise InputError("need 1 <= min_weeks <= max_weeks.")
    cap = (pd.Series(np.inf, index=idx) if max_weekly_spend is None
           else _series(max_weekly_spend, idx, "max_weekly_spend"))
    h = float(mean.max()) if hurdle is None else float(hurdle)
    if h <= 0:
        raise InputError(f"hurdle must be a positive return; got {h!r}.")
    if rule == "ucb":
        score = mean + kappa * se
    else:
        rng = np.random.default_rng(random_state)
        score = pd.Series(rng.normal(mean.to_numpy(), se.to_numpy()), index=idx)
    reserved = share * budget
    left = reserved
    z_a = float(norm.ppf(1 - alpha))
    rows, skipped = [], []
    for a in score.sort_values(ascending=False).index:
        if score[a] <= h:
            skipped.append((a, score[a], "score below the hurdle: not worth a test"))
            continue
        if se[a] <= 0:
            skipped.append((a, score[a], "no uncertainty left: nothing to learn"))
            continue
        chosen = None
        for t in range(min_weeks, max_weeks + 1):
            s = readable_test_spend(noise[a], h, t, alpha, power)
            if s <= cap[a]:
                chosen = (t, s)
                break
        if chosen is None:
            skipped.append((a, score[a], "cannot absorb a readable test within max_weeks"))
            continue
        t, s = chosen
        cost = s * t
        if cost > left:
            skipped.append((a, score[a], f"a readable test costs {cost:,.0f}; "
                                         f"{left:,.0f} left in the reserve"))
            continue
        left -= cost
        test_se = noise[a] / (s * np.sqrt(t))
        rows.append({"asset": a, "mean": mean[a], "se": se[a], "score": score[a],
                     "weekly_spend": s, "weeks": t, "budget": cost, "noise_sd": noise[a],
                     "mde": (z_a + norm.ppf(power)) * test_se, "test_se": test_se,
                     "scale_if": h + z_a * test_se,
                     "reason": f"{rule} score {score[a]:.3g} > hurdle {h:.3g}"})
    cols = ["mean", "se", "score", "weekly_spend", "weeks", "budget", "noise_sd", "mde",
            "test_se", "scale_if", "reason"]
    tests = (pd.DataFrame(rows).set_index("asset") if rows
             else pd.DataFrame(columns=cols, index=pd.Index([], name="asset")))
    skip = pd.DataFrame(skipped, columns=["asset", "score", "why"]).set_index("asset")
    return ExplorationPlan(tests=tests, skipped=skip, reserved=reserved,
                           allocated=reserved - left, hurdle=h, rule=rule)
