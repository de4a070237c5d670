"""Rule mining speed: Floyo's sparse FP-growth against plain mlxtend (dense one-hot + fpgrowth) and pyfim.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/mining.py                      # 1,000,000 sessions; mlxtend on a 100,000 subsample
    .venv/bin/python bench/mining.py --sessions 200000 --mlxtend-sessions 200000

Each method runs in its own process on the same synthetic sessions (a vocabulary of 3,000 items such as
``ext:.csv``, ``run:pytest``, ``dir:…``, Zipf-distributed, with planted bundles that make longer itemsets),
starting from the form it takes: pyfim and mlxtend a list of transactions (lists of item names), Floyo the
long ``transaction_id, item`` frame that the lake gives. Time and peak memory (RSS sampled every 2 ms, minus
the RSS before the call) cover everything from that input to the itemsets, including mlxtend's one-hot
encoding and Floyo's pruning and encoding. pyfim and Floyo run ``--repeat`` times, each in a fresh process,
and keep their best time (this machine is shared); plain mlxtend runs once, on a subsample by default
because its dense one-hot frame of 1,000,000 sessions by 3,000 items would take about 3 GB before mining. The benchmark asserts that all methods find identical itemsets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SUPPORTS = (0.01, 0.002)
VOCAB = 3000


def synthetic_sessions(n: int, *, seed: int = 7, n_bundles: int = 40) -> pl.DataFrame:
    """``transaction_id, item`` rows: Zipf-popular items plus planted bundles (repeated workflows)."""
    rng = np.random.default_rng(seed)
    kinds = ["kind:open", "kind:create", "kind:modify", "kind:delete", "kind:move", "kind:run"]
    names = kinds + [f"ext:.e{i}" for i in range(300)] + [f"run:tool{i}" for i in range(200)]
    names += [f"dir:{i:04x}" for i in range(VOCAB - len(names))]
    order = rng.permutation(VOCAB)  # popularity is not tied to the kind of item
    weights = 1 / (np.arange(VOCAB) + 10.0) ** 1.1
    weights /= weights.sum()
    lengths = 2 + rng.poisson(4, n)
    rows = np.repeat(np.arange(n), lengths)
    items = order[rng.choice(VOCAB, size=int(lengths.sum()), p=weights)]
    bundles = [rng.choice(VOCAB, size=int(rng.integers(2, 5)), replace=False) for _ in range(n_bundles)]
    bundle_p = 1 / (np.arange(n_bundles) + 3.0)
    bundle_p /= bundle_p.sum()
    with_bundle = np.flatnonzero(rng.random(n) < 0.25)
    chosen = rng.choice(n_bundles, size=len(with_bundle), p=bundle_p)
    extra_rows = np.concatenate([np.full(len(bundles[c]), r) for r, c in zip(with_bundle, chosen, strict=True)])
    extra_items = np.concatenate([bundles[c] for c in chosen])
    key = np.unique(np.concatenate([rows, extra_rows]).astype(np.int64) * VOCAB + np.concatenate([items, extra_items]))
    return pl.DataFrame({"transaction_id": key // VOCAB, "item": np.asarray(names)[key % VOCAB]})


class PeakRss:
    """Peak resident memory above the starting point, sampled in a thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return float(self.peak - self.start) / 2**20


def _transactions(frame: pl.DataFrame) -> list[list[str]]:
    return frame.group_by("transaction_id", maintain_order=True).agg("item")["item"].to_list()


def run_method(method: str, data: Path, support: float, out: Path) -> None:
    """In a child process: mine ``data`` with one method, write timing, memory and itemsets to ``out``."""
    frame = pl.read_parquet(data)
    n = frame["transaction_id"].n_unique()
    min_count = math.ceil(support * n - 1e-9)
    txs = None if method == "floyo" else _transactions(frame)
    if method != "floyo":
        del frame
    import fim  # every import happens before the clock starts
    import mlxtend.frequent_patterns
    import mlxtend.preprocessing  # noqa: F401

    import models.rules  # noqa: F401

    with PeakRss() as mem:
        t0 = time.perf_counter()
        if method == "floyo":
            found = _floyo(frame, min_count)
        elif method == "pyfim":
            found = {frozenset(s): c for s, c in fim.fpgrowth(txs, supp=-min_count)}
        else:
            found = _mlxtend(txs, min_count / n, n)
        seconds = time.perf_counter() - t0
    out.write_bytes(pickle.dumps({"seconds": seconds, "mb": mem.mb, "itemsets": found, "n": n}))


