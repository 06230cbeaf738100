"""Decisions in whole pieces: minimum tickets, rate cards, how many creators, exploration.

Creators are not hired by the dollar. :func:`solve_integer` solves a
:class:`~portfolio_mkt.Problem` with whole-piece rules — :class:`MinimumTicket`,
:class:`RateCard`, :class:`Cardinality`, :class:`AtMostOne`, :class:`Implies`,
:class:`MinimumSpend` — to a proven optimality gap, and reports the continuous plan beside the
whole one so the cost of whole pieces is visible. :func:`plan_exploration` reserves a share of
budget for tests of assets with little history.
"""

from ._constraints import (
    AtMostOne,
    Cardinality,
    Implies,
    MinimumSpend,
    MinimumTicket,
    RateCard,
    WholePiece,
    compile_rules,
)
from ._explore import ExplorationPlan, plan_exploration, readable_test_spend
from ._simulate import simulate_exploration
from ._solve import (
    DEFAULT_GAP,
    IntegerAllocation,
    diagnose_whole_pieces,
    solve_integer,
    verify_integer,
)
from ._spec import DealsSpec, ExplorationSpec, deals_options, deals_rules, exploration_inputs

__all__ = [
    "DealsSpec",
    "ExplorationSpec",
    "deals_options",
    "deals_rules",
    "exploration_inputs",
    "WholePiece",
    "MinimumTicket",
    "RateCard",
    "Cardinality",
    "AtMostOne",
    "Implies",
    "MinimumSpend",
    "compile_rules",
    "IntegerAllocation",
    "solve_integer",
    "verify_integer",
    "diagnose_whole_pieces",
    "DEFAULT_GAP",
    "ExplorationPlan",
    "plan_exploration",
    "readable_test_spend",
    "simulate_exploration",
]
