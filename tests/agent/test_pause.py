"""Pause and resume judged by when each change happened; rescans date what they find by the file's mtime."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.coalesce import MTIME_LAG
from agent.config import AgentConfig
from agent.pause import PauseLog
from tests.agent.helpers import InProcessWatcher, wait_for


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def config_for(tmp_path: Path) -> AgentConfig:
    root = tmp_path / "notes"
    root.mkdir(exist_ok=True)
    return AgentConfig(roots={"notes": root}, state_dir=tmp_path / "state", debounce_seconds=0.3)


def test_a_write_just_after_resume_is_recorded_one_during_the_pause_is_not(tmp_path):
    config = config_for(tmp_path)
    root, pauses = config.roots["notes"], PauseLog(config.state_dir)
    with InProcessWatcher(config) as w:
        pauses.switch(True)
        (root / "diary.txt").write_text("private")
        pauses.switch(False)
        (root / "work.txt").write_text("public")  # at once: before the agent's loop has seen either switch
        events = w.settle(root)
        assert [(e["kind"], e["path"]) for e in events] == [("create", "work.txt")]
        wait_for(lambda: w.watcher.counters.rescans >= 1, what="the rescan after the resume")
        assert w.settle(root) == []  # the rescan found nothing the watch had not decided


def test_changes_while_paused_and_stopped_are_rescanned_and_judged_by_mtime(tmp_path):
    config = config_for(tmp_path)
    root, pauses = config.roots["notes"], PauseLog(config.state_dir)
    (root / "old.txt").write_text("v1")
    with InProcessWatcher(config) as w:
        w.settle(root)  # the first start indexes old.txt silently
    pauses.switch(True)
    (root / "paused.txt").write_text("while paused and the agent stopped")
    (root / "old.txt").write_text("v2 while paused")
    pauses.switch(False)
    (root / "after.txt").write_text("after the resume, agent still stopped")
    written = (root / "after.txt").stat().st_mtime
    time.sleep(0.3)  # the rescan must date it by its mtime, not by when the agent finds it
    with InProcessWatcher(config) as w:
        events = [e for e in w.settle(root) if not e["path"].startswith("sentinel-")]  # the first run's too
    assert [(e["kind"], e["path"]) for e in events] == [("create", "after.txt")]
    assert events[0]["meta"] == {"source": "rescan"}
    assert written - 1e-6 <= ts(events[0]) <= written + MTIME_LAG + 0.001  # ts has microseconds


def test_the_pause_log_answers_for_any_moment(tmp_path):
    pauses = PauseLog(tmp_path / "state")
    assert not pauses.paused_at(time.time())
    pauses.switch(True)
    paused_at = time.time()
    pauses.switch(False)
    assert pauses.paused_at(paused_at)
    assert not pauses.paused_at(time.time())
    assert not pauses.paused_now()
    with open(pauses.log_path, "a") as log:
        log.write("garbage\npause not-a-time\n")  # a torn line is skipped, the others still count
    assert pauses.paused_at(paused_at)
    assert os.stat(pauses.log_path).st_mode & 0o777 == 0o600


def test_a_reader_between_the_resume_line_and_the_flag_sees_the_resume(tmp_path):
    pauses = PauseLog(tmp_path / "state")
    pauses.switch(True)
    with open(pauses.log_path, "a") as log:  # resume's line is written, its flag not removed yet
        log.write(f"resume {time.time():.6f}\n")
    assert pauses.paused_now()
    assert not pauses.paused_by_log()  # the agent's loop decides by this: it rescans instead of staying paused
