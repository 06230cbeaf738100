"""Scenario loops re-solve one compiled program on the direct route (issue 13).

The scenario table compiles the base program once and re-solves every scenario it can
represent through it: the answers equal fresh solves of each scenario's own problem, and the
re-solves take the direct route (no cvxpy program is built at all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import portfolio_mkt as pm
from portfolio_mkt.optimization import Program
from portfolio_mkt.whatif import _run as run_module
from portfolio_mkt.whatif._scenario import apply_scenario

IDS = [f"a{i}" for i in range(10)]


def _base() -> pm.Problem:
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.1, (50, 10)) + rng.normal(0, 0.05, (50, 1))
    cov = pd.DataFrame(np.cov(r, rowvar=False), index=IDS, columns=IDS)
    mu = pd.Series(rng.uniform(0.8, 3.0, 10), index=IDS)
    return pm.Problem(mu, cov, budget=1e6, risk_aversion=4.0, constraints=[
        pm.Bounds(upper=0.3, unit="share", name="cap"), pm.Lock({"a2": 5e4}, name="deal")])


def test_scenarios_reuse_one_program_on_the_direct_route(monkeypatch):
    base = _base()
    compiled = []
    built = []
    real_compile = run_module.compile_problem
    real_build = Program._build

    def counting_compile(problem, relax=False):
        compiled.append(problem)
        return real_compile(problem, relax)

    def counting_build(self):
        built.append(self)
        return real_build(self)

    monkeypatch.setattr(run_module, "compile_problem", counting_compile)
    monkeypatch.setattr(Program, "_build", counting_build)
    scen = [pm.Scenario(f"s{i}", budget_change=0.05 * (i - 3)) for i in range(8)]
    scen.append(pm.Scenario("averse", risk_aversion=9.0))
    res = pm.scenarios(base, scen, backend="sequential", n_jobs=1)  # one chunk
    assert len(compiled) == 1  # the base program, compiled once for every scenario
    assert not built  # every solve took the direct route: no cvxpy program was built
    assert set(res.summary.loc[[s.name for s in scen], "method"]) == {"parameter"}
    for s in scen:
        fresh = pm.solve(apply_scenario(base, s))
        np.testing.assert_allclose(res.spend[s.name], fresh.spend, rtol=0,
                                   atol=1e-7 * fresh.problem.budget)
