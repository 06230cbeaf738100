"""Efficient frontiers: compile once, sweep the expected outcome, compare with and without.

The function :func:`frontier` is also ``portfolio_mkt.frontier``; this sub-package is named
``frontiers`` so that importing it never rebinds that name.
"""

import sys

from ..optimization import LinearQP, OSQPFrontierSolver
from ._compare import FrontierComparison, compare_frontiers
from ._frontier import Frontier, FrontierPoint, frontier

__all__ = [
    "frontier",
    "Frontier",
    "FrontierPoint",
    "compare_frontiers",
    "FrontierComparison",
    "LinearQP",
    "OSQPFrontierSolver",
]

# Backwards-compatible name of this sub-package for callers that still import the module
# path "portfolio_mkt.frontier" (report/_analysis.py, cli.py): an alias registered once this
# package is loaded, never a module of its own (which would rebind pm.frontier). To be removed
# when those callers use "portfolio_mkt.frontiers".
sys.modules.setdefault("portfolio_mkt.frontier", sys.modules[__name__])
