"""The agent's configuration: ``~/.config/floyo/agent.toml`` (FLOYO_AGENT_CONFIG), overridden by the command line."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.secure import private_dir
from floyo.errors import InvalidInput
from floyo.settings import get_settings


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs to run."""

    roots: dict[str, Path] = field(default_factory=dict)  # alias -> folder
    server: str | None = None
    token: str | None = None
    state_dir: Path = Path()
    exclude: tuple[str, ...] = ()
    privacy: bool = False
    privacy_key: str | None = None
    capture_opens: bool = True
    workflow_poll_seconds: float = 10.0  # how often the agent fetches its workflows from the server
    history_days: int = 90  # the local command history (never sent) keeps this many days…
    history_max_lines: int = 20_000  # …and at most this many command lines
    activity_days: int = 14  # the local activity log (for `floyo agent dry-run`) keeps this many days
    debounce_seconds: float = 0.5
    max_delay_seconds: float = 10.0
    fsync: str = "normal"
    max_spool_events: int = 1_000_000
    backoff_max_seconds: float = 60.0
    poll_interval_seconds: float = 30.0
    # workflows (docs/agent.md, "Workflows")
    max_runs_per_hour: int = 60  # per workflow
    max_consecutive_failures: int = 5  # then the workflow is disabled here, with the reason
    run_output_bytes: int = 8192  # the tail of a run's output that is kept
    run_env: tuple[str, ...] = ()  # environment variables a run gets beyond the built-in allow-list
    webhook_secrets: dict[str, str] = field(default_factory=dict)  # [webhook_secrets] name = "value"
    config_file: Path | None = None

    @property
    def spool_path(self) -> Path:
        return self.state_dir / "spool.sqlite3"

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def pause_path(self) -> Path:
        return self.state_dir / "paused"

    def key(self) -> bytes:
        """The privacy key: from the config, else generated once and kept in the state folder (mode 600)."""
        if self.privacy_key:
            return self.privacy_key.encode()
        path = self.state_dir / "privacy.key"
        if not path.exists():
            private_dir(self.state_dir)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


def parse_root(spec: str) -> tuple[str, Path]:
    """``alias=PATH`` or ``PATH`` (alias: the folder's name) -> (alias, resolved folder)."""
    alias, sep, path = spec.partition("=")
    if not sep:
        alias, path = "", spec
    folder = Path(os.path.expanduser(path)).resolve()
    return alias or folder.name or "root", folder


def _roots_from_file(value: Any) -> dict[str, Path]:
    if isinstance(value, dict):
        return dict(parse_root(f"{k}={v}") for k, v in value.items())
    if isinstance(value, list):
        return dict(parse_root(str(v)) for v in value)
    raise InvalidInput("bad_config", "'roots' must be a list of folders or a table alias = folder")


def load_config(config_file: Path | None = None, **overrides: Any) -> AgentConfig:
    """Read the TOML file (when present), then settings (FLOYO_AGENT_*), then non-None ``overrides``."""
    settings = get_settings()
    path = config_file or settings.agent_config
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput("bad_config", f"{path}: {exc}") from exc
    known = set(AgentConfig.__dataclass_fields__)
    unknown = set(doc) - known
    if unknown:
        raise InvalidInput("bad_config", f"{path}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {k: v for k, v in doc.items() if k != "roots"}
    if "roots" in doc:
        values["roots"] = _roots_from_file(doc["roots"])
    if "state_dir" in values:
        values["state_dir"] = Path(os.path.expanduser(values["state_dir"]))
    if "exclude" in values:
        values["exclude"] = tuple(values["exclude"])
    if "run_env" in values:
        values["run_env"] = tuple(values["run_env"])
    secrets_table = values.get("webhook_secrets", {})
    if not isinstance(secrets_table, dict) or not all(isinstance(v, str) for v in secrets_table.values()):
        raise InvalidInput("bad_config", f'{path}: [webhook_secrets] must be a table of name = "secret" strings')
    values.setdefault("state_dir", settings.agent_state_dir or settings.data_dir / "agent")
    if settings.agent_server:
        values["server"] = settings.agent_server
    if settings.agent_token:
        values["token"] = settings.agent_token.get_secret_value()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(AgentConfig(), config_file=path if path.exists() else None, **values)
