"""The real agent process against the real server: ground truth, outages, kill -9, exclusions, privacy."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from floyo.privacy import hash_path
from tests.agent.helpers import serve_on, server_events, settle, wait_for, write_config
from tests.utils.server import free_port

REPO = Path(__file__).resolve().parents[2]


def as_changes(events):
    return collections.Counter((e["kind"], e["path"]) for e in events if e["kind"] != "open")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def make_history(src: Path) -> list[str]:
    """A small repository whose revisions add, change, delete and move real source files of this repo."""
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    files = sorted(p for p in (REPO / "floyo").rglob("*.py") if "__pycache__" not in p.parts)
    for f in files:
        dest = src / "pkg" / f.relative_to(REPO / "floyo")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "one")
    revs = [git(src, "rev-parse", "HEAD").strip()]
    # two: modify some, delete some, a new nested package, a rename
    pyfiles = sorted((src / "pkg").rglob("*.py"))
    for f in pyfiles[:4]:
        f.write_text(f.read_text() + "\n# changed\n")
    for f in pyfiles[4:6]:
        f.unlink()
    (src / "pkg" / "extra" / "deeper").mkdir(parents=True)
    for i, f in enumerate(sorted((REPO / "agent").glob("*.py"))):
        shutil.copy(f, src / "pkg" / "extra" / "deeper" / f"m{i}_{f.name}")
    git(src, "mv", str(pyfiles[6].relative_to(src)), "pkg/renamed.py")
    (src / ".gitignore").write_text("*.log\n")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "two")
    revs.append(git(src, "rev-parse", "HEAD").strip())
    # three: drop the new folder again, change others
    shutil.rmtree(src / "pkg" / "extra")
    for f in sorted((src / "pkg").rglob("*.py"))[-3:]:
        f.write_text("# rewritten\n" + f.read_text())
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "three")
    revs.append(git(src, "rev-parse", "HEAD").strip())
    return revs


def ground_truth(repo: Path, a: str, b: str) -> collections.Counter[tuple[str, str]]:
    kinds = {"A": "create", "M": "modify", "D": "delete"}
    out = git(repo, "diff", "--no-renames", "--name-status", a, b)
    return collections.Counter((kinds[line.split("\t")[0]], line.split("\t")[1]) for line in out.splitlines())


@pytest.mark.slow
def test_git_checkouts_match_ground_truth(env, device, tmp_path, agents, agent_config, shared_server):
    src = tmp_path / "src"
    revs = make_history(src)
    root = tmp_path / "watched"
    root.mkdir()
    git(root, "clone", "-q", str(src), "work")
    work = root / "work"
    git(work, "checkout", "-q", revs[0])
    url = shared_server
    agents(env, tmp_path / "state", [f"w={root}"], "--server", url, "--token", device.token,
           "--config", str(agent_config))  # fmt: skip
    stored: collections.Counter[tuple[str, str]] = collections.Counter()
    for a, b in [(revs[0], revs[1]), (revs[1], revs[2]), (revs[2], revs[0])]:
        git(work, "checkout", "-q", b)
        (work / "debug.log").write_text("ignored by .gitignore") if b == revs[1] else None
        events = settle(url, device.token, root, "work")
        now = as_changes(events)
        step, stored = now - stored, now
        expected = collections.Counter({("create" if k == "create" else k, f"work/{p}"): n
                                        for (k, p), n in ground_truth(work, a, b).items()})  # fmt: skip
        assert sum(expected.values()) >= 5  # every step changes real files
        assert step == expected, f"checkout {a[:7]}..{b[:7]}: missing {expected - step}, extra {step - expected}"
    everything = server_events(url, device.token)
    assert not [e for e in everything if "/.git/" in f"/{e['path']}"]
    assert not [e for e in everything if e["path"].endswith(".log")]
    assert len({e["event_id"] for e in everything}) == len(everything)
    tracked = {f"work/{p}" for rev in revs for p in git(work, "ls-tree", "-r", "--name-only", rev).split()}
    assert {e["path"] for e in everything if e["kind"] == "open"} <= tracked  # no phantom opens


@pytest.mark.slow
def test_server_down_then_back_every_event_exactly_once(env, device, tmp_path, agents, agent_config):
    root = tmp_path / "docs"
    root.mkdir()
    port = free_port()
    expected: collections.Counter[tuple[str, str]] = collections.Counter()
    with serve_on(env, port) as url:
        agent = agents(env, tmp_path / "state", [str(root)], "--server", url, "--token", device.token,
                       "--config", str(agent_config))  # fmt: skip
        for i in range(40):
            (root / f"before-{i}.md").write_text(str(i))
            expected["create", f"before-{i}.md"] += 1
        settle(url, device.token, root)
    # the server is down; the person goes on working
    for i in range(40):
        (root / f"during-{i}.md").write_text(str(i))
        expected["create", f"during-{i}.md"] += 1
    for i in range(10):
        (root / f"before-{i}.md").write_text("edited")
        expected["modify", f"before-{i}.md"] += 1
    for i in range(30, 35):
        (root / f"before-{i}.md").unlink()
        expected["delete", f"before-{i}.md"] += 1
    wait_for(lambda: agent.status().get("queued", 0) >= 55 and agent.status().get("last_error"),
             what="the agent to queue the events and report the outage")  # fmt: skip
    assert "unreachable" in agent.status()["last_error"]
    with serve_on(env, port) as url:
        events = settle(url, device.token, root)
        assert as_changes(events) == expected
        assert len({e["event_id"] for e in events}) == len(events)
        wait_for(lambda: agent.status().get("queued") == 0, what="an empty spool")


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_every_event_exactly_once(env, device, engine, tmp_path, agents, agent_config):
    root = tmp_path / "watched"  # not tmp_path / "data": that is the server's FLOYO_DATA_DIR (metrics, secrets)
    root.mkdir()
    n = 2000
    server_env = {**env, "FLOYO_MAX_BATCH_EVENTS": "100"}  # many small batches, so the kill lands mid-stream

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events WHERE user_id = :u"),
                                    {"u": device.user_id}).scalar_one())  # fmt: skip

    with serve_on(server_env, free_port()) as url:
        args = ([str(root)], "--server", url, "--token", device.token, "--config", str(agent_config))
        agent = agents(env, tmp_path / "state", *args)
        for i in range(n):
            (root / f"f{i:05}.csv").write_text("a,b\n")
        wait_for(lambda: 0 < stored() < n, timeout=30, what="the first batches to arrive")
        agent.kill()
        killed_at = stored()
        # the person keeps working while the agent is dead
        for i in range(0, 50):
            (root / f"f{i:05}.csv").write_text("a,b\n1,2\n")
        (root / "late.csv").write_text("x")
        agent = agents(env, tmp_path / "state", *args)
        # the restart's rescan reports what the killed agent had not spooled, dated by the files' mtimes: earlier
        # than events already stored, which a paged read under way can miss; settle reads again after its sentinel
        events = settle(url, device.token, root)
    assert killed_at < n
    changes = as_changes(events)
    assert {k: v for k, v in changes.items() if v != 1} == {}
    creates = {p for k, p in changes if k == "create"}
    assert creates == {f"f{i:05}.csv" for i in range(n)} | {"late.csv"}
    assert {p for k, p in changes if k == "modify"} == {f"f{i:05}.csv" for i in range(50)}
    assert len({e["event_id"] for e in events}) == len(events)


def test_exclusions_never_reach_the_server(env, device, engine, tmp_path, agents, agent_config, shared_server):
    root = tmp_path / "home"
    for d in (".git", ".ssh", "node_modules/lib", ".venv/lib", "build", "__pycache__", "ignored_dir", "keep", "logs"):
        (root / d).mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\nignored_dir/\n")
    url = shared_server
    agents(env, tmp_path / "state", [f"home={root}"], "--server", url, "--token", device.token,
           "--config", str(agent_config), "--exclude", "*.bak")  # fmt: skip
    excluded = [".git/HEAD", ".git/objects.pack", ".ssh/id_rsa", ".ssh/config", "node_modules/lib/index.js",
                ".venv/lib/site.py", "build/out.o", "__pycache__/a.pyc", "ignored_dir/x.txt", "logs/app.log",
                "keep/old.bak", "keep/server.pem", "keep/credentials.json", ".env", "keep/.main.py.swp"]  # fmt: skip
    included = ["keep/data.csv", "keep/notes.md", "logs/readme.txt"]
    for rel in excluded + included:
        (root / rel).write_text("secret? " + rel)
    events = settle(url, device.token, root)
    assert sorted(e["path"] for e in events) == sorted(included)
    with engine.connect() as conn:
        paths = conn.execute(text("SELECT path, coalesce(dest_path, '') FROM events WHERE user_id = :u"),
                             {"u": device.user_id}).all()  # fmt: skip
    assert not [p for p in paths if any(bad in p[0] + p[1] for bad in (".git", ".ssh", "node_modules", ".log", "pem"))]


def test_privacy_mode_sends_stable_keyed_hashes(env, device, tmp_path, agents, shared_server):
    root = tmp_path / "private"
    (root / "clients" / "acme").mkdir(parents=True)
    key = "k" * 32
    config = write_config(tmp_path / "agent.toml", privacy=True, privacy_key=key, debounce_seconds=0.3,
                          backoff_max_seconds=1.0)  # fmt: skip

    def hashed(rel: str) -> str:
        return hash_path(rel, key.encode())

    url = shared_server
    args = ([str(root)], "--server", url, "--token", device.token, "--config", str(config))
    agent = agents(env, tmp_path / "state", *args)
    (root / "clients" / "acme" / "Invoice 2026.PDF").write_bytes(b"%PDF")
    events = settle(url, device.token, root, name=hashed)
    assert [(e["kind"], e["path"], e["ext"]) for e in events] == [
        ("create", hashed("clients/acme/Invoice 2026.PDF"), "pdf")
    ]
    assert "acme" not in events[0]["path"]
    assert events[0]["path"].endswith(".pdf")
    assert agent.stop() == 0  # SIGTERM: a clean exit
    agents(env, tmp_path / "state", *args)  # same key after a restart: same hashes
    (root / "clients" / "acme" / "Invoice 2026.PDF").write_bytes(b"%PDF-2")
    events = settle(url, device.token, root, name=hashed)
    assert [(e["kind"], e["path"]) for e in events][-1] == ("modify", hashed("clients/acme/Invoice 2026.PDF"))
    assert hash_path("clients/acme/a.pdf", b"another key") != hashed("clients/acme/a.pdf")
