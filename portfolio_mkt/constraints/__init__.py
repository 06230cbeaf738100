"""Strategy constraints: small named value objects compiled into the convex program."""

from ._base import (
    MEMO_ATTRIBUTE,
    BuildContext,
    Constraint,
    LinearRows,
    ProblemData,
    Row,
    per_problem,
    resolve_ids,
    select_assets,
)
from ._strategy import (
    Bounds,
    CustomConstraint,
    GroupCap,
    GroupFloor,
    Lock,
    ResponseFloor,
    Roster,
    ShiftLimit,
    Turnover,
)

__all__ = [
    "Constraint",
    "BuildContext",
    "LinearRows",
    "ProblemData",
    "MEMO_ATTRIBUTE",
    "per_problem",
    "Row",
    "select_assets",
    "resolve_ids",
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
