"""The lake for data scientists: ``events()`` as a polars LazyFrame, ``sql()`` as a DuckDB relation, no copying.

    from features import lake
    lake.events().filter(pl.col("ext") == "csv").collect()
    lake.sql("select kind, count(*) from events group by kind").pl()

DuckDB runs with extension auto-install and auto-load off: Parquet is built in, nothing is downloaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from floyo.event_schema import EVENT_COLUMNS
from floyo.settings import Settings, get_settings

FEATURE_TABLES = ("sessions", "transactions", "sequences", "profiles", "dfg")
_DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_POLARS_TYPES: dict[str, Any] = {
    "int64": pl.Int64, "int32": pl.Int32, "string": pl.String, "timestamp[us, tz=UTC]": pl.Datetime("us", "UTC"),
}  # fmt: skip
# the lake's columns come from the registry (floyo/event_schema.py); ``date`` is the hive partition
LAKE_SCHEMA: dict[str, Any] = {c.name: _POLARS_TYPES[c.arrow] for c in EVENT_COLUMNS if c.lake}
EVENTS_SCHEMA: dict[str, Any] = {**LAKE_SCHEMA, "date": pl.Date}
_connections: dict[Path, duckdb.DuckDBPyConnection] = {}
_lock = threading.Lock()


def lake_dir(settings: Settings | None = None, path: Path | None = None) -> Path:
    """The lake directory: ``path`` if given, else ``FLOYO_LAKE_DIR`` / the data directory's ``lake/``."""
    return Path(path) if path is not None else (settings or get_settings()).lake_path


def events_glob(lake: Path) -> str:
    """Glob of the committed event files (staging and temporary files never match)."""
    return str(lake / "events" / "date=*" / "part-*.parquet")


def has_events(lake: Path) -> bool:
    """Whether the lake holds any event file."""
    return any((lake / "events").glob("date=*/part-*.parquet"))


def events(settings: Settings | None = None, *, path: Path | None = None) -> pl.LazyFrame:
    """All exported events as a polars LazyFrame over the Parquet files (hive column ``date`` included)."""
    lake = lake_dir(settings, path)
    if not has_events(lake):
        return pl.LazyFrame(schema=EVENTS_SCHEMA)
    # the schema is the registry's, not the first file's: files written before a column was added read it as null
    return pl.scan_parquet(
        events_glob(lake), schema=LAKE_SCHEMA, hive_partitioning=True, hive_schema={"date": pl.Date},
        missing_columns="insert",
    )  # fmt: skip


def table(name: str, settings: Settings | None = None, *, path: Path | None = None) -> pl.LazyFrame:
    """A feature table built by ``floyo features build`` (``sessions``, ``transactions``, ...)."""
    file = lake_dir(settings, path) / name / f"{name}.parquet"
    if not file.exists():
        raise FileNotFoundError(f"{file} does not exist: run `floyo export` and `floyo features build`")
    return pl.scan_parquet(file)


def connect(settings: Settings | None = None, *, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views ``events`` and each built feature table, reading the lake in place."""
    lake = lake_dir(settings, path).resolve()
    with _lock:
        conn = _connections.get(lake)
        if conn is None:
            conn = _connections[lake] = duckdb.connect(config=_DUCKDB_CONFIG)
        _refresh_views(conn, lake)
        return conn


def _refresh_views(conn: duckdb.DuckDBPyConnection, lake: Path) -> None:
    if has_events(lake):
        source = f"read_parquet('{events_glob(lake)}', hive_partitioning = true, union_by_name = true)"
        conn.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM {source}")
    else:
        conn.execute("CREATE OR REPLACE VIEW events AS SELECT * FROM (SELECT NULL::BIGINT AS seq) WHERE false")
    for name in FEATURE_TABLES:
        file = lake / name / f"{name}.parquet"
        if file.exists():
            conn.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{file}')")


def sql(query: str, settings: Settings | None = None, *, path: Path | None = None) -> duckdb.DuckDBPyRelation:
    """Run SQL over the lake (views ``events``, ``sessions``, ...); returns a lazy DuckDB relation."""
    return connect(settings, path=path).sql(query)
