"""``load_plan``: read, validate and load a plan file."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..exceptions import PlanFileError
from ._build import Plan
from ._builtin import resolve_plan_path
from ._messages import _validation_error
from ._read import _parse, _Source
from ._schema import PlanSpec


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file (YAML or TOML) or a built-in plan.

    Parameters
    ----------
    path : str or Path
        Plan file (``.yaml``, ``.yml`` or ``.toml``) or a built-in plan name.

    Returns
    -------
    Plan
        The validated plan with its data files loaded.

    Raises
    ------
    PlanFileError
        On any problem, naming the file, the field and the line and saying what was
        expected. Nothing is solved on an invalid plan.

    Examples
    --------
    >>> plan = load_plan("quarterly_2m")
    >>> plan.spec.budget_amount
    2000000.0
    """
    file = resolve_plan_path(path)
    display = str(path) if Path(path).is_file() else f"{file.name} (built-in plan '{path}')"
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err = PlanFileError(f"{display}: cannot read the plan file ({exc}).")
        err.file, err.field, err.line, err.errors = display, "", None, []  # type: ignore[attr-defined]
        raise err from None
    fmt = "toml" if file.suffix.lower() == ".toml" else "yaml"
    raw, line_map = _parse(text, fmt, display)
    src = _Source(display, text, fmt, line_map)
    if not isinstance(raw, dict):
        raise src.error((), f"expected a mapping of plan fields, got {type(raw).__name__}")
    try:
        spec = PlanSpec.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(src, exc, raw) from None
    plan = Plan(spec=spec, path=file, base_dir=file.parent, source=src)
    plan._load_data()
    return plan


