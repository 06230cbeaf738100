"""The exceptions and warnings of portfolio_mkt.

Every error the library raises on purpose is a :class:`PortfolioMktError`. Each class also
derives from the built-in exception a generic handler would expect (``ValueError`` for bad
input, ``RuntimeError`` for solver trouble), so ``except ValueError`` still works.

Messages name the object at fault (asset, field, constraint) and suggest one concrete fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "PortfolioMktError",
    "InputError",
    "AlignmentError",
    "CovarianceError",
    "ConstraintError",
    "InfeasibleError",
    "SolverError",
    "ConstraintViolationError",
    "EstimationError",
    "PlanFileError",
    "PortfolioMktWarning",
    "CovarianceRepairWarning",
    "InaccurateSolutionWarning",
    "format_labels",
]


def format_labels(labels: Iterable[object], limit: int = 8) -> str:
    """Format a list of labels for an error message, eliding the tail.

    Parameters
    ----------
    labels : iterable
        Asset ids, field names or constraint names.
    limit : int, default 8
        How many labels to show before summarising the rest.

    Returns
    -------
    str
        For example ``"'a', 'b', 'c' and 4 more"``.
    """
    items = [repr(x) if not isinstance(x, str) else f"'{x}'" for x in labels]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


class PortfolioMktError(Exception):
    """Base class of every error raised by portfolio_mkt."""


class InputError(PortfolioMktError, ValueError):
    """An input value is invalid (NaN, infinite, negative budget, wrong type ...)."""


class AlignmentError(InputError):
    """Asset ids are duplicated, missing or do not match between inputs."""


class CovarianceError(InputError):
    """A covariance matrix is not square, not symmetric, or too far from PSD."""


class ConstraintError(InputError):
    """A constraint is ill-specified (unknown attribute, unknown asset, bad amount)."""


class InfeasibleError(PortfolioMktError, RuntimeError):
    """The plan's constraints cannot all hold at once.

    Attributes
    ----------
    conflicts : list of str
        Names of the constraints found in conflict.
    slack : dict
        For a relaxation diagnosis: constraint name -> how much it had to be relaxed,
        in money.
    """

    def __init__(
        self,
        message: str,
        conflicts: Sequence[str] = (),
        slack: dict[str, float] | None = None,
    ) -> None:
        super().__init__(message)
        self.conflicts = list(conflicts)
        self.slack = dict(slack or {})


class SolverError(PortfolioMktError, RuntimeError):
    """Every solver tried failed to return an optimal solution."""


class ConstraintViolationError(PortfolioMktError, RuntimeError):
    """The solver returned an allocation that breaks a constraint beyond tolerance.

    Attributes
    ----------
    violations : dict
        Constraint name -> violation in money (or in the constraint's own unit).
    """

    def __init__(self, message: str, violations: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.violations = dict(violations or {})


class EstimationError(PortfolioMktError, ValueError):
    """History data cannot be turned into estimates (missing columns, bad rows ...)."""


class PlanFileError(InputError):
    """A plan file is invalid; the message names the file, the field and the line."""


class PortfolioMktWarning(UserWarning):
    """Base class of the warnings of portfolio_mkt."""


class CovarianceRepairWarning(PortfolioMktWarning):
    """A covariance matrix was moved to the nearest positive semidefinite matrix."""


class InaccurateSolutionWarning(PortfolioMktWarning):
    """A solver returned a solution it marks as inaccurate."""
