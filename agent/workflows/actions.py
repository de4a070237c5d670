"""What a workflow does: run a program (argv, never a shell), move or copy the file that triggered, notify, POST.

Every path is resolved again here, symlinks followed, and must stay inside the trigger's root; a program runs in
its own process group with an allow-listed environment, a time limit and a capped output.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import hmac
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from agent.coalesce import file_state
from agent.spool import FileState
from agent.workflows.model import Outcome, RunRecord
from agent.workflows.triggers import file_values, render
from floyo.workflow_definition import CopyAction, MoveAction, NotifyAction, RunAction, WebhookAction, inside_root

log = logging.getLogger(__name__)

# the environment a program gets: these names (and LC_*) from the agent's own, plus the run's FLOYO_* values;
# never the agent's token or anything else it was started with
ENV_ALLOW = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TZ", "SHELL",
    "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
})  # fmt: skip
KILL_GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL of a timed-out (or cancelled) run's process group
MAX_NUMBERED = 999  # "x (1).pdf" … "x (999).pdf", then the move or copy fails
WEBHOOK_BACKOFF = (0.5, 30.0)  # first wait, longest wait between webhook attempts


class ActionError(Exception):
    """An action that could not be done, in words for the person."""


@dataclass
class Result:
    """How one action ended."""

    outcome: Outcome
    exit_code: int | None = None
    error: str | None = None
    output: bytes = b""


@dataclass
class Context:
    """What the actions of one run share."""

    alias: str
    root: Path  # resolved
    rel: str | None  # the triggering file relative to the root; None for a schedule
    run: RunRecord
    name: str  # the workflow's name
    cancel: threading.Event  # set: stop now (restart, pause, disable, the agent stopping)
    own: Callable[[str, str, FileState | None], None]  # note a path this run wrote: (alias, rel, its state)
    output_cap: int = 8192
    env_allow: frozenset[str] = frozenset()
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    event: str | None = None  # the trigger's event kind

    def absolute_values(self) -> dict[str, str]:
        """Placeholders for a program's arguments: path and dir absolute, so that an argument never depends on
        the working directory and a file named ``-rf`` can never be read as an option."""
        values = file_values(self.rel)
        if self.rel is not None:
            full = self.root / self.rel
            values["trigger.path"], values["trigger.dir"] = str(full), str(full.parent)
        return values


def resolve_inside(root: Path, rel: str, what: str) -> Path:
    """``root/rel`` with symlinks followed, or ActionError when that leaves the root."""
    try:
        inside_root(rel, what)
    except ValueError as exc:
        raise ActionError(str(exc)) from exc
    target = (root / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise ActionError(f"{what} {rel!r} leads outside the root (a symlink?)")
    return target


def run_env(ctx: Context) -> dict[str, str]:
    """The allow-listed environment of a program, with the trigger's values."""
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW or k in ctx.env_allow or k.startswith("LC_")}
    env.update({
        "FLOYO_WORKFLOW_ID": str(ctx.run.workflow_id), "FLOYO_WORKFLOW_VERSION": str(ctx.run.version),
        "FLOYO_RUN_ID": ctx.run.run_id, "FLOYO_TRIGGER_ROOT": ctx.alias, "FLOYO_TRIGGER_EVENT": ctx.event or "schedule",
    })  # fmt: skip
    if ctx.rel is not None:
        env["FLOYO_TRIGGER_PATH"] = str(ctx.root / ctx.rel)
        env["FLOYO_TRIGGER_REL"] = ctx.rel
    return env


def _die_with_the_agent(agent_pid: int) -> None:
    """In the child before exec (Linux): SIGKILL when the agent's run thread dies, so a program does not outlive an
    agent that was killed (``kill -9``) in the middle of its run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != agent_pid:  # the agent died before that took effect
        os._exit(137)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exited(pid: int) -> bool:
    """Whether the child ``pid`` has ended, without reaping it (its pid, and so its group id, stay taken)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _read_tail(stream: Any, cap: int, out: bytearray) -> None:
    """Read a pipe to its end, keeping only its last ``cap`` bytes (a chatty program costs no memory)."""
    with contextlib.suppress(OSError, ValueError):  # a pipe held open by an escaped child is left to it
        while chunk := stream.read1(65536):
            out += chunk
            if len(out) > cap:
                del out[: len(out) - cap]


