"""Recording the commands a person runs as ``run`` events: the program name only, never its arguments."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

from agent.config import AgentConfig
from agent.filters import PathFilter
from agent.spool import Spool
from agent.wire import WireMaker

WRAPPERS = frozenset({"sudo", "doas", "env", "time", "nohup", "command", "exec", "builtin", "nice", "!", "noglob"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
OUTSIDE_ROOTS = "shell"

_BASH = r"""# floyo: record commands as run events (program name, folder, exit code, duration; never arguments)
__floyo_preexec() {
  [ -n "$__floyo_armed" ] || return 0
  __floyo_armed=
  __floyo_cmd=$BASH_COMMAND
  __floyo_start=${EPOCHREALTIME/[.,]/}
}
__floyo_precmd() {
  local code=$?
  if [ -n "$__floyo_cmd" ]; then
    local now=${EPOCHREALTIME/[.,]/}
    ( FLOYO_CMD="$__floyo_cmd" %(floyo)s agent record-run --exit-code "$code" \
        --duration-ms $(( (now - __floyo_start) / 1000 )) --cwd "$PWD" >/dev/null 2>&1 & )
  fi
  __floyo_cmd=
}
__floyo_arm() { __floyo_armed=1; }
trap '__floyo_preexec' DEBUG
PROMPT_COMMAND="__floyo_precmd;${PROMPT_COMMAND:+$PROMPT_COMMAND;}__floyo_arm"
"""

_ZSH = r"""# floyo: record commands as run events (program name, folder, exit code, duration; never arguments)
zmodload zsh/datetime
autoload -Uz add-zsh-hook
__floyo_preexec() { __floyo_cmd=$1; __floyo_start=$EPOCHREALTIME; }
__floyo_precmd() {
  local code=$?
  if [[ -n $__floyo_cmd ]]; then
    local ms=$(( (EPOCHREALTIME - __floyo_start) * 1000 ))
    ( FLOYO_CMD="$__floyo_cmd" %(floyo)s agent record-run --exit-code $code --duration-ms ${ms%%.*} \
        --cwd "$PWD" &>/dev/null & )
  fi
  __floyo_cmd=
}
add-zsh-hook preexec __floyo_preexec
add-zsh-hook precmd __floyo_precmd
"""


def hook_snippet(shell: str) -> str:
    """The snippet to ``eval`` in ``~/.bashrc`` or ``~/.zshrc``."""
    floyo = f"{shlex.quote(sys.executable)} -m floyo"
    return (_BASH if shell == "bash" else _ZSH) % {"floyo": floyo}


def program_name(command_line: str) -> str | None:
    """The program a command line runs (``FOO=1 sudo -E pytest -x`` -> ``pytest``); arguments are discarded."""
    first = command_line.strip().splitlines()[0] if command_line.strip() else ""
    try:
        words = shlex.split(first)
    except ValueError:
        words = first.split()
    wrapped = False
    for word in words:
        if _ASSIGNMENT.match(word) or (wrapped and word.startswith("-")):
            continue
        if word in WRAPPERS:
            wrapped = True
            continue
        name = os.path.basename(word.rstrip("/"))
        return name[:256] or None
    return None


def locate(config: AgentConfig, cwd: Path) -> tuple[str, str]:
    """(root alias, folder relative to it) for ``cwd``; excluded folders and folders outside roots give ''."""
    for alias, root in config.roots.items():
        try:
            rel = cwd.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        rel = "" if rel == "." else rel
        excluded = rel and PathFilter(root, user_globs=config.exclude).excluded(rel, is_dir=True)
        return alias, "" if excluded else rel
    return OUTSIDE_ROOTS, ""


def record_run(
    config: AgentConfig, *, command_line: str, exit_code: int | None, duration_ms: int | None, cwd: Path
) -> bool:
    """Append one ``run`` event to the spool (the running agent sends it); False when paused or nothing to record."""
    if config.pause_path.exists():
        return False
    tool = program_name(command_line)
    if tool is None:
        return False
    root, rel = locate(config, cwd)
    wire = WireMaker(config.key() if config.privacy else None)
    started = time.time() - (duration_ms or 0) / 1000
    event = wire.make(
        root,
        {"kind": "run", "path": rel, "wall": started, "tool": tool, "exit_code": exit_code, "duration_ms": duration_ms},
    )
    event["ext"] = ""
    spool = Spool(config.spool_path, max_events=config.max_spool_events, fsync=config.fsync)
    try:
        return spool.append([event]) == 1
    finally:
        spool.close()
