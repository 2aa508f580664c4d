"""Node positions: the file's ``layout``, otherwise layers that keep causes left of effects."""

from __future__ import annotations

import networkx as nx

from causaliqa.graph.model import CausalGraph


def layered_layout(graph: CausalGraph) -> dict[str, tuple[float, float]]:
    """x = longest-path depth from a source; nodes of one layer spread evenly on y."""
    digraph = graph.to_networkx()
    depth: dict[str, int] = {}
    for n in nx.topological_sort(digraph):
        depth[n] = max((depth[p] + 1 for p in digraph.predecessors(n)), default=0)
    layers: dict[int, list[str]] = {}
    for n in graph.nodes:  # keep declaration order inside a layer
        layers.setdefault(depth[n], []).append(n)
    positions = {}
    for x, members in layers.items():
        for i, n in enumerate(members):
            positions[n] = (float(x), (len(members) - 1) / 2 - i)
    return positions


def node_positions(graph: CausalGraph) -> dict[str, tuple[float, float]]:
    """The file's positions; nodes it does not place are auto-placed, moved down until no node is within 0.5."""
    auto = layered_layout(graph)
    placed = {n: tuple(map(float, graph.layout[n])) for n in graph.nodes if n in graph.layout}
    for n in graph.nodes:
        if n in placed:
            continue
        x, y = auto[n]
        while any(abs(x - px) < 0.5 and abs(y - py) < 0.5 for px, py in placed.values()):
            y -= 1.0
        placed[n] = (x, y)
    return {n: placed[n] for n in graph.nodes}
