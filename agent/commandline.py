"""The program a command line runs, and its subcommand when the vocabulary shipped in ``commands.toml`` has it.

Nothing else of the line is kept: wrappers (``sudo -u bob``, ``nice -n 19``, ``timeout 5``) are skipped with
their options, runners name what they run (``npx eslint`` -> ``eslint``, ``python -m pytest`` -> ``pytest``),
and a line the shell runs itself (``cd``, ``export``, a ``for`` loop) records nothing.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

MAX_NAME = 256
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
_VERSION_SUFFIX = re.compile(r"[0-9][0-9.]*$")
_OPERATORS = ";&|()"
_REDIRECTIONS = "<>"
_GROUPING = frozenset({"{", "!"})


@dataclass(frozen=True)
class Command:
    """What a run event keeps of a command line."""

    tool: str
    subcommand: str | None = None


@dataclass(frozen=True)
class _Spec:
    options: frozenset[str] = frozenset()  # options that take an argument
    positionals: int = 0
    shell: bool = False
    via: tuple[tuple[str, ...], ...] = ()
    module: frozenset[str] = frozenset()
    inline: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()


def _spec(doc: dict[str, Any]) -> _Spec:
    return _Spec(
        options=frozenset(doc.get("options", ())),
        positionals=int(doc.get("positionals", 0)),
        shell=bool(doc.get("shell", False)),
        via=tuple(tuple(v.split()) for v in doc.get("via", ())),
        module=frozenset(doc.get("module", ())),
        inline=frozenset(doc.get("inline", ())),
        words=frozenset(doc.get("words", ())),
    )


@dataclass(frozen=True)
class Vocabulary:
    """The data of ``commands.toml``."""

    keywords: frozenset[str]
    builtins: frozenset[str]
    wrappers: dict[str, _Spec]
    runners: dict[str, _Spec]
    interpreters: dict[str, _Spec]
    subcommands: dict[str, _Spec]


@functools.cache
def vocabulary() -> Vocabulary:
    """The vocabulary shipped with the agent (read once)."""
    doc = tomllib.loads(resources.files("agent").joinpath("commands.toml").read_text())
    return Vocabulary(
        keywords=frozenset(doc["shell"]["keywords"]),
        builtins=frozenset(doc["shell"]["builtins"]),
        **{part: {name: _spec(v) for name, v in doc[part].items()} for part in
           ("wrappers", "runners", "interpreters", "subcommands")},
    )  # fmt: skip


def simple_command(line: str) -> list[str]:
    """The words of the first simple command of ``line`` (up to ``;``, ``&&``, ``|``…), redirections left out."""
    text = line.replace("\\\n", " ").strip()
    first = text.splitlines()[0] if text else ""
    lexer = shlex.shlex(first, posix=True, punctuation_chars=_OPERATORS + _REDIRECTIONS)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # an unterminated quote: the words as typed
        tokens = first.split()
    words: list[str] = []
    skip = False
    for tok in tokens:
        if skip:
            skip = False
        elif tok and all(c in _OPERATORS + _REDIRECTIONS for c in tok):
            if any(c in _REDIRECTIONS for c in tok):
                skip = True  # the redirection's target
            elif words or tok != "(":  # a leading "(" opens a subshell: its first command is the one
                break
        else:
            words.append(tok)
    return words


def _options(
    words: list[str], i: int, takes: frozenset[str], stops: frozenset[str] = frozenset()
) -> tuple[int, str | None, str | None]:
    """Skip the options from ``words[i]``; returns (first operand's index, stop option met, its argument)."""
    while i < len(words):
        word = words[i]
        if word == "--":
            return i + 1, None, None
        if len(word) < 2 or not word.startswith("-"):
            break
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in stops or name in takes:
            arg = value if eq else (words[i + 1] if i + 1 < len(words) else None)
            nxt = i + 1 if eq else i + 2
            if name in stops:
                return nxt, name, arg
            i = nxt
            continue
        i += 1
        if word.startswith("--"):
            continue
        for k in range(1, len(word)):  # a cluster of short options: -Eu bob, -c3, -um pytest
            letter = "-" + word[k]
            if letter in stops or letter in takes:
                attached = word[k + 1 :]
                arg = attached or (words[i] if i < len(words) else None)
                if not attached:
                    i += 1
                if letter in stops:
                    return i, letter, arg
                break
    return i, None, None


def _name(word: str) -> str:
    return os.path.basename(word.rstrip("/"))[:MAX_NAME]


def _lookup(table: dict[str, _Spec], name: str) -> tuple[str, _Spec] | None:
    """``name``'s entry, also under its name without a version suffix (python3.12, pip3)."""
    for key in (name, _VERSION_SUFFIX.sub("", name)):
        if key in table:
            return key, table[key]
    return None


def subcommand_of(tool: str, args: list[str]) -> str | None:
    """The subcommand after ``tool`` when the vocabulary lists it for that tool."""
    found = _lookup(vocabulary().subcommands, tool)
    if found is None:
        return None
    spec = found[1]
    j, _, _ = _options(args, 0, spec.options)
    return args[j] if j < len(args) and args[j] in spec.words else None


def _package(word: str) -> str:
    """A runner's package argument without its version: ``create-vite@5`` -> ``create-vite``."""
    if word.startswith("@"):
        scope, _, rest = word[1:].partition("/")
        return "@" + scope + "/" + rest.partition("@")[0] if rest else word
    return word.partition("@")[0] or word


def parse_command(line: str) -> Command | None:
    """The program ``line`` runs (and its subcommand); None when the shell runs it itself or it is unknowable."""
    return _resolve(simple_command(line))


def _resolve(words: list[str]) -> Command | None:
    vocab = vocabulary()
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word) or word in _GROUPING:
            i += 1
            continue
        if word.startswith("$") or "`" in word or not word:
            return None  # the program is in a variable or a substitution: unknown here
        name = _name(word)
        if "/" not in word and (word in vocab.keywords or word in vocab.builtins):
            return None
        if name in vocab.wrappers:
            spec = vocab.wrappers[name]
            stops = frozenset({"-v", "-V"}) if name == "command" else frozenset()  # `command -v x` only looks x up
            j, stop, _ = _options(words, i + 1, spec.options, stops)
            if stop:
                return None
            j += spec.positionals
            if j >= len(words):
                return None if spec.shell else Command(name)
            i = j
            continue
        runner = _runner(words, i, name)
        if runner is not None:
            j, via = runner
            if j >= len(words):
                return Command(name, via)
            if words[j].startswith("@"):
                return Command(_package(words[j])[:MAX_NAME])
            words = [*words[:j], _package(words[j]), *words[j + 1 :]]
            i = j
            continue
        interpreter = _lookup(vocab.interpreters, name)
        if interpreter is not None:
            return _interpreted(name, interpreter[1], words[i + 1 :])
        return Command(name, subcommand_of(name, words[i + 1 :])) if name else None
    return None


def _runner(words: list[str], i: int, name: str) -> tuple[int, str | None] | None:
    """(index of the program a runner runs, the runner's own word such as ``run``), None when not one."""
    spec = vocabulary().runners.get(name)
    if spec is None:
        return None
    j = i + 1
    via = None
    if spec.via:
        j, _, _ = _options(words, j, spec.options)
        matched = next((v for v in spec.via if tuple(words[j : j + len(v)]) == v), None)
        if matched is None:
            return None
        j += len(matched)
        via = matched[0]
    j, _, _ = _options(words, j, spec.options)
    return j, via


def _interpreted(name: str, spec: _Spec, args: list[str]) -> Command:
    j, stop, arg = _options(args, 0, spec.options, spec.module | spec.inline)
    if stop in spec.module and arg:
        module = arg[:MAX_NAME]
        return Command(module, subcommand_of(module, args[j:]))
    if stop in spec.inline or j >= len(args) or args[j] == "-":
        return Command(name)
    return Command(_name(args[j]) or name)
