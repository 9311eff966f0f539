"""The package's modules import, and their import graph has no circle.

The graph is read from the source with ``ast``: every ``import`` of an ``irprune`` module anywhere in a file,
function-level ones included (an import inside a function only moves a circle to run time), except those under
``if TYPE_CHECKING:`` (never executed).  ``from P import n`` is an edge to the module ``P.n`` when ``n`` is a
module, else to ``P``; the implicit import of a module's own parent packages is not an edge.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LIB = ROOT / "lib"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((LIB / "irprune").rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node of ``tree`` outside ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = node.orelse
        stack.extend(children)


def imports_of(module: str) -> set[str]:
    """The ``irprune`` modules ``module`` imports (see the module docstring for the rules)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
            continue
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        if target not in MODULES:
            continue
        names = {f"{target}.{a.name}" for a in node.names}
        subs = names & MODULES.keys()
        out |= subs
        if names - subs:
            out.add(target)
    parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return out - parents - {module}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan 1972), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_module_import_graph_has_no_circle():
    graph = {m: imports_of(m) for m in MODULES}
    assert sum(map(len, graph.values())) > 100            # the graph was read
    cycles = find_cycles(graph)
    assert not cycles, "import circles (move the shared names to a module both can import):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    # irprune.training.callbacks imports the trainer only for type checking; tasks.cell imports the schema in a
    # function
    assert "irprune.training.trainer" not in imports_of("irprune.training.callbacks")
    assert "irprune.cells.schema" in imports_of("irprune.tasks.cell")


def test_every_module_imports():
    """In a fresh interpreter, so that no import order of other tests hides a failure."""
    skip = {"irprune.costs._deepsparse_worker"}            # runs in DeepSparse's own environment
    names = [m for m in MODULES if m not in skip]
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                       env={**__import__("os").environ, "PYTHONPATH": str(LIB)}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert importlib.import_module("irprune.cells.schema").COLUMNS
