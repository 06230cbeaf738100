"""What-if scenarios and the exact price of each strategy constraint.

:func:`scenarios` re-solves a problem under changed assumptions -- budget up or down, cost
shocks on assets or groups, assets or channels removed, another risk tolerance -- and tabulates
expected outcome, risk and spend change per asset against the base plan. A scenario that cannot
be solved (for example removing a channel that holds a committed creator) keeps its status and
message; it does not sink the table.

:func:`constraint_prices` re-solves the problem without each named strategy constraint and
reports what the constraint costs in expected outcome and in risk, next to its dual value
(the marginal price for a small change of its amount).

Scenarios that only change numbers the compiled program holds as cvxpy Parameters (budget, risk
aversion, a risk or outcome target already present, expected returns when there is no risk
term and no response curve) re-use one compiled program with warm starts; others are rebuilt
with :meth:`Problem.replace`.
"""

import sys

from ._prices import PRICE_COLUMNS, constraint_prices
from ._results import SUMMARY_COLUMNS, ScenarioResults, reallocated
from ._run import scenarios
from ._scenario import REMOVE_NAME, Scenario, apply_scenario, cost_factors

__all__ = ["Scenario", "ScenarioResults", "scenarios", "constraint_prices", "cost_factors",
           "apply_scenario", "REMOVE_NAME", "SUMMARY_COLUMNS", "PRICE_COLUMNS", "reallocated"]

# Backwards-compatible module path "portfolio_mkt.scenarios" for callers that still import it
# (report/_analysis.py): an alias registered once this package is loaded, never a module of its
# own (which would rebind pm.scenarios). To be removed when they import portfolio_mkt.whatif.
sys.modules.setdefault("portfolio_mkt.scenarios", sys.modules[__name__])
