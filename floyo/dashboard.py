"""`floyo dashboard`: the Streamlit app (app_streamlit/) on 127.0.0.1, reading everything through the HTTP API."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import httpx

from floyo.background import start_detached, stop_recorded
from floyo.errors import Conflict, Unavailable
from floyo.settings import Settings

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0


def app_script() -> Path:
    """The dashboard's entry script, wherever the package is installed (found, not imported)."""
    spec = importlib.util.find_spec("app_streamlit")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("no_dashboard", "the app_streamlit package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def command(port: int) -> list[str]:
    """``streamlit run`` of the app: local only, headless, no telemetry, no file watcher (no inotify use)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_script()),
        "--server.address", HOST, "--server.port", str(port), "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false", "--server.runOnSave", "false", "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def environment(api: str, token: str | None) -> dict[str, str]:
    """The process environment of the dashboard: the API to read, and the token that signs in at start."""
    env = {**os.environ, "FLOYO_DASHBOARD_API": api}
    env.pop("FLOYO_DASHBOARD_TOKEN", None)
    if token:
        env["FLOYO_DASHBOARD_TOKEN"] = token
    return env


def url(port: int) -> str:
    return f"http://{HOST}:{port}"


def healthy(port: int) -> bool:
    """Streamlit's own health check answers."""
    try:
        return httpx.get(f"{url(port)}/_stcore/health", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def run(port: int, api: str, token: str | None) -> int:
    """Run the dashboard in the foreground until Ctrl-C; its exit code."""
    if healthy(port):
        raise Conflict("port_in_use", f"something already answers on {url(port)}; pass --port")
    return subprocess.call(command(port), env=environment(api, token))


def pid_file(settings: Settings) -> Path:
    return settings.data_dir / "dashboard.pid"


def start_in_background(settings: Settings, port: int, api: str, token: str | None) -> tuple[str, int, Path]:
    """Start the dashboard detached (stopping one this data dir started before); wait until it is healthy."""
    stop(settings)
    if healthy(port):
        raise Conflict("port_in_use", f"another server already answers on {url(port)}; set FLOYO_DASHBOARD_PORT")
    log_path = settings.data_dir / "dashboard.log"
    pid = start_detached(
        command(port), env=environment(api, token), log_path=log_path, pid_path=pid_file(settings),
        ready=lambda: healthy(port), timeout_s=READY_TIMEOUT_S, failed=("dashboard_failed", "the dashboard did not start"),
    )  # fmt: skip
    return url(port), pid, log_path


def stop(settings: Settings) -> str | None:
    """Stop the background dashboard of this data dir; a line saying so, or None when none was recorded."""
    stopped = stop_recorded(pid_file(settings), grace_s=15)
    if stopped is None:
        return None
    pid, was_running = stopped
    return f"dashboard (pid {pid}) stopped" if was_running else f"dashboard (pid {pid}) was not running"
