"""Accuracy of the engine's answers (issue 12): nothing inaccurate is accepted silently.

- an answer a solver marks ``optimal_inaccurate`` is re-solved (the other solver, then a
  tighter Clarabel); if every answer stays inaccurate it is kept only when verification
  passes, its status says so, a note says so and :class:`InaccurateSolutionWarning` is raised;
- a custom constraint with money-sized helper variables is rescaled: the same answer as the
  built-in :class:`~portfolio_mkt.Turnover`, and its independent check gives the exact
  smallest violation;
- a plan with response curves and an outcome target near the maximum that the first Clarabel
  answer misses by ~1e-5 is rescued by the tighter retry.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import ConstraintViolationError, InaccurateSolutionWarning
from portfolio_mkt.optimization import SOLVER_SETTINGS, Program, verify
from portfolio_mkt.optimization import _solve as solve_module
from portfolio_mkt.response import Logarithmic

B = 2_000_000.0


def _qp(n: int = 12, seed: int = 0, budget: float = B) -> pm.Problem:
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(0.5, 3.0, n), index=ids)
    f = rng.normal(0, 0.3, (n, 3))
    cov = pd.DataFrame(f @ f.T + np.diag(rng.uniform(0.05, 0.2, n)), index=ids, columns=ids)
    return pm.Problem(mu, cov, budget=budget, risk_aversion=2.0,
                      constraints=[pm.GroupCap({"asset": ids[:3]}, 0.2, name="cap3")])


def _mark_inaccurate(monkeypatch, first_n: int | None):
    """Solver answers come back marked inaccurate (the first ``first_n``, or all)."""
    real = Program.solve_with
    calls = []

    def fake(self, solver, warm_start=True, settings=None):
        raw = real(self, solver, warm_start=warm_start, settings=settings)
        calls.append((solver, dict(settings or {})))
        if raw.status == cp.OPTIMAL and (first_n is None or len(calls) <= first_n):
            raw.status = cp.OPTIMAL_INACCURATE
        return raw

    monkeypatch.setattr(Program, "solve_with", fake)
    # the cvxpy chain (the direct Clarabel route's fallbacks are tested in test_route_solve)
    monkeypatch.setattr(Program, "direct_ok", property(lambda self: False))
    return calls


def test_an_inaccurate_answer_is_resolved_by_the_other_solver(monkeypatch):
    p = _qp()
    exact = pm.solve(p)
    calls = _mark_inaccurate(monkeypatch, first_n=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InaccurateSolutionWarning)
        a = pm.solve(p)
    assert [c[0] for c in calls] == ["OSQP", "CLARABEL"]
    assert a.status == "optimal" and a.solver == "CLARABEL" and not a.notes
    np.testing.assert_allclose(a.spend, exact.spend, rtol=1e-6, atol=1e-6 * B)


def test_an_inaccurate_answer_gets_the_tighter_clarabel_retry(monkeypatch):
    p = _qp()
    calls = _mark_inaccurate(monkeypatch, first_n=2)
    a = pm.solve(p)
    assert [c[0] for c in calls] == ["OSQP", "CLARABEL", "CLARABEL"]
    assert calls[-1][1]["tol_feas"] == 1e-12  # the tighter settings
    assert a.status == "optimal" and not a.notes


def test_a_verified_inaccurate_answer_is_kept_marked_and_warned(monkeypatch):
    p = _qp()
    exact = pm.solve(p)
    _mark_inaccurate(monkeypatch, first_n=None)
    with pytest.warns(InaccurateSolutionWarning, match="inaccurate"):
        a = pm.solve(p)
    assert a.status == "optimal_inaccurate"
    assert any("inaccurate" in n for n in a.notes) and "inaccurate" in a.summary()
    assert (a.constraints["violation"] <= a.constraints["tolerance"]).all()
    np.testing.assert_allclose(a.spend, exact.spend, rtol=1e-5, atol=1e-5 * B)


def test_an_inaccurate_answer_that_breaks_a_constraint_is_refused(monkeypatch):
    p = _qp()
    real = Program.solve_with

    def bad(self, solver, warm_start=True, settings=None):
        raw = real(self, solver, warm_start=warm_start, settings=settings)
        if raw.w is not None:
            raw.status = cp.OPTIMAL_INACCURATE
            raw.w = raw.w * 1.01  # 1% over the budget that must be spent exactly
        return raw

    monkeypatch.setattr(Program, "solve_with", bad)
    monkeypatch.setattr(Program, "direct_ok", property(lambda self: False))
    with pytest.raises(ConstraintViolationError, match="'budget' by"):
        pm.solve(p)


# ------------------------------------------------------------------ custom helper variables
def _turnover_problem(custom: bool, n: int = 30, budget: float = 5e6) -> pm.Problem:
    rng = np.random.default_rng(0)
    ids = [f"a{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(0.5, 3, n), index=ids)
    f = rng.normal(0, 0.3, (n, 3))
    cov = pd.DataFrame(f @ f.T + np.diag(rng.uniform(0.05, 0.2, n)), index=ids, columns=ids)
    cur = pd.Series(budget / n, index=ids)

    def moved(x, p):
        t = cp.Variable(n, nonneg=True)  # money-sized helper: |x - current| per asset
        c = cur.to_numpy()
        return [x - c <= t, c - x <= t, cp.sum(t) <= 0.4 * budget]

    con = (pm.CustomConstraint(moved, name="turn") if custom
           else pm.Turnover(0.4, name="turn"))
    return pm.Problem(mu, cov, budget=budget, risk_aversion=2.0, current=cur, constraints=[con])


def test_custom_constraint_with_money_sized_helpers_matches_turnover():
    with warnings.catch_warnings():
        warnings.simplefilter("error", InaccurateSolutionWarning)
        custom = pm.solve(_turnover_problem(custom=True))
        builtin = pm.solve(_turnover_problem(custom=False))
    assert custom.status == "optimal"
    np.testing.assert_allclose(custom.spend, builtin.spend, rtol=1e-6, atol=1e-6 * 5e6)
    assert custom.utility == pytest.approx(builtin.utility, rel=1e-8)
    assert np.abs(custom.change).sum() == pytest.approx(0.4 * 5e6, rel=1e-7)


def test_custom_helper_constraint_check_is_exact():
    """Two assets moved by 3e5 each against a limit of 4e5: the smallest largest-row
    violation any helper values allow is (6e5 - 4e5) / 3 (three rows share it)."""
    ids = ["a", "b"]
    cur = np.array([5e5, 5e5])

    def moved(x, p):
        t = cp.Variable(2, nonneg=True)
        return [x - cur <= t, cur - x <= t, cp.sum(t) <= 4e5]

    p = pm.Problem(pd.Series([1.0, 2.0], index=ids), budget=1e6,
                   constraints=[pm.CustomConstraint(moved, name="turn")])
    viol, tol = verify(p, np.array([8e5, 2e5]))["turn"]
    assert viol == pytest.approx(2e5 / 3, rel=1e-6)
    assert verify(p, np.array([6e5, 4e5]))["turn"][0] <= tol
    with pytest.raises(pm.exceptions.ConstraintError, match="helper variables"):
        p.constraints[0].violation(np.array([6e5, 4e5]), p)


# ------------------------------------------------------------------ curves + targets
def _curves_problem(frac: float, seed: int = 0, n: int = 8) -> pm.Problem:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"a{i}" for i in range(n)])
    k = rng.uniform(0.05, 0.5, n) * B / n * 4
    roi = rng.uniform(1.5, 4.0, n)
    curves = {a: Logarithmic(r * kk, kk) for a, r, kk in zip(idx, roi, k, strict=True)}
    f = rng.normal(0, 0.2, (n, 2))
    cov = pd.DataFrame(f @ f.T + np.diag(rng.uniform(0.01, 0.05, n)), index=idx, columns=idx)
    mu = pd.Series(1.0, index=idx)
    top = pm.solve(pm.Problem(mu, cov, budget=B, response=curves, objective="max_return"))
    return pm.Problem(mu, cov, budget=B, response=curves, objective="min_risk",
                      min_outcome=frac * top.expected_outcome)


def _loosen(monkeypatch) -> None:
    """The first Clarabel (and SCS) answers are loose enough to miss the outcome target."""
    loose = {"tol_gap_abs": 1e-3, "tol_gap_rel": 1e-3, "tol_feas": 1e-3, "tol_ktratio": 1e-3,
             "max_iter": 500}
    monkeypatch.setitem(SOLVER_SETTINGS, "CLARABEL", loose)
    monkeypatch.setitem(SOLVER_SETTINGS, "SCS", {"eps_abs": 1e-3, "eps_rel": 1e-3})


@pytest.mark.parametrize("frac", [0.9999, 0.999999])
def test_curves_with_an_outcome_target_near_the_maximum_are_rescued_by_the_retry(
        monkeypatch, frac):
    p = _curves_problem(frac)  # the target from an accurate maximum
    _loosen(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        a = pm.solve(p)
    # the loose first answers missed; the tighter Clarabel retry made the plan verifiable
    assert [x["solver"] for x in a.attempts] == ["CLARABEL", "SCS", "CLARABEL"]
    assert a.solver == "CLARABEL" and a.status in ("optimal", "optimal_inaccurate")
    viol, tol = a.constraints.loc["min_outcome", ["violation", "tolerance"]]
    assert viol <= tol
    got = p.return_term.outcome(a.spend.to_numpy()).sum()
    assert got >= p.min_outcome * (1 - 1e-6)
    # and without the retry the same plan fails verification: the retry is what rescued it
    monkeypatch.setattr(solve_module, "_TIGHT_CLARABEL", dict(SOLVER_SETTINGS["CLARABEL"]))
    with pytest.raises(ConstraintViolationError, match="min_outcome"):
        pm.solve(p)
