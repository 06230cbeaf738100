"""Strategy constraints: small named value objects compiled into the convex program."""

from ._base import BuildContext, Constraint, select_assets
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
    "select_assets",
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