def _floyo(frame: pl.DataFrame, min_count: int) -> dict[frozenset[str], int]:
    from models.fpgrowth import frequent_itemsets
    from models.rules import encode

    enc = encode(frame, min_count=min_count, max_items=VOCAB)
    res = frequent_itemsets(enc.indptr, enc.indices, len(enc.items), min_count=min_count)
    return {frozenset(enc.items[i] for i in s): c for s, c in zip(res.itemsets, res.counts, strict=True)}


def _mlxtend(txs: list[list[str]] | None, support: float, n: int) -> dict[frozenset[str], int]:
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(txs).transform(txs), columns=encoder.columns_)
    found = fpgrowth(onehot, min_support=support, use_colnames=True)
    return {frozenset(s): round(v * n) for s, v in zip(found["itemsets"], found["support"], strict=True)}


def measure(methods: tuple[str, ...], data: Path, support: float, repeat: int) -> dict[str, dict[str, Any]]:
    """Each method ``repeat`` times (plain mlxtend once), interleaved so that all see the same machine load;
    the best time of each (this machine is shared) and the largest peak memory seen."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for i in range(repeat):
        for m in methods:
            if m != "mlxtend" or i == 0:
                runs[m].append(_measure_once(m, data, support))
    return {
        m: {**min(r, key=lambda x: x["seconds"]), "mb": max(x["mb"] for x in r), "times": [x["seconds"] for x in r]}
        for m, r in runs.items()
    }


def _measure_once(method: str, data: Path, support: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.pkl"
        cmd = [sys.executable, __file__, "--child", method, str(data), str(support), str(out)]
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        result: dict[str, Any] = pickle.loads(out.read_bytes())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--mlxtend-sessions", type=int, default=100_000, help="plain mlxtend's (sub)sample")
    parser.add_argument("--repeat", type=int, default=3, help="runs of pyfim and floyo (best time kept)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, data, support, out = args.child
        return run_method(method, Path(data), float(support), Path(out))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        frame = synthetic_sessions(args.sessions)
        full, sub = Path(tmp) / "full.parquet", Path(tmp) / "sub.parquet"
        frame.write_parquet(full)
        frame.filter(pl.col("transaction_id") < args.mlxtend_sessions).write_parquet(sub)
        print(f"{args.sessions:,} sessions, {frame.height:,} items, {frame['item'].n_unique():,} distinct", flush=True)
        for data, methods in ((sub, ("mlxtend", "pyfim", "floyo")), (full, ("pyfim", "floyo"))):
            for support in SUPPORTS:
                results = measure(methods, data, support, args.repeat)
                reference = results["pyfim"]["itemsets"]
                for m, r in results.items():
                    assert r["itemsets"] == reference, f"{m} found other itemsets than pyfim"
                    rows.append({"sessions": r["n"], "support": support, "method": m, "seconds": r["seconds"],
                                 "peak_mb": r["mb"], "itemsets": len(r["itemsets"]),
                                 "all_times": [round(t, 2) for t in r["times"]]})  # fmt: skip
                    print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table with ratios against plain mlxtend and pyfim on the same data and support."""
    lines = ["| sessions | min support | method | time (s) | peak MB | itemsets | vs mlxtend: speed, memory | time vs pyfim |",
             "|---:|---:|---|---:|---:|---:|---|---:|"]  # fmt: skip
    by = {(r["sessions"], r["support"], r["method"]): r for r in rows}
    for r in rows:
        ml = by.get((r["sessions"], r["support"], "mlxtend"))
        fim = by[(r["sessions"], r["support"], "pyfim")]
        vs_ml = (
            f"{ml['seconds'] / r['seconds']:.1f}× faster, {ml['peak_mb'] / max(r['peak_mb'], 1):.1f}× less"
            if ml
            else "n/a"
        )
        lines.append(
            f"| {r['sessions']:,} | {r['support']} | {r['method']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | "
            f"{r['itemsets']:,} | {vs_ml} | {r['seconds'] / fim['seconds']:.2f}× |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
