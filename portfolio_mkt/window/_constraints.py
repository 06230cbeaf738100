"""Constraints of a planning window: per week, per month, or over the whole window.

Every constraint is a small named value object that emits linear rows ``A x (<=|>=|==) b`` on
the flat plan ``x[a * T + t]`` (money), each row with a label naming the week and the asset or
group. The same rows compile into the program and verify the answer after the solve, so a
violation names the constraint, the week and the asset.

The strategy constraints of :mod:`portfolio_mkt` (``Bounds``, ``Lock``, ``Roster``,
``GroupFloor``, ``GroupCap``) apply to a window through :class:`Scoped`: to the spend totals of
the whole window, of each month, or of each week. A ``"share"`` amount is a share of the spend
in the same block (of the window, the month or the week).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import ConstraintError, InputError, format_labels
from ._periods import resolve_weeks, week_text
from ._select import select_window_assets

#: A :class:`~portfolio_mkt.window.WindowProblem` (typed loosely: the problem builds these
#: constraints, so this module does not import it).
WindowProblem = Any

__all__ = [
    "RowBlock",
    "WindowConstraint",
    "Scoped",
    "Pacing",
    "DarkWeeks",
    "ContractLock",
    "Phasing",
    "WindowFloor",
    "WindowCap",
    "PeriodCap",
    "PeriodFloor",
    "PeriodMinSpend",
    "as_window_constraint",
]

_PER = ("window", "month", "period")


@dataclass
class RowBlock:
    """Rows ``A x (sense) rhs`` of one constraint, in money, with a label per row."""

    matrix: sp.csr_matrix
    sense: str
    rhs: np.ndarray
    labels: Any  # list of str, or a function row -> str (built only when a row is named)

    def label(self, k: int) -> str:
        """Text naming row ``k`` (week and asset or group)."""
        return self.labels(k) if callable(self.labels) else self.labels[k]

    def violations(self, x: np.ndarray) -> np.ndarray:
        """Violation of each row at the flat money plan ``x`` (0 where it holds)."""
        v = self.matrix @ x - self.rhs
        if self.sense == "le":
            return np.maximum(v, 0.0)
        if self.sense == "ge":
            return np.maximum(-v, 0.0)
        return np.abs(v)


class _Rows:
    """Accumulates rows of one sense: coefficient triplets, right-hand sides and labels."""

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.rhs: list[float] = []
        self.labels: list[str] = []

    def add(self, cols: np.ndarray, vals: np.ndarray | float, rhs: float, label: str) -> None:
        cols = np.asarray(cols, dtype=int)
        k = len(self.rhs)
        self.r.append(np.full(len(cols), k))
        self.c.append(cols)
        self.v.append(np.broadcast_to(np.asarray(vals, dtype=float), cols.shape).copy())
        self.rhs.append(float(rhs))
        self.labels.append(label)

    def block(self, sense: str) -> RowBlock | None:
        if not self.rhs:
            return None
        m = sp.csr_matrix(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
            shape=(len(self.rhs), self.n_cols),
        )
        return RowBlock(m, sense, np.array(self.rhs), self.labels)


def _pairs_block(
    wp: WindowProblem, assets: np.ndarray, weeks: np.ndarray, rhs: float, sense: str,
    note: str = "",
) -> RowBlock | None:
    """One row ``x[a, t] (sense) rhs`` per (asset, week) pair, built vectorised."""
    assets = np.asarray(assets, dtype=int)
    weeks = np.asarray(weeks, dtype=int)
    if assets.size == 0 or weeks.size == 0:
        return None
    aa = np.repeat(assets, weeks.size)
    tt = np.tile(weeks, assets.size)
    m = len(aa)
    mat = sp.csr_matrix((np.ones(m), (np.arange(m), aa * wp.T + tt)), shape=(m, wp.n * wp.T))

    def label(k: int) -> str:
        return f"{week_text(wp.periods[tt[k]])}, asset {wp.index[aa[k]]!r}{note}"

    return RowBlock(mat, sense, np.full(m, float(rhs)), label)


def _cols(wp: WindowProblem, assets: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """Flat positions of every (asset, week) pair."""
    return (assets[:, None] * wp.T + weeks[None, :]).reshape(-1)


def _asset_text(wp: WindowProblem, mask: np.ndarray, where: Any = None) -> str:
    ids = wp.index[mask]
    if len(ids) == 1:
        return f"asset {ids[0]!r}"
    if where:
        return "group " + ", ".join(f"{k}={v}" for k, v in dict(where).items())
    return f"assets {format_labels(ids, 3)}"


def _blocks(wp: WindowProblem, per: str, weeks: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Week sets of the blocks of a scope (window / month / period), with a label each."""
    if per == "window":
        return [("the window", weeks)]
    if per == "period":
        return [(week_text(wp.periods[t]), np.array([t])) for t in weeks]
    out = []
    for m in dict.fromkeys(wp.months[weeks]):
        sel = weeks[wp.months[weeks] == m]
        out.append((f"month {m}", sel))
    return out


