"""Refit the curves of a window with the actual weeks appended (for :func:`replan`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..exceptions import InputError, format_labels

__all__ = ["mmm_refit", "append_actuals"]


def append_actuals(history: pd.DataFrame, actuals: pd.DataFrame, *, kpi: str,
                   channels: list[str], date: str | None) -> pd.DataFrame:
    """A wide history (one row per week) with the actual weeks appended.

    Parameters
    ----------
    history : DataFrame
        Wide: a date column (``date``), one spend column per channel, the KPI column.
    actuals : DataFrame
        Long: ``week``, ``asset``, ``spend``, ``outcome`` (the KPI of the week).
    kpi, channels, date
        Column names of the history; assets are its channels.

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        Without outcomes, for assets that are not channels of the history, or weeks that the
        history already holds.
    """
    if "outcome" not in actuals.columns or actuals["outcome"].isna().any():
        raise InputError(
            "refit needs the actual outcome (KPI) of every spent week: add an 'outcome' column "
            "to the actuals."
        )
    unknown = pd.Index(actuals["asset"].unique()).difference(pd.Index(channels))
    if len(unknown):
        raise InputError(
            f"refit: actuals name assets that are not channels of the history: "
            f"{format_labels(unknown)}."
        )
    wide = actuals.pivot_table(index="week", columns="asset", values="spend", aggfunc="sum",
                               fill_value=0.0).reindex(columns=channels, fill_value=0.0)
    wide[kpi] = actuals.groupby("week")["outcome"].first()
    wide = wide.reset_index()
    if date is not None:
        wide = wide.rename(columns={"week": date})
        known = pd.to_datetime(history[date]) if date in history.columns else pd.Series([])
        weeks = pd.to_datetime(wide[date])
        clash = weeks[weeks.isin(set(known))]
        if len(clash):
            raise InputError(
                f"refit: the history already holds {clash.iloc[0]:%Y-%m-%d}; actuals must be "
                "weeks after the history."
            )
        wide[date] = weeks
        if date in history.columns and not pd.api.types.is_datetime64_any_dtype(history[date]):
            history = history.assign(**{date: pd.to_datetime(history[date])})
    else:
        wide = wide.drop(columns="week")
    missing = [c for c in history.columns if c not in wide.columns]
    if missing:
        raise InputError(
            f"refit: the history has columns the actuals cannot fill: {format_labels(missing)} "
            "(controls); refit from the command line or give a refit function."
        )
    return pd.concat([history, wide[list(history.columns)]], ignore_index=True)


def mmm_refit(model: Any, history: pd.DataFrame) -> Callable[[pd.DataFrame], dict[Any, Any]]:
    """A ``refit`` for :func:`replan`: the media-mix model refitted with the actuals appended.

    Parameters
    ----------
    model : portfolio_mkt.mmm.MediaMixModel
        The model the plan's curves came from (fitted or not; it is cloned, not changed). One
        market (``geo=None``), no controls; assets are its channels.
    history : DataFrame
        The wide history the model was fitted on.

    Returns
    -------
    callable
        ``refit(actuals) -> {asset: curve}`` (per week, the model's planning curves).

    Raises
    ------
    InputError
        For models with markets or controls (their actual weeks need more than spend and one
        outcome per week).
    """
    if getattr(model, "geo", None) is not None or list(getattr(model, "controls", ()) or ()):
        raise InputError(
            "mmm_refit supports one-market models without controls; give replan a refit "
            "function that appends the actual weeks to your history."
        )
    channels = [str(c) for c in (model.channels or [])]
    if not channels:
        raise InputError("mmm_refit: the model names no channels.")

    def refit(actuals: pd.DataFrame) -> dict[Any, Any]:
        from sklearn.base import clone

        frame = append_actuals(history, actuals, kpi=model.kpi, channels=channels,
                               date=model.date)
        fitted = clone(model).fit(frame)
        return {str(a): c for a, c in fitted.curves_.items()}

    return refit
