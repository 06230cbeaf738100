"""The planning window as plain data: assets, periods, carryover, seasonality, budget, strategy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import AlignmentError, ConstraintError, InputError, format_labels
from ._periods import as_periods, month_blocks, period_step, tail_labels, week_text

__all__ = ["WindowProblem"]

_METHODS = ("auto", "pwl")


def _finite_nonneg(values: np.ndarray, rows: pd.Index, cols: pd.Index, field: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{field}: value {values[r, c]!r} for {week_text(rows[r])}, asset {cols[c]!r} "
            "must be finite and >= 0."
        )


class WindowProblem:
    """A budget planned week by week over a window, with carryover in and out.

    The program (on spend ``x[a, t] >= 0`` in money, ``t`` in the window)::

        e[a, t]  = sum_l w_a[l] * x[a, t - l]         (x before the window: carry_in)
        maximize sum_a sum_{t < T + H} sigma[a, t] * r_a(e[a, t])  -  delta / (2 B) * Var
        subject to sum_{a, t} x[a, t] == B  (or <= B), window constraints

    where ``w_a`` is the asset's adstock kernel, ``H`` the horizon after the window over which
    the tail of the carryover is counted, ``sigma`` the seasonality, ``r_a`` the response curve
    of the asset (its ``expected_return`` linearly when it has none) and
    ``Var = sum_{t, s} rho^|t - s| x_t' Sigma x_s`` the variance of the window's outcome with the
    per-period covariance ``Sigma`` and the correlation ``rho`` of shocks in adjacent weeks.

    Parameters
    ----------
    problem : portfolio_mkt.Problem
        Assets, response curves (per period), covariance (per period), budget (of the whole
        window unless ``budget`` is given), risk aversion and strategy constraints. Its
        constraints apply to the spend totals over the window (``per="window"``).
    periods : int or sequence
        Weeks of the window: a number ``n`` (weeks ``1 .. n``), consecutive integers, or dates
        with a constant step (no gaps, oldest first).
    adstock : Adstock or mapping asset -> Adstock, optional
        Carryover kernel per asset (:class:`~portfolio_mkt.response.GeometricAdstock`,
        :class:`~portfolio_mkt.response.WeibullAdstock`); one kernel applies to every asset;
        assets without one have no carryover.
    carry_in : Series, mapping, or DataFrame, optional
        Spend before the window: a Series / mapping asset -> spend per period (held for as many
        periods as the longest kernel), a wide DataFrame (rows: periods ending right before the
        window, columns: assets), or a long history with columns ``period``, ``asset``,
        ``spend``.
    horizon : int or "auto", default "auto"
        Periods after the window over which the effect of window spend is still counted;
        ``"auto"`` counts the whole kernel (``l_max - 1`` periods), ``0`` switches the tail off.
    seasonality : Series, DataFrame or mapping attribute -> DataFrame, optional
        Multipliers ``sigma >= 0``: a Series by period (all assets), a DataFrame periods x
        assets, or ``{"market": DataFrame(periods x markets)}`` by attribute (several
        attributes multiply). Rows may extend past the window to cover the tail; tail periods
        without a row use 1.
    budget : float, optional
        Budget of the window in money (default ``problem.budget``).
    budget_mode : {"exact", "cap"}, optional
        Default ``problem.budget_mode``.
    constraints : sequence, optional
        Window constraints (:mod:`portfolio_mkt.window` classes: ``Pacing``, ``DarkWeeks``,
        ``ContractLock``, ``Phasing``, ``WindowFloor``, ``WindowCap``, ``PeriodCap``,
        ``PeriodFloor``, ``Scoped``).
    risk_aversion : float, optional
        ``delta``; default ``problem.risk_aversion`` (used only when the problem has a covariance).
    period_correlation : float, default 0.0
        Correlation ``rho`` in ``(-1, 1)`` of return shocks one week apart (``rho^|t-s|``).
    months : sequence, optional
        Month label of each period (default: calendar months of dates, 4-4-5 for integers).
    method : {"auto", "pwl"}, default "auto"
        Exact conic forms where curves have them (Clarabel), else piecewise linear.
    tolerance : float, default 1e-4
        Relative error of piecewise-linear pieces (of the response at the largest effective
        spend of the asset).
    include_problem_constraints : bool, default True
        Apply the problem's constraints to the totals over the window.
    name : str, optional

    Raises
    ------
    InputError, AlignmentError
        Naming the period, asset or field at fault.
    """

    def __init__(
        self,
        problem: Any,
        periods: Any,
        *,
        adstock: Any = None,
        carry_in: Any = None,
        horizon: int | str = "auto",
        seasonality: Any = None,
        budget: float | None = None,
        budget_mode: str | None = None,
        constraints: Sequence[Any] = (),
        risk_aversion: float | None = None,
        period_correlation: float = 0.0,
        months: Sequence[Any] | None = None,
        method: str = "auto",
        tolerance: float = 1e-4,
        include_problem_constraints: bool = True,
        name: str | None = None,
    ) -> None:
        self._args = dict(
            problem=problem, periods=periods, adstock=adstock, carry_in=carry_in,
            horizon=horizon, seasonality=seasonality, budget=budget, budget_mode=budget_mode,
            constraints=constraints, risk_aversion=risk_aversion,
            period_correlation=period_correlation, months=months, method=method,
            tolerance=tolerance, include_problem_constraints=include_problem_constraints,
            name=name,
        )
        for attr in ("index", "assets", "budget", "expected_return"):
            if not hasattr(problem, attr):
                raise InputError(
                    f"WindowProblem: problem must be a portfolio_mkt.Problem, got "
                    f"{type(problem).__name__}."
                )
        self.problem = problem
        self.index: pd.Index = problem.index
        self.assets: pd.DataFrame = problem.assets
        self.n = len(self.index)
        self.periods: pd.Index = as_periods(periods)
        self.T = len(self.periods)
        self.name = str(name if name is not None else getattr(problem, "name", "plan"))
        self.kernels = self._kernels(adstock)
        self.adstock = adstock
        lmax = max(len(k) for k in self.kernels)
        if horizon == "auto":
            self.horizon = lmax - 1
        else:
            if isinstance(horizon, bool) or not float(horizon).is_integer() or int(horizon) < 0:
                raise InputError(
                    f"horizon must be 'auto' or a whole number of periods >= 0, got {horizon!r}."
                )
            self.horizon = int(horizon)
        self.P = self.T + self.horizon
        self.tail_periods = tail_labels(self.periods, self.horizon)
        self.pre = self._carry_in(carry_in, lmax)
        self.seasonality = self._seasonality(seasonality)
        b = problem.budget if budget is None else budget
        try:
            b = float(b)
        except (TypeError, ValueError):
            raise InputError(f"budget must be a number (money), got {budget!r}.") from None
        if not np.isfinite(b) or b <= 0:
            raise InputError(f"budget of the window must be finite and > 0, got {budget!r}.")
        self.budget = b
        mode = budget_mode or getattr(problem, "budget_mode", "exact")
        if mode not in ("exact", "cap"):
            raise InputError(f"budget_mode must be 'exact' or 'cap', got {mode!r}.")
        self.budget_mode = mode
        ra = problem.risk_aversion if risk_aversion is None else risk_aversion
        ra = float(ra)
        if not np.isfinite(ra) or ra < 0:
            raise InputError(f"risk_aversion must be finite and >= 0, got {risk_aversion!r}.")
        self.risk_aversion = ra
        rho = float(period_correlation)
        if not np.isfinite(rho) or not -1.0 < rho < 1.0:
            raise InputError(
                f"period_correlation must be in (-1, 1), got {period_correlation!r}; use e.g. 0.3."
            )
        self.period_correlation = rho
        self.months = month_blocks(self.periods, months)
        if method not in _METHODS:
            raise InputError(f"method must be 'auto' or 'pwl', got {method!r}.")
        self.method = method
        tol = float(tolerance)
        if not np.isfinite(tol) or not 0 < tol < 1:
            raise InputError(f"tolerance must be in (0, 1), got {tolerance!r}; use e.g. 1e-4.")
        self.tolerance = tol
        self.response = dict(getattr(problem, "response", None) or {})
        self.halo_coef = self._halo(getattr(problem, "halo", None))
        self.notes: list[str] = []
        from ._constraints import Scoped, as_window_constraint

        own = [as_window_constraint(c) for c in constraints]
        inherited = ([Scoped(c, per="window") for c in problem.constraints]
                     if include_problem_constraints else [])
        self.constraints: tuple[Any, ...] = tuple(inherited + own)
        seen: set[str] = set()
        for c in self.constraints:
            if c.name in seen:
                raise ConstraintError(
                    f"two window constraints are named '{c.name}'; give each a unique name."
                )
            if c.name in ("budget", "actuals", "flat"):
                raise ConstraintError(f"constraint name '{c.name}' is reserved; rename it.")
            seen.add(c.name)
            c.validate(self)

    # ------------------------------------------------------------------ inputs
    def _kernels(self, adstock: Any) -> list[np.ndarray]:
        from ..response import Adstock

        if adstock is None:
            return [np.ones(1) for _ in range(self.n)]
        if isinstance(adstock, Adstock):
            return [adstock.weights().astype(float) for _ in range(self.n)]
        if not isinstance(adstock, Mapping):
            raise InputError(
                "adstock must be an Adstock (GeometricAdstock, WeibullAdstock) or a mapping "
                f"asset -> Adstock; got {type(adstock).__name__}."
            )
        unknown = pd.Index(list(adstock)).difference(self.index)
        if len(unknown):
            raise AlignmentError(
                f"adstock names assets that are not in the problem: {format_labels(unknown)}."
            )
        out = []
        for a in self.index:
            k = adstock.get(a)
            if k is None:
                out.append(np.ones(1))
            elif isinstance(k, Adstock):
                out.append(k.weights().astype(float))
            else:
                raise InputError(
                    f"adstock of asset {a!r} is a {type(k).__name__}, not an Adstock."
                )
        return out

    def _halo(self, halo: Any) -> np.ndarray:
        """Outcome lifted on other assets per unit of (effective) spend of each asset."""
        if halo is None:
            return np.zeros(self.n)
        h = pd.DataFrame(halo).astype(float)
        return h.sum(axis=1).reindex(self.index).fillna(0.0).to_numpy(float)

    def _carry_in(self, carry_in: Any, lmax: int) -> np.ndarray:
        """Spend before the window, shape (n, lmax - 1), oldest first (money)."""
        npre = max(lmax - 1, 0)
        pre = np.zeros((self.n, npre))
        if carry_in is None or npre == 0:
            return pre
        if isinstance(carry_in, Mapping) and not isinstance(carry_in, pd.Series):
            carry_in = pd.Series(dict(carry_in), dtype=float)
        if isinstance(carry_in, pd.Series):
            unknown = carry_in.index.difference(self.index)
            if len(unknown):
                raise AlignmentError(
                    f"carry_in names assets that are not in the problem: "
                    f"{format_labels(unknown)}."
                )
            vals = carry_in.reindex(self.index).fillna(0.0).to_numpy(float)
            if not np.all(np.isfinite(vals)) or (vals < 0).any():
                bad = self.index[~np.isfinite(vals) | (vals < 0)]
                raise InputError(
                    f"carry_in: spend before the window must be finite and >= 0; check "
                    f"{format_labels(bad)}."
                )
            return np.repeat(vals[:, None], npre, axis=1)
        if not isinstance(carry_in, pd.DataFrame):
            raise InputError(
                "carry_in must be a Series (asset -> spend per period), a wide DataFrame "
                "(periods x assets) or a long history (period, asset, spend); got "
                f"{type(carry_in).__name__}."
            )
        df = carry_in
        if {"period", "asset", "spend"} <= set(df.columns):
            unknown = pd.Index(df["asset"].unique()).difference(self.index)
            if len(unknown):
                raise AlignmentError(
                    f"carry_in history names assets that are not in the problem: "
                    f"{format_labels(unknown)}."
                )
            df = df.pivot_table(index="period", columns="asset", values="spend",
                                aggfunc="sum", fill_value=0.0)
        unknown = pd.Index(df.columns).difference(self.index)
        if len(unknown):
            raise AlignmentError(
                f"carry_in names assets that are not in the problem: {format_labels(unknown)}."
            )
        rows = as_periods(list(df.index), "carry_in periods")
        dated = isinstance(self.periods, pd.DatetimeIndex)
        if dated != isinstance(rows, pd.DatetimeIndex):
            raise InputError(
                "carry_in periods must be of the same kind as the window's periods (dates or "
                "integer weeks)."
            )
        expected_last = self.periods[0] - period_step(self.periods)
        if len(self.periods) == 1 and dated and len(rows) > 1:
            expected_last = self.periods[0] - (rows[1] - rows[0])
        if rows[-1] != expected_last:
            raise InputError(
                f"carry_in must end right before the window: its last period is "
                f"{week_text(rows[-1])}, expected {week_text(expected_last)}."
            )
        vals = df.reindex(columns=self.index).fillna(0.0).to_numpy(float).T
        _finite_nonneg(vals.T, rows, self.index, "carry_in")
        take = vals[:, -npre:] if vals.shape[1] >= npre else vals
        pre[:, npre - take.shape[1]:] = take
        return pre

    def _seasonality(self, seasonality: Any) -> np.ndarray:
        """Multipliers, shape (n, P)."""
        labels = self.periods.append(self.tail_periods)
        sig = np.ones((self.n, self.P))
        if seasonality is None:
            return sig
        items: list[tuple[str | None, Any]]
        if isinstance(seasonality, Mapping) and not isinstance(seasonality, pd.Series):
            items = list(seasonality.items())
        else:
            items = [(None, seasonality)]
        for attr, table in items:
            if isinstance(table, pd.Series):
                table = pd.DataFrame({c: table for c in self.index})
            if not isinstance(table, pd.DataFrame):
                raise InputError(
                    "seasonality must be a Series by period, a DataFrame (periods x assets) or "
                    "a mapping attribute -> DataFrame (periods x attribute values); got "
                    f"{type(table).__name__}."
                )
            rows = as_periods(list(table.index), "seasonality periods")
            if isinstance(rows, pd.DatetimeIndex) != isinstance(labels, pd.DatetimeIndex):
                raise InputError(
                    "seasonality periods must be of the same kind as the window's periods."
                )
            missing = self.periods.difference(rows)
            if len(missing):
                raise InputError(
                    f"seasonality has no row for {week_text(missing[0])}"
                    f"{' and ' + str(len(missing) - 1) + ' more' if len(missing) > 1 else ''}; "
                    "give a multiplier for every week of the window (1 = normal)."
                )
            table = table.copy()
            table.index = rows
            vals = table.to_numpy(float)
            _finite_nonneg(vals, rows, pd.Index(table.columns), "seasonality")
            if attr is None:
                unknown = pd.Index(table.columns).difference(self.index)
                if len(unknown):
                    raise AlignmentError(
                        f"seasonality names assets that are not in the problem: "
                        f"{format_labels(unknown)}."
                    )
                keys = list(self.index)
                lookup = {a: a for a in self.index}
            else:
                if attr not in self.assets.columns:
                    raise InputError(
                        f"seasonality by '{attr}': the assets have no such attribute; known: "
                        f"{format_labels(list(self.assets.columns))}."
                    )
                attr_vals = self.assets[attr].astype(str)
                cols = {str(c): c for c in table.columns}
                unknown = [c for c in cols if c not in set(attr_vals)]
                if unknown:
                    raise AlignmentError(
                        f"seasonality by '{attr}' names values no asset has: "
                        f"{format_labels(unknown)}."
                    )
                keys = list(self.index)
                lookup = {a: cols.get(str(attr_vals[a])) for a in self.index}
            full = table.reindex(labels)
            for i, a in enumerate(keys):
                col = lookup[a]
                if col is None or col not in table.columns:
                    continue
                sig[i] *= full[col].fillna(1.0).to_numpy(float)
        return sig

    # ------------------------------------------------------------------ structure
    def constraint_rows(self, start: int = 0) -> list[tuple[str, Any]]:
        """``(constraint name, RowBlock)`` of every window constraint (cached per ``start``)."""
        cache = self.__dict__.setdefault("_rows_cache", {})
        if start not in cache:
            cache[start] = [(c.name, b) for c in self.constraints for b in c.rows(self, start)]
        return cache[start]

    def kernel_matrix(self) -> sp.csr_matrix:
        """Sparse ``K`` with ``e = K x`` (flat ``x[a * T + t]``, flat ``e[a * P + t]``; cached)."""
        cached = self.__dict__.get("_kernel_cache")
        if cached is not None:
            return cached
        rows, cols, vals = [], [], []
        t_idx = np.arange(self.T)
        lmax = max(len(w) for w in self.kernels)
        w_all = np.zeros((self.n, lmax))
        for a, w in enumerate(self.kernels):
            w_all[a, : len(w)] = w
        for lag in range(lmax):
            tt = t_idx + lag
            ok = tt < self.P
            a_idx = np.flatnonzero(w_all[:, lag] != 0)
            if not ok.any() or a_idx.size == 0:
                continue
            rows.append((a_idx[:, None] * self.P + tt[ok][None, :]).reshape(-1))
            cols.append((a_idx[:, None] * self.T + t_idx[ok][None, :]).reshape(-1))
            vals.append(np.repeat(w_all[a_idx, lag], int(ok.sum())))
        if not rows:
            k = sp.csr_matrix((self.n * self.P, self.n * self.T))
        else:
            k = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(self.n * self.P, self.n * self.T),
            )
        self.__dict__["_kernel_cache"] = k
        return k

    def carry_effect(self) -> np.ndarray:
        """Effective spend from the carry-in alone, shape (n, P) (money; cached)."""
        cached = self.__dict__.get("_carry_cache")
        if cached is not None:
            return cached.copy()
        out = np.zeros((self.n, self.P))
        npre = self.pre.shape[1]
        for a, w in enumerate(self.kernels):
            for t in range(min(self.P, len(w))):
                for lag in range(t + 1, len(w)):
                    j = t - lag  # period before the window, -1 = last one
                    if -j <= npre:
                        out[a, t] += w[lag] * self.pre[a, npre + j]
        self.__dict__["_carry_cache"] = out
        return out.copy()

    def effective_spend(self, spend: Any) -> np.ndarray:
        """Effective spend ``e`` (n x P, money) of a plan ``spend`` (n x T or T x n frame)."""
        x = self._as_matrix(spend)
        k = self.kernel_matrix()
        return (k @ x.reshape(-1)).reshape(self.n, self.P) + self.carry_effect()

    def _as_matrix(self, spend: Any) -> np.ndarray:
        if isinstance(spend, pd.DataFrame):
            spend = spend.reindex(index=self.periods, columns=self.index).to_numpy(float).T
        x = np.asarray(spend, dtype=float)
        if x.shape != (self.n, self.T):
            raise InputError(
                f"spend must have shape (assets, weeks) = ({self.n}, {self.T}), got {x.shape}."
            )
        return x

    def _curve(self, i: int) -> Any:
        return self.response.get(self.index[i])

    def outcome_matrix(self, spend: Any) -> np.ndarray:
        """Expected outcome landing in each period, n x P (true curves, seasonality applied)."""
        e = self.effective_spend(spend)
        out = np.empty_like(e)
        mu = self.problem.expected_return.to_numpy(float)
        for i in range(self.n):
            c = self._curve(i)
            out[i] = mu[i] * e[i] if c is None else c.value(e[i])
        out += self.halo_coef[:, None] * e
        return out * self.seasonality

    def marginal_matrix(self, spend: Any) -> np.ndarray:
        """Marginal ROI of spend in each week, n x T: d (total outcome) / d x[a, t]."""
        e = self.effective_spend(spend)
        d = np.empty_like(e)
        mu = self.problem.expected_return.to_numpy(float)
        for i in range(self.n):
            c = self._curve(i)
            d[i] = mu[i] if c is None else c.derivative(e[i])
        d += self.halo_coef[:, None]
        g = (d * self.seasonality).reshape(-1)
        return (self.kernel_matrix().T @ g).reshape(self.n, self.T)

    def covariance_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(F, d)`` with ``Sigma = F F' + diag(d)`` per period, or None without covariance."""
        cov = getattr(self.problem, "covariance", None)
        if cov is None:
            return None
        if hasattr(cov, "factor_root"):
            return (np.asarray(cov.factor_root(self.index), dtype=float),
                    np.asarray(cov.specific(self.index), dtype=float))
        m = np.asarray(self.problem.covariance_matrix(), dtype=float)
        vals, vecs = np.linalg.eigh(0.5 * (m + m.T))
        keep = vals > 1e-12 * max(vals.max(), 1e-300)
        return vecs[:, keep] * np.sqrt(vals[keep]), np.zeros(self.n)

    def period_corr_root(self) -> np.ndarray:
        """Lower Cholesky factor ``G`` of ``R[t, s] = rho^|t - s|`` (T x T)."""
        rho = self.period_correlation
        if rho == 0.0:
            return np.eye(self.T)
        t = np.arange(self.T)
        r = rho ** np.abs(t[:, None] - t[None, :])
        return np.linalg.cholesky(r)

    def variance(self, spend: Any) -> float:
        """Variance of the window's outcome, ``sum_{t,s} rho^|t-s| x_t' Sigma x_s``."""
        fd = self.covariance_factors()
        if fd is None:
            return 0.0
        x = self._as_matrix(spend)
        f, d = fd
        g = self.period_corr_root()
        a = f.T @ x @ g
        b = np.sqrt(d)[:, None] * x @ g
        return float((a * a).sum() + (b * b).sum())

    def week_variance(self, spend: Any) -> np.ndarray:
        """Variance of each week's outcome shock, ``x_t' Sigma x_t`` (T,)."""
        fd = self.covariance_factors()
        if fd is None:
            return np.zeros(self.T)
        x = self._as_matrix(spend)
        f, d = fd
        a = f.T @ x
        return (a * a).sum(0) + (d[:, None] * x * x).sum(0)

    def total_outcome(self, spend: Any) -> float:
        """Expected outcome over the window and the tail (true curves)."""
        return float(self.outcome_matrix(spend).sum())

    def objective_value(self, spend: Any) -> float:
        """The program's objective in outcome units: outcome - delta / (2 B) * Var."""
        pen = 0.0
        if self.risk_aversion > 0:
            pen = self.risk_aversion / (2.0 * self.budget) * self.variance(spend)
        return self.total_outcome(spend) - pen

    def replace(self, **changes: Any) -> WindowProblem:
        """A new window problem with some constructor arguments changed."""
        unknown = set(changes) - set(self._args)
        if unknown:
            raise InputError(f"WindowProblem.replace got unknown arguments {sorted(unknown)}.")
        args = {**self._args, **changes}
        return WindowProblem(args.pop("problem"), args.pop("periods"), **args)

    def __repr__(self) -> str:
        return (f"WindowProblem(name={self.name!r}, assets={self.n}, weeks={self.T}, "
                f"horizon={self.horizon}, budget={self.budget:,.6g}, "
                f"constraints={[c.name for c in self.constraints]})")
