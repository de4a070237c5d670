"""Commands of ``models``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
