"""Suggestions against the workflows planted in synthetic personas (``features.synth``'s ground truth): which planted
workflow of which person came back, at what rank, as which catalog template."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

# planted workflow -> (template, trigger glob, the run's tool or the move's destination) a right suggestion has
EXPECTED = {
    "csv_clean": ("run_on_save", "data/*.csv", "python"),
    "md_pandoc": ("run_on_save", "notes/*.md", "pandoc"),
    "pdf_to_papers": ("file_downloads", "downloads/*.pdf", "Papers/"),
    "edit_test_edit": ("run_on_save", "src/*.py", "pytest"),
    "raw_export": ("convert_on_change", "photos/raw/*.cr2", "darktable-cli"),
    "js_build": ("run_on_save", "web/*.js", "npm"),
}
SCHEMA = {
    "workflow": pl.String, "user": pl.String, "instances": pl.Int64, "found": pl.Boolean, "rank": pl.Int64,
    "template": pl.String, "minutes_per_week": pl.Float64, "title": pl.String,
}  # fmt: skip


def matches(suggestion: Mapping[str, Any], workflow: str) -> bool:
    """Whether a suggestion is the planted ``workflow``: its template, trigger glob and tool or destination."""
    template, glob, target = EXPECTED[workflow]
    steps = suggestion["pattern"]["steps"]
    if suggestion["template"] != template or len(steps) < 2 or steps[0].get("glob") != glob:
        return False
    return target in (steps[1].get("tool"), steps[1].get("dest"))


def recovery(
    suggestions: Iterable[Mapping[str, Any]], truth: Mapping[str, Any], names: Mapping[Any, str]
) -> pl.DataFrame:
    """One row per planted (workflow, person): ``found`` and the 1-based ``rank`` of the first matching suggestion
    among that person's (by score), with its template, savings and title. ``names`` maps a suggestion's
    ``user_id`` (as text: ``models.users.user_names``) to the person's name in the truth."""
    by_user: dict[str, list[Mapping[str, Any]]] = {}
    for s in suggestions:
        by_user.setdefault(names.get(str(s["user_id"]), str(s["user_id"])), []).append(s)
    for found in by_user.values():
        found.sort(key=lambda s: (-float(s["score"]), str(s["id"])))
    rows = []
    for wf in truth["workflows"]:
        if wf["name"] not in EXPECTED:
            continue
        for user, instances in sorted(wf["instances_by_user"].items()):
            ranked = by_user.get(user, [])
            hit = next(((i, s) for i, s in enumerate(ranked, 1) if matches(s, wf["name"])), None)
            rows.append({
                "workflow": wf["name"], "user": user, "instances": instances, "found": hit is not None,
                "rank": hit[0] if hit else None, "template": hit[1]["template"] if hit else None,
                "minutes_per_week": hit[1]["savings"]["minutes_per_week"] if hit else None,
                "title": hit[1]["title"] if hit else None,
            })  # fmt: skip
    return pl.DataFrame(rows, schema=SCHEMA)
