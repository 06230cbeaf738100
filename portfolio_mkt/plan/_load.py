"""``load_plan``: read, validate and load a plan file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._build import Plan
from ._builtin import resolve_plan_path
from ._messages import _validation_error
from ._read import _looks_like, _Source, parse_plan_text, plan_error, read_plan_text
from ._schema import PlanSpec


def load_plan(path: str | Path, *, allow_outside: bool = False) -> Plan:
    """Read and validate a plan file (YAML or TOML) or a built-in plan.

    Parameters
    ----------
    path : str or Path
        Plan file (``.yaml``, ``.yml`` or ``.toml``) or a built-in plan name.
    allow_outside : bool, default False
        Let the plan name data files outside its own folder (the command line's
        ``--allow-outside-paths``). By default a data path that resolves outside the plan's
        folder (``../``, an absolute path or a symbolic link) is refused.

    Returns
    -------
    Plan
        The validated plan with its data files loaded.

    Raises
    ------
    PlanFileError
        On any problem, naming the file, the field and the line and saying what was
        expected. Nothing is solved on an invalid plan. The file is read with bounds: at most
        256 KiB, nesting at most 20 levels, no YAML anchors or aliases, no duplicate keys.

    Examples
    --------
    >>> plan = load_plan("quarterly_2m")
    >>> plan.spec.budget_amount
    2000000.0
    """
    file = resolve_plan_path(path)
    display = str(path) if Path(path).is_file() else f"{file.name} (built-in plan '{path}')"
    text = read_plan_text(file, display)
    fmt = "toml" if file.suffix.lower() == ".toml" else "yaml"
    raw, line_map = parse_plan_text(text, fmt, display)
    src = _Source(display, text, fmt, line_map)
    if not isinstance(raw, dict):
        raise plan_error(display, _not_a_mapping(raw, text, fmt), 1 if raw is not None else None)
    try:
        spec = PlanSpec.model_validate(raw)
        _validate_sections(raw)
    except ValidationError as exc:
        raise _validation_error(src, exc, raw) from None
    plan = Plan(spec=spec, path=file, base_dir=file.parent, source=src,
                allow_outside=allow_outside)
    plan._load_data()
    return plan


def _not_a_mapping(raw: object, text: str, fmt: str) -> str:
    """Why a file that parsed is still not a plan, in words."""
    if raw is None:
        return ("the plan file is empty (or holds only comments); a plan needs at least "
                "'name', 'budget' and 'assets' (or 'history'). See docs/plan_files.md.")
    if fmt == "yaml" and isinstance(raw, str) and _looks_like(text, "toml"):
        return ("this looks like TOML ('key = value') in a YAML file; name the file .toml, "
                "or write 'key: value'.")
    kind = {str: "a line of text", list: "a list", int: "a number", float: "a number",
            bool: "true/false"}.get(type(raw), "a single value")
    return (f"expected a mapping of plan fields ('name: ...', 'budget: ...' on separate "
            f"lines), but the file holds {kind}.")


def _validate_sections(raw: dict[str, Any]) -> None:
    """Validate the ``window:``, ``deals:`` and ``exploration:`` sections by their own models.

    The models live with their capabilities (imported here only when a section is present, so
    plans without them load no solver); errors carry the section's field path, so the plan's
    message names the line.
    """
    fields: dict[str, Any] = {}
    if raw.get("window") is not None:
        from ..window import WindowSpec

        fields["window"] = (WindowSpec, ...)
    if raw.get("deals") is not None:
        from ..integer import DealsSpec

        fields["deals"] = (DealsSpec, ...)
    if raw.get("exploration") is not None:
        from ..integer import ExplorationSpec

        fields["exploration"] = (ExplorationSpec, ...)
    if fields:
        from pydantic import ConfigDict, create_model

        model = create_model("PlanSections", __config__=ConfigDict(extra="ignore"), **fields)
        model.model_validate({k: raw[k] for k in fields})
