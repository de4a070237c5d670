"""Co-change: which other items usually change with these ones (ROSE-style rules, made stronger).

Against the pairwise baseline this model (1) weighs each train transaction by its recency, (2) combines the
evidence of every query item with a noisy-OR instead of keeping the best single rule, (3) uses two-item
antecedents ({a, b} → c, the multi-antecedent rules that FP-growth finds) when the query has them, and
(4) keeps rules seen once, with their confidence shrunk towards zero by a smoothing count.

Everything is sparse arrays: itemsets of size 1-3 are counted once per fit with numpy (one row per occurrence,
aggregated by ``np.unique``), and a query sums the rows of a matrix of ``log(1 - confidence)`` for its items
and item pairs, so the noisy-OR of thousands of rules costs a few sparse row sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import sparse

from models.protocol import Baskets

Key = tuple[str, ...]
IntArray = npt.NDArray[np.int64]
SmallArray = npt.NDArray[np.int32]  # one number per occurrence: 4 bytes, as there are tens of millions
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Itemsets:
    """Every itemset of size 1-3 seen in the transactions, with the transaction of each occurrence.

    Items are numbered in name order, so sorting candidates by number breaks ties by name. ``pairs[k]`` is the
    k-th distinct pair ``(a, b)`` with ``a < b``; ``triples`` holds ``(pair index, third item)`` once for each of
    the three ways a triple splits into an antecedent pair and a consequent.
    """

    names: list[str]
    single_tx: IntArray  # transaction of each (transaction, item) occurrence
    single_item: IntArray
    pairs: IntArray  # shape (n_pairs, 2)
    pair_tx: SmallArray
    pair_of: SmallArray  # the pair index of each pair occurrence
    triple_pair: IntArray  # antecedent pair index of each distinct (pair, consequent)
    triple_item: IntArray  # the consequent
    triple_tx: SmallArray
    triple_of: SmallArray  # the (pair, consequent) index of each occurrence

    @classmethod
    def count(cls, transactions: Baskets | Sequence[Sequence[str]], *, max_pair_items: int) -> Itemsets:
        """Enumerate the itemsets; triples only from transactions of at most ``max_pair_items`` items.

        Block by block (``_blocks``), twice: the distinct itemsets first, then each occurrence's number, kept as
        int32, so memory holds the occurrences once and never all their 64-bit keys and sort buffers."""
        if isinstance(transactions, Baskets):
            lists = transactions.frame["items"]
        else:
            lists = pl.Series("items", [list(t) for t in transactions], dtype=pl.List(pl.String))
        names = lists.explode(empty_as_null=False).drop_nulls().unique().sort()
        layout = _Layout.of(lists, names)
        n = max(len(names), 1)

        def pair_blocks() -> Iterator[tuple[IntArray, IntArray]]:
            for tx, (a, b) in _blocks(layout, 2, max_len=None):
                yield tx, a * n + b

        pair_keys = _distinct(keys for _, keys in pair_blocks())
        pair_tx, pair_of = _numbered(pair_blocks(), pair_keys, _n_combos(layout, 2, max_len=None))
        pairs = np.column_stack([pair_keys // n, pair_keys % n]).astype(np.int64)

        # each triple {a, b, c} is evidence for {a, b} → c, {a, c} → b and {b, c} → a; the occurrences are
        # numbered one split at a time (all of the first, then the second...), as they always were
        def triple_blocks(split: int) -> Iterator[tuple[IntArray, IntArray]]:
            for tx, (a, b, c) in _blocks(layout, 3, max_len=max_pair_items):
                x, y, z = ((a, b, c), (a, c, b), (b, c, a))[split]
                yield tx, np.searchsorted(pair_keys, x * n + y) * n + z

        triple_keys = _distinct(keys for split in range(3) for _, keys in triple_blocks(split))
        triple_tx, triple_of = _numbered(
            (block for split in range(3) for block in triple_blocks(split)), triple_keys,
            3 * _n_combos(layout, 3, max_len=max_pair_items),
        )  # fmt: skip
        return cls(
            names.to_list(), layout.tx, layout.items, pairs, pair_tx, pair_of,
            (triple_keys // n).astype(np.int64), (triple_keys % n).astype(np.int64), triple_tx, triple_of,
        )  # fmt: skip


def _distinct(blocks: Iterable[IntArray]) -> IntArray:
    """The sorted distinct values of all blocks: each block made distinct, merged when they add up to a few
    blocks' worth (distinct values are far fewer than occurrences)."""
    parts: list[IntArray] = []
    for keys in blocks:
        parts.append(np.unique(keys))
        if sum(len(p) for p in parts) > 4 * BLOCK:
            parts = [np.unique(np.concatenate(parts))]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _numbered(blocks: Iterable[tuple[IntArray, IntArray]], keys: IntArray, total: int) -> tuple[SmallArray, SmallArray]:
    """The transaction and the number of the key (its place in the sorted ``keys``) of each of the ``total``
    occurrences, written into arrays made once."""
    tx, of = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int32)
    at = 0
    for t, k in blocks:
        tx[at : at + len(t)] = t
        of[at : at + len(t)] = np.searchsorted(keys, k)
        at += len(t)
    return tx, of


