"""Verify the claims declared in graph files, and compare graphs on shared queries."""

from __future__ import annotations

from dataclasses import dataclass

from causaliqa.graph.model import CausalGraph
from causaliqa.graph.query import Query  # noqa: F401  (compare_graphs takes Query objects)
from causaliqa.serialize import Serializable


@dataclass(frozen=True)
class ClaimResult(Serializable):
    json_properties = ('ok',)

    graph: str
    query: str
    expected: str
    got: str
    source: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def verdict(separated: bool) -> str:
    return "separated" if separated else "connected"


def check_claims(graphs: list[CausalGraph]) -> list[ClaimResult]:
    results = []
    for graph in graphs:
        for claim in graph.claims:
            q = claim.query
            got = graph.is_separated(q.left, q.right, q.given, explain=False).separated
            results.append(ClaimResult(graph.name, str(q), verdict(q.expect_separated), verdict(got), claim.source))
    return results


def compare_graphs(graphs: list[CausalGraph], queries: list[Query]) -> list[list[str]]:
    """Rows ``[graph, verdict per query]``; ``n/a`` where a query names a node the graph lacks."""
    rows = []
    for graph in graphs:
        row = [graph.name]
        known = set(graph.nodes) | {node.alias for node in graph.nodes.values() if node.alias}
        for q in queries:
            if q.nodes <= known:
                row.append(verdict(graph.is_separated(str(q), explain=False).separated))
            else:
                row.append("n/a (missing " + ", ".join(sorted(q.nodes - known)) + ")")
        rows.append(row)
    return rows
