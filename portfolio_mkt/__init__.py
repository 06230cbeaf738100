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

from typing import Any

from . import exceptions

__version__ = "0.1.0"

# Names loaded on first use (module -> names), so that ``import portfolio_mkt`` stays light
# (``portfolio-mkt --help`` loads neither pandas nor a solver): every module is imported by the
# first name that needs it.
_LAZY_FROM = {
    "problem": ("Problem",),
    "constraints": ("Bounds", "Lock", "Roster", "GroupFloor", "GroupCap", "ShiftLimit",
                    "Turnover", "ResponseFloor", "CustomConstraint"),
    "risk": ("FactorCovariance", "nearest_psd"),
    "optimization": ("solve", "verify", "compile_problem", "Allocation", "solve_s_curves",
                     "polish_curves", "solve_curves_exact"),
    "frontiers": ("frontier", "Frontier", "FrontierPoint", "compare_frontiers",
                  "FrontierComparison"),
    "whatif": ("scenarios", "Scenario", "ScenarioResults", "constraint_prices", "apply_scenario"),
    "confidence": ("bootstrap", "Confidence", "ApprovalRules", "approval_flags",
                   "approval_messages"),
    "caveats": ("with_caveats",),
    "parallel": ("map_solves",),
    "estimation": ("problem_from_history", "problem_from_returns", "Estimates", "bias_audit",
                   "View", "audit_flags_for", "fit_covariance", "returns_matrix", "black_litterman",
                   "cross_validate_returns"),
    "simulate": ("simulate_history",),
    "plan": ("load_plan", "Plan"),
    "report": ("run_plan", "write_report", "write_outputs"),
    "response": ("Linear", "Logarithmic", "ExponentialSaturation", "MichaelisMenten", "Power",
                 "Hill", "Logistic", "GeometricAdstock", "WeibullAdstock",
                 "ResponseCurveRegressor", "fit_response_curves"),
}
_LAZY = {name: module for module, names in _LAZY_FROM.items() for name in names}
_SUBMODULES = {"response", "estimation", "simulate", "frontiers", "whatif", "confidence",
               "caveats", "parallel", "plan", "report", "examples", "risk",
               "constraints", "optimization", "terms", "problem", "mmm", "window", "integer",
               "loop"}


_LOADING: set[str] = set()


def _submodule(name: str) -> Any:
    """Import one sub-module of the package (plain relative imports, no importlib).

    ``from . import x`` first asks the package for ``x`` (which lands in :func:`__getattr__`
    again); :data:`_LOADING` answers that inner question with AttributeError, so the import
    system loads the sub-module.
    """
    _LOADING.add(name)
    try:
        return _import(name)
    finally:
        _LOADING.discard(name)


def _import(name: str) -> Any:
    if name == "optimization":
        from . import optimization as mod
    elif name == "frontiers":
        from . import frontiers as mod
    elif name == "whatif":
        from . import whatif as mod
    elif name == "confidence":
        from . import confidence as mod
    elif name == "caveats":
        from . import caveats as mod
    elif name == "parallel":
        from . import parallel as mod
    elif name == "estimation":
        from . import estimation as mod
    elif name == "simulate":
        from . import simulate as mod
    elif name == "plan":
        from . import plan as mod
    elif name == "report":
        from . import report as mod
    elif name == "response":
        from . import response as mod
    elif name == "examples":
        from . import examples as mod
    elif name == "terms":
        from . import terms as mod
    elif name == "risk":
        from . import risk as mod
    elif name == "problem":
        from . import problem as mod
    elif name == "mmm":
        from . import mmm as mod
    elif name == "window":
        from . import window as mod
    elif name == "integer":
        from . import integer as mod
    elif name == "loop":
        from . import loop as mod
    else:
        from . import constraints as mod
    return mod


def __getattr__(name: str) -> Any:
    if name in _LOADING:
        raise AttributeError(name)
    if name in _LAZY:
        value = getattr(_submodule(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _submodule(name)
    raise AttributeError(f"module 'portfolio_mkt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "exceptions",
    "__version__",
    *_LAZY,
]
