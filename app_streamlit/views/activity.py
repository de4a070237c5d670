"""Activity: a weekday x hour heatmap, sessions over time, filters, and one session's events."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app_streamlit.charts import heatmap, sessions_over_time
from app_streamlit.common import get, load

KINDS = ["open", "create", "modify", "delete", "move", "run"]


def _filters(everything: dict[str, Any]) -> dict[str, Any]:
    """The filter widgets (their choices come from the unfiltered activity); the API's query parameters."""
    roots = [r["name"] for r in everything["top"]["roots"]]
    exts = [r["name"] for r in everything["top"]["extensions"]]
    first = datetime.fromisoformat(everything["first_event"]).date() if everything["first_event"] else date.today()
    last = datetime.fromisoformat(everything["last_event"]).date() if everything["last_event"] else date.today()
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    root = c1.selectbox("Root", ["(all)", *roots])
    ext = c2.selectbox("Extension", ["(all)", *exts])
    kinds = c3.multiselect("Kinds", KINDS)
    picked = c4.date_input("Dates", (first, last), min_value=first, max_value=max(last, date.today()))
    params: dict[str, Any] = {"root": None if root == "(all)" else root, "ext": None if ext == "(all)" else ext,
                              "kind": kinds or None}  # fmt: skip
    if isinstance(picked, tuple) and len(picked) == 2:
        params["since"] = datetime.combine(picked[0], time(), UTC).isoformat()
        params["until"] = datetime.combine(picked[1] + timedelta(days=1), time(), UTC).isoformat()
    return params


def _session_events(session: dict[str, Any], params: dict[str, Any]) -> None:
    until = (datetime.fromisoformat(session["end"]) + timedelta(microseconds=1)).isoformat()
    query = {k: v for k, v in params.items() if k in ("root", "ext", "kind")}
    page = load("the session's events", lambda: get("/api/v1/events", since=session["start"], until=until,
                                                     limit=500, **query))  # fmt: skip
    if page is None:
        return
    columns = ["ts", "kind", "root", "path", "tool", "exit_code", "duration_ms"]
    frame = pd.DataFrame(page["events"])
    st.dataframe(frame[[c for c in columns if c in frame]], hide_index=True, width="stretch")
    if page.get("next_cursor"):
        st.caption("The first 500 events of the session.")


st.title("Activity")
everything = load("your activity", lambda: get("/api/v1/activity"))
if everything is not None:
    if everything["events"]["total"] == 0:
        st.info("No events yet: start the agent with `floyo agent watch ~/projects`, then come back here.")
    else:
        params = _filters(everything)
        data = load("the filtered activity", lambda: get("/api/v1/activity", **params))
        if data is not None and data["events"]["total"] == 0:
            st.info("No events match these filters: widen the dates or clear a filter.")
        elif data is not None:
            st.caption(f"{data['events']['total']:,} events in {data['sessions_total']:,} sessions "
                       "(a 30-minute pause ends a session).")  # fmt: skip
            st.altair_chart(heatmap(data["heatmap"]), width="stretch")
            st.altair_chart(sessions_over_time(data["days"]), width="stretch")
            st.subheader("Sessions")
            sessions = data["sessions"]
            table = pd.DataFrame(sessions, columns=["start", "end", "events", "minutes"])
            st.dataframe(table, hide_index=True, width="stretch", height=240)
            labels = [f"{s['start'][:16].replace('T', ' ')} · {s['events']} events · {s['minutes']} min"
                      for s in sessions]  # fmt: skip
            chosen = st.selectbox("Drill down to a session", range(len(sessions)), format_func=labels.__getitem__)
            if chosen is not None:
                _session_events(sessions[chosen], params)
