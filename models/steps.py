"""Next-item steps: the transitions of each user's sequence, as Python objects for the few that are scored and as
columns (``Steps``) for all of them, so a window of millions of events never becomes millions of objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

NO_EXT = "(none)"
HISTORY = 8  # items of recent history each step carries (features for a re-ranker)
STEP_COLUMNS = ("user", "prev", "prev_dir", "prev2", "item", "when", "prev_ts", "prev_gap_s")


@dataclass(frozen=True)
class Step:
    """One transition of a user's sequence: what came before and the item that followed."""

    user: str
    prev: str  # previous item (here: extension)
    prev_dir: str  # top folder of the previous path ('' at the root)
    prev2: str | None  # the item before ``prev``, when there is one
    item: str  # the item to predict
    when: int  # index of the item's transaction in time order (recency)
    history: tuple[str, ...] = ()  # the user's last items up to ``prev`` (at most ``HISTORY``), oldest first
    prev_ts: float | None = None  # when ``prev`` happened (seconds since the epoch)
    prev_gap_s: float | None = None  # seconds between the item before ``prev`` and ``prev``


def top_dir(path: str) -> str:
    """The first component of a relative path, ``''`` for a file at the root."""
    head, sep, _ = path.partition("/")
    return head if sep else ""


def top_dir_expr(path: pl.Expr) -> pl.Expr:
    """``top_dir`` of each path of a column."""
    return path.str.extract(r"^([^/]*)/", 1).fill_null("")


def _enum(series: pl.Series, categories: pl.Series | None = None) -> pl.Series:
    """A text column as an ``Enum`` (4 bytes a row; its codes are what the models count on)."""
    values = (series if categories is None else categories).drop_nulls().unique().sort()
    return series.cast(pl.Enum(values.to_list()))


def _narrowed(series: pl.Series) -> pl.Series:
    """A text or ``Enum`` column as an ``Enum`` of the values it holds only."""
    return _enum(series.cast(pl.String))


@dataclass(frozen=True)
class Steps:
    """Transitions as columns, one row each, in the order of the object lists they replace (user by user, as first
    seen; each user's in file order): ``STEP_COLUMNS`` (text columns as ``Enum``), ``pos``, the position of the
    step's item in ``items``, and ``start``, its user's first position there (so a step's history is a slice)."""

    frame: pl.DataFrame
    items: pl.Series  # every event's item, user by user

    @classmethod
    def of_events(cls, events: pl.DataFrame) -> Steps:
        """The steps of ``row, user, t, path, item, g`` events (``Split.events``)."""
        # text becomes codes before the sort and the shifts, so no column of millions of strings is ever copied
        ev = (
            events.select(
                "row", _enum(events["user"]), "t", top_dir_expr(pl.col("path")).alias("dir"),
                _enum(events["item"]), "g",
            )
            .with_columns(pl.col("row").min().over("user").alias("_first"))
            .sort("_first", "row")
            .with_row_index("pos")
        )  # fmt: skip
        same1 = pl.col("user") == pl.col("user").shift(1)
        same2 = pl.col("user") == pl.col("user").shift(2)
        frame = ev.select(
            "user", pl.col("item").shift(1).alias("prev"), pl.col("dir").shift(1).alias("prev_dir"),
            pl.when(same2).then(pl.col("item").shift(2)).alias("prev2"), "item", pl.col("g").alias("when"),
            pl.col("t").shift(1).alias("prev_ts"),
            pl.when(same2).then(pl.col("t").shift(1) - pl.col("t").shift(2)).alias("prev_gap_s"),
            "pos", pl.col("pos").min().over("user").alias("start"), same1.fill_null(False).alias("_keep"),
        ).filter("_keep").drop("_keep")  # fmt: skip
        # a user's and a folder's categories are the ones the steps hold (a user of one event has no step)
        frame = frame.with_columns(_narrowed(frame["user"]), _narrowed(frame["prev_dir"].cast(pl.String)))
        return cls(frame, ev["item"])

    @classmethod
    def of(cls, steps: Iterable[Step]) -> Steps:
        """Columns of plain ``Step`` objects (their histories kept: each is laid out in ``items``)."""
        listed = list(steps)
        lengths = [len(s.history) for s in listed]
        ends = np.cumsum([n + 1 for n in lengths]) if listed else np.zeros(0, dtype=np.int64)
        items = pl.Series("item", [x for s in listed for x in (*s.history, s.item)], dtype=pl.String)
        data = {c: [getattr(s, c) for s in listed] for c in STEP_COLUMNS}
        frame = pl.DataFrame(data, schema={c: _SCHEMA[c] for c in STEP_COLUMNS}).with_columns(
            pos=pl.Series((ends - 1).tolist(), dtype=pl.Int64),
            start=pl.Series([int(e) - n - 1 for e, n in zip(ends, lengths, strict=True)], dtype=pl.Int64),
        )
        frame = frame.with_columns(
            _enum(frame["user"]), _enum(frame["prev_dir"]), *(_enum(frame[c]) for c in ("prev", "prev2", "item"))
        )
        return cls(frame, items)

    def __len__(self) -> int:
        return self.frame.height

    def __iter__(self) -> Iterator[Step]:
        """Every step as an object (small data: tests, reports)."""
        return iter(self.take(range(len(self))))

    def __getitem__(self, index: int) -> Step:
        return self.take([index])[0]

    def where(self, condition: pl.Expr) -> Steps:
        """The steps that meet ``condition``, in the same order."""
        return Steps(self.frame.filter(condition), self.items)

    def when(self) -> np.ndarray:
        """Each step's ``when`` as an array."""
        return self.frame["when"].to_numpy()

    def truth(self) -> list[str]:
        """Each step's item."""
        return [str(x) for x in self.frame["item"].to_list()]

    def evenly_spaced(self, n: int) -> list[Step]:
        """At most ``n`` steps as objects, evenly spaced (all when there are fewer): ``tuning.evenly_spaced``."""
        size = len(self)
        return self.take(range(size) if size <= n else [i * size // n for i in range(n)])

    def take(self, indices: Sequence[int]) -> list[Step]:
        """The steps at these positions as objects, with their histories."""
        if not len(indices):
            return []
        rows = self.frame[list(indices)]
        pos, start = rows["pos"].to_numpy().astype(np.int64), rows["start"].to_numpy().astype(np.int64)
        lo = np.maximum(start, pos - HISTORY)
        lengths = pos - lo
        offsets = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        flat = self.items.gather(offsets).to_list()
        ends = np.cumsum(lengths).tolist()
        cols = [rows[c].to_list() for c in STEP_COLUMNS]
        out = []
        for i, (user, prev, d, prev2, item, when, ts, gap) in enumerate(zip(*cols, strict=True)):
            history = tuple(flat[ends[i] - int(lengths[i]) : ends[i]])
            out.append(Step(user, prev, d, prev2, item, int(when), history, ts, gap))
        return out


_SCHEMA: dict[str, pl.DataType] = {
    "user": pl.String(), "prev": pl.String(), "prev_dir": pl.String(), "prev2": pl.String(), "item": pl.String(),
    "when": pl.Int64(), "prev_ts": pl.Float64(), "prev_gap_s": pl.Float64(),
}  # fmt: skip
