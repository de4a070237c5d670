"""The dashboard end to end in a real headless Chromium (Debian's ``chromium``) driven by Playwright: sign in with a
token, read the overview's numbers of known data, open every page, accept a suggestion and find its workflow.

Screenshots of every page are taken; with FLOYO_TEST_SCREENSHOTS=1 they replace docs/screenshots/ (the README's).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import text

from floyo import dashboard
from floyo.workflow_definition import definition_hash
from models.outcome_store import refresh_outcomes
from tests.dashboard.conftest import Stack, add_known_patterns
from tests.models.outcome_history import history, stored_frame
from tests.serving.api_helpers import body, make_suggestion_factory, record_version, workflow
from tests.utils.factories import Device, make_batch, make_device, make_event
from tests.utils.server import free_port, stop

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PAGES = ["Overview", "Activity", "Patterns", "Suggestions", "Models", "Operations"]
WAIT_MS = 20_000

pytestmark = pytest.mark.slow


def three_weeks(now: datetime) -> tuple[list[dict[str, object]], int, int]:
    """A person's three weeks at known times (workdays, 9:00-18:00): (events, today's count, the last 7 days')."""
    rng = random.Random(11)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    times = [now - timedelta(minutes=2 * i + 1) for i in range(6)]  # a few just now
    for day in range(1, 21):
        start = midnight - timedelta(days=day)
        if start.weekday() < 5:
            times += [start + timedelta(hours=rng.uniform(9, 18)) for _ in range(rng.randint(15, 30))]
    events = []
    for t in times:
        choice = rng.random()
        if choice < 0.2:
            events.append(
                make_event(ts=t.isoformat(), kind="run", path="", tool=rng.choice(["latexmk", "pytest", "git"]))
            )
        else:
            folder, ext = rng.choice([("thesis", "tex"), ("src", "py"), ("blog", "md"), ("data", "csv")])
            root = "documents" if folder in ("thesis", "blog") else "projects"
            events.append(make_event(ts=t.isoformat(), kind=rng.choice(["modify", "open", "create"]), root=root,
                                     path=f"{folder}/f{rng.randint(1, 9)}.{ext}"))  # fmt: skip
    today = sum(t >= midnight for t in times)
    week = sum(t >= now - timedelta(days=7) for t in times)
    return events, today, week


def adopted_workflow(stack: Stack, person: Device) -> int:
    """A suggestion the person accepted and approved on their laptop three weeks ago: the agent's runs since, fewer
    manual ones, measured by the job's outcomes step. How many of its events fall in the last 7 days."""
    suggest = make_suggestion_factory(stack.engine)
    sid = suggest(person.user_id, title="Compile the thesis when you save",
                  body=body(20, workflow=workflow(name="Compile the thesis with latexmk on save")))  # fmt: skip
    accepted = httpx.post(f"{stack.url}/api/v1/suggestions/{sid}/feedback", headers=person.headers,
                          json={"action": "accept"}).json()["workflow"]  # fmt: skip
    approval = {"version": 1, "definition_hash": definition_hash(accepted["definition"]), "state": "approved"}
    approved = httpx.put(f"{stack.url}/api/v1/workflows/{accepted['id']}/approval", headers=person.headers,
                         json=approval)  # fmt: skip
    assert approved.status_code == 200, approved.text
    now = datetime.now(UTC)
    events = history(accepted["id"], now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=21))
    for i in range(0, len(events), 500):
        sent = httpx.post(f"{stack.url}/api/v1/telemetry", json=make_batch(events[i : i + 500]), headers=person.headers)
        assert sent.status_code == 200, sent.text
    refresh_outcomes(stack.engine, events=stored_frame(stack.engine, person.user_id))  # the job's step
    return sum(datetime.fromisoformat(str(e["ts"])) >= now - timedelta(days=7) for e in events)


