"""Operations (admins): ingest rate, events by outcome, export lag, job runs and failures, readiness."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_streamlit.common import duration, get, load

st.title("Operations")
data = load("the operations figures", lambda: get("/api/v1/operations"))
if data is not None:
    ready = data["readiness"]
    if ready["ready"]:
        st.success("Ready: " + ", ".join(f"{k} {v}" for k, v in ready["checks"].items()))
    else:
        st.error("Not ready: " + ", ".join(f"{k} {v}" for k, v in ready["checks"].items()))
    ingest, export, outcomes = data["ingest"], data["export"], data["events_by_outcome"]
    cols = st.columns(5)
    cols[0].metric("Events, last hour", f"{ingest['last_hour']:,}")
    cols[1].metric("Events, last 24 h", f"{ingest['last_24h']:,}")
    cols[2].metric("Rejected events", f"{outcomes['rejected']:,}",
                   help=f"since the API started (all workers); accepted {outcomes['accepted']:,}, "
                   f"duplicate {outcomes['duplicate']:,}")  # fmt: skip
    cols[3].metric("Export lag", "—" if export["lag_s"] is None else duration(export["lag_s"]),
                   help=f"{export['pending_events']:,} events not yet in the lake")  # fmt: skip
    cols[4].metric("Failed job runs (7 d)", data["failures_7d"])
    rejected = data.get("rejected_by_field") or {}
    if rejected:
        frame = pd.DataFrame({"field": list(rejected), "events": list(rejected.values())})
        chart = (
            alt.Chart(frame, title="Rejected events by the field at fault (since the API started)")
            .mark_bar()
            .encode(x=alt.X("events:Q", title="events"), y=alt.Y("field:N", sort="-x", title="field"))
        )
        st.altair_chart(chart.properties(height=40 + 24 * len(frame)), width="stretch")
    if ingest["per_hour"]:
        frame = pd.DataFrame(ingest["per_hour"])
        frame["hour"] = pd.to_datetime(frame["hour"])
        chart = (
            alt.Chart(frame, title="Events received per hour")
            .mark_bar()
            .encode(x=alt.X("hour:T", title=None), y=alt.Y("events:Q"), tooltip=["hour:T", "events"])
        )
        st.altair_chart(chart.properties(height=200), width="stretch")
    else:
        st.info("No events received in the last 24 hours: is any agent running (`floyo agent status`)?")
    st.subheader("Job runs")
    if data["job_runs"]:
        st.dataframe(pd.DataFrame(data["job_runs"]), hide_index=True, width="stretch")
    else:
        st.info("No job runs yet: run the pipeline with `floyo job run`, or schedule it with `floyo job schedule`.")
