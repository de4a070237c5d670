"""The fast validation path gives exactly the model's decisions and values, or defers to the model.

``floyo.events.fast_validate`` skips the pydantic model for plainly valid events (the API's hot path).
These tests hold it to the model, the single source of truth: on realistic events it must take them
all; on many generated tricky events it must never accept what the model rejects nor normalise
differently; and whole batches must come out of ``validate_events`` identical with and without it.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from floyo.events import MAX_META_BYTES, ValidEvent, fast_validate
from floyo.events import Event as EventModel
from ingest.validation import validate_events
from tests.utils.factories import make_event

MISSING = object()
NOW = datetime.now(UTC)


def by_model(raw: Any) -> ValidEvent | None:
    try:
        return ValidEvent.of(EventModel.model_validate(raw))
    except ValidationError:
        return None


def comparable(event: ValidEvent) -> tuple[Any, ...]:
    """Every value, with the time as text so that its offset is compared too."""
    return (*event[:1], event.ts.isoformat(), *event[2:])


def random_time(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice([1_700_000_000, 1.7e9, "1700000000", "now", "", None, "2026-11-25", "10:00:00"])
    year = rng.choice([1999, 2000, 2024, 2026, 2099, 2100, 9999, rng.randint(0, 9999)])
    parts = [
        f"{year:04d}" if rng.random() < 0.97 else str(year),
        f"{rng.choice([0, 1, 2, 6, 12, 13, rng.randint(1, 12)]):02d}",
        f"{rng.choice([0, 1, 28, 29, 30, 31, 32, rng.randint(1, 28)]):02d}",
    ]
    sep = rng.choice(["T"] * 8 + ["t", " ", "_"])
    clock = [rng.choice([0, 23, 24, rng.randint(0, 23)]), rng.choice([0, 59, 60, rng.randint(0, 59)])]
    seconds = rng.choice([0, 59, 60, rng.randint(0, 59)])
    text = "-".join(parts) + sep + f"{clock[0]:02d}:{clock[1]:02d}" + (f":{seconds:02d}" if rng.random() < 0.95 else "")
    if rng.random() < 0.5:
        text += "." + "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 2, 3, 5, 6, 6, 7, 9])))
    zone = rng.choice(
        ["Z", "Z", "z", "", "+00:00", "-00:00", "+05:30", "-08:00", "+0530", "+23:59", "-23:59", "+24:00"]
    )
    if rng.random() < 0.2:
        zone = f"{rng.choice('+-')}{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}"
    return text + zone


POOLS: dict[str, list[Any]] = {
    "event_id": [
        str(uuid.uuid4()).upper(), uuid.uuid4().hex, "{" + str(uuid.uuid4()) + "}", "urn:uuid:" + str(uuid.uuid4()),
        "not-a-uuid", 123, None, MISSING, "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
        str(uuid.uuid4())[:-1] + "g", str(uuid.uuid4()).replace("-", "")[:8] + "--" + "a" * 26, " " + str(uuid.uuid4()),
    ],
    "kind": ["open", "create", "modify", "delete", "move", "run", "MODIFY", "teleport", "", 1, None, MISSING],
    "root": ["projects", "", "r" * 256, "r" * 257, "a\x00b", 5, None, MISSING, "ünï cödé", "😀" * 256, "😀" * 257],
    "path": [
        "src/a.py", "", "/", "./x.CSV", "\\win\\Path.TXT", "a" * 4096, "a" * 4097, "a\x00", None, MISSING, 7,
        ".bashrc", "dir/", "a/b.tar.GZ", "x." + "e" * 40, "./", "//x.py", "README", "ü/Ä.PNG",
        "../x.py", "a/../b", "/etc/passwd", "C:\\x.py", "c:", "a\nb", "a\x7fb", "a\x85b", "a/./b//c.py", "...",
        "a/b.c d", "x.c++", "notes.rst~", "..", "a/..b/c", "\\\\srv\\s",
    ],
    "ext": [
        MISSING, None, "", ".PY", "py", "e" * 32, "e" * 33, "a\x00", 3, "..x", "TxT", "../../x", "tar.gz", "c s",
        "_x", "c++", "rst~", "css_t", "a\tb", "é", "/", ".",
    ],
    "dest_path": [
        MISSING, None, "", "new/x.py", "\\a\\b.md", "d" * 4097, "\x00", 1, "./n.txt", "../n.txt", "/abs", "a\rb", "./",
    ],
    "tool": [MISSING, None, "", "pytest", "t" * 256, "t" * 257, "\x00", 1, True],
    "exit_code": [MISSING, None, 0, -1, 2**31 - 1, 2**31, -(2**31 - 1), -(2**31), True, False, 1.0, "1", 2**70],
    "duration_ms": [MISSING, None, 0, -1, 2**53, 2**53 + 1, 1.5, True, "5", 120],
    "meta": [
        MISSING, None, {}, {"a": 1}, {"k": "v\x00"}, {"k\x00": 1}, {"blob": "x" * MAX_META_BYTES},
        {"blob": "x" * (MAX_META_BYTES - 12)}, {"blob": "x" * (MAX_META_BYTES - 11)}, [1, 2], "s", {"n": 2**70},
        {1: 2}, {"nested": {"a": [1, 2, {"b": None}]}}, {"f": 1.5, "t": True}, {"é": "ü"},
    ],
}  # fmt: skip


def random_event(rng: random.Random) -> Any:
    if rng.random() < 0.02:
        return rng.choice([None, 42, "modify a.py", [], [{}]])
    kind = rng.choice(["modify", "run", "move", "open", "create", "delete"])
    event: dict[str, Any] = make_event(kind=kind, ts=(NOW - timedelta(seconds=rng.randint(0, 10**6))).isoformat())
    if kind == "run":
        event.update(tool="pytest", exit_code=0, duration_ms=12)
    if kind == "move":
        event["dest_path"] = "data/new.csv"
    for name, pool in POOLS.items():
        if rng.random() < 0.12:
            value = rng.choice(pool)
            if value is MISSING:
                event.pop(name, None)
            else:
                event[name] = value
    if rng.random() < 0.3:
        event["ts"] = random_time(rng)
    if rng.random() < 0.05:
        event["extra"] = {"ignored": True}
    return event


def test_the_fast_path_takes_realistic_events_with_the_models_values():
    events = [
        make_event(),
        make_event(kind="run", path="", tool="pytest", exit_code=-1, duration_ms=1234, meta={"n": 1}),
        make_event(kind="run", tool="python", path="scripts/clean.py", ext="py", exit_code=0, duration_ms=3),
        make_event(kind="move", path="old\\Name.TXT", dest_path="./new/name.txt"),
        make_event(path="./Data/Report.PDF", ts="2024-06-01T12:00:00+02:00", meta={"size": 10, "editor": "vim"}),
        make_event(path="Makefile", ext=".MK", ts="2026-01-02T03:04:05.123Z"),
        make_event(event_id=str(uuid.uuid4()).upper(), ts="2026-01-02T03:04:05"),
    ]
    for raw in events:
        fast = fast_validate(raw)
        assert fast is not None, raw
        model = by_model(raw)
        assert model is not None
        assert comparable(fast) == comparable(model)


def test_the_fast_path_never_disagrees_with_the_model():
    rng = random.Random(20261125)
    taken = 0
    model_accepted = 0
    for _ in range(30_000):
        raw = random_event(rng)
        fast = fast_validate(raw)
        model = by_model(raw)
        model_accepted += model is not None
        if fast is not None:
            taken += 1
            assert model is not None, f"the fast path accepted what the model rejects: {raw!r}"[:500]
            assert comparable(fast) == comparable(model), repr(raw)[:500]
    assert taken > 0.6 * model_accepted, (taken, model_accepted)  # not vacuous: it takes most valid events


def test_random_times_parse_as_the_model_parses_them():
    rng = random.Random(7)
    for _ in range(20_000):
        raw = make_event(ts=random_time(rng))
        fast = fast_validate(raw)
        if fast is not None:
            model = by_model(raw)
            assert model is not None, raw["ts"]
            assert fast.ts.isoformat() == model.ts.isoformat(), raw["ts"]


def test_whole_batches_come_out_identical_with_and_without_the_fast_path():
    rng = random.Random(3)
    for _ in range(40):
        events = [random_event(rng) for _ in range(rng.randint(1, 200))]
        events += rng.sample(events, k=min(5, len(events)))  # repeats within the batch
        sent_at = rng.choice(
            [None, NOW - timedelta(hours=30), NOW + timedelta(minutes=5), datetime(1, 1, 2, tzinfo=UTC)]
        )
        kwargs: dict[str, Any] = {"sent_at": sent_at, "received_at": NOW, "max_future": timedelta(hours=24)}
        fast = validate_events(events, **kwargs)
        slow = validate_events(events, fast=False, **kwargs)
        assert [(i, comparable(e)) for i, e in fast.events] == [(i, comparable(e)) for i, e in slow.events]
        assert fast.rejected == slow.rejected
        assert fast.repeated == slow.repeated
