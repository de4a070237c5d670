"""The local command history: whole command lines for `approve`'s proposal, kept here and never spooled."""

from __future__ import annotations

import os
import time

import orjson
from typer.testing import CliRunner

from agent.config import AgentConfig, load_config
from agent.pause import PauseLog
from agent.spool import Spool
from agent.workflows.history import CommandHistory, argv_of
from floyo.cli import app
from tests.agent.helpers import write_config

runner = CliRunner()


def test_argv_of_keeps_plain_commands_and_refuses_shell_syntax():
    assert argv_of("FOO=1 pandoc notes.md -o 'my notes.pdf'") == ["pandoc", "notes.md", "-o", "my notes.pdf"]
    for line in ("ls | wc -l", "make && make install", "echo $(date)", "sort <in >out", "a 'unbalanced", ""):
        assert argv_of(line) is None, line


def test_record_run_keeps_the_line_locally_and_sends_only_the_program(tmp_path):
    root = tmp_path / "thesis"
    (root / "chapters").mkdir(parents=True)
    (root / "private").mkdir()
    state = tmp_path / "state"
    config = write_config(tmp_path / "agent.toml", roots={"thesis": str(root)}, exclude=["private"])

    def record(line: str, cwd) -> None:
        result = runner.invoke(app, ["agent", "record-run", "--command", line, "--exit-code", "0", "--cwd", str(cwd),
                                     "--config", str(config), "--state-dir", str(state)])  # fmt: skip
        assert result.exit_code == 0, result.output

    record("pandoc ch1.md -o ch1.pdf --citeproc", root / "chapters")
    record("pandoc ch1.md -o ch1.pdf --citeproc", root / "chapters")
    record("pandoc ch2.md -o ch2.pdf", root / "chapters")
    record("pandoc secret-diary.md -o diary.pdf", root / "private")  # excluded folder
    record("pandoc elsewhere.md -o x.pdf", tmp_path)  # outside every root
    PauseLog(state).switch(True)
    record("pandoc while-paused.md -o x.pdf", root / "chapters")
    PauseLog(state).switch(False)

    history = CommandHistory(load_config(config, state_dir=state))
    assert history.lines() == 3
    assert history.propose(root="thesis", folder="chapters", tool="pandoc") == [
        "pandoc", "ch1.md", "-o", "ch1.pdf", "--citeproc",
    ]  # fmt: skip
    assert history.propose(root="thesis", folder="", tool="pandoc") is None
    assert history.propose(root="thesis", folder="chapters", tool="latexmk") is None
    assert os.stat(history.path).st_mode & 0o777 == 0o600

    spool = Spool(state / "spool.sqlite3")
    bodies = [orjson.loads(b) for _, b in spool.peek(100, 1 << 30)]
    spool.close()
    assert [(e["tool"], e["root"], e["path"]) for e in bodies] == [
        ("pandoc", "thesis", "chapters"), ("pandoc", "thesis", "chapters"), ("pandoc", "thesis", "chapters"),
        ("pandoc", "thesis", ""), ("pandoc", "shell", ""),
    ]  # fmt: skip
    spooled = b"".join(p.read_bytes() for p in state.glob("spool.sqlite3*"))  # the WAL too
    for word in (b"ch1.md", b"ch2.pdf", b"--citeproc", b"secret-diary", b"elsewhere"):
        assert word not in spooled


def test_the_history_is_bounded_by_age_and_lines(tmp_path):
    config = AgentConfig(state_dir=tmp_path / "state", history_days=1, history_max_lines=5)
    history = CommandHistory(config)
    history.record(root="r", folder="", command_line="make old", at=time.time() - 2 * 86400)
    for i in range(8):
        history.record(root="r", folder="", command_line=f"make t{i}", at=time.time())
    assert history.lines() == 5
    assert history.propose(root="r", folder="", tool="make") == ["make", "t7"]  # a tie: the latest wins
