"""Hypothesis properties of the event model: paths stay inside their root, extensions are extensions, the fast
path agrees with the model, and nothing but a ValidationError ever comes out of it."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from floyo.events import MAX_EXT_CHARS, Event, ValidEvent, fast_validate

TS = "2026-01-02T03:04:05+00:00"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EXTENSION = re.compile(r"[^\W_][\w+~-]*")

# path-ish text: separators, dots, drive letters and control characters are common, not one in a million
_PIECES = st.sampled_from(["/", "\\", ".", "..", "./", "../", "a", "B.CSV", "C:", "x y", "é", "\n", "\x1b", "\x85"])
paths = st.one_of(st.lists(_PIECES, max_size=12).map("".join), st.text(max_size=40))
exts = st.one_of(st.text(max_size=MAX_EXT_CHARS), st.text(alphabet="abc.+_~-/\\ \t", max_size=8))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _event(**fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "ts": TS, "kind": "modify", "root": "projects", **fields}


def _assert_inside_root(path: str) -> None:
    """What a stored path may be: relative, '/'-separated, without empty, '.' or '..' parts or control characters."""
    assert path
    assert not path.startswith("/")
    assert "\\" not in path
    assert not CONTROL.search(path)
    assert not re.fullmatch(r"[A-Za-z]:", path.split("/")[0])
    assert all(part not in ("", ".", "..") for part in path.split("/"))


@PROPERTY
@given(path=paths)
def test_a_stored_path_never_leaves_its_root(path: str):
    try:
        event = Event.model_validate(_event(path=path))
    except ValidationError as exc:
        message = str(exc)
        assert "path" in message
        return
    _assert_inside_root(event.path)
    # normalising is idempotent: the stored form is accepted as is
    assert Event.model_validate(_event(path=event.path)).path == event.path


@PROPERTY
@given(dest=paths)
def test_a_destination_never_leaves_its_root(dest: str):
    try:
        event = Event.model_validate(_event(kind="move", path="a.txt", dest_path=dest))
    except ValidationError as exc:
        message = str(exc)
        assert "dest_path" in message
        return
    assert event.dest_path is not None
    _assert_inside_root(event.dest_path)


@PROPERTY
@given(path=paths, ext=st.none() | exts)
def test_an_extension_is_always_an_extension(path: str, ext: str | None):
    try:
        event = Event.model_validate(_event(path=path, ext=ext))
    except ValidationError:
        return
    stored = ValidEvent.of(event).ext
    assert stored == "" or EXTENSION.fullmatch(stored)
    assert stored == stored.lower()
    assert "." not in stored
    assert "/" not in stored


@PROPERTY
@given(path=paths, ext=st.none() | exts, dest=st.none() | paths, kind=st.sampled_from(["modify", "move", "run"]))
def test_the_fast_path_agrees_with_the_model(path: str, ext: str | None, dest: str | None, kind: str):
    raw = _event(kind=kind, path=path, ext=ext, dest_path=dest, tool="make" if kind == "run" else None)
    try:
        model: ValidEvent | None = ValidEvent.of(Event.model_validate(raw))
    except ValidationError:
        model = None
    fast = fast_validate(raw)
    if model is None:
        assert fast is None  # the fast path never accepts what the model refuses
    elif fast is not None:
        assert fast == model


@PROPERTY
@given(raw=st.dictionaries(st.sampled_from(list(Event.model_fields)), json_values, max_size=11) | json_values)
def test_any_json_is_an_event_or_a_validation_error(raw: Any):
    with contextlib.suppress(ValidationError):
        Event.model_validate(raw)
    assert fast_validate(raw) is None or isinstance(raw, dict)  # never raises: None sends it to the model