def _n_combos(layout: _Layout, size: int, *, max_len: int | None) -> int:
    """How many ``size``-combinations ``_blocks`` gives."""
    lengths = layout.lengths[layout.lengths >= size]
    if max_len is not None:
        lengths = lengths[lengths <= max_len]
    return int(sum(math.comb(int(k), size) * int(c) for k, c in enumerate(np.bincount(lengths)) if c))


def _weighted(of: SmallArray, tx: SmallArray, tx_w: FloatArray, n: int) -> FloatArray:
    """``np.bincount(of, weights=tx_w[tx])`` a block at a time: the same sums, added in the same order (so to the
    last bit), without a float per occurrence at once."""
    out = np.zeros(n, dtype=np.float64)
    for lo in range(0, len(of), BLOCK):
        np.add.at(out, of[lo : lo + BLOCK], tx_w[tx[lo : lo + BLOCK]])
    return out


@dataclass(frozen=True)
class _Layout:
    """Every transaction's distinct item numbers, ascending, laid end to end (``tx``, ``items``), with each
    transaction's length and where it starts."""

    tx: IntArray
    items: IntArray
    lengths: IntArray
    starts: IntArray

    @classmethod
    def of(cls, lists: pl.Series, names: pl.Series) -> _Layout:
        """The layout of a column of item lists, items numbered by their place in ``names`` (sorted)."""
        flat = (
            pl.DataFrame({"items": lists})
            .with_row_index("tx")
            .explode("items", empty_as_null=False)
            .drop_nulls("items")
        )
        coded = flat.select(
            pl.col("tx").cast(pl.Int64), pl.col("items").cast(pl.Enum(names.to_list())).to_physical().cast(pl.Int64)
        ).unique().sort("tx", "items")  # fmt: skip
        tx, items = coded["tx"].to_numpy(), coded["items"].to_numpy()
        lengths = np.bincount(tx, minlength=len(lists)).astype(np.int64)
        return cls(tx, items, lengths, np.cumsum(lengths) - lengths)


BLOCK = 1 << 21  # combinations enumerated at a time (16 MB per int64 column)


