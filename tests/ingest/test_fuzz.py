"""Seeded random mutations of valid events: every one is accepted or rejected with a reason, never a 500."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from tests.utils.factories import make_batch, make_event, stored_events

URL = "/api/v1/telemetry"
FIELDS = ("event_id", "ts", "kind", "root", "path", "ext", "dest_path", "tool", "exit_code", "duration_ms", "meta")
NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "\u2028",
    "😀" * 3,
    "é",
    "\\",
    "\t\n",
    "a" * 5000,
    "../../etc/passwd",
    "NULL",
    "\\N",
    "%s",
]


def _value(rng: random.Random) -> Any:
    choice = rng.randrange(12)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)])
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e-300])
    if choice == 4:
        return rng.choice(NASTY_TEXT)
    if choice == 5:
        return rng.choice(["2024-02-30T00:00:00Z", "9999-12-31T23:59:59+14:00", "0001-01-01", "1700000000", "T"])
    if choice == 6:
        return [rng.choice(NASTY_TEXT)]
    if choice == 7:
        return {rng.choice(NASTY_TEXT): rng.choice(NASTY_TEXT)}
    if choice == 8:
        return rng.choice(["open", "create", "modify", "delete", "move", "run", "RUN"])
    if choice == 9:
        return rng.choice(["00000000-0000-0000-0000-000000000000", "{12345678-1234-1234-1234-123456789ABC}"])
    if choice == 10:
        return rng.randrange(-(10**6), 10**6)
    return "".join(rng.choice("abc./\\\x00é😀 ") for _ in range(rng.randrange(1, 30)))


def _mutant(rng: random.Random) -> Any:
    event: dict[str, Any] = make_event()
    for _ in range(rng.randrange(1, 4)):
        field = rng.choice(FIELDS)
        if rng.random() < 0.15:
            event.pop(field, None)
        else:
            event[field] = _value(rng)
    return event


@pytest.mark.parametrize("seed", range(6))
def test_random_events_never_cause_a_500_or_a_partial_write(client, device, engine, seed):
    rng = random.Random(seed)
    events = [_mutant(rng) for _ in range(150)]
    answer = client.post(
        URL, content=orjson.dumps(make_batch(events)), headers={**device.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] + body["duplicate"] + body["rejected"] == len(events)
    assert all(r["reason"] for r in body["rejections"])
    outcome = {r["index"] for r in body["rejections"]} | set(body["duplicates"])
    assert len(outcome) == body["rejected"] + body["duplicate"]
    assert len(stored_events(engine, device.user_id)) == body["accepted"]
