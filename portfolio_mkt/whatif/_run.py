"""Running scenarios: the base plan and each what-if, re-solved by the engine."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..exceptions import (
    ConstraintViolationError,
    InputError,
    PortfolioMktError,
    format_labels,
)
from ..optimization import Program, compile_problem, solve
from ..parallel import _effective_jobs, map_chunks, resolve_backend
from ._results import ScenarioResults, failure, record, tabulate
from ._scenario import Scenario, apply_scenario

__all__ = ["scenarios"]


class _ScenarioTask:
    """Picklable worker: solve a chunk of scenarios against one base problem."""

    def __init__(self, base: Any, solver: str | None) -> None:
        self.base = base
        self.solver = solver

    def __call__(self, chunk: list[Scenario]) -> list[dict[str, Any]]:
        kwargs = {} if self.solver is None else {"solver": self.solver}
        reuse = _ProgramReuse(self.base, self.solver)
        out = []
        for sc in chunk:
            budget = np.nan
            try:
                problem = apply_scenario(self.base, sc)
                budget = problem.budget
                alloc = reuse.solve(problem)
                method = "parameter"
                if alloc is None:
                    alloc = solve(problem, **kwargs)
                    method = "rebuild"
                out.append(record(sc.name, alloc, method))
            except PortfolioMktError as exc:
                out.append(failure(sc.name, exc, budget))
        return out


class _ProgramReuse:
    """One compiled base program, re-solved by the engine for scenarios it can represent.

    :meth:`Program.can_represent` says which scenarios only change Parameter values (budget,
    risk aversion, targets ...); ``solve(problem, program=...)`` re-values them. Others are
    rebuilt by the caller.
    """

    def __init__(self, base: Any, solver: str | None) -> None:
        self.base = base
        self.solver = solver
        self.program: Any = None
        self.enabled = True

    def solve(self, problem: Any) -> Any | None:
        if not self.enabled or not problem.differences(self.base) <= Program.PARAMETRIC:
            return None
        if self.program is None:
            self.program = compile_problem(self.base)
        if not self.program.can_represent(problem):
            return None
        kwargs = {} if self.solver is None else {"solver": self.solver}
        try:
            return solve(problem, program=self.program, **kwargs)
        except ConstraintViolationError:
            # the warm-started program missed; a fresh compile decides (and later scenarios
            # of this chunk are rebuilt too)
            self.enabled = False
            return None


def _as_scenarios(items: Sequence[Scenario | Mapping[str, Any]]) -> list[Scenario]:
    out = []
    for i, s in enumerate(items):
        if isinstance(s, Scenario):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(Scenario(**dict(s)))
        else:
            raise InputError(
                f"scenario #{i} must be a Scenario (or a dict of its arguments); got "
                f"{type(s).__name__}."
            )
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(
            f"scenario names must be unique; repeated: {format_labels(dup)}. Give each a name."
        )
    if "base" in names:
        raise InputError("'base' is the name of the base plan; name the scenario differently.")
    return out


def scenarios(
    problem: Any,
    scenario_list: Sequence[Scenario | Mapping[str, Any]],
    *,
    solver: str | None = None,
    backend: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> ScenarioResults:
    """Solve the base problem and each scenario; tabulate the differences.

    Parameters
    ----------
    problem : Problem
        The base plan.
    scenario_list : sequence of Scenario (or dicts of Scenario arguments)
        The what-ifs, each applied to the base independently.
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    backend, n_jobs, progress
        Parallel execution (see :func:`portfolio_mkt.parallel.map_solves`); each worker gets one
        contiguous chunk of scenarios and compiles the base program once. Default: the backend
        set with :func:`portfolio_mkt.parallel.use_backend`, else local processes for 16
        scenarios or more and this process for fewer (see
        :func:`portfolio_mkt.parallel.resolve_backend`).

    Returns
    -------
    ScenarioResults

    Raises
    ------
    InputError
        Bad scenario definitions (unknown assets or attributes are reported as the scenario's
        status, not raised, so that one bad scenario does not sink the table).
    PortfolioMktError
        When the *base* problem cannot be solved.

    Examples
    --------
    >>> import numpy as np, pandas as pd, portfolio_mkt as pm
    >>> mu = pd.Series({"search": 0.03, "social": 0.025})
    >>> cov = pd.DataFrame([[0.04, 0.01], [0.01, 0.09]], index=mu.index, columns=mu.index)
    >>> p = pm.Problem(mu, cov, budget=1_000.0, risk_aversion=0.5)
    >>> res = scenarios(p, [Scenario(budget_change=0.1)], backend="sequential")
    >>> ratio = res.spend["budget +10%"] / res.spend["base"]
    >>> bool(np.allclose(ratio, 1.1))
    True
    """
    items = _as_scenarios(scenario_list)
    base_alloc = solve(problem) if solver is None else solve(problem, solver=solver)
    base_rec = record("base", base_alloc, "rebuild")

    records: list[dict[str, Any]] = []
    if items:
        backend_, jobs = resolve_backend(backend, n_jobs, len(items))
        # one chunk per worker, each compiling the base program once; the chunking depends on
        # n_jobs only (not on the backend), so every backend returns the same numbers
        chunk = max(1, math.ceil(len(items) / _effective_jobs(jobs)))
        records = map_chunks(
            _ScenarioTask(problem, solver),
            items,
            backend=backend_,
            n_jobs=jobs,
            chunk_size=chunk,
            progress=progress,
            desc="scenarios",
        )
    return tabulate(base_rec, records, items, problem.index)
