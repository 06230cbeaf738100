"""The plan package: one concept per module, only public names of other sub-packages."""

from __future__ import annotations

import ast
from pathlib import Path

import portfolio_mkt.plan as plan_pkg

PKG = Path(plan_pkg.__file__).parent


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(level, module, names) of every import in a module, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or "", [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((0, a.name, []) for a in node.names)
    return out


def test_public_names_unchanged():
    assert set(plan_pkg.__all__) >= {
        "Plan", "PlanSpec", "load_plan", "builtin_plans", "resolve_plan_path",
        "describe_plan", "ScenarioSpec", "ApprovalSpec",
    }
    from portfolio_mkt.plan import Plan, load_plan  # noqa: F401


def test_no_private_names_of_other_packages_and_no_importlib():
    for path in PKG.glob("*.py"):
        for level, module, names in _imports(path):
            assert "importlib" not in module or names == ["resources"], (path.name, module)
            if level >= 2 or module.startswith("portfolio_mkt"):
                parts = module.split(".")
                assert not any(p.startswith("_") for p in parts), (path.name, module)
                assert not any(n.startswith("_") for n in names), (path.name, module, names)


def test_estimation_and_problem_built_in_one_module():
    """Plan files turn into estimation calls and a Problem in ``_build`` only."""
    users = {}
    for path in PKG.glob("*.py"):
        for level, module, _names in _imports(path):
            top = module.split(".")[0] if level >= 2 else ""
            if top in {"estimation", "problem", "constraints", "response", "optimization"}:
                users.setdefault(top, set()).add(path.name)
    assert users, "the plan package builds nothing"
    assert all(files == {"_build.py"} for files in users.values()), users


def test_modules_import_only_downwards():
    """Reading and schema know nothing of data; data modules nothing of estimation."""
    order = ["_schema", "_read", "_messages", "_files", "_tables", "_checks", "_build",
             "_builtin", "_load"]
    assert {p.stem for p in PKG.glob("_*.py")} - {"__init__"} == set(order)
    for path in PKG.glob("_*.py"):
        if path.stem == "__init__":
            continue
        rank = order.index(path.stem)
        for level, module, names in _imports(path):
            if level != 1:
                continue
            targets = [module] if module else names
            for target in targets:
                if target in order:
                    assert order.index(target) < rank, (path.name, target)
