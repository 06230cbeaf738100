"""The schema of a plan file: pydantic models, one per section."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

Loc = tuple[Any, ...]


def _strict_number(value: Any) -> Any:
    """Numbers only: no true/false, no quoted numbers, nothing infinite or NaN."""
    if isinstance(value, bool):
        raise ValueError(
            f"expected a number, got {str(value).lower()} (true/false is not a number)"
        )
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        try:
            float(value.replace("_", "").replace(",", ""))
        except ValueError:
            raise ValueError(f"expected a number, got the text '{shown}'") from None
        raise ValueError(
            f"expected a number, got the text '{shown}'; write numbers without quotes"
        )
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            raise ValueError("expected a number, got one too large to use") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}; write a number or leave "
                         "the field out")
    return value


def _strict_flag(value: Any) -> Any:
    """True or false only: no quoted 'no', no 0/1."""
    if isinstance(value, bool):
        return value
    shown = f"the text '{value[:40]}'" if isinstance(value, str) else repr(value)[:40]
    raise ValueError(f"expected true or false, got {shown}; write true or false without quotes")


#: A number in a plan file: true/false, quoted numbers, NaN and infinity are refused.
Num = Annotated[float, BeforeValidator(_strict_number)]
#: A yes/no field of a plan file: only true or false.
Flag = Annotated[bool, BeforeValidator(_strict_flag)]
ScalarOrList = str | float | int | bool | list[str | float | int | bool]

_KNOWN_ASSET_COLUMNS = (
    "id",
    "market",
    "channel",
    "tier",
    "creator",
    "tags",
    "expected_return",
    "last_outcome",
    "volatility",
    "current",
    "min_spend",
    "max_spend",
    "saturation",
)


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AssetSpec(_Model):
    """One asset (a market x channel x tier or one creator) of an inline asset table."""

    id: str = Field(min_length=1, description="Unique asset id.")
    market: str | None = None
    channel: str | None = None
    tier: str | None = None
    creator: str | None = None
    tags: list[str] | str | None = Field(
        default=None, description="Free-form tags, a list or a ';'-separated string."
    )
    expected_return: Num | None = Field(
        default=None, description="Expected outcome per unit of money spent."
    )
    last_outcome: Num | None = Field(
        default=None,
        ge=0,
        description="Outcome last period; with current spend gives expected_return.",
    )
    volatility: Num | None = Field(default=None, ge=0)
    current: Num | None = Field(default=None, ge=0, description="Current spend (money).")
    min_spend: Num | None = Field(default=None, ge=0)
    max_spend: Num | None = Field(default=None, ge=0)
    saturation: Num | None = Field(
        default=None, gt=0, description="Curve scale k as a multiple of current spend."
    )
    attributes: dict[str, str | Num | int | bool] = Field(default_factory=dict)

    @field_validator("expected_return", "last_outcome", "volatility", "current")
    @classmethod
    def _finite(cls, v: Num | None) -> Num | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("expected a finite number")
        return v


class FileRef(_Model):
    """A data file, relative to the plan file."""

    file: str = Field(min_length=1)


class CorrelationPair(_Model):
    """An explicit correlation between two assets."""

    assets: list[str] = Field(min_length=2, max_length=2)
    value: Num = Field(ge=-1, le=1)


class CovarianceSpec(_Model):
    """Covariance of per-unit-spend returns: a CSV file, or volatilities and correlations."""

    file: str | None = None
    volatility: Literal["relative", "absolute"] = "relative"
    correlation: Num = Field(default=0.0, ge=-1, le=1)
    correlation_by: dict[str, Num] = Field(default_factory=dict)
    pairs: list[CorrelationPair] = Field(default_factory=list)

    @field_validator("correlation_by")
    @classmethod
    def _in_range(cls, v: dict[str, Num]) -> dict[str, Num]:
        for key, val in v.items():
            if not -1 <= val <= 1:
                raise ValueError(f"correlation for '{key}' must be between -1 and 1, got {val}")
        return v


#: Default minimum meaningful spend per asset, as a share of the budget.
DEFAULT_MIN_SPEND_SHARE = 0.005


class MinSpendSpec(_Model):
    """The minimum meaningful spend on an asset: each asset gets 0 or at least this.

    Give exactly one of ``amount`` (money) or ``share`` (of the budget).
    """

    amount: Num | None = Field(default=None, ge=0, description="Money.")
    share: Num | None = Field(default=None, ge=0, le=1, description="Share of the budget.")

    @model_validator(mode="after")
    def _one(self) -> MinSpendSpec:
        if (self.amount is None) == (self.share is None):
            raise ValueError("give exactly one of 'amount' (money) or 'share' (of the budget)")
        return self


class BudgetSpec(_Model):
    """Total budget in money, spent exactly or treated as a cap."""

    amount: Num = Field(gt=0)
    mode: Literal["exact", "cap"] = "exact"

    @field_validator("amount")
    @classmethod
    def _finite(cls, v: Num) -> Num:
        if not math.isfinite(v):
            raise ValueError("expected a finite number")
        return v


class RiskSpec(_Model):
    """Risk tolerance."""

    objective: Literal["utility", "min_risk", "max_return"] = "utility"
    risk_aversion: Num = Field(default=1.0, ge=0)
    max_risk: Num | None = Field(default=None, gt=0)
    min_outcome: Num | None = Field(default=None, ge=0)


class LockSpec(_Model):
    """A committed spend on one asset: exactly ``amount``, or at least it (``minimum``)."""

    asset: str
    amount: Num = Field(ge=0)
    minimum: Flag = False
    name: str | None = None


class RosterSpec(_Model):
    """Only these assets may receive spend."""

    assets: list[str] = Field(min_length=1)
    name: str = "roster"
    strategic: Flag = True


class GroupSpec(_Model):
    """A floor or cap on a group of assets selected by attributes."""

    name: str | None = None
    where: dict[str, ScalarOrList] = Field(min_length=1)
    amount: Num = Field(ge=0)
    unit: Literal["money", "share"] = "money"
    strategic: Flag = True

    @model_validator(mode="after")
    def _share_at_most_one(self) -> GroupSpec:
        if self.unit == "share" and self.amount > 1:
            raise ValueError(
                f"a share must be between 0 and 1, got {self.amount} "
                "(write 0.3 for 30%, or set unit: money)"
            )
        return self


class ResponseFloorSpec(_Model):
    """A group's expected outcome must reach ``level`` (outcome units)."""

    name: str | None = None
    where: dict[str, ScalarOrList] = Field(min_length=1)
    level: Num = Field(ge=0)
    strategic: Flag = True


