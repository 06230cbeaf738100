"""The ``window:`` section of a plan file and its translation into a :class:`WindowProblem`.

The plan's response curves, covariance and budget describe the whole window (a quarter, say).
The window divides them into weeks: with ``T`` weeks a curve ``r`` becomes ``r_w(x) = r(T x) / T``
per week and the covariance ``T * Sigma`` per week, so that a flat plan without carryover
reproduces the plan's own expected outcome and risk. ``curves: per_week`` keeps them as they
are (curves fitted on weekly data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..exceptions import PlanFileError
from ._constraints import (
    ContractLock,
    DarkWeeks,
    Pacing,
    PeriodCap,
    PeriodFloor,
    PeriodMinSpend,
    Phasing,
    WindowCap,
    WindowFloor,
)
from ._problem import WindowProblem

__all__ = ["WindowSpec", "window_from_spec", "WINDOW_KINDS"]

#: Problem constraint kinds that carry over to the window (totals over the window).
WINDOW_KINDS = ("bounds", "lock", "roster", "group_floor", "group_cap")

Week = int | date | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdstockSpec(_Model):
    """A carryover kernel: ``{family: geometric, alpha: 0.5, l_max: 8}`` or Weibull."""

    family: Literal["geometric", "weibull"] = "geometric"
    alpha: float | None = Field(None, ge=0.0, lt=1.0)
    shape: float | None = Field(None, gt=0.0)
    scale: float | None = Field(None, gt=0.0)
    kind: Literal["cdf", "pdf"] = "pdf"
    l_max: int = Field(8, ge=1, le=104)

    @model_validator(mode="after")
    def _params(self) -> AdstockSpec:
        if self.family == "geometric" and self.alpha is None:
            raise ValueError("a geometric adstock needs alpha (retention per week, 0 <= alpha < 1)")
        if self.family == "weibull" and (self.shape is None or self.scale is None):
            raise ValueError("a weibull adstock needs shape and scale (weeks)")
        return self

    def build(self) -> Any:
        """The :mod:`portfolio_mkt.response` adstock object."""
        from ..response import GeometricAdstock, WeibullAdstock

        if self.family == "geometric":
            return GeometricAdstock(float(self.alpha), l_max=self.l_max)  # type: ignore[arg-type]
        return WeibullAdstock(float(self.shape), float(self.scale), l_max=self.l_max,  # type: ignore[arg-type]
                              kind=self.kind)


class AdstockRule(AdstockSpec):
    """An adstock for the assets matching ``where`` (or listed in ``assets``)."""

    where: dict[str, Any] | None = None
    assets: list[str] | None = None


class SeasonRule(_Model):
    """Multiplier for some weeks (and optionally some assets): holidays, launch weeks."""

    weeks: list[Week]
    multiplier: float = Field(ge=0.0)
    where: dict[str, Any] | None = None
    assets: list[str] | None = None


class PacingSpec(_Model):
    """``|x[t] - x[t-1]| <= max_change * x[t-1] + min_step``."""

    max_change: float = Field(ge=0.0)
    min_step: float = Field(0.0, ge=0.0)
    level: Literal["asset", "total"] = "asset"
    where: dict[str, Any] | None = None
    assets: list[str] | None = None
    name: str = "pacing"


class PhaseSpec(_Model):
    """Share (or money) of the window's budget allowed in one month."""

    month: Week
    max_share: float | None = Field(None, ge=0.0, le=1.0)
    min_share: float | None = Field(None, ge=0.0, le=1.0)
    name: str | None = None


class DarkSpec(_Model):
    """Weeks in which the selected assets spend nothing."""

    weeks: list[Week]
    where: dict[str, Any] | None = None
    assets: list[str] | None = None
    name: str | None = None


class ContractSpec(_Model):
    """A creator's fee in the contract weeks."""

    asset: str
    weeks: list[Week]
    spend: float = Field(ge=0.0)
    minimum: bool = False
    exclusive: bool = False
    name: str | None = None


class GroupRule(_Model):
    """A floor or cap on a group's spend per window, month or week."""

    where: dict[str, Any] | None = None
    assets: list[str] | None = None
    share: float | None = Field(None, ge=0.0, le=1.0)
    amount: float | None = Field(None, ge=0.0)
    per: Literal["window", "month", "period"] = "window"
    weeks: list[Week] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> GroupRule:
        if (self.share is None) == (self.amount is None):
            raise ValueError("give exactly one of share (of the block's spend) or amount (money)")
        return self


class PeriodRule(_Model):
    """A weekly cap or floor in money, per asset or for the group's total."""

    amount: float = Field(ge=0.0)
    where: dict[str, Any] | None = None
    assets: list[str] | None = None
    weeks: list[Week] | None = None
    per_asset: bool = True
    name: str | None = None


