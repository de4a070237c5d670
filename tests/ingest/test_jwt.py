"""No forgeable default: a generated secret kept in the data directory, strict JWT checks, no exposed default."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from floyo.auth import SECRET_FILE, _stored_secret, check_listen_address, is_loopback, jwt_key
from floyo.settings import Settings
from tests.ingest.test_request_errors import assert_error
from tests.utils.factories import jwt_headers

# the placeholder every earlier Floyo accepted when FLOYO_JWT_SECRET was unset: it is in the public code
OLD_PLACEHOLDER = "floyo-development-secret-change-me-0123456789"
EVENTS = "/api/v1/events"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _signed(claims: dict[str, Any], key: str, algorithm: str = "HS256") -> dict[str, str]:
    return _bearer(jwt.encode(claims, key, algorithm=algorithm))


def _claims(user: str, **extra: Any) -> dict[str, Any]:
    return {"sub": user, "exp": datetime.now(UTC) + timedelta(minutes=5), **extra}


def test_without_a_secret_one_is_generated_private_and_kept(settings: Settings, tmp_path: Path):
    assert settings.jwt_secret is None
    key = jwt_key(settings)
    path = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert key == path.read_text().strip()
    _stored_secret.cache_clear()  # a restart reads the same secret back
    assert jwt_key(settings) == key
    other = Settings(data_dir=tmp_path / "elsewhere", env="test")
    assert jwt_key(other) != key  # random, not derived from anything public


def test_the_old_public_placeholder_no_longer_signs_anything(client, device, settings: Settings):
    forged = _signed(_claims(device.user), OLD_PLACEHOLDER)
    assert_error(client.get(EVENTS, headers=forged), 401, "invalid_token")
    assert client.get(EVENTS, headers=jwt_headers(settings, device.user)).status_code == 200


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / SECRET_FILE).write_text("x" * 64)
    os.chmod(data / SECRET_FILE, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        jwt_key(Settings(data_dir=data, env="test"))


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path):
    s = Settings(data_dir=tmp_path, jwt_secret="c" * 40, env="test")
    assert jwt_key(s) == "c" * 40
    assert not (tmp_path / SECRET_FILE).exists()


def test_short_configured_secrets_are_refused_in_every_environment():
    with pytest.raises(ValueError, match="FLOYO_JWT_SECRET must be at least 32"):
        Settings(jwt_secret="short", env="development")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("floyo.example.com", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool):
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_needs_a_configured_secret(tmp_path: Path):
    generated = Settings(data_dir=tmp_path, env="test")
    check_listen_address(generated, "127.0.0.1")
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0 without FLOYO_JWT_SECRET"):
        check_listen_address(generated, "0.0.0.0")
    check_listen_address(Settings(data_dir=tmp_path, jwt_secret="s" * 40, env="test"), "0.0.0.0")


def test_floyo_serve_refuses_a_public_address_in_one_line(env, monkeypatch: pytest.MonkeyPatch):
    from floyo.cli import app
    from floyo.settings import get_settings

    monkeypatch.delenv("FLOYO_JWT_SECRET", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    get_settings.cache_clear()
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "without FLOYO_JWT_SECRET" in lines[0]
    assert "Traceback" not in result.output


def test_the_algorithm_is_pinned(client, device, settings: Settings):
    key = jwt_key(settings)
    assert_error(client.get(EVENTS, headers=_signed(_claims(device.user), key, "HS512")), 401, "invalid_token")
    unsigned = jwt.encode(_claims(device.user), key="", algorithm="none")
    assert_error(client.get(EVENTS, headers=_bearer(unsigned)), 401, "invalid_token")
    assert client.get(EVENTS, headers=_signed(_claims(device.user), key)).status_code == 200


def test_exp_and_sub_are_required(client, device, settings: Settings):
    key = jwt_key(settings)
    assert_error(client.get(EVENTS, headers=_signed({"sub": device.user}, key)), 401, "invalid_token")
    no_sub = {"exp": datetime.now(UTC) + timedelta(minutes=5)}
    assert_error(client.get(EVENTS, headers=_signed(no_sub, key)), 401, "invalid_token")
    assert_error(client.get(EVENTS, headers=_signed(_claims(""), key)), 401, "invalid_token")


def test_an_audience_is_refused_when_none_is_configured(client, device, settings: Settings):
    token = _signed(_claims(device.user, aud="someone-else"), jwt_key(settings))
    assert_error(client.get(EVENTS, headers=token), 401, "invalid_token")


def test_audience_and_issuer_are_checked_when_configured(client_with, device, settings: Settings):
    client = client_with(FLOYO_JWT_AUDIENCE="floyo-api", FLOYO_JWT_ISSUER="https://auth.example")
    key = jwt_key(settings)
    good = {"aud": "floyo-api", "iss": "https://auth.example"}
    assert client.get(EVENTS, headers=_signed(_claims(device.user, **good), key)).status_code == 200
    for claims in (
        {"iss": "https://auth.example"},  # no audience
        {"aud": "floyo-api"},  # no issuer
        {**good, "aud": "other-api"},
        {**good, "iss": "https://evil.example"},
    ):
        answer = client.get(EVENTS, headers=_signed(_claims(device.user, **claims), key))
        assert_error(answer, 401, "invalid_token")
