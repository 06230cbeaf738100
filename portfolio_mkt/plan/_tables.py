"""The plan's tables: asset table, current spend and covariance, from the plan and its files."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._files import _DataFiles, _header_words
from ._schema import CovarianceSpec, Loc


class _Tables(_DataFiles):
    """Asset table, current spend and covariance (a mixin of :class:`Plan`)."""

    def _load_assets(self) -> None:
        s = self.spec
        if isinstance(s.assets, list):
            rows = []
            for a in s.assets:
                row = a.model_dump(exclude={"attributes"})
                row.update(a.attributes)
                rows.append(row)
            table = pd.DataFrame(rows)
            loc_of = {i: ("assets", i) for i in range(len(rows))}
            base_loc: Loc = ("assets",)
        else:
            rel = s.assets if isinstance(s.assets, str) else s.assets.file  # type: ignore[union-attr]
            base_loc = ("assets",) if isinstance(s.assets, str) else ("assets", "file")
            table = self._read_csv(rel, base_loc)
            loc_of = {i: base_loc for i in range(len(table))}
            if table.empty:
                raise self.source.error(base_loc, f"{rel} has no asset rows")
            if "id" not in table.columns:
                raise self.source.error(
                    base_loc, f"{rel} needs an 'id' column; {_header_words(table.columns)}"
                )
        ids = table["id"].astype(str)
        dup = ids[ids.duplicated()].tolist()
        if dup:
            raise self.source.error(base_loc, f"duplicate asset ids: {', '.join(dup)}")
        table.index = pd.Index(ids.tolist(), name="asset")
        table = table.drop(columns=["id"])
        csv_name = None if isinstance(s.assets, list) else rel

        def row_loc(asset: str) -> Loc:
            return loc_of.get(int(table.index.get_loc(asset)), base_loc)

        def row_line(asset: str) -> str:
            if csv_name is None:
                return ""
            return f" (line {int(table.index.get_loc(asset)) + 2} of {csv_name})"

        for col in ("expected_return", "last_outcome", "volatility", "current", "min_spend",
                    "max_spend", "saturation"):
            if col in table.columns:
                try:
                    table[col] = pd.to_numeric(table[col]).astype(float)
                except (ValueError, TypeError):
                    raise self.source.error(
                        base_loc, f"column '{col}' must hold numbers"
                    ) from None
                inf = table.index[np.isinf(table[col].to_numpy(dtype=float))]
                if len(inf):
                    raise self.source.error(
                        row_loc(inf[0]),
                        f"column '{col}' is infinite for asset '{inf[0]}'{row_line(inf[0])}; "
                        "give a finite number",
                    )
                bad = table.index[(table[col] < 0).fillna(False).to_numpy(dtype=bool)]
                if col != "expected_return" and len(bad):
                    raise self.source.error(
                        base_loc, f"column '{col}' must not be negative (assets {', '.join(bad)})"
                    )
        # expected return: given, or last_outcome / current
        mu = table.get("expected_return")
        mu = mu.copy() if mu is not None else pd.Series(np.nan, index=table.index)
        if "last_outcome" in table.columns and "current" in table.columns:
            derived = table["last_outcome"] / table["current"].where(table["current"] > 0)
            mu = mu.fillna(derived)
        if self.expected_return is not None:  # history estimates fill the gaps
            mu = mu.fillna(self.expected_return.reindex(mu.index))
        missing = mu.index[mu.isna().to_numpy()]
        if len(missing):
            pos = table.index.get_loc(missing[0])
            raise self.source.error(
                loc_of.get(int(pos), base_loc),
                f"asset '{missing[0]}' has no expected_return; give expected_return, or "
                "last_outcome together with a positive current spend",
            )
        if self.expected_return is not None:  # with history: the table overrides estimates
            est_mu = self.expected_return.copy()
            unknown = [a for a in mu.index if a not in est_mu.index]
            if unknown:
                raise self.source.error(
                    base_loc,
                    f"asset '{unknown[0]}' of the asset table is not in the history; the "
                    f"history has: {', '.join(est_mu.index)}",
                )
            est_mu.loc[mu.index] = mu
            mu = est_mu
        self.expected_return = mu.astype(float)
        full = mu.index

        def column(name: str) -> pd.Series | None:
            if name not in table.columns or not table[name].notna().any():
                return None
            return table[name].reindex(full).astype(float)

        self.volatility = column("volatility")
        cur = column("current")
        if cur is not None:
            if self.current is not None:  # history's current spend, overridden per asset
                cur = cur.fillna(self.current.reindex(full))
            gaps = [a for a in table.index if pd.isna(cur[a])]
            if gaps:  # a gap is not a zero: say so rather than plan from a guess
                raise self.source.error(
                    row_loc(gaps[0]),
                    f"asset '{gaps[0]}' has no current spend{row_line(gaps[0])} while other "
                    "assets have one; give its current spend (0 if nothing is spent on it now)",
                )
            self.current = cur.fillna(0.0)
        self.lower = column("min_spend")
        self.upper = column("max_spend")
        self.saturation = column("saturation")
        attrs = table.drop(
            columns=[c for c in ("expected_return", "last_outcome", "volatility", "current",
                                 "min_spend", "max_spend", "saturation") if c in table.columns]
        )
        if "tags" in attrs.columns:
            attrs["tags"] = attrs["tags"].map(lambda t: ";".join(_tags(t)))
        attrs = attrs.dropna(axis=1, how="all")
        if self.assets is not None and self.history is not None:
            merged = self.assets.copy().astype(object)
            for col in attrs.columns:
                if col not in merged.columns:
                    merged[col] = None
                vals = attrs[col].dropna()
                merged.loc[vals.index, col] = vals
            attrs = merged
        self.assets = attrs

    def _load_current(self) -> None:
        s = self.spec
        index = self.expected_return.index  # type: ignore[union-attr]
        if s.current is not None:
            unknown = [a for a in s.current if a not in index]
            if unknown:
                raise self.source.error(
                    ("current", unknown[0]),
                    f"unknown asset '{unknown[0]}'; assets are: {', '.join(index)}",
                )
            for a, v in s.current.items():
                if not (math.isfinite(v) and v >= 0):
                    raise self.source.error(
                        ("current", a), f"expected a non-negative amount of money, got {v}"
                    )
            if self.current is None:
                gaps = [a for a in index if a not in s.current]
                if gaps:  # a gap is not a zero
                    raise self.source.error(
                        ("current",),
                        f"no current spend for {', '.join(map(repr, gaps[:8]))}"
                        f"{' ...' if len(gaps) > 8 else ''}: give every asset's current spend "
                        "(0 if nothing is spent on it now), here or in the asset table",
                    )
                cur = pd.Series(0.0, index=index)
            else:
                cur = self.current.reindex(index).fillna(0.0)
            cur.update(pd.Series(s.current, dtype=float))
            self.current = cur

    def _load_covariance(self) -> None:
        s = self.spec
        index = self.expected_return.index  # type: ignore[union-attr]
        c = s.covariance
        if c is None:
            if (self.covariance is None and self.estimated_covariance is None
                    and self.volatility is not None):
                c = CovarianceSpec()
            else:
                return
        if isinstance(c, str):
            c = CovarianceSpec(file=c)
            loc: Loc = ("covariance",)
        else:
            loc = ("covariance", "file") if c.file else ("covariance",)
        if c.file:
            cov = self._read_csv(c.file, loc, index_col=0)
            cov.index = cov.index.astype(str)
            cov.columns = cov.columns.astype(str)
            missing = [a for a in index if a not in cov.index or a not in cov.columns]
            if missing:
                raise self.source.error(
                    loc, f"{c.file} has no row/column for assets: {', '.join(missing)}"
                )
            try:
                cov = cov.loc[index, index].astype(float)
            except (ValueError, TypeError):
                raise self.source.error(loc, f"{c.file} must hold numbers only") from None
            if not np.isfinite(cov.to_numpy()).all():
                raise self.source.error(loc, f"{c.file} holds missing or infinite values")
            self.covariance = cov
            return
        if self.volatility is None or self.volatility.isna().any():
            missing = (
                list(index)
                if self.volatility is None
                else list(self.volatility.index[self.volatility.isna().to_numpy()])
            )
            raise self.source.error(
                ("covariance",),
                "a covariance built from volatilities needs a 'volatility' for every asset "
                f"(missing for {', '.join(missing[:5])}); or give covariance.file",
            )
        vol = self.volatility.reindex(index).astype(float)
        if c.volatility == "relative":
            vol = vol * self.expected_return.abs()  # type: ignore[union-attr]
        n = len(index)
        corr = np.full((n, n), c.correlation)
        for attr, rho in c.correlation_by.items():
            if self.assets is None or attr not in self.assets.columns:
                cols = [] if self.assets is None else list(self.assets.columns)
                raise self.source.error(
                    ("covariance", "correlation_by", attr),
                    f"unknown asset attribute '{attr}'; the asset table has: {', '.join(cols)}",
                )
            vals = self.assets[attr].reindex(index).astype(object).to_numpy()
            same = (vals[:, None] == vals[None, :]) & pd.notna(vals)[:, None]
            corr = np.where(same, np.maximum(corr, rho), corr)
        pos = {a: i for i, a in enumerate(index)}
        for k, pair in enumerate(c.pairs):
            for a in pair.assets:
                if a not in pos:
                    raise self.source.error(
                        ("covariance", "pairs", k, "assets"), f"unknown asset '{a}'"
                    )
            i, j = pos[pair.assets[0]], pos[pair.assets[1]]
            corr[i, j] = corr[j, i] = pair.value
        np.fill_diagonal(corr, 1.0)
        if np.linalg.eigvalsh(corr).min() < -1e-9:
            raise self.source.error(
                ("covariance",),
                "these correlations are not consistent (the correlation matrix is not "
                "positive semidefinite); lower the largest values in correlation_by or pairs",
            )
        v = vol.to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            values = corr * np.outer(v, v)
        if not np.isfinite(values).all():
            raise self.source.error(
                ("covariance",),
                "the volatilities are too large to form a covariance (overflow); check the "
                "'volatility' column and whether it is relative or absolute",
            )
        self.covariance = pd.DataFrame(values, index=index, columns=index)


def _tags(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).split(";") if t.strip()]
