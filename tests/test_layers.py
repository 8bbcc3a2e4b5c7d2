"""The house's rules, checked on the code's own imports (every ``import`` statement, those inside
functions too): no import runs upward through the layers of ARCHITECTURE.md, and no two modules
import each other, directly or round a longer circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parent.parent / "facedid_lib"

#: Bottom to top; a module may import from its own layer and the layers below it.
LAYERS = [
    {"core"},
    {"metrics"},
    {"weights"},
    {"io"},
    {"detect"},
    {"track"},
    {"align"},
    {"data"},
    {"recognize"},
    {"attributes"},
    {"nets"},
    {"defences"},
    {"attacks"},
    {"methods"},
    {"pipeline"},
    {"evaluate"},
    {"viz"},
    {"cli", "bench", "app"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import of facedid_lib in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = set(map(id, tree.body))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        at_top = id(node) in top
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, at_top) for a in node.names if a.name.startswith("facedid_lib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "facedid_lib" or name.startswith("facedid_lib."):
                # "from facedid_lib.x import y": y may be a module (resolved in _resolve) or a name
                found += [(f"{name}.{a.name}", node.lineno, at_top) for a in node.names]
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    return None


def _modules() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def test_every_folder_has_a_layer():
    tops = {p.relative_to(LIBRARY).parts[0].removesuffix(".py") for p in _modules()} - {"__init__"}
    unplaced = sorted(t for t in tops if _layer(f"facedid_lib.{t}") is None)
    assert not unplaced, f"add these to LAYERS (and to ARCHITECTURE.md): {unplaced}"


def test_no_import_runs_upward():
    upward = []
    for path in _modules():
        mine = _layer(_module_name(path))
        if mine is None:
            continue
        for target, line, _ in _imports(path):
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                upward.append(f"{path.relative_to(LIBRARY.parent)}:{line} imports {target} "
                              f"(layer {theirs} > {mine})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    names = {_module_name(p) for p in _modules()}
    graph = {}
    for path in _modules():
        me = _module_name(path)
        edges = set()
        for target, _, at_top in _imports(path):
            if top_level_only and not at_top:
                continue
            # "from facedid_lib.x import name": name may be a function, so fall back to the module
            while target not in names and "." in target:
                target = target.rpartition(".")[0]
            if target != me:
                edges.add(target)
        graph[me] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module-level imports", "all imports"])
def test_no_circle(top_level_only):
    graph = _graph(top_level_only)
    circles = _cycles(graph)
    assert not circles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a core module that imports from methods is caught."""
    fake = tmp_path / "facedid_lib"
    (fake / "core").mkdir(parents=True)
    (fake / "methods").mkdir()
    (fake / "core" / "bad.py").write_text("def f():\n    from facedid_lib.methods import classical\n")
    (fake / "methods" / "classical.py").write_text("from facedid_lib.core import bad\n")
    monkeypatch.setattr(__import__(__name__), "LIBRARY", fake)
    with pytest.raises(AssertionError, match="core/bad.py:2 imports facedid_lib.methods"):
        test_no_import_runs_upward()
    with pytest.raises(AssertionError, match="facedid_lib.core.bad <-> facedid_lib.methods.classical"):
        test_no_circle(False)
