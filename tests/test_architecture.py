"""The package's import graph: data flows one way (graph -> bindings -> scores -> statistics -> verdicts -> report),
so no module imports from a higher layer, and no two modules import each other, even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "causaliqa"

# lowest first; a module may import only from its own layer or lower ones
LAYERS = [
    ["causaliqa.errors", "causaliqa.atomic", "causaliqa.yamlio", "causaliqa.table", "causaliqa.serialize"],
    ["causaliqa.graph", "causaliqa.stats"],
    ["causaliqa.draw", "causaliqa.data", "causaliqa.estimators"],
    ["causaliqa.scoring"],
    ["causaliqa.analysis", "causaliqa.verdict", "causaliqa.simulate", "causaliqa.prior"],
    ["causaliqa.report"],
    ["causaliqa.experiment"],
    ["causaliqa.cli"],
]


def layer_of(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    if module == "causaliqa":
        return len(LAYERS)  # the package's front door re-exports; nothing imports it internally
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every causaliqa module a file imports, at any depth of the file (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("causaliqa")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("causaliqa") and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                      or (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).is_dir()}
    return found


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        graph.add_node(name)
        for target in imports_of(path):
            if target != name:
                graph.add_edge(name, target)
    return graph


def test_no_module_imports_from_a_higher_layer():
    upward = [(a, b) for a, b in import_graph().edges
              if a != "causaliqa" and layer_of(b) > layer_of(a)]
    assert not upward, f"imports from a higher layer: {upward}"


def test_no_import_cycles_between_modules():
    graph = import_graph()
    # a package's __init__ re-exporting its own modules is not a cycle of logic
    graph.remove_edges_from([(a, b) for a, b in list(graph.edges) if b.startswith(a + ".")])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))
