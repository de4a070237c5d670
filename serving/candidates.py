"""Candidate patterns for suggestions, mined for every user at once from the lake's events (polars, vectorised).

Events become items that say what happened (what a workflow did, ``meta.workflow_id``, is left out) to which KIND of file in which FOLDER, never which file:
``modify documents:thesis/*.tex``, ``create documents:downloads/*.pdf``, ``move documents:downloads/*.pdf →
Papers/`` and ``run latexmk`` (``run git commit`` when the agent sends the subcommand in ``meta``). Chains of
those items come from ``models.workflows.mine_workflows`` (support, confidence, lift, per-step windows and
delays, days, first and last seen, example times) and are sorted into SHAPES the catalog knows:

- ``file_run``: a file item, then a run;  ``file_run_file``: and then new files of another kind (a conversion);
- ``create_move``: files appear in a folder, then that same kind is moved elsewhere (the destination folder);
- ``file_copy``: a file item, then the same extension created in another folder (a copy, a backup);
- ``run_run``: a run, then another (tests, then git).

Two shapes are not chains and are computed directly: ``long_run`` (runs of one tool lasting minutes) and
``schedule`` (the same run at about the same time of day on most of the user's active days).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from models.workflows import WorkflowLimits, mine_workflows

FILE_KINDS = ("create", "modify")
MOVE_TO = " \u2192 "  # between a move's files and its destination folder: an arrow no folder name has
KEPT_KINDS = ("create", "modify", "move", "run")  # open and delete say nothing an automation would act on
LIMITS = WorkflowLimits(
    windows=(30.0, 60.0, 120.0, 300.0), lookahead=12, min_support=5, min_confidence=0.3, min_lift=1.5, min_conviction=3.0,
    min_days=3, max_steps=3,
)  # fmt: skip


@dataclass(frozen=True)
class CandidateLimits:
    """What makes a candidate: the chain limits, and those of long runs and schedules."""

    chains: WorkflowLimits = LIMITS
    long_run_s: float = 60.0  # a run lasting at least this long is a long one ("minutes")
    long_min_runs: int = 5
    long_min_share: float = 0.5  # of the tool's runs that are long
    schedule_slack_min: int = 30  # runs within this many minutes of the usual time are "at that time"
    schedule_min_days: int = 5
    schedule_min_share: float = 0.6  # of the user's active days with the run at its time ("most days")
    schedule_min_focus: float = 0.6  # of the tool's runs that are at that time (not a tool run all day long)


def _folder() -> pl.Expr:
    return (
        pl.when(pl.col("path").str.contains("/")).then(pl.col("path").str.replace(r"/[^/]*$", "")).otherwise(pl.lit(""))
    )


def _glob(folder: pl.Expr, ext: pl.Expr) -> pl.Expr:
    pattern = pl.when(ext == "").then(pl.lit("*")).otherwise(pl.lit("*.") + ext)
    return pl.when(folder == "").then(pattern).otherwise(folder + pl.lit("/") + pattern)


def _run_name() -> pl.Expr:
    """``tool`` or ``tool subcommand`` (the agent sends ``{"subcommand": "commit"}`` for ``git commit``)."""
    sub = pl.col("meta").str.json_path_match("$.subcommand")
    tool = pl.col("tool").fill_null("?")
    return pl.when(sub.is_not_null() & (sub != "")).then(tool + pl.lit(" ") + sub).otherwise(tool)


def prepare(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The events an automation could act on, with ``item``, ``glob``, ``folder``, ``dest`` and ``run`` columns
    (from a lazy frame too: a filter on the events, e.g. the users with enough activity, then copies nothing)."""
    cols = ("user_id", "ts", "kind", "root", "path", "ext", "dest_path", "tool", "duration_ms", "meta")
    present = events.lazy().collect_schema().names()
    ev = (
        events.lazy()
        .select([(pl.col(c) if c in present else pl.lit(None, dtype=pl.String).alias(c)) for c in cols])
        .filter(pl.col("kind").is_in(KEPT_KINDS))
        .collect()
    )
    ev = ev.with_columns(
        pl.col("ext").fill_null("").str.to_lowercase(), pl.col("root").fill_null(""), pl.col("path").fill_null(""),
        pl.col("meta").cast(pl.String),
    )  # fmt: skip
    # what a workflow did (``meta.workflow_id``, reported by the agent) is no habit: mined, it would suggest again
    # what already runs (a scheduled workflow's runs are a schedule pattern)
    ev = ev.filter(pl.col("meta").str.json_path_match("$.workflow_id").is_null())
    folder = _folder()
    dest = pl.col("dest_path").fill_null("")
    dest_folder = pl.when(dest.str.contains("/")).then(dest.str.replace(r"/[^/]*$", "")).otherwise(pl.lit(""))
    ev = ev.with_columns(
        folder.alias("folder"), _glob(folder, pl.col("ext")).alias("glob"), dest_folder.alias("dest"),
        _run_name().alias("run"),
    )  # fmt: skip
    where = pl.col("root") + pl.lit(":") + pl.col("glob")
    item = (
        pl.when(pl.col("kind") == "run")
        .then(pl.lit("run ") + pl.col("run"))
        .when(pl.col("kind") == "move")
        .then(
            pl.lit("move ")
            + where
            + pl.lit(MOVE_TO)
            + pl.when(pl.col("dest") == "").then(pl.lit(".")).otherwise(pl.col("dest"))
            + pl.lit("/")
        )
        .otherwise(pl.col("kind") + pl.lit(" ") + where)
    )
    return ev.with_columns(item.alias("item"))


