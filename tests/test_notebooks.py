"""The examples/ notebooks run end to end, as an analyst runs them from a fresh clone.

Each is executed by nbclient in a fresh kernel (this interpreter's ipykernel) from the
examples/ folder, as Jupyter runs it (a notebook may run a script of the clone, such as
bench/bench_seals.py, and keeps what it writes in temporary folders); a cell that raises
fails the test with the cell's traceback.
Beside running, each notebook must plot (an image in its outputs), show a progress bar on
its long cells (tqdm's text on standard error), and import nothing of coopchain but the
public service layer (the notebooks are the service layer's third caller, after the
command line and the API)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def code_of(notebook) -> str:
    # IPython's magics (%matplotlib) are not Python; drop them before parsing.
    lines = [line for cell in notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def coopchain_imports(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return [n for n in names if n == "coopchain" or n.startswith("coopchain.")]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {EXAMPLES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_imports_only_the_service_layer(path):
    import nbformat

    imported = coopchain_imports(code_of(nbformat.read(path, as_version=4)))
    assert [n for n in imported if not n.startswith("coopchain.service.")] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_end_to_end(path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit notebooks without outputs"
    before = sorted(p.name for p in EXAMPLES.iterdir())
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    assert sorted(p.name for p in EXAMPLES.iterdir()) == before, "a notebook leaves nothing behind in examples/"
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "a notebook plots"
    bars = [o for o in outputs if o.output_type == "stream" and o.name == "stderr" and "100%|" in o.text]
    assert bars, "long cells show a progress bar that reaches its end"
