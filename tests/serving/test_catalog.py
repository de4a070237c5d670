"""The catalog is data, validated at load: a broken one fails in one line naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from floyo.cli import app
from serving.catalog import CATALOG_PATH, TEMPLATE_IDS, CatalogError, Entry, load_catalog

GOOD = CATALOG_PATH.read_text(encoding="utf-8")


def _id(entry: Entry | None) -> str | None:
    return None if entry is None else entry.id


def test_the_packaged_catalog_has_every_template_with_a_sourced_effort() -> None:
    catalog = load_catalog()
    assert [e.id for e in catalog.entries] == list(TEMPLATE_IDS)
    assert all(e.effort.seconds > 0 and len(e.effort.source) > 20 for e in catalog.entries)
    assert _id(catalog.match("file_run", "latexmk")) == "run_on_save"
    assert _id(catalog.match("file_run", "rsync")) == "backup_folder"
    assert _id(catalog.match("run_run", "npm test", "git commit")) == "test_before_commit"
    assert catalog.match("run_run", "ls", "git") is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      seconds: 8.0\n", "      seconds: -1\n",
         "catalog catalog.yaml: entry 'file_downloads': effort.seconds: Input should be greater than 0"),
        ('title: "Tell me when $tool finishes"', 'title: "Tell me when $tol finishes"',
         "catalog catalog.yaml: entry 'notify_long_run': title: unknown placeholder $tol"),
        ("        actions: [{type: move, dest: \"$dest/{trigger.name}\"}]",
         "        actions: [{type: move, dest: \"/tmp/{trigger.name}\"}]",
         "catalog catalog.yaml: entry 'file_downloads': workflow create_move: actions.0.move.dest: Value error, dest must be relative"),
        ('        actions: [{type: move, dest: "$dest/{trigger.name}"}]', '        actions: [{type: move, dest: "$dst/{trigger.name}"}]',
         "catalog catalog.yaml: entry 'file_downloads': workflow create_move: unknown placeholder $dst"),
        ("  - id: scheduled_job", "  - id: cron_job", "catalog catalog.yaml: entry 'cron_job': id: unknown template id 'cron_job'"),
        ("    shapes: [long_run]", "    shapes: [long_run, schedule]",
         "catalog catalog.yaml: entry 'notify_long_run': workflow needs one template per shape (long_run, schedule)"),
        ("  - id: run_on_save\n    name: Run a tool on save", "  - id: run_on_save\n    name: [", "catalog catalog.yaml: not valid YAML at line"),
    ],
)  # fmt: skip
def test_a_broken_catalog_fails_in_one_line_naming_the_entry(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    broken = tmp_path / "catalog.yaml"
    broken.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_catalog(broken)
    assert raised.value.message.startswith(message), raised.value.message
    assert "\n" not in raised.value.message
    result = CliRunner().invoke(app, ["catalog", "check", str(broken)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {raised.value.message}"]


def test_a_missing_entry_is_named(tmp_path: Path) -> None:
    cut = GOOD[: GOOD.index("  - id: scheduled_job")]
    (tmp_path / "c.yaml").write_text(cut, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^catalog c.yaml: no entry for scheduled_job$"):
        load_catalog(tmp_path / "c.yaml")


def test_catalog_check_says_ok() -> None:
    result = CliRunner().invoke(app, ["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 7 entries")