def user_activity(events: pl.DataFrame) -> pl.DataFrame:
    """``user_id, events, days, first_ts, last_ts`` over all of a user's events (any kind)."""
    return events.group_by("user_id").agg(
        pl.len().alias("events"), pl.col("ts").dt.date().n_unique().alias("days"),
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"),
    )  # fmt: skip


def _item_parts(prefix: str) -> list[pl.Expr]:
    """Kind, root, glob, folder, ext, tool and dest of the item column ``<prefix>`` (parsed back, vectorised)."""
    item = pl.col(prefix)
    kind = item.str.extract(r"^(\w+) ", 1)
    body = item.str.replace(r"^\w+ ", "")
    is_run = kind == "run"
    where = pl.when(kind == "move").then(body.str.replace(f"{MOVE_TO}.*$", "")).otherwise(body)
    glob = pl.when(is_run).then(None).otherwise(where.str.replace(r"^[^:]*:", ""))
    folder = glob.str.replace(r"/?[^/]*$", "")
    return [
        kind.alias(f"{prefix}_kind"),
        pl.when(is_run).then(None).otherwise(where.str.extract(r"^([^:]*):", 1)).alias(f"{prefix}_root"),
        glob.alias(f"{prefix}_glob"),
        folder.alias(f"{prefix}_folder"),
        glob.str.extract(r"\*\.([^/*]+)$", 1).fill_null("").alias(f"{prefix}_ext"),
        pl.when(is_run).then(body).alias(f"{prefix}_tool"),
        pl.when(kind == "move").then(body.str.extract(f"{MOVE_TO}(.*)/$", 1)).alias(f"{prefix}_dest"),
    ]


def _run_stats(ev: pl.DataFrame) -> pl.DataFrame:
    """Per user and run: the median and p90 duration (s) where known, and the folder it usually runs in."""
    runs = ev.filter(pl.col("kind") == "run")
    cwd = pl.when(pl.col("ext") == "").then(pl.col("path")).otherwise(pl.col("folder"))
    return (
        runs.with_columns(cwd.alias("cwd"))
        .group_by("user_id", "run")
        .agg(
            (pl.col("duration_ms").median() / 1000).alias("duration_median_s"),
            (pl.col("duration_ms").quantile(0.9, "higher") / 1000).alias("duration_p90_s"),
            pl.col("cwd").mode().sort().first().alias("cwd"),
        )
    )


