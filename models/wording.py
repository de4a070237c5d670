"""Patterns in human words: what a person is shown of the rules and workflows the models found.

Pure functions on plain dicts (no polars, no MLflow): the refresh writes their output to PostgreSQL and the CLI
prints it. Items are the models' vocabulary (``ext:py``, ``dir:src``, ``kind:modify``, ``run:pytest``; workflow
steps ``modify:py``); evidence is times and files, never session keys or transaction numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_KIND_VERBS = {"create": "create", "modify": "modify", "delete": "delete", "move": "move", "rename": "rename"}


def item_phrase(item: str) -> str:
    """One rule item as a verb phrase: ``ext:py`` → "touch .py files", ``run:pytest`` → "run pytest"."""
    family, _, value = item.partition(":")
    if family == "ext":
        return "touch files without an extension" if value in ("", "(none)") else f"touch .{value} files"
    if family == "dir":
        return f"work in {value}/"
    if family == "run":
        return f"run {value}"
    if family == "kind":
        return "run commands" if value == "run" else f"{_KIND_VERBS.get(value, value)} files"
    return item


def step_phrase(step: str) -> str:
    """One workflow step: ``modify:tex`` → "modify a .tex file", ``run:latexmk`` → "run latexmk"."""
    kind, _, value = step.partition(":")
    if kind == "run":
        return f"run {value}" if value not in ("", "?") else "run a command"
    what = "a file without an extension" if value in ("", "(none)") else f"a .{value} file"
    return f"{_KIND_VERBS.get(kind, kind)} {what}"


def _joined(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def rule_sentence(antecedents: list[str], consequents: list[str]) -> str:
    """ "When you touch .cr2 files and work in photos/, you also touch .xmp files"."""
    when = _joined([item_phrase(i) for i in sorted(antecedents)])
    then = _joined([item_phrase(i) for i in sorted(consequents)])
    return f"When you {when}, you also {then}"


def drop_near_duplicates(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules a person should read, in their given order, without near-duplicates: of the permutations of one
    item set (A,B→C, A,C→B, B,C→A) only the most confident is kept, and a rule whose items are all inside a kept
    rule with the same number of sessions says nothing more (C→D when A,C→D,E holds just as often) and goes."""
    best: dict[frozenset[str], tuple[int, dict[str, Any]]] = {}
    for position, rule in enumerate(rules):
        items = frozenset(rule["antecedents"]) | frozenset(rule["consequents"])
        key = (rule["confidence"], rule["lift"], -len(rule["antecedents"]))
        held = best.get(items)
        if held is None or key > (held[1]["confidence"], held[1]["lift"], -len(held[1]["antecedents"])):
            best[items] = (held[0] if held else position, rule)
    kept: dict[int, list[frozenset[str]]] = {}  # by session count: only an equally frequent superset hides a rule
    out: list[tuple[int, dict[str, Any]]] = []
    for items, (position, rule) in sorted(best.items(), key=lambda kv: -len(kv[0])):
        same = kept.setdefault(int(rule["count"]), [])
        if any(items < bigger for bigger in same):
            continue
        same.append(items)
        out.append((position, rule))
    return [rule for _, rule in sorted(out, key=lambda pr: pr[0])]


def when(value: str | datetime) -> str:
    """A time as a person reads it: ``2026-11-12 14:07 UTC``."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at.strftime("%Y-%m-%d %H:%M UTC")


def describe_rule(body: dict[str, Any]) -> str:
    """One line for ``floyo patterns rules`` from a stored rule's body."""
    line = (
        f"{body['text']}: in {body['sessions']} sessions, {body['confidence']:.0%} of the time "
        f"({body['lift']:.1f}x more often than by chance)"
    )
    examples = body.get("examples") or []
    if examples:
        shown = [f"{when(e['at'])}" + (f" ({', '.join(e['files'])})" if e.get("files") else "") for e in examples]
        line += "; latest " + "; ".join(shown)
    return line


def workflow_sentence(w: dict[str, Any]) -> str:
    """ "You modify a .py file, then run pytest within 30 s (median 17 s)"."""
    steps = w.get("steps") or [w["a"], w["b"]]  # a champion mined before chains has pairs only
    windows = w.get("windows_s") or [w["window_s"]]
    medians = w.get("delays_median_s") or [w["delay_median_s"]]
    then = "".join(
        f", then {step_phrase(s)} within {win:.0f} s (median {d:.0f} s)"
        for s, win, d in zip(steps[1:], windows, medians, strict=True)
    )
    return f"You {step_phrase(steps[0])}{then}"


def describe_workflow_body(body: dict[str, Any]) -> str:
    """One line for ``floyo patterns workflows`` from a stored workflow's body."""
    of = f" of {body['starts']}" if body.get("starts") else ""
    return (
        f"{body['text']}: {body['occurrences']} times{of} ({body['confidence']:.0%}), on {body['days']} days, "
        f"last {when(body['last_seen'])}"
    )


def activity_message(who: str, activity: dict[str, Any] | None, needed: dict[str, Any], family: str) -> str:
    """What a person with no personal pattern of ``family`` is told: how much activity they have, how much the
    models need."""
    if family == "rules":
        need = int(needed.get("sessions", 20))
        if activity is None:
            return (
                f"{who} has no activity recorded at the last refresh: personal rules need at least {need} work "
                "sessions (a session ends after 30 minutes without an event)"
            )
        more = max(need - int(activity["sessions"]), 0)
        tail = f" ({more} more to go)" if more else "; none of them repeats often enough for a rule yet"
        return (
            f"{who} has {activity['sessions']} work sessions ({activity['events']} events on {activity['days']} days); "
            f"personal rules need at least {need} sessions{tail}"
        )
    times, days = int(needed.get("occurrences", 10)), int(needed.get("days", 3))
    have = (
        "no activity recorded at the last refresh"
        if activity is None
        else f"{activity['events']} events on {activity['days']} days"
    )
    return (
        f"{who} has {have}; a workflow needs the same steps repeated at least {times} times on at least {days} "
        "different days"
    )
