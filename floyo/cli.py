"""The ``floyo`` command: one Typer app composing each part's commands; heavy imports stay inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from floyo.cli_support import fail, friendly_errors, progress_bar

app = typer.Typer(help="Floyo: learn repeated file-and-tool workflows and suggest automations.", no_args_is_help=True)
db_app = typer.Typer(help="The database: migrations and the embedded server.", no_args_is_help=True)
token_app = typer.Typer(help="Device tokens for agents.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load events from files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(ingest_app, name="ingest")


@app.command()
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind (default FLOYO_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default FLOYO_PORT, 8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Run the API (embedded PostgreSQL unless FLOYO_DATABASE_URL is set); migrates to head first."""
    from floyo.server import run_server
    from serving.catalog import load_catalog

    load_catalog()  # a broken catalog stops here, in one line, before any worker starts (each loads it again)
    run_server(host=host, port=port, workers=workers)


@db_app.command("migrate")
@friendly_errors
def db_migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Migrate the database up to the newest schema (or REVISION)."""
    from floyo.db import migrate

    migrate.upgrade(revision=revision)
    current, head = migrate.status()
    typer.echo(f"database at revision {current} (head {head})")


@db_app.command("downgrade")
@friendly_errors
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, 'base' drops everything")],
) -> None:
    """Migrate the database down to REVISION."""
    from floyo.db import migrate

    migrate.downgrade(revision=revision)
    typer.echo(f"database at revision {migrate.status()[0]}")


@db_app.command("status")
@friendly_errors
def db_status() -> None:
    """Show where the database is and whether its schema is at head."""
    from floyo.db import migrate, resolve_database_url
    from floyo.settings import get_settings

    url = resolve_database_url()
    current, head = migrate.status(url)
    where = "external" if get_settings().database_url else f"embedded in {get_settings().embedded_pg_dir}"
    typer.echo(
        f"database: {where}\nrevision: {current} (head {head}){'' if current == head else ' - run: floyo db migrate'}"
    )


@db_app.command("stop")
@friendly_errors
def db_stop() -> None:
    """Stop the embedded PostgreSQL server (it starts again on demand)."""
    from floyo.db.embedded import stop_embedded
    from floyo.settings import get_settings

    stopped = stop_embedded(get_settings().embedded_pg_dir)
    typer.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@token_app.command("create")
@friendly_errors
def token_create(
    user: Annotated[str, typer.Option(help="user name (created if needed)")],
    device: Annotated[str, typer.Option(help="device name (created if needed)")],
    admin: Annotated[bool, typer.Option("--admin", help="make the user an admin")] = False,
) -> None:
    """Create a device token and print it once, alone on the last line (an earlier token of the device stops working)."""
    from floyo.auth import create_device_token
    from floyo.db import get_engine

    _check_name(user, "user")
    _check_name(device, "device")
    with get_engine().begin() as conn:
        token = create_device_token(conn, user=user, device=device, is_admin=admin)
    typer.echo(
        f"token for device {device!r} of user {user!r}{' (admin)' if admin else ''}; it is shown only once:",
        err=True,
    )
    typer.echo(token)


def _check_name(value: str, what: str) -> None:
    if not 1 <= len(value) <= 200 or "\x00" in value:
        raise fail(f"the {what} name must be 1-200 characters")


@token_app.command("list")
@friendly_errors
def token_list(user: Annotated[str | None, typer.Option(help="only this user's devices")] = None) -> None:
    """List device tokens (prefix only; tokens themselves are stored hashed)."""
    from floyo.auth import list_device_tokens
    from floyo.db import get_engine

    with get_engine().connect() as conn:
        tokens = list_device_tokens(conn, user=user)
    typer.echo(f"{'USER':20} {'DEVICE':20} {'TOKEN':14} {'CREATED':20} {'LAST USED':20} STATE")
    for t in tokens:
        last = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        state = "revoked" if t.revoked_at else "live"
        typer.echo(f"{t.user:20} {t.device:20} {t.prefix + '…':14} {t.created_at:%Y-%m-%d %H:%M}     {last:20} {state}")


@token_app.command("revoke")
@friendly_errors
def token_revoke(
    user: Annotated[str, typer.Option(help="user name")],
    device: Annotated[str, typer.Option(help="device name")],
) -> None:
    """Revoke a device's token at once."""
    from floyo.auth import revoke_device_token
    from floyo.db import get_engine

    with get_engine().begin() as conn:
        revoke_device_token(conn, user=user, device=device)
    typer.echo(f"revoked the token of device {device!r} of user {user!r}")


