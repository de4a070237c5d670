"""What the agent's commands share: the --config/--state-dir options, the config they load, one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from floyo.cli_support import fail

if TYPE_CHECKING:
    from agent.config import AgentConfig

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "agent config file (default FLOYO_AGENT_CONFIG, ~/.config/floyo/agent.toml)"
STATE_HELP = "state folder: spool, status, pause flag (default FLOYO_AGENT_STATE_DIR, $FLOYO_DATA_DIR/agent)"


def load_cli_config(config: str | None, state_dir: str | None, **overrides: Any) -> AgentConfig:
    """The agent config from ``--config`` (or the default file) with ``--state-dir`` and other overrides."""
    from pathlib import Path

    from agent.config import load_config

    return load_config(
        Path(config).expanduser() if config else None,
        state_dir=Path(state_dir).expanduser() if state_dir else None,
        **overrides,
    )


def one_line_errors(func: F) -> F:
    """One line on stderr and exit 1 for expected failures; ``friendly_errors`` without its database imports (the
    agent's RSS matters), and with OSError, which the agent meets on files."""
    import functools
    import sqlite3

    from floyo.errors import FloyoError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FloyoError as exc:
            message = f"{exc.message} [{exc.code}]"
        except (OSError, ValueError, sqlite3.Error) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(message)

    return wrapper  # type: ignore[return-value]


ConfigOpt = Annotated[str | None, typer.Option(help=CONFIG_HELP)]
StateOpt = Annotated[str | None, typer.Option(help=STATE_HELP)]