def _blocks(layout: _Layout, size: int, *, max_len: int | None) -> Iterator[tuple[IntArray, list[IntArray]]]:
    """The transaction and the items of every ``size``-combination of each transaction's items, in blocks:
    transactions grouped by length (lengths in the order first met, each group one fancy-indexing step per
    block), ascending within a group."""
    ok = layout.lengths >= size
    if max_len is not None:
        ok &= layout.lengths <= max_len
    found, first = np.unique(layout.lengths[ok], return_index=True)
    for length in found[np.argsort(first, kind="stable")]:
        group = np.flatnonzero(ok & (layout.lengths == length))
        index = np.array(list(combinations(range(int(length)), size)), dtype=np.int64)
        step = max(1, BLOCK // len(index))
        for lo in range(0, len(group), step):
            tx = group[lo : lo + step]
            matrix = layout.items[layout.starts[tx][:, None] + np.arange(length)]
            chosen = matrix[:, index]  # (transactions, combinations, size)
            yield np.repeat(tx.astype(np.int64), len(index)), [chosen[:, :, k].ravel() for k in range(size)]


@dataclass
class CoChangeModel:
    """Recency-weighted association rules with one- and two-item antecedents, combined by noisy-OR."""

    half_life: float | None = 100.0  # in transactions; None: no decay
    min_support: int = 1  # transactions holding antecedent and consequent
    smoothing: float = 1.0  # added to the antecedent's weight: confidence of a rule seen once stays low
    pair_antecedents: bool = True
    max_pair_items: int = 12  # two-item antecedents only from transactions this small (bounded work)
    names: list[str] = field(default_factory=list)
    pairs: IntArray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    # decayed weight and plain count of each itemset: singles by item, pairs by pair index, triples by
    # (antecedent pair, consequent) in ``triples`` (shape (n, 2))
    single_w: FloatArray = field(default_factory=lambda: np.zeros(0))
    single_s: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pair_w: FloatArray = field(default_factory=lambda: np.zeros(0))
    pair_s: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    triples: IntArray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    triple_w: FloatArray = field(default_factory=lambda: np.zeros(0))
    triple_s: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _scoring: dict[str, Any] = field(default_factory=dict, repr=False)
    _codes: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def fit(self, transactions: Baskets | Iterable[tuple[int, list[str]]]) -> CoChangeModel:
        """Count itemsets of size 1-2 (and 3 if ``pair_antecedents``) in ``(time index, items)`` transactions."""
        baskets = transactions if isinstance(transactions, Baskets) else Baskets.of(transactions)
        sets = Itemsets.count(baskets, max_pair_items=self.max_pair_items)
        return self.fit_counted(sets, baskets.frame["when"].to_numpy().astype(np.float64))

    def fit_counted(self, sets: Itemsets, when: FloatArray) -> CoChangeModel:
        """Weigh already enumerated itemsets by the recency of their transactions (``when``: time index of each)."""
        now = (when.max() if len(when) else 0.0) + 1
        tx_w = np.ones(len(when)) if self.half_life is None else 0.5 ** ((now - when) / self.half_life)
        n_items, n_pairs, n_triples = len(sets.names), len(sets.pairs), len(sets.triple_pair)
        self.names, self.pairs, self._codes = sets.names, sets.pairs, {}
        self.single_w = np.bincount(sets.single_item, weights=tx_w[sets.single_tx], minlength=n_items).astype(
            np.float64
        )
        self.single_s = np.bincount(sets.single_item, minlength=n_items).astype(np.int64)
        self.pair_w = _weighted(sets.pair_of, sets.pair_tx, tx_w, n_pairs)
        self.pair_s = np.bincount(sets.pair_of, minlength=n_pairs).astype(np.int64)
        self.triples = np.column_stack([sets.triple_pair, sets.triple_item]).astype(np.int64)
        self.triple_w = _weighted(sets.triple_of, sets.triple_tx, tx_w, n_triples)
        self.triple_s = np.bincount(sets.triple_of, minlength=n_triples).astype(np.int64)
        self._scoring = {}
        return self

    def with_params(self, **params: Any) -> CoChangeModel:
        """The same counts scored with other ``min_support``, ``smoothing`` or ``pair_antecedents``."""
        return replace(self, **params, _scoring={})

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, as given to the constructor."""
        return {k: getattr(self, k) for k in ("half_life", "min_support", "smoothing", "pair_antecedents")}

    def _tables(self) -> dict[str, Any]:
        """``log(1 - confidence)`` of every rule that passes ``min_support``: item by item and pair by item."""
        if self._scoring:
            return self._scoring
        n = len(self.names)
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        keep = self.pair_s >= self.min_support
        rows = np.concatenate([a[keep], b[keep]])
        cols = np.concatenate([b[keep], a[keep]])
        both = np.concatenate([self.pair_w[keep], self.pair_w[keep]])
        # an itemset last seen ~1,000 half-lives ago (a year of a big lake) weighs 0: with no smoothing its
        # confidence is 0/0, NaN, which ``_log_miss`` drops (no rule), quietly
        with np.errstate(invalid="ignore", divide="ignore"):
            single = _log_miss(both / (self.single_w[rows] + self.smoothing), rows, cols, (n, n))
        tables: dict[str, Any] = {"single": single, "code": self._code()}
        if self.pair_antecedents:
            ok = self.triple_s >= self.min_support
            pair, item = self.triples[ok, 0], self.triples[ok, 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                conf = self.triple_w[ok] / (self.pair_w[pair] + self.smoothing)
            tables["pair"] = _log_miss(conf, pair, item, (len(self.pairs), n))
            tables["pair_keys"] = a * n + b  # sorted: the pairs came out of np.unique in key order
        tables["names"] = np.array(self.names, dtype=object)
        self._scoring = tables
        return tables

    def _scored(self, query: list[str]) -> tuple[IntArray, FloatArray]:
        """Candidate item numbers and their noisy-OR scores."""
        t = self._tables()
        given = sorted({t["code"][x] for x in query if x in t["code"]})
        blocks = [_csr_rows(t["single"], np.array(given, dtype=np.int64))]
        if self.pair_antecedents and len(given) > 1 and len(t["pair_keys"]):
            n, keys = len(self.names), t["pair_keys"]
            wanted = np.array([x * n + y for x, y in combinations(given, 2)], dtype=np.int64)
            rows = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            blocks.append(_csr_rows(t["pair"], rows[keys[rows] == wanted]))
        cols = np.concatenate([c for c, _ in blocks])
        logs = np.concatenate([v for _, v in blocks])
        if not len(cols):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        order = np.argsort(cols, kind="stable")
        candidates, starts = np.unique(cols[order], return_index=True)
        scores = -np.expm1(np.add.reduceat(logs[order], starts))
        mine = ~np.isin(candidates, given)
        return candidates[mine].astype(np.int64), scores[mine]

    def scores(self, query: list[str]) -> dict[str, float]:
        """Noisy-OR of the confidences of every rule from the query's items (and pairs) to each candidate."""
        candidates, scores = self._scored(query)
        return dict(zip(self._tables()["names"][candidates].tolist(), scores.tolist(), strict=True))

    def rank(self, query: list[str]) -> list[str]:
        """Candidates, most likely first (ties by name)."""
        candidates, scores = self._scored(query)
        order = np.lexsort((candidates, -np.round(scores, 12)))
        ranked: list[str] = self._tables()["names"][candidates[order]].tolist()
        return ranked

    def position(self, query: list[str], item: str) -> int:
        """Where ``item`` comes in ``rank(query)`` (1-based), 0 when it is not a candidate; without building
        the ranked list, which is what tuning needs from thousands of queries."""
        number = self._code().get(item)
        if number is None:
            return 0
        candidates, scores = self._scored(query)
        found = np.flatnonzero(candidates == number)
        if not len(found):
            return 0
        rounded = np.round(scores, 12)
        mine = rounded[found[0]]
        return int(np.sum(rounded > mine) + np.sum((rounded == mine) & (candidates < number)) + 1)

    def _code(self) -> dict[str, int]:
        """Item name → number; shared by the copies ``with_params`` makes."""
        if "code" not in self._codes:
            self._codes["code"] = {name: i for i, name in enumerate(self.names)}
        return self._codes["code"]


def _csr_rows(matrix: Any, rows: IntArray) -> tuple[IntArray, FloatArray]:
    """The column numbers and values of some rows of a CSR matrix (scipy's row indexing costs more for the
    few rows a query touches)."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = ends - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return matrix.indices[offsets], matrix.data[offsets]


def _log_miss(confidence: FloatArray, rows: IntArray, cols: IntArray, shape: tuple[int, int]) -> Any:
    """A CSR matrix of ``log(1 - confidence)`` for the rules with a positive confidence (``-inf`` when certain,
    so the noisy-OR is exactly 1)."""
    ok = confidence > 0
    with np.errstate(divide="ignore"):
        logs = np.log1p(-np.minimum(confidence[ok], 1.0))
    return sparse.csr_matrix((logs, (rows[ok], cols[ok])), shape=shape)


def cochange_to_json(model: CoChangeModel) -> dict[str, Any]:
    """A plain JSON form of a fitted model (what MLflow stores as its artifact): items, then itemsets by number."""
    return {
        "config": {**model.config(), "max_pair_items": model.max_pair_items},
        "items": model.names,
        "singles": [model.single_w.tolist(), model.single_s.tolist()],
        "pairs": [model.pairs.tolist(), model.pair_w.tolist(), model.pair_s.tolist()],
        "triples": [model.triples.tolist(), model.triple_w.tolist(), model.triple_s.tolist()],
    }


def cochange_from_json(data: dict[str, Any]) -> CoChangeModel:
    """The model that ``cochange_to_json`` wrote."""
    model = CoChangeModel(**data["config"])
    model.names = list(data["items"])
    model.single_w, model.single_s = np.asarray(data["singles"][0], float), np.asarray(data["singles"][1], np.int64)
    pairs, pair_w, pair_s = data["pairs"]
    model.pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    model.pair_w, model.pair_s = np.asarray(pair_w, float), np.asarray(pair_s, np.int64)
    triples, triple_w, triple_s = data["triples"]
    model.triples = np.asarray(triples, dtype=np.int64).reshape(-1, 2)
    model.triple_w, model.triple_s = np.asarray(triple_w, float), np.asarray(triple_s, np.int64)
    return model
