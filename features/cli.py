"""Commands of ``features``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

features_app = typer.Typer(help="Feature tables for mining, built from the Parquet lake.", no_args_is_help=True)


def demo_data(
    personas: Annotated[int, typer.Option(min=1, help="how many synthetic people")] = 50,
    days: Annotated[int, typer.Option(min=1, max=3650, help="days of activity, ending yesterday")] = 60,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same events)")] = 0,
    out: Annotated[Path | None, typer.Option(help="write a CSV log (.csv or .csv.gz) instead of storing")] = None,
) -> None:
    """Generate synthetic personas with planted workflows; store them like the API does (or write --out), with truth."""
    from features.demo_data import store, write_csv
    from features.synth import generate
    from floyo.settings import get_settings

    data = generate(personas=personas, days=days, seed=seed)
    if out is not None:
        typer.echo(write_csv(data, out).describe())
        return
    from floyo.db import get_engine

    settings = get_settings()
    truth = settings.data_dir / "synth" / f"truth-seed{seed}-{personas}p-{days}d.json"
    with _Bar(sys.stderr.isatty(), "storing events", data.n_events) as advance:
        summary = store(data, get_engine(), settings, truth, advance=advance)
    typer.echo(summary.describe())


def export(
    full: Annotated[bool, typer.Option("--full", help="rebuild the lake's events from scratch")] = False,
    retention: Annotated[bool, typer.Option(help="apply FLOYO_RETENTION_DAYS to the database and the lake")] = True,
    chunk_seqs: Annotated[int, typer.Option(min=1, help="seq values per committed chunk")] = 250_000,
) -> None:
    """Export new events from PostgreSQL into the Parquet lake (incremental, restartable, exactly once)."""
    from floyo.db import get_engine
    from floyo.settings import get_settings
    from ingest.lake_export import export_lake

    settings = get_settings()
    tty = sys.stderr.isatty()

    def committed(lo: int, hi: int, rows: int) -> None:
        if not tty:  # one line per committed chunk: logs (and the kill test) can follow progress
            typer.echo(f"committed seq ({lo}, {hi}]: {rows} events", err=True)

    with _Bar(tty, "exporting events", None) as advance, _database_errors():
        result = export_lake(
            get_engine(),
            settings,
            full=full,
            chunk_seqs=chunk_seqs,
            retention=retention,
            progress=lambda rows, _span: advance(rows - advance.done),
            on_chunk=committed,
        )
    typer.echo(f"{result.describe()}\nlake: {settings.lake_path}")


@features_app.command("build")
def build(
    idle_gap_minutes: Annotated[float, typer.Option(min=0.01, help="idle gap that splits sessions")] = 30.0,
) -> None:
    """Build sessions, transactions, sequences, profiles and the directly-follows graph into the lake."""
    import time
    from datetime import timedelta

    from features.build import build_features
    from features.lake import FEATURE_TABLES
    from floyo.settings import get_settings

    lake = get_settings().lake_path
    started = time.perf_counter()
    with _Bar(sys.stderr.isatty(), "building features", len(FEATURE_TABLES)) as advance:
        rows = build_features(lake, idle_gap=timedelta(minutes=idle_gap_minutes), progress=lambda _name: advance(1))
    listing = ", ".join(f"{name} {n}" for name, n in rows.items())
    typer.echo(f"built {listing} rows in {time.perf_counter() - started:.2f} s into {lake}")


@contextmanager
def _database_errors() -> Iterator[None]:
    """psycopg's connection failures as the one-line error the other commands give."""
    import psycopg

    from floyo.cli import fail

    try:
        yield
    except psycopg.OperationalError as exc:
        raise fail(f"the database is unreachable: {str(exc).strip().splitlines()[0]}") from None


class _Bar:
    """A rich progress bar on a terminal, a no-op otherwise; yields ``advance(n)``."""

    def __init__(self, enabled: bool, label: str, total: int | None) -> None:
        self.enabled, self.label, self.total = enabled, label, total

    def __enter__(self) -> _Advance:
        advance = _Advance()
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
            task = self._progress.add_task(self.label, total=self.total)
            advance.step = lambda n: self._progress.advance(task, n)
        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()


class _Advance:
    def __init__(self) -> None:
        self.done = 0
        self.step: Callable[[int], object] = lambda n: None

    def __call__(self, n: int) -> None:
        self.done += n
        self.step(n)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
    from floyo.cli import friendly_errors

    app.command("demo-data")(friendly_errors(demo_data))
    app.command("export")(friendly_errors(export))
    app.add_typer(features_app, name="features")
    for command in features_app.registered_commands:
        if command.callback is not None:
            command.callback = friendly_errors(command.callback)