@pytest.fixture
def browser_user(stack: Stack) -> tuple[Device, int, int, str]:
    """An admin with three weeks of events and two suggestions: (device, today, week, the first suggestion's title)."""
    person = make_device(stack.engine, admin=True)
    events, today, week = three_weeks(datetime.now(UTC))
    for i in range(0, len(events), 500):
        sent = httpx.post(f"{stack.url}/api/v1/telemetry", json=make_batch(events[i : i + 500]), headers=person.headers)
        assert sent.status_code == 200, sent.text
    suggest = make_suggestion_factory(stack.engine)
    title = "Build thesis/*.tex with latexmk when you save"
    suggest(person.user_id, score=0.9, title=title)
    pandoc = workflow(
        name="Convert blog/*.md with pandoc on save",
        triggers=[{"type": "file", "root": "documents", "paths": ["blog/*.md"], "events": ["modify"]}],
        actions=[{"type": "run", "command": ["pandoc"], "args_from_history": True}],
    )
    suggest(
        person.user_id,
        score=0.5,
        title="Convert blog posts with pandoc when you save",
        body=body(
            12,
            workflow=pandoc,
            description="You save a .md file in blog/ and run pandoc about 10 s later",
            pattern={
                "steps": [
                    {"action": "modify", "glob": "blog/*.md", "root": "documents"},
                    {"action": "run", "tool": "pandoc", "window_s": 60, "delay_median_s": 10.0, "delay_p90_s": 25.0},
                ]
            },
        ),
    )
    week += adopted_workflow(stack, person)
    add_known_patterns(stack.engine, person.user_id)
    with stack.engine.begin() as conn:  # the registry's record is global: this test's versions only
        conn.execute(text("DELETE FROM model_versions"))
    baselines = {"baseline_markov1_hr1": 0.24, "baseline_markov1_mrr": 0.29, "baseline_mostpopular_mrr": 0.18}
    record_version(stack.engine, "floyo-next-action", "1", {"hr1": 0.23, "mrr": 0.28, **baselines})
    record_version(stack.engine, "floyo-next-action", "2", {"hr1": 0.26, "mrr": 0.31, **baselines}, champion=True)
    return person, today, week, title


@pytest.fixture
def dashboard_url(stack: Stack) -> Iterator[str]:
    """``floyo dashboard``'s own command line, on a free port, reading the test API; no token: sign-in by hand."""
    port = free_port()
    env = dashboard.environment(stack.url, None)
    proc = subprocess.Popen(dashboard.command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not dashboard.healthy(port):  # Streamlit's own /_stcore/health, as its e2e suite waits
            assert proc.poll() is None, "the dashboard exited"
            assert time.monotonic() < deadline, "the dashboard never became healthy"
            time.sleep(0.1)  # polling a separate process
        yield dashboard.url(port)
    finally:
        stop(proc)


def settled(page: Page) -> None:
    """Wait as Streamlit's e2e suite does: the app is connected and its script is not running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=WAIT_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def metric(page: Page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label)
    return box.get_by_test_id("stMetricValue").inner_text()


def test_the_dashboard_in_a_real_browser(
    stack: Stack, browser_user: tuple[Device, int, int, str], dashboard_url: str, tmp_path: Path
):
    assert CHROMIUM.exists(), "install Debian's chromium (make browser)"
    person, today, week, title = browser_user
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(dashboard_url)
        settled(page)
        expect(page.get_by_role("heading", name="Sign in to Floyo")).to_be_visible(timeout=WAIT_MS)
        page.screenshot(path=shots / "sign-in.png")
        page.get_by_label("Token", exact=True).fill(person.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=WAIT_MS)
        settled(page)
        expect(page.get_by_test_id("stMetric").filter(has_text="Events today")).to_be_visible(timeout=WAIT_MS)
        assert metric(page, "Events today") == f"{today:,}"
        assert metric(page, "Events this week") == f"{week:,}"
        assert metric(page, "Suggestions waiting") == "2"
        nav = page.get_by_test_id("stSidebarNav")
        assert [t.split()[-1] for t in nav.get_by_role("link").all_inner_texts()] == PAGES  # after the icon
        for name in PAGES:
            nav.get_by_role("link", name=name).click()
            expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible(timeout=WAIT_MS)
            settled(page)
            expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
            page.screenshot(path=shots / f"{name.lower()}.png", full_page=True)
        nav.get_by_role("link", name="Models").click()
        expect(page.get_by_text("champion: v2")).to_be_visible(timeout=WAIT_MS)
        nav.get_by_role("link", name="Suggestions").click()
        settled(page)
        card = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_role("heading", name=title)).last
        card.get_by_role("button", name="Accept").click()
        expect(page.get_by_text(f"“{title}”: accepted")).to_be_visible(timeout=WAIT_MS)
        settled(page)
        expect(page.get_by_role("heading", name=title)).to_have_count(0)
        expect(page.get_by_text("Build thesis/*.tex with latexmk on save")).to_be_visible()
        expect(page.get_by_role("button", name="Disable")).to_have_count(2)  # and the one adopted before
        expect(page.get_by_text("Approval: approved on laptop")).to_be_visible()
        expect(page.get_by_text("Outcome: saving")).to_be_visible()
        page.get_by_text("Latest runs").click()  # the adopted workflow's runs, as the agent reported them
        expect(page.get_by_text("ok in 4 s on laptop, version 1")).to_have_count(5)
        page.set_viewport_size({"width": 1400, "height": 1700})  # the page scrolls inside: show the workflows too
        settled(page)
        page.screenshot(path=shots / "suggestions-accepted.png", full_page=True)
        browser.close()
    taken = sorted(p.name for p in shots.iterdir())
    assert len(taken) == len(PAGES) + 2
    assert all((shots / name).stat().st_size > 10_000 for name in taken)  # real pictures, not blank pages
    if os.environ.get("FLOYO_TEST_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in taken:
            shutil.copy(shots / name, SCREENSHOTS / name)