class MinSpendRule(_Model):
    """On/off minimum per asset-week: each selected asset spends 0 or at least ``amount``."""

    amount: float = Field(gt=0.0)
    where: dict[str, Any] | None = None
    assets: list[str] | None = None
    weeks: list[Week] | None = None
    cap: float | None = Field(None, ge=0.0)
    name: str | None = None


class SearchSpec(_Model):
    """Options of the branch and bound of on/off minimums (``period_min_spend``)."""

    gap: float = Field(1e-6, ge=0.0, lt=1.0)
    node_limit: int = Field(10_000, ge=1)
    time_limit: float = Field(120.0, gt=0.0)


class WindowSpec(_Model):
    """The ``window:`` section of a plan file (see docs/window.md for an example)."""

    weeks: int | None = Field(None, ge=1, le=520)
    start: date | str | None = None
    periods: list[Week] | None = None
    step_days: int = Field(7, ge=1)
    curves: Literal["per_window", "per_week"] = "per_window"
    horizon: int | Literal["auto"] = "auto"
    adstock: AdstockSpec | None = None
    adstock_rules: list[AdstockRule] = Field(default_factory=list)
    carry_in: dict[str, float] | None = None
    carry_in_file: str | None = None
    seasonality: list[SeasonRule] = Field(default_factory=list)
    pacing: PacingSpec | None = None
    phasing: list[PhaseSpec] = Field(default_factory=list)
    dark_weeks: list[DarkSpec] = Field(default_factory=list)
    contracts: list[ContractSpec] = Field(default_factory=list)
    floors: list[GroupRule] = Field(default_factory=list)
    caps: list[GroupRule] = Field(default_factory=list)
    period_caps: list[PeriodRule] = Field(default_factory=list)
    period_floors: list[PeriodRule] = Field(default_factory=list)
    period_min_spend: list[MinSpendRule] = Field(default_factory=list)
    search: SearchSpec | None = None
    period_correlation: float = Field(0.0, gt=-1.0, lt=1.0)
    risk_aversion: float | None = Field(None, ge=0.0)
    method: Literal["auto", "pwl"] = "auto"
    tolerance: float = Field(1e-4, gt=0.0, lt=1.0)
    value_of_timing: bool = True

    @model_validator(mode="after")
    def _periods(self) -> WindowSpec:
        if self.periods is None and self.weeks is None:
            raise ValueError("give weeks (a number) or periods (a list of dates or week numbers)")
        if self.periods is not None and (self.weeks is not None or self.start is not None):
            raise ValueError("give either periods, or weeks (and start), not both")
        if self.carry_in is not None and self.carry_in_file is not None:
            raise ValueError("give carry_in or carry_in_file, not both")
        return self

    def period_index(self) -> Any:
        """The window's period labels."""
        if self.periods is not None:
            return list(self.periods)
        if self.start is None:
            return int(self.weeks)  # type: ignore[arg-type]
        return list(pd.date_range(pd.Timestamp(self.start), periods=self.weeks,
                                  freq=f"{self.step_days}D"))


def _select(problem: Any, where: Mapping[str, Any] | None, assets: list[str] | None,
            owner: str) -> pd.Index:
    from ._select import select_window_assets

    return problem.index[select_window_assets(problem, where, assets, owner)]


def window_from_spec(
    spec: Mapping[str, Any] | WindowSpec, problem: Any, *, base_dir: Any = None
) -> WindowProblem:
    """Build the :class:`WindowProblem` a plan file's ``window:`` section describes.

    Parameters
    ----------
    spec : mapping or WindowSpec
        The ``window:`` section (validated here when a mapping).
    problem : portfolio_mkt.Problem
        The plan's problem (``Plan.to_problem()``): assets, curves, covariance, budget and
        constraints. Constraints without a meaning over a window (shift limits, turnover,
        response floors, custom) are left out and listed in ``WindowProblem.notes``.
    base_dir : path, optional
        Directory that ``carry_in_file`` is relative to.

    Returns
    -------
    WindowProblem

    Raises
    ------
    PlanFileError
        Naming the field of the ``window:`` section at fault.
    """
    if not isinstance(spec, WindowSpec):
        try:
            spec = WindowSpec.model_validate(dict(spec))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise PlanFileError(
                f"window: field '{loc or 'window'}': {first['msg']}"
                f"{f' ({len(exc.errors()) - 1} more problems)' if len(exc.errors()) > 1 else ''}."
            ) from None
    try:
        return _build(spec, problem, base_dir)
    except PlanFileError:
        raise
    except ValueError as exc:  # library input errors, re-raised with the section's name
        raise PlanFileError(f"window: {exc}") from None


