"""Suggestions: a card per suggestion with Accept / Dismiss / Snooze; the accepted ones as workflows below."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app_streamlit.client import ApiError
from app_streamlit.common import change, escape_md, flash, get, load, show_flash

SNOOZE_DAYS = 7


def evidence_words(s: dict[str, Any]) -> str:
    """What was seen, in a sentence."""
    ev = s.get("evidence") or {}
    parts = [f"Seen {ev.get('occurrences', '?')} times"]
    if ev.get("days"):
        parts[0] += f" on {ev['days']} different days"
    if ev.get("confidence") is not None:
        parts.append(f"when the first step happens, the rest follows {float(ev['confidence']):.0%} of the time")
    if ev.get("lift") is not None:
        parts.append(f"{float(ev['lift']):.1f}× more often than chance")
    return "; ".join(parts) + "."


def savings_words(s: dict[str, Any]) -> str:
    """Minutes saved per week and how that number was computed."""
    sv = s.get("savings") or {}
    minutes = float(sv.get("minutes_per_week") or 0)
    per_week, seconds = sv.get("occurrences_per_week"), sv.get("seconds_per_occurrence")
    how = (
        f"{float(per_week):.1f} times a week × {float(seconds):.0f} s each"
        if per_week is not None and seconds is not None else "no breakdown given"
    )  # fmt: skip
    basis = f" ({escape_md(sv['basis'])})" if sv.get("basis") else ""
    return f"**{minutes:.1f} min/week** = {how}{basis}"


def workflow_words(definition: dict[str, Any] | None) -> list[str]:
    """The workflow, trigger by trigger and action by action."""
    if not definition:
        return ["(no workflow)"]
    lines = []
    for t in definition.get("triggers", []):
        events = ", ".join(t.get("events", [])) or t.get("type", "")
        where = (", ".join(t.get("paths", [])) or t.get("root", "")).replace("`", "'")
        lines.append(f"When: {events} of `{where}`" + (f" in {t['root']}" if t.get("root") else ""))
    for a in definition.get("actions", []):
        command = " ".join(a.get("command", [])) if isinstance(a.get("command"), list) else a.get("command", "")
        command = str(command).replace("`", "'")
        lines.append(f"Do: {a.get('type', '')} `{command}`" if command else f"Do: {a.get('type', '')}")
    return lines


def _feedback(sid: str, title: str, body: dict[str, Any], done: str) -> None:
    try:
        change("POST", f"/api/v1/suggestions/{sid}/feedback", body)
    except ApiError as exc:
        st.session_state["action_error"] = f"“{title}”: {exc}"
        return
    flash(f"“{title}”: {done}")


def _dismiss(sid: str, title: str) -> None:
    # the reason is read when the button is clicked: the text typed just before counts
    reason = str(st.session_state.get(f"reason_{sid}", "")).strip()
    _feedback(sid, title, {"action": "dismiss", **({"reason": reason} if reason else {})}, "dismissed.")


def _card(s: dict[str, Any]) -> None:
    sid, title = s["id"], s["title"]
    with st.container(border=True, key=f"card_{sid}"):
        st.subheader(escape_md(title))
        if s.get("description"):
            st.markdown(escape_md(s["description"]))
        left, right = st.columns(2)
        left.metric("Confidence", f"{float(s.get('confidence') or 0):.0%}")
        right.metric("Saves", f"{float((s.get('savings') or {}).get('minutes_per_week') or 0):.1f} min/week")
        st.markdown(f"**Evidence:** {evidence_words(s)}")
        st.markdown(f"**Time saved:** {savings_words(s)}")
        st.markdown(
            "**The workflow it creates:**\n" + "\n".join(f"- {line}" for line in workflow_words(s.get("workflow")))
        )
        with st.expander("Workflow definition (JSON)"):
            st.code(json.dumps(s.get("workflow"), indent=2), language="json")
        accept, snooze, dismiss = st.columns(3)
        accept.button("Accept", key=f"accept_{sid}", type="primary", on_click=_feedback,
                      args=(sid, title, {"action": "accept"}, "accepted: it is now one of your workflows."))  # fmt: skip
        snooze.button(f"Snooze {SNOOZE_DAYS} days", key=f"snooze_{sid}", on_click=_feedback,
                      args=(sid, title, {"action": "snooze", "days": SNOOZE_DAYS}, f"snoozed for {SNOOZE_DAYS} days."))  # fmt: skip
        with dismiss.popover("Dismiss"):
            st.text_input("Why? (optional)", key=f"reason_{sid}", max_chars=2000)
            st.button("Dismiss it", key=f"dismiss_{sid}", on_click=_dismiss, args=(sid, title))


def _toggle(workflow: dict[str, Any]) -> None:
    enabled = not workflow["enabled"]
    try:
        change("PATCH", f"/api/v1/workflows/{workflow['id']}", {"enabled": enabled})
    except ApiError as exc:
        st.session_state["action_error"] = f"“{workflow['name']}”: {exc}"
        return
    flash(f"“{workflow['name']}” {'enabled' if enabled else 'disabled'}.")


def _workflows() -> None:
    st.header("Your workflows")
    answer = load("your workflows", lambda: get("/api/v1/workflows"))
    if answer is None:
        return
    workflows = answer.get("workflows", [])
    if not workflows:
        st.info("No workflows yet: accept a suggestion above and it becomes a workflow here.")
        return
    for w in workflows:
        with st.container(border=True, key=f"workflow_{w['id']}"):
            name, state, button = st.columns([5, 1, 1])
            name.markdown(f"**{escape_md(w['name'])}** (version {w['version']})")
            name.caption(" · ".join(workflow_words(w.get("definition"))))
            state.markdown(":material/check_circle: enabled" if w["enabled"] else ":material/pause_circle: disabled")
            button.button("Disable" if w["enabled"] else "Enable", key=f"toggle_{w['id']}", on_click=_toggle, args=(w,))


st.title("Suggestions")
show_flash()
if error := st.session_state.pop("action_error", None):
    st.error(error)
answer = load("suggestions", lambda: get("/api/v1/suggestions", limit=20))
if answer is not None:
    suggestions = answer.get("suggestions", [])
    if not suggestions:
        message = (answer.get("activity") or {}).get("message")
        st.info(
            "No suggestions waiting. "
            + (f"{message}. " if message else "")
            + "Suggestions come from your activity: keep the agent running (`floyo agent watch ~/projects`) "
            "and the pipeline job (`floyo job run`) builds them."
        )
    else:
        st.caption(f"{len(suggestions)} waiting · model {answer.get('model_version') or '—'} · "
                   f"ranked by {(answer.get('ranker') or {}).get('name', '—')}")  # fmt: skip
        for s in suggestions:
            _card(s)
_workflows()