class WindowConstraint:
    """Base class: a named constraint of the window that emits :class:`RowBlock` rows."""

    kind: ClassVar[str] = "window_constraint"
    name: str

    def validate(self, wp: WindowProblem) -> None:
        """Raise :class:`ConstraintError` if the constraint does not fit ``wp``."""
        self.rows(wp, 0)

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:
        """Rows on the flat plan; rows that only involve weeks before ``start`` are left out."""
        raise NotImplementedError

    def describe(self, wp: WindowProblem) -> str:
        """Plain-language description."""
        return f"{self.kind} '{self.name}'"


def _check_per(per: str, owner: str) -> None:
    if per not in _PER:
        raise ConstraintError(
            f"constraint '{owner}': per must be 'window', 'month' or 'period'; got {per!r}."
        )


def _money(value: Any, owner: str, field_name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConstraintError(
            f"constraint '{owner}': {field_name} must be a number, got {value!r}."
        ) from None
    if not np.isfinite(v) or v < 0:
        raise ConstraintError(
            f"constraint '{owner}': {field_name} must be finite and >= 0, got {value!r}."
        )
    return v


def _per_asset(value: Any, wp: WindowProblem, owner: str) -> np.ndarray:
    """Scalar / mapping / Series -> array over assets (NaN where not given)."""
    if value is None:
        return np.full(wp.n, np.nan)
    if np.isscalar(value):
        return np.full(wp.n, _money(value, owner, "amount"))
    ser = pd.Series(dict(value) if isinstance(value, Mapping) else value, dtype=float)
    unknown = ser.index.difference(wp.index)
    if len(unknown):
        raise ConstraintError(
            f"constraint '{owner}' names assets that are not in the problem: "
            f"{format_labels(unknown)}."
        )
    vals = ser.to_numpy(float)
    if (vals[~np.isnan(vals)] < 0).any() or np.isinf(vals).any():
        raise ConstraintError(f"constraint '{owner}': amounts must be finite and >= 0.")
    return ser.reindex(wp.index).to_numpy(float)


def _group_rows(
    wp: WindowProblem, mask: np.ndarray, blocks: list[tuple[str, np.ndarray]], amount: float,
    unit: str, sense: str, start: int, what: str,
) -> RowBlock | None:
    """``sum_{group, block} x (sense) amount`` (money) or ``share * sum_{all, block} x``."""
    rows = _Rows(wp.n * wp.T)
    group = np.flatnonzero(mask)
    everyone = np.arange(wp.n)
    for label, weeks in blocks:
        if weeks.size == 0 or weeks.max() < start:
            continue
        gcols = _cols(wp, group, weeks)
        if unit == "share":
            acols = _cols(wp, everyone, weeks)
            coef = np.zeros(wp.n * wp.T)
            coef[acols] -= amount
            coef[gcols] += 1.0
            nz = np.flatnonzero(coef)
            rows.add(nz, coef[nz], 0.0, f"{label}, {what}")
        else:
            rows.add(gcols, 1.0, amount, f"{label}, {what}")
    return rows.block(sense)


@dataclass(frozen=True)
class Scoped(WindowConstraint):
    """A :mod:`portfolio_mkt` strategy constraint applied to a window.

    Parameters
    ----------
    constraint : Bounds, Lock, Roster, GroupFloor or GroupCap
        The constraint; its amounts apply to the spend totals of each block.
    per : {"window", "month", "period"}, default "window"
        Over the whole window, each month, or each week.
    weeks : sequence, optional
        Only these weeks (labels, or 1-based positions with date periods).
    name : str, optional
        Default: the constraint's name (with ``@month`` / ``@period`` when per-block).

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> Scoped(pm.GroupFloor({"market": "RU"}, 0.35, unit="share", name="ru"), per="month").name
    'ru@month'
    """

    constraint: Any
    per: str = "window"
    weeks: Any = None
    name: str = ""
    kind: ClassVar[str] = "scoped"

    def __post_init__(self) -> None:
        _check_per(self.per, getattr(self.constraint, "name", "constraint"))
        if not self.name:
            base = getattr(self.constraint, "name", "constraint")
            object.__setattr__(self, "name", base if self.per == "window" else f"{base}@{self.per}")

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        c = self.constraint
        kind = getattr(c, "kind", type(c).__name__)
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        blocks = _blocks(wp, self.per, weeks)
        n_cols = wp.n * wp.T
        out: list[RowBlock | None] = []
        if kind in ("group_floor", "group_cap"):
            mask = _select(wp, getattr(c, "where", None), None, self.name)
            unit = getattr(c, "unit", "money")
            amt = _money(c.amount, self.name, "amount")
            if unit == "share" and amt > 1:
                raise ConstraintError(
                    f"constraint '{self.name}': a share must be in [0, 1], got {amt:g}."
                )
            sense = "ge" if kind == "group_floor" else "le"
            out.append(_group_rows(wp, mask, blocks, amt, unit, sense, start,
                                   _asset_text(wp, mask, getattr(c, "where", None))))
        elif kind == "bounds":
            unit = getattr(c, "unit", "money")
            for arr, sense in ((_per_asset(c.lower, wp, self.name), "ge"),
                               (_per_asset(c.upper, wp, self.name), "le")):
                for i in np.flatnonzero(~np.isnan(arr)):
                    m = np.zeros(wp.n, dtype=bool)
                    m[i] = True
                    out.append(_group_rows(wp, m, blocks, float(arr[i]), unit, sense, start,
                                           f"asset {wp.index[i]!r}"))
        elif kind == "lock":
            amounts = _per_asset(
                c.spend if isinstance(c.spend, (Mapping, pd.Series)) else {}, wp, self.name
            )
            if np.isnan(amounts).all():
                raise ConstraintError(f"constraint '{self.name}' locks no asset.")
            sense = "ge" if getattr(c, "minimum", False) else "eq"
            for i in np.flatnonzero(~np.isnan(amounts)):
                m = np.zeros(wp.n, dtype=bool)
                m[i] = True
                out.append(_group_rows(wp, m, blocks, float(amounts[i]), "money", sense, start,
                                       f"asset {wp.index[i]!r}"))
        elif kind == "roster":
            keep = _select(wp, None, list(c.assets), self.name)
            out.append(_pairs_block(wp, np.flatnonzero(~keep), weeks[weeks >= start], 0.0, "eq",
                                    " (not on roster)"))
        else:
            raise ConstraintError(
                f"constraint '{self.name}' ({kind}) has no meaning over a window; use Bounds, "
                "Lock, Roster, GroupFloor or GroupCap (per window, month or period), or the "
                "window's Pacing / ContractLock / DarkWeeks / PeriodCap."
            )
        _ = n_cols
        return [b for b in out if b is not None]

    def describe(self, wp: WindowProblem) -> str:  # noqa: D102
        return f"{getattr(self.constraint, 'kind', 'constraint')} '{self.name}' per {self.per}"


def _select(wp: WindowProblem, where: Any, assets: Any, owner: str) -> np.ndarray:
    return select_window_assets(wp, where, assets, owner)


@dataclass(frozen=True)
class _GroupAmount(WindowConstraint):
    where: Mapping[str, Any] | None = None
    amount: float = 0.0
    unit: str = "share"
    per: str = "window"
    assets: Sequence[Any] | None = None
    weeks: Any = None
    name: str = ""
    sense: ClassVar[str] = "ge"

    def __post_init__(self) -> None:
        if not self.name:
            what = ",".join(f"{k}={v}" for k, v in dict(self.where or {}).items()) or "assets"
            object.__setattr__(self, "name", f"{self.kind}[{what}]@{self.per}")
        _check_per(self.per, self.name)
        if self.unit not in ("money", "share"):
            raise ConstraintError(
                f"constraint '{self.name}': unit must be 'money' or 'share', got {self.unit!r}."
            )

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        mask = _select(wp, self.where, self.assets, self.name)
        amt = _money(self.amount, self.name, "amount")
        if self.unit == "share" and amt > 1:
            raise ConstraintError(
                f"constraint '{self.name}': a share must be in [0, 1], got {amt:g}; did you "
                f"mean {amt / 100:g}?"
            )
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        b = _group_rows(wp, mask, _blocks(wp, self.per, weeks), amt, self.unit, self.sense,
                        start, _asset_text(wp, mask, self.where))
        return [] if b is None else [b]


@dataclass(frozen=True)
class WindowFloor(_GroupAmount):
    """A group's spend at least an amount, over the window, each month or each week.

    Parameters
    ----------
    where : mapping, optional
        Attribute filter (``{"market": "RU"}``); with ``assets``, both apply.
    amount : float
        Money, or a share of the block's total spend (``unit="share"``).
    unit : {"share", "money"}, default "share"
    per : {"window", "month", "period"}, default "window"
    assets : sequence, optional
    weeks : sequence, optional
        Only blocks made of these weeks.
    name : str, optional

    Examples
    --------
    >>> WindowFloor({"market": "RU"}, 0.35, per="month").name
    'window_floor[market=RU]@month'
    """

    kind: ClassVar[str] = "window_floor"
    sense: ClassVar[str] = "ge"


@dataclass(frozen=True)
class WindowCap(_GroupAmount):
    """A group's spend at most an amount, over the window, each month or each week.

    Same parameters as :class:`WindowFloor`.
    """

    kind: ClassVar[str] = "window_cap"
    sense: ClassVar[str] = "le"


@dataclass(frozen=True)
class _PeriodAmount(WindowConstraint):
    amount: float = 0.0
    where: Mapping[str, Any] | None = None
    assets: Sequence[Any] | None = None
    weeks: Any = None
    per_asset: bool = True
    name: str = ""
    sense: ClassVar[str] = "le"

    def __post_init__(self) -> None:
        if not self.name:
            what = ",".join(f"{k}={v}" for k, v in dict(self.where or {}).items()) or "assets"
            object.__setattr__(self, "name", f"{self.kind}[{what}]")

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        mask = _select(wp, self.where, self.assets, self.name)
        amt = _money(self.amount, self.name, "amount")
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        weeks = weeks[weeks >= start]
        sel = np.flatnonzero(mask)
        if self.per_asset:
            b = _pairs_block(wp, sel, weeks, amt, self.sense)
        else:
            rows = _Rows(wp.n * wp.T)
            for t in weeks:
                rows.add(sel * wp.T + t, 1.0, amt,
                         f"{week_text(wp.periods[t])}, {_asset_text(wp, mask, self.where)}")
            b = rows.block(self.sense)
        return [] if b is None else [b]


@dataclass(frozen=True)
class PeriodCap(_PeriodAmount):
    """Spend in a week at most ``amount`` (money): per asset, or for the group's total.

    Parameters
    ----------
    amount : float
        Money per week.
    where, assets : optional
        Which assets (default all).
    weeks : sequence, optional
        Which weeks (default all).
    per_asset : bool, default True
        Cap each asset's weekly spend; ``False`` caps the group's weekly total.
    name : str, optional
    """

    kind: ClassVar[str] = "period_cap"
    sense: ClassVar[str] = "le"


@dataclass(frozen=True)
class PeriodFloor(_PeriodAmount):
    """Spend in a week at least ``amount`` (money): per asset, or for the group's total.

    Same parameters as :class:`PeriodCap`.
    """

    kind: ClassVar[str] = "period_floor"
    sense: ClassVar[str] = "ge"


@dataclass(frozen=True)
class PeriodMinSpend(WindowConstraint):
    """On/off minimum per asset-week: in each selected week an asset spends 0 or at least m.

    ``x[a, t] == 0  or  amount <= x[a, t] (<= cap)`` for every selected asset ``a`` and week
    ``t``: a creator is booked in a week for at least a whole piece, or not at all. The set is
    not convex; :func:`~portfolio_mkt.window.plan_window` solves windows with it exactly by
    branch and bound over the window's convex program (each node bounds some asset-weeks
    below by ``amount`` and others above by 0) and reports the proven gap
    (``WeeklyPlan.search``) and the decision per asset-week (``WeeklyPlan.on_off``).

    The constraint emits no rows of its own for the convex program (the convex hull of
    ``{0} U [amount, cap]`` is ``[0, cap]``); only the optional ``cap`` rows.

    Parameters
    ----------
    amount : float
        The minimum ``m > 0`` (money) of an asset-week that is on.
    where, assets : optional
        Which assets (default all): attribute filter and/or ids.
    weeks : sequence, optional
        Which weeks (default all): labels, or 1-based positions with dated weeks.
    cap : float, optional
        Most an asset may spend in a selected week (a weekly cap, ``>= amount``).
    name : str, optional
        Default ``"period_min_spend[<where>]"``.

    Raises
    ------
    ConstraintError, InputError
        An unknown asset or attribute, a minimum that is not a number > 0, a cap below the
        minimum, or a week outside the window (each named).

    Examples
    --------
    >>> PeriodMinSpend(5000.0, assets=["creator_x"], weeks=[2, 3, 4]).name
    'period_min_spend[creator_x]'
    """

    amount: float = 0.0
    where: Mapping[str, Any] | None = None
    assets: Sequence[Any] | None = None
    weeks: Any = None
    cap: float | None = None
    name: str = ""
    kind: ClassVar[str] = "period_min_spend"

    def __post_init__(self) -> None:
        if not self.name:
            what = ",".join(f"{k}={v}" for k, v in dict(self.where or {}).items())
            if not what and self.assets is not None:
                ids = [self.assets] if isinstance(self.assets, (str, int)) else self.assets
                what = ",".join(map(str, ids))
            object.__setattr__(self, "name", f"{self.kind}[{what or 'assets'}]")

    def minimum(self) -> float:
        """The minimum ``m`` of an asset-week that is on (money, checked ``> 0``)."""
        m = _money(self.amount, self.name, "amount")
        if m <= 0:
            raise ConstraintError(
                f"constraint '{self.name}': the on/off minimum (amount) must be > 0, got "
                f"{self.amount!r}; for an asset that must be off use DarkWeeks."
            )
        return m

    def cells(self, wp: WindowProblem, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Asset and week positions of every selected asset-week from week ``start`` on."""
        mask = _select(wp, self.where, self.assets, self.name)
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        weeks = weeks[weeks >= start]
        sel = np.flatnonzero(mask)
        return np.repeat(sel, weeks.size), np.tile(weeks, sel.size)

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        m = self.minimum()
        aa, tt = self.cells(wp, start)
        if self.cap is None:
            return []
        cap = _money(self.cap, self.name, "cap")
        if 0 < cap < m and aa.size:
            raise ConstraintError(
                f"constraint '{self.name}': cap {cap:,.2f} is below the minimum {m:,.2f}, so "
                f"{week_text(wp.periods[tt[0]])}, asset {wp.index[aa[0]]!r} could never be on; "
                "raise the cap or lower the minimum."
            )
        b = _pairs_block(wp, np.unique(aa), np.unique(tt), cap, "le", " (on/off cap)")
        return [] if b is None else [b]

    def describe(self, wp: WindowProblem) -> str:  # noqa: D102
        return f"{self.kind} '{self.name}': 0 or at least {self.minimum():,.2f} per week"


@dataclass(frozen=True)
class DarkWeeks(WindowConstraint):
    """Flighting: weeks in which the selected assets spend nothing.

    Parameters
    ----------
    weeks : sequence
        The dark weeks.
    where, assets : optional
        Which assets (default all).
    name : str, default "dark_weeks"
    """

    weeks: Any = None
    where: Mapping[str, Any] | None = None
    assets: Sequence[Any] | None = None
    name: str = "dark_weeks"
    kind: ClassVar[str] = "dark_weeks"

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        if self.weeks is None:
            raise ConstraintError(f"constraint '{self.name}': give the dark weeks.")
        mask = _select(wp, self.where, self.assets, self.name)
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        b = _pairs_block(wp, np.flatnonzero(mask), weeks[weeks >= start], 0.0, "eq",
                         " (dark week)")
        return [] if b is None else [b]


@dataclass(frozen=True)
class ContractLock(WindowConstraint):
    """A creator's fee in the weeks of the contract.

    Parameters
    ----------
    asset : asset id
    weeks : sequence
        The contract weeks.
    spend : float or mapping week -> money
        Spend in each contract week.
    minimum : bool, default False
        Amounts are minimums ("at least") rather than exact.
    exclusive : bool, default False
        The asset spends nothing outside the contract weeks.
    name : str, optional
        Default ``"contract[<asset>]"``.
    """

    asset: Any = None
    weeks: Any = None
    spend: Any = 0.0
    minimum: bool = False
    exclusive: bool = False
    name: str = ""
    kind: ClassVar[str] = "contract_lock"

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"contract[{self.asset}]")

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        if self.asset not in wp.index:
            raise ConstraintError(
                f"constraint '{self.name}': asset {self.asset!r} is not in the problem."
            )
        i = int(wp.index.get_loc(self.asset))
        weeks = resolve_weeks(wp.periods, self.weeks, self.name)
        if isinstance(self.spend, Mapping):
            amounts = {}
            for k, v in self.spend.items():
                pos = resolve_weeks(wp.periods, [k], self.name)[0]
                amounts[int(pos)] = _money(v, self.name, f"spend[{k}]")
            weeks = np.array(sorted(set(weeks) | set(amounts)), dtype=int)
        else:
            amt = _money(self.spend, self.name, "spend")
            amounts = {int(t): amt for t in weeks}
        main = _Rows(wp.n * wp.T)
        for t in weeks[weeks >= start]:
            main.add(np.array([i * wp.T + t]), 1.0, amounts[int(t)],
                     f"{week_text(wp.periods[t])}, asset {self.asset!r}")
        out = [main.block("ge" if self.minimum else "eq")]
        if self.exclusive:
            off = _Rows(wp.n * wp.T)
            for t in range(max(start, 0), wp.T):
                if t not in amounts:
                    off.add(np.array([i * wp.T + t]), 1.0, 0.0,
                            f"{week_text(wp.periods[t])}, asset {self.asset!r} (outside contract)")
            out.append(off.block("eq"))
        return [b for b in out if b is not None]


@dataclass(frozen=True)
class Pacing(WindowConstraint):
    """Week-to-week change of spend within ``+/- max_change`` of the previous week.

    ``|x[t] - x[t-1]| <= max_change * x[t-1] + min_step`` for each selected asset
    (``level="asset"``) or for the selected group's total (``level="total"``).

    Parameters
    ----------
    max_change : float
        Relative change allowed, e.g. ``0.2`` for +/-20%.
    where, assets : optional
        Which assets (default all).
    level : {"asset", "total"}, default "asset"
    min_step : float, default 0.0
        Money step always allowed (lets an asset start from zero).
    name : str, default "pacing"
    """

    max_change: float = 0.2
    where: Mapping[str, Any] | None = None
    assets: Sequence[Any] | None = None
    level: str = "asset"
    min_step: float = 0.0
    name: str = "pacing"
    kind: ClassVar[str] = "pacing"

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        c = _money(self.max_change, self.name, "max_change")
        m = _money(self.min_step, self.name, "min_step")
        if self.level not in ("asset", "total"):
            raise ConstraintError(
                f"constraint '{self.name}': level must be 'asset' or 'total', got {self.level!r}."
            )
        mask = _select(wp, self.where, self.assets, self.name)
        sel = np.flatnonzero(mask)
        weeks = np.arange(max(start, 1), wp.T)
        if weeks.size == 0 or sel.size == 0:
            return []
        if self.level == "asset":
            aa = np.repeat(sel, weeks.size)
            tt = np.tile(weeks, sel.size)
            m_rows = len(aa)
            r = np.r_[np.arange(m_rows), np.arange(m_rows)]
            cols = np.r_[aa * wp.T + tt, aa * wp.T + tt - 1]
            shape = (m_rows, wp.n * wp.T)
            up_m = sp.csr_matrix((np.r_[np.ones(m_rows), np.full(m_rows, -(1.0 + c))],
                                  (r, cols)), shape=shape)
            down_m = sp.csr_matrix((np.r_[-np.ones(m_rows), np.full(m_rows, 1.0 - c)],
                                    (r, cols)), shape=shape)

            def label(word: str) -> Any:
                return lambda k: (f"{week_text(wp.periods[tt[k]])} vs previous week, asset "
                                  f"{wp.index[aa[k]]!r} ({word})")

            rhs = np.full(m_rows, m)
            return [RowBlock(up_m, "le", rhs, label("increase")),
                    RowBlock(down_m, "le", rhs.copy(), label("decrease"))]
        up, down = _Rows(wp.n * wp.T), _Rows(wp.n * wp.T)
        k = len(sel)
        what = _asset_text(wp, mask, self.where)
        for t in weeks:
            wk = week_text(wp.periods[t])
            cols = np.concatenate([sel * wp.T + t, sel * wp.T + t - 1])
            up.add(cols, np.r_[np.ones(k), np.full(k, -(1.0 + c))], m,
                   f"{wk} vs previous week, {what} (increase)")
            down.add(cols, np.r_[-np.ones(k), np.full(k, 1.0 - c)], m,
                     f"{wk} vs previous week, {what} (decrease)")
        return [b for b in (up.block("le"), down.block("le")) if b is not None]


@dataclass(frozen=True)
class Phasing(WindowConstraint):
    """Spend of all assets per month (or per week) against the window's budget.

    Parameters
    ----------
    limits : mapping block -> amount
        Month label (``"2026-01"``, or ``1, 2, 3`` for 4-4-5 integer weeks) or the 1-based
        position of the month in the window; with ``by="period"`` a week.
    sense : {"le", "ge", "eq"}, default "le"
        At most, at least, or exactly.
    unit : {"share", "money"}, default "share"
        A share of the window's budget, or money.
    by : {"month", "period"}, default "month"
    name : str, default "phasing"

    Examples
    --------
    >>> Phasing({1: 0.4}).limits   # at most 40% of the budget in the first month
    {1: 0.4}
    """

    limits: Mapping[Any, float] = field(default_factory=dict)
    sense: str = "le"
    unit: str = "share"
    by: str = "month"
    name: str = "phasing"
    kind: ClassVar[str] = "phasing"

    def rows(self, wp: WindowProblem, start: int = 0) -> list[RowBlock]:  # noqa: D102
        if self.sense not in ("le", "ge", "eq"):
            raise ConstraintError(f"constraint '{self.name}': sense must be le, ge or eq.")
        if self.unit not in ("share", "money"):
            raise ConstraintError(f"constraint '{self.name}': unit must be share or money.")
        if self.by not in ("month", "period"):
            raise ConstraintError(f"constraint '{self.name}': by must be 'month' or 'period'.")
        if not self.limits:
            raise ConstraintError(f"constraint '{self.name}' has no limits.")
        rows = _Rows(wp.n * wp.T)
        order = list(dict.fromkeys(wp.months))
        for key, value in dict(self.limits).items():
            amt = _money(value, self.name, f"limits[{key}]")
            if self.unit == "share":
                if amt > 1:
                    raise ConstraintError(
                        f"constraint '{self.name}': share {amt:g} for {key!r} is above 1; did "
                        f"you mean {amt / 100:g}?"
                    )
                amt *= wp.budget
            if self.by == "period":
                weeks = resolve_weeks(wp.periods, [key], self.name)
                label = week_text(wp.periods[weeks[0]])
            else:
                if key in order:
                    m = key
                elif isinstance(key, (int, np.integer)) and 1 <= int(key) <= len(order):
                    m = order[int(key) - 1]
                else:
                    raise ConstraintError(
                        f"constraint '{self.name}': month {key!r} is not in the window; months "
                        f"are {format_labels(order)} (or 1 to {len(order)})."
                    )
                weeks = np.flatnonzero(wp.months == m)
                label = f"month {m}"
            if weeks.max() < start:
                continue
            rows.add(_cols(wp, np.arange(wp.n), weeks), 1.0, amt, f"{label}, all assets")
        b = rows.block(self.sense)
        return [] if b is None else [b]


def as_window_constraint(c: Any) -> WindowConstraint:
    """A window constraint as is; a :mod:`portfolio_mkt` constraint over the whole window."""
    if isinstance(c, WindowConstraint):
        return c
    if hasattr(c, "kind") and hasattr(c, "name"):
        return Scoped(c, per="window")
    raise InputError(
        f"window constraints must be portfolio_mkt.window constraints (Pacing, DarkWeeks, ...) "
        f"or portfolio_mkt constraints; got {type(c).__name__}."
    )
