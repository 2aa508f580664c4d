"""causaliqa: causal analysis of image-quality metrics and DNN robustness (Drenkow & Unberath)."""

from causaliqa.errors import CausaliqaError
from causaliqa.graph import CausalGraph, Query, from_dagitty, load_graph, parse_query, to_dagitty

__version__ = "0.1.0"
__all__ = ["CausaliqaError", "CausalGraph", "Query", "from_dagitty", "load_graph", "parse_query", "to_dagitty", "__version__"]
