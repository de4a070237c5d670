"""Synthetic personas: believable daily activity with PLANTED workflows whose ground truth is written beside the data.

Seeded and deterministic: the same (personas, days, seed, end) gives the same events, ids included, so storing them
twice stores them once. Each persona has a daily rhythm (active hours, weekend habits), noise drawn from its own
folders, extensions and tools, and some of the planted ``WORKFLOWS``, some only on some days or on weekdays.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from floyo.events import extension_of


@dataclass(frozen=True)
class Step:
    """One action of a workflow: ``{f}`` in paths is the instance's file stem; ``delay`` follows the previous step."""

    kind: str
    path: str = ""
    tool: str | None = None
    dest: str | None = None
    delay: tuple[float, float] = (0.0, 0.0)

    def action(self) -> str:
        """The action token features.sequences gives this step (``run:pytest``, ``modify:csv``)."""
        if self.kind == "run":
            return f"run:{self.tool}"
        return f"{self.kind}:{extension_of(self.path) or '(none)'}"


@dataclass(frozen=True)
class Workflow:
    """A planted, repeated workflow and who does it, how often."""

    name: str
    description: str
    steps: tuple[Step, ...]
    personas: tuple[str, ...]
    per_day: tuple[int, int]
    day_share: float = 1.0  # on this share of a user's active days
    weekdays_only: bool = False

    @property
    def pattern(self) -> list[str]:
        return [s.action() for s in self.steps]

    @property
    def max_gap_s(self) -> float:
        return max(s.delay[1] for s in self.steps)


@dataclass(frozen=True)
class Persona:
    """A kind of person: when they work and what their background activity looks like."""

    name: str
    root: str
    hours: tuple[int, int]
    weekend_share: float
    noise_per_session: tuple[int, int]
    folders: tuple[str, ...]
    exts: tuple[str, ...]
    tools: tuple[str, ...]


PERSONAS = {
    p.name: p
    for p in (
        Persona("data_scientist", "projects", (9, 18), 0.2, (4, 14), ("data", "notebooks", "src", "reports"),
                ("csv", "ipynb", "py", "parquet", "png"), ("python", "jupyter", "git")),
        Persona("web_developer", "code", (10, 19), 0.3, (5, 16), ("src", "web", "tests", "public"),
                ("js", "ts", "css", "html", "json"), ("npm", "git", "node")),
        Persona("writer", "documents", (7, 13), 0.6, (3, 10), ("notes", "drafts", "refs"),
                ("md", "docx", "txt", "pdf"), ("git", "wc")),
        Persona("photographer", "pictures", (11, 21), 0.7, (3, 10), ("photos/raw", "photos/export", "clients"),
                ("cr2", "jpg", "xmp", "tif"), ("exiftool", "rsync")),
        Persona("student", "school", (13, 23), 0.5, (3, 12), ("courses", "homework", "papers"),
                ("pdf", "md", "py", "docx", "tex"), ("python", "latexmk")),
    )
}  # fmt: skip

WORKFLOWS = (
    Workflow("csv_clean", "modify data/*.csv, then within 1-3 min run clean.py",
             (Step("modify", "data/{f}.csv"), Step("run", "clean.py", tool="python", delay=(60, 180))),
             ("data_scientist", "student"), (1, 3), 0.8),
    Workflow("md_pandoc", "save notes/*.md, then run pandoc",
             (Step("modify", "notes/{f}.md"), Step("run", "notes/{f}.md", tool="pandoc", delay=(5, 60))),
             ("writer", "student"), (1, 3), 0.7),
    Workflow("pdf_to_papers", "download *.pdf, then move it to Papers/",
             (Step("create", "downloads/{f}.pdf"),
              Step("move", "downloads/{f}.pdf", dest="Papers/{f}.pdf", delay=(10, 120))),
             ("data_scientist", "writer", "student"), (1, 2), 0.4),
    Workflow("edit_test_edit", "edit a module, run pytest, edit it again",
             (Step("modify", "src/{f}.py"), Step("run", "", tool="pytest", delay=(5, 40)),
              Step("modify", "src/{f}.py", delay=(20, 300))),
             ("web_developer", "data_scientist"), (2, 5), 0.9),
    Workflow("raw_export", "import a RAW photo, develop it with darktable-cli, get the JPEG",
             (Step("create", "photos/raw/{f}.cr2"), Step("run", "photos/raw/{f}.cr2", tool="darktable-cli", delay=(5, 60)),
              Step("create", "photos/export/{f}.jpg", delay=(2, 20))),
             ("photographer",), (2, 6), 0.8),
    Workflow("js_build", "save a script, then npm run build (weekdays)",
             (Step("modify", "web/{f}.js"), Step("run", "", tool="npm", delay=(3, 30))),
             ("web_developer",), (1, 4), 1.0, weekdays_only=True),
)  # fmt: skip
STEMS = ("sales", "survey", "report", "index", "model", "utils", "chapter1", "thesis", "trip", "client", "notes", "api")


