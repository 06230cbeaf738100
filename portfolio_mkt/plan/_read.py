"""Reading plan files: YAML or TOML text to plain data, with the line of every field."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..exceptions import PlanFileError
from ._schema import Loc

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# --------------------------------------------------------------------------------------------
# Line numbers
# --------------------------------------------------------------------------------------------


def _yaml_lines(text: str) -> dict[Loc, int]:
    """Map each field path of a YAML document to its 1-based line number."""
    lines: dict[Loc, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # pragma: no cover - parse errors are reported before this
        return lines

    def walk(node: yaml.Node, loc: Loc) -> None:
        lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value
                lines[(*loc, k)] = key.start_mark.line + 1
                walk(value, (*loc, k))
                lines[(*loc, k)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*loc, i))

    if root is not None:
        walk(root, ())
    return lines


def _toml_line(text: str, loc: Loc) -> int | None:
    """Best-effort line of a TOML field path, by searching for its keys in order."""
    src = text.splitlines()
    start = 0
    found: int | None = None
    for part in loc:
        if isinstance(part, int):
            # n-th array-of-tables entry or n-th inline element: find the n-th header
            if found is not None:
                key = str(loc[loc.index(part) - 1]) if loc.index(part) > 0 else ""
                hits = [
                    i
                    for i, line in enumerate(src)
                    if re.match(rf"\s*\[\[\s*([\w.]*\.)?{re.escape(key)}\s*\]\]", line)
                ]
                if part < len(hits):
                    found = start = hits[part]
            continue
        pattern = re.compile(
            rf"^\s*(\[\[?\s*([\w.\"']*\.)?)?[\"']?{re.escape(str(part))}[\"']?\s*(=|\]|\.)"
            rf"|[{{,]\s*[\"']?{re.escape(str(part))}[\"']?\s*="
        )
        for i in range(start, len(src)):
            if pattern.search(src[i]):
                found = start = i
                break
    return None if found is None else found + 1


def _line_for(loc: Loc, line_map: Mapping[Loc, int] | None, text: str, fmt: str) -> int | None:
    if fmt == "toml":
        return _toml_line(text, loc)
    if not line_map:
        return None
    # drop union tags pydantic inserts (e.g. 'float', 'list[AssetSpec]') that are not keys
    path: list[Any] = []
    for part in loc:
        if (*path, part) in line_map:
            path.append(part)
    while path and tuple(path) not in line_map:
        path.pop()
    return line_map.get(tuple(path), line_map.get(()))



def _field_name(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"




@dataclass
class _Source:
    path: str
    text: str
    fmt: str
    line_map: dict[Loc, int] | None

    def line(self, loc: Loc) -> int | None:
        return _line_for(loc, self.line_map, self.text, self.fmt)

    def error(self, loc: Loc, message: str) -> PlanFileError:
        line = self.line(loc)
        where = f"{self.path}, line {line}" if line else self.path
        err = PlanFileError(f"{where}: field '{_field_name(loc)}': {message}")
        err.file = self.path  # type: ignore[attr-defined]
        err.field = _field_name(loc)  # type: ignore[attr-defined]
        err.line = line  # type: ignore[attr-defined]
        err.errors = [(_field_name(loc), line, message)]  # type: ignore[attr-defined]
        return err



def _parse(text: str, fmt: str, display: str) -> tuple[Any, dict[Loc, int] | None]:
    if fmt == "toml":
        try:
            return tomllib.loads(text), None
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
            err = PlanFileError(
                f"{display}, line {line}: not valid TOML ({exc}). Check quoting and brackets."
            )
            err.file, err.field, err.line, err.errors = display, "", line, []  # type: ignore[attr-defined]
            raise err from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        err = PlanFileError(
            f"{display}, line {line}: not valid YAML ({problem}). "
            "Check indentation and that every 'key: value' has a space after the colon."
        )
        err.file, err.field, err.line, err.errors = display, "", line, []  # type: ignore[attr-defined]
        raise err from None
    return raw, _yaml_lines(text)


