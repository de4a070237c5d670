"""``floyo notebooks``: Jupyter Lab on the checkout's ``notebooks/`` (the ``notebooks`` extra installs it)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from floyo.errors import InvalidInput

INSTALL_HINT = "pip install -e '.[notebooks]'"


def notebook_dir(given: Path | None = None) -> Path:
    """The folder to open: ``given``, else ``notebooks/`` of the checkout this package runs from, else of the
    current directory; InvalidInput when it does not exist (an installed wheel ships no notebooks)."""
    candidates = (
        [given] if given is not None else [Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"]
    )
    for folder in candidates:
        if folder is not None and folder.is_dir():
            return folder.resolve()
    raise InvalidInput(
        "no_notebooks", f"no notebooks folder at {candidates[0]}: run from a checkout of floyo or pass --dir"
    )


def lab_installed() -> bool:
    """Whether Jupyter Lab is importable (the ``notebooks`` extra)."""
    return importlib.util.find_spec("jupyterlab") is not None


def lab_command(folder: Path, *, python: str, port: int, no_browser: bool, as_root: bool | None = None) -> list[str]:
    """The Jupyter Lab command line on ``folder``, run by ``python`` (its kernel is that interpreter).

    As root (a container, a lab machine) Jupyter refuses to start unless told that this is meant: the person
    already chose to run as root, so the command says so (``--allow-root``) instead of failing."""
    argv = [python, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", f"--ServerApp.port={port}"]
    if as_root if as_root is not None else os.geteuid() == 0:
        argv.append("--allow-root")
    return argv + (["--no-browser"] if no_browser else [])
