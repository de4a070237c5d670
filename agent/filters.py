"""Which paths under a watched root are recorded: built-in exclusions, the root's .gitignore files, user globs."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pathspec

from floyo.privacy import is_excluded_dir_name, is_excluded_path


class PathFilter:
    """Decides for one root; ``.gitignore`` files are read as they are found and re-read when they change."""

    def __init__(self, root: Path, *, user_globs: tuple[str, ...] = (), own_dirs: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.user_globs = user_globs
        self._own = tuple(str(d.resolve()) for d in own_dirs)
        self._gitignores: dict[str, pathspec.GitIgnoreSpec] = {}  # folder relative to root ('' = root) -> spec
        self._venvs: dict[str, bool] = {}

    def load_gitignore(self, rel_dir: str) -> None:
        """(Re)read ``rel_dir/.gitignore``; a missing file drops the folder's rules."""
        file = self.root / rel_dir / ".gitignore"
        try:
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            self._gitignores.pop(rel_dir, None)
            return
        self._gitignores[rel_dir] = pathspec.GitIgnoreSpec.from_lines(lines)

    def _own_file(self, rel: str) -> bool:
        if not self._own:
            return False
        full = os.path.join(str(self.root), rel)
        return any(full == d or full.startswith(d + os.sep) for d in self._own)

    def _ignored_by_git(self, rel: str, *, is_dir: bool) -> bool:
        for folder, spec in self._gitignores.items():
            if folder and not rel.startswith(folder + "/"):
                continue
            sub = rel[len(folder) + 1 :] if folder else rel
            if spec.match_file(sub + "/" if is_dir else sub):
                return True
        return False

    def _user_excluded(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(name, g) for g in self.user_globs)

    def excluded(self, rel: str, *, is_dir: bool = False) -> bool:
        """True when the file (or folder) at ``rel``, relative to the root, must not be recorded."""
        if not rel or rel == ".":
            return False
        if is_excluded_path(rel) or (is_dir and is_excluded_dir_name(rel.rsplit("/", 1)[-1])):
            return True
        if self._own_file(rel) or self._user_excluded(rel):
            return True
        # a file is ignored when it or any parent folder is ignored
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if self._ignored_by_git(folder, is_dir=True) or self._is_virtualenv(folder):
                return True
        return self._ignored_by_git(rel, is_dir=is_dir) or (is_dir and self._is_virtualenv(rel))

    def _is_virtualenv(self, folder: str) -> bool:
        """A virtualenv of any name has a pyvenv.cfg (remembered per folder: one stat each)."""
        known = self._venvs.get(folder)
        if known is None:
            if len(self._venvs) > 10_000:
                self._venvs.clear()
            known = self._venvs[folder] = os.path.isfile(os.path.join(self.root, folder, "pyvenv.cfg"))
        return known

    def walk(self) -> dict[str, tuple[int, int, int]]:
        """Every recorded file under the root with its (mtime_ns, size, inode); reads ``.gitignore`` files on the way."""
        return dict(self.iter_walk())

    def iter_walk(self) -> Iterator[tuple[str, tuple[int, int, int]]]:
        """Like ``walk``, one file at a time (a 50,000-file tree never sits in memory)."""
        self._gitignores.clear()
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            if ".gitignore" in filenames:
                self.load_gitignore(rel_dir)
            dirnames[:] = [d for d in dirnames if not self.excluded(f"{rel_dir}/{d}" if rel_dir else d, is_dir=True)]
            for name in filenames:
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if self.excluded(rel):
                    continue
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    yield rel, (st.st_mtime_ns, st.st_size, st.st_ino)
