"""Compile a :class:`~portfolio_mkt.Problem` into one cvxpy program (compile once, re-solve)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import cvxpy as cp
import numpy as np

from ..constraints import BuildContext, Constraint
from ..problem import Problem
from ._raw import RawResult, silence_highs_banner

__all__ = ["Program", "compile_problem", "SOLVER_SETTINGS", "RawResult", "installed_solvers",
           "silence_highs_banner"]

def _osqp_polish_key() -> str:
    """OSQP 1.x renamed ``polish`` to ``polishing``."""
    try:
        import osqp

        major = int(str(getattr(osqp, "__version__", "1")).split(".")[0])
    except (ImportError, ValueError):  # pragma: no cover
        major = 1
    return "polishing" if major >= 1 else "polish"


#: Solver settings tight enough for the library's checks (1e-6 relative agreement).
SOLVER_SETTINGS: dict[str, dict[str, Any]] = {
    "OSQP": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iter": 200_000, _osqp_polish_key(): True},
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10,
                 "tol_ktratio": 1e-8, "max_iter": 500},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},
    # presolve costs more than it saves on these small, well-formed programs: an LP of 1,000
    # assets 15 ms with it, 1.2 ms without (one simplex iteration either way); a dense QP of
    # 100 assets 7.2 ms -> 2.3 ms; the answer is the same (and is verified)
    "HIGHS": {"presolve": "off"},
}


class _RiskAversion:
    """``program.risk_aversion.value = delta`` re-weights the compiled utility objective."""

    def __init__(self, program: Program) -> None:
        self._program = program

    @property
    def value(self) -> float:
        """The risk aversion the objective is weighted for."""
        return self._program._delta

    @value.setter
    def value(self, delta: float) -> None:
        self._program.set_risk_aversion(delta)


class Program:
    """A compiled allocation program.

    Attributes
    ----------
    problem : Problem
        The problem compiled.
    w : cvxpy.Variable
        Shares of the budget.
    risk_aversion : object with ``value``
        Setting ``risk_aversion.value`` re-weights the utility objective (see
        :meth:`set_risk_aversion`); no recompilation.
    target_variance, target_outcome : cvxpy.Parameter or None
        Parameters of the targets (DPP), re-set between solves.
    problem_cvx : cvxpy.Problem
        The compiled problem.
    rows : list of Row
        The named constraints' cvxpy rows (for duals).
    is_qp : bool
        True when OSQP can solve it (linear returns, no risk target).
    """

    #: attributes of the cvxpy program, built on first use (:meth:`_build`): a solve on the
    #: direct route never needs them
    _LAZY = frozenset({"w", "outcome_expr", "ctx", "variance", "target_variance",
                       "target_outcome", "_var_weight", "slack_weights", "rows", "long_only",
                       "problem_cvx"})

    def __init__(self, problem: Problem, relax: bool = False) -> None:
        self.problem = problem
        self.relax = relax
        self.budget = problem.budget
        term = problem.return_term
        self.term = term
        self._built = False
        #: each named constraint's linear rows, for the constraints compiled from them alone
        #: (the direct route, :class:`~portfolio_mkt.optimization._direct.DirectQP`, reads them)
        self.linear_rows: dict[str, Any] = {}
        for c in problem.constraints:
            if type(c).build is Constraint.build and c.kind != "custom":
                rows = c.linear_rows(problem)
                if rows is not None:
                    self.linear_rows[c.name] = rows
        has_variance = bool(problem.risk_model.present)
        self.has_risk_target = problem.max_risk is not None and has_variance
        self.has_outcome_target = problem.min_outcome is not None
        self._max_risk = float(problem.max_risk) if self.has_risk_target else 0.0
        self._min_outcome = float(problem.min_outcome) if self.has_outcome_target else 0.0
        self._mu: np.ndarray | None = None
        self.ret_scale, self.var_scale = self._scales()
        # utility = ret - delta/2 var enters as c * utility with c chosen so that neither
        # weight is huge (delta = 1e50 or a covariance x 1e50 stay solvable: the answer tends to
        # the minimum-risk plan); c is what duals are divided by
        # (the return weight is a constant fixed at compile time: a Parameter times the
        # expected-return Parameter would not be DPP; re-set risk aversions move the variance
        # weight only)
        rho0 = problem.risk_aversion / 2.0 / self.var_scale * self.ret_scale
        self.obj_scale = self.ret_scale if rho0 <= 1.0 else self.ret_scale / rho0
        self.risk_aversion = _RiskAversion(self)
        self._delta = float(problem.risk_aversion)
        if relax or problem.objective == "min_risk":
            self.sense = "min"
        else:
            self.sense = "max"
        self.is_qp = bool(term.linear and not self.has_risk_target)
        self.objective_kind = ("slack" if relax else problem.objective
                               if problem.objective != "utility" or has_variance
                               else "max_return")
        self._compiled = False
        self._direct: Any = None
        self._direct_reason: str | None = None

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not set yet: the cvxpy program's, built on first use
        if name in Program._LAZY and not self.__dict__.get("_built", True):
            self._build()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build(self) -> None:
        """Build the cvxpy program (its Parameters valued for the program's current state)."""
        problem, relax = self.problem, self.relax
        self._built = True
        n = problem.n_assets
        self.w = cp.Variable(n, name="w")
        term = self.term
        if self._mu is not None:
            term.parameter.value = self._mu
        outcome, aux = term.build(self.w, self.budget)
        self.outcome_expr = outcome
        ctx = BuildContext(problem=problem, w=self.w, budget=self.budget, outcome=outcome,
                           relax=relax)
        self.ctx = ctx
        budget_sense = "eq" if problem.budget_mode == "exact" else "le"
        ctx.add("budget", cp.sum(self.w), budget_sense, 1.0)
        long_only = self.w >= 0
        for c in problem.constraints:
            rows = self.linear_rows.get(c.name)
            if rows is not None:
                ctx.add_rows(rows)
            else:
                c.build(ctx)
        ret = cp.sum(outcome)
        self.variance = problem.risk_model.expression(self.w)
        self.target_variance = None
        self.target_outcome = None
        if self.has_risk_target:
            self.target_variance = cp.Parameter(nonneg=True, name="target_variance")
            self.target_variance.value = self._variance_target(self._max_risk)
            ctx.add("max_risk", self.variance, "le", self.target_variance)
        if self.has_outcome_target:
            self.target_outcome = cp.Parameter(name="target_outcome")
            self.target_outcome.value = self._min_outcome / self.budget
            ctx.add("min_outcome", ret, "ge", self.target_outcome)
        self._var_weight = cp.Parameter(nonneg=True, name="variance_weight")
        self._var_weight.value = self.obj_scale * self._delta / 2.0
        #: per named constraint, the weight of its slack in the relaxation's objective (0
        #: removes the constraint, see diagnose_infeasibility)
        self.slack_weights = {}
        if relax:
            terms = []
            for owner, ss in ctx.slacks.items():
                wgt = cp.Parameter(nonneg=True, name=f"weight[{owner}]")
                wgt.value = 1.0
                self.slack_weights[owner] = wgt
                terms.append(wgt * cp.sum(cp.hstack([cp.sum(s) for s in ss])))
            objective: cp.Minimize | cp.Maximize = cp.Minimize(cp.sum(cp.hstack(terms)))
        elif problem.objective == "min_risk":
            objective = cp.Minimize(self.var_scale * self.variance)
        elif problem.objective == "max_return" or self.variance is None:
            objective = cp.Maximize(self.ret_scale * ret)
        else:
            objective = cp.Maximize(self.obj_scale * ret - self._var_weight * self.variance)
        self.rows = ctx.rows
        self.long_only = long_only
        self.problem_cvx = cp.Problem(objective, [r.constraint for r in self.rows] + [long_only]
                                      + list(aux))

    def _scales(self) -> tuple[float, float]:
        """Objective scaling so that solver tolerances mean the same in any outcome unit."""
        p = self.problem
        x_ref = np.full(p.n_assets, p.budget / p.n_assets)
        # the marginal at an even split, or the average return there when larger: a curve
        # saturated at the even split has a marginal near 0 (1e-17), and scaling by it made
        # the objective 1e16 and Clarabel call the plan unbounded
        with np.errstate(all="ignore"):
            average = np.abs(np.asarray(self.term.outcome(x_ref), dtype=float)) / x_ref
        m = max(float(np.abs(self.term.marginal(x_ref)).max()),
                float(np.nan_to_num(average, nan=0.0, posinf=0.0).max()))
        ret_scale = 1.0 / m if m > 0 else 1.0
        dmax = float(np.max(p.covariance_diagonal()))
        var_scale = 1.0 / dmax if dmax > 0 else 1.0
        return ret_scale, var_scale

    # ------------------------------------------------------------------ updates
    #: Problem arguments the compiled program holds as Parameter values: a problem that
    #: differs from the compiled one only in these is re-solved without recompiling.
    PARAMETRIC = frozenset({"budget", "risk_aversion", "max_risk", "min_outcome",
                            "expected_return", "name"})

    def can_represent(self, problem: Problem) -> bool:
        """Whether re-valuing this program's Parameters makes it ``problem``'s program.

        True when ``problem`` differs from the compiled problem only in :attr:`PARAMETRIC`
        arguments, and the compiled program has a Parameter for each change: money amounts
        for a new budget (linear returns, no custom constraints, whose money expressions are
        fixed at compile time), the risk or outcome target when one was compiled, expected
        returns when they are the whole return term (no covariance, no halo).
        """
        if self.relax or problem is self.problem:
            return problem is self.problem
        base = self.problem
        changed = problem.differences(base)
        if not changed <= self.PARAMETRIC:
            return False
        if "budget" in changed and not self._money_revaluable():
            return False
        if "max_risk" in changed and (not self.has_risk_target or problem.max_risk is None):
            return False
        if "min_outcome" in changed and (not self.has_outcome_target
                                         or problem.min_outcome is None):
            return False
        if "expected_return" in changed and (
                not self.term.linear or base.covariance is not None or base.halo is not None):
            return False
        return True

    def update(self, problem: Problem) -> None:
        """Re-value every Parameter for ``problem`` (see :meth:`can_represent`).

        Raises
        ------
        ValueError
            When the compiled program cannot represent ``problem``; compile it instead.
        """
        if not self.can_represent(problem):
            changed = sorted(problem.differences(self.problem))
            raise ValueError(f"the compiled program cannot represent a change of {changed}; "
                             "compile the new problem instead")
        if problem is self.problem:
            return
        if problem.budget != self.budget:
            self.set_budget(problem.budget)
        self.set_risk_aversion(problem.risk_aversion)
        if self.has_risk_target:
            self.set_max_risk(problem.max_risk)
        if self.has_outcome_target:
            self.set_min_outcome(problem.min_outcome)
        if self.term.linear and hasattr(self.term, "parameter"):
            self._mu = problem.expected_return.to_numpy(float)
            if self._built:
                self.term.parameter.value = self._mu

    def _money_revaluable(self) -> bool:
        return bool(self.term.linear
                    and not any(c.kind == "custom" for c in self.problem.constraints))

    def set_budget(self, budget: float) -> None:
        """Re-value every money Parameter for a new budget (no recompilation).

        Only valid when the return term is linear and there are no custom constraints (whose
        money expression was fixed at compile time); otherwise rebuild the problem.
        """
        if not self._money_revaluable():
            raise ValueError("set_budget needs a linear problem without custom constraints; "
                             "use Problem.replace(budget=...) instead")
        self.budget = budget
        if self._built:
            for p, money in self.ctx.money_params:
                p.value = money / budget
        if self.has_risk_target:
            self.set_max_risk(self._max_risk)
        if self.has_outcome_target:
            self.set_min_outcome(self._min_outcome)

    def set_max_risk(self, max_risk: float) -> None:
        """Re-value the compiled risk limit (standard deviation of the outcome, in money)."""
        if not self.has_risk_target:
            raise ValueError("the program was compiled without max_risk")
        self._max_risk = float(max_risk)
        if self._built:
            self.target_variance.value = self._variance_target(self._max_risk)

    def _variance_target(self, max_risk: float) -> float:
        """``(max_risk / budget)^2`` in shares, at most twice the largest variance of any plan.

        No plan (``w >= 0``, ``sum w <= 1``) has a variance above the covariance's largest
        diagonal entry (a convex function is largest at a vertex), so a limit above it cannot
        bind; capping it keeps a huge ``max_risk`` (1e156) from overflowing the square.
        """
        ceiling = 2.0 * float(np.max(self.problem.covariance_diagonal(), initial=0.0))
        ratio = max_risk / self.budget
        if ceiling > 0 and ratio > np.sqrt(ceiling):
            return ceiling
        return ratio * ratio

    def set_min_outcome(self, min_outcome: float) -> None:
        """Re-value the compiled outcome target (expected outcome, in outcome units)."""
        if not self.has_outcome_target:
            raise ValueError("the program was compiled without min_outcome")
        self._min_outcome = float(min_outcome)
        if self._built:
            self.target_outcome.value = self._min_outcome / self.budget

    def set_risk_aversion(self, delta: float) -> None:
        """Re-weight the utility objective for risk aversion ``delta`` (no recompilation)."""
        self._delta = float(delta)
        if self._built:
            self._var_weight.value = self.obj_scale * self._delta / 2.0

    @property
    def is_lp(self) -> bool:
        """Whether the program is a linear program at its current Parameter values.

        Linear returns, no risk target and a linear objective: maximum return, no covariance,
        the slack of the infeasibility diagnosis, or utility with ``risk_aversion == 0``.
        """
        if not self.is_qp:
            return False
        if self.objective_kind in ("max_return", "slack"):
            return True
        return self.objective_kind == "utility" and self._delta == 0.0

    def is_dpp(self) -> bool:
        """Whether the compiled problem follows cvxpy's DPP rules (compile once)."""
        return bool(self.problem_cvx.is_dcp(dpp=True))

    # ------------------------------------------------------------------ solve
    @property
    def direct_reason(self) -> str:
        """Why the direct route does not apply ("" when it does)."""
        if self._direct_reason is None:
            from ._direct import direct_eligible

            ok, why = direct_eligible(self)
            self._direct_reason = "" if ok else why
        return self._direct_reason

    @property
    def direct_ok(self) -> bool:
        """Whether Clarabel can be called directly on this program's matrices."""
        return self.direct_reason == ""

    def solve_direct(self, problem: Problem | None = None,
                     settings: dict[str, Any] | None = None,
                     solver: str = "CLARABEL") -> RawResult:
        """Solve with Clarabel's own API on the program's matrices (no cvxpy canonicalisation).

        ``solver`` is "CLARABEL" (interior point) or "HIGHS" (simplex for a linear objective,
        active set for a QP). ``problem`` (default: the compiled one) is a problem the
        program represents (see
        :meth:`can_represent`); its values (budget, expected returns, targets, risk
        aversion) are read at this call. Never raises for solver trouble.
        """
        if not self.direct_ok:
            raise ValueError(f"the direct route does not apply: {self.direct_reason}")
        if self._direct is None:
            from ._direct import DirectQP

            self._direct = DirectQP(self)
        target = self.problem if problem is None else problem
        opts = dict(SOLVER_SETTINGS.get(solver, {}))
        opts.update(settings or {})
        if solver == "HIGHS":
            from ._direct import solve_highs

            return solve_highs(self._direct, target, opts)
        return self._direct.solve(target, opts)

    def solve_with(self, solver: str, warm_start: bool = True,
                   settings: dict[str, Any] | None = None) -> RawResult:
        """Solve once with ``solver``; never raises for solver trouble (status says it)."""
        if solver == "HIGHS":
            silence_highs_banner()
        opts = dict(SOLVER_SETTINGS.get(solver, {}))
        opts.update(settings or {})
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.problem_cvx.solve(solver=solver, warm_start=warm_start, **opts)
            status = self.problem_cvx.status
            message = ""
        except cp.error.SolverError as exc:
            status = "solver_error"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        elapsed = time.perf_counter() - t0
        w = None if self.w.value is None else np.asarray(self.w.value, dtype=float).copy()
        raw = RawResult(status=status, solver=solver, w=w,
                        objective=self.problem_cvx.value if w is not None else None,
                        solve_time=elapsed, message=message)
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and w is not None:
            for row in self.rows:
                dv = row.constraint.dual_value
                if dv is None:
                    continue
                raw.duals.setdefault(row.owner, []).append((row.sense, np.atleast_1d(
                    np.asarray(dv, dtype=float))))
            if self.long_only.dual_value is not None:
                raw.long_only_dual = np.asarray(self.long_only.dual_value, dtype=float).copy()
        return raw


_INSTALLED: list[str] = []


def installed_solvers() -> list[str]:
    """The solvers cvxpy can call here (upper case names).

    Asked once per process: cvxpy probes every solver's import on each call (~0.1 s).
    """
    if not _INSTALLED:
        _INSTALLED.extend(cp.installed_solvers())
    return list(_INSTALLED)


def compile_problem(problem: Problem, relax: bool = False) -> Program:
    """Compile ``problem`` into a :class:`Program` (one cvxpy problem with Parameters).

    Parameters
    ----------
    problem : Problem
        The problem to compile.
    relax : bool, default False
        Put a non-negative slack on every named constraint and minimise the total slack (the
        infeasibility diagnosis).

    Returns
    -------
    Program
    """
    return Program(problem, relax=relax)