def chain_candidates(ev: pl.DataFrame, limits: WorkflowLimits = LIMITS) -> pl.DataFrame:
    """Chains of ``ev`` (from ``prepare``) sorted into shapes; one row per candidate."""
    # an item done fewer times than a chain needs can be no step of one: leaving it out makes the mining cheaper
    # and the lookahead reach past it (its events still count in the user's activity, not in the base rates)
    items = ev.select("user_id", "ts", "item").filter(pl.len().over("user_id", "item") >= limits.min_support)
    found = mine_workflows(items, limits=limits, evidence=True)
    if found.is_empty():
        return found
    s = found.with_columns(
        pl.col("steps").list.get(0).alias("s0"), pl.col("steps").list.get(1).alias("s1"),
        pl.col("steps").list.get(2, null_on_oob=True).alias("s2"),
    ).with_columns(*_item_parts("s0"), *_item_parts("s1"), *_item_parts("s2"))  # fmt: skip
    a_file = pl.col("s0_kind").is_in(FILE_KINDS)
    pair = pl.col("n_steps") == 2
    shape = (
        pl.when(pair & a_file & (pl.col("s1_kind") == "run"))
        .then(pl.lit("file_run"))
        .when(
            (pl.col("n_steps") == 3) & a_file & (pl.col("s1_kind") == "run") & (pl.col("s2_kind") == "create")
            & (pl.col("s2_glob") != pl.col("s0_glob"))
        )
        .then(pl.lit("file_run_file"))
        .when(
            pair & (pl.col("s0_kind") == "create") & (pl.col("s1_kind") == "move")
            & (pl.col("s1_glob") == pl.col("s0_glob")) & (pl.col("s1_dest") != pl.col("s0_folder"))
        )
        .then(pl.lit("create_move"))
        .when(
            pair & a_file & (pl.col("s1_kind") == "create") & (pl.col("s1_ext") == pl.col("s0_ext"))
            & (pl.col("s1_folder") != pl.col("s0_folder"))
        )
        .then(pl.lit("file_copy"))
        .when(pair & (pl.col("s0_kind") == "run") & (pl.col("s1_kind") == "run"))
        .then(pl.lit("run_run"))
    )  # fmt: skip
    c = s.with_columns(shape.alias("shape")).filter(pl.col("shape").is_not_null())
    # a conversion also shows as its first two steps: the pair says less, keep the conversion only
    converts = c.filter(pl.col("shape") == "file_run_file").select("user_id", "s0", "s1").unique()
    c = (
        c.join(converts, on=["user_id", "s0", "s1"], how="anti").vstack(c.filter(pl.col("shape") == "file_run_file"))
        if not converts.is_empty()
        else c
    )
    run_col = pl.when(pl.col("shape") == "run_run").then(pl.col("s0_tool")).otherwise(pl.col("s1_tool"))
    return c.select(
        "user_id", "shape", "steps",
        pl.col("s0_root").fill_null(pl.col("s1_root")).alias("root"),
        pl.col("s0_kind").alias("trigger_kind"), pl.col("s0_glob").alias("glob"),
        pl.col("s0_folder").alias("folder"), pl.col("s0_ext").alias("ext"),
        run_col.alias("tool"),
        pl.when(pl.col("shape") == "run_run").then(pl.col("s1_tool")).alias("next_tool"),
        pl.when(pl.col("shape") == "create_move").then(pl.col("s1_dest"))
        .when(pl.col("shape") == "file_copy").then(pl.col("s1_folder")).alias("dest"),
        pl.when(pl.col("shape") == "file_run_file").then(pl.col("s2_glob")).alias("output_glob"),
        pl.col("support").alias("occurrences"), "days", "first_seen", "last_seen", "examples",
        "confidence", "lift", pl.col("base").alias("base_rate"), "windows_s",
        pl.col("delays_median_s"), pl.col("delays_p90_s"),
    )  # fmt: skip


