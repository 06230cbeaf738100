"""Choosing assets of a window by ids and attributes (shared by the problem and its constraints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..constraints import select_assets
from ..exceptions import ConstraintError, format_labels

__all__ = ["select_window_assets"]


def select_window_assets(
    problem: Any, where: Mapping[str, Any] | None, assets: Sequence[Any] | None, owner: str
) -> np.ndarray:
    """Boolean mask of the assets chosen by ids (``assets``) and/or attributes (``where``).

    ``where`` maps an attribute of ``problem.assets`` to a value or a list of values; the
    ``tags`` attribute matches by membership; ``asset`` matches ids (the rules of
    :func:`portfolio_mkt.constraints.select_assets`, which does the filtering). Neither given:
    all assets.

    Raises
    ------
    ConstraintError
        Unknown asset, unknown attribute, or an empty selection.
    """
    n = len(problem.index)
    mask = np.ones(n, dtype=bool)
    if assets is not None:
        ids = [assets] if isinstance(assets, (str, int)) else list(assets)
        unknown = pd.Index(ids).difference(problem.index)
        if len(unknown):
            raise ConstraintError(
                f"constraint '{owner}' names assets that are not in the problem: "
                f"{format_labels(unknown)}; check the ids against the problem's assets."
            )
        mask &= problem.index.isin(ids)
    if where:
        # the attribute filter is the strategy constraints' own (one definition of "where")
        mask &= select_assets(getattr(problem, "problem", problem), dict(where), owner)
    if not mask.any():
        raise ConstraintError(
            f"constraint '{owner}' selects no assets (where={dict(where or {})}, "
            f"assets={assets}); check the attribute values."
        )
    return mask
