"""Simulated people answering suggestions over rounds: does the ranker learn what they want?

Each simulated person has hidden preferences (never shown to the ranker): a liking or dislike per template on top
of the population's (people take run-on-save more often than notifications), a tool or two they love or hate,
sometimes a savings threshold ("anything over 10 minutes a week"), a general propensity, and everyone cares a
little about confidence and savings (so the transparent score is not blind). Their answer to a shown suggestion is
drawn from that utility through a logistic; an answer that is not an accept is a snooze one time in six, else a
dismissal. The random draws are fixed per (person, suggestion), so both arms face the same people answering the
same way: the arms differ only in what they show.

A person's candidates arrive over time (``FIRST`` at the start, ``NEW`` more each round, as refreshes find new
patterns). Each round every person sees their top ``per_round`` unanswered suggestions, ordered by the transparent score
(arm ``transparent``) or by the ranker (arm ``ranker``: trained on the feedback so far after every round and used
only once it beats the transparent score on held-out later answers, exactly the job's promotion rule). Snoozed
suggestions stay out until the end of the simulation.

Every candidate carries ``serving.suggest``'s transparent score (the real formula, as the refresh computes it).
Candidates come from ``plausible_suggestions`` (varied templates, tools, confidence, lift and savings, in the
served suggestion's shape) or, with ``candidates=PersonaSuggestions()``, are real: ``features.synth`` personas'
events mined and built into suggestions in memory; any function of (random generator, person index) returning
suggestion dicts will do.

``Round.same_lists_transparent`` counts what the transparent top k of an arm's very own lists would have had
accepted: an arm that took people's favourites sooner has fewer left, so per-round acceptance across arms mixes
ranking quality with the arms' different pasts, and this does not.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from serving import suggest
from serving.ranker import Ranker, train_from_feedback
from serving.ranker_features import TEMPLATES, keys

START = datetime(2026, 11, 2, tzinfo=UTC)
ROUND = timedelta(days=7)
# a person's candidates arrive over time, as refreshes find new patterns: FIRST at the start, NEW per round after
# (without arrivals every arm runs out of good suggestions, and the one that found them sooner looks worse later)
FIRST = 10
NEW = 4
# what people take in general (log-odds): automating a build or filing beats being notified
POPULATION = {
    "run_on_save": 0.6, "convert_on_change": 0.2, "file_downloads": 0.4, "backup_folder": 0.0,
    "notify_long_run": -0.6, "test_before_commit": 0.0, "scheduled_job": -0.3,
}  # fmt: skip
# what each template's pattern looks like: (tools, trigger folder and extensions)
SHAPES: dict[str, tuple[list[str | None], list[str], list[str]]] = {
    "run_on_save": (["latexmk", "make", "pytest", "black", "tsc", "cargo"], ["thesis", "src", "notes"],
                    ["tex", "py", "c", "ts", "rs", "md"]),
    "convert_on_change": (["pandoc", "ffmpeg", "convert", "soffice"], ["drafts", "audio", "img"],
                          ["md", "wav", "png", "docx"]),
    "file_downloads": ([None], ["Downloads"], ["pdf", "jpg", "zip", "csv", "epub"]),
    "backup_folder": (["rsync", "restic"], ["projects", "photos"], ["*"]),
    "notify_long_run": (["make", "cargo", "pytest", "ffmpeg", "python"], ["src", "build"], ["*"]),
    "test_before_commit": (["pytest", "npm", "cargo"], ["repo"], ["*"]),
    "scheduled_job": (["python", "rsync", "restic"], ["scripts"], ["*"]),
}  # fmt: skip
TOOLS = sorted({t for tools, _, _ in SHAPES.values() for t in tools if t})


def transparent_score(s: Mapping[str, Any], now: datetime = START) -> float:
    """``serving.suggest``'s transparent score of a suggestion dict (the one served before anyone answers), its
    recency counted from ``now`` (the refresh's moment)."""
    ev, sv = s.get("evidence") or {}, s.get("savings") or {}
    last = datetime.fromisoformat(str(ev.get("last_seen", now.isoformat())).replace("Z", "+00:00"))
    return suggest.transparent_score(
        confidence=float(s.get("confidence", 0.0)),
        lift=float(ev["lift"]) if ev.get("lift") is not None else None,
        minutes_per_week=float(sv.get("minutes_per_week", 0.0)),
        days=int(ev.get("days", 0)),
        age_days=max((now - last).total_seconds() / 86400, 0.0),
    )


def plausible_suggestions(rng: random.Random, person: int, n: int = 30) -> list[dict[str, Any]]:
    """``n`` suggestion dicts of the served shape for one person: varied templates, tools, evidence and savings."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(out) < n:
        template = rng.choice(TEMPLATES)
        tools, folders, exts = SHAPES[template]
        tool, folder, ext = rng.choice(tools), rng.choice(folders), rng.choice(exts)
        key = f"{template}|{tool}|{folder}|{ext}"
        if key in seen:
            continue
        seen.add(key)
        glob = f"{folder}/*.{ext}" if ext != "*" else f"{folder}/**"
        steps: list[dict[str, Any]] = [{"action": "create" if template == "file_downloads" else "modify", "glob": glob}]
        if tool:
            steps.append({"action": "run", "tool": tool, "window_s": 60})
        days = rng.randint(3, 40)
        occurrences = days * rng.randint(1, 6)
        minutes = round(rng.lognormvariate(math.log(6), 1.0), 1)
        last_seen = START - timedelta(days=rng.uniform(0, 20))
        confidence = round(rng.uniform(0.35, 0.98), 2)
        s: dict[str, Any] = {
            "id": "s_" + hashlib.sha256(f"{person}\x1f{key}".encode()).hexdigest()[:16],
            "template": template, "title": f"{template} {tool or ''} {glob}".strip(),
            "pattern": {"steps": steps},
            "evidence": {"occurrences": occurrences, "days": days, "last_seen": last_seen.isoformat(),
                         "confidence": confidence, "lift": round(rng.uniform(1.2, 12.0), 1)},
            "savings": {"minutes_per_week": minutes, "occurrences_per_week": round(occurrences / max(days, 1) * 7, 1)},
            "confidence": confidence, "state": "new",
        }  # fmt: skip
        s["score"] = transparent_score(s)
        out.append(s)
    return out


@dataclass
class Persona:
    """Hidden preferences: log-odds added per template and per tool, a savings threshold, a propensity."""

    base: float
    template: dict[str, float]
    tool: dict[str, float]
    threshold: float | None  # minutes per week; above it +1.5, below it -1.5
    draws: dict[str, tuple[float, float]] = field(default_factory=dict)  # per suggestion: (accept, snooze) uniforms

    def utility(self, s: Mapping[str, Any]) -> float:
        """The log-odds of accepting ``s``."""
        template, tool, _, _, _ = keys(s)
        minutes = float((s.get("savings") or {}).get("minutes_per_week", 0.0))
        u = self.base + POPULATION.get(template, 0.0) + self.template.get(template, 0.0)
        u += self.tool.get(tool or "", 0.0) + 2.0 * (float(s.get("confidence", 0.5)) - 0.65)
        u += 0.4 * math.log1p(minutes) - 0.8
        if self.threshold is not None:
            u += 1.5 if minutes > self.threshold else -1.5
        return u

    def answer(self, s: Mapping[str, Any]) -> str:
        """This person's answer to ``s`` (the same every time it is asked)."""
        accept, snooze = self.draws[str(s["id"])]
        if accept < 1.0 / (1.0 + math.exp(-self.utility(s))):
            return "accept"
        return "snooze" if snooze < 1 / 6 else "dismiss"


def persona(rng: random.Random, tools: Sequence[str] = TOOLS) -> Persona:
    """A random person: about a quarter of templates loved, a third disliked, 1-2 of ``tools`` with strong
    feelings, one in three with a savings threshold."""
    template = {}
    for t in TEMPLATES:
        r = rng.random()
        template[t] = 2.0 if r < 0.25 else -2.0 if r < 0.55 else rng.gauss(0, 0.5)
    tool = {t: rng.choice((-1.5, 1.5)) for t in rng.sample(list(tools), min(rng.randint(1, 2), len(tools)))}
    threshold = rng.choice((5.0, 10.0, 20.0)) if rng.random() < 1 / 3 else None
    return Persona(rng.gauss(-1.2, 0.5), template, tool, threshold)


Candidates = Callable[[random.Random, int], list[dict[str, Any]]]


class PersonaSuggestions:
    """Real suggestions: ``features.synth`` personas' events -> ``serving.candidates`` -> ``serving.suggest``
    (in memory, no database), each carrying the transparent score the refresh computed. A synthetic persona yields
    only its planted workflows (1-3 suggestions), so each simulated person gets ``n`` of the whole library
    (several personas' suggestions, re-keyed to the person); people's tool feelings are about the library's tools.
    """

    def __init__(self, personas: int = 40, days: int = 28, seed: int = 0, n: int = 30) -> None:
        self.library = synth_library(personas, days, seed)
        self.n = min(n, len(self.library))
        self.tools = sorted({t for s in self.library if (t := keys(s)[1])}) or TOOLS

    def __call__(self, rng: random.Random, person: int) -> list[dict[str, Any]]:
        out = []
        for s in rng.sample(self.library, self.n):
            key = f"{s['user_id']}\x1f{s['pattern_key']}"  # two personas' same pattern stays two suggestions
            new = suggest.suggestion_id(person, str(s["template"]), key)
            out.append(s | {"id": new, "user_id": person, "_from": s["user_id"]})
        return out


def synth_library(personas: int, days: int, seed: int = 0) -> list[dict[str, Any]]:
    """Every suggestion the refresh builds for ``personas`` synthetic people over the ``days`` before ``START``."""
    import polars as pl

    from features.synth import generate
    from floyo.events import extension_of
    from serving.candidates import mine_candidates, user_activity

    data = generate(personas=personas, days=days, seed=seed, end=START.date())
    rows = [
        {"user_id": i, "ts": datetime.fromisoformat(e["ts"]), "kind": e["kind"], "root": e.get("root"),
         "path": e.get("path"), "ext": extension_of(e.get("path") or ""), "dest_path": e.get("dest_path"),
         "tool": e.get("tool"), "exit_code": e.get("exit_code"), "duration_ms": e.get("duration_ms"), "meta": None}
        for i, user in enumerate(data.users) for e in user.events
    ]  # fmt: skip
    schema: dict[str, Any] = {
        "user_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "kind": pl.String, "root": pl.String, "path": pl.String,
        "ext": pl.String, "dest_path": pl.String, "tool": pl.String, "exit_code": pl.Int32, "duration_ms": pl.Int64,
        "meta": pl.String,
    }  # fmt: skip
    events = pl.DataFrame(rows, schema=schema).sort("user_id", "ts")
    return suggest.build_suggestions(mine_candidates(events), user_activity(events))


@dataclass
class Population:
    """Simulated people, their candidate suggestions and the fixed moments they answer at."""

    personas: list[Persona]
    suggestions: list[list[dict[str, Any]]]
    offsets: list[float]  # seconds into each round when the person looks

    @staticmethod
    def arrives(index: int) -> int:
        """The round (0-based) from which a person's ``index``-th candidate can be shown."""
        return 0 if index < FIRST else 1 + (index - FIRST) // NEW

    @classmethod
    def make(cls, people: int, seed: int = 0, candidates: Candidates = plausible_suggestions) -> Population:
        rng = random.Random(seed)
        personas, suggestions, offsets = [], [], []
        for i in range(people):
            p = persona(rng, getattr(candidates, "tools", TOOLS))
            found = candidates(rng, i)
            p.draws = {str(s["id"]): (rng.random(), rng.random()) for s in found}
            for s in found:
                s.setdefault("score", transparent_score(s))
            personas.append(p)
            suggestions.append(found)
            offsets.append(rng.uniform(0, ROUND.total_seconds() - 3600))
        return cls(personas, suggestions, offsets)


@dataclass
class Round:
    """One round of one arm: top-k acceptance, and whether the ranker (vs. the transparent score) ordered it."""

    arm: str
    round: int
    shown: int
    accepted: int
    used_ranker: bool
    train_seconds: float = 0.0
    # what the transparent score's top k of the very same lists would have had accepted (the same fixed draws):
    # ranking quality without the arms' different pasts (an arm that took the good suggestions sooner has fewer left)
    same_lists_transparent: int = 0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0


def run_arm(pop: Population, arm: str, rounds: int = 3, per_round: int = 3) -> tuple[list[Round], list[dict[str, Any]]]:
    """Rounds of one arm (``transparent``, ``ranker``, or ``oracle``: ordered by the hidden utility, the ceiling);
    its rounds and the feedback rows it collected (``suggestion_feedback``'s shape)."""
    feedback: list[dict[str, Any]] = []
    by_user: list[list[dict[str, Any]]] = [[] for _ in pop.personas]
    done: list[set[str]] = [set() for _ in pop.personas]
    ranker: Ranker | None = None
    out = []
    for r in range(rounds):
        shown = accepted = baseline = 0
        for u, (person, pool) in enumerate(zip(pop.personas, pop.suggestions, strict=True)):
            when = START + r * ROUND + timedelta(seconds=pop.offsets[u])
            open_ = [s for i, s in enumerate(pool) if pop.arrives(i) <= r and s["id"] not in done[u]]
            if arm == "oracle":  # the ceiling: ordered by the hidden utility itself
                scores = [person.utility(s) for s in open_]
            elif ranker is not None:
                scores = ranker.rank(open_, by_user[u], when)
            else:
                scores = [float(s["score"]) for s in open_]
            order = sorted(range(len(open_)), key=lambda i: (-scores[i], str(open_[i]["id"])))[:per_round]
            plain = sorted(range(len(open_)), key=lambda i: (-float(open_[i]["score"]), str(open_[i]["id"])))
            baseline += sum(person.answer(open_[i]) == "accept" for i in plain[:per_round])
            for position, i in enumerate(order):
                s = open_[i]
                action = person.answer(s)
                row = {"user_id": u, "suggestion_id": s["id"], "action": action, "shown": s, "position": position,
                       "created_at": when + timedelta(seconds=30 * position)}  # fmt: skip
                feedback.append(row)
                by_user[u].append(row)
                done[u].add(str(s["id"]))
                shown += 1
                accepted += action == "accept"
        result = Round(arm, r + 1, shown, accepted, ranker is not None, same_lists_transparent=baseline)
        if arm == "ranker" and r + 1 < rounds:
            summary = train_from_feedback(feedback, register=False)
            result.train_seconds = float(summary.get("train_seconds", 0.0))
            if summary.get("promoted"):  # the job's rule: only a model that beats the transparent score serves
                ranker = summary["ranker"]
        out.append(result)
    return out, feedback


def simulate(
    people: int = 300,
    rounds: int = 3,
    per_round: int = 3,
    seed: int = 0,
    candidates: Candidates = plausible_suggestions,
) -> dict[str, list[Round]]:
    """Both arms on the same population; each arm's rounds."""
    return {
        arm: run_arm(Population.make(people, seed, candidates), arm, rounds, per_round)[0]
        for arm in ("transparent", "ranker")
    }
