"""The exact price of each strategy constraint: re-solve without it and compare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import PortfolioMktError
from ..optimization import solve
from ..parallel import map_chunks, resolve_backend
from ._results import failure, reallocated, record

__all__ = ["constraint_prices", "PRICE_COLUMNS"]


PRICE_COLUMNS = [
    "kind",
    "binding",
    "dual",
    "unit_amount",
    "outcome_with",
    "outcome_without",
    "outcome_price",
    "outcome_price_pct",
    "risk_with",
    "risk_without",
    "risk_change",
    "objective_gain",
    "spend_moved",
    "status_without",
    "message",
]


def _objective_value(alloc: Any) -> float:
    """The problem's objective at the allocation, in outcome units (larger is better)."""
    obj = alloc.problem.objective
    if obj == "min_risk":
        return -float(alloc.risk)
    if obj == "max_return" or alloc.problem.covariance is None:
        return float(alloc.expected_outcome)
    return float(alloc.utility)


class _PriceTask:
    def __init__(self, problem: Any, solver: str | None) -> None:
        self.problem = problem
        self.solver = solver

    def __call__(self, name: str) -> dict[str, Any]:
        kwargs = {} if self.solver is None else {"solver": self.solver}
        try:
            if name == "max_risk":
                relaxed = self.problem.replace(max_risk=None)
            elif name == "min_outcome":
                relaxed = self.problem.replace(min_outcome=None)
            else:
                relaxed = self.problem.without(name)
            alloc = solve(relaxed, **kwargs)
        except PortfolioMktError as exc:
            return failure(name, exc)
        return record(name, alloc, "rebuild")


def constraint_prices(
    problem: Any,
    names: Sequence[str] | None = None,
    *,
    allocation: Any = None,
    solver: str | None = None,
    backend: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Exact price of each named strategy constraint: re-solve without it and compare.

    Parameters
    ----------
    problem : Problem
        The plan.
    names : sequence of str, optional
        Constraints to price. Default: every strategy constraint of the problem, plus the
        ``max_risk`` / ``min_outcome`` targets when set.
    allocation : Allocation, optional
        The solved plan (solved here when not given).
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    backend, n_jobs, progress
        Parallel execution of the re-solves (see :func:`portfolio_mkt.parallel.map_solves`).
        Default as in :func:`scenarios`: processes for 16 constraints or more, else this
        process.

    Returns
    -------
    DataFrame
        Index: constraint name. Columns: ``kind``, ``binding``, ``dual`` and ``unit_amount``
        (from the allocation's constraints table: the marginal price per unit of money and
        the money of one unit of the constraint's amount), ``outcome_with``/``outcome_without``
        and ``outcome_price`` = without - with (expected outcome the constraint costs),
        ``outcome_price_pct`` (of the outcome without it), ``risk_with``/``risk_without`` and
        ``risk_change`` = without - with, ``objective_gain`` (how much the objective -- utility,
        outcome, or minus the risk -- improves without the constraint; >= 0 up to solver
        tolerance), ``spend_moved`` (money reallocated between assets when it is dropped),
        ``status_without`` and ``message`` (a failed re-solve keeps its status).

    Raises
    ------
    ConstraintError
        A name that is not a constraint of the problem.

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> mu = pd.Series({"search": 0.03, "social": 0.02})
    >>> p = pm.Problem(mu, budget=100.0, constraints=[
    ...     pm.Bounds(lower={"social": 40.0}, name="social_min")])
    >>> prices = constraint_prices(p)
    >>> round(float(prices.loc["social_min", "outcome_price"]), 6)
    0.4
    """
    kwargs = {} if solver is None else {"solver": solver}
    if allocation is None:
        allocation = solve(problem, **kwargs)
    if names is None:
        names = [c.name for c in problem.constraints if getattr(c, "strategic", True)]
        if problem.max_risk is not None:
            names.append("max_risk")
        if problem.min_outcome is not None:
            names.append("min_outcome")
    else:
        names = list(names)
        for n in names:
            if n == "max_risk" and problem.max_risk is not None:
                continue
            if n == "min_outcome" and problem.min_outcome is not None:
                continue
            problem.constraint(n)  # raises ConstraintError naming the known constraints
    backend, n_jobs = resolve_backend(backend, n_jobs, len(names))
    records = map_chunks(
        _Each(_PriceTask(problem, solver)),
        names,
        backend=backend,
        n_jobs=n_jobs,
        progress=progress,
        desc="constraint prices",
    ) if names else []
    table = allocation.constraints
    with_obj = _objective_value(allocation)
    rows = {}
    for n, rec in zip(names, records, strict=True):
        row: dict[str, Any] = {}
        if n in table.index:
            for col in ("kind", "binding", "dual", "unit_amount"):
                row[col] = table.loc[n, col] if col in table.columns else np.nan
        else:
            row.update(kind=np.nan, binding=np.nan, dual=np.nan, unit_amount=np.nan)
        row["outcome_with"] = float(allocation.expected_outcome)
        row["risk_with"] = float(allocation.risk)
        row["outcome_without"] = rec["expected_outcome"]
        row["risk_without"] = rec["risk"]
        row["outcome_price"] = rec["expected_outcome"] - row["outcome_with"]
        denom = abs(rec["expected_outcome"])
        row["outcome_price_pct"] = row["outcome_price"] / denom if denom > 0 else np.nan
        row["risk_change"] = rec["risk"] - row["risk_with"]
        if rec["allocation"] is not None:
            row["objective_gain"] = _objective_value(rec["allocation"]) - with_obj
            moved = rec["spend"].reindex(allocation.spend.index) - allocation.spend
            row["spend_moved"] = float(reallocated(moved.to_frame()).iloc[0])
        else:
            row["objective_gain"] = np.nan
            row["spend_moved"] = np.nan
        row["status_without"] = rec["status"]
        row["message"] = rec["message"]
        rows[n] = row
    out = pd.DataFrame.from_dict(rows, orient="index", columns=PRICE_COLUMNS)
    out.index.name = "constraint"
    for col in ("kind", "status_without", "message"):
        out[col] = out[col].astype(object)
    return out


class _Each:
    """Picklable adapter: apply a per-item function to a chunk."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, chunk: list[Any]) -> list[Any]:
        return [self.fn(item) for item in chunk]