@dataclass
class SynthUser:
    """One generated person and their events (telemetry JSON dicts, time-ordered)."""

    name: str
    persona: str
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SynthData:
    """Everything generated, with the ground truth."""

    users: list[SynthUser]
    truth: dict[str, Any]

    @property
    def n_events(self) -> int:
        return sum(len(u.events) for u in self.users)


def _event(rng: random.Random, ts: datetime, root: str, step: Step, stem: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "ts": ts.isoformat(),
        "kind": step.kind,
        "root": root,
        "path": step.path.format(f=stem),
    }
    if step.tool:
        event["tool"] = step.tool
        event["exit_code"] = 0 if rng.random() < 0.9 else 1
        event["duration_ms"] = int(rng.uniform(200, 20_000))
    if step.dest:
        event["dest_path"] = step.dest.format(f=stem)
    return event


def _noise(rng: random.Random, persona: Persona, ts: datetime) -> dict[str, Any]:
    if rng.random() < 0.12:
        return _event(rng, ts, persona.root, Step("run", "", tool=rng.choice(persona.tools)), "")
    kind = rng.choices(("modify", "open", "create", "delete"), weights=(6, 3, 1, 0.3))[0]
    path = f"{rng.choice(persona.folders)}/{rng.choice(STEMS)}{rng.randint(1, 9)}.{rng.choice(persona.exts)}"
    return _event(rng, ts, persona.root, Step(kind, path), "")


def _session(rng: random.Random, persona: Persona, start: datetime) -> tuple[list[dict[str, Any]], datetime]:
    events, ts = [], start
    for _ in range(rng.randint(*persona.noise_per_session)):
        ts += timedelta(seconds=min(rng.expovariate(1 / 120), 1200))
        events.append(_noise(rng, persona, ts))
    return events, ts


def _plant(rng: random.Random, persona: Persona, wf: Workflow, at: datetime) -> list[dict[str, Any]]:
    stem, ts, events = f"{rng.choice(STEMS)}{rng.randint(1, 5)}", at, []
    for step in wf.steps:
        ts += timedelta(seconds=rng.uniform(*step.delay))
        events.append(_event(rng, ts, persona.root, step, stem))
    return events


def _day(
    rng: random.Random, user: SynthUser, persona: Persona, day: date, instances: list[list[Any]]
) -> list[dict[str, Any]]:
    weekend = day.weekday() >= 5
    if weekend and rng.random() > persona.weekend_share:
        return []
    events: list[dict[str, Any]] = []
    spans: list[tuple[datetime, datetime]] = []
    for _ in range(rng.randint(1, 3)):
        hour = rng.uniform(persona.hours[0], persona.hours[1] - 1)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)
        noise, end = _session(rng, persona, start)
        events += noise
        spans.append((start, end))
    for wf in WORKFLOWS:
        if persona.name not in wf.personas or (wf.weekdays_only and weekend) or rng.random() >= wf.day_share:
            continue
        for _ in range(rng.randint(*wf.per_day)):
            lo, hi = rng.choice(spans)
            planted = _plant(rng, persona, wf, lo + (hi - lo) * rng.random())
            events += planted
            instances.append([user.name, wf.name, planted[0]["ts"], [e["event_id"] for e in planted]])
    return events


def generate(*, personas: int, days: int, seed: int = 0, end: date | None = None) -> SynthData:
    """``personas`` people (cycling through the persona kinds) over the ``days`` days before ``end`` (today, UTC)."""
    end = end or datetime.now(UTC).date()
    kinds = list(PERSONAS)
    users, instances = [], []  # type: list[SynthUser], list[list[Any]]
    for i in range(personas):
        persona = PERSONAS[kinds[i % len(kinds)]]
        user = SynthUser(f"synth-{persona.name.replace('_', '-')}-{i + 1:03d}", persona.name)
        rng = random.Random(f"floyo-synth:{seed}:{i}")
        for d in range(days, 0, -1):
            user.events += _day(rng, user, persona, end - timedelta(days=d), instances)
        user.events.sort(key=lambda e: e["ts"])
        users.append(user)
    return SynthData(users, _truth(users, instances, personas=personas, days=days, seed=seed, end=end))


def _truth(
    users: list[SynthUser], instances: list[list[Any]], *, personas: int, days: int, seed: int, end: date
) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {wf.name: {} for wf in WORKFLOWS}
    for user, wf_name, _, _ in instances:
        counts[wf_name][user] = counts[wf_name].get(user, 0) + 1
    return {
        "generator": "features.synth",
        "params": {"personas": personas, "days": days, "seed": seed, "end": end.isoformat()},
        "users": {u.name: {"persona": u.persona, "events": len(u.events)} for u in users},
        "workflows": [
            {
                "name": wf.name,
                "description": wf.description,
                "pattern": wf.pattern,
                "max_gap_s": wf.max_gap_s,
                "personas": list(wf.personas),
                "per_day": list(wf.per_day),
                "day_share": wf.day_share,
                "weekdays_only": wf.weekdays_only,
                "instances_by_user": counts[wf.name],
            }
            for wf in WORKFLOWS
        ],
        "instances": instances,
        "n_events": sum(len(u.events) for u in users),
    }