class ShiftLimitSpec(_Model):
    """Per-asset limit on the change against current spend."""

    max_change: Num = Field(gt=0)
    relative: Flag = True
    name: str = "shift_limit"
    strategic: Flag = True


class TurnoverSpec(_Model):
    """Limit on the total absolute change against current spend."""

    limit: Num = Field(gt=0)
    unit: Literal["money", "share"] = "share"
    name: str = "turnover"
    strategic: Flag = True


class ViewSpec(_Model):
    """A strategist's view on returns, with a confidence between 0 and 1."""

    name: str | None = None
    asset: str | None = None
    where: dict[str, ScalarOrList] | None = None
    change: Num = Field(gt=-1, description="Relative change of expected return (0.2 = +20%).")
    confidence: Num = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _target(self) -> ViewSpec:
        if (self.asset is None) == (self.where is None):
            raise ValueError("give exactly one of 'asset' or 'where'")
        return self


class ApprovalSpec(_Model):
    """When a human must approve a recommendation."""

    max_shift: Num | None = Field(
        default=0.10, ge=0, description="Flag any asset moved by more than this share."
    )
    protect_tags: list[str] = Field(
        default_factory=lambda: ["brand"], description="Flag any cut to assets with these tags."
    )
    min_confidence: Num | None = Field(default=0.85, ge=0, le=1)


class CostShockSpec(_Model):
    """The same outcome now costs ``change`` more (0.2 = 20% dearer) on a group."""

    where: dict[str, ScalarOrList] = Field(min_length=1)
    change: Num = Field(gt=-1)


class ScenarioSpec(_Model):
    """A what-if: the plan with some inputs changed."""

    name: str = Field(min_length=1)
    description: str | None = None
    budget_change: Num | None = Field(default=None, gt=-1)
    risk_aversion: Num | None = Field(default=None, ge=0)
    cost_shocks: list[CostShockSpec] = Field(default_factory=list)
    remove: dict[str, ScalarOrList] | None = None
    drop_constraints: list[str] = Field(default_factory=list)


class ResponseAssetSpec(_Model):
    """A response curve for one asset: explicit parameters or calibrated."""

    family: str | None = None
    params: dict[str, Num] = Field(default_factory=dict)
    saturation: Num | None = Field(default=None, gt=0)


class ResponseSpec(_Model):
    """Response curves: a default family calibrated at current spend, with overrides."""

    family: str = "exponential"
    calibrate: Literal["current", "none"] = "current"
    saturation: Num = Field(default=1.0, gt=0)
    assets: dict[str, ResponseAssetSpec] = Field(default_factory=dict)
    tolerance: Num | None = Field(default=None, gt=0)


