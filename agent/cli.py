"""Commands of ``agent``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from agent.cli_options import ConfigOpt, StateOpt
from agent.cli_options import load_cli_config as _config
from agent.cli_options import one_line_errors as _errors
from floyo.cli_support import fail

if TYPE_CHECKING:
    pass

F = TypeVar("F", bound=Callable[..., Any])

agent_app = typer.Typer(help="The watcher agent: capture file and command activity and send it to Floyo.")


@agent_app.command("watch")
@_errors
def watch(
    roots: Annotated[
        list[str] | None, typer.Argument(help="folders to watch, as PATH or ALIAS=PATH (default: the config's)")
    ] = None,
    server: Annotated[str | None, typer.Option(help="Floyo API base URL, e.g. http://127.0.0.1:8000")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="device token: visible to every user in `ps`; put it in the config file or FLOYO_AGENT_TOKEN"
        ),
    ] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    privacy: Annotated[
        bool | None, typer.Option("--privacy/--no-privacy", help="send keyed hashes of names, extensions only")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="extra glob of paths not to record (repeatable)")] = None,
    opens: Annotated[bool | None, typer.Option("--opens/--no-opens", help="record file opens (inotify)")] = None,
    debounce: Annotated[
        float | None, typer.Option(help="seconds a file must be quiet before its event is decided")
    ] = None,
) -> None:
    """Watch folders and send what happens in them to the Floyo API, until stopped (Ctrl-C or SIGTERM)."""
    from dataclasses import replace

    from agent.config import parse_root
    from agent.runner import run_agent
    from floyo.logs import configure_logging
    from floyo.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if token is not None:
        typer.echo(
            "warning: --token is visible to every user of this machine (ps, /proc); "
            'put `token = "…"` in the config file (mode 600) or set FLOYO_AGENT_TOKEN instead',
            err=True,
        )
    cfg = _config(
        config,
        state_dir,
        server=server,
        token=token,
        privacy=privacy,
        capture_opens=opens,
        debounce_seconds=debounce,
        roots=dict(parse_root(r) for r in roots) if roots else None,
    )
    if exclude:
        cfg = replace(cfg, exclude=(*cfg.exclude, *exclude))
    run_agent(cfg)


@agent_app.command("status")
@_errors
def status(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Show roots, events captured / queued / sent, the last error and the lag."""
    from agent.status import describe, read_status

    typer.echo(describe(read_status(_config(config, state_dir)), as_json=as_json))


def _set_pause(config: str | None, state_dir: str | None, paused: bool) -> None:
    from agent.pause import PauseLog

    PauseLog(_config(config, state_dir).state_dir).switch(paused)
    typer.echo(
        "paused: nothing is recorded and no workflow runs (running ones are stopped) until `floyo agent resume`"
        if paused
        else "resumed: recording, and approved workflows run again"
    )


@agent_app.command("pause")
@_errors
def pause(config: ConfigOpt = None, state_dir: StateOpt = None) -> None:
    """The kill switch: stop recording (files and commands) and every workflow run until `floyo agent resume`."""
    _set_pause(config, state_dir, True)


@agent_app.command("resume")
@_errors
def resume(config: ConfigOpt = None, state_dir: StateOpt = None) -> None:
    """Record again, and let approved workflows run again, after `floyo agent pause`."""
    _set_pause(config, state_dir, False)


@agent_app.command("stop")
@_errors
def stop(
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    timeout: Annotated[float, typer.Option(min=0, help="seconds to wait for it to exit")] = 30.0,
) -> None:
    """Stop the agent running on this state folder (started in the background or in another terminal)."""
    from agent.runner import stop_running_agent

    typer.echo(stop_running_agent(_config(config, state_dir), timeout=timeout))


@agent_app.command("shell-hook")
def shell_hook(
    shell: Annotated[str, typer.Argument(help="bash or zsh")],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Print the snippet that records commands as run events: add `eval "$(floyo agent shell-hook bash)"` to ~/.bashrc."""
    from pathlib import Path

    from agent.shell import hook_snippet

    if shell not in ("bash", "zsh"):
        raise fail("the shell must be bash or zsh", 2)
    paths = {"state_dir": state_dir, "config_file": config}
    snippet = hook_snippet(shell, **{k: Path(v).expanduser().resolve() for k, v in paths.items() if v})
    typer.echo(snippet, nl=False)


@agent_app.command("record-run")
@_errors
def record_run(
    command: Annotated[
        str | None, typer.Option(help="the command line (or $FLOYO_CMD); only the program name is kept")
    ] = None,
    exit_code: Annotated[int | None, typer.Option(help="the command's exit code")] = None,
    started_us: Annotated[
        int | None, typer.Option(min=0, help="when it started, in microseconds since the epoch (the shell's clock)")
    ] = None,
    duration_ms: Annotated[int | None, typer.Option(min=0, help="how long it ran")] = None,
    cwd: Annotated[str | None, typer.Option(help="the folder it ran in (default: the current one)")] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Queue one run event (used by the shell hook); arguments of the command are never recorded."""
    import os
    from pathlib import Path

    from agent.shell import record_run as record

    record(
        _config(config, state_dir),
        command_line=command if command is not None else os.environ.get("FLOYO_CMD", ""),
        exit_code=exit_code,
        duration_ms=duration_ms,
        cwd=Path(cwd) if cwd else Path.cwd(),
        started_at=None if started_us is None else started_us / 1e6,
    )


@agent_app.command("install-service")
@_errors
def install_service(
    config: ConfigOpt = None,
    unit_dir: Annotated[
        str | None, typer.Option(help="where to write the unit (default ~/.config/systemd/user)")
    ] = None,
    enable: Annotated[
        bool, typer.Option("--enable", help="also run systemctl --user daemon-reload, enable --now")
    ] = False,
) -> None:
    """Install the systemd user unit that runs `floyo agent watch --config …` at login."""
    from pathlib import Path

    from agent.service import install_unit
    from floyo.settings import get_settings

    config_file = Path(config).expanduser().resolve() if config else get_settings().agent_config
    target = Path(unit_dir).expanduser() if unit_dir else Path.home() / ".config" / "systemd" / "user"
    if not config_file.exists():
        typer.echo(f"note: {config_file} does not exist yet; the service needs roots, server and token in it")
    for line in install_unit(config_file, target, enable=enable):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
    from agent.workflows.cli import register as register_workflows

    register_workflows(agent_app)
    app.add_typer(agent_app, name="agent")
