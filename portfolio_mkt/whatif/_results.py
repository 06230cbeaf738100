"""The scenario table: one summary row per scenario, spend per asset and scenario."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InfeasibleError
from ..status import FAILED, INFEASIBLE, normalize_status
from ._scenario import Scenario

__all__ = ["ScenarioResults", "SUMMARY_COLUMNS", "record", "failure", "reallocated",
           "tabulate"]

SUMMARY_COLUMNS = [
    "status",
    "budget",
    "expected_outcome",
    "risk",
    "utility",
    "outcome_change",
    "outcome_change_pct",
    "risk_change",
    "spend_moved",
    "solve_time",
    "method",
    "message",
]


@dataclass
class ScenarioResults:
    """Scenario table: one summary row per scenario, spend per asset and scenario.

    Attributes
    ----------
    summary : DataFrame
        Index: scenario name (``"base"`` first). Columns: ``status``, ``budget``,
        ``expected_outcome``, ``risk``, ``utility``, ``outcome_change`` (vs base),
        ``outcome_change_pct``, ``risk_change``, ``spend_moved`` (money reallocated between
        assets beyond the net budget change, ``(sum|change| - |sum change|) / 2``: 0 when the
        plan only scales), ``solve_time``, ``method`` (``"parameter"`` when
        the compiled program was re-used, ``"rebuild"`` otherwise), ``message``.
    spend : DataFrame
        Assets (rows) x scenarios (columns): recommended spend; NaN for failed scenarios.
    change : DataFrame
        ``spend`` minus the base column.
    allocations : dict
        Scenario name -> :class:`~portfolio_mkt.Allocation` (``None`` when it failed).
    scenarios : list of Scenario
        The scenarios, in order.
    """

    summary: pd.DataFrame
    spend: pd.DataFrame
    change: pd.DataFrame
    allocations: dict[str, Any]
    scenarios: list[Scenario]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per scenario and asset (spend, base spend, change, change %).

        Returns
        -------
        DataFrame
        """
        long = self.spend.stack(future_stack=True).rename("spend").to_frame()
        long.index.names = ["asset", "scenario"]
        long = long.swaplevel().sort_index(level=0, sort_remaining=False)
        base = self.spend["base"]
        long["base_spend"] = base.reindex(long.index.get_level_values("asset")).to_numpy()
        long["change"] = long["spend"] - long["base_spend"]
        with np.errstate(divide="ignore", invalid="ignore"):
            long["change_pct"] = np.where(
                long["base_spend"] > 0, long["change"] / long["base_spend"], np.nan
            )
        order = list(self.summary.index)
        return long.reindex(order, level="scenario")

    def table(self) -> pd.DataFrame:
        """Wide table: the summary plus one ``change: <asset>`` column per asset."""
        changes = self.change.T.add_prefix("change: ")
        return pd.concat([self.summary, changes], axis=1)

    def explain(self) -> str:
        """Each scenario against the base plan, in plain language.

        Returns
        -------
        str
            One line per scenario: outcome and risk change, the money reallocated and where
            it goes most, or why the scenario could not be solved.
        """
        lines = []
        base = self.summary.loc["base"]
        lines.append(
            f"Base plan: expected outcome {base['expected_outcome']:,.0f}, risk "
            f"{base['risk']:,.0f}, budget {base['budget']:,.0f}."
        )
        for name, row in self.summary.iloc[1:].iterrows():
            if self.allocations.get(name) is None:
                lines.append(f"{name}: not solved ({row['status']}) - {row['message']}")
                continue
            text = (
                f"{name}: expected outcome {row['expected_outcome']:,.0f} "
                f"({row['outcome_change']:+,.0f}, {row['outcome_change_pct']:+.1%}), risk "
                f"{row['risk']:,.0f} ({row['risk_change']:+,.0f})"
            )
            ch = self.change[name].dropna()
            tol = 1e-6 * max(abs(row["budget"]), 1.0)
            if len(ch) and ch.abs().max() > tol:
                net = float(ch.sum())
                up, down = ch.idxmax(), ch.idxmin()
                parts = []
                if ch[up] > 0:
                    parts.append(f"largest increase {up} ({ch[up]:+,.0f})")
                if ch[down] < 0:
                    parts.append(f"largest decrease {down} ({ch[down]:+,.0f})")
                # the change of each asset = its share of the net (budget) change + what moves
                # between assets; spend_moved counts only the second part
                if abs(net) > tol:
                    text += (f"; total spend {net:+,.0f}, and besides that "
                             f"{row['spend_moved']:,.0f} moved between assets")
                else:
                    text += f"; {row['spend_moved']:,.0f} reallocated between assets"
                if parts:
                    text += " (" + ", ".join(parts) + ")"
            lines.append(text + ".")
        return "\n".join(lines)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Each scenario as a point of expected outcome against risk, with the base marked.

        Failed scenarios are left out (their status is in :attr:`summary`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when omitted.
        **kwargs
            Passed to ``ax.scatter`` for the scenarios.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        s = self.summary
        ok = s["expected_outcome"].notna() & (s.index != "base")
        kwargs.setdefault("color", "C0")
        ax.scatter(s.loc[ok, "risk"], s.loc[ok, "expected_outcome"], label="scenarios", **kwargs)
        for name, row in s[ok].iterrows():
            ax.annotate(str(name), (row["risk"], row["expected_outcome"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        base = s.loc["base"]
        ax.plot(base["risk"], base["expected_outcome"], "*", markersize=14, color="C3",
                label="base plan")
        ax.set_xlabel("risk (std of outcome)")
        ax.set_ylabel("expected outcome")
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())
        ax.yaxis.set_major_formatter(EngFormatter())
        ax.legend(loc="best")
        return ax

    def __repr__(self) -> str:
        cols = ["status", "expected_outcome", "risk", "outcome_change", "risk_change"]
        return "ScenarioResults\n" + self.summary[cols].to_string()


def record(name: str, alloc: Any, method: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": normalize_status(alloc.status),
        "budget": float(alloc.problem.budget),
        "expected_outcome": float(alloc.expected_outcome),
        "risk": float(alloc.risk),
        "utility": float(alloc.utility),
        "solve_time": float(alloc.solve_time),
        "method": method,
        "message": "",
        "spend": alloc.spend.astype(float),
        "allocation": alloc,
    }


def failure(name: str, exc: Exception, budget: float = np.nan) -> dict[str, Any]:
    status = INFEASIBLE if isinstance(exc, InfeasibleError) else FAILED
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {
        "name": name,
        "status": status,
        "budget": budget,
        "expected_outcome": np.nan,
        "risk": np.nan,
        "utility": np.nan,
        "solve_time": np.nan,
        "method": "",
        "message": f"{type(exc).__name__}: {msg}",
        "spend": None,
        "allocation": None,
    }


def reallocated(change: pd.DataFrame) -> pd.Series:
    """Money moved between assets beyond the net change, per column (NaN if all NaN)."""
    gross = change.abs().sum(axis=0, min_count=1)
    net = change.sum(axis=0, min_count=1).abs()
    return (gross - net) / 2.0


def tabulate(
    base: dict[str, Any], records: list[dict[str, Any]], items: list[Scenario], index: pd.Index
) -> ScenarioResults:
    rows = [base, *records]
    names = [r["name"] for r in rows]
    summary = pd.DataFrame(
        {k: [r[k] for r in rows] for k in SUMMARY_COLUMNS if k in base}, index=names
    )
    summary.index.name = "scenario"
    spend = pd.DataFrame(
        {
            r["name"]: (r["spend"].reindex(index) if r["spend"] is not None
                        else pd.Series(np.nan, index=index))
            for r in rows
        },
        index=index,
    )
    spend.columns = pd.Index(names, name="scenario")
    change = spend.sub(spend["base"], axis=0)
    summary["outcome_change"] = summary["expected_outcome"] - base["expected_outcome"]
    summary["outcome_change_pct"] = (
        summary["outcome_change"] / abs(base["expected_outcome"])
        if base["expected_outcome"] != 0 else np.nan
    )
    summary["risk_change"] = summary["risk"] - base["risk"]
    summary["spend_moved"] = reallocated(change)
    summary = summary[SUMMARY_COLUMNS]
    summary["status"] = summary["status"].astype(object)
    summary["message"] = summary["message"].astype(object)
    summary["method"] = summary["method"].astype(object)
    allocations = {r["name"]: r["allocation"] for r in rows}
    return ScenarioResults(summary, spend, change, allocations, items)
