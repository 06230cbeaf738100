"""Whole-piece constraints: tickets, rate cards, how many creators, conflicts and links.

Each constraint is a small frozen value object with a name. It does not compile itself into
cvxpy: :func:`compile_rules` turns the list into per-asset arrays (minimum spend when funded,
unit prices, booking fees) and counting rows on the on/off indicators ``z``, which the branch
and bound of :mod:`portfolio_mkt.integer._bnb` uses. Each one checks itself at a plan in NumPy
(:meth:`violation`), independently of the search.

"Funded" means positive spend. An asset is *on* (``z = 1``) when it is funded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from ..constraints import select_assets
from ..exceptions import ConstraintError, InputError, format_labels

if TYPE_CHECKING:  # pragma: no cover
    from ..problem import Problem

__all__ = [
    "WholePiece",
    "MinimumTicket",
    "RateCard",
    "Cardinality",
    "AtMostOne",
    "Implies",
    "MinimumSpend",
    "CompiledRules",
    "compile_rules",
    "zero_tolerance",
]


def zero_tolerance(problem: Problem) -> float:
    """Money below which a spend counts as zero (``1e-7`` of the budget)."""
    return 1e-7 * problem.budget


def _per_asset(value: Any, problem: Problem, owner: str, field_name: str) -> np.ndarray:
    """A per-asset money amount from a scalar, mapping, Series or asset-table column name.

    Missing assets and NaN mean "not concerned" (NaN in the result).
    """
    if isinstance(value, str):
        if value not in problem.assets.columns:
            raise ConstraintError(
                f"constraint '{owner}': {field_name}={value!r} names no column of the asset "
                f"table; columns: {format_labels(problem.assets.columns) or 'none'}. Add the "
                "column or pass a number or a Series."
            )
        value = problem.assets[value]
    if isinstance(value, Mapping) and not isinstance(value, pd.Series):
        value = pd.Series(dict(value), dtype=object)
    if isinstance(value, pd.Series):
        unknown = value.index.difference(problem.index)
        if len(unknown):
            raise ConstraintError(
                f"constraint '{owner}': {field_name} names assets that are not in the problem: "
                f"{format_labels(unknown)}; check the ids against expected_return.index."
            )
        try:
            arr = pd.to_numeric(value.reindex(problem.index), errors="raise").to_numpy(float)
        except (TypeError, ValueError):
            raise ConstraintError(
                f"constraint '{owner}': {field_name} must hold numbers (money per asset)."
            ) from None
    else:
        try:
            arr = np.full(problem.n_assets, float(value))
        except (TypeError, ValueError):
            raise ConstraintError(
                f"constraint '{owner}': {field_name} must be a number, a Series by asset or the "
                f"name of an asset-table column; got {type(value).__name__}."
            ) from None
    bad = np.isinf(arr) | (arr < 0)
    if bad.any():
        raise ConstraintError(
            f"constraint '{owner}': {field_name} is negative or infinite for "
            f"{format_labels(problem.index[bad])}; amounts must be finite and >= 0."
        )
    return arr


def _mask(problem: Problem, where: Mapping[str, Any] | None, owner: str) -> np.ndarray:
    if where is None:
        return np.ones(problem.n_assets, dtype=bool)
    return select_assets(problem, where, owner)


def _ids_mask(problem: Problem, ids: Sequence[Any], owner: str) -> np.ndarray:
    idx = pd.Index(list(ids))
    unknown = idx.difference(problem.index)
    if len(unknown):
        raise ConstraintError(
            f"constraint '{owner}' names assets that are not in the problem: "
            f"{format_labels(unknown)}; check the ids against expected_return.index."
        )
    mask = np.zeros(problem.n_assets, dtype=bool)
    mask[problem.index.get_indexer(idx)] = True
    return mask


class WholePiece:
    """Base class of the whole-piece constraints (a named value object that checks itself)."""

    kind: ClassVar[str] = "whole_piece"
    name: str

    def validate(self, problem: Problem) -> None:
        """Raise :class:`ConstraintError` when the constraint does not fit ``problem``."""

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest violation at ``spend`` (money, or a count for counting rules); 0 if it holds."""
        raise NotImplementedError

    def describe(self, problem: Problem) -> str:
        """Plain-language description."""
        return f"{self.kind} '{self.name}'"


