"""Reading plan files: YAML or TOML text to plain data, with the line of every field."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import PlanFileError
from ._schema import Loc

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Largest plan file read, in bytes (plans are small; data go in CSV files).
MAX_PLAN_BYTES = 262_144
#: Deepest nesting of mappings and lists in a plan file.
MAX_DEPTH = 20


# --------------------------------------------------------------------------------------------
# Line numbers
# --------------------------------------------------------------------------------------------


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
        what = f"field '{_field_name(loc)}': " if loc else ""
        err = PlanFileError(f"{where}: {what}{message}")
        err.file = self.path  # type: ignore[attr-defined]
        err.field = _field_name(loc)  # type: ignore[attr-defined]
        err.line = line  # type: ignore[attr-defined]
        err.errors = [(_field_name(loc), line, message)]  # type: ignore[attr-defined]
        return err


# --------------------------------------------------------------------------------------------
# Reading: bounded, no aliases, no duplicate keys, no deep nesting
# --------------------------------------------------------------------------------------------


def plan_error(display: str, message: str, line: int | None = None,
               field: str = "") -> PlanFileError:
    """A :class:`PlanFileError` for ``display`` (the file as the user named it)."""
    where = f"{display}, line {line}" if line else display
    what = f"field '{field}': " if field else ""
    err = PlanFileError(f"{where}: {what}{message}")
    err.file = display  # type: ignore[attr-defined]
    err.field = field  # type: ignore[attr-defined]
    err.line = line  # type: ignore[attr-defined]
    err.errors = [(field, line, message)] if field else []  # type: ignore[attr-defined]
    return err


def read_plan_text(file: Path, display: str) -> str:
    """The text of a plan file, refusing files that are too large, binary or not UTF-8."""
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise plan_error(display, f"cannot read the plan file ({exc.strerror}).") from None
    if len(data) > MAX_PLAN_BYTES:
        raise plan_error(
            display,
            f"the plan file is larger than {MAX_PLAN_BYTES:,} bytes; a plan holds settings, "
            "not data: put asset tables and history in CSV files and name them in the plan.",
        )
    if b"\x00" in data:
        raise plan_error(display, "this is a binary file, not a YAML or TOML plan.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise plan_error(
            display, "the plan file is not UTF-8 text (is it a binary file?); save it as UTF-8.",
            line,
        ) from None


class _PlanLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses anchors, aliases and deep nesting while composing."""

    def __init__(self, stream: str, display: str) -> None:
        super().__init__(stream)
        self.display = display
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.AliasEvent):
            raise plan_error(
                self.display,
                f"aliases (*{event.anchor}) are not allowed in plan files; write the value out "
                "where it is used.",
                line,
            )
        if getattr(event, "anchor", None) is not None:
            raise plan_error(
                self.display,
                f"anchors (&{event.anchor}) are not allowed in plan files; write the value out "
                "where it is used.",
                line,
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise plan_error(
                self.display,
                f"the plan is nested more than {MAX_DEPTH} levels deep; a plan's sections are "
                "at most a few levels deep (see docs/plan_files.md).",
                line,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


# YAML 1.1 reads 1e6 as text; plan files follow YAML 1.2 and read it as a number (a quoted
# "1e6" stays text, and the schema refuses it as a number).
_PlanLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


_CSafeLoader = getattr(yaml, "CSafeLoader", None)


if _CSafeLoader is not None:

    class _FastLoader(_CSafeLoader):  # type: ignore[misc, valid-type]
        """libyaml's safe loader with the plan's YAML 1.2 exponent numbers."""

    _FastLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None


def _screen_events(text: str, display: str) -> None:
    """Refuse anchors, aliases and deep nesting from libyaml's event stream.

    Events are produced without expanding aliases, so this costs time in proportion to the
    file's size whatever the file holds; only then is the document composed.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_FastLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.AliasEvent):
            raise plan_error(
                display,
                f"aliases (*{event.anchor}) are not allowed in plan files; write the value out "
                "where it is used.",
                line,
            )
        if getattr(event, "anchor", None) is not None:
            raise plan_error(
                display,
                f"anchors (&{event.anchor}) are not allowed in plan files; write the value out "
                "where it is used.",
                line,
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise plan_error(
                    display,
                    f"the plan is nested more than {MAX_DEPTH} levels deep; a plan's sections "
                    "are at most a few levels deep (see docs/plan_files.md).",
                    line,
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_tree(root: yaml.Node, display: str) -> dict[Loc, int]:
    """Line of every field path; refuse duplicate and non-text keys (iteratively)."""
    lines: dict[Loc, int] = {}
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                kline = key.start_mark.line + 1
                if not isinstance(key, yaml.ScalarNode):
                    raise plan_error(display, "a key must be a plain name, not a list or "
                                     "mapping.", kline, _field_name(loc))
                if key.tag != "tag:yaml.org,2002:str":
                    raise plan_error(
                        display,
                        f"the key {key.value!r} is read as a "
                        f"{key.tag.rsplit(':', 1)[-1]}, not a name; put it in quotes "
                        f"('{key.value}').",
                        kline, _field_name(loc),
                    )
                k = key.value
                if k in seen:
                    raise plan_error(
                        display,
                        f"the key '{k}' appears twice (lines {seen[k]} and {kline}); YAML would "
                        "silently keep only the last one. Remove one of them.",
                        kline, _field_name((*loc, k)),
                    )
                seen[k] = kline
                lines[(*loc, k)] = kline
                stack.append((value, (*loc, k)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, (*loc, i)))
    return lines


def _looks_like(text: str, fmt: str) -> bool:
    pattern = r"^\s*[\w.\"'-]+\s*=" if fmt == "toml" else r"^\s*[\w\"'-]+:(\s|$)"
    return any(re.match(pattern, line) for line in text.splitlines()[:50])


def _check_depth(value: Any, display: str) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise plan_error(
                display,
                f"the plan is nested more than {MAX_DEPTH} levels deep; a plan's sections are "
                "at most a few levels deep (see docs/plan_files.md).",
            )
        children = node.values() if isinstance(node, dict) else node if isinstance(
            node, list) else ()
        stack.extend((c, depth + 1) for c in children)


def parse_plan_text(text: str, fmt: str, display: str) -> tuple[Any, dict[Loc, int] | None]:
    """Plain data of a plan's text and (YAML) the line of every field path.

    Anchors, aliases, duplicate keys and nesting deeper than :data:`MAX_DEPTH` are refused
    while the YAML is composed, before anything is built from it.
    """
    if fmt == "toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
            problem = str(exc).split(" (at ")[0]
            hint = (" This looks like YAML ('key: value'); name the file .yaml, or write "
                    "'key = value'." if _looks_like(text, "yaml") else
                    " Check quoting and brackets.")
            raise plan_error(display, f"not valid TOML ({problem}).{hint}", line) from None
        except (RecursionError, ValueError):
            raise plan_error(display, f"the plan is nested more than {MAX_DEPTH} levels deep "
                             "or cannot be read as TOML.") from None
        _check_depth(raw, display)
        return raw, None
    try:
        if _FastLoader is not None:
            _screen_events(text, display)
            loader: Any = _FastLoader(text)
        else:  # pragma: no cover - pure-Python checks while composing
            loader = _PlanLoader(text, display)
        root = loader.get_single_node()
        if root is None:
            return None, {}
        line_map = _check_tree(root, display)
        raw = loader.construct_document(root)
    except PlanFileError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if "nesting depth" in str(problem):  # PyYAML >= 6.0.4 stops deep nesting itself
            raise plan_error(display, f"the plan is nested more than {MAX_DEPTH} levels deep; "
                             "a plan's sections are at most a few levels deep "
                             "(see docs/plan_files.md).", line) from None
        raise plan_error(
            display,
            f"not valid YAML ({problem}). Check indentation and that every 'key: value' has a "
            "space after the colon.",
            line,
        ) from None
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:
        raise plan_error(display, f"a value cannot be read ({type(exc).__name__}); check "
                         "numbers that are extremely long.") from None
    finally:
        if "loader" in locals():
            loader.dispose()
    return raw, line_map
