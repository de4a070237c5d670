"""Reading events back: skew correction as stored, filters, cursor pagination, who may read whose events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from floyo.settings import Settings
from tests.utils.factories import jwt_headers, make_batch, make_event, stored_events

URL = "/api/v1/telemetry"
EVENTS = "/api/v1/events"


def test_clock_skew_is_corrected_and_both_times_kept(client, device, engine):
    """The device's clock runs an hour ahead: ts is moved back, client_ts and the offset are kept."""
    device_now = datetime.now(UTC) + timedelta(hours=1)
    event = make_event(ts=(device_now - timedelta(minutes=5)).isoformat())
    before = datetime.now(UTC)
    answer = client.post(URL, json=make_batch([event], sent_at=device_now), headers=device.headers)
    after = datetime.now(UTC)
    assert answer.json()["accepted"] == 1
    (row,) = stored_events(engine, device.user_id)
    assert row["client_ts"] == datetime.fromisoformat(event["ts"])
    assert before <= row["received_at"] <= after
    assert row["skew_ms"] == (row["received_at"] - device_now) // timedelta(milliseconds=1)
    assert -3_600_000 - 5_000 < row["skew_ms"] < -3_600_000 + 5_000
    assert abs(row["ts"] - (row["client_ts"] + timedelta(milliseconds=row["skew_ms"]))) < timedelta(milliseconds=1)
    assert abs(row["ts"] - (before - timedelta(minutes=5))) < timedelta(seconds=5)
    # the API shows the same
    (shown,) = client.get(EVENTS, headers=device.headers).json()["events"]
    assert shown["skew_ms"] == row["skew_ms"]
    assert datetime.fromisoformat(shown["client_ts"]) == row["client_ts"]


def test_an_event_in_the_future_only_on_a_fast_clock_is_accepted(client, device):
    """ts 30 h ahead of the server but sent by a device 10 h fast: corrected, it is 20 h ahead: accepted."""
    device_now = datetime.now(UTC) + timedelta(hours=10)
    event = make_event(ts=(datetime.now(UTC) + timedelta(hours=30)).isoformat())
    late = make_event(ts=(datetime.now(UTC) + timedelta(hours=35)).isoformat())
    body = client.post(URL, json=make_batch([event, late], sent_at=device_now), headers=device.headers).json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejections"]] == [1]
    assert "future" in body["rejections"][0]["reason"]