def _ticket_violation(x: np.ndarray, lo: np.ndarray, tol: float) -> float:
    on = x > tol
    short = np.where(on & np.isfinite(lo), lo - x, 0.0)
    return float(max(short.max(initial=0.0), 0.0))


@dataclass(frozen=True)
class MinimumTicket(WholePiece):
    """Spend on each asset is 0 or at least its fee.

    Parameters
    ----------
    fee : float, Mapping, Series or str
        Minimum fee in money: a scalar for every selected asset, a mapping / Series by asset
        (missing or NaN: no ticket), or the name of an asset-table column.
    where : Mapping, optional
        Restrict a scalar fee to the assets matching these attributes (as in ``GroupFloor``).
    name : str, default "ticket"

    Examples
    --------
    >>> MinimumTicket(fee=20_000, where={"channel": "creator"})
    MinimumTicket(fee=20000, where={'channel': 'creator'}, name='ticket')
    """

    fee: Any
    where: Mapping[str, Any] | None = None
    name: str = "ticket"
    kind: ClassVar[str] = "minimum_ticket"

    def fees(self, problem: Problem) -> np.ndarray:
        """Fee per asset in money (NaN: no ticket)."""
        arr = _per_asset(self.fee, problem, self.name, "fee")
        arr = np.where(_mask(problem, self.where, self.name), arr, np.nan)
        return np.where(arr > 0, arr, np.nan)

    def validate(self, problem: Problem) -> None:  # noqa: D102
        self.fees(problem)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest shortfall below the fee among funded assets (money)."""
        return _ticket_violation(np.asarray(spend, float), self.fees(problem),
                                 zero_tolerance(problem))

    def describe(self, problem: Problem) -> str:  # noqa: D102
        f = self.fees(problem)
        n = int(np.isfinite(f).sum())
        return (f"minimum ticket '{self.name}': {n} assets get 0 or at least their fee "
                f"({np.nanmin(f):,.0f} to {np.nanmax(f):,.0f})" if n else
                f"minimum ticket '{self.name}': no asset concerned")


@dataclass(frozen=True)
class MinimumSpend(WholePiece):
    """No asset gets a spend between 0 and a minimum meaningful amount.

    Parameters
    ----------
    amount : float, optional
        Minimum meaningful spend in money. Default: ``share`` of the budget.
    share : float, default 0.005
        Used when ``amount`` is None (0.5% of the budget).
    name : str, default "min_spend"
    """

    amount: float | None = None
    share: float = 0.005
    name: str = "min_spend"
    kind: ClassVar[str] = "minimum_spend"

    def money(self, problem: Problem) -> float:
        """The minimum in money."""
        if self.amount is not None:
            amt = float(self.amount)
            if not np.isfinite(amt) or amt < 0:
                raise ConstraintError(
                    f"constraint '{self.name}': amount must be a finite number >= 0; got "
                    f"{self.amount!r}."
                )
            return amt
        s = float(self.share)
        if not np.isfinite(s) or not 0 <= s <= 1:
            raise ConstraintError(
                f"constraint '{self.name}': share must be between 0 and 1 (got {self.share!r}); "
                "0.005 means 0.5% of the budget."
            )
        return s * problem.budget

    def validate(self, problem: Problem) -> None:  # noqa: D102
        self.money(problem)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest shortfall below the minimum among funded assets (money)."""
        lo = np.full(problem.n_assets, self.money(problem))
        return _ticket_violation(np.asarray(spend, float), lo, zero_tolerance(problem))

    def describe(self, problem: Problem) -> str:  # noqa: D102
        return (f"minimum spend '{self.name}': every asset gets 0 or at least "
                f"{self.money(problem):,.0f}")


