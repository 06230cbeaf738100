"""Base class of the strategy constraints and the build context they compile into."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import cvxpy as cp

from ..exceptions import ConstraintError, format_labels

__all__ = ["Constraint", "BuildContext", "Row", "LinearRows", "ProblemData", "select_assets",
           "resolve_ids", "per_problem", "MEMO_ATTRIBUTE"]

#: The attribute of a problem that holds what its constraints resolved once (asset positions,
#: masks, money amounts): a problem is not changed after construction, so a solve, its check
#: and its explanation read each constraint's arrays once instead of resolving ids again.
MEMO_ATTRIBUTE = "_constraint_memo"

_T = TypeVar("_T")


def _read_only(value: Any) -> Any:
    """Mark the arrays of a cached value read-only (a caller that writes to one fails loudly)."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for v in value:
            _read_only(v)
    return value


def per_problem(method: Callable[[Any, Any], _T] | None = None, *, by_budget: bool = False
                ) -> Any:
    """Cache a constraint's ``method(self, problem)`` on the problem it was asked about.

    The cache lives on the problem (attribute :data:`MEMO_ATTRIBUTE`), keyed by the constraint
    object and the method (and the budget, with ``by_budget=True``, for amounts stated as
    shares of it). A problem made by ``Problem.replace`` starts from its origin's cache when
    the index, asset table and current spend are the same objects. Errors are not cached (bad
    input raises every time). Cached arrays are read-only.
    """
    def decorate(fn: Callable[[Any, Any], _T]) -> Callable[[Any, Any], _T]:
        name = fn.__name__

        @functools.wraps(fn)
        def cached(self: Any, problem: Any) -> _T:
            store = getattr(problem, "__dict__", None)
            if store is None:
                return fn(self, problem)
            memo = store.get(MEMO_ATTRIBUTE)
            if memo is None:
                memo = store[MEMO_ATTRIBUTE] = {}
            key = (id(self), name, problem.budget if by_budget else None)
            hit = memo.get(key)
            if hit is not None and hit[0] is self:
                return hit[1]
            value = _read_only(fn(self, problem))
            memo[key] = (self, value)
            return value

        return cached

    return decorate if method is None else decorate(method)


class ProblemData(Protocol):
    """What a constraint reads of the problem it belongs to (plain data, no solver).

    :class:`portfolio_mkt.Problem` satisfies it; the constraints never import it, so the
    problem sits above the constraints and not beside them in a circle.
    """

    index: pd.Index
    assets: pd.DataFrame
    budget: float
    current: pd.Series | None
    name: str

    @property
    def n_assets(self) -> int: ...  # noqa: D102

    @property
    def return_term(self) -> Any: ...  # noqa: D102


Problem = ProblemData  # the annotations below read "problem: Problem"


def select_assets(problem: Problem, where: Mapping[str, Any], owner: str) -> np.ndarray:
    """Boolean mask of the assets matching every ``attribute -> value(s)`` in ``where``.

    The ``tags`` attribute matches by membership (an asset tagged ``brand;video`` matches
    ``{"tags": "brand"}``); other attributes match by equality with the value or any value in a
    list. The special key ``asset`` selects by id.

    Parameters
    ----------
    problem : Problem
        The problem whose asset table is searched.
    where : Mapping
        Attribute filters.
    owner : str
        Name of the constraint, for error messages.

    Returns
    -------
    ndarray of bool

    Raises
    ------
    ConstraintError
        Unknown attribute, or no asset matches.
    """
    if not isinstance(where, Mapping) or not where:
        raise ConstraintError(
            f"constraint '{owner}': where must be a non-empty mapping such as "
            "{'market': 'RU'}."
        )
    assets = problem.assets
    mask = np.ones(problem.n_assets, dtype=bool)
    for attr, wanted in where.items():
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        values = [str(v) for v in values]
        if attr == "asset":
            col_vals = pd.Series(problem.index.astype(str), index=problem.index)
            hit = col_vals.isin(values).to_numpy()
            unknown = set(values) - set(col_vals)
            if unknown:
                raise ConstraintError(
                    f"constraint '{owner}': unknown asset ids {format_labels(sorted(unknown))}."
                )
        elif attr == "tags":
            if "tags" not in assets.columns:
                raise ConstraintError(
                    f"constraint '{owner}' filters on 'tags', but the asset table has no tags "
                    "column; add one (lists or ';'-separated strings)."
                )
            hit = np.array([bool(set(values) & tags) for tags in assets["tags"]], dtype=bool)
        else:
            if attr not in assets.columns:
                known = [c for c in assets.columns]
                raise ConstraintError(
                    f"constraint '{owner}' filters on unknown attribute '{attr}'; the asset "
                    f"table has: {format_labels(known) or 'no attributes'}. Fix the attribute "
                    "name or add the column to assets."
                )
            col = assets[attr].astype(str)
            hit = col.isin(values).to_numpy()
            if not hit.any():
                known = sorted(set(col))
                raise ConstraintError(
                    f"constraint '{owner}' selects no assets: no asset has {attr} in "
                    f"{values}; known values: {format_labels(known)}."
                )
        mask &= hit
    if not mask.any():
        raise ConstraintError(
            f"constraint '{owner}' selects no assets: no asset matches all of {dict(where)}."
        )
    return mask


