"""When a workflow fires: file globs, cron schedules, time windows, and the trigger's placeholders.

Globs are matched against the path relative to the trigger's root, ``/`` between folders: ``*`` and ``?`` stay
inside one folder, ``**`` spans folders (``Downloads/**/*.pdf``, ``**/*.md``), ``[abc]`` is a character class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import PurePosixPath

from floyo.workflow_definition import ScheduleTrigger, TimeWindow

_PLACEHOLDER = re.compile(r"\{(trigger\.(?:path|name|stem|ext|dir))\}")


@lru_cache(maxsize=4096)
def glob_regex(glob: str) -> re.Pattern[str]:
    """The compiled regular expression of one glob (``**`` across folders, ``*`` within one)."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def any_glob(globs: Iterable[str]) -> re.Pattern[str]:
    """One expression matching what any of ``globs`` matches: a single test per event, in C, whatever the number
    of workflows (none given: matches nothing)."""
    parts = [f"(?:{glob_regex(g).pattern})" for g in dict.fromkeys(globs)]
    return re.compile("|".join(parts) if parts else r"(?!)", re.DOTALL)


def matches(globs: Iterable[str], rel: str) -> bool:
    """Whether ``rel`` (relative to the root) matches one of ``globs``."""
    return any(glob_regex(g).match(rel) for g in globs)


def _cron_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-")
            start, end = int(a), int(b)
        else:
            start = end = int(span)
            if step:  # "5/15": from 5 to the end, every 15
                end = high
        values.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression (already validated by the definition)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 too)
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, trigger: ScheduleTrigger) -> Cron:
        f = trigger.cron.split()
        weekdays = _cron_field(f[4], 0, 7)
        return cls(
            _cron_field(f[0], 0, 59), _cron_field(f[1], 0, 23), _cron_field(f[2], 1, 31), _cron_field(f[3], 1, 12),
            frozenset(d % 7 for d in weekdays), f[2] == "*", f[4] == "*",
        )  # fmt: skip

    def due(self, at: datetime) -> bool:
        """Whether the minute of ``at`` (local time) is one of the schedule's. As in cron, when both the day of
        the month and the weekday are restricted, either one matching is enough."""
        if at.minute not in self.minutes or at.hour not in self.hours or at.month not in self.months:
            return False
        day_ok, weekday_ok = at.day in self.days, (at.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def in_window(window: TimeWindow, at: datetime) -> bool:
    """Whether ``at`` (local time) is inside the window; ``after`` > ``before`` wraps past midnight."""
    if window.weekdays is not None and at.weekday() not in window.weekdays:
        return False
    now = at.strftime("%H:%M")
    if window.after <= window.before:
        return window.after <= now <= window.before
    return now >= window.after or now <= window.before


def conditions_hold(conditions: Iterable[TimeWindow], at: datetime) -> bool:
    """Every condition holds at ``at``."""
    return all(in_window(c, at) for c in conditions)


def file_values(rel: str | None) -> dict[str, str]:
    """The trigger's placeholders for a file ``rel`` relative to the root: path, name, stem, ext (without the
    dot), dir ('.' at the top); empty strings for a schedule."""
    if rel is None:
        return {k: "" for k in ("trigger.path", "trigger.name", "trigger.stem", "trigger.ext", "trigger.dir")}
    p = PurePosixPath(rel)
    return {
        "trigger.path": rel,
        "trigger.name": p.name,
        "trigger.stem": p.stem,
        "trigger.ext": p.suffix[1:],
        "trigger.dir": str(p.parent),
    }


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with its ``{trigger.*}`` placeholders replaced (the definition allows no others)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
