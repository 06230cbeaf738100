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

The package is split by concept, each module importing only those below it:

- ``_read``: text to plain data, bounded (size, nesting, no anchors or aliases, no duplicate
  keys), with the line of every field;
- ``_schema``: the pydantic models (strict numbers and true/false);
- ``_messages``: validation errors and engine messages in plan-file words;
- ``_files``: data files inside the plan's folder, never echoed in errors;
- ``_tables``: asset table, current spend and covariance from the plan and its files;
- ``_checks``: names, filters and cheap feasibility checks before anything is solved;
- ``_build``: the one place where a plan becomes estimation calls and a ``Problem``;
- ``_builtin`` and ``_load``: built-in plans and :func:`load_plan`.
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
