"""Checks of a plan against its assets, made before anything is solved."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._schema import Loc, LockSpec, RosterSpec, ScenarioSpec, ShiftLimitSpec, TurnoverSpec
from ._tables import _tags


class _Checks:
    """Names, filters and cheap feasibility checks (a mixin of :class:`Plan`)."""

    def _lock_name(self, i: int, lock: LockSpec) -> str:
        return lock.name or f"lock_{lock.asset}"

    def _shift_spec(self) -> ShiftLimitSpec | None:
        s = self.spec.shift_limit
        return ShiftLimitSpec(max_change=s) if isinstance(s, (int, float)) else s

    def _turnover_spec(self) -> TurnoverSpec | None:
        t = self.spec.turnover
        return TurnoverSpec(limit=t) if isinstance(t, (int, float)) else t

    def _scenario(self, scenario: ScenarioSpec | str | None) -> ScenarioSpec | None:
        if scenario is None or isinstance(scenario, ScenarioSpec):
            return scenario
        for sc in self.spec.scenarios:
            if sc.name == scenario:
                return sc
        names = ", ".join(sc.name for sc in self.spec.scenarios) or "(none)"
        raise self.source.error(
            ("scenarios",), f"no scenario named '{scenario}'. Scenarios in this plan: {names}"
        )

    def _select(self, where: Mapping[str, Any], loc: Loc) -> list[str]:
        """Asset ids matching a where-filter (tags match by membership)."""
        if self.assets is None:
            raise self.source.error(loc, "a where-filter needs an asset table with attributes")
        mask = pd.Series(True, index=self.assets.index)
        for attr, value in where.items():
            values = value if isinstance(value, list) else [value]
            values = [str(v) for v in values]
            if attr in ("id", "asset"):
                self._check_values(attr, values, [str(a) for a in self.assets.index],
                                   (*loc, attr))
                mask &= self.assets.index.isin(values)
                continue
            if attr not in self.assets.columns:
                cols = [c for c in self.assets.columns if c != "tags"] + ["tags", "asset"]
                raise self.source.error(
                    (*loc, attr),
                    f"unknown asset attribute '{attr}'; the asset table has: {', '.join(cols)}",
                )
            col = self.assets[attr]
            if attr == "tags":
                known = sorted({t for cell in col for t in _tags(cell)})
            else:
                known = sorted({str(v) for v in col.dropna()})
            self._check_values(attr, values, known, (*loc, attr))
            if attr == "tags":
                mask &= col.map(lambda t, vs=values: bool(set(_tags(t)) & set(vs)))
            else:
                mask &= col.astype(str).isin(values)
        return [str(a) for a in self.assets.index[mask.to_numpy(dtype=bool)]]

    def _check_values(self, attr: str, values: list[str], known: list[str], loc: Loc) -> None:
        """Refuse a filter value no asset has, naming the close match and the valid values."""
        for value in values:
            if value in known:
                continue
            same_case = [k for k in known if k.lower() == value.lower()]
            close = same_case or difflib.get_close_matches(value, known, n=1)
            hint = f" (did you mean '{close[0]}'? values are case-sensitive)" if close else ""
            listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more"
                                              if len(known) > 20 else "")
            raise self.source.error(
                loc, f"no asset has {attr} '{value}'{hint}; the values of {attr} are: {listed}"
            )

    def _check_constraints(self) -> None:
        """Cheap checks that name the field and line before anything is solved."""
        s = self.spec
        index = set(self.expected_return.index)  # type: ignore[union-attr]
        B = s.budget_amount

        def unknown(asset: str, loc: Loc) -> None:
            if asset not in index:
                close = difflib.get_close_matches(asset, list(index), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise self.source.error(loc, f"unknown asset '{asset}'{hint}")

        total = 0.0
        for i, lock in enumerate(s.locks):
            unknown(lock.asset, ("locks", i, "asset"))
            total += lock.amount
            if total > B * (1 + 1e-9):
                raise self.source.error(
                    ("locks", i, "amount"),
                    f"the locks add up to {total:,.0f}, more than the budget of {B:,.0f}; "
                    "lower a lock or raise the budget",
                )
        if s.roster is not None:
            r = s.roster if isinstance(s.roster, RosterSpec) else RosterSpec(assets=s.roster)
            base: Loc = ("roster", "assets") if isinstance(s.roster, RosterSpec) else ("roster",)
            for j, a in enumerate(r.assets):
                unknown(a, (*base, j))
            for i, lock in enumerate(s.locks):
                if lock.amount > 0 and lock.asset not in r.assets:
                    raise self.source.error(
                        ("locks", i, "asset"),
                        f"'{lock.asset}' is locked at {lock.amount:,.0f} but is not on the "
                        "roster; add it to the roster or remove the lock",
                    )
        for kind in ("floors", "caps"):
            for i, g in enumerate(getattr(s, kind)):
                members = self._select(g.where, (kind, i, "where"))
                if not members:
                    raise self.source.error(
                        (kind, i, "where"), f"no asset matches {g.where}; check the values"
                    )
                if kind == "floors":
                    amount = g.amount * B if g.unit == "share" else g.amount
                    if amount > B * (1 + 1e-9):
                        raise self.source.error(
                            (kind, i, "amount"),
                            f"the floor {amount:,.0f} is more than the budget of {B:,.0f}",
                        )
        for i, g in enumerate(s.response_floors):
            if not self._select(g.where, ("response_floors", i, "where")):
                raise self.source.error(
                    ("response_floors", i, "where"), f"no asset matches {g.where}"
                )
        for i, view in enumerate(s.views):
            if view.asset is not None:
                unknown(view.asset, ("views", i, "asset"))
            elif not self._select(view.where or {}, ("views", i, "where")):
                raise self.source.error(("views", i, "where"), f"no asset matches {view.where}")
        if s.response is not None:
            for a in s.response.assets:
                unknown(a, ("response", "assets", a))
        for i, h in enumerate(s.halo):
            unknown(h.source, ("halo", i, "source"))
            unknown(h.target, ("halo", i, "target"))
            if h.source == h.target:
                raise self.source.error(
                    ("halo", i), "a halo lifts another asset; use the asset's own return instead"
                )
        if (s.shift_limit is not None or s.turnover is not None) and self.current is None:
            key = "shift_limit" if s.shift_limit is not None else "turnover"
            raise self.source.error(
                (key,), "a shift limit or turnover needs the current spend ('current')"
            )
        names = [sc.name for sc in s.scenarios]
        for i, sc in enumerate(s.scenarios):
            if names.count(sc.name) > 1:
                raise self.source.error(
                    ("scenarios", i, "name"), f"duplicate scenario name '{sc.name}'"
                )
            strategic = set(self.strategic_constraints()) | {"asset_bounds"}
            for j, cname in enumerate(sc.drop_constraints):
                if cname not in strategic:
                    raise self.source.error(
                        ("scenarios", i, "drop_constraints", j),
                        f"no constraint named '{cname}'; constraints: {', '.join(strategic)}",
                    )
            for j, shock in enumerate(sc.cost_shocks):
                if not self._select(shock.where, ("scenarios", i, "cost_shocks", j, "where")):
                    raise self.source.error(
                        ("scenarios", i, "cost_shocks", j, "where"),
                        f"no asset matches {shock.where}",
                    )
            if sc.remove:
                self._select(sc.remove, ("scenarios", i, "remove"))

    def strategic_constraints(self) -> list[str]:
        """Names of the constraints the planner added for strategy (to be priced).

        Returns
        -------
        list of str
            Constraint names, in plan order.
        """
        names: list[str] = []
        for i, lock in enumerate(self.spec.locks):
            names.append(self._lock_name(i, lock))
        r = self.spec.roster
        if isinstance(r, RosterSpec) and r.strategic:
            names.append(r.name)
        elif isinstance(r, list):
            names.append("roster")
        for kind, groups in (("floor", self.spec.floors), ("cap", self.spec.caps)):
            for i, g in enumerate(groups):
                if g.strategic:
                    names.append(g.name or f"{kind}_{i + 1}")
        for i, g in enumerate(self.spec.response_floors):
            if g.strategic:
                names.append(g.name or f"response_floor_{i + 1}")
        sl = self._shift_spec()
        if sl is not None and sl.strategic:
            names.append(sl.name)
        to = self._turnover_spec()
        if to is not None and to.strategic:
            names.append(to.name)
        return names


def _where(where: Mapping[str, Any]) -> dict[str, Any]:
    return {
        ("asset" if k == "id" else k): ([str(x) for x in v] if isinstance(v, list) else str(v))
        for k, v in where.items()
    }
