"""Whole-request errors: precise statuses with the error body of CONVENTIONS, and nothing stored."""

from __future__ import annotations

import gzip
from datetime import timedelta
from typing import Any

import orjson
import pytest

from floyo.settings import Settings
from tests.utils.factories import jwt_headers, make_batch, make_device, make_event, stored_events

URL = "/api/v1/telemetry"


def assert_error(answer, status: int, code: str) -> dict[str, Any]:
    """The answer has ``status`` and the error body ``{"error": {"code", "message", "details"}}``."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def post_raw(client, device, content: bytes, **headers: str):
    return client.post(URL, content=content, headers={**device.headers, "Content-Type": "application/json", **headers})


@pytest.mark.parametrize(
    ("content", "code"),
    [(b'{"events": [', "malformed_json"), (b"\xff\xfe{}", "malformed_json"), (b"", "malformed_json")],
)
def test_malformed_json_is_a_400(client, device, content, code):
    assert_error(post_raw(client, device, content), 400, code)


def test_gzip_bodies_are_accepted_and_broken_gzip_is_a_400(client, device, engine):
    body = orjson.dumps(make_batch([make_event()]))
    ok = post_raw(client, device, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["accepted"] == 1
    assert_error(post_raw(client, device, b"not gzip at all", **{"Content-Encoding": "gzip"}), 400, "malformed_gzip")
    truncated = gzip.compress(body)[:-12]
    assert_error(post_raw(client, device, truncated, **{"Content-Encoding": "gzip"}), 400, "malformed_gzip")
    assert len(stored_events(engine, device.user_id)) == 1


def test_missing_unknown_and_malformed_tokens_are_401(client):
    body = make_batch([make_event()])
    missing = client.post(URL, json=body)
    assert_error(missing, 401, "missing_token")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert_error(client.post(URL, json=body, headers={"Authorization": "Bearer floyo_nope"}), 401, "invalid_token")
    assert_error(client.post(URL, json=body, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "bad_authorization")
    assert_error(client.post(URL, json=body, headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token")


def test_a_revoked_token_is_a_401(client, device, engine):
    from floyo.auth import revoke_device_token

    assert client.post(URL, json=make_batch([make_event()]), headers=device.headers).status_code == 200
    with engine.begin() as conn:
        revoke_device_token(conn, user=device.user, device=device.device)
    assert_error(client.post(URL, json=make_batch([make_event()]), headers=device.headers), 401, "invalid_token")
    assert len(stored_events(engine, device.user_id)) == 1


def test_jwts_bad_signature_expired_and_unknown_user_are_401(client, device, settings: Settings):
    forged = Settings(jwt_secret="another-secret-of-enough-length-0123456789", env="test")
    assert_error(client.get("/api/v1/events", headers=jwt_headers(forged, device.user)), 401, "invalid_token")
    expired = jwt_headers(settings, device.user, ttl=timedelta(seconds=-5))
    assert_error(client.get("/api/v1/events", headers=expired), 401, "token_expired")
    assert_error(client.get("/api/v1/events", headers=jwt_headers(settings, "nobody-here")), 401, "unknown_user")
    import jwt

    unsigned = jwt.encode({"sub": device.user, "exp": 4102444800}, key="", algorithm="none")
    assert_error(client.get("/api/v1/events", headers={"Authorization": f"Bearer {unsigned}"}), 401, "invalid_token")
    from floyo.auth import jwt_key

    no_expiry = jwt.encode({"sub": device.user}, jwt_key(settings), algorithm="HS256")
    assert_error(client.get("/api/v1/events", headers={"Authorization": f"Bearer {no_expiry}"}), 401, "invalid_token")
    assert client.get("/api/v1/events", headers=jwt_headers(settings, device.user)).status_code == 200


def test_a_jwt_on_telemetry_is_a_403(client, device, settings: Settings, engine):
    answer = client.post(URL, json=make_batch([make_event()]), headers=jwt_headers(settings, device.user))
    assert_error(answer, 403, "device_token_required")
    assert stored_events(engine, device.user_id) == []


@pytest.mark.parametrize(
    ("tail", "status", "code", "words"),
    [
        (gzip.compress(b" "), 415, "gzip_multiple_members", "more than one member"),
        (gzip.compress(b'{"events": []}'), 415, "gzip_multiple_members", "more than one member"),
        (b"garbage", 400, "malformed_gzip", "7 bytes of trailing data"),
        (b"\x00", 400, "malformed_gzip", "1 bytes of trailing data"),
        (b"\x1f", 400, "malformed_gzip", "trailing data"),  # half a magic number is garbage too
    ],
)
def test_gzip_is_exactly_one_member_with_nothing_after_it(client, device, engine, tail, status, code, words):
    body = gzip.compress(orjson.dumps(make_batch([make_event()])))
    error = assert_error(post_raw(client, device, body + tail, **{"Content-Encoding": "gzip"}), status, code)
    assert words in error["message"]
    assert stored_events(engine, device.user_id) == []
    assert post_raw(client, device, body, **{"Content-Encoding": "gzip"}).json()["accepted"] == 1


def test_a_body_over_the_limit_is_a_413(client_with, device, engine):
    client = client_with(FLOYO_MAX_BODY_BYTES=2048)
    big = make_batch([make_event(path=f"p/{i}.txt") for i in range(40)])
    assert_error(client.post(URL, json=big, headers=device.headers), 413, "body_too_large")
    # a gzip body that is small on the wire but inflates past the limit
    bomb = gzip.compress(orjson.dumps(make_batch([make_event(meta={"pad": "x" * 3000})])))
    assert len(bomb) < 2048
    assert_error(post_raw(client, device, bomb, **{"Content-Encoding": "gzip"}), 413, "body_too_large")
    small = make_batch([make_event()])
    assert client.post(URL, json=small, headers=device.headers).json()["accepted"] == 1
    assert len(stored_events(engine, device.user_id)) == 1


def test_too_many_events_is_a_413(client_with, device, engine):
    client = client_with(FLOYO_MAX_BATCH_EVENTS=3)
    error = assert_error(
        client.post(URL, json=make_batch([make_event() for _ in range(4)]), headers=device.headers),
        413,
        "too_many_events",
    )
    assert error["details"] == {"limit": 3}
    assert (
        client.post(URL, json=make_batch([make_event() for _ in range(3)]), headers=device.headers).json()["accepted"]
        == 3
    )
    assert len(stored_events(engine, device.user_id)) == 3


def test_wrong_content_type_or_encoding_is_a_415(client, device):
    body = orjson.dumps(make_batch([make_event()]))
    assert_error(post_raw(client, device, body, **{"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert_error(
        client.post(URL, content=body, headers=device.headers), 415, "unsupported_media_type"
    )  # no content type at all
    assert_error(post_raw(client, device, body, **{"Content-Encoding": "br"}), 415, "unsupported_encoding")
    assert post_raw(client, device, body, **{"Content-Type": "application/json; charset=utf-8"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([make_event()], "invalid_body"),
        ({"sent_at": "2024-01-01T00:00:00Z"}, "invalid_body"),
        ({"events": {"0": make_event()}}, "invalid_body"),
        ({"events": "[]"}, "invalid_body"),
        ({"sent_at": "last tuesday", "events": [make_event()]}, "invalid_sent_at"),
        ({"sent_at": 1700000000, "events": [make_event()]}, "invalid_sent_at"),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_422(client, device, engine, body, code):
    assert_error(client.post(URL, json=body, headers=device.headers), 422, code)
    assert stored_events(engine, device.user_id) == []


def test_an_empty_batch_is_fine(client, device):
    assert client.post(URL, json=make_batch([]), headers=device.headers).json()["accepted"] == 0


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=ten", "kind=teleport", "since=not-a-time", "until=2024-13-01", "ext=" + "e" * 40],
)
def test_bad_query_parameters_are_a_422(client, device, query):
    error = assert_error(client.get(f"/api/v1/events?{query}", headers=device.headers), 422, "invalid_request")
    assert error["details"]


def test_bad_export_format_is_a_422(client, device):
    assert_error(client.get("/api/v1/events/export?format=xml", headers=device.headers), 422, "invalid_request")


def test_the_rate_limit_is_a_429_with_retry_after(client_with, engine):
    client = client_with(FLOYO_RATE_LIMIT_PER_SECOND=0.01, FLOYO_RATE_LIMIT_BURST=2)
    limited, fresh = make_device(engine), make_device(engine)
    answers = [client.post(URL, json=make_batch([make_event()]), headers=limited.headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    error = assert_error(answers[2], 429, "rate_limited")
    assert int(answers[2].headers["retry-after"]) >= 1
    assert error["details"]["retry_after_seconds"] > 0
    assert len(stored_events(engine, limited.user_id)) == 2
    # the limit is per token: another device is not affected
    assert client.post(URL, json=make_batch([make_event()]), headers=fresh.headers).status_code == 200


def test_unknown_routes_and_methods_use_the_error_body(client, device):
    assert_error(client.get("/api/v1/nothing-here"), 404, "http_404")
    not_allowed = client.get(URL, headers=device.headers)
    assert_error(not_allowed, 405, "http_405")
    assert not_allowed.headers["allow"] == "POST"


def test_an_unexpected_error_is_a_500_with_the_error_body_and_the_request_id(client):
    """A route that fails unexpectedly (added for this test) still answers in the error format, with its id."""

    def boom() -> None:
        raise RuntimeError("boom")

    client.app.add_api_route("/test-boom", boom)
    client.get("/test-boom")  # a first failure must not leave its headers behind for the next
    answer = client.get("/test-boom", headers={"X-Request-ID": "boom-req-1"})
    assert_error(answer, 500, "internal_error")
    assert "boom" not in answer.text
    assert answer.headers.get_list("x-request-id") == ["boom-req-1"]


def test_the_limits_are_inclusive(client_with, device, engine):
    body = orjson.dumps(make_batch([make_event(meta={"pad": "x" * 600}), make_event(meta={"pad": "y" * 600})]))
    assert len(body) > 1024  # the smallest limit the settings allow
    client = client_with(FLOYO_MAX_BODY_BYTES=len(body), FLOYO_MAX_BATCH_EVENTS=2)
    assert post_raw(client, device, body).json()["accepted"] == 2
    assert_error(post_raw(client, device, body + b" "), 413, "body_too_large")
    gz = gzip.compress(orjson.dumps(make_batch([make_event(), make_event()])))
    assert post_raw(client, device, gz, **{"Content-Encoding": "gzip"}).json()["accepted"] == 2
    assert len(stored_events(engine, device.user_id)) == 4


def test_the_default_limits_take_a_full_batch(client, device, engine):
    events = [make_event(path=f"proj/src/module_{i:04}.py") for i in range(5000)]
    assert client.post(URL, json=make_batch(events), headers=device.headers).json()["accepted"] == 5000
    over = client.post(URL, json=make_batch([*events, make_event()]), headers=device.headers)
    assert_error(over, 413, "too_many_events")
    assert len(stored_events(engine, device.user_id)) == 5000


def test_a_configured_audience_is_required(client_with, device, settings: Settings):
    """Supabase Auth tokens carry aud=authenticated; with FLOYO_JWT_AUDIENCE set, others are refused."""
    client = client_with(FLOYO_JWT_AUDIENCE="authenticated")
    with_aud = Settings(env="test", jwt_audience="authenticated")
    other_aud = Settings(env="test", jwt_audience="somebody-else")
    assert client.get("/api/v1/events", headers=jwt_headers(with_aud, device.user)).status_code == 200
    assert_error(client.get("/api/v1/events", headers=jwt_headers(other_aud, device.user)), 401, "invalid_token")
    assert_error(client.get("/api/v1/events", headers=jwt_headers(settings, device.user)), 401, "invalid_token")
