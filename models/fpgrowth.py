"""Frequent itemsets on a sparse transaction matrix: FP-growth's projections, done with numpy on CSR arrays.

Items are numbered by descending frequency (0 is the most frequent) and every transaction's items are sorted,
so the conditional database of an item ``b`` (FP-growth's "prefix paths") is, in each transaction that holds
``b``, exactly the slice of items before ``b``. A conditional database is three numpy arrays; counting its
items is one ``bincount``; nothing is ever one-hot encoded. Results are identical to mlxtend's ``fpgrowth``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Itemsets:
    """Frequent itemsets as item-id tuples with their absolute support (number of transactions)."""

    itemsets: list[tuple[int, ...]]
    counts: list[int]
    n_transactions: int


def _inverted(indptr: IntArray, indices: IntArray, n_items: int) -> tuple[IntArray, IntArray]:
    """For each item, the positions (into ``indices``) where it occurs: a CSC view built in O(nnz)."""
    positions = np.arange(len(indices), dtype=np.int64)
    n_rows = len(indptr) - 1
    csr = sparse.csr_matrix((positions + 1, indices, indptr), shape=(n_rows, n_items))
    csc = csr.tocsc()
    return csc.indptr.astype(np.int64), csc.data.astype(np.int64) - 1


def _project(indptr: IntArray, pos: IntArray, row_of: IntArray, indices: IntArray) -> tuple[IntArray, IntArray]:
    """The conditional database of the item at positions ``pos``: in each of its rows, the items before it."""
    starts = indptr[row_of[pos]]
    lengths = pos - starts
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    new_indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    offsets = np.arange(new_indptr[-1], dtype=np.int64) - np.repeat(new_indptr[:-1] - starts, lengths)
    return new_indptr, indices[offsets]


def _grow(
    prefix: tuple[int, ...],
    indptr: IntArray,
    indices: IntArray,
    bound: int,
    min_count: int,
    max_len: int,
    out: Itemsets,
) -> None:
    """Report every frequent extension of ``prefix`` in this conditional database, then recurse."""
    counts = np.bincount(indices, minlength=bound)
    frequent = np.flatnonzero(counts >= min_count)
    for item in frequent.tolist():
        out.itemsets.append((item, *prefix))
        out.counts.append(int(counts[item]))
    if len(prefix) + 2 > max_len or len(frequent) == 0:
        return
    col_ptr, positions = _inverted(indptr, indices, bound)
    row_of = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    for item in frequent.tolist():
        if item == 0:
            continue
        pos = positions[col_ptr[item] : col_ptr[item + 1]]
        sub_indptr, sub_indices = _project(indptr, pos, row_of, indices)
        if len(sub_indices):
            _grow((item, *prefix), sub_indptr, sub_indices, item, min_count, max_len, out)


def frequent_itemsets(
    indptr: IntArray, indices: IntArray, n_items: int, *, min_count: int, max_len: int | None = None
) -> Itemsets:
    """All itemsets held by at least ``min_count`` transactions (CSR rows of sorted item ids, 0 most frequent)."""
    out = Itemsets([], [], len(indptr) - 1)
    _grow((), indptr.astype(np.int64), indices.astype(np.int64), n_items, max(1, min_count), max_len or n_items, out)
    out.itemsets[:] = [tuple(sorted(s)) for s in out.itemsets]
    return out
