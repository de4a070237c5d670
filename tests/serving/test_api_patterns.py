"""GET /api/v1/patterns: the caller's own rules then global ones, their workflows, their activity; RLS keeps
everyone else's out."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.serving.api_helpers import add_pattern, flow, rule
from tests.utils.factories import Device, make_device


def test_patterns_are_the_callers_own_then_global_never_another_users(api: TestClient, device: Device, engine: Engine):
    other = make_device(engine)
    with engine.begin() as conn:  # global rows are everyone's: start from none
        conn.execute(text("DELETE FROM patterns WHERE user_id IS NULL"))
        conn.execute(
            text("INSERT INTO pattern_activity (user_id, events, sessions, days, needed) "
                 "VALUES (:u, 400, 35, 12, CAST('{\"rules\": {\"sessions\": 20}}' AS jsonb))"),
            {"u": device.user_id},
        )  # fmt: skip
    add_pattern(engine, "rules", device.user_id, 1, **rule("When you touch .tex files, you also run latexmk",
                                                           (["ext:tex"], ["run:latexmk"])))  # fmt: skip
    add_pattern(
        engine, "rules", None, 1, **rule("When you touch .py files, you also run pytest", (["ext:py"], ["run:pytest"]))
    )
    add_pattern(
        engine,
        "rules",
        None,
        2,
        **rule("When you touch .md files, you also touch .html files", (["ext:md"], ["ext:html"])),
    )
    add_pattern(
        engine,
        "workflows",
        device.user_id,
        1,
        **flow("You modify a .tex file, then run latexmk", ["modify:tex", "run:latexmk"]),
    )
    add_pattern(
        engine, "workflows", other.user_id, 1, **flow("You save a secret, then run gpg", ["modify:key", "run:gpg"])
    )
    answer = api.get("/api/v1/patterns", headers=device.headers, params={"global_rules": 1})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [(r["scope"], r["text"]) for r in data["rules"]] == [
        ("user", "When you touch .tex files, you also run latexmk"),
        ("global", "When you touch .py files, you also run pytest"),
    ]
    assert data["rules"][0]["lift"] == 3.5
    assert data["rules"][0]["model"]["version"] == "3"
    assert [w["text"] for w in data["workflows"]] == ["You modify a .tex file, then run latexmk"]
    assert data["activity"] == {"events": 400, "sessions": 35, "days": 12}
    assert data["needed"] == {"rules": {"sessions": 20}}
    theirs = api.get("/api/v1/patterns", headers=other.headers).json()
    assert [w["text"] for w in theirs["workflows"]] == ["You save a secret, then run gpg"]
    assert [r["scope"] for r in theirs["rules"]] == ["global", "global"]
    assert theirs["activity"] is None
    assert api.get("/api/v1/patterns", headers=other.headers, params={"user": device.user}).status_code == 403
    assert api.get("/api/v1/patterns", headers=device.headers, params={"global_rules": 501}).status_code == 422
    with engine.begin() as conn:  # leave no global rows for other tests' users
        conn.execute(text("DELETE FROM patterns WHERE user_id IS NULL"))
