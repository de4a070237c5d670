"""Recording the commands a person runs as ``run`` events: the program (and a known subcommand), never arguments.

The shell hooks take the time in the shell itself, when the command starts and when it ends, and hand it to
``floyo agent record-run`` in the background: the recorder's own start (a second or more later) never dates
an event. The recorder finds the running agent's roots, exclusions and privacy setting in its state folder
(``status.json``), however the agent was started.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import orjson

from agent.commandline import parse_command
from agent.config import AgentConfig, load_config
from agent.filters import PathFilter
from agent.pause import PauseLog
from agent.spool import Spool
from agent.wire import WireMaker
from agent.workflows.history import CommandHistory

OUTSIDE_ROOTS = "shell"

# bash: the DEBUG trap fires before each simple command; it is armed by PROMPT_COMMAND, so only the first
# command of a line is timed, and PROMPT_COMMAND's own commands (named __floyo_*) disarm it. EPOCHREALTIME
# (bash 5) has microseconds; older bash has whole seconds (printf %(%s)T).
_BASH = r"""# floyo: record commands as run events (program, subcommand, folder, exit code, times; never arguments)
__floyo_preexec() {
  [ -n "${__floyo_armed:-}" ] || return 0
  local t=${EPOCHREALTIME:-}
  __floyo_armed=
  case $BASH_COMMAND in __floyo_*) return 0 ;; esac
  t=${t/[.,]/}
  [ -n "$t" ] || { printf -v t '%(%s)T' -1; t+=000000; }
  __floyo_start=$t
  __floyo_cmd=$BASH_COMMAND
}
__floyo_precmd() {
  local code=$? now=${EPOCHREALTIME:-}
  now=${now/[.,]/}
  [ -n "$now" ] || { printf -v now '%(%s)T' -1; now+=000000; }
  if [ -n "${__floyo_cmd:-}" ]; then
    ( FLOYO_CMD=$__floyo_cmd @FLOYO@ agent record-run@OPTIONS@ --exit-code "$code" --started-us "$__floyo_start" \
        --duration-ms $(( (now - __floyo_start) / 1000 )) --cwd "$PWD" >/dev/null 2>&1 & )
  fi
  __floyo_cmd=
}
__floyo_arm() { __floyo_armed=1; }
if [[ "${PROMPT_COMMAND[*]:-}" != *__floyo_precmd* ]]; then
  if [[ "$(declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(__floyo_precmd "${PROMPT_COMMAND[@]}" __floyo_arm)
  else
    PROMPT_COMMAND="__floyo_precmd;${PROMPT_COMMAND:+$PROMPT_COMMAND;}__floyo_arm"
  fi
fi
trap '__floyo_preexec' DEBUG
"""

# zsh: preexec gets the whole line (aliases expanded in $3); zsh/datetime's epochtime is (seconds, nanoseconds),
# read once so that both halves are of the same moment; without the module, date(1) gives whole seconds.
_ZSH = r"""# floyo: record commands as run events (program, subcommand, folder, exit code, times; never arguments)
zmodload zsh/datetime 2>/dev/null
__floyo_now() {
  emulate -L zsh
  if (( ${+epochtime} )); then
    local -a t; t=($epochtime); REPLY=$(( t[1] * 1000000 + t[2] / 1000 ))
  else
    REPLY=$(date +%s)000000
  fi
}
__floyo_preexec() { emulate -L zsh; __floyo_now; __floyo_start=$REPLY; __floyo_cmd=$3; }
__floyo_precmd() {
  local code=$?
  emulate -L zsh
  __floyo_now
  if [[ -n $__floyo_cmd ]]; then
    ( FLOYO_CMD=$__floyo_cmd @FLOYO@ agent record-run@OPTIONS@ --exit-code $code --started-us $__floyo_start \
        --duration-ms $(( (REPLY - __floyo_start) / 1000 )) --cwd "$PWD" &>/dev/null & )
  fi
  __floyo_cmd=
}
autoload -Uz add-zsh-hook
add-zsh-hook preexec __floyo_preexec
add-zsh-hook precmd __floyo_precmd
"""


def hook_snippet(shell: str, *, state_dir: Path | None = None, config_file: Path | None = None) -> str:
    """The snippet to ``eval`` in ``~/.bashrc`` or ``~/.zshrc`` (naming the agent's state folder when given)."""
    floyo = f"{shlex.quote(sys.executable)} -m floyo"
    options = "".join(
        f" {flag} {shlex.quote(str(path))}"
        for flag, path in (("--state-dir", state_dir), ("--config", config_file))
        if path is not None
    )
    return (_BASH if shell == "bash" else _ZSH).replace("@FLOYO@", floyo).replace("@OPTIONS@", options)


def program_name(command_line: str) -> str | None:
    """The program a command line runs (``FOO=1 sudo -E pytest -x`` -> ``pytest``); arguments are discarded."""
    command = parse_command(command_line)
    return None if command is None else command.tool


def running_agent_config(config: AgentConfig) -> AgentConfig:
    """``config`` with the roots, exclusions and privacy of the agent that runs (or last ran) on its state folder."""
    try:
        doc = orjson.loads(config.status_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return config
    agent_file = doc.get("config_file")
    if agent_file and Path(agent_file) != config.config_file and Path(agent_file).exists():
        config = load_config(Path(agent_file), state_dir=config.state_dir)  # the agent's file: its privacy key
    roots = {str(a): Path(p) for a, p in (doc.get("roots") or {}).items()}
    return replace(
        config,
        roots=roots or config.roots,
        exclude=tuple(doc.get("exclude", config.exclude)),
        privacy=bool(doc.get("privacy", config.privacy)),
    )


def place(config: AgentConfig, cwd: Path) -> tuple[str, str, bool]:
    """(root alias, folder relative to it, excluded) for ``cwd``; outside every root: (``shell``, '', True)."""
    resolved = cwd.resolve()
    for alias, root in sorted(config.roots.items(), key=lambda item: -len(item[1].parts)):  # innermost first
        try:
            rel = resolved.relative_to(root).as_posix()
        except ValueError:
            continue
        rel = "" if rel == "." else rel
        excluded = bool(rel) and PathFilter(root, user_globs=config.exclude).excluded(rel, is_dir=True)
        return alias, rel, excluded
    return OUTSIDE_ROOTS, "", True


def locate(config: AgentConfig, cwd: Path) -> tuple[str, str]:
    """(root alias, folder relative to it) for ``cwd``; excluded folders and folders outside roots give ''."""
    alias, rel, excluded = place(config, cwd)
    return alias, "" if excluded else rel


def record_run(
    config: AgentConfig,
    *,
    command_line: str,
    exit_code: int | None,
    duration_ms: int | None,
    cwd: Path,
    started_at: float | None = None,
) -> bool:
    """Append one ``run`` event to the spool (the running agent sends it); False when paused or not a program.

    ``started_at`` is the shell's own time of the command's start (seconds since the epoch); without it the
    start is guessed from now and the duration.
    """
    started = started_at if started_at is not None else time.time() - (duration_ms or 0) / 1000
    if PauseLog(config.state_dir).paused_at(started):
        return False
    command = parse_command(command_line)
    if command is None:
        return False
    config = running_agent_config(config)
    root, rel, excluded = place(config, cwd)
    if not excluded:  # the whole line, for `floyo agent approve` here only: never spooled, never sent
        CommandHistory(config).record(root=root, folder=rel, command_line=command_line, at=started)
    rel = "" if excluded else rel
    wire = WireMaker(config.key() if config.privacy else None)
    decided = {"kind": "run", "path": rel, "wall": started, "tool": command.tool, "exit_code": exit_code,
               "duration_ms": duration_ms, "meta": {"subcommand": command.subcommand} if command.subcommand else None}  # fmt: skip
    event = wire.make(root, decided)
    event["ext"] = ""
    spool = Spool(config.spool_path, max_events=config.max_spool_events, fsync=config.fsync)
    try:
        return spool.append([event]) == 1
    finally:
        spool.close()