def run_program(ctx: Context, action: RunAction, argv: list[str]) -> Result:
    """Run ``argv`` in the action's working directory until it exits, times out (then its whole process group
    gets SIGTERM, and SIGKILL ``KILL_GRACE_SECONDS`` later) or the run is cancelled."""
    cwd = resolve_inside(ctx.root, render(action.cwd, file_values(ctx.rel)), "cwd")
    if not cwd.is_dir():
        raise ActionError(f"cwd {action.cwd!r} is not a folder under root {ctx.alias!r}")
    values = ctx.absolute_values()
    args = [render(a, values) for a in argv]
    try:
        proc = subprocess.Popen(
            args, cwd=cwd, env=run_env(ctx), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            preexec_fn=functools.partial(_die_with_the_agent, os.getpid()) if sys.platform == "linux" else None,
        )  # fmt: skip
    except FileNotFoundError:
        return Result("failed", 127, f"program not found: {args[0]}")
    except PermissionError:
        return Result("failed", 126, f"program not executable: {args[0]}")
    tail = bytearray()
    reader = threading.Thread(target=_read_tail, args=(proc.stdout, ctx.output_cap, tail), daemon=True)
    reader.start()
    deadline = time.monotonic() + action.timeout_s
    outcome: Outcome | None = None
    pause = 0.005
    while not _exited(proc.pid):
        if ctx.cancel.is_set():
            outcome = "cancelled"
        elif time.monotonic() >= deadline:
            outcome = "timeout"
        if outcome is not None:
            _kill_group(proc.pid, signal.SIGTERM)
            grace = time.monotonic() + KILL_GRACE_SECONDS
            while not _exited(proc.pid) and time.monotonic() < grace:
                time.sleep(0.02)
            break
        # polled, from 5 ms up to 0.1 s: a quick program is seen to end quickly, a cancel within 0.1 s
        ctx.cancel.wait(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.1)
    # the program has ended (or is being stopped) but is not reaped yet, so its group id cannot have been taken by
    # another process: whatever is left in its group (a background child, a child ignoring SIGTERM) ends with it
    _kill_group(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=5)
    if proc.stdout is not None and not reader.is_alive():
        proc.stdout.close()
    code = proc.returncode
    if outcome == "timeout":
        return Result("timeout", code, f"killed after {action.timeout_s} s", bytes(tail))
    if outcome == "cancelled":
        return Result("cancelled", code, "stopped", bytes(tail))
    if code != 0:
        return Result("failed", code, f"{Path(args[0]).name} exited with {code}", bytes(tail))
    return Result("ok", 0, None, bytes(tail))


def _numbered(dest: Path, i: int) -> Path:
    if i == 0:
        return dest
    suffix = "".join(dest.suffixes[-1:])
    return dest.with_name(f"{dest.name[: len(dest.name) - len(suffix)]} ({i}){suffix}")


def _destination(ctx: Context, template: str) -> tuple[Path, Path]:
    """(the file to act on, where it goes: a folder when the rendered dest ends with '/' or is one)."""
    if ctx.rel is None:
        raise ActionError("move and copy need the file that triggered")
    src = resolve_inside(ctx.root, ctx.rel, "path")
    st = file_state(str(src))
    if st is None or not src.is_file():
        raise ActionError(f"{ctx.rel!r} is not a file any more")
    rendered = render(template, file_values(ctx.rel))
    dest = resolve_inside(ctx.root, rendered.rstrip("/"), "dest")
    if rendered.endswith("/") or dest.is_dir():
        dest = dest / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    parent = dest.parent.resolve()  # again after creating folders: none of them may lead out
    if parent != ctx.root and not parent.is_relative_to(ctx.root):
        raise ActionError(f"dest {rendered!r} leads outside the root (a symlink?)")
    return src, dest


