"""Editors' save storms, made with the same file operations as the editors, are one event of the real file."""

from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path

import pytest

from agent.coalesce import MTIME_LAG, RootState
from agent.config import AgentConfig
from agent.filters import PathFilter
from agent.spool import FileIndex, Spool
from tests.agent.helpers import InProcessWatcher, wait_for


def kinds(events):
    return sorted((e["kind"], e["path"], e.get("dest_path")) for e in events)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('v1')\n")
    (root / "report.odt").write_bytes(b"PK v1")
    return root


@pytest.fixture
def watching(tree: Path, tmp_path: Path):
    config = AgentConfig(roots={"proj": tree}, state_dir=tmp_path / "state", debounce_seconds=0.3)
    with InProcessWatcher(config) as w:
        yield w


def test_vim_backup_and_swap_files_are_one_modify(tree, watching):
    app = tree / "src" / "app.py"
    swap = tree / "src" / ".app.py.swp"
    swap.write_bytes(b"b0VIM swap")  # on open
    (tree / "src" / "4913").write_text("")  # vim's "can I write here" probe
    os.unlink(tree / "src" / "4913")
    os.rename(app, tree / "src" / "app.py~")  # writebackup: rename the original away
    app.write_text("print('v2')\n")
    os.unlink(tree / "src" / "app.py~")
    swap.unlink()  # on quit
    assert kinds(watching.settle(tree)) == [("modify", "src/app.py", None)]


def test_vscode_style_temp_then_rename_is_one_modify(tree, watching):
    app = tree / "src" / "app.py"
    tmp = tree / "src" / ".app.py.4f3a9c"
    tmp.write_text("print('v2')\n")
    os.replace(tmp, app)
    assert kinds(watching.settle(tree)) == [("modify", "src/app.py", None)]


def test_jetbrains_safe_write_is_one_modify(tree, watching):
    app = tree / "src" / "app.py"
    tmp, old = tree / "src" / "app.py___jb_tmp___", tree / "src" / "app.py___jb_old___"
    tmp.write_text("print('v2')\n")
    os.rename(app, old)
    os.rename(tmp, app)
    old.unlink()
    assert kinds(watching.settle(tree)) == [("modify", "src/app.py", None)]


def test_libreoffice_lock_and_temp_save_is_one_modify(tree, watching):
    doc = tree / "report.odt"
    lock = tree / ".~lock.report.odt#"
    lock.write_text(",me,host,25.11.2026 10:00,file:///home/me/.config/libreoffice/4;")
    tmp = tree / "lu18273kx3.tmp"
    tmp.write_bytes(b"PK v2")
    os.replace(tmp, doc)
    assert kinds(watching.settle(tree)) == [("modify", "report.odt", None)]
    lock.unlink()  # on close: the lock file never becomes an event
    assert watching.settle(tree) == []


def test_several_writes_in_the_window_are_one_modify_and_a_new_file_one_create(tree, watching):
    app = tree / "src" / "app.py"
    for i in range(5):
        with app.open("a") as f:
            f.write(f"# {i}\n")
    new = tree / "src" / "new.py"
    new.write_text("a")
    new.write_text("b")
    assert kinds(watching.settle(tree)) == [("create", "src/new.py", None), ("modify", "src/app.py", None)]


def test_gedit_temp_for_a_new_file_is_one_create(tree, watching):
    tmp = tree / "src" / ".goutputstream-ZX81Q2"
    tmp.write_text("notes")
    os.rename(tmp, tree / "src" / "notes.md")
    assert kinds(watching.settle(tree)) == [("create", "src/notes.md", None)]


def test_rename_chain_is_one_move_and_create_then_delete_is_nothing(tree, watching):
    os.rename(tree / "src" / "app.py", tree / "src" / "tmp_name.py")
    os.rename(tree / "src" / "tmp_name.py", tree / "src" / "main.py")
    scratch = tree / "scratch.txt"
    scratch.write_text("x")
    scratch.unlink()
    assert kinds(watching.settle(tree)) == [("move", "src/app.py", "src/main.py")]


