"""Patterns: association rules (sortable, with the sessions behind each), repeated workflows with their delays,
and the directly-follows graph of those workflows, as process-mining tools draw it."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import pandas as pd
import streamlit as st

from app_streamlit.charts import delays
from app_streamlit.common import get, load


def follows_graph(workflows: list[dict[str, Any]]) -> str:
    """A directly-follows graph in DOT: a box per step, an arrow per succession, thicker when seen more often."""
    edges: Counter[tuple[str, str]] = Counter()
    nodes: Counter[str] = Counter()
    for w in workflows:
        steps, seen = [str(s).replace('"', "'") for s in w.get("steps", [])], int(w.get("occurrences", 0))
        for step in steps:
            nodes[step] += seen
        for a, b in pairwise(steps):
            edges[(a, b)] += seen
    top = max(edges.values(), default=1)
    lines = ["digraph { rankdir=LR; node [shape=box, style=rounded, fontname=Helvetica];"]
    lines += [f'  "{n}" [label="{n}\\n({c})"];' for n, c in nodes.items()]
    lines += [f'  "{a}" -> "{b}" [label="{c}", penwidth={1 + 4 * c / top:.1f}];' for (a, b), c in edges.items()]
    return "\n".join([*lines, "}"])


def _rules(rules: list[dict[str, Any]]) -> None:
    st.subheader("Association rules")
    if not rules:
        st.info("No association rules yet: they come from sessions that touch the same kinds of files and tools.")
        return
    st.caption("Click a column to sort. Yours first, then the strongest of everyone's (scope: global).")
    table = pd.DataFrame(
        [{"rule": r["text"], "scope": r["scope"], "sessions": r["sessions"], "support": r["support"],
          "confidence": r["confidence"], "lift": r["lift"],
          "latest sessions": "; ".join(f"{e['at'][:16].replace('T', ' ')} ({', '.join(e['files'])})"
                                       for e in r.get("examples", []))}
         for r in rules]
    )  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch")


def _workflows(workflows: list[dict[str, Any]]) -> None:
    st.subheader("Repeated workflows")
    if not workflows:
        st.info("No repeated workflows of yours yet: they are steps you take in the same order, again and again.")
        return
    st.dataframe(
        pd.DataFrame([{"workflow": w["text"], "times": w["occurrences"], "days": w["days"],
                       "confidence": w["confidence"], "lift": w["lift"], "last seen": w["last_seen"]}
                      for w in workflows]),
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.subheader("Directly-follows graph")
    st.graphviz_chart(follows_graph(workflows))
    st.subheader("Delays between steps")
    chosen = st.selectbox("Workflow", range(len(workflows)), format_func=lambda i: workflows[i]["text"])
    if chosen is not None:
        w = workflows[chosen]
        rows = [{"step": str(step), "median_s": median, "p90_s": window}
                for step, median, window in zip(w["steps"][1:], w["delays_median_s"], w["windows_s"], strict=False)]  # fmt: skip
        st.altair_chart(delays(rows, upper="window"), width="stretch")


st.title("Patterns")
answer = load("your patterns", lambda: get("/api/v1/patterns"))
if answer is not None:
    if answer["activity"] is None and not answer["rules"] and not answer["workflows"]:
        st.info(
            "No patterns yet: they are mined from your activity by the pipeline job. Keep the agent running "
            "(`floyo agent watch ~/projects`), then run `floyo job run` (or wait for the scheduled run)."
        )
    else:
        if answer["activity"] is not None:
            a = answer["activity"]
            needed = (answer.get("needed") or {}).get("rules", {}).get("sessions")
            st.caption(f"From {a['events']:,} events in {a['sessions']:,} sessions on {a['days']} days"
                       + (f" (personal rules need {needed} sessions)" if needed else "") + ".")  # fmt: skip
        _rules(answer["rules"])
        _workflows(answer["workflows"])
