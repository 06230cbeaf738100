"""Validation errors of pydantic rewritten in plan-file words, with lines."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..exceptions import PlanFileError
from . import _schema
from ._read import _field_name, _Source
from ._schema import Loc, PlanSpec


def _clean_loc(loc: Loc, raw: Any) -> Loc:
    """Drop the union tags pydantic inserts into an error location (``'float'``, ...)."""
    path: list[Any] = []
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and not _looks_like_tag(part) and not isinstance(node, list):
            path.append(part)  # a missing field
            node = None
    return tuple(path)


def _looks_like_tag(part: str) -> bool:
    return (
        part in {"float", "int", "str", "bool", "dict", "list", "none"}
        or bool(re.search(r"[\[\]]", part))
        or part[:1].isupper()
        or part.startswith(("function-", "constrained-"))
    )



def _allowed_fields(loc: Loc) -> list[str]:
    """The allowed field names of the model at ``loc`` (best effort)."""
    model: Any = PlanSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(part)
        if info is None:
            return []
        model = _model_in(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None



#: Most problems listed in one error (a file with thousands of bad rows says how many more).
MAX_SHOWN = 20


def _validation_error(src: _Source, exc: ValidationError, raw: Any) -> PlanFileError:
    found: list[tuple[str, Loc, str]] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]), raw)
        msg = _explain(err, loc)
        key = (_field_name(loc), msg)
        if key in seen:
            continue
        seen.add(key)
        found.append((key[0], loc, msg))
    # when a union failed on every branch, keep the most specific messages only
    pruned = _prune_union_noise(found)
    shown = pruned[:MAX_SHOWN]  # lines are looked up for the problems shown only
    items = [(name, src.line(loc), msg) for name, loc, msg in shown]
    items.sort(key=lambda it: (it[1] is None, it[1] or 0))
    lines = [
        f"{src.path}, line {line}: field '{name}': {msg}" if line else
        f"{src.path}: field '{name}': {msg}"
        for name, line, msg in items
    ]
    n = len(pruned)
    more = f"; the first {len(items)} are shown" if n > len(items) else ""
    head = f"invalid plan file {src.path} ({n} problem{'s' if n > 1 else ''}{more}):"
    err = PlanFileError(head + "\n  " + "\n  ".join(lines) if n > 1 else lines[0])
    err.file = src.path  # type: ignore[attr-defined]
    err.field = items[0][0]  # type: ignore[attr-defined]
    err.line = items[0][1]  # type: ignore[attr-defined]
    err.errors = items  # type: ignore[attr-defined]
    return err


def _prefixes(name: str) -> list[str]:
    """``'a.b[0].c'`` -> ``['a', 'a.b', 'a.b[0]']``: the fields that contain ``name``."""
    return [name[:m.start()] for m in re.finditer(r"[.\[]", name) if m.start() > 0]


def _prune_union_noise(
    items: list[tuple[str, Loc, str]],
) -> list[tuple[str, Loc, str]]:
    """Keep the most specific messages when a union field failed on every branch."""
    by_field: dict[str, list[tuple[str, Loc, str]]] = {}
    for it in items:
        by_field.setdefault(it[0], []).append(it)
    has_deeper = {p for name in by_field for p in _prefixes(name)}
    out: list[tuple[str, Loc, str]] = []
    prefix = "expected "
    for name, group in by_field.items():
        typed = [g for g in group if g[2].startswith(prefix)]
        other = [g for g in group if not g[2].startswith(prefix)]
        if name in has_deeper:
            out.extend(other)
            continue
        if len(typed) > 1:
            typed = [(name, typed[0][1], _merge_expectations([g[2] for g in typed]))]
        out.extend(typed + other)
    return out or items


def _merge_expectations(messages: list[str]) -> str:
    """``"expected A or B; got X"`` from the messages of each branch of a union."""
    expects: list[str] = []
    detail = ""
    for msg in messages:
        body = msg[len("expected "):]
        m = re.match(r"(?P<exp>.*?), got (?P<got>.*)$", body, re.S)
        if m:  # our own validators: keep their explanation of what was given
            detail = m.group("got")
        else:
            m = re.match(r"(?P<exp>.*?) \(got (?P<got>.*)\)$", body, re.S)
            if m and not detail:
                detail = m.group("got")
        exp = m.group("exp") if m else body
        if exp not in expects:
            expects.append(exp)
    out = "expected " + " or ".join(expects)
    return out + (f"; got {detail}" if detail else "")


def _shown(value: Any) -> str:
    """A value as the plan file spells it, shortened."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "an empty value"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _explain(err: Mapping[str, Any], loc: Loc) -> str:
    kind = err.get("type", "")
    got = err.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _allowed_fields(loc)
        msg = f"unknown field '{name}'"
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
        if allowed:
            msg += f". Allowed fields here: {', '.join(allowed)}"
        return msg
    if kind == "missing":
        return "this field is required but missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.replace("Value error, ", "")
    if kind == "value_error":
        return msg
    if isinstance(got, (str, int, float, bool)) or got is None:
        msg += f" (got {_shown(got)})"
    msg = msg[0].lower() + msg[1:]
    msg = re.sub(r"a valid dictionary or instance of (\w+)", _mapping_of, msg)
    msg = msg.replace(", unable to parse string as a number", "")
    if msg.startswith("input should be "):
        return "expected " + msg[len("input should be "):]
    return "expected: " + msg


def _mapping_of(m: re.Match[str]) -> str:
    model = getattr(_schema, m.group(1), None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f"a mapping with fields {', '.join(model.model_fields)}"
    return "a mapping"


#: Python argument names of the engine -> what a plan file calls them.
_PLAN_WORDS: tuple[tuple[str, str], ...] = (
    (r"\bbudget_mode\s*=\s*['\"]?(exact|cap)['\"]?", r"'mode: \1' under the plan's budget"),
    (r"\bbudget_mode\b", "the budget's 'mode'"),
    (r"\b(risk_aversion|max_risk|min_outcome|objective)\s*=\s*['\"]?([\w.+-]+)['\"]?",
     r"'\1: \2' under the plan's risk"),
    (r"\bpass covariance=\.\.\.", "give 'covariance' in the plan"),
    (r"\bcovariance=None\b", "no 'covariance' in the plan"),
)


def in_plan_words(message: str) -> str:
    """An engine message with Python argument names replaced by plan-file field names.

    The engine speaks Python (``budget_mode='cap'``); a planner who wrote a plan file reads
    the plan's own words (``mode: cap`` under ``budget``).

    Parameters
    ----------
    message : str
        A message of the library (for example of an :class:`InfeasibleError`).

    Returns
    -------
    str
        The message in plan-file words.

    Examples
    --------
    >>> in_plan_words("Loosen the caps or use budget_mode='cap'.")
    "Loosen the caps or use 'mode: cap' under the plan's budget."
    """
    for pattern, words in _PLAN_WORDS:
        message = re.sub(pattern, words, message)
    return message