@dataclass(frozen=True)
class LinearRows:
    """The rows of one linear constraint on money spend ``x``: ``lower <= rows(x) <= upper``.

    Either per-asset rows (``assets`` given: ``x[assets[j]]`` between ``lower[j]`` and
    ``upper[j]``) or coefficient rows (``coef`` of shape (m, n): ``coef @ x``). ``-inf`` /
    ``inf`` mark an absent side; ``equal`` marks equalities (``lower == upper``). ``unit``
    says how the amounts follow a change of budget: ``"money"`` amounts stay in money,
    ``"share"`` amounts stay a share of the budget.

    These rows are the one definition of a linear constraint: the cvxpy program
    (:meth:`BuildContext.add_rows`) and the fast frontier both read them.
    """

    owner: str
    lower: np.ndarray
    upper: np.ndarray
    assets: np.ndarray | None = None
    coef: np.ndarray | None = None
    unit: str = "money"
    equal: bool = False

    def values(self, spend: np.ndarray) -> np.ndarray:
        """The rows' left-hand sides at money spend ``spend``."""
        x = np.asarray(spend, dtype=float)
        return x[self.assets] if self.assets is not None else self.coef @ x

    def violation(self, spend: np.ndarray) -> float:
        """Largest violation of the rows at ``spend`` (money); 0 when they hold."""
        v = self.values(spend)
        with np.errstate(invalid="ignore"):
            worst = np.concatenate([self.lower - v, v - self.upper])
        worst = worst[np.isfinite(worst)]
        return float(max(worst.max(initial=0.0), 0.0))


@dataclass
class Row:
    """One compiled piece of a named constraint: a cvxpy constraint and its sense.

    ``sense`` is ``"le"``, ``"ge"`` or ``"eq"`` for ``lhs <= rhs``, ``lhs >= rhs`` and
    ``lhs == rhs``; ``constraint`` is the cvxpy object whose dual value is read.
    """

    constraint: cp.Constraint
    sense: str
    owner: str


