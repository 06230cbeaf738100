"""Efficient frontiers: compile once, sweep the expected outcome, compare with and without."""

from ._compare import FrontierComparison, compare_frontiers
from ._frontier import Frontier, FrontierPoint, frontier
from ._qp import LinearQP, OSQPFrontierSolver

__all__ = [
    "frontier",
    "Frontier",
    "FrontierPoint",
    "compare_frontiers",
    "FrontierComparison",
    "LinearQP",
    "OSQPFrontierSolver",
]
