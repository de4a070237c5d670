"""Exclusions and keyed hashing (floyo.privacy, shared with the server) and the agent's path filter."""

from __future__ import annotations

import pytest

from agent.filters import PathFilter
from floyo.privacy import hash_path, is_excluded_path


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD", "src/.git/objects/ab/cd", "web/node_modules/react/index.js", ".venv/bin/python",
        "pkg/__pycache__/m.cpython-311.pyc", "build/lib/x.py", "a.egg-info/PKG-INFO", ".ssh/id_ed25519",
        "home/.ssh/config", ".gnupg/pubring.kbx", "deploy/server.key", "certs/site.pem", "id_rsa.pub",
        "aws/credentials", ".env", "app/.env.production", "notes/.todo.md.swp", "report.docx~",
        ".~lock.budget.ods#", "4913", "x___jb_tmp___",
    ],
)  # fmt: skip
def test_excluded_and_sensitive_paths(path):
    assert is_excluded_path(path)


@pytest.mark.parametrize("path", ["src/app.py", "data/sales.csv", "docs/build.md", "README", "keys.txt/a"])
def test_ordinary_paths_are_kept(path):
    assert not is_excluded_path(path)


def test_hashes_are_stable_per_key_and_keep_only_the_extension():
    key = b"0123456789abcdef0123456789abcdef"
    first = hash_path("clients/acme/Q3 report.XLSX", key)
    assert first == hash_path("clients/acme/Q3 report.XLSX", key)
    assert first != hash_path("clients/acme/Q3 report.XLSX", b"another key")
    dirs = first.split("/")
    assert len(dirs) == 3
    assert dirs[-1].endswith(".xlsx")
    assert "acme" not in first
    assert "clients" not in first
    # the same folder hashes the same everywhere, so patterns per folder survive hashing
    assert hash_path("clients/acme/other.csv", key).split("/")[:2] == dirs[:2]


def test_gitignore_files_and_user_globs(tmp_path):
    root = tmp_path / "r"
    (root / "sub" / "out").mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\n/secret/\n!keep.log\n")
    (root / "sub" / ".gitignore").write_text("out/\n*.tmp.csv\n")
    for rel in ["a.log", "keep.log", "b.py", "sub/out/x.txt", "sub/c.tmp.csv", "sub/d.csv", "scratch.bak"]:
        (root / rel).write_text("x")
    (root / "secret").mkdir()
    (root / "secret" / "s.txt").write_text("x")
    (root / "myenv" / "lib").mkdir(parents=True)  # a virtualenv by any name
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "myenv" / "lib" / "site.py").write_text("x")
    f = PathFilter(root, user_globs=("*.bak",))
    assert sorted(f.walk()) == [".gitignore", "b.py", "keep.log", "sub/.gitignore", "sub/d.csv"]
    assert f.excluded("myenv/lib/new.py")
    assert f.excluded("sub/out/new.txt")
    assert f.excluded("secret/new.txt")
    assert not f.excluded("sub/new.txt")


def _excluded_by_components(path: str) -> bool:
    """The rule spelled out component by component: the reference the one-regex version must agree with."""
    from floyo.privacy import is_editor_temp, is_excluded_dir_name, is_sensitive_path

    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return False
    if any(is_excluded_dir_name(p) for p in parts[:-1]):
        return True
    return is_sensitive_path(path) or is_editor_temp(parts[-1]) or is_excluded_dir_name(parts[-1])


def test_the_one_regex_agrees_with_the_component_rules_on_many_paths():
    import random

    names = [
        "src", "notes.md", ".git", ".GIT", "node_modules", "x.egg-info", ".Trash-1000", "id_rsa.pub", "ID_RSA",
        "Credentials", "my_secret_notes.md", "a.swp", ".a.md.swo", "file~", "4913", "#x#", ".#x", "main.py",
        "build", "builder", ".ssh", "ssh", ".env", ".env.local", "prod.env", "envy.txt", "key.PEM", "a.key.bak",
        "x___jb_tmp___", ".~lock.doc#", "dl.crdownload", ".venv", "venv2", "dist", "a.b.c", "", ".", "..",
    ]  # fmt: skip
    rng = random.Random(11)
    for _ in range(20_000):
        path = rng.choice(["", "/"]) + rng.choice(["/", "\\"]).join(rng.choices(names, k=rng.randint(1, 4)))
        path += rng.choice(["", "", "/"])
        assert is_excluded_path(path) == _excluded_by_components(path), path
