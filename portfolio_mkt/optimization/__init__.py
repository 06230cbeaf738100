"""The convex program: compile a Problem once, solve it, check and explain the answer."""

from ._allocation import Allocation
from ._program import (
    SOLVER_SETTINGS,
    Program,
    RawResult,
    compile_problem,
    installed_solvers,
    silence_highs_banner,
)
from ._scurve import solve_s_curves
from ._solve import (
    DEFAULT_TOLERANCE,
    allocation_from_raw,
    check_feasibility,
    diagnose_infeasibility,
    solve,
    verify,
)

__all__ = [
    "Allocation",
    "Program",
    "RawResult",
    "compile_problem",
    "installed_solvers",
    "silence_highs_banner",
    "SOLVER_SETTINGS",
    "solve",
    "verify",
    "check_feasibility",
    "diagnose_infeasibility",
    "allocation_from_raw",
    "DEFAULT_TOLERANCE",
    "solve_s_curves",
]