@ingest_app.command("file")
@friendly_errors
def ingest_file(
    path: Annotated[Path, typer.Argument(help="CSV event log (.csv or .csv.gz) in the format of data/README")],
    root: Annotated[str, typer.Option(help="root alias the log's paths belong to")] = "",
    device: Annotated[str, typer.Option(help="device name recorded for the loaded events")] = "import",
) -> None:
    """Load a CSV event log through the API's validation and storage path, one user per author."""
    from ingest.loader import load_log_file

    with progress_bar(f"loading {path.name}", enabled=sys.stderr.isatty()) as bar:
        summary = load_log_file(path, root=root or path.name.split(".")[0], device=device, progress=bar.advance)
    typer.echo(summary.describe())
    if summary.rejected:
        raise fail(
            f"{summary.rejected} of {summary.read} rows were rejected (reasons above); the others were stored", 3
        )


@app.command()
@friendly_errors
def demo(
    port: Annotated[int | None, typer.Option(help="API port (default FLOYO_PORT, 8000)")] = None,
    log: Annotated[Path | None, typer.Option(help="event log to ingest (default: the bundled flask sample)")] = None,
    personas: Annotated[int, typer.Option(min=0, help="synthetic personas to add (0: none)")] = 20,
    days: Annotated[int, typer.Option(min=1, max=3650, help="days of synthetic activity")] = 30,
    train: Annotated[bool, typer.Option(help="train the models on the lake and show what they found")] = True,
) -> None:
    """Start Floyo on this machine (embedded PostgreSQL, API in the background), ingest the sample log, build the
    lake, train the models, summarise."""
    from floyo.demo import run_demo

    run_demo(port=port, log_path=log, personas=personas, days=days, train=train)


@app.command("demo-data")
@friendly_errors
def demo_data(
    personas: Annotated[int, typer.Option(min=1, help="how many synthetic people")] = 50,
    days: Annotated[int, typer.Option(min=1, max=3650, help="days of activity, ending yesterday")] = 60,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same events)")] = 0,
    out: Annotated[Path | None, typer.Option(help="write a CSV log (.csv or .csv.gz) instead of storing")] = None,
) -> None:
    """Generate synthetic personas with planted workflows; store them like the API does (or write --out), with truth."""
    from features.synth import generate
    from floyo.demo_data import store, truth_file, write_csv
    from floyo.settings import get_settings

    data = generate(personas=personas, days=days, seed=seed)
    if out is not None:
        typer.echo(write_csv(data, out).describe())
        return
    from floyo.db import get_engine

    settings = get_settings()
    truth = truth_file(settings, seed=seed, personas=personas, days=days)
    with progress_bar("storing events", data.n_events, enabled=sys.stderr.isatty()) as bar:
        summary = store(data, get_engine(), settings, truth, advance=bar.advance)
    typer.echo(summary.describe())


@app.command()
@friendly_errors
def notebooks(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="folder to open (default: the checkout's notebooks/)")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="port of Jupyter Lab")] = 8888,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="do not open a browser")] = False,
) -> None:
    """Open Jupyter Lab on the notebooks (the `notebooks` extra: pip install -e '.[notebooks]')."""
    import subprocess

    from floyo.notebooks import INSTALL_HINT, lab_command, lab_installed, notebook_dir

    folder = notebook_dir(directory)
    if not lab_installed():
        raise fail(f"Jupyter Lab is not installed: {INSTALL_HINT}")
    typer.echo(f"Jupyter Lab on {folder} (settings from this shell's FLOYO_* variables)", err=True)
    raise typer.Exit(subprocess.call(lab_command(folder, python=sys.executable, port=port, no_browser=no_browser)))


@app.command()
@friendly_errors
def dashboard(
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default FLOYO_DASHBOARD_PORT, 8501)")
    ] = None,
    api: Annotated[str | None, typer.Option(help="the Floyo API's URL (default http://FLOYO_HOST:FLOYO_PORT)")] = None,
) -> None:
    """Start the dashboard (Streamlit) on 127.0.0.1; it reads everything through the API. FLOYO_DASHBOARD_TOKEN signs
    you in at start; without it, the first page asks for a token."""
    from floyo import dashboard as dash
    from floyo.settings import get_settings

    settings = get_settings()
    port = port or settings.dashboard_port
    api = api or f"http://{settings.host}:{settings.port}"
    if not api.startswith(("http://", "https://")):
        raise fail(f"--api must be an http(s) URL, not {api!r}", 2)
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    typer.echo(f"dashboard: {dash.url(port)} (API {api}); Ctrl-C stops it")
    raise typer.Exit(dash.run(port, api, token))


@app.command()
@friendly_errors
def stop() -> None:
    """Stop the background API and dashboard started by `floyo demo` and the embedded PostgreSQL."""
    from floyo.demo import stop_all

    for line in stop_all():
        typer.echo(line)


def _register_parts() -> None:
    # each part owns its commands; its cli module imports only typer at the top, so `floyo --help` stays instant
    from agent.cli import register as register_agent
    from features.cli import register as register_features
    from ingest.cli import register as register_ingest
    from jobs.cli import register as register_jobs
    from models.cli import register as register_models
    from serving.cli import register as register_serving

    for register in (
        register_agent, register_ingest, register_features, register_models, register_jobs, register_serving,
    ):  # fmt: skip
        register(app)


_register_parts()
