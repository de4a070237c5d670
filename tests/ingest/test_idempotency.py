"""The same event_id is stored once: resends, resends landing in another partition, repeats, concurrent resends."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from floyo.settings import Settings
from ingest.service import ingest_events
from tests.utils.factories import count_events, make_batch, make_event, stored_events

URL = "/api/v1/telemetry"


def test_resending_a_batch_stores_nothing_twice(client, device, engine):
    events = [make_event(path=f"src/m{i}.py") for i in range(5)]
    first = client.post(URL, json=make_batch(events), headers=device.headers)
    second = client.post(URL, json=make_batch(events), headers=device.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == {"accepted": 5, "duplicate": 0, "rejected": 0, "duplicates": [], "rejections": []}
    assert second.json() == {
        "accepted": 0,
        "duplicate": 5,
        "rejected": 0,
        "duplicates": [0, 1, 2, 3, 4],
        "rejections": [],
    }
    assert len(stored_events(engine, device.user_id)) == 5


def test_a_resend_whose_corrected_time_falls_in_another_month_is_still_a_duplicate(client, device, engine):
    now = datetime.now(UTC)
    event = make_event(ts="2024-01-31T23:30:00+00:00")
    first = client.post(URL, json=make_batch([event], sent_at=now), headers=device.headers).json()
    # the resend claims the device clock is two hours behind: corrected ts would be 2024-02-01 01:30
    second = client.post(URL, json=make_batch([event], sent_at=now - timedelta(hours=2)), headers=device.headers).json()
    assert first["accepted"] == 1
    assert (second["accepted"], second["duplicates"]) == (0, [0])
    rows = stored_events(engine, device.user_id)
    assert len(rows) == 1
    assert rows[0]["ts"].month == 1  # the first copy stays; the February partition holds nothing for it
    assert count_events(engine, [event["event_id"]]) == 1


def test_the_same_id_twice_in_one_batch_is_stored_once(client, device, engine):
    event = make_event()
    other = make_event()
    answer = client.post(URL, json=make_batch([event, other, dict(event, path="changed.txt")]), headers=device.headers)
    assert answer.json()["accepted"] == 2
    assert answer.json()["duplicates"] == [2]
    paths = sorted(r["path"] for r in stored_events(engine, device.user_id))
    assert paths == sorted([event["path"], other["path"]])


def test_overlapping_batches_in_opposite_orders_never_deadlock(engine, settings: Settings, device):
    """Two devices resending overlapping ids in different orders at once must both get answers, not a deadlock."""
    rounds, size = 6, 400
    for _ in range(rounds):
        events = [make_event(path=f"f{i}.txt") for i in range(size)]
        barrier = threading.Barrier(2)

        def send(order: list[dict[str, object]], barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return ingest_events(engine, settings, order, user_id=device.user_id, device_id=device.device_id).accepted

        with ThreadPoolExecutor(2) as pool:
            accepted = list(pool.map(send, [events, events[::-1]]))
        assert sum(accepted) == size
        assert count_events(engine, [e["event_id"] for e in events]) == size


def test_concurrent_resends_in_process_store_each_event_once(engine, settings: Settings, device):
    events = [make_event(path=f"c{i}.txt", ts=f"2003-0{1 + i % 3}-15T10:00:00+00:00") for i in range(300)]
    events.append(dict(events[0]))  # a repeat inside the batch too
    threads = 6
    barrier = threading.Barrier(threads)

    def send(_: int) -> tuple[int, int]:
        barrier.wait()
        result = ingest_events(engine, settings, events, user_id=device.user_id, device_id=device.device_id)
        return result.accepted, len(result.duplicates)

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(send, range(threads)))
    assert sum(a for a, _ in answers) == 300
    assert all(a + d == len(events) for a, d in answers)
    assert count_events(engine, [e["event_id"] for e in events]) == 300
    assert len({str(uuid.UUID(r["event_id"].hex)) for r in stored_events(engine, device.user_id)}) == 300


def test_event_ids_are_per_user(client, device, other_device, engine):
    """Another user's id is just a new event of yours: nothing tells you it exists, nothing lets you claim it."""
    mine = make_event(path="a/one.txt")
    assert client.post(URL, json=make_batch([mine]), headers=device.headers).json()["accepted"] == 1
    theirs = dict(mine, path="b/two.txt")  # the same event_id, sent by someone else
    answer = client.post(URL, json=make_batch([theirs]), headers=other_device.headers).json()
    assert (answer["accepted"], answer["duplicate"]) == (1, 0)
    assert [r["path"] for r in stored_events(engine, device.user_id)] == ["a/one.txt"]
    assert [r["path"] for r in stored_events(engine, other_device.user_id)] == ["b/two.txt"]
    # each user's own resend is still a duplicate, also in a batch mixing it with new ids
    fresh = make_event(path="b/three.txt")
    again = client.post(URL, json=make_batch([fresh, theirs]), headers=other_device.headers).json()
    assert (again["accepted"], again["duplicates"]) == (1, [1])
    assert client.post(URL, json=make_batch([mine]), headers=device.headers).json()["duplicates"] == [0]
    assert count_events(engine, [mine["event_id"]]) == 2


def test_claiming_ids_first_blocks_nobody(client, device, other_device, engine):
    """User A sending ids B will use (the CSV loader's are predictable) does not make B's events duplicates."""
    planned = [make_event(path=f"p/{i}.txt") for i in range(5)]
    squat = client.post(URL, json=make_batch(planned[:3]), headers=other_device.headers).json()
    assert squat["accepted"] == 3
    answer = client.post(URL, json=make_batch(planned), headers=device.headers).json()
    assert (answer["accepted"], answer["duplicate"]) == (5, 0)
    assert len(stored_events(engine, device.user_id)) == 5
