"""Suggestions: a card per suggestion with Accept / Dismiss / Snooze; the accepted ones as workflows below, each
with its approval on the person's machines, what the job measured since adoption, and its latest runs."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app_streamlit.client import ApiError
from app_streamlit.common import ago, change, duration, escape_md, flash, get, load, show_flash

SNOOZE_DAYS = 7
RUNS_SHOWN = 5


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


def approval_words(workflow: dict[str, Any]) -> str:
    """Where the workflow may run, in Markdown: each device's approval, or how to approve it on the person's
    machine (device names and reasons are people's words: escaped)."""
    approvals = workflow.get("approvals") or []
    if not approvals:
        return f"not approved yet: run `floyo agent approve {workflow['id']}` on your machine"
    parts = []
    for a in approvals:
        stale = " (an older version)" if a.get("version") != workflow.get("version") else ""
        why = f": {escape_md(a['reason'])}" if a.get("reason") else ""
        parts.append(f"{a.get('state', '?')} on {escape_md(a.get('device') or 'a device')}{stale}{why}")
    return "; ".join(parts)


def outcome_words(workflow: dict[str, Any]) -> str:
    """What the job measured since adoption, in a sentence (the verdict first)."""
    outcome = workflow.get("outcome")
    if not workflow.get("adopted_at"):
        return "not running yet"
    if not outcome:
        return "adopted; measured at the next pipeline run"
    parts = [str(outcome.get("message") or outcome.get("verdict", ""))]
    before, after = outcome.get("manual_before"), outcome.get("manual_after")
    if before and after:
        parts.append(f"by hand {float(before['per_week']):.1f}/week before, {float(after['per_week']):.1f}/week since")
    runs, failures = int(outcome.get("runs") or 0), int(outcome.get("failures") or 0)
    parts.append(f"{runs} run{'s' * (runs != 1)}, {failures} failed")
    return " · ".join(parts)


def run_line(run: dict[str, Any]) -> str:
    """One reported run: when, how it ended, how long, where."""
    took = f" in {duration(float(run['duration_ms']) / 1000)}" if run.get("duration_ms") is not None else ""
    code = f" (exit {run['exit_code']})" if run.get("exit_code") not in (None, 0) else ""
    where = f" on {run['device']}" if run.get("device") else ""
    version = f", version {run['version']}" if run.get("version") else ""
    return f"{ago(run.get('started_at'))}: {run.get('outcome') or '?'}{code}{took}{where}{version}"


def _runs(workflow: dict[str, Any]) -> None:
    with st.expander("Latest runs"):
        answer = load("its runs", lambda: get(f"/api/v1/workflows/{workflow['id']}/runs", limit=RUNS_SHOWN))
        runs = (answer or {}).get("runs", [])
        if answer is not None and not runs:
            st.caption("No runs reported yet.")
        for run in runs:
            st.markdown(f"- {escape_md(run_line(run))}")


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
            name.markdown(f"**Approval:** {approval_words(w)}")
            name.markdown(f"**Outcome:** {escape_md(outcome_words(w))}")
            state.markdown(":material/check_circle: enabled" if w["enabled"] else ":material/pause_circle: disabled")
            button.button("Disable" if w["enabled"] else "Enable", key=f"toggle_{w['id']}", on_click=_toggle, args=(w,))
            if w.get("adopted_at"):
                _runs(w)


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
