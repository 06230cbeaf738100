"""Sphinx configuration of the portfolio_mkt documentation.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST) or reStructuredText. The API reference is generated from the
numpydoc docstrings with ``sphinx.ext.autodoc`` + ``numpydoc``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # document the working tree, installed or not

import portfolio_mkt  # noqa: E402

# -- Project -------------------------------------------------------------------------------
project = "portfolio_mkt"
author = "portfolio_mkt developers"
copyright = "portfolio_mkt developers"  # noqa: A001
release = portfolio_mkt.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------------
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path: list[str] = []
# Unresolvable cross references (``pd.Series``, ``cp.Expression`` ...) are not errors.
nitpicky = False

# -- MyST (Markdown) ----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3  # [link](page.md#some-heading) works for levels 1-3

# -- autodoc + numpydoc --------------------------------------------------------------------
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "undoc-members": False,
    "show-inheritance": True,
}
autodoc_typehints = "none"  # numpydoc's Parameters section carries the types
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # members are documented by autodoc itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- HTML ----------------------------------------------------------------------------------
# pydata-sphinx-theme (as skfolio uses): maintained, a readable text column, search, dark mode.
html_theme = "pydata_sphinx_theme"
html_title = f"portfolio_mkt {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}


# -- API reference helpers -----------------------------------------------------------------
def _is_module(obj: object) -> bool:
    return type(obj).__name__ == "module"


def _submodule_names() -> set[str]:
    """Subpackages/modules of portfolio_mkt (``frontier``, ``scenarios`` ...)."""
    import pkgutil

    return {m.name for m in pkgutil.iter_modules(portfolio_mkt.__path__)}


def _top_level_exports() -> dict[str, object]:
    """Objects the package exports at the top level (``portfolio_mkt.__all__``).

    Names that are also submodule names (the function ``frontier`` in the subpackage
    ``portfolio_mkt.frontier``) are left out: which of the two ``portfolio_mkt.frontier``
    resolves to depends on import order, so they are documented inside their module.
    """
    modules = _submodule_names()
    out = {}
    for name in getattr(portfolio_mkt, "__all__", []):
        if name.startswith("_") or name in modules:
            continue
        obj = getattr(portfolio_mkt, name, None)
        if obj is not None and not _is_module(obj):
            out[name] = obj
    return out


_SKLEARN_BOILERPLATE = re.compile(r"set_\w+_request")


def _skip_reexported(app, what, name, obj, skip, options):  # noqa: ANN001, ANN202
    """Document a re-exported object once, under ``portfolio_mkt.<name>``.

    ``automodule:: portfolio_mkt.<subpackage>`` would otherwise describe the same class a
    second time under its subpackage path, and Sphinx warns about ambiguous references.
    """
    if skip:
        return None
    if what == "class" and _SKLEARN_BOILERPLATE.fullmatch(name.rsplit(".", 1)[-1]):
        return True  # scikit-learn's generated metadata-routing setters (set_fit_request ...)
    if what != "module":
        return None
    short = name.rsplit(".", 1)[-1]
    top = _top_level_exports()
    if short in top and top[short] is obj:
        return True
    return None


class RemainingApi(Directive):
    """``.. portfolio-mkt-remaining::`` documents every ``portfolio_mkt.__all__`` name that
    the page has not documented explicitly above (so a new export never goes missing)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        source = Path(self.state.document.current_source or "").read_text(encoding="utf-8")
        lines: list[str] = []
        for name, obj in _top_level_exports().items():
            if f"portfolio_mkt.{name}\n" in source or f"portfolio_mkt.{name} " in source:
                continue
            if isinstance(obj, type):
                kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
            elif callable(obj):
                kind = "autofunction"
            else:
                kind = "autodata"
            lines += [f".. {kind}:: portfolio_mkt.{name}", ""]
        if not lines:
            lines = ["(Every top-level name is documented above.)", ""]
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source="api-remaining"), 0, container)
        return container.children


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-skip-member", _skip_reexported)
    app.add_directive("portfolio-mkt-remaining", RemainingApi)
    return {"parallel_read_safe": True}
