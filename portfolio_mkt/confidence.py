"""How sure are we? Block bootstrap of the whole pipeline, and approval flags.

:func:`bootstrap` resamples the history by blocks of consecutive periods (keeping the
autocorrelation and carry-over inside each block), re-estimates the problem with any callable
``history -> Problem`` (by default :func:`portfolio_mkt.estimation.problem_from_history`),
re-solves it, and reports

* intervals for the expected outcome, the risk and the spend of every asset;
* per-recommendation confidence: the share of resamples in which the recommended direction of
  change (more / less / about the same as today) holds.

:class:`ApprovalRules` and :func:`approval_flags` turn an allocation (and optionally its
confidence) into the list of changes that need a human, with defaults from the planning
guides: any asset moved by more than 10%, any cut to brand-tagged assets, any recommendation
whose confidence is below 85%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .exceptions import EstimationError, InputError, format_labels
from .parallel import map_chunks, resolve_backend
from .status import FAILED, is_usable, normalize_status

__all__ = [
    "bootstrap",
    "Confidence",
    "block_bootstrap_indices",
    "resample_history",
    "recommendation_direction",
    "ApprovalRules",
    "approval_flags",
    "approval_messages",
]

Direction = Literal["increase", "decrease", "hold"]


# --------------------------------------------------------------------------------------------
# resampling


def block_bootstrap_indices(
    n_periods: int,
    n_resamples: int,
    block_length: int,
    random_state: int | np.random.Generator | None = None,
    method: Literal["circular", "moving"] = "circular",
) -> np.ndarray:
    """Period positions of block-bootstrap resamples.

    Each resample concatenates blocks of ``block_length`` consecutive periods starting at
    uniformly drawn positions, truncated to ``n_periods``. ``"moving"`` draws starts among the
    ``n_periods - block_length + 1`` full blocks (Kuensch, 1989); ``"circular"`` wraps around the
    end so every period is equally likely to be drawn (Politis and Romano, 1992).

    Parameters
    ----------
    n_periods : int
        Number of periods in the history (at least 2).
    n_resamples : int
        Number of resamples (at least 1).
    block_length : int
        Periods per block, between 1 and ``n_periods``.
    random_state : int or Generator, optional
        Seed for :func:`numpy.random.default_rng`.
    method : {"circular", "moving"}, default "circular"

    Returns
    -------
    ndarray of shape (n_resamples, n_periods)
        Integer positions ``0 .. n_periods - 1``.

    Examples
    --------
    >>> block_bootstrap_indices(6, 2, 3, random_state=0).shape
    (2, 6)
    """
    if n_periods < 2:
        raise InputError(f"the bootstrap needs at least 2 periods of history; got {n_periods}.")
    if n_resamples < 1:
        raise InputError(f"n_resamples must be at least 1; got {n_resamples}.")
    if not 1 <= block_length <= n_periods:
        raise InputError(
            f"block_length must be between 1 and the number of periods ({n_periods}); got "
            f"{block_length}."
        )
    if method not in ("circular", "moving"):
        raise InputError(f"method must be 'circular' or 'moving'; got {method!r}.")
    rng = np.random.default_rng(random_state)
    n_blocks = math.ceil(n_periods / block_length)
    n_starts = n_periods if method == "circular" else n_periods - block_length + 1
    starts = rng.integers(0, n_starts, size=(n_resamples, n_blocks))
    offsets = np.arange(block_length)
    pos = (starts[:, :, None] + offsets[None, None, :]).reshape(n_resamples, -1)[:, :n_periods]
    return pos % n_periods


def _periods(history: pd.DataFrame, period_col: str | None) -> tuple[pd.Index, np.ndarray]:
    """Sorted unique periods and each row's period position."""
    if not isinstance(history, pd.DataFrame):
        raise InputError(
            f"history must be a DataFrame (long: one row per period and asset, or wide: one row "
            f"per period); got {type(history).__name__}."
        )
    if period_col is not None and period_col in history.columns:
        values = history[period_col]
    elif period_col is None or history.index.name == period_col:
        values = pd.Series(history.index, index=history.index)
    else:
        raise EstimationError(
            f"history has no column {period_col!r}; name the period column with "
            "period_col=..., or pass period_col=None to resample the rows' index."
        )
    if values.isna().any():
        rows = list(np.flatnonzero(values.isna().to_numpy())[:8])
        raise EstimationError(
            f"history has missing periods in rows {rows}; fill or drop those rows first."
        )
    codes, uniques = pd.factorize(values, sort=True)
    return pd.Index(uniques), codes


