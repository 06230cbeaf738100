"""One status vocabulary for every result of the library.

Every solve, frontier point, scenario, price, bootstrap resample, integer search and weekly plan
reports its outcome with one of these words, whatever solver produced it. Solver-specific
spellings (cvxpy's ``"optimal"``, Clarabel's ``"Solved"``, HiGHS's ``kOptimal``, OSQP's
``"solved"``) are translated once, by :func:`normalize_status`.

========================  ==============================================================
status                    meaning
========================  ==============================================================
``"optimal"``             solved to the requested accuracy and verified
``"optimal_inaccurate"``  the solver stopped short of its accuracy; the answer is usable
                          only if verification passed, and results mark it
``"time_limit"``          a time or node limit was hit; the best verified plan is kept
``"infeasible"``          no plan meets every constraint
``"unbounded"``           the objective can grow without limit (a modelling error)
``"failed"``              the solver failed or the answer failed verification
``"skipped"``             not attempted (e.g. a point outside the feasible range)
========================  ==============================================================
"""

from __future__ import annotations

from typing import Final

OPTIMAL: Final = "optimal"
OPTIMAL_INACCURATE: Final = "optimal_inaccurate"
TIME_LIMIT: Final = "time_limit"
INFEASIBLE: Final = "infeasible"
UNBOUNDED: Final = "unbounded"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"

STATUSES: Final = (OPTIMAL, OPTIMAL_INACCURATE, TIME_LIMIT, INFEASIBLE, UNBOUNDED, FAILED, SKIPPED)

_ALIASES: Final = {
    # cvxpy
    "optimal": OPTIMAL,
    "optimal_inaccurate": OPTIMAL_INACCURATE,
    "infeasible": INFEASIBLE,
    "infeasible_inaccurate": INFEASIBLE,
    "unbounded": UNBOUNDED,
    "unbounded_inaccurate": UNBOUNDED,
    "infeasible_or_unbounded": INFEASIBLE,
    "user_limit": TIME_LIMIT,
    "solver_error": FAILED,
    # Clarabel / OSQP / HiGHS spellings
    "solved": OPTIMAL,
    "solved_inaccurate": OPTIMAL_INACCURATE,
    "almost_solved": OPTIMAL_INACCURATE,
    "primal_infeasible": INFEASIBLE,
    "almostprimalinfeasible": INFEASIBLE,
    "primalinfeasible": INFEASIBLE,
    "primal_infeasible_inaccurate": INFEASIBLE,
    "dual_infeasible": UNBOUNDED,
    "dualinfeasible": UNBOUNDED,
    "dual_infeasible_inaccurate": UNBOUNDED,
    "maxtime": TIME_LIMIT,
    "max_time": TIME_LIMIT,
    "time_limit": TIME_LIMIT,
    "timelimit": TIME_LIMIT,
    "run_time_limit_reached": TIME_LIMIT,
    "maxiterations": TIME_LIMIT,
    "max_iter_reached": TIME_LIMIT,
    "maximum_iterations_reached": TIME_LIMIT,
    "node_limit": TIME_LIMIT,
    "koptimal": OPTIMAL,
    "kinfeasible": INFEASIBLE,
    "kunbounded": UNBOUNDED,
    "ktimelimit": TIME_LIMIT,
    "failed": FAILED,
    "skipped": SKIPPED,
}


def normalize_status(raw: object) -> str:
    """Translate any solver's status spelling into the library's vocabulary.

    Parameters
    ----------
    raw : object
        A status as a solver reports it (string or enum member).

    Returns
    -------
    str
        One of :data:`STATUSES`; anything unknown is ``"failed"``.

    Examples
    --------
    >>> normalize_status("Solved")
    'optimal'
    >>> normalize_status("AlmostSolved")
    'optimal_inaccurate'
    """
    if isinstance(raw, str) and raw in STATUSES:  # already a word of the vocabulary
        return raw
    text = str(raw).rsplit(".", 1)[-1].strip()
    key = "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(text))
    key = key.replace(" ", "_").replace("__", "_")
    if key in _ALIASES:
        return _ALIASES[key]
    flat = key.replace("_", "")
    for alias, status in _ALIASES.items():
        if alias.replace("_", "") == flat:
            return status
    return FAILED


def is_usable(status: str) -> bool:
    """Whether a result with this status carries a plan that may be shown.

    ``optimal``, ``optimal_inaccurate`` (verified, marked) and ``time_limit`` (best verified plan
    found) carry a plan; the others do not.
    """
    return status in (OPTIMAL, OPTIMAL_INACCURATE, TIME_LIMIT)
