"""One bad event never drops its good neighbours: each bad one gets a precise reason, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from floyo.events import MAX_EXT_CHARS, MAX_META_BYTES, MAX_PATH_CHARS, MAX_ROOT_CHARS, MAX_TOOL_CHARS
from tests.utils.factories import make_batch, make_event, stored_events

URL = "/api/v1/telemetry"
NOW = datetime.now(UTC)

# deeper than orjson will encode (its limit is 254 levels): must be a rejection, not an escaping TypeError
_deep: object = []
for _ in range(300):
    _deep = [_deep]

# (bad event, words its reason must contain)
BAD_EVENTS: dict[str, tuple[object, tuple[str, ...]]] = {
    "bad uuid": (make_event(event_id="not-a-uuid"), ("event_id", "uuid")),
    "unknown kind": (make_event(kind="teleport"), ("kind",)),
    "exit_code as a string": (make_event(kind="run", tool="pytest", exit_code="1"), ("exit_code", "integer")),
    "duration as a float": (make_event(kind="run", tool="pytest", duration_ms=1.5), ("duration_ms", "integer")),
    "exit_code out of int32": (make_event(kind="run", tool="make", exit_code=2**40), ("exit_code",)),
    "path too long": (make_event(path="a/" * (MAX_PATH_CHARS // 2) + "x.py"), ("path", str(MAX_PATH_CHARS))),
    "root too long": (make_event(root="r" * (MAX_ROOT_CHARS + 1)), ("root", str(MAX_ROOT_CHARS))),
    "ext too long": (make_event(ext="e" * (MAX_EXT_CHARS + 1)), ("ext", str(MAX_EXT_CHARS))),
    "tool too long": (make_event(kind="run", tool="t" * (MAX_TOOL_CHARS + 1)), ("tool", str(MAX_TOOL_CHARS))),
    "dest_path too long": (make_event(kind="move", dest_path="d" * (MAX_PATH_CHARS + 1)), ("dest_path",)),
    "a megabyte of path": (make_event(path="p" * 1_000_000), ("path",)),
    "NUL in tool": (make_event(kind="run", tool="py\x00test"), ("tool", "NUL")),
    "NUL in path": (make_event(path="a\x00b.txt"), ("path", "NUL")),
    "NUL in root": (make_event(root="pro\x00jects"), ("root", "NUL")),
    "NUL in meta": (make_event(meta={"k": "v\x00"}), ("meta", "NUL")),
    "NUL in a meta key": (make_event(meta={"k\x00": 1}), ("meta", "NUL")),
    "meta too large": (make_event(meta={"blob": "x" * MAX_META_BYTES}), ("meta", str(MAX_META_BYTES))),
    "meta too deep to encode": (make_event(meta={"a": _deep}), ("meta",)),
    "meta not an object": (make_event(meta=[1, 2]), ("meta",)),
    "not an object": ("modify data.csv", ("object",)),
    "null": (None, ("object",)),
    "missing path": ({k: v for k, v in make_event().items() if k != "path"}, ("path",)),
    "empty path": (make_event(path="./"), ("path",)),
    "absolute path": (make_event(path="/etc/passwd"), ("path", "absolute")),
    "root path": (make_event(path="/"), ("path", "absolute")),
    "UNC path": (make_event(path="\\\\server\\share\\x.txt"), ("path", "absolute")),
    "drive path": (make_event(path="C:\\Windows\\win.ini"), ("path", "absolute")),
    "escaping path": (make_event(path="../../etc/shadow"), ("path", "'..'")),
    "escaping in the middle": (make_event(path="src/../../x.py"), ("path", "'..'")),
    "escaping dest_path": (make_event(kind="move", dest_path="a/..\\..\\b.txt"), ("dest_path", "'..'")),
    "absolute dest_path": (make_event(kind="move", dest_path="/tmp/x"), ("dest_path", "absolute")),
    "newline in path": (make_event(path="a\nb.txt"), ("path", "control")),
    "escape in dest_path": (make_event(kind="move", dest_path="a\x1b[2Jb.txt"), ("dest_path", "control")),
    "C1 control in path": (make_event(path="a\x9bb.txt"), ("path", "control")),
    "ext with a path": (make_event(ext="../../x"), ("ext", "not an extension")),
    "ext with a dot": (make_event(ext="tar.gz"), ("ext", "not an extension")),
    "ext with a space": (make_event(ext="c s v"), ("ext", "not an extension")),
    "ext with a control": (make_event(ext="cs\tv"), ("ext", "not an extension")),
    "missing ts": ({k: v for k, v in make_event().items() if k != "ts"}, ("ts", "required")),
    "run without tool": (make_event(kind="run", path=""), ("tool",)),
    "move without dest_path": (make_event(kind="move"), ("dest_path",)),
    "ts 25 h in the future": (make_event(ts=(NOW + timedelta(hours=25)).isoformat()), ("ts", "future")),
    "ts before 2000": (make_event(ts="1999-12-31T23:59:59+00:00"), ("ts", "before 2000")),
    "ts past year 9999 in UTC": (make_event(ts="9999-12-31T23:00:00-05:00"), ("ts", "range")),
    "ts before year 1 in UTC": (make_event(ts="0001-01-01T00:00:00+05:00"), ("ts", "range")),
    "ts not a time": (make_event(ts="yesterday"), ("ts",)),
}


def test_good_neighbours_are_stored_and_each_bad_event_has_its_reason(client, device, engine):
    good = [make_event(path=f"ok/{i}.txt") for i in range(len(BAD_EVENTS) + 1)]
    events: list[object] = []
    expected: dict[int, tuple[str, tuple[str, ...]]] = {}
    for i, (name, (bad, words)) in enumerate(BAD_EVENTS.items()):
        events.append(good[i])
        expected[len(events)] = (name, words)
        events.append(bad)
    events.append(good[-1])

    answer = client.post(URL, json=make_batch(events), headers=device.headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == len(good)
    assert body["rejected"] == len(BAD_EVENTS)
    by_index = {r["index"]: r for r in body["rejections"]}
    assert set(by_index) == set(expected)
    for index, (name, words) in expected.items():
        reason = by_index[index]["reason"]
        for word in words:
            assert word.lower() in reason.lower(), f"{name}: {reason!r} lacks {word!r}"
        raw = events[index]
        if isinstance(raw, dict) and raw.get("event_id") != "not-a-uuid":
            assert by_index[index]["event_id"] == raw["event_id"], name
    stored = {str(r["event_id"]) for r in stored_events(engine, device.user_id)}
    assert stored == {e["event_id"] for e in good}


def test_a_batch_of_only_bad_events_stores_nothing(client, device, engine):
    answer = client.post(URL, json=make_batch([make_event(kind="nope"), 42, []]), headers=device.headers)
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 0
    assert [r["index"] for r in answer.json()["rejections"]] == [0, 1, 2]
    assert stored_events(engine, device.user_id) == []


def test_a_wild_sent_at_rejects_events_it_pushes_out_of_range_instead_of_failing(client, device, engine):
    event = make_event(ts="2020-01-01T00:00:00+00:00")
    answer = client.post(URL, json=make_batch([event], sent_at=datetime(1, 1, 2, tzinfo=UTC)), headers=device.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rejected"] == 1
    assert "ts" in answer.json()["rejections"][0]["reason"]
    assert stored_events(engine, device.user_id) == []


@pytest.mark.parametrize("sent_at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_sent_at_out_of_range_in_utc_is_a_422(client, device, sent_at):
    answer = client.post(URL, json={"sent_at": sent_at, "events": [make_event()]}, headers=device.headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_sent_at"


def test_valid_optional_fields_are_normalised_and_stored(client, device, engine):
    events = [
        make_event(kind="run", path="", tool="pytest", exit_code=-1, duration_ms=1234, meta={"n": 1}),
        make_event(kind="move", path="old\\Name.TXT", dest_path="./new//name.txt"),
        make_event(path="./Data/./Report.PDF", ts="2024-06-01T12:00:00+02:00"),
        make_event(path="Makefile", ext=".MK"),
    ]
    assert client.post(URL, json=make_batch(events), headers=device.headers).json()["accepted"] == 4
    rows = {str(r["event_id"]): r for r in stored_events(engine, device.user_id)}
    run, move, pdf, mk = (rows[e["event_id"]] for e in events)
    assert (run["kind"], run["tool"], run["exit_code"], run["duration_ms"], run["meta"]) == (
        "run",
        "pytest",
        -1,
        1234,
        {"n": 1},
    )
    assert (move["path"], move["dest_path"], move["ext"]) == ("old/Name.TXT", "new/name.txt", "txt")
    assert (pdf["path"], pdf["ext"]) == ("Data/Report.PDF", "pdf")
    assert abs(pdf["client_ts"] - datetime(2024, 6, 1, 10, tzinfo=UTC)) == timedelta(0)
    assert mk["ext"] == "mk"


def test_meta_that_cannot_be_encoded_is_a_validation_error_not_a_type_error():
    """A 70-bit integer reaches the model from Python callers (the loader); orjson cannot encode it."""
    from pydantic import ValidationError

    from floyo.events import Event

    with pytest.raises(ValidationError, match="meta"):
        Event.model_validate(make_event(meta={"n": 2**70}))


def test_awkward_characters_are_stored_exactly(client, device, engine):
    """COPY's text format has its own escapes: tabs, newlines, backslashes and quotes must survive it (paths may hold
    no control characters: tabs and newlines are tried in the root, the tool and meta)."""
    awkward = '"name" \\N é 😀 ,;... x.txt'
    event = make_event(path=f"dir/{awkward}", root="r\tt\\N", meta={"q": 'a"b\\c\td\ne', "emoji": "😀"})
    run = make_event(kind="run", path="", tool="py\\test\t\\N")
    assert client.post(URL, json=make_batch([event, run]), headers=device.headers).json()["accepted"] == 2
    rows = {str(r["event_id"]): r for r in stored_events(engine, device.user_id)}
    stored = rows[event["event_id"]]
    assert stored["path"] == "dir/" + awkward.replace("\\", "/")  # Windows separators become '/'
    assert stored["root"] == "r\tt\\N"
    assert stored["meta"] == event["meta"]
    assert rows[run["event_id"]]["tool"] == "py\\test\t\\N"
    assert rows[run["event_id"]]["dest_path"] is None


def test_an_implausibly_long_extension_is_not_an_extension(client, device, engine):
    event = make_event(path="notes/README." + "x" * 40)
    assert client.post(URL, json=make_batch([event]), headers=device.headers).json()["accepted"] == 1
    assert stored_events(engine, device.user_id)[0]["ext"] == ""


def test_the_time_bounds_are_2000_and_24_hours_ahead(client, device):
    now = datetime.now(UTC)
    events = [
        make_event(ts="2000-01-01T00:00:00+00:00"),
        make_event(ts="1999-12-31T23:59:00+00:00"),  # the correction (a few ms of transit) keeps it in 1999
        make_event(ts=(now + timedelta(hours=23, minutes=59)).isoformat()),
        make_event(ts=(now + timedelta(hours=24, minutes=1)).isoformat()),
    ]
    body = client.post(URL, json=make_batch(events, sent_at=now), headers=device.headers).json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejections"]] == [1, 3]


EXCLUDED_PATHS = {
    "version control": {"path": "repo/.git/config"},
    "dependencies": {"path": "web/node_modules/react/index.js"},
    "virtualenv": {"path": ".venv/lib/site.py"},
    "ssh key": {"path": "home/.ssh/id_ed25519"},
    "credentials": {"path": "cloud/credentials.json"},
    "dotenv": {"path": "app/.env"},
    "vim swap": {"path": "notes/.todo.md.swp"},
    "moved into .git": {"kind": "move", "path": "a.txt", "dest_path": ".git/a.txt"},
}


def test_excluded_and_secret_paths_are_refused_by_the_server_too(client, device, engine):
    allowed = [make_event(path="notes/todo.md"), make_event(path="src/gitignore_helper.py")]
    refused = [make_event(**fields) for fields in EXCLUDED_PATHS.values()]
    answer = client.post(URL, json=make_batch(allowed + refused), headers=device.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == len(allowed)
    assert [r["index"] for r in body["rejections"]] == list(range(len(allowed), len(allowed) + len(refused)))
    assert all(r["reason"].startswith("path: excluded") for r in body["rejections"])
    stored = {r["path"] for r in stored_events(engine, device.user_id)}
    assert stored == {"notes/todo.md", "src/gitignore_helper.py"}
