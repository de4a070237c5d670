"""Features of a suggestion and of its user's past answers: the same code at training and at serving time.

A feature row describes one suggestion as shown to one person (its template, evidence and savings, and the
transparent score) beside what that person answered before (per template, per tool, per file extension, per
savings band: smoothed acceptance, dismissal and snooze rates). ``History`` folds answers in one at a time;
``features`` and ``matrix`` build it from the answers given strictly before ``as_of``, so an answer can never
describe itself or anything later (training walks each user's answers in time and asks the same ``History``).

History rows are ``suggestion_feedback`` rows: ``{"suggestion_id", "action", "created_at", "shown", "position"}``
where ``shown`` is the suggestion dict as it was served, and outcome rows of the person's adopted workflows
(``models.outcomes``): ``{"action": "outcome", "verdict", "created_at": verdict_at, "shown": the suggestion}``, so
what became of an accepted automation (used and saving, or unused) counts from the moment its verdict was known.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

TEMPLATES = (
    "run_on_save", "convert_on_change", "file_downloads", "backup_folder",
    "notify_long_run", "test_before_commit", "scheduled_job",
)  # fmt: skip
ACTIONS = ("accept", "dismiss", "snooze")
# savings bands (minutes per week): a person who takes "anything over 10 minutes" shows up as a band's rate
BANDS = (2.0, 5.0, 10.0, 20.0, 40.0)
# smoothing: a rate over n answers is (hits + PRIOR_N * prior) / (n + PRIOR_N); the prior is the person's own
# overall rate (itself smoothed toward GLOBAL_PRIOR), so one answer moves a template's rate only part of the way
PRIOR_N = 2.0
GLOBAL_PRIOR = {"accept": 0.3, "dismiss": 0.55, "snooze": 0.15}
# verdicts of adopted workflows (models.outcomes): kept and useful, or it could go; ``measuring`` says nothing yet
USED_VERDICTS = frozenset({"saving", "used"})
UNUSED_VERDICTS = frozenset({"unused", "no_saving"})
OUTCOME_PRIOR = 0.5

FEATURES: tuple[str, ...] = (
    *(f"template={t}" for t in TEMPLATES),
    "confidence", "log_lift", "log_minutes", "log_days", "log_occurrences", "log_recency_days", "steps", "score",
    "log_answers", "accept_rate",
    "tpl_accept", "tpl_dismiss", "tpl_snooze", "tpl_seen",
    "tool_accept", "tool_dismiss", "tool_seen", "ext_accept", "ext_dismiss", "ext_seen",
    "band_accept", "above_accept", "below_accept", "same_pattern_dismissed",
    "outcome_used", "tpl_outcome_used", "tpl_outcomes",
)  # fmt: skip
INDEX = {name: i for i, name in enumerate(FEATURES)}


def _num(value: Any, default: float = 0.0) -> float:
    """A finite float, or ``default`` for anything missing or malformed (a row never fails on one bad field)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def _time(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime or an ISO string (``Z`` allowed); None otherwise."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def keys(suggestion: Mapping[str, Any]) -> tuple[str, str | None, str | None, int, str]:
    """What past answers are matched on: template, the tool run, the file extension of the trigger glob, the
    savings band, and the suggestion's id."""
    template = str(suggestion.get("template") or "")
    tool = ext = None
    steps = _dict(suggestion.get("pattern")).get("steps") or []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        if tool is None and step.get("tool"):
            tool = str(step["tool"])
        glob = step.get("glob")
        if ext is None and isinstance(glob, str) and "." in glob.rsplit("/", 1)[-1]:
            ext = glob.rsplit(".", 1)[-1].lower()
    minutes = _num(_dict(suggestion.get("savings")).get("minutes_per_week"))
    band = bisect_right(BANDS, minutes)  # edges at or below: 0..len(BANDS)
    return template, tool, ext, band, str(suggestion.get("id") or "")


class _Counts:
    """Answers of one kind, by action (slots: folding is the hot path of ``rank``)."""

    __slots__ = ("by", "n")

    def __init__(self) -> None:
        self.n = 0.0
        self.by = {"accept": 0.0, "dismiss": 0.0, "snooze": 0.0}

    def add(self, action: str) -> None:
        self.n += 1
        self.by[action] += 1

    def rate(self, action: str, prior: float) -> float:
        return (self.by[action] + PRIOR_N * prior) / (self.n + PRIOR_N)


_EMPTY = _Counts()


class _Outcomes:
    """Verdicts of adopted workflows: how many, and how many were used."""

    __slots__ = ("n", "used")

    def __init__(self) -> None:
        self.n = 0.0
        self.used = 0.0

    def add(self, used: bool) -> None:
        self.n += 1
        self.used += used

    def rate(self, prior: float) -> float:
        return (self.used + PRIOR_N * prior) / (self.n + PRIOR_N)


_NO_OUTCOMES = _Outcomes()


@dataclass
class History:
    """One person's answers folded into counts; ``add`` answers in time order."""

    total: _Counts = field(default_factory=_Counts)
    template: dict[str, _Counts] = field(default_factory=dict)
    tool: dict[str, _Counts] = field(default_factory=dict)
    ext: dict[str, _Counts] = field(default_factory=dict)
    band: list[_Counts] = field(default_factory=lambda: [_Counts() for _ in range(len(BANDS) + 1)])
    dismissed: set[str] = field(default_factory=set)
    outcomes: _Outcomes = field(default_factory=_Outcomes)
    template_outcomes: dict[str, _Outcomes] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]], as_of: datetime | None = None) -> History:
        """The answers among ``rows`` given strictly before ``as_of`` (all of them when None)."""
        history = cls()
        for row in rows:
            when = _time(row.get("created_at"))
            if as_of is not None and (when is None or when >= as_of):
                continue  # an answer at or after the moment described is the future: never a feature
            history.add(row)
        return history

    def add(self, row: Mapping[str, Any]) -> None:
        """Fold one feedback or outcome row in (unknown actions and verdicts are ignored)."""
        action = row.get("action")
        if action == "outcome":
            self._add_outcome(row)
            return
        if action not in ACTIONS:
            return
        shown = _dict(row.get("shown"))
        template, tool, ext, band, sid = keys(shown)
        self.total.add(action)
        self.template.setdefault(template, _Counts()).add(action)
        if tool is not None:
            self.tool.setdefault(tool, _Counts()).add(action)
        if ext is not None:
            self.ext.setdefault(ext, _Counts()).add(action)
        self.band[band].add(action)
        if action == "dismiss":
            self.dismissed.add(sid or str(row.get("suggestion_id") or ""))

    def _add_outcome(self, row: Mapping[str, Any]) -> None:
        verdict = row.get("verdict")
        if verdict not in USED_VERDICTS and verdict not in UNUSED_VERDICTS:
            return
        used = verdict in USED_VERDICTS
        self.outcomes.add(used)
        template = str(_dict(row.get("shown")).get("template") or "")
        self.template_outcomes.setdefault(template, _Outcomes()).add(used)

    def row(self, suggestion: Mapping[str, Any], as_of: datetime | None = None) -> list[float]:
        """The feature row of ``suggestion`` against this history, in ``FEATURES`` order."""
        template, tool, ext, band, sid = keys(suggestion)
        evidence = _dict(suggestion.get("evidence"))
        savings = _dict(suggestion.get("savings"))
        last_seen = _time(evidence.get("last_seen"))
        recency = (as_of - last_seen).total_seconds() / 86400 if as_of and last_seen else 0.0
        steps = _dict(suggestion.get("pattern")).get("steps")
        prior = {a: self.total.rate(a, GLOBAL_PRIOR[a]) for a in ACTIONS}
        t = self.template.get(template, _EMPTY)
        tl = self.tool.get(tool, _EMPTY) if tool else _EMPTY
        ex = self.ext.get(ext, _EMPTY) if ext else _EMPTY
        outcome_prior = self.outcomes.rate(OUTCOME_PRIOR)
        above, below = _Counts(), _Counts()
        for i, counts in enumerate(self.band):
            side = above if i >= band else below
            side.n += counts.n
            side.by["accept"] += counts.by["accept"]
        out = [float(template == name) for name in TEMPLATES]
        out += [
            _num(suggestion.get("confidence", evidence.get("confidence"))),
            math.log1p(max(_num(evidence.get("lift"), 1.0), 0.0)),
            math.log1p(max(_num(savings.get("minutes_per_week")), 0.0)),
            math.log1p(max(_num(evidence.get("days")), 0.0)),
            math.log1p(max(_num(evidence.get("occurrences", suggestion.get("occurrences"))), 0.0)),
            math.log1p(max(recency, 0.0)),
            float(len(steps)) if isinstance(steps, list) else 0.0,
            _num(suggestion.get("score")),
            math.log1p(self.total.n), prior["accept"],
            t.rate("accept", prior["accept"]), t.rate("dismiss", prior["dismiss"]), t.rate("snooze", prior["snooze"]),
            math.log1p(t.n),
            tl.rate("accept", prior["accept"]), tl.rate("dismiss", prior["dismiss"]), math.log1p(tl.n),
            ex.rate("accept", prior["accept"]), ex.rate("dismiss", prior["dismiss"]), math.log1p(ex.n),
            self.band[band].rate("accept", prior["accept"]),
            above.rate("accept", prior["accept"]), below.rate("accept", prior["accept"]),
            float(bool(sid) and sid in self.dismissed),
            outcome_prior, self.template_outcomes.get(template, _NO_OUTCOMES).rate(outcome_prior),
            math.log1p(self.template_outcomes.get(template, _NO_OUTCOMES).n),
        ]  # fmt: skip
        return out


def features(
    suggestion: Mapping[str, Any], history: Iterable[Mapping[str, Any]], as_of: datetime | None = None
) -> dict[str, float]:
    """The named features of one suggestion for a person whose answers are ``history`` (only those given before
    ``as_of`` count; ``as_of`` is also the "now" of the recency feature)."""
    return dict(zip(FEATURES, History.of(history, as_of).row(suggestion, as_of), strict=True))


def matrix(
    suggestions: Sequence[Mapping[str, Any]], history: Iterable[Mapping[str, Any]], as_of: datetime | None = None
) -> np.ndarray:
    """The feature rows of many suggestions of one person (one ``History`` for all): shape (n, len(FEATURES))."""
    return rows(History.of(history, as_of), suggestions, as_of)


def rows(history: History, suggestions: Sequence[Mapping[str, Any]], as_of: datetime | None) -> np.ndarray:
    """The feature rows of many suggestions against one folded history, recency counted to ``as_of``."""
    out = [history.row(s, as_of) for s in suggestions]
    return np.asarray(out, dtype=np.float64).reshape(len(out), len(FEATURES))