def long_run_candidates(ev: pl.DataFrame, limits: CandidateLimits) -> pl.DataFrame:
    """Runs of one tool that last minutes, repeatedly: one row per (user, run)."""
    runs = ev.filter((pl.col("kind") == "run") & pl.col("duration_ms").is_not_null())
    if runs.is_empty():
        return pl.DataFrame()
    long = pl.col("duration_ms") >= limits.long_run_s * 1000
    overall = runs.group_by("user_id").agg(long.mean().alias("long_share_all"))
    per = (
        runs.with_columns(long.alias("long"))
        .group_by("user_id", "run")
        .agg(
            pl.len().alias("runs"),
            pl.col("long").sum().alias("occurrences"),
            pl.col("long").mean().alias("confidence"),
            pl.col("ts").filter(pl.col("long")).dt.date().n_unique().alias("days"),
            pl.col("ts").filter(pl.col("long")).min().alias("first_seen"),
            pl.col("ts").filter(pl.col("long")).max().alias("last_seen"),
            pl.col("ts").filter(pl.col("long")).sort().tail(5).alias("examples"),
            pl.col("root").mode().sort().first().alias("root"),
        )
        .join(overall, on="user_id")
        .filter(
            (pl.col("occurrences") >= limits.long_min_runs)
            & (pl.col("confidence") >= limits.long_min_share)
            & (pl.col("days") >= limits.chains.min_days)
        )
    )
    return per.select(
        "user_id", pl.lit("long_run").alias("shape"), pl.concat_list(pl.lit("run ") + pl.col("run")).alias("steps"),
        "root", pl.col("run").alias("tool"), "occurrences", "days", "first_seen", "last_seen", "examples",
        "confidence", (pl.col("confidence") / pl.col("long_share_all")).alias("lift"),
        pl.col("long_share_all").alias("base_rate"),
    )  # fmt: skip


