"""Patterns: the repeated workflows behind your suggestions, their delays, and the directly-follows graph."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pandas as pd
import streamlit as st

from app_streamlit.charts import delays
from app_streamlit.common import get, load


def step_label(step: dict[str, Any]) -> str:
    """'modify thesis/*.tex' or 'run latexmk'."""
    what = step.get("tool") or step.get("glob") or step.get("path") or ""
    return f"{step.get('action', '?')} {what}".strip()


def follows_graph(patterns: list[tuple[str, list[dict[str, Any]], int]]) -> str:
    """A directly-follows graph in DOT, as process-mining tools draw it: a box per step, an arrow per succession
    weighted by how often it was seen."""
    edges: Counter[tuple[str, str]] = Counter()
    nodes: Counter[str] = Counter()
    for _, steps, occurrences in patterns:
        labels = [step_label(s) for s in steps]
        for label in labels:
            nodes[label] += occurrences
        for a, b in itertools.pairwise(labels):
            edges[(a, b)] += occurrences
    top = max(edges.values(), default=1)
    lines = ["digraph { rankdir=LR; node [shape=box, style=rounded, fontname=Helvetica];"]
    lines += [f'  "{n}" [label="{n}\\n({c})"];' for n, c in nodes.items()]
    lines += [f'  "{a}" -> "{b}" [label="{c}", penwidth={1 + 4 * c / top:.1f}];' for (a, b), c in edges.items()]
    return "\n".join([*lines, "}"])


st.title("Patterns")
answer = load("your patterns", lambda: get("/api/v1/suggestions", limit=100))
if answer is not None:
    patterns = [
        (s["title"], (s.get("pattern") or {}).get("steps", []), int((s.get("evidence") or {}).get("occurrences", 0)))
        for s in answer.get("suggestions", [])
    ]
    patterns = [p for p in patterns if p[1]]
    if not patterns:
        st.info(
            "No repeated workflows found yet: they are mined from your activity by the pipeline job. Keep the agent "
            "running (`floyo agent watch ~/projects`), then run `floyo job run` (or wait for the scheduled run)."
        )
    else:
        st.subheader("Repeated workflows")
        st.dataframe(
            pd.DataFrame(
                [
                    {"workflow": t, "steps": " → ".join(step_label(s) for s in steps), "seen": n}
                    for t, steps, n in patterns
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.subheader("Directly-follows graph")
        st.graphviz_chart(follows_graph(patterns))
        st.subheader("Delays between steps")
        chosen = st.selectbox("Workflow", range(len(patterns)), format_func=lambda i: patterns[i][0])
        if chosen is not None:
            rows = [
                {"step": step_label(s), "median_s": s.get("delay_median_s"), "p90_s": s.get("delay_p90_s")}
                for s in patterns[chosen][1] if s.get("delay_median_s") is not None
            ]  # fmt: skip
            if rows:
                st.altair_chart(delays(rows), width="stretch")
            else:
                st.caption("No delays measured for this workflow.")
