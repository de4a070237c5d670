"""Commands of ``ingest`` on the lake side (``floyo export``, ``floyo retention``); heavy imports stay inside."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from floyo.cli_support import friendly_errors, progress_bar

if TYPE_CHECKING:
    from ingest.lake_retention import RetentionPlan

RETENTION_OFF = "retention is off (FLOYO_RETENTION_DAYS is unset or 0): nothing deleted"


def _announce(*, dry_run: bool = False) -> Callable[[RetentionPlan], None]:
    """Print a retention plan before anything is deleted (a dry run's plan is its output: stdout)."""

    def say(plan: RetentionPlan) -> None:
        if dry_run:
            typer.echo(f"dry run: {plan.describe()}; nothing deleted")
        elif plan.rows or plan.lake_dates:
            typer.echo(f"deleting now: {plan.describe()}", err=True)

    return say


def export(
    full: Annotated[bool, typer.Option("--full", help="rebuild the lake's events from scratch")] = False,
    retention: Annotated[
        bool, typer.Option(help="apply FLOYO_RETENTION_DAYS (when set) to the database and the lake")
    ] = True,
    chunk_seqs: Annotated[int, typer.Option(min=1, help="seq values per committed chunk")] = 250_000,
) -> None:
    """Export new events from PostgreSQL into the Parquet lake (incremental, restartable, exactly once); with
    FLOYO_RETENTION_DAYS set, then delete older events, saying first what goes."""
    from floyo.db import get_engine
    from floyo.settings import get_settings
    from ingest.lake_export import export_lake

    settings = get_settings()
    tty = sys.stderr.isatty()

    def committed(lo: int, hi: int, rows: int) -> None:
        if not tty:  # one line per committed chunk: logs (and the kill test) can follow progress
            typer.echo(f"committed seq ({lo}, {hi}]: {rows} events", err=True)

    with progress_bar("exporting events", enabled=tty) as bar:
        result = export_lake(
            get_engine(),
            settings,
            full=full,
            chunk_seqs=chunk_seqs,
            retention=retention,
            progress=lambda rows, _span: bar.advance(rows - bar.done),
            on_chunk=committed,
            on_retention=_announce(),
        )
    typer.echo(f"{result.describe()}\nlake: {settings.lake_path}")


def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be deleted, delete nothing")] = False,
) -> None:
    """Delete events older than FLOYO_RETENTION_DAYS from PostgreSQL and the lake (their ids too, so a log sent
    again is stored again); says what goes first. Does nothing when retention is off."""
    from floyo.db import get_engine
    from floyo.settings import get_settings
    from ingest.lake_export import run_retention

    plan = run_retention(get_engine(), get_settings(), dry_run=dry_run, on_retention=_announce(dry_run=dry_run))
    if plan is None:
        typer.echo(RETENTION_OFF)
    elif not dry_run:
        typer.echo(f"deleted {plan.rows} rows and {plan.lake_dates} lake dates before {plan.cutoff}")


def register(app: typer.Typer) -> None:
    """Add this package's lake commands to the ``floyo`` app."""
    app.command("export")(friendly_errors(export))
    app.command("retention")(friendly_errors(retention))