def _claim(dest: Path, place: Callable[[Path], None]) -> Path:
    """Put a file at ``dest`` or the first free numbered name beside it; never over an existing file."""
    for i in range(MAX_NUMBERED + 1):
        candidate = _numbered(dest, i)
        try:
            place(candidate)
        except FileExistsError:
            continue
        return candidate
    raise ActionError(f"{dest.name} and its numbered names up to ({MAX_NUMBERED}) exist already")


def _copy_exclusive(src: Path, dest: Path) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    shutil.copymode(src, dest)


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # fails on an existing name: a move never overwrites, even in a race
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        _copy_exclusive(src, dest)


def _rel(ctx: Context, path: Path) -> str:
    return str(path.relative_to(ctx.root)).replace(os.sep, "/")


def move_or_copy(ctx: Context, action: MoveAction | CopyAction) -> Result:
    """Move or copy the triggering file to the rendered ``dest`` inside the root (a numbered name if taken)."""
    src, dest = _destination(ctx, action.dest)
    try:
        if isinstance(action, MoveAction):
            done = _claim(dest, lambda d: _link_or_copy(src, d))
            os.unlink(src)
            ctx.own(ctx.alias, _rel(ctx, src), None)
        else:
            done = _claim(dest, lambda d: _copy_exclusive(src, d))
    except OSError as exc:
        raise ActionError(f"{action.type} {ctx.rel!r} to {_rel(ctx, dest)!r}: {exc.strerror or exc}") from exc
    ctx.own(ctx.alias, _rel(ctx, done), file_state(str(done)))
    verb = "moved" if isinstance(action, MoveAction) else "copied"
    return Result("ok", output=f"{verb} {ctx.rel} to {_rel(ctx, done)}\n".encode())


def notify(ctx: Context, action: NotifyAction) -> Result:
    """A desktop notification through notify-send when there is a desktop session; else a line in the log."""
    message = render(action.message, file_values(ctx.rel))
    program = shutil.which("notify-send")
    if program and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run([program, "--app-name=Floyo", f"Floyo: {ctx.name}", message], env=run_env(ctx),
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)  # fmt: skip
            if done.returncode == 0:
                return Result("ok", output=f"notified: {message}\n".encode())
    log.info("workflow %d %r: %s", ctx.run.workflow_id, ctx.name, message)
    return Result("ok", output=f"logged: {message}\n".encode())


def sign(secret: str, body: bytes) -> str:
    """The ``X-Floyo-Signature`` header's value: HMAC-SHA256 of the body with the secret, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook(ctx: Context, action: WebhookAction) -> Result:
    """POST the run as JSON, signed when the action names a secret; retried with backoff on network errors,
    408, 429 and 5xx (``retries`` more attempts), never on another 4xx."""
    headers = {"Content-Type": "application/json", "User-Agent": "floyo-agent", "X-Floyo-Run-Id": ctx.run.run_id}
    body = orjson.dumps({
        "workflow_id": ctx.run.workflow_id, "workflow": ctx.name, "version": ctx.run.version,
        "run_id": ctx.run.run_id, "trigger": ctx.run.trigger,
    })  # fmt: skip
    if action.secret is not None:
        secret = ctx.webhook_secrets.get(action.secret)
        if secret is None:
            return Result("failed", error=f"webhook secret {action.secret!r} is not in [webhook_secrets] of the "
                                          "agent's config file")  # fmt: skip
        headers["X-Floyo-Signature"] = sign(secret, body)
    values = {k: quote(v, safe="/") for k, v in file_values(ctx.rel).items()}
    url = render(action.url, values)
    error = "not sent"
    for attempt in range(action.retries + 1):
        if attempt:
            wait = min(WEBHOOK_BACKOFF[1], WEBHOOK_BACKOFF[0] * 2 ** (attempt - 1))
            if ctx.cancel.wait(wait):
                return Result("cancelled", error=f"stopped while retrying: {error}")
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=action.timeout_s, follow_redirects=False)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if response.status_code < 300:
            return Result("ok", output=f"POST {response.status_code} after {attempt + 1} attempt(s)\n".encode())
        error = f"the webhook answered HTTP {response.status_code}"
        if response.status_code < 500 and response.status_code not in (408, 429):
            break
    return Result("failed", error=f"{error} (after {attempt + 1} attempt(s))")
