"""Approval policy: which recommended changes need a human (rules and flags)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._validation import split_tags
from ..exceptions import InputError, format_labels
from ._result import Confidence, recommendation_direction

__all__ = ["ApprovalRules", "approval_flags", "approval_messages"]


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
