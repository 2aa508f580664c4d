"""The causal DAG: nodes with roles and labels, edges, layout and the paper's claims."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Iterable, Mapping

import networkx as nx

from causaliqa.errors import CausaliqaError
from causaliqa.graph.dsep import DSeparationJudgement, judge
from causaliqa.graph.query import Query, parse_query
from causaliqa.serialize import Serializable

ROLES: dict[str, str] = {
    "observed": "measured in the data (images, labels, corruption settings)",
    "predicted": "computed from the data by a model or metric (Ŷ, Q, M)",
    "latent": "not measured (imaging factors, shared features, annotators)",
    "selection": "a selection variable the data are conditioned on (dagitty's 'selected'): in every conditioning set",
    "context": "a setting the data come from, a cause that is not conditioned on (the paper's task T)",
}
_EDGE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(->|<-)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


@dataclass(frozen=True)
class Node:
    id: str
    role: str = "observed"
    label: str = ""
    math: str = ""
    description: str = ""

    @property
    def display(self) -> str:
        return self.label or self.id

    @property
    def tex(self) -> str:
        return self.math or self.id


@dataclass(frozen=True)
class Claim(Serializable):
    query: Query
    source: str = ""


@dataclass(frozen=True)
class Independence(Serializable):
    """An implied conditional independence ``left _||_ right | given``."""

    json_properties = ('text',)
    @property
    def text(self) -> str:
        return str(self)

    left: str
    right: str
    given: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.left} _||_ {self.right}" + (f" | {', '.join(self.given)}" if self.given else "")



def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_edge(text: str, where: str, field_name: str) -> tuple[str, str]:
    match = _EDGE.match(text) if isinstance(text, str) else None
    if not match:
        raise CausaliqaError(where, field_name, "an edge like 'A -> X'", repr(text))
    a, arrow, b = match.groups()
    return (a, b) if arrow == "->" else (b, a)


@dataclass(frozen=True, eq=False)
class CausalGraph(Serializable):
    """A validated causal DAG. Build with :meth:`build` or :func:`causaliqa.load_graph`."""

    name: str
    nodes: Mapping[str, Node]
    edges: tuple[tuple[str, str], ...]
    description: str = ""
    title: str = ""
    layout: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    source: str = "<graph>"
    _nx: nx.DiGraph = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def build(
        cls,
        edges: Iterable[str | tuple[str, str]],
        *,
        name: str = "graph",
        nodes: dict[str, Node] | None = None,
        roles: dict[str, str] | None = None,
        description: str = "",
        title: str = "",
        layout: dict[str, tuple[float, float]] | None = None,
        claims: Iterable[Claim] = (),
        source: str = "<graph>",
    ) -> "CausalGraph":
        """Validate then build: edges as ``"A -> X"`` strings or pairs; nodes implied by edges."""
        pairs = [parse_edge(e, source, f"edges[{i}]") if isinstance(e, str) else tuple(e) for i, e in enumerate(edges)]
        declared = nodes is not None
        nodes = dict(nodes or {})
        for i, (a, b) in enumerate(pairs):
            for n in (a, b):
                if n not in nodes:
                    if declared:
                        raise CausaliqaError(source, f"edges[{i}]", f"a declared node{did_you_mean(n, nodes)}", repr(n))
                    nodes[n] = Node(n)
        for n, role in (roles or {}).items():
            if n not in nodes:
                raise CausaliqaError(source, "roles", f"a node of the graph{did_you_mean(n, nodes)}", repr(n))
            nodes[n] = Node(n, role, nodes[n].label, nodes[n].math, nodes[n].description)
        for n, node in nodes.items():
            if node.role not in ROLES:
                raise CausaliqaError(source, f"nodes.{n}.role", f"one of {', '.join(ROLES)}", repr(node.role))
        if len(set(pairs)) != len(pairs):
            dup = next(p for p in pairs if pairs.count(p) > 1)
            raise CausaliqaError(source, "edges", "each edge once", f"'{dup[0]} -> {dup[1]}' twice")
        digraph = nx.DiGraph()
        for n, node in nodes.items():
            digraph.add_node(n, role=node.role, label=node.display)
        digraph.add_edges_from(pairs)
        _reject_cycles(digraph, source)
        layout = {n: (float(xy[0]), float(xy[1])) for n, xy in (layout or {}).items()}
        for n in layout:
            if n not in nodes:
                raise CausaliqaError(source, "layout", f"a node of the graph{did_you_mean(n, nodes)}", repr(n))
        checked = tuple(Claim(_known_nodes(c.query, nodes, name, f"{source}: claims[{i}]"), c.source) for i, c in enumerate(claims))
        # read-only views: a built graph cannot be changed behind its networkx twin's back
        return cls(name, MappingProxyType(nodes), tuple(pairs), description, title, MappingProxyType(layout), checked, source, digraph)

    # ---- structure -------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """A copy as a networkx DiGraph with ``role`` and ``label`` node attributes."""
        return self._nx.copy()

    def to_pgmpy(self):
        """The graph as a ``pgmpy.base.DAG`` with latent nodes marked latent."""
        from pgmpy.base import DAG

        dag = DAG()
        dag.add_nodes_from(self.nodes)  # isolated nodes too
        dag.add_edges_from(self.edges)
        dag.latents = {n for n, node in self.nodes.items() if node.role == "latent"}
        return dag

    def parents(self, node: str) -> set[str]:
        return set(self._nx.predecessors(node))


    def topological_order(self) -> list[str]:
        return list(nx.lexicographical_topological_sort(self._nx))

    def nodes_with_role(self, *roles: str) -> list[str]:
        return [n for n, node in self.nodes.items() if node.role in roles]

    # ---- queries -----------------------------------------------------------------------------
    def check_query(self, query: Query | str, where: str | None = None) -> Query:
        """Parse (if text) and check that every node of the query is a node of this graph."""
        return _known_nodes(query, self.nodes, self.name, where or f"{self.source}: query")

    def is_separated(self, left, right=None, given=(), *, explain: bool = True, max_paths: int = 5) -> DSeparationJudgement:
        """d-separation of ``left`` and ``right`` given ``given``; truthy when separated.

        ``left`` may also be a whole query string such as ``"Q _||_ M | X"``. With ``explain``, up to
        ``max_paths`` paths are listed (open ones first; one at least when not separated) and the rest counted.

        >>> g = CausalGraph.build(["X -> Q", "X -> M"])
        >>> bool(g.is_separated("Q _||_ M | X")), [p.text() for p in g.is_separated("Q _||_ M").open_paths]
        (True, ['Q <- X -> M'])
        """
        if right is None:
            query = self.check_query(left)
        else:
            query = self.check_query(Query(_as_set(left), _as_set(right), _as_set(given)))
            overlap = (query.left & query.right) | ((query.left | query.right) & query.given)
            if overlap:
                raise CausaliqaError(f"{self.source}: query", None, "disjoint sides and conditioning set", sorted(overlap))
        selected = self.selection_nodes
        if selected & (query.left | query.right):
            raise CausaliqaError(f"{self.source}: query", None, "sides without selection nodes (they are always conditioned on)",
                                 sorted(selected & (query.left | query.right)))
        given = query.given | selected
        return judge(self._nx, query.left, query.right, given, explain=explain, max_paths=max_paths)

    @property
    def selection_nodes(self) -> frozenset[str]:
        """Nodes with role ``selection``: conditioned on in every query, as dagitty does with ``selected``."""
        return frozenset(n for n, node in self.nodes.items() if node.role == "selection")

    def implied_independencies(self, all_pairs: bool = False, restrict_to: Iterable[str] | None = None,
                               limit: int | None = None) -> list[Independence]:
        """Testable implications of the graph.

        Default: the pairwise Markov basis (dagitty's missing-edge list): for each non-adjacent
        pair, the later node in topological order is independent of the earlier given its parents.
        ``all_pairs``: for every non-adjacent pair a minimal separating set (networkx
        ``find_minimal_d_separator``); with ``restrict_to``, separators only from those nodes and
        pairs without such a separator are left out. Selection nodes are in every separator (and in
        no pair). Cost: one linear-time search per non-adjacent pair, so O(pairs x (nodes + edges));
        ``limit`` stops after that many statements.

        >>> g = CausalGraph.build(["X -> Q", "X -> M"])
        >>> [str(i) for i in g.implied_independencies()]
        ['Q _||_ M | X']
        """
        return list(islice(self._iter_implied(all_pairs, restrict_to), limit))

    def _iter_implied(self, all_pairs: bool, restrict_to: Iterable[str] | None):
        order = {n: i for i, n in enumerate(self.topological_order())}
        selected = set(self.selection_nodes)
        allowed = (set(restrict_to) if restrict_to is not None else set(self.nodes)) - selected
        minimal = all_pairs or restrict_to is not None or bool(selected)
        ranked = sorted(allowed, key=order.get)
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                if self._nx.has_edge(a, b) or self._nx.has_edge(b, a):
                    continue
                if minimal:
                    sep = nx.find_minimal_d_separator(self._nx, {a}, {b}, included=selected, restricted=allowed - {a, b} | selected)
                    if sep is None:
                        continue
                    given = tuple(sorted(sep, key=order.get))
                else:
                    given = tuple(sorted(self.parents(b), key=order.get))
                yield Independence(b, a, given)


def _known_nodes(query: Query | str, nodes, graph_name: str, where: str) -> Query:
    query = parse_query(query, where) if isinstance(query, str) else query
    for n in sorted(query.nodes):
        if n not in nodes:
            raise CausaliqaError(where, None, f"a node of graph '{graph_name}'{did_you_mean(n, nodes)}", repr(n))
    return query


def _as_set(value) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(",") if v.strip())
    return frozenset(value)


def _reject_cycles(digraph: nx.DiGraph, source: str) -> None:
    try:
        cycle = nx.find_cycle(digraph)
    except nx.NetworkXNoCycle:
        return
    names = [a for a, _ in cycle] + [cycle[0][0]]
    raise CausaliqaError(source, "edges", "an acyclic graph", "a cycle " + " -> ".join(names))
