"""A graph as a small SVG for notebooks (``CausalGraph._repr_svg_``): the paper's node styles without matplotlib.

The figures of reports and ``causaliqa draw`` come from :mod:`causaliqa.draw`; this drawing only shows a graph
inline, with the query's open paths in red when given a judgement.
"""

from __future__ import annotations

import html
import math

from causaliqa.graph.layout import bezier, edge_bends, node_positions

_STYLE = {  # fill, dash
    "observed": ("#d9d9d9", ""), "predicted": ("#ffffff", ""), "latent": ("#ffffff", "4 3"),
    "selection": ("#bbbbbb", ""), "context": ("#ffffff", "1 3"),
}


def graph_svg(graph, judgement=None, scale: float = 90.0, radius: float = 18.0) -> str:
    """SVG text of ``graph``; with a :class:`~causaliqa.graph.dsep.DSeparationJudgement`, its open paths in red."""
    pos = node_positions(graph)
    if not pos:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="10" y="25">(empty graph)</text></svg>'
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    margin = radius + 12
    width, height = (max(xs) - min(xs)) * scale + 2 * margin, (max(ys) - min(ys)) * scale + 2 * margin + 18
    at = {n: ((x - min(xs)) * scale + margin, (max(ys) - y) * scale + margin + 18) for n, (x, y) in pos.items()}
    hot = set()
    if judgement is not None:
        for path in judgement.open_paths:
            hot |= {frozenset(p) for p in zip(path.nodes, path.nodes[1:])}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" font-family="sans-serif" font-size="13">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
           '<path d="M0,0 L10,5 L0,10 z"/></marker>'
           '<marker id="h" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
           '<path d="M0,0 L10,5 L0,10 z" fill="firebrick"/></marker></defs>',
           f'<text x="{width / 2:.0f}" y="14" text-anchor="middle">{html.escape(graph.title or graph.name)}</text>']
    bends = edge_bends(at, graph.edges, radius)
    for a, b in graph.edges:
        red = frozenset((a, b)) in hot
        points = [p for p in bezier(at[a], at[b], bends[a, b], 80)
                  if math.dist(p, at[a]) > radius and math.dist(p, at[b]) > radius + 1]  # from rim to rim
        if len(points) < 2:
            continue
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<path d="{d}" fill="none" stroke="{"firebrick" if red else "black"}" stroke-width="{2.4 if red else 1.3}" '
                   f'marker-end="url(#{"h" if red else "a"})"/>')
    sides = set() if judgement is None else set(judgement.left | judgement.right)
    given = set() if judgement is None else set(judgement.given)
    for n, node in graph.nodes.items():
        x, y = at[n]
        fill, dash = _STYLE[node.role]
        stroke = "firebrick" if n in sides else "black"
        width_ = 3 if n in sides | given else 1.4
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if node.role in ("selection", "context"):
            out.append(f'<rect x="{x - radius:.1f}" y="{y - radius:.1f}" width="{2 * radius}" height="{2 * radius}" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="{width_}"{dash_attr}/>')
        else:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{fill}" stroke="{stroke}" stroke-width="{width_}"{dash_attr}/>')
        out.append(f'<text x="{x:.1f}" y="{y + 4.5:.1f}" text-anchor="middle">{html.escape(node.display)}</text>')
    out.append("</svg>")
    return "".join(out)
