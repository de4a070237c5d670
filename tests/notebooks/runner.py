"""Run a notebook top to bottom with nbclient, the way papermill would: small parameters injected after the
``parameters`` cell, on a kernel that is this interpreter, with a check that every figure rendered (inline: the
kernel's PNGs) has a title and labelled axes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "floyo-test"

# wraps the inline backend's PNG formatter: every figure it renders is checked, problems are collected
FIGURE_CHECK = """
from matplotlib.backend_bases import FigureCanvasBase as _Canvas
_floyo_figures = {"shown": 0, "problems": []}
def _checked(canvas, *args, _print=_Canvas.print_figure, **kwargs):
    fig = canvas.figure
    _floyo_figures["shown"] += 1
    title = fig._suptitle.get_text() if fig._suptitle else ""
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        if not (title or ax.get_title()):
            _floyo_figures["problems"].append("a figure without a title")
        if not ax.get_xlabel() or not ax.get_ylabel():
            _floyo_figures["problems"].append(f"axes without labels: {ax.get_title() or title!r}")
    return _print(canvas, *args, **kwargs)
_Canvas.print_figure = _checked
"""
FIGURE_ASSERT = """
assert _floyo_figures["shown"] > 0, "no figure was shown inline"
assert not _floyo_figures["problems"], _floyo_figures["problems"]
print("figures shown:", _floyo_figures["shown"])
"""


def kernelspec(root: Path) -> Path:
    """A kernelspec running this interpreter (the venv's), in ``root/kernels``: put ``root`` on JUPYTER_PATH."""
    folder = root / "kernels" / KERNEL
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "floyo tests",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return root


def with_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """The notebook with an ``injected-parameters`` cell after its ``parameters`` cell (papermill's convention)."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    injected = nbformat.v4.new_code_cell(lines, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, injected)
    return nb


def run_notebook(name: str, parameters: dict[str, Any], *, timeout: int = 240) -> Any:
    """Execute ``notebooks/<name>`` with ``parameters``; the executed notebook (any cell error raises)."""
    return execute(with_parameters(nbformat.read(NOTEBOOKS / name, as_version=4), parameters), timeout=timeout)


def execute(nb: Any, *, timeout: int = 240) -> Any:
    """Execute a notebook in ``notebooks/`` on the test kernel, its figures checked; any cell error raises."""
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_CHECK))
    nb.cells.append(nbformat.v4.new_code_cell(FIGURE_ASSERT))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def outputs_of(nb: Any, mime: str) -> list[Any]:
    """Every output of the notebook's code cells holding ``mime``."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if mime in o.get("data", {})]