@dataclass(frozen=True)
class RateCard(WholePiece):
    """Spend is a whole number of units at a unit price, plus a booking fee when booked.

    ``spend = units * unit_price + booking_fee`` for a booked asset (units >= 1), 0 otherwise.
    The booking fee is charged to the budget but buys no outcome: the response curve sees
    ``units * unit_price``.

    Parameters
    ----------
    unit_price : float, Mapping, Series or str
        Price of one unit (post, flight) in money, per asset; NaN / missing: not on the card.
    booking_fee : float, Mapping, Series or str, default 0
        Fixed fee per booked asset (money).
    where : Mapping, optional
        Restrict a scalar price to the assets matching these attributes.
    name : str, default "rate_card"
    """

    unit_price: Any
    booking_fee: Any = 0.0
    where: Mapping[str, Any] | None = None
    name: str = "rate_card"
    kind: ClassVar[str] = "rate_card"

    def prices(self, problem: Problem) -> np.ndarray:
        """Unit price per asset (NaN: not on the card)."""
        arr = _per_asset(self.unit_price, problem, self.name, "unit_price")
        arr = np.where(_mask(problem, self.where, self.name), arr, np.nan)
        if (arr == 0).any():
            raise ConstraintError(
                f"constraint '{self.name}': unit_price is 0 for "
                f"{format_labels(problem.index[arr == 0])}; a unit must cost something "
                "(leave the asset off the card instead)."
            )
        return arr

    def fees(self, problem: Problem) -> np.ndarray:
        """Booking fee per asset on the card (0 elsewhere)."""
        fee = np.nan_to_num(_per_asset(self.booking_fee, problem, self.name, "booking_fee"))
        return np.where(np.isfinite(self.prices(problem)), fee, 0.0)

    def validate(self, problem: Problem) -> None:  # noqa: D102
        self.prices(problem)
        self.fees(problem)

    def units(self, spend: np.ndarray, problem: Problem) -> np.ndarray:
        """Units bought at ``spend`` (NaN off the card; may be fractional if it breaks)."""
        x = np.asarray(spend, float)
        p = self.prices(problem)
        on = x > zero_tolerance(problem)
        with np.errstate(invalid="ignore"):
            return np.where(on, (x - self.fees(problem)) / p, 0.0) + np.where(
                np.isfinite(p), 0.0, np.nan)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Money distance of each booked asset's spend from the nearest valid amount."""
        x = np.asarray(spend, float)
        p = self.prices(problem)
        card = np.isfinite(p)
        u = self.units(x, problem)[card]
        pc = p[card]
        on = x[card] > zero_tolerance(problem)
        near = np.maximum(np.round(u), 1.0)
        off = np.abs(u - near) * pc
        return float(np.where(on, off, 0.0).max(initial=0.0))

    def describe(self, problem: Problem) -> str:  # noqa: D102
        n = int(np.isfinite(self.prices(problem)).sum())
        return f"rate card '{self.name}': {n} assets bought in whole units"


