"""portfolio_mkt: plan marketing budgets the way a quant manages a portfolio.

The names a notebook user types are here: build a :class:`Problem`, call :func:`solve`, read
the :class:`Allocation`.
"""

from . import exceptions
from .constraints import (
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
from .optimization import Allocation, compile_problem, solve, verify
from .problem import Problem
from .risk import FactorCovariance, nearest_psd

__version__ = "0.1.0"

__all__ = [
    "Problem",
    "solve",
    "verify",
    "compile_problem",
    "Allocation",
    "Bounds",
    "Lock",
    "Roster",
    "GroupFloor",
    "GroupCap",
    "ShiftLimit",
    "Turnover",
    "ResponseFloor",
    "CustomConstraint",
    "FactorCovariance",
    "nearest_psd",
    "exceptions",
    "__version__",
]