def test_new_subfolders_are_watched_at_once(tree, watching):
    deep = tree / "a" / "b" / "c"
    deep.mkdir(parents=True)
    for i in range(20):
        (deep / f"f{i}.txt").write_text(str(i))
    (tree / "a" / "top.txt").write_text("t")
    events = watching.settle(tree)
    expected = [("create", f"a/b/c/f{i}.txt", None) for i in range(20)] + [("create", "a/top.txt", None)]
    assert kinds(events) == sorted(expected)
    # and the new folder keeps being watched
    (deep / "f0.txt").write_text("changed")
    assert kinds(watching.settle(tree)) == [("modify", "a/b/c/f0.txt", None)]


def test_open_is_reported_when_nothing_else_happened(tree, watching):
    (tree / "src" / "app.py").read_text()
    assert kinds(watching.settle(tree)) == [("open", "src/app.py", None)]


def test_folder_moved_away_and_deleted_files(tree, watching, tmp_path):
    (tree / "docs").mkdir()
    (tree / "docs" / "a.md").write_text("a")
    (tree / "docs" / "b.md").write_text("b")
    assert len(watching.settle(tree)) == 2
    os.rename(tree / "docs", tmp_path / "outside-docs")  # leaves the root: its files are gone
    (tree / "report.odt").unlink()
    assert kinds(watching.settle(tree)) == [
        ("delete", "docs/a.md", None), ("delete", "docs/b.md", None), ("delete", "report.odt", None),
    ]  # fmt: skip


QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")


@pytest.mark.skipif(not os.access(QUEUE_LIMIT, os.W_OK), reason="needs root to shrink the inotify queue")
def test_inotify_overflow_is_detected_and_rescanned_nothing_missed(tree, tmp_path):
    config = AgentConfig(roots={"proj": tree}, state_dir=tmp_path / "state", debounce_seconds=0.3)
    saved = QUEUE_LIMIT.read_text()
    QUEUE_LIMIT.write_text("32")  # only inotify instances created now get the tiny queue
    try:
        w = InProcessWatcher(config).__enter__()
    finally:
        QUEUE_LIMIT.write_text(saved)
    try:
        for i in range(1500):
            (tree / f"burst{i:04}.txt").write_text("x")
        expected = sorted(("create", f"burst{i:04}.txt", None) for i in range(1500))

        def burst():
            return kinds(e for e in w.spooled() if e["path"].startswith("burst"))

        wait_for(lambda: burst() == expected, timeout=60, what="every file of the burst")
        assert w.watcher.counters.overflows >= 1
        wait_for(lambda: w.watcher.counters.rescans >= 2, what="both rescans after the overflow")
        w.settle(tree)
        assert burst() == expected  # the second rescan found nothing twice
        rescanned = [e for e in w.spooled() if e.get("meta") == {"source": "rescan"}]
        assert rescanned
        for e in rescanned:  # dated by the file's mtime (its tick), not by the rescan
            mtime = (tree / e["path"]).stat().st_mtime
            assert mtime - 1e-6 <= datetime.fromisoformat(e["ts"]).timestamp() <= mtime + MTIME_LAG + 0.001
    finally:
        w.__exit__()


def test_gitignore_changes_apply_at_once_and_reading_it_is_not_a_loop(tree, watching):
    (tree / ".gitignore").write_text("*.log\n")
    assert kinds(watching.settle(tree)) == [("create", ".gitignore", None)]
    (tree / "run.log").write_text("ignored now")
    (tree / "kept.txt").write_text("k")
    assert kinds(watching.settle(tree)) == [("create", "kept.txt", None)]
    seen = watching.watcher.counters.raw
    assert watching.settle(tree) == []
    assert watching.watcher.counters.raw - seen < 20  # the agent's own reads of .gitignore cause no storm


WATCH_LIMIT = Path("/proc/sys/fs/inotify/max_user_watches")


