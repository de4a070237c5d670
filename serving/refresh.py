"""The refresh: every user's suggestions rebuilt from their events and upserted, keeping ids, states and feedback.

Written as the table owner (``floyo.db.get_engine()``, not a request-scoped connection), in one transaction:
the new suggestions go to a temporary table by COPY, then one ``INSERT … ON CONFLICT (id) DO UPDATE`` refreshes
what was found (its state, snooze, dismissal and feedback untouched), one ``UPDATE`` marks ``active = false``
what was not found any more (nothing is deleted), and ``suggestion_state`` gets a new version (the cache key)
and the user's ``activity``: how much they did and, when too little, how much a suggestion needs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Engine

from serving.candidates import mine_candidates, user_activity
from serving.suggest import build_suggestions

log = logging.getLogger(__name__)
NEEDED_EVENTS = 100  # below this many events or days a person's repeats cannot be told from chance
NEEDED_DAYS = 5

_TEMP = """
CREATE TEMP TABLE refresh_suggestions (
    id text, user_id bigint, template text, pattern_key text, title text, body jsonb, occurrences integer,
    confidence double precision, score double precision, model_version text
) ON COMMIT DROP;
CREATE TEMP TABLE refresh_state (user_id bigint, activity jsonb) ON COMMIT DROP;
"""
_UPSERT = """
INSERT INTO suggestions AS s (id, user_id, template, pattern_key, title, body, occurrences, confidence, score,
                              model_version, active, refreshed_at, updated_at)
SELECT id, user_id, template, pattern_key, title, body, occurrences, confidence, score, model_version, true,
       now(), now()
FROM refresh_suggestions r WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title, body = EXCLUDED.body, occurrences = EXCLUDED.occurrences,
    confidence = EXCLUDED.confidence, score = EXCLUDED.score, model_version = EXCLUDED.model_version,
    active = true, refreshed_at = now(), updated_at = now()
"""
_DEACTIVATE = """
UPDATE suggestions AS s SET active = false, updated_at = now()
WHERE s.active AND s.user_id IN (SELECT user_id FROM refresh_state)
  AND NOT EXISTS (SELECT 1 FROM refresh_suggestions r WHERE r.id = s.id)
"""
_STATE = """
INSERT INTO suggestion_state AS st (user_id, version, model_version, refreshed_at, activity)
SELECT r.user_id, 1, %s, now(), r.activity FROM refresh_state r JOIN users u ON u.id = r.user_id
ON CONFLICT (user_id) DO UPDATE SET
    version = st.version + 1, model_version = EXCLUDED.model_version, refreshed_at = now(),
    activity = EXCLUDED.activity
"""


@dataclass
class RefreshSummary:
    """What one refresh did and how long it took."""

    users: int
    suggestions: int
    deactivated: int
    too_little: int
    model_version: str | None
    seconds: float
    mine_seconds: float
    write_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the job's summary)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the CLI."""
        return (
            f"refreshed suggestions of {self.users} user{'' if self.users == 1 else 's'}: {self.suggestions} active, "
            f"{self.deactivated} no longer found, {self.too_little} with too little activity ({self.seconds:.1f} s: mining "
            f"{self.mine_seconds:.1f} s, writing {self.write_seconds:.1f} s)"
        )


def activity_of(events: int, days: int) -> dict[str, Any]:
    """What ``suggestion_state.activity`` holds: the user's events and days, what is needed, and a message."""
    needed = {"events": NEEDED_EVENTS, "days": NEEDED_DAYS}
    enough = events >= NEEDED_EVENTS and days >= NEEDED_DAYS
    if enough:
        message = f"Floyo has seen {events} events on {days} days from you: enough to look for repeated patterns."
    else:
        more = []
        if events < NEEDED_EVENTS:
            more.append(f"{NEEDED_EVENTS - events} more events")
        if days < NEEDED_DAYS:
            more.append(f"activity on {NEEDED_DAYS - days} more days")
        message = (
            f"Floyo has seen {events} events on {days} days from you; suggestions need at least {NEEDED_EVENTS} "
            f"events on {NEEDED_DAYS} different days: keep the agent running for {' and '.join(more)}."
        )
    return {"events": events, "days": days, "needed": needed, "enough": enough, "message": message}


def refresh_suggestions(
    engine: Engine, events: pl.DataFrame, *, users: list[int] | None = None, model_version: str | None = None
) -> RefreshSummary:
    """Rebuild the suggestions of ``users`` (default: every user) from ``events`` (the lake's columns) and upsert
    them; ids, states and feedback survive, suggestions not found any more become inactive."""
    started = time.perf_counter()
    if users is not None:
        events = events.filter(pl.col("user_id").is_in(users))
    if model_version is None and "seq" in events.columns and events.height:
        model_version = f"lake@{int(events.select(pl.col('seq').max()).item())}"
    activity = user_activity(events)
    enough = activity.filter((pl.col("events") >= NEEDED_EVENTS) & (pl.col("days") >= NEEDED_DAYS))
    # lazy: the users' events are read by the mining's first step, never copied as a whole
    mined = events.lazy().join(enough.select("user_id").lazy(), on="user_id", how="semi")
    suggestions = build_suggestions(mine_candidates(mined), activity)
    mine_seconds = time.perf_counter() - started

    written = time.perf_counter()
    counts = {int(r["user_id"]): (int(r["events"]), int(r["days"])) for r in activity.iter_rows(named=True)}
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection  # psycopg: COPY
        with raw.cursor() as cur:
            targets = users if users is not None else [int(u) for (u,) in cur.execute("SELECT id FROM users")]
            cur.execute(_TEMP)
            with cur.copy("COPY refresh_suggestions FROM STDIN") as copy:
                for s in suggestions:
                    body = {k: s[k] for k in ("description", "pattern", "evidence", "savings", "workflow")}
                    copy.write_row((
                        s["id"], int(s["user_id"]), s["template"], s["pattern_key"], s["title"],
                        orjson.dumps(body).decode(), s["evidence"]["occurrences"], s["confidence"], s["score"],
                        model_version,
                    ))  # fmt: skip
            with cur.copy("COPY refresh_state FROM STDIN") as copy:
                for user in targets:
                    n_events, n_days = counts.get(int(user), (0, 0))
                    copy.write_row((int(user), orjson.dumps(activity_of(n_events, n_days)).decode()))
            cur.execute(_UPSERT)
            cur.execute(_DEACTIVATE)
            deactivated = cur.rowcount
            cur.execute(_STATE, (model_version,))
    done = time.perf_counter()
    summary = RefreshSummary(
        users=len(targets), suggestions=len(suggestions), deactivated=max(deactivated, 0),
        too_little=len(targets) - enough.height, model_version=model_version, seconds=round(done - started, 3),
        mine_seconds=round(mine_seconds, 3), write_seconds=round(done - written, 3),
    )  # fmt: skip
    log.info("suggestions refreshed", extra=summary.as_dict())
    return summary


def lake_events(settings: Any = None) -> pl.DataFrame:
    """The lake's events with the columns the candidates need (``features.lake``)."""
    from features import lake

    cols = [
        "seq",
        "user_id",
        "ts",
        "kind",
        "root",
        "path",
        "ext",
        "dest_path",
        "tool",
        "exit_code",
        "duration_ms",
        "meta",
    ]
    return lake.events(settings).select(cols).collect()
