"""The shapes of the serving API's read answers, as the OpenAPI publishes them.

The routes build their answers as plain dicts (cached, and written once by the refresh) and return them as they are;
these models describe them for clients and for the schema checks (``tests/serving/test_schemathesis.py``). Keys
that are always there are required; nested objects whose keys depend on the template or the model allow more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ranker(_Open):
    """What ordered the suggestions: ``transparent`` (the documented score) or ``floyo-ranker`` at a version."""

    name: str
    version: str | None


class Pattern(_Open):
    """The steps (``action``, ``glob`` or ``tool``, per-step ``window_s`` and median/p90 delays) and their shape."""

    steps: list[dict[str, Any]]


class Savings(_Open):
    """Minutes a week, from how often and how long (measured), and the basis in words."""

    minutes_per_week: float
    occurrences_per_week: float
    seconds_per_occurrence: float
    basis: str


class Suggestion(_Open):
    """One suggested automation, explained: evidence, savings and the workflow accepting it would create."""

    id: str
    template: str
    title: str
    description: str
    pattern: Pattern | dict[str, Any]
    evidence: dict[str, Any]
    savings: Savings | dict[str, Any]
    confidence: float
    score: float
    state: str
    workflow: dict[str, Any] | None


class SuggestionsAnswer(_Open):
    """A user's suggestions, best first; ``activity`` when there is too little to suggest anything."""

    suggestions: list[Suggestion]
    model_version: str | None
    ranker: Ranker
    activity: dict[str, Any] | None = None


class CatalogAnswer(_Open):
    """Every template of the integration catalog."""

    templates: list[dict[str, Any]]


class Counts(_Open):
    total: int
    today: int
    week: int


class ActivityAnswer(_Open):
    """A user's activity in aggregate (the dashboard's Overview and Activity)."""

    now: str
    events: Counts
    first_event: str | None
    last_event: str | None
    active_minutes_week: float
    sessions_total: int
    top: dict[str, list[dict[str, Any]]]
    heatmap: list[dict[str, Any]]
    days: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    devices: list[dict[str, Any]]


class PatternsAnswer(_Open):
    """Rules (the user's own, then global ones) and workflows in words, and the activity the last refresh saw."""

    rules: list[dict[str, Any]]
    workflows: list[dict[str, Any]]
    activity: dict[str, Any] | None
    needed: dict[str, Any]


class ModelFamily(_Open):
    name: str
    champion: str | None
    versions: list[dict[str, Any]]


class ModelsAnswer(_Open):
    """The global model families with every version's metrics, and the job's last training runs."""

    families: list[ModelFamily]
    training_runs: list[dict[str, Any]]


class OperationsAnswer(_Open):
    """Admins' figures: ingest, outcomes, rejections by field, export lag, job runs, failures, readiness."""

    now: str
    ingest: dict[str, Any]
    events_by_outcome: dict[str, int]
    rejected_by_field: dict[str, int]
    export: dict[str, Any]
    job_runs: list[dict[str, Any]]
    failures_7d: int
    readiness: dict[str, Any]


def ok(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer declared with its model (the route returns the dict itself)."""
    return {200: {"model": model, "description": description}}
