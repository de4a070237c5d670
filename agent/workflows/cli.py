"""`floyo agent workflows | approve | reject | runs | dry-run`: the person's side of the workflows on this machine.

``register`` adds them to ``floyo agent``; heavy imports stay inside the commands.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli_options import ConfigOpt, StateOpt
from agent.cli_options import load_cli_config as _config
from agent.cli_options import one_line_errors as _errors
from floyo.cli_support import fail

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.workflows.local import LocalWorkflow
    from agent.workflows.store import WorkflowStore

IdArg = Annotated[int, typer.Argument(min=1, help="the workflow's id (`floyo agent workflows`)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _setup(config: str | None, state_dir: str | None) -> tuple[AgentConfig, WorkflowStore]:
    """The config of the agent running on this state folder (its server and token) and the local store."""
    from dataclasses import replace

    import orjson

    from agent.shell import running_agent_config
    from agent.workflows.store import WorkflowStore

    cfg = running_agent_config(_config(config, state_dir))
    if not cfg.server:  # an agent started with --server: its status names it
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            cfg = replace(cfg, server=orjson.loads(cfg.status_path.read_bytes()).get("server"))
    return cfg, WorkflowStore(cfg)


def _sync(cfg: AgentConfig, store: WorkflowStore, *, quiet: bool = False) -> str | None:
    """Sync with the server now; None when done, else why not (also said on stderr unless ``quiet``)."""
    from agent.workflows.sync import SyncError, sync_now

    try:
        for note in sync_now(cfg, store, timeout=5.0):
            typer.echo(f"warning: {note}", err=True)
        return None
    except SyncError as exc:
        if not quiet:
            synced = store.synced_at()
            when = "never synced" if synced is None else f"the list as last synced, {_ago(synced)}"
            typer.echo(f"warning: {exc.message}; showing {when}", err=True)
        return exc.message


def _ago(ts: float) -> str:
    import time

    seconds = max(0, int(time.time() - ts))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _paused_note(store: WorkflowStore) -> None:
    if store.paused():
        typer.echo("paused: nothing is recorded and no workflow runs until `floyo agent resume`")


@_errors
def workflows(config: ConfigOpt = None, state_dir: StateOpt = None, as_json: JsonOpt = False) -> None:
    """The workflows synced to this machine: id, version, state (pending, approved, disabled, rejected), trigger
    and exactly what each would run."""
    import orjson

    from agent.workflows.present import workflow_doc, workflow_lines

    cfg, store = _setup(config, state_dir)
    unsynced = _sync(cfg, store, quiet=as_json)
    listed = store.workflows()
    if as_json:
        doc = {"paused": store.paused(), "synced": unsynced is None, "sync_error": unsynced,
               "synced_at": store.synced_at(), "workflows": [workflow_doc(w) for w in listed]}  # fmt: skip
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    _paused_note(store)
    if not listed:
        typer.echo("no workflows yet: accept a suggestion in the dashboard, or POST /api/v1/workflows")
    for workflow in listed:
        typer.echo("\n".join(workflow_lines(workflow)))


def _synced(
    config: str | None, state_dir: str | None, workflow_id: int, *, runnable: bool = False
) -> tuple[AgentConfig, WorkflowStore, LocalWorkflow]:
    """The config, the store and the workflow after a sync; ``runnable``: one line when it cannot run here."""
    cfg, store = _setup(config, state_dir)
    workflow = _find(store, workflow_id, _sync(cfg, store, quiet=True))
    if runnable and workflow.hash is None:
        raise fail(f"workflow {workflow_id} cannot run here: {workflow.reason}")
    return cfg, store, workflow


def _find(store: WorkflowStore, workflow_id: int, unsynced: str | None) -> LocalWorkflow:
    """The workflow as synced; not found and not synced: one line saying both."""
    from floyo.errors import NotFound

    try:
        workflow = store.get(workflow_id)
    except NotFound as exc:
        if unsynced is None:
            raise
        raise fail(f"no workflow {workflow_id} on this machine, and the server could not be asked: {unsynced}") from exc
    if unsynced is not None:
        typer.echo(f"warning: {unsynced}; this is the definition as last synced", err=True)
    return workflow


def _command_for(
    cfg: AgentConfig, workflow: LocalWorkflow, index: int, given: str | None, yes: bool
) -> list[str] | None:
    """The argv to approve for a suggested ``run`` action: given, else proposed from the local history (the person
    confirms or types another), else None (the definition's own command)."""
    import posixpath
    import shlex

    from agent.workflows.history import CommandHistory, argv_of
    from agent.workflows.present import first_root

    action = workflow.definition["actions"][index]
    if given is not None:
        return _checked(argv_of(given), given)
    root, cwd = first_root(workflow.definition) or next(iter(cfg.roots), ""), action.get("cwd", ".")
    folder = "" if cwd == "." or "{" in cwd else posixpath.normpath(cwd)
    tool = posixpath.basename(action["command"][0])
    proposed = CommandHistory(cfg).propose(root=root, folder=folder, tool=tool)
    where = f"{root}:{folder or '.'}"
    if proposed is None:
        typer.echo(f"action {index + 1}: no `{tool}` command line in your local history of {where}: "
                   f"it runs `{shlex.join(action['command'])}`")  # fmt: skip
        return None
    typer.echo(f"action {index + 1}: from your local history of {where} (never sent): `{shlex.join(proposed)}`")
    if yes or typer.confirm("run this command line?", default=True):
        return _checked(proposed, shlex.join(proposed))
    line = typer.prompt("the command line to run instead")
    return _checked(argv_of(line), line)


def _checked(argv: list[str] | None, line: str) -> list[str]:
    """``argv`` if the agent may run it as an approved ``run`` action (the definition's own rules), else a failure."""
    from pydantic import ValidationError

    from floyo.workflow_definition import RunAction

    if argv is None:
        raise fail(f"not a plain command line (a pipe, a redirection, a list?): {line}")
    try:
        RunAction(type="run", command=argv)
    except ValidationError as exc:
        raise fail(f"cannot run {line!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return argv


@_errors
def approve(
    workflow_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="approve without asking (and take the proposals)")] = False,
    command: Annotated[
        str | None, typer.Option(help="for a suggested run action: the command line to run (instead of proposing)")
    ] = None,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Show a workflow's exact definition and approve it to run on this machine (that version only)."""
    import orjson

    from agent.workflows.present import workflow_lines

    cfg, store, workflow = _synced(config, state_dir, workflow_id, runnable=True)
    typer.echo(orjson.dumps(workflow.definition, option=orjson.OPT_INDENT_2).decode())
    argv: dict[int, list[str]] = {}
    for index, action in enumerate(workflow.definition["actions"]):
        if action.get("type") == "run" and action.get("args_from_history"):
            chosen = _command_for(cfg, workflow, index, command, yes)
            if chosen is not None:
                argv[index] = chosen
    from dataclasses import replace

    typer.echo("\n".join(workflow_lines(replace(workflow, argv=argv))))
    if not yes and not typer.confirm(f"approve workflow {workflow_id} version {workflow.version}?", default=False):
        raise fail("not approved", 1)
    store.approve(workflow, argv)
    told = _sync(cfg, store, quiet=True) is None
    typer.echo(f"approved: workflow {workflow_id} v{workflow.version} runs when its trigger fires"
               + ("" if told else " (the agent tells the server when it can reach it)"))  # fmt: skip
    if not workflow.server_enabled:
        typer.echo("note: it is disabled on the server: it runs once enabled there again (the dashboard, or "
                   'PATCH /api/v1/workflows/ID {"enabled": true})')  # fmt: skip
    _paused_note(store)


@_errors
def reject(workflow_id: IdArg, config: ConfigOpt = None, state_dir: StateOpt = None) -> None:
    """Refuse a workflow on this machine (a changed definition asks again); an approval is withdrawn."""
    cfg, store, workflow = _synced(config, state_dir, workflow_id)
    store.reject(workflow)
    told = _sync(cfg, store, quiet=True) is None
    typer.echo(f"rejected: workflow {workflow_id} v{workflow.version} will not run here"
               + ("" if told else " (the agent tells the server when it can reach it)"))  # fmt: skip


@_errors
def runs(
    workflow_id: Annotated[int | None, typer.Argument(min=1, help="only this workflow's runs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many, newest first")] = 20,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The runs recorded on this machine, newest first: start, outcome, exit code, duration, error."""
    import orjson

    from agent.workflows.present import run_doc, run_line

    _, store = _setup(config, state_dir)
    found = store.runs(workflow_id, limit=limit)
    if workflow_id is not None and not found:
        store.get(workflow_id)  # an id never seen here is an error, not "no runs"
    if as_json:
        typer.echo(orjson.dumps([run_doc(r, s) for r, s in found], option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        typer.echo("no runs yet" + ("" if workflow_id is None else f" of workflow {workflow_id}"))
    for run, reported in found:
        typer.echo(run_line(run, reported))


SHOWN_RUNS = 50


@_errors
def dry_run(
    workflow_id: IdArg,
    days: Annotated[float, typer.Option(min=0.01, max=365, help="how many past days of local activity")] = 7.0,
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a workflow would have done over the last days of this machine's recorded activity; nothing is run."""
    import time

    import orjson

    from agent.workflows.activity import ActivityLog
    from agent.workflows.dryrun import dry_run as replay

    cfg, _, workflow = _synced(config, state_dir, workflow_id, runnable=True)
    until = time.time()
    since = until - days * 86400
    runs = replay(workflow, ActivityLog(cfg).since(since), since=since, until=until)
    if as_json:
        doc = {"workflow_id": workflow_id, "version": workflow.version, "days": days, "runs": [r.doc() for r in runs]}
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    typer.echo(f"workflow {workflow_id} v{workflow.version} ({workflow.state}) would have run {len(runs)} time(s) "
               f"in the last {days:g} day(s) of local activity (nothing was run):")  # fmt: skip
    for run in runs[-SHOWN_RUNS:]:
        doc = run.doc()
        typer.echo(f"  {doc['at']}  {run.trigger}")
        for action in run.actions:
            typer.echo(f"      {action}")
    if len(runs) > SHOWN_RUNS:
        typer.echo(f"  (the last {SHOWN_RUNS} shown; --json lists all)")


def register(app: typer.Typer) -> None:
    """Add the workflow commands to ``floyo agent``."""
    commands = (("workflows", workflows), ("approve", approve), ("reject", reject), ("runs", runs),
                ("dry-run", dry_run))  # fmt: skip
    for name, command in commands:
        app.command(name)(command)
