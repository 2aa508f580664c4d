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
    auto = layered_layout(graph)
    return {n: tuple(graph.layout.get(n, auto[n])) for n in graph.nodes}
