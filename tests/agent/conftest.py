"""Fixtures of the agent's tests: a quick agent config and real agent processes stopped after each test."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.agent.helpers import AgentProcess, serve_on, write_config
from tests.utils.server import free_port


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A command run in process (`watch`) configures the root logger with the runner's stderr, closed once it
    returns: put the root logger back, so later in-process commands neither write to a closed stream nor log
    at its level."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def agent_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "agent.toml", backoff_max_seconds=1.0, debounce_seconds=0.3)


@pytest.fixture
def agents():
    started: list[AgentProcess] = []

    def start(*args, **kwargs) -> AgentProcess:
        agent = AgentProcess(*args, **kwargs)
        started.append(agent)
        return agent.start()

    yield start
    for agent in started:
        agent.close()


@pytest.fixture(scope="session")
def shared_server(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """One real `floyo serve` for the tests that need no special server settings nor restarts."""
    env = {"FLOYO_ENV": "test", "FLOYO_DATABASE_URL": database_url,
           "FLOYO_DATA_DIR": str(tmp_path_factory.mktemp("server-data")), "FLOYO_LOG_FORMAT": "json"}  # fmt: skip
    with serve_on(env, free_port()) as url:
        yield url
