"""The house plan (DESIGN.md, "Packages and who may import whom"), checked on the source itself.

Every import in the project, including those inside functions, is read with `ast`: a forbidden
edge or an import cycle fails here with the modules named, before it can creep in unnoticed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "rules", "reporter", "installers")
COMPOSITION_ROOTS = ("agent.cli", "agent.proxy.runner")
"""May import everything, and hand collaborators in."""


@dataclass(frozen=True)
class Edge:
    """`source` imports `target` (both project modules), at `line` of the source's file."""

    source: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


MODULES = {module_name(path): path for path in project_files()}


def resolve(name: str) -> str | None:
    """The project module `name` stands for (a module, or the package it names), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """Every module `path` imports, with the line; `from pkg import mod` names `pkg.mod`."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full if full in MODULES else node.module), node.lineno


def edges() -> list[Edge]:
    found = []
    for source, path in MODULES.items():
        for name, line in imports_of(path):
            target = resolve(name)
            if target is not None and target != source:
                found.append(Edge(source, target, line))
    return found


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def allowed(edge: Edge) -> bool:
    """DESIGN.md's import rules."""
    source, target = edge.source, edge.target
    if target == "agent.lazy_names":  # how the foundation packages export their names
        return within(source, "agent.config", "agent.journal")
    if within(source, "rules"):
        return within(target, "rules")
    if within(source, "reporter"):
        return within(target, "reporter", "rules", "agent.config", "agent.journal")
    if within(source, "installers"):
        return within(target, "installers", "rules", "agent.config")
    if within(source, "agent.config", "agent.journal"):
        return within(target, "agent.config", "agent.journal", "rules")
    if within(source, *COMPOSITION_ROOTS):
        return True
    return not within(target, "reporter", "installers")


def test_the_walk_sees_the_whole_project() -> None:
    assert {"agent.cli.main", "agent.proxy.runner", "reporter.build", "rules.matcher"} <= set(
        MODULES
    )
    assert Edge("agent.proxy.runner", "agent.journal", 1).target in MODULES
    assert any(e.source == "agent.cli.main" for e in edges())


def test_every_import_follows_the_house_plan() -> None:
    forbidden = [
        f"{e.source} imports {e.target} (line {e.line})" for e in edges() if not allowed(e)
    ]
    assert forbidden == []


def test_the_rules_apply_as_written() -> None:
    assert not allowed(Edge("rules.matcher", "agent.config", 1))
    assert not allowed(Edge("reporter.build", "agent.policy.rulebook", 1))
    assert allowed(Edge("reporter.build", "agent.journal.events", 1))
    assert not allowed(Edge("installers.checks", "agent.journal", 1))
    assert not allowed(Edge("agent.health.status", "reporter.consent", 1))
    assert allowed(Edge("agent.cli.report", "reporter.consent", 1))
    assert allowed(Edge("agent.proxy.runner", "installers.checks", 1))
    assert not allowed(Edge("agent.journal.store", "agent.policy.rulebook", 1))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, however indirectly."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_there_are_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for edge in edges():
        graph.setdefault(edge.source, set()).add(edge.target)
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def private_uses(path: Path) -> Iterator[str]:
    """Imports of `_private` names, and `x._private` where x is not `self` or `cls`."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"line {node.lineno}: imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                yield f"line {node.lineno}: uses .{node.attr}"


PUBLIC_UNDERSCORED = {"_exit"}
"""Standard-library names that are public despite the underscore (`os._exit`)."""


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


@pytest.mark.parametrize(
    "path",
    [
        *project_files(),
        *sorted((REPO / "tests").glob("*.py")),
        *sorted((REPO / "bench").glob("*.py")),
    ],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_private_names_across_modules(path: Path) -> None:
    assert list(private_uses(path)) == []


WRITING_CALLS = {
    "write_text", "write_bytes", "mkstemp", "NamedTemporaryFile", "mkdir", "unlink", "replace",
    "rename", "rmtree", "copyfile", "copytree", "chmod", "touch",
}  # fmt: skip


def test_rules_writes_no_files() -> None:
    """`rules/` is pure: it reads (lists, mapped caches) but never writes."""
    found = []
    for path in sorted((REPO / "rules").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            is_method = isinstance(func, ast.Attribute)  # path.write_text, os.replace, ...
            if is_method and name in WRITING_CALLS and not _is_text_replace(node):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} calls {name}")
            if name == "open" and any(
                isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and set(a.value) & set("wax+")
                for a in [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
            ):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} opens a file to write")
    assert found == []


def _is_text_replace(call: ast.Call) -> bool:
    """`text.replace(old, new)` takes two arguments; `path.replace(target)` and `os.replace(a, b)`
    move files."""
    func = call.func
    is_os = isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "os"
    return getattr(func, "attr", "") in ("replace", "rename") and len(call.args) >= 2 and not is_os
