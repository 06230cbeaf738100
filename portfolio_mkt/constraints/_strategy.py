"""The built-in strategy constraints.

Bounds, locks, roster, group floors and caps, shift limits, turnover, response floors and
custom cvxpy constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import cvxpy as cp

from .._validation import as_asset_series, check_finite_number
from ..exceptions import ConstraintError, InputError, format_labels
from ._base import BuildContext, Constraint, LinearRows, per_problem, resolve_ids, select_assets
from ._base import ProblemData as Problem

__all__ = [
    "Bounds",
    "Lock",
    "Roster",
    "GroupFloor",
    "GroupCap",
    "ShiftLimit",
    "Turnover",
    "ResponseFloor",
    "CustomConstraint",
]

Unit = Literal["money", "share"]


def _check_unit(unit: str, owner: str) -> None:
    if unit not in ("money", "share"):
        raise ConstraintError(
            f"constraint '{owner}': unit must be 'money' or 'share'; got {unit!r}."
        )


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ConstraintError(
            f"a {kind} constraint needs a name (a non-empty string shown in results and "
            f"errors); got {name!r}."
        )


def _check_flag(value: Any, field: str, owner: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ConstraintError(
            f"constraint '{owner}': {field} must be True or False; got {value!r}."
        )


def _check_amount(value: Any, field: str, owner: str) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise ConstraintError(
            f"constraint '{owner}': {field} must be a number; got {value!r} "
            f"({type(value).__name__}). Write numbers without quotes."
        )


def _check_where(where: Any, owner: str) -> None:
    if not isinstance(where, Mapping) or not where:
        raise ConstraintError(
            f"constraint '{owner}': where must be a non-empty mapping of attribute -> value(s), "
            f"such as {{'market': 'RU'}}; got {where!r}. (GroupFloor(where, amount): the "
            "filter comes first, the amount second.)"
        )


def _where_text(where: Mapping[str, Any]) -> str:
    parts = []
    for k, v in where.items():
        if isinstance(v, (list, tuple, set, frozenset)):
            parts.append(f"{k} in {sorted(map(str, v))}")
        else:
            parts.append(f"{k}={v}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Bounds(Constraint):
    """Per-asset lower and upper bounds on spend.

    Parameters
    ----------
    lower, upper : float, Mapping, Series or None
        Bounds per asset (a scalar applies to all; a mapping/Series may name only some assets;
        NaN or a missing asset means no bound on that side).
    unit : {"money", "share"}, default "money"
        Money amounts, or shares of the budget.
    name : str, default "bounds"

    Examples
    --------
    >>> Bounds(upper=0.4, unit="share", name="max_40pct")
    Bounds(lower=None, upper=0.4, unit='share', name='max_40pct')
    """

    lower: Any = None
    upper: Any = None
    unit: Unit = "money"
    name: str = "bounds"
    kind: ClassVar[str] = "bounds"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        _check_unit(self.unit, self.name)

    @per_problem
    def _stated(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """The bounds aligned to the assets, in their own unit (NaN: no bound)."""
        _check_unit(self.unit, self.name)
        lo = as_asset_series(self.lower, problem.index, f"{self.name}.lower", default=np.nan,
                             allow_partial=True, allow_nan=True).to_numpy()
        hi = as_asset_series(self.upper, problem.index, f"{self.name}.upper", default=np.nan,
                             allow_partial=True, allow_nan=True).to_numpy()
        return lo, hi

    @per_problem(by_budget=True)
    def _money(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._stated(problem)
        scale = problem.budget if self.unit == "share" else 1.0
        lo, hi = lo * scale, hi * scale
        for side, arr in (("lower", lo), ("upper", hi)):
            neg = ~np.isnan(arr) & (arr < 0)
            if neg.any():
                raise ConstraintError(
                    f"constraint '{self.name}': a {side} bound is negative for "
                    f"{format_labels(problem.index[neg])}; spend cannot be negative (every "
                    "asset is already at least 0). Use 0 or leave the bound out."
                )
        bad = (~np.isnan(lo)) & (~np.isnan(hi)) & (lo > hi)
        if bad.any():
            raise ConstraintError(
                f"constraint '{self.name}': lower bound above upper bound for assets "
                f"{format_labels(problem.index[bad])}."
            )
        return lo, hi

    def validate(self, problem: Problem) -> None:
        """Check the bounds align to the assets and lower <= upper."""
        self._money(problem)

    @per_problem(by_budget=True)
    def _sides(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """The bounds in money with an absent side at -inf / inf."""
        lo, hi = self._money(problem)
        return np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf)

    @per_problem(by_budget=True)
    def linear_rows(self, problem: Problem) -> LinearRows:
        """``lower_i <= x_i <= upper_i`` where bounds are given (money)."""
        lo, hi = self._sides(problem)
        sel = np.flatnonzero(np.isfinite(lo) | np.isfinite(hi))
        return LinearRows(self.name, lo[sel], hi[sel], assets=sel, unit=self.unit)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest bound violation in money."""
        lo, hi = self._sides(problem)
        x = np.asarray(spend, dtype=float)
        return float(max((lo - x).max(initial=0.0), (x - hi).max(initial=0.0), 0.0))

    @per_problem(by_budget=True)
    def implied_bounds(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """The bounds themselves, in money."""
        lo, hi = self._sides(problem)
        return np.maximum(lo, 0.0), hi

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        return f"per-asset bounds '{self.name}'"


@dataclass(frozen=True)
class Lock(Constraint):
    """Committed spend: assets held at exactly a given spend, or at least a committed minimum.

    Parameters
    ----------
    spend : Mapping or Series
        Asset id -> committed money.
    minimum : bool, default False
        If true the amounts are minimums ("at least"), otherwise exact.
    name : str, default "lock"

    Examples
    --------
    >>> Lock({"ru_creator_a": 50_000}, minimum=True, name="committed_ru")
    Lock(spend={'ru_creator_a': 50000}, minimum=True, name='committed_ru')
    """

    spend: Any
    minimum: bool = False
    name: str = "lock"
    kind: ClassVar[str] = "lock"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        _check_flag(self.minimum, "minimum", self.name)
        if isinstance(self.spend, (Mapping, pd.Series)):
            for a, v in dict(self.spend).items():
                _check_amount(v, f"spend[{a!r}]", self.name)

    @per_problem
    def _amounts(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.spend, Mapping):
            ser = pd.Series(dict(self.spend), dtype=float)
        elif isinstance(self.spend, pd.Series):
            ser = self.spend.astype(float)
        else:
            raise ConstraintError(
                f"constraint '{self.name}': spend must map asset id -> money, e.g. "
                "{'ru_creator_a': 50000}."
            )
        if ser.empty:
            raise ConstraintError(f"constraint '{self.name}' locks no asset.")
        pos = resolve_ids(problem, ser.index, self.name)
        vals = ser.to_numpy(float)
        if not np.all(np.isfinite(vals)) or (vals < 0).any():
            bad = ser.index[~np.isfinite(vals) | (vals < 0)]
            raise ConstraintError(
                f"constraint '{self.name}': committed spend must be finite and non-negative; "
                f"check {format_labels(bad)}."
            )
        return pos, vals

    def validate(self, problem: Problem) -> None:
        """Check the locked assets exist and the amounts are valid."""
        self._amounts(problem)

    def linear_rows(self, problem: Problem) -> LinearRows:
        """``x_i == amount_i`` (or ``>=`` for minimums)."""
        pos, vals = self._amounts(problem)
        if self.minimum:
            return LinearRows(self.name, vals, np.full(len(vals), np.inf), assets=pos)
        return LinearRows(self.name, vals, vals, assets=pos, equal=True)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest deviation from the committed spend, in money."""
        pos, vals = self._amounts(problem)
        diff = vals - spend[pos]
        if self.minimum:
            return float(max(diff.max(), 0.0))
        return float(np.abs(diff).max())

    def implied_bounds(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """Locked amounts as lower (and for exact locks upper) bounds."""
        pos, vals = self._amounts(problem)
        lo = np.zeros(problem.n_assets)
        hi = np.full(problem.n_assets, np.inf)
        lo[pos] = vals
        if not self.minimum:
            hi[pos] = vals
        return lo, hi

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        pos, vals = self._amounts(problem)
        what = "at least" if self.minimum else "exactly"
        return (f"lock '{self.name}': {len(pos)} committed asset(s) at {what} "
                f"{vals.sum():,.0f} in total")


@dataclass(frozen=True)
class Roster(Constraint):
    """Only the listed assets may receive spend.

    Parameters
    ----------
    assets : sequence of asset ids
        The roster.
    name : str, default "roster"
    """

    assets: Sequence[Any]
    name: str = "roster"
    kind: ClassVar[str] = "roster"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        if isinstance(self.assets, (str, bytes, Mapping)) or not isinstance(
                self.assets, (Sequence, np.ndarray, pd.Index, set, frozenset)):
            raise ConstraintError(
                f"constraint '{self.name}': assets must be a list of asset ids; got "
                f"{type(self.assets).__name__}."
            )

    @per_problem
    def _outside(self, problem: Problem) -> np.ndarray:
        if not len(self.assets):
            raise ConstraintError(
                f"constraint '{self.name}': assets must be a non-empty list of asset ids."
            )
        pos = resolve_ids(problem, self.assets, self.name)
        outside = np.ones(problem.n_assets, dtype=bool)
        outside[pos] = False
        return outside

    def validate(self, problem: Problem) -> None:
        """Check the roster's ids exist."""
        self._outside(problem)

    def linear_rows(self, problem: Problem) -> LinearRows:
        """``x_i <= 0`` for every asset outside the roster."""
        sel = np.flatnonzero(self._outside(problem))
        return LinearRows(self.name, np.full(len(sel), -np.inf), np.zeros(len(sel)), assets=sel)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest spend outside the roster, in money."""
        out = self._outside(problem)
        return float(max(spend[out].max(initial=0.0), 0.0))

    def implied_bounds(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """Zero upper bounds outside the roster."""
        hi = np.where(self._outside(problem), 0.0, np.inf)
        return np.zeros(problem.n_assets), hi

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        return f"roster '{self.name}': only {len(self.assets)} listed asset(s) may receive spend"


@dataclass(frozen=True)
class _Group(Constraint):
    where: Mapping[str, Any]
    amount: float
    unit: Unit = "money"
    name: str | None = None
    sense: ClassVar[str] = "ge"

    def __post_init__(self) -> None:
        owner = self.name if isinstance(self.name, str) else self.kind
        _check_where(self.where, owner)
        _check_amount(self.amount, "amount", owner)
        _check_unit(self.unit, owner)
        if self.name is None:
            object.__setattr__(self, "name", f"{self.kind}[{_where_text(self.where)}]")
        _check_name(self.name, self.kind)

    @per_problem(by_budget=True)
    def _money_amount(self, problem: Problem) -> float:
        _check_unit(self.unit, self.name)
        amt = check_finite_number(self.amount, f"constraint '{self.name}'.amount", minimum=0.0)
        if self.unit == "share" and amt > 1.0:
            raise ConstraintError(
                f"constraint '{self.name}': a share amount must be between 0 and 1 (got "
                f"{amt:g}); did you mean unit='money' or {amt / 100:g}?"
            )
        return amt * problem.budget if self.unit == "share" else amt

    def validate(self, problem: Problem) -> None:
        """Check the group selects assets and the amount is valid."""
        self.group_mask(problem)
        self._money_amount(problem)

    def linear_rows(self, problem: Problem) -> LinearRows:
        """``sum_{i in group} x_i (>=|<=) amount`` (money)."""
        mask = self.group_mask(problem)
        amt = np.array([self._money_amount(problem)])
        inf = np.full(1, np.inf)
        lower, upper = (amt, inf) if self.sense == "ge" else (-inf, amt)
        return LinearRows(self.name, lower, upper, coef=mask[None, :].astype(float),
                          unit=self.unit)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Shortfall (floor) or excess (cap) in money."""
        mask = self.group_mask(problem)
        total = spend[mask].sum()
        amt = self._money_amount(problem)
        return float(max(amt - total if self.sense == "ge" else total - amt, 0.0))

    @per_problem
    def group_mask(self, problem: Problem) -> np.ndarray:
        """Boolean mask of the group's assets."""
        return select_assets(problem, self.where, self.name)

    def unit_amount(self, problem: Problem) -> float:
        """Money in one percent of budget (share) or one money unit."""
        return problem.budget / 100 if self.unit == "share" else 1.0


@dataclass(frozen=True)
class GroupFloor(_Group):
    """At least ``amount`` on the assets selected by ``where`` (market, channel, tier, tags ...).

    Parameters
    ----------
    where : Mapping
        Attribute filters, e.g. ``{"market": "RU"}`` or ``{"tags": "brand"}``.
    amount : float
        Money, or a share of the budget with ``unit="share"``.
    unit : {"money", "share"}, default "money"
    name : str, optional
        Defaults to a name built from ``where``.

    Examples
    --------
    >>> GroupFloor(where={"market": "RU"}, amount=0.3, unit="share", name="ru_floor")
    GroupFloor(where={'market': 'RU'}, amount=0.3, unit='share', name='ru_floor')
    """

    kind: ClassVar[str] = "group_floor"
    sense: ClassVar[str] = "ge"

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        amt = f"{self.amount:.0%} of budget" if self.unit == "share" else f"{self.amount:,.0f}"
        return f"floor '{self.name}': at least {amt} on {_where_text(self.where)}"


@dataclass(frozen=True)
class GroupCap(_Group):
    """At most ``amount`` on the assets selected by ``where`` (a concentration cap).

    Parameters
    ----------
    where : Mapping
        Attribute filters, e.g. ``{"channel": ["social", "video"]}``.
    amount : float
        Money, or a share of the budget with ``unit="share"``.
    unit : {"money", "share"}, default "money"
    name : str, optional
    """

    kind: ClassVar[str] = "group_cap"
    sense: ClassVar[str] = "le"

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        amt = f"{self.amount:.0%} of budget" if self.unit == "share" else f"{self.amount:,.0f}"
        return f"cap '{self.name}': at most {amt} on {_where_text(self.where)}"


@dataclass(frozen=True)
class ShiftLimit(Constraint):
    """Limit how far each asset's spend may move from the current allocation.

    Parameters
    ----------
    max_change : float, Mapping or Series
        With ``relative=True`` a fraction of current spend (0.1 = +/-10%); otherwise money.
    relative : bool, default True
    allow_new : float, default 0.0
        Money any asset may move by in addition (lets assets with no current spend start).
    name : str, default "shift"
    """

    max_change: Any = 0.1
    relative: bool = True
    allow_new: float = 0.0
    name: str = "shift"
    kind: ClassVar[str] = "shift_limit"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        _check_flag(self.relative, "relative", self.name)
        _check_amount(self.allow_new, "allow_new", self.name)

    @per_problem
    def _limits(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        if problem.current is None:
            raise ConstraintError(
                f"constraint '{self.name}' limits changes against the current allocation, but "
                "the problem has no current spend; pass current=... to Problem."
            )
        cur = problem.current.to_numpy(float)
        lim = as_asset_series(self.max_change, problem.index, f"{self.name}.max_change").to_numpy()
        if (lim < 0).any():
            raise ConstraintError(f"constraint '{self.name}': max_change must be non-negative.")
        extra = check_finite_number(self.allow_new, f"{self.name}.allow_new", minimum=0.0)
        width = (lim * cur if self.relative else lim) + extra
        return np.maximum(cur - width, 0.0), cur + width

    def validate(self, problem: Problem) -> None:
        """Check that a current allocation exists."""
        self._limits(problem)

    def linear_rows(self, problem: Problem) -> LinearRows:
        """``lo_i <= x_i <= hi_i`` around the current spend."""
        lo, hi = self._limits(problem)
        return LinearRows(self.name, lo, hi, assets=np.arange(problem.n_assets))

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest move beyond the limit, in money."""
        lo, hi = self._limits(problem)
        return float(max((lo - spend).max(), (spend - hi).max(), 0.0))

    def implied_bounds(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """The band around the current spend."""
        return self._limits(problem)

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        if self.relative and np.isscalar(self.max_change):
            return (f"shift limit '{self.name}': each asset within "
                    f"+/-{self.max_change:.0%} of current")
        return f"shift limit '{self.name}'"


@dataclass(frozen=True)
class Turnover(Constraint):
    """Limit the total money moved: ``sum_i |x_i - current_i| <= limit``.

    Parameters
    ----------
    limit : float
        Money, or a share of the budget with ``unit="share"``.
    unit : {"money", "share"}, default "share"
    name : str, default "turnover"
    """

    limit: float
    unit: Unit = "share"
    name: str = "turnover"
    kind: ClassVar[str] = "turnover"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        _check_amount(self.limit, "limit", self.name)
        _check_unit(self.unit, self.name)

    def _money_limit(self, problem: Problem) -> float:
        _check_unit(self.unit, self.name)
        if problem.current is None:
            raise ConstraintError(
                f"constraint '{self.name}' limits turnover against the current allocation, but "
                "the problem has no current spend; pass current=... to Problem."
            )
        amt = check_finite_number(self.limit, f"constraint '{self.name}'.limit", minimum=0.0)
        return amt * problem.budget if self.unit == "share" else amt

    def validate(self, problem: Problem) -> None:
        """Check that a current allocation exists and the limit is valid."""
        self._money_limit(problem)

    def build(self, ctx: BuildContext) -> None:
        """Add ``sum |w - w0| <= limit / B``."""
        import cvxpy as cp

        cur = ctx.money(ctx.problem.current.to_numpy(float))
        self._money_limit(ctx.problem)  # validates
        ctx.add(self.name, cp.sum(cp.abs(ctx.w - cur)), "le",
                ctx.amount(float(self.limit), self.unit))

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Excess turnover, in money."""
        moved = np.abs(spend - problem.current.to_numpy(float)).sum()
        return float(max(moved - self._money_limit(problem), 0.0))

    def unit_amount(self, problem: Problem) -> float:
        """Money in one percent of budget (share) or one money unit."""
        return problem.budget / 100 if self.unit == "share" else 1.0

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        amt = f"{self.limit:.0%} of budget" if self.unit == "share" else f"{self.limit:,.0f}"
        return f"turnover '{self.name}': at most {amt} moved in total"


@dataclass(frozen=True)
class ResponseFloor(Constraint):
    """A group's expected outcome must reach ``level`` (convex: the curves are concave).

    Parameters
    ----------
    where : Mapping
        Attribute filters selecting the group, e.g. ``{"market": "RU"}``.
    level : float
        Expected outcome, in outcome units ("at least 5,000 conversions").
    name : str, optional
    """

    where: Mapping[str, Any]
    level: float
    name: str | None = None
    kind: ClassVar[str] = "response_floor"

    def __post_init__(self) -> None:
        owner = self.name if isinstance(self.name, str) else self.kind
        _check_where(self.where, owner)
        _check_amount(self.level, "level", owner)
        if self.name is None:
            object.__setattr__(self, "name", f"response_floor[{_where_text(self.where)}]")
        _check_name(self.name, self.kind)

    def validate(self, problem: Problem) -> None:
        """Check the group and the level."""
        select_assets(problem, self.where, self.name)
        check_finite_number(self.level, f"constraint '{self.name}'.level", minimum=0.0)

    def build(self, ctx: BuildContext) -> None:
        """Add ``sum_{i in group} r_i(x_i) / B >= level / B``."""
        import cvxpy as cp

        mask = select_assets(ctx.problem, self.where, self.name)
        if ctx.outcome is None:  # pragma: no cover - program always provides it
            raise InputError("response floor needs the outcome expression")
        lhs = cp.sum(ctx.outcome[np.flatnonzero(mask)])
        ctx.add(self.name, lhs, "ge", ctx.money(float(self.level)))

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Shortfall of the group's true expected outcome."""
        mask = select_assets(problem, self.where, self.name)
        got = problem.return_term.outcome(spend)[mask].sum()
        return float(max(self.level - got, 0.0))

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        return (f"response floor '{self.name}': expected outcome of {_where_text(self.where)} "
                f"at least {self.level:,.0f}")


#: Attributes of a helper variable that survive multiplication by a positive number.
_SCALABLE = {"nonneg", "nonpos", "pos", "neg", "symmetric", "PSD", "NSD"}


def _shares_sized_helpers(cons: list[Any], w: Any, budget: float) -> list[Any]:
    """Custom constraints with every money-sized helper variable ``t`` replaced by ``budget * t'``.

    A helper variable a custom function makes (``t >= |x - c|`` with ``x`` in money) takes
    values of the size of the budget, while the program's own variables are shares: a column
    a million times larger than the rest leaves interior-point solvers short of accuracy. The
    substitute ``t'`` is share-sized. Integer, boolean or bounded helpers are left as they are.
    """
    import cvxpy as cp

    swap: dict[int, Any] = {}
    for c in cons:
        for v in c.variables():
            if v is w or id(v) in swap:
                continue
            attrs = {k for k, val in v.attributes.items() if val is not None and val is not False}
            if not attrs <= _SCALABLE:
                continue
            new = cp.Variable(v.shape, name=f"{v.name()}_share", **{k: True for k in attrs})
            swap[id(v)] = budget * new
    if not swap:
        return list(cons)
    return [c.tree_copy(id_objects=dict(swap)) for c in cons]


@dataclass(frozen=True)
class CustomConstraint(Constraint):
    """A quant's own cvxpy constraints on the spend vector.

    Parameters
    ----------
    func : callable
        ``func(x, problem) -> list of cvxpy constraints`` where ``x`` is the spend in money as a
        cvxpy expression (asset order of ``problem.index``).
    name : str
        Appears in errors and results.

    Examples
    --------
    >>> CustomConstraint(lambda x, p: [x[0] <= 2 * x[1]], name="search_le_2x_social").name
    'search_le_2x_social'
    """

    func: Callable[[cp.Expression, Any], list[cp.Constraint]] = field(repr=False)
    name: str = "custom"
    kind: ClassVar[str] = "custom"

    def __post_init__(self) -> None:
        _check_name(self.name, self.kind)
        if not callable(self.func):
            raise ConstraintError(
                f"constraint '{self.name}': func must be a callable func(x, problem) returning "
                f"cvxpy constraints; got {type(self.func).__name__}."
            )

    def build(self, ctx: BuildContext) -> None:
        """Call ``func`` on the money expression ``budget * w`` and add what it returns."""
        import cvxpy as cp

        x = ctx.budget * ctx.w
        out = self.func(x, ctx.problem)
        if isinstance(out, cp.Constraint):
            out = [out]
        if not isinstance(out, (list, tuple)) or not all(
                isinstance(c, cp.Constraint) for c in out):
            raise ConstraintError(
                f"constraint '{self.name}': func must return a list of cvxpy constraints."
            )
        # the rows are written in money (x = budget * w, and any helper variable the function
        # makes is money-sized too): divided by the budget they are rows on shares, of the
        # size of every other row of the program (duals are per unit share, like a GroupFloor)
        scale = 1.0 / max(float(ctx.budget), 1e-300)
        out = _shares_sized_helpers(out, ctx.w, float(ctx.budget))
        for c in out:
            if not c.is_dcp():
                raise ConstraintError(
                    f"constraint '{self.name}' is not convex (DCP) and cannot be solved "
                    f"exactly: {c}. Rewrite it following cvxpy's DCP rules."
                )
            lhs, rhs = c.args
            if isinstance(c, cp.constraints.Equality):
                ctx.add(self.name, scale * (lhs - rhs), "eq", 0.0)
            elif isinstance(c, cp.constraints.Inequality) and not lhs.variables() \
                    and rhs.variables():
                # "amount <= expression" (also written "expression >= amount"): a floor, with
                # its dual signed like a GroupFloor's (raising the amount costs)
                ctx.add(self.name, scale * (rhs - lhs), "ge", 0.0)
            elif isinstance(c, cp.constraints.Inequality):
                ctx.add(self.name, scale * (lhs - rhs), "le", 0.0)
            else:
                raise ConstraintError(
                    f"constraint '{self.name}': only ==, <= and >= constraints are supported "
                    f"in custom constraints; got {type(c).__name__}."
                )

    def linear_rows(self, problem: Problem) -> LinearRows | None:
        """The custom constraints as rows on money spend when they are all affine, else None."""
        import cvxpy as cp

        x = cp.Variable(problem.n_assets)
        out = self.func(x, problem)
        cons = [out] if isinstance(out, cp.Constraint) else list(out)
        coefs, lowers, uppers, eq = [], [], [], []
        for c in cons:
            if not isinstance(c, (cp.constraints.Equality, cp.constraints.Inequality)):
                return None
            expr = c.args[0] - c.args[1]
            if not expr.is_affine() or [v.id for v in expr.variables()] != [x.id]:
                return None
            x.value = np.zeros(problem.n_assets)
            const = np.atleast_1d(np.asarray(expr.value, dtype=float)).ravel()
            grad = expr.grad[x]
            m = const.size
            a = (np.zeros((m, problem.n_assets)) if grad is None
                 else np.asarray(grad.toarray() if hasattr(grad, "toarray") else grad).T
                 .reshape(m, problem.n_assets))
            is_eq = isinstance(c, cp.constraints.Equality)
            coefs.append(a)
            uppers.append(-const)
            lowers.append(-const if is_eq else np.full(m, -np.inf))
            eq.append(np.full(m, is_eq))
        if not coefs:
            return None
        # an equality among inequalities is the row with lower == upper
        return LinearRows(self.name, np.concatenate(lowers), np.concatenate(uppers),
                          coef=np.vstack(coefs), equal=bool(np.concatenate(eq).all()))

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest violation of the custom constraints at ``spend`` (their own units).

        Raises
        ------
        ConstraintError
            When the function makes helper variables of its own: their values are not given
            by the spend, and :func:`portfolio_mkt.verify` checks such a constraint with
            :meth:`helper_gaps` (the smallest violation any helper values allow).
        """
        import cvxpy as cp

        x = cp.Constant(np.asarray(spend, dtype=float))
        out = self.func(x, problem)
        cons = [out] if isinstance(out, cp.Constraint) else list(out)
        if any(c.variables() for c in cons):
            raise ConstraintError(
                f"constraint '{self.name}' has helper variables of its own; check it with "
                "portfolio_mkt.verify(problem, spend)."
            )
        worst = 0.0
        for c in cons:
            lhs = np.asarray(c.args[0].value - c.args[1].value, dtype=float)
            if isinstance(c, cp.constraints.Equality):
                worst = max(worst, float(np.abs(lhs).max(initial=0.0)))
            else:
                worst = max(worst, float(lhs.max(initial=0.0)))
        return worst

    def helper_gaps(self, spend: np.ndarray, problem: Problem) -> list[tuple[Any, bool]] | None:
        """The constraints at a fixed spend when they hold helper variables, else None.

        Returns
        -------
        list of (cvxpy expression, bool) or None
            ``(lhs - rhs, is_equality)`` per constraint, in money, with the spend a constant:
            the constraint holds when some helper values make every gap ``<= 0`` (``== 0``
            for an equality). None when there are no helper variables (:meth:`violation`
            evaluates the constraint directly).
        """
        import cvxpy as cp

        x = cp.Constant(np.asarray(spend, dtype=float))
        out = self.func(x, problem)
        cons = [out] if isinstance(out, cp.Constraint) else list(out)
        if not any(c.variables() for c in cons):
            return None
        cons = _shares_sized_helpers(cons, None, max(float(problem.budget), 1.0))
        return [(c.args[0] - c.args[1], isinstance(c, cp.constraints.Equality)) for c in cons]

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        return f"custom constraint '{self.name}'"
