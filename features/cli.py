"""Commands of ``features``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from floyo.cli_support import friendly_errors, progress_bar

features_app = typer.Typer(help="Feature tables for mining, built from the Parquet lake.", no_args_is_help=True)


@features_app.command("build")
@friendly_errors
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
    with progress_bar("building features", len(FEATURE_TABLES), enabled=sys.stderr.isatty()) as bar:
        rows = build_features(lake, idle_gap=timedelta(minutes=idle_gap_minutes), progress=bar.step)
    listing = ", ".join(f"{name} {n}" for name, n in rows.items())
    typer.echo(f"built {listing} rows in {time.perf_counter() - started:.2f} s into {lake}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
    app.add_typer(features_app, name="features")
