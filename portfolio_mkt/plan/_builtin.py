"""The built-in plans shipped in ``portfolio_mkt/data``, and plan names to paths."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from ..exceptions import PlanFileError
from ._read import parse_plan_text, read_plan_text

# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def builtin_plans() -> dict[str, Path]:
    """The built-in plans shipped in ``portfolio_mkt/data``.

    Returns
    -------
    dict
        Plan name -> path of its plan file.
    """
    base = resources.files("portfolio_mkt") / "data"
    out: dict[str, Path] = {}
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.endswith((".yaml", ".yml", ".toml")) and not name.startswith("_"):
            out[name.rsplit(".", 1)[0]] = Path(str(entry))
    return out


def describe_plan(path: str | Path) -> str:
    """The ``description`` of a plan file, read without validating or loading its data.

    Parameters
    ----------
    path : str or Path
        A plan file.

    Returns
    -------
    str
        The description, or ``""``.
    """
    path = Path(path)
    fmt = "toml" if path.suffix.lower() == ".toml" else "yaml"
    try:  # the same bounded reader as load_plan: a hostile file gives "", quickly
        raw, _ = parse_plan_text(read_plan_text(path, str(path)), fmt, str(path))
    except PlanFileError:
        return ""
    return str(raw.get("description") or "") if isinstance(raw, dict) else ""


def resolve_plan_path(plan: str | Path) -> Path:
    """Path of a plan given as a file path or a built-in name.

    Parameters
    ----------
    plan : str or Path
        A path to a ``.yaml``/``.yml``/``.toml`` file, or a built-in plan name such as
        ``"quarterly_2m"``.

    Returns
    -------
    Path
        The plan file.

    Raises
    ------
    PlanFileError
        When neither a file nor a built-in plan has that name.
    """
    path = Path(plan)
    if path.is_file():
        return path
    builtins = builtin_plans()
    if str(plan) in builtins:
        return builtins[str(plan)]
    close = difflib.get_close_matches(str(plan), list(builtins), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    err = PlanFileError(
        f"{plan}: no such plan file and no built-in plan of that name.{hint} "
        f"Built-in plans: {', '.join(builtins)}."
    )
    err.file, err.field, err.line, err.errors = str(plan), "", None, []  # type: ignore[attr-defined]
    raise err


