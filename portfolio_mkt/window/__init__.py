"""Planning over time: spend per week with carryover in and out, seasonality, pacing, re-plans.

Build a :class:`WindowProblem` from a :class:`portfolio_mkt.Problem` (assets, curves,
covariance, budget of the window) and the weeks of the window; :func:`plan_window` solves it
exactly as one convex program (Clarabel) and returns a :class:`WeeklyPlan`; :func:`replan` fixes
the weeks already spent and plans the rest; :func:`window_frontier` sweeps the risk aversion.
:class:`PeriodMinSpend` (0 or at least ``m`` per asset-week) is solved exactly by branch and
bound over the window's program.
"""

from ._constraints import (
    ContractLock,
    DarkWeeks,
    Pacing,
    PeriodCap,
    PeriodFloor,
    PeriodMinSpend,
    Phasing,
    Scoped,
    WindowCap,
    WindowConstraint,
    WindowFloor,
)
from ._periods import week_text
from ._plan import WeeklyPlan, plan_window, replan, verify_plan, window_frontier
from ._problem import WindowProblem
from ._program import WindowProgram
from ._refit import append_actuals, mmm_refit
from ._spec import WindowSpec, window_from_spec

__all__ = [
    "WindowProblem",
    "WeeklyPlan",
    "WindowProgram",
    "plan_window",
    "replan",
    "mmm_refit",
    "append_actuals",
    "window_frontier",
    "verify_plan",
    "WindowSpec",
    "window_from_spec",
    "week_text",
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
]
