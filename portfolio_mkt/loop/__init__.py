"""The operating loop: plans kept, actuals in, plan-versus-actual alerts, overrides, backtests.

A *workspace* is one SQLite file (:class:`Workspace`) holding every recorded plan with its
allocation and predictive intervals, the actual spend and outcome per asset and period, the
alerts raised, and the overrides planners made. On top of it: :func:`record_plan`,
:func:`read_actuals`, :func:`monitor`, :func:`record_override`, :func:`override_report`,
:func:`refresh` and the walk-forward :func:`backtest` of allocation policies.
"""

from ._backtest import (
    MAPE_THRESHOLD,
    BacktestResult,
    CurvePolicy,
    EqualSplit,
    HistoricalSplit,
    OverridePolicy,
    RefreshResult,
    backtest,
    refresh,
)
from ._monitor import (
    DEFAULT_CUSUM_H,
    DEFAULT_CUSUM_K,
    DEFAULT_THRESHOLD,
    MonitorResult,
    compare,
    cusum,
    monitor,
    plan_vs_actual_section,
    plot_plan_vs_actual,
)
from ._overrides import override_report
from ._record import (
    allocation_rows,
    override_confidence,
    plan_periods,
    read_actuals,
    record_actuals,
    record_allocation,
    record_lock_overrides,
    record_override,
    record_plan,
)
from ._store import (
    DEFAULT_WORKSPACE,
    MIGRATIONS,
    SCHEMA_VERSION,
    Workspace,
    WorkspaceError,
    open_workspace,
)

__all__ = [
    "MAPE_THRESHOLD",
    "BacktestResult",
    "CurvePolicy",
    "EqualSplit",
    "HistoricalSplit",
    "OverridePolicy",
    "RefreshResult",
    "backtest",
    "refresh",
    "override_report",
    "DEFAULT_CUSUM_H",
    "DEFAULT_CUSUM_K",
    "DEFAULT_THRESHOLD",
    "MonitorResult",
    "compare",
    "cusum",
    "monitor",
    "plan_vs_actual_section",
    "plot_plan_vs_actual",
    "allocation_rows",
    "override_confidence",
    "plan_periods",
    "read_actuals",
    "record_actuals",
    "record_allocation",
    "record_lock_overrides",
    "record_override",
    "record_plan",
    "DEFAULT_WORKSPACE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Workspace",
    "WorkspaceError",
    "open_workspace",
]
