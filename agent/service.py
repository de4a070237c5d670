"""The systemd user unit that runs ``floyo agent watch`` in the background."""

from __future__ import annotations

import shlex
import subprocess
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "floyo-agent.service"


def unit_text(config_file: Path) -> str:
    """The unit file, with this Python and the given config file on its ExecStart line."""
    template = resources.files("agent").joinpath(UNIT_NAME).read_text()
    exec_start = " ".join(
        shlex.quote(part) for part in (sys.executable, "-m", "floyo", "agent", "watch", "--config", str(config_file))
    )
    return template % {"exec_start": exec_start}


def install_unit(config_file: Path, unit_dir: Path, *, enable: bool) -> list[str]:
    """Write the unit (and optionally enable and start it); returns what was done, line by line."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    target = unit_dir / UNIT_NAME
    target.write_text(unit_text(config_file))
    done = [f"wrote {target}"]
    commands = [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]
    if enable:
        for command in commands:
            subprocess.run(command, check=True)
            done.append("ran " + " ".join(command))
    else:
        done.append("to start it now and at every login: " + " && ".join(" ".join(c) for c in commands))
    return done
