"""`floyo demo` end to end: a real background API, the sample log through HTTP, a summary, `floyo stop`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from floyo.db import migrate
from tests.utils.db import scratch_database
from tests.utils.server import free_port


@pytest.fixture
def demo_env(database_url, tmp_path):
    with scratch_database(database_url) as url:
        migrate.upgrade(url)
        env = {k: v for k, v in os.environ.items() if k != "FLOYO_RETENTION_DAYS"}  # as after a fresh install
        yield {
            **env,
            "FLOYO_DATABASE_URL": url,
            "FLOYO_DATA_DIR": str(tmp_path / "data"),
            "FLOYO_PORT": str(free_port()),
            "FLOYO_DASHBOARD_PORT": str(free_port()),
            "FLOYO_MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }


def _floyo(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "floyo", *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in the output"
    return int(found.group(1))


def test_demo_ingests_sample_log_once_and_stops(demo_env):
    base_url = f"http://127.0.0.1:{demo_env['FLOYO_PORT']}"
    dashboard_url = f"http://127.0.0.1:{demo_env['FLOYO_DASHBOARD_PORT']}"
    try:
        first = _floyo(demo_env, "demo", "--personas", "2", "--days", "3")
        assert first.returncode == 0, first.stderr
        assert "9242 accepted, 0 duplicate (already stored), 4 rejected" in first.stdout  # .env and a ~ backup
        assert re.search(r"users:\s+871$", first.stdout, re.MULTILINE)  # 869 authors + 2 personas
        assert re.search(r"lake: .* \(\d+ events exported this run\)", first.stdout)
        assert re.search(r"features built in .*: sessions [1-9]", first.stdout)
        assert re.search(r"trained in \d+ s: floyo-next-action v1 \(MRR 0\.\d+, champion\)", first.stdout)
        assert "floyo-workflows v1" in first.stdout
        synthetic = _number(r"(\d+) events of 2 synthetic users", first.stdout)
        assert _number(r"events:\s+(\d+) \(", first.stdout) == 9242 + synthetic
        assert httpx.get(f"{base_url}/health/readiness").status_code == 200
        assert re.search(r"^suggestions: \d+ for 871 users", first.stdout, re.MULTILINE)
        assert re.search(r"^patterns: \d+ rules and [1-9]\d* workflows", first.stdout, re.MULTILINE)
        assert f"dashboard: {dashboard_url} (signed in as " in first.stdout
        assert httpx.get(f"{dashboard_url}/_stcore/health").status_code == 200

        # the first `floyo export` after the demo deletes nothing: retention is off unless configured
        exported = _floyo(demo_env, "export")
        assert exported.returncode == 0, exported.stderr
        assert "retention off" in exported.stdout
        assert "deleting" not in exported.stderr

        again = _floyo(demo_env, "demo", "--personas", "2", "--days", "3", "--no-train")
        assert again.returncode == 0, again.stderr
        assert "0 accepted, 9242 duplicate (already stored), 4 rejected" in again.stdout
        assert _number(r"events:\s+(\d+) \(", again.stdout) == 9242 + synthetic  # nothing was lost
        assert "(0 events exported this run)" in again.stdout
        assert "trained in" not in again.stdout
    finally:
        stopped = _floyo(demo_env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert re.search(r"^dashboard \(pid \d+\) stopped$", stopped.stdout, re.MULTILINE)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/health", timeout=2)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{dashboard_url}/_stcore/health", timeout=2)
