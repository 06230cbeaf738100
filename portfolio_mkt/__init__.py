"""portfolio_mkt: plan marketing budgets the way a quant manages a portfolio.

The names a notebook user types are here: build a :class:`Problem`, call :func:`solve`, read
the :class:`Allocation`; sweep a :func:`frontier`, run :func:`scenarios`, price the strategy
with :func:`constraint_prices`, measure confidence with :func:`bootstrap`; turn history into a
problem with :func:`problem_from_history`.

Sub-packages: :mod:`portfolio_mkt.response` (curves and carryover),
:mod:`portfolio_mkt.estimation` (returns, covariance, audit, views),
:mod:`portfolio_mkt.simulate` (a simulator with known truth), :mod:`portfolio_mkt.plan` and
:mod:`portfolio_mkt.cli` (plan files and the command line), :mod:`portfolio_mkt.report`.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

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

# Names imported on first use, so that ``import portfolio_mkt`` stays light and fast.
_LAZY = {
    "Frontier": "portfolio_mkt.frontier",
    "FrontierPoint": "portfolio_mkt.frontier",
    "compare_frontiers": "portfolio_mkt.frontier",
    "FrontierComparison": "portfolio_mkt.frontier",
    "Scenario": "portfolio_mkt.scenarios",
    "ScenarioResults": "portfolio_mkt.scenarios",
    "constraint_prices": "portfolio_mkt.scenarios",
    "bootstrap": "portfolio_mkt.confidence",
    "Confidence": "portfolio_mkt.confidence",
    "ApprovalRules": "portfolio_mkt.confidence",
    "approval_flags": "portfolio_mkt.confidence",
    "approval_messages": "portfolio_mkt.confidence",
    "map_solves": "portfolio_mkt.parallel",
    "problem_from_history": "portfolio_mkt.estimation",
    "Estimates": "portfolio_mkt.estimation",
    "bias_audit": "portfolio_mkt.estimation",
    "View": "portfolio_mkt.estimation",
    "audit_flags_for": "portfolio_mkt.estimation",
    "fit_covariance": "portfolio_mkt.estimation",
    "returns_matrix": "portfolio_mkt.estimation",
    "black_litterman": "portfolio_mkt.estimation",
    "cross_validate_returns": "portfolio_mkt.estimation",
    "simulate_history": "portfolio_mkt.simulate",
    "load_plan": "portfolio_mkt.plan",
    "Plan": "portfolio_mkt.plan",
    "run_plan": "portfolio_mkt.report",
    "write_report": "portfolio_mkt.report",
    "write_outputs": "portfolio_mkt.report",
    "Linear": "portfolio_mkt.response",
    "Logarithmic": "portfolio_mkt.response",
    "ExponentialSaturation": "portfolio_mkt.response",
    "MichaelisMenten": "portfolio_mkt.response",
    "Power": "portfolio_mkt.response",
    "Hill": "portfolio_mkt.response",
    "Logistic": "portfolio_mkt.response",
    "GeometricAdstock": "portfolio_mkt.response",
    "WeibullAdstock": "portfolio_mkt.response",
    "ResponseCurveRegressor": "portfolio_mkt.response",
    "fit_response_curves": "portfolio_mkt.response",
    "solve_s_curves": "portfolio_mkt.response",
}
_SUBMODULES = {"response", "estimation", "simulate", "frontier", "scenarios", "confidence",
               "parallel", "plan", "cli", "report", "examples", "risk", "constraints",
               "optimization"}


class _CallableModule(types.ModuleType):
    """A module that can be called like the function of the same name it defines.

    ``pm.frontier(problem)`` and ``pm.scenarios(problem, [...])`` must work whatever the import
    order: importing the sub-module ``portfolio_mkt.frontier`` rebinds the package attribute to
    the module, so the module itself forwards calls to its function.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


for _name in ("frontier", "scenarios"):
    _mod = importlib.import_module(f"portfolio_mkt.{_name}")
    if not callable(_mod):
        _mod.__class__ = _CallableModule
    globals()[_name] = sys.modules[f"portfolio_mkt.{_name}"]
del _name, _mod


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"portfolio_mkt.{name}")
    raise AttributeError(f"module 'portfolio_mkt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


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
    "frontier",
    "scenarios",
    *_LAZY,
]