def user_watches() -> int:
    """inotify watches held by every process of this user (the limit counts them all)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.getuid():
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        total += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


@pytest.mark.skipif(not os.access(WATCH_LIMIT, os.W_OK), reason="needs root to lower the inotify watch limit")
def test_watch_limit_is_reported_and_the_root_polled(tree, tmp_path):
    for i in range(10):
        (tree / f"dir{i}").mkdir()
    config = AgentConfig(
        roots={"proj": tree}, state_dir=tmp_path / "state", debounce_seconds=0.3, poll_interval_seconds=0.5
    )
    # The limit is machine-wide: two suites running this at once would each "restore" the other's lowered value
    # and leave the machine with a handful of watches, so lowering and restoring is serialised by a lock file.
    with open("/tmp/floyo-test-inotify-limit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = WATCH_LIMIT.read_text()
        WATCH_LIMIT.write_text(str(user_watches() + 3))  # room for 3 of the tree's 12 folders
        try:
            w = InProcessWatcher(config).__enter__()
        finally:
            WATCH_LIMIT.write_text(saved)
    try:
        assert w.watcher.polled == {"proj"}
        for i in range(10):
            (tree / f"dir{i}" / "new.txt").write_text("x")
        expected = sorted(("create", f"dir{i}/new.txt", None) for i in range(10))
        # the unwatched folders are seen by the next periodic rescan (every 0.5 s here)
        wait_for(lambda: kinds(e for e in w.spooled() if e["path"].startswith("dir")) == expected,
                 what="the polled files")  # fmt: skip
        w.settle(tree)  # later rescans find nothing new: no duplicates
        assert kinds(e for e in w.spooled() if e["path"].startswith("dir")) == expected
    finally:
        w.__exit__()


def test_a_renamed_folder_is_one_move_per_file(tree, watching):
    (tree / "docs").mkdir()
    (tree / "docs" / "a.md").write_text("a")
    (tree / "docs" / "b.md").write_text("b")
    assert len(watching.settle(tree)) == 2
    os.rename(tree / "docs", tree / "papers")
    assert kinds(watching.settle(tree)) == [("move", "docs/a.md", "papers/a.md"), ("move", "docs/b.md", "papers/b.md")]


def test_the_agents_own_files_inside_a_root_are_never_events(tree, tmp_path):
    config = AgentConfig(roots={"proj": tree}, state_dir=tree / ".local-floyo-state", debounce_seconds=0.3)
    with InProcessWatcher(config) as w:
        (tree / "src" / "app.py").write_text("changed")
        events = w.settle(tree)  # the spool itself was written meanwhile, inside the root
        assert kinds(events) == [("modify", "src/app.py", None)]
        assert (tree / ".local-floyo-state" / "spool.sqlite3").exists()


def test_a_late_write_notification_after_the_decision_is_no_second_event(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    spool = Spool(tmp_path / "s.sqlite3")
    state = RootState("r", root, PathFilter(root), FileIndex(spool, "r"), debounce=0.3)

    def flush(now):
        out = state.flush(now=now)
        spool.append([], root="r", upserts=out.upserts.items(), deletes=out.deletes)
        state.index.committed()
        return [e["kind"] for e in out.events]

    (root / "a.txt").write_text("x")
    state.touch("a.txt", "create", now=0.0)
    assert flush(now=0.1) == []  # not quiet yet
    assert flush(now=1.0) == ["create"]
    state.touch("a.txt", "modify", now=1.1)  # a backlog's late notification of the same write
    assert flush(now=2.0) == []
    (root / "a.txt").write_text("xy")
    state.touch("a.txt", "modify", now=2.1)
    assert flush(now=3.0) == ["modify"]
    spool.close()


def test_a_file_created_while_the_first_walk_runs_is_reported(tree, tmp_path, monkeypatch):
    config = AgentConfig(roots={"proj": tree}, state_dir=tmp_path / "state", debounce_seconds=0.3)
    watcher = InProcessWatcher(config)
    walk = PathFilter.iter_walk

    def walk_while_a_file_appears(self: PathFilter):
        yield from walk(self)
        new = tree / "during.csv"
        new.write_text("a,b\n")  # the watch is running: its notification is queued while the walk finishes
        wait_for(lambda: not watcher.watcher.queue.empty(), what="the notification of the new file")
        st = os.lstat(new)
        yield "during.csv", (st.st_mtime_ns, st.st_size, st.st_ino)  # and the walk indexes it too

    monkeypatch.setattr(PathFilter, "iter_walk", walk_while_a_file_appears)
    with watcher:
        events = watcher.settle(tree)
    assert [k for k in kinds(events) if not k[1].startswith("sentinel-")] == [("create", "during.csv", None)]
