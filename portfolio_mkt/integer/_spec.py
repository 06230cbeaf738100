"""Plan-file sections ``deals:`` and ``exploration:`` as pydantic models.

The plan-file loader validates the two sections with :class:`DealsSpec` and
:class:`ExplorationSpec` and turns them into library objects with :func:`deals_rules`,
:func:`deals_options` and :func:`exploration_inputs`. Unknown keys are errors (a typo must not
silently drop a rule). Example (YAML)::

    deals:
      min_spend: 0.005            # share of budget; or {amount: 5000}; or false
      tickets:
        - {name: creator_fees, fee: fee, where: {channel: creator}}   # fee: a column
      rate_cards:
        - {name: posts, unit_price: post_price, booking_fee: 2000}
      limits:
        - {name: us_creators, where: {market: US, channel: creator}, at_most: 5}
      conflicts:
        - [us_alice, us_bob]
      links:
        - {if: us_alice, then: [us_alice_video]}
      gap: 1.0e-4
      time_limit: 30
    exploration:
      share: 0.10
      rule: ucb
      candidates:
        new_creator_1: {mean: 1.6, se: 0.6, noise_sd: 20000}
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..exceptions import PlanFileError
from ._constraints import (
    AtMostOne,
    Cardinality,
    Implies,
    MinimumSpend,
    MinimumTicket,
    RateCard,
    WholePiece,
)

__all__ = [
    "TicketSpec",
    "RateCardSpec",
    "LimitSpec",
    "LinkSpec",
    "MinSpendSpec",
    "DealsSpec",
    "CandidateSpec",
    "ExplorationSpec",
    "parse_deals",
    "parse_exploration",
    "deals_rules",
    "deals_options",
    "exploration_inputs",
]

Amount = float | str | dict[str, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TicketSpec(_Strict):
    """``tickets:`` item: spend is 0 or at least ``fee`` (number, column name or mapping)."""

    fee: Amount
    where: dict[str, Any] | None = None
    name: str | None = None


class RateCardSpec(_Strict):
    """``rate_cards:`` item: whole units at ``unit_price`` plus an optional booking fee."""

    unit_price: Amount
    booking_fee: Amount = 0.0
    where: dict[str, Any] | None = None
    name: str | None = None


class LimitSpec(_Strict):
    """``limits:`` item: at most / at least so many funded assets in a group."""

    where: dict[str, Any] | None = None
    at_most: int | None = Field(default=None, ge=0)
    at_least: int | None = Field(default=None, ge=0)
    min_funded: float | None = Field(default=None, gt=0)
    name: str | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> LimitSpec:
        if self.at_most is None and self.at_least is None:
            raise ValueError("a limit needs at_most, at_least or both")
        return self


class LinkSpec(_Strict):
    """``links:`` item: funding ``if`` requires funding every asset of ``then``."""

    if_: str = Field(alias="if")
    then: list[str] | str
    name: str | None = None


class MinSpendSpec(_Strict):
    """``min_spend: {amount: ...}`` or ``{share: ...}``."""

    amount: float | None = Field(default=None, ge=0)
    share: float = Field(default=0.005, ge=0, le=1)


class DealsSpec(_Strict):
    """The ``deals:`` section: whole-piece rules and search options."""

    min_spend: bool | float | MinSpendSpec | None = None
    tickets: list[TicketSpec] = Field(default_factory=list)
    rate_cards: list[RateCardSpec] = Field(default_factory=list)
    limits: list[LimitSpec] = Field(default_factory=list)
    conflicts: list[list[str]] = Field(default_factory=list)
    links: list[LinkSpec] = Field(default_factory=list)
    gap: float = Field(default=1e-4, ge=0)
    time_limit: float | None = Field(default=None, gt=0)
    node_limit: int | None = Field(default=None, gt=0)

    @field_validator("conflicts")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        for group in v:
            if len(group) < 2:
                raise ValueError(f"a conflict lists at least two assets; got {group}")
        return v


class CandidateSpec(_Strict):
    """One exploration candidate: fitted return, its standard error, weekly outcome noise."""

    mean: float
    se: float = Field(ge=0)
    noise_sd: float = Field(gt=0)
    max_weekly_spend: float | None = Field(default=None, gt=0)


class ExplorationSpec(_Strict):
    """The ``exploration:`` section (see :func:`portfolio_mkt.integer.plan_exploration`)."""

    share: float = Field(default=0.10, ge=0, lt=1)
    rule: Literal["ucb", "thompson"] = "ucb"
    kappa: float = Field(default=1.0, ge=0)
    hurdle: float | None = Field(default=None, gt=0)
    min_weeks: int = Field(default=4, ge=1)
    max_weeks: int = Field(default=13, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    seed: int | None = None
    candidates: dict[str, CandidateSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weeks(self) -> ExplorationSpec:
        if self.min_weeks > self.max_weeks:
            raise ValueError("min_weeks must not exceed max_weeks")
        return self


def _validate(model: type[BaseModel], data: Any, section: str) -> Any:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in (section, *err["loc"]))
            parts.append(f"{loc}: {err['msg']}")
        raise PlanFileError(
            f"invalid '{section}' section: " + "; ".join(parts)
            + ". See docs/integer.md for the fields."
        ) from None


def parse_deals(data: Any) -> DealsSpec:
    """Validate a ``deals:`` section; errors are :class:`PlanFileError` naming the field."""
    return _validate(DealsSpec, data, "deals")


def parse_exploration(data: Any) -> ExplorationSpec:
    """Validate an ``exploration:`` section; errors are :class:`PlanFileError`."""
    return _validate(ExplorationSpec, data, "exploration")


def _amount(v: Amount) -> Any:
    return pd.Series(v, dtype=float) if isinstance(v, dict) else v


def deals_rules(spec: DealsSpec | dict[str, Any]) -> list[WholePiece]:
    """Turn a ``deals:`` section into whole-piece rule objects.

    Parameters
    ----------
    spec : DealsSpec or dict
        The validated section (a dict is validated first).

    Returns
    -------
    list of WholePiece

    Examples
    --------
    >>> rules = deals_rules({"tickets": [{"fee": 5000}], "conflicts": [["a", "b"]]})
    >>> [type(r).__name__ for r in rules]
    ['MinimumTicket', 'AtMostOne']
    """
    s = parse_deals(spec)
    out: list[WholePiece] = []
    ms = s.min_spend
    if ms is True:
        out.append(MinimumSpend())
    elif isinstance(ms, float | int) and not isinstance(ms, bool):
        out.append(MinimumSpend(share=float(ms)))
    elif isinstance(ms, MinSpendSpec):
        out.append(MinimumSpend(amount=ms.amount, share=ms.share))
    for i, t in enumerate(s.tickets):
        out.append(MinimumTicket(fee=_amount(t.fee), where=t.where,
                                 name=t.name or ("ticket" if i == 0 else f"ticket_{i + 1}")))
    for i, c in enumerate(s.rate_cards):
        out.append(RateCard(unit_price=_amount(c.unit_price), booking_fee=_amount(c.booking_fee),
                            where=c.where,
                            name=c.name or ("rate_card" if i == 0 else f"rate_card_{i + 1}")))
    for lim in s.limits:
        out.append(Cardinality(where=lim.where, at_most=lim.at_most, at_least=lim.at_least,
                               min_funded=lim.min_funded, name=lim.name))
    for group in s.conflicts:
        out.append(AtMostOne(group))
    for link in s.links:
        out.append(Implies(link.if_, link.then, name=link.name))
    return out


def deals_options(spec: DealsSpec | dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`solve_integer` from a ``deals:`` section."""
    s = parse_deals(spec)
    return {"gap": s.gap, "time_limit": s.time_limit, "node_limit": s.node_limit}


def exploration_inputs(spec: ExplorationSpec | dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`plan_exploration` (except ``budget``) from the section."""
    s = parse_exploration(spec)
    c = s.candidates
    ids = list(c)
    kw: dict[str, Any] = {
        "mean": pd.Series({a: c[a].mean for a in ids}, dtype=float),
        "se": pd.Series({a: c[a].se for a in ids}, dtype=float),
        "noise_sd": pd.Series({a: c[a].noise_sd for a in ids}, dtype=float),
        "share": s.share, "hurdle": s.hurdle, "rule": s.rule, "kappa": s.kappa,
        "min_weeks": s.min_weeks, "max_weeks": s.max_weeks, "alpha": s.alpha,
        "power": s.power, "random_state": s.seed,
    }
    caps = {a: c[a].max_weekly_spend for a in ids if c[a].max_weekly_spend is not None}
    if caps:
        kw["max_weekly_spend"] = pd.Series(
            {a: caps.get(a, float("inf")) for a in ids}, dtype=float)
    return kw
