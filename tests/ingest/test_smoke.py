from tests.utils.factories import make_batch, make_event


def test_post_then_read_back(client, device):
    event = make_event()
    answer = client.post("/api/v1/telemetry", json=make_batch([event]), headers=device.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    page = client.get("/api/v1/events", headers=device.headers).json()
    assert [e["event_id"] for e in page["events"]] == [event["event_id"]]
