"""`floyo notebooks`: Jupyter Lab on the checkout's notebooks/, or a one-line error saying what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from floyo import notebooks
from floyo.cli import app
from tests.notebooks.runner import NOTEBOOKS


def test_the_checkouts_notebooks_folder_is_found_and_a_missing_one_refused(tmp_path: Path) -> None:
    assert notebooks.notebook_dir() == NOTEBOOKS.resolve()
    assert notebooks.notebook_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(Exception, match="no notebooks folder at .*nowhere"):
        notebooks.notebook_dir(tmp_path / "nowhere")


def test_lab_command_runs_jupyterlab_with_this_interpreter_on_the_folder(tmp_path: Path) -> None:
    argv = notebooks.lab_command(tmp_path, python=sys.executable, port=8899, no_browser=True, as_root=False)
    assert argv == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={tmp_path}", "--ServerApp.port=8899",
                    "--no-browser"]  # fmt: skip
    assert "--no-browser" not in notebooks.lab_command(tmp_path, python="py", port=1, no_browser=False)
    # Jupyter refuses root without it: a container's root user still gets their notebooks
    assert "--allow-root" in notebooks.lab_command(tmp_path, python="py", port=1, no_browser=True, as_root=True)


def test_without_the_extra_the_command_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jupyterlab", None)  # what Python does for a module that cannot be imported
    assert not notebooks.lab_installed()
    result = CliRunner().invoke(app, ["notebooks", "--no-browser"])
    assert result.exit_code == 1
    assert "error: Jupyter Lab is not installed: pip install -e '.[notebooks]'" in result.stderr


def test_a_missing_folder_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["notebooks", "--dir", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "no notebooks folder at" in result.stderr
    assert "Traceback" not in result.output
