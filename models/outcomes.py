"""Did an adopted workflow help? Manual occurrences per week before and after adoption, runs, minutes saved.

Per workflow, from the person's events (the lake's columns):

- **manual occurrences**: the pattern the workflow automates (its suggestion's ``pattern.steps``: a trigger, then
  the action by hand within the step's window) done by hand, i.e. by events WITHOUT ``meta.workflow_id``. One
  occurrence per event of the last step whose earlier steps came before it, each within its window.
- **rates**: occurrences per week in the weeks before adoption (at most ``BEFORE_DAYS``, from the person's first
  event) and from adoption to the person's last event, each with an exact 95% Poisson interval (Garwood).
- **runs**: the ``run`` events the agent reported for this workflow (``meta.workflow_id``), ``ok`` ones and
  failures (``failed``, ``timeout``, ``interrupted``; ``cancelled`` and ``skipped`` are neither).
- **minutes saved per week** = min(ok runs per week, max(0, manual before - manual after)) x the suggestion's
  measured seconds per occurrence / 60: a run counts only as far as the person stopped doing it by hand, and the
  drop counts only as far as the workflow ran. The interval takes the drop between the rates' interval ends.
- **verdict**: ``measuring`` until the person was seen ``VERDICT_DAYS`` after adoption; then ``unused`` (no ok run
  in the last ``VERDICT_DAYS`` they were seen: it could go), ``saving`` (minutes saved > 0), ``no_saving`` (it runs, but the manual pattern
  did not drop), or ``used`` (it runs; a workflow made by hand has no pattern to compare with).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from scipy.stats import chi2

VERDICT_DAYS = 14
BEFORE_DAYS = 56  # the weeks before adoption that count: recent enough to be the same habits
LEVEL = 0.95
DEFAULT_WINDOW_S = 300.0
OK = ("ok",)
FAILED = ("failed", "timeout", "interrupted")


@dataclass(frozen=True)
class Rate:
    """``count`` events over ``weeks``: per week, with an exact Poisson interval at ``LEVEL``."""

    count: int
    weeks: float
    per_week: float
    low: float
    high: float


def poisson_rate(count: int, weeks: float, level: float = LEVEL) -> Rate | None:
    """The rate per week of ``count`` events seen over ``weeks`` (Garwood's exact interval); None without time."""
    if weeks <= 0:
        return None
    alpha = 1 - level
    low = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return Rate(count, round(weeks, 3), round(count / weeks, 3), round(low / weeks, 3), round(high / weeks, 3))


@dataclass(frozen=True)
class Adopted:
    """One adopted workflow as the job knows it: when, and the pattern and cost of its suggestion (if any)."""

    workflow_id: int
    user_id: int
    adopted_at: datetime
    steps: Sequence[Mapping[str, Any]] | None = None  # the suggestion's pattern.steps; None: made by hand
    seconds_per_occurrence: float | None = None  # the suggestion's measured savings.seconds_per_occurrence
    template: str | None = None


def _automated() -> pl.Expr:
    return pl.col("meta").str.json_path_match("$.workflow_id").is_not_null()


def _glob_parts(glob: str) -> tuple[str, str | None]:
    """The folder and extension of a suggestion's glob (``thesis/*.tex``, ``*.md``, ``src/*``); ext None: any."""
    folder, _, name = glob.rpartition("/")
    return folder, (name[2:].lower() if name.startswith("*.") else None)


def step_matches(step: Mapping[str, Any]) -> pl.Expr:
    """The events (by hand) that are this step of a pattern: the same run, or the same kind of file in the folder."""
    action = str(step.get("action") or "")
    manual = ~_automated().fill_null(False)
    if action == "run":
        sub = pl.col("meta").str.json_path_match("$.subcommand")
        run = pl.when(sub.is_not_null() & (sub != "")).then(pl.col("tool") + " " + sub).otherwise(pl.col("tool"))
        return (pl.col("kind") == "run") & (run == str(step.get("tool") or "")) & manual
    folder, ext = _glob_parts(str(step.get("glob") or "*"))
    path = pl.col("path").fill_null("")
    here = pl.when(path.str.contains("/")).then(path.str.replace(r"/[^/]*$", "")).otherwise(pl.lit(""))
    match = (pl.col("kind") == action) & (pl.col("root") == str(step.get("root") or "")) & (here == folder)
    if ext is not None:
        match &= pl.col("ext").fill_null("").str.to_lowercase() == ext
    if action == "move" and step.get("dest") is not None:
        dest = pl.col("dest_path").fill_null("")
        dest_folder = pl.when(dest.str.contains("/")).then(dest.str.replace(r"/[^/]*$", "")).otherwise(pl.lit("."))
        match &= dest_folder == str(step["dest"])
    return match & manual


def manual_occurrences(events: pl.DataFrame, steps: Sequence[Mapping[str, Any]]) -> pl.Series:
    """The times of the pattern's last step done by hand with every earlier step before it, within its window."""
    times: pl.DataFrame | None = None
    for k, step in enumerate(steps):
        hits = events.filter(step_matches(step)).select(pl.col("ts")).sort("ts")
        if times is None:
            times = hits
            continue
        window = timedelta(seconds=float(step.get("window_s") or DEFAULT_WINDOW_S))
        previous = times.rename({"ts": f"prev{k}"}).sort(f"prev{k}")
        joined = hits.join_asof(previous, left_on="ts", right_on=f"prev{k}", strategy="backward")
        times = joined.filter(pl.col(f"prev{k}").is_not_null() & (pl.col("ts") - pl.col(f"prev{k}") <= window)).select(
            "ts"
        )
    return pl.Series("ts", [], dtype=pl.Datetime("us", "UTC")) if times is None else times["ts"]


def _time(value: object, default: datetime) -> datetime:
    """A polars aggregate as a datetime (``default`` for an empty column)."""
    return value if isinstance(value, datetime) else default


def _weeks(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / (7 * 86400)


def _runs(events: pl.DataFrame, workflow_id: int, since: datetime) -> pl.DataFrame:
    """The workflow's reported runs from ``since``, with their ``outcome`` (from meta, else from the exit code)."""
    wid = pl.col("meta").str.json_path_match("$.workflow_id")
    outcome = pl.col("meta").str.json_path_match("$.outcome")
    by_exit = pl.when(pl.col("exit_code") == 0).then(pl.lit("ok")).otherwise(pl.lit("failed"))
    return events.filter((pl.col("kind") == "run") & (wid == str(workflow_id)) & (pl.col("ts") >= since)).select(
        "ts", outcome.fill_null(by_exit).alias("outcome")
    )


def measure(events: pl.DataFrame, adopted: Adopted, now: datetime) -> dict[str, Any]:
    """The outcome of one workflow from its person's ``events`` (lake columns: ts, kind, root, path, ext,
    dest_path, tool, exit_code, meta as JSON text), as ``workflow_outcomes.body`` holds it, verdict included."""
    # one time zone object for every literal compared with the frame's UTC column (polars tells Etc/UTC from UTC)
    at, now = adopted.adopted_at.astimezone(UTC), now.astimezone(UTC)
    first = _time(events["ts"].min(), at)
    last = _time(events["ts"].max(), at)
    end = min(max(last, at), now)  # observed until the person's last event: an agent switched off is not a drop
    start = max(first, at - timedelta(days=BEFORE_DAYS))
    runs = _runs(events, adopted.workflow_id, at)
    ok = runs.filter(pl.col("outcome").is_in(OK))
    after_weeks = _weeks(at, end)
    body: dict[str, Any] = {
        "adopted_at": at.isoformat(),
        "observed_until": end.isoformat(),
        "days_since_adoption": round((now - at).total_seconds() / 86400, 1),
        "observed_days": round((end - at).total_seconds() / 86400, 1),
        "template": adopted.template,
        "runs": runs.height,
        "ok_runs": ok.height,
        "failures": runs.filter(pl.col("outcome").is_in(FAILED)).height,
        "ok_runs_per_week": round(ok.height / after_weeks, 3) if after_weeks > 0 else None,
        "last_run": None if runs.is_empty() else _time(runs["ts"].max(), at).isoformat(),
        "manual_before": None,
        "manual_after": None,
        "seconds_per_occurrence": adopted.seconds_per_occurrence,
        "minutes_per_week": None,
        "minutes_per_week_low": None,
        "minutes_per_week_high": None,
        "minutes_saved": None,
    }
    if adopted.steps:
        manual = manual_occurrences(events, adopted.steps)
        before = poisson_rate(int(((manual >= start) & (manual < at)).sum()), _weeks(start, at))
        after = poisson_rate(int(((manual >= at) & (manual <= end)).sum()), after_weeks)
        body["manual_before"] = None if before is None else asdict(before)
        body["manual_after"] = None if after is None else asdict(after)
        body |= _saved(before, after, body["ok_runs_per_week"], adopted.seconds_per_occurrence, after_weeks)
    # the last VERDICT_DAYS the person was seen (not the calendar's): a holiday is not disuse
    recent_ok = ok.filter(pl.col("ts") >= end - timedelta(days=VERDICT_DAYS)).height
    return body | verdict(body, recent_ok, has_pattern=bool(adopted.steps))


def _saved(
    before: Rate | None, after: Rate | None, runs_per_week: float | None, seconds: float | None, weeks: float
) -> dict[str, Any]:
    """Minutes saved per week (and its interval, and in total): the drop in manual occurrences, bounded by the ok
    runs, times the measured seconds each occurrence cost."""
    if before is None or after is None or runs_per_week is None or seconds is None or not math.isfinite(seconds):
        return {}

    def minutes(drop: float) -> float:
        return round(min(runs_per_week, max(drop, 0.0)) * seconds / 60, 2)

    point = minutes(before.per_week - after.per_week)
    return {
        "minutes_per_week": point,
        "minutes_per_week_low": minutes(before.low - after.high),
        "minutes_per_week_high": minutes(before.high - after.low),
        "minutes_saved": round(point * weeks, 1),
    }


def verdict(body: Mapping[str, Any], recent_ok_runs: int, *, has_pattern: bool) -> dict[str, str]:
    """``verdict`` and ``message``: measuring, unused, saving, no_saving or used (module docstring)."""
    days = float(body["observed_days"])
    if days < VERDICT_DAYS:
        left = math.ceil(VERDICT_DAYS - days)
        return {"verdict": "measuring", "message": f"measuring: a verdict in {left} day{'s' * (left != 1)}"}
    if recent_ok_runs == 0:
        return {"verdict": "unused",
                "message": f"unused: no successful run in the last {VERDICT_DAYS} days; it could go"}  # fmt: skip
    per_week = body.get("ok_runs_per_week") or 0.0
    if not has_pattern or body.get("minutes_per_week") is None:
        return {"verdict": "used", "message": f"runs {per_week:.1f} times a week (no manual pattern to compare with)"}
    minutes = float(body["minutes_per_week"])
    if minutes <= 0:
        return {"verdict": "no_saving",
                "message": f"runs {per_week:.1f} times a week, but you still do it by hand as often as before"}  # fmt: skip
    low, high = body["minutes_per_week_low"], body["minutes_per_week_high"]
    return {"verdict": "saving", "message": f"saving {minutes:.1f} min/week (95% interval {low:.1f}-{high:.1f})"}


def measure_all(events: pl.DataFrame, adopted: Sequence[Adopted], now: datetime) -> list[dict[str, Any]]:
    """``measure`` for every adopted workflow, each on its own person's events; one body per workflow (with
    ``workflow_id`` and ``user_id``)."""
    by_user = {int(k[0]): frame for k, frame in events.partition_by("user_id", as_dict=True).items()}
    empty = events.clear()
    return [
        {"workflow_id": a.workflow_id, "user_id": a.user_id, **measure(by_user.get(a.user_id, empty), a, now)}
        for a in adopted
    ]