def resample_history(
    history: pd.DataFrame, positions: np.ndarray, period_col: str | None = "period"
) -> pd.DataFrame:
    """Build one resampled history from period positions.

    The ``j``-th period of the result carries the rows of original period ``positions[j]``
    but keeps the label of the original ``j``-th period, so dates stay increasing and unique
    and any estimator (EWMA, adstock, time-series splits) sees an ordinary history.

    Parameters
    ----------
    history : DataFrame
        Long history with a ``period_col`` column, or a wide history with one row per period
        (the period in the index; ``period_col`` None or the index name).
    positions : array of int
        Positions into the sorted unique periods, one per period of the result.
    period_col : str or None, default "period"

    Returns
    -------
    DataFrame
        The resampled history (fresh RangeIndex for a long history; the period labels as the
        index for a wide one).
    """
    periods, codes = _periods(history, period_col)
    positions = np.asarray(positions, dtype=int)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(periods))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = np.concatenate([order[starts[p] : starts[p] + counts[p]] for p in positions])
    labels = np.repeat(np.arange(len(positions)), counts[positions])
    out = history.iloc[take]
    new_labels = periods[labels]
    if period_col is not None and period_col in history.columns:
        out = out.reset_index(drop=True)
        out[period_col] = pd.Series(new_labels, index=out.index).astype(history[period_col].dtype)
    else:
        out = out.copy()
        out.index = pd.Index(new_labels, name=history.index.name)
    return out


# --------------------------------------------------------------------------------------------
# directions


def recommendation_direction(
    spend: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    tolerance: float = 0.01,
    atol: float = 0.0,
) -> np.ndarray:
    """Direction of change of each asset: ``"increase"``, ``"decrease"`` or ``"hold"``.

    A change counts when it exceeds ``max(tolerance * current, atol)`` in money.

    Parameters
    ----------
    spend, current : Series or ndarray
        Recommended and current spend (same order).
    tolerance : float, default 0.01
        Relative dead band around the current spend.
    atol : float, default 0.0
        Absolute dead band in money (for assets with no current spend).

    Returns
    -------
    ndarray of str

    Examples
    --------
    >>> recommendation_direction(np.array([110.0, 95.0, 100.5]), np.array([100.0] * 3)).tolist()
    ['increase', 'decrease', 'hold']
    """
    x = np.asarray(spend, dtype=float)
    c = np.asarray(current, dtype=float)
    band = np.maximum(tolerance * np.abs(c), atol)
    out = np.full(x.shape, "hold", dtype=object)
    out[x - c > band] = "increase"
    out[c - x > band] = "decrease"
    return out


# --------------------------------------------------------------------------------------------
# the bootstrap