def _seed(client, device) -> list[dict[str, Any]]:
    base = datetime(2024, 3, 1, tzinfo=UTC)
    events = []
    for i in range(23):
        kind = ("create", "modify", "run", "delete")[i % 4]
        extra = {"tool": "pytest", "path": ""} if kind == "run" else {"path": f"d/f{i}.{('py', 'csv', 'md')[i % 3]}"}
        # some events share a timestamp so that seq must break the tie
        events.append(
            make_event(ts=(base + timedelta(days=i // 2)).isoformat(), kind=kind, root=("a", "b")[i % 2], **extra)
        )
    events.append(make_event(ts="2023-12-31T23:59:59+00:00", path="old.py"))
    assert client.post(URL, json=make_batch(events), headers=device.headers).json()["accepted"] == len(events)
    return events


def _all_pages(client, headers, query: str = "", limit: int = 5) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "") + (f"&{query}" if query else "")
        page = client.get(f"{EVENTS}?{params}", headers=headers)
        assert page.status_code == 200, page.text
        seen += page.json()["events"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
        assert len(page.json()["events"]) == limit
    raise AssertionError("pagination never ended")


def test_cursor_pagination_walks_every_event_once_in_order(client, device, engine):
    _seed(client, device)
    stored = stored_events(engine, device.user_id)
    for limit in (1, 5, 24, 1000):
        walked = _all_pages(client, device.headers, limit=limit)
        assert [e["seq"] for e in walked] == [r["seq"] for r in stored]
    keys = [(datetime.fromisoformat(e["ts"]), e["seq"]) for e in walked]
    assert keys == sorted(keys)
    assert len({e["event_id"] for e in walked}) == 24


def test_filters_select_the_matching_events(client, device, engine):
    events = _seed(client, device)
    stored = stored_events(engine, device.user_id)

    def ids(query: str) -> list[str]:
        return [e["event_id"] for e in _all_pages(client, device.headers, query)]

    def expect(pred) -> list[str]:
        return [str(r["event_id"]) for r in stored if pred(r)]

    since, until = datetime(2024, 3, 3, tzinfo=UTC), datetime(2024, 3, 7, tzinfo=UTC)
    assert ids("since=2024-03-03T00:00:00Z&until=2024-03-07T00:00:00Z") == expect(lambda r: since <= r["ts"] < until)
    assert ids("since=2024-03-03T00:00:00Z&until=2024-03-07T00:00:00Z") != []
    assert ids("kind=run") == expect(lambda r: r["kind"] == "run") != []
    assert ids("kind=run&kind=delete") == expect(lambda r: r["kind"] in ("run", "delete"))
    assert ids("ext=csv") == expect(lambda r: r["ext"] == "csv") != []
    assert ids("ext=.CSV") == ids("ext=csv")
    assert ids("root=b") == expect(lambda r: r["root"] == "b") != []
    assert ids("root=b&kind=create&ext=py") == expect(
        lambda r: (r["root"], r["kind"], r["ext"]) == ("b", "create", "py")
    )
    assert ids("until=2024-01-01T00:00:00Z") == [events[-1]["event_id"]]
    # a time without a zone is taken as UTC
    assert ids("since=2024-03-03T00:00:00&until=2024-03-07T00:00:00") == expect(lambda r: since <= r["ts"] < until)


def test_an_invalid_cursor_is_a_422(client, device):
    _seed(client, device)
    for cursor in ("garbage", "!!!", "WzEsMl0", "eyJhIjoxfQ", "WyIyMDI0LTAxLTAxIiwgMWU5OTld"):
        answer = client.get(f"{EVENTS}?cursor={cursor}", headers=device.headers)
        assert answer.status_code == 422, (cursor, answer.text)
        assert answer.json()["error"]["code"] == "invalid_cursor"


def test_users_see_only_their_own_events(client, device, other_device, settings: Settings):
    mine, theirs = make_event(), make_event()
    client.post(URL, json=make_batch([mine]), headers=device.headers)
    client.post(URL, json=make_batch([theirs]), headers=other_device.headers)
    assert [e["event_id"] for e in client.get(EVENTS, headers=device.headers).json()["events"]] == [mine["event_id"]]
    as_person = client.get(EVENTS, headers=jwt_headers(settings, other_device.user)).json()["events"]
    assert [e["event_id"] for e in as_person] == [theirs["event_id"]]
    # naming yourself is fine; naming someone else is forbidden without the admin role
    assert client.get(f"{EVENTS}?user={device.user}", headers=device.headers).status_code == 200
    for path in (EVENTS, f"{EVENTS}/export"):
        answer = client.get(f"{path}?user={other_device.user}", headers=device.headers)
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "not_your_events"


def test_an_admin_reads_another_users_events(client, device, admin, settings: Settings):
    event = make_event()
    client.post(URL, json=make_batch([event]), headers=device.headers)
    for headers in (admin.headers, jwt_headers(settings, admin.user)):
        answer = client.get(f"{EVENTS}?user={device.user}", headers=headers)
        assert [e["event_id"] for e in answer.json()["events"]] == [event["event_id"]]
    assert client.get(EVENTS, headers=admin.headers).json()["events"] == []
    missing = client.get(f"{EVENTS}?user=no-such-user-xyz", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "no_such_user"


def test_times_without_a_zone_are_utc_whatever_the_database_session_zone(client_with, device, engine):
    """The connection's TimeZone (here Tokyo, via libpq's PGTZ) must not shift naive since/until."""
    from floyo.db import reset_engine

    reset_engine()
    client = client_with(PGTZ="Asia/Tokyo")
    inside, outside = make_event(ts="2024-05-01T10:00:00+00:00"), make_event(ts="2024-05-01T20:00:00+00:00")
    client.post(URL, json=make_batch([inside, outside]), headers=device.headers)
    page = client.get(f"{EVENTS}?since=2024-05-01T09:00:00&until=2024-05-01T11:00:00", headers=device.headers)
    assert [e["event_id"] for e in page.json()["events"]] == [inside["event_id"]]


def test_a_bad_user_name_or_an_empty_range_is_a_precise_422(client, admin, settings: Settings):
    headers = jwt_headers(settings, admin.user)
    for params, code in (
        ({"user": "\x00"}, "invalid_request"),  # PostgreSQL text cannot hold NUL: refused before the look-up
        ({"user": ""}, "invalid_request"),
        ({"ext": "c\x00sv"}, "invalid_request"),  # found by the fuzzer: a 500 before
        ({"root": "home\x00"}, "invalid_request"),
        ({"since": "2024-03-07T00:00:00Z", "until": "2024-03-03T00:00:00Z"}, "empty_range"),
        ({"since": "2024-03-07T00:00:00", "until": "2024-03-07T00:00:00Z"}, "empty_range"),  # naive is UTC
    ):
        response = client.get(EVENTS, params=params, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code, response.text
