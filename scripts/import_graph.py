"""The project's imports, read from the code (AST, nothing is imported): modules, edges, packages, circles.

Used by scripts/draw_architecture.py (the picture and its --check) and tests/test_layout.py (the
layout rules). An import is "module" level when it runs on import (the module body, a class body,
an `if`/`try` at the top), "function" level inside a def (runs when called), "typing" under
`if TYPE_CHECKING:` (never runs). `from X import Y` is an edge to X.Y when that is a project module,
else to X; the packages a dotted import passes through (X's __init__) are no edges of their own.

    from import_graph import scan, circles, package_edges
    graph = scan()            # every .py under basics/ morphable/ gan/ rig/ bench/ scripts/
"""
from __future__ import annotations

import ast
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("basics", "morphable", "gan", "rig")
TOOLS = ("bench", "scripts")


@dataclass(frozen=True)
class Import:
    """One import edge: `importer` (a project module) imports `target` (a project module) at `line`."""

    importer: str
    target: str
    line: int
    level: str   # "module", "function" or "typing"


@dataclass
class Graph:
    """The project modules found and every import edge between them."""

    modules: dict[str, Path] = field(default_factory=dict)   # dotted name -> file
    packages: set[str] = field(default_factory=set)          # dotted names that are packages (__init__.py)
    imports: list[Import] = field(default_factory=list)

    def edges(self, levels: Iterable[str] = ("module", "function")) -> list[Import]:
        keep = set(levels)
        return [i for i in self.imports if i.level in keep]


def module_name(path: Path, root: Path = ROOT) -> str:
    """'rig.photo.flow' for ROOT/rig/photo/flow.py; a package's __init__.py is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARY


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_imports(body: list[ast.stmt], level: str):
    """(import node, level) for every import statement in `body`, descending into every block."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, level
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = "typing" if level == "typing" else "function"
            yield from _walk_imports(node.body, inner)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk_imports(node.body, "typing")
            yield from _walk_imports(node.orelse, level)
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, name, []) or []:
                if isinstance(child, ast.stmt):
                    yield from _walk_imports([child], level)
                elif hasattr(child, "body"):   # except handlers, match cases
                    yield from _walk_imports(child.body, level)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (its relative dots resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def scan(root: Path = ROOT, folders: Iterable[str] = LIBRARY + TOOLS) -> Graph:
    """Every module under `folders` of `root` and its imports of other project modules."""
    graph = Graph()
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name = module_name(path, root)
            graph.modules[name] = path
            if path.name == "__init__.py":
                graph.packages.add(name)
    tops = {m.split(".")[0] for m in graph.modules}
    for name, path in graph.modules.items():
        with warnings.catch_warnings():   # a file's own invalid escapes are no concern of the scan
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, level in _walk_imports(tree.body, "module"):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _resolve(name, name in graph.packages, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in graph.modules else base for a in node.names]
            for target in dict.fromkeys(targets):
                while target and target not in graph.modules and "." in target:
                    target = target.rsplit(".", 1)[0]   # `import a.b.c` of a name inside a.b
                if target.split(".")[0] in tops and target in graph.modules and target != name:
                    graph.imports.append(Import(name, target, node.lineno, level))
    return graph


# ---- circles -----------------------------------------------------------------------------------
def _strong_components(nodes: Iterable[str], adj: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(adj.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def _one_cycle(component: list[str], adj: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module, as [a, b, ..., a]."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(adj.get(v, ())):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return component


def circles(graph: Graph, levels: Iterable[str] = ("module",), library_only: bool = True) -> list[list[str]]:
    """Import circles between modules: one cycle [a, b, ..., a] for each strongly connected group of them."""
    adj: dict[str, set[str]] = {}
    for imp in graph.edges(levels):
        if not library_only or (is_library(imp.importer) and is_library(imp.target)):
            adj.setdefault(imp.importer, set()).add(imp.target)
    comps = _strong_components(sorted(adj), adj)
    return [_one_cycle(c, adj) for c in comps if len(c) > 1]


def imports_of(graph: Graph, importers: str | tuple[str, ...], targets: str | tuple[str, ...],
               levels: Iterable[str] = ("module", "function", "typing")) -> list[Import]:
    """Edges from modules under any of `importers` to modules under any of `targets` (dotted prefixes)."""
    def under(module: str, prefixes: str | tuple[str, ...]) -> bool:
        prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
        return any(module == p or module.startswith(p + ".") for p in prefixes)
    return [i for i in graph.edges(levels) if under(i.importer, importers) and under(i.target, targets)]


def library_imports_of_cli(graph: Graph) -> list[Import]:
    """Library modules (outside rig.cli) importing rig.cli, at any level."""
    return [i for i in imports_of(graph, LIBRARY, "rig.cli") if not i.importer.startswith("rig.cli")]


# ---- packages ----------------------------------------------------------------------------------
def package_of(module: str, graph: Graph) -> str:
    """The package group of a module: its top folder or first-level subpackage ('rig.photo', 'morphable.fit',
    'rig' for rig's own modules, 'scripts')."""
    parts = module.split(".")
    if len(parts) > 1 and ".".join(parts[:2]) in graph.packages:
        return ".".join(parts[:2])
    return parts[0]


def package_edges(graph: Graph, levels: Iterable[str] = ("module", "function")) -> Counter:
    """{(package A, package B): import statements} for A != B."""
    count: Counter = Counter()
    for imp in graph.edges(levels):
        a, b = package_of(imp.importer, graph), package_of(imp.target, graph)
        if a != b:
            count[(a, b)] += 1
    return count


def packages(graph: Graph) -> Counter:
    """{package group: modules in it}."""
    return Counter(package_of(m, graph) for m in graph.modules)
