"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["allocation_figure", "frontier_figure", "curves_figure", "marginal_roi_figure",
           "make_figures"]

_BLUE, _ORANGE, _GREY, _GREEN = "#1f5f99", "#e07b00", "#9aa5b1", "#2a9d55"

#: Smallest font on any figure (points at the figure's own size; the page shows PNGs at 100%).
MIN_FONT = 9.5

_STYLE = {
    "font.size": 10.5, "axes.titlesize": 11, "axes.labelsize": 10.5,
    "xtick.labelsize": MIN_FONT, "ytick.labelsize": MIN_FONT, "legend.fontsize": MIN_FONT,
}


def _styled(fn: Any) -> Any:
    """Draw with the report's font sizes without touching the user's matplotlib settings."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(_STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _legend_below(ax: Any, ncol: int = 3) -> None:
    """The legend under the axes, never on the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(ncol, len(handles)), frameon=False)


def _short(v: float, _: object = None) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}K"
    return f"{v:.3g}"


@_styled
def allocation_figure(table: pd.DataFrame) -> Any:
    """Current against recommended spend per asset (horizontal bars).

    Parameters
    ----------
    table : DataFrame
        The recommendation table (``recommended`` and optionally ``current``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(table)
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * n + 1.2))
    y = np.arange(n)
    h = 0.38
    if "current" in table.columns:
        ax.barh(y + h / 2, table["current"], height=h, color=_GREY, label="current")
    ax.barh(y - h / 2, table["recommended"], height=h, color=_BLUE, label="recommended")
    ax.set_yticks(y, labels=[str(a) for a in table.index])
    ax.invert_yaxis()
    ax.set_xlabel("spend")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0 + 0.9 / (0.38 * n + 1.2)), ncol=2,
              frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


@_styled
def frontier_figure(
    frontier: pd.DataFrame,
    chosen: tuple[float, float] | None,
    current: tuple[float, float] | None = None,
    outcome: str = "outcome",
    free: pd.DataFrame | None = None,
) -> Any:
    """The efficient frontier with the chosen point (and the current allocation).

    Parameters
    ----------
    frontier : DataFrame
        Columns ``risk`` and ``expected_outcome``.
    chosen : tuple, optional
        ``(risk, expected_outcome)`` of the recommendation.
    current : tuple, optional
        ``(risk, expected_outcome)`` of the current allocation.
    outcome : str
        Outcome label.
    free : DataFrame, optional
        The frontier without the strategic constraints (drawn dashed).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.6))

    from ..status import OPTIMAL_INACCURATE, is_usable, normalize_status

    def ok(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        if "status" in f.columns:
            f["status"] = f["status"].map(normalize_status)
            f = f[f["status"].map(is_usable)]
        else:
            f["status"] = "optimal"
        return f.dropna(subset=["risk", "expected_outcome"]).sort_values("risk")

    f = ok(frontier)
    label = "efficient frontier" if free is None else "frontier with your strategy"
    ax.plot(f["risk"], f["expected_outcome"], "-", color=_BLUE, label=label)
    exact = f[f["status"] != OPTIMAL_INACCURATE]
    ax.plot(exact["risk"], exact["expected_outcome"], "o", ms=4, color=_BLUE)
    rough = f[f["status"] == OPTIMAL_INACCURATE]
    if len(rough):
        ax.plot(rough["risk"], rough["expected_outcome"], "o", ms=6, mfc="white", color=_BLUE,
                label="solved only approximately")
    if free is not None and len(free):
        g = ok(free)
        ax.plot(g["risk"], g["expected_outcome"], "--", color=_GREY, lw=1.5,
                label="model alone (no strategy constraints)")
    if chosen is not None:
        ax.plot(*chosen, "*", ms=16, color=_ORANGE, label="recommended", zorder=5)
    if current is not None:
        ax.plot(*current, "s", ms=8, color=_GREY, label="current spend", zorder=4)
    ax.set_xlabel(f"risk (standard deviation of {outcome})")
    ax.set_ylabel(f"expected {outcome}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    _legend_below(ax, ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


@_styled
def curves_figure(
    curves: dict[str, Any] | None,
    table: pd.DataFrame,
    expected_return: pd.Series | None = None,
    outcome: str = "outcome",
) -> Any:
    """Response curve per asset with current and recommended spend marked.

    Assets without a curve are drawn as their straight line ``expected_return * x``.

    Parameters
    ----------
    curves : dict or None
        Asset id -> curve (with ``value(x)``).
    table : DataFrame
        The recommendation table.
    expected_return : Series, optional
        Linear returns for assets without a curve.
    outcome : str
        Outcome label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    assets = list(table.index)
    n = len(assets)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.7 * cols, 3.0 * rows + 0.6), squeeze=False)
    for k, a in enumerate(assets):
        ax = axes[k // cols][k % cols]
        rec = float(table.loc[a, "recommended"])
        cur = float(table.loc[a, "current"]) if "current" in table.columns else 0.0
        top = max(rec, cur, 1.0) * 1.8
        x = np.linspace(0, top, 120)
        curve = (curves or {}).get(a)
        if curve is not None:
            y = np.asarray(curve.value(x), dtype=float)
            f = lambda v, c=curve: float(np.asarray(c.value(np.array([v])))[0])  # noqa: E731
        elif expected_return is not None and a in expected_return.index:
            y = float(expected_return[a]) * x
            f = lambda v, m=float(expected_return[a]): m * v  # noqa: E731
        else:
            ax.set_visible(False)
            continue
        ax.plot(x, y, color=_BLUE, lw=1.6)
        if cur > 0:
            ax.plot(cur, f(cur), "s", color=_GREY, ms=6, label="current")
        ax.plot(rec, f(rec), "*", color=_ORANGE, ms=12, label="recommended")
        title = str(a) + ("" if curve is not None else " (linear)")
        ax.set_title(title if len(title) <= 28 else title[:27] + "…", fontsize=10.5)
        ax.tick_params(labelsize=MIN_FONT)
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.spines[["top", "right"]].set_visible(False)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.supxlabel("spend", fontsize=10.5)
    fig.supylabel(f"expected {outcome}", fontsize=10.5)
    fig.tight_layout(rect=(0, 0.04, 1, 1), h_pad=1.6, w_pad=1.4)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False,
                   fontsize=MIN_FONT, bbox_to_anchor=(0.5, -0.04))
    return fig


@_styled
def marginal_roi_figure(table: pd.DataFrame, outcome: str = "outcome") -> Any:
    """Marginal ROI (next unit of money) per asset at the recommendation.

    Parameters
    ----------
    table : DataFrame
        The recommendation table (``marginal_roi``).
    outcome : str
        Outcome label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = table.sort_values("marginal_roi")
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(t) + 1.2))
    funded = t["recommended"] > 1e-6 * max(float(t["recommended"].sum()), 1.0)
    colors = [_GREEN if f else _GREY for f in funded]
    values, unit = t["marginal_roi"], "the next unit of money"
    if float(values.abs().max()) < 0.05:
        values, unit = values * 1000.0, "the next 1,000 of spend"
    ax.barh([str(a) for a in t.index], values, color=colors)
    ax.set_xlabel(f"{outcome} from {unit} (grey: not funded)")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def weekly_figure(weekly: Any, outcome: str = "outcome") -> Any:
    """Stacked spend per week (largest assets) with the expected outcome per week on top.

    Parameters
    ----------
    weekly : WeeklyPlan
    outcome : str

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    weekly.plot(ax=ax, top=7)
    ax.set_title("")
    ax.tick_params(labelsize=9)
    ax.outcome_axis.tick_params(labelsize=9)
    for label in ax.get_xticklabels():
        label.set_fontsize(9)
    ax.set_ylabel("spend per week")
    ax.outcome_axis.set_ylabel(f"expected {outcome} per week")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    ax.outcome_axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
    leg = ax.get_legend()
    if leg is not None:
        handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
        leg.remove()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    else:
        fig.tight_layout()
    return fig


def _period_label(p: Any) -> str:
    try:
        return pd.Timestamp(p).strftime("%d %b")
    except (TypeError, ValueError):
        return str(p)[:10]


def actuals_figure(table: pd.DataFrame, outcome: str = "outcome", top: int = 9) -> Any:
    """One small chart per asset: predicted outcome with its interval, actual, alerts.

    Parameters
    ----------
    table : DataFrame
        Long table with ``asset``, ``period``, ``predicted``, ``low``, ``high``, ``actual``
        and optionally ``alert`` (the loop's :class:`~portfolio_mkt.loop.MonitorResult`).
    outcome : str
    top : int, default 9
        Assets shown (largest predicted outcome first).

    Returns
    -------
    matplotlib Figure
    """
    totals = table.groupby("asset")["predicted"].sum().sort_values(ascending=False)
    assets = list(totals.index[:top])
    ncol = min(3, len(assets))
    nrow = int(np.ceil(len(assets) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(9.5, 2.6 * nrow), squeeze=False)
    for ax in axes.ravel()[len(assets):]:
        ax.set_visible(False)
    for ax, a in zip(axes.ravel(), assets, strict=False):
        t = table[table["asset"] == a].sort_values("period")
        pos = np.arange(len(t))
        ax.fill_between(pos, t["low"].astype(float), t["high"].astype(float), color="#9fb8d6",
                        alpha=0.45, label="predictive interval")
        ax.plot(pos, t["predicted"], color="#2f5d8a", lw=1.6, label="predicted at actual spend")
        ax.plot(pos, t["actual"], color="#1d2733", marker="o", ms=3, lw=0.8, label="actual")
        if "alert" in t.columns and t["alert"].astype(bool).any():
            al = t["alert"].astype(bool).to_numpy()
            ax.plot(pos[al], t["actual"].to_numpy()[al], linestyle="none", marker="o", ms=8,
                    mfc="none", mec="#c0392b", mew=1.6, label="alert")
        ax.set_title(str(a), fontsize=9)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short))
        step = max(1, -(-len(pos) // 3))
        ax.set_xticks(pos[::step])
        ax.set_xticklabels([_period_label(p) for p in t["period"].to_numpy()[::step]],
                           fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=False))
    for ax in axes.ravel()[1:len(assets)]:
        h, lab = ax.get_legend_handles_labels()
        seen.update(zip(lab, h, strict=False))
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=len(seen), fontsize=8,
               frameon=False)
    fig.supylabel(outcome, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def make_figures(run: Any) -> dict[str, bytes]:
    """PNG bytes of every figure the run supports.

    Parameters
    ----------
    run : PlanRun
        The solved plan.

    Returns
    -------
    dict
        Figure name (``allocation``, ``frontier``, ``response_curves``, ``marginal_roi``)
        -> PNG bytes.
    """
    from ._io import figure_png

    mu = getattr(run.problem, "expected_return", None)
    builders: dict[str, Any] = {
        "allocation": lambda: allocation_figure(run.table),
        "response_curves": lambda: curves_figure(
            run.curves, run.table, mu if isinstance(mu, pd.Series) else None, run.outcome),
        "marginal_roi": lambda: marginal_roi_figure(run.table, run.outcome),
    }
    if run.frontier is not None and len(run.frontier):
        builders["frontier"] = lambda: frontier_figure(
            run.frontier, run.chosen_point, run.current_point, run.outcome,
            free=getattr(run, "frontier_free", None))
    weekly = getattr(run, "window", None)
    if weekly is not None:
        builders["weekly_plan"] = lambda: weekly_figure(weekly, run.outcome)
    actuals = getattr(run, "actuals", None)
    if actuals is not None and getattr(actuals, "table", None) is not None:
        builders["plan_vs_actual"] = lambda: actuals_figure(actuals.table, run.outcome)
    figs: dict[str, bytes] = {}
    for name, build in builders.items():
        try:
            figs[name] = figure_png(build())
        except Exception as exc:  # noqa: BLE001 - a figure must never sink the report
            plt.close("all")
            run.unavailable[f"figure:{name}"] = f"the figure could not be drawn ({exc})"
    return figs
