"""Every notebook under ``notebooks/`` runs from top to bottom without an error.

Each notebook is executed in a fresh Jupyter kernel (nbclient, 300 s per cell) with the working
tree on ``PYTHONPATH``, so the test checks the code in this checkout whether or not the package
is installed. The executed copy is discarded; the notebook files are not modified.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebooks")

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name} produced error outputs: {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_with_its_outputs(path: Path) -> None:
    """Readers on GitHub see the results: every code cell that shows something was run and
    saved with its output, and a notebook that draws has its figures saved."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to read notebooks")
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    assert code
    missing = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not missing, f"{path.name}: code cells {missing} were not run before committing"
    assert sum(1 for c in code if c.get("outputs")) >= len(code) // 2, path.name
    draws = any("plt." in c.source or ".plot(" in c.source for c in code)
    images = sum(1 for c in code for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    if draws:
        assert images > 0, f"{path.name} draws figures but none is saved"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_legends_are_off_the_data(path: Path) -> None:
    """Every legend a notebook places itself is anchored outside the axes."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to read notebooks")
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if ".legend(" in line and "get_legend" not in line:
                assert "bbox_to_anchor" in line, f"{path.name}: legend on the data: {line}"
