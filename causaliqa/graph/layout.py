"""Node positions of a :class:`~causaliqa.graph.model.CausalGraph` (not imported: the graph draws itself with this
module): the file's ``layout``, otherwise layers that keep causes left of effects; and edges bent around nodes."""

from __future__ import annotations

import networkx as nx


def layered_layout(graph) -> dict[str, tuple[float, float]]:
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


def node_positions(graph) -> dict[str, tuple[float, float]]:
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


def bezier(start, end, bend: float, n: int = 60, lo: float = 0.0, hi: float = 1.0):
    """Points of the edge from ``start`` to ``end`` as matplotlib's ``arc3,rad=bend`` draws it: a quadratic Bezier
    curve whose control point lies ``bend`` times the chord away from the chord's middle, to the right."""
    import numpy as np

    a, b = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    mid, chord = (a + b) / 2, b - a
    control = mid + bend * np.array([chord[1], -chord[0]])
    t = np.linspace(lo, hi, n)[:, None]
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * control + t ** 2 * b


def _clearance(start, end, bend: float, others) -> float:
    """Smallest distance from any of ``others`` to the edge drawn from ``start`` to ``end`` with a bend."""
    import numpy as np

    curve = bezier(start, end, bend, 60, 0.08, 0.92)
    if not others:
        return float("inf")
    return float(min(np.min(np.hypot(*(curve - np.asarray(o)).T)) for o in others))


def edge_bends(pos: dict, edges, radius: float) -> dict:
    """A bend for every edge: straight unless the straight line passes within 1.4 radii of another node; then the
    smallest bend (either side) that keeps every other node clear."""
    bends = {}
    for a, b in edges:
        others = [xy for n, xy in pos.items() if n not in (a, b)]
        bends[a, b] = 0.0
        if _clearance(pos[a], pos[b], 0.0, others) >= 1.4 * radius:
            continue
        options = [r * side for r in (0.15, 0.25, 0.35, 0.5, 0.7) for side in (1, -1)]
        best = max(options, key=lambda r: (_clearance(pos[a], pos[b], r, others) >= 1.4 * radius, -abs(r),
                                           _clearance(pos[a], pos[b], r, others)))
        bends[a, b] = best
    return bends
