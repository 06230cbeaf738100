"""The documentation is tested: the site builds with warnings as errors, every public name is in
the API reference, and the Python code on the README and on the docs pages runs.

The build needs the ``docs`` tools (sphinx, numpydoc, myst-parser); without them the build test
skips and says which one is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"

#: Pages whose Python code blocks are executed (they promise to run as shown).
RUNNABLE_PAGES = [
    "index.md",
    "examples.md",
    "howto/index.md",
    "howto/lock_creators.md",
    "howto/market_floor.md",
    "howto/brand_floor.md",
    "howto/shift_limits.md",
    "howto/choose_risk.md",
    "howto/sklearn_covariance.md",
    "howto/read_summary.md",
    "howto/infeasible.md",
]

_FENCE = re.compile(
    r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def python_blocks(text: str, base: Path | None = None) -> list[str]:
    """Python code of a Markdown text, in order: ```python fences and, when ``base`` is given,
    MyST ``{literalinclude}`` directives of ``.py`` files (read relative to ``base``)."""
    blocks: list[str] = []
    for match in _FENCE.finditer(text):
        info = match.group("info").strip()
        body = match.group("body")
        if info in ("python", "py", "python3"):
            blocks.append(body)
        elif base is not None and info.startswith("{literalinclude}"):
            target = info.split(None, 1)[1].strip()
            if target.endswith(".py"):
                blocks.append((base / target).read_text(encoding="utf-8"))
    return blocks


def run_blocks(blocks: list[str], label: str, workdir: Path) -> dict:
    """Execute code blocks in one namespace, as a reader would paste them one after another."""
    namespace: dict = {"__name__": "__main__"}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for i, block in enumerate(blocks, start=1):
            code = compile(block, f"<{label} block {i}>", "exec")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)  # noqa: S102 - running our own documentation
    finally:
        os.chdir(old)
    return namespace


@pytest.fixture(autouse=True)
def _headless_matplotlib(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


def test_fence_parser_finds_python_and_includes(tmp_path):
    (tmp_path / "setup.py").write_text("a = 1\n")
    text = (
        "intro\n```bash\necho no\n```\n```{literalinclude} setup.py\n:language: python\n```\n"
        "```python\nb = a + 1\n```\n"
    )
    blocks = python_blocks(text, base=tmp_path)
    assert blocks == ["a = 1\n", "b = a + 1\n"]
    assert run_blocks(blocks, "t", tmp_path)["b"] == 2


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(
            f"{module} is not installed; the docs build needs sphinx, numpydoc and myst-parser "
            "(pip install -e '.[test]')"
        )


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> Path:
    for module in ("sphinx", "numpydoc", "myst_parser"):
        _require(module)
    out = tmp_path_factory.mktemp("docs")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    env["MPLBACKEND"] = "Agg"
    cmd = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
        "-d", str(out / "doctrees"), str(DOCS), str(out / "html"),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        pytest.fail(
            "the documentation does not build with warnings as errors:\n"
            + result.stderr[-6000:]
            + "\nReproduce with: python -m sphinx -W --keep-going -b html docs docs/_build/html"
        )
    return out / "html"


def test_docs_build_without_warnings(built_site):
    for page in ("index.html", "concepts.html", "api.html", "examples.html", "howto/index.html"):
        assert (built_site / page).is_file(), page


def test_every_page_is_reachable_from_the_index(built_site):
    """A page marked ``orphan`` builds without warnings but no reader finds it."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((built_site / "index.html").read_text(encoding="utf-8"), "html.parser")
    body = soup.select_one("div.body") or soup
    linked = {a["href"].split("#")[0] for a in body.select("a[href]")}
    unreachable = []
    for page in sorted([*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]):
        rel = page.relative_to(DOCS)
        if rel.parts[0].startswith("_") or rel.stem == "index" and rel.parent == Path("."):
            continue
        html = rel.with_suffix(".html").as_posix()
        if html not in linked:
            unreachable.append(rel.as_posix())
    assert not unreachable, f"pages not in any toctree of docs/index.md: {unreachable}"


def test_api_reference_documents_every_public_name(built_site):
    import pkgutil

    import portfolio_mkt

    html = (built_site / "api.html").read_text(encoding="utf-8")
    submodules = {m.name for m in pkgutil.iter_modules(portfolio_mkt.__path__)}
    missing = []
    for name in portfolio_mkt.__all__:
        if name.startswith("_") or name == "exceptions":
            continue
        # a function named like its subpackage (frontier, scenarios) is documented inside it
        target = f"portfolio_mkt.{name}.{name}" if name in submodules else f"portfolio_mkt.{name}"
        if f'id="{target}"' not in html:
            missing.append(target)
    assert not missing, f"public names missing from docs/api.rst: {missing}"


def test_readme_python_code_runs(tmp_path):
    if not README.is_file():
        pytest.skip("README.md is not written yet")
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip("README.md has no ```python blocks")
    run_blocks(blocks, "README.md", tmp_path)


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_docs_page_code_runs(page, tmp_path):
    path = DOCS / page
    blocks = python_blocks(path.read_text(encoding="utf-8"), base=path.parent)
    assert blocks, f"{page} is listed as runnable but has no Python code"
    run_blocks(blocks, page, tmp_path)
