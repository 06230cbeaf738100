"""The house holds: the package's own imports, read with ``ast``, follow docs/architecture.md.

Every import of a module of the package (at module level, inside functions, under
``TYPE_CHECKING``: all of them) is read from the source. The test fails on

- an import from a floor to a higher floor (or to a room of the same floor),
- a circle of modules importing each other,
- ``importlib`` / ``__import__`` loading the package's own modules,
- ``from x._private import ...`` across packages (a private module is used only by its own
  package),
- a room missing from the floor table (a new package must be placed on a floor).

The tests at the end break a copy of the rules on purpose and check that the checker notices.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "portfolio_mkt"

#: The floors of docs/architecture.md: a room may import only rooms on lower floors.
#: A room is a top-level module or a sub-package (all its files together).
FLOORS: dict[str, int] = {
    # 1 ground: errors, words, input checks
    "exceptions": 1, "status": 1, "_validation": 2,
    # 2 plain maths on arrays: risk models, the linear return term, parallel maps
    "risk": 2, "terms": 2, "parallel": 2,
    # 3 response curves and their return term
    "response": 3,
    # 4 constraints as value objects
    "constraints": 4,
    # 5 the problem (plain data)
    "problem": 5,
    # 6 the engine: compile, solve, verify, explain duals; the built-in example
    "optimization": 6, "examples": 6,
    # 7 re-solves of the engine
    "frontiers": 7, "whatif": 7,
    # 8 estimation from history, the simulator
    "estimation": 8, "simulate": 8, "simulate_kpi": 8,
    # 9 models and policies on top of estimation and the engine
    "mmm": 9, "confidence": 9,
    # 10 new capabilities of the engine and the caveats of a recommendation
    "window": 10, "integer": 10, "caveats": 10,
    # 11 plan files; 12 the operating loop and the report
    "plan": 11, "loop": 12, "report": 12,
    # 13 the package face (lazy re-exports); 14 the command line on top
    "__init__": 13,
    "commands": 14, "cli": 15, "__main__": 16,
}

#: Known breaches in files owned by other helpers, to be removed by them (see the report of
#: the core helper); (file, rule, target). A breach not listed here fails the test.
PENDING: set[tuple[str, str, str]] = {
    ("portfolio_mkt/plan.py", "importlib", "importlib"),
    ("portfolio_mkt/plan.py", "upward", "portfolio_mkt"),
    ("portfolio_mkt/report/_analysis.py", "importlib", "importlib"),
    ("portfolio_mkt/cli.py", "private", "portfolio_mkt.report._analysis"),
    ("portfolio_mkt/cli.py", "private", "portfolio_mkt.report._figures"),
    ("portfolio_mkt/cli.py", "private", "portfolio_mkt.report._io"),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """``portfolio_mkt/a/b.py`` -> ``portfolio_mkt.a.b``; ``__init__.py`` names its package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def room(module: str) -> str:
    """The room of a module: its first component below the package (``__init__`` = face)."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


#: ``importlib.resources`` (package data) and ``importlib.metadata`` (the version) load no module
#: of the package; only ``import_module`` / ``__import__`` / bare ``importlib`` are breaches.
_STDLIB_IMPORTLIB = {"importlib.resources", "importlib.metadata"}


def read_imports(files: Iterable[Path], root: Path = ROOT
                 ) -> tuple[set[str], list[tuple[str, str, str]]]:
    """Modules of the package, and every (importer file, importer module, target module)."""
    files = list(files)
    modules = {module_name(f, root) for f in files}
    edges: list[tuple[str, str, str]] = []
    for f in files:
        me = module_name(f, root)
        rel = str(f.relative_to(root))
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(me, f.name == "__init__.py", node)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in modules or sub in _STDLIB_IMPORTLIB else base)
            elif isinstance(node, ast.Name) and node.id in ("import_module", "__import__"):
                targets = ["importlib"]
            elif isinstance(node, ast.Attribute) and node.attr in ("import_module",):
                targets = ["importlib"]
            for t in targets:
                if t in _STDLIB_IMPORTLIB:  # package data and metadata, not the package's modules
                    continue
                if t == "importlib" or t.startswith("importlib."):
                    edges.append((rel, me, "importlib"))
                elif t == "portfolio_mkt" or t.startswith("portfolio_mkt."):
                    edges.append((rel, me, t))
    return modules, edges


def breaches(files: Iterable[Path], floors: dict[str, int], root: Path = ROOT,
             pending: set[tuple[str, str, str]] | None = None) -> set[tuple[str, str, str]]:
    """Every breach of the rules: (file, rule, target); ``pending`` edges make no circle."""
    pending = pending or set()
    modules, edges = read_imports(files, root)
    out: set[tuple[str, str, str]] = set()
    for m in modules:
        if room(m) not in floors:
            out.add((m, "no floor", room(m)))
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for rel, me, target in edges:
        if target == "importlib":
            out.add((rel, "importlib", "importlib"))
            continue
        if target not in modules:  # a name of the package that is not a module file
            target = target.rsplit(".", 1)[0]
        if target == me:
            continue
        if (rel, "upward", target) not in pending:
            graph[me].add(target)
        a, b = room(me), room(target)
        if a != b and floors.get(b, 0) >= floors.get(a, 0):
            out.add((rel, "upward", target))
        leaf = target.split(".")
        private = [i for i, p in enumerate(leaf) if p.startswith("_") and i > 0]
        if private:
            owner = ".".join(leaf[: private[0]])  # the package the private module belongs to
            if not (me == owner or me.startswith(owner + ".")):
                out.add((rel, "private", target))
    for cycle in _cycles(graph):
        out.add((" -> ".join(cycle), "circle", cycle[0]))
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_house_follows_its_floors():
    found = breaches(_package_files(), FLOORS, pending=PENDING)
    new = sorted(found - PENDING)
    assert not new, "breaches of docs/architecture.md:\n" + "\n".join(map(str, new))


def test_every_floor_of_the_table_is_in_the_docs():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in FLOORS:
        if name not in ("__init__", "__main__"):
            assert f"`{name}`" in text, f"docs/architecture.md does not place `{name}`"


#: Rooms that re-solve through the engine: they must not solve or re-value anything themselves.
ENGINE_CLIENTS = ("frontiers", "whatif", "confidence", "parallel", "caveats", "examples",
                  "problem")
SOLVER_MODULES = ("cvxpy", "osqp", "clarabel", "highspy", "scipy.optimize")


def engine_breaches(files: Iterable[Path], clients: Iterable[str], root: Path = ROOT
                    ) -> set[tuple[str, str]]:
    """(file, what) for a solver import, a ``.value =`` assignment or a ``Problem(...)`` of
    cvxpy in a room that should ask the engine (``optimization``) instead."""
    clients = set(clients)
    out: set[tuple[str, str]] = set()
    for f in files:
        if room(module_name(f, root)) not in clients:
            continue
        rel = str(f.relative_to(root))
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for n in names:
                if any(n == s or n.startswith(s + ".") for s in SOLVER_MODULES):
                    out.add((rel, f"imports {n}"))
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for tg in targets:
                    if isinstance(tg, ast.Attribute) and tg.attr == "value":
                        out.add((rel, "sets a Parameter value"))
    return out


def test_one_engine_owns_every_solve_and_parameter_update():
    found = engine_breaches(_package_files(), ENGINE_CLIENTS)
    assert not found, "solves or Parameter updates outside optimization:\n" + "\n".join(
        map(str, sorted(found)))


def test_engine_checker_can_fail(tmp_path):
    files = _house(tmp_path, {
        "portfolio_mkt/__init__.py": "",
        "portfolio_mkt/whatif.py": "def f(prog):\n    import cvxpy as cp\n"
                                   "    prog.target_outcome.value = 1.0\n",
    })
    found = engine_breaches(files, ENGINE_CLIENTS, tmp_path)
    assert found == {("portfolio_mkt/whatif.py", "imports cvxpy"),
                     ("portfolio_mkt/whatif.py", "sets a Parameter value")}


# ------------------------------------------------------------------ the checker can fail
def _house(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    out = []
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out


FLOORS_TOY = {"__init__": 9, "low": 1, "high": 2, "pkg": 3}


def test_checker_sees_an_upward_import_even_inside_a_function(tmp_path):
    files = _house(tmp_path, {
        "portfolio_mkt/__init__.py": "",
        "portfolio_mkt/low.py": "def f():\n    from .high import x\n",
        "portfolio_mkt/high.py": "x = 1\n",
    })
    found = breaches(files, FLOORS_TOY, tmp_path)
    assert ("portfolio_mkt/low.py", "upward", "portfolio_mkt.high") in found


def test_checker_sees_a_circle_importlib_and_a_private_import(tmp_path):
    files = _house(tmp_path, {
        "portfolio_mkt/__init__.py": "",
        "portfolio_mkt/pkg/__init__.py": "from ._a import x\n",
        "portfolio_mkt/pkg/_a.py": "from ._b import y\nx = 1\n",
        "portfolio_mkt/pkg/_b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from ._a import x\ny = 2\n",
        "portfolio_mkt/high.py": "import importlib\nfrom .pkg._a import x\n"
                                 "m = importlib.import_module('portfolio_mkt.low')\n",
        "portfolio_mkt/low.py": "",
    })
    found = breaches(files, {**FLOORS_TOY, "high": 4}, tmp_path)
    rules = {r for _, r, _ in found}
    assert {"circle", "importlib", "private"} <= rules
    assert ("portfolio_mkt/high.py", "private", "portfolio_mkt.pkg._a") in found


def test_checker_wants_every_room_on_a_floor(tmp_path):
    files = _house(tmp_path, {"portfolio_mkt/__init__.py": "", "portfolio_mkt/new.py": ""})
    assert ("portfolio_mkt.new", "no floor", "new") in breaches(files, FLOORS_TOY, tmp_path)


@pytest.mark.parametrize("name", ["frontier", "scenarios"])
def test_public_callables_are_functions_whatever_was_imported(name):
    import portfolio_mkt as pm
    import portfolio_mkt.frontiers  # noqa: F401
    import portfolio_mkt.whatif  # noqa: F401

    fn = getattr(pm, name)
    assert callable(fn) and type(fn).__name__ == "function"