@dataclass(frozen=True)
class Cardinality(WholePiece):
    """At most / at least ``K`` funded assets in a group selected by attributes.

    Parameters
    ----------
    where : Mapping, optional
        Attribute filters (``{"market": "US", "channel": "creator"}``); None: every asset.
    at_most, at_least : int, optional
        Bounds on the number of funded assets in the group (at least one must be given).
    min_funded : float, optional
        For ``at_least``: spend (money) from which an asset without a ticket counts as funded;
        default 0.01% of the budget.
    name : str, optional
        Default ``"cardinality[<where>]"``.
    """

    where: Mapping[str, Any] | None = None
    at_most: int | None = None
    at_least: int | None = None
    min_funded: float | None = None
    name: str | None = None
    kind: ClassVar[str] = "cardinality"

    def __post_init__(self) -> None:
        if self.name is None:
            text = ("all" if not self.where else
                    ", ".join(f"{k}={v}" for k, v in self.where.items()))
            object.__setattr__(self, "name", f"cardinality[{text}]")

    def group_mask(self, problem: Problem) -> np.ndarray:
        """Boolean mask of the group."""
        return _mask(problem, self.where, self.name)

    def funded_threshold(self, problem: Problem) -> float:
        """Spend from which an asset counts as funded for ``at_least``."""
        if self.min_funded is None:
            return 1e-4 * problem.budget
        return float(self.min_funded)

    def validate(self, problem: Problem) -> None:  # noqa: D102
        m = self.group_mask(problem)
        if self.at_most is None and self.at_least is None:
            raise ConstraintError(
                f"constraint '{self.name}': give at_most, at_least or both (a number of assets)."
            )
        for label, k in (("at_most", self.at_most), ("at_least", self.at_least)):
            if k is not None and (int(k) != k or k < 0):
                raise ConstraintError(
                    f"constraint '{self.name}': {label} must be a whole number >= 0; got {k!r}."
                )
        if self.at_least is not None and self.at_least > m.sum():
            raise ConstraintError(
                f"constraint '{self.name}': at_least={self.at_least} but the group has only "
                f"{int(m.sum())} assets; lower at_least or widen the group."
            )
        if (self.at_most is not None and self.at_least is not None
                and self.at_least > self.at_most):
            raise ConstraintError(
                f"constraint '{self.name}': at_least={self.at_least} exceeds "
                f"at_most={self.at_most}."
            )
        if self.min_funded is not None and not (np.isfinite(self.min_funded)
                                                and self.min_funded > 0):
            raise ConstraintError(
                f"constraint '{self.name}': min_funded must be a positive amount of money."
            )

    def count(self, spend: np.ndarray, problem: Problem, threshold: float | None = None) -> int:
        """Number of funded assets of the group at ``spend``."""
        thr = zero_tolerance(problem) if threshold is None else threshold
        return int((np.asarray(spend, float)[self.group_mask(problem)] > thr).sum())

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Assets over ``at_most`` or under ``at_least`` (a count)."""
        out = 0.0
        if self.at_most is not None:
            out = max(out, self.count(spend, problem) - self.at_most)
        if self.at_least is not None:
            thr = self.funded_threshold(problem) * (1 - 1e-6)
            out = max(out, self.at_least - self.count(spend, problem, thr))
        return float(out)

    def describe(self, problem: Problem) -> str:  # noqa: D102
        parts = []
        if self.at_least is not None:
            parts.append(f"at least {self.at_least}")
        if self.at_most is not None:
            parts.append(f"at most {self.at_most}")
        return (f"cardinality '{self.name}': {' and '.join(parts)} funded of "
                f"{int(self.group_mask(problem).sum())} assets")


@dataclass(frozen=True)
class AtMostOne(WholePiece):
    """At most one of the listed assets is funded (competing creators).

    Parameters
    ----------
    assets : sequence
        Asset ids (at least two).
    name : str, optional
        Default ``"conflict[a|b|...]"``.
    """

    assets: Sequence[Any] = field(default_factory=tuple)
    name: str | None = None
    kind: ClassVar[str] = "at_most_one"

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", tuple(self.assets))
        if self.name is None:
            object.__setattr__(self, "name", "conflict[" + "|".join(map(str, self.assets)) + "]")

    def group_mask(self, problem: Problem) -> np.ndarray:
        """Boolean mask of the listed assets."""
        return _ids_mask(problem, self.assets, self.name)

    def validate(self, problem: Problem) -> None:  # noqa: D102
        if len(self.assets) < 2:
            raise ConstraintError(
                f"constraint '{self.name}': list at least two competing assets."
            )
        self.group_mask(problem)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Funded assets beyond one (a count)."""
        x = np.asarray(spend, float)[self.group_mask(problem)]
        return float(max(int((x > zero_tolerance(problem)).sum()) - 1, 0))

    def describe(self, problem: Problem) -> str:  # noqa: D102
        return f"conflict '{self.name}': at most one of {format_labels(self.assets)}"


