"""Figures of graphs: matplotlib in the paper's style, TikZ, Graphviz dot and Mermaid."""

from causaliqa.graph.layout import layered_layout, node_positions
from causaliqa.draw.render import FORMATS, draw_graph, to_dot, to_mermaid, to_tikz

__all__ = ["FORMATS", "draw_graph", "layered_layout", "node_positions", "to_dot", "to_mermaid", "to_tikz"]