def schedule_candidates(ev: pl.DataFrame, active: pl.DataFrame, limits: CandidateLimits) -> pl.DataFrame:
    """The same run at about the same time of day on most of the user's active days: one row per (user, run)."""
    runs = ev.filter(pl.col("kind") == "run").select("user_id", "run", "ts", "root")
    if runs.is_empty():
        return pl.DataFrame()
    minute = (pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute().cast(pl.Int32)).alias("m")
    runs = runs.with_columns(minute)
    slack = limits.schedule_slack_min
    # the usual time: the median minute, also taken on a clock turned by 12 h (runs around midnight)
    centre = runs.group_by("user_id", "run").agg(
        pl.col("m").median().alias("c0"), ((pl.col("m") + 720) % 1440).median().alias("c1"), pl.len().alias("runs")
    )
    r = runs.join(centre, on=["user_id", "run"])

    def near(c: pl.Expr, m: pl.Expr) -> pl.Expr:
        d = (m - c).abs()
        return pl.min_horizontal(d, 1440 - d) <= slack

    m12 = (pl.col("m") + 720) % 1440
    r = r.with_columns(near(pl.col("c0"), pl.col("m")).alias("in0"), near(pl.col("c1"), m12).alias("in1"))
    turned = r.group_by("user_id", "run").agg(pl.col("in1").sum() > pl.col("in0").sum()).rename({"in1": "turned"})
    r = r.join(turned, on=["user_id", "run"]).with_columns(
        pl.when(pl.col("turned")).then(pl.col("in1")).otherwise(pl.col("in0")).alias("in_slot"),
        pl.when(pl.col("turned")).then((pl.col("c1") + 720) % 1440).otherwise(pl.col("c0")).alias("centre"),
    )
    slot = r.filter(pl.col("in_slot"))
    per = (
        slot.group_by("user_id", "run")
        .agg(
            pl.len().alias("occurrences"),
            pl.col("ts").dt.date().n_unique().alias("days"),
            (pl.col("ts").dt.weekday() >= 6).sum().alias("weekend_runs"),
            pl.col("ts").min().alias("first_seen"),
            pl.col("ts").max().alias("last_seen"),
            pl.col("ts").sort().tail(5).alias("examples"),
            pl.col("centre").first().alias("centre"),
            pl.col("runs").first().alias("runs"),
            pl.col("root").mode().sort().first().alias("root"),
        )
        .join(active, on="user_id")
        .with_columns(
            (pl.col("days") / pl.col("active_days")).alias("confidence"),
            (pl.col("occurrences") / pl.col("runs")).alias("focus"),
        )
        .filter(
            (pl.col("days") >= limits.schedule_min_days)
            & (pl.col("confidence") >= limits.schedule_min_share)
            & (pl.col("focus") >= limits.schedule_min_focus)
        )
    )
    base = (2 * slack + 1) / 1440  # the share of the day the slot covers: runs at random times land there this often
    at_min = ((pl.col("centre") / 15).round() * 15).cast(pl.Int32) % 1440  # a time a person would choose
    weekdays = (pl.col("weekend_runs") == 0) & (pl.col("weekend_days") >= 2)
    return per.select(
        "user_id", pl.lit("schedule").alias("shape"), pl.concat_list(pl.lit("run ") + pl.col("run")).alias("steps"),
        "root", pl.col("run").alias("tool"), "occurrences", "days", "first_seen", "last_seen", "examples",
        "confidence", (pl.col("focus") / base).alias("lift"), pl.lit(base).alias("base_rate"),
        (at_min // 60).alias("at_hour"), (at_min % 60).alias("at_minute"), weekdays.alias("weekdays_only"),
        "active_days",
    )  # fmt: skip


def mine_candidates(events: pl.DataFrame | pl.LazyFrame, *, limits: CandidateLimits | None = None) -> pl.DataFrame:
    """Every user's candidates (all shapes) with evidence and the run's measured durations; one row each.

    Columns: ``user_id, shape, steps, root, trigger_kind, glob, folder, ext, tool, next_tool, dest, output_glob,
    occurrences, days, first_seen, last_seen, examples, confidence, lift, base_rate, windows_s,
    delays_median_s, delays_p90_s, duration_median_s, duration_p90_s, cwd, at_hour, at_minute, weekdays_only,
    active_days`` (null where a shape has no such thing).
    """
    limits = limits or CandidateLimits()
    ev = prepare(events)
    active = (
        events.lazy()
        .group_by("user_id")
        .agg(
            pl.col("ts").dt.date().n_unique().alias("active_days"),
            pl.col("ts").filter(pl.col("ts").dt.weekday() >= 6).dt.date().n_unique().alias("weekend_days"),
        )
        .collect()
    )
    frames = [
        chain_candidates(ev, limits.chains),
        long_run_candidates(ev, limits),
        schedule_candidates(ev, active, limits),
    ]
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return _empty().with_columns(pl.col("user_id").cast(events.lazy().collect_schema().get("user_id", pl.Int64)))
    out = pl.concat(frames, how="diagonal_relaxed")
    stats = _run_stats(ev).rename({"run": "tool"})
    out = out.join(stats, on=["user_id", "tool"], how="left")
    return _complete(out)


def _complete(out: pl.DataFrame) -> pl.DataFrame:
    """Every column of the candidate schema, in its order and type (``user_id`` keeps the input's type)."""
    schema = _empty().schema
    cols = [
        (pl.col(c).cast(t) if c in out.columns else pl.lit(None, dtype=t).alias(c))
        for c, t in schema.items()
        if c != "user_id"
    ]
    return out.select("user_id", *cols)


def _empty() -> pl.DataFrame:
    dt = pl.Datetime("us", "UTC")
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "user_id": pl.Int64, "shape": pl.String, "steps": pl.List(pl.String), "root": pl.String,
        "trigger_kind": pl.String, "glob": pl.String, "folder": pl.String, "ext": pl.String, "tool": pl.String,
        "next_tool": pl.String, "dest": pl.String, "output_glob": pl.String, "occurrences": pl.Int64,
        "days": pl.Int64, "first_seen": dt, "last_seen": dt, "examples": pl.List(dt), "confidence": pl.Float64,
        "lift": pl.Float64, "base_rate": pl.Float64, "windows_s": pl.List(pl.Float64),
        "delays_median_s": pl.List(pl.Float64), "delays_p90_s": pl.List(pl.Float64),
        "duration_median_s": pl.Float64, "duration_p90_s": pl.Float64, "cwd": pl.String, "at_hour": pl.Int32,
        "at_minute": pl.Int32, "weekdays_only": pl.Boolean, "active_days": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(schema=schema)


def with_limits(**changes: object) -> CandidateLimits:
    """``CandidateLimits`` with some fields changed (tests, benchmarks)."""
    return replace(CandidateLimits(), **changes)  # type: ignore[arg-type]