@dataclass
class Confidence:
    """Result of :func:`bootstrap`: point allocation, resamples, intervals and confidence.

    Attributes
    ----------
    point : Allocation
        The allocation solved on the full history.
    level : float
        Coverage of the percentile intervals (0.9 gives the 5% and 95% quantiles).
    samples : DataFrame
        One row per resample: ``status``, ``message``, ``expected_outcome`` and ``risk`` (of
        the plan re-optimised on the resample), ``plan_outcome`` and ``plan_risk`` (the
        recommended point plan valued by the resample's re-estimated model).
    spend_samples : DataFrame
        Spend per resample (rows) and asset (columns, the point allocation's assets; an asset
        the estimator dropped in a resample counts as 0). Failed resamples are NaN.
    current : Series or None
        Current spend the directions are measured against.
    table : DataFrame
        Per asset: ``current``, ``spend``, ``change``, ``lower``, ``upper``, ``direction``,
        ``confidence`` (share of successful resamples with the same direction).
    outcome : Series
        ``point``, ``lower``, ``upper``, ``mean``, ``std`` of the expected outcome.
    risk : Series
        The same for the risk (standard deviation of the outcome).
    plan_outcome : Series
        The same for the recommended plan's expected outcome under the re-estimated models:
        how far the estimate of *this* plan's outcome can be trusted (no re-optimisation,
        so no winner's curse).
    random_state : int or None
        The seed.
    block_length : int
        Periods per block.
    """

    point: Any
    level: float
    samples: pd.DataFrame
    spend_samples: pd.DataFrame
    current: pd.Series | None
    table: pd.DataFrame
    outcome: pd.Series
    risk: pd.Series
    plan_outcome: pd.Series | None = None
    random_state: Any = None
    block_length: int = 1
    tolerance: float = 0.01
    notes: list[str] = field(default_factory=list)

    @property
    def n_resamples(self) -> int:
        """Number of resamples drawn."""
        return len(self.samples)

    @property
    def n_failed(self) -> int:
        """Resamples whose estimation or solve failed (kept in :attr:`samples`)."""
        return int((~self.samples["status"].map(is_usable)).sum())

    @property
    def recommendation_confidence(self) -> pd.Series:
        """Share of resamples in which each asset's recommended direction holds."""
        return self.table["confidence"]

    def to_frame(self) -> pd.DataFrame:
        """The per-asset table (a copy)."""
        return self.table.copy()

    def plot(self, ax: Any = None, top: int | None = 20) -> Any:
        """Recommended spend per asset with its interval, and today's spend.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when omitted.
        top : int or None, default 20
            Show the assets with the largest recommended or current spend (None: all).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        t = self.table
        if top is not None and len(t) > top:
            size = np.maximum(t["spend"].to_numpy(), np.nan_to_num(t["current"].to_numpy()))
            t = t.iloc[np.argsort(-size, kind="stable")[:top]]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * len(t) + 1.2))
        y = np.arange(len(t))
        lower = np.clip(t["spend"] - t["lower"], 0, None)
        upper = np.clip(t["upper"] - t["spend"], 0, None)
        ax.errorbar(t["spend"], y, xerr=[lower, upper], fmt="o", color="C0", capsize=3,
                    label=f"recommended ({self.level:.0%} interval)")
        if self.current is not None:
            ax.plot(t["current"], y, "|", markersize=12, color="black", label="current")
        ax.set_yticks(y, [str(a) for a in t.index])
        ax.invert_yaxis()
        ax.set_xlabel("spend")
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())
        ax.legend(loc="best")
        return ax

    def summary(self) -> str:
        """Plain-language summary of the intervals and of the least certain recommendations."""
        pct = f"{self.level:.0%}"
        ok = self.n_resamples - self.n_failed
        lines = [
            f"Bootstrap over {self.n_resamples} block resamples (block of {self.block_length} "
            f"periods, seed {self.random_state}); {ok} solved.",
            f"Expected outcome {self.outcome['point']:,.0f}, {pct} interval "
            f"{self.outcome['lower']:,.0f} to {self.outcome['upper']:,.0f}.",
            f"Risk {self.risk['point']:,.0f}, {pct} interval {self.risk['lower']:,.0f} to "
            f"{self.risk['upper']:,.0f}.",
        ]
        if self.plan_outcome is not None and np.isfinite(self.plan_outcome["lower"]):
            lines.append(
                f"The recommended plan itself, valued by the re-estimated models: {pct} "
                f"interval {self.plan_outcome['lower']:,.0f} to "
                f"{self.plan_outcome['upper']:,.0f}."
            )
        if self.current is not None:
            moved = self.table[self.table["direction"] != "hold"]
            if len(moved):
                worst = moved.sort_values("confidence").head(5)
                parts = [
                    f"{a} ({r.direction}, {r.confidence:.0%})" for a, r in worst.iterrows()
                ]
                lines.append("Least certain recommendations: " + "; ".join(parts) + ".")
        lines.extend(self.notes)
        return "\n".join(lines)


def _as_problem(obj: Any) -> Any:
    """A Problem from what a builder returned.

    A Problem, or an object with ``.problem`` such as ``portfolio_mkt.estimation.Estimates``.
    """
    from .problem import Problem

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
        from .estimation import problem_from_history

        return problem_from_history(history, self.budget, **self.kwargs).problem


def _default_builder(budget: float | None, kwargs: Mapping[str, Any]) -> _HistoryProblem:
    try:
        from .estimation import problem_from_history  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "bootstrap needs build=callable(history) -> Problem, because "
            "portfolio_mkt.estimation.problem_from_history is not available here."
        ) from exc
    if budget is None:
        raise InputError(
            "bootstrap with the default estimator needs budget=...; or pass "
            "build=lambda history: Problem(...)."
        )
    return _HistoryProblem(float(budget), kwargs)


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
    ) -> None:
        self.history = history
        self.build = build
        self.period_col = period_col
        self.index = index
        self.solve_kwargs = dict(solve_kwargs)
        self.point_spend = point_spend

    def __call__(self, chunk: list[np.ndarray]) -> list[dict[str, Any]]:
        from .optimization import solve

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
                sample = resample_history(self.history, positions, self.period_col)
                problem = _as_problem(self.build(sample))
                alloc = solve(problem, **self.solve_kwargs)
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
        **estimate_kwargs)``. Must be picklable for process and Dask backends (module-level
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
    from .optimization import solve

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
    periods, _ = _periods(history, period_col)
    n_periods = len(periods)
    if block_length is None:
        block_length = max(1, round(n_periods ** (1 / 3)))
    positions = block_bootstrap_indices(
        n_periods, n_resamples, int(block_length), random_state, method
    )
    solve_kwargs = {} if solver is None else {"solver": solver}

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

    task = _ResampleTask(history, build, period_col, index, solve_kwargs, point.spend)
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
        from .exceptions import SolverError

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


# --------------------------------------------------------------------------------------------
# approval


@dataclass(frozen=True)
class ApprovalRules:
    """Which recommended changes need a human before they are executed.

    The defaults follow the planning guides: a human approves any asset moved by more than
    10%, any cut to brand assets, and any recommendation the model is less than 85% sure of.
    Set a rule to ``None`` (or an empty tuple) to switch it off.

    Parameters
    ----------
    max_change : float or None, default 0.10
        Relative change of spend against the current spend above which approval is needed
        (new spend on an asset with no current spend always counts as above).
    group_by : str or None, default None
        Apply ``max_change`` to groups of assets with the same value of this attribute
        (for example ``"channel"``) instead of to each asset.
    protected_tags : tuple of str, default ("brand",)
        Any cut to an asset carrying one of these tags needs approval.
    protected : mapping or None, default None
        A where-filter (``{"market": "RU"}``): any change to these assets needs approval
        (regional launch plans).
    min_confidence : float or None, default 0.85
        Recommendations with a confidence below this need approval (when confidence is given).
    min_amount : float, default 0.0
        Changes smaller than this (money) never need approval. Changes below a millionth of
        the total spend are solver noise and never count.

    Examples
    --------
    >>> ApprovalRules(max_change=0.2, protected_tags=("brand", "launch"))
    ApprovalRules(max_change=0.2, group_by=None, protected_tags=('brand', 'launch'), \
protected=None, min_confidence=0.85, min_amount=0.0)
    """

    max_change: float | None = 0.10
    group_by: str | None = None
    protected_tags: tuple[str, ...] = ("brand",)
    protected: Mapping[str, Any] | None = None
    min_confidence: float | None = 0.85
    min_amount: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.protected_tags, str):
            object.__setattr__(self, "protected_tags", (self.protected_tags,))
        else:
            object.__setattr__(self, "protected_tags", tuple(self.protected_tags or ()))
        if self.max_change is not None and not self.max_change >= 0:
            raise InputError(
                f"ApprovalRules.max_change must be a non-negative fraction (0.1 for 10%); got "
                f"{self.max_change}."
            )
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise InputError(
                "ApprovalRules.min_confidence must be a fraction between 0 and 1 (0.85 for "
                f"85%); got {self.min_confidence}."
            )
        if not self.min_amount >= 0:
            raise InputError(f"ApprovalRules.min_amount must be >= 0; got {self.min_amount}.")


_FLAG_COLUMNS = [
    "rule",
    "asset",
    "current",
    "spend",
    "change",
    "change_pct",
    "confidence",
    "message",
]


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _alloc_parts(allocation: Any) -> tuple[pd.Series, pd.Series | None, pd.DataFrame | None]:
    spend = getattr(allocation, "spend", None)
    if not isinstance(spend, pd.Series):
        raise InputError(
            "approval_flags needs an Allocation (from portfolio_mkt.solve) or an object with a "
            f"spend Series; got {type(allocation).__name__}."
        )
    change = getattr(allocation, "change", None)
    current = None
    if isinstance(change, pd.Series):
        current = (spend - change.reindex(spend.index)).astype(float)
    else:
        problem = getattr(allocation, "problem", None)
        cur = getattr(problem, "current", None) if problem is not None else None
        if cur is not None:
            current = pd.Series(cur, dtype=float).reindex(spend.index)
    problem = getattr(allocation, "problem", None)
    assets = getattr(problem, "assets", None) if problem is not None else None
    if assets is None:
        assets = getattr(allocation, "assets", None)
    return spend.astype(float), current, assets


def _tags_match(assets: pd.DataFrame | None, index: pd.Index, tags: Iterable[str]) -> np.ndarray:
    wanted = {str(t).lower() for t in tags}
    if assets is None or "tags" not in assets.columns or not wanted:
        return np.zeros(len(index), dtype=bool)
    from ._validation import split_tags

    col = assets["tags"].reindex(index)
    return np.array([bool(wanted & {t.lower() for t in split_tags(v)}) for v in col], dtype=bool)


def _where_match(
    assets: pd.DataFrame | None, index: pd.Index, where: Mapping[str, Any]
) -> np.ndarray:
    if assets is None:
        raise InputError(
            "ApprovalRules.protected selects assets by attributes, but the allocation carries "
            "no asset table; give the Problem assets=DataFrame(...)."
        )
    mask = np.ones(len(index), dtype=bool)
    for attr, wanted in where.items():
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        if attr == "tags":
            mask &= _tags_match(assets, index, values)
        elif attr == "asset":
            mask &= np.isin(index.astype(str), [str(v) for v in values])
        else:
            if attr not in assets.columns:
                raise InputError(
                    f"ApprovalRules.protected filters on unknown attribute {attr!r}; the asset "
                    f"table has {format_labels(assets.columns)}."
                )
            col = assets[attr].reindex(index).astype(str)
            mask &= col.isin([str(v) for v in values]).to_numpy()
    return mask


def _confidence_parts(confidence: Any, index: pd.Index) -> tuple[pd.Series, pd.Series | None]:
    if isinstance(confidence, Confidence):
        return (
            confidence.table["confidence"].reindex(index),
            confidence.table["direction"].reindex(index),
        )
    if isinstance(confidence, Mapping):
        confidence = pd.Series(confidence, dtype=float)
    if isinstance(confidence, pd.Series):
        return confidence.astype(float).reindex(index), None
    raise InputError(
        "confidence must be a Confidence (from portfolio_mkt.bootstrap) or a Series of "
        f"fractions by asset id; got {type(confidence).__name__}."
    )


def approval_flags(
    allocation: Any,
    rules: ApprovalRules | None = None,
    confidence: Confidence | pd.Series | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The recommended changes that need a human, one row per flag, in plain language.

    Parameters
    ----------
    allocation : Allocation
        A solved allocation (its ``change`` against the current spend and its problem's asset
        table are used).
    rules : ApprovalRules, optional
        Default: ``ApprovalRules()`` (10% moves, brand cuts, confidence below 85%).
    confidence : Confidence or Series, optional
        Per-recommendation confidence (from :func:`bootstrap`, or fractions by asset id).

    Returns
    -------
    DataFrame
        Columns ``rule`` (``"max_change"``, ``"protected_tags"``, ``"protected"``,
        ``"min_confidence"``), ``asset`` (asset id, or ``attribute=value`` for a group),
        ``current``, ``spend``, ``change``, ``change_pct``, ``confidence``, ``message``.
        Empty when nothing needs approval.

    Examples
    --------
    >>> class A:  # any object with spend and change works
    ...     spend = pd.Series({"us_search": 130.0, "ru_brand": 80.0})
    ...     change = pd.Series({"us_search": 30.0, "ru_brand": -5.0})
    >>> approval_flags(A())["message"].tolist()
    ['us_search: spend moves from 100 to 130 (+30.0%), more than the 10% that can change \
without approval.']
    """
    rules = ApprovalRules() if rules is None else rules
    if not isinstance(rules, ApprovalRules):
        raise InputError(f"rules must be an ApprovalRules; got {type(rules).__name__}.")
    spend, current, assets = _alloc_parts(allocation)
    index = spend.index
    rows: list[dict[str, Any]] = []
    conf = direction = None
    if confidence is not None:
        conf, direction = _confidence_parts(confidence, index)

    def conf_of(a: Any) -> float:
        return float(conf.get(a, np.nan)) if conf is not None else np.nan

    if current is not None:
        change = spend - current
        noise = 1e-6 * max(float(spend.abs().sum()), float(current.abs().sum()))
        big = change.abs() > max(rules.min_amount, noise)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = change / current.where(current > 0)
        if rules.max_change is not None:
            if rules.group_by is None:
                for a in index:
                    if not big[a]:
                        continue
                    c0 = current[a]
                    if c0 <= 0:
                        msg = (
                            f"{a}: new spend of {_money(spend[a])} on an asset with no current "
                            "spend needs approval."
                        )
                    elif abs(pct[a]) > rules.max_change + 1e-12:
                        msg = (
                            f"{a}: spend moves from {_money(c0)} to {_money(spend[a])} "
                            f"({pct[a]:+.1%}), more than the {rules.max_change:.0%} that can "
                            "change without approval."
                        )
                    else:
                        continue
                    rows.append(
                        dict(rule="max_change", asset=a, current=c0, spend=spend[a],
                             change=change[a], change_pct=pct[a], confidence=conf_of(a),
                             message=msg)
                    )
            else:
                attr = rules.group_by
                if assets is None or attr not in assets.columns:
                    raise InputError(
                        f"ApprovalRules.group_by={attr!r} is not an attribute of the assets; "
                        "use an attribute of the Problem's assets table, or group_by=None."
                    )
                groups = assets[attr].reindex(index).astype(str)
                for g in pd.unique(groups):
                    sel = (groups == g).to_numpy()
                    c0, x = float(current[sel].sum()), float(spend[sel].sum())
                    d = x - c0
                    if abs(d) <= max(rules.min_amount, noise):
                        continue
                    if c0 <= 0:
                        if x <= 0:
                            continue
                        p = np.nan
                        msg = f"{attr}={g}: new spend of {_money(x)} needs approval."
                    else:
                        p = d / c0
                        if abs(p) <= rules.max_change + 1e-12:
                            continue
                        msg = (
                            f"{attr}={g}: spend moves from {_money(c0)} to {_money(x)} ({p:+.1%}), "
                            f"more than the {rules.max_change:.0%} that can change without "
                            "approval."
                        )
                    rows.append(
                        dict(rule="max_change", asset=f"{attr}={g}", current=c0, spend=x,
                             change=d, change_pct=p, confidence=np.nan, message=msg)
                    )
        if rules.protected_tags:
            tagged = _tags_match(assets, index, rules.protected_tags)
            tag_text = " or ".join(rules.protected_tags)
            for a, is_tagged in zip(index, tagged, strict=True):
                if is_tagged and change[a] < 0 and big[a]:
                    rows.append(
                        dict(rule="protected_tags", asset=a, current=current[a], spend=spend[a],
                             change=change[a], change_pct=pct[a], confidence=conf_of(a),
                             message=(
                                 f"{a} is tagged {tag_text} and is cut from "
                                 f"{_money(current[a])} to {_money(spend[a])} "
                                 f"({pct[a]:+.1%}): cuts to {tag_text} assets need approval."
                             ))
                    )
        if rules.protected:
            mask = _where_match(assets, index, rules.protected)
            where_text = ", ".join(f"{k}={v}" for k, v in rules.protected.items())
            for a, hit in zip(index, mask, strict=True):
                if hit and big[a] and change[a] != 0:
                    rows.append(
                        dict(rule="protected", asset=a, current=current[a], spend=spend[a],
                             change=change[a], change_pct=pct[a], confidence=conf_of(a),
                             message=(
                                 f"{a} ({where_text}) changes from {_money(current[a])} to "
                                 f"{_money(spend[a])}: any change to {where_text} needs "
                                 "approval."
                             ))
                    )
    if conf is not None and rules.min_confidence is not None:
        if direction is None and current is not None:
            noise = 1e-6 * max(float(spend.abs().sum()), float(current.abs().sum()))
            direction = pd.Series(
                recommendation_direction(spend, current, 0.01, noise), index=index
            )
        for a in index:
            c = conf[a]
            if not np.isfinite(c) or c >= rules.min_confidence:
                continue
            dir_text = ""
            if direction is not None and isinstance(direction.get(a), str):
                dir_text = {
                    "increase": "to increase spend ",
                    "decrease": "to cut spend ",
                    "hold": "to keep spend ",
                }[direction[a]]
            cur_a = current[a] if current is not None else np.nan
            rows.append(
                dict(rule="min_confidence", asset=a, current=cur_a, spend=spend[a],
                     change=spend[a] - cur_a, change_pct=np.nan, confidence=c,
                     message=(
                         f"{a}: the recommendation {dir_text}holds in only {c:.0%} of "
                         f"resamples, below the {rules.min_confidence:.0%} confidence "
                         "threshold."
                     ))
            )
    out = pd.DataFrame(rows, columns=_FLAG_COLUMNS)
    for col in ("current", "spend", "change", "change_pct", "confidence"):
        out[col] = out[col].astype(float)
    out["asset"] = out["asset"].astype(object)
    return out


def approval_messages(
    allocation: Any,
    rules: ApprovalRules | None = None,
    confidence: Confidence | pd.Series | Mapping[str, float] | None = None,
) -> list[str]:
    """The plain-language lines of :func:`approval_flags` (empty when nothing needs a human).

    Parameters
    ----------
    allocation, rules, confidence
        As in :func:`approval_flags`.

    Returns
    -------
    list of str
    """
    return approval_flags(allocation, rules, confidence)["message"].tolist()