def _build(spec: WindowSpec, problem: Any, base_dir: Any) -> WindowProblem:
    from pathlib import Path

    periods = spec.period_index()
    T = periods if isinstance(periods, int) else len(periods)
    notes: list[str] = []
    kept = [c for c in problem.constraints if getattr(c, "kind", "") in WINDOW_KINDS]
    dropped = [c.name for c in problem.constraints if c not in kept]
    if dropped:
        notes.append(
            f"plan constraints without a meaning over weeks were left out of the window: "
            f"{', '.join(dropped)}."
        )
    changes: dict[str, Any] = {}
    if len(kept) != len(problem.constraints):
        changes["constraints"] = kept
    if spec.curves == "per_window":
        if problem.response:
            changes["response"] = {a: c.rescale(float(T)) for a, c in problem.response.items()}
        cov = problem.covariance
        if cov is not None:
            changes["covariance"] = cov.scaled(float(T)) if hasattr(cov, "scaled") else cov * T
    if changes:
        problem = problem.replace(**changes)
    adstock: dict[Any, Any] | None = None
    if spec.adstock is not None or spec.adstock_rules:
        default = spec.adstock.build() if spec.adstock is not None else None
        adstock = {a: default for a in problem.index}
        for k, rule in enumerate(spec.adstock_rules):
            for a in _select(problem, rule.where, rule.assets, f"adstock_rules[{k}]"):
                adstock[a] = rule.build()
        adstock = {a: v for a, v in adstock.items() if v is not None}
    carry: Any = None
    if spec.carry_in is not None:
        carry = pd.Series(spec.carry_in, dtype=float)
    elif spec.carry_in_file is not None:
        path = Path(base_dir or ".") / spec.carry_in_file
        try:
            carry = pd.read_csv(path)
        except OSError as exc:
            raise PlanFileError(
                f"window: field 'carry_in_file': cannot read {path} ({exc})."
            ) from None
        if "period" in carry.columns and not pd.api.types.is_integer_dtype(carry["period"]):
            carry["period"] = pd.to_datetime(carry["period"])
    from ._periods import as_periods, resolve_weeks, tail_labels

    labels = as_periods(periods)
    season = None
    if spec.seasonality:
        lmax = max((len(k.weights()) for k in (adstock or {}).values()), default=1)
        horizon = lmax - 1 if spec.horizon == "auto" else int(spec.horizon)
        all_labels = labels.append(tail_labels(labels, horizon))
        sig = np.ones((len(all_labels), problem.n_assets))
        for k, rule in enumerate(spec.seasonality):
            owner = f"seasonality[{k}]"
            weeks = resolve_weeks(labels, rule.weeks, owner)
            mask = problem.index.isin(_select(problem, rule.where, rule.assets, owner))
            sig[np.ix_(weeks, np.flatnonzero(mask))] *= rule.multiplier
        season = pd.DataFrame(sig, index=all_labels, columns=problem.index)
    cons: list[Any] = []
    if spec.pacing is not None:
        p = spec.pacing
        cons.append(Pacing(p.max_change, where=p.where, assets=p.assets, level=p.level,
                           min_step=p.min_step, name=p.name))
    for k, ph in enumerate(spec.phasing):
        base = ph.name or f"phasing_{k + 1}"
        if ph.max_share is not None:
            cons.append(Phasing({ph.month: ph.max_share}, sense="le", name=base))
        if ph.min_share is not None:
            cons.append(Phasing({ph.month: ph.min_share}, sense="ge", name=f"{base}_min"))
    for k, d in enumerate(spec.dark_weeks):
        cons.append(DarkWeeks(d.weeks, where=d.where, assets=d.assets,
                              name=d.name or f"dark_weeks_{k + 1}"))
    for c in spec.contracts:
        cons.append(ContractLock(c.asset, c.weeks, c.spend, minimum=c.minimum,
                                 exclusive=c.exclusive, name=c.name or ""))
    for kind, rules in ((WindowFloor, spec.floors), (WindowCap, spec.caps)):
        for k, g in enumerate(rules):
            unit = "share" if g.share is not None else "money"
            amount = g.share if g.share is not None else g.amount
            cons.append(kind(g.where, float(amount), unit=unit, per=g.per,  # type: ignore[arg-type]
                             assets=g.assets, weeks=g.weeks,
                             name=g.name or f"{kind.kind}_{k + 1}"))
    for kind, rules in ((PeriodCap, spec.period_caps), (PeriodFloor, spec.period_floors)):
        for k, r in enumerate(rules):
            cons.append(kind(r.amount, where=r.where, assets=r.assets, weeks=r.weeks,
                             per_asset=r.per_asset, name=r.name or f"{kind.kind}_{k + 1}"))
    for k, r in enumerate(spec.period_min_spend):
        cons.append(PeriodMinSpend(r.amount, where=r.where, assets=r.assets, weeks=r.weeks,
                                   cap=r.cap, name=r.name or f"period_min_spend_{k + 1}"))
    wp = WindowProblem(
        problem, periods, adstock=adstock, carry_in=carry, horizon=spec.horizon,
        seasonality=season, constraints=cons, risk_aversion=spec.risk_aversion,
        period_correlation=spec.period_correlation, method=spec.method,
        tolerance=spec.tolerance,
    )
    wp.notes.extend(notes)
    wp.spec = spec  # type: ignore[attr-defined]
    return wp
