"""What one solver call returned (:class:`RawResult`), and the muted first HiGHS instance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RawResult", "silence_highs_banner"]


@dataclass
class RawResult:
    """What one solver call returned, before checks."""

    status: str
    solver: str
    w: np.ndarray | None
    objective: float | None
    solve_time: float
    duals: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)
    row_slack: dict[str, float] = field(default_factory=dict)
    message: str = ""
    #: dual of ``w >= 0`` per asset (cvxpy's sign convention); None when not available
    long_only_dual: np.ndarray | None = None
    #: "cvxpy" (through cvxpy's canonicalisation) or "direct" (the solver's own API)
    route: str = "cvxpy"


_HIGHS_QUIET: list[bool] = []


def silence_highs_banner() -> None:
    """Construct the process's first HiGHS instance with the terminal muted.

    HiGHS prints a copyright banner from C++ when its first instance is created, whatever
    ``output_flag`` says afterwards; the library never writes solver output to the terminal.
    """
    if _HIGHS_QUIET:
        return
    try:
        import highspy
    except ImportError:  # pragma: no cover - cvxpy ships highspy
        return
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _HIGHS_QUIET.append(True)
