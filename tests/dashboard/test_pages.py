"""Every dashboard page in Streamlit's AppTest against a real API: with data, empty, and with the API down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from floyo.workflow_definition import definition_hash
from models.outcome_store import refresh_outcomes
from tests.dashboard.conftest import APP, Stack
from tests.models.outcome_history import history, stored_frame
from tests.serving.api_helpers import make_suggestion_factory, record_version
from tests.serving.api_helpers import workflow as api_workflow
from tests.utils.factories import Device, make_batch, make_device

PAGES = ["overview", "activity", "patterns", "suggestions", "models"]
TIMEOUT_S = 30


def signed_in(mp: pytest.MonkeyPatch, api: str, device: Device) -> AppTest:
    """The app run once with FLOYO_DASHBOARD_TOKEN set: it signs in at start and shows the Overview."""
    mp.setenv("FLOYO_DASHBOARD_API", api)
    mp.setenv("FLOYO_DASHBOARD_TOKEN", device.token)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- sign-in


def test_sign_in_refuses_a_bad_token_and_accepts_a_good_one(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    dashboard_env.setenv("FLOYO_DASHBOARD_API", stack.url)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert [t.value for t in at.title] == ["Sign in to Floyo"]
    assert at.text_input[0].label == "Token"
    at.text_input[0].input("fl_not-a-real-token")
    at.button[0].click().run()
    assert "The token was refused" in texts(at.error)
    at.text_input[0].input(stack.person.token)
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert stack.person.user in texts(at.sidebar.caption)


def test_a_bad_environment_token_says_so_on_the_sign_in_page(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    dashboard_env.setenv("FLOYO_DASHBOARD_API", stack.url)
    dashboard_env.setenv("FLOYO_DASHBOARD_TOKEN", "fl_wrong")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert [t.value for t in at.title] == ["Sign in to Floyo"]
    assert "FLOYO_DASHBOARD_TOKEN did not sign you in" in texts(at.error)


def test_sign_in_with_the_api_down_is_a_message(dead_api: str, dashboard_env: pytest.MonkeyPatch, stack: Stack):
    dashboard_env.setenv("FLOYO_DASHBOARD_API", dead_api)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    at.text_input[0].input(stack.person.token)
    at.button[0].click().run()
    assert not at.exception
    assert f"The Floyo API at {dead_api} does not answer" in texts(at.error)


# --- with data


def test_overview_shows_the_known_numbers(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    at = signed_in(dashboard_env, stack.url, stack.person)
    shown = metrics(at)
    assert shown["Events today"] == str(stack.events_today)
    assert shown["Events this week"] == str(stack.events_week)
    assert shown["All events"] == "12"
    assert shown["Suggestions waiting"] == "2"
    assert "laptop" in at.dataframe[0].value["device"].tolist()
    assert len(at.get("vega_lite_chart")) == 3  # top extensions, tools, roots


def test_every_page_renders_with_data(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    at = signed_in(dashboard_env, stack.url, stack.person)
    expected = {"activity": "Activity", "patterns": "Patterns", "suggestions": "Suggestions", "models": "Models"}
    for page, title in expected.items():
        open_page(at, page)
        assert [t.value for t in at.title] == [title]
        assert not at.error, texts(at.error)
    open_page(at, "activity")
    assert len(at.get("vega_lite_chart")) == 2  # the heatmap and the sessions per day
    assert "12 events in" in texts(at.caption)
    open_page(at, "patterns")
    assert "Directly-follows graph" in texts(at.subheader)
    assert len(at.get("graphviz_chart")) == 1
    rules, workflows = at.dataframe[0].value, at.dataframe[1].value
    assert rules["rule"].tolist()[:2] == [
        "When you touch .tex files, you also run latexmk", "When you work in blog/, you also run pandoc",
    ]  # fmt: skip
    assert rules["lift"].tolist()[:2] == [3.5, 3.5]
    assert "2026-11-30 10:00 (a.tex)" in rules["latest sessions"].tolist()[0]
    assert workflows["times"].tolist() == [20, 8]
    assert len(at.get("vega_lite_chart")) == 1  # the delays of the selected workflow
    open_page(at, "suggestions")
    assert [s.value for s in at.subheader][:2] == ["Build the thesis on save", "Convert blog posts with pandoc"]
    assert "10.0 min/week" in texts(at.markdown)
    assert "20.0 times a week × 30 s each" in texts(at.markdown)


def test_activity_filters_narrow_the_numbers(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    at = open_page(signed_in(dashboard_env, stack.url, stack.person), "activity")
    root = next(s for s in at.selectbox if s.label == "Root")
    root.select("documents").run()
    assert not at.exception
    assert "5 events in 1 sessions" in texts(at.caption)
    drill = next(s for s in at.selectbox if s.label == "Drill down to a session")
    assert drill.value == 0
    assert len(at.dataframe[-1].value) == 5  # the session's own events, from /api/v1/events


def test_operations_is_listed_for_admins_only(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    at = signed_in(dashboard_env, stack.url, stack.admin)
    open_page(at, "operations")
    assert [t.value for t in at.title] == ["Operations"]
    assert "Ready" in texts(at.success)
    assert "Events, last 24 h" in metrics(at)
    person = signed_in(dashboard_env, stack.url, stack.person)
    with pytest.raises(Exception, match="operations"):  # not among a non-admin's pages
        person.switch_page("views/operations.py").run()


# --- empty


def test_every_page_says_what_to_do_when_empty(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    with stack.engine.begin() as conn:  # global rules are everyone's: none for this test
        conn.execute(text("DELETE FROM patterns WHERE user_id IS NULL"))
        conn.execute(text("DELETE FROM model_versions"))
    at = signed_in(dashboard_env, stack.url, stack.empty)
    assert "No events yet: start the agent with `floyo agent watch" in texts(at.info)
    expected = {
        "activity": "No events yet: start the agent",
        "patterns": "No patterns yet: they are mined from your activity",
        "suggestions": "No suggestions waiting.",
        "models": "No trained models yet",
    }
    for page, advice in expected.items():
        open_page(at, page)
        assert advice in texts(at.info), (page, texts(at.info))
        assert not at.error
    open_page(at, "suggestions")
    assert "No workflows yet: accept a suggestion" in texts(at.info)


# --- the API failing


@pytest.mark.parametrize("page", [*PAGES, "operations"])
def test_every_page_shows_a_message_when_the_api_fails(
    stack: Stack, dashboard_env: pytest.MonkeyPatch, dead_api: str, page: str
):
    at = signed_in(dashboard_env, stack.url, stack.admin)
    dashboard_env.setenv("FLOYO_DASHBOARD_API", dead_api)  # the API goes away after sign-in
    open_page(at, page)
    assert f"The Floyo API at {dead_api} does not answer" in texts(at.error)


# --- acting


def test_accept_dismiss_snooze_and_toggle_update_the_page_at_once(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    someone = make_device(stack.engine)
    suggest = make_suggestion_factory(stack.engine)
    first = suggest(someone.user_id, score=0.9, title="Build the thesis on save")
    second = suggest(someone.user_id, score=0.5, title="Convert blog posts with pandoc")
    third = suggest(someone.user_id, score=0.1, title="Zip the reports")
    at = open_page(signed_in(dashboard_env, stack.url, someone), "suggestions")
    at.button(key=f"accept_{first}").click().run()
    assert "“Build the thesis on save”: accepted" in texts(at.success)
    assert [s.value for s in at.subheader] == ["Convert blog posts with pandoc", "Zip the reports"]
    # the workflow's name as Markdown source: the glob's characters escaped so that they show as themselves
    assert "**Build thesis/\\*\\.tex with latexmk on save** (version 1)" in texts(at.markdown)  # the workflow created
    toggle = next(b for b in at.button if b.key and b.key.startswith("toggle_"))
    assert toggle.label == "Disable"
    toggle.click().run()
    assert "disabled" in texts(at.success)
    assert next(b for b in at.button if b.key and b.key.startswith("toggle_")).label == "Enable"
    at.text_input(key=f"reason_{second}").input("I convert by hand")
    at.button(key=f"dismiss_{second}").click().run()
    assert "“Convert blog posts with pandoc”: dismissed." in texts(at.success)
    at.button(key=f"snooze_{third}").click().run()
    assert "snoozed for 7 days" in texts(at.success)
    assert not at.subheader
    assert "No suggestions waiting." in texts(at.info)
    with stack.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT suggestion_id, action, reason FROM suggestion_feedback WHERE user_id = :u ORDER BY id"),
            {"u": someone.user_id},
        ).all()
    assert [tuple(r) for r in rows] == [
        (first, "accept", None), (second, "dismiss", "I convert by hand"), (third, "snooze", None),
    ]  # fmt: skip


def test_workflows_show_their_approval_runs_and_measured_outcome(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    """An accepted suggestion approved on the person's laptop, three weeks of the agent's runs and fewer manual
    ones, measured by the job's outcomes step: the page says so; a second workflow waits for approval."""
    someone = make_device(stack.engine)
    suggest = make_suggestion_factory(stack.engine)
    sid = suggest(someone.user_id, title="Build the thesis on save")
    headers = someone.headers
    wf = httpx.post(f"{stack.url}/api/v1/suggestions/{sid}/feedback", headers=headers, json={"action": "accept"})
    workflow = wf.json()["workflow"]
    approval = {"version": 1, "definition_hash": definition_hash(workflow["definition"]), "state": "approved"}
    put = httpx.put(f"{stack.url}/api/v1/workflows/{workflow['id']}/approval", headers=headers, json=approval)
    assert put.status_code == 200, put.text
    waiting = httpx.post(f"{stack.url}/api/v1/workflows", headers=headers, json=api_workflow(name="Waiting")).json()
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = history(workflow["id"], midnight - timedelta(days=21))  # three whole weeks, none of today
    for i in range(0, len(events), 500):
        sent = httpx.post(f"{stack.url}/api/v1/telemetry", json=make_batch(events[i : i + 500]), headers=headers)
        assert sent.status_code == 200, sent.text
    refresh_outcomes(stack.engine, events=stored_frame(stack.engine, someone.user_id))  # the job's step
    at = open_page(signed_in(dashboard_env, stack.url, someone), "suggestions")
    shown = texts(at.markdown)
    assert f"**Approval:** approved on {someone.device}" in shown
    assert f"**Approval:** not approved yet: run `floyo agent approve {waiting['id']}` on your machine" in shown
    assert "**Outcome:** saving " in shown
    assert "min/week \\(95% interval" in shown
    assert "60 runs, 0 failed" in shown
    assert [e.label for e in at.expander] == ["Latest runs"]  # the waiting one has no runs to show
    runs = [line for line in shown.splitlines() if line.startswith("- ") and "ok" in line and "ago" in line]
    assert len(runs) == 5
    assert all(f"on {someone.device}" in line for line in runs)


# --- models (global: each test starts from the rows it needs)


def test_models_page_shows_every_version_side_by_side(stack: Stack, dashboard_env: pytest.MonkeyPatch):
    with stack.engine.begin() as conn:
        conn.execute(text("DELETE FROM model_versions"))
    record_version(stack.engine, "floyo-next-action", "1", {"mrr": 0.25, "baseline_markov1_mrr": 0.2})
    record_version(stack.engine, "floyo-next-action", "2", {"mrr": 0.31, "baseline_markov1_mrr": 0.2}, champion=True)
    at = open_page(signed_in(dashboard_env, stack.url, stack.person), "models")
    assert "floyo-next-action" in texts(at.subheader)
    assert "champion: v2" in texts(at.caption)
    table = at.dataframe[0].value
    assert table["version"].tolist() == ["v1", "v2"]
    assert table["mrr"].tolist() == [0.25, 0.31]
    assert table["baseline_markov1_mrr"].tolist() == [0.2, 0.2]
    assert len(at.get("vega_lite_chart")) == 1
