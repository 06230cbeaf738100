"""Recording plans (with their predictive intervals), actuals and overrides in a workspace."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..exceptions import EstimationError, InputError, format_labels
from ._store import Workspace, WorkspaceError, period_key

__all__ = [
    "allocation_rows",
    "record_allocation",
    "record_plan",
    "plan_periods",
    "read_actuals",
    "record_actuals",
    "record_override",
    "override_confidence",
    "record_lock_overrides",
]

ACTUAL_COLUMNS: tuple[str, ...] = ("period", "asset", "spend", "outcome")


def _z(level: float) -> float:
    if not 0 < float(level) < 1:
        raise InputError(f"interval level must be in (0, 1), e.g. 0.99; got {level!r}.")
    return float(norm.ppf(0.5 + float(level) / 2))


def allocation_rows(
    allocation: Any,
    periods: Sequence[Any],
    *,
    level: float = 0.99,
    sd_per_unit: pd.Series | None = None,
) -> pd.DataFrame:
    """Per asset and period: recommended spend, expected outcome and predictive interval.

    The allocation's spend and expected outcome are spread evenly over ``periods``. The
    outcome's standard deviation in a period is ``sd_per_unit * spend`` (``sd_per_unit`` is
    the square root of the diagonal of the problem's covariance of per-period, per-unit
    returns), and the interval is ``expected +- z * sd`` with ``z`` the normal quantile of
    ``level``. The marginal return is kept so that monitoring can predict at the spend
    actually made.

    Parameters
    ----------
    allocation : Allocation
        A solved allocation (:func:`portfolio_mkt.solve`).
    periods : sequence
        The periods the plan covers.
    level : float, default 0.99
        Coverage of the predictive interval.
    sd_per_unit : Series, optional
        Outcome standard deviation per unit of spend by asset (default: from the problem's
        covariance; NaN without one, and then no interval is recorded).

    Returns
    -------
    DataFrame
        ``asset, period, spend, expected, low, high, marginal, sd_per_unit, level``.
    """
    periods = list(periods)
    if not periods:
        raise InputError("a plan must cover at least one period; give periods=[...].")
    z = _z(level)
    frame = allocation.to_frame()
    spend = allocation.spend.astype(float)
    expected = frame["expected_outcome"].reindex(spend.index).astype(float)
    marginal = allocation.marginal_return.reindex(spend.index).astype(float)
    if sd_per_unit is None:
        problem = allocation.problem
        diag = np.asarray(problem.covariance_diagonal(), dtype=float)
        sd = pd.Series(np.sqrt(np.clip(diag, 0, None)), index=spend.index)
        if getattr(problem, "covariance", None) is None:
            sd[:] = np.nan
    else:
        sd = pd.Series(sd_per_unit, dtype=float).reindex(spend.index)
    n = len(periods)
    rows = []
    for p in periods:
        for a in spend.index:
            x = spend[a] / n
            e = expected[a] / n
            s = sd[a] * x
            has = bool(np.isfinite(s)) and s > 0
            rows.append({
                "asset": str(a), "period": p, "spend": x, "expected": e,
                "low": e - z * s if has else np.nan, "high": e + z * s if has else np.nan,
                "marginal": marginal[a], "sd_per_unit": sd[a], "level": float(level),
            })
    return pd.DataFrame(rows)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_allocation(
    workspace: Workspace,
    allocation: Any,
    periods: Sequence[Any],
    *,
    name: str | None = None,
    plan_text: str = "",
    plan_path: str | None = None,
    approved_by: str | None = None,
    level: float = 0.99,
    sd_per_unit: pd.Series | None = None,
    estimates_hash: str | None = None,
    estimates_location: str | None = None,
) -> int:
    """Record a solved allocation as a plan (one transaction); return the plan id.

    Parameters
    ----------
    workspace : Workspace
        Where to record.
    allocation : Allocation
        The recommendation.
    periods : sequence
        Periods it covers (spend is spread evenly).
    name : str, optional
        Plan name (default: the problem's name).
    plan_text : str
        The plan file's text ("" for a plan built in Python).
    plan_path, approved_by, estimates_hash, estimates_location : str, optional
        Provenance.
    level : float, default 0.99
        Coverage of the recorded predictive intervals.
    sd_per_unit : Series, optional
        See :func:`allocation_rows`.

    Returns
    -------
    int
    """
    rows = allocation_rows(allocation, periods, level=level, sd_per_unit=sd_per_unit)
    return workspace.add_plan(
        name=name or str(getattr(allocation.problem, "name", "plan")),
        plan_text=plan_text,
        plan_hash=_sha(plan_text.encode()),
        allocations=rows.to_dict("records"),
        plan_path=plan_path,
        estimates_hash=estimates_hash,
        estimates_location=estimates_location,
        approved_by=approved_by,
    )


def plan_periods(
    start: Any = None, n_periods: int = 1, freq: str | None = None, history: Any = None
) -> list[Any]:
    """The periods a plan covers: ``n_periods`` from ``start`` (or after the history's last).

    Parameters
    ----------
    start : period-like, optional
        First period (a date, or a whole period number). Default: the period after the
        history's last one.
    n_periods : int, default 1
        Number of periods.
    freq : str, optional
        pandas frequency (default: the history's median spacing, calendar months when it is
        a month or more; weekly ``"7D"`` without a history).
    history : DataFrame, optional
        A history with a ``period`` column.

    Returns
    -------
    list
    """
    n = int(n_periods)
    if n < 1:
        raise InputError(f"n_periods must be at least 1; got {n_periods!r}.")
    hist_periods = None
    if history is not None and "period" in history:
        hist_periods = pd.Index(sorted(pd.unique(history["period"])))
    if start is None:
        if hist_periods is None or len(hist_periods) == 0:
            raise InputError(
                "the plan has no history to continue from; give the first period, e.g. "
                "--start 2025-01-06."
            )
        last = hist_periods[-1]
        if isinstance(last, (int, np.integer)):
            return [int(last) + 1 + i for i in range(n)]
        if freq is not None:
            return list(pd.date_range(pd.Timestamp(last), periods=n + 1, freq=freq)[1:])
        days = 7.0
        if len(hist_periods) >= 2:
            days = float(np.median(np.diff(pd.DatetimeIndex(hist_periods).asi8)) / 86400e9)
        if days >= 27:  # monthly or longer: calendar months
            step = pd.DateOffset(months=max(1, round(days / 30.44)))
            return [pd.Timestamp(last) + step * (i + 1) for i in range(n)]
        return [pd.Timestamp(last) + pd.Timedelta(days=days) * (i + 1) for i in range(n)]
    key = period_key(start)
    if key.lstrip("-").isdigit():
        return [int(key) + i for i in range(n)]
    return list(pd.date_range(pd.Timestamp(key), periods=n, freq=freq or "7D"))


def record_plan(
    workspace: Workspace,
    plan: str | Path,
    *,
    start: Any = None,
    n_periods: int = 1,
    freq: str | None = None,
    approved_by: str | None = None,
    level: float = 0.99,
    solve_options: dict[str, Any] | None = None,
    lock_overrides: bool = True,
) -> tuple[int, Any]:
    """Solve a plan file and record it, its estimates' hash and its allocation.

    Parameters
    ----------
    workspace : Workspace
        Where to record.
    plan : str or Path
        A plan file (YAML/TOML) or the name of a built-in plan.
    start, n_periods, freq :
        The periods the plan covers (see :func:`plan_periods`; by default the period after
        the plan's history).
    approved_by : str, optional
        Who approved the plan.
    level : float, default 0.99
        Coverage of the recorded predictive intervals.
    solve_options : dict, optional
        Passed to :func:`portfolio_mkt.solve`.
    lock_overrides : bool, default True
        Record the plan file's locks as overrides of the model (see
        :func:`record_lock_overrides`).

    Returns
    -------
    (int, Allocation)
        The plan id and the allocation recorded.
    """
    from ..optimization import solve  # noqa: PLC0415
    from ..plan import load_plan  # noqa: PLC0415

    loaded = load_plan(plan)
    path = Path(getattr(loaded, "path", plan))
    text = path.read_text(encoding="utf-8") if path.is_file() else str(plan)
    allocation = solve(loaded.to_problem(), **dict(solve_options or {}))
    history = getattr(loaded, "history", None)
    periods = plan_periods(start, n_periods, freq, history)
    est_hash = est_loc = None
    if history is not None:
        est_hash = _sha(pd.util.hash_pandas_object(history, index=False).to_numpy().tobytes())
        spec_hist = getattr(getattr(loaded, "spec", None), "history", None)
        file = getattr(spec_hist, "file", None)
        if file:
            base = Path(getattr(loaded, "base_dir", path.parent))
            est_loc = str((base / file).resolve())
    plan_id = record_allocation(
        workspace, allocation, periods, name=str(loaded.name), plan_text=text,
        plan_path=str(path.resolve()) if path.is_file() else None, approved_by=approved_by,
        level=level, estimates_hash=est_hash, estimates_location=est_loc,
    )
    if lock_overrides:
        record_lock_overrides(workspace, plan_id, allocation, len(periods),
                              who=approved_by or "plan file", solve_options=solve_options)
    return plan_id, allocation


def record_lock_overrides(
    workspace: Workspace,
    plan_id: int,
    allocation: Any,
    n_periods: int = 1,
    *,
    who: str = "plan file",
    solve_options: dict[str, Any] | None = None,
) -> list[int]:
    """Record the locks written in a plan file as overrides of the model's recommendation.

    A lock is a human decision written into the plan file ("committed creators"): for each
    lock, the plan is solved without it, and every locked asset whose spend differs from that
    free recommendation is recorded as an override (``reason``: ``"plan file lock '<name>'"``),
    with the model's confidence computed on the free solution.

    Parameters
    ----------
    workspace : Workspace
    plan_id : int
        The recorded plan.
    allocation : Allocation
        The plan's allocation (with its locks).
    n_periods : int, default 1
        Periods the plan covers (amounts are stored per period).
    who : str, default "plan file"
        Recorded as the author of the overrides.
    solve_options : dict, optional
        Passed to :func:`portfolio_mkt.solve`.

    Returns
    -------
    list of int
        The override ids.
    """
    from ..constraints import Lock  # noqa: PLC0415
    from ..exceptions import PortfolioMktError  # noqa: PLC0415
    from ..optimization import solve  # noqa: PLC0415

    problem = allocation.problem
    ids: list[int] = []
    tol = 1e-6 * float(problem.budget)
    for lock in [c for c in problem.constraints if isinstance(c, Lock)]:
        try:
            free = solve(problem.without(lock.name), **dict(solve_options or {}))
        except PortfolioMktError:
            continue
        sd = np.sqrt(np.clip(np.asarray(problem.covariance_diagonal(), float), 0, None))
        sd = pd.Series(sd, index=free.spend.index)
        funded = free.spend > tol
        lam = float(np.median(free.marginal_return[funded])) if funded.any() else np.nan
        for asset in dict(lock.spend):
            x_free = float(free.spend[asset])
            x_lock = float(allocation.spend[asset])
            if abs(x_lock - x_free) <= tol:
                continue
            conf = override_confidence(
                x_free, x_lock, float(free.marginal_return[asset]),
                float(sd[asset]) if sd[asset] > 0 else np.nan, lam,
            )
            ids.append(workspace.add_override(
                asset=str(asset), spend_to=x_lock / n_periods, who=who,
                reason=f"plan file lock '{lock.name}'", plan_id=plan_id,
                spend_from=x_free / n_periods,
                confidence=None if not np.isfinite(conf) else conf,
            ))
    return ids


def read_actuals(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and validate actual spend and outcome (CSV or Parquet file, or a DataFrame).

    Validated like a history (:func:`portfolio_mkt.estimation.validate_history`) with the
    columns ``period, asset, spend, outcome``; rows are numbered by their line in a CSV file
    (the header is line 1) and by their position (from 0) otherwise.

    Parameters
    ----------
    source : str, Path or DataFrame
        ``.csv``, ``.parquet``/``.pq`` file, or a DataFrame.

    Returns
    -------
    DataFrame
        ``period, asset, spend, outcome`` (periods parsed).

    Raises
    ------
    EstimationError
        Missing columns, non-numeric, NaN, infinite or negative values, bad periods or
        duplicate (period, asset) rows; the message names the rows and the column.
    """
    from ..estimation import validate_history  # noqa: PLC0415

    where = "actuals"
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
    else:
        path = Path(source)
        where = f"actuals file {str(path)!r}"
        if not path.is_file():
            raise InputError(f"{where} does not exist; give a CSV or Parquet file.")
        suffix = path.suffix.lower()
        try:
            if suffix in (".parquet", ".pq"):
                try:
                    frame = pd.read_parquet(path)
                except ImportError as exc:
                    raise InputError(
                        f"{where}: reading Parquet needs pyarrow (pip install pyarrow), or "
                        "save the actuals as CSV."
                    ) from exc
                frame.index = range(len(frame))
            elif suffix in (".csv", ".txt", ""):
                frame = pd.read_csv(path)
                frame.index = range(2, len(frame) + 2)  # file lines (header is line 1)
            else:
                raise InputError(f"{where}: unknown format {suffix!r}; use .csv or .parquet.")
        except (ValueError, OSError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{where} cannot be read: {exc}") from exc
    missing = [c for c in ACTUAL_COLUMNS if c not in frame.columns]
    if missing:
        raise EstimationError(
            f"{where} is missing the column(s) {format_labels(missing)}; it needs "
            f"{format_labels(ACTUAL_COLUMNS)} (it has {format_labels(list(frame.columns))})."
        )
    try:
        clean = validate_history(frame[list(ACTUAL_COLUMNS)], required=ACTUAL_COLUMNS)
    except EstimationError as exc:
        msg = str(exc).replace("history", where, 1)
        raise EstimationError(msg) from None
    return clean[list(ACTUAL_COLUMNS)]


def record_actuals(workspace: Workspace, source: str | Path | pd.DataFrame) -> int:
    """Validate actuals and store them (one transaction; a re-sent row replaces the old one).

    Parameters
    ----------
    workspace : Workspace
    source : str, Path or DataFrame
        See :func:`read_actuals`.

    Returns
    -------
    int
        Rows stored.
    """
    frame = read_actuals(source)
    name = None if isinstance(source, pd.DataFrame) else str(source)
    return workspace.add_actuals(frame, source=name)


def override_confidence(
    spend_from: float, spend_to: float, marginal: float, sd_per_unit: float, value_of_money: float
) -> float:
    """The model's confidence that its recommendation beats an override, in one period.

    Under the model's predictive distribution, moving the asset's spend from the recommended
    ``x`` to ``y`` changes the outcome by ``marginal * (y - x)`` (to first order) and frees or
    uses ``x - y`` money worth ``value_of_money`` per unit elsewhere in the plan; the change is
    uncertain with standard deviation ``sd_per_unit * |y - x|``. The confidence is the
    probability that keeping the recommendation does better:
    ``Phi((marginal - value_of_money) * sign(x - y) / sd_per_unit)``. It is 0.5 for an asset
    at an interior optimum (the model is indifferent at the margin), near 1 when the model is
    sure the money is better spent as recommended.

    Parameters
    ----------
    spend_from, spend_to : float
        Recommended and decided spend.
    marginal : float
        The asset's marginal return at the recommended spend.
    sd_per_unit : float
        Outcome standard deviation per unit of spend.
    value_of_money : float
        The plan's marginal return of money (median marginal return of funded assets).

    Returns
    -------
    float
        In [0, 1]; NaN when the plan recorded no uncertainty.
    """
    vals = (spend_from, spend_to, marginal, sd_per_unit, value_of_money)
    if not all(np.isfinite(v) for v in vals) or sd_per_unit <= 0 or spend_to == spend_from:
        return float("nan")
    sign = 1.0 if spend_from > spend_to else -1.0
    return float(norm.cdf((marginal - value_of_money) * sign / sd_per_unit))


def record_override(
    workspace: Workspace,
    asset: str,
    amount: float,
    *,
    reason: str,
    by: str,
    period: Any = None,
    plan_id: int | None = None,
) -> int:
    """Record that a planner changed the recommended spend of an asset.

    Stores what changed (recommended spend -> ``amount``), who, why, and the model's
    confidence at the time (see :func:`override_confidence`).

    Parameters
    ----------
    workspace : Workspace
    asset : str
        The asset.
    amount : float
        The spend decided, per period.
    reason : str
        Why (free text; overrides are grouped by it later, so reuse reasons).
    by : str
        Who.
    period : period-like, optional
        The period concerned (default: every period of the plan).
    plan_id : int, optional
        The plan overridden (default: the latest).

    Returns
    -------
    int
        The override id.

    Raises
    ------
    WorkspaceError
        No plan is recorded, or the asset (or period) is not in it.
    InputError
        A negative or non-finite amount, or an empty reason.
    """
    amount = float(amount)
    if not np.isfinite(amount) or amount < 0:
        raise InputError(f"override of {asset!r}: amount must be a number >= 0; got {amount}.")
    if not str(reason).strip():
        raise InputError(f"override of {asset!r}: give a reason (--reason 'launch week').")
    if not str(by).strip():
        raise InputError(f"override of {asset!r}: say who decided it (--by NAME).")
    plan = workspace.plan(plan_id)
    alloc = workspace.allocations(int(plan["id"]))
    rows = alloc[alloc["asset"] == str(asset)]
    if rows.empty:
        raise WorkspaceError(
            f"asset {asset!r} is not in plan {plan['id']} ({plan['name']}); its assets are "
            f"{format_labels(sorted(alloc['asset'].unique()))}."
        )
    if period is not None:
        key = period_key(period)
        rows = rows[[period_key(p) == key for p in rows["period"]]]
        if rows.empty:
            raise WorkspaceError(
                f"period {key} is not covered by plan {plan['id']}; it covers "
                f"{format_labels(sorted({period_key(p) for p in alloc['period']}))}."
            )
    first = rows.iloc[0]
    funded = alloc[alloc["spend"] > 0]
    lam = float(np.median(funded["marginal"])) if funded["marginal"].notna().any() else np.nan
    conf = override_confidence(
        float(first["spend"]), amount,
        float(first["marginal"]) if pd.notna(first["marginal"]) else np.nan,
        float(first["sd_per_unit"]) if pd.notna(first["sd_per_unit"]) else np.nan,
        lam,
    )
    return workspace.add_override(
        asset=str(asset), spend_to=amount, who=str(by), reason=str(reason).strip(),
        plan_id=int(plan["id"]), period=period, spend_from=float(first["spend"]),
        confidence=None if not np.isfinite(conf) else conf,
    )