@dataclass(frozen=True)
class Implies(WholePiece):
    """If asset ``if_funded`` is funded, every asset in ``then_funded`` is funded too.

    Parameters
    ----------
    if_funded : asset id
    then_funded : asset id or sequence of asset ids
    min_funded : float, optional
        Spend (money) from which a ``then`` asset without a ticket counts as funded; default
        0.01% of the budget.
    name : str, optional
        Default ``"implies[a->b]"``.
    """

    if_funded: Any = None
    then_funded: Any = None
    min_funded: float | None = None
    name: str | None = None
    kind: ClassVar[str] = "implies"

    def __post_init__(self) -> None:
        then = self.then_funded
        if isinstance(then, (str, int)) or not isinstance(then, Sequence):
            then = (then,)
        object.__setattr__(self, "then_funded", tuple(then))
        if self.name is None:
            object.__setattr__(
                self, "name",
                f"implies[{self.if_funded}->{'|'.join(map(str, self.then_funded))}]")

    def positions(self, problem: Problem) -> tuple[int, np.ndarray]:
        """Position of the ``if`` asset and of the ``then`` assets."""
        a = np.flatnonzero(_ids_mask(problem, [self.if_funded], self.name))[0]
        b = np.flatnonzero(_ids_mask(problem, list(self.then_funded), self.name))
        return int(a), b

    def funded_threshold(self, problem: Problem) -> float:
        """Spend from which a ``then`` asset counts as funded."""
        return 1e-4 * problem.budget if self.min_funded is None else float(self.min_funded)

    def validate(self, problem: Problem) -> None:  # noqa: D102
        a, b = self.positions(problem)
        if a in set(b.tolist()):
            raise ConstraintError(f"constraint '{self.name}': an asset cannot imply itself.")

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Number of ``then`` assets left unfunded while the ``if`` asset is funded."""
        x = np.asarray(spend, float)
        a, b = self.positions(problem)
        if x[a] <= zero_tolerance(problem):
            return 0.0
        thr = self.funded_threshold(problem) * (1 - 1e-6)
        return float((x[b] <= thr).sum())

    def describe(self, problem: Problem) -> str:  # noqa: D102
        return (f"link '{self.name}': funding {self.if_funded!r} requires funding "
                f"{format_labels(self.then_funded)}")


# ---------------------------------------------------------------------------- compile
@dataclass
class CompiledRules:
    """The whole-piece rules as arrays over the problem's assets (money units).

    Attributes
    ----------
    lower_on : ndarray
        Minimum spend of a funded asset (0 where none).
    price, booking_fee : ndarray
        Unit price (NaN: not on a card) and booking fee.
    upper : ndarray
        Largest spend the strategy constraints allow.
    binary : ndarray of bool
        Assets with an on/off indicator.
    counts : list of (name, mask, at_least, at_most)
        Counting rows on the indicators (cardinality and conflicts).
    links : list of (name, if position, then positions)
    owners : dict
        Asset position -> names of the rules that give it an indicator.
    """

    lower_on: np.ndarray
    price: np.ndarray
    booking_fee: np.ndarray
    upper: np.ndarray
    binary: np.ndarray
    counts: list[tuple[str, np.ndarray, int | None, int | None]]
    links: list[tuple[str, int, np.ndarray]]
    owners: dict[int, list[str]]
    rules: tuple[WholePiece, ...]

    @property
    def card(self) -> np.ndarray:
        """Mask of the assets on a rate card."""
        return np.isfinite(self.price)


def compile_rules(problem: Problem, rules: Sequence[WholePiece]) -> CompiledRules:
    """Validate the whole-piece rules against ``problem`` and turn them into arrays.

    Parameters
    ----------
    problem : Problem
    rules : sequence of WholePiece

    Returns
    -------
    CompiledRules

    Raises
    ------
    ConstraintError
        A rule is ill-specified (unknown asset, column or attribute, bad amount), names clash,
        or two rate cards price the same asset.
    """
    n = problem.n_assets
    names: set[str] = {c.name for c in problem.constraints}
    lower = np.zeros(n)
    price = np.full(n, np.nan)
    fee = np.zeros(n)
    binary = np.zeros(n, dtype=bool)
    owners: dict[int, list[str]] = {}
    counts: list[tuple[str, np.ndarray, int | None, int | None]] = []
    links: list[tuple[str, int, np.ndarray]] = []

    def own(mask: np.ndarray, name: str) -> None:
        for i in np.flatnonzero(mask):
            owners.setdefault(int(i), []).append(name)
        binary[mask] = True

    for r in rules:
        if not isinstance(r, WholePiece):
            raise InputError(
                f"whole-piece rules must be MinimumTicket, RateCard, Cardinality, AtMostOne, "
                f"Implies or MinimumSpend objects; got {type(r).__name__}. Continuous strategy "
                "constraints (GroupFloor, Lock ...) belong in Problem(constraints=...)."
            )
        if r.name in names:
            raise ConstraintError(
                f"two constraints are named '{r.name}'; names must be unique (they identify "
                "constraints in results and errors)."
            )
        names.add(r.name)
        r.validate(problem)
        if isinstance(r, MinimumTicket):
            f = r.fees(problem)
            m = np.isfinite(f)
            lower = np.where(m, np.maximum(lower, np.nan_to_num(f)), lower)
            own(m, r.name)
        elif isinstance(r, MinimumSpend):
            lower = np.maximum(lower, r.money(problem))
            if r.money(problem) > 0:
                own(np.ones(n, dtype=bool), r.name)
        elif isinstance(r, RateCard):
            p = r.prices(problem)
            m = np.isfinite(p)
            both = m & np.isfinite(price)
            if both.any():
                raise ConstraintError(
                    f"constraint '{r.name}': {format_labels(problem.index[both])} already have "
                    "a rate card; give each asset one card."
                )
            price = np.where(m, p, price)
            fee = np.where(m, r.fees(problem), fee)
            own(m, r.name)
        elif isinstance(r, Cardinality):
            m = r.group_mask(problem)
            own(m, r.name)
            if r.at_least is not None:
                lower = np.where(m, np.maximum(lower, r.funded_threshold(problem)), lower)
            counts.append((r.name, m, r.at_least, r.at_most))
        elif isinstance(r, AtMostOne):
            m = r.group_mask(problem)
            own(m, r.name)
            counts.append((r.name, m, None, 1))
        elif isinstance(r, Implies):
            a, b = r.positions(problem)
            m = np.zeros(n, dtype=bool)
            m[a] = True
            m[b] = True
            own(m, r.name)
            lower[b] = np.maximum(lower[b], r.funded_threshold(problem))
            links.append((r.name, a, b))
        else:  # pragma: no cover - subclasses of WholePiece outside the package
            raise InputError(f"unsupported whole-piece rule {type(r).__name__}.")
    upper = np.asarray(problem.spend_upper_bounds(), dtype=float)
    card = np.isfinite(price)
    # the smallest booked spend on a card is one unit plus the fee
    lower = np.where(card, np.maximum(lower, np.nan_to_num(price) + fee), lower)
    return CompiledRules(lower_on=lower, price=price, booking_fee=fee, upper=upper,
                         binary=binary, counts=counts, links=links, owners=owners,
                         rules=tuple(rules))
