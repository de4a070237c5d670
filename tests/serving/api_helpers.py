"""Suggestions written straight into the tables, as the refresh (the table owner) writes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

SuggestionFactory = Callable[..., str]


def workflow(name: str = "Build thesis/*.tex with latexmk on save", **overrides: Any) -> dict[str, Any]:
    """A valid workflow definition, as a suggestion's body carries it."""
    definition: dict[str, Any] = {
        "name": name,
        "triggers": [{"type": "file", "root": "documents", "paths": ["thesis/*.tex"], "events": ["modify"]}],
        "actions": [{"type": "run", "command": ["latexmk"], "args_from_history": True}],
    }
    definition.update(overrides)
    return definition


def body(occurrences: int = 20, **overrides: Any) -> dict[str, Any]:
    """A suggestion's ``body``: description, pattern, evidence, savings, workflow."""
    data: dict[str, Any] = {
        "description": "You save a .tex file in thesis/ and run latexmk about 20 s later",
        "pattern": {
            "steps": [
                {"action": "modify", "glob": "thesis/*.tex", "root": "documents"},
                {"action": "run", "tool": "latexmk", "window_s": 60, "delay_median_s": 20.0, "delay_p90_s": 41.0},
            ]
        },
        "evidence": {"occurrences": occurrences, "days": 10, "examples": [], "confidence": 0.8, "lift": 5.0},
        "savings": {"minutes_per_week": 10.0, "occurrences_per_week": 20.0, "seconds_per_occurrence": 30.0,
                    "basis": "measured"},
        "workflow": workflow(),
    }  # fmt: skip
    data.update(overrides)
    return data


def set_state(engine: Engine, user_id: int, *, model_version: str | None = "7", activity: Any = None) -> int:
    """Create or bump the user's suggestion_state (as a refresh does); the new version."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO suggestion_state (user_id, model_version, activity) VALUES (:u, :m, :a) "
                    "ON CONFLICT (user_id) DO UPDATE SET version = suggestion_state.version + 1, "
                    "model_version = EXCLUDED.model_version, activity = EXCLUDED.activity RETURNING version"
                ),
                {"u": user_id, "m": model_version, "a": json.dumps(activity or {})},
            ).scalar_one()
        )


def make_suggestion_factory(engine: Engine) -> SuggestionFactory:
    """``suggest(user_id, score=.., occurrences=.., template=.., body=.., **columns)`` -> the new id."""

    def suggest(user_id: int, *, score: float = 0.5, occurrences: int = 20, **columns: Any) -> str:
        sid = columns.pop("id", f"s_{uuid.uuid4().hex[:16]}")
        row = {
            "id": sid, "user_id": user_id, "template": "run_on_save", "pattern_key": f"modify {sid}",
            "title": f"Build {sid} on save", "occurrences": occurrences, "confidence": 0.8, "score": score,
            "model_version": "7", "body": body(occurrences),
        }  # fmt: skip
        row.update(columns)
        row["body"] = json.dumps(row["body"])
        names = ", ".join(row)
        values = ", ".join(f"CAST(:{k} AS jsonb)" if k == "body" else f":{k}" for k in row)
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO suggestions ({names}) VALUES ({values})"), row)
        set_state(engine, user_id)
        return str(sid)

    return suggest


def update_suggestion(engine: Engine, sid: str, sql_set: str, **params: Any) -> None:
    """Change a suggestion's row as the owner (a refresh, or time passing) and bump its user's state."""
    with engine.begin() as conn:
        user_id = conn.execute(
            text(f"UPDATE suggestions SET {sql_set} WHERE id = :sid RETURNING user_id"), {"sid": sid, **params}
        ).scalar_one()
    set_state(engine, user_id)


def record_version(
    engine: Engine, name: str, version: str, metrics: dict[str, float], *, champion: bool = False
) -> None:
    """A registered model version as the pipeline's refresh records it in ``model_versions``."""
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO model_versions (name, version, aliases, metrics) VALUES (:n, :v, :a, CAST(:m AS jsonb))"),
            {"n": name, "v": version, "a": ["champion"] if champion else [], "m": json.dumps(metrics)},
        )


def add_pattern(engine: Engine, family: str, user_id: int | None, rank: int, **body: Any) -> None:
    """A ``patterns`` row as the pipeline's refresh writes it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patterns (family, user_id, rank, body, model_name, model_version) "
                "VALUES (:f, :u, :r, CAST(:b AS jsonb), :n, '3')"
            ),
            {"f": family, "u": user_id, "r": rank, "b": json.dumps(body), "n": f"floyo-{family}"},
        )


def rule(text_: str, items: tuple[list[str], list[str]], sessions: int = 12) -> dict[str, Any]:
    """A rule's body as the refresh writes it."""
    return {"text": text_, "if": items[0], "then": items[1], "sessions": sessions, "support": 0.2,
            "confidence": 0.8, "lift": 3.5, "examples": [{"at": "2026-11-30T10:00:00+00:00", "files": ["a.tex"]}]}  # fmt: skip


def flow(text_: str, steps: list[str], occurrences: int = 9) -> dict[str, Any]:
    """A workflow's body as the refresh writes it."""
    return {"text": text_, "steps": steps, "windows_s": [60.0] * (len(steps) - 1),
            "delays_median_s": [12.0] * (len(steps) - 1), "occurrences": occurrences, "starts": occurrences + 2,
            "confidence": 0.8, "lift": 4.0, "days": 6, "last_seen": "2026-12-01"}  # fmt: skip
