"""The engine: compile a Problem once, solve and re-solve it, check and explain the answer.

Every solver call of the library is made here: :func:`solve` (with its fallbacks and
verification) on a compiled :class:`Program` whose Parameters only this package re-values
(:meth:`Program.update`, :meth:`Program.set_min_outcome` ...), the S-curve branch and bound
(:func:`solve_s_curves`), and the fast mean-variance sweep (:class:`OSQPFrontierSolver` on the
:class:`LinearQP` that :func:`linear_qp` reads from the constraints' own rows).
"""

from ._allocation import Allocation
from ._linear_qp import linear_qp
from ._polish import polish_curves
from ._program import (
    SOLVER_SETTINGS,
    Program,
    RawResult,
    compile_problem,
    installed_solvers,
    silence_highs_banner,
)
from ._qp import LinearQP, OSQPFrontierSolver, PointResult
from ._scurve import solve_s_curves
from ._solve import (
    DEFAULT_TOLERANCE,
    allocation_from_raw,
    check_feasibility,
    diagnose_infeasibility,
    solve,
    solve_curves_exact,
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
    "polish_curves",
    "solve_curves_exact",
    "LinearQP",
    "OSQPFrontierSolver",
    "PointResult",
    "linear_qp",
]
