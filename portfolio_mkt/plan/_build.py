"""The plan: data files loaded, estimation called, the :class:`Problem` built."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..confidence import ApprovalRules
from ..constraints import (
    Bounds,
    GroupCap,
    GroupFloor,
    Lock,
    ResponseFloor,
    Roster,
    ShiftLimit,
    Turnover,
)
from ..estimation import View, black_litterman, problem_from_history
from ..exceptions import InputError, PlanFileError
from ..problem import Problem
from ..response import CURVE_FAMILIES, make_curve
from ._messages import in_plan_words
from ._read import _Source
from ._schema import (
    CovarianceSpec,
    HistorySpec,
    Loc,
    LockSpec,
    PlanSpec,
    RosterSpec,
    ScenarioSpec,
    ShiftLimitSpec,
    TurnoverSpec,
)

# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A validated plan file with its data loaded.

    Attributes
    ----------
    spec : PlanSpec
        The validated contents of the file.
    path : Path
        The plan file.
    assets : DataFrame or None
        Asset attributes indexed by asset id (market, channel, tier, creator, tags ...).
    expected_return : Series or None
        Expected outcome per unit of money, by asset (before views).
    covariance : DataFrame or None
        Covariance of per-unit-spend returns.
    current : Series or None
        Current spend by asset.
    history : DataFrame or None
        The history table when the plan estimates from history.
    """

    spec: PlanSpec
    path: Path
    base_dir: Path
    source: _Source
    assets: pd.DataFrame | None = None
    expected_return: pd.Series | None = None
    volatility: pd.Series | None = None
    covariance: pd.DataFrame | None = None
    current: pd.Series | None = None
    lower: pd.Series | None = None
    upper: pd.Series | None = None
    saturation: pd.Series | None = None
    history: pd.DataFrame | None = None
    estimate: Any = None
    estimated_covariance: Any = None
    views_table: pd.DataFrame | None = None
    history_curves: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    allow_outside: bool = False

    # ---- public --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The plan's name."""
        return self.spec.name

    @property
    def budget(self) -> float:
        """The budget in money."""
        return self.spec.budget_amount

    @property
    def currency(self) -> str:
        """The plan's currency (``currency:``, default ``"$"``), for every amount shown."""
        return self.spec.currency

    @property
    def min_spend(self) -> float:
        """Minimum meaningful spend per asset in money: each asset gets 0 or at least this.

        From the plan's ``min_spend`` (money, or ``{share: s}`` of the budget); 0.5% of the
        budget when the plan does not say; 0 when the plan says ``min_spend: 0``. The
        "0 or at least this" rule is applied by the integer search, not by :meth:`to_problem`.
        """
        return self.spec.min_spend_amount()

    def min_spend_for(self, budget: float) -> float:
        """:attr:`min_spend` for another budget (a scenario's or an override).

        Parameters
        ----------
        budget : float
            The budget in money.

        Returns
        -------
        float
            Money.
        """
        return self.spec.min_spend_amount(budget)

    @property
    def audit(self) -> Any:
        """The bias audit of the history the plan was estimated from (None without one)."""
        return getattr(self.estimate, "audit", None)

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

    def to_problem(
        self,
        *,
        exclude: Sequence[str] = (),
        scenario: ScenarioSpec | str | None = None,
        risk_aversion: float | None = None,
        budget: float | None = None,
    ) -> Any:
        """Build the :class:`portfolio_mkt.Problem` this plan describes.

        Parameters
        ----------
        exclude : sequence of str, optional
            Names of constraints to leave out (to price them).
        scenario : ScenarioSpec or str, optional
            Apply one of the plan's scenarios (or its name).
        risk_aversion : float, optional
            Override the plan's risk aversion.
        budget : float, optional
            Override the plan's budget.

        Returns
        -------
        portfolio_mkt.Problem
            The problem, ready for :func:`portfolio_mkt.solve`.
        """
        sc = self._scenario(scenario)
        excluded = set(exclude) | set(sc.drop_constraints if sc else ())
        mu = self.posterior_return().copy()
        cov: Any = self.covariance
        if cov is None:
            cov = self.estimated_covariance
        B = float(budget if budget is not None else self.budget)
        delta = self.spec.risk.risk_aversion
        if risk_aversion is not None:
            delta = float(risk_aversion)
        assets = self.assets
        current = self.current
        keep = mu.index
        if sc is not None:
            if sc.budget_change is not None:
                B *= 1.0 + sc.budget_change
            if sc.risk_aversion is not None:
                delta = sc.risk_aversion
            for shock in sc.cost_shocks:
                members = self._select(shock.where, ("scenarios", sc.name, "cost_shocks"))
                mu.loc[members] = mu.loc[members] / (1.0 + shock.change)
            if sc.remove:
                gone = self._select(sc.remove, ("scenarios", sc.name, "remove"))
                keep = mu.index.difference(pd.Index(gone), sort=False)
        mu = mu.loc[keep]
        if isinstance(cov, pd.DataFrame):
            cov = cov.loc[keep, keep]
        elif cov is not None and hasattr(cov, "reindex") and len(keep) < len(mu.index):
            cov = cov.reindex(keep)
        if assets is not None:
            assets = assets.loc[keep]
        if current is not None:
            current = current.loc[keep]
        constraints = [c for c in self._constraints(keep) if c.name not in excluded]
        response = self.response_curves(keep, mu=mu, shocked=sc)
        kwargs: dict[str, Any] = dict(
            covariance=cov,
            budget=B,
            assets=assets,
            constraints=constraints,
            current=current,
            risk_aversion=delta,
            objective=self.spec.risk.objective,
            max_risk=self.spec.risk.max_risk,
            min_outcome=self.spec.risk.min_outcome,
            budget_mode=self.spec.budget_mode,
            name=self.name if sc is None else f"{self.name}: {sc.name}",
        )
        if response:
            kwargs["response"] = response
        halo = self.halo_frame(keep)
        if halo is not None:
            kwargs["halo"] = halo
        audit = getattr(self.estimate, "audit", None)
        if audit is not None:
            kwargs["audit"] = audit
        kwargs["approval_rules"] = self.approval_rules()
        try:
            return Problem(mu, **kwargs)
        except PlanFileError:
            raise
        except InputError as exc:
            raise self.source.error((), in_plan_words(str(exc))) from None

    def halo_frame(self, index: pd.Index | None = None) -> pd.DataFrame | None:
        """The plan's cross-channel lifts as a source x target DataFrame.

        Parameters
        ----------
        index : Index, optional
            Assets kept (lifts from or to other assets are dropped).

        Returns
        -------
        DataFrame or None
            None when the plan has no ``halo``.
        """
        if not self.spec.halo:
            return None
        index = self.expected_return.index if index is None else index  # type: ignore[union-attr]
        frame = pd.DataFrame(0.0, index=index, columns=index)
        for h in self.spec.halo:
            if h.source in frame.index and h.target in frame.columns:
                frame.loc[h.source, h.target] += h.lift
        return frame if frame.to_numpy().any() else None

    def approval_rules(self) -> Any:
        """The plan's approval rules as :class:`portfolio_mkt.confidence.ApprovalRules`.

        Returns
        -------
        ApprovalRules
        """
        a = self.spec.approval
        return ApprovalRules(max_change=a.max_shift, protected_tags=tuple(a.protect_tags),
                   min_confidence=a.min_confidence)

    def posterior_return(self) -> pd.Series:
        """Expected returns after the plan's views.

        Uses Black-Litterman with Idzorek's confidence from :mod:`portfolio_mkt.estimation`
        (a view at 0% confidence leaves the model's returns, at 100% imposes the view);
        without a covariance each view moves its assets' return by ``confidence x change``.

        Returns
        -------
        Series
            Expected outcome per unit of money, by asset.
        """
        mu = self.expected_return
        if mu is None:  # pragma: no cover - guarded by _load_data
            raise self.source.error(("assets",), "no expected returns could be found")
        mu = mu.astype(float).copy()
        if not self.spec.views:
            return mu
        cov = self.covariance if self.covariance is not None else self.estimated_covariance
        if cov is not None:
            views = []
            for i, view in enumerate(self.spec.views):
                target: Any = view.asset if view.asset is not None else _where(view.where or {})
                views.append(View(target, change=view.change,
                                      confidence=100.0 * view.confidence,
                                      name=view.name or f"view_{i + 1}"))
            try:
                bl = black_litterman(mu, cov, views, assets=self.assets)
            except Exception as exc:  # noqa: BLE001 - reported with field and line
                raise self.source.error(("views",), f"the views cannot be applied: {exc}") from None
            self.views_table = bl.views
            return pd.Series(bl.posterior, dtype=float).reindex(mu.index)
        for i, view in enumerate(self.spec.views):
            members = (
                [view.asset]
                if view.asset is not None
                else self._select(view.where or {}, ("views", i, "where"))
            )
            mu.loc[members] = mu.loc[members] * (1.0 + view.confidence * view.change)
        return mu

    def response_curves(
        self,
        index: pd.Index | None = None,
        *,
        mu: pd.Series | None = None,
        shocked: ScenarioSpec | None = None,
    ) -> dict[str, Any] | None:
        """Response curves per asset from the plan's ``response`` section.

        Curves calibrated at current spend have average return ``expected_return`` there.

        Parameters
        ----------
        index : Index, optional
            Assets to build curves for (default all).
        mu : Series, optional
            Expected returns to calibrate against (default :meth:`posterior_return`).
        shocked : ScenarioSpec, optional
            Unused hook kept for symmetry with :meth:`to_problem`.

        Returns
        -------
        dict or None
            Asset id -> curve object of :mod:`portfolio_mkt.response`; None without a
            ``response`` section.
        """
        spec = self.spec.response
        if spec is None:
            return self._history_curves(index, mu)
        mu = self.posterior_return() if mu is None else mu
        index = mu.index if index is None else index
        curves: dict[str, Any] = {}
        for asset in index:
            a_spec = spec.assets.get(str(asset))
            family = (a_spec.family if a_spec and a_spec.family else spec.family)
            params = dict(a_spec.params) if a_spec else {}
            loc = ("response", "assets", str(asset)) if a_spec else ("response",)
            if not params:
                if spec.calibrate == "none":
                    continue
                x0 = float(self.current.get(asset, 0.0)) if self.current is not None else 0.0
                if x0 <= 0:
                    continue  # no anchor: linear return for this asset
                sat = (
                    a_spec.saturation
                    if a_spec and a_spec.saturation
                    else (
                        float(self.saturation[asset])
                        if self.saturation is not None and pd.notna(self.saturation.get(asset))
                        else spec.saturation
                    )
                )
                params = _calibrate(family, float(mu[asset]), x0, sat, self.source, loc)
            curves[str(asset)] = _make_curve(family, params, self.source, loc)
        return curves or None

    def _history_curves(self, index: pd.Index | None, mu: pd.Series | None
                        ) -> dict[str, Any] | None:
        """Curves fitted from history (``options: {curves: true}``), scaled to ``mu``.

        Views and cost shocks move an asset's expected return; its fitted curve is scaled by
        the same ratio (as the estimation pipeline does for views).
        """
        if not self.history_curves:
            return None
        prior = self.expected_return
        mu = self.posterior_return() if mu is None else mu
        index = mu.index if index is None else index
        out: dict[str, Any] = {}
        for asset in index:
            curve = self.history_curves.get(str(asset))
            if curve is None:
                continue
            base = float(prior[asset]) if prior is not None else 0.0
            ratio = float(mu[asset]) / base if base else 1.0
            out[str(asset)] = (curve.scale_output(ratio)
                               if ratio > 0 and abs(ratio - 1.0) > 1e-12 else curve)
        return out or None

    # ---- constraints -----------------------------------------------------------------------

    def _lock_name(self, i: int, lock: LockSpec) -> str:
        return lock.name or f"lock_{lock.asset}"

    def _shift_spec(self) -> ShiftLimitSpec | None:
        s = self.spec.shift_limit
        return ShiftLimitSpec(max_change=s) if isinstance(s, (int, float)) else s

    def _turnover_spec(self) -> TurnoverSpec | None:
        t = self.spec.turnover
        return TurnoverSpec(limit=t) if isinstance(t, (int, float)) else t

    def _constraints(self, keep: pd.Index) -> list[Any]:
        s = self.spec
        out: list[Any] = []
        keep_set = set(map(str, keep))
        if self.lower is not None or self.upper is not None:
            lo = self.lower.loc[keep].dropna() if self.lower is not None else None
            up = self.upper.loc[keep].dropna() if self.upper is not None else None
            if (lo is not None and len(lo)) or (up is not None and len(up)):
                out.append(
                    Bounds(
                        lower=lo.to_dict() if lo is not None and len(lo) else None,
                        upper=up.to_dict() if up is not None and len(up) else None,
                        unit="money",
                        name="asset_bounds",
                    )
                )
        for i, lock in enumerate(s.locks):
            if lock.asset in keep_set:
                out.append(
                    Lock(
                        {lock.asset: lock.amount},
                        minimum=lock.minimum,
                        name=self._lock_name(i, lock),
                    )
                )
        if s.roster is not None:
            r = s.roster if isinstance(s.roster, RosterSpec) else RosterSpec(assets=s.roster)
            out.append(Roster([a for a in r.assets if a in keep_set], name=r.name))
        for kind, groups, cls in (
            ("floor", s.floors, GroupFloor),
            ("cap", s.caps, GroupCap),
        ):
            for i, g in enumerate(groups):
                out.append(
                    cls(
                        where=_where(g.where),
                        amount=g.amount,
                        unit=g.unit,
                        name=g.name or f"{kind}_{i + 1}",
                    )
                )
        for i, g in enumerate(s.response_floors):
            out.append(
                ResponseFloor(
                    where=_where(g.where),
                    level=g.level,
                    name=g.name or f"response_floor_{i + 1}",
                )
            )
        sl = self._shift_spec()
        if sl is not None:
            out.append(ShiftLimit(max_change=sl.max_change, relative=sl.relative, name=sl.name))
        to = self._turnover_spec()
        if to is not None:
            out.append(Turnover(limit=to.limit, unit=to.unit, name=to.name))
        return out

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

    # ---- data ------------------------------------------------------------------------------

    def _file(self, rel: str, loc: Loc) -> Path:
        """The data file ``rel`` names, relative to the plan's folder and inside it.

        A path that resolves outside the plan's folder (``../``, absolute, or through a
        symbolic link) is refused unless the plan was loaded with ``allow_outside=True``.
        Only regular files are read (no devices, pipes or directories).
        """
        p = Path(rel).expanduser()
        if not p.is_absolute():
            p = self.base_dir / p
        try:
            real = p.resolve()
            folder = self.base_dir.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise self.source.error(loc, f"cannot resolve the path {rel}") from None
        if not self.allow_outside and not real.is_relative_to(folder):
            raise self.source.error(
                loc,
                f"the data file {rel} is outside the plan's folder ({folder}); plans may only "
                "read files next to them. Move the file into that folder, or allow it "
                "explicitly: load_plan(..., allow_outside=True), or on the command line "
                "--allow-outside-paths.",
            )
        if not real.exists():
            raise self.source.error(
                loc,
                f"file not found: {rel} (looked in {p.parent}). Paths are relative to the "
                "plan file.",
            )
        if not real.is_file():
            raise self.source.error(loc, f"{rel} is not a regular file (a folder or device)")
        return real

    def _read_csv(self, rel: str, loc: Loc, **kwargs: Any) -> pd.DataFrame:
        p = self._file(rel, loc)
        try:
            if p.suffix.lower() == ".parquet":
                return pd.read_parquet(p)
            return pd.read_csv(p, **kwargs)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            # pandas' parser messages name lines and field counts, never the file's contents
            raise self.source.error(loc, f"cannot read {rel} as CSV: {exc}") from None
        except UnicodeDecodeError:
            raise self.source.error(
                loc, f"cannot read {rel}: not UTF-8 text (is it a binary file?)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the message might quote the file: not shown
            raise self.source.error(
                loc, f"cannot read {rel} ({type(exc).__name__}); is it a CSV file?"
            ) from None

    def _load_data(self, history: pd.DataFrame | None = None,
                   current: pd.Series | None = None) -> None:
        s = self.spec
        if s.history is not None:
            self._load_history(history, current)
        if s.assets is not None:
            self._load_assets()
        if self.expected_return is None:
            raise self.source.error(
                ("assets",),
                "no expected returns: give expected_return (or last_outcome with current) "
                "for every asset, or a history file",
            )
        self._load_current()
        self._load_covariance()
        self._check_constraints()

    def _load_history(self, history: pd.DataFrame | None = None,
                      current: pd.Series | None = None) -> None:
        s = self.spec
        h = s.history
        ref = h if isinstance(h, HistorySpec) else HistorySpec(file=str(h))
        loc: Loc = ("history", "file") if isinstance(h, HistorySpec) else ("history",)
        self.history = self._read_csv(ref.file, loc) if history is None else history
        options = dict(ref.options)
        if current is not None:
            options["current"] = current
        try:
            result = problem_from_history(self.history, s.budget_amount, **options)
        except TypeError as exc:
            raise self.source.error(
                ("history", "options") if isinstance(h, HistorySpec) else loc,
                f"invalid estimation option: {exc}",
            ) from None
        except Exception as exc:  # noqa: BLE001 - reported with file and field
            raise self.source.error(loc, f"cannot estimate from {ref.file}: {exc}") from None
        self.estimate = result
        self.history_curves = getattr(result, "curves", None)
        problem = getattr(result, "problem", result)
        mu = getattr(result, "expected_return", None)
        if mu is None:
            mu = problem.expected_return
        self.expected_return = pd.Series(mu, dtype=float)
        self.expected_return.index = pd.Index([str(a) for a in self.expected_return.index])
        cov = getattr(result, "covariance", None)
        if cov is not None:
            self.estimated_covariance = cov
        assets = getattr(result, "assets", None)
        if assets is None:
            assets = getattr(problem, "assets", None)
        if assets is not None:
            self.assets = assets.copy()
            if "tags" in self.assets.columns:
                self.assets["tags"] = self.assets["tags"].map(lambda t: ";".join(_tags(t)))
        cur = getattr(problem, "current", None)
        if cur is not None:
            self.current = pd.Series(cur, dtype=float)

    def with_history(self, history: pd.DataFrame, current: pd.Series | None = None) -> Plan:
        """The same plan re-estimated on another history (for the bootstrap).

        Parameters
        ----------
        history : DataFrame
            A (resampled) history in the plan's history format.
        current : Series, optional
            Keep this current spend instead of estimating it from ``history`` (a resample's
            last period is not today's spend).

        Returns
        -------
        Plan
            A new plan; the file is not read again.
        """
        if self.spec.history is None:
            raise self.source.error(("history",), "this plan has no history to replace")
        new = Plan(spec=self.spec, path=self.path, base_dir=self.base_dir, source=self.source,
                   allow_outside=self.allow_outside)
        new._load_data(history=history, current=current)
        return new

    def problem_builder(self) -> _HistoryBuilder:
        """A picklable ``build(history) -> Problem`` for :func:`portfolio_mkt.bootstrap`.

        Returns
        -------
        callable
            Re-estimates the plan on a history and builds its problem, keeping today's
            current spend.
        """
        return _HistoryBuilder(self)

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


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


class _HistoryBuilder:
    """``build(history) -> Problem`` for a plan estimated from history (picklable)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.current = plan.current

    def __call__(self, history: pd.DataFrame) -> Any:
        return self.plan.with_history(history, current=self.current).to_problem()


def _header_words(columns: Sequence[Any]) -> str:
    """The columns of a CSV file, named only when they look like column names.

    A file that is not a CSV table (a password file, a log) would otherwise have its first
    line echoed in the error message.
    """
    names = [str(c) for c in columns]
    if names and len(names) <= 50 and all(_COLUMN.fullmatch(c) for c in names):
        return f"it has: {', '.join(names)}"
    return "its first line is not a row of column names (is it a CSV file with a header?)"


_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,40}")


def _tags(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).split(";") if t.strip()]


def _where(where: Mapping[str, Any]) -> dict[str, Any]:
    return {
        ("asset" if k == "id" else k): ([str(x) for x in v] if isinstance(v, list) else str(v))
        for k, v in where.items()
    }


#: plan-file family aliases -> family names of portfolio_mkt.response.make_curve
_FAMILY_ALIASES = {
    "exponential_saturation": "exponential",
    "logarithmic": "log",
    "michaelis-menten": "michaelis_menten",
}


def _calibrate(
    family: str, mu0: float, x0: float, saturation: float, src: _Source, loc: Loc
) -> dict[str, float]:
    """Curve parameters whose average return at ``x0`` equals ``mu0``; ``k = saturation*x0``."""
    k = saturation * x0
    fam = _FAMILY_ALIASES.get(family.lower(), family.lower())
    if fam in ("exponential", "exponential_saturation"):
        # r(x) = beta * (1 - exp(-x / k))
        return {"beta": mu0 * x0 / (1.0 - math.exp(-x0 / k)), "k": k}
    if fam in ("logarithmic", "log"):
        # r(x) = beta * log(1 + x / k)
        return {"beta": mu0 * x0 / math.log1p(x0 / k), "k": k}
    if fam == "michaelis_menten":
        # r(x) = beta * x / (k + x)
        return {"beta": mu0 * (k + x0), "k": k}
    raise src.error(
        loc,
        f"cannot calibrate a '{family}' curve at current spend; use exponential, "
        "logarithmic or michaelis_menten, or give the curve's params",
    )


def _make_curve(family: str, params: Mapping[str, float], src: _Source,
                loc: Loc) -> Any:
    fam = _FAMILY_ALIASES.get(family.lower(), family.lower())
    families = CURVE_FAMILIES
    if fam not in families:
        raise src.error(
            loc,
            f"unknown response family '{family}'; use one of: {', '.join(sorted(families))}",
        )
    try:
        return make_curve(fam, **params)
    except Exception as exc:  # noqa: BLE001 - reported with field and line
        raise src.error(loc, f"invalid parameters for a {family} curve: {exc}") from None
