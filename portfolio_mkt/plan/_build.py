"""The plan: data files loaded, estimation called, the :class:`Problem` built."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from ..estimation import (
    View,
    black_litterman,
    current_from_history,
    pivot_history,
    problem_from_history,
)
from ..exceptions import InputError, PlanFileError
from ..problem import Problem
from ..response import CURVE_FAMILIES, make_curve
from ..whatif import Scenario, apply_scenario
from ._checks import _Checks, _where
from ._messages import in_plan_words
from ._read import _Source
from ._schema import (
    HistorySpec,
    Loc,
    PlanSpec,
    RosterSpec,
    ScenarioSpec,
)
from ._tables import _Tables, _tags

# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass
class Plan(_Tables, _Checks):
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
    history_curves : dict or None
        Saturation curves fitted to the history (``options: {curves: true}``), by asset.
    history_current : Series or None
        The real spend behind ``current`` when it comes from history (last period, or the mean
        of the last 13), before scaling to the budget.
    current_basis : str
        What ``current`` is, in words ("" when the plan states it).
    notes : list of str
        Plain-language notes for the report (what current spend is, extrapolation ...).
    allow_outside : bool
        Whether data files outside the plan's folder may be read.
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
    history_current: pd.Series | None = None
    current_basis: str = ""
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
        if sc is not None and sc.remove:  # checked here so the error names the plan's field
            self._select(sc.remove, ("scenarios", sc.name, "remove"))
        constraints = [c for c in self._constraints(keep) if c.name not in excluded]
        response = self.response_curves(keep, mu=mu)
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
            name=self.name,
        )
        if response:
            kwargs["response"] = response
        halo = self.halo_frame(keep)
        if halo is not None:
            kwargs["halo"] = halo
        try:
            problem = Problem(mu, **kwargs)
            if sc is None:
                return problem
            # the one way a scenario applies to a problem (removed assets held at 0)
            return apply_scenario(problem, self.scenario_of(sc)).replace(
                name=f"{self.name}: {sc.name}")
        except PlanFileError:
            raise
        except InputError as exc:
            raise self.source.error((), in_plan_words(str(exc))) from None

    def scenario_of(self, spec: ScenarioSpec | str) -> Any:
        """The :class:`portfolio_mkt.Scenario` of one of the plan's scenarios.

        Parameters
        ----------
        spec : ScenarioSpec or str
            The scenario (or its name).

        Returns
        -------
        portfolio_mkt.Scenario
        """
        sc = self._scenario(spec)
        shocks = [(dict(s.where), float(s.change)) for s in sc.cost_shocks] or None
        return Scenario(
            name=sc.name,
            budget_change=sc.budget_change,
            cost_shock=shocks,
            remove=dict(sc.remove) if sc.remove else None,
            risk_aversion=sc.risk_aversion,
        )

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

    # ---- data ------------------------------------------------------------------------------

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
        how = options.pop("current", "last")
        if current is not None:
            how = current
        opt_loc = ("history", "options") if isinstance(h, HistorySpec) else loc
        if options.get("kpi") is not None:
            self._load_wide_history(ref.file, options, opt_loc)
            return
        try:
            result = problem_from_history(self.history, s.budget_amount, **options)
        except TypeError as exc:
            raise self.source.error(opt_loc, f"invalid estimation option: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - reported with file and field
            raise self.source.error(loc, f"cannot estimate from {ref.file}: {exc}") from None
        self.estimate = result
        self.history_curves = result.curves
        self.expected_return = pd.Series(result.expected_return, dtype=float)
        self.expected_return.index = pd.Index([str(a) for a in self.expected_return.index])
        if result.covariance is not None:
            self.estimated_covariance = result.covariance
        self.assets = result.assets.copy()
        if "tags" in self.assets.columns:
            self.assets["tags"] = self.assets["tags"].map(lambda t: ";".join(_tags(t)))
        self._current_from_history(how, opt_loc)

    def _load_wide_history(self, file: str, options: dict[str, Any], loc: Loc) -> None:
        """One KPI per period and spend per channel: fit a media-mix model (``options: kpi``).

        The options are :class:`portfolio_mkt.mmm.MediaMixModel`'s (``kpi``, ``channels``,
        ``controls``, ``date``, ``geo``, ``saturation``, ``adstock``, ``l_max`` ...) plus
        ``draws`` (parameter draws for the model's risk, default 100): the raw column names of
        the file are mapped here. The channels' planning curves, the model's return covariance
        and the mean spend per period (scaled to the budget) become the plan's inputs.
        """
        from ..mmm import MediaMixModel

        options = dict(options)
        draws = options.pop("draws", 100)
        if isinstance(draws, bool) or not isinstance(draws, int) or not 0 <= draws <= 2000:
            raise self.source.error((*loc, "draws"), "draws must be a whole number from 0 to 2000")
        if isinstance(options.get("channels"), str):
            options["channels"] = [c.strip() for c in options["channels"].split(",") if c.strip()]
        try:
            model = MediaMixModel(**options).fit(self.history)
            if draws:
                model.sample(draws, random_state=0)
        except TypeError as exc:
            raise self.source.error(loc, f"invalid media-mix option: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - reported with file and field
            raise self.source.error(loc, f"cannot fit a media-mix model to {file}: {exc}") from None
        self.estimate = model
        ids = [str(a) for a in model.curves_]
        self.history_curves = {str(a): c for a, c in model.curves_.items()}
        self.expected_return = pd.Series(0.0, index=pd.Index(ids))
        if draws:
            cov = model.return_covariance()
            cov.index = cov.columns = pd.Index([str(a) for a in cov.index])
            self.estimated_covariance = cov.loc[ids, ids]
        self.assets = model.assets_.loc[list(model.curves_), ["market", "channel"]].copy()
        self.assets.index = pd.Index(ids)
        mean = model.assets_.loc[list(model.curves_), "current_spend"].astype(float)
        mean.index = pd.Index(ids)
        B = self.spec.budget_amount
        total = float(mean.sum())
        self.current = mean * (B / total) if total > 0 else None
        self.history_current = mean
        self.current_basis = (f"current spend is the mean spend per period of the history "
                              f"({total:,.6g} in total), scaled to the budget of {B:,.6g}")
        self.notes.append(self.current_basis.capitalize() + ".")
        quality = getattr(model, "fit_quality_", None)
        if isinstance(quality, pd.DataFrame) and "out_of_sample" in quality.index:
            mape = float(quality.loc["out_of_sample", "mape"])
            self.notes.append(f"Media-mix model fitted to {file}: out-of-sample MAPE {mape:.1%}"
                              + (" (above 15%: treat the curves with care)." if mape > 0.15
                                 else "."))
        self.history = None  # wide data: the long-history tools (bootstrap, audit) do not apply

    def _current_from_history(self, how: Any, loc: Loc) -> None:
        """Current spend from the history, with what it is and the real amounts behind it."""
        if how is None:
            self.current = None
            return
        if isinstance(how, pd.Series):
            self.current = how.astype(float)
            return
        if how not in ("last", "recent"):
            raise self.source.error(
                loc, f"current must be 'last' or 'recent' (or left out), got {how!r}"
            )
        B = self.spec.budget_amount
        try:
            self.current = current_from_history(self.history, B, how=how).astype(float)
            spend = pivot_history(self.history, "spend").fillna(0.0)
        except Exception as exc:  # noqa: BLE001 - reported with file and field
            raise self.source.error(loc, f"cannot take current spend from history: {exc}") from None
        self.current.index = pd.Index([str(a) for a in self.current.index])
        actual = spend.iloc[-1] if how == "last" else spend.tail(13).mean()
        actual.index = pd.Index([str(a) for a in actual.index])
        self.history_current = actual.astype(float)
        totals = spend.sum(axis=1)
        what = ("the history's last period" if how == "last"
                else f"the mean of the history's last {min(13, len(spend))} periods")
        self.current_basis = (
            f"current spend is the mix of {what} ({actual.sum():,.0f} in total), scaled to "
            f"the budget of {B:,.0f}"
        )
        self.notes.append(self.current_basis.capitalize() + ".")
        top, low = float(totals.max()), float(totals[totals > 0].min())
        if B > 2 * top or B < 0.5 * low:
            self.notes.append(
                f"The budget of {B:,.0f} is far outside what the history ever spent in a "
                f"period ({low:,.0f} to {top:,.0f}); returns and curves are extrapolated."
            )

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
