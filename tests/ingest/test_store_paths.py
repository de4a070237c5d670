"""Both ways the store claims event ids give the same answers: all new, or some already stored.

New ids are claimed by one plain INSERT into ``event_keys``; when one of them is already taken it fails
and the batch is claimed again with ``INSERT ... ON CONFLICT DO NOTHING``. The answers and the stored
rows must not depend on which way was taken.
"""

from __future__ import annotations

from tests.utils.factories import make_batch, make_event, stored_events

URL = "/api/v1/telemetry"


def test_a_batch_mixing_stored_and_new_ids_stores_only_the_new_ones(client, device, engine):
    old = [make_event(path=f"old/{i}.py") for i in range(3)]
    assert client.post(URL, json=make_batch(old), headers=device.headers).json()["accepted"] == 3
    new = [make_event(path=f"new/{i}.py", meta={"i": i}) for i in range(4)]
    mixed = [new[0], old[1], new[1], new[2], old[0], new[3]]

    answer = client.post(URL, json=make_batch(mixed), headers=device.headers)

    assert answer.status_code == 200
    assert answer.json() == {"accepted": 4, "duplicate": 2, "rejected": 0, "duplicates": [1, 4], "rejections": []}
    rows = stored_events(engine, device.user_id)
    assert sorted(str(r["event_id"]) for r in rows) == sorted(e["event_id"] for e in old + new)
    assert {str(r["event_id"]): r["meta"] for r in rows if r["path"].startswith("new/")} == {
        e["event_id"]: e["meta"] for e in new
    }


def test_after_a_failed_claim_the_connection_serves_the_next_batch(client, device, engine):
    first = [make_event(path=f"a/{i}.txt") for i in range(2)]
    client.post(URL, json=make_batch(first), headers=device.headers)
    for _ in range(3):  # a resend (COPY claim fails, rolled back), then fresh batches on the same pool
        assert client.post(URL, json=make_batch(first), headers=device.headers).json()["duplicate"] == 2
        fresh = [make_event(path="b/x.txt"), make_event(kind="run", path="", tool="make", exit_code=2)]
        assert client.post(URL, json=make_batch(fresh), headers=device.headers).json()["accepted"] == 2
    assert len(stored_events(engine, device.user_id)) == 8
