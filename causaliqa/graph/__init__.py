"""Causal DAGs: load, query (d-separation with explanations), implied independencies."""

from causaliqa.graph.dsep import DSeparationJudgement, NodeStatus, PathExplanation
from causaliqa.graph.dagitty import from_dagitty, to_dagitty
from causaliqa.graph.io import graph_files, load_graph
from causaliqa.graph.model import ROLES, CausalGraph, Claim, Independence, Node
from causaliqa.graph.query import Query, parse_query

__all__ = [
    "ROLES", "CausalGraph", "Claim", "DSeparationJudgement", "Independence", "Node", "NodeStatus",
    "PathExplanation", "Query", "from_dagitty", "graph_files", "load_graph", "parse_query", "to_dagitty",
]
