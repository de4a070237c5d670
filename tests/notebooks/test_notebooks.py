"""Every notebook executed top to bottom on small data (a scratch database and lake, a temporary MLflow store): any
error fails, every figure is shown inline with a title and labelled axes; and none is committed with outputs."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tests.features.helpers import LakeDB
from tests.notebooks.runner import NOTEBOOKS, execute, outputs_of, run_notebook

NAMES = ("01-explore-events", "02-mine-rules", "03-sequences-and-workflows", "04-suggestions-and-feedback")
# small data: a handful of personas over two weeks (built by whichever notebook runs first)
LAKE = {"PERSONAS": 5, "DAYS": 14, "SEED": 0}
SMALL: dict[str, dict[str, Any]] = {
    "01-explore-events": {**LAKE, "TOP": 8},
    "02-mine-rules": LAKE,
    "03-sequences-and-workflows": LAKE,
    "04-suggestions-and-feedback": {**LAKE, "PEOPLE": 40, "ROUNDS": 3},
}


def test_the_notebooks_are_the_four_expected() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == list(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs_with_a_parameters_cell(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code if c.outputs or c.execution_count is not None] == []
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(c.cell_type == "markdown" for c in nb.cells[: tagged[0]])  # the parameters come first
    assert nb.cells[0].source.startswith("# ")  # and a title before them


@pytest.mark.parametrize("name", NAMES)
def test_runs_top_to_bottom_on_small_data(name: str, notebook_env: LakeDB) -> None:
    nb = run_notebook(f"{name}.ipynb", SMALL[name])
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert outputs_of(nb, "image/png")  # the plots are inline PNGs
    assert "figures shown:" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)


def test_a_figure_without_axis_labels_fails_the_run(notebook_env: LakeDB) -> None:
    plot = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nax.set_title('t')\nplt.show()"
    with pytest.raises(CellExecutionError, match="axes without labels: 't'"):
        execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(plot)]))
    labelled = plot.replace("ax.set_title('t')", "ax.set(title='t', xlabel='x', ylabel='y')")
    done = execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(labelled)]))
    assert outputs_of(done, "image/png")