class HaloSpec(_Model):
    """A linear cross-channel lift of ``source`` spend on ``target`` outcome.

    Each unit of money in ``source`` adds ``lift`` outcome in ``target`` (video lifts
    branded search).
    """

    source: str
    target: str
    lift: Num = Field(ge=0, description="Outcome in target per unit of money in source.")


class HistorySpec(_Model):
    """Spend and outcome history to estimate returns and covariance from."""

    file: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class PlanSpec(_Model):
    """The schema of a plan file (see ``docs/plan_files.md``)."""

    name: str = Field(min_length=1)
    description: str | None = None
    outcome: str = "outcome"
    currency: str = Field(
        default="$", min_length=1, max_length=200,
        description="Currency of every amount (USD, EUR, $); shown by the report.",
    )
    assets: Annotated[list[AssetSpec], Field(min_length=1)] | str | FileRef | None = None
    history: str | HistorySpec | None = None
    covariance: str | CovarianceSpec | None = None
    budget: Num | BudgetSpec
    risk: RiskSpec = Field(default_factory=RiskSpec)
    current: dict[str, Num] | None = None
    locks: list[LockSpec] = Field(default_factory=list)
    roster: list[str] | RosterSpec | None = None
    floors: list[GroupSpec] = Field(default_factory=list)
    caps: list[GroupSpec] = Field(default_factory=list)
    response_floors: list[ResponseFloorSpec] = Field(default_factory=list)
    shift_limit: Annotated[Num, Field(gt=0)] | ShiftLimitSpec | None = None
    turnover: Annotated[Num, Field(gt=0)] | TurnoverSpec | None = None
    response: ResponseSpec | None = None
    halo: list[HaloSpec] = Field(default_factory=list)
    views: list[ViewSpec] = Field(default_factory=list)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    scenarios: list[ScenarioSpec] = Field(default_factory=list)
    min_spend: Annotated[Num, Field(ge=0)] | MinSpendSpec | None = None
    #: Sections of the capabilities above the engine, validated at load by their own models
    #: (``portfolio_mkt.window.WindowSpec``, ``portfolio_mkt.integer.DealsSpec`` /
    #: ``ExplorationSpec``) and kept here as the mappings the file gave.
    window: dict[str, Any] | None = None
    deals: dict[str, Any] | None = None
    exploration: dict[str, Any] | None = None

    @field_validator("budget")
    @classmethod
    def _budget_positive(cls, v: Num | BudgetSpec) -> Num | BudgetSpec:
        if isinstance(v, (int, float)) and not (math.isfinite(v) and v > 0):
            raise ValueError(f"the budget must be a positive amount of money, got {v}")
        return v

    @model_validator(mode="after")
    def _inputs_present(self) -> PlanSpec:
        if self.assets is None and self.history is None:
            raise ValueError("give 'assets' (a table or CSV path) or 'history' (a history file)")
        return self

    @property
    def budget_amount(self) -> float:
        """The budget in money."""
        return float(self.budget.amount if isinstance(self.budget, BudgetSpec) else self.budget)

    def min_spend_amount(self, budget: float | None = None) -> float:
        """The minimum meaningful spend per asset, in money, for ``budget``.

        ``min_spend`` as a number is money; ``{share: s}`` is ``s x budget``; without
        ``min_spend`` it is 0.5% of the budget; ``min_spend: 0`` switches it off.
        """
        b = self.budget_amount if budget is None else float(budget)
        m = self.min_spend
        if m is None:
            return DEFAULT_MIN_SPEND_SHARE * b
        if isinstance(m, MinSpendSpec):
            return float(m.amount) if m.amount is not None else float(m.share or 0.0) * b
        return float(m)

    @field_validator("min_spend")
    @classmethod
    def _min_spend_within_budget(cls, v: Any, info: ValidationInfo) -> Any:
        budget = info.data.get("budget")
        amount = budget.amount if isinstance(budget, BudgetSpec) else budget
        if amount is None or v is None:
            return v
        m = v.amount if isinstance(v, MinSpendSpec) else v
        if m is not None and m > amount:
            raise ValueError(
                f"min_spend {m:,.0f} is more than the budget of {amount:,.0f}; lower it, or "
                "give a share of the budget: min_spend: {share: 0.01}"
            )
        return v

    @property
    def budget_mode(self) -> str:
        """``"exact"`` or ``"cap"``."""
        return self.budget.mode if isinstance(self.budget, BudgetSpec) else "exact"


