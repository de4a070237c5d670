"""Running the ``floyo`` command in process, and what a failure must look like."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from floyo.cli import app
from floyo.db import reset_engine
from floyo.settings import get_settings

runner = CliRunner()


def invoke(*args: str) -> Any:
    """``floyo *args`` with the settings and engine of the current environment (fresh before, disposed after)."""
    get_settings.cache_clear()
    reset_engine()
    result = runner.invoke(app, list(args))
    reset_engine()
    return result


def assert_one_line_failure(result: Any, *words: str) -> None:
    """Non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
