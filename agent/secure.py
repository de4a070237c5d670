"""The agent's files are the user's alone: the state folder 0700, the spool, config and keys 0600."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder is narrowed to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing; an existing file is narrowed to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _narrow(path, FILE_MODE)
    return path


def _narrow(path: Path, mode: int) -> bool:
    """Set ``mode`` when group or others have any access; True when it had to be changed."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077 == 0:
        return False
    os.chmod(path, mode)
    log.warning("%s was mode %o, readable by others: set to %o", path, current, mode)
    return True


def secure_state(state_dir: Path, files: Iterable[Path]) -> None:
    """At start: the state folder 0700, and every existing file in ``files`` 0600 (with a warning when fixed)."""
    private_dir(state_dir)
    for path in files:
        if path.exists():
            _narrow(path, FILE_MODE)
