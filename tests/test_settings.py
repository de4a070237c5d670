"""One settings object from flat FLOYO_* variables and .env; placeholder secrets refused in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from floyo.settings import Settings, get_settings

STRONG = "a-real-production-secret-of-plenty-length-42"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No FLOYO_* variable from the outside, and no .env in the working directory."""
    import os

    for key in list(os.environ):
        if key.startswith("FLOYO_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults():
    s = Settings()
    assert s.env == "development"
    assert s.database_url is None
    assert s.data_dir == Path.home() / ".local" / "share" / "floyo"
    assert s.lake_path == s.data_dir / "lake"
    assert s.embedded_pg_dir == s.data_dir / "pg"
    assert (s.max_batch_events, s.max_body_bytes, s.max_future_skew_hours) == (5000, 5 * 1024 * 1024, 24.0)
    assert s.job_interval == "30m"
    assert s.mlflow_tracking_uri.startswith("sqlite:///")
    assert s.mlflow_tracking_uri.endswith("mlflow/mlflow.db")


def test_flat_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("FLOYO_DATABASE_URL", "postgresql://db.example/floyo")
    monkeypatch.setenv("FLOYO_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FLOYO_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("FLOYO_MAX_BATCH_EVENTS", "10")
    monkeypatch.setenv("FLOYO_REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("FLOYO_JOB_INTERVAL", "5m")
    s = Settings()
    assert s.database_url == "postgresql://db.example/floyo"
    assert s.data_dir == tmp_path / "d"
    assert s.lake_path == tmp_path / "lake"
    assert s.max_batch_events == 10
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.job_interval == "5m"


def test_dot_env_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / ".env").write_text("FLOYO_MAX_BATCH_EVENTS=77\nFLOYO_PORT=9001\nUNRELATED=1\n")
    assert (Settings().max_batch_events, Settings().port) == (77, 9001)
    monkeypatch.setenv("FLOYO_PORT", "9002")
    assert Settings().port == 9002


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOYO_PORT", "8100")
    first = get_settings()
    monkeypatch.setenv("FLOYO_PORT", "8200")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().port == 8200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLOYO_ENV", "staging"),
        ("FLOYO_PORT", "70000"),
        ("FLOYO_MAX_BODY_BYTES", "10"),
        ("FLOYO_MAX_BATCH_EVENTS", "0"),
        ("FLOYO_RATE_LIMIT_PER_SECOND", "0"),
        ("FLOYO_MAX_FUTURE_SKEW_HOURS", "1e9"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("FLOYO_").lower()):
        Settings()


def test_production_refuses_placeholder_and_short_secrets(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOYO_ENV", "production")
    with pytest.raises(ValidationError, match="FLOYO_JWT_SECRET"):
        Settings()
    monkeypatch.setenv("FLOYO_JWT_SECRET", "short")
    with pytest.raises(ValidationError, match="FLOYO_JWT_SECRET"):
        Settings()
    monkeypatch.setenv("FLOYO_JWT_SECRET", STRONG)
    s = Settings()
    assert s.jwt_secret is not None
    assert s.jwt_secret.get_secret_value() == STRONG
    assert STRONG not in repr(s)


def test_development_has_no_placeholder_secret(monkeypatch: pytest.MonkeyPatch):
    """Unset means generated on first start (floyo.auth.jwt_key), never a default from the code."""
    monkeypatch.setenv("FLOYO_ENV", "development")
    assert Settings().jwt_secret is None


def test_the_cli_refuses_bad_settings_in_one_line(monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from floyo.cli import app

    monkeypatch.setenv("FLOYO_ENV", "production")
    result = CliRunner().invoke(app, ["token", "list"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "FLOYO_JWT_SECRET" in lines[0]
