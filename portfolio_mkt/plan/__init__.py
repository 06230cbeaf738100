"""Plan files: a budget plan in YAML or TOML, validated, turned into a :class:`Problem`.

A plan file is what a planner edits instead of Python: the assets (inline or a CSV), their
expected returns (or a history file to estimate them from), the covariance (a CSV or built from
per-asset volatilities and correlations), the budget, the risk tolerance, the strategy
(locks, roster, floors, caps, shift limits, turnover), views, approval rules and scenarios.

Every error names the file, the field and the line, says what was expected, and is raised
before anything runs::

    plan = load_plan("quarterly.yaml")   # or a built-in name: load_plan("quarterly_2m")
    problem = plan.to_problem()

The full schema is documented in ``docs/plan_files.md``.

The package is split by concept: :mod:`._read` turns text into plain data with line numbers,
:mod:`._schema` holds the pydantic models, :mod:`._messages` rewrites validation errors in
plan-file words, :mod:`._build` loads the data, calls estimation and builds the Problem,
:mod:`._builtin` lists the built-in plans and :mod:`._load` ties them together.
"""

from ._build import Plan
from ._builtin import builtin_plans, describe_plan, resolve_plan_path
from ._load import load_plan
from ._messages import in_plan_words
from ._schema import ApprovalSpec, PlanSpec, ScenarioSpec

__all__ = [
    "Plan",
    "PlanSpec",
    "load_plan",
    "builtin_plans",
    "resolve_plan_path",
    "describe_plan",
    "ScenarioSpec",
    "ApprovalSpec",
    "in_plan_words",
]
