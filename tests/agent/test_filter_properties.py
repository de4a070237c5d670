"""Properties of the agent's path filters (Hypothesis): what is excluded stays excluded, whatever surrounds it.

The promise is "never sends what the user excluded": an excluded folder excludes everything below it, a secret's
name is excluded in any folder, a user's glob wins over everything, and the filter never fails on odd names.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.filters import PathFilter
from floyo.privacy import EXCLUDED_DIR_NAMES, SENSITIVE_DIR_NAMES, is_excluded_path

# names as people make them: letters, digits, dots, dashes, spaces, unicode; never "/" or NUL, never "." / ".."
NAME = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"), min_size=1, max_size=20).filter(
    lambda s: s not in (".", "..")
)
FOLDERS = st.lists(NAME, min_size=0, max_size=4)
SECRETS = st.sampled_from(["id_rsa", "id_ed25519.pub", "server.pem", "tls.key", ".env", ".env.local", ".netrc",
                           "credentials", "aws_secret.txt", ".git-credentials", "vault.kdbx"])  # fmt: skip
SETTINGS = settings(max_examples=150, deadline=None)


def _filter(tmp_path: Path, globs: tuple[str, ...] = ()) -> PathFilter:
    return PathFilter(tmp_path, user_globs=globs)


@SETTINGS
@given(before=FOLDERS, excluded=st.sampled_from(sorted(EXCLUDED_DIR_NAMES | SENSITIVE_DIR_NAMES)), after=FOLDERS,
       name=NAME)  # fmt: skip
def test_anything_below_an_excluded_folder_is_excluded(tmp_path_factory, before, excluded, after, name):
    rel = "/".join([*before, excluded, *after, name])
    assert _filter(tmp_path_factory.getbasetemp()).excluded(rel)
    assert is_excluded_path(rel)  # the server's own check agrees (defence in depth)


@SETTINGS
@given(folders=FOLDERS, secret=SECRETS)
def test_a_secrets_name_is_excluded_in_any_folder(tmp_path_factory, folders, secret):
    rel = "/".join([*folders, secret])
    assert _filter(tmp_path_factory.getbasetemp()).excluded(rel)
    assert is_excluded_path(rel)


@SETTINGS
@given(folders=FOLDERS, stem=NAME, ext=st.sampled_from(["csv", "tex", "py", "md", "jpg"]))
def test_a_users_glob_excludes_whatever_else_would_be_kept(tmp_path_factory, folders, stem, ext):
    rel = "/".join([*folders, f"{stem}.{ext}"])
    assert _filter(tmp_path_factory.getbasetemp(), (f"*.{ext}",)).excluded(rel)


@SETTINGS
@given(folders=FOLDERS, name=NAME, is_dir=st.booleans())
def test_the_filter_answers_for_any_name_and_its_answer_is_stable(tmp_path_factory, folders, name, is_dir):
    path_filter = _filter(tmp_path_factory.getbasetemp())
    rel = "/".join([*folders, name])
    first = path_filter.excluded(rel, is_dir=is_dir)
    assert isinstance(first, bool)
    assert path_filter.excluded(rel, is_dir=is_dir) is first
    if is_excluded_path(rel):
        assert first  # the agent drops at least what the server would refuse: nothing excluded is ever spooled
