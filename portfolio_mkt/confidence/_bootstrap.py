"""The block bootstrap of estimate-and-solve: resample, re-estimate, re-solve (by the engine)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..exceptions import InputError, SolverError, format_labels
from ..optimization import compile_problem, solve
from ..parallel import map_chunks, resolve_backend
from ..problem import Problem
from ..status import FAILED, is_usable, normalize_status
from ._resample import block_bootstrap_indices, periods_of, resample_history
from ._result import Confidence, recommendation_direction

__all__ = ["bootstrap"]

def _as_problem(obj: Any) -> Any:
    """A Problem from what a builder returned.

    A Problem, or an object with ``.problem`` such as ``portfolio_mkt.estimation.Estimates``.
    """
    if isinstance(obj, Problem):
        return obj
    inner = getattr(obj, "problem", None)
    if isinstance(inner, Problem):
        return inner
    raise InputError(
        f"build(history) must return a Problem (or an object with .problem, like Estimates); "
        f"got {type(obj).__name__}."
    )


class _HistoryProblem:
    """Default builder: ``problem_from_history(history, budget, **kwargs).problem``.

    Picklable (module-level class), so it runs on process and Dask backends.
    """

    def __init__(self, budget: float, kwargs: Mapping[str, Any]) -> None:
        self.budget = budget
        self.kwargs = dict(kwargs)

    def __call__(self, history: pd.DataFrame) -> Any:
        from ..estimation import problem_from_history

        return problem_from_history(history, self.budget, **self.kwargs).problem


def _default_builder(budget: float | None, kwargs: Mapping[str, Any]) -> _HistoryProblem:
    if budget is None:
        raise InputError(
            "bootstrap with the default estimator needs budget=...; or pass "
            "build=lambda history: Problem(...)."
        )
    return _HistoryProblem(float(budget), kwargs)


#: Arguments of problem_from_history that do not enter the Problem without response curves
#: (the bias audit, the cross-validation, the curve horizon and cap).
_NOT_IN_PROBLEM = frozenset({"audit_by", "audit_options", "cv", "horizon",
                             "extrapolation_limit", "curves"})


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS threads (many small factorisations run best on one thread per worker)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


class _Panel:
    """The history read once as periods x assets matrices; a resample is a row selection.

    ``problem(positions)`` equals ``problem_from_history(resample_history(history,
    positions), budget, **kwargs).problem`` (the assets in the point problem's order instead
    of the resample's order of first appearance, a permutation): the resampled history's
    returns matrix *is* the rows ``positions`` of the full one, relabelled with the first
    periods, and the estimators see nothing else. Built only when that holds (default
    estimator without response curves, periods already dates or integers); otherwise the
    bootstrap resamples the history itself.
    """

    def __init__(self, returns: pd.DataFrame, present: np.ndarray, assets: pd.DataFrame,
                 budget: float, kwargs: Mapping[str, Any]) -> None:
        self.returns = returns
        self.values = returns.to_numpy(float)
        self.present = present
        self.assets = assets
        self.budget = budget
        self.kwargs = {k: v for k, v in kwargs.items() if k not in _NOT_IN_PROBLEM}
        cur = self.kwargs.get("current")
        if cur is not None and not isinstance(cur, pd.Series):
            raise TypeError("the panel needs the current spend as a Series")

    @classmethod
    def build(cls, history: pd.DataFrame, period_col: str | None,
              builder: Any) -> _Panel | None:
        from ..estimation import asset_table, returns_matrix, validate_history

        kw = builder.kwargs
        if (kw.get("curves") or kw.get("expected_return", "shrinkage") == "curve"
                or period_col is None or period_col != "period"
                or period_col not in history.columns
                or not (pd.api.types.is_datetime64_any_dtype(history[period_col])
                        or pd.api.types.is_integer_dtype(history[period_col]))
                or not isinstance(kw.get("current"), (pd.Series, type(None)))):
            return None
        frame = validate_history(history)
        returns = returns_matrix(frame)
        periods, _ = periods_of(history, period_col)
        if not returns.index.equals(pd.Index(periods)):
            return None
        assets = asset_table(frame)
        p_code = returns.index.get_indexer(frame["period"])
        a_code = returns.columns.get_indexer(frame["asset"])
        present = np.zeros(returns.shape, dtype=bool)
        present[p_code, a_code] = True
        return cls(returns, present, assets, builder.budget, kw)

    def problem(self, positions: np.ndarray) -> Any:
        from ..estimation import problem_from_returns

        positions = np.asarray(positions, dtype=int)
        keep = self.present[positions].any(axis=0)
        values = self.values[positions][:, keep]
        returns = pd.DataFrame(values, index=self.returns.index,
                               columns=self.returns.columns[keep])
        # every argument but the estimates is the same object from one resample to the next,
        # so a compiled program can tell that only the estimates changed
        assets = self.assets if keep.all() else self.assets.loc[returns.columns]
        return problem_from_returns(returns, assets, self.budget, **self.kwargs)


class _ResampleTask:
    """Picklable worker: resample, rebuild, re-solve; never raises for a failed resample."""

    def __init__(
        self,
        history: pd.DataFrame,
        build: Callable[[pd.DataFrame], Any],
        period_col: str | None,
        index: pd.Index,
        solve_kwargs: Mapping[str, Any],
        point_spend: pd.Series | None = None,
        panel: _Panel | None = None,
        blas_threads: int | None = 1,
    ) -> None:
        # with a panel the history itself is not needed (nor shipped to the workers)
        self.history = history if panel is None else None
        self.build = build
        self.period_col = period_col
        self.index = index
        self.solve_kwargs = dict(solve_kwargs)
        self.point_spend = point_spend
        self.panel = panel
        self.blas_threads = blas_threads
        self._program: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_program"] = None  # a compiled program stays in its process
        return state

    def __call__(self, chunk: list[np.ndarray]) -> list[dict[str, Any]]:
        with _blas_threads(self.blas_threads):
            return self._run(chunk)

    def _problem(self, positions: np.ndarray) -> Any:
        if self.panel is not None:
            return self.panel.problem(positions)
        sample = resample_history(self.history, positions, self.period_col)
        return _as_problem(self.build(sample))

    def _solve(self, problem: Any) -> Any:
        # a re-estimate that differs from the chunk's compiled problem only in values the
        # program holds as Parameters (the expected returns, when there is no covariance)
        # re-uses it; otherwise it is compiled (once, as solve would) and kept for the next
        prog = self._program
        if prog is None or not prog.can_represent(problem):
            prog = self._program = compile_problem(problem)
        return solve(problem, program=prog, **self.solve_kwargs)

    def _run(self, chunk: list[np.ndarray]) -> list[dict[str, Any]]:
        self._program = None
        out = []
        for positions in chunk:
            rec: dict[str, Any] = {
                "status": FAILED,
                "message": "",
                "expected_outcome": np.nan,
                "risk": np.nan,
                "plan_outcome": np.nan,
                "plan_risk": np.nan,
                "spend": None,
            }
            try:
                problem = self._problem(positions)
                alloc = self._solve(problem)
            except Exception as exc:  # noqa: BLE001 - a failed resample is kept, not raised
                # (estimators may fail on a resample in any way: a KeyError for an asset
                # without data, a LinAlgError ...); if every resample fails, bootstrap raises
                # quoting the first failure
                rec["status"] = FAILED
                rec["message"] = f"{type(exc).__name__}: {exc}"
            else:
                rec["status"] = normalize_status(alloc.status)
                rec["expected_outcome"] = float(alloc.expected_outcome)
                rec["risk"] = float(alloc.risk)
                if self.point_spend is not None:
                    # the recommended (point) plan, valued by this resample's model
                    x0 = self.point_spend.reindex(problem.index, fill_value=0.0).to_numpy(float)
                    rec["plan_outcome"] = float(np.sum(problem.return_term.outcome(x0)))
                    rec["plan_risk"] = float(np.sqrt(max(problem.variance(x0), 0.0)))
                spend = alloc.spend
                extra = spend.index.difference(self.index)
                if len(extra):
                    rec["message"] = f"assets not in the point estimate ignored: {list(extra)}"
                x = np.array(spend.reindex(self.index, fill_value=0.0), dtype=float)
                x[np.abs(x) < 1e-12 * max(float(np.abs(x).sum()), 1.0)] = 0.0  # solver dust
                rec["spend"] = x
            out.append(rec)
        return out


def _interval(point: float, values: np.ndarray, level: float) -> pd.Series:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        lo = hi = mean = std = np.nan
    else:
        lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
        mean, std = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return pd.Series(
        {"point": point, "lower": lo, "upper": hi, "mean": mean, "std": std}, dtype=float
    )


def bootstrap(
    history: pd.DataFrame,
    build: Callable[[pd.DataFrame], Any] | None = None,
    *,
    budget: float | None = None,
    n_resamples: int = 200,
    block_length: int | None = None,
    method: Literal["circular", "moving"] = "circular",
    level: float = 0.90,
    period_col: str | None = "period",
    current: pd.Series | None = None,
    tolerance: float = 0.01,
    random_state: int | np.random.Generator | None = None,
    solver: str | None = None,
    backend: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    blas_threads: int | None = 1,
    **estimate_kwargs: Any,
) -> Confidence:
    """Block bootstrap of estimate-and-solve: intervals and per-recommendation confidence.

    Parameters
    ----------
    history : DataFrame
        Spend/outcome history. Long format (one row per period and asset, a ``period_col``
        column) or wide (one row per period, periods in the index and ``period_col=None``).
        Whatever ``build`` accepts.
    build : callable, optional
        ``build(history) -> Problem``: the estimator. Default:
        ``portfolio_mkt.estimation.problem_from_history(history, budget=budget,
        **estimate_kwargs)``; it reads the history once and estimates each resample from
        rows of the periods x assets returns
        (:func:`~portfolio_mkt.estimation.problem_from_returns`, the same Problem as
        re-reading the resampled history), and
        with ``covariance=None`` re-solves the point problem's compiled program with the new
        expected returns. Must be picklable for process and Dask backends (module-level
        functions, ``functools.partial``, or lambdas through cloudpickle).
    budget : float, optional
        Budget for the default estimator.
    n_resamples : int, default 200
        Number of resamples.
    block_length : int, optional
        Consecutive periods per block; default ``round(n_periods ** (1/3))`` (at least 1).
    method : {"circular", "moving"}, default "circular"
        Block scheme (see :func:`block_bootstrap_indices`).
    level : float, default 0.90
        Coverage of the percentile intervals.
    period_col : str or None, default "period"
        Period column of a long history (``None``: the index holds the periods).
    current : Series, optional
        Current spend for the directions; default the point problem's ``current``.
    tolerance : float, default 0.01
        Relative dead band of "hold" (a change within 1% of current spend is no change).
    random_state : int or Generator, optional
        Seed; the same seed gives the same resamples and results on every backend.
    solver : str, optional
        Passed to :func:`portfolio_mkt.solve`.
    backend, n_jobs, progress
        Parallel execution (see :func:`portfolio_mkt.parallel.map_solves`). Default: the
        backend set with :func:`portfolio_mkt.parallel.use_backend`, else local processes
        (16 resamples or more) or this process (fewer).
    blas_threads : int or None, default 1
        BLAS threads of each resample's estimation and solve (``threadpoolctl``): the work
        is many small factorisations, which one thread per worker does fastest, and several
        threads per process collapse when the machine is busy. None leaves BLAS alone.
    **estimate_kwargs
        Extra keyword arguments for the default estimator.

    Returns
    -------
    Confidence

    Raises
    ------
    InputError
        Bad arguments, or no estimator available.
    SolverError
        Every resample failed (the first failure is quoted).
    """
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1 (e.g. 0.9); got {level}.")
    if build is None:
        build = _default_builder(budget, estimate_kwargs)
    elif estimate_kwargs:
        raise InputError(
            f"keyword arguments {sorted(estimate_kwargs)} are for the default estimator; with "
            "build=... put them into the callable."
        )
    if not callable(build):
        raise InputError("build must be a callable history -> Problem.")
    periods, _ = periods_of(history, period_col)
    n_periods = len(periods)
    if block_length is None:
        block_length = max(1, round(n_periods ** (1 / 3)))
    positions = block_bootstrap_indices(
        n_periods, n_resamples, int(block_length), random_state, method
    )
    solve_kwargs = {} if solver is None else {"solver": solver}

    with _blas_threads(blas_threads):
        problem = _as_problem(build(history))
        point = solve(problem, **solve_kwargs)
    if isinstance(build, _HistoryProblem) and isinstance(
        build.kwargs.get("current", "last"), str
    ) and problem.current is not None:
        # every resample plans against today's spend, not the resample's last period
        build = _HistoryProblem(build.budget, {**build.kwargs, "current": problem.current})
    index = point.spend.index
    if current is None:
        current = getattr(problem, "current", None)
    if current is not None:
        current = pd.Series(current, dtype=float).reindex(index)
        if current.isna().any():
            raise InputError(
                f"current spend is missing for assets {format_labels(index[current.isna()])}; "
                "give a current spend (0 for new assets) for every asset."
            )

    panel = (_Panel.build(history, period_col, build)
             if isinstance(build, _HistoryProblem) else None)
    task = _ResampleTask(history, build, period_col, index, solve_kwargs, point.spend,
                         panel=panel, blas_threads=blas_threads)
    backend, n_jobs = resolve_backend(backend, n_jobs, n_resamples)
    records = map_chunks(
        task,
        list(positions),
        backend=backend,
        n_jobs=n_jobs,
        progress=progress,
        desc="bootstrap",
    )

    samples = pd.DataFrame(
        {
            "status": [r["status"] for r in records],
            "message": [r["message"] for r in records],
            "expected_outcome": [r["expected_outcome"] for r in records],
            "risk": [r["risk"] for r in records],
            "plan_outcome": [r["plan_outcome"] for r in records],
            "plan_risk": [r["plan_risk"] for r in records],
        },
        index=pd.RangeIndex(len(records), name="resample"),
    )
    spend = np.full((len(records), len(index)), np.nan)
    for i, r in enumerate(records):
        if r["spend"] is not None and is_usable(r["status"]):
            spend[i] = r["spend"]
    spend_samples = pd.DataFrame(spend, index=samples.index, columns=index)
    ok = samples["status"].map(is_usable).to_numpy(bool)
    samples.loc[~ok, ["expected_outcome", "risk", "plan_outcome", "plan_risk"]] = np.nan
    if not ok.any():
        first = samples.iloc[0]
        raise SolverError(
            f"all {len(samples)} bootstrap resamples failed; the first failed with "
            f"{first['status']}: {first['message']} Check that build(history) works on a "
            "shorter history, or use a longer block_length."
        )

    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    good = spend_samples.to_numpy()[ok]
    table = pd.DataFrame(index=index)
    table["current"] = current if current is not None else np.nan
    table["spend"] = point.spend.to_numpy(float)
    table["change"] = table["spend"] - table["current"]
    table["lower"] = np.quantile(good, lo_q, axis=0)
    table["upper"] = np.quantile(good, hi_q, axis=0)
    budget_value = float(getattr(problem, "budget", point.spend.sum()))
    atol = 1e-6 * budget_value
    if current is not None:
        direction = recommendation_direction(table["spend"], table["current"], tolerance, atol)
        c = table["current"].to_numpy()
        agree = np.array(
            [recommendation_direction(row, c, tolerance, atol) == direction for row in good]
        )
        table["direction"] = direction
        table["confidence"] = agree.mean(axis=0)
    else:
        table["direction"] = pd.Series([None] * len(index), index=index, dtype=object)
        table["confidence"] = np.nan

    notes = []
    if (~ok).any():
        notes.append(
            f"{int((~ok).sum())} of {len(ok)} resamples failed and are left out of the "
            "intervals (see Confidence.samples)."
        )
    return Confidence(
        point=point,
        level=level,
        samples=samples,
        spend_samples=spend_samples,
        current=current,
        table=table,
        outcome=_interval(float(point.expected_outcome), samples["expected_outcome"].to_numpy(),
                          level),
        risk=_interval(float(point.risk), samples["risk"].to_numpy(), level),
        plan_outcome=_interval(float(point.expected_outcome),
                               samples["plan_outcome"].to_numpy(), level),
        random_state=random_state if not isinstance(random_state, np.random.Generator) else None,
        block_length=int(block_length),
        tolerance=tolerance,
        notes=notes,
    )
