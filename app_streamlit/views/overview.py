"""Overview: events today and this week, active time, top extensions, tools and roots, suggestions, devices."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_streamlit.charts import top_bars
from app_streamlit.common import ago, duration, get, load

st.title("Overview")
data = load("your activity", lambda: get("/api/v1/activity"))
if data is not None:
    events = data["events"]
    waiting = load("suggestions", lambda: get("/api/v1/suggestions", limit=100))
    cols = st.columns(5)
    cols[0].metric("Events today", f"{events['today']:,}")
    cols[1].metric("Events this week", f"{events['week']:,}", help="the last 7 days")
    cols[2].metric("Active this week", f"{data['active_minutes_week']:.0f} min", help="sum of session lengths")
    cols[3].metric("All events", f"{events['total']:,}")
    cols[4].metric("Suggestions waiting", "—" if waiting is None else len(waiting.get("suggestions", [])))
    if events["total"] == 0:
        st.info(
            "No events yet: start the agent with `floyo agent watch ~/projects` (it sends what you open, save and "
            "run), or load a log with `floyo load FILE.csv`."
        )
    else:
        st.caption(f"Last event {ago(data['last_event'])}; first {data['first_event'][:10]}.")
        left, middle, right = st.columns(3)
        for column, key, title in ((left, "extensions", "Top extensions"), (middle, "tools", "Top tools"),
                                   (right, "roots", "Top roots")):  # fmt: skip
            rows = data["top"][key]
            if rows:
                column.altair_chart(top_bars(rows, title), width="stretch", height=110 + 26 * len(rows))
            else:
                column.caption(f"{title}: none yet")
    st.subheader("Devices")
    devices = data["devices"]
    if not devices:
        st.info("No devices: create a token with `floyo token create --user YOU --device laptop` for the agent.")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "device": d["name"],
                        "last event": ago(d["last_event"]),
                        "lag (last arrival)": "—" if d["lag_s"] is None else duration(d["lag_s"]),
                    }
                    for d in devices
                ]
            ),
            hide_index=True,
            width="stretch",
        )
