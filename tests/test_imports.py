"""The house without circles: every import of every module (inside functions too), one way between the parts.

Read with ``ast``, nothing is imported: an import inside a function counts as much as one at the top, since it
ties the two modules together all the same. ``bench/`` and ``tests/`` are exempt.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("floyo", "agent", "ingest", "features", "models", "serving", "app_streamlit", "jobs")
# which other parts a part may import: serving -> models -> features -> floyo, serving -> ingest -> floyo,
# agent -> floyo, jobs over them all; the dashboard talks to the server over HTTP only
ALLOWED: dict[str, set[str]] = {
    "floyo": set(),
    "agent": {"floyo"},
    "ingest": {"floyo"},
    "features": {"floyo"},
    "models": {"features", "floyo"},
    "serving": {"models", "features", "ingest", "floyo"},
    "app_streamlit": set(),
    "jobs": {"serving", "models", "features", "ingest", "agent", "floyo"},
}
# the composition root: the kernel modules that put the parts together; nothing else imports them
COMPOSITION_ROOT = {"floyo.cli", "floyo.demo", "floyo.demo_data", "floyo.__main__"}


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a module of the packages."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        path = self.importer.replace(".", "/")
        return f"{self.importer} imports {self.imported} ({path}.py line {self.line})"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import in ``path`` that lands on a module of the packages, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` the module mod
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != module:
                found.append(Import(module, resolved, node.lineno))
    return sorted(set(found), key=lambda i: (i.line, i.imported))


def import_graph() -> dict[str, list[Import]]:
    """Module -> its imports of other modules of the packages."""
    modules = _modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter({i.imported for i in graph[root]}))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter({i.imported for i in graph.get(child, [])})))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def forbidden(graph: dict[str, list[Import]]) -> list[Import]:
    """Imports against the direction of the parts, or into the composition root from outside it."""
    bad = []
    for imports in graph.values():
        for imp in imports:
            src, dst = imp.importer.split(".")[0], imp.imported.split(".")[0]
            if imp.importer in COMPOSITION_ROOT:
                continue  # the root puts the parts together: it may import any of them
            if imp.imported in COMPOSITION_ROOT or (src != dst and dst not in ALLOWED[src]):
                bad.append(imp)
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return import_graph()


def test_the_walker_sees_every_package_and_imports_inside_functions(graph: dict[str, list[Import]]) -> None:
    assert {m.split(".")[0] for m in graph} == set(PACKAGES)
    # floyo.cli registers the parts' commands with imports inside a function: they must be seen
    assert {"features.cli", "models.cli", "jobs.cli"} <= {i.imported for i in graph["floyo.cli"]}


def test_no_module_imports_one_that_imports_it_back(graph: dict[str, list[Import]]) -> None:
    found = cycles(graph)
    details = [
        f"cycle {' <-> '.join(c)}: " + "; ".join(str(i) for m in c for i in graph[m] if i.imported in c) for c in found
    ]
    assert not found, "\n".join(details)


def test_imports_go_one_way_between_the_parts(graph: dict[str, list[Import]]) -> None:
    bad = forbidden(graph)
    assert not bad, "forbidden imports:\n" + "\n".join(map(str, bad))


def test_the_cli_helpers_are_a_leaf_of_the_kernel(graph: dict[str, list[Import]]) -> None:
    assert {i.imported for i in graph["floyo.cli_support"]} <= {"floyo.errors"}


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The walker finds a cycle hidden in a function and an upward import, naming the line."""
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "a.py").write_text("def f():\n    from features import b\n")
    (tmp_path / "features" / "b.py").write_text("from .a import f\nimport ingest.store\n")
    modules = {
        "features.a": tmp_path / "features/a.py",
        "features.b": tmp_path / "features/b.py",
        "ingest.store": Path(),
    }
    fake = {m: imports_of(m, p, modules) for m, p in modules.items() if m.startswith("features")} | {"ingest.store": []}
    assert cycles(fake) == [["features.a", "features.b"]]
    assert [str(i) for i in forbidden(fake)] == ["features.b imports ingest.store (features/b.py line 2)"]