@dataclass
class BuildContext:
    """What a constraint sees while it compiles: shares ``w``, the budget, and helpers.

    Money amounts enter as Parameters holding ``amount / budget`` so that a change of budget
    only updates Parameter values (the problem stays compiled).
    """

    problem: Problem
    w: cp.Variable
    budget: float
    outcome: cp.Expression | None = None
    relax: bool = False
    rows: list[Row] = field(default_factory=list)
    money_params: list[tuple[cp.Parameter, np.ndarray]] = field(default_factory=list)
    slacks: dict[str, list[cp.Variable]] = field(default_factory=dict)
    current_share: cp.Parameter | None = None

    def money(self, amount: float | np.ndarray, nonneg: bool = False) -> cp.Parameter:
        """A Parameter for a money amount, valued in shares of the budget."""
        import cvxpy as cp

        arr = np.asarray(amount, dtype=float)
        p = cp.Parameter(arr.shape, nonneg=nonneg)
        p.value = arr / self.budget
        self.money_params.append((p, arr))
        return p

    def share(self, value: float | np.ndarray) -> cp.Parameter:
        """A Parameter for an amount already in shares of the budget (not re-scaled)."""
        import cvxpy as cp

        arr = np.asarray(value, dtype=float)
        p = cp.Parameter(arr.shape)
        p.value = arr
        return p

    def amount(self, value: float | np.ndarray, unit: str) -> cp.Parameter:
        """A Parameter for an amount in ``unit`` ("money" or "share")."""
        return self.share(value) if unit == "share" else self.money(value)

    def _slack(self, owner: str, shape: tuple[int, ...]) -> cp.Variable:
        import cvxpy as cp

        s = cp.Variable(shape, nonneg=True, name=f"slack[{owner}]")
        self.slacks.setdefault(owner, []).append(s)
        return s

    def add_rows(self, rows: LinearRows) -> None:
        """Add the rows of a linear constraint (amounts as budget Parameters, see ``unit``)."""
        import cvxpy as cp

        def amount(money: np.ndarray) -> cp.Parameter:
            if rows.unit == "share":
                return self.share(money / self.problem.budget)
            return self.money(money)

        if rows.assets is not None:
            sides: list[tuple[np.ndarray, str, np.ndarray]] = (
                [(np.ones(len(rows.assets), dtype=bool), "eq", rows.lower)] if rows.equal
                else [(np.isfinite(rows.lower), "ge", rows.lower),
                      (np.isfinite(rows.upper), "le", rows.upper)]
            )
            for keep, sense, bound in sides:
                if keep.any():
                    self.add(rows.owner, self.w[rows.assets[keep]], sense, amount(bound[keep]))
            return
        for i in range(rows.coef.shape[0]):
            a = rows.coef[i]
            nz = np.flatnonzero(a)
            lhs = (cp.sum(self.w[nz]) if np.all(a[nz] == 1.0)
                   else a[nz] @ self.w[nz])
            if rows.equal:
                self.add(rows.owner, lhs, "eq", amount(np.float64(rows.lower[i])))
                continue
            if np.isfinite(rows.lower[i]):
                self.add(rows.owner, lhs, "ge", amount(np.float64(rows.lower[i])))
            if np.isfinite(rows.upper[i]):
                self.add(rows.owner, lhs, "le", amount(np.float64(rows.upper[i])))

    def add(self, owner: str, lhs: cp.Expression, sense: str, rhs: Any) -> None:
        """Add ``lhs (<=|>=|==) rhs`` owned by the named constraint ``owner``."""
        if self.relax:
            s = self._slack(owner, lhs.shape)
            if sense == "le":
                con = lhs <= rhs + s
            elif sense == "ge":
                con = lhs >= rhs - s
            else:
                self.rows.append(Row(lhs <= rhs + s, "le", owner))
                con = lhs >= rhs - s
                sense = "ge"
            self.rows.append(Row(con, sense, owner))
            return
        if sense == "le":
            con = lhs <= rhs
        elif sense == "ge":
            con = lhs >= rhs
        elif sense == "eq":
            con = lhs == rhs
        else:  # pragma: no cover - internal misuse
            raise ValueError(sense)
        self.rows.append(Row(con, sense, owner))


class Constraint:
    """Base class of a named strategy constraint.

    Subclasses are small value objects. They implement :meth:`build` (compile into cvxpy
    through a :class:`BuildContext`), :meth:`violation` (check an allocation in NumPy,
    independently of the solver) and :meth:`describe` (plain language).
    """

    kind: ClassVar[str] = "constraint"
    #: Whether the constraint is part of the plan's strategy (it gets a price in explanations).
    strategic: ClassVar[bool] = True
    name: str

    def validate(self, problem: Problem) -> None:
        """Raise :class:`ConstraintError` if the constraint does not fit ``problem``."""

    def linear_rows(self, problem: Problem) -> LinearRows | None:
        """The constraint as linear rows on money spend, or None when it is not linear."""
        return None

    def build(self, ctx: BuildContext) -> None:
        """Add the constraint's rows to ``ctx`` (by default its :meth:`linear_rows`)."""
        rows = self.linear_rows(ctx.problem)
        if rows is None:  # pragma: no cover - non-linear constraints override build
            raise NotImplementedError
        ctx.add_rows(rows)

    def violation(self, spend: np.ndarray, problem: Problem) -> float:
        """Largest violation at ``spend`` (money, or the constraint's own unit); 0 if it holds."""
        raise NotImplementedError

    def implied_bounds(self, problem: Problem) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-asset money bounds this constraint implies (for cheap feasibility checks)."""
        return None

    def describe(self, problem: Problem) -> str:
        """Plain-language description of the constraint."""
        return f"{self.kind} '{self.name}'"

    def unit_amount(self, problem: Problem) -> float:
        """Money corresponding to one unit of the constraint's stated amount (for summaries)."""
        return 1.0


def resolve_ids(problem: Problem, ids: Sequence[Any], owner: str) -> np.ndarray:
    """Positions of ``ids`` in the problem's index, or raise naming the unknown ones."""
    idx = pd.Index(list(ids))
    unknown = idx.difference(problem.index)
    if len(unknown):
        raise ConstraintError(
            f"constraint '{owner}' names assets that are not in the problem: "
            f"{format_labels(unknown)}; check the ids against expected_return.index."
        )
    return problem.index.get_indexer(idx)
